"""Plans that reconcile git with the clusters (`plan --live`, docs/status.md).

The change-based plan answers "what did this change touch"; the live plan answers
"what runs differently from git": for each declared release of the clusters in scope,
its live state (read from the cluster, `hubfleet.live.query`) against the digest of
its inputs at this checkout (`hubfleet.live.digest`). A release gets a job when it was
never deployed, its last revision failed or is stuck `pending-*`, it was changed by
hand (its last revision was not made by hubfleet), or it runs other inputs than git's
(behind). A hub that hubfleet rolled back automatically is *held* while git still
holds the inputs that were rolled back: retrying them on every push would fail again;
it deploys again when its inputs change, or when a person asks (`--retry`).

Everything here is a pure function of (the fleet's releases, their digests, the live
state): the reading of the clusters is the caller's (`read_states`, a query per
cluster, in parallel), so the rules are tested with hand-made states.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from hubfleet.base.errors import HubfleetError
from hubfleet.config.fleet import Fleet
from hubfleet.plan.job import Job, Kind
from hubfleet.plan.plan import LiveScope, Plan, Unreachable
from hubfleet.plan.schema import JOB_LISTS

LIVE = "live: "  # every reason the live plan gives starts so
HELD_HINT = "not retried until its inputs change or `deploy --retry`"
RETRY_CHOICE = "--retry"
DESCRIPTION_CHARS = 60

ReleaseKey = tuple[str, str | None]  # (cluster, hub name; None for the support release)


@dataclass(frozen=True)
class RolledBack:
    """hubfleet's own automatic rollback is the release's current revision: the commit
    and inputs digest of the revision it rolled back (digest None: not recorded)."""

    commit: str
    digest: str | None


@dataclass(frozen=True)
class Observed:
    """One declared release as its cluster has it (its latest revision)."""

    status: str  # helm's: deployed, failed, pending-install, pending-upgrade, ...
    revision: int
    made_by_hubfleet: bool  # the revision's description is hubfleet's record
    digest: str | None  # the record's inputs digest (None: not made by hubfleet)
    commit: str | None  # the record's commit
    description: str = ""  # helm's description of the revision (shown for a hand change)
    rolled_back: RolledBack | None = None


@dataclass(frozen=True)
class Declared:
    """A release git declares: its job identity and its inputs digest at this checkout."""

    cluster: str
    hub: str | None
    kind: Kind
    provider: str
    digest: str


@dataclass(frozen=True)
class ClusterState:
    """One cluster's live releases by (cluster, hub) key, or why they could not be read."""

    cluster: str
    provider: str
    releases: Mapping[ReleaseKey, Observed]
    error: str | None = None


@dataclass(frozen=True)
class LivePlan:
    """The jobs whose cluster state differs from git, the held (rolled-back) hubs, and
    what was read."""

    jobs: tuple[Job, ...]
    held: tuple[Job, ...]
    scope: LiveScope
    warnings: tuple[str, ...] = ()


def verdict(declared: Declared, observed: Observed | None, *, retry: bool) -> tuple[str, str]:
    """("in-sync" | "job" | "held", the reason) for one release."""
    if observed is None or observed.status in ("uninstalled", "uninstalling"):
        return "job", "never deployed: the cluster has no such release"
    status = observed.status
    at = f"revision {observed.revision}"
    if status.startswith("pending-"):
        return "job", (
            f"helm status {status} at {at}: an operation did not finish "
            "(`deploy --recover` rolls it back first)"
        )
    if status != "deployed":
        commit = f" (commit {observed.commit[:12]})" if observed.commit else ""
        return "job", f"helm status {status} at {at}{commit}"
    back = observed.rolled_back
    if back is not None:
        where = f"rolled back at {back.commit[:12]}"
        if observed.digest == declared.digest and back.digest != declared.digest:
            return "in-sync", f"{where}; git holds the inputs it went back to"
        if back.digest is None or back.digest == declared.digest:
            # git still holds the inputs that were rolled back (or they were not
            # recorded, so they cannot be told apart): deploying them would fail again
            if retry:
                return "job", f"{where}; retried ({RETRY_CHOICE})"
            unknown = "" if back.digest is not None else " (its inputs were not recorded)"
            return "held", f"{where}{unknown}, {HELD_HINT}"
        return "job", f"{where}; its inputs changed since, deployed again"
    if not observed.made_by_hubfleet:
        text = observed.description.strip().replace("\n", " ")[:DESCRIPTION_CHARS]
        return "job", f"changed by hand: {at} was not made by hubfleet (description {text!r})"
    if observed.digest != declared.digest:
        commit = (observed.commit or "?")[:12]
        return "job", f"behind git: {at} runs commit {commit}, whose inputs differ from git's"
    return "in-sync", "in sync with git"


def live_plan(
    fleet: Fleet,
    declared: Sequence[Declared],
    states: Mapping[str, ClusterState],
    *,
    retry: bool = False,
) -> LivePlan:
    """The live plan of the clusters in `states` (a cluster of `declared` without a state
    is not in scope): a job per release that differs from git, with its reason; the
    canary rule of the change-based plan (a cluster getting a production job gets its
    staging hubs, except held ones); a held hub is listed, not deployed."""
    jobs: dict[ReleaseKey, Job] = {}
    held: list[Job] = []
    warnings: list[str] = []
    for item in declared:
        state = states.get(item.cluster)
        if state is None or state.error is not None:
            continue
        if _held_back(fleet, item.cluster, item.hub):
            continue  # `hold:` in cluster.yaml: never deployed while held, live or not
        found, reason = verdict(item, state.releases.get((item.cluster, item.hub)), retry=retry)
        job = Job(item.cluster, item.hub, item.kind, item.provider, (LIVE + reason,))
        if found == "job":
            jobs[(item.cluster, item.hub)] = job
        elif found == "held":
            held.append(job)
    held_keys = {(job.cluster, job.hub) for job in held}
    prods: dict[str, list[str]] = {}
    for job in jobs.values():
        if job.kind == "prod" and job.hub is not None:
            prods.setdefault(job.cluster, []).append(job.hub)
    for cluster_name in sorted(prods):
        names = ", ".join(sorted(prods[cluster_name]))
        cluster = fleet.cluster(cluster_name)
        staging = [
            h
            for h in cluster.staging_hubs
            if (cluster_name, h.name) not in held_keys and h.hold is None
        ]
        if not staging:
            warnings.append(
                f"cluster {cluster_name}: the live plan's production hubs ({names}) deploy "
                "without a canary"
            )
        reason = f"canary: guards production hubs {names} of cluster {cluster_name}"
        for hub in staging:
            key = (cluster_name, hub.name)
            if key in jobs:
                jobs[key] = _with_reasons(jobs[key], (reason,))
            else:
                jobs[key] = Job(cluster_name, hub.name, "staging", cluster.provider, (reason,))
    unreachable = tuple(
        Unreachable(s.cluster, s.provider, s.error)
        for name, s in sorted(states.items())
        if s.error is not None
    )
    read = tuple(sorted(name for name, s in states.items() if s.error is None))
    return LivePlan(
        jobs=tuple(sorted(jobs.values(), key=lambda j: j.sort_key)),
        held=tuple(sorted(held, key=lambda j: j.sort_key)),
        scope=LiveScope(read, retry, unreachable),
        warnings=tuple(warnings),
    )


def _held_back(fleet: Fleet, cluster: str, hub: str | None) -> bool:
    if hub is None:
        return False
    return fleet.cluster(cluster).hub(hub).hold is not None


def _with_reasons(job: Job, reasons: Iterable[str]) -> Job:
    merged = dict.fromkeys([*job.reasons, *reasons])
    return replace(job, reasons=tuple(merged))


def combine(plan: Plan, live: LivePlan) -> Plan:
    """The union of a change-based plan and a live plan: every job of either, a job of
    both with both's reasons (the change's first); held hubs in `skipped` (unless the
    change deploys them: a changed input is a new attempt); each unreadable cluster a
    warning. A community-only plan (docs/community.md) deploys only its hubs: the live
    jobs are left to the next push, and a warning says so."""
    by_key: dict[ReleaseKey, Job] = {}
    for name, _ in JOB_LISTS:
        for job in getattr(plan, name):
            by_key[(job.cluster, job.hub)] = job
    warnings = [*plan.warnings, *live.warnings]
    # The plan's held hubs (`hold:`, or untouched by a halted rollout: docs/deploy.md
    # "After a halt") stay held: the reconcile does not continue a rollout without waves.
    held_keys = {(job.cluster, job.hub) for job in plan.held}
    live_jobs = [job for job in live.jobs if (job.cluster, job.hub) not in held_keys]
    added = [job for job in live_jobs if (job.cluster, job.hub) not in by_key]
    if plan.community_hubs is not None and added:
        warnings.append(
            f"community-only change: the live plan's {len(added)} other job(s) are left to "
            "the next push or the scheduled reconcile"
        )
    else:
        for job in live_jobs:
            key = (job.cluster, job.hub)
            by_key[key] = _with_reasons(by_key[key], job.reasons) if key in by_key else job
    held = [job for job in live.held if (job.cluster, job.hub) not in by_key]
    skipped = [
        job for job in plan.skipped if (job.cluster, job.hub) not in by_key or job.kind == "cluster"
    ]
    warnings += [
        f"cluster {u.cluster}: live state not read, only its changes are planned: {u.message}"
        for u in live.scope.unreachable
    ]
    ordered = sorted(by_key.values(), key=lambda j: j.sort_key)
    return replace(
        plan,
        support_jobs=tuple(j for j in ordered if j.kind == "support"),
        staging_jobs=tuple(j for j in ordered if j.kind == "staging"),
        prod_jobs=tuple(j for j in ordered if j.kind == "prod"),
        skipped=tuple(sorted([*skipped, *held], key=_skip_order)),
        warnings=tuple(sorted(set(warnings))),
        live=live.scope,
    )


def _skip_order(job: Job) -> tuple[str, str, int]:
    return (job.cluster, job.hub or "", 0 if job.kind != "cluster" else 1)


def is_held(job: Job) -> bool:
    """A skipped job the live plan holds (a hub rolled back with git's inputs)."""
    return any(reason.startswith(LIVE) and HELD_HINT in reason for reason in job.reasons)


# ------------------------------------------------------------ reading the clusters

Reader = Callable[[str], ClusterState]


def read_states(
    clusters: Sequence[str],
    reader: Reader,
    providers: Mapping[str, str],
    *,
    concurrency: int = 8,
) -> dict[str, ClusterState]:
    """Each cluster's state through `reader`, clusters in parallel (bounded threads). A
    cluster whose reading fails is isolated: its state carries the error, the others
    are read (docs/isolation.md)."""

    def one(name: str) -> ClusterState:
        try:
            return reader(name)
        except HubfleetError as exc:
            why = exc.message or str(exc)
            return ClusterState(name, providers.get(name, ""), {}, why.strip().splitlines()[0])

    if not clusters:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(clusters)))) as pool:
        return dict(zip(clusters, pool.map(one, clusters), strict=True))
