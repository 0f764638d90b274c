"""Stand-ins for Pungi's `pungi-koji` and `pungi-config-validate`, which are not packaged for
this machine: they take the arguments the real tools take, check what ODCS gives them, and
write what the real tools write, with the real libraries (kobo reads configurations, productmd
writes and reads compose metadata, createrepo_c makes repositories from real RPMs).

`pungi-koji` reads `--config` (JSON, as ODCS passes it), checks the compose directory ODCS
prepared (`COMPOSE_ID`, `work/global/composeinfo-base.json`), then writes
`compose/{variant}/{arch}/os` repositories of the RPMs in the configuration's `odcs_test_rpms`
directory, `compose/metadata/{composeinfo,rpms}.json`, `logs/global/pungi.global.log` and the
configuration dump, and `STATUS`. It also records what it was given in
`logs/global/stand-in.json` for the tests: its arguments, the JSON configuration, and what kobo
makes of the `pungi.conf` beside it. Test-only configuration keys drive failures:
`odcs_test_fail` (a message: logged as Pungi logs errors, then exit 1) and `odcs_test_sleep`
(seconds to wait, with a child process whose pid goes to `odcs_test_pid_file`).

`pungi_reference_check.py` runs the reference ODCS's own Pungi code against this stand-in, and
the tests check that it gives the stand-in what our workers give it.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

KNOWN_KEYS = {
    "release_name", "release_short", "release_version", "release_type", "release_internal",
    "base_product_name", "base_product_short", "base_product_version", "base_product_type",
    "variants", "tree_arches", "koji_profile", "pkgset_source", "pkgset_koji_tag",
    "pkgset_koji_builds", "gather_method", "sigkeys", "comps_file", "createrepo_checksum",
    "odcs_test_rpms", "odcs_test_fail", "odcs_test_sleep", "odcs_test_pid_file",
    "odcs_wrapper_owner", "odcs_wrapper_builds", "runroot", "cts_url", "cts_keytab",
}


def validate_main(argv):
    """pungi-config-validate: unknown options and missing release settings are errors."""
    parser = argparse.ArgumentParser(prog="pungi-config-validate")
    parser.add_argument("--old-composes", action="store_true")
    parser.add_argument("--schema-override", action="append", default=[])
    parser.add_argument("config")
    opts = parser.parse_args(argv)
    known = set(KNOWN_KEYS)
    for override in opts.schema_override:
        with open(override) as f:
            known.update(json.load(f).get("properties", {}))
    with open(opts.config) as f:
        conf = json.load(f)
    errors = ["Unrecognized config option: %s." % key for key in sorted(conf) if key not in known]
    for key in ("release_name", "release_short", "release_version"):
        if not isinstance(conf.get(key), str):
            errors.append("Failed validation in %s: required string" % key)
    for error in errors:
        print(error)
    return 1 if errors else 0


def log(path, level, message):
    with open(path, "a") as f:
        f.write("%s [%-8s] %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), level, message))


def koji_main(argv):
    parser = argparse.ArgumentParser(prog="pungi-koji")
    parser.add_argument("--config", required=True)
    parser.add_argument("--compose-dir", required=True)
    parser.add_argument("--no-latest-link", action="store_true")
    kinds = parser.add_mutually_exclusive_group(required=True)
    for kind in ("test", "ci", "nightly", "production", "development"):
        kinds.add_argument("--" + kind, action="store_const", dest="kind", const=kind)
    parser.add_argument("--label")
    parser.add_argument("--no-label", action="store_true")
    parser.add_argument("--parent-compose-id", action="append", default=[])
    parser.add_argument("--respin-of")
    parser.add_argument("--koji-event", type=int)
    parser.add_argument("--old-composes", action="append", default=[])
    parser.add_argument("--quiet", action="store_true")
    opts = parser.parse_args(argv)

    import productmd.composeinfo
    import productmd.rpms
    from kobo.conf import PyConfigParser

    with open(opts.config) as f:
        conf = json.load(f)
    topdir = opts.compose_dir
    logs = os.path.join(topdir, "logs", "global")
    os.makedirs(logs, exist_ok=True)
    global_log = os.path.join(logs, "pungi.global.log")

    # What a real Pungi would read for the same files.
    kobo_view = None
    conf_dir = os.path.dirname(opts.config)
    if os.path.exists(os.path.join(conf_dir, "pungi.conf")):
        parsed = PyConfigParser()
        try:
            parsed.load_from_file(os.path.join(conf_dir, "pungi.conf"))
            kobo_view = json.loads(json.dumps(parsed))
        except Exception as e:  # recorded for the tests, as Pungi would fail on it
            kobo_view = {"error": str(e)}
    with open(os.path.join(logs, "stand-in.json"), "w") as f:
        json.dump({"argv": argv, "config": conf, "kobo": kobo_view, "cwd": os.getcwd(),
                   "env_source": os.environ.get("ODCS_RAW_CONFIG_SOURCE_NAME")}, f)

    with open(os.path.join(logs, "config-dump.global.log"), "w") as f:
        json.dump(conf, f, indent=4, sort_keys=True)
    log(global_log, "INFO", "Pungi stand-in for %s" % conf.get("release_short"))
    print("Compose dir: %s" % topdir)

    base = productmd.composeinfo.ComposeInfo()
    base.load(os.path.join(topdir, "work", "global", "composeinfo-base.json"))
    with open(os.path.join(topdir, "COMPOSE_ID")) as f:
        compose_id = f.read().strip()
    problems = []
    if base.compose.id != compose_id:
        problems.append("COMPOSE_ID %s != composeinfo-base %s" % (compose_id, base.compose.id))
    if base.compose.id != base.create_compose_id():
        problems.append("compose id %s is not productmd's %s" % (base.compose.id, base.create_compose_id()))
    if base.compose.type != opts.kind:
        problems.append("compose type %s != --%s" % (base.compose.type, opts.kind))
    if (base.compose.label or None) != opts.label:
        problems.append("label %s != --label %s" % (base.compose.label, opts.label))
    if base.release.short != conf["release_short"]:
        problems.append("release %s is not the configuration's" % base.release.short)
    if problems:
        for p in problems:
            log(global_log, "ERROR", p)
        return 2

    if conf.get("odcs_test_sleep"):
        child = subprocess.Popen(["sleep", "600"])
        with open(conf["odcs_test_pid_file"], "w") as f:
            f.write("%d %d\n" % (os.getpid(), child.pid))
        time.sleep(int(conf["odcs_test_sleep"]))
    if conf.get("odcs_test_fail"):
        log(global_log, "ERROR", "Compose run failed: %s" % conf["odcs_test_fail"])
        log(global_log, "ERROR", "Extended traceback in: %s/logs/global/traceback.global.log" % topdir)
        print("failing as configured", file=sys.stderr)
        return 1

    ci = productmd.composeinfo.ComposeInfo()
    ci.load(os.path.join(topdir, "work", "global", "composeinfo-base.json"))
    rpms = productmd.rpms.Rpms()
    rpms.compose.id = ci.compose.id
    rpms.compose.type = ci.compose.type
    rpms.compose.date = ci.compose.date
    rpms.compose.respin = ci.compose.respin
    arches = conf.get("tree_arches") or ["x86_64"]
    source_dir = conf["odcs_test_rpms"]
    for variant_id in conf.get("variants") or ["Server"]:
        variant = productmd.composeinfo.Variant(ci)
        variant.id = variant.uid = variant.name = variant_id
        variant.type = "variant"
        variant.arches = set(arches)
        for arch in arches:
            rel = "%s/%s/os" % (variant_id, arch)
            repo = os.path.join(topdir, "compose", rel)
            for name in sorted(os.listdir(source_dir)):
                if not name.endswith(".rpm") or name.endswith(".src.rpm"):
                    continue
                if not (name.endswith(".%s.rpm" % arch) or name.endswith(".noarch.rpm")):
                    continue
                dest = os.path.join(repo, "Packages", name[0].lower())
                os.makedirs(dest, exist_ok=True)
                shutil.copy2(os.path.join(source_dir, name), dest)
                header = subprocess.run(
                    ["rpm", "-qp", "--nosignature", "--qf",
                     "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH} %{SOURCERPM}",
                     os.path.join(source_dir, name)],
                    check=True, capture_output=True, text=True).stdout.split()
                srpm = header[1][: -len(".rpm")].rsplit("-", 2)
                srpm_nevra = "%s-0:%s-%s" % tuple(srpm)
                rpms.add(variant_id, arch, header[0],
                         path="%s/Packages/%s/%s" % (rel, name[0].lower(), name),
                         sigkey=None, category="binary", srpm_nevra=srpm_nevra)
            subprocess.run(["createrepo_c", "--quiet", repo], check=True)
            variant.paths.os_tree[arch] = rel
            variant.paths.repository[arch] = rel
            variant.paths.packages[arch] = rel + "/Packages"
        ci.variants.add(variant)
        log(global_log, "INFO", "Variant %s done" % variant_id)
    metadata = os.path.join(topdir, "compose", "metadata")
    os.makedirs(metadata, exist_ok=True)
    ci.dump(os.path.join(metadata, "composeinfo.json"))
    rpms.dump(os.path.join(metadata, "rpms.json"))
    with open(os.path.join(topdir, "STATUS"), "w") as f:
        f.write("FINISHED\n")
    log(global_log, "INFO", "Compose finished")
    return 0


if __name__ == "__main__":
    tool = sys.argv[1]
    main = {"pungi-koji": koji_main, "pungi-config-validate": validate_main}[tool]
    sys.exit(main(sys.argv[2:]))
