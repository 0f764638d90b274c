#!/usr/bin/env python3
"""Worker benchmark: submit-to-done latency of a 200-RPM repo compose and throughput of small
composes, standalone and distributed (PostgreSQL + RabbitMQ), with 1, 2 and 4 worker processes.

    python3 bench/worker/run.py [--corpus /var/tmp/odcs-ci-corpus-200] [--runs 20]

Needs release builds (cargo build --release -p odcs-server -p odcs-worker), PostgreSQL and
RabbitMQ on localhost. Prints markdown tables.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/odcs-target"))
SERVER = os.path.join(TARGET, "release", "odcs-server")
WORKER = os.path.join(TARGET, "release", "odcs-worker")
PG = os.environ.get("PG", "postgres://postgres@127.0.0.1:5432")
AMQP = os.environ.get("AMQP", "amqp://guest:guest@127.0.0.1:5672/%2f")
FIXTURE = os.path.join(ROOT, "..", "shared", "fixtures", "odcs-test-repo")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


class Deployment:
    def __init__(self, distributed, workers, roots):
        self.dir = tempfile.mkdtemp(prefix="odcs-bench-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/1/composes/"
        self.procs = []
        env = dict(os.environ)
        env.update(
            RUST_LOG="warn",
            ODCS_LISTEN=f"127.0.0.1:{self.port}",
            ODCS_TARGET_DIR=os.path.join(self.dir, "composes"),
            ODCS_TARGET_DIR_URL=f"http://127.0.0.1:{self.port}/composes",
            ODCS_REPO_SOURCE_ROOTS=roots,
            ODCS_PACKAGE_CACHE_DIR=os.path.join(self.dir, "cache"),
            ODCS_WORKER_CONCURRENCY="1",
            ODCS_DATABASE_POOL_SIZE="4",
        )
        if distributed:
            self.db = "odcs_bench_" + uuid.uuid4().hex
            subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {self.db}"], check=True)
            env.update(
                ODCS_DATABASE_URL=f"{PG}/{self.db}?sslmode=disable",
                ODCS_AMQP_URL=AMQP,
                ODCS_DEFAULT_QUEUE="odcs-bench-" + uuid.uuid4().hex,
                ODCS_QUEUE_ROUTES="{}",
            )
        else:
            self.db = None
            env["ODCS_DATABASE_URL"] = f"sqlite://{self.dir}/odcs.db"
            env["ODCS_WORKER_CONCURRENCY"] = str(workers)
        self.env = env
        self.queue = env.get("ODCS_DEFAULT_QUEUE")
        self.spawn([SERVER])
        self.wait_ready()
        if distributed:
            for _ in range(workers):
                self.spawn([WORKER, "consume"])
            self.spawn([WORKER, "relay"])
            time.sleep(1.0)

    def spawn(self, cmd):
        self.procs.append(subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def wait_ready(self):
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/1/about/")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def submit(self, source):
        return http("POST", self.base, {"source": {"type": "repo", "source": source}, "flags": ["no_reuse"]})

    def state(self, cid):
        return http("GET", f"{self.base}{cid}")["state_name"]

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=60)
        if self.db:
            subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)"])
        if self.queue:
            subprocess.run(["rabbitmqctl", "-q", "delete_queue", self.queue], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def latency(dep, source, runs):
    """Seconds from the POST returning to the compose being picked up, and to done."""
    dep.submit(source)  # warm the package cache, as a running service's is
    time.sleep(0.5)
    pickup, done = [], []
    for _ in range(runs):
        start = time.perf_counter()
        cid = dep.submit(source)["id"]
        returned = time.perf_counter()
        picked = None
        while True:
            s = dep.state(cid)
            now = time.perf_counter()
            if picked is None and s != "wait":
                picked = now - returned
            if s in ("done", "failed"):
                assert s == "done", s
                break
            time.sleep(0.002)
        pickup.append(picked)
        done.append(now - start)
    return pickup, done


def throughput(dep, source, count):
    start = time.perf_counter()
    ids = [dep.submit(source)["id"] for _ in range(count)]
    pending = set(ids)
    while pending:
        pending = {c for c in pending if dep.state(c) not in ("done", "failed")}
        time.sleep(0.01)
    return count / (time.perf_counter() - start)


def q(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.environ.get("ODCS_TEST_CORPUS", "/var/tmp/odcs-ci-corpus-200"))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--small", type=int, default=40)
    args = ap.parse_args()
    roots = tempfile.mkdtemp(prefix="odcs-bench-roots-")
    big = os.path.join(roots, "big")
    shutil.copytree(os.path.join(args.corpus, "os"), big, copy_function=os.link)
    small = os.path.join(roots, "small")
    shutil.copytree(FIXTURE, small)
    rpms = sum(1 for _, _, fs in os.walk(big) for f in fs if f.endswith(".rpm"))

    print(f"### Submit-to-done latency, {rpms}-RPM repo compose, warm cache, {args.runs} runs\n")
    print("| mode | pickup p50 | pickup p90 | done p50 | done p90 |")
    print("|---|---:|---:|---:|---:|")
    for name, distributed in [("standalone (SQLite)", False), ("distributed (PostgreSQL + RabbitMQ)", True)]:
        dep = Deployment(distributed, 1, roots)
        try:
            pickup, done = latency(dep, big, args.runs)
        finally:
            dep.close()
        print(f"| {name} | {q(pickup, .5)*1000:.1f} ms | {q(pickup, .9)*1000:.1f} ms "
              f"| {q(done, .5)*1000:.0f} ms | {q(done, .9)*1000:.0f} ms |")

    print(f"\n### Throughput, {args.small} small composes (5 RPMs) submitted at once\n")
    print("| worker processes | composes/s |")
    print("|---:|---:|")
    for workers in (1, 2, 4):
        dep = Deployment(True, workers, roots)
        try:
            rate = throughput(dep, small, args.small)
        finally:
            dep.close()
        print(f"| {workers} | {rate:.1f} |")
    shutil.rmtree(roots, ignore_errors=True)


if __name__ == "__main__":
    main()
