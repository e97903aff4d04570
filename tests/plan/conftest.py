"""Fixtures for plan tests: the test fleet, and throwaway git repositories of it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubfleet.config.fleet import Fleet
from hubfleet.config.load import load_fleet
from hubfleet.plan.plan import Plan
from tests.conftest import TEST_FLEET

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    return load_fleet(TEST_FLEET).fleet_or_raise()


@dataclass
class GitFleet:
    root: Path

    @classmethod
    def started(cls, root: Path) -> GitFleet:
        """A git repository of `root`, its files committed and tagged `base`."""
        repo = cls(root)
        repo.git("init", "-q", "-b", "main")
        repo.commit("base")
        repo.git("tag", "base")
        return repo

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV, "HOME": str(self.root.parent)}
        return subprocess.run(
            ["git", *args], cwd=self.root, env=env, check=True, capture_output=True, text=True
        ).stdout

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def path(self, relative: str) -> Path:
        return self.root / relative

    def edit(self, relative: str, old: str, new: str) -> None:
        file = self.path(relative)
        text = file.read_text()
        assert old in text, f"{old!r} not in {relative}"
        file.write_text(text.replace(old, new, 1))


@pytest.fixture
def git_fleet(fleet_copy: Path) -> GitFleet:
    return GitFleet.started(fleet_copy)


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
