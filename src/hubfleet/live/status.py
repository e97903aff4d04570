"""`hubfleet status`: what runs in each cluster against git, as rows of data.

`fleet_status(...)` reads the chosen clusters in parallel (bounded threads), each with
its own credentials (`query.read_cluster`), and compares every release git declares
(each cluster's support release and hubs) with what the cluster has:

| state | when |
|---|---|
| `in-sync` | deployed by hubfleet, its record's digest equals the digest of git's inputs now |
| `behind` | deployed by hubfleet from other inputs (another commit, or changed files) |
| `changed-by-hand` | its latest revision was not made by hubfleet (no record in its description) |
| `rolled-back` | its latest revision is a rollback (the commit it undid is in `last_rollback`) |
| `failed` / `pending` | helm's status is `failed` / `pending-*` |
| `missing` | declared in git, not installed |
| `orphan` | installed, not declared: in a namespace hubfleet manages, or deployed by hubfleet |
| `retained` | data a decommissioned hub left (`retained_rows`, a hook) |
| `error` | the cluster could not be read: its error, in each of its rows |

One cluster that cannot be read (credentials, helm) is isolated: its rows carry the
error, the other clusters are shown. Broken clusters (configuration that does not
load, docs/isolation.md) are listed with their problems. The digest of git's inputs
needs no key (`hubfleet.live.digest`: encrypted files count as stored).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from hubfleet.base.errors import HubfleetError
from hubfleet.base.markdown import md_cell
from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import BrokenCluster, Cluster, Fleet
from hubfleet.live.checkout import checkout_commit
from hubfleet.live.digest import Digests
from hubfleet.live.query import ClusterState, LiveRelease, read_cluster
from hubfleet.live.record import UNCOMMITTED
from hubfleet.release.pipeline import Release, hub_release, support_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.sops import Sops

State = Literal[
    "in-sync", "behind", "changed-by-hand", "rolled-back", "failed", "pending", "missing",
    "orphan", "retained", "error",
]  # fmt: skip
STATES: tuple[str, ...] = State.__args__  # type: ignore[attr-defined]
# The states that need a person or a deploy (the rest: in sync, or nothing to do).
DRIFT = frozenset({"behind", "changed-by-hand", "rolled-back", "failed", "pending", "missing"})
DEFAULT_PARALLELISM = 4
MAX_ERROR = 600  # characters of a cluster's error kept in its rows
Reader = Callable[[Cluster], ClusterState]


@dataclass(frozen=True)
class Row:
    """One release of one cluster: declared in git, present in the cluster, or both."""

    cluster: str
    release: str
    namespace: str
    hub: str | None  # None: the support release, or a release git does not declare
    kind: str  # support, staging, prod; "orphan", "retained"
    declared: bool
    present: bool
    state: State
    reasons: tuple[str, ...] = ()
    chart: str = ""
    version: str = ""
    revision: int | None = None
    status: str = ""  # helm's
    updated: str = ""
    commit: str | None = None  # the commit it runs (from its record)
    in_sync: bool | None = None  # its record's digest equals git's (None: not known)
    made_by: str | None = None  # hubfleet, hand, rollback, failed
    last_rollback: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["reasons"] = list(self.reasons)
        return data


@dataclass(frozen=True)
class ClusterReport:
    """A cluster's rows; `error`: why it could not be read (its rows say so too)."""

    cluster: str
    provider: str
    rows: tuple[Row, ...]
    error: str | None = None
    broken: tuple[str, ...] = ()  # a broken cluster's problems (path:line: message)


@dataclass(frozen=True)
class FleetStatus:
    head: str  # git's commit, or "uncommitted"
    clusters: tuple[ClusterReport, ...]
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> tuple[Row, ...]:
        return tuple(row for cluster in self.clusters for row in cluster.rows)

    @property
    def exit_code(self) -> int:
        """docs/status.md: 1 a cluster could not be read, 3 a cluster is broken, else 0
        (drift is what status reports, not a failure of the command)."""
        if any(c.error for c in self.clusters):
            return 1
        if any(c.broken for c in self.clusters):
            return 3
        return 0

    def to_json(self) -> dict[str, Any]:
        return {
            "head": self.head,
            "counts": dict(self.counts),
            "clusters": [
                {
                    "name": c.cluster,
                    "provider": c.provider,
                    "error": c.error,
                    "broken": list(c.broken),
                    "rows": [row.to_json() for row in c.rows],
                }
                for c in self.clusters
            ],
        }


def scrubbed(status: FleetStatus, scrub: Callable[[str], str]) -> FleetStatus:
    """The status with every text scrubbed (the redactor's `scrub`), before any
    rendering encodes it (HTML, Markdown, JSON): a known value is found as written."""

    def maybe(text: str | None) -> str | None:
        return None if text is None else scrub(text)

    def row(r: Row) -> Row:
        return replace(
            r,
            reasons=tuple(scrub(x) for x in r.reasons),
            chart=scrub(r.chart),
            version=scrub(r.version),
            status=scrub(r.status),
            updated=scrub(r.updated),
            commit=maybe(r.commit),
            last_rollback=maybe(r.last_rollback),
        )

    clusters = tuple(
        replace(
            c,
            rows=tuple(row(r) for r in c.rows),
            error=maybe(c.error),
            broken=tuple(scrub(b) for b in c.broken),
        )
        for c in status.clusters
    )
    return replace(status, clusters=clusters)


def fleet_status(
    fleet: Fleet,
    *,
    sops: Sops,
    redactor: Redactor,
    names: Sequence[str] | None = None,
    broken: Sequence[BrokenCluster] = (),
    parallelism: int = DEFAULT_PARALLELISM,
    extra_env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
    reader: Reader | None = None,
) -> FleetStatus:
    """The status of the clusters `names` (None: all), `parallelism` at once; `broken`:
    the clusters whose configuration does not load, listed with their problems."""
    chosen = list(fleet.clusters) if names is None else [fleet.cluster(n) for n in names]
    digests = Digests(ReleaseValues(fleet, sops=None))
    read = reader or (
        lambda cluster: read_cluster(
            fleet, cluster, sops=sops, redactor=redactor, cancel=cancel, extra_env=extra_env,
            namespaces=managed_namespaces(fleet, cluster),
        )
    )  # fmt: skip

    def one(cluster: Cluster) -> ClusterReport:
        return cluster_report(fleet, cluster, digests, read)

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        reports = list(pool.map(one, chosen))
    for cluster in broken:
        reports.append(
            ClusterReport(
                cluster.name,
                cluster.provider,
                (),
                broken=tuple(p.render() for p in cluster.problems),
            )
        )
    reports.sort(key=lambda r: r.cluster)
    counts = {state: 0 for state in STATES}
    for report in reports:
        for row in report.rows:
            counts[row.state] += 1
    return FleetStatus(checkout_commit(fleet.root, redactor), tuple(reports), counts)


def declared_releases(fleet: Fleet, cluster: Cluster) -> list[Release]:
    support = support_release(fleet, cluster)
    return [*([support] if support else []), *(hub_release(fleet, hub) for hub in cluster.hubs)]


def managed_namespaces(fleet: Fleet, cluster: Cluster) -> set[str]:
    """The namespaces whose every release hubfleet answers for: its releases' own, and
    those of `retained_namespaces` (decommissioned hubs)."""
    return {r.namespace for r in declared_releases(fleet, cluster)} | retained_namespaces(
        fleet, cluster
    )


def retained_namespaces(fleet: Fleet, cluster: Cluster) -> set[str]:
    """HOOK for decommissioning (issue 25, point 5): the namespaces of the cluster's
    decommissioned hubs. None yet: cluster.yaml has no `decommissioned:` entries."""
    del fleet, cluster
    return set()


def retained_rows(fleet: Fleet, cluster: Cluster, live: ClusterState) -> list[Row]:
    """HOOK for decommissioning (issue 25, point 5): a row (state `retained`, kind
    `retained`) per decommissioned hub whose data (namespace, volumes) stays, with the
    date and decision of its `decommissioned:` entry in `reasons`; a decommissioned
    hub's release still installed is returned here too (not as an orphan). None yet."""
    del fleet, cluster, live
    return []


def cluster_report(fleet: Fleet, cluster: Cluster, digests: Digests, read: Reader) -> ClusterReport:
    """One cluster's rows (its read failing: every declared release with the error)."""
    releases = declared_releases(fleet, cluster)
    try:
        live = read(cluster)
    except HubfleetError as exc:
        message = one_line(str(exc)) or type(exc).__name__
        failed = tuple(
            Row(
                cluster=cluster.name,
                release=r.name,
                namespace=r.namespace,
                hub=r.hub,
                kind=r.kind,
                declared=True,
                present=False,
                state="error",
                reasons=(f"cluster {cluster.name} could not be read: {message}",),
            )
            for r in releases
        )
        return ClusterReport(cluster.name, cluster.provider, failed, error=message)
    rows = [declared_row(r, live.get(r.name, r.namespace), digests) for r in releases]
    extra = retained_rows(fleet, cluster, live)
    known = {(r.name, r.namespace) for r in releases} | {(r.release, r.namespace) for r in extra}
    managed = managed_namespaces(fleet, cluster)
    for release in live.releases:
        if release.key in known:
            continue
        if release.namespace in managed or release.record is not None:
            rows.append(orphan_row(cluster.name, release, managed))
    rows += extra
    rows.sort(key=lambda row: (not row.declared, row.kind != "support", row.namespace, row.release))
    return ClusterReport(cluster.name, cluster.provider, tuple(rows))


def one_line(text: str, limit: int = MAX_ERROR) -> str:
    """An error as one line (its lines joined), cut to `limit` characters."""
    joined = " / ".join(line.strip() for line in text.splitlines() if line.strip())
    return joined if len(joined) <= limit else joined[: limit - 1] + "…"


def _rollback_text(live: LiveRelease) -> str | None:
    back = live.last_rollback
    if back is None:
        return None
    text = f"revision {back.revision} back to {back.to_revision}"
    if back.rolled_back is not None:
        text += f", undid commit {back.rolled_back.short_commit}"
    return text + (f" ({back.updated})" if back.updated else "")


def with_live(row: Row, live: LiveRelease) -> Row:
    """`row` with what the cluster says of its release."""
    return replace(
        row,
        present=True,
        chart=live.chart,
        version=live.version,
        revision=live.revision,
        status=live.status,
        updated=live.updated,
        commit=live.record.commit if live.record else None,
        made_by=live.origin,
        last_rollback=_rollback_text(live),
    )


def declared_row(release: Release, live: LiveRelease | None, digests: Digests) -> Row:
    row = Row(
        cluster=release.cluster,
        release=release.name,
        namespace=release.namespace,
        hub=release.hub,
        kind=release.kind,
        declared=True,
        present=False,
        state="missing",
        reasons=("declared in git, not installed",),
    )
    if live is None:
        return row
    try:
        head: str | None = digests.of(release)
        problem = ""
    except HubfleetError as exc:
        head = None
        problem = f"git's inputs could not be digested: {str(exc).splitlines()[0]}"
    in_sync = None if head is None or live.record is None else live.record.digest == head
    state, reasons = judge(live, in_sync)
    if problem:
        reasons = (*reasons, problem)
    return replace(with_live(row, live), state=state, reasons=reasons, in_sync=in_sync)


def judge(live: LiveRelease, in_sync: bool | None) -> tuple[State, tuple[str, ...]]:
    """A present, declared release's state and why."""
    record = live.record
    if live.status.startswith("pending-"):
        return "pending", (
            f"helm's status is {live.status} (revision {live.revision}): an operation was "
            "interrupted",
        )
    if live.status == "failed":
        return "failed", (f"revision {live.revision} failed: {live.description}",)
    if live.origin == "rollback":
        back = live.last_rollback
        undid = (
            f" undid commit {back.rolled_back.short_commit}"
            if back is not None and back.rolled_back is not None
            else ""
        )
        runs = f"; runs commit {record.short_commit}" if record else ""
        again = "" if in_sync else ", behind git"
        return "rolled-back", (f"revision {live.revision} is a rollback{undid}{runs}{again}",)
    if live.origin == "hand" or record is None:
        return "changed-by-hand", (
            f"revision {live.revision} was not made by hubfleet "
            f"(description: {live.description or 'none'!s})",
        )
    if in_sync:
        what = (
            "uncommitted files" if record.commit == UNCOMMITTED else f"commit {record.short_commit}"
        )
        return "in-sync", (f"runs {what}, the inputs git has now",)
    return "behind", (
        f"runs commit {record.short_commit}, whose inputs differ from git's now"
        if not record.uncommitted
        else "runs uncommitted files whose inputs differ from git's now",
    )


def orphan_row(cluster: str, live: LiveRelease, managed: Collection[str]) -> Row:
    where = (
        f"in namespace {live.namespace}, which hubfleet manages"
        if live.namespace in managed
        else "deployed by hubfleet"
    )
    row = Row(
        cluster=cluster,
        release=live.name,
        namespace=live.namespace,
        hub=None,
        kind="orphan",
        declared=False,
        present=True,
        state="orphan",
        reasons=(
            f"installed ({where}) but not declared in git: remove it with a "
            "`decommissioned:` entry in cluster.yaml, or declare it",
        ),
    )
    return with_live(row, live)


# ----------------------------------------------------------------------------- text


COLUMNS = (
    "cluster", "release", "kind", "state", "chart", "revision", "status", "commit",
    "made by", "last rollback", "reasons",
)  # fmt: skip


def cells(row: Row) -> tuple[str, ...]:
    chart = f"{row.chart}-{row.version}" if row.version else row.chart
    return (
        row.cluster,
        row.release if row.release == row.namespace else f"{row.namespace}/{row.release}",
        row.kind,
        row.state,
        chart,
        "" if row.revision is None else str(row.revision),
        row.status,
        (row.commit or "")[:12],
        row.made_by or "",
        row.last_rollback or "",
        "; ".join(row.reasons),
    )


def markdown(status: FleetStatus) -> str:
    """The status as a Markdown table (file-derived text escaped): a job summary."""
    counts = ", ".join(f"{n} {s}" for s, n in status.counts.items() if n)
    lines = [
        f"### Fleet status at {md_cell(status.head[:12])}",
        "",
        md_cell(counts or "no releases"),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for report in status.clusters:
        for row in report.rows:
            lines.append("| " + " | ".join(md_cell(c) for c in cells(row)) + " |")
        if report.broken:
            problems = "; ".join(report.broken)
            lines.append(
                f"| {md_cell(report.cluster)} | | | broken | | | | | | | {md_cell(problems)} |"
            )
    return "\n".join(lines) + "\n"
