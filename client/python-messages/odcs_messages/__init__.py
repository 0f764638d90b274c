"""fedora-messaging message classes for the messages an On Demand Compose Service publishes.

One class per topic. The server names the class's schema in each message's
``fedora_messaging_schema`` header, so fedora-messaging hands consumers instances of it once
this package is installed.
"""

import json
from importlib import resources

from fedora_messaging.message import Message

__all__ = ("ComposeStateChangeV1", "SOURCE_TYPES")

#: Source type codes as the API sends them, and their names.
SOURCE_TYPES = {
    1: "tag",
    2: "module",
    3: "repo",
    4: "pulp",
    5: "raw_config",
    6: "build",
    7: "pungi_compose",
}

# The longest source a summary shows before it is shortened.
_SUMMARY_SOURCE_LENGTH = 60


def _schema(name):
    with resources.files(__package__).joinpath("schemas", name).open(encoding="utf-8") as f:
        return json.load(f)


def _words(value):
    return (value or "").split()


def _nvr_name(nvr):
    parts = nvr.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else nvr


class ComposeStateChangeV1(Message):
    """A compose was created or changed state (``wait``, ``generating``, ``done``, ``failed``,
    ``removed``). The body carries the whole compose as the REST API shows it."""

    topic = "odcs.state.change"
    body_schema = _schema("odcs.state.change.json")

    @property
    def compose(self):
        """The compose after the change, as the REST API shows it."""
        return self.body["compose"]

    @property
    def compose_id(self):
        """The compose's id."""
        return self.compose["id"]

    @property
    def state_name(self):
        """The state the compose is now in."""
        return self.compose["state_name"]

    @property
    def source_type_name(self):
        """What the compose is built from: ``tag``, ``module``, ``repo``, ..."""
        code = self.compose["source_type"]
        return SOURCE_TYPES.get(code, str(code))

    @property
    def app_name(self):
        return "odcs"

    @property
    def summary(self):
        source = self.compose["source"]
        if len(source) > _SUMMARY_SOURCE_LENGTH:
            source = source[: _SUMMARY_SOURCE_LENGTH - 3] + "..."
        return "ODCS compose {} ({} {}) of {} is {}".format(
            self.compose_id, self.source_type_name, source, self.compose["owner"], self.state_name
        )

    def __str__(self):
        compose = self.compose
        state = self.state_name
        if compose["state_reason"]:
            state += ": " + compose["state_reason"]
        lines = [
            "Compose: {}".format(self.compose_id),
            "State: {}".format(state),
            "Owner: {}".format(compose["owner"]),
            "Source: {} {}".format(self.source_type_name, compose["source"]),
            "Results: {}".format(", ".join(compose["results"])),
        ]
        if compose["label"]:
            lines.append("Label: {}".format(compose["label"]))
        if self.state_name == "done":
            lines.append("Repository: {}".format(compose["result_repofile"]))
        if compose["removed_by"]:
            lines.append("Removed by: {}".format(compose["removed_by"]))
        lines.append("Expires: {}".format(compose["time_to_expire"]))
        return "\n".join(lines) + "\n"

    @property
    def url(self):
        """The compose's directory once it is done."""
        if self.state_name == "done":
            return self.compose["toplevel_url"]
        return None

    @property
    def agent_name(self):
        """Who caused the change: whoever removed the compose, else its owner. An expired
        compose has no remover, and then no agent."""
        if self.state_name == "removed":
            return self.compose["removed_by"]
        return self.compose["owner"]

    @property
    def usernames(self):
        """The owner and, once someone removed the compose, who did."""
        names = {self.compose["owner"], self.compose["removed_by"] or ""}
        return sorted(name for name in names if name)

    @property
    def packages(self):
        """Package names: those in the compose's ``packages`` field, and those of the NVRs in
        its ``builds`` field."""
        names = set(_words(self.compose["packages"]))
        names.update(_nvr_name(nvr) for nvr in _words(self.compose["builds"]))
        return sorted(names)

    @property
    def modules(self):
        """Module names: those a module compose was requested for, and those of the
        modules (NSVCs) in its ``modules`` field."""
        nsvcs = _words(self.compose["modules"])
        if self.compose["source_type"] == 2:
            nsvcs += _words(self.compose["source"])
        return sorted({nsvc.split(":")[0] for nsvc in nsvcs if nsvc.split(":")[0]})
