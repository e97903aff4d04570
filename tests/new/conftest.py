from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
FIXTURE_FLEET = TESTS / "fixtures" / "fleet"
FLEET_KEY = TESTS / "fixtures" / "age" / "keys.txt"
KEY_ENV = {"SOPS_AGE_KEY_FILE": str(FLEET_KEY)}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SOPS_DISABLE_VERSION_CHECK", "1")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(FLEET_KEY))
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(tmp_path / "chart-cache"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A writable copy of the test fleet."""
    target = tmp_path / "fleet"
    shutil.copytree(FIXTURE_FLEET, target, symlinks=False)
    return target
