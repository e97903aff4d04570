"""A rollout in waves seen across CI runs (docs/ci.md "Rolling out a z2jh upgrade").

- `find_state_run`: the plan job asks GitHub (`gh api`, its own token) for the newest
  unexpired artifact `hubfleet-rollout` of a run on the default branch of this
  repository (never a fork's: a pull request from a fork runs its own workflow file),
  and downloads it into `.hubfleet/rollout.json`, where `hubfleet plan` reads it
  (`hubfleet.plan.rollout_state`: every field checked, an unusable file holds nothing).
- `rollout_summary`: after the chain of waves (whatever their outcome), one summary
  of the run in the unwaved summary's format (`hubfleet.ci.workflows.summarize`, one
  table per wave that ran), saying which waves passed, which halted, which were left
  untouched; and the rollout's state for the artifact: where it stopped and the hubs
  it left untouched (the next runs hold them), or, when it completed, nothing stopped
  (the hold ends).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubfleet.base.errors import HubfleetError
from hubfleet.base.jsonio import parse_json
from hubfleet.base.markdown import md_cell, md_text
from hubfleet.ci.ghissues import Gh, validate_repository
from hubfleet.ci.waves import wave_gate, wave_jobs, wave_matrix
from hubfleet.ci.workflows import OUTCOME_SUFFIX, summarize
from hubfleet.plan.plan import Plan
from hubfleet.plan.rollout_state import (
    RESUME_HINT,
    HeldHub,
    RolloutState,
    held_hubs,
    is_halt_held,
)

ARTIFACT = "hubfleet-rollout"
CHAIN = 6  # the deploy workflow's wave calls (ci/templates: wave-1 ... wave-6)
_BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,254}")


def find_state_run(gh: Gh, repository: str, branch: str) -> int | None:
    """The id of the run whose `hubfleet-rollout` artifact is the newest unexpired one
    of `branch` in `repository` itself (None: there is none)."""
    validate_repository(repository)
    if not _BRANCH.fullmatch(branch) or ".." in branch:
        raise HubfleetError(f"{branch!r} is not a branch name")
    text = gh(["api", f"repos/{repository}/actions/artifacts?name={ARTIFACT}&per_page=100"], None)
    data = parse_json(text, "gh api", "artifact list").data
    artifacts = data.get("artifacts") if isinstance(data, dict) else None
    if not isinstance(artifacts, list):
        raise HubfleetError("gh api gave no artifact list", hint="check the token's actions: read")
    best: tuple[str, int] | None = None
    for item in artifacts:
        run = _own_run(item, branch)
        if run is not None and (best is None or run > best):
            best = run
    return best[1] if best is not None else None


def _own_run(item: object, branch: str) -> tuple[str, int] | None:
    """(created_at, run id) of an artifact of a run on `branch` of the repository itself."""
    if not isinstance(item, dict) or item.get("name") != ARTIFACT or item.get("expired") is True:
        return None
    run = item.get("workflow_run")
    created = item.get("created_at")
    if not isinstance(run, dict) or not isinstance(created, str):
        return None
    run_id, repo, head_repo = run.get("id"), run.get("repository_id"), run.get("head_repository_id")
    if not isinstance(run_id, int) or isinstance(run_id, bool) or run_id <= 0:
        return None
    if run.get("head_branch") != branch or repo is None or repo != head_repo:
        return None
    return created, run_id


# ---------------------------------------------------------------- the summary


@dataclass(frozen=True)
class WaveResult:
    index: int  # 1-based
    name: str
    verdict: str  # passed | passed with failures | halted | stopped | not started | empty
    jobs: int
    failed: int
    tolerated: int


@dataclass(frozen=True)
class RolloutSummary:
    markdown: str
    ok: bool
    state: RolloutState | None  # None: nothing to record (no waves, or an earlier halt stands)


def parse_results(text: str) -> dict[str, str]:
    """`toJSON(needs)` of the summary job: job -> result."""
    if not text.strip():
        return {}
    data = parse_json(text, "--results", "job results").data
    if not isinstance(data, dict):
        raise HubfleetError("--results is not a JSON object of the jobs' results")
    found: dict[str, str] = {}
    for name, value in data.items():
        result = value.get("result") if isinstance(value, dict) else None
        if isinstance(result, str):
            found[str(name)] = result
    return found


def _wave_reports(root: Path, plan: Plan, index: int, into: Path) -> None:
    """Wave `index`'s reports and outcomes (one artifact folder each, as the summary job
    downloads them: `<root>/hubfleet-report-<cluster>-wave-<k>/<cluster>.json`) laid
    out as the unwaved summary reads them (`<into>/<cluster>.json`)."""
    for entry in wave_matrix(plan, index).include:
        cluster = str(entry["cluster"])
        for kind, suffix in (("report", ".json"), ("outcome", OUTCOME_SUFFIX)):
            source = root / f"hubfleet-{kind}-{cluster}-wave-{index}" / f"{cluster}{suffix}"
            if source.is_file() and not source.is_symlink():
                shutil.copyfile(source, into / f"{cluster}{suffix}")


def _verdict(plan: Plan, index: int, results: Mapping[str, str], folder: Path) -> WaveResult:
    assert plan.rollout is not None
    wave = plan.rollout.waves[index - 1]
    jobs = wave_jobs(plan, index)
    call = results.get(f"wave-{index}", "skipped")
    gate_result = results.get(f"wave-{index}-gate", "skipped")
    gate = wave_gate(plan, index, folder)
    failed, tolerated = gate.failed, gate.tolerated
    if call == "skipped" and gate_result == "skipped":
        verdict, failed = "not started", 0
    elif gate_result == "failure":
        verdict = "halted"
    elif gate_result != "success":
        verdict = "stopped"  # cancelled, or the gate could not run
    elif not jobs:
        verdict = "empty"
    else:
        verdict = "passed with failures" if failed else "passed"
    return WaveResult(index, wave.name, verdict, len(jobs), failed, tolerated)


def rollout_summary(
    plan: Plan,
    results: Mapping[str, str],
    reports: Path,
    commit: str,
    before: RolloutState | None = None,
) -> RolloutSummary:
    """The waved run's summary (markdown, ok) and the state to upload."""
    lines = ["## hubfleet deploy: rollout in waves", ""]
    if plan.rollout is None:
        lines.append("The plan is not rolled out in waves: nothing to summarize here.")
        return RolloutSummary("\n".join(lines) + "\n", True, None)
    count = min(len(plan.rollout.waves), CHAIN)
    waves: list[WaveResult] = []
    tables: list[str] = []
    all_ok = True
    with tempfile.TemporaryDirectory(prefix="hubfleet-waves-") as tmp:
        for index in range(1, count + 1):
            folder = Path(tmp) / f"wave-{index}"
            folder.mkdir()
            _wave_reports(reports, plan, index, folder)
            result = _verdict(plan, index, results, folder)
            waves.append(result)
            if result.verdict in ("not started", "empty"):
                continue
            matrix = {"include": list(wave_matrix(plan, index).include)}
            summary = summarize("success", matrix, folder)
            all_ok = all_ok and summary.ok
            body = summary.markdown.split("\n", 2)[2] if "\n" in summary.markdown else ""
            heading = f"### Wave {index}: {md_text(result.name)} ({result.verdict})"
            tables += ["", heading, "", body.rstrip("\n")]
    stop = next((w for w in waves if w.verdict in ("halted", "stopped")), None)
    untouched = [
        job
        for w in waves
        if stop is not None and w.index > stop.index
        for job in wave_jobs(plan, w.index)
    ]
    lines.append(f"Rolled out in waves: {md_text(plan.rollout.trigger)}.")
    lines += [
        "",
        "| wave | name | result | jobs | failed | tolerated |",
        "|---|---|---|---|---|---|",
    ]
    for w in waves:
        shown = w.verdict
        if stop is not None and w.index > stop.index:
            shown = f"not started: {stop.verdict} after wave {stop.name}"
        cells = [str(w.index), w.name, shown, str(w.jobs), str(w.failed), str(w.tolerated)]
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    lines.append("")
    stopped = None
    if stop is not None:
        what = "halted" if stop.verdict == "halted" else "stopped (cancelled or not judged)"
        counted = f"{stop.failed} of {stop.jobs} jobs failed (at most {stop.tolerated} tolerated)"
        if stop.verdict != "halted":
            stopped = f"stopped at wave {stop.name}: its gate did not run to the end"
        elif stop.failed > stop.tolerated:
            stopped = f"halted after wave {stop.name}: {counted}"
        else:  # the gate failed on its own (e.g. a download): its verdict stands
            stopped = f"halted after wave {stop.name}: its gate failed; the reports say {counted}"
        lines.append(
            f"**The rollout {what} at wave {stop.index} ({md_text(stop.name)})**: "
            f"{len(untouched)} job(s) of the later waves were left untouched; the next "
            f"runs hold their hubs until it is resumed: {RESUME_HINT}."
        )
    else:
        lines.append("The rollout completed: every wave ran.")
    lines += tables
    if untouched:
        lines += ["", "### Left untouched", ""]
        lines += [
            f"- {md_text(j.label)} ({md_text(j.kind)}, wave {md_text(j.wave or '')})"
            for j in untouched
        ]
    carried = _carried(plan)
    if carried:
        lines += [
            "",
            f"{len(carried)} hub(s) stay held by an earlier halted rollout ({RESUME_HINT}).",
        ]
    state = _state(
        plan,
        commit,
        stopped,
        untouched_hubs=held_hubs(untouched),
        carried=carried,
        before=before,
        waves=waves,
    )
    ok = all_ok and stop is None
    return RolloutSummary("\n".join(lines) + "\n", ok, state)


def _carried(plan: Plan) -> tuple[HeldHub, ...]:
    """The hubs this plan held because an earlier rollout halted."""
    return held_hubs(job for job in plan.held if is_halt_held(job))


def _state(
    plan: Plan,
    commit: str,
    stopped: str | None,
    *,
    untouched_hubs: tuple[HeldHub, ...],
    carried: tuple[HeldHub, ...],
    before: RolloutState | None,
    waves: Sequence[WaveResult],
) -> RolloutState | None:
    """This run's state. A run that completed while an earlier halt still holds hubs
    records nothing (the earlier state stands); one that halted holds its own untouched
    hubs and the earlier ones."""
    if stopped is None and carried:
        return before if before is not None else None
    assert plan.rollout is not None
    base = plan.planned.base if plan.planned is not None else None
    held = {(h.cluster, h.hub): h for h in (*carried, *untouched_hubs)}
    shown: list[Mapping[str, Any]] = [
        {
            "name": w.name,
            "status": w.verdict,
            "jobs": w.jobs,
            "failures": w.failed,
            "max_failures": w.tolerated,
        }
        for w in waves
    ]
    return RolloutState(
        commit,
        base,
        stopped,
        tuple(sorted(held.values(), key=lambda h: (h.cluster, h.hub))) if stopped else (),
        tuple(shown),
        plan.rollout.trigger,
    )
