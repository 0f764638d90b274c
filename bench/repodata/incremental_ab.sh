#!/usr/bin/env bash
# Interleaved incremental runs of two odcs-createrepo builds on the 2,000-RPM corpus (20 packages
# replaced), printing wall and CPU ms per run:
#   A=/path/to/odcs-createrepo-before B=/path/to/odcs-createrepo-after RUNS=10 bash bench/repodata/incremental_ab.sh
set -euo pipefail
corpus=/var/tmp/corpus-2000; work=/var/tmp/incr-ab; RUNS=${RUNS:-8}
rm -rf $work; mkdir -p $work
for x in A B; do cp -al $corpus/os $work/$x; done
swap() { while IFS=$'\t' read -r old new; do rel=${old#"$corpus/os/"}; nrel=${new#"$corpus/replacements/"}
  if [ "$2" = apply ]; then rm -f "$1/$rel"; mkdir -p "$(dirname "$1/$nrel")"; ln -f "$new" "$1/$nrel"
  else rm -f "$1/$nrel"; [ -e "$1/$rel" ] || ln "$old" "$1/$rel"; fi; done < $corpus/replacements/swap.tsv; }
for i in $(seq $RUNS); do for x in A B; do bin=${!x}
  swap $work/$x reset; $bin --cache-dir $work/cache-$x $work/$x >/dev/null; swap $work/$x apply
  cut -f2 $corpus/replacements/swap.tsv | xargs touch   # new to the cache, as a rebuilt package is
  s=$EPOCHREALTIME; /usr/bin/time -f "%U %S" -o $work/t $bin --cache-dir $work/cache-$x $work/$x >/dev/null; e=$EPOCHREALTIME
  echo "$x $(awk -v s=$s -v e=$e 'BEGIN{printf "%.1f", (e-s)*1000}') $(awk '{printf "%.0f", ($1+$2)*1000}' $work/t)"
done; done | awk '{w[$1]=w[$1]" "$2; c[$1]=c[$1]" "$3} END {for (k in w) print k, "wall ms:", w[k], " cpu ms:", c[k]}'
