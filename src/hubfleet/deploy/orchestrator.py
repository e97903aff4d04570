"""The orchestrator: one pipeline per cluster, canary gating, bounded concurrency, cancel.

Per cluster: credentials once, the uninstalls of decommissioned hubs (in parallel,
independent of the rest: one that fails skips nothing; docs/decommission.md), the
support release, the staging hubs in
parallel, the canary gate (`deploy/canary.py`: a health check of each staging hub
where one exists, else the deploy's own result), then the production hubs in
parallel. Releases reach their cluster through the release backend of its
provider's target kind (`deploy/backend.py`, looked up in `deploy/kinds.py`); every
backend of a deploy shares its one values pipeline (`ReleaseValues`) and chart
resolver. Clusters run in parallel (at most `cluster_concurrency` at once) and
never wait for each other: there is no global barrier. At most `concurrency`
helm processes run at once in the whole deploy, each on a thread of one job pool
of that size: a job's slots are taken before it gets a thread, so the deploy's
threads are bounded by `concurrency` and `cluster_concurrency`, not by its jobs.

With a rollout (`rollout`, deploy/waves.py) the jobs run wave by wave, each wave as
above; a held hub (`hold:`) is never deployed, waves or not.

A support or canary failure skips that cluster's later jobs; other clusters are
not touched. `fail_fast` stops starting new work anywhere after the first
failure. Setting `cancel` (SIGINT/SIGTERM in the CLI) starts nothing new, stops
running helm processes (SIGTERM, then SIGKILL after the grace period, by the
runner), and marks unfinished jobs cancelled.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from hubfleet.base.errors import HubfleetError
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import Cancelled, tail
from hubfleet.config.fleet import Cluster, Fleet
from hubfleet.config.providers import Target, target_of
from hubfleet.deploy.backend import (
    BackendFactory,
    ClusterRun,
    ReleaseBackend,
    ReleaseOutcome,
    Session,
    decommission_of,
)
from hubfleet.deploy.canary import Gate, gate_off
from hubfleet.deploy.kinds import BACKENDS
from hubfleet.deploy.model import JobRecord, Report, now_iso, sorted_records
from hubfleet.deploy.records import Observer, Records
from hubfleet.deploy.waves import (
    RolloutOutcome,
    SoakWait,
    WaveNote,
    held_jobs,
    no_soak,
    run_waves,
    soak_wait,
)
from hubfleet.health.gate import HealthCheck
from hubfleet.helm.charts import ChartResolver
from hubfleet.helm.cli import DEFAULT_HELM_TIMEOUT
from hubfleet.plan.job import Job
from hubfleet.plan.waves import Rollout
from hubfleet.providers import ProviderContext, get_provider
from hubfleet.release.pipeline import Release, hub_release, support_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.sops import Sops

DEFAULT_CONCURRENCY = 8
DEFAULT_CLUSTER_CONCURRENCY = 8
_POLL_S = 0.1


@dataclass(frozen=True)
class DeployOptions:
    dry_run: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    cluster_concurrency: int = DEFAULT_CLUSTER_CONCURRENCY
    fail_fast: bool = False
    helm_timeout: str = DEFAULT_HELM_TIMEOUT
    health_check: bool = True
    recover: bool = False
    # Variables for every process (tests: PATH with the fake tools).
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "concurrency": self.concurrency,
            "cluster_concurrency": self.cluster_concurrency,
            "fail_fast": self.fail_fast,
            "helm_timeout": self.helm_timeout,
            "health_check": self.health_check,
            "recover": self.recover,
        }


class _Stop(Exception):
    """Internal: the job was not started (cancelled or fail-fast)."""


class Deployer:
    def __init__(
        self,
        fleet: Fleet,
        jobs: Sequence[Job],
        *,
        sops: Sops,
        redactor: Redactor,
        options: DeployOptions = DeployOptions(),
        health_checks: Mapping[str, HealthCheck] | None = None,
        observer: Observer | None = None,
        cancel: threading.Event | None = None,
        carried: Iterable[JobRecord] = (),
        backends: Mapping[Target, BackendFactory] = BACKENDS,
        values: ReleaseValues | None = None,
        releases: Mapping[Job, Release | None] | None = None,
        rollout: Rollout | None = None,
        soak_wait: SoakWait = soak_wait,
        wave_note: WaveNote | None = None,
    ) -> None:
        self.fleet = fleet
        # Wave by wave when set (`hubfleet.plan.waves`, deploy/waves.py).
        self.rollout = rollout
        self.soak_wait = soak_wait
        self.wave_note = wave_note
        self.rollout_outcome: RolloutOutcome | None = None
        self.jobs = tuple(jobs)
        self.sops = sops
        self.redactor = redactor
        self.options = options
        self.cancel = cancel or threading.Event()
        self.carried = tuple(carried)
        self.records = Records(
            self.jobs,
            redactor=redactor,
            observer=observer,
            cancel=self.cancel,
            fail_fast=options.fail_fast,
        )
        self._helm_slots = threading.BoundedSemaphore(max(1, options.concurrency))
        # The deploy's one values pipeline: each values file read (and decrypted) once,
        # however many releases list it; charts resolved (pulled, built) once. `values`
        # and `releases`: built once by the caller for its checks (deploy/run.py).
        self.values = (
            values
            if values is not None
            else ReleaseValues(fleet, sops=sops, charts=ChartResolver(root=fleet.root))
        )
        self._built = dict(releases or {})
        self.gate = Gate(
            fleet,
            self.records,
            checks=dict(health_checks or {}),
            values=self.values,
            redactor=redactor,
            cancel=self.cancel,
            off=gate_off(dry_run=options.dry_run, health_check=options.health_check),
            extra_env=options.extra_env,
        )
        self._factories = backends
        self._backends: dict[Target, ReleaseBackend] = {}
        self._job_pool: ThreadPoolExecutor  # set by `run`: at most `concurrency` threads

    def record(self, job: Job) -> JobRecord:
        return self.records.get(job)

    def run(self) -> Report:
        """Run every job; returns the report (also when cancelled)."""
        health_mode = self.gate.mode(self.jobs)
        session = Session(
            fleet=self.fleet,
            values=self.values,
            redactor=self.redactor,
            cancel=self.cancel,
            dry_run=self.options.dry_run,
            recover=self.options.recover,
            helm_timeout=self.options.helm_timeout,
            extra_env=self.options.extra_env,
        )
        for kind in sorted({target_of(job.provider) for job in self.jobs}):
            self._backends[kind] = self._factories[kind](session)  # helm: its version, once
        versions = [b.helm_version for b in self._backends.values() if b.helm_version]
        held = held_jobs(self.jobs, self._hold)
        for job in held:
            self.records.set(job, status="skipped", message=f"held: {self._hold(job)}")
        jobs = [job for job in self.jobs if job not in held]
        clusters = len({job.cluster for job in jobs}) or 1
        workers = max(1, min(self.options.cluster_concurrency, clusters))
        job_workers = max(1, min(self.options.concurrency, len(jobs) or 1))
        rollout: RolloutOutcome | None = None
        with (
            ThreadPoolExecutor(max_workers=job_workers, thread_name_prefix="job") as job_pool,
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cluster") as pool,
        ):
            self._job_pool = job_pool
            if self.rollout is None:
                self._run_clusters(pool, jobs)
            else:  # wave by wave (deploy/waves.py)
                rollout = run_waves(
                    self.rollout,
                    jobs,
                    self.records,
                    self.cancel,
                    lambda wave_jobs: self._run_clusters(pool, wave_jobs),
                    wait=no_soak if self.options.dry_run else self.soak_wait,
                    note=self.wave_note,
                )
        self.rollout_outcome = rollout
        records, failures = self.records.all()
        return Report(
            records=sorted_records([*records, *self.carried]),
            cluster_failures=failures,
            dry_run=self.options.dry_run,
            interrupted=self.cancel.is_set(),
            helm_version=versions[0] if versions else None,
            health_check=health_mode,
            options=self.options.to_json(),
            rollout=rollout.to_json() if rollout is not None else None,
        )

    def _hold(self, job: Job) -> str | None:
        """Why the job's hub is held back (`hold:` in cluster.yaml); None: it is not."""
        if job.hub is None:
            return None
        cluster = next((c for c in self.fleet.clusters if c.name == job.cluster), None)
        hub = next((h for h in cluster.hubs if h.name == job.hub), None) if cluster else None
        return hub.hold if hub is not None else None

    def _run_clusters(self, pool: ThreadPoolExecutor, jobs: Sequence[Job]) -> None:
        """One pipeline per cluster of `jobs`, all at once (at most the pool's size)."""
        by_cluster: dict[str, list[Job]] = {}
        for job in sorted(jobs, key=lambda j: j.sort_key):
            by_cluster.setdefault(job.cluster, []).append(job)
        futures: list[Future[None]] = [
            pool.submit(self._cluster_pipeline, name, cluster_jobs)
            for name, cluster_jobs in by_cluster.items()
        ]
        pending = set(futures)
        while pending:  # short waits: the main thread stays responsive to signals
            _done, pending = wait(pending, timeout=_POLL_S)
        for future in futures:
            future.result()

    def _cluster_pipeline(self, name: str, jobs: list[Job]) -> None:
        try:
            self._cluster_pipeline_inner(name, jobs)
        except BaseException as exc:  # never lose a cluster's jobs to an unexpected error
            message = self.redactor.scrub(f"internal error: {exc!r}")
            self.records.cluster_failed(name, message)
            self.records.finish_unstarted(jobs, "failed", message)
            raise

    def _cluster_pipeline_inner(self, name: str, jobs: list[Job]) -> None:
        records = self.records
        if records.stopping():
            records.not_started(jobs)
            return
        cluster = self.fleet.cluster(name)
        provider = get_provider(cluster.provider)
        context = ProviderContext(
            fleet=self.fleet,
            cluster=cluster,
            sops=self.sops,
            redactor=self.redactor,
            cancel=self.cancel,
            extra_env=self.options.extra_env,
        )
        support = [j for j in jobs if j.kind == "support"]
        staging = [j for j in jobs if j.kind == "staging"]
        prod = [j for j in jobs if j.kind == "prod"]
        uninstall = [j for j in jobs if j.kind == "uninstall"]
        kind = self._backends[target_of(cluster.provider)]
        step = "credentials"
        try:
            with provider.credentials(context) as creds:
                step = kind.listing
                releases = self._releases(cluster, (j for j in jobs if j.kind != "uninstall"))
                self._acquire_slot(self._helm_slots)  # its states: one `helm list`
                try:
                    backend = kind.for_cluster(context, creds, list(releases.values()))
                finally:
                    self._helm_slots.release()
                parallelism = self._parallelism(cluster)
                run = ClusterRun(context, kind, backend, creds, releases, parallelism)
                slots = threading.BoundedSemaphore(parallelism)
                self._stage(run, slots, uninstall)  # independent: a failure skips nothing
                if not self._stage(run, slots, support):
                    records.skip(staging + prod, f"support release of {name} failed")
                    return
                if not self._stage(run, slots, staging):
                    failed = records.failed_hubs(staging)
                    why = f"canary {failed} of {name} failed"
                    records.skip(prod, why if failed else f"canaries of {name} did not finish")
                    return
                if not self.gate.canaries(run, staging):
                    records.skip(prod, f"health check of {records.failed_hubs(staging)} failed")
                    return
                self._stage(run, slots, prod)
                self.gate.production(run, prod)
        except (Cancelled, _Stop):
            records.not_started(jobs)
        except HubfleetError as exc:
            if self.cancel.is_set():
                records.not_started(jobs)
                return
            message = f"{step} for cluster {name} failed: {exc}"
            records.cluster_failed(name, message)
            records.note_failure(f"{name} ({step})")
            records.skip(jobs, message)

    def _releases(self, cluster: Cluster, jobs: Iterable[Job]) -> dict[Job, Release]:
        """The jobs' releases (those the caller built, else built here); a job whose
        release cannot be built is left out here and fails on its own, with its reason."""
        releases = {}
        for job in jobs:
            built = self._built.get(job)
            if built is not None:
                releases[job] = built
                continue
            with contextlib.suppress(HubfleetError):
                releases[job] = self._release(cluster, job)
        return releases

    def _release(self, cluster: Cluster, job: Job) -> Release:
        if job.hub is None:
            release = support_release(self.fleet, cluster)
            if release is None:
                raise HubfleetError(f"cluster {cluster.name} has no support release")
            return release
        return hub_release(self.fleet, cluster.hub(job.hub))

    def _parallelism(self, cluster: Cluster) -> int:
        """Upgrades at once on the cluster: its cluster.yaml's, else hubfleet.yaml's."""
        block = cluster.spec.deploy
        if block is not None and block.parallelism is not None:
            return block.parallelism
        return self.fleet.settings.deploy.cluster_parallelism

    def _stage(self, run: ClusterRun, slots: threading.BoundedSemaphore, jobs: list[Job]) -> bool:
        """Run the jobs of one stage in parallel; True when every one succeeded.

        Each job's slots (its cluster's, then the deploy's) are taken here, before it is
        handed to the deploy's job pool: a job holds a thread only while it runs, so a
        deploy's threads are bounded by its concurrency settings, not by its jobs."""
        started: list[Future[None]] = []
        try:
            for job in jobs:
                if self._take_slots(slots, job):
                    try:
                        started.append(self._job_pool.submit(self._job, run, slots, job))
                    except BaseException:
                        self._helm_slots.release()
                        slots.release()
                        raise
        finally:
            wait(started)  # never leave a stage with its jobs still running
        for future in started:
            future.result()
        return all(self.records.get(job).status in ("succeeded", "unchanged") for job in jobs)

    def _take_slots(self, slots: threading.BoundedSemaphore, job: Job) -> bool:
        """One of the cluster's slots, then one of the deploy's (so no fleet slot idles);
        False, with the job marked not started, when the deploy is stopping."""
        try:
            self._acquire_slot(slots)
        except _Stop:
            self.records.not_started([job])
            return False
        try:
            self._acquire_slot(self._helm_slots)
        except _Stop:
            slots.release()
            self.records.not_started([job])
            return False
        return True

    def _acquire_slot(self, slots: threading.BoundedSemaphore) -> None:
        while not slots.acquire(timeout=_POLL_S):
            if self.records.stopping():
                raise _Stop
        if self.records.stopping():
            slots.release()
            raise _Stop

    def _job(self, run: ClusterRun, slots: threading.BoundedSemaphore, job: Job) -> None:
        """One job, holding one of its cluster's slots and one of the deploy's (taken by
        `_stage`, released here)."""
        try:
            self._deploy(run, job)
        finally:
            self._helm_slots.release()
            slots.release()

    def _deploy(self, run: ClusterRun, job: Job) -> None:
        records = self.records
        started = time.monotonic()
        try:
            records.set(job, status="running", started=now_iso())

            def progress(done: ReleaseOutcome) -> None:
                self._progress(job, done)

            if job.kind == "uninstall":
                target = decommission_of(run.context.cluster, job)
                outcome = run.backend.uninstall(target, progress)
            else:
                release = run.releases.get(job) or self._release(run.context.cluster, job)
                outcome = run.backend.deploy(release, progress)
            took = time.monotonic() - started
            if outcome.status == "failed":
                records.failed(job, **self._outcome(outcome), duration_s=took)
            else:
                records.set(job, status=outcome.status, **self._outcome(outcome), duration_s=took)
        except Cancelled:
            upgraded = records.get(job).helm_revision is not None or bool(records.get(job).command)
            records.set(
                job,
                status="cancelled",
                message=(
                    "stopped watching the rollout (interrupt): the release is left as helm "
                    "left it, not rolled back"
                    if upgraded and not self.options.dry_run
                    else "stopped by an interrupt"
                ),
                duration_s=time.monotonic() - started,
            )
        except HubfleetError as exc:
            output = tail(getattr(exc, "stderr", "") or getattr(exc, "stdout", "") or "")
            records.failed(job, str(exc), output_tail=output, duration_s=time.monotonic() - started)
        except Exception as exc:
            records.failed(job, f"internal error: {exc!r}", duration_s=time.monotonic() - started)

    def _outcome(self, outcome: ReleaseOutcome) -> dict[str, Any]:
        """The record's fields from a backend's outcome (status aside)."""
        return {
            "message": outcome.message,
            "helm_revision": outcome.revision,
            "output_tail": self.redactor.scrub(outcome.output_tail),
            "command": outcome.command,
            "rolled_back": outcome.rolled_back,
        }

    def _progress(self, job: Job, done: ReleaseOutcome) -> None:
        """What a running release's backend has done so far (the job stays running)."""
        self.records.set(job, **self._outcome(done))
