#!/usr/bin/env bash
# Module benchmark: 10 modules of 50 RPMs each published in the test suite's real MBS frontend
# and fake Koji hub (worker/tests/worker/{real_mbs,koji_hub}.rs); times a module compose of all ten
# against a `tag` compose of the same 500 RPMs, submission to done, warm caches, alternated.
#   bash bench/modules/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/odcs-target}"
export ODCS_TEST_POSTGRES_URL="${ODCS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
cd "$root"
cargo test --release -q -p odcs-worker --test worker modules::benchmark -- --ignored --exact \
  --nocapture 2>/dev/null | grep '^|'
