"""Every cloud name hubfleet derives is unique in its scope across the fleet."""

from __future__ import annotations

import shutil
from pathlib import Path

from hubfleet.config.load import load_fleet
from hubfleet.terraform.check import terraform_problems
from tests.terraform.conftest import copy_example, line_of


def _clashes(root: Path) -> list[str]:
    fleet = load_fleet(root).fleet_or_raise()
    problems = terraform_problems(fleet, fleet.clusters)
    return [p.render() for p in problems if "would both be named" in p.message]


def test_the_example_fleet_has_no_clash(tmp_path: Path) -> None:
    assert _clashes(copy_example(tmp_path)) == []


def test_a_hub_named_like_a_ci_identity_clashes(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    cluster_yaml = root / "config" / "clusters" / "research-aws" / "cluster.yaml"
    text = cluster_yaml.read_text()
    text = text.replace("- name: research\n", "- name: deployer\n")
    text = text.replace("\n    research:\n", "\n    deployer:\n")  # its hub_access key
    cluster_yaml.write_text(text)
    [problem] = _clashes(root)
    line = line_of(cluster_yaml, "terraform:")
    assert problem.startswith(f"config/clusters/research-aws/cluster.yaml:{line}: ")
    assert "'hubfleet-research-aws-deployer'" in problem
    assert "the identity of hub deployer" in problem and "role_name" in problem


def test_two_clusters_whose_names_run_together_clash(tmp_path: Path) -> None:
    """Cluster `research-aws` hub `research` and cluster `research` hub `aws-research`
    in one AWS account would share the IAM role `hubfleet-research-aws-research`."""
    root = copy_example(tmp_path)
    source = root / "config" / "clusters" / "research-aws"
    target = root / "config" / "clusters" / "research"
    shutil.copytree(source, target)
    cluster_yaml = target / "cluster.yaml"
    text = cluster_yaml.read_text()
    text = text.replace("name: research-aws\n", "name: research\n", 1)
    text = text.replace("- name: research\n", "- name: aws-research\n")
    text = text.replace("\n    research:\n", "\n    aws-research:\n")
    text = text.replace("research.terraform.values.yaml", "aws-research.terraform.values.yaml")
    text = text.replace(".research-aws.hubs.", ".research.hubs.")
    text = text.replace("clusterName: research\n", "clusterName: research-two\n")
    cluster_yaml.write_text(text)
    (target / "research.terraform.values.yaml").rename(
        target / "aws-research.terraform.values.yaml"
    )
    clashes = _clashes(root)
    assert any(
        "'hubfleet-research-aws-research'" in c and "hub aws-research" in c and "hub research" in c
        for c in clashes
    ), clashes
