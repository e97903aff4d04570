"""The example fleet shows the whole path: terraform: blocks on its gcp, aws and azure
clusters, the scaffolded modules, and each hub_access hub listing its generated values."""

from __future__ import annotations

import shutil
from pathlib import Path

from hubfleet.config.load import load_fleet
from hubfleet.terraform.inputs import compute
from hubfleet.terraform.scaffold import shipped
from hubfleet.terraform.values import stale, values_file
from hubfleet.validate.run import validate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet"


def test_example_modules_are_the_shipped_ones() -> None:
    for provider in ("gcp", "aws", "azure"):
        for name, text in shipped(provider).items():
            path = EXAMPLE / "terraform" / provider / name
            assert path.read_text() == text, (
                f"run examples/make_example_fleet.py --terraform-only ({path})"
            )


def test_each_cloud_cluster_has_a_terraform_block_and_fresh_generated_values() -> None:
    fleet = load_fleet(EXAMPLE).fleet_or_raise()
    clouds = {c.provider: c for c in fleet.clusters if c.spec.terraform is not None}
    assert sorted(clouds) == ["aws", "azure", "gcp"]
    for cluster in clouds.values():
        block = cluster.spec.terraform
        assert block is not None and block.hub_access and block.buckets
        inputs = compute(cluster)
        for hub in block.hub_access:
            assert values_file(cluster, hub) in cluster.hub(hub).values_files
        assert stale(fleet, cluster, inputs) == []


def test_a_stale_generated_file_is_reported(tmp_path: Path) -> None:
    fleet_dir = tmp_path / "fleet"
    shutil.copytree(EXAMPLE, fleet_dir)
    cluster_yaml = fleet_dir / "config" / "clusters" / "research-aws" / "cluster.yaml"
    cluster_yaml.write_text(
        cluster_yaml.read_text().replace("scratch: SCRATCH_BUCKET", "scratch: SCRATCH_DIR")
    )
    fleet = load_fleet(fleet_dir).fleet_or_raise()
    cluster = fleet.cluster("research-aws")
    [problem] = stale(fleet, cluster, compute(cluster))
    assert problem.path == "config/clusters/research-aws/research.terraform.values.yaml"
    lines = (fleet_dir / problem.path).read_text().splitlines()
    assert lines[problem.line - 1].strip() == "extraEnv:"
    assert "extraEnv is stale" in problem.message


def _validate(root: Path) -> list[str]:
    return [p.render() for p in validate(root, render=False).problems]


def test_validate_reports_a_stale_file_and_an_undeclared_bucket(tmp_path: Path) -> None:
    fleet_dir = tmp_path / "fleet"
    shutil.copytree(EXAMPLE, fleet_dir)
    assert _validate(fleet_dir) == []
    base = fleet_dir / "config" / "clusters" / "research-aws"
    cluster_yaml = base / "cluster.yaml"
    cluster_yaml.write_text(
        cluster_yaml.read_text().replace("scratch: SCRATCH_BUCKET", "scratch: SCRATCH_DIR")
    )
    values = base / "teaching.values.yaml"
    values.write_text(
        values.read_text() + "singleuser:\n  extraEnv:\n    DATA: s3://someone-elses-bucket/data\n"
    )
    found = _validate(fleet_dir)
    assert any(
        p.startswith("config/clusters/research-aws/research.terraform.values.yaml:")
        and "extraEnv is stale" in p
        for p in found
    ), found
    line = len(values.read_text().splitlines())
    assert (
        f"config/clusters/research-aws/teaching.values.yaml:{line}: warning: bucket s3://someone-elses-bucket"
        in "\n".join(found)
    )


def test_a_declared_bucket_url_is_no_warning(tmp_path: Path) -> None:
    fleet_dir = tmp_path / "fleet"
    shutil.copytree(EXAMPLE, fleet_dir)
    values = fleet_dir / "config" / "clusters" / "research-aws" / "teaching.values.yaml"
    values.write_text(
        values.read_text()
        + "singleuser:\n  extraEnv:\n    DATA: s3://111122223333-research-aws-public\n"
    )
    assert _validate(fleet_dir) == []
