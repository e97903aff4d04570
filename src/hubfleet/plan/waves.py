"""Which wave each job of a plan is in (`rollout:` in hubfleet.yaml, docs/deploy.md).

A plan is rolled out in waves when its trigger holds (more than `clusters_over`
clusters upgrade hubs, or a hub upgrades because one of the trigger's `charts`
changed); otherwise its jobs carry no wave and deploy as before. The waves select
hubs in their order: a wave's `clusters`, `hubs` (a glob of `cluster/hub` or of the
hub's name), `labels`, or `share` of the production hubs no earlier wave took
(chosen by a stable digest of their names, so a share spreads across clusters and is
the same on every run). Hubs no wave selects form the implicit last wave `rest`.

Canaries stay per cluster: a cluster's support release and staging hubs go in the
first wave holding any of its hubs, so in that wave they are upgraded and checked
before its production hubs, as today; its production hubs in later waves follow.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from hubfleet.base.errors import ConfigError, HubfleetError
from hubfleet.base.jsonio import parse_json
from hubfleet.base.yamlio import read_fleet_file
from hubfleet.config.fleet import Fleet, Hub
from hubfleet.config.rollout import (
    REST_WAVE,
    UNKNOWN_CLUSTER_HINT,
    Wave,
    share_fraction,
    unknown_clusters,
)
from hubfleet.plan.job import Job

# The last rollout's outcome in the checkout (written by the deploy, read by the plan);
# in CI, the artifact `hubfleet-rollout` of the default branch's newest deploy run
# that rolled out in waves, fetched there by the plan job (`hubfleet.ci.rollout`).
STATE_FILE = ".hubfleet/rollout.json"


@dataclass(frozen=True)
class WaveInfo:
    """A wave as the plan records it: what the deploy and CI need besides the jobs."""

    name: str
    soak_s: float
    max_failures: int | str  # a count, or a share ("10%") of the wave's jobs

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "soak_s": self.soak_s, "max_failures": self.max_failures}

    def threshold(self, jobs: int) -> int:
        """The most failed jobs (of `jobs`) this wave tolerates."""
        if isinstance(self.max_failures, int):
            return self.max_failures
        return math.floor(share_fraction(self.max_failures) * jobs + 1e-9)


REST = WaveInfo(REST_WAVE, 0.0, 0)


@dataclass(frozen=True)
class Rollout:
    """A plan's waves, in order, and why it is rolled out in waves."""

    waves: tuple[WaveInfo, ...]
    trigger: str

    def to_json(self) -> dict[str, object]:
        return {"trigger": self.trigger, "waves": [w.to_json() for w in self.waves]}

    def index(self, name: str) -> int:
        return next(i for i, wave in enumerate(self.waves) if wave.name == name)


def trigger_reason(fleet: Fleet, jobs: Sequence[Job]) -> str | None:
    """Why the plan of `jobs` is rolled out in waves; None: it is not."""
    settings = fleet.settings.rollout
    if not settings.waves:
        return None
    clusters = {job.cluster for job in jobs if job.hub is not None}
    over = settings.trigger.clusters_over
    if over is not None and len(clusters) > over:
        return f"hubs of {len(clusters)} clusters upgrade (more than {over})"
    for name in settings.trigger.charts:
        quoted = re.escape(name)  # "chart NAME (...)", "charts.NAME", "depends on NAME"
        pattern = re.compile(rf"\bcharts?[ .]{quoted}\b|\bdepends on {quoted}\b")
        if any(job.hub is not None and any(pattern.search(r) for r in job.reasons) for job in jobs):
            return f"chart {name} changed"
    return None


def check_rollout(fleet: Fleet) -> None:
    """The waves' cluster names must be the fleet's (an error at hubfleet.yaml's line;
    the loader reports it too, against every cluster folder)."""
    known = {cluster.name for cluster in fleet.clusters}
    for key, message in unknown_clusters(fleet.settings.rollout, known):
        raise ConfigError(
            message,
            path=fleet.settings_file or "hubfleet.yaml",
            line=fleet.settings_lines.line(key),
            hint=UNKNOWN_CLUSTER_HINT,
        )


def _selects(wave: Wave, hub: Hub) -> bool:
    if wave.clusters is not None:
        return hub.cluster in wave.clusters
    if wave.hubs is not None:
        return fnmatchcase(hub.label, wave.hubs) or fnmatchcase(hub.name, wave.hubs)
    if wave.labels is not None:
        return all(hub.labels.get(k) == v for k, v in wave.labels.items())
    return False


def _digest(job: Job) -> str:
    return hashlib.sha256(job.label.encode()).hexdigest()


def assign(fleet: Fleet, jobs: Iterable[Job]) -> tuple[tuple[Job, ...], Rollout | None]:
    """The jobs with their wave set (in the given order), and the rollout; the jobs
    unchanged and None when the plan is not rolled out in waves."""
    jobs = tuple(jobs)
    reason = trigger_reason(fleet, jobs)
    if reason is None:
        return jobs, None
    check_rollout(fleet)
    waves = fleet.settings.rollout.waves
    wave_of: dict[Job, int] = {}
    hub_jobs = [job for job in jobs if job.hub is not None]
    for index, wave in enumerate(waves):
        free = [job for job in hub_jobs if job not in wave_of]
        if wave.share is not None:
            prod = sorted((j for j in free if j.kind == "prod"), key=_digest)
            take = math.ceil(share_fraction(wave.share) * len(prod) - 1e-9)
            chosen = prod[:take]
        else:
            chosen = [j for j in free if _selects(wave, fleet.cluster(j.cluster).hub(j.hub or ""))]
        wave_of.update(dict.fromkeys(chosen, index))
    rest = len(waves)
    for job in hub_jobs:
        wave_of.setdefault(job, rest)
    # Canaries and support first in their cluster's first wave.
    first: dict[str, int] = {}
    for job in hub_jobs:
        first[job.cluster] = min(first.get(job.cluster, rest), wave_of[job])
    for job in jobs:
        if job.kind in ("support", "staging"):
            wave_of[job] = first.get(job.cluster, 0 if job.kind == "support" else wave_of[job])
    infos = [WaveInfo(w.name, w.soak_s, w.max_failures) for w in waves] + [REST]
    used = sorted(set(wave_of.values()))
    rollout = Rollout(tuple(infos[i] for i in range(max(used, default=0) + 1)), reason)
    return tuple(replace(job, wave=infos[wave_of[job]].name) for job in jobs), rollout


def last_rollout_stopped(fleet: Fleet) -> str | None:
    """Where the last rollout of this checkout stopped (`.hubfleet/rollout.json`, written
    by `hubfleet deploy`); None when it completed, none ran, or the file is unusable."""
    if not (fleet.root / STATE_FILE).is_file():
        return None
    try:
        data = parse_json(
            read_fleet_file(fleet.root, STATE_FILE).decode(), STATE_FILE, "rollout state"
        ).data
    except (HubfleetError, UnicodeDecodeError):
        return None
    stopped = data.get("stopped") if isinstance(data, dict) else None
    return stopped if isinstance(stopped, str) and stopped else None
