"""Differential test: the reference ODCS 0.9.2 frontend (PyPI `odcs[server]`, gunicorn, its own
PostgreSQL database) and ours, configured alike, get the same requests in the same order and
must answer alike: status, JSON body (times and server addresses normalised) and the headers
clients act on. The only differences allowed are the deliberate ones `docs/API.md` lists, named
in DELIBERATE below with the reason; any other difference fails the test.

Identity comes from the same trusted header for both (`X-Remote-User`, which the reference gets
as httpd's `REMOTE_USER`), groups from the same real `slapd`."""

import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import uuid

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import PG_ADMIN, Server, Slapd, _psql, answers, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
REFENV = os.environ.get("ODCS_REFERENCE_ENV", os.path.expanduser("~/.cache/odcs-ref-env"))
REALM = "EXAMPLE.COM"

ALLOWED_CLIENTS = {
    "users": {
        "alice": {"source_types": ["tag", "module", "build", "raw_config"], "arches": ["x86_64"]},
        "robot": {"source_types": ["tag"], "flags": ["no_deps"]},
    },
    "groups": {"releng": {"source_types": ["tag", "repo"]}},
}
ADMINS = {"users": ["boss"], "groups": []}

# Case name -> why the answers differ on purpose (docs/API.md, "Deliberate differences").
DELIBERATE = {
    "about": "auth_backend names the mechanism in use: the reference's kerberos behind httpd "
             "is our proxy backend",
    "create without a body": "the reference's message is Flask's HTML error text",
    "create with a body that is not JSON": "the reference's message is Flask's HTML error text",
    "renew with a body that is not JSON": "the reference's message is Flask's HTML error text",
    "cancel someone else's waiting compose": "the reference leaves %s in the message "
                                             "unformatted",
    "create a raw_config compose with arches": "the reference accepts arches it cannot pass "
                                               "to Pungi without a wrapper and ignores them",
    "create with a negative lifetime": "the reference stores a compose that expired before "
                                       "it was made",
    "create with an unknown compose type": "the reference stores any text, and builds paths "
                                           "from it",
    "create with packages beside the source": "the reference accepts packages beside the "
                                              "source and ignores them",
    "create with a boot.iso result": "the reference accepts results its Pungi configuration "
                                     "may not produce; we refuse those we cannot make",
}


def toml_value(value):
    """`value` (str, int, bool, list or dict) as a TOML value, dicts as inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


class Reference:
    """The reference frontend under gunicorn over a fresh PostgreSQL database."""

    def __init__(self, workdir, ours, ldap):
        self.db = f"odcs_diff_ref_{uuid.uuid4().hex}"
        _psql(f"CREATE DATABASE {self.db}")
        self.vhost = f"odcs-diff-{uuid.uuid4().hex}"
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", self.vhost], check=True,
                       capture_output=True)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", self.vhost, "guest",
                        ".*", ".*", ".*"], check=True, capture_output=True)
        confdir = os.path.join(workdir, "reference")
        os.makedirs(confdir)
        shutil.copy(os.path.join(HERE, "reference_config.py"), os.path.join(confdir, "config.py"))
        pungi_conf = os.path.join(confdir, "pungi.conf")
        open(pungi_conf, "w").close()
        shared = {
            "target_dir_url": ours.target_dir_url,
            "sigkeys": ["FD431D51"],
            "arches": ["x86_64", "aarch64"],
            "seconds_to_live": 3600,
            "max_seconds_to_live": 7200,
            "raw_config_urls": {
                "fedora": {"url": "https://git.example.com/pungi-fedora.git",
                           "config_filename": "fedora.conf"},
                "local": {"url": ours.raw_config_repo, "config_filename": "pungi.conf"},
            },
            "allowed_clients": ALLOWED_CLIENTS,
            "admins": ADMINS,
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = dict(
            os.environ,
            ODCS_CONFIG_DIR=confdir,
            REFERENCE_DATABASE_URI=f"{PG_ADMIN.replace('postgres://', 'postgresql://')}/{self.db}",
            REFERENCE_LDAP_SERVER=ldap,
            REFERENCE_TARGET_DIR=os.path.join(workdir, "reference-composes"),
            REFERENCE_PUNGI_CONF=pungi_conf,
            REFERENCE_SHARED_CONFIG=json.dumps(shared),
            REFERENCE_BROKER_URL=f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}",
            PYTHONPATH=os.pathsep.join([HERE, os.path.join(HERE, "reference_shims")]),
        )
        python = os.path.join(REFENV, "bin", "python")
        subprocess.run([python, "-c", "from odcs.server import app, db\n"
                        "with app.app_context():\n    db.create_all()"],
                       env=env, check=True, capture_output=True)
        self.log = open(os.path.join(workdir, "reference.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(REFENV, "bin", "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{self.port}",
             "reference_wsgi:app"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=HERE)
        if not answers(self.url + "api/1/about/", self.proc, 60):
            self.stop()
            raise RuntimeError(f"the reference frontend did not start; see {self.log.name}")

    def execute(self, sql):
        _psql(sql, db=self.db)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()
        _psql(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost], capture_output=True)


@pytest.fixture(scope="module")
def servers():
    if not os.path.exists(os.path.join(REFENV, "bin", "gunicorn")):
        pytest.fail(f"{REFENV} has no reference ODCS: .ci/test installs it")
    workdir = tempfile.mkdtemp(prefix="odcs-diff-")
    with Slapd("carol") as ldap:
        extra = f"""
auth_backend = "proxy"
auth_trusted_proxies = ["127.0.0.1"]
auth_realms = ["{REALM}"]
auth_ldap_server = "{ldap}"
auth_ldap_groups = [["ou=groups,dc=example,dc=com", "(memberUid={{}})"]]
allowed_clients = {toml_value(ALLOWED_CLIENTS)}
admins = {toml_value(ADMINS)}
"""
        os.makedirs(os.path.join(workdir, "ours"))
        ours = Server("postgres", os.path.join(workdir, "ours"), extra_config=extra)
        try:
            reference = Reference(workdir, ours, ldap)
        except Exception:
            ours.stop()
            raise
        yield reference, ours
        reference.stop()
        ours.stop()
    shutil.rmtree(workdir, ignore_errors=True)


TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
SERVER = re.compile(r"http://127\.0\.0\.1:\d+/")


def normalise(value):
    """`value` with times and the servers' addresses replaced by placeholders."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        value = TIME.sub("<time>", SERVER.sub("<server>/", value))
        if "not allowed to operate with compose" in value:
            # The reference collects these refusals in a set: their order is arbitrary.
            value = " ".join(sorted(s.strip() + "." for s in value.split(".") if s.strip()))
        return value
    return value


HEADERS = ("Access-Control-Allow-Origin", "WWW-Authenticate", "Allow")


def answer(base, method, path, body=None, user=None, raw=None, headers=None):
    """What a server answers: status, the JSON body (or the text), the headers that matter."""
    sent = dict(headers or {})
    if user:
        sent["X-Remote-User"] = f"{user}@{REALM}"
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    reply = requests.request(method, base + path.lstrip("/"), data=data, headers=sent,
                             allow_redirects=False, timeout=30)
    try:
        content = normalise(reply.json())
    except ValueError:
        content = {"content-type": reply.headers.get("Content-Type", "").split(";")[0]}
    kept = {h: reply.headers[h] for h in HEADERS if h in reply.headers}
    return {"status": reply.status_code, "body": content, "headers": kept}


def changed(theirs, mine):
    """Where two answers differ: the parts of each that are not the same."""
    if isinstance(theirs, dict) and isinstance(mine, dict):
        return {k: changed(theirs.get(k), mine.get(k))
                for k in sorted(set(theirs) | set(mine)) if theirs.get(k) != mine.get(k)}
    return {"reference": theirs, "ours": mine}


class Differences:
    """Runs cases on both servers and collects where they differ."""

    def __init__(self, reference, ours):
        self.reference, self.ours = reference, ours
        self.found = {}

    def case(self, name, method, path, **kwargs):
        theirs = answer(self.reference.url, method, path, **kwargs)
        mine = answer(self.ours.url, method, path, **kwargs)
        if reference_failed(theirs, mine):
            return theirs, mine
        compared = [without_tie_order(path, a) for a in (theirs, mine)]
        if compared[0] != compared[1]:
            self.found[name] = changed(*compared)
        return theirs, mine

    def both(self, sql):
        self.reference.execute(sql)
        self.ours.execute(sql)


def reference_failed(theirs, mine):
    """Whether the reference answered 500 where we answer a client error or success: a bug of
    the reference is a reason to differ (docs/API.md)."""
    return theirs["status"] == 500 and mine["status"] < 500


def without_tie_order(path, reply):
    """A list answer sorted by a column many composes share: the reference leaves the order of
    ties to the database, we break them by id. Compare which composes, not their order (and
    only the page metadata when the ties spread over several pages)."""
    order = re.search(r"order_by=-?(\w+)", path)
    items = reply["body"].get("items") if isinstance(reply["body"], dict) else None
    if not order or order.group(1) == "id" or items is None:
        return reply
    body = dict(reply["body"])
    if body.get("meta", {}).get("pages", 0) > 1:
        body.pop("items")
    else:
        body["items"] = sorted(items, key=lambda item: item["id"])
    return {**reply, "body": body}


TAG = {"source": {"type": "tag", "source": "f40"}, "arches": ["x86_64"]}


def test_the_same_requests_get_the_same_answers(servers):
    reference, ours = servers
    diff = Differences(reference, ours)
    diff.case("about", "GET", "/api/1/about/")
    diff.case("empty list", "GET", "/api/1/composes/")

    # Creating: identity, permissions, validation.
    diff.case("create without a user", "POST", "/api/1/composes/", body=TAG)
    diff.case("create without a body", "POST", "/api/1/composes/", user="alice", raw="")
    diff.case("create with a body that is not JSON", "POST", "/api/1/composes/", user="alice",
              raw="{not json")
    diff.case("create without a source", "POST", "/api/1/composes/", user="alice", body={})
    diff.case("create without a source type", "POST", "/api/1/composes/", user="alice",
              body={"source": {"source": "f40"}})
    diff.case("create with an unknown source type", "POST", "/api/1/composes/", user="alice",
              body={"source": {"type": "nonsense", "source": "f40"}})
    diff.case("create a tag compose without its tag", "POST", "/api/1/composes/", user="alice",
              body={"source": {"type": "tag"}, "arches": ["x86_64"]})
    diff.case("create by a user without a rule", "POST", "/api/1/composes/", user="bob", body=TAG)
    diff.case("create a tag compose", "POST", "/api/1/composes/", user="alice", body=TAG)
    diff.case("create with forbidden characters", "POST", "/api/1/composes/", user="alice",
              body={"source": {"type": "tag", "source": "f40;rm -rf /"}, "arches": ["x86_64"]})
    diff.case("create with a disallowed source type", "POST", "/api/1/composes/", user="alice",
              body={"source": {"type": "repo", "source": "/srv/repo"}})
    diff.case("create with a disallowed arch", "POST", "/api/1/composes/", user="alice",
              body={"source": {"type": "tag", "source": "f40"}, "arches": ["ppc64le"]})
    diff.case("create with an unknown arch by an admin", "POST", "/api/1/composes/", user="boss",
              body={"source": {"type": "tag", "source": "f40"}, "arches": ["ppc64le"]})
    diff.case("create by a group member", "POST", "/api/1/composes/", user="carol", body=TAG)
    diff.case("create with no_flags", "POST", "/api/1/composes/", user="robot",
              body={"source": {"type": "tag", "source": "f40"}, "flags": ["no_flags"]})
    diff.case("create with a disallowed flag", "POST", "/api/1/composes/", user="robot",
              body={"source": {"type": "tag", "source": "f40"}, "flags": ["no_inheritance"]})
    diff.case("create with too long a lifetime", "POST", "/api/1/composes/", user="alice",
              body={**TAG, "seconds_to_live": 100000})

    # Reading.
    diff.case("get a compose", "GET", "/api/1/composes/1")
    diff.case("get a missing compose", "GET", "/api/1/composes/999")
    diff.case("list", "GET", "/api/1/composes/")
    diff.case("list a page", "GET", "/api/1/composes/?per_page=1&page=2")
    diff.case("list with a bad page", "GET", "/api/1/composes/?page=abc&per_page=x")
    diff.case("list by owner", "GET", "/api/1/composes/?owner=alice")
    diff.case("list by state", "GET", "/api/1/composes/?state=wait")
    diff.case("list in order", "GET", "/api/1/composes/?order_by=-id")
    diff.case("list in an unknown order", "GET", "/api/1/composes/?order_by=nonsense")
    diff.case("list behind a proxy path", "GET", "/api/1/composes/?per_page=1",
              headers={"X-Script-Name": "/odcs"})

    # Renewing and removing in each state.
    diff.case("renew a waiting compose", "PATCH", "/api/1/composes/1", user="alice", body={})
    diff.both("UPDATE composes SET state = 2 WHERE id = 1")
    diff.case("renew someone else's compose", "PATCH", "/api/1/composes/1", user="carol", body={})
    diff.case("renew a done compose", "PATCH", "/api/1/composes/1", user="alice",
              body={"seconds_to_live": 60})
    diff.case("cancel someone else's waiting compose", "DELETE", "/api/1/composes/2",
              user="alice")
    diff.case("cancel a waiting compose as an admin", "DELETE", "/api/1/composes/2", user="boss")
    diff.case("remove a done compose as its owner", "DELETE", "/api/1/composes/1", user="alice")
    diff.case("remove a done compose as an admin", "DELETE", "/api/1/composes/1", user="boss")
    diff.case("remove a removed compose", "DELETE", "/api/1/composes/1", user="boss")
    diff.case("remove without a user", "DELETE", "/api/1/composes/1")
    diff.case("remove a missing compose", "DELETE", "/api/1/composes/999", user="boss")
    own = diff.case("create one to cancel", "POST", "/api/1/composes/", user="carol", body=TAG)
    own_id = own[0]["body"].get("id")
    diff.case("cancel one's own waiting compose", "DELETE", f"/api/1/composes/{own_id}",
              user="carol")
    diff.case("get a cancelled compose", "GET", f"/api/1/composes/{own_id}")
    generating = diff.case("create one to generate", "POST", "/api/1/composes/", user="carol",
                           body=TAG)[0]["body"].get("id")
    diff.both(f"UPDATE composes SET state = 1 WHERE id = {generating}")
    diff.case("cancel a generating compose", "DELETE", f"/api/1/composes/{generating}",
              user="carol")
    diff.case("remove a generating compose as an admin", "DELETE",
              f"/api/1/composes/{generating}", user="boss")
    diff.case("renew a generating compose", "PATCH", f"/api/1/composes/{generating}",
              user="carol", body={})
    diff.both(f"UPDATE composes SET state = 4 WHERE id = {generating}")
    diff.case("remove a failed compose as an admin", "DELETE", f"/api/1/composes/{generating}",
              user="boss")
    diff.case("renew without a user", "PATCH", "/api/1/composes/1", body={})
    diff.case("renew a missing compose", "PATCH", "/api/1/composes/999", user="alice", body={})
    diff.case("renew with a body that is not JSON", "PATCH", "/api/1/composes/1", user="alice",
              raw="{nope")
    diff.case("renew with a lifetime that is not a number", "PATCH", "/api/1/composes/1",
              user="alice", body={"seconds_to_live": "soon"})

    # Other source types, their options, and lifetimes.
    diff.case("create a build compose", "POST", "/api/1/composes/", user="alice",
              body={"source": {"type": "build", "builds": ["foo-1.0-1.fc40"]},
                    "arches": ["x86_64"]})
    diff.case("create a module compose by NSVC", "POST", "/api/1/composes/", user="alice",
              body={"source": {"type": "module", "source": "testmodule:master:1:abcdef"},
                    "arches": ["x86_64"]})
    diff.case("create a module compose by NSVCA", "POST", "/api/1/composes/", user="alice",
              body={"source": {"type": "module", "source": "testmodule:master:1:abcdef:x86_64"},
                    "arches": ["x86_64"]})
    diff.case("create a raw_config compose without a commit", "POST", "/api/1/composes/",
              user="alice", body={"source": {"type": "raw_config", "source": "fedora"},
                                  "arches": ["x86_64"]})
    diff.case("create a raw_config compose of an unknown name", "POST", "/api/1/composes/",
              user="alice", body={"source": {"type": "raw_config", "source": "nope#abc"},
                                  "arches": ["x86_64"]})
    diff.case("create with a lifetime that is not a number", "POST", "/api/1/composes/",
              user="alice", body={**TAG, "seconds_to_live": "long"})

    # Pages, filters and paths.
    diff.case("index page", "GET", "/")
    diff.case("API page", "GET", "/api/1/")
    diff.case("a page past the last", "GET", "/api/1/composes/?page=99")
    diff.case("a large page", "GET", "/api/1/composes/?per_page=1000")
    diff.case("list by source type", "GET", "/api/1/composes/?source_type=1")
    diff.case("list by an unknown owner", "GET", "/api/1/composes/?owner=nobody")
    diff.case("get through a proxy path", "GET", "/odcs/api/1/composes/1",
              headers={"X-Script-Name": "/odcs"})
    diff.case("wrong method", "PUT", "/api/1/composes/")
    diff.case("unknown route", "GET", "/api/1/nothing")
    diff.case("compose id that is not a number", "GET", "/api/1/composes/abc")

    # Renewing composes that ended.
    diff.both("UPDATE composes SET state = 4 WHERE id = 3")
    diff.case("renew a failed compose", "PATCH", "/api/1/composes/3", user="carol", body={})
    diff.both("UPDATE composes SET state = 3 WHERE id = 4")
    diff.case("renew a removed compose", "PATCH", "/api/1/composes/4", user="alice", body={})
    diff.case("renew with a new label", "PATCH", "/api/1/composes/1", user="alice",
              body={"label": "RC-1.0"})
    diff.case("list after renewals", "GET", "/api/1/composes/?per_page=50")

    diff.case("create a raw_config compose", "POST", "/api/1/composes/", user="alice",
              body={"source": {"type": "raw_config", "source": "fedora#abc123"}})

    # Generated list queries (seeded, so every run sends the same ones) over what both hold.
    pick = random.Random(18)
    pools = {
        "owner": ["alice", "carol", "nobody"], "source_type": ["1", "2", "5", "tag"],
        "source": ["f40", "nope"], "state": ["0", "2", "3", "4", "9"],
        "order_by": ["id", "-id", "owner", "-state", "time_submitted", "-time_to_expire",
                     "koji_event", "bogus"],
        "page": ["1", "2", "0", "-1", "x"], "per_page": ["1", "3", "10", "0", "x"],
        "compose_type": ["test", "production"], "label": ["RC-1.0", "none"],
    }
    for n in range(40):
        keys = pick.sample(sorted(pools), pick.randint(1, 3))
        query = "&".join(f"{k}={pick.choice(pools[k])}" for k in keys)
        diff.case(f"generated list {n}: {query}", "GET", f"/api/1/composes/?{query}")

    # Last, the deliberate differences where the reference creates a compose and we refuse or
    # store it otherwise (compose ids part ways after these).
    diff.case("create a raw_config compose with arches", "POST", "/api/1/composes/",
              user="alice", body={"source": {"type": "raw_config", "source": "fedora#abc123"},
                                  "arches": ["x86_64"]})
    diff.case("create with a negative lifetime", "POST", "/api/1/composes/", user="alice",
              body={**TAG, "seconds_to_live": -5})
    diff.case("create with an unknown compose type", "POST", "/api/1/composes/", user="alice",
              body={**TAG, "compose_type": "../../etc"})
    diff.case("create with a boot.iso result", "POST", "/api/1/composes/", user="alice",
              body={**TAG, "results": ["boot.iso"]})
    diff.case("create with packages beside the source", "POST", "/api/1/composes/",
              user="alice", body={**TAG, "label": "Beta-1.0", "compose_type": "production",
                                  "lookaside_repos": ["http://example.com/repo"],
                                  "sigkeys": ["ABC", ""], "results": ["iso"],
                                  "packages": ["bash"]})

    unexpected = {name: found for name, found in diff.found.items() if name not in DELIBERATE}
    assert not unexpected, json.dumps(unexpected, indent=1, sort_keys=True)


# Generated requests: create bodies built from valid and invalid parts, by every kind of user.
WORDS = st.sampled_from(["f40", "f40-build", "repo", "bash", "a b", "x;y", "ed:1", "ed:1:2:c",
                         "fedora#abc", "nope", "", "x y z", "$HOME", "ä"])
# Fields a source type does not use are refused here and ignored by the reference (a
# deliberate difference): each type gets only its own.
SOURCES = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["tag", "module", "repo", "pulp", "raw_config", "bogus"])},
        optional={"source": WORDS}),
    st.fixed_dictionaries({"type": st.just("build")},
                          optional={"builds": st.lists(WORDS, max_size=2)}),
)
BODIES = st.fixed_dictionaries(
    {"source": SOURCES},
    optional={
        "flags": st.lists(st.sampled_from(["no_deps", "no_flags", "no_inheritance",
                                           "check_deps", "bogus"]), max_size=2),
        "results": st.lists(st.sampled_from(["iso", "boot.iso", "ostree", "bogus"]),
                            max_size=2),
        "seconds_to_live": st.integers(min_value=0, max_value=10000),
        "label": st.sampled_from(["Beta-1.0", "RC-1.0-1", "x y"]),
        "compose_type": st.sampled_from(["test", "production", "nightly", "bogus"]),
        "sigkeys": st.lists(st.sampled_from(["ABC", "", "x;y"]), max_size=2),
    },
)
USERS = st.sampled_from(["alice", "robot", "carol", "bob", "boss", None])


# Messages that differ on purpose (docs/API.md): the reference's pattern, ours, and why.
DELIBERATE_MESSAGES = [
    (r"\('Unknown (flag|result) %s', '(.*)'\)", r'Unknown \1 "\2"',
     "the reference's message is a Python tuple"),
]


def same_verdict(theirs, mine):
    """Whether two answers say the same, allowing the deliberate message differences."""
    if reference_failed(theirs, mine):
        return True
    if theirs["status"] != mine["status"]:
        return False
    theirs_message, my_message = theirs["body"].get("message"), mine["body"].get("message")
    if theirs_message == my_message:
        return True
    for reference, ours, _why in DELIBERATE_MESSAGES:
        found = re.fullmatch(reference, theirs_message or "")
        if found and found.expand(ours) == my_message:
            return True
    return False


def deliberately_different(body):
    """Bodies whose answers differ on purpose (docs/API.md): options the source type cannot
    use (refused here, ignored by the reference, and refused before the permission check),
    results this server cannot produce, and compose types the reference stores as any
    text."""
    kind = body["source"]["type"]
    flags = set(body.get("flags", [])) - {"no_flags", "bogus"}
    results = set(body.get("results", [])) - {"repository"}
    unusable = {
        "raw_config": bool(flags or results or {"arches", "sigkeys"} & set(body)),
        "pulp": bool(flags & {"no_deps", "no_inheritance", "check_deps"} or "iso" in results),
    }.get(kind, False)
    unproducible = bool(results & {"boot.iso", "ostree"}) and "bogus" not in results
    unknown_type = body.get("compose_type", "test") not in ("test", "production", "nightly", "ci")
    return unusable or unproducible or unknown_type


@pytest.fixture(scope="module")
def generated(servers):
    return Differences(*servers)


@settings(max_examples=300, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES, user=USERS)
def test_generated_requests_get_the_same_answers(generated, body, user):
    if deliberately_different(body):
        return
    theirs = answer(generated.reference.url, "POST", "/api/1/composes/", body=body, user=user)
    mine = answer(generated.ours.url, "POST", "/api/1/composes/", body=body, user=user)
    # Ids part ways after the hand-written test's last cases: compare the verdict and the
    # message, which is what clients act on.
    assert same_verdict(theirs, mine), json.dumps(
        {"body": body, "user": user, "reference": theirs, "ours": mine}, indent=1)
