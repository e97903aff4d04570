"""Fixtures for plan tests: the test fleet, and what a plan's jobs are (the fleet in a
git repository, `git_fleet`, is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hubfleet.config.fleet import Fleet
from hubfleet.config.load import load_fleet
from hubfleet.plan.plan import Plan
from tests.conftest import TEST_FLEET
from tests.helpers import GitFleet as GitFleet  # the plan tests import it from here


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    return load_fleet(TEST_FLEET).fleet_or_raise()


def units(plan: Plan) -> dict[str, list[str]]:
    """Jobs as `cluster/hub` labels per kind, in plan order."""
    return {
        "support": [j.cluster for j in plan.support_jobs],
        "staging": [f"{j.cluster}/{j.hub}" for j in plan.staging_jobs],
        "prod": [f"{j.cluster}/{j.hub}" for j in plan.prod_jobs],
    }


def job(plan: Plan, label: str) -> tuple[str, ...]:
    """The reasons of the job `cluster/hub` (or `cluster` for support)."""
    cluster, _, hub = label.partition("/")
    for candidate in (*plan.support_jobs, *plan.staging_jobs, *plan.prod_jobs):
        if candidate.cluster == cluster and (candidate.hub or "") == hub:
            return candidate.reasons
    raise AssertionError(f"no job {label}")


PlanFor = Callable[..., Plan]
