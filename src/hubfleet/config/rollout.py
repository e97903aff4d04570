"""The schema of fleet-wide rollouts in waves (`rollout:` in hubfleet.yaml) and of a
hub's `hold:` (cluster.yaml), docs/deploy.md "Rolling out a z2jh upgrade".

A rollout is an ordered list of waves (cohorts of hubs across clusters), each with a
soak time and a halt threshold, and a trigger that says when a plan uses them. Which
hub falls in which wave is decided by `hubfleet.plan.waves`; the deploy's wave loop
is `hubfleet.deploy.waves`.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from hubfleet.base import duration

# The deploy workflow chains a fixed number of wave jobs (ci/templates): the waves
# hubfleet.yaml names, plus the implicit last wave `rest` (hubs no wave selects).
MAX_WAVES = 5
REST_WAVE = "rest"
MAX_SOAK_S = 7 * 24 * 3600.0

_WAVE_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
_SHARE = re.compile(r"(\d{1,3}(?:\.\d+)?)%")
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,62}")
_LABEL_VALUE = re.compile(r"[A-Za-z0-9._-]{0,63}")


def _wave_name(value: str) -> str:
    if not _WAVE_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a wave name (lowercase letters, digits and -, starting with "
            "a letter, at most 31)"
        )
    if value == REST_WAVE:
        raise ValueError(f"{REST_WAVE!r} is the implicit last wave's name: choose another")
    return value


def _soak(value: str) -> str:
    seconds = duration.seconds(value)
    if not 0.0 <= seconds <= MAX_SOAK_S:
        raise ValueError(f"{value!r} is out of range: between 0 and 168h")
    return value


def share_fraction(value: str) -> float:
    """`"25%"` as 0.25 (ValueError when it is not a share between 0% and 100%)."""
    match = _SHARE.fullmatch(value)
    if not match or not 0.0 <= float(match.group(1)) <= 100.0:
        raise ValueError(f"{value!r} is not a share (write e.g. 25%)")
    return float(match.group(1)) / 100.0


def _share(value: str) -> str:
    share_fraction(value)
    return value


def _threshold(value: int | str) -> int | str:
    if isinstance(value, str):
        share_fraction(value)
    elif value < 0:
        raise ValueError(f"{value} is not a count of failures (0 or more)")
    return value


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, label in value.items():
        if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(label):
            raise ValueError(f"{key}: {label!r} is not a label (letters, digits, '.', '_', '-')")
    return value


WaveName = Annotated[str, AfterValidator(_wave_name)]
Soak = Annotated[str, AfterValidator(_soak)]
Share = Annotated[str, AfterValidator(_share)]
Threshold = Annotated[int | str, AfterValidator(_threshold)]
Labels = Annotated[dict[str, str], AfterValidator(_labels)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Wave(_Strict):
    """One cohort of hubs: exactly one of clusters, hubs, labels or share selects it."""

    name: WaveName = Field(description="the wave's name (plan, report, summary)")
    clusters: list[str] | None = Field(None, description="every hub of these clusters")
    hubs: str | None = Field(
        None, description="hubs whose `cluster/hub` (or hub name) matches this glob"
    )
    labels: Labels | None = Field(None, description="hubs carrying all these labels")
    share: Share | None = Field(
        None, description="this share of the production hubs no earlier wave took (e.g. 25%)"
    )
    soak: Soak = Field("0", description="wait after the wave succeeded (a duration: 30m, 2h)")
    max_failures: Threshold = Field(
        0,
        description="failed hubs the wave tolerates before the rollout halts: a count, or a "
        "share of the wave's hubs (10%); more halts it",
    )

    @model_validator(mode="after")
    def _one_selector(self) -> Wave:
        chosen = [
            key for key in ("clusters", "hubs", "labels", "share") if getattr(self, key) is not None
        ]
        if len(chosen) != 1:
            raise ValueError(
                f"wave {self.name!r} needs exactly one of clusters, hubs, labels or share"
                + (f" (has {', '.join(chosen)})" if chosen else "")
            )
        return self

    @property
    def soak_s(self) -> float:
        return duration.seconds(self.soak)


class WaveTrigger(_Strict):
    """When a plan is rolled out in waves (either condition); otherwise every cluster at once."""

    clusters_over: int | None = Field(
        None, ge=0, description="a plan that upgrades hubs in more than this many clusters"
    )
    charts: list[str] = Field(
        default_factory=list,
        description="a plan that upgrades a hub because one of these charts changed",
    )


class RolloutSettings(_Strict):
    """`rollout:` in hubfleet.yaml."""

    waves: list[Wave] = Field(default_factory=list, description="the ordered waves")
    trigger: WaveTrigger = Field(default_factory=WaveTrigger)

    @model_validator(mode="after")
    def _unique(self) -> RolloutSettings:
        names = [wave.name for wave in self.waves]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"wave names must be unique: {', '.join(twice)}")
        if len(self.waves) > MAX_WAVES:
            raise ValueError(
                f"at most {MAX_WAVES} waves (the implicit last wave {REST_WAVE!r} takes the rest)"
            )
        return self


class HoldBlock(_Strict):
    """A hub held back: never deployed while held; the plan shows it with the reason."""

    reason: str = Field(min_length=1, max_length=300, description="why the hub is held back")


HubLabels = Labels

UNKNOWN_CLUSTER_HINT = "name clusters of config/clusters/, or select hubs by pattern or label"


def unknown_clusters(
    rollout: RolloutSettings, names: set[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Each cluster a wave names that is not in `names`: (its key path in hubfleet.yaml,
    the message)."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    for index, wave in enumerate(rollout.waves):
        for position, name in enumerate(wave.clusters or ()):
            if name not in names:
                key = ("rollout", "waves", index, "clusters", position)
                found.append(
                    (key, f"rollout.waves[{index}] ({wave.name}): no cluster named {name!r}")
                )
    return found
