#!/usr/bin/env bash
# Repodata benchmark: our `odcs-createrepo` against createrepo_c on the 2,000-RPM corpus
# (shared/bench/make_corpus.py), fresh and incremental (20 packages replaced), with the
# SHA-256 floor. Prints a markdown table; medians of RUNS runs; warm page cache.
#   bash bench/repodata/run.sh [CORPUS]      (default /var/tmp/corpus-2000, built if missing)
#   CREATEREPO_BIN=path bash bench/repodata/run.sh  # another odcs-createrepo build (e.g. before a change)
# On a CPU with the SHA extensions (sha_ni) every run is made twice: as the CPU is, then with
# OPENSSL_ia32cap=:~0x20000000, which masks them in OpenSSL's libcrypto for createrepo_c,
# `openssl dgst` and our engine alike (SHA_MASKED=0 skips that, SHA_MASKED=only does just it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
shared="${SHARED:-$root/../shared}"
corpus="${1:-/var/tmp/corpus-2000}"
RUNS="${RUNS:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/odcs-target}"
ours_bin="${CREATEREPO_BIN:-$CARGO_TARGET_DIR/release/odcs-createrepo}"
work="${WORK:-/var/tmp/odcs-bench-repodata}"

command -v createrepo_c >/dev/null || apt-get install -y -qq createrepo-c >/dev/null
if [ ! -d "$corpus/os" ]; then
  /usr/bin/python3 "$shared/bench/make_corpus.py" --n 2000 --seed 42 --out "$corpus"
fi
[ -n "${CREATEREPO_BIN:-}" ] || (cd "$root" && cargo build --release -q -p odcs-worker --bin odcs-createrepo)

rm -rf "$work" && mkdir -p "$work"
cp -al "$corpus/os" "$work/c" && cp -al "$corpus/os" "$work/o"
find "$corpus/os" -name '*.rpm' -print0 | xargs -0 cat > /dev/null   # warm the page cache

# measure CMD...: prints "seconds max_rss_kb" (wall time to the millisecond)
measure() {
  local start=$EPOCHREALTIME
  /usr/bin/time -f "%M" -o "$work/time" "$@" > /dev/null 2>&1
  local end=$EPOCHREALTIME
  awk -v s="$start" -v e="$end" -v m="$(cat "$work/time")" 'BEGIN {printf "%.3f %s\n", e - s, m}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_many() { # label, setup-cmd, cmd...
  local label=$1 setup=$2; shift 2
  : > "$work/$label.times"; : > "$work/$label.rss"
  for _ in $(seq "$RUNS"); do
    eval "$setup"
    read -r secs rss < <(measure "$@")
    echo "$secs" >> "$work/$label.times"; echo "$rss" >> "$work/$label.rss"
  done
  echo "$(median < "$work/$label.times") $(sort -n "$work/$label.rss" | tail -1)"
}

# swap, renew and reset_for_incremental: the replacement packages in and out of the copies.
source "$here/replacements.sh"
k=$(wc -l < "$corpus/replacements/swap.tsv")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f×", a / b}'; }
size() { du -b "$1"/repodata/*.xml.* | awk '{s+=$1} END {print s}'; }
suite() { # label
  read -r c_fresh c_fresh_rss < <(run_many c_fresh "rm -rf $work/c/repodata" \
    createrepo_c --no-database --workers 2 --quiet "$work/c")
  read -r o_fresh o_fresh_rss < <(run_many o_fresh "rm -rf $work/o/repodata $work/cache" \
    "$ours_bin" --cache-dir "$work/cache" "$work/o")
  read -r o_nocache o_nocache_rss < <(run_many o_nocache "rm -rf $work/o/repodata" \
    "$ours_bin" --no-cache "$work/o")
  read -r floor _ < <(run_many floor ":" bash -c \
    "find '$corpus/os' -name '*.rpm' -print0 | xargs -0 -P2 -n 250 openssl dgst -sha256")

  # Incremental: both start from metadata of the original set, then K packages are swapped.
  reset_c="reset_for_incremental $work/c createrepo_c --no-database --workers 2 --quiet $work/c"
  reset_o="reset_for_incremental $work/o $ours_bin --cache-dir $work/cache $work/o"
  read -r c_incr c_incr_rss < <(run_many c_incr "$reset_c" \
    createrepo_c --update --no-database --workers 2 --quiet "$work/c")
  read -r o_incr o_incr_rss < <(run_many o_incr "$reset_o" \
    "$ours_bin" --cache-dir "$work/cache" "$work/o")
  swap "$work/o" reset; swap "$work/c" reset

  "$ours_bin" --no-cache "$work/o" > /dev/null
  createrepo_c --no-database --workers 2 --quiet "$work/c"
  echo "### $1"
  echo
  echo "corpus: $corpus ($(find "$corpus/os" -name '*.rpm' | wc -l) RPMs, $(du -sh "$corpus/os" | cut -f1)); $k replaced; median of $RUNS"
  echo
  echo "| run | createrepo_c | odcs-createrepo | speed-up | RSS createrepo_c | RSS ours |"
  echo "|---|---:|---:|---:|---:|---:|"
  echo "| fresh (ours writes its cache) | ${c_fresh} s | ${o_fresh} s | $(ratio "$c_fresh" "$o_fresh") | ${c_fresh_rss} KB | ${o_fresh_rss} KB |"
  echo "| fresh, --no-cache | ${c_fresh} s | ${o_nocache} s | $(ratio "$c_fresh" "$o_nocache") | ${c_fresh_rss} KB | ${o_nocache_rss} KB |"
  echo "| incremental, $k replaced | ${c_incr} s | ${o_incr} s | $(ratio "$c_incr" "$o_incr") | ${c_incr_rss} KB | ${o_incr_rss} KB |"
  echo "| SHA-256 floor (openssl dgst -sha256, 2 processes) | ${floor} s | | | | |"
  echo
  echo "compressed metadata: createrepo_c $(size "$work/c") bytes, ours $(size "$work/o") bytes"
}

source "$root/bench/cpu.sh"
sha_ni=$(sha_ni)
echo "CPU: $(cpu_line)"
echo
SHA_MASKED="${SHA_MASKED:-1}"
[ "$SHA_MASKED" = only ] || suite "as the CPU is (sha_ni: $sha_ni)"
if [ "$sha_ni" = yes ] && [ "$SHA_MASKED" != 0 ]; then
  echo
  export OPENSSL_ia32cap=":~0x20000000"
  suite "SHA extensions masked (OPENSSL_ia32cap=$OPENSSL_ia32cap)"
  unset OPENSSL_ia32cap
fi
