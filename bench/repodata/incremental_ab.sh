#!/usr/bin/env bash
# Interleaved incremental runs of two odcs-createrepo builds on the 2,000-RPM corpus (20 packages
# replaced), printing wall and CPU ms per run and the median wall of each:
#   A=/path/to/odcs-createrepo-before B=/path/to/odcs-createrepo-after RUNS=10 bash bench/repodata/incremental_ab.sh
set -euo pipefail
corpus=/var/tmp/corpus-2000; work=/var/tmp/incr-ab; RUNS=${RUNS:-8}
rm -rf $work; mkdir -p $work
for x in A B; do cp -al $corpus/os $work/$x; done
source "$(dirname "$0")/replacements.sh"
for i in $(seq $RUNS); do for x in A B; do bin=${!x}
  reset_for_incremental $work/$x $bin --cache-dir $work/cache-$x $work/$x
  s=$EPOCHREALTIME; /usr/bin/time -f "%U %S" -o $work/t $bin --cache-dir $work/cache-$x $work/$x >/dev/null; e=$EPOCHREALTIME
  echo "$x $(awk -v s=$s -v e=$e 'BEGIN{printf "%.1f", (e-s)*1000}') $(awk '{printf "%.0f", ($1+$2)*1000}' $work/t)"
done; done | awk '{w[$1]=w[$1]" "$2; c[$1]=c[$1]" "$3} END {for (k in w) {
  print k, "wall ms:", w[k], " cpu ms:", c[k]
  n=split(w[k], v); asort(v); print k, "median wall ms:", v[int((n+1)/2)], "of", n }}'
