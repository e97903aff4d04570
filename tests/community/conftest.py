"""A writable copy of the example fleet, whose pilot-gcp hubs have communities."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy.conftest import denv  # noqa: F401 (the deploy tests' fixture, for the rollback)

EXAMPLE_FLEET = Path(__file__).parent.parent.parent / "examples" / "fleet"
CLUSTER = "config/clusters/pilot-gcp"
RESEARCH = f"{CLUSTER}/research.community.values.yaml"
TEACHING = f"{CLUSTER}/teaching.community.values.yaml"


@pytest.fixture
def example_fleet(tmp_path: Path) -> Path:
    target = tmp_path / "fleet"
    shutil.copytree(EXAMPLE_FLEET, target, symlinks=False)
    return target


def line_of(root: Path, path: str, text: str) -> int:
    """The 1-based line of the first line of `path` containing `text`."""
    for number, line in enumerate((root / path).read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")
