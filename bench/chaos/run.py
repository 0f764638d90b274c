#!/usr/bin/env python3
"""Chaos run: many composes through a distributed deployment (odcs-server, 4 `odcs-worker
consume` processes, a beat and a relay on PostgreSQL + RabbitMQ) while workers are killed with
SIGKILL (at random, and half the time one that is generating), PostgreSQL is restarted and
RabbitMQ is restarted. Then it waits for the
lease and the beat to recover what was interrupted, and reports:

- composes submitted, done, failed (grouped by reason), stuck (still wait or generating);
- generated twice: composes announced `done` by more than one message id, or whose directory
  holds more than one tree or a staging directory next to the published tree;
- fenced generations: claims that lost their lease and discarded their work (from the logs);
- state-change messages: the final state of every compose received by a consumer on the bus,
  total received and duplicates (at-least-once delivery).

    ~/.cache/odcs-pyenv/bin/python bench/chaos/run.py [--composes 1000] [--workers 4] [--rate 4]

Needs release builds (cargo build --release -p odcs-server -p odcs-worker), PostgreSQL and
RabbitMQ on localhost run by this user (it restarts both: do not run it beside other work), the
benchmark corpus (ODCS_TEST_CORPUS), and `pika` (in the test Python environment). Prints a
markdown report.
"""

import argparse
import collections
import functools
import glob
import http.server as httpserver
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import pika

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/odcs-target"))
SERVER = os.path.join(TARGET, "release", "odcs-server")
WORKER = os.path.join(TARGET, "release", "odcs-worker")
PG = os.environ.get("PG", "postgres://postgres@127.0.0.1:5432")
AMQP = os.environ.get("AMQP", "amqp://guest:guest@127.0.0.1:5672/%2f")
FIXTURE = os.path.join(ROOT, "..", "shared", "fixtures", "odcs-test-repo")
LEASE_SECONDS = 15
FINAL = ("done", "failed")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def http(method, url, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


class Deployment:
    """The server, the workers, the beat and the relay, each a process with its own log."""

    def __init__(self, workdir, roots, workers):
        self.dir = workdir
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api/1/"
        self.db = "odcs_chaos_" + uuid.uuid4().hex
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {self.db}"], check=True)
        self.prefix = f"chaos{uuid.uuid4().hex[:8]}."
        self.queue = "odcs-chaos-" + uuid.uuid4().hex
        self.env = dict(os.environ)
        self.env.update(
            RUST_LOG="warn,odcs_worker::pipeline=info",
            ODCS_LISTEN=f"127.0.0.1:{self.port}",
            ODCS_DATABASE_URL=f"{PG}/{self.db}?sslmode=disable",
            ODCS_DATABASE_POOL_SIZE="4",
            ODCS_AMQP_URL=AMQP,
            ODCS_DEFAULT_QUEUE=self.queue,
            ODCS_QUEUE_ROUTES="{}",
            ODCS_MESSAGING_TOPIC_PREFIX=self.prefix,
            ODCS_TARGET_DIR=os.path.join(workdir, "composes"),
            ODCS_TARGET_DIR_URL=f"http://127.0.0.1:{self.port}/composes",
            ODCS_REPO_SOURCE_ROOTS=roots,
            ODCS_PACKAGE_CACHE_DIR=os.path.join(workdir, "cache"),
            ODCS_WORKER_CONCURRENCY="2",
            ODCS_LEASE_SECONDS=str(LEASE_SECONDS),
            ODCS_BEAT_INTERVAL_SECONDS="2",
            ODCS_REDISPATCH_AFTER_SECONDS="10",
            ODCS_MAX_ATTEMPTS="5",
            ODCS_FETCH_BLOCKED_NETWORKS="[]",  # the slow mirror listens on loopback
        )
        self.logs = os.path.join(workdir, "logs")
        os.makedirs(self.logs)
        self.server = self.spawn("server", [SERVER])
        self.wait_ready()
        self.workers = [self.spawn(f"worker-{i}", [WORKER, "consume"]) for i in range(workers)]
        self.beat = self.spawn("beat", [WORKER, "beat"])
        self.relay = self.spawn("relay", [WORKER, "relay"])
        self.spawned = collections.Counter()

    def spawn(self, name, cmd):
        log = open(os.path.join(self.logs, f"{name}.log"), "a")
        return subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self):
        for _ in range(600):
            try:
                http("GET", self.api + "about/", timeout=2)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("odcs-server did not start")

    def generating_pids(self):
        """Process ids of the workers holding a lease now (claim tokens are
        host-pid-slot-random)."""
        try:
            tokens = self.psql("SELECT worker_id FROM composes WHERE state = 1 AND worker_id IS NOT NULL")
        except subprocess.CalledProcessError:
            return set()
        return {int(t.rsplit("-", 3)[1]) for t in tokens.split() if t.count("-") >= 3}

    def kill_worker(self, rng):
        """SIGKILLs a worker: every other time one that is generating now, if any."""
        busy = [i for i, p in enumerate(self.workers) if p.pid in self.generating_pids()]
        if busy and rng.random() < 0.5:
            i = rng.choice(busy)
        else:
            i = rng.randrange(len(self.workers))
        self.workers[i].send_signal(signal.SIGKILL)
        self.workers[i].wait()
        time.sleep(rng.uniform(0.2, 2.0))
        self.workers[i] = self.spawn(f"worker-{i}", [WORKER, "consume"])

    def count(self, state):
        return http("GET", f"{self.api}composes/?state={state}&per_page=1")["meta"]["total"]

    def all_composes(self):
        out, page = [], 1
        while True:
            reply = http("GET", f"{self.api}composes/?per_page=1000&page={page}&order_by=id")
            out.extend(reply["items"])
            if not reply["meta"].get("next"):
                return out
            page += 1

    def psql(self, sql):
        return subprocess.run(["psql", f"{PG}/{self.db}", "-qAtc", sql], check=True,
                              capture_output=True, text=True).stdout.strip()

    def close(self):
        for p in [self.server, self.beat, self.relay, *self.workers]:
            p.terminate()
        for p in [self.server, self.beat, self.relay, *self.workers]:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)"])
        subprocess.run(["rabbitmqctl", "-q", "delete_queue", self.queue], capture_output=True)


class Listener(threading.Thread):
    """A consumer on the bus: a durable queue bound to the deployment's state-change topic,
    reconnecting whenever the broker goes away; records every delivery."""

    def __init__(self, prefix):
        super().__init__(daemon=True)
        self.queue = "odcs-chaos-messages-" + uuid.uuid4().hex
        self.key = prefix + "#"
        self.received = []  # (message id, compose id, state name)
        self.lock = threading.Lock()
        self.stopping = False
        self.ready = threading.Event()

    def run(self):
        while not self.stopping:
            try:
                conn = pika.BlockingConnection(pika.URLParameters(AMQP))
                ch = conn.channel()
                ch.queue_declare(self.queue, durable=True)
                ch.queue_bind(self.queue, "amq.topic", routing_key=self.key)
                self.ready.set()
                for method, props, body in ch.consume(self.queue, inactivity_timeout=1):
                    if self.stopping:
                        break
                    if method is None:
                        continue
                    compose = json.loads(body)["compose"]
                    with self.lock:
                        self.received.append((props.message_id, compose["id"], compose["state_name"]))
                    ch.basic_ack(method.delivery_tag)
                conn.close()
            except Exception:  # the broker restarting: connect again
                time.sleep(1)

    def snapshot(self):
        with self.lock:
            return list(self.received)

    def close(self):
        self.stopping = True
        self.join(timeout=10)
        try:
            conn = pika.BlockingConnection(pika.URLParameters(AMQP))
            conn.channel().queue_delete(self.queue)
            conn.close()
        except Exception:
            pass


def restart_postgres():
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
                   check=True, capture_output=True)


def restart_rabbitmq():
    subprocess.run(["rabbitmqctl", "-q", "shutdown"], capture_output=True)
    for _ in range(60):
        if not port_open(5672):
            break
        time.sleep(0.5)
    subprocess.run(["rabbitmq-server", "-detached"], capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "await_startup", "--timeout", "120"], capture_output=True)
    for _ in range(240):
        if port_open(5672):
            return
        time.sleep(0.5)
    raise RuntimeError("RabbitMQ did not come back")


class SlowMirror(httpserver.SimpleHTTPRequestHandler):
    """A lookaside mirror that takes a second per file, so composes using it take seconds and
    the chaos meets them while they generate."""

    def do_GET(self):
        time.sleep(1.0)
        super().do_GET()

    def log_message(self, *args):
        pass


class QuietServer(httpserver.ThreadingHTTPServer):
    """Clients killed mid-download are the point of the run, not errors to print."""

    def handle_error(self, request, client_address):
        pass


def start_slow_mirror(directory):
    handler = functools.partial(SlowMirror, directory=directory)
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


def requests_for(n, big, small, names, rng, mirror):
    """`n` compose requests: many pick a few packages of the corpus (their dependencies are
    solved), a fifth of all also read a slow lookaside mirror, a quarter take the whole corpus,
    some the small fixture repo, some repeat an earlier request (reuse and followers), a few
    name a package that does not exist (they must fail, once)."""
    made = []
    for i in range(n):
        roll = rng.random()
        if made and roll < 0.15:
            body = rng.choice(made)
        elif roll < 0.25:
            body = {"source": {"type": "repo", "source": small}, "flags": ["no_reuse"]}
        elif roll < 0.28:
            body = {"source": {"type": "repo", "source": big, "packages": [f"no-such-package-{i}"]}}
        elif roll < 0.55:
            body = {"source": {"type": "repo", "source": big}, "flags": ["no_reuse"]}
        elif roll < 0.75:
            body = {"source": {"type": "repo", "source": big, "packages": rng.sample(names, 3)},
                    "lookaside_repos": [mirror], "flags": ["no_reuse"]}
        else:
            body = {"source": {"type": "repo", "source": big, "packages": rng.sample(names, 3)}}
        made.append(body)
    return made


def submit_all(dep, bodies, stats):
    """POSTs every body, retrying through outages; records ids and what the retries cost."""
    ids = []
    for body in bodies:
        for attempt in range(600):
            try:
                ids.append(http("POST", dep.api + "composes/", body)["id"])
                break
            except urllib.error.HTTPError as e:
                if e.code < 500:
                    raise RuntimeError(f"POST refused: {e.read().decode(errors='replace')}")
                stats["post_errors", e.code] += 1
            except OSError:
                stats["post_errors", "connection"] += 1
            time.sleep(0.5)
        else:
            raise RuntimeError("could not submit a compose for five minutes")
    return ids


def chaos(dep, stop, progress, total, stats, rng):
    """Kills a random worker every one to four seconds; restarts PostgreSQL once a third of the
    composes are in and RabbitMQ at two thirds."""
    pg_done = mq_done = False
    while not stop.is_set():
        time.sleep(rng.uniform(1, 4))
        if stop.is_set():
            break
        dep.kill_worker(rng)
        stats["worker_kills"] += 1
        if not pg_done and progress() >= total / 3:
            restart_postgres()
            stats["postgres_restarts"] += 1
            pg_done = True
        if not mq_done and progress() >= 2 * total / 3:
            restart_rabbitmq()
            stats["rabbitmq_restarts"] += 1
            mq_done = True


def tree_problems(workdir, done_ids):
    """Done composes whose directory holds a staging tree beside the published one."""
    bad = []
    for cid in done_ids:
        top = os.path.join(workdir, "composes", f"odcs-{cid}")
        if glob.glob(os.path.join(top, ".compose-*")):
            bad.append(cid)
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--composes", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--corpus", default=os.environ.get("ODCS_TEST_CORPUS", "/var/tmp/odcs-ci-corpus-200"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rate", type=float, default=4.0, help="composes submitted per second")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    workdir = tempfile.mkdtemp(prefix="odcs-chaos-")
    roots = os.path.join(workdir, "roots")
    big = os.path.join(roots, "big")
    shutil.copytree(os.path.join(args.corpus, "os"), big, copy_function=os.link)
    small = os.path.join(roots, "small")
    shutil.copytree(FIXTURE, small)
    names = sorted({f.rsplit("-", 2)[0] for _, _, fs in os.walk(big) for f in fs
                    if f.endswith(".rpm") and not f.endswith(".src.rpm")})
    mirror = start_slow_mirror(FIXTURE)
    bodies = requests_for(args.composes, big, small, names, rng, mirror)

    dep = Deployment(workdir, roots, args.workers)
    listener = Listener(dep.prefix)
    listener.start()
    listener.ready.wait(30)
    stats = collections.Counter()
    started = time.time()
    submitted = []
    stop = threading.Event()
    chaos_thread = threading.Thread(
        target=chaos, args=(dep, stop, lambda: len(submitted), args.composes, stats, rng), daemon=True)
    chaos_thread.start()
    try:
        for i, body in enumerate(bodies):
            submitted.extend(submit_all(dep, [body], stats))
            # A steady stream, so the chaos meets composes at every stage.
            delay = started + (i + 1) / args.rate - time.time()
            if delay > 0:
                time.sleep(delay)
        # Keep killing while the queue drains, then let everything settle.
        while True:
            try:
                pending = dep.count("wait") + dep.count("generating")
            except OSError:
                pending = None
            if pending == 0 or time.time() - started > 3600:
                break
            time.sleep(2)
        stop.set()
        chaos_thread.join()
        chaos_seconds = time.time() - started
        # After the chaos: what the lease and the beat leave unfinished is stuck.
        last, quiet_since = None, time.time()
        while time.time() - quiet_since < LEASE_SECONDS * 4:
            pending = dep.count("wait") + dep.count("generating")
            if pending != last:
                last, quiet_since = pending, time.time()
            if pending == 0:
                break
            time.sleep(2)
        composes = dep.all_composes()
        # Let the relay drain the outbox to the listener.
        seen, quiet_since = -1, time.time()
        while time.time() - quiet_since < 15:
            n = len(listener.snapshot())
            if n != seen:
                seen, quiet_since = n, time.time()
            time.sleep(1)
        messages = listener.snapshot()
        retried = dep.psql("SELECT count(*) FROM composes WHERE attempts > 1")
    finally:
        stop.set()
        listener.close()
        dep.close()

    by_state = collections.Counter(c["state_name"] for c in composes)
    reasons = collections.Counter(
        re.sub(r"\d+", "N", (c["state_reason"] or "")[:120])
        for c in composes if c["state_name"] == "failed")
    final_of = {c["id"]: c["state_name"] for c in composes}
    done_ids = [cid for cid, s in final_of.items() if s == "done"]
    unique = {}
    for mid, cid, state in messages:
        unique.setdefault(mid, (cid, state))
    done_announcements = collections.Counter(cid for cid, state in unique.values() if state == "done")
    twice = sorted(cid for cid, n in done_announcements.items() if n > 1)
    finals_received = {cid for cid, state in unique.values() if final_of.get(cid) == state}
    missing_final = sorted(cid for cid, s in final_of.items() if s in FINAL and cid not in finals_received)
    created_received = {cid for cid, state in unique.values() if state == "wait"}
    missing_created = sorted(set(final_of) - created_received)
    staging_left = tree_problems(workdir, done_ids)
    fenced = 0
    for log in glob.glob(os.path.join(dep.logs, "worker-*.log")):
        with open(log, errors="replace") as f:
            fenced += sum(1 for line in f if "lease lost" in line)

    print(f"### Chaos run: {args.composes} composes, {args.workers} worker processes (seed {args.seed})\n")
    print("| measure | value |")
    print("|---|---:|")
    print(f"| composes submitted | {len(submitted)} |")
    print(f"| distinct composes stored | {len(composes)} |")
    print(f"| done | {by_state['done']} |")
    print(f"| failed | {by_state['failed']} |")
    print(f"| stuck (wait or generating after lease + beat) | {by_state['wait'] + by_state['generating']} |")
    print(f"| generated twice (done announced by two message ids) | {len(twice)} |")
    print(f"| done composes with a staging tree left beside them | {len(staging_left)} |")
    print(f"| generations fenced off after losing their lease | {fenced} |")
    print(f"| composes claimed more than once (a worker died under them) | {retried} |")
    print(f"| workers killed with SIGKILL | {stats['worker_kills']} |")
    print(f"| PostgreSQL restarts | {stats['postgres_restarts']} |")
    print(f"| RabbitMQ restarts | {stats['rabbitmq_restarts']} |")
    for key, n in sorted((k, v) for k, v in stats.items() if isinstance(k, tuple)):
        print(f"| POST answered {key[1]} (retried) | {n} |")
    print(f"| state-change messages received (distinct ids) | {len(unique)} |")
    print(f"| redelivered duplicates | {len(messages) - len(unique)} |")
    print(f"| final state expected / received | {sum(1 for s in final_of.values() if s in FINAL)} / "
          f"{len(finals_received)} |")
    print(f"| creation message missing | {len(missing_created)} |")
    print(f"| wall time | {chaos_seconds:.0f} s |")
    print("\nFailure reasons:\n")
    for reason, n in reasons.most_common():
        print(f"- {n} x `{reason}`")
    if twice or missing_final or staging_left:
        print(f"\ngenerated twice: {twice[:20]}\nfinal message missing: {missing_final[:20]}"
              f"\nstaging left: {staging_left[:20]}")
    shutil.rmtree(workdir, ignore_errors=True)
    bad = by_state["wait"] + by_state["generating"] + len(twice) + len(missing_final)
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
