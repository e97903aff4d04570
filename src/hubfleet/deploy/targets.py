"""Which jobs to run: from CLI targets, a plan file, or the failures of an earlier report."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubfleet.base.errors import ConfigError, HubfleetError
from hubfleet.config.fleet import Fleet, Hub
from hubfleet.deploy.model import RETRY, Job, JobRecord
from hubfleet.plan.schema import JOB_LISTS


class InputError(HubfleetError):
    """A plan or report file that cannot be used (exit 2)."""


@dataclass(frozen=True)
class Targets:
    jobs: tuple[Job, ...]
    # Jobs of a --retry-failed report that are not run again, recorded as unchanged.
    carried: tuple[JobRecord, ...] = ()


def from_cli(fleet: Fleet, cluster_name: str, hubs: Sequence[str]) -> Targets:
    """`deploy CLUSTER [HUB ...]`: no hubs named: the support release and every hub."""
    cluster = fleet.cluster(cluster_name)
    reason = "named on the command line"
    jobs: list[Job] = []
    if not hubs:
        if cluster.support is not None:
            jobs.append(Job(cluster.name, None, "support", cluster.provider, (reason,), reason))
        chosen = list(cluster.hubs)
    else:
        chosen = [cluster.hub(name) for name in dict.fromkeys(hubs)]
    jobs += [Job(cluster.name, h.name, h.kind, cluster.provider, (reason,), reason) for h in chosen]
    return Targets(tuple(sorted(jobs, key=lambda j: j.sort_key)))


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the {what}: {exc.strerror}", path=str(path)) from None
    except ValueError as exc:
        raise InputError(
            f"the {what} is not JSON: {exc}", path=str(path), line=getattr(exc, "lineno", 1)
        ) from None


def _job(fleet: Fleet, entry: Any, kind: str, where: str, path: Path) -> Job:
    if not isinstance(entry, dict) or not isinstance(entry.get("cluster_name"), str):
        raise InputError(f"{where}: a job needs a cluster_name", path=str(path))
    try:
        cluster = fleet.cluster(entry["cluster_name"])
        hub_name = entry.get("hub_name")
        if kind == "support":
            if cluster.support is None:
                raise InputError(
                    f"{where}: cluster {cluster.name!r} has no support release", path=str(path)
                )
            hub = None
        else:
            if not isinstance(hub_name, str):
                raise InputError(f"{where}: a {kind} job needs a hub_name", path=str(path))
            found = cluster.hub(hub_name)
            check_kind(found, kind, where, path)
            hub = found.name
    except ConfigError as exc:
        raise InputError(f"{where}: {exc.message}", path=str(path), hint=exc.hint) from None
    provider = entry.get("provider") or cluster.provider
    if provider != cluster.provider:
        raise InputError(
            f"{where}: provider {provider!r} but cluster {cluster.name!r} is {cluster.provider!r}",
            path=str(path),
            hint="regenerate the plan from this repository",
        )
    reasons = entry.get("reasons") or []
    return Job(
        cluster=cluster.name,
        hub=hub,
        kind=kind,  # type: ignore[arg-type]
        provider=cluster.provider,
        reasons=tuple(str(r) for r in reasons) if isinstance(reasons, list) else (str(reasons),),
        choice_reason=str(entry.get("choice_reason") or ""),
    )


def check_kind(hub: Hub, kind: str, where: str, path: Path) -> None:
    """A plan's or report's job kind must be the fleet's own: a production hub listed
    as a staging job would be deployed as a canary, before the gate and unchecked."""
    if hub.kind != kind:
        raise InputError(
            f"{where}: hub {hub.cluster}/{hub.name} is a {hub.kind} hub in this fleet, "
            f"not a {kind} one",
            path=str(path),
            hint="regenerate the plan from this repository (`hubfleet plan --output json`)",
        )


def from_plan(fleet: Fleet, path: Path, cluster: str | None = None) -> Targets:
    """A plan file (DESIGN.md section 3); `cluster` keeps only that cluster's jobs."""
    data = _read_json(path, "plan")
    if not isinstance(data, dict) or not any(key in data for key, _ in JOB_LISTS):
        raise InputError(
            "not a plan: expected support_jobs, staging_jobs and prod_jobs",
            path=str(path),
            hint="write it with `hubfleet plan --output json`",
        )
    if cluster is not None:
        fleet.cluster(cluster)  # unknown name: did-you-mean error
    community = _community_hubs(data)
    jobs: dict[tuple[str, str | None], Job] = {}
    for key, kind in JOB_LISTS:
        entries = data.get(key) or []
        if not isinstance(entries, list):
            raise InputError(f"{key} must be a list", path=str(path))
        for index, entry in enumerate(entries):
            job = _job(fleet, entry, kind, f"{key}[{index}]", path)
            if community is not None:
                if (job.cluster, job.hub) not in community:
                    continue
                job = dataclasses.replace(job, rollback_on_failed_check=True)
            if cluster is None or job.cluster == cluster:
                jobs.setdefault((job.cluster, job.hub), job)
    return Targets(tuple(sorted(jobs.values(), key=lambda j: j.sort_key)))


def _community_hubs(plan: dict[str, Any]) -> set[tuple[str, str | None]] | None:
    """A plan whose change is inside community files and their policy (`plan --event`,
    docs/community.md): only those hubs, each health-checked and rolled back if it fails."""
    community = plan.get("community")
    if not isinstance(community, dict) or community.get("files_only") is not True:
        return None
    hubs = community.get("hubs")
    return {
        (str(h.get("cluster_name")), str(h.get("hub_name")))
        for h in (hubs if isinstance(hubs, list) else [])
        if isinstance(h, dict)
    }


def from_report(fleet: Fleet, path: Path) -> Targets:
    """`--retry-failed REPORT`: exactly the failed, skipped and cancelled jobs run again."""
    data = _read_json(path, "report")
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        raise InputError("not a deploy report: no jobs list", path=str(path))
    jobs: list[Job] = []
    carried: list[JobRecord] = []
    for index, entry in enumerate(data["jobs"]):
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind not in ("support", "staging", "prod"):
            raise InputError(f"jobs[{index}]: unknown kind {kind!r}", path=str(path))
        job = _job(fleet, entry, kind, f"jobs[{index}]", path)
        if entry.get("status") in RETRY:
            jobs.append(job)
        else:
            carried.append(
                JobRecord(job, status="unchanged", message=f"{entry.get('status')} in {path.name}")
            )
    return Targets(tuple(sorted(jobs, key=lambda j: j.sort_key)), tuple(carried))
