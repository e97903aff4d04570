"""The live plan of a loaded fleet (in deploy: it reads the clusters with their
credentials, as a deploy does): each cluster's live state read (`hubfleet.live.query`,
clusters in parallel, each with its own credentials), each declared release's digest
at this checkout (`hubfleet.live.digest`), then the rules of `hubfleet.plan.live`.

`make_live_plan` is what `plan --live` and `deploy --plan` (checking a live job again
before it runs) call; `observed` turns a `LiveRelease` into the rules' input.
"""

from __future__ import annotations

from collections.abc import Sequence

from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import Fleet
from hubfleet.live.digest import Digests
from hubfleet.live.query import LiveRelease, read_cluster
from hubfleet.plan.live import (
    ClusterState,
    Declared,
    LivePlan,
    Observed,
    RolledBack,
    live_plan,
    read_states,
)
from hubfleet.release.pipeline import Release, hub_release, support_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.sops import Sops

# Clusters read at once (each a `helm list` and a `helm history` per declared release).
CLUSTER_CONCURRENCY = 8


def observed(release: LiveRelease) -> Observed:
    """The rules' view of a live release: its latest revision, whether hubfleet made it
    (its record), and, when that revision is a rollback, what it rolled back."""
    record = release.record
    back = release.last_rollback
    rolled_back = None
    if release.origin == "rollback" and back is not None and back.revision == release.revision:
        undone = back.rolled_back
        commit = (
            undone.commit
            if undone is not None
            else (record.rolled_back_from if record is not None else None)
        )
        rolled_back = RolledBack(commit or "unknown", undone.digest if undone else None)
    return Observed(
        status=release.status,
        revision=release.revision,
        made_by_hubfleet=release.origin in ("hubfleet", "rollback") and record is not None,
        digest=record.digest if record is not None else None,
        commit=record.commit if record is not None else None,
        description=release.description,
        rolled_back=rolled_back,
    )


def fleet_releases(fleet: Fleet, clusters: Sequence[str]) -> list[tuple[Release, Declared]]:
    """The declared releases of `clusters` (support first, then hubs), digests unset."""
    found: list[tuple[Release, Declared]] = []
    for name in clusters:
        cluster = fleet.cluster(name)
        support = support_release(fleet, cluster)
        if support is not None:
            found.append((support, Declared(name, None, "support", cluster.provider, "")))
        for hub in cluster.hubs:
            declared = Declared(name, hub.name, hub.kind, cluster.provider, "")
            found.append((hub_release(fleet, hub), declared))
    return found


def make_live_plan(
    fleet: Fleet,
    clusters: Sequence[str],
    *,
    redactor: Redactor,
    sops: Sops | None = None,
    values: ReleaseValues | None = None,
    retry: bool = False,
    concurrency: int = CLUSTER_CONCURRENCY,
) -> LivePlan:
    """The live plan of `clusters` (see `hubfleet.plan.live`): a cluster that cannot be
    read is isolated (`LivePlan.scope.unreachable`), the others are planned."""
    sops = sops or Sops(redactor, cwd=fleet.root)
    values = values or ReleaseValues(fleet, sops=sops)
    digests = Digests(values)
    pairs = fleet_releases(fleet, clusters)
    declared = [
        Declared(d.cluster, d.hub, d.kind, d.provider, digests.of(release)) for release, d in pairs
    ]
    keys: dict[str, dict[tuple[str, str], str | None]] = {name: {} for name in clusters}
    for release, d in pairs:
        keys[d.cluster][(release.name, release.namespace)] = d.hub
    providers = {name: fleet.cluster(name).provider for name in clusters}

    def reader(name: str) -> ClusterState:
        wanted = keys[name]
        state = read_cluster(
            fleet,
            fleet.cluster(name),
            sops=sops,
            redactor=redactor,
            namespaces=sorted({namespace for _, namespace in wanted}),
            wanted=lambda release, namespace: (release, namespace) in wanted,
        )
        releases = {
            (name, wanted[(r.name, r.namespace)]): observed(r)
            for r in state.releases
            if (r.name, r.namespace) in wanted
        }
        return ClusterState(name, providers[name], releases)

    states = read_states(list(clusters), reader, providers, concurrency=concurrency)
    return live_plan(fleet, declared, states, retry=retry)
