"""One cluster's live state, read from the cluster itself (docs/status.md).

The API `hubfleet status`, the reconciling plan and decommissioning use:

    state = read_cluster(fleet, cluster, sops=sops, redactor=redactor)
    state.get("hub-a", "hub-a")      # LiveRelease | None (not installed)
    state.releases                   # every release read, sorted by namespace, name

For a cluster whose target is `kubernetes`, inside the cluster's own credentials
(`hubfleet.providers`, as a deploy gets them), through the runner (redacted): one
`helm list --all --all-namespaces --output json` (per namespace when the
credentials may not list the whole cluster), then `helm history --output json` of
each release `wanted` keeps (its descriptions hold hubfleet's records; `helm list`
shows none). For a `local` cluster, the revisions the local runtime keeps
(`hubfleet.local.records`), in the same form.

A `LiveRelease` says what runs: its latest revision, the record that revision
carries (`record`; for a rollback, the record of the revision it went back to),
who made it (`origin`), and its last rollback (`last_rollback`: which revision it
replaced and that revision's record, e.g. the commit an automatic rollback undid).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from hubfleet.base import argv
from hubfleet.base.errors import DeployError
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import ProgramFailed, run
from hubfleet.config.fleet import Cluster, Fleet
from hubfleet.config.models import LocalBlock
from hubfleet.config.providers import target_of
from hubfleet.helm.cli import HELM, kubeconfig_args
from hubfleet.live.record import Record, parse
from hubfleet.local.records import cluster_histories
from hubfleet.local.state import cluster_state_dir
from hubfleet.providers import ProviderContext, get_provider
from hubfleet.secrets.sops import Sops

Origin = Literal["hubfleet", "rollback", "hand", "failed"]
# Revisions of `helm history` read per release: enough to find the last rollback and
# the revision it went back to in all but very long rollback chains.
HISTORY_MAX = 20
# `helm list` answers 256 releases unless told; one call should see a whole cluster.
LIST_MAX = 10000
CALL_TIMEOUT = 120.0
PARALLELISM = 8  # `helm history` calls at once, per cluster
_ROLLBACK = re.compile(r"Rollback to (\d+)")
_FAILED = re.compile(r"(Upgrade|Install|Rollback) .*failed", re.IGNORECASE)
_CHART = re.compile(r"^(?P<name>.+?)-(?P<version>v?\d+\.\d+\.\d+\S*)$")


@dataclass(frozen=True)
class Revision:
    """One entry of `helm history --output json`."""

    revision: int
    updated: str
    status: str
    chart: str
    app_version: str
    description: str

    @property
    def record(self) -> Record | None:
        return parse(self.description)

    @property
    def rollback_to(self) -> int | None:
        found = _ROLLBACK.fullmatch(self.description.strip())
        return int(found.group(1)) if found else None


@dataclass(frozen=True)
class LastRollback:
    """The most recent rollback among the revisions read: the revision it made, the one
    it went back to, and the record of the revision it replaced (None: not hubfleet's)."""

    revision: int
    to_revision: int
    rolled_back: Record | None
    updated: str


@dataclass(frozen=True)
class LiveRelease:
    """A release as the cluster has it (see the module)."""

    name: str
    namespace: str
    chart: str  # the chart's name
    version: str  # the chart's version
    app_version: str
    revision: int
    status: str  # helm's: deployed, failed, pending-install, pending-upgrade, ...
    updated: str
    description: str  # the latest revision's
    record: Record | None
    origin: Origin
    last_rollback: LastRollback | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.namespace)

    @property
    def by_hand(self) -> bool:
        return self.origin == "hand"


@dataclass(frozen=True)
class ClusterState:
    """The releases read from one cluster."""

    cluster: str
    releases: tuple[LiveRelease, ...]

    def get(self, name: str, namespace: str) -> LiveRelease | None:
        for release in self.releases:
            if release.name == name and release.namespace == namespace:
                return release
        return None


def read_cluster(
    fleet: Fleet,
    cluster: Cluster,
    *,
    sops: Sops,
    redactor: Redactor,
    namespaces: Collection[str] | None = None,
    wanted: Callable[[str, str], bool] | None = None,
    cancel: threading.Event | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> ClusterState:
    """The cluster's releases (see the module). `namespaces`: where to list when the
    credentials may not list the whole cluster; `wanted(name, namespace)`: the releases
    whose history is read (default: all). Raises `HubfleetError` when the cluster
    cannot be read (its credentials, helm)."""
    if target_of(cluster.provider) == "local":
        return ClusterState(cluster.name, local_releases(fleet, cluster))
    with cluster_env(
        fleet, cluster, sops=sops, redactor=redactor, cancel=cancel, extra_env=extra_env
    ) as env:
        found = helm_releases(
            env, redactor=redactor, namespaces=namespaces, wanted=wanted, cancel=cancel
        )
    return ClusterState(cluster.name, found)


@contextlib.contextmanager
def cluster_env(
    fleet: Fleet,
    cluster: Cluster,
    *,
    sops: Sops,
    redactor: Redactor,
    cancel: threading.Event | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[dict[str, str]]:
    """The environment that reaches `cluster`: its provider's credentials (their private
    folder removed on exit) over `extra_env`."""
    context = ProviderContext(
        fleet=fleet,
        cluster=cluster,
        sops=sops,
        redactor=redactor,
        cancel=cancel,
        extra_env=dict(extra_env or {}),
    )
    with get_provider(cluster.provider).credentials(context) as creds:
        yield {**(extra_env or {}), **creds.env}


def helm_releases(
    env: Mapping[str, str],
    *,
    redactor: Redactor,
    namespaces: Collection[str] | None = None,
    wanted: Callable[[str, str], bool] | None = None,
    cancel: threading.Event | None = None,
    parallelism: int = PARALLELISM,
) -> tuple[LiveRelease, ...]:
    """The releases of the cluster `env` reaches (its credentials): one `helm list`,
    then `helm history` of each release `wanted` keeps, `parallelism` at once."""
    entries = list_releases(env, redactor=redactor, namespaces=namespaces, cancel=cancel)
    keep = [e for e in entries if wanted is None or wanted(e["name"], e["namespace"])]

    def one(entry: Mapping[str, Any]) -> LiveRelease:
        revisions = history(
            entry["name"], entry["namespace"], env, redactor=redactor, cancel=cancel
        )
        return live_release(entry, revisions)

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        found = list(pool.map(one, keep))
    return tuple(sorted(found, key=lambda r: (r.namespace, r.name)))


def list_releases(
    env: Mapping[str, str],
    *,
    redactor: Redactor,
    namespaces: Collection[str] | None = None,
    cancel: threading.Event | None = None,
) -> list[dict[str, Any]]:
    """`helm list --all --output json` of the whole cluster (or, when the credentials
    are refused at the cluster scope, of each of `namespaces`)."""
    try:
        return _list(None, env, redactor=redactor, cancel=cancel)
    except ProgramFailed as exc:
        if "forbidden" not in exc.stderr.lower() or not namespaces:
            raise
    found: list[dict[str, Any]] = []
    for namespace in sorted(set(namespaces)):
        found += _list(namespace, env, redactor=redactor, cancel=cancel)
    return found


def _list(
    namespace: str | None,
    env: Mapping[str, str],
    *,
    redactor: Redactor,
    cancel: threading.Event | None,
) -> list[dict[str, Any]]:
    where = (
        [argv.flag("--namespace", argv.dns_label(namespace, "a namespace"))]
        if namespace
        else ["--all-namespaces"]
    )
    words = [
        HELM, "list", *where, "--all", "--output=json", argv.flag("--max", str(LIST_MAX)),
        *kubeconfig_args(env.get("KUBECONFIG")),
    ]  # fmt: skip
    data = _json(run(words, redactor=redactor, env=env, timeout=CALL_TIMEOUT, cancel=cancel))
    entries = data if isinstance(data, list) else []
    return [
        {**e, "name": str(e["name"]), "namespace": str(e.get("namespace") or namespace or "")}
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("name"), str)
    ]


def history(
    name: str,
    namespace: str,
    env: Mapping[str, str],
    *,
    redactor: Redactor,
    cancel: threading.Event | None = None,
    max_revisions: int = HISTORY_MAX,
) -> list[Revision]:
    """`helm history --output json` of one release, oldest first."""
    words = [
        HELM, "history",
        argv.flag("--namespace", argv.dns_label(namespace, "a release's namespace")),
        argv.flag("--max", str(max_revisions)), "--output=json",
        *kubeconfig_args(env.get("KUBECONFIG")),
        "--", argv.release_name(name),
    ]  # fmt: skip
    data = _json(run(words, redactor=redactor, env=env, timeout=CALL_TIMEOUT, cancel=cancel))
    return revisions_of(data if isinstance(data, list) else [])


def revisions_of(entries: Sequence[object]) -> list[Revision]:
    """`helm history --output json` entries (or the local runtime's) as revisions."""
    found = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        try:
            number = int(entry.get("revision", 0))
        except (TypeError, ValueError):
            continue
        found.append(
            Revision(
                revision=number,
                updated=str(entry.get("updated") or ""),
                status=str(entry.get("status") or "unknown"),
                chart=str(entry.get("chart") or ""),
                app_version=str(entry.get("app_version") or ""),
                description=str(entry.get("description") or ""),
            )
        )
    return sorted(found, key=lambda r: r.revision)


def live_release(entry: Mapping[str, Any], revisions: Sequence[Revision]) -> LiveRelease:
    """One release from its `helm list` entry and its history (oldest first)."""
    chart, version = split_chart(str(entry.get("chart") or ""))
    latest = revisions[-1] if revisions else None
    description = latest.description if latest else ""
    record, origin = _made(latest, revisions)
    try:
        revision = int(entry.get("revision") or (latest.revision if latest else 0))
    except (TypeError, ValueError):
        revision = latest.revision if latest else 0
    return LiveRelease(
        name=str(entry["name"]),
        namespace=str(entry["namespace"]),
        chart=chart,
        version=version,
        app_version=str(entry.get("app_version") or ""),
        revision=revision,
        status=str(entry.get("status") or (latest.status if latest else "unknown")),
        updated=str(entry.get("updated") or (latest.updated if latest else "")),
        description=description,
        record=record,
        origin=origin,
        last_rollback=last_rollback(revisions),
    )


def _made(latest: Revision | None, revisions: Sequence[Revision]) -> tuple[Record | None, Origin]:
    if latest is None:
        return None, "hand"
    record = latest.record
    if record is not None:
        return record, "rollback" if record.rolled_back_from else "hubfleet"
    target = latest.rollback_to
    if target is not None:
        back = {r.revision: r for r in revisions}.get(target)
        return (back.record if back else None), "rollback"
    if latest.status == "failed" or _FAILED.match(latest.description):
        return None, "failed"
    return None, "hand"


def last_rollback(revisions: Sequence[Revision]) -> LastRollback | None:
    """The most recent rollback among `revisions` (oldest first), or None."""
    by_number = {r.revision: r for r in revisions}
    for revision in reversed(revisions):
        record = revision.record
        target = revision.rollback_to
        if target is None and (record is None or record.rolled_back_from is None):
            continue
        replaced = by_number.get(revision.revision - 1)
        return LastRollback(
            revision=revision.revision,
            to_revision=target if target is not None else revision.revision - 1,
            rolled_back=replaced.record if replaced else None,
            updated=revision.updated,
        )
    return None


def split_chart(text: str) -> tuple[str, str]:
    """helm's `chart` column (`jupyterhub-3.3.7`) as (name, version)."""
    found = _CHART.match(text)
    return (found["name"], found["version"]) if found else (text, "")


def local_releases(fleet: Fleet, cluster: Cluster) -> tuple[LiveRelease, ...]:
    """A local cluster's hubs, from the revisions its runtime keeps (`local.records`)."""
    block = cluster.spec.local or LocalBlock()
    state_dir = cluster_state_dir(fleet.root, cluster.name, block.state_dir)
    found = []
    for hub, entries in cluster_histories(state_dir).items():
        revisions = revisions_of(entries)
        latest = revisions[-1]
        entry = {
            "name": hub,
            "namespace": hub,
            "revision": latest.revision,
            "updated": latest.updated,
            "status": latest.status,
            "chart": latest.chart,
            "app_version": latest.app_version,
        }
        found.append(live_release(entry, revisions))
    return tuple(sorted(found, key=lambda r: (r.namespace, r.name)))


def _json(result: Any) -> Any:
    text = result.stdout.strip()
    try:
        return json.loads(text) if text else []
    except ValueError:
        raise DeployError("cannot read helm's answer (not JSON)") from None
