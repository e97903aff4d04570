"""A stopped rollout's state, and the plans it shapes (docs/deploy.md, "After a halt").

A rollout in waves that halts (or is interrupted) leaves its later waves untouched. Its
state (`RolloutState`: the commit, the base its plan was made from, where it stopped,
the untouched hubs with their waves; no secret) is written by the local deploy into
`.hubfleet/rollout.json`, and in CI by the deploy workflow's summary as the artifact
`hubfleet-rollout`, which the next run's plan job fetches into the same file
(`hubfleet.ci.rollout`). While the state says stopped:

- every plan holds those hubs (`hold_halted`): no job, listed in `held` with "rollout
  of <sha> halted after wave <name> ...: resume with ...", and a warning; a live plan
  (`plan.live.combine`) keeps them held, so neither an unrelated change nor the
  reconcile of a cluster continues the rollout without its waves;
- `plan --resume-rollout` plans them again (`resume`): the plan from the stopped
  rollout's base to this commit, only the untouched hubs, in their waves;
- a rollout that completes writes a state with nothing stopped: the hold ends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hubfleet.base.errors import HubfleetError
from hubfleet.base.jsonio import parse_json, read_json_file
from hubfleet.base.yamlio import read_fleet_file
from hubfleet.config.providers import PROVIDERS
from hubfleet.config.rollout import REST_WAVE
from hubfleet.plan.job import Job, Kind
from hubfleet.plan.plan import Plan
from hubfleet.plan.schema import JOB_LISTS
from hubfleet.plan.waves import STATE_FILE

# The start of every reason a halted rollout holds a hub with (the plan's `held`).
HALT_HELD = "held: rollout of "
RESUME_HINT = (
    "resume with `hubfleet plan --resume-rollout` (in CI: run the deploy workflow with "
    "resume-rollout)"
)
MAX_STATE_HUBS = 20000
_SHA = re.compile(r"[0-9a-f]{7,64}|uncommitted")


@dataclass(frozen=True)
class HeldHub:
    """A hub (or canary) a stopped rollout left untouched, with the wave it was in."""

    cluster: str
    hub: str
    kind: Kind  # staging | prod
    wave: str
    provider: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "cluster_name": self.cluster,
            "hub_name": self.hub,
            "kind": self.kind,
            "wave": self.wave,
            "provider": self.provider,
        }


@dataclass(frozen=True)
class RolloutState:
    """The last rollout's outcome (`.hubfleet/rollout.json`, and CI's `hubfleet-rollout`
    artifact; the same format, no secret): the commit it deployed, the base its plan
    was made from, where it stopped (None: it completed) and the hubs it left untouched.
    While it is stopped, every plan holds those hubs (`hold_halted`) until a run resumes
    it (`resume`)."""

    commit: str
    base: str | None
    stopped: str | None
    held: tuple[HeldHub, ...] = ()
    waves: tuple[Mapping[str, Any], ...] = ()
    trigger: str = ""

    @property
    def halted(self) -> bool:
        return self.stopped is not None and bool(self.held)

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "base": self.base,
            "trigger": self.trigger,
            "stopped": self.stopped,
            "waves": [dict(w) for w in self.waves],
            "held": [h.to_json() for h in self.held],
        }

    def hold_reason(self) -> str:
        return f"{HALT_HELD}{self.commit[:12]} {self.stopped}: {RESUME_HINT}"


def held_hubs(jobs: Iterable[Job]) -> tuple[HeldHub, ...]:
    """The hub jobs of `jobs` (an untouched wave's) as a state's held hubs."""
    return tuple(
        sorted(
            {
                HeldHub(j.cluster, j.hub, j.kind, j.wave or REST_WAVE, j.provider)
                for j in jobs
                if j.hub is not None and j.kind in ("staging", "prod")
            },
            key=lambda h: (h.cluster, h.hub),
        )
    )


def parse_state(data: object) -> RolloutState | None:
    """A state document as read (None when it is not one: an unusable state holds
    nothing, the plan warns instead). Every field is checked: the CI artifact is data
    from an earlier run, and each held hub must still be a name."""
    if not isinstance(data, dict):
        return None
    commit, base, stopped = data.get("commit"), data.get("base"), data.get("stopped")
    if not isinstance(commit, str) or not _SHA.fullmatch(commit):
        commit = "unknown"
    if base is not None and not (isinstance(base, str) and _SHA.fullmatch(base)):
        base = None
    if stopped is not None and not (
        isinstance(stopped, str) and 0 < len(stopped) <= 300 and stopped.isprintable()
    ):
        return None  # one printable line: it reaches reasons, warnings and comments
    held_data = data.get("held", [])
    if not isinstance(held_data, list) or len(held_data) > MAX_STATE_HUBS:
        return None
    held: list[HeldHub] = []
    for item in held_data:
        if not isinstance(item, dict):
            return None
        cluster, hub, kind, wave = (
            item.get(k) for k in ("cluster_name", "hub_name", "kind", "wave")
        )
        provider = item.get("provider", "")
        if not all(isinstance(f, str) and _NAME.fullmatch(f) for f in (cluster, hub, wave)):
            return None
        if kind not in ("staging", "prod") or provider not in ("", *PROVIDERS):
            return None
        held.append(HeldHub(str(cluster), str(hub), kind, str(wave), str(provider)))
    waves = data.get("waves", [])
    waves_t = tuple(w for w in waves if isinstance(w, dict)) if isinstance(waves, list) else ()
    trigger = data.get("trigger")
    return RolloutState(
        commit,
        base if isinstance(base, str) else None,
        stopped if isinstance(stopped, str) else None,
        tuple(held),
        waves_t,
        trigger if isinstance(trigger, str) else "",
    )


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def read_state_file(path: Path) -> RolloutState | None:
    """A state file outside a checkout (CI's downloaded artifact), checked as any."""
    try:
        return parse_state(read_json_file(path, "rollout state").data)
    except HubfleetError:
        return None


def read_state(root: Path) -> RolloutState | None:
    """The checkout's rollout state (None: none, or unusable)."""
    if not (root / STATE_FILE).is_file():
        return None
    try:
        text = read_fleet_file(root, STATE_FILE).decode()
        return parse_state(parse_json(text, STATE_FILE, "rollout state").data)
    except (HubfleetError, UnicodeDecodeError):
        return None


def _all_jobs(plan: Plan) -> list[Job]:
    return [job for key, _ in JOB_LISTS for job in getattr(plan, key)]


def _filtered(plan: Plan, keep: Callable[[Job], bool], note: str | None = None) -> Plan:
    """The plan with only the jobs `keep` accepts (each with `note` first, if given)."""

    def jobs(listed: tuple[Job, ...]) -> tuple[Job, ...]:
        kept = [j for j in listed if keep(j)]
        if note is None:
            return tuple(kept)
        return tuple(replace(j, reasons=(note, *j.reasons)) for j in kept)

    return replace(
        plan,
        support_jobs=jobs(plan.support_jobs),
        staging_jobs=jobs(plan.staging_jobs),
        prod_jobs=jobs(plan.prod_jobs),
        uninstall_jobs=jobs(plan.uninstall_jobs),
    )


def hold_halted(plan: Plan, state: RolloutState | None) -> Plan:
    """The plan with the hubs a stopped rollout left untouched held: no job, listed in
    `held` with the reason (so neither a change nor a live reconcile continues the
    rollout without its waves), and a warning that the rollout is halted. A state of a
    completed rollout (or none) changes nothing."""
    if state is None or not state.halted:
        return plan
    keys = {(h.cluster, h.hub) for h in state.held}
    reason = state.hold_reason()
    moved = [j for j in _all_jobs(plan) if (j.cluster, j.hub) in keys and j.kind != "uninstall"]
    gone = set(moved)
    held = {(j.cluster, j.hub): j for j in plan.held}
    for job in moved:
        held.setdefault((job.cluster, job.hub), replace(job, reasons=(reason, *job.reasons)))
    # Every untouched hub, changed or not: a live plan (`plan.live.combine`, in CI the
    # cluster's deploy job, which has this plan but not the state) holds what is listed.
    for hub in state.held:
        job = Job(hub.cluster, hub.hub, hub.kind, hub.provider, (reason,))
        held.setdefault((hub.cluster, hub.hub), job)
    warning = (
        f"the rollout of {state.commit[:12]} {state.stopped}: its {len(state.held)} untouched "
        f"hub(s) are held; {RESUME_HINT}"
    )
    return replace(
        _filtered(plan, lambda j: j not in gone),
        held=tuple(sorted(held.values(), key=lambda j: j.sort_key)),
        warnings=tuple(sorted({*plan.warnings, warning})),
    )


def is_halt_held(job: Job) -> bool:
    """A held job a stopped rollout holds (not a `hold:` of cluster.yaml)."""
    return bool(job.reasons) and job.reasons[0].startswith(HALT_HELD)


def resume(plan: Plan, state: RolloutState | None) -> Plan:
    """`--resume-rollout`: of a plan made from the stopped rollout's base to this head,
    only the jobs of the hubs that rollout left untouched (in their waves, as the plan
    gives them: a plan's jobs may be removed, never added, so `deploy --plan` accepts
    them), each saying it resumes. Its support releases stay (a cluster's first wave)."""
    if state is None or not state.halted:
        raise HubfleetError(
            "there is no stopped rollout to resume",
            path=STATE_FILE,
            hint="the last rollout completed, or none ran from this checkout (in CI the plan "
            "job fetches the state first)",
        )
    keys = {(h.cluster, h.hub) for h in state.held}
    clusters = {h.cluster for h in state.held}
    note = f"resuming the rollout of {state.commit[:12]} ({state.stopped})"

    def kept(job: Job) -> bool:
        if job.hub is None:
            return job.kind == "support" and job.cluster in clusters
        return (job.cluster, job.hub) in keys

    left = sum(1 for j in _all_jobs(plan) if not kept(j))
    warnings = [*plan.warnings, note]
    if left:
        warnings.append(f"{left} job(s) the stopped rollout had already run are left out")
    missing = keys - {(j.cluster, j.hub) for j in _all_jobs(plan)}
    if missing:
        warnings.append(
            f"{len(missing)} held hub(s) get no job from base to this commit (no longer "
            "changed, removed or held back): nothing to resume for them"
        )
    return replace(_filtered(plan, kept, note), warnings=tuple(sorted(set(warnings))))
