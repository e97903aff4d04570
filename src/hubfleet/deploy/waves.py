"""The wave loop of a deploy rolled out in waves (`rollout:` in hubfleet.yaml,
`hubfleet.plan.waves` chose each job's wave; docs/deploy.md).

Wave by wave, in order: a wave's jobs run as any deploy's do (clusters in parallel
and isolated, each cluster's canaries gating its production hubs, the checks after
an upgrade); then its failures are counted (a job that did not succeed or stay
unchanged: failed, or skipped because its cluster's canary failed) against the
wave's `max_failures`. More halts the rollout: no later wave starts, each of their
jobs is skipped with "not started: halted after wave <name>". Otherwise the wave
soaks (a wait an interrupt ends: the rollout stops there, exit 130) before the
next one starts. No soak after the last wave holding jobs.

Held hubs (`hold:` in cluster.yaml) are never deployed: their jobs are skipped with
the reason before anything runs, waves or not.

The rollout's outcome (`RolloutOutcome`) goes into the report (`rollout`), its
summary and, written by the CLI, `.hubfleet/rollout.json` in the checkout, which the
next `hubfleet plan` reads to warn about a halted or interrupted rollout.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubfleet.base.atomic import write_atomic
from hubfleet.deploy.model import now_iso
from hubfleet.deploy.records import Records
from hubfleet.plan.job import Job
from hubfleet.plan.rollout_state import RolloutState, held_hubs
from hubfleet.plan.waves import STATE_FILE, Rollout, WaveInfo

_POLL_S = 0.1
OK = frozenset({"succeeded", "unchanged"})

# (cancel, seconds) -> True when the wait was interrupted (cancel set).
SoakWait = Callable[[threading.Event, float], bool]
# A line about the rollout's progress (the CLI prints it to stderr).
WaveNote = Callable[[str], None]


def soak_wait(cancel: threading.Event, seconds: float) -> bool:
    """Wait `seconds` in short steps (the main thread stays responsive to signals);
    True when `cancel` was set before the end."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if cancel.wait(min(_POLL_S, left)):
            return True
    return cancel.is_set()


def no_soak(cancel: threading.Event, seconds: float) -> bool:
    """A dry run's soak: none (nothing was upgraded)."""
    return cancel.is_set()


@dataclass
class WaveOutcome:
    name: str
    jobs: int
    threshold: int
    soak_s: float
    # not started | empty | succeeded | passed with failures (within max_failures) |
    # halted | interrupted | soak interrupted
    status: str = "not started"
    failures: int = 0
    started: str | None = None
    finished: str | None = None
    soaked_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "jobs": self.jobs,
            "failures": self.failures,
            "max_failures": self.threshold,
            "soak_s": self.soak_s,
            "soaked_s": round(self.soaked_s, 3),
            "started": self.started,
            "finished": self.finished,
        }


@dataclass
class RolloutOutcome:
    trigger: str
    waves: list[WaveOutcome] = field(default_factory=list)
    stopped: str | None = None  # where and why the rollout stopped before its end
    untouched: list[Job] = field(default_factory=list)  # the jobs it never started

    def to_json(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "stopped": self.stopped,
            "waves": [wave.to_json() for wave in self.waves],
        }


def held_jobs(jobs: Sequence[Job], hold_of: Callable[[Job], str | None]) -> list[Job]:
    """The jobs of held hubs."""
    return [job for job in jobs if job.hub is not None and hold_of(job) is not None]


def by_wave(rollout: Rollout, jobs: Sequence[Job]) -> list[tuple[WaveInfo, list[Job]]]:
    """The jobs of each wave, in the rollout's order (a job of an unknown wave: last)."""
    names = {wave.name for wave in rollout.waves}
    grouped: list[tuple[WaveInfo, list[Job]]] = [
        (wave, [job for job in jobs if job.wave == wave.name]) for wave in rollout.waves
    ]
    stray = [job for job in jobs if job.wave not in names]
    if stray:
        grouped[-1][1].extend(stray)
    return grouped


def run_waves(
    rollout: Rollout,
    jobs: Sequence[Job],
    records: Records,
    cancel: threading.Event,
    run_jobs: Callable[[list[Job]], None],
    *,
    wait: SoakWait = soak_wait,
    note: WaveNote | None = None,
) -> RolloutOutcome:
    """Run `jobs` wave by wave with `run_jobs` (one wave's jobs, clusters in parallel)."""
    say = note or (lambda _line: None)
    outcome = RolloutOutcome(rollout.trigger)
    grouped = by_wave(rollout, jobs)
    last = max((i for i, (_, wave_jobs) in enumerate(grouped) if wave_jobs), default=-1)
    for wave, wave_jobs in grouped:
        outcome.waves.append(
            WaveOutcome(wave.name, len(wave_jobs), wave.threshold(len(wave_jobs)), wave.soak_s)
        )
    for index, (wave, wave_jobs) in enumerate(grouped):
        state = outcome.waves[index]
        later = [job for _, rest in grouped[index + 1 :] for job in rest]
        if cancel.is_set() or records.stopping():
            why = "interrupted" if cancel.is_set() else "stopped by --fail-fast"
            outcome.stopped = outcome.stopped or f"{why} before wave {wave.name}"
            outcome.untouched = [*wave_jobs, *later]
            records.not_started([*wave_jobs, *later])
            return outcome
        if not wave_jobs:
            state.status = "empty"
            continue
        state.started = now_iso()
        say(f"wave {wave.name}: {len(wave_jobs)} jobs")
        run_jobs(wave_jobs)
        state.finished = now_iso()
        state.failures = sum(1 for job in wave_jobs if records.get(job).status not in OK)
        if cancel.is_set():
            state.status = "interrupted"
            outcome.stopped = f"interrupted during wave {wave.name}"
            outcome.untouched = later
            records.not_started(later)
            return outcome
        if state.failures > state.threshold:
            state.status = "halted"
            outcome.stopped = (
                f"halted after wave {wave.name}: {state.failures} of {state.jobs} jobs failed "
                f"(at most {state.threshold} tolerated)"
            )
            say(outcome.stopped)
            outcome.untouched = later
            _not_started(
                outcome, index, records, grouped, f"not started: halted after wave {wave.name}"
            )
            return outcome
        state.status = "succeeded" if not state.failures else "passed with failures"
        if index >= last or wave.soak_s <= 0:
            continue
        say(f"wave {wave.name}: soaking for {wave.soak_s:g}s before the next wave")
        began = time.monotonic()
        interrupted = wait(cancel, wave.soak_s)
        state.soaked_s = time.monotonic() - began
        if interrupted:
            state.status = "soak interrupted"
            outcome.stopped = (
                f"interrupted during the soak of wave {wave.name} "
                f"({state.soaked_s:.0f}s of {wave.soak_s:g}s)"
            )
            say(outcome.stopped)
            outcome.untouched = later
            records.not_started(later)
            return outcome
    return outcome


def _not_started(
    outcome: RolloutOutcome,
    index: int,
    records: Records,
    grouped: list[tuple[WaveInfo, list[Job]]],
    why: str,
) -> None:
    for later, (_, later_jobs) in zip(
        outcome.waves[index + 1 :], grouped[index + 1 :], strict=True
    ):
        later.status = "not started" if later_jobs else "empty"
        records.finish_unstarted(later_jobs, "skipped", why)


# ---------------------------------------------------------------- the state file


def state_of(outcome: RolloutOutcome, commit: str, base: str | None) -> RolloutState:
    """The rollout's state (`hubfleet.plan.rollout_state`): where it stopped and the hubs
    it left untouched, which the next plans hold until it is resumed."""
    return RolloutState(
        commit,
        base,
        outcome.stopped,
        held_hubs(outcome.untouched) if outcome.stopped else (),
        tuple(wave.to_json() for wave in outcome.waves),
        outcome.trigger,
    )


def write_state(
    root: Path, outcome: RolloutOutcome, commit: str = "uncommitted", base: str | None = None
) -> Path:
    """`.hubfleet/rollout.json` in the checkout: the last rollout's state (the next plan
    holds the hubs a halted or interrupted one left untouched, and warns). Ignored by
    git (.gitignore)."""
    path = root / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"finished": now_iso(), **state_of(outcome, commit, base).to_json()}
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    return path
