"""`terraform.names`: a name an existing cluster keeps replaces the derived one, in the
module's inputs and the hub's values, checked against the same cloud rule (an error
at its line) and the same collisions as derived names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hubfleet.base.errors import ConfigError
from hubfleet.config.load import load_fleet
from hubfleet.terraform.check import terraform_problems
from hubfleet.terraform.inputs import compute
from hubfleet.terraform.values import render, values_file
from tests.terraform.conftest import copy_example, line_of

EXAMPLE_AWS = (
    Path(__file__).resolve().parents[2]
    / "examples"
    / "fleet"
    / "config"
    / "clusters"
    / "research-aws"
    / "cluster.yaml"
)
NAMES = """\
  names:
    buckets:
      scratch: leap-scratch
    hubs:
      research: leap-research-user
    deployer:
      role_name: leap-deployer
"""


def _with_names(tmp_path: Path, text: str, cluster: str = "research-aws") -> Path:
    root = copy_example(tmp_path)
    path = root / "config" / "clusters" / cluster / "cluster.yaml"
    path.write_text(path.read_text() + text)
    return root


def test_kept_names_replace_the_derived_ones_everywhere(tmp_path: Path) -> None:
    root = _with_names(tmp_path, NAMES)
    fleet = load_fleet(root).fleet_or_raise()
    cluster = fleet.cluster("research-aws")
    inputs = compute(cluster)
    variables = inputs.variables
    assert variables["buckets"]["scratch"]["name"] == "leap-scratch"
    assert variables["buckets"]["public"]["name"] == "111122223333-research-aws-public"
    assert variables["hub_identities"]["research"]["name"] == "leap-research-user"
    assert variables["deployer"]["role_name"] == "leap-deployer"
    assert variables["deployer"]["plan_role_name"] == "hubfleet-research-aws-planner"
    hub = yaml.safe_load(render(fleet, cluster, inputs, {})[values_file(cluster, "research")])
    assert hub["singleuser"]["extraEnv"]["SCRATCH_BUCKET"] == "s3://leap-scratch"


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (
            "  names:\n    buckets:\n      scratch: Leap_Scratch\n",
            "scratch: Leap_Scratch",
            "terraform.names.buckets.scratch: 'Leap_Scratch' is refused",
        ),
        (
            "  names:\n    buckets:\n      scratch: sthree-data\n",  # an S3-reserved prefix
            "scratch: sthree-data",
            "terraform.names.buckets.scratch: 'sthree-data' is refused",
        ),
        (
            "  names:\n    hubs:\n      research: " + "r" * 65 + "\n",
            "research: " + "r" * 65,
            "65 characters, the cloud allows 1-64",
        ),
        (
            "  names:\n    deployer:\n      helm_role: x\n",
            "helm_role: x",
            "terraform.names.deployer.helm_role: not a CI identity name",
        ),
    ],
)
def test_a_name_the_cloud_refuses_is_an_error_at_its_line(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    root = _with_names(tmp_path, text)
    fleet = load_fleet(root).fleet_or_raise()
    with pytest.raises(ConfigError) as caught:
        compute(fleet.cluster("research-aws"))
    [problem] = caught.value.problems
    path = root / "config" / "clusters" / "research-aws" / "cluster.yaml"
    assert problem.path == "config/clusters/research-aws/cluster.yaml"
    assert problem.line == line_of(path, key)
    assert message in problem.message
    # validate reports it the same way, and goes on with the other clusters
    found = [p.render() for p in terraform_problems(fleet, fleet.clusters)]
    assert any(message in p for p in found), found


def test_a_kept_name_that_collides_is_reported_like_a_derived_one(tmp_path: Path) -> None:
    # the hub's role named like the cluster's own planner role
    root = _with_names(
        tmp_path, "  names:\n    hubs:\n      research: hubfleet-research-aws-planner\n"
    )
    fleet = load_fleet(root).fleet_or_raise()
    clashes = [
        p.render()
        for p in terraform_problems(fleet, fleet.clusters)
        if "would both be named" in p.message
    ]
    assert len(clashes) == 1, clashes
    assert "'hubfleet-research-aws-planner'" in clashes[0]
    assert "or give one of them another name in terraform.names" in clashes[0]


def test_an_azure_name_on_aws_is_refused(tmp_path: Path) -> None:
    root = _with_names(tmp_path, "  names:\n    storage_account: leapstore\n")
    with pytest.raises(ConfigError) as caught:
        load_fleet(root).fleet_or_raise()
    assert any(
        "terraform.names.storage_account is an Azure name" in p.message
        for p in caught.value.problems
    )


def test_external_buckets_reach_the_hubs_environment_and_the_identity(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = root / "config" / "clusters" / "research-aws" / "cluster.yaml"
    path.write_text(
        path.read_text().replace(
            "    research:\n",
            "    research:\n"
            "      external_buckets:\n"
            "        era5: {name: era5-pds, requester_pays: true, env: ERA5_BUCKET}\n"
            "        quiet: {name: no-variable-data}\n"
            "      extra_policies: [arn:aws:iam::aws:policy/AmazonAthenaFullAccess]\n",
            1,
        )
    )
    fleet = load_fleet(root).fleet_or_raise()
    cluster = fleet.cluster("research-aws")
    inputs = compute(cluster)
    identity = inputs.variables["hub_identities"]["research"]
    assert identity["buckets"] == ["public", "scratch"]  # the fleet's, as before
    assert identity["external_buckets"] == {
        "era5": {"name": "era5-pds", "requester_pays": True},
        "quiet": {"name": "no-variable-data", "requester_pays": False},
    }
    assert identity["extra_policies"] == ["arn:aws:iam::aws:policy/AmazonAthenaFullAccess"]
    env = yaml.safe_load(render(fleet, cluster, inputs, {})[values_file(cluster, "research")])[
        "singleuser"
    ]["extraEnv"]
    assert env["ERA5_BUCKET"] == "s3://era5-pds"
    assert "s3://no-variable-data" not in env.values()


def test_a_variable_given_to_two_buckets_is_refused(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    path = root / "config" / "clusters" / "research-aws" / "cluster.yaml"
    path.write_text(
        path.read_text().replace(
            "    research:\n",
            "    research:\n      external_buckets:\n"
            "        era5: {name: era5-pds, env: SCRATCH_BUCKET}\n",
            1,
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_fleet(root).fleet_or_raise()
    assert any("SCRATCH_BUCKET for two buckets" in p.message for p in caught.value.problems)


def test_the_json_schema_takes_hub_access_as_written() -> None:
    import jsonschema

    from hubfleet.config.schema import json_schema

    schema = json_schema("cluster")
    doc = yaml.safe_load((EXAMPLE_AWS).read_text())
    access = doc["terraform"]["hub_access"]["research"]
    access["external_buckets"] = {"era5": {"name": "era5-pds", "requester_pays": True}}
    access["extra_policies"] = ["arn:aws:iam::aws:policy/AmazonAthenaFullAccess"]
    jsonschema.validate(doc, schema)
    access["external_buckets"]["era5"]["writable"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    del access["external_buckets"]["era5"]["writable"]
    access["scratch"] = {"not": "a variable"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
