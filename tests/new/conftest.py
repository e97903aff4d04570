from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import AGE_KEY

KEY_ENV = {"SOPS_AGE_KEY_FILE": str(AGE_KEY)}


@pytest.fixture(autouse=True)
def _env(age_key: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(tmp_path / "chart-cache"))


@pytest.fixture
def repo(fleet_copy: Path) -> Path:
    """A writable copy of the test fleet."""
    return fleet_copy
