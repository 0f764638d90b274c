#!/usr/bin/env bash
# Gather benchmark: `odcs-worker depsolve` (resolvo) against libsolv (python3-solv, RPM mode)
# on the 2,000-RPM corpus's repodata, in the same run: (a) the package with the deepest
# dependency chain, (b) 50 random names, (c) every -devel package. Load (primary+filelists
# XML) and solve times measured inside each process; medians of RUNS runs.
#   bash bench/gather/run.sh [CORPUS]      (default /var/tmp/corpus-2000, built if missing)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
shared="${SHARED:-$root/../shared}"
corpus="${1:-/var/tmp/corpus-2000}"
RUNS="${RUNS:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/odcs-target}"
ours="$CARGO_TARGET_DIR/release/odcs-worker"
work="${WORK:-/var/tmp/odcs-bench-gather}"

if [ ! -d "$corpus/os" ]; then
  /usr/bin/python3 "$shared/bench/make_corpus.py" --n 2000 --seed 42 --out "$corpus"
fi
[ -f "$corpus/os/repodata/repomd.xml" ] || createrepo_c --no-database -q "$corpus/os"
(cd "$root" && cargo build --release -q -p odcs-worker)
rm -rf "$work" && mkdir -p "$work"
/usr/bin/python3 "$here/libsolv_bench.py" "$corpus/os" pick "$work"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| job | names | ours: packages | ours: load + solve (ms) | libsolv: packages | libsolv: load + solve (ms) | ratio |"
echo "|---|---|---|---|---|---|---|"
for job in deep random50 devel; do
  : > "$work/ours.t"; : > "$work/solv.t"
  for _ in $(seq "$RUNS"); do
    line=$("$ours" depsolve "$corpus/os" --names-from "$work/$job.txt" 2>/dev/null | tail -n1)
    # "<n> packages chosen from <m> (load <l> ms, solve <s> ms)"
    ours_n=$(awk '{print $1}' <<<"$line")
    awk '{gsub(/[(),]/, ""); print $7 + $10}' <<<"$line" >> "$work/ours.t"
    read -r solv_n load solve < <(/usr/bin/python3 "$here/libsolv_bench.py" "$corpus/os" solve "$work/$job.txt")
    awk -v l="$load" -v s="$solve" 'BEGIN {print l + s}' >> "$work/solv.t"
  done
  o=$(median < "$work/ours.t"); s=$(median < "$work/solv.t")
  echo "| $job | $(wc -w < "$work/$job.txt") | $ours_n | $o | $solv_n | $s | $(awk -v o="$o" -v s="$s" 'BEGIN {printf "%.2fx", s / o}') |"
done
