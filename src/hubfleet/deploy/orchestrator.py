"""The orchestrator: one pipeline per cluster, canary gating, bounded concurrency, cancel.

Per cluster: credentials once, the support release, the staging hubs in
parallel, the canary gate (a health check of each staging hub where one exists,
else the deploy's own result), then the production hubs in parallel. Releases
reach their cluster through the release backend of its provider's target kind
(`deploy/backend.py`, looked up in `deploy/kinds.py`); every backend of a deploy
shares its one values pipeline (`ReleaseValues`) and chart resolver. Clusters run in
parallel (at most `cluster_concurrency` at once) and never wait for each other:
there is no global barrier. At most `concurrency` helm processes run at once in
the whole deploy.

A support or canary failure skips that cluster's later jobs; other clusters are
not touched. `fail_fast` stops starting new work anywhere after the first
failure. Setting `cancel` (SIGINT/SIGTERM in the CLI) starts nothing new, stops
running helm processes (SIGTERM, then SIGKILL after the grace period, by the
runner), and marks unfinished jobs cancelled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    ClusterBackend,
    ReleaseBackend,
    ReleaseOutcome,
    Session,
    joined,
)
from hubfleet.deploy.kinds import BACKENDS
from hubfleet.deploy.model import (
    FINAL,
    ClusterFailure,
    Job,
    JobRecord,
    Report,
    now_iso,
    sorted_records,
)
from hubfleet.health.gate import (
    GATE_HEALTH,
    GATE_HELM,
    GATE_NONE,
    HealthCheck,
    HealthRequest,
    HealthResult,
    switched_off,
)
from hubfleet.helm.charts import ChartResolver
from hubfleet.helm.cli import DEFAULT_HELM_TIMEOUT
from hubfleet.providers import Credentials, ProviderContext, get_provider
from hubfleet.release.pipeline import Release, hub_release, support_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.sops import Sops

DEFAULT_CONCURRENCY = 8
DEFAULT_CLUSTER_CONCURRENCY = 8
DEFAULT_CLUSTER_PARALLELISM = 8
_POLL_S = 0.1

Observer = Callable[[JobRecord], None]


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


@dataclass(frozen=True)
class _ClusterRun:
    """What every job of one cluster's pipeline shares: credentials, the releases
    (built once), its kind's backend and the cluster's (with the releases' states)."""

    context: ProviderContext
    kind: ReleaseBackend
    backend: ClusterBackend
    creds: Credentials
    releases: Mapping[Job, Release]
    # At most `parallelism` upgrades (with their rollout watch) at once on this cluster.
    slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(DEFAULT_CLUSTER_PARALLELISM)
    )


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
    ) -> None:
        self.fleet = fleet
        self.jobs = tuple(jobs)
        self.sops = sops
        self.redactor = redactor
        self.options = options
        self.health_checks = dict(health_checks or {})
        self.observer = observer
        self.cancel = cancel or threading.Event()
        self.carried = tuple(carried)
        self.stop_new = threading.Event()  # fail-fast
        self.first_failure: str | None = None
        self._lock = threading.Lock()
        self._records: dict[Job, JobRecord] = {job: JobRecord(job) for job in self.jobs}
        self._cluster_failures: list[ClusterFailure] = []
        self._helm_slots = threading.BoundedSemaphore(max(1, options.concurrency))
        # The deploy's one values pipeline: each values file read (and decrypted) once,
        # however many releases list it; charts resolved (pulled, built) once.
        self.values = ReleaseValues(fleet, sops=sops, charts=ChartResolver(root=fleet.root))
        self._factories = backends
        self._backends: dict[Target, ReleaseBackend] = {}

    # --- records ---------------------------------------------------------------

    def _set(self, job: Job, **changes: Any) -> JobRecord:
        if "message" in changes:
            changes["message"] = self.redactor.scrub(changes["message"])
        with self._lock:
            record = self._records[job].with_(**changes)
            self._records[job] = record
        if self.observer is not None:
            self.observer(record)
        return record

    def record(self, job: Job) -> JobRecord:
        with self._lock:
            return self._records[job]

    def _finish_unstarted(self, jobs: Iterable[Job], status: str, message: str) -> None:
        for job in jobs:
            if self.record(job).status not in FINAL:
                self._set(job, status=status, message=message)

    def _not_started(self, jobs: Iterable[Job]) -> None:
        if self.cancel.is_set():
            self._finish_unstarted(jobs, "cancelled", "cancelled before it started")
        else:
            self._finish_unstarted(
                jobs, "skipped", f"not started: --fail-fast after {self.first_failure} failed"
            )

    def _note_failure(self, label: str) -> None:
        """Remember the first failure (for --fail-fast's messages); stop new work with it."""
        with self._lock:
            if self.first_failure is None:
                self.first_failure = label
        if self.options.fail_fast:
            self.stop_new.set()

    def _failed(self, job: Job, message: str, **changes: Any) -> None:
        self._set(job, status="failed", message=message, **changes)
        self._note_failure(job.label)

    def _stopping(self) -> bool:
        return self.cancel.is_set() or self.stop_new.is_set()

    # --- the run ---------------------------------------------------------------

    def run(self) -> Report:
        """Run every job; returns the report (also when cancelled)."""
        health_mode = self._health_mode()
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
        helm_version = versions[0] if versions else None
        by_cluster: dict[str, list[Job]] = {}
        for job in sorted(self.jobs, key=lambda j: j.sort_key):
            by_cluster.setdefault(job.cluster, []).append(job)
        workers = max(1, min(self.options.cluster_concurrency, len(by_cluster) or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cluster") as pool:
            futures: list[Future[None]] = [
                pool.submit(self._cluster_pipeline, name, jobs) for name, jobs in by_cluster.items()
            ]
            pending = set(futures)
            while pending:  # short waits: the main thread stays responsive to signals
                _done, pending = wait(pending, timeout=_POLL_S)
            for future in futures:
                future.result()
        with self._lock:
            records = [*self._records.values(), *self.carried]
            failures = tuple(sorted(self._cluster_failures, key=lambda f: f.cluster))
        return Report(
            records=sorted_records(records),
            cluster_failures=failures,
            dry_run=self.options.dry_run,
            interrupted=self.cancel.is_set(),
            helm_version=helm_version,
            health_check=health_mode,
            options=self.options.to_json(),
        )

    def _backend(self, provider: str) -> ReleaseBackend:
        """The release backend of the provider's target kind."""
        return self._backends[target_of(provider)]

    def _gate_off(self) -> str | None:
        """Why no canary is gated at all (dry run, --no-health-check); None when they are."""
        if self.options.dry_run:
            return f"{GATE_NONE}: dry run"
        if not self.options.health_check:
            return f"{GATE_NONE}: --no-health-check"
        return None

    def _health_mode(self) -> str:
        off = self._gate_off()
        if off is not None:
            return off
        providers = sorted({job.provider for job in self.jobs if job.kind == "staging"})
        parts = [
            f"{p}: {'health check' if p in self.health_checks else 'helm result'}"
            for p in providers
        ]
        return ", ".join(parts) or "no canaries"

    def _cluster_pipeline(self, name: str, jobs: list[Job]) -> None:
        try:
            self._cluster_pipeline_inner(name, jobs)
        except BaseException as exc:  # never lose a cluster's jobs to an unexpected error
            message = self.redactor.scrub(f"internal error: {exc!r}")
            with self._lock:
                self._cluster_failures.append(ClusterFailure(name, message))
            self._finish_unstarted(jobs, "failed", message)
            raise

    def _cluster_pipeline_inner(self, name: str, jobs: list[Job]) -> None:
        if self._stopping():
            self._not_started(jobs)
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
        kind = self._backend(cluster.provider)
        step = "credentials"
        try:
            with provider.credentials(context) as creds:
                step = kind.listing
                releases = self._releases(cluster, jobs)
                backend = self._for_cluster(kind, context, creds, list(releases.values()))
                slots = threading.BoundedSemaphore(self._parallelism(cluster))
                run = _ClusterRun(context, kind, backend, creds, releases, slots)
                if not self._stage(run, support):
                    self._skip(staging + prod, f"support release of {name} failed")
                    return
                if not self._stage(run, staging):
                    failed = self._failed_hubs(staging)
                    why = f"canary {failed} of {name} failed"
                    self._skip(prod, why if failed else f"canaries of {name} did not finish")
                    return
                if not self._gate(run, staging):
                    self._roll_back_failed(run, staging)
                    self._skip(prod, f"health check of {self._failed_hubs(staging)} failed")
                    return
                self._stage(run, prod)
                self._check_after_upgrade(run, prod)
        except (Cancelled, _Stop):
            self._not_started(jobs)
        except HubfleetError as exc:
            if self.cancel.is_set():
                self._not_started(jobs)
                return
            message = f"{step} for cluster {name} failed: {exc}"
            with self._lock:
                self._cluster_failures.append(ClusterFailure(name, self.redactor.scrub(message)))
            self._note_failure(f"{name} ({step})")
            self._skip(jobs, message)

    def _failed_hubs(self, staging: list[Job]) -> str:
        return ", ".join(str(j.hub) for j in staging if self.record(j).status == "failed")

    def _skip(self, jobs: Iterable[Job], why: str) -> None:
        if self.cancel.is_set():
            self._not_started(jobs)
        else:
            self._finish_unstarted(jobs, "skipped", why)

    def _releases(self, cluster: Cluster, jobs: Iterable[Job]) -> dict[Job, Release]:
        """The jobs' releases; a job whose release cannot be built is left out here and
        fails on its own, with its reason."""
        releases = {}
        for job in jobs:
            with contextlib.suppress(HubfleetError):
                releases[job] = self._release(cluster, job)
        return releases

    def _for_cluster(
        self,
        kind: ReleaseBackend,
        context: ProviderContext,
        creds: Credentials,
        releases: Sequence[Release],
    ) -> ClusterBackend:
        """The cluster's backend with its releases' states (one `helm list`, in a slot)."""
        self._acquire_slot()
        try:
            return kind.for_cluster(context, creds, releases)
        finally:
            self._helm_slots.release()

    def _stage(self, run: _ClusterRun, jobs: list[Job]) -> bool:
        """Run the jobs of one stage in parallel; True when every one succeeded."""
        if not jobs:
            return True
        if len(jobs) == 1:
            self._job(run, jobs[0])
        else:
            with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="job") as pool:
                for future in [pool.submit(self._job, run, job) for job in jobs]:
                    future.result()
        return all(self.record(job).status in ("succeeded", "unchanged") for job in jobs)

    def _parallelism(self, cluster: Cluster) -> int:
        """Upgrades at once on the cluster: its cluster.yaml's, else hubfleet.yaml's."""
        block = cluster.spec.deploy
        if block is not None and block.parallelism is not None:
            return block.parallelism
        return self.fleet.settings.deploy.cluster_parallelism

    def _acquire_slot(self, slots: threading.BoundedSemaphore | None = None) -> None:
        chosen = self._helm_slots if slots is None else slots
        while not chosen.acquire(timeout=_POLL_S):
            if self._stopping():
                raise _Stop
        if self._stopping():
            chosen.release()
            raise _Stop

    def _job(self, run: _ClusterRun, job: Job) -> None:
        try:
            self._acquire_slot(run.slots)  # the cluster's first, so no fleet slot idles
        except _Stop:
            self._not_started([job])
            return
        try:
            self._job_in_slot(run, job)
        finally:
            run.slots.release()

    def _job_in_slot(self, run: _ClusterRun, job: Job) -> None:
        try:
            self._acquire_slot()
        except _Stop:
            self._not_started([job])
            return
        started = time.monotonic()
        try:
            self._set(job, status="running", started=now_iso())
            release = run.releases.get(job) or self._release(run.context.cluster, job)
            outcome = run.backend.deploy(release, lambda done: self._progress(job, done))
            if outcome.status == "failed":
                self._failed(job, **self._outcome(outcome), duration_s=time.monotonic() - started)
            else:
                self._set(
                    job,
                    status=outcome.status,
                    **self._outcome(outcome),
                    duration_s=time.monotonic() - started,
                )
        except Cancelled:
            upgraded = self.record(job).helm_revision is not None or bool(self.record(job).command)
            self._set(
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
            self._failed(job, str(exc), output_tail=output, duration_s=time.monotonic() - started)
        except Exception as exc:
            self._failed(job, f"internal error: {exc!r}", duration_s=time.monotonic() - started)
        finally:
            self._helm_slots.release()

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
        self._set(job, **self._outcome(done))

    def _release(self, cluster: Cluster, job: Job) -> Release:
        if job.hub is None:
            release = support_release(self.fleet, cluster)
            if release is None:
                raise HubfleetError(f"cluster {cluster.name} has no support release")
            return release
        return hub_release(self.fleet, cluster.hub(job.hub))

    def _gate(self, run: _ClusterRun, staging: list[Job]) -> bool:
        """The canary gate after the staging hubs succeeded; records which gate was used."""
        if not staging:
            return True
        off = self._gate_off()
        if off is not None:
            for job in staging:
                self._set(job, gate=off)
            return True
        check = self.health_checks.get(run.context.cluster.provider)
        if check is None:
            for job in staging:
                self._set(job, gate=GATE_HELM)
            return True
        if self.cancel.is_set():
            raise Cancelled("cancelled before the health check")
        return all(self._checks(check, run, staging, len(staging), lambda job: True))

    def _rolls_back(self, job: Job) -> bool:
        """Whether a failed check rolls the job back: a community-only change always,
        any hub with `deploy.rollback_on_failed_check`."""
        return job.rollback_on_failed_check or self.fleet.settings.deploy.rollback_on_failed_check

    def _check_after_upgrade(self, run: _ClusterRun, jobs: list[Job]) -> None:
        """The health check of the production hubs after their upgrade (all of them with
        `deploy.check_production` where the backend's production check applies, else
        those of community-only changes); a hub whose check fails is failed, and rolled
        back per `_rolls_back`. A production hub's check is its API only, or the whole
        check (user server too) for a community-only change or `deploy.production_user_server`."""
        settings = self.fleet.settings.deploy
        production = settings.check_production and run.kind.production_check
        chosen = [
            j for j in jobs if j.hub is not None and (production or j.rollback_on_failed_check)
        ]
        upgraded = [j for j in chosen if self.record(j).status == "succeeded"]
        if not upgraded or self._gate_off() is not None:
            return
        check = self.health_checks.get(run.context.cluster.provider)
        if check is None:
            return

        def whole(job: Job) -> bool:
            return job.rollback_on_failed_check or settings.production_user_server

        workers = min(len(upgraded), self._parallelism(run.context.cluster))
        self._checks(check, run, upgraded, workers, whole)
        self._roll_back_failed(run, upgraded)

    def _checks(
        self,
        check: HealthCheck,
        run: _ClusterRun,
        jobs: list[Job],
        workers: int,
        user_server: Callable[[Job], bool],
    ) -> list[bool]:
        """The jobs' health checks in parallel (their kubectl runs as helm does)."""
        env = {**self.options.extra_env, **run.creds.env}
        creds = dataclasses.replace(run.creds, env=env)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check") as pool:
            results = list(
                pool.map(lambda job: self._check(check, run, creds, job, user_server(job)), jobs)
            )
        if self.cancel.is_set():
            raise Cancelled("cancelled during the health checks")
        return results

    def _roll_back_failed(self, run: _ClusterRun, jobs: list[Job]) -> None:
        """Roll each flagged job whose check failed back to the state it had before."""
        for job in jobs:
            record = self.record(job)
            if not self._rolls_back(job) or record.status != "failed" or not record.gate:
                continue
            release = run.releases.get(job)
            if release is None:
                continue  # (unreachable: a job without its release fails before any gate)
            back = run.backend.roll_back(release)
            rolled_back = record.rolled_back if back.revision is None else back.revision
            self._set(job, message=joined(record.message, back.message), rolled_back=rolled_back)

    def _check(
        self, check: HealthCheck, run: _ClusterRun, creds: Credentials, job: Job, whole: bool
    ) -> bool:
        """One hub's health check (without `whole`: only that the hub answers its API);
        the job shows `checking` while it runs."""
        assert job.hub is not None
        hub = run.context.cluster.hub(job.hub)
        upgraded = self.record(job)
        off = switched_off(self.fleet, hub)
        if off is not None:
            gated = f"{off}; gated on {run.kind.result_name}"
            self._set(job, message=joined(upgraded.message, gated), gate=GATE_HELM)
            return True
        self._set(job, status="checking", message="health check running")
        request = HealthRequest(
            fleet=self.fleet,
            hub=hub,
            credentials=creds,
            redactor=self.redactor,
            cancel=self.cancel,
            user_server=whole,
            values=self.values,
        )
        try:
            result = check(request)
        except HubfleetError as exc:
            result = HealthResult(False, str(exc))
        if self.cancel.is_set():
            self._set(job, status="cancelled", message="interrupted during its health check")
            return False
        if not result.ok:
            self._failed(job, f"health check failed: {result.message}", gate=GATE_HEALTH)
            return False
        message = joined(upgraded.message, result.message)
        self._set(job, status=upgraded.status, message=message, gate=GATE_HEALTH)
        return True
