"""Taking over a reference deployment: a database made by the reference's own migrations
(`odcs-manager db upgrade` from PyPI `odcs[server]==0.9.2`) and filled by its own models with
composes in every state is adopted in place by `odcs-server migrate`; the reference's client
then sees every compose as the reference showed it, the reference's waiting and generating
composes are finished by our workers, new composes take the next ids, and an adopted
compose's directory goes when it expires. On PostgreSQL (production: server, workers, relay
and beat as separate processes on RabbitMQ) and on SQLite (standalone)."""

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid

import pytest
import requests
from odcs.client.odcs import ODCS, AuthMech, ComposeSourceGeneric

from conftest import free_port, stop_processes

HERE = os.path.dirname(os.path.abspath(__file__))
BIN_DIR = os.environ.get("ODCS_BIN_DIR", "")
PG = os.environ.get("ODCS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
AMQP = os.environ.get("ODCS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
REFENV = os.environ.get("ODCS_REFERENCE_ENV", os.path.expanduser("~/.cache/odcs-ref-env"))
FIXTURE = os.environ["ODCS_TEST_FIXTURE_REPO"]
TARGET_DIR_URL = "https://odcs.example.com/composes"


def psql(sql, db="postgres"):
    out = subprocess.run(["psql", f"{PG}/{db}", "-qAtc", sql], check=True, capture_output=True,
                         text=True)
    return out.stdout.strip()


def answers(url, deadline=30):
    until = time.time() + deadline
    while time.time() < until:
        try:
            requests.get(url, timeout=1)
            return True
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    return False


class Postgres:
    """A database on the test PostgreSQL."""

    def __init__(self, name, work):
        self.name = name
        psql(f"CREATE DATABASE {name}")
        self.url = f"{PG}/{name}"
        self.reference_uri = self.url.replace("postgres://", "postgresql://")

    def query(self, sql):
        return psql(sql, self.name)

    def tables(self):
        return self.query("SELECT string_agg(tablename, ' ') FROM pg_tables").split()

    def expire_now(self, compose_id):
        self.query("UPDATE composes SET time_to_expire = now() AT TIME ZONE 'utc' "
                   f"- interval '1 minute' WHERE id = {compose_id}")

    def shape(self):
        columns = self.query(
            "SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable || ' ' "
            "|| coalesce(column_default, ''), ', ' ORDER BY column_name) "
            "FROM information_schema.columns WHERE table_name = 'composes'")
        indexes = self.query("SELECT string_agg(indexdef, '; ' ORDER BY indexname) FROM pg_indexes "
                             "WHERE tablename = 'composes'")
        return columns, indexes

    def drop(self):
        psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


class Sqlite:
    """An SQLite file."""

    def __init__(self, name, work):
        self.path = os.path.join(work, name + ".db")
        self.url = f"sqlite://{self.path}"
        self.reference_uri = f"sqlite:///{self.path}"

    def query(self, sql):
        with sqlite3.connect(self.path) as conn:
            return conn.execute(sql).fetchall()

    def tables(self):
        return [row[0] for row in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def expire_now(self, compose_id):
        self.query("UPDATE composes SET time_to_expire = datetime('now', '-1 minute') "
                   f"WHERE id = {compose_id}")

    def shape(self):
        # Column types and nullability are free in SQLite; names and indexes are what count.
        columns = sorted(row[0] for row in self.query("SELECT name FROM pragma_table_info('composes')"))
        indexes = sorted(row[0] for row in self.query(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'composes' "
            "AND sql IS NOT NULL"))
        return columns, indexes

    def drop(self):
        pass


@pytest.mark.parametrize("store", [Postgres, Sqlite], ids=["postgres", "sqlite"])
def test_a_reference_database_is_adopted_with_every_compose(store):
    tag = uuid.uuid4().hex
    work = tempfile.mkdtemp(prefix="odcs-adopt-")
    db, fresh_db = store(f"odcs_adopt_{tag}", work), store(f"odcs_fresh_{tag}", work)
    distributed = store is Postgres
    roots = os.path.join(work, "roots")
    repo = os.path.join(roots, "repo")
    shutil.copytree(FIXTURE, repo)
    target_dir = os.path.join(work, "composes")
    private_dir = os.path.join(work, "private")
    os.makedirs(target_dir)
    os.makedirs(private_dir)
    extra_target_dirs = json.dumps({"releng-private": private_dir})
    pungi_conf = os.path.join(work, "pungi.conf")
    open(pungi_conf, "w").close()
    confdir = os.path.join(work, "reference")
    os.makedirs(confdir)
    shutil.copy(os.path.join(HERE, "reference_config.py"), os.path.join(confdir, "config.py"))
    reference_env = dict(
        os.environ,
        ODCS_CONFIG_DIR=confdir,
        REFERENCE_DATABASE_URI=db.reference_uri,
        REFERENCE_TARGET_DIR=target_dir,
        REFERENCE_TARGET_DIR_URL=TARGET_DIR_URL,
        REFERENCE_EXTRA_TARGET_DIRS=extra_target_dirs,
        REFERENCE_PUNGI_CONF=pungi_conf,
    )
    env = dict(
        os.environ,
        ODCS_DATABASE_URL=db.url,
        ODCS_TARGET_DIR=target_dir,
        ODCS_TARGET_DIR_URL=TARGET_DIR_URL,
        ODCS_EXTRA_TARGET_DIRS=extra_target_dirs,
        ODCS_REPO_SOURCE_ROOTS=roots,
        ODCS_PACKAGE_CACHE_DIR=os.path.join(work, "cache"),
        ODCS_DEFAULT_QUEUE=f"odcs-adopt-{tag}",
        ODCS_QUEUE_ROUTES="{}",
        ODCS_BEAT_INTERVAL_SECONDS="1",
        RUST_LOG="warn",
    )
    if distributed:
        env["ODCS_AMQP_URL"] = AMQP
    procs = []
    try:
        # The reference's own migrations and models make and fill its database.
        subprocess.run([os.path.join(REFENV, "bin", "odcs-manager"), "db", "upgrade"],
                       env=reference_env, check=True, capture_output=True)
        filled = subprocess.run([os.path.join(REFENV, "bin", "python"),
                                 os.path.join(HERE, "fill_reference.py"), repo],
                                env=reference_env, check=True, capture_output=True, text=True)
        reference = json.loads(filled.stdout.strip().splitlines()[-1])
        ids = [c["id"] for c in reference["list"]]
        assert {c["state_name"] for c in reference["list"]} == {
            "wait", "generating", "done", "failed", "removed"}
        assert os.path.isdir(reference["expiring_dir"])

        # Our server refuses to start on it until it is adopted, and leaves it as it was.
        refused = subprocess.run([os.path.join(BIN_DIR, "odcs-server")], env=env,
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0
        assert "run `odcs-server migrate` once to adopt it" in refused.stderr
        assert "__diesel_schema_migrations" not in db.tables()

        # A revision this version does not know is refused, naming the way forward.
        db.query("UPDATE alembic_version SET version_num = 'a1b2c3d4e5f6'")
        unknown = subprocess.run([os.path.join(BIN_DIR, "odcs-server"), "migrate"], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert unknown.returncode != 0
        assert "at Alembic revision a1b2c3d4e5f6, which this version cannot adopt" in unknown.stderr
        assert "`odcs-manager db upgrade`" in unknown.stderr
        db.query("UPDATE alembic_version SET version_num = '92e7e6946717'")

        migrated = subprocess.run([os.path.join(BIN_DIR, "odcs-server"), "migrate"], env=env,
                                  capture_output=True, text=True, timeout=120)
        assert migrated.returncode == 0, migrated.stderr
        assert f"adopted the reference ODCS database (Alembic revision 92e7e6946717): " \
               f"{len(ids)} composes" in migrated.stdout

        # The adopted table is the one a fresh store has.
        fresh = subprocess.run([os.path.join(BIN_DIR, "odcs-server"), "migrate"],
                               env={**env, "ODCS_DATABASE_URL": fresh_db.url},
                               capture_output=True, text=True, timeout=120)
        assert fresh.returncode == 0, fresh.stderr
        assert db.shape() == fresh_db.shape()

        port = free_port()
        env["ODCS_LISTEN"] = f"127.0.0.1:{port}"
        server = f"http://127.0.0.1:{port}/"
        # Standalone, the server runs its workers, relay and beat too; they change only the
        # composes the reference left unsettled, which are not compared.
        procs.append(subprocess.Popen([os.path.join(BIN_DIR, "odcs-server")], env=env))
        assert answers(server + "api/1/about/"), "our server did not start"
        odcs = ODCS(server, auth_mech=AuthMech.Anonymous)

        # Every settled compose reads as the reference showed it, in the list and alone.
        settled = [c["id"] for c in reference["list"] if c["state_name"] not in ("wait", "generating")]
        listed = {c["id"]: c for c in odcs.find_composes(per_page=100)["items"]}
        assert sorted(listed) == ids, "nothing lost"
        for before, full in zip(reference["list"], reference["full"]):
            if before["id"] in settled:
                assert listed[before["id"]] == before
                assert odcs.get_compose(before["id"]) == full

        # Our workers take over what the reference left waiting or generating.
        if distributed:
            for cmd in (["consume"], ["relay"], ["beat"]):
                procs.append(subprocess.Popen([os.path.join(BIN_DIR, "odcs-worker"), *cmd], env=env))

        for before in reference["list"]:
            if before["id"] not in settled:
                done = odcs.wait_for_compose(before["id"], timeout=120)
                assert done["state_name"] == "done", done["state_reason"]
                assert done["owner"] == before["owner"]
                assert done["time_submitted"] == before["time_submitted"]

        # New composes are numbered after the reference's.
        new = odcs.request_compose(ComposeSourceGeneric(repo, "repo"), packages=["ed"])
        assert new["id"] == max(ids) + 1
        assert odcs.wait_for_compose(new["id"], timeout=120)["state_name"] == "done"

        # An adopted compose's directory has no marker of ours; it goes when it expires.
        expiring = reference["expiring"]
        db.expire_now(expiring)
        until = time.time() + 60
        while odcs.get_compose(expiring)["state_name"] != "removed" or os.path.isdir(reference["expiring_dir"]):
            assert time.time() < until, "the expired adopted compose was not removed with its files"
            time.sleep(0.2)
        assert len(odcs.find_composes(per_page=100)["items"]) == len(ids) + 1
    finally:
        stop_processes(procs)
        for store_db in (db, fresh_db):
            store_db.drop()
        subprocess.run(["rabbitmqctl", "-q", "delete_queue", f"odcs-adopt-{tag}"],
                       capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
