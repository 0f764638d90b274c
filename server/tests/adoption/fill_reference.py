"""Run by the reference's own Python: fills its freshly migrated database with composes in
every state through its own models, writes the done composes' directories as its backend
would have left them, and prints each compose as its API shows it (list and full views)."""

import json
import os
import sys
from datetime import datetime, timedelta

from odcs.common.types import COMPOSE_FLAGS, COMPOSE_RESULTS, COMPOSE_STATES, PungiSourceType
from odcs.server import app, conf, db
from odcs.server.models import Compose

repo = sys.argv[1]
day = 24 * 3600


def create(source_type, source, state, reason=None, **kwargs):
    compose = Compose.create(
        db.session, kwargs.pop("owner", "alice"), source_type, source,
        kwargs.pop("results", COMPOSE_RESULTS["repository"]), day, **kwargs
    )
    db.session.commit()
    if state != "wait":
        compose.transition(COMPOSE_STATES["generating"], "Started")
    if state not in ("wait", "generating"):
        compose.transition(COMPOSE_STATES[state], reason)
    return compose


def write_repo(compose):
    temporary = compose.result_repo_dir
    os.makedirs(os.path.join(temporary, "x86_64", "os", "repodata"), exist_ok=True)
    with open(compose.result_repofile_path, "w") as f:
        f.write("[%s]\nbaseurl=%s/$basearch/os\n" % (compose.name, compose.result_repo_url))


with app.app_context():
    tag = create(PungiSourceType.KOJI_TAG, "f40-build", "done", "Compose is generated successfully",
                 packages="bash glibc", sigkeys="FD431D51", koji_event=45678901,
                 arches="x86_64 aarch64", flags=COMPOSE_FLAGS["no_deps"], label="RC-1.0",
                 compose_type="production", multilib_arches="x86_64", multilib_method=3,
                 lookaside_repos="https://example.com/lookaside")
    tag.koji_task_id = 2000000001
    tag.pungi_compose_id = "odcs-1-1-20261203.t.0"
    write_repo(tag)
    expiring = create(PungiSourceType.BUILD, "", "done", "Compose is generated successfully",
                      builds="bash-5.2.26-3.fc40 glibc-2.39-8.fc40", owner="bob")
    write_repo(expiring)
    reusing = create(PungiSourceType.BUILD, "", "done", "Compose is generated successfully",
                     builds="bash-5.2.26-3.fc40 glibc-2.39-8.fc40", owner="bob")
    reusing.reused_id = tag.id
    create(PungiSourceType.MODULE, "testmodule:main:20240101:abcd", "done", "Done",
           modules="testmodule:main:20240101:abcd", module_defaults_url="https://example.com/d.git",
           base_module_br_name="platform", base_module_br_stream="f40",
           base_module_br_stream_version_lte=400100, base_module_br_stream_version_gte=400000,
           scratch_modules="scratch:1:2:3", results=COMPOSE_RESULTS["repository"] | COMPOSE_RESULTS["iso"])
    create(PungiSourceType.PULP, "rhel-8-for-x86_64-baseos-rpms", "failed",
           "Error while generating compose: content set not found")
    removed = create(PungiSourceType.KOJI_TAG, "f39-build", "done", "Done")
    removed.removed_by = "carol"
    removed.transition(COMPOSE_STATES["removed"], "Removed by carol")
    create(PungiSourceType.RAW_CONFIG, "fedora#abc123", "done", "Done",
           compose_type="nightly", respin_of="Fedora-40-20261201.n.0",
           parent_pungi_compose_ids="Fedora-40-20261130.n.0",
           scratch_build_tasks="123 456", target_dir=conf.extra_target_dirs["releng-private"])
    Compose.query.filter_by(source_type=PungiSourceType.RAW_CONFIG).one().pungi_config_dump = "release_name = 'Fedora'\n"
    create(PungiSourceType.REPO, repo, "generating", packages="ed")
    create(PungiSourceType.REPO, repo, "wait", owner="dave")
    db.session.commit()
    composes = Compose.query.order_by(Compose.id).all()
    print(json.dumps({
        "list": [c.json() for c in composes],
        "full": [c.json(True) for c in composes],
        "expiring": expiring.id,
        "expiring_dir": expiring.toplevel_dir,
    }))
