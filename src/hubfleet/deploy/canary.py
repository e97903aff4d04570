"""The canary gate and the checks after an upgrade: a deploy's use of the health
contract (`hubfleet.health.gate`).

After a cluster's staging hubs are up, each is checked by its provider's check
(none: gated on the deploy's own result); a canary whose check fails stops the
cluster's production hubs. After the production hubs, those of community-only
changes (and all of them with `deploy.check_production`, where the backend's
production check applies) are checked too, their API only unless
`deploy.production_user_server` or a community-only change asks for the whole
check. A hub whose check fails is failed, and rolled back by its backend when it
is flagged (`rollback_on_failed_check`).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hubfleet.base.errors import HubfleetError
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import Cancelled
from hubfleet.config.fleet import Fleet
from hubfleet.deploy.backend import ClusterRun, joined
from hubfleet.deploy.records import Records
from hubfleet.health.gate import (
    GATE_HEALTH,
    GATE_HELM,
    GATE_NONE,
    HealthCheck,
    HealthRequest,
    HealthResult,
    switched_off,
)
from hubfleet.plan.job import Job
from hubfleet.providers.base import Credentials
from hubfleet.release.values import ReleaseValues


def gate_off(*, dry_run: bool, health_check: bool) -> str | None:
    """Why no canary is gated at all (dry run, --no-health-check); None when they are."""
    if dry_run:
        return f"{GATE_NONE}: dry run"
    if not health_check:
        return f"{GATE_NONE}: --no-health-check"
    return None


@dataclass(frozen=True)
class Gate:
    """The checks of one deploy (see the module); results go to its records."""

    fleet: Fleet
    records: Records
    checks: Mapping[str, HealthCheck]  # by provider
    values: ReleaseValues
    redactor: Redactor
    cancel: threading.Event
    off: str | None  # `gate_off`
    extra_env: Mapping[str, str]

    def mode(self, jobs: Iterable[Job]) -> str:
        """The report's `health_check`: how each provider's canaries are gated."""
        if self.off is not None:
            return self.off
        providers = sorted({job.provider for job in jobs if job.kind == "staging"})
        parts = [f"{p}: {'health check' if p in self.checks else 'helm result'}" for p in providers]
        return ", ".join(parts) or "no canaries"

    def canaries(self, run: ClusterRun, staging: list[Job]) -> bool:
        """The canary gate after the staging hubs succeeded; records which gate was used.
        A canary whose check failed is rolled back when flagged."""
        if not staging:
            return True
        check = self.checks.get(run.context.cluster.provider)
        if self.off is not None or check is None:
            for job in staging:
                self.records.set(job, gate=self.off or GATE_HELM)
            return True
        if self.cancel.is_set():
            raise Cancelled("cancelled before the health check")
        if all(self._checks(check, run, staging, len(staging), lambda job: True)):
            return True
        self._roll_back_failed(run, staging)
        return False

    def production(self, run: ClusterRun, jobs: list[Job]) -> None:
        """The checks of the production hubs after their upgrade (see the module)."""
        settings = self.fleet.settings.deploy
        every = settings.check_production and run.kind.production_check
        chosen = [j for j in jobs if j.hub is not None and (every or j.rollback_on_failed_check)]
        upgraded = [j for j in chosen if self.records.get(j).status == "succeeded"]
        check = self.checks.get(run.context.cluster.provider)
        if not upgraded or self.off is not None or check is None:
            return

        def whole(job: Job) -> bool:
            return job.rollback_on_failed_check or settings.production_user_server

        self._checks(check, run, upgraded, min(len(upgraded), run.parallelism), whole)
        self._roll_back_failed(run, upgraded)

    def _checks(
        self,
        check: HealthCheck,
        run: ClusterRun,
        jobs: list[Job],
        workers: int,
        whole: Callable[[Job], bool],
    ) -> list[bool]:
        """The jobs' health checks in parallel (their kubectl runs as helm does)."""
        env = {**self.extra_env, **run.creds.env}
        creds = dataclasses.replace(run.creds, env=env)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check") as pool:
            results = list(
                pool.map(lambda job: self._check(check, run, creds, job, whole(job)), jobs)
            )
        if self.cancel.is_set():
            raise Cancelled("cancelled during the health checks")
        return results

    def _check(
        self, check: HealthCheck, run: ClusterRun, creds: Credentials, job: Job, whole: bool
    ) -> bool:
        """One hub's health check (without `whole`: only that the hub answers its API);
        the job shows `checking` while it runs."""
        assert job.hub is not None
        hub = run.context.cluster.hub(job.hub)
        upgraded = self.records.get(job)
        off = switched_off(self.fleet, hub)
        if off is not None:
            gated = f"{off}; gated on {run.kind.result_name}"
            self.records.set(job, message=joined(upgraded.message, gated), gate=GATE_HELM)
            return True
        self.records.set(job, status="checking", message="health check running")
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
            self.records.set(job, status="cancelled", message="interrupted during its health check")
            return False
        if not result.ok:
            self.records.failed(job, f"health check failed: {result.message}", gate=GATE_HEALTH)
            return False
        message = joined(upgraded.message, result.message)
        self.records.set(job, status=upgraded.status, message=message, gate=GATE_HEALTH)
        return True

    def _roll_back_failed(self, run: ClusterRun, jobs: list[Job]) -> None:
        """Roll each flagged job whose check failed back to the state it had before: a
        community-only change always, any hub with `deploy.rollback_on_failed_check`."""
        every = self.fleet.settings.deploy.rollback_on_failed_check
        for job in jobs:
            record = self.records.get(job)
            flagged = job.rollback_on_failed_check or every
            release = run.releases.get(job)
            # (A job without its release failed before any gate.)
            if not flagged or record.status != "failed" or not record.gate or release is None:
                continue
            back = run.backend.roll_back(release)
            rolled_back = record.rolled_back if back.revision is None else back.revision
            message = joined(record.message, back.message)
            self.records.set(job, message=message, rolled_back=rolled_back)
