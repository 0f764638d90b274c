"""Runs the reference ODCS's MBS lookup (odcs.server.mbs from PyPI odcs 0.9.2: its
get_latest_modules and validate_module_list, as its backend's resolve_compose calls them)
against an MBS URL, for each case given as JSON, and prints the NSVCs it resolves (or the
error it raises) as JSON.

    python3 mbs_reference_check.py MBS_URL PATH/TO/odcs/server/mbs.py CASES_JSON

The reference's mbs.py imports the rest of its server package (Flask app, database) only for
a retry decorator, a text helper and a logger; those three are provided here so the lookup
code itself runs unchanged. Needs python3-gi, gir1.2-modulemd-2.0 and python3-requests.
"""

import importlib.util
import json
import logging
import sys
import types

import requests


def retry(wait_on=Exception, logger=None, timeout=60, interval=1):
    def decorator(function):
        def wrapped(*args, **kwargs):
            for attempt in range(3):
                try:
                    return function(*args, **kwargs)
                except wait_on:
                    if attempt == 2:
                        raise
        return wrapped
    return decorator


def load_reference(path):
    server = types.ModuleType("odcs.server")
    server.log = logging.getLogger("odcs")
    utils = types.ModuleType("odcs.server.utils")
    utils.retry = retry
    utils.to_text_type = lambda s: s.decode("utf-8") if isinstance(s, bytes) else s
    server.utils = utils
    sys.modules["odcs"] = types.ModuleType("odcs")
    sys.modules["odcs.server"] = server
    sys.modules["odcs.server.utils"] = utils
    spec = importlib.util.spec_from_file_location("odcs.server.mbs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def resolve(mbs_module, url, case):
    config = types.SimpleNamespace(mbs_url=url)
    mbs = mbs_module.MBS(config)
    found = []
    for nsvc in case["modules"]:
        found += mbs.get_latest_modules(
            nsvc,
            case.get("include_done", False) or nsvc.count(":") == 3,
            case.get("base_module_br_name"),
            case.get("base_module_br_stream"),
            case.get("base_module_br_stream_version_lte"),
            case.get("base_module_br_stream_version_gte"),
        )
    base = ["platform", "bootstrap"]
    modules = mbs.validate_module_list(found, expand=case.get("expand", True), base_modules=base)
    return sorted("{name}:{stream}:{version}:{context}".format(**m)
                  for m in modules if m["name"] not in base)


def main():
    url, path, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    mbs_module = load_reference(path)
    out = []
    for case in cases:
        try:
            out.append({"nsvcs": resolve(mbs_module, url, case)})
        except (mbs_module.ModuleLookupError, requests.RequestException) as e:
            out.append({"error": str(e)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
