"""`.github/CODEOWNERS` from the fleet: each community owns its files, the platform team the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hubfleet.community.codeowners import CODEOWNERS_PATH, render_codeowners
from hubfleet.config.load import load_fleet
from tests.community.conftest import EXAMPLE_FLEET, RESEARCH, TEACHING


def test_each_community_owns_its_files_the_platform_everything_else(example_fleet: Path) -> None:
    text = render_codeowners(load_fleet(example_fleet).fleet_or_raise())
    assert text is not None
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert rules == [
        "* @example-org/platform",
        f"/{RESEARCH} @example-research/hub-admins @alice-research @example-org/platform",
        f"/{TEACHING} @example-teaching/instructors @example-org/platform",
    ]


def test_no_platform_team_no_codeowners(fleet_copy: Path) -> None:
    assert render_codeowners(load_fleet(fleet_copy).fleet_or_raise()) is None


def test_ci_init_writes_it_and_regenerates_identically(example_fleet: Path, run_cli: Any) -> None:
    first = run_cli("--repo", example_fleet, "ci", "init", "--force")
    assert first.exit_code == 0, first.output
    written = (example_fleet / CODEOWNERS_PATH).read_bytes()
    again = run_cli("--repo", example_fleet, "ci", "init")
    assert again.exit_code == 0, again.output
    assert f"unchanged {CODEOWNERS_PATH}" in again.stdout
    assert (example_fleet / CODEOWNERS_PATH).read_bytes() == written
    assert run_cli("--repo", example_fleet, "ci", "check").exit_code == 0

    cluster = example_fleet / "config/clusters/pilot-gcp/cluster.yaml"
    cluster.write_text(cluster.read_text().replace("'@alice-research'", "'@bob-research'"))
    stale = run_cli("--repo", example_fleet, "ci", "check")
    assert stale.exit_code == 1
    assert CODEOWNERS_PATH in stale.stderr


def test_example_fleet_codeowners_is_up_to_date() -> None:
    text = render_codeowners(load_fleet(EXAMPLE_FLEET).fleet_or_raise())
    assert (EXAMPLE_FLEET / CODEOWNERS_PATH).read_text() == text, (
        "run `hubfleet --repo examples/fleet ci init --force`"
    )


def test_community_command_json(run_cli: Any) -> None:
    import json

    result = run_cli("--repo", EXAMPLE_FLEET, "community", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["platform_owners"] == ["@example-org/platform"]
    [research, teaching] = data["hubs"]
    assert research["files"] == [RESEARCH]
    assert "singleuser.memory" not in research["may_change"]["allow"]
    assert "singleuser.memory" in teaching["may_change"]["allow"]
    assert teaching["may_change"]["constraints"]["singleuser.memory.limit"] == {
        "minimum": "1G",
        "maximum": "8G",
    }
    assert "hub.extraConfig" in teaching["may_change"]["deny"]
