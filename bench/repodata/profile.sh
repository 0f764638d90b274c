#!/usr/bin/env bash
# One incremental run (the corpus's 20 replacement packages swapped in, new to the cache) of an
# odcs-createrepo build under a wrapper command, after the same reset as bench/repodata/run.sh,
# so a profiler sees that run alone and not the reset:
#   WRAP="perf record -e cpu-clock -F 10000 -g -o /tmp/perf.data" bash bench/repodata/profile.sh BIN
#   WRAP="strace -f -tt -T -o /tmp/strace.txt" bash bench/repodata/profile.sh BIN
#   RUNS=10 WRAP="perf stat -e task-clock -x, --append -o /tmp/stat" bash bench/repodata/profile.sh BIN
# OPENSSL_ia32cap=:~0x20000000 in the environment masks the SHA extensions, as run.sh does.
set -euo pipefail
bin=${1:?usage: WRAP="..." bash bench/repodata/profile.sh ODCS_CREATEREPO_BIN}
corpus=${CORPUS:-/var/tmp/corpus-2000}; work=${WORK:-/var/tmp/odcs-bench-profile}; RUNS=${RUNS:-1}
source "$(dirname "$0")/replacements.sh"
rm -rf "$work"; mkdir -p "$work"; cp -al "$corpus/os" "$work/repo"
for _ in $(seq "$RUNS"); do
  reset_for_incremental "$work/repo" "$bin" --cache-dir "$work/cache" "$work/repo"
  # Word-split on purpose: WRAP is a command line.
  # shellcheck disable=SC2086
  ${WRAP:-} "$bin" --cache-dir "$work/cache" "$work/repo" >/dev/null
done
