"""A broken cluster beside healthy ones (docs/isolation.md): what `deploy --plan` loads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hubfleet.cli import spec
from hubfleet.cli.common import repo_root

if TYPE_CHECKING:
    from hubfleet.config.fleet import BrokenCluster, Fleet


def load_for_plan(
    ctx: spec.Context, only_cluster: str | None
) -> tuple[Fleet, tuple[BrokenCluster, ...]]:
    """The clusters that load and the broken ones. A problem every cluster depends on
    stops the command (exit 2), and so does `--cluster` naming a broken cluster."""
    from hubfleet.base.errors import ConfigError, Problem
    from hubfleet.config.load import load_isolated

    # The plan job parsed the values files (a cluster whose values do not parse is in
    # the plan's `broken`); the deploy reads each once, in its pipeline.
    loaded = load_isolated(repo_root(ctx), parse_values=False)
    for cluster in loaded.broken:
        if cluster.name == only_cluster:
            note = Problem(
                cluster.file,
                0,
                f"cluster {cluster.name}: its configuration is broken, nothing deployed",
                "fix the problems above; the other clusters deploy",
            )
            raise ConfigError([*cluster.problems, note])
    return loaded.fleet, loaded.broken


def merge_broken(
    own: Sequence[BrokenCluster], planned: Sequence[BrokenCluster], only_cluster: str | None
) -> tuple[BrokenCluster, ...]:
    """The broken clusters this checkout finds and those the plan names, once each by
    name (this checkout's first); with `--cluster`, only that cluster's."""
    merged: dict[str, BrokenCluster] = {}
    for cluster in [*own, *planned]:
        merged.setdefault(cluster.name, cluster)
    return tuple(
        cluster
        for name, cluster in sorted(merged.items())
        if only_cluster is None or name == only_cluster
    )
