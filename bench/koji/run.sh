#!/usr/bin/env bash
# Koji benchmark: a 2,000-build tag on the fake Koji hub (worker/tests/worker/koji_hub.rs),
# packages served over HTTP on loopback. Times a cold tag compose, a recompose after 20 builds
# changed (warm download and metadata caches), the same packages as a `repo` compose with 20
# replaced (our incremental repodata time), and a reused compose from submission to done.
#   bash bench/koji/run.sh [CORPUS]      (default /var/tmp/corpus-2000, built if missing)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
shared="${SHARED:-$root/../shared}"
corpus="${1:-/var/tmp/corpus-2000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/odcs-target}"
export ODCS_TEST_POSTGRES_URL="${ODCS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"

if [ ! -d "$corpus/os" ]; then
  /usr/bin/python3 "$shared/bench/make_corpus.py" --n 2000 --seed 42 --out "$corpus"
fi
if [ ! -f "$corpus/replacements/swap.tsv" ]; then
  /usr/bin/python3 "$shared/bench/make_corpus.py" --n 2000 --seed 42 --out "$corpus" \
    --phase replacements --replacements 20
fi
cd "$root"
ODCS_BENCH_CORPUS="$corpus" cargo test --release -q -p odcs-worker --test worker \
  koji::benchmark -- --ignored --exact --nocapture 2>/dev/null | grep '^|'
