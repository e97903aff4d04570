"""A deploy's job records: one thread-safe place the pipelines write to.

Every change of a record goes through `set` (its message scrubbed, the observer
told at once); `failed` also remembers the deploy's first failure, which with
`--fail-fast` stops new work everywhere (`stopping`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from hubfleet.base.redact import Redactor
from hubfleet.deploy.model import FINAL, ClusterFailure, JobRecord
from hubfleet.plan.job import Job

Observer = Callable[[JobRecord], None]


class Records:
    def __init__(
        self,
        jobs: Iterable[Job],
        *,
        redactor: Redactor,
        observer: Observer | None,
        cancel: threading.Event,
        fail_fast: bool,
    ) -> None:
        self.redactor = redactor
        self.observer = observer
        self.cancel = cancel
        self.fail_fast = fail_fast
        self.stop_new = threading.Event()  # fail-fast
        self.first_failure: str | None = None
        self._lock = threading.Lock()
        self._records: dict[Job, JobRecord] = {job: JobRecord(job) for job in jobs}
        self._cluster_failures: list[ClusterFailure] = []

    def set(self, job: Job, **changes: Any) -> JobRecord:
        if "message" in changes:
            changes["message"] = self.redactor.scrub(changes["message"])
        with self._lock:
            record = self._records[job].with_(**changes)
            self._records[job] = record
        if self.observer is not None:
            self.observer(record)
        return record

    def get(self, job: Job) -> JobRecord:
        with self._lock:
            return self._records[job]

    def all(self) -> tuple[list[JobRecord], tuple[ClusterFailure, ...]]:
        """Every record, and the cluster failures by cluster."""
        with self._lock:
            failures = tuple(sorted(self._cluster_failures, key=lambda f: f.cluster))
            return list(self._records.values()), failures

    def stopping(self) -> bool:
        return self.cancel.is_set() or self.stop_new.is_set()

    def finish_unstarted(self, jobs: Iterable[Job], status: str, message: str) -> None:
        for job in jobs:
            if self.get(job).status not in FINAL:
                self.set(job, status=status, message=message)

    def not_started(self, jobs: Iterable[Job]) -> None:
        if self.cancel.is_set():
            self.finish_unstarted(jobs, "cancelled", "cancelled before it started")
        else:
            self.finish_unstarted(
                jobs, "skipped", f"not started: --fail-fast after {self.first_failure} failed"
            )

    def skip(self, jobs: Iterable[Job], why: str) -> None:
        if self.cancel.is_set():
            self.not_started(jobs)
        else:
            self.finish_unstarted(jobs, "skipped", why)

    def note_failure(self, label: str) -> None:
        """Remember the first failure (for --fail-fast's messages); stop new work with it."""
        with self._lock:
            if self.first_failure is None:
                self.first_failure = label
        if self.fail_fast:
            self.stop_new.set()

    def failed(self, job: Job, message: str, **changes: Any) -> None:
        self.set(job, status="failed", message=message, **changes)
        self.note_failure(job.label)

    def cluster_failed(self, cluster: str, message: str) -> None:
        """A cluster whose pipeline stopped before its jobs (credentials, helm list)."""
        with self._lock:
            self._cluster_failures.append(ClusterFailure(cluster, self.redactor.scrub(message)))

    def failed_hubs(self, jobs: Iterable[Job]) -> str:
        return ", ".join(str(j.hub) for j in jobs if self.get(j).status == "failed")
