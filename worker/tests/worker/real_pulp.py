"""Runs a real Pulp 3 (PyPI `pulpcore` and `pulp-rpm`: its API server, content app and one
task worker) on loopback over a fresh database in the local PostgreSQL, for the Pulp tests,
and publishes the repositories it is given on standard input through Pulp's own REST API.

    python real_pulp.py WORK_DIR POSTGRES_HOST POSTGRES_PORT POSTGRES_USER

Prints "ready API_URL" once Pulp answers and a worker is online (the admin user's password is
"admin"), and exits, stopping Pulp, dropping its database and removing WORK_DIR, when standard
input closes (the test process ended). Each
line on standard input is one repository as JSON: name, rpms (paths of RPM files) and labels
(the distribution's pulp_labels). It is created, its RPMs uploaded and added, published, and
distributed under its name; "added BASE_URL" is printed."""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time

import shutil

import psycopg
import requests

AUTH = ("admin", "admin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_settings(work, db_name, pg, content_port):
    for d in ("media", "tmp", "static"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    key = os.path.join(work, "db.key")
    with open(key, "wb") as f:
        f.write(base64.urlsafe_b64encode(os.urandom(32)))
    settings = os.path.join(work, "settings.py")
    with open(settings, "w") as f:
        f.write(
            f"SECRET_KEY = {base64.b64encode(os.urandom(30)).decode()!r}\n"
            "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', "
            f"'NAME': {db_name!r}, 'USER': {pg['user']!r}, 'HOST': {pg['host']!r}, "
            f"'PORT': {pg['port']}}}}}\n"
            f"CONTENT_ORIGIN = 'http://127.0.0.1:{content_port}'\n"
            f"MEDIA_ROOT = {work + '/media'!r}\n"
            f"STATIC_ROOT = {work + '/static'!r}\n"
            f"WORKING_DIRECTORY = {work + '/tmp'!r}\n"
            f"FILE_UPLOAD_TEMP_DIR = {work + '/tmp'!r}\n"
            f"DB_ENCRYPTION_KEY = {key!r}\n"
        )
    return settings


def admin_db(pg):
    return psycopg.connect(
        host=pg["host"], port=pg["port"], user=pg["user"], dbname="postgres", autocommit=True
    )


def wait_task(api, response):
    response.raise_for_status()
    task_href = response.json()["task"]
    while True:
        task = requests.get(api + task_href, auth=AUTH).json()
        if task["state"] == "completed":
            return task
        if task["state"] in ("failed", "canceled"):
            raise RuntimeError(f"Pulp task {task_href} {task['state']}: {task.get('error')}")
        time.sleep(0.1)


def publish(api, spec):
    root = api + "/pulp/api/v3"
    repo = requests.post(f"{root}/repositories/rpm/rpm/", json={"name": spec["name"]}, auth=AUTH)
    repo.raise_for_status()
    repo_href = repo.json()["pulp_href"]
    units = []
    for path in spec["rpms"]:
        with open(path, "rb") as f:
            upload = requests.post(
                f"{root}/content/rpm/packages/upload/", files={"file": f}, auth=AUTH
            )
        upload.raise_for_status()
        answer = upload.json()
        if "task" in answer:
            answer = {"pulp_href": wait_task(api, upload)["created_resources"][0]}
        units.append(answer["pulp_href"])
    wait_task(
        api,
        requests.post(
            api + repo_href + "modify/", json={"add_content_units": units}, auth=AUTH
        ),
    )
    publication = wait_task(
        api,
        requests.post(
            f"{root}/publications/rpm/rpm/", json={"repository": repo_href}, auth=AUTH
        ),
    )["created_resources"][0]
    wait_task(
        api,
        requests.post(
            f"{root}/distributions/rpm/rpm/",
            json={
                "name": spec["name"],
                "base_path": spec["name"],
                "publication": publication,
                "pulp_labels": spec.get("labels", {}),
            },
            auth=AUTH,
        ),
    )
    found = requests.get(
        f"{root}/distributions/rpm/rpm/", params={"name": spec["name"]}, auth=AUTH
    ).json()
    return found["results"][0]["base_url"]


def main(work, host, port, user):
    pg = {"host": host, "port": int(port), "user": user}
    db_name = f"odcs_pulp_test_{os.getpid()}"
    with admin_db(pg) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    api_port, content_port = free_port(), free_port()
    env = dict(os.environ, PULP_SETTINGS=write_settings(work, db_name, pg, content_port))
    bin_dir = os.path.dirname(sys.executable)
    log = open(os.path.join(work, "pulp.log"), "ab")
    children = []

    def run(*argv):
        subprocess.run(argv, env=env, check=True, stdout=log, stderr=log)

    def start(*argv):
        children.append(subprocess.Popen(argv, env=env, stdout=log, stderr=log))

    try:
        run(f"{bin_dir}/pulpcore-manager", "migrate", "--noinput")
        run(f"{bin_dir}/pulpcore-manager", "reset-admin-password", "--password", "admin")
        start(f"{bin_dir}/pulpcore-api", "--bind", f"127.0.0.1:{api_port}", "--workers", "1")
        start(f"{bin_dir}/pulpcore-content", "--bind", f"127.0.0.1:{content_port}", "--workers", "1")
        start(f"{bin_dir}/pulpcore-worker")
        api = f"http://127.0.0.1:{api_port}"
        deadline = time.time() + 120
        while True:
            try:
                status = requests.get(f"{api}/pulp/api/v3/status/", timeout=5).json()
                if status.get("online_workers") and status.get("online_content_apps"):
                    break
            except (requests.RequestException, ValueError):
                pass
            if time.time() > deadline or any(c.poll() is not None for c in children):
                raise RuntimeError(f"Pulp did not start; see {work}/pulp.log")
            time.sleep(0.3)
        print(f"ready {api}", flush=True)
        for line in sys.stdin:
            if line.strip():
                print(f"added {publish(api, json.loads(line))}", flush=True)
    except BaseException:
        log.flush()
        with open(os.path.join(work, "pulp.log"), errors="replace") as f:
            sys.stderr.write(f.read()[-6000:])
        raise
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        with admin_db(pg) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
