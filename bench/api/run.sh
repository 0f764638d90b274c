#!/usr/bin/env bash
# API throughput benchmark: 10,000 composes in PostgreSQL, the server in release mode, wrk over
# loopback (-t2 -c16). Prints req/s and p99 per endpoint and EXPLAIN of the list queries.
#   bash bench/api/run.sh            # our server
#   REFERENCE=1 bash bench/api/run.sh  # also the reference ODCS 0.9.2 under gunicorn (2 workers)
#   MODE=distributed bash bench/api/run.sh  # ours publishing jobs to RabbitMQ (a scratch queue
#                                           # nobody consumes) instead of standalone
#   SERVER_BIN=path bash bench/api/run.sh   # another odcs-server build (e.g. before a change)
#   COMPOSES=1000000 bash bench/api/run.sh  # a larger table (default 10,000)
#   WARMUP=8s bash bench/api/run.sh        # load each server this long before measuring, so
#                                          # its start-up work (the first beat sweep over the
#                                          # table) is not measured
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/odcs-target}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
DB=odcs_bench
DURATION="${DURATION:-10s}"
PORT=5105
out="${OUT:-/tmp/odcs-bench-api}"
mkdir -p "$out"

command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
server_bin="${SERVER_BIN:-$CARGO_TARGET_DIR/release/odcs-server}"
[ -n "${SERVER_BIN:-}" ] || (cd "$root" && cargo build --release -q -p odcs-server)
distributed=()
if [ "${MODE:-standalone}" = distributed ]; then
  queue="odcs-bench-$$"
  distributed=(ODCS_AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
               ODCS_DEFAULT_QUEUE="$queue" ODCS_QUEUE_ROUTES='{}')
fi

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
ODCS_DATABASE_URL="$PG/$DB" "$server_bin" migrate >/dev/null
COMPOSES="${COMPOSES:-10000}"
psql "$PG/$DB" -q -v n="$COMPOSES" -f "$here/load.sql"
echo "$COMPOSES composes; CPU: $(bash "$here/../cpu.sh")"

run_wrk() { # name url [script]
  local name=$1 url=$2 script=${3:-}
  local args=(-t2 -c16 -d"$DURATION" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  wrk "${args[@]}" "$url" > "$out/$name.txt"
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$out/$name.txt")
  p99=$(awk '$1=="99%" {print $2}' "$out/$name.txt")
  printf '| %-28s | %10s | %8s |\n' "$name" "$rps" "$p99"
}

bench_server() { # label base-url
  local label=$1 base=$2
  echo
  echo "### $label"
  echo
  echo "| endpoint                     |      req/s |      p99 |"
  echo "|------------------------------|-----------:|---------:|"
  if [ -n "${WARMUP:-}" ]; then
    wrk -t2 -c16 -d"$WARMUP" "$base/api/1/composes/5000" > /dev/null
  fi
  run_wrk "$label GET by id" "$base/api/1/composes/5000"
  run_wrk "$label GET list per_page=10" "$base/api/1/composes/?per_page=10"
  run_wrk "$label GET filtered list" "$base/api/1/composes/?source_type=1&state=2&owner=user7&per_page=10"
  run_wrk "$label POST create" "$base/api/1/composes/" "$here/post.lua"
}

env "${distributed[@]}" ODCS_DATABASE_URL="$PG/$DB?sslmode=disable" ODCS_LISTEN="127.0.0.1:$PORT" \
  ODCS_TARGET_DIR=/srv/odcs ODCS_HTTP_WORKERS=2 ODCS_DATABASE_POOL_SIZE=4 RUST_LOG=warn \
  "$server_bin" > "$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/api/1/about/" >/dev/null && break; sleep 0.1; done
bench_server "odcs-rs" "http://127.0.0.1:$PORT"
kill $server; wait $server 2>/dev/null || true
if [ -n "${queue:-}" ]; then
  echo
  echo "jobs published to $queue: $(rabbitmqctl -q list_queues name messages | awk -v q="$queue" '$1 == q {print $2}')"
  rabbitmqctl -q delete_queue "$queue" >/dev/null || true
fi

if [ "${REFERENCE:-0}" = 1 ]; then
  # shellcheck source=reference.sh
  source "$here/reference.sh"
fi

echo
echo "### EXPLAIN (list queries, after the run)"
psql "$PG/$DB" -c "EXPLAIN ANALYZE SELECT * FROM composes ORDER BY id DESC LIMIT 10 OFFSET 0" \
  -c "EXPLAIN ANALYZE SELECT COUNT(*) FROM composes WHERE source_type = 1 AND state = 2 AND owner = 'user7'" \
  -c "EXPLAIN ANALYZE SELECT * FROM composes WHERE source_type = 1 AND state = 2 AND owner = 'user7' ORDER BY id DESC LIMIT 10 OFFSET 0"
