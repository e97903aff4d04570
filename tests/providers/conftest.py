"""Fixtures for provider tests: the test fleet loaded from a copy, sops with the test key, fakes."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.fakes import fake_tools  # noqa: F401  (fixture)

from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import Fleet
from hubfleet.config.load import load_fleet
from hubfleet.providers import ProviderContext
from hubfleet.secrets.sops import Sops


@pytest.fixture
def isolated_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR of this test (private folders are created here) and a fake HOME."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text("user-kubeconfig: keep me\n")
    monkeypatch.setenv("HOME", str(home))
    return tmp


def load(root: Path) -> Fleet:
    return load_fleet(root).fleet_or_raise()


def context(fleet: Fleet, cluster: str, redactor: Redactor | None = None) -> ProviderContext:
    redactor = redactor or Redactor()
    return ProviderContext(
        fleet=fleet,
        cluster=fleet.cluster(cluster),
        sops=Sops(redactor, cwd=fleet.root),
        redactor=redactor,
    )
