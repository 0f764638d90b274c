# Sourced by the repodata benchmarks: the corpus's replacement packages (make_corpus.py writes
# them beside it, listed in replacements/swap.tsv) swapped into or out of a hard-linked copy of
# the corpus. Needs $corpus set to the corpus directory.

# swap DIR apply|reset: puts the replacements in place of the packages they replace, or back.
swap() {
  while IFS=$'\t' read -r old new; do
    rel=${old#"$corpus/os/"}; nrel=${new#"$corpus/replacements/"}
    if [ "$2" = apply ]; then rm -f "$1/$rel"; mkdir -p "$(dirname "$1/$nrel")"; ln -f "$new" "$1/$nrel"
    else rm -f "$1/$nrel"; [ -e "$1/$rel" ] || ln "$old" "$1/$rel"; fi
  done < "$corpus/replacements/swap.tsv"
}

# renew: gives the replacements a new mtime, so they are new to our package cache every time
# (its key holds the file's mtime), as a rebuilt package is: without it every run after the
# first would find them cached from the one before.
renew() { cut -f2 "$corpus/replacements/swap.tsv" | xargs touch; }

# reset_for_incremental DIR CMD...: the state every incremental run starts from: DIR's metadata
# written by CMD for the original packages, then the replacements swapped in and renewed.
reset_for_incremental() {
  local dir=$1; shift
  swap "$dir" reset; "$@" >/dev/null; swap "$dir" apply; renew
}
