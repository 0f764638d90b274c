"""Runs the reference ODCS's Pulp 2 client (odcs.server.pulp from PyPI odcs 0.9.2: the
get_repos_from_content_sets and get_repos_by_id its backend's generate_pulp_compose calls)
against a Pulp server, for each case given as JSON, and prints what it finds as JSON.

    python3 pulp_reference_check.py PULP_URL PATH/TO/odcs/server/pulp.py CASES_JSON

A case is {"content_sets": [...], "ids": [...], "include_unpublished": bool}; its answer is
{"by_content_set": {set: [repo, ...]}, "by_id": {id: repo}} with each repo's id, url, arches
and sigkeys (sets as sorted lists). The reference's pulp.py imports its server package (Flask
app, database) only for its configuration, a logger and a retry decorator; those are provided
here so the client code itself runs unchanged. Needs python3-requests.
"""

import importlib.util
import json
import logging
import sys
import types


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
    server.conf = types.SimpleNamespace(net_timeout=30)
    utils = types.ModuleType("odcs.server.utils")
    utils.retry = retry
    server.utils = utils
    sys.modules["odcs"] = types.ModuleType("odcs")
    sys.modules["odcs.server"] = server
    sys.modules["odcs.server.utils"] = utils
    spec = importlib.util.spec_from_file_location("odcs.server.pulp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plain(repo):
    return {
        "id": repo["id"],
        "url": repo["url"],
        "arches": sorted(repo["arches"]),
        "sigkeys": sorted(repo["sigkeys"]),
    }


def main(url, pulp_py, cases):
    reference = load_reference(pulp_py)
    pulp = reference.Pulp(server_url=url, ssl_cert=None, ssl_key=None, compose=None)
    answers = []
    for case in json.loads(cases):
        unpublished = case["include_unpublished"]
        by_set = pulp.get_repos_from_content_sets(case["content_sets"], unpublished)
        by_id = pulp.get_repos_by_id(case["ids"], unpublished)
        answers.append(
            {
                "by_content_set": {
                    k: sorted((plain(r) for r in v), key=lambda r: r["id"])
                    for k, v in by_set.items()
                },
                "by_id": {k: plain(v) for k, v in by_id.items()},
            }
        )
    print(json.dumps(answers))


if __name__ == "__main__":
    main(*sys.argv[1:])
