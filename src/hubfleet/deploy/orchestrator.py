"""The orchestrator: one pipeline per cluster, canary gating, bounded concurrency, cancel.

Per cluster: credentials once, the support release, the staging hubs in
parallel, the canary gate (a health check of each staging hub where one exists,
else helm's result), then the production hubs in parallel. Clusters run in
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
from hubfleet.base.runner import Cancelled
from hubfleet.config.fleet import Cluster, Fleet
from hubfleet.config.providers import Target, target_of
from hubfleet.deploy import local, rollout
from hubfleet.deploy.backend import DeployHook
from hubfleet.deploy.model import (
    FINAL,
    ClusterFailure,
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
from hubfleet.helm import cli as helm
from hubfleet.helm.charts import ChartResolver
from hubfleet.helm.jsonnet import is_jsonnet
from hubfleet.plan.job import Job
from hubfleet.providers import Credentials, Provider, ProviderContext, get_provider
from hubfleet.release.pipeline import Release, hub_release, support_release, values_bytes
from hubfleet.secrets.sops import Sops

DEFAULT_CONCURRENCY = 8
DEFAULT_CLUSTER_CONCURRENCY = 8
DEFAULT_CLUSTER_PARALLELISM = 8
_POLL_S = 0.1

Observer = Callable[[JobRecord], None]

# The release backends by target kind other than helm's (`hubfleet.deploy.backend`).
BACKENDS: Mapping[Target, DeployHook] = {"local": local.deploy_release}


@dataclass(frozen=True)
class DeployOptions:
    dry_run: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    cluster_concurrency: int = DEFAULT_CLUSTER_CONCURRENCY
    fail_fast: bool = False
    helm_timeout: str = helm.DEFAULT_HELM_TIMEOUT
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
    (built once), and for helm deploys their states from the cluster's one `helm list`."""

    context: ProviderContext
    provider: Provider
    backend: DeployHook | None  # None: helm
    creds: Credentials
    releases: Mapping[Job, Release]
    states: Mapping[tuple[str, str], helm.ReleaseState]
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
        self._flags: helm.HelmFlags | None = None
        # Each values file is read (and decrypted) once per deploy, however many
        # releases list it; one lock per path, so that different files load in parallel.
        self._values_read: dict[str, helm.ValuesInput] = {}
        self._values_locks: dict[str, threading.Lock] = {}
        # Local charts as helm gets them (built in the chart cache when they need it), once.
        self._charts = ChartResolver(root=fleet.root)

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
        helm_version = None
        health_mode = self._health_mode()
        if self._needs_helm():
            self._flags = helm.detect_version(redactor=self.redactor, env=self.options.extra_env)
            helm_version = str(self._flags.version)
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

    def _needs_helm(self) -> bool:
        return any(self._backend(job.provider) is None for job in self.jobs)

    @staticmethod
    def _backend(provider: str) -> DeployHook | None:
        """The release backend of the provider's target; None for helm."""
        return BACKENDS.get(target_of(provider))

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
        step = "credentials"
        try:
            with provider.credentials(context) as creds:
                step = "helm list"
                releases = self._releases(cluster, jobs)
                backend = self._backend(cluster.provider)
                states = self._states(backend, creds, releases.values())
                slots = threading.BoundedSemaphore(self._parallelism(cluster))
                run = _ClusterRun(context, provider, backend, creds, releases, states, slots)
                if not self._stage(run, support):
                    self._skip(staging + prod, f"support release of {name} failed")
                    return
                if not self._stage(run, staging):
                    failed = self._failed_hubs(staging)
                    why = f"canary {failed} of {name} failed"
                    self._skip(prod, why if failed else f"canaries of {name} did not finish")
                    return
                if not self._gate(cluster, creds, staging):
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

    def _states(
        self, backend: DeployHook | None, creds: Credentials, releases: Iterable[Release]
    ) -> Mapping[tuple[str, str], helm.ReleaseState]:
        """The states of the cluster's releases, from one `helm list` (in a helm slot)."""
        if backend is not None:
            return {}
        self._acquire_slot()
        try:
            return helm.release_states(
                [(r.name, r.namespace) for r in releases],
                env={**self.options.extra_env, **creds.env},
                redactor=self.redactor,
                cancel=self.cancel,
            )
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
        release: Release | None = None
        try:
            self._set(job, status="running", started=now_iso())
            release = run.releases.get(job) or self._release(run.context.cluster, job)
            if run.backend is not None:
                outcome = run.backend(
                    run.context, run.creds, release, self.options.dry_run, self._charts
                )
                self._set(
                    job,
                    status=outcome.status,
                    message=outcome.message,
                    helm_revision=outcome.revision,
                    output_tail=self.redactor.scrub(outcome.output_tail),
                    duration_s=time.monotonic() - started,
                )
                return
            state = run.states.get((release.name, release.namespace))
            result, retried = self._helm_upgrade_retrying(release, run.creds, state)
            notes = [f"recovered from {result.recovered.status} first" if result.recovered else ""]
            notes.append(f"retried {retried} time(s) after the API's rate limit" if retried else "")
            self._set(
                job,
                helm_revision=result.revision,
                output_tail=result.output_tail,
                command=result.command.replace(f"{self.fleet.root}/", ""),
                message=_joined(*notes),
            )
            if not self.options.dry_run:
                self._set(job, message=_joined(*notes, "watching the rollout"))
                watched = self._watch(release, run.creds, result.revision)
                notes.append(watched)
            self._set(
                job,
                status="succeeded",
                message=_joined(*notes),
                duration_s=time.monotonic() - started,
            )
        except rollout.RolloutFailed as exc:
            assert release is not None
            why = self._roll_back(run, release, job)
            self._failed(
                job,
                _joined(f"rollout failed: {exc}", why),
                output_tail=exc.logs,
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
            tail = helm.tail(getattr(exc, "stderr", "") or getattr(exc, "stdout", "") or "")
            self._failed(job, str(exc), output_tail=tail, duration_s=time.monotonic() - started)
        except Exception as exc:
            self._failed(job, f"internal error: {exc!r}", duration_s=time.monotonic() - started)
        finally:
            self._helm_slots.release()

    def _release(self, cluster: Cluster, job: Job) -> Release:
        if job.hub is None:
            release = support_release(self.fleet, cluster)
            if release is None:
                raise HubfleetError(f"cluster {cluster.name} has no support release")
            return release
        return hub_release(self.fleet, cluster.hub(job.hub))

    def _values(self, release: Release) -> list[helm.ValuesInput]:
        return [
            helm.ValuesInput(path, values_bytes(self.fleet, path, sops=self.sops, release=release))
            if is_jsonnet(path)  # evaluated for this release, so not shared
            else self._values_file(path)
            for path in release.values_files
        ]

    def _values_file(self, path: str) -> helm.ValuesInput:
        """The file's own bytes (decrypted in memory when sops-encrypted), read once per deploy.

        helm gets the bytes, not re-serialised data, so it parses them as plain helm would.
        """
        with self._lock:
            path_lock = self._values_locks.setdefault(path, threading.Lock())
        with path_lock:
            item = self._values_read.get(path)
            if item is None:
                item = helm.ValuesInput(path, values_bytes(self.fleet, path, sops=self.sops))
                self._values_read[path] = item
        return item

    def _helm_upgrade_retrying(
        self, release: Release, creds: Credentials, state: helm.ReleaseState | None
    ) -> tuple[helm.UpgradeResult, int]:
        """The upgrade, retried with a doubling backoff while the API's rate limit refuses
        it (at most `deploy.rate_limit_retries` times); (result, retries)."""
        settings = self.fleet.settings.deploy
        delay = settings.rate_limit_backoff_s
        for attempt in range(settings.rate_limit_retries + 1):
            try:
                return self._helm_upgrade(release, creds, state), attempt
            except helm.ProgramFailed as exc:
                if not helm.rate_limited(exc.stderr or exc.message):
                    raise
                if attempt == settings.rate_limit_retries:
                    raise HubfleetError(
                        f"rate-limited by the Kubernetes API {attempt + 1} time(s), "
                        f"gave up: {exc.message}",
                        hint="lower deploy.cluster_parallelism (hubfleet.yaml or cluster.yaml)",
                    ) from None
                if self.cancel.wait(delay):
                    raise Cancelled(
                        "cancelled while waiting to retry a rate-limited upgrade"
                    ) from None
                delay *= 2
        raise AssertionError("unreachable")

    def _watch(self, release: Release, creds: Credentials, revision: int | None) -> str:
        """Watch the rollout of the revision just applied; its summary, or `RolloutFailed`."""
        settings = self.fleet.settings.deploy
        env = {**self.options.extra_env, **creds.env}
        text = rollout.manifest(
            release.name,
            release.namespace,
            revision,
            env=env,
            redactor=self.redactor,
            cancel=self.cancel,
        )
        workloads = rollout.workloads_of(text, release.namespace)
        if not workloads:
            return ""  # nothing to watch (e.g. a chart of ConfigMaps only)
        result = rollout.watch(
            workloads,
            env=env,
            redactor=self.redactor,
            settings=rollout.WatchSettings(
                poll_s=settings.rollout_poll_s,
                unschedulable_grace_s=settings.unschedulable_grace_s,
            ),
            deadline_s=helm.duration_seconds(self.options.helm_timeout),
            cancel=self.cancel,
        )
        return f"rolled out ({result.workloads} workload(s), {result.duration_s:.1f} s)"

    def _helm_upgrade(
        self, release: Release, creds: Credentials, state: helm.ReleaseState | None
    ) -> helm.UpgradeResult:
        assert self._flags is not None
        source = release.chart
        chart = helm.chart_ref(
            local_dir=self._charts.local_chart(source),
            name=source.name,
            repository=source.repository,
            version=source.version,
        )
        return helm.upgrade(
            release=release.name,
            namespace=release.namespace,
            chart=chart,
            values=self._values(release),
            flags=self._flags,
            env={**self.options.extra_env, **creds.env},
            redactor=self.redactor,
            helm_timeout=self.options.helm_timeout,
            dry_run=self.options.dry_run,
            recover=self.options.recover,
            state=state,
            cancel=self.cancel,
        )

    def _gate(self, cluster: Cluster, creds: Credentials, staging: list[Job]) -> bool:
        """The canary gate after the staging hubs succeeded; records which gate was used."""
        if not staging:
            return True
        off = self._gate_off()
        if off is not None:
            for job in staging:
                self._set(job, gate=off)
            return True
        check = self.health_checks.get(cluster.provider)
        if check is None:
            for job in staging:
                self._set(job, gate=GATE_HELM)
            return True
        if self.cancel.is_set():
            raise Cancelled("cancelled before the health check")
        env = {**self.options.extra_env, **creds.env}  # the check's kubectl runs as helm does
        checked = dataclasses.replace(creds, env=env)
        with ThreadPoolExecutor(max_workers=len(staging), thread_name_prefix="check") as pool:
            results = list(pool.map(lambda job: self._check(check, cluster, checked, job), staging))
        if self.cancel.is_set():
            raise Cancelled("cancelled during the health check")
        return all(results)

    def _rolls_back(self, job: Job) -> bool:
        """Whether a failed check rolls the job back: a community-only change always,
        any hub with `deploy.rollback_on_failed_check`."""
        return job.rollback_on_failed_check or self.fleet.settings.deploy.rollback_on_failed_check

    def _check_after_upgrade(self, run: _ClusterRun, jobs: list[Job]) -> None:
        """The health check of the production hubs after their upgrade (all of them with
        `deploy.check_production` on helm targets, else those of community-only changes);
        a hub whose check fails is failed, and rolled back per `_rolls_back`."""
        # Local hubs (no kubectl, no rollout) keep their deploy's own result.
        production = self.fleet.settings.deploy.check_production and run.backend is None
        chosen = [
            j for j in jobs if j.hub is not None and (production or j.rollback_on_failed_check)
        ]
        upgraded = [j for j in chosen if self.record(j).status == "succeeded"]
        if not upgraded or self._gate_off() is not None:
            return
        check = self.health_checks.get(run.context.cluster.provider)
        if check is None:
            return
        env = {**self.options.extra_env, **run.creds.env}
        creds = dataclasses.replace(run.creds, env=env)
        with ThreadPoolExecutor(
            max_workers=min(len(upgraded), self._parallelism(run.context.cluster)),
            thread_name_prefix="check",
        ) as pool:
            list(pool.map(lambda job: self._check_one(check, run, creds, job), upgraded))
        if self.cancel.is_set():
            raise Cancelled("cancelled during the health checks")
        self._roll_back_failed(run, upgraded)

    def _check_one(
        self, check: HealthCheck, run: _ClusterRun, creds: Credentials, job: Job
    ) -> bool:
        """A production hub's check after its upgrade: the hub's API, or the whole check
        (user server too) for a community-only change or `deploy.production_user_server`."""
        whole = job.rollback_on_failed_check or self.fleet.settings.deploy.production_user_server
        return self._check(check, run.context.cluster, creds, job, user_server=whole)

    def _roll_back_failed(self, run: _ClusterRun, jobs: list[Job]) -> None:
        """Roll each flagged job whose check failed back to the revision it had before."""
        for job in jobs:
            record = self.record(job)
            if not self._rolls_back(job) or record.status != "failed" or not record.gate:
                continue
            release = run.releases.get(job)
            if release is None or run.backend is not None:
                why = "not rolled back: this provider keeps no helm revisions"
            else:
                why = self._roll_back(run, release, job)
            self._set(job, message=_joined(record.message, why))

    def _roll_back(self, run: _ClusterRun, release: Release, job: Job | None = None) -> str:
        """`helm rollback` of a helm release to the revision it had before this deploy
        (from the cluster's `helm list`); what happened, for the job's message."""
        state = run.states.get((release.name, release.namespace))
        if state is None or state.revision < 1:
            return "not rolled back: it had no earlier revision (first install)"
        try:
            helm.rollback_to(
                release.name,
                release.namespace,
                state.revision,
                env={**self.options.extra_env, **run.creds.env},
                redactor=self.redactor,
                helm_timeout=self.options.helm_timeout,
                cancel=self.cancel,
            )
        except HubfleetError as exc:
            return f"rollback to revision {state.revision} failed: {exc}"
        if job is not None:
            self._set(job, rolled_back=state.revision)
        return f"rolled back to revision {state.revision}"

    def _check(
        self,
        check: HealthCheck,
        cluster: Cluster,
        creds: Credentials,
        job: Job,
        *,
        user_server: bool = True,
    ) -> bool:
        """One hub's health check (without `user_server`: only that the hub answers its
        API); the job shows `checking` while it runs."""
        assert job.hub is not None
        hub = cluster.hub(job.hub)
        upgraded = self.record(job)
        off = switched_off(self.fleet, hub)
        if off is not None:
            helm_deploys = self._backend(cluster.provider) is None
            result_of = "helm's result" if helm_deploys else "the deploy's result"
            gated = f"{off}; gated on {result_of}"
            self._set(job, message=_joined(upgraded.message, gated), gate=GATE_HELM)
            return True
        self._set(job, status="checking", message="health check running")
        request = HealthRequest(
            fleet=self.fleet,
            hub=hub,
            credentials=creds,
            redactor=self.redactor,
            cancel=self.cancel,
            user_server=user_server,
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
        message = _joined(upgraded.message, result.message)
        self._set(job, status=upgraded.status, message=message, gate=GATE_HEALTH)
        return True


def _joined(*messages: str) -> str:
    return "; ".join(m for m in messages if m)
