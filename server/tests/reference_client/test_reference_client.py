"""The reference ODCS client library, unchanged, against our server.

Asserts what its callers (Freshmaker, OSBS, CI jobs) rely on: the compose fields, their types
and values, the state names, pagination, renewal and cancellation.
"""

import datetime

import pytest
import requests
from odcs.client.odcs import (
    ComposeSourceBuild,
    ComposeSourceGeneric,
    ComposeSourceModule,
    ComposeSourcePulp,
    ComposeSourceRawConfig,
    ComposeSourceTag,
)

FIELDS = {
    "id", "owner", "source_type", "source", "state", "state_name", "state_reason",
    "time_to_expire", "time_submitted", "time_started", "time_done", "time_removed",
    "removed_by", "result_repo", "result_repofile", "toplevel_url", "flags", "results",
    "sigkeys", "koji_event", "koji_task_id", "packages", "builds", "arches",
    "multilib_arches", "multilib_method", "lookaside_repos", "modular_koji_tags",
    "module_defaults_url", "label", "compose_type", "pungi_compose_id", "target_dir",
    "scratch_modules", "parent_pungi_compose_ids", "scratch_build_tasks", "modules",
    "respin_of", "base_module_br_name", "base_module_br_stream",
    "base_module_br_stream_version_lte", "base_module_br_stream_version_gte",
}


def parse_time(value):
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")


def test_about(odcs):
    about = odcs.about()
    assert about["auth_backend"] == "noauth"
    assert about["sigkeys"] == ["FD431D51"]
    assert "fedora" in about["raw_config_urls"]
    assert isinstance(about["version"], str)


def test_new_compose_with_every_option(odcs, server):
    compose = odcs.new_compose(
        "f40-build",
        "tag",
        seconds_to_live=600,
        packages=["ed", "gcc-c++"],
        flags=["no_deps", "check_deps"],
        sigkeys=["ABC12345", ""],
        koji_event=123456,
        results=["iso"],
        arches=["x86_64"],
        builds=["ed-1.14.1-2"],
        modular_koji_tags=["f40-modular"],
        lookaside_repos=["http://example.com/repo/"],
        label="RC-1.0",
        compose_type="nightly",
    )
    assert set(compose) == FIELDS
    assert compose["state_name"] == "wait" and compose["state"] == 0
    assert compose["owner"] == "unknown"
    assert compose["source_type"] == 1
    assert compose["packages"] == "ed gcc-c++"
    assert compose["flags"] == ["no_deps", "check_deps"]
    assert compose["results"] == ["repository", "iso"]
    assert compose["sigkeys"] == "ABC12345 "
    assert compose["koji_event"] == 123456
    assert compose["builds"] == "ed-1.14.1-2"
    assert compose["modular_koji_tags"] == "f40-modular"
    assert compose["lookaside_repos"] == "http://example.com/repo/"
    assert compose["label"] == "RC-1.0"
    assert compose["compose_type"] == "nightly"
    assert compose["target_dir"] == "default"
    lifetime = parse_time(compose["time_to_expire"]) - parse_time(compose["time_submitted"])
    assert lifetime == datetime.timedelta(seconds=600)
    cid = compose["id"]
    assert compose["result_repofile"] == (
        f"{server.target_dir_url}/odcs-{cid}/compose/Temporary/odcs-{cid}.repo"
    )


@pytest.mark.parametrize(
    "source, source_type",
    [
        (ComposeSourceTag("f40", packages=["ed"], sigkeys=[""]), 1),
        (ComposeSourceModule(["ed:1", "nginx:1.20:3320210712"]), 2),
        (ComposeSourceGeneric("/srv/repos/fixture", "repo"), 3),
        (ComposeSourcePulp(["rhel-8-for-x86_64-baseos-rpms"]), 4),
        (ComposeSourceRawConfig("fedora", "master"), 5),
        (ComposeSourceBuild(["ed-1.14.1-2.fc40"]), 6),
        (ComposeSourceGeneric("https://kojipkgs.example.com/compose/F-40/compose/Everything/x86_64/os", "pungi_compose"), 7),
    ],
)
def test_request_compose_for_every_source_type(odcs, source, source_type):
    # A raw_config compose's arches are its Pungi configuration's (without a server wrapper).
    arches = {} if source_type == 5 else {"arches": ["x86_64"]}
    compose = odcs.request_compose(source, seconds_to_live=60, **arches)
    assert compose["source_type"] == source_type
    assert compose["state_name"] == "wait"
    assert odcs.get_compose(compose["id"])["source_type"] == source_type


def test_raw_config_options_pungi_decides_are_refused(odcs):
    with pytest.raises(requests.HTTPError) as err:
        odcs.request_compose(ComposeSourceRawConfig("fedora", "master"), arches=["x86_64"])
    assert err.value.response.status_code == 400
    assert err.value.response.json()["message"].startswith(
        'arches cannot be used with source type "raw_config"'
    )


def test_server_defaults(odcs):
    compose = odcs.request_compose(ComposeSourceTag("f41"))
    assert compose["sigkeys"] == "FD431D51"
    assert compose["arches"] == "x86_64 aarch64"
    assert compose["compose_type"] == "test"
    lifetime = parse_time(compose["time_to_expire"]) - parse_time(compose["time_submitted"])
    assert lifetime == datetime.timedelta(seconds=3600)


def test_get_compose_has_config_dump(odcs):
    compose = odcs.request_compose(ComposeSourceTag("f40"))
    fetched = odcs.get_compose(compose["id"])
    assert fetched["id"] == compose["id"]
    assert "pungi_config_dump" in fetched
    assert set(fetched) - {"pungi_config_dump"} == FIELDS


def test_unknown_compose_raises_404(odcs):
    with pytest.raises(requests.HTTPError) as err:
        odcs.get_compose(99999999)
    assert err.value.response.status_code == 404
    assert err.value.response.json()["message"] == "No such compose found."


def test_invalid_request_raises_400_with_message(odcs):
    with pytest.raises(requests.HTTPError) as err:
        odcs.request_compose(ComposeSourceTag("f40"), flags=["not_a_flag"])
    body = err.value.response.json()
    assert err.value.response.status_code == 400
    assert body == {"status": 400, "error": "Bad Request", "message": 'Unknown flag "not_a_flag"'}


def test_find_composes_filters_and_pages(odcs):
    made = [odcs.request_compose(ComposeSourceTag("find-me"))["id"] for _ in range(3)]
    found = odcs.find_composes(source="find-me", per_page=2)
    assert [c["id"] for c in found["items"]] == sorted(made, reverse=True)[:2]
    meta = found["meta"]
    assert meta["total"] == 3 and meta["pages"] == 2 and meta["page"] == 1
    assert meta["next"].startswith("http://127.0.0.1:")
    assert "source=find-me" in meta["next"] and "page=2" in meta["next"]
    second = requests.get(meta["next"]).json()
    assert [c["id"] for c in second["items"]] == [min(made)]
    assert odcs.find_composes(source="find-me", state=0)["meta"]["total"] == 3
    assert odcs.find_composes(source="find-me", state=2)["meta"]["total"] == 0
    ordered = odcs.find_composes(source="find-me", order_by="id")
    assert [c["id"] for c in ordered["items"]] == sorted(made)


def test_delete_cancels_and_wait_returns_failed(odcs):
    compose = odcs.request_compose(ComposeSourceTag("f40"))
    answer = odcs.delete_compose(compose["id"])
    assert answer == {"status": 202, "message": f"Compose (id={compose['id']}) has been canceled"}
    waited = odcs.wait_for_compose(compose["id"], timeout=5)
    assert waited["state_name"] == "failed"
    assert waited["state_reason"] == "Canceled by unknown"


def test_renew_failed_compose_makes_a_copy(odcs):
    compose = odcs.request_compose(ComposeSourceTag("f40", packages=["ed"]), label="L1")
    odcs.delete_compose(compose["id"])
    renewed = odcs.renew_compose(compose["id"], seconds_to_live=120)
    assert renewed["id"] != compose["id"]
    assert renewed["state_name"] == "wait"
    assert renewed["source"] == "f40" and renewed["packages"] == "ed"
    assert renewed["label"] == "L1"
    relabeled = odcs.renew_compose(compose["id"], label="L2")
    assert relabeled["label"] == "L2"


def test_renew_done_compose_extends_expiry(odcs, server):
    compose = odcs.request_compose(ComposeSourceTag("f40"), seconds_to_live=60)
    server.execute(f"UPDATE composes SET state = 2 WHERE id = {compose['id']}")
    renewed = odcs.renew_compose(compose["id"], seconds_to_live=7000)
    assert renewed["id"] == compose["id"]
    assert parse_time(renewed["time_to_expire"]) > parse_time(compose["time_to_expire"])
    assert renewed["state_name"] == "done"


def test_renew_waiting_compose_is_404(odcs):
    compose = odcs.request_compose(ComposeSourceTag("f40"))
    with pytest.raises(requests.HTTPError) as err:
        odcs.renew_compose(compose["id"])
    assert err.value.response.status_code == 404


def test_wait_for_compose_sees_done(odcs, server):
    compose = odcs.request_compose(ComposeSourceTag("f40"))
    server.execute(f"UPDATE composes SET state = 2, state_reason = 'Compose is generated successfully' WHERE id = {compose['id']}")
    done = odcs.wait_for_compose(compose["id"], timeout=5)
    assert done["state_name"] == "done"
    assert done["state_reason"] == "Compose is generated successfully"
