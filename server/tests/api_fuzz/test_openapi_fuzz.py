"""Schemathesis generates requests from our own OpenAPI document (valid and invalid ones,
then stateful sequences) and sends them to a running server: none may get a server error.
Examples per operation are bounded so the run takes seconds, and the seed is fixed so a
failure reproduces."""

import os
import subprocess
import sys

import requests

SCHEMATHESIS = os.path.join(os.path.dirname(sys.executable), "schemathesis")


def test_no_generated_request_gets_a_server_error(server, tmp_path):
    # Composes to act on, so operations on one compose reach past "not found".
    for _ in range(3):
        reply = requests.post(
            server.url + "api/1/composes/",
            json={"source": {"type": "tag", "source": "f40"}},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
    config = tmp_path / "schemathesis.toml"
    config.write_text('[parameters]\n"path.id" = 2\n')
    result = subprocess.run(
        [
            SCHEMATHESIS, "--config-file", str(config), "run",
            server.url + "api/1/openapi.json",
            "--checks", "not_a_server_error",
            "--max-examples", "50",
            # Event streams stay open while the composes they follow are pending: a request
            # there only ends at the timeout. Their refusals are tested in tests/api/events.rs.
            "--exclude-path-regex", "/events$",
            "--seed", "42",
            "--workers", "1",
            "--request-timeout", "30",
            "--no-color",
            "--generation-database", "none",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "generated" in result.stdout and " 0 passed" not in result.stdout, result.stdout
