"""The `openidc` backend driven by the reference client's `AuthMech.OpenIDC` and by our CLI's
client credentials login, with access tokens from a real OpenID provider (npm
`oidc-provider`, `server/tests/oidc/provider.mjs`)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest
import requests
from odcs.client.odcs import ODCS, AuthMech

from conftest import Server, free_port, wait_for_port

AUDIENCE = "https://odcs.example.com"
NEW_COMPOSE = "https://pagure.io/odcs/new-compose"
PROVIDER = os.path.join(os.path.dirname(__file__), "..", "oidc", "provider.mjs")
BROWSER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oidc", "browser.py")
MODULES = os.environ.get(
    "ODCS_OIDC_NODE_MODULES", os.path.expanduser("~/.cache/odcs-oidc/node_modules")
)




@pytest.fixture(scope="module")
def issuer():
    port = free_port()
    proc = subprocess.Popen(["node", PROVIDER, str(port), MODULES],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def oidc_server(issuer):
    workdir = tempfile.mkdtemp(prefix="odcs-pytest-")
    extra = f"""
auth_backend = "openidc"
auth_openidc_issuer = "{issuer}"
auth_openidc_audience = "{AUDIENCE}"
allowed_clients = {{groups = {{releng = {{source_types = ["tag"]}}}}}}
"""
    srv = Server("sqlite", workdir, extra_config=extra)
    yield srv
    srv.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def token(issuer, scope):
    reply = requests.post(
        f"{issuer}/token",
        auth=("odcs-client", "secret"),
        data={"grant_type": "client_credentials", "scope": scope, "resource": AUDIENCE},
    )
    reply.raise_for_status()
    return reply.json()["access_token"]


def test_the_reference_client_logs_in_with_a_token(oidc_server, issuer):
    odcs = ODCS(oidc_server.url, auth_mech=AuthMech.OpenIDC,
                openidc_token=token(issuer, f"openid {NEW_COMPOSE}"))
    assert odcs.about()["auth_backend"] == "openidc"
    compose = odcs.new_compose("f40", "tag", arches=["x86_64"])
    assert compose["owner"] == "odcs-client"

    without_scope = ODCS(oidc_server.url, auth_mech=AuthMech.OpenIDC,
                         openidc_token=token(issuer, "openid"))
    with pytest.raises(requests.HTTPError) as err:
        without_scope.new_compose("f40", "tag", arches=["x86_64"])
    assert err.value.response.status_code == 403
    assert err.value.response.json()["message"] == (
        "Request does not have required scope new-compose"
    )

    forged = ODCS(oidc_server.url, auth_mech=AuthMech.OpenIDC, openidc_token="not-a-token")
    with pytest.raises(requests.HTTPError) as err:
        forged.new_compose("f40", "tag", arches=["x86_64"])
    assert err.value.response.status_code == 401
    assert "invalid_token" in err.value.response.headers["WWW-Authenticate"]


def test_our_cli_logs_in_with_client_credentials_and_caches_the_token(oidc_server, issuer, tmp_path):
    odcs_cli = os.path.join(os.environ.get("ODCS_BIN_DIR", ""), "odcs")
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"),
               OIDC_CLIENT_ID="odcs-client", OIDC_CLIENT_SECRET="secret")
    args = [odcs_cli, "--server", oidc_server.url, "--id-provider", issuer,
            "--oidc-resource", AUDIENCE, "--no-wait", "--json", "create-tag", "f40",
            "--arch", "x86_64"]
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"owner": "odcs-client"' in done.stdout
    cached = list((tmp_path / "cache" / "odcs").glob("oidc-token-*.json"))
    assert len(cached) == 1
    assert cached[0].stat().st_mode & 0o777 == 0o600

    # The next command reuses the cached token: a wrong secret does not matter yet.
    env["OIDC_CLIENT_SECRET"] = "wrong"
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    # A token about to expire is fetched again (and the wrong secret now fails, on one line).
    token = json.loads(cached[0].read_text())
    token["expires_at"] = int(time.time()) + 30
    cached[0].write_text(json.dumps(token))
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "cannot log in: OpenID Connect" in done.stderr
    env["OIDC_CLIENT_SECRET"] = "secret"
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(cached[0].read_text())["expires_at"] > int(time.time()) + 300


def test_our_cli_logs_in_in_a_browser_and_refreshes_the_token(oidc_server, issuer, tmp_path):
    odcs_cli = os.path.join(os.environ.get("ODCS_BIN_DIR", ""), "odcs")
    browser = tmp_path / "browser"
    browser.write_text(f"#!/bin/sh\nexec {sys.executable} {BROWSER} \"$@\"\n")
    browser.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OIDC_")}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"), BROWSER=str(browser),
               ODCS_TEST_LOGIN="alice")
    args = [odcs_cli, "--server", oidc_server.url, "--id-provider", issuer,
            "--oidc-client-id", "odcs-cli", "--oidc-resource", AUDIENCE, "--no-wait", "--json",
            "create-tag", "f40", "--arch", "x86_64"]

    def run(*extra):
        return subprocess.run([*args[:1], *extra, *args[1:]], env=env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=120)

    # No terminal and no --oidc-login: nothing is opened, the user is told what to do.
    done = run()
    assert done.returncode != 0
    assert "--oidc-login" in done.stderr and len(done.stderr.strip().splitlines()) == 1

    done = run("--oidc-login")
    assert done.returncode == 0, done.stderr
    assert '"owner": "alice"' in done.stdout
    [cached] = (tmp_path / "cache" / "odcs").glob("oidc-token-*.json")
    token = json.loads(cached.read_text())
    assert token["refresh_token"]

    # An expiring token is renewed with the refresh token, without the browser.
    browser.write_text("#!/bin/sh\nexit 1\n")
    token["expires_at"] = int(time.time()) + 10
    cached.write_text(json.dumps(token))
    done = run()
    assert done.returncode == 0, done.stderr
    renewed = json.loads(cached.read_text())
    assert renewed["access_token"] != token["access_token"]
    assert renewed["expires_at"] > int(time.time()) + 300
