"""`hubfleet ci init` and `ci check` load the fleet once (DESIGN.md: loaded once per
process and passed down; `init` loaded it four times: providers, health schedule,
CODEOWNERS, soak environments), with the same files and lines as before."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from hubfleet.config import load
from tests.ci.ci_helpers import EXAMPLE_FLEET


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    real = load.load_fleet

    def counted(root: Path) -> Any:
        seen.append(root)
        return real(root)

    monkeypatch.setattr(load, "load_fleet", counted)
    return seen


def test_init_and_check_load_the_fleet_once(
    tmp_path: Path, run_cli: Any, loads: list[Path]
) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(EXAMPLE_FLEET, fleet, ignore=shutil.ignore_patterns(".github", ".hubfleet"))
    result = run_cli("--repo", fleet, "ci", "init", "--force")
    assert result.exit_code == 0, result.output
    assert len(loads) == 1
    assert "(the fleet's clusters)" in result.stdout  # the providers came from the fleet
    assert (fleet / ".github/workflows/hubfleet-health.yaml").is_file()
    loads.clear()
    checked = run_cli("--repo", fleet, "ci", "check")
    assert checked.exit_code == 0, checked.output
    assert len(loads) == 1


def test_a_fleet_that_does_not_load_is_tried_once(
    tmp_path: Path, run_cli: Any, loads: list[Path]
) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(EXAMPLE_FLEET, fleet, ignore=shutil.ignore_patterns(".github", ".hubfleet"))
    (fleet / "hubfleet.yaml").write_text("rollout: [not, a, mapping\n")
    result = run_cli("--repo", fleet, "ci", "init", "--provider", "gcp")
    assert result.exit_code == 0, result.output
    assert len(loads) == 1
    assert "providers: gcp (--provider)" in result.stdout
