"""A whole compose in standalone mode, driven by the reference client: requested, generated
by the in-process workers, waited for, its log tailed and its repository fetched over HTTP."""

import os
import shutil
import subprocess

import requests
from odcs.client.odcs import (
    ODCS,
    AuthMech,
    ComposeLog,
    ComposeSourceGeneric,
    ComposeSourceRawConfig,
)

FIXTURE = os.environ.get(
    "ODCS_TEST_FIXTURE_REPO",
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "fixtures", "odcs-test-repo"),
)


def test_repo_compose_is_generated_and_served(standalone_server):
    repo = os.path.join(standalone_server.repo_root, "fixture")
    if not os.path.exists(repo):
        shutil.copytree(FIXTURE, repo)
    odcs = ODCS(standalone_server.url, auth_mech=AuthMech.Anonymous)
    # The fixture's packages are unsigned; [""] accepts them over the server's default key.
    compose = odcs.request_compose(
        ComposeSourceGeneric(repo, "repo", sigkeys=[""]), packages=["ed"]
    )
    try:
        done = odcs.wait_for_compose(compose["id"], timeout=60)
    except RuntimeError:
        with open(os.path.join(standalone_server.workdir, "server.log")) as f:
            raise AssertionError("compose did not finish; server log:\n" + f.read()[-3000:])
    assert done["state_name"] == "done", done["state_reason"]
    # The fixture's ed needs glibc, which it lacks: done, with the broken dependencies listed.
    assert done["state_reason"].startswith("Compose is generated successfully. Broken dependencies: ")
    assert done["koji_event"] == 1496834159
    assert done["pungi_compose_id"].startswith(f"odcs-{compose['id']}-1-")

    repofile = requests.get(done["result_repofile"])
    assert repofile.status_code == 200
    assert f"[odcs-{compose['id']}]" in repofile.text
    repomd = requests.get(done["result_repo"] + "/x86_64/os/repodata/repomd.xml")
    assert repomd.status_code == 200 and "<data type=\"primary\">" in repomd.text

    log = ComposeLog(done)
    first = log.read()
    assert "Compose generated successfully" in first
    assert log.read() == "", "a Range past the end answers 416, read as nothing new"


def test_failed_compose_has_a_reason(standalone_server):
    odcs = ODCS(standalone_server.url, auth_mech=AuthMech.Anonymous)
    compose = odcs.request_compose(ComposeSourceGeneric("/etc", "repo"))
    failed = odcs.wait_for_compose(compose["id"], timeout=60)
    assert failed["state_name"] == "failed"
    assert "outside the allowed roots" in failed["state_reason"]


def _git(repo, *args):
    subprocess.run(
        ["git", "-C", repo, "-c", "user.name=Release Engineer", "-c", "user.email=re@example.com", *args],
        check=True,
        capture_output=True,
    )


def test_raw_config_compose_is_run_by_pungi_and_served(standalone_server):
    """A production compose of a Pungi configuration in git, requested with the reference
    client, run by the Pungi stand-in, its tree and log served and its dump stored."""
    repo = standalone_server.raw_config_repo
    if not os.path.exists(repo):
        os.makedirs(repo)
        _git(repo, "init", "-q", "-b", "main")
        with open(os.path.join(repo, "pungi.conf"), "w") as f:
            f.write(
                'release_name = "ODCS Test"\nrelease_short = "OT"\nrelease_version = "1"\n'
                'variants = ["Server"]\nodcs_test_rpms = "%s"\n' % os.path.abspath(FIXTURE)
            )
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "configuration")
    odcs = ODCS(standalone_server.url, auth_mech=AuthMech.Anonymous)
    compose = odcs.request_compose(
        ComposeSourceRawConfig("local", "main"), compose_type="production", label="RC-1.0"
    )
    try:
        done = odcs.wait_for_compose(compose["id"], timeout=120)
    except RuntimeError:
        with open(os.path.join(standalone_server.workdir, "server.log")) as f:
            raise AssertionError("compose did not finish; server log:\n" + f.read()[-3000:])
    assert done["state_name"] == "done", done["state_reason"]
    assert done["pungi_compose_id"].startswith("OT-1-") and done["pungi_compose_id"].endswith(".0")
    assert done["compose_type"] == "production" and done["label"] == "RC-1.0"
    assert done["result_repo"] == "" and done["result_repofile"] == ""

    composeinfo = requests.get(done["toplevel_url"] + "/compose/metadata/composeinfo.json")
    assert composeinfo.status_code == 200
    assert composeinfo.json()["payload"]["compose"]["id"] == done["pungi_compose_id"]
    repomd = requests.get(done["toplevel_url"] + "/compose/Server/x86_64/os/repodata/repomd.xml")
    assert repomd.status_code == 200

    full = odcs.get_compose(compose["id"])
    assert '"release_short": "OT"' in full["pungi_config_dump"]
    log = ComposeLog(done)
    assert "Pungi compose id: " + done["pungi_compose_id"] in log.read()
