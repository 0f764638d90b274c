"""Runs the reference ODCS's raw_config code (odcs.server.pungi from PyPI odcs 0.9.2:
RawPungiConfig and Pungi.run, which its backend's generate_pungi_compose calls) against the
Pungi stand-in, and prints what the stand-in recorded, as JSON.

    python pungi_reference_check.py SERVER_DIR CASE_JSON

SERVER_DIR is the reference's `odcs/server` directory. The case is {"url", "config_filename",
"commit", "wrapper" (a path or null), "pungi_koji" (the stand-in), "target_dir",
"compose_dir", "compose": the compose as our API shows it}. The reference's own pungi.py,
utils.py and comps.py run unchanged, with the real odcs.common, kobo, productmd and jinja2;
what they import from the Flask server (configuration, database session, the Compose model's
query) is given here, and Pungi's `write_compose_info` (Pungi is not packaged for this machine)
is Pungi's, as the stand-in's world has it: COMPOSE_ID and work/global/composeinfo-base.json.
"""

import importlib.util
import json
import logging
import os
import sys
import types

import odcs.common.types  # noqa: F401  (the real package; only odcs.server is provided here)


def load(server_dir, name):
    spec = importlib.util.spec_from_file_location(
        f"odcs.server.{name}", os.path.join(server_dir, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[f"odcs.server.{name}"] = module
    spec.loader.exec_module(module)
    setattr(sys.modules["odcs.server"], name, module)
    return module


def write_compose_info(compose_dir, ci):
    os.makedirs(os.path.join(compose_dir, "work", "global"), exist_ok=True)
    ci.dump(os.path.join(compose_dir, "work", "global", "composeinfo-base.json"))
    with open(os.path.join(compose_dir, "COMPOSE_ID"), "w") as f:
        f.write(ci.compose.id)


class Column:
    def __eq__(self, other):
        return ("pungi_compose_id", other)


class Query:
    def filter(self, *conditions):
        return self

    def first(self):
        return None  # no other compose has the id: respin 0, as in a fresh store


class ComposeModel:
    pungi_compose_id = Column()
    query = Query()


class ComposeRow:
    """The compose the reference runs Pungi for, from our API's JSON of it."""

    def __init__(self, data, compose_dir, target_dir):
        self.data = data
        self.id = data["id"]
        self.source = data["source"]
        self.compose_type = data["compose_type"]
        self.label = data["label"]
        self.flags = 0
        for flag in data["flags"]:
            self.flags |= odcs.common.types.COMPOSE_FLAGS[flag]
        self.parent_pungi_compose_ids = data["parent_pungi_compose_ids"]
        self.respin_of = data["respin_of"]
        self.pungi_config_dump = data.get("pungi_config_dump")
        self.pungi_compose_id = None
        self.toplevel_dir = compose_dir
        self.target_dir = target_dir

    def json(self):
        return self.data


def main(server_dir, case):
    case = json.loads(case)
    server = types.ModuleType("odcs.server")
    server.log = logging.getLogger("odcs")
    server.db = types.SimpleNamespace(session=types.SimpleNamespace(commit=lambda: None))
    name = case["compose"]["source"].split("#")[0]
    server.conf = types.SimpleNamespace(
        net_timeout=30,
        net_retry_interval=1,
        pungi_timeout=600,
        post_script_timeout=600,
        pungi_koji=case["pungi_koji"],
        pungi_koji_args=[],
        raw_config_pungi_koji_args={},
        pungi_config_validate="",
        raw_config_schema_override="",
        raw_config_wrapper_conf_path=case["wrapper"],
        raw_config_urls={name: {"url": case["url"], "config_filename": case["config_filename"]}},
        oidc_token_url=None,
        oidc_client_id=None,
        oidc_client_secret=None,
        target_dir=case["target_dir"],
    )
    sys.modules["odcs.server"] = server
    odcs.server = server
    models = types.ModuleType("odcs.server.models")
    models.Compose = ComposeModel
    sys.modules["odcs.server.models"] = models
    pungi_package = types.ModuleType("pungi")
    pungi_compose = types.ModuleType("pungi.compose")
    pungi_compose.write_compose_info = write_compose_info
    sys.modules["pungi"] = pungi_package
    sys.modules["pungi.compose"] = pungi_compose
    load(server_dir, "utils")
    load(server_dir, "comps")
    pungi = load(server_dir, "pungi")

    compose = ComposeRow(case["compose"], case["compose_dir"], case["target_dir"])
    old_composes = os.path.join(case["target_dir"], compose.compose_type)
    runner = pungi.Pungi(compose.id, pungi.RawPungiConfig(compose), compose.data["koji_event"], old_composes)
    runner.run(compose)
    with open(os.path.join(case["compose_dir"], "logs", "global", "stand-in.json")) as f:
        recorded = json.load(f)
    recorded["pungi_compose_id"] = compose.pungi_compose_id
    print(json.dumps(recorded))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
