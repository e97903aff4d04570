"""Shared fixtures of the export tests: the test fleet, sops with the fleet's key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import Fleet
from hubfleet.config.load import load_fleet
from hubfleet.secrets.sops import Sops

TESTS = Path(__file__).resolve().parents[1]
FIXTURE_FLEET = TESTS / "fixtures" / "fleet"
FLEET_KEY = TESTS / "fixtures" / "age" / "keys.txt"
OTHER_KEY = TESTS / "fixtures" / "age" / "other-keys.txt"
EXAMPLE_FLEET = TESTS.parent / "examples" / "fleet"
MARKER = "s3cr3t"


@pytest.fixture(autouse=True)
def _sops_env(no_age_key: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No sops key unless a test passes one; an empty chart cache: remote charts
    are not available unless a test seeds them."""
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(tmp_path / "chart-cache"))


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    return load_fleet(FIXTURE_FLEET).fleet_or_raise()


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


def make_sops(redactor: Redactor, root: Path, key: Path = FLEET_KEY) -> Sops:
    return Sops(redactor, cwd=root, env={"SOPS_AGE_KEY_FILE": str(key)})


@pytest.fixture
def sops(redactor: Redactor, fleet: Fleet) -> Sops:
    return make_sops(redactor, fleet.root)


def all_files_text(folder: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in sorted(folder.rglob("*")) if p.is_file()
    )
