"""The fleet's communities as data: each hub's owners, files and effective policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubfleet.base.yamlio import PathKey
from hubfleet.community.policy import Constraint, Entry, Policy
from hubfleet.config.community import DEFAULT_ALLOW, DEFAULT_DENY
from hubfleet.config.fleet import Cluster, Fleet, Hub, release_label
from hubfleet.helm.nesting import z2jh_values_key

COMMUNITY_SUFFIX = ".community.values.yaml"
BUILT_IN = "built-in default"


@dataclass(frozen=True)
class HubCommunity:
    """One hub's community: owners, its files (repository-relative) and its policy."""

    cluster: str
    hub: str
    owners: tuple[str, ...]
    files: tuple[str, ...]
    policy: Policy
    cluster_file: str
    # cluster.yaml line of the hub's `community:` key, and of each file written there.
    line: int
    file_lines: Mapping[str, int]

    @property
    def label(self) -> str:
        return release_label(self.cluster, self.hub)

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster_name": self.cluster,
            "hub_name": self.hub,
            "owners": list(self.owners),
            "files": list(self.files),
            "may_change": self.policy.to_json(),
        }


def _hub_index(cluster: Cluster, hub: Hub) -> int | None:
    hubs = cluster.data.get("hubs") if isinstance(cluster.data, Mapping) else None
    if not isinstance(hubs, list):
        return None
    for index, entry in enumerate(hubs):
        if isinstance(entry, Mapping) and entry.get("name") == hub.name:
            return index
    return None


def _origin(file: str | None, line: int) -> str:
    return f"{file}:{line}" if file else BUILT_IN


def fleet_policy(
    fleet: Fleet,
) -> tuple[tuple[Entry, ...], tuple[Entry, ...], tuple[Constraint, ...]]:
    """The fleet-wide allow, deny and constraint entries (hubfleet.yaml, else the defaults)."""
    policy = fleet.settings.community.policy
    file = fleet.settings_file

    def entries(name: str, given: list[str] | None, default: tuple[str, ...]) -> tuple[Entry, ...]:
        if given is None:
            return tuple(Entry(p, BUILT_IN) for p in default)
        return tuple(
            Entry(p, _origin(file, fleet.settings_lines.line(("community", "policy", name, i))))
            for i, p in enumerate(given)
        )

    constraints = tuple(
        Constraint(
            Entry(
                pattern,
                _origin(
                    file, fleet.settings_lines.line(("community", "policy", "constraints", pattern))
                ),
            ),
            rule,
        )
        for pattern, rule in policy.constraints.items()
    )
    return (
        entries("allow", policy.allow, DEFAULT_ALLOW),
        entries("deny", policy.deny, DEFAULT_DENY),
        constraints,
    )


def hub_community(fleet: Fleet, cluster: Cluster, hub: Hub) -> HubCommunity | None:
    """The hub's community, None when it has no `community:` block."""
    block = hub.community
    if block is None:
        return None
    index = _hub_index(cluster, hub)
    base: PathKey = ("hubs", index, "community") if index is not None else ()

    def line(*key: str | int) -> int:
        return cluster.lines.line((*base, *key)) if base else hub.line

    written = block.files if block.files is not None else [f"{hub.name}{COMMUNITY_SUFFIX}"]
    files = tuple(cluster.path(name) for name in written)
    file_lines = {
        path: (line("files", i) if block.files is not None else line())
        for i, path in enumerate(files)
    }
    allow, deny, constraints = fleet_policy(fleet)
    extra = block.policy
    if extra is not None:
        allow += tuple(
            Entry(p, _origin(cluster.file, line("policy", "allow", i)))
            for i, p in enumerate(extra.allow)
        )
        constraints += tuple(
            Constraint(Entry(p, _origin(cluster.file, line("policy", "constraints", p))), rule)
            for p, rule in extra.constraints.items()
        )
    return HubCommunity(
        cluster=cluster.name,
        hub=hub.name,
        owners=tuple(block.owners),
        files=files,
        policy=Policy(
            allow,
            deny,
            constraints,
            nesting=z2jh_values_key(fleet, hub),
            pod=fleet.settings.community.policy.pod,
        ),
        cluster_file=cluster.file,
        line=line(),
        file_lines=file_lines,
    )


def communities(fleet: Fleet) -> list[HubCommunity]:
    """Every hub's community, sorted by cluster then hub."""
    found = []
    for cluster in fleet.clusters:
        for hub in cluster.hubs:
            community = hub_community(fleet, cluster, hub)
            if community is not None:
                found.append(community)
    return sorted(found, key=lambda c: (c.cluster, c.hub))


def community_files(fleet: Fleet) -> dict[str, list[HubCommunity]]:
    """Repository-relative community file -> the communities that own it."""
    owners: dict[str, list[HubCommunity]] = {}
    for community in communities(fleet):
        for path in community.files:
            owners.setdefault(path, []).append(community)
    return owners


def summary(fleet: Fleet) -> dict[str, Any]:
    """`hubfleet community --output json`: the platform team, and who owns which hub and
    files and what each may change."""
    return {
        "platform_owners": list(fleet.settings.community.platform_owners),
        "hubs": [c.to_json() for c in communities(fleet)],
    }
