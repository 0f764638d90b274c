#!/usr/bin/env bash
# Beat benchmark: one `odcs-worker beat --once` over a large compose table (1,000,000 rows by
# default, bench/api/load.sql: its waiting and generating composes healthy, as on a busy
# instance) of which EXPIRING done or failed composes have expired, so the sweep's work is the
# expiries. Prints the wall time of
# the sweep that clears them, of a second sweep with nothing to do, and what each did.
#   bash bench/beat/run.sh
#   COMPOSES=10000 EXPIRING=1000 bash bench/beat/run.sh
#   WORKER_BIN=path bash bench/beat/run.sh   # another odcs-worker build (e.g. before a change)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/odcs-target}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
DB=odcs_bench_beat
COMPOSES="${COMPOSES:-1000000}"
EXPIRING="${EXPIRING:-10000}"
worker_bin="${WORKER_BIN:-$CARGO_TARGET_DIR/release/odcs-worker}"
server_bin="${SERVER_BIN:-$CARGO_TARGET_DIR/release/odcs-server}"   # for its migrations
[ -n "${WORKER_BIN:-}" ] || (cd "$root" && cargo build --release -q -p odcs-worker -p odcs-server)

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
ODCS_DATABASE_URL="$PG/$DB" "$server_bin" migrate >/dev/null
psql "$PG/$DB" -q -v n="$COMPOSES" -f "$root/bench/api/load.sql"
psql "$PG/$DB" -q -v k="$EXPIRING" <<'SQL'
UPDATE composes SET time_to_expire = now() - interval '1 minute'
 WHERE id IN (SELECT id FROM composes WHERE state IN (2, 4) ORDER BY id LIMIT :k);
VACUUM ANALYZE composes;
SQL

sweep() { # label
  local start=$EPOCHREALTIME out
  out=$(env ODCS_DATABASE_URL="$PG/$DB?sslmode=disable" ODCS_TARGET_DIR=/var/tmp/odcs-bench-beat \
    RUST_LOG=warn "$worker_bin" beat --once)
  local end=$EPOCHREALTIME
  awk -v s="$start" -v e="$end" -v l="$1" -v o="$out" 'BEGIN {printf "| %s | %.3f s | %s |\n", l, e - s, o}'
}
mkdir -p /var/tmp/odcs-bench-beat
echo "$COMPOSES composes, $EXPIRING expired; CPU: $(bash "$here/../cpu.sh")"
echo
echo "| sweep | wall time (process start included) | what it did |"
echo "|---|---:|---|"
sweep "first: the expiries"
sweep "second: nothing to do"
echo
psql "$PG/$DB" -Atc "SELECT 'removed: ' || count(*) FROM composes WHERE state = 3 AND time_removed IS NOT NULL" \
  -c "SELECT 'state-change messages in the outbox: ' || count(*) FROM messages"
