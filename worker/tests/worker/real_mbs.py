"""Runs the real Module Build Service frontend (PyPI `module-build-service`, its Flask app and
its own database models) on loopback for the module tests, adding the module builds it is
given on standard input.

    python real_mbs.py DB_DIR

Prints "ready PORT" when the server listens on PORT (one the system chose), and exits when
standard input closes (the test process ended). Each line on standard input is one build as JSON:
name, stream, version, context, state (MBS's numbers), modulemd, koji_tag and base (the base
modules it was built against: name, stream, stream_version); it is stored through MBS's models
(base module builds are created once each, ready) and "added ID" is printed."""

import datetime
import json
import os
import sys
import threading


def main(db_dir):
    config = os.path.join(db_dir, "mbs_config.py")
    with open(config, "w") as f:
        f.write(
            "class ProdConfiguration(object):\n"
            f"    SQLALCHEMY_DATABASE_URI = 'sqlite:///{db_dir}/mbs.db'\n"
            "    SQLALCHEMY_TRACK_MODIFICATIONS = False\n"
            "    SYSTEM = 'mock'\n"
            "    NO_AUTH = True\n"
            "    RESOLVER = 'db'\n"
            "    MESSAGING = 'in_memory'\n"
        )
    os.environ["MBS_CONFIG_FILE"] = config
    os.environ["MBS_CONFIG_SECTION"] = "ProdConfiguration"

    from module_build_service import app, db
    from module_build_service.common import models

    now = datetime.datetime(2026, 11, 30, 11, 0, 0)
    bases = {}
    with app.app_context():
        db.create_all()

    def base_build(base):
        key = (base["name"], base["stream"])
        if key in bases:
            return db.session.query(models.ModuleBuild).get(bases[key])
        build = models.ModuleBuild(
            name=base["name"],
            stream=base["stream"],
            version="1",
            context="00000000",
            state=5,
            modulemd=base_modulemd(base["name"], base["stream"]),
            koji_tag=f"module-{base['name']}-{base['stream']}",
            owner="releng",
            time_submitted=now,
            time_modified=now,
            time_completed=now,
            rebuild_strategy="changed-and-after",
            stream_version=float(base["stream_version"]),
        )
        db.session.add(build)
        db.session.flush()
        bases[key] = build.id
        return build

    def add(item):
        build = models.ModuleBuild(
            name=item["name"],
            stream=item["stream"],
            version=str(item["version"]),
            context=item["context"],
            state=item["state"],
            modulemd=item["modulemd"],
            koji_tag=item["koji_tag"],
            scmurl=f"https://src.example.com/modules/{item['name']}.git?#abc",
            owner="releng",
            time_submitted=now,
            time_modified=now,
            time_completed=now,
            rebuild_strategy="changed-and-after",
        )
        build.buildrequires = [base_build(b) for b in item["base"]]
        db.session.add(build)
        db.session.commit()
        return build.id

    def read_builds():
        for line in sys.stdin:
            if line.strip():
                with app.app_context():
                    print(f"added {add(json.loads(line))}", flush=True)
        os._exit(0)

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=read_builds, daemon=True).start()
    print(f"ready {server.server_port}", flush=True)
    server.serve_forever()


def base_modulemd(name, stream):
    return (
        "---\ndocument: modulemd\nversion: 2\ndata:\n"
        f"  name: {name}\n  stream: \"{stream}\"\n  version: 1\n  context: '00000000'\n"
        f"  summary: {name}\n  description: {name}\n  license:\n    module: [MIT]\n...\n"
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
