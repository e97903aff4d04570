"""Which jobs to run: from CLI targets, a plan file, or the failures of an earlier report.

The plan and the report are read by their one reader each (`hubfleet.plan.plan`,
`hubfleet.deploy.model`); here their jobs are only checked against the fleet."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from hubfleet.base.errors import ConfigError
from hubfleet.base.redact import Redactor
from hubfleet.config.decommission import describe
from hubfleet.config.fleet import BrokenCluster, Cluster, Fleet, Hub
from hubfleet.deploy.model import RETRY, JobRecord, report_from_file
from hubfleet.plan.job import Job, JsonFile, Step, read_json
from hubfleet.plan.plan import Plan, plan_from_file
from hubfleet.plan.replan import deployable, replan
from hubfleet.plan.schema import JOB_LISTS


@dataclass(frozen=True)
class Targets:
    jobs: tuple[Job, ...]
    # Jobs of a --retry-failed report that are not run again, recorded as unchanged.
    carried: tuple[JobRecord, ...] = ()
    # The clusters a plan names as broken (docs/isolation.md): not deployed.
    broken: tuple[BrokenCluster, ...] = ()


def from_cli(fleet: Fleet, cluster_name: str, hubs: Sequence[str]) -> Targets:
    """`deploy CLUSTER [HUB ...]`: no hubs named: the support release, every hub and an
    uninstall of every decommissioned hub (idempotent); a decommissioned hub named: its
    uninstall (docs/decommission.md)."""
    cluster = fleet.cluster(cluster_name)
    reason = "named on the command line"
    jobs: list[Job] = []
    if not hubs:
        if cluster.support is not None:
            jobs.append(Job(cluster.name, None, "support", cluster.provider, (reason,)))
        chosen = list(cluster.hubs)
        gone = list(cluster.decommissioned)
    else:
        names = list(dict.fromkeys(hubs))
        gone = [e for e in (cluster.decommissioned_hub(n) for n in names) if e is not None]
        chosen = [cluster.hub(name) for name in names if cluster.decommissioned_hub(name) is None]
    jobs += [Job(cluster.name, h.name, h.kind, cluster.provider, (reason,)) for h in chosen]
    jobs += [
        Job(cluster.name, e.name, "uninstall", cluster.provider, (reason, describe(e)))
        for e in gone
    ]
    return Targets(tuple(sorted(jobs, key=lambda j: j.sort_key)))


def _checked(fleet: Fleet, job: Job, file: JsonFile, key: str, index: int) -> Job:
    """The job as this fleet has it: its cluster, hub and kind must be the fleet's."""
    where = f"{key}[{index}]"
    try:
        cluster = fleet.cluster(job.cluster)
        if job.kind == "support":
            if cluster.support is None:
                raise file.error(
                    f"{where}: cluster {cluster.name!r} has no support release", key, index
                )
            hub = None
        elif job.kind == "uninstall" or cluster.decommissioned_hub(job.hub or ""):
            hub = _decommissioned(cluster, job, where, file, key, index)
        else:
            found = cluster.hub(job.hub or "")
            check_kind(found, job.kind, where, file, key, index)
            hub = found.name
    except ConfigError as exc:
        raise file.error(f"{where}: {exc.message}", key, index, hint=exc.hint) from None
    if job.provider and job.provider != cluster.provider:
        raise file.error(
            f"{where}: provider {job.provider!r} but cluster {cluster.name!r} is "
            f"{cluster.provider!r}",
            key,
            index,
            hint="regenerate the plan from this repository",
        )
    return dataclasses.replace(job, cluster=cluster.name, hub=hub, provider=cluster.provider)


def _decommissioned(cluster: Cluster, job: Job, where: str, file: JsonFile, *steps: Step) -> str:
    """An uninstall job's hub must be decommissioned in this fleet, and a decommissioned
    hub's job an uninstall: never an upgrade of a hub cluster.yaml removed."""
    entry = cluster.decommissioned_hub(job.hub or "")
    if entry is None:
        raise file.error(
            f"{where}: hub {job.label} is not decommissioned in {cluster.file}: "
            "it is not uninstalled",
            *steps,
            hint="a hub is uninstalled only through its decommissioned: entry "
            "(docs/decommission.md)",
        )
    if job.kind != "uninstall":
        raise file.error(
            f"{where}: hub {job.label} is decommissioned in this fleet, not a {job.kind} hub",
            *steps,
            hint="regenerate the plan from this repository (`hubfleet plan --output json`)",
        )
    return entry.name


def check_kind(hub: Hub, kind: str, where: str, file: JsonFile, *steps: Step) -> None:
    """A plan's or report's job kind must be the fleet's own: a production hub listed
    as a staging job would be deployed as a canary, before the gate and unchecked."""
    if hub.kind != kind:
        raise file.error(
            f"{where}: hub {hub.label} is a {hub.kind} hub in this fleet, not a {kind} one",
            *steps,
            hint="regenerate the plan from this repository (`hubfleet plan --output json`)",
        )


def from_plan(
    fleet: Fleet,
    path: Path,
    cluster: str | None = None,
    *,
    redactor: Redactor | None = None,
    broken: Collection[str] = (),
) -> Targets:
    """A plan file (DESIGN.md section 3); `cluster` keeps only that cluster's jobs.
    The jobs of a cluster this checkout finds `broken` (docs/isolation.md) are left out,
    the caller reports that cluster with its errors; unless the plan itself names the
    cluster broken: a job for it was added by hand, and is refused at its line.

    Each job must be the fleet's (cluster, hub, kind), and one the fleet gives for
    what the plan records it was made from (`hubfleet.plan.replan`): a job added by
    hand is refused at its line. A plan without that record is refused."""
    file = read_json(path, "plan")
    plan = plan_from_file(file)
    if cluster is not None:
        fleet.cluster(cluster)  # unknown name: did-you-mean error
    skipped = set(broken) - {b.name for b in plan.broken}
    checked = [
        (key, index, _checked(fleet, listed, file, key, index))
        for key, _ in JOB_LISTS
        for index, listed in enumerate(getattr(plan, key))
        if listed.cluster not in skipped
    ]
    _check_planned(fleet, plan, file, checked, redactor or Redactor())
    community = plan.community_hubs
    jobs: dict[tuple[str, str | None], Job] = {}
    for _key, _index, job in checked:
        if community is not None:
            if (job.cluster, job.hub) not in community:
                continue
            job = dataclasses.replace(job, rollback_on_failed_check=True)
        if cluster is None or job.cluster == cluster:
            jobs.setdefault((job.cluster, job.hub), job)
    return Targets(tuple(sorted(jobs.values(), key=lambda j: j.sort_key)), broken=plan.broken)


def _check_planned(
    fleet: Fleet,
    plan: Plan,
    file: JsonFile,
    checked: list[tuple[str, int, Job]],
    redactor: Redactor,
) -> None:
    """Refuse any job the fleet would not give for the plan's recorded changes."""
    if plan.planned is None:
        raise file.error(
            "the plan does not record what it was made from (planned): made by hand or by "
            "an older hubfleet, it cannot be checked against the fleet",
            hint="make it again with `hubfleet plan --output json`; to deploy chosen hubs by "
            "hand, name them: `hubfleet deploy CLUSTER [HUB ...]`",
        )
    if not checked:
        return
    allowed = deployable(replan(fleet, plan.planned, file, redactor))
    for key, index, job in checked:
        if allowed.get((job.cluster, job.hub)) != job.kind:
            raise file.error(
                f"{key}[{index}]: the fleet at this commit gives no {job.kind} job for "
                f"{job.label} from the changes this plan records",
                key,
                index,
                hint="a plan's jobs may be removed (a retry of a subset), never added: "
                "make the plan again with `hubfleet plan`",
            )


def from_report(fleet: Fleet, path: Path) -> Targets:
    """`--retry-failed REPORT`: exactly the failed, skipped and cancelled jobs run again."""
    file = read_json(path, "report")
    report = report_from_file(file)
    jobs: list[Job] = []
    carried: list[JobRecord] = []
    for index, record in enumerate(report.records):
        job = _checked(fleet, record.job, file, "jobs", index)
        if record.status in RETRY:
            jobs.append(job)
        else:
            carried.append(
                JobRecord(job, status="unchanged", message=f"{record.status} in {path.name}")
            )
    return Targets(tuple(sorted(jobs, key=lambda j: j.sort_key)), tuple(carried))
