"""What a deploy reports: each job's record, the report, and the report JSON's one
reader (`read_report`: `deploy --retry-failed` and `ci summary`). The jobs
themselves are the plan's (`hubfleet.plan.job`)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from hubfleet.plan.job import DEPLOY_KINDS, Job, JsonFile, read_job, read_json

# `checking`: a canary whose upgrade succeeded, while its health check runs (never final).
Status = Literal[
    "pending", "running", "checking", "succeeded", "failed", "skipped", "cancelled", "unchanged"
]
STATUSES: tuple[Status, ...] = get_args(Status)
FINAL: frozenset[str] = frozenset({"succeeded", "failed", "skipped", "cancelled", "unchanged"})
RETRY: frozenset[str] = frozenset({"failed", "skipped", "cancelled"})


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
            **({"wave": job.wave} if job.wave is not None else {}),
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
    # A deploy rolled out in waves (deploy/waves.py): each wave's outcome, where it stopped.
    rollout: dict[str, Any] | None = None

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
            **({"rollout": self.rollout} if self.rollout is not None else {}),
        }


def sorted_records(records: Iterable[JobRecord]) -> tuple[JobRecord, ...]:
    return tuple(sorted(records, key=lambda r: r.job.sort_key))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_report(path: Path) -> Report:
    """The deploy report in file `path` (written by `deploy --report`/`--output json`)."""
    return report_from_file(read_json(path, "report"))


def report_from_file(file: JsonFile) -> Report:
    """The report in a read JSON document: its jobs with their kind, hub and status
    checked (errors name the entry and its line, exit 2); the rest as written."""
    data = file.data
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        raise file.error("not a deploy report: no jobs list")
    records = tuple(_record(file, entry, index) for index, entry in enumerate(data["jobs"]))
    failures = data.get("cluster_failures") or []
    if not isinstance(failures, list):
        raise file.error("cluster_failures must be a list", "cluster_failures")
    options = data.get("options") or {}
    return Report(
        records=records,
        cluster_failures=tuple(
            ClusterFailure(str(f.get("cluster_name")), str(f.get("message", "")))
            for f in failures
            if isinstance(f, dict)
        ),
        dry_run=data.get("dry_run") is True,
        interrupted=data.get("interrupted") is True,
        helm_version=_optional(file, data, str, "helm_version"),
        health_check=str(data.get("health_check") or ""),
        options=dict(options) if isinstance(options, dict) else {},
        rollout=data["rollout"] if isinstance(data.get("rollout"), dict) else None,
    )


def _record(file: JsonFile, entry: Any, index: int) -> JobRecord:
    where = ("jobs", index)
    job = read_job(file, entry, where, DEPLOY_KINDS, None)  # each entry names its kind
    status = entry.get("status")
    if status not in STATUSES:
        raise file.error(f"jobs[{index}]: unknown status {status!r}", *where)
    duration = _optional(file, entry, (int, float), "duration_s", index)
    return JobRecord(
        job,
        status=status,
        started=_optional(file, entry, str, "started", index),
        duration_s=None if duration is None else float(duration),
        message=str(entry.get("message") or ""),
        helm_revision=_optional(file, entry, int, "helm_revision", index),
        output_tail=str(entry.get("output_tail") or ""),
        command=_optional(file, entry, str, "command", index),
        gate=_optional(file, entry, str, "gate", index),
        rolled_back=_optional(file, entry, int, "rolled_back", index),
    )


def _optional(
    file: JsonFile,
    data: dict[str, Any],
    kind: type | tuple[type, ...],
    key: str,
    index: int | None = None,
) -> Any:
    """`data[key]` when it is of type `kind`, None when absent or null."""
    value = data.get(key)
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    steps = ("jobs", index, key) if index is not None else (key,)
    where = f"jobs[{index}].{key}" if index is not None else key
    raise file.error(f"{where}: unexpected value {value!r}", *steps)
