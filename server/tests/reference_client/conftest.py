"""Runs our odcs-server for the reference ODCS client (PyPI `odcs[client]`) to talk to.

Each test module gets a server over a fresh SQLite file and one over a fresh PostgreSQL
database, so the reference client is checked against both stores.
"""

import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

SERVER_BIN = os.environ.get("ODCS_SERVER_BIN", "odcs-server")
PG_ADMIN = os.environ.get("ODCS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")

CONFIG = """
target_dir = "{target_dir}"
target_dir_url = "http://odcs.example.com/composes"
sigkeys = ["FD431D51"]
arches = ["x86_64", "aarch64"]
seconds_to_live = 3600
max_seconds_to_live = 7200

[raw_config_urls.fedora]
url = "https://git.example.com/pungi-fedora.git"
config_filename = "fedora.conf"
"""


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _psql(sql, db="postgres"):
    subprocess.run(
        ["psql", f"{PG_ADMIN}/{db}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        check=True,
        capture_output=True,
        text=True,
    )


class Server:
    """A running odcs-server and a way to arrange rows behind the API's back."""

    def __init__(self, store, workdir):
        self.store = store
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        if store == "sqlite":
            self.sqlite_path = os.path.join(workdir, "odcs.db")
            self.database_url = f"sqlite://{self.sqlite_path}"
        else:
            self.pg_name = f"odcs_pytest_{uuid.uuid4().hex}"
            _psql(f"CREATE DATABASE {self.pg_name}")
            self.database_url = f"{PG_ADMIN}/{self.pg_name}"
        config_path = os.path.join(workdir, "odcs.toml")
        with open(config_path, "w") as f:
            f.write(CONFIG.format(target_dir=os.path.join(workdir, "composes")))
        env = dict(os.environ)
        env.update(
            ODCS_DATABASE_URL=self.database_url,
            ODCS_LISTEN=f"127.0.0.1:{self.port}",
            ODCS_HTTP_WORKERS="2",
        )
        self.log = open(os.path.join(workdir, "server.log"), "w")
        self.proc = subprocess.Popen(
            [SERVER_BIN, "--config", config_path],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                requests.get(self.url + "api/1/about/", timeout=1)
                return
            except requests.ConnectionError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"odcs-server did not start; see {self.log.name}")

    def execute(self, sql):
        """Runs SQL on the server's database (to put composes in states only workers reach)."""
        if self.store == "sqlite":
            with sqlite3.connect(self.sqlite_path) as conn:
                conn.execute(sql)
        else:
            _psql(sql, self.pg_name)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
        if self.store == "postgres":
            _psql(f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request):
    workdir = tempfile.mkdtemp(prefix="odcs-pytest-")
    srv = Server(request.param, workdir)
    yield srv
    srv.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def odcs(server):
    from odcs.client.odcs import ODCS, AuthMech

    return ODCS(server.url, auth_mech=AuthMech.Anonymous)
