"""Runs the reference ODCS's Pulp 2 client (odcs.server.pulp from PyPI odcs 0.9.2: the
get_repos_from_content_sets and get_repos_by_id its backend's generate_pulp_compose calls)
against a Pulp server, for each case given as JSON, and prints what it finds as JSON.

    python3 pulp_reference_check.py PULP_URL PATH/TO/odcs/server/pulp.py CASES_JSON

A case is {"content_sets": [...], "ids": [...], "include_unpublished": bool}; its answer is
{"by_content_set": {set: [repo, ...]}, "by_id": {id: repo}} with each repo's id, url, arches
and sigkeys (sets as sorted lists). The reference's pulp.py is loaded on
its own by reference_server.py, so its client code runs unchanged. Needs python3-requests.
"""

import json
import sys

from reference_server import load_reference


def plain(repo):
    return {
        "id": repo["id"],
        "url": repo["url"],
        "arches": sorted(repo["arches"]),
        "sigkeys": sorted(repo["sigkeys"]),
    }


def main(url, pulp_py, cases):
    reference = load_reference(pulp_py, "pulp")
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
