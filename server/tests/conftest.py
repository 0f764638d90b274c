"""Runs our odcs-server for the Python suites (the reference ODCS client, PyPI `odcs[client]`,
and schemathesis) to talk to.

Each test module gets a server over a fresh SQLite file and one over a fresh PostgreSQL
database, so the reference client is checked against both stores.
"""

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests

SERVER_BIN = os.environ.get("ODCS_SERVER_BIN", "odcs-server")
PG_ADMIN = os.environ.get("ODCS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
AMQP_URL = os.environ.get("ODCS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")

CONFIG = """
target_dir = "{target_dir}"
target_dir_url = "{target_dir_url}"
sigkeys = ["FD431D51"]
arches = ["x86_64", "aarch64"]
seconds_to_live = 3600
max_seconds_to_live = 7200

[raw_config_urls.fedora]
url = "https://git.example.com/pungi-fedora.git"
config_filename = "fedora.conf"

[raw_config_urls.local]
url = "{raw_config_repo}"
config_filename = "pungi.conf"
"""

# The Pungi stand-in the worker tests use (real kobo and productmd from this Python).
PUNGI_STAND_IN = os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "worker", "tests", "worker", "pungi_stand_in.py")
)


def free_port():
    """A TCP port on loopback nobody listens on (for a service a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, seconds=10):
    """Waits until something listens on loopback `port`, at most `seconds`."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)


def stop_processes(procs, seconds=30):
    """Terminates `procs`, waits up to `seconds` for each, and kills what is still running."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            p.kill()


SLAPD_CONF = """
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
pidfile {directory}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "dc=example,dc=com"
rootdn "cn=admin,dc=example,dc=com"
rootpw secret
directory {directory}/db
"""

DIRECTORY = """dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: cn=releng,ou=groups,dc=example,dc=com
objectClass: posixGroup
cn: releng
gidNumber: 1001
memberUid: {member}

dn: cn=packagers,ou=groups,dc=example,dc=com
objectClass: posixGroup
cn: packagers
gidNumber: 1002
memberUid: {member}
memberUid: someone
"""


class Slapd:
    """A real OpenLDAP `slapd` (Debian) on loopback whose groups `releng` and `packagers` have
    `member` (a user name as the server sees it) as a member; the context is its ldap:// URL.
    With `tls` (certificate and key PEM files) it also offers StartTLS there and listens for
    ldaps:// at `ldaps_url`."""

    def __init__(self, member, tls=None):
        self.member = member
        self.tls = tls

    def __enter__(self):
        self.directory = tempfile.mkdtemp(prefix="odcs-slapd-")
        os.makedirs(os.path.join(self.directory, "db"))
        conf = os.path.join(self.directory, "slapd.conf")
        with open(conf, "w") as f:
            if self.tls:
                f.write(f"TLSCertificateFile {self.tls[0]}\nTLSCertificateKeyFile {self.tls[1]}\n")
            f.write(SLAPD_CONF.format(directory=self.directory))
        data = os.path.join(self.directory, "data.ldif")
        with open(data, "w") as f:
            f.write(DIRECTORY.format(member=self.member))
        subprocess.run(["slapadd", "-f", conf, "-l", data], check=True, capture_output=True)
        port = free_port()
        urls = [f"ldap://127.0.0.1:{port}/"]
        if self.tls:
            tls_port = free_port()
            self.ldaps_url = f"ldaps://127.0.0.1:{tls_port}/"
            urls.append(self.ldaps_url)
        self.proc = subprocess.Popen(
            ["slapd", "-f", conf, "-h", " ".join(urls), "-d", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port)
        if self.tls:
            wait_for_port(tls_port)
        return urls[0]

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


def answers(url, proc, seconds, verify=True):
    """Waits until `url` answers, at most `seconds`; False when `proc` exits first or time runs
    out (a loaded machine may take a while to answer the first request)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            requests.get(url, timeout=1, verify=verify)
            return True
        except (requests.ConnectionError, requests.Timeout):
            if proc.poll() is not None:
                return False
            time.sleep(0.1)
    return False


def _psql(sql, db="postgres"):
    subprocess.run(
        ["psql", f"{PG_ADMIN}/{db}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        check=True,
        capture_output=True,
        text=True,
    )


class Server:
    """A running odcs-server and a way to arrange rows behind the API's back."""

    def __init__(self, store, workdir, standalone=False, extra_config="", ca=None):
        """`extra_config` (top-level keys) starts the configuration file; with `ca` (the authority of
        the server's certificate, which `extra_config` then configures) it serves HTTPS."""
        self.store = store
        self.workdir = workdir
        self.standalone = standalone
        self.port = free_port()
        scheme = "https" if ca else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/"
        self.target_dir_url = f"{scheme}://127.0.0.1:{self.port}/composes"
        self.queue = f"odcs-pytest-{uuid.uuid4().hex}"
        if store == "sqlite":
            self.sqlite_path = os.path.join(workdir, "odcs.db")
            self.database_url = f"sqlite://{self.sqlite_path}"
        else:
            self.pg_name = f"odcs_pytest_{uuid.uuid4().hex}"
            _psql(f"CREATE DATABASE {self.pg_name}")
            self.database_url = f"{PG_ADMIN}/{self.pg_name}"
        config_path = os.path.join(workdir, "odcs.toml")
        with open(config_path, "w") as f:
            self.raw_config_repo = os.path.join(workdir, "pungi-config")
            f.write(extra_config + CONFIG.format(
                target_dir=os.path.join(workdir, "composes"),
                target_dir_url=self.target_dir_url,
                raw_config_repo=self.raw_config_repo,
            ))
        self.repo_root = os.path.join(workdir, "repos")
        os.makedirs(self.repo_root)
        env = dict(os.environ)
        env.update(
            ODCS_DATABASE_URL=self.database_url,
            ODCS_LISTEN=f"127.0.0.1:{self.port}",
            ODCS_HTTP_WORKERS="2",
            ODCS_REPO_SOURCE_ROOTS=self.repo_root,
            ODCS_PACKAGE_CACHE_DIR=os.path.join(workdir, "cache"),
        )
        pungi_koji = os.path.join(workdir, "pungi-koji")
        with open(pungi_koji, "w") as f:
            f.write(f'#!/bin/sh\nexec {sys.executable} {PUNGI_STAND_IN} pungi-koji "$@"\n')
        os.chmod(pungi_koji, 0o755)
        env.update(
            ODCS_PUNGI_KOJI=pungi_koji,
            ODCS_RAW_CONFIG_GIT_CACHE_DIR=os.path.join(workdir, "git-cache"),
        )
        if not standalone:
            # Jobs go to a RabbitMQ queue nobody consumes, so composes stay as the API left
            # them; the API tests arrange other states themselves.
            env.update(ODCS_AMQP_URL=AMQP_URL, ODCS_DEFAULT_QUEUE=self.queue, ODCS_QUEUE_ROUTES="{}")
        self.log = open(os.path.join(workdir, "server.log"), "w")
        self.proc = subprocess.Popen(
            [SERVER_BIN, "--config", config_path],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        if not answers(self.url + "api/1/about/", self.proc, 30, verify=ca or True):
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
        self.proc.wait(timeout=30)
        self.log.close()
        if not self.standalone:
            subprocess.run(["rabbitmqctl", "-q", "delete_queue", self.queue], capture_output=True)
        if self.store == "postgres":
            _psql(f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request):
    workdir = tempfile.mkdtemp(prefix="odcs-pytest-")
    srv = Server(request.param, workdir)
    yield srv
    srv.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def standalone_server(request):
    """A server running its own workers, beat and relay, serving the compose directory."""
    workdir = tempfile.mkdtemp(prefix="odcs-pytest-")
    srv = Server(request.param, workdir, standalone=True)
    yield srv
    srv.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def odcs(server):
    from odcs.client.odcs import ODCS, AuthMech

    return ODCS(server.url, auth_mech=AuthMech.Anonymous)
