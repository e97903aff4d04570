"""What a deploy works on and what it reports: jobs, their records, the report."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from hubfleet.config.fleet import JobKind

# `checking`: a canary whose upgrade succeeded, while its health check runs (never final).
Status = Literal[
    "pending", "running", "checking", "succeeded", "failed", "skipped", "cancelled", "unchanged"
]
FINAL: frozenset[str] = frozenset({"succeeded", "failed", "skipped", "cancelled", "unchanged"})
RETRY: frozenset[str] = frozenset({"failed", "skipped", "cancelled"})
KIND_ORDER: dict[str, int] = {"support": 0, "staging": 1, "prod": 2}


@dataclass(frozen=True)
class Job:
    """One release to upgrade: a cluster's support release (hub None) or a hub."""

    cluster: str
    hub: str | None
    kind: JobKind
    provider: str
    reasons: tuple[str, ...] = ()
    choice_reason: str = ""
    # A community-only change (docs/community.md): health-check the hub after its
    # upgrade and roll it back to its previous revision when the check fails.
    rollback_on_failed_check: bool = False

    @property
    def label(self) -> str:
        return f"{self.cluster}/{self.hub or 'support'}"

    @property
    def sort_key(self) -> tuple[str, int, str]:
        return (self.cluster, KIND_ORDER[self.kind], self.hub or "")


@dataclass(frozen=True)
class JobRecord:
    job: Job
    status: Status = "pending"
    started: str | None = None
    duration_s: float | None = None
    message: str = ""
    helm_revision: int | None = None
    output_tail: str = ""
    command: str | None = None
    gate: str | None = None  # staging jobs: what decided that the canary passed
    rolled_back: int | None = None  # the revision a failed check rolled the release back to

    def with_(self, **changes: Any) -> JobRecord:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        job = self.job
        return {
            "cluster_name": job.cluster,
            "hub_name": job.hub,
            "kind": job.kind,
            "provider": job.provider,
            "status": self.status,
            "reasons": list(job.reasons),
            "choice_reason": job.choice_reason,
            "started": self.started,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "message": self.message,
            "helm_revision": self.helm_revision,
            "gate": self.gate,
            "rolled_back": self.rolled_back,
            "command": self.command,
            "output_tail": self.output_tail,
        }


@dataclass(frozen=True)
class ClusterFailure:
    """A failure of a cluster as a whole (its credentials), not of one job."""

    cluster: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"cluster_name": self.cluster, "message": self.message}


@dataclass(frozen=True)
class Report:
    records: tuple[JobRecord, ...]
    cluster_failures: tuple[ClusterFailure, ...] = ()
    dry_run: bool = False
    interrupted: bool = False
    helm_version: str | None = None
    health_check: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.cluster_failures) or any(r.status == "failed" for r in self.records)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed else 0

    def counts(self) -> dict[str, int]:
        counted = Counter(r.status for r in self.records)
        return {status: counted[status] for status in sorted(counted)}

    def to_json(self) -> dict[str, Any]:
        return {
            "jobs": [r.to_json() for r in self.records],
            "cluster_failures": [f.to_json() for f in self.cluster_failures],
            "summary": self.counts(),
            "dry_run": self.dry_run,
            "interrupted": self.interrupted,
            "helm_version": self.helm_version,
            "health_check": self.health_check,
            "options": self.options,
        }


def sorted_records(records: Iterable[JobRecord]) -> tuple[JobRecord, ...]:
    return tuple(sorted(records, key=lambda r: r.job.sort_key))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
