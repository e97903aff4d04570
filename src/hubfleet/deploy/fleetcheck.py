"""`hubfleet check --all`: the health check of every hub (or those of named clusters).

Clusters are checked in parallel and isolated from one another (docs/isolation.md):
each inside its own credentials, its failures (credentials that do not work, a
check that cannot start, even an unexpected error) its own hubs' results, never
another cluster's. A cluster's hubs are checked in parallel too, a bounded number
at once. A hub whose check fails is checked again (`retries`, default once) before
its failure is reported: a flaky check that passes the second time is `ok`, with
`flaky: true`, and opens no incident.

The result (`FleetCheck`) is what `check --all --output json` prints and what the
scheduled workflow hands to `hubfleet ci incidents`; `read_fleet_check` is its one
reader.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from hubfleet.base import argv, interrupt
from hubfleet.base.errors import HubfleetError
from hubfleet.base.jsonio import parse_json
from hubfleet.base.markdown import md_cell, md_text
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import Cancelled
from hubfleet.config.fleet import Cluster, Fleet, Hub, release_label
from hubfleet.deploy.checks import checked_where_it_runs
from hubfleet.health import kubernetes
from hubfleet.health.check import CheckResult
from hubfleet.health.gate import switched_off
from hubfleet.local import check as local_check
from hubfleet.providers import ProviderContext, get_provider
from hubfleet.secrets.sops import Sops

Status = Literal["ok", "failed", "skipped", "cancelled"]
STATUSES: tuple[Status, ...] = ("ok", "failed", "skipped", "cancelled")
FORMAT_VERSION = 1
RETRY_DELAY_S = 5.0  # between a failed check and its retry

# One hub's check inside its cluster's credentials: (URL, result); raises
# `HubfleetError` when the check cannot run (no token, no forward, hub not running).
HubChecker = Callable[[Hub], tuple[str, CheckResult]]


@dataclass(frozen=True)
class CheckAllSettings:
    cluster_concurrency: int = 8
    hub_concurrency: int = 4
    retries: int = 1
    attempt_timeout: float = 120.0
    retry_delay_s: float = RETRY_DELAY_S


@dataclass(frozen=True)
class HubCheck:
    """One hub's health as `check --all` found it."""

    cluster: str
    hub: str
    status: Status
    message: str
    failed_step: str | None = None
    url: str | None = None
    tries: int = 0  # checks run (1, or more when retried)
    flaky: bool = False  # failed, then passed when checked again
    duration_s: float = 0.0

    @property
    def label(self) -> str:
        return release_label(self.cluster, self.hub)

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "hub": self.hub,
            "status": self.status,
            "message": self.message,
            "failed_step": self.failed_step,
            "url": self.url,
            "tries": self.tries,
            "flaky": self.flaky,
            "duration_s": round(self.duration_s, 3),
        }


@dataclass(frozen=True)
class FleetCheck:
    checked_at: str  # ISO 8601, UTC, seconds
    clusters: tuple[str, ...]
    hubs: tuple[HubCheck, ...]
    # Clusters whose configuration does not load (docs/isolation.md): not checked.
    broken: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(h.status in ("ok", "skipped") for h in self.hubs)

    @property
    def cancelled(self) -> bool:
        return any(h.status == "cancelled" for h in self.hubs)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for h in self.hubs if h.status == s) for s in STATUSES}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "checked_at": self.checked_at,
            "ok": self.ok,
            "clusters": list(self.clusters),
            "broken": list(self.broken),
            "counts": self.counts(),
            "hubs": [h.to_json() for h in self.hubs],
        }


def now_utc() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- the run


def check_all(
    fleet: Fleet,
    clusters: Sequence[str] = (),
    *,
    sops: Sops,
    redactor: Redactor,
    settings: CheckAllSettings = CheckAllSettings(),
    cancel: threading.Event | None = None,
) -> FleetCheck:
    """Check every hub of `clusters` (every cluster when empty), clusters in parallel
    and isolated, each cluster's hubs `settings.hub_concurrency` at once."""
    chosen = [fleet.cluster(name) for name in dict.fromkeys(clusters)] or list(fleet.clusters)
    chosen.sort(key=lambda c: c.name)
    cancel = cancel or threading.Event()
    checked_at = now_utc()
    results: dict[str, list[HubCheck]] = {}
    with interrupt.cancelling(cancel):
        workers = max(1, min(settings.cluster_concurrency, len(chosen)))
        with ThreadPoolExecutor(workers, thread_name_prefix="check-cluster") as pool:
            futures = {
                c.name: pool.submit(
                    _isolated,
                    fleet,
                    c,
                    sops=sops,
                    redactor=redactor,
                    settings=settings,
                    cancel=cancel,
                )
                for c in chosen
            }
            for name, future in futures.items():
                results[name] = future.result()
    hubs = tuple(h for c in chosen for h in sorted(results[c.name], key=lambda h: h.hub))
    return FleetCheck(checked_at, tuple(c.name for c in chosen), hubs)


def _isolated(
    fleet: Fleet,
    cluster: Cluster,
    *,
    sops: Sops,
    redactor: Redactor,
    settings: CheckAllSettings,
    cancel: threading.Event,
) -> list[HubCheck]:
    """One cluster's results; whatever goes wrong stays this cluster's."""
    try:
        return _check_cluster(
            fleet, cluster, sops=sops, redactor=redactor, settings=settings, cancel=cancel
        )
    except Exception as exc:
        message = f"internal error checking cluster {cluster.name}: {type(exc).__name__}: {exc}"
        return [
            HubCheck(cluster.name, hub.name, "failed", redactor.scrub(message))
            for hub in cluster.hubs
        ]


def _check_cluster(
    fleet: Fleet,
    cluster: Cluster,
    *,
    sops: Sops,
    redactor: Redactor,
    settings: CheckAllSettings,
    cancel: threading.Event,
) -> list[HubCheck]:
    skipped = []
    hubs = []
    for hub in cluster.hubs:
        reason = switched_off(fleet, hub)
        if reason is None:
            hubs.append(hub)
        else:
            skipped.append(HubCheck(cluster.name, hub.name, "skipped", reason))
    if not hubs:
        return skipped
    tries = 1 + max(0, settings.retries)
    problem = ""
    for attempt in range(1, tries + 1):
        if cancel.is_set():
            return skipped + [_cancelled_hub(h) for h in hubs]
        try:
            checking = _checker(
                fleet, cluster, sops=sops, redactor=redactor, settings=settings, cancel=cancel
            )
            with checking as checker:
                return skipped + _check_hubs(cluster, hubs, checker, settings, cancel, redactor)
        except Cancelled:
            return skipped + [_cancelled_hub(h) for h in hubs]
        except HubfleetError as exc:
            # The cluster's credentials (or the arguments bound for its CLIs) failed.
            problem = redactor.scrub(f"cluster credentials: {exc.message}")
            if attempt < tries and cancel.wait(settings.retry_delay_s):
                return skipped + [_cancelled_hub(h) for h in hubs]
    return skipped + [HubCheck(cluster.name, h.name, "failed", problem, tries=tries) for h in hubs]


def _checker(
    fleet: Fleet,
    cluster: Cluster,
    *,
    sops: Sops,
    redactor: Redactor,
    settings: CheckAllSettings,
    cancel: threading.Event,
) -> AbstractContextManager[HubChecker]:
    """How one hub of the cluster is checked, inside the cluster's credentials (one
    login per cluster, held while its hubs are checked)."""
    timeout = settings.attempt_timeout
    if checked_where_it_runs(cluster.provider):

        def local(hub: Hub) -> tuple[str, CheckResult]:
            return local_check.check_local_hub(
                fleet, hub, attempts=1, attempt_timeout=timeout, redactor=redactor
            )

        return nullcontext(local)
    return _kubernetes_checker(
        fleet, cluster, sops=sops, redactor=redactor, timeout=timeout, cancel=cancel
    )


@contextmanager
def _kubernetes_checker(
    fleet: Fleet,
    cluster: Cluster,
    *,
    sops: Sops,
    redactor: Redactor,
    timeout: float,
    cancel: threading.Event,
) -> Iterator[HubChecker]:
    provider = get_provider(cluster.provider)
    if provider.check_arguments is not None:
        with argv.located(cluster.file, cluster.lines.line((cluster.provider,)), cluster.name):
            provider.check_arguments(cluster)
    context = ProviderContext(fleet=fleet, cluster=cluster, sops=sops, redactor=redactor)
    with provider.credentials(context) as creds:

        def check(hub: Hub) -> tuple[str, CheckResult]:
            with argv.located(cluster.file, hub.line, hub.label):
                kubernetes.check_arguments(hub)
            return kubernetes.check_kubernetes_hub(
                fleet,
                hub,
                env=creds.env,
                redactor=redactor,
                cancel=cancel,
                attempts=1,
                attempt_timeout=timeout,
            )

        yield check


def _check_hubs(
    cluster: Cluster,
    hubs: Sequence[Hub],
    checker: HubChecker,
    settings: CheckAllSettings,
    cancel: threading.Event,
    redactor: Redactor,
) -> list[HubCheck]:
    workers = max(1, min(settings.hub_concurrency, len(hubs)))
    with ThreadPoolExecutor(workers, thread_name_prefix=f"check-{cluster.name}") as pool:
        futures = [
            pool.submit(check_with_retries, hub, checker, settings, cancel, redactor)
            for hub in hubs
        ]
        return [future.result() for future in futures]


def check_with_retries(
    hub: Hub,
    checker: HubChecker,
    settings: CheckAllSettings,
    cancel: threading.Event,
    redactor: Redactor,
) -> HubCheck:
    """One hub checked, and checked again (`settings.retries` times) while it fails."""
    tries = 1 + max(0, settings.retries)
    started = time.monotonic()
    result = _cancelled_hub(hub)
    for attempt in range(1, tries + 1):
        if cancel.is_set():
            return _cancelled_hub(hub)
        result = _one_check(hub, checker, redactor)
        if result.status == "cancelled" or cancel.is_set():
            return _cancelled_hub(hub)
        result = replace(result, tries=attempt, duration_s=time.monotonic() - started)
        if result.status == "ok":
            return replace(result, flaky=attempt > 1)
        if attempt < tries and cancel.wait(settings.retry_delay_s):
            return _cancelled_hub(hub)
    return result


def _cancelled_hub(hub: Hub) -> HubCheck:
    return HubCheck(hub.cluster, hub.name, "cancelled", "cancelled before it was checked")


def _one_check(hub: Hub, checker: HubChecker, redactor: Redactor) -> HubCheck:
    try:
        url, result = checker(hub)
    except Cancelled:
        return _cancelled_hub(hub)
    except HubfleetError as exc:
        return HubCheck(hub.cluster, hub.name, "failed", redactor.scrub(exc.message))
    status: Status = "ok" if result.ok else "failed"
    return HubCheck(
        hub.cluster,
        hub.name,
        status,
        redactor.scrub(result.message),
        failed_step=result.failed_step,
        url=url,
    )


# ---------------------------------------------------------------- renderings


def render_text(check: FleetCheck) -> str:
    lines = []
    for hub in check.hubs:
        mark = {"ok": "ok  ", "failed": "FAIL", "skipped": "skip", "cancelled": "stop"}[hub.status]
        extra = " (flaky: passed when checked again)" if hub.flaky else ""
        lines.append(f"{mark} {hub.label}: {hub.message}{extra}")
    counts = check.counts()
    lines.append(
        f"{len(check.hubs)} hubs in {len(check.clusters)} clusters: "
        + ", ".join(f"{counts[s]} {s}" for s in STATUSES)
    )
    for name in check.broken:
        lines.append(f"broken: cluster {name}: its configuration does not load, not checked")
    return "\n".join(lines)


def render_markdown(check: FleetCheck) -> str:
    counts = check.counts()
    lines = [
        "## hubfleet health check",
        "",
        f"Checked at {md_text(check.checked_at)}: "
        + ", ".join(f"{counts[s]} {s}" for s in STATUSES)
        + ".",
        "",
        "| cluster | hub | result | tries | message |",
        "|---|---|---|---|---|",
    ]
    for hub in check.hubs:
        result: str = "**failed**" if hub.status == "failed" else hub.status
        if hub.flaky:
            result += " (flaky)"
        cells = [
            md_cell(hub.cluster),
            md_cell(hub.hub),
            result,
            str(hub.tries),
            md_cell(hub.message),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if check.broken:
        names = ", ".join(md_text(name) for name in check.broken)
        lines += ["", f"Broken clusters (configuration does not load, not checked): {names}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the one reader


def read_fleet_check(path: Path, text: str | None = None) -> FleetCheck:
    """A `check --all --output json` file, every field checked (errors name the file)."""
    name = str(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise HubfleetError(f"cannot read the health results: {exc}", path=name) from None
    data = parse_json(text, name, "health results").data
    if not isinstance(data, Mapping) or data.get("version") != FORMAT_VERSION:
        raise HubfleetError(
            f"not a health-check result of version {FORMAT_VERSION}",
            path=name,
            hint="write it with `hubfleet check --all --output json`",
        )
    checked_at = _str(data, "checked_at", name)
    _parse_time(checked_at, name)
    clusters = data.get("clusters")
    if not isinstance(clusters, list) or not all(isinstance(c, str) and c for c in clusters):
        raise HubfleetError("`clusters` is not a list of names", path=name)
    entries = data.get("hubs")
    if not isinstance(entries, list):
        raise HubfleetError("`hubs` is not a list", path=name)
    hubs = []
    for index, entry in enumerate(entries):
        where = f"{name} hubs[{index}]"
        if not isinstance(entry, Mapping):
            raise HubfleetError("not an object", path=where)
        status = entry.get("status")
        if status not in STATUSES:
            raise HubfleetError(f"unknown status {status!r}", path=where)
        tries, duration = entry.get("tries", 0), entry.get("duration_s", 0.0)
        if not isinstance(tries, int) or isinstance(tries, bool) or tries < 0:
            raise HubfleetError("`tries` is not a count", path=where)
        if not isinstance(duration, int | float) or isinstance(duration, bool):
            raise HubfleetError("`duration_s` is not a number", path=where)
        hub = HubCheck(
            cluster=_str(entry, "cluster", where),
            hub=_str(entry, "hub", where),
            status=status,
            message=_str(entry, "message", where, empty=True),
            failed_step=_optional(entry, "failed_step", where),
            url=_optional(entry, "url", where),
            tries=tries,
            flaky=entry.get("flaky") is True,
            duration_s=float(duration),
        )
        if hub.cluster not in clusters:
            raise HubfleetError(f"cluster {hub.cluster!r} is not in `clusters`", path=where)
        hubs.append(hub)
    broken = data.get("broken", [])
    if not isinstance(broken, list) or not all(isinstance(c, str) and c for c in broken):
        raise HubfleetError("`broken` is not a list of names", path=name)
    return FleetCheck(checked_at, tuple(clusters), tuple(hubs), tuple(broken))


def _str(data: Mapping[str, Any], key: str, where: str, *, empty: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str) or (not value and not empty):
        raise HubfleetError(f"`{key}` is not a string", path=where)
    return value


def _optional(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise HubfleetError(f"`{key}` is not a string or null", path=where)
    return value


def _parse_time(text: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HubfleetError(f"{text!r} is not an ISO 8601 time", path=where) from None
    if parsed.tzinfo is None:
        raise HubfleetError(f"{text!r} has no time zone", path=where)
    return parsed


def parse_time(text: str, where: str = "time") -> datetime:
    """An ISO 8601 time with its zone (`Z` accepted), as the results and GitHub write it."""
    return _parse_time(text, where)
