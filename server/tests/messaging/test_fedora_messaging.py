"""A fedora-messaging consumer (PyPI fedora-messaging) with our schema package
(client/python-messages) installed receives typed state-change messages from the real
RabbitMQ: the distributed deployment (server, worker, relay) on PostgreSQL."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

from odcs.client.odcs import ODCS, AuthMech, ComposeSourceGeneric

from conftest import free_port, stop_processes

HERE = os.path.dirname(os.path.abspath(__file__))
BIN_DIR = os.environ.get("ODCS_BIN_DIR", "")
PG = os.environ.get("ODCS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
AMQP = os.environ.get("ODCS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
FIXTURE = os.environ.get(
    "ODCS_TEST_FIXTURE_REPO",
    os.path.join(HERE, "..", "..", "..", "..", "shared", "fixtures", "odcs-test-repo"),
)
FEDORA_MESSAGING = os.path.join(os.path.dirname(sys.executable), "fedora-messaging")




def test_fedora_messaging_consumer_receives_state_changes():
    tag = uuid.uuid4().hex
    work = tempfile.mkdtemp(prefix="odcs-fm-")
    db = f"odcs_fm_{tag}"
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {db}"], check=True)
    port = free_port()
    roots = os.path.join(work, "roots")
    shutil.copytree(FIXTURE, os.path.join(roots, "repo"))
    prefix = f"org.example.{tag}."
    env = dict(os.environ)
    env.update(
        ODCS_DATABASE_URL=f"{PG}/{db}",
        ODCS_AMQP_URL=AMQP,
        ODCS_LISTEN=f"127.0.0.1:{port}",
        ODCS_TARGET_DIR=os.path.join(work, "composes"),
        ODCS_REPO_SOURCE_ROOTS=roots,
        ODCS_PACKAGE_CACHE_DIR=os.path.join(work, "cache"),
        ODCS_DEFAULT_QUEUE=f"odcs-fm-{tag}",
        ODCS_QUEUE_ROUTES="{}",
        ODCS_MESSAGING_TOPIC_PREFIX=prefix,
        ODCS_BEAT_INTERVAL_SECONDS="1",
        RUST_LOG="warn",
    )
    conf = os.path.join(work, "fm.toml")
    with open(conf, "w") as f:
        f.write(f'amqp_url = "{AMQP}"\n[client_properties]\napp = "odcs-rs tests"\n')
    collected = os.path.join(work, "messages.jsonl")
    queue = f"odcs-fm-listener-{tag}"
    procs = []
    try:
        consumer = subprocess.Popen(
            [FEDORA_MESSAGING, "--conf", conf, "consume",
             "--callback-file", os.path.join(HERE, "collector.py") + ":Collector",
             "--routing-key", prefix + "odcs.state.change",
             "--exchange", "amq.topic", "--queue-name", queue],
            env={**env, "COLLECT_FILE": collected, "EXPECTED": "4"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        procs.append(consumer)
        deadline = time.time() + 30
        while queue not in subprocess.run(
            ["rabbitmqctl", "-q", "list_queues", "name"], capture_output=True, text=True
        ).stdout:
            assert time.time() < deadline, "the fedora-messaging consumer did not start"
            assert consumer.poll() is None, consumer.stdout.read()
            time.sleep(0.2)
        # The beat removes the compose the test deletes.
        daemons = (["odcs-server"], ["odcs-worker", "consume"], ["odcs-worker", "relay"], ["odcs-worker", "beat"])
        for cmd in daemons:
            procs.append(subprocess.Popen([os.path.join(BIN_DIR, cmd[0]), *cmd[1:]], env=env))
        server = f"http://127.0.0.1:{port}/"
        import requests

        for _ in range(200):
            try:
                requests.get(server + "api/1/about/", timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.05)
        odcs = ODCS(server, auth_mech=AuthMech.Anonymous)
        compose = odcs.request_compose(
            ComposeSourceGeneric(os.path.join(roots, "repo"), "repo"), packages=["ed"]
        )
        done = odcs.wait_for_compose(compose["id"], timeout=60)
        assert done["state_name"] == "done", done["state_reason"]
        odcs.delete_compose(compose["id"])
        assert consumer.wait(timeout=60) == 0, consumer.stdout.read()
        with open(collected) as f:
            messages = [json.loads(line) for line in f]
        states = ["wait", "generating", "done", "removed"]
        assert [m["topic"] for m in messages] == [prefix + "odcs.state.change"] * 4
        assert [m["body"]["event"] for m in messages] == ["state-changed"] * 4
        assert [m["body"]["compose"]["state_name"] for m in messages] == states
        assert all(m["body"]["compose"]["id"] == compose["id"] for m in messages)
        assert len({m["id"] for m in messages}) == 4, "each message has its own id"

        # Typed by our schema package, and validated by it on receipt.
        owner = done["owner"]
        assert [m["class"] for m in messages] == ["ComposeStateChangeV1"] * 4
        assert [m["summary"] for m in messages] == [
            f"ODCS compose {compose['id']} (repo {os.path.join(roots, 'repo')}) of {owner} is {s}"
            for s in states
        ]
        assert f"Repository: {done['result_repofile']}\n" in messages[2]["text"]
        assert [m["packages"] for m in messages] == [["ed"]] * 4
        assert messages[0]["agent_name"] == owner
        assert messages[3]["body"]["compose"]["removed_by"] == owner
        for m in messages:
            headers = m["headers"]
            assert headers["fedora_messaging_schema"] == "odcs.state.change.v1"
            assert headers["fedora_messaging_schema_package"] == "odcs_messages"
            sent = {k: v for k, v in headers.items() if k.startswith(
                ("fedora_messaging_user_", "fedora_messaging_rpm_", "fedora_messaging_module_"))}
            assert sent == m["filter_headers"], "the relay's filter headers are the class's"
            assert sent["fedora_messaging_rpm_ed"] is True
    finally:
        stop_processes(procs)
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"])
        subprocess.run(["rabbitmqctl", "-q", "delete_queue", f"odcs-fm-{tag}"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
