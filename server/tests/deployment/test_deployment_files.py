"""The distributed deployment as files: what can be checked without a Docker engine."""

import os
import re
import subprocess

import yaml

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..")
BIN_DIR = os.environ.get("ODCS_BIN_DIR", "")


def compose_file():
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        return yaml.safe_load(f)


def documented_variables():
    names = set()
    with open(os.path.join(ROOT, ".env.example")) as f:
        for line in f:
            match = re.match(r"^([A-Z_][A-Z0-9_]*)=", line)
            if match:
                names.add(match.group(1))
    return names


def test_every_service_is_there():
    services = compose_file()["services"]
    assert {"rabbitmq", "postgres", "frontend", "backend", "static", "beat", "relay"} <= set(services)


def test_commands_name_real_binaries_and_subcommands():
    for name, service in compose_file()["services"].items():
        command = service.get("command")
        if not command or not command[0].startswith("odcs-"):
            continue
        binary = os.path.join(BIN_DIR, command[0])
        result = subprocess.run([binary, *command[1:], "--help"], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}: {command} --help failed: {result.stderr}"


def test_every_variable_is_documented():
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", f.read()))
    missing = used - documented_variables()
    assert not missing, f"undocumented in .env.example: {sorted(missing)}"
