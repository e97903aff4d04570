"""Which jobs to run: from CLI targets, a plan file, or the failures of an earlier report.

The plan and the report are read by their one reader each (`hubfleet.plan.plan`,
`hubfleet.deploy.model`); here their jobs are only checked against the fleet."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from hubfleet.base.errors import ConfigError, DeployError
from hubfleet.base.redact import Redactor
from hubfleet.config.decommission import describe
from hubfleet.config.fleet import BrokenCluster, Cluster, Fleet, Hub
from hubfleet.deploy.model import RETRY, JobRecord, report_from_file
from hubfleet.deploy.reconcile import make_live_plan
from hubfleet.plan.job import Job, JsonFile, Step, read_json
from hubfleet.plan.live import LIVE, is_held
from hubfleet.plan.plan import Plan, plan_from_file
from hubfleet.plan.replan import deployable, replan
from hubfleet.plan.schema import JOB_LISTS
from hubfleet.plan.waves import Rollout, assign


@dataclass(frozen=True)
class Targets:
    jobs: tuple[Job, ...]
    # Jobs of a --retry-failed report that are not run again, recorded as unchanged.
    carried: tuple[JobRecord, ...] = ()
    # The clusters a plan names as broken (docs/isolation.md): not deployed.
    broken: tuple[BrokenCluster, ...] = ()
    # Rolled out in waves (`hubfleet.plan.waves`): each job names its wave. None: not.
    rollout: Rollout | None = None
    # The commit the plan was made from (a rollout's state records it: a resume plans
    # again from there, docs/deploy.md "After a halt"). None: not from a plan.
    base: str | None = None

    def only_wave(self, wave: str) -> Targets:
        """`deploy --plan --wave NAME|N` (CI runs one wave per call, N counts from 1):
        that wave's jobs, run as one deploy (CI chains the waves and their soak)."""
        names = [w.name for w in self.rollout.waves] if self.rollout is not None else []
        name = wave
        if wave.isdigit() and 1 <= int(wave) <= len(names):
            name = names[int(wave) - 1]
        if name not in names:
            raise ConfigError(
                f"the plan has no wave {wave!r}", hint=f"its waves: {', '.join(names) or 'none'}"
            )
        # a job in no wave (a decommissioned hub's uninstall) goes with the first
        jobs = tuple(job for job in self.jobs if (job.wave or names[0]) == name)
        return dataclasses.replace(self, jobs=jobs, rollout=None)


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
    waved, rollout = assign(fleet, sorted(jobs, key=lambda j: j.sort_key))
    # A decommissioned hub's uninstall is in no wave (it is no longer in cluster.yaml).
    uninstall = [
        Job(cluster.name, e.name, "uninstall", cluster.provider, (reason, describe(e)))
        for e in gone
    ]
    return Targets(tuple(sorted([*waved, *uninstall], key=lambda j: j.sort_key)), rollout=rollout)


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
    retry: bool = False,
) -> Targets:
    """A plan file (DESIGN.md section 3); `cluster` keeps only that cluster's jobs.
    The jobs of a cluster this checkout finds `broken` (docs/isolation.md) are left out,
    the caller reports that cluster with its errors; unless the plan itself names the
    cluster broken: a job for it was added by hand, and is refused at its line.

    Each job must be the fleet's (cluster, hub, kind), and one the fleet gives for
    what the plan records it was made from (`hubfleet.plan.replan`): a job added by
    hand is refused at its line. A plan without that record is refused. A live plan's
    job (`plan --live`, version 3) is checked by reading its cluster again: it deploys
    while its release still differs from git (`_live_check`). The hubs such a plan
    holds after a rollback are reported skipped, or, with `retry`, deploy."""
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
    if retry:  # the held (rolled-back) hubs of a live plan deploy too: a person asks
        checked += _retried(fleet, plan, file, cluster)
    in_sync = _check_planned(fleet, plan, file, checked, redactor or Redactor(), cluster, retry)
    community = plan.community_hubs
    jobs: dict[tuple[str, str | None], Job] = {}
    for _key, _index, job in checked:
        if (job.cluster, job.hub) in in_sync:
            continue
        if community is not None:
            if (job.cluster, job.hub) not in community:
                continue
            job = dataclasses.replace(job, rollback_on_failed_check=True)
        if cluster is None or job.cluster == cluster:
            jobs.setdefault((job.cluster, job.hub), job)
    carried = [
        *(record for key, record in in_sync.items() if key not in jobs),
        *(() if retry else held_records(plan, cluster)),
    ]
    return Targets(
        tuple(sorted(jobs.values(), key=lambda j: j.sort_key)),
        carried=tuple(sorted(carried, key=lambda r: r.job.sort_key)),
        broken=plan.broken,
        rollout=plan.rollout,
        base=plan.planned.base if plan.planned is not None else None,
    )


def held_records(plan: Plan, cluster: str | None) -> list[JobRecord]:
    """The hubs a live plan holds (rolled back with the inputs git still holds: docs/
    status.md, "Rollbacks"), as skipped records saying why, for the report."""
    return [
        JobRecord(job, status="skipped", message=job.choice_reason.removeprefix(LIVE))
        for job in plan.skipped
        if is_held(job) and (cluster is None or job.cluster == cluster)
    ]


def _retried(
    fleet: Fleet, plan: Plan, file: JsonFile, cluster: str | None
) -> list[tuple[str, int, Job]]:
    """`deploy --plan --retry`: the plan's held hubs as jobs (each the fleet's)."""
    if plan.live is None:
        raise file.error(
            "--retry needs a plan made with `hubfleet plan --live`: it retries the hubs "
            "such a plan holds after a rollback",
            hint="hubfleet plan --live --output json > plan.json",
        )
    found = []
    for index, job in enumerate(plan.skipped):
        if is_held(job) and (cluster is None or job.cluster == cluster):
            reasons = (f"{LIVE}retried after a rollback (--retry)",)
            retried = dataclasses.replace(job, reasons=reasons)
            found.append(("skipped", index, _checked(fleet, retried, file, "skipped", index)))
    return found


def _check_planned(
    fleet: Fleet,
    plan: Plan,
    file: JsonFile,
    checked: list[tuple[str, int, Job]],
    redactor: Redactor,
    only: str | None = None,
    retry: bool = False,
) -> dict[tuple[str, str | None], JobRecord]:
    """Refuse any job the fleet would not give for the plan's recorded changes, or (a
    live plan, version 3) that its cluster's live state does not give when read again
    now. Returns the live jobs whose release is in sync by now (not deployed)."""
    if plan.planned is None:
        raise file.error(
            "the plan does not record what it was made from (planned): made by hand or by "
            "an older hubfleet, it cannot be checked against the fleet",
            hint="make it again with `hubfleet plan --output json`; to deploy chosen hubs by "
            "hand, name them: `hubfleet deploy CLUSTER [HUB ...]`",
        )
    if not checked:
        return {}
    again = replan(fleet, plan.planned, file, redactor)
    if again.rollout != plan.rollout:  # its waves, their soak and threshold: the fleet's
        raise file.error(
            "the plan's rollout (its waves, their soak and max_failures) is not the one the "
            "fleet at this commit gives for the changes it records",
            "rollout",
            hint="make the plan again with `hubfleet plan` (rollout: in hubfleet.yaml)",
        )
    allowed = deployable(again)
    waves = {(j.cluster, j.hub): j.wave for key, _ in JOB_LISTS for j in getattr(again, key)}
    unconfirmed = [item for item in checked if allowed.get((item[2].cluster, item[2].hub)) is None]
    in_sync: dict[tuple[str, str | None], JobRecord] = {}
    if plan.live is not None and unconfirmed:
        allowed, in_sync = _live_check(fleet, plan, unconfirmed, allowed, redactor, only, retry)
    live_scope = set(plan.live.clusters) if plan.live is not None else set()
    for key, index, job in checked:
        if (job.cluster, job.hub) in in_sync:
            continue
        if only is not None and job.cluster != only and job.cluster in live_scope:
            continue  # another cluster's live job: not read, not deployed here
        if waves.get((job.cluster, job.hub)) != job.wave:
            raise file.error(
                f"{key}[{index}]: {job.label} is in wave {job.wave!r}, the fleet at this "
                f"commit puts it in {waves.get((job.cluster, job.hub))!r}",
                key,
                index,
                hint="make the plan again with `hubfleet plan` (rollout: in hubfleet.yaml)",
            )
        if allowed.get((job.cluster, job.hub)) != job.kind:
            raise file.error(
                f"{key}[{index}]: the fleet at this commit gives no {job.kind} job for "
                f"{job.label} from the changes this plan records",
                key,
                index,
                hint="a plan's jobs may be removed (a retry of a subset), never added: "
                "make the plan again with `hubfleet plan`",
            )
    return in_sync


def _live_check(
    fleet: Fleet,
    plan: Plan,
    unconfirmed: list[tuple[str, int, Job]],
    allowed: dict[tuple[str, str | None], str],
    redactor: Redactor,
    only: str | None,
    retry: bool,
) -> tuple[dict[tuple[str, str | None], str], dict[tuple[str, str | None], JobRecord]]:
    """The live jobs of a plan, checked again: the clusters they name are read now (their
    credentials: this deploy's), and a job deploys while its release still differs from
    git; one in sync by now is recorded unchanged. A job for a cluster the plan did not
    read stays refused."""
    assert plan.live is not None
    scope = set(plan.live.clusters)
    names = sorted({job.cluster for _, _, job in unconfirmed if job.cluster in scope})
    if only is not None:
        names = [name for name in names if name == only]
    if not names:
        return allowed, {}
    live = make_live_plan(fleet, names, redactor=redactor, retry=retry or plan.live.retry)
    if live.scope.unreachable:
        gone = live.scope.unreachable[0]
        raise DeployError(
            f"cluster {gone.cluster}: cannot read its live state to check the plan's live "
            f"jobs: {gone.message}",
            hint="its changes deploy with a plan made without --live",
        )
    allowed = {**allowed, **{(job.cluster, job.hub): job.kind for job in live.jobs}}
    in_sync = {
        (job.cluster, job.hub): JobRecord(
            job, status="unchanged", message="in sync with git when the deploy read the cluster"
        )
        for _, _, job in unconfirmed
        if job.cluster in names and (job.cluster, job.hub) not in allowed
    }
    return allowed, in_sync


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
