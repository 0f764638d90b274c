"""Runs the reference ODCS's MBS lookup (odcs.server.mbs from PyPI odcs 0.9.2: its
get_latest_modules and validate_module_list, as its backend's resolve_compose calls them)
against an MBS URL, for each case given as JSON, and prints the NSVCs it resolves (or the
error it raises) as JSON.

    python3 mbs_reference_check.py MBS_URL PATH/TO/odcs/server/mbs.py CASES_JSON

The reference's mbs.py is loaded on its own by reference_server.py, so its lookup code runs
unchanged. Needs python3-gi, gir1.2-modulemd-2.0 and python3-requests.
"""

import json
import sys
import types

import requests

from reference_server import load_reference


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
    mbs_module = load_reference(path, "mbs")
    out = []
    for case in cases:
        try:
            out.append({"nsvcs": resolve(mbs_module, url, case)})
        except (mbs_module.ModuleLookupError, requests.RequestException) as e:
            out.append({"error": str(e)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
