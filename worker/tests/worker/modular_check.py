"""Reads a module compose's metadata with the real tools and prints what they saw as JSON, so
the Rust tests can compare it with what was asked for.

    python3 modular_check.py modulemd REPO_DIR     (Debian python3 with gir1.2-modulemd-2.0)
    python modular_check.py productmd COMPOSE_DIR  (a python with productmd from PyPI)
    python modular_check.py koji HUB_URL TAG NVR   (a python with koji from PyPI)

`modulemd` loads the repository's `modules` record with libmodulemd in strict mode and fails
on any document it rejects. `productmd` loads `metadata/modules.json` below COMPOSE_DIR.
`koji` asks the hub, through the reference koji client, for the module builds tagged into TAG
and for module build NVR, and checks the shapes Pungi reads."""

import json
import os
import sys
import xml.etree.ElementTree as ET


def modulemd(repo_dir):
    import gi

    gi.require_version("Modulemd", "2.0")
    from gi.repository import Modulemd

    ns = {"repo": "http://linux.duke.edu/metadata/repo"}
    root = ET.parse(f"{repo_dir}/repodata/repomd.xml").getroot()
    hrefs = [
        d.find("repo:location", ns).get("href")
        for d in root.findall("repo:data", ns)
        if d.get("type") == "modules"
    ]
    assert len(hrefs) == 1, f"expected one modules record, found {hrefs}"
    index = Modulemd.ModuleIndex.new()
    ok, failures = index.update_from_file(f"{repo_dir}/{hrefs[0]}", True)
    problems = [f.get_gerror().message for f in failures]
    assert ok and not problems, f"libmodulemd rejected modules.yaml: {problems}"
    modules = []
    for name in index.get_module_names():
        for stream in index.get_module(name).get_all_streams():
            modules.append(
                {
                    "nsvc": ":".join(
                        [
                            stream.get_module_name(),
                            stream.get_stream_name(),
                            str(stream.get_version()),
                            stream.get_context(),
                        ]
                    ),
                    "artifacts": sorted(stream.get_rpm_artifacts()),
                    "requires": sorted(
                        f"{module}:{s}"
                        for dep in stream.get_dependencies()
                        for module in dep.get_runtime_modules()
                        for s in dep.get_runtime_streams(module)
                    ),
                }
            )
    defaults = {k: v for k, v in index.get_default_streams(None).items()}
    print(json.dumps({"modules": sorted(modules, key=lambda m: m["nsvc"]), "defaults": defaults}))


def productmd(compose_dir):
    import productmd.modules

    modules = productmd.modules.Modules()
    modules.load(f"{compose_dir}/metadata/modules.json")
    out = {}
    for variant, arches in modules.modules.items():
        for arch, by_nsvc in arches.items():
            out.setdefault(arch, {})
            for nsvc, record in by_nsvc.items():
                for path in record["modulemd_path"].values():
                    assert os.path.isfile(f"{compose_dir}/{path}"), f"{path} is missing"
                out[arch][nsvc] = {
                    "koji_tag": record["metadata"]["koji_tag"],
                    "rpms": sorted(record["rpms"]),
                }
    print(json.dumps({"compose_id": modules.compose.id, "arches": out}))


def koji_hub(url, tag, nvr):
    import koji

    session = koji.ClientSession(url, {"anon_retry": False, "max_retries": 0})
    tagged = session.listTagged(tag, inherit=True, type="module", event=session.getLastEvent()["id"])
    assert tagged, f"no module builds in {tag}"
    for build in tagged:
        assert build["tag_name"] and isinstance(build["tag_id"], int), build
        assert build["extra"]["typeinfo"]["module"]["content_koji_tag"], build
    build = session.getBuild(nvr)
    module = build["extra"]["typeinfo"]["module"]
    for key in ("name", "stream", "version", "context", "modulemd_str", "content_koji_tag"):
        assert isinstance(module[key], str), (key, module)
    assert build["cg_name"] == "module-build-service", build
    found = session.search(nvr.rsplit(".", 1)[0] + ".*", "build", "glob")
    assert nvr in [f["name"] for f in found], found
    print(json.dumps({"tagged": sorted(b["nvr"] for b in tagged), "module": module["name"]}))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"modulemd": modulemd, "productmd": productmd, "koji": koji_hub}[mode](*args)
