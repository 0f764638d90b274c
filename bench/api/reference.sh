#!/usr/bin/env bash
# The reference ODCS 0.9.2 frontend under gunicorn (2 workers) over its own PostgreSQL database
# with the same 10,000 composes, driven exactly as run.sh drives ours. Sourced by run.sh.
REFENV="${REFENV:-$HOME/.cache/odcs-ref-env}"
if [ ! -x "$REFENV/bin/gunicorn" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libldap2-dev libsasl2-dev libkrb5-dev \
    libcairo2-dev libgirepository1.0-dev gir1.2-modulemd-2.0 >/dev/null
  python3 -m venv "$REFENV"
  "$REFENV/bin/pip" install -q 'odcs[server]==0.9.2' gunicorn psycopg2-binary
fi
REFDB=odcs_bench_ref
REFPORT=5107
confdir="$(mktemp -d)"
cp "$here/reference_config.py" "$confdir/config.py"
touch "$confdir/pungi.conf"
export REFERENCE_PUNGI_CONF="$confdir/pungi.conf"
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $REFDB WITH (FORCE)" -c "CREATE DATABASE $REFDB"
export ODCS_CONFIG_DIR="$confdir" REFERENCE_DATABASE_URI="postgresql://postgres@127.0.0.1:5432/$REFDB?sslmode=disable"
"$REFENV/bin/python" -c "from odcs.server import app, db
with app.app_context():
    db.create_all()" 2>/dev/null
psql "$PG/$REFDB" -q -v n="$COMPOSES" -f "$here/load.sql"
"$REFENV/bin/gunicorn" -w 2 -b "127.0.0.1:$REFPORT" odcs.server:app > "$out/reference.log" 2>&1 &
refpid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$REFPORT/api/1/about/" >/dev/null && break; sleep 0.2; done
bench_server "reference" "http://127.0.0.1:$REFPORT"
kill $refpid; wait $refpid 2>/dev/null || true
rm -rf "$confdir"
