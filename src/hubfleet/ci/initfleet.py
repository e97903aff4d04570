"""What `hubfleet ci init` and `hubfleet ci check` read from the fleet, from one loaded
fleet (DESIGN.md: the fleet is loaded once per process and passed down).

A fleet that does not load is `None`: the workflows are still written, from the
existing workflows' settings or the defaults, as before.
"""

from __future__ import annotations

from pathlib import Path

from hubfleet.base.errors import HubfleetError
from hubfleet.ci.workflows import (
    CI_PROVIDERS,
    CLOUD_PROVIDERS,
    DEFAULT_BRANCH,
    CiSettings,
    fleet_providers,
    read_settings,
)
from hubfleet.config import load
from hubfleet.config.fleet import Fleet
from hubfleet.config.notify import DEFAULT_HEALTH_SCHEDULE

HEALTH_WORKFLOW = ".github/workflows/hubfleet-health.yaml"


def fleet_if_it_loads(repo: Path) -> Fleet | None:
    """The fleet, loaded once; `None` when its configuration does not load."""
    try:
        return load.load_fleet(repo).fleet_or_raise()
    except HubfleetError:
        return None


def choose_settings(
    repo: Path,
    fleet: Fleet | None,
    providers: list[str] | None,
    hubfleet_version: str,
    branch: str | None,
) -> tuple[CiSettings, str]:
    """The workflows' settings and where the providers came from: `--provider`, else
    the fleet's clusters, else the existing workflows, else every cloud provider."""
    existing = read_settings(repo)
    found = tuple(p for p in fleet_providers(fleet) if p in CI_PROVIDERS) if fleet else ()
    if providers:
        chosen, source = tuple(providers), "--provider"
    elif found:
        chosen, source = found, "the fleet's clusters"
    elif existing is not None:
        chosen, source = existing.providers, "the existing workflows"
    else:
        chosen, source = CLOUD_PROVIDERS, "default: every cloud provider"
    settings = CiSettings(
        providers=chosen,
        hubfleet_version=hubfleet_version,
        branch=branch or (existing.branch if existing else DEFAULT_BRANCH),
        health_schedule=health_schedule(fleet, existing),
    )
    return settings, source


def health_schedule(fleet: Fleet | None, existing: CiSettings | None) -> str:
    """hubfleet.yaml's `health.schedule` when the fleet loads, else the existing one's."""
    if fleet is not None:
        return fleet.settings.health.schedule
    return existing.health_schedule if existing else DEFAULT_HEALTH_SCHEDULE


def schedule_changed(repo: Path, fleet: Fleet | None, stale: list[str]) -> list[str]:
    """The health workflow, when hubfleet.yaml's `health.schedule` is not the one it
    was generated with (its header records the settings, not the fleet's file)."""
    existing = read_settings(repo)
    if existing is None or HEALTH_WORKFLOW in stale:
        return []
    changed = health_schedule(fleet, existing) != existing.health_schedule
    return [HEALTH_WORKFLOW] if changed else []


def soak_environments(fleet: Fleet | None) -> list[str]:
    """The environments whose wait timers hold each wave's soak (docs/ci.md): one line each."""
    waves = fleet.settings.rollout.waves if fleet is not None else ()
    return [
        f"rollout wave {index} ({wave.name}): give the environment hubfleet-soak-{index} a "
        f"wait timer of {int((wave.soak_s + 59) // 60)} minutes"
        for index, wave in enumerate(waves, start=1)
        if wave.soak_s > 0
    ]
