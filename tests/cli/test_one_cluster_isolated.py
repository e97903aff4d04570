"""`render` and `export` of one cluster's hub are not stopped by another cluster's
broken configuration (docs/isolation.md): that cluster is left out with a warning; a
problem in the named cluster still stops the command (exit 2) at its file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BETA = "config/clusters/beta/cluster.yaml"


def _break_beta(fleet: Path) -> None:
    path = fleet / BETA
    path.write_text(path.read_text() + "unknown_key: 1\n")


def test_render_leaves_the_broken_cluster_out(fleet_copy: Path, run_cli: Any) -> None:
    _break_beta(fleet_copy)
    result = run_cli("--repo", fleet_copy, "render", "alpha", "staging", "--placeholders")
    assert result.exit_code == 0, result.output
    assert "kind: Deployment" in result.stdout
    assert "warning: cluster beta left out" in result.stderr


def test_export_leaves_the_broken_cluster_out(
    fleet_copy: Path, run_cli: Any, tmp_path: Path
) -> None:
    _break_beta(fleet_copy)
    result = run_cli("--repo", fleet_copy, "export", "alpha", "staging", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "README.md").is_file()
    assert "warning: cluster beta left out" in result.stderr


def test_the_named_cluster_broken_stops_the_command(fleet_copy: Path, run_cli: Any) -> None:
    _break_beta(fleet_copy)
    result = run_cli("--repo", fleet_copy, "render", "beta", "staging", "--placeholders")
    assert result.exit_code == 2
    assert BETA in result.stderr and "unknown_key" in result.stderr


def test_a_healthy_fleet_warns_of_nothing(fleet_copy: Path, run_cli: Any) -> None:
    result = run_cli("--repo", fleet_copy, "render", "alpha", "staging", "--placeholders")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
