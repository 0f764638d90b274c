"""Calls the fake Koji hub with the reference `koji` client library (PyPI `koji`) and checks
that what it gets back is what a real hub would give: types, keys, keyword arguments,
multicall, faults.

    python koji_client_check.py HUB_URL EVENT

EVENT is the event after which libthing-2 was tagged into `base` (see koji.rs)."""

import sys

import koji


def main(url, event):
    session = koji.ClientSession(url, {"anon_retry": False, "max_retries": 0})

    last = session.getLastEvent()
    assert isinstance(last["id"], int) and isinstance(last["ts"], float), last

    tag = session.getTag("app")
    assert tag["name"] == "app" and isinstance(tag["id"], int), tag
    assert tag["arches"] == "x86_64" and tag["perm"] is None and tag["locked"] is False, tag
    assert session.getTag("missing") is None

    chain = session.getFullInheritance("app")
    assert [p["name"] for p in chain] == ["base"], chain
    assert chain[0]["maxdepth"] is None and chain[0]["depth"] == 1, chain

    # Keyword arguments travel as Koji's __starstar struct.
    rpms, builds = session.listTaggedRPMS("app", latest=True, inherit=True, event=event)
    names = sorted((r["name"], r["version"]) for r in rpms)
    assert names == [("app", "1"), ("libthing", "1"), ("tool", "1")], names
    assert {b["nvr"] for b in builds} == {"app-1-1", "libthing-1-1", "tool-1-1"}, builds
    for r in rpms:
        assert isinstance(r["size"], int) and len(r["payloadhash"]) == 32, r
        assert r["epoch"] is None and r["external_repo_name"] == "INTERNAL", r
    rpms, _ = session.listTaggedRPMS("app", latest=True, inherit=True)
    assert ("libthing", "2") in {(r["name"], r["version"]) for r in rpms}, rpms
    rpms, _ = session.listTaggedRPMS("app", latest=True, inherit=False)
    assert [r["name"] for r in rpms] == ["app"], rpms
    rpms, _ = session.listTaggedRPMS("app", inherit=True, arch=["src"])
    assert rpms == [], rpms

    build = session.getBuild("app-1-1")
    assert build["state"] == koji.BUILD_STATES["COMPLETE"], build
    assert build["volume_name"] == "DEFAULT" and build["epoch"] is None, build
    assert session.getBuild("ghost-1-1") is None
    try:
        session.getBuild("ghost-1-1", strict=True)
    except koji.GenericError as e:
        assert "No such build: ghost-1-1" in str(e), e
    else:
        raise AssertionError("strict getBuild of an unknown build must fault")
    try:
        session.noSuchMethod()
    except koji.GenericError as e:
        assert "Invalid method" in str(e), e
    else:
        raise AssertionError("an unknown method must fault")

    listed = session.listRPMs(buildID=build["id"])
    assert [r["nvr"] for r in listed] == ["app-1-1"], listed
    assert session.queryRPMSigs(rpm_id=listed[0]["id"]) == []

    changed = session.tagChangedSinceEvent(event, [tag["id"]])
    assert changed is False, changed
    base = session.getTag("base")
    assert session.tagChangedSinceEvent(event, [base["id"]]) is True

    # multiCall (the client's batching), with a fault in the middle.
    with session.multicall() as m:
        a = m.getBuild("app-1-1")
        b = m.getBuild("ghost-1-1", strict=True)
        c = m.getLastEvent()
    assert a.result["nvr"] == "app-1-1"
    try:
        b.result
    except koji.GenericError as e:
        assert "ghost-1-1" in str(e), e
    else:
        raise AssertionError("the faulting multicall member must raise")
    assert c.result["id"] == last["id"]
    print("koji client agrees with the fake hub")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
