"""The message classes: registered with fedora-messaging, validating with the server's schema,
and saying who and what a message concerns."""

import copy
import json
import os

import jsonschema
import pytest
from fedora_messaging import message as fm_message

from odcs_messages import ComposeStateChangeV1

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_SCHEMA = os.path.join(HERE, "..", "..", "..", "common", "schemas", "odcs.state.change.json")


def compose(**changes):
    """A compose as the API shows it, waiting, with `changes` applied."""
    body = {
        "id": 42, "owner": "alice", "source_type": 1, "source": "f40-build", "state": 0,
        "state_name": "wait", "state_reason": None, "time_to_expire": "2026-12-04T10:00:00Z",
        "time_submitted": "2026-12-03T10:00:00Z", "time_started": None, "time_done": None,
        "time_removed": None, "removed_by": None,
        "result_repo": "https://odcs.example.com/composes/odcs-42/compose/Temporary",
        "result_repofile": "https://odcs.example.com/composes/odcs-42/compose/Temporary/odcs-42.repo",
        "toplevel_url": "https://odcs.example.com/composes/odcs-42",
        "flags": [], "results": ["repository"], "sigkeys": "", "koji_event": None,
        "koji_task_id": None, "packages": None, "builds": None, "arches": "x86_64",
        "multilib_arches": "", "multilib_method": 0, "lookaside_repos": "",
        "modular_koji_tags": None, "module_defaults_url": None, "label": None,
        "compose_type": "test", "pungi_compose_id": None, "target_dir": "default",
        "scratch_modules": None, "parent_pungi_compose_ids": None, "scratch_build_tasks": None,
        "modules": None, "respin_of": None, "base_module_br_name": None,
        "base_module_br_stream": None, "base_module_br_stream_version_lte": None,
        "base_module_br_stream_version_gte": None,
    }
    body.update(changes)
    return ComposeStateChangeV1(
        topic="org.example.odcs.state.change", body={"event": "state-changed", "compose": body}
    )


def test_the_class_is_registered_under_the_schema_name_the_server_sends():
    assert fm_message.get_class("odcs.state.change.v1") is ComposeStateChangeV1
    headers = compose()._headers
    assert headers["fedora_messaging_schema"] == "odcs.state.change.v1"
    assert headers["fedora_messaging_schema_package"] == "odcs_messages"


def test_the_packaged_schema_is_the_one_the_server_is_tested_against():
    if not os.path.exists(REPO_SCHEMA):
        pytest.skip("not run from the repository")
    with open(REPO_SCHEMA) as f:
        assert ComposeStateChangeV1.body_schema == json.load(f)


def test_a_valid_body_validates_and_a_broken_one_does_not():
    message = compose()
    message.validate()
    for broken in ({"state_name": "finished"}, {"id": "42"}, {"time_done": "yesterday"}):
        bad = compose(**broken)
        with pytest.raises(jsonschema.ValidationError):
            bad.validate()
    missing = compose()
    missing.body = copy.deepcopy(missing.body)
    del missing.body["compose"]["owner"]
    with pytest.raises(jsonschema.ValidationError):
        missing.validate()


def test_summary_and_text_say_what_happened():
    done = compose(state=2, state_name="done", label="RC-1.0", time_done="2026-12-03T10:01:00Z")
    assert done.summary == "ODCS compose 42 (tag f40-build) of alice is done"
    text = str(done)
    assert "State: done\n" in text
    assert "Label: RC-1.0\n" in text
    assert "Repository: https://odcs.example.com/composes/odcs-42/compose/Temporary/odcs-42.repo\n" in text
    assert done.url == "https://odcs.example.com/composes/odcs-42"

    failed = compose(state=4, state_name="failed", state_reason="Koji tag f40-build not found")
    assert failed.summary.endswith(" is failed")
    assert "State: failed: Koji tag f40-build not found\n" in str(failed)
    assert "Repository:" not in str(failed)
    assert failed.url is None

    long_source = compose(source_type=6, source="", builds=" ".join(f"pkg{i}-1.0-1" for i in range(40)))
    assert len(long_source.summary) < 120


def test_people_packages_and_modules_a_message_concerns():
    tag = compose(packages="bash glibc", builds="python-rpm-macros-3.12-8.fc40 odd")
    assert tag.usernames == ["alice"]
    assert tag.agent_name == "alice"
    assert tag.packages == ["bash", "glibc", "odd", "python-rpm-macros"]
    assert tag.modules == []

    module = compose(source_type=2, source="nodejs:20 testmodule:main:20240101:abcd",
                     modules="nodejs:20:4020:e1a2 perl:5.38:1:aa")
    assert module.modules == ["nodejs", "perl", "testmodule"]

    removed = compose(state=3, state_name="removed", removed_by="bob")
    assert removed.usernames == ["alice", "bob"]
    assert removed.agent_name == "bob"
    expired = compose(state=3, state_name="removed")
    assert expired.agent_name is None
    assert expired.usernames == ["alice"]


def test_filter_headers_follow_the_subjects():
    message = compose(packages="bash", source_type=2, source="nodejs:20", removed_by="bob")
    headers = message._filter_headers()
    assert headers == {
        "fedora_messaging_user_alice": True,
        "fedora_messaging_user_bob": True,
        "fedora_messaging_rpm_bash": True,
        "fedora_messaging_module_nodejs": True,
    }
