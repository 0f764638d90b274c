#!/usr/bin/env bash
# Creates of two (or more) odcs-server builds, interleaved, on the database bench/api/run.sh
# left behind (odcs_bench): each build in turn serves `wrk -t2 -c16 -d8s -s post.lua`, twice.
#   MODE=standalone bash bench/api/create_ab.sh /tmp/odcs-server-before /tmp/odcs-server-after
#   MODE=distributed bash bench/api/create_ab.sh ...   # jobs to a scratch RabbitMQ queue
# Composes left waiting by a run are marked failed before the next, so no build starts with
# another's backlog for its in-process workers.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
DB=odcs_bench
PORT=5105
queue="odcs-bench-ab-$$"
extra=()
if [ "${MODE:-standalone}" = distributed ]; then
  extra=(ODCS_AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
         ODCS_DEFAULT_QUEUE="$queue" ODCS_QUEUE_ROUTES='{}')
fi
for round in 1 2; do
  for bin in "$@"; do
    psql -q "$PG/$DB" -c "UPDATE composes SET state = 4 WHERE state IN (0, 1) AND id > 10000" >/dev/null
    env "${extra[@]}" ODCS_DATABASE_URL="$PG/$DB?sslmode=disable" ODCS_LISTEN="127.0.0.1:$PORT" \
      ODCS_TARGET_DIR=/srv/odcs ODCS_HTTP_WORKERS=2 ODCS_DATABASE_POOL_SIZE=4 RUST_LOG=warn \
      "$bin" > /tmp/odcs-create-ab-server.log 2>&1 &
    server=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/api/1/about/" >/dev/null && break; sleep 0.1; done
    printf '%s round %s: ' "$bin" "$round"
    wrk -t2 -c16 -d8s --latency -s "$here/post.lua" "http://127.0.0.1:$PORT/api/1/composes/" |
      awk '/Requests\/sec/ {r = $2} $1 == "99%" {p = $2} END {print r " req/s, p99 " p}'
    kill "$server"; wait "$server" 2>/dev/null || true
  done
done
if [ "${MODE:-standalone}" = distributed ]; then
  rabbitmqctl -q delete_queue "$queue" >/dev/null 2>&1 || true
fi
