"""The terraform: block: schema errors at their line, vars checks, `vars` output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubfleet.config.load import load_fleet


def _append(fleet: Path, cluster: str, text: str) -> None:
    path = fleet / "config" / "clusters" / cluster / "cluster.yaml"
    path.write_text(path.read_text() + text)


def _line_of(fleet: Path, cluster: str, needle: str) -> int:
    lines = (fleet / "config" / "clusters" / cluster / "cluster.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_vars_prints_the_module_inputs(tf_fleet: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--repo", tf_fleet, "terraform", "vars", "beta")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["cluster_name"] == "beta-eks" and data["region"] == "eu-west-1"
    assert data["account_id"] == "123456789012"
    assert set(data["hub_identities"]) == {"research"}  # exactly the hub_access hubs
    assert data["hub_identities"]["research"]["buckets"] == ["public", "scratch"]
    assert data["buckets"]["scratch"] == {
        "name": "123456789012-beta-scratch",
        "lifecycle_days": 7,
        "public_read": False,
        "versioning": False,
    }
    assert data["github_repository"] == "example/fleet"
    assert data["node_pools"]["gpu"]["taints"] == ["nvidia.com/gpu=present:NoSchedule"]
    again = run_cli("--repo", tf_fleet, "terraform", "vars", "beta")
    assert again.stdout == result.stdout  # deterministic


def test_a_var_repeating_the_provider_block_names_both_lines(tf_fleet: Path) -> None:
    _append(tf_fleet, "alpha", "    project_id: other\n")
    problems = load_fleet(tf_fleet).errors
    var_line = _line_of(tf_fleet, "alpha", "project_id: other")
    fact_line = _line_of(tf_fleet, "alpha", "project: alpha-project")
    [problem] = [p for p in problems if "project_id" in p.message]
    assert problem.line == var_line
    assert f"line {fact_line}" in problem.message and "gcp.project" in problem.message


def test_a_computed_input_cannot_be_set_through_vars(tf_fleet: Path) -> None:
    _append(tf_fleet, "alpha", "    buckets: {}\n")
    [problem] = [p for p in load_fleet(tf_fleet).errors if "computes" in p.message]
    assert problem.line == _line_of(tf_fleet, "alpha", "    buckets: {}")


def test_hub_access_must_name_hubs_and_buckets(fleet_copy: Path) -> None:
    _append(
        fleet_copy,
        "gamma",
        "terraform:\n  backend: {type: azurerm}\n  buckets: {scratch: {}}\n  hub_access:\n    prd:\n      scratch: SCRATCH\n",
    )
    [problem] = [p for p in load_fleet(fleet_copy).errors if "hub_access" in p.message]
    assert problem.line == _line_of(fleet_copy, "gamma", "prd:")
    assert "prod" in (problem.hint or "")


def test_schema_errors_come_at_their_line(fleet_copy: Path) -> None:
    _append(
        fleet_copy,
        "gamma",
        "terraform:\n  backend: {type: azurerm}\n  buckets:\n    scratch:\n      lifecycle_days: soon\n",
    )
    problems = load_fleet(fleet_copy).errors
    assert any(p.line == _line_of(fleet_copy, "gamma", "lifecycle_days: soon") for p in problems), (
        problems
    )


def test_a_var_the_module_does_not_declare_is_refused(tf_fleet: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    _append(tf_fleet, "gamma", "    no_such_input: 1\n")
    result = run_cli("--repo", tf_fleet, "terraform", "vars", "gamma")
    assert result.exit_code == 2
    assert f"cluster.yaml:{_line_of(tf_fleet, 'gamma', 'no_such_input')}" in result.stderr
    assert "no_such_input" in result.stderr


def test_schema_export_has_the_terraform_block(run_cli) -> None:  # type: ignore[no-untyped-def]
    from hubfleet.config.models import ClusterFile

    schema = ClusterFile.model_json_schema()
    assert "terraform" in schema["properties"]
    assert "TerraformBlock" in json.dumps(schema)


@pytest.mark.parametrize(
    ("module", "message"),
    [("../../outside", "outside the repository"), ("terraform/nowhere", "does not exist")],
)
def test_a_module_folder_outside_the_repository_or_missing_is_refused(
    tf_fleet: Path, module: str, message: str
) -> None:
    path = tf_fleet / "config" / "clusters" / "gamma" / "cluster.yaml"
    path.write_text(path.read_text().replace("terraform:\n", f"terraform:\n  module: {module}\n"))
    [problem] = [p for p in load_fleet(tf_fleet).errors if message in p.message]
    assert problem.line == _line_of(tf_fleet, "gamma", f"module: {module}")


def test_a_custom_module_folder_is_used(tf_fleet: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (tf_fleet / "infra").mkdir()
    (tf_fleet / "terraform" / "azure").rename(tf_fleet / "infra" / "aks")
    path = tf_fleet / "config" / "clusters" / "gamma" / "cluster.yaml"
    path.write_text(path.read_text().replace("terraform:\n", "terraform:\n  module: infra/aks\n"))
    assert run_cli("--repo", tf_fleet, "terraform", "vars", "gamma").exit_code == 0


def test_scaffold_writes_the_module_and_never_overwrites(fleet_copy: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--repo", fleet_copy, "terraform", "scaffold", "aws", "-o", "json")
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)["written"]
    assert "terraform/aws/variables.tf" in written and all(
        (fleet_copy / p).is_file() for p in written
    )
    (fleet_copy / "terraform/aws/main.tf").write_text("# mine\n")
    again = run_cli("--repo", fleet_copy, "terraform", "scaffold", "aws")
    assert again.exit_code == 2 and "--force" in again.stderr
    assert (fleet_copy / "terraform/aws/main.tf").read_text() == "# mine\n"
    assert run_cli("--repo", fleet_copy, "terraform", "scaffold", "oci").exit_code == 2
