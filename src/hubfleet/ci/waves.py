"""A plan rolled out in waves, in CI (docs/ci.md "Rolling out a z2jh upgrade").

The deploy workflow chains one call of the wave workflow (hubfleet-wave.yaml) per
wave, each `needs:` the one before and runs only when it succeeded. Inside a wave:
`ci wave` gives its cluster matrix (from the plan, filtered by wave: no names in the
YAML), the cluster workflow deploys each cluster's jobs of that wave, `ci wave-gate`
counts the wave's failures from the reports against its `max_failures` (over: the
gate fails, so no later wave starts: the rollout halts), and the soak is a job in
the environment `hubfleet-soak-<N>` whose wait timer holds it without a runner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubfleet.base.errors import HubfleetError
from hubfleet.base.markdown import md_cell, md_text
from hubfleet.config.providers import CI_PROVIDERS
from hubfleet.deploy.model import read_report
from hubfleet.plan.job import Job
from hubfleet.plan.plan import Plan
from hubfleet.plan.schema import JOB_LISTS
from hubfleet.plan.waves import WaveInfo

OK = frozenset({"succeeded", "unchanged"})


@dataclass(frozen=True)
class WaveMatrix:
    """Wave N of a plan: its name, the cluster workflow's matrix, its soak and threshold."""

    index: int  # 1-based
    wave: WaveInfo | None  # None: the plan has fewer waves (or none)
    include: tuple[dict[str, Any], ...]

    def github_lines(self) -> str:
        clusters = json.dumps({"include": list(self.include)}, separators=(",", ":"))
        soak = int(self.wave.soak_s + 0.999) if self.wave is not None else 0
        return (
            f"name={self.wave.name if self.wave is not None else ''}\n"
            f"clusters={clusters}\n"
            f"count={len(self.include)}\n"
            f"soak-s={soak}\n"
        )


def _wave(plan: Plan, index: int) -> WaveInfo | None:
    if plan.rollout is None or not 1 <= index <= len(plan.rollout.waves):
        return None
    return plan.rollout.waves[index - 1]


def _deployed(plan: Plan) -> list[Job]:
    return [job for key, _ in JOB_LISTS for job in getattr(plan, key)]


def wave_jobs(plan: Plan, index: int) -> list[Job]:
    """The jobs of wave `index` (1-based) deployed from CI (not `local` clusters); a job
    in no wave (a decommissioned hub's uninstall: not in cluster.yaml, nothing to
    canary) goes with the first."""
    wave = _wave(plan, index)
    if wave is None:
        return []
    first = plan.rollout.waves[0].name if plan.rollout is not None else None
    return [
        j for j in _deployed(plan) if (j.wave or first) == wave.name and j.provider in CI_PROVIDERS
    ]


def wave_matrix(plan: Plan, index: int) -> WaveMatrix:
    """The cluster workflow's matrix of wave `index`: the clusters with jobs in it; a
    cluster's terraform job (plan, apply) goes with its first wave, and a cluster with
    a terraform job and no helm job goes with the first wave."""
    wave = _wave(plan, index)
    if wave is None or plan.rollout is None:
        return WaveMatrix(index, None, ())
    order = {w.name: i + 1 for i, w in enumerate(plan.rollout.waves)}
    first: dict[str, int] = {}
    providers: dict[str, str] = {}
    for job in _deployed(plan):
        if job.provider in CI_PROVIDERS:
            # a job in no wave (a decommissioned hub's uninstall) goes with the first
            first[job.cluster] = min(first.get(job.cluster, 99), order.get(job.wave or "", 1))
            providers[job.cluster] = job.provider
    terraform = {j.cluster: j.provider for j in plan.terraform_jobs if j.provider in CI_PROVIDERS}
    here = {job.cluster for job in wave_jobs(plan, index)}
    clusters = sorted(here | {c for c in terraform if first.get(c, 1) == index})
    include = tuple(
        {
            "cluster": cluster,
            "provider": providers.get(cluster) or terraform[cluster],
            "terraform": cluster in terraform and first.get(cluster, 1) == index,
            "deploy": cluster in here,
        }
        for cluster in clusters
    )
    return WaveMatrix(index, wave, include)


@dataclass(frozen=True)
class GateResult:
    ok: bool
    markdown: str
    jobs: int = 0
    failed: int = 0
    tolerated: int = 0


def wave_gate(plan: Plan, index: int, reports: Path) -> GateResult:
    """Wave `index`'s failures, from the reports of its clusters (`<reports>/<cluster>.json`):
    a job that did not succeed or stay unchanged, or that no report holds (its cluster's
    deploy did not run or broke), is a failure. More than the wave's `max_failures`:
    not ok, the rollout halts there (the next wave's call needs this one)."""
    wave = _wave(plan, index)
    if wave is None:
        return GateResult(True, f"Wave {index}: not in this plan, nothing to do.\n")
    jobs = wave_jobs(plan, index)
    status: dict[tuple[str, str | None], str] = {}
    for cluster in sorted({job.cluster for job in jobs}):
        path = reports / f"{cluster}.json"
        if not path.is_file():
            continue
        try:
            report = read_report(path)
        except HubfleetError:
            continue
        for record in report.records:
            status[(record.job.cluster, record.job.hub)] = record.status
    failed = [job for job in jobs if status.get((job.cluster, job.hub)) not in OK]
    limit = wave.threshold(len(jobs))
    ok = len(failed) <= limit
    verdict = "passed" if ok else "halted the rollout: no later wave starts"
    lines = [
        f"## Wave {index} ({md_text(wave.name)}): {verdict}",
        "",
        f"{len(jobs)} jobs, {len(failed)} failed (at most {limit} tolerated); "
        f"soak {wave.soak_s:g}s.",
    ]
    if failed:
        lines += ["", "| cluster | hub | status |", "|---|---|---|"]
        for job in failed:
            found = status.get((job.cluster, job.hub), "no report")
            cells = [job.cluster, job.hub or "(support)", found]
            lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    return GateResult(ok, "\n".join(lines) + "\n", len(jobs), len(failed), limit)
