"""validate with one broken cluster beside healthy ones (issue 24 point 2,
docs/isolation.md): every cluster's problems in one run, the healthy clusters still
rendered and checked; with --isolate, exit 3 when every error is a broken cluster's
(2 without it, the command contract); exit 2 when the rest has a problem too, or when a problem is outside every cluster's folder
(hubfleet.yaml, a shared chart), which stops everything and says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BETA = "config/clusters/beta"
GAMMA = "config/clusters/gamma"


def _validate(run_cli: Any, fleet: Path, *more: str) -> tuple[Any, dict[str, Any]]:
    result = run_cli("--repo", fleet, "validate", "--isolate", "--output", "json", *more)
    return result, json.loads(result.stdout)


def test_broken_cluster_beside_healthy_ones(run_cli: Any, fleet_copy: Path, age_key: Path) -> None:
    (fleet_copy / BETA / "enc-research.secret.values.yaml").unlink()
    (fleet_copy / GAMMA / "cluster.yaml").write_text("name: gamma\nprovider: azure\nhubs: 3\n")
    result, data = _validate(run_cli, fleet_copy)
    assert result.exit_code == 3, result.output
    assert data["broken_clusters"] == ["beta", "gamma"]
    errors = [p for p in data["problems"] if p["severity"] == "error"]
    where = {(p["path"], p["line"] > 0) for p in errors}
    assert (f"{BETA}/cluster.yaml", True) in where  # the deleted file, at its line
    assert (f"{GAMMA}/cluster.yaml", True) in where  # its schema errors, at their lines
    rendered = set(data["rendered"])
    assert not any(label.startswith(("beta/", "gamma/")) for label in rendered)
    # the healthy clusters are rendered and checked all the same
    assert {"alpha/prod1", "alpha/support", "delta/prod"} <= rendered
    assert data["fleet_wide"] is False


def test_text_output_says_the_rest_is_clean(run_cli: Any, fleet_copy: Path, age_key: Path) -> None:
    (fleet_copy / BETA / "enc-research.secret.values.yaml").unlink()
    result = run_cli("--repo", fleet_copy, "validate", "--isolate")
    assert result.exit_code == 3, result.output
    assert f"{BETA}/cluster.yaml:" in result.stdout
    assert "configuration broken, not rendered: beta; the rest of the fleet is clean" in (
        result.stderr
    )
    assert "12 release(s) rendered" in result.stderr  # 15 without beta's three
    plain = run_cli("--repo", fleet_copy, "validate")  # without --isolate: the contract's 2
    assert plain.exit_code == 2, plain.output
    assert "12 release(s) rendered" in plain.stderr


def test_a_problem_in_a_healthy_cluster_still_exits_2(
    run_cli: Any, fleet_copy: Path, age_key: Path
) -> None:
    """beta broken, and alpha's values plaintext-secret-flagged: the rest is not clean."""
    (fleet_copy / BETA / "enc-research.secret.values.yaml").unlink()
    values = fleet_copy / "config/clusters/alpha/prod2.values.yaml"
    values.write_text(values.read_text() + "\nextra:\n  password: hunter2-plaintext\n")
    result, data = _validate(run_cli, fleet_copy)
    assert result.exit_code == 2, result.output
    assert data["broken_clusters"] == ["beta"]
    paths = {p["path"] for p in data["problems"] if p["severity"] == "error"}
    assert "config/clusters/alpha/prod2.values.yaml" in paths
    assert f"{BETA}/cluster.yaml" in paths  # both reported in the one run


def test_broken_hubfleet_yaml_stops_everything(
    run_cli: Any, fleet_copy: Path, age_key: Path
) -> None:
    (fleet_copy / "hubfleet.yaml").write_text("default_chart: [testhub\n")
    result = run_cli("--repo", fleet_copy, "validate", "--isolate")
    assert result.exit_code == 2, result.output
    assert "hubfleet.yaml:" in result.stdout
    assert "every cluster depends on them" in result.stderr
    assert "0 release(s) rendered" in result.stderr


def test_broken_shared_chart_stops_everything(
    run_cli: Any, fleet_copy: Path, age_key: Path
) -> None:
    """helm-charts/testhub is the chart of every hub: its error is no one cluster's; every
    release using it is unrendered, the exit code is 2 and the note says why."""
    (fleet_copy / "helm-charts/testhub/Chart.yaml").write_text("name: [testhub\n")
    result, data = _validate(run_cli, fleet_copy)
    assert result.exit_code == 2, result.output
    assert data["fleet_wide"] is True
    assert data["broken_clusters"] == []
    paths = {p["path"] for p in data["problems"] if p["severity"] == "error"}
    assert "helm-charts/testhub/Chart.yaml" in paths
    assert not {"alpha/prod1", "beta/research", "gamma/prod"} & set(data["rendered"])
    text = run_cli("--repo", fleet_copy, "validate")
    assert "every cluster depends on them" in text.stderr
