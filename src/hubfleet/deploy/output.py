"""Rendering a deploy: JSON report, JUnit XML, GitHub step-summary markdown, progress views.

Everything here renders data that is already redacted (records are scrubbed when
they are set); the writers scrub once more with the command's redactor, so that a
value registered late cannot slip through, and mask the data of any Secret that
helm's output shows (`shown`). JSON is scrubbed before it is encoded.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape, quoteattr

from rich.console import Console
from rich.live import Live
from rich.table import Table

from hubfleet.base.atomic import write_atomic
from hubfleet.base.markdown import md_cell, md_text
from hubfleet.base.redact import Redactor
from hubfleet.deploy.model import JobRecord, Report
from hubfleet.helm.masking import mask_text
from hubfleet.plan.job import DEPLOY_KINDS, Job
from hubfleet.plan.live import HELD_HINT

ICONS = {
    "succeeded": "✅",
    "failed": "❌",
    "skipped": "⏭️",
    "cancelled": "🛑",
    "unchanged": "💤",
    "running": "⏳",
    "checking": "🩺",
    "pending": "…",
}


def shown(text: str, redactor: Redactor) -> str:
    """Text as it may be shown or written: Secret data masked, known values scrubbed."""
    return redactor.scrub(mask_text(text, redactor.mask_key))


def shown_data(data: Any, redactor: Redactor) -> Any:
    """`shown` applied to every string of JSON-like data (before it is encoded)."""
    if isinstance(data, str):
        return shown(data, redactor)
    if isinstance(data, dict):
        return {key: shown_data(value, redactor) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [shown_data(item, redactor) for item in data]
    return data


def report_json(report: Report, redactor: Redactor) -> str:
    data = shown_data(report.to_json(), redactor)
    return redactor.scrub(json.dumps(data, indent=2, sort_keys=True)) + "\n"


def write_text(path: Path, text: str) -> None:
    """Whole or not at all (`hubfleet.base.atomic`): out of disk space leaves no partial file."""
    write_atomic(path, text.encode("utf-8"))


def junit_xml(report: Report, redactor: Redactor) -> str:
    """One testsuite per cluster, one testcase per job (plus one per credentials failure)."""
    clusters: dict[str, list[JobRecord]] = {}
    for record in report.records:
        clusters.setdefault(record.job.cluster, []).append(record)
    failures = {f.cluster: f.message for f in report.cluster_failures}
    suites = []
    for cluster in sorted(set(clusters) | set(failures)):
        records = clusters.get(cluster, [])
        cases = []
        if cluster in failures:
            cases.append(
                f'    <testcase classname={quoteattr(cluster)} name="credentials" time="0">\n'
                f"      <failure message={quoteattr(shown(failures[cluster], redactor))}/>\n"
                "    </testcase>"
            )
        for r in records:
            name = f"{r.job.kind}: {r.job.hub or 'support'}"
            body = ""
            if r.status == "failed":
                body = (
                    f"\n      <failure message={quoteattr(shown(r.message, redactor))}>"
                    f"{escape(shown(r.output_tail, redactor))}</failure>\n    "
                )
            elif r.status in ("skipped", "cancelled", "unchanged"):
                note = shown(f"{r.status}: {r.message}", redactor)
                body = f"\n      <skipped message={quoteattr(note)}/>\n    "
            cases.append(
                f"    <testcase classname={quoteattr(cluster)} name={quoteattr(name)} "
                f'time="{(r.duration_s or 0):.3f}">{body}</testcase>'
            )
        n_fail = sum(r.status == "failed" for r in records) + (cluster in failures)
        n_skip = sum(r.status in ("skipped", "cancelled", "unchanged") for r in records)
        total = sum(r.duration_s or 0 for r in records)
        suites.append(
            f'  <testsuite name={quoteattr(cluster)} tests="{len(cases)}" '
            f'failures="{n_fail}" errors="0" skipped="{n_skip}" time="{total:.3f}">\n'
            + "\n".join(cases)
            + "\n  </testsuite>"
        )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="hubfleet deploy">\n'
        + "\n".join(suites)
        + "\n</testsuites>\n"
    )
    return redactor.scrub(xml)


def held(report: Report) -> list[JobRecord]:
    """The hubs a live plan held (rolled back with the inputs git still holds: docs/
    status.md, "Rollbacks"): skipped, each saying until when."""
    return [r for r in report.records if r.status == "skipped" and HELD_HINT in r.message]


def held_lines(report: Report) -> list[str]:
    """One line per held hub, for the deploy's text output."""
    return [f"{r.job.label}: {r.message}" for r in held(report)]


def _held_section(report: Report, redactor: Redactor) -> list[str]:
    records = held(report)
    if not records:
        return []
    lines = [f"### Rolled back, not retried: {len(records)}", ""]
    for r in records:
        label = md_text(shown(r.job.label, redactor))
        lines.append(f"- ⏪ **{label}**: {md_text(shown(r.message, redactor))}")
    return [*lines, ""]


def markdown_summary(report: Report, redactor: Redactor) -> str:
    counts = report.counts()
    title = "interrupted" if report.interrupted else ("failed" if report.failed else "succeeded")
    lines = [
        f"## hubfleet deploy {title}{' (dry run)' if report.dry_run else ''}",
        "",
        " · ".join(f"{ICONS.get(s, '')} {n} {md_text(s)}" for s, n in counts.items()) or "no jobs",
        "",
        f"Canary gate: {md_text(shown(report.health_check, redactor))}",
        "",
    ]
    lines += _rollout_markdown(report, redactor)
    for failure in report.cluster_failures:
        cluster = md_text(shown(failure.cluster, redactor))
        lines.append(f"- ❌ **{cluster}**: {_note(shown(failure.message, redactor))}")
    if report.cluster_failures:
        lines.append("")
    lines += _held_section(report, redactor)
    lines += ["| cluster | hub | kind | status | duration | note |", "|---|---|---|---|---|---|"]
    for r in report.records:
        duration = f"{r.duration_s:.1f}s" if r.duration_s is not None else ""
        cells = [r.job.cluster, r.job.hub or "(support)", r.job.kind]
        lines.append(
            "| "
            + " | ".join(md_cell(shown(c, redactor)) for c in cells)
            + f" | {ICONS.get(r.status, '')} {md_cell(r.status)} | {duration} | "
            f"{_note(shown(r.message, redactor))} |"
        )
    return redactor.scrub("\n".join(lines) + "\n")


def rollout_lines(report: Report) -> list[str]:
    """A deploy rolled out in waves: one line per wave, and where the rollout stopped."""
    rollout = report.rollout
    if not rollout:
        return []
    waves = [w for w in rollout.get("waves") or () if isinstance(w, dict)]
    stopped = rollout.get("stopped")
    halted = next((w.get("name") for w in waves if w.get("status") == "halted"), None)
    lines = []
    for wave in waves:
        status = str(wave.get("status"))
        if status == "not started" and halted is not None:
            status = f"not started: halted after wave {halted}"
        line = (
            f"wave {wave.get('name')}: {status} ({wave.get('jobs')} jobs, "
            f"{wave.get('failures')} failed, at most {wave.get('max_failures')} tolerated"
        )
        soaked = wave.get("soaked_s") or 0
        line += f", soaked {soaked:.0f}s of {wave.get('soak_s'):g}s)" if soaked else ")"
        lines.append(line)
    lines.append(f"rollout stopped: {stopped}" if stopped else "rollout complete")
    return lines


def _rollout_markdown(report: Report, redactor: Redactor) -> list[str]:
    lines = rollout_lines(report)
    if not lines:
        return []
    return ["### Rollout in waves", "", *[f"- {md_text(shown(x, redactor))}" for x in lines], ""]


def first_line(text: str) -> str:
    """The first line of a message ("" for a blank one)."""
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def _note(text: str) -> str:
    """A message's first line, cut to 200 characters, as one table cell."""
    return md_cell(first_line(text)[:200])


def append_step_summary(report: Report, redactor: Redactor) -> Path | None:
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(markdown_summary(report, redactor))
    return path


# --- progress --------------------------------------------------------------------


LABEL_WIDTH = 30
KIND_WIDTH = max(len(kind) for kind in DEPLOY_KINDS)  # `uninstall`, a decommissioned hub's


class PlainLines:
    """One timestamped line per state change, for logs (CI) and non-terminals; the
    columns line up for every kind of deploy job."""

    def __init__(self, redactor: Redactor, stream: IO[str] | None = None) -> None:
        self.redactor = redactor
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()
        self._last: dict[Job, str] = {}

    def __call__(self, record: JobRecord) -> None:
        with self._lock:
            if record.status == "pending" or self._last.get(record.job) == record.status:
                return
            self._last[record.job] = record.status
        stamp = time.strftime("%H:%M:%S", time.gmtime())
        job = record.job
        line = f"{stamp} {job.label:<{LABEL_WIDTH}} {job.kind:<{KIND_WIDTH}} {record.status}"
        if record.duration_s is not None and record.status not in ("running", "checking"):
            line += f" ({record.duration_s:.1f}s)"
        if record.helm_revision is not None:
            line += f" revision {record.helm_revision}"
        note = first_line(record.message)
        if note:
            line += f": {note}"
        with self._lock:
            self.stream.write(shown(line, self.redactor) + "\n")
            self.stream.flush()


class LiveView:
    """A rich live table: per cluster, per job, state and elapsed time."""

    def __init__(self, jobs: Sequence[Job], redactor: Redactor) -> None:
        self.redactor = redactor
        self._lock = threading.Lock()
        self._records: dict[Job, JobRecord] = {job: JobRecord(job) for job in jobs}
        self._since: dict[Job, float] = {}
        self.console = Console(stderr=True)
        self.live = Live(
            get_renderable=self._table, console=self.console, refresh_per_second=4, transient=False
        )

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def __call__(self, record: JobRecord) -> None:
        with self._lock:
            self._records[record.job] = record
            if record.status in ("running", "checking") and record.job not in self._since:
                self._since[record.job] = time.monotonic()
            elif record.status not in ("running", "checking"):
                self._since.pop(record.job, None)

    def _table(self) -> Any:
        table = Table(title="hubfleet deploy", expand=False)
        for column in ("cluster", "job", "kind", "state", "elapsed", "note"):
            table.add_column(column)
        with self._lock:
            records = sorted(self._records.values(), key=lambda r: r.job.sort_key)
            since = dict(self._since)
        for r in records:
            if r.job in since:
                elapsed = f"{time.monotonic() - since[r.job]:.0f}s"
            else:
                elapsed = f"{r.duration_s:.1f}s" if r.duration_s is not None else ""
            note = first_line(r.message)[:80]
            table.add_row(
                r.job.cluster,
                r.job.hub or "(support)",
                r.job.kind,
                f"{ICONS.get(r.status, '')} {r.status}",
                elapsed,
                shown(note, self.redactor),
            )
        return table
