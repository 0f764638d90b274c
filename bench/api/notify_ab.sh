#!/usr/bin/env bash
# What the state-history notice costs creates: distributed POSTs (jobs to a scratch RabbitMQ
# queue) against 10,000 composes, with the `messages_announce_history` trigger enabled and
# disabled in three interleaved pairs on one server and database. Results in
# docs/benchmarks.md.
#   SERVER_BIN=path bash bench/api/notify_ab.sh   # default: the release build in CARGO_TARGET_DIR
set -euo pipefail
BIN="${SERVER_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/odcs-target}/release/odcs-server}"
PG=postgres://postgres@127.0.0.1:5432
DB=odcs_notify_ab
PORT=5106
here="$(cd "$(dirname "$0")" && pwd)"
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
ODCS_DATABASE_URL="$PG/$DB" "$BIN" migrate >/dev/null
psql "$PG/$DB" -q -v n=10000 -f "$here/load.sql"
queue="odcs-notify-ab-$$"
ODCS_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" ODCS_DEFAULT_QUEUE="$queue" ODCS_QUEUE_ROUTES='{}' \
  ODCS_DATABASE_URL="$PG/$DB?sslmode=disable" ODCS_LISTEN="127.0.0.1:$PORT" \
  ODCS_TARGET_DIR=/srv/odcs ODCS_HTTP_WORKERS=2 ODCS_DATABASE_POOL_SIZE=4 RUST_LOG=warn \
  "$BIN" > /tmp/notify_ab_server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rabbitmqctl -q delete_queue "$queue" >/dev/null 2>&1 || true
      psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/api/1/about/" >/dev/null && break; sleep 0.1; done
run() {
  wrk -t2 -c16 -d8s --latency -s "$here/post.lua" "http://127.0.0.1:$PORT/api/1/composes/" > /tmp/notify_ab_wrk.txt
  printf '%s %s p99=%s\n' "$1" "$(awk '/Requests\/sec/ {print $2}' /tmp/notify_ab_wrk.txt)" "$(awk '$1=="99%" {print $2}' /tmp/notify_ab_wrk.txt)"
}
run warmup >/dev/null
for round in 1 2 3; do
  run "with-trigger"
  psql "$PG/$DB" -qc "ALTER TABLE messages DISABLE TRIGGER messages_announce_history"
  run "without-trigger"
  psql "$PG/$DB" -qc "ALTER TABLE messages ENABLE TRIGGER messages_announce_history"
done
