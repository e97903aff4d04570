"""The modules' home storage, backups, external data, tags and kept names:
the variables-only plan of all three modules with every new input; with the AWS
provider from the filesystem mirror, `terraform validate` and `terraform test`
(mock_provider) for EFS, its backup plan, a requester-pays read grant and the tags;
and a plan that imports an existing cluster's objects under the names it keeps.
GCP and Azure providers are not in the mirror: their modules get `terraform fmt
-check` (test_modules.py) and the variables-only plan, no validate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest

from hubfleet.config.load import load_fleet
from hubfleet.terraform.inputs import compute, tfvars_json
from tests.terraform.conftest import copy_example
from tests.terraform.test_modules import MIRROR, MODULES, terraform, tf_env

pytestmark = pytest.mark.slow

CLUSTERS = {"gcp": "alpha", "aws": "beta", "azure": "gamma"}
HOMES = {
    "alpha": "  home:\n    kind: nfs-disk\n    size_gb: 200\n    backups: {every_hours: 6}\n",
    "beta": (
        "  home:\n    kind: efs\n    directories: {research: research-homes}\n"
        "    backups: {retention_days: 14}\n"
    ),
    "gamma": "  home:\n    kind: azure-files\n    size_gb: 100\n    backups: {}\n",
}
EXTERNAL = {
    "alpha": ("    prod1:\n", "roles/bigquery.user"),
    "beta": ("    research:\n", "arn:aws:iam::aws:policy/AmazonAthenaFullAccess"),
    "gamma": ("    prod:\n", "Storage Blob Data Reader"),
}


def deep_fleet(tf_fleet: Path) -> Path:
    """tf_fleet with home storage and backups on each cluster, and external buckets
    (GCP, AWS) and an extra policy on one hub of each."""
    for cluster, text in HOMES.items():
        path = tf_fleet / "config" / "clusters" / cluster / "cluster.yaml"
        content = path.read_text().replace("  hub_access:\n", text + "  hub_access:\n", 1)
        hub_line, policy = EXTERNAL[cluster]
        extra = ""
        if cluster != "gamma":
            extra = (
                "      external_buckets:\n"
                "        era5: {name: era5-pds, requester_pays: true, env: ERA5_BUCKET}\n"
                "        ref: {name: reference-data.example}\n"
            )
        extra += f"      extra_policies: [{policy}]\n"
        assert content.count(hub_line) == 1
        path.write_text(content.replace(hub_line, hub_line + extra))
    return tf_fleet


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_the_variables_only_plan_accepts_every_new_input(
    provider: str, tf_fleet: Path, tmp_path: Path
) -> None:
    cluster = load_fleet(deep_fleet(tf_fleet)).fleet_or_raise().cluster(CLUSTERS[provider])
    variables = json.loads(tfvars_json(compute(cluster)))
    assert variables["home"]["backups"] is not None
    folder = tmp_path / f"vars-{provider}"
    folder.mkdir()
    shutil.copyfile(MODULES / provider / "variables.tf", folder / "variables.tf")
    (folder / "hubfleet.tfvars.json").write_text(json.dumps(variables, indent=2))
    result = terraform(
        folder,
        tf_env(tmp_path),
        "plan",
        "-input=false",
        "-no-color",
        "-var-file=hubfleet.tfvars.json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes" in result.stdout


def test_the_home_input_of_a_wrong_type_is_refused(tf_fleet: Path, tmp_path: Path) -> None:
    cluster = load_fleet(deep_fleet(tf_fleet)).fleet_or_raise().cluster("beta")
    variables = json.loads(tfvars_json(compute(cluster)))
    variables["home"]["backups"]["retention_days"] = "a month"
    folder = tmp_path / "vars"
    folder.mkdir()
    shutil.copyfile(MODULES / "aws" / "variables.tf", folder / "variables.tf")
    (folder / "hubfleet.tfvars.json").write_text(json.dumps(variables, indent=2))
    result = terraform(
        folder,
        tf_env(tmp_path),
        "plan",
        "-input=false",
        "-no-color",
        "-var-file=hubfleet.tfvars.json",
    )
    assert result.returncode == 1 and "a number is required" in result.stderr


def _aws_module(tmp_path: Path) -> Path:
    if not list(
        MIRROR.glob("registry.terraform.io/hashicorp/aws/*/linux_amd64/terraform-provider-aws*")
    ):
        pytest.skip(f"no AWS provider in a filesystem mirror at {MIRROR}")
    module = tmp_path / "aws"
    shutil.copytree(MODULES / "aws", module)
    return module


MOCKS = """mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::123456789012:oidc-provider/mock" }
  }
  mock_resource "aws_eks_cluster" {
    defaults = { identity = [{ oidc = [{ issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE" }] }] }
  }
  mock_resource "aws_efs_file_system" {
    defaults = { id = "fs-0123", arn = "arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/fs-0123" }
  }
}
"""


def _hcl_string(text: str) -> str:
    return json.dumps(text).replace("${", "$${")


def external_policy(buckets: list[str]) -> str:
    """The one policy a hub with these external buckets must get, as Terraform's
    jsonencode writes it (compact, keys sorted)."""
    arns = sorted(f"arn:aws:s3:::{b}" for b in buckets)
    policy = {
        "Statement": [
            {
                "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
                "Effect": "Allow",
                "Resource": arns,
                "Sid": "ListExternalBuckets",
            },
            {
                "Action": ["s3:GetObject"],
                "Effect": "Allow",
                "Resource": [f"{a}/*" for a in arns],
                "Sid": "ReadExternalObjects",
            },
        ],
        "Version": "2012-10-17",
    }
    return json.dumps(policy, separators=(",", ":"), sort_keys=True)


def home_tftest(buckets: list[str]) -> str:
    checks = [
        # EFS: the file system under its computed name, a mount target per subnet
        'aws_efs_file_system.home["home"].creation_token == var.home.name',
        'aws_efs_file_system.home["home"].encrypted == true',
        "length(aws_efs_mount_target.home) == 2",
        'one(aws_security_group.efs["home"].ingress).from_port == 2049',
        # an access point per hub, rooted at its directory, owned by jovyan
        'toset(keys(aws_efs_access_point.hub)) == toset(["research"])',
        'aws_efs_access_point.hub["research"].root_directory[0].path == "/research-homes"',
        'aws_efs_access_point.hub["research"].posix_user[0].uid == 1000',
        'aws_eks_addon.efs_csi["home"].addon_name == "aws-efs-csi-driver"',
        # the backup plan: daily at 03:00 UTC, kept 14 days, of exactly the file system
        'aws_backup_vault.home["home"].name == var.home.backups.name',
        'one(aws_backup_plan.home["home"].rule).schedule == "cron(0 3 * * ? *)"',
        'one(aws_backup_plan.home["home"].rule).lifecycle[0].delete_after == 14',
        'one(aws_backup_plan.home["home"].rule).target_vault_name == aws_backup_vault.home["home"].name',
        'aws_backup_selection.home["home"].resources == toset([aws_efs_file_system.home["home"].arn])',
        'aws_iam_role_policy_attachment.backup["home"].policy_arn == '
        '"arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"',
        # the external read grant (a requester-pays bucket among them): exactly these
        # actions on exactly these buckets, and nothing for the hub without any
        f'aws_iam_role_policy.hub_external["research"].policy == {_hcl_string(external_policy(buckets))}',
        'toset(keys(aws_iam_role_policy.hub_external)) == toset(["research"])',
        "toset([for a in aws_iam_role_policy_attachment.hub_extra : a.policy_arn]) == "
        'toset(["arn:aws:iam::aws:policy/AmazonAthenaFullAccess"])',
        # the hub's own resources carry its tag (the cluster's comes from default_tags)
        'aws_iam_role.hub["research"].tags["hubfleet/hub"] == "research"',
        'aws_efs_access_point.hub["research"].tags["hubfleet/hub"] == "research"',
    ]
    asserts = "\n".join(
        f'  assert {{\n    condition     = {c}\n    error_message = "check {i} failed"\n  }}'
        for i, c in enumerate(checks)
    )
    return MOCKS + f'\nrun "home" {{\n  command = apply\n{asserts}\n}}\n'


def _run_tftest(module: Path, tmp_path: Path, cluster: Any, test: str) -> Any:
    (module / "hubfleet.tfvars.json").write_text(tfvars_json(compute(cluster)))
    (module / "tests").mkdir(exist_ok=True)
    (module / "tests" / "hubfleet.tftest.hcl").write_text(test)
    env = tf_env(tmp_path)
    init = terraform(module, env, "init", "-backend=false", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    return env, terraform(module, env, "test", "-no-color", "-var-file=hubfleet.tfvars.json")


def test_efs_backups_external_reads_and_tags_validate_and_pass_a_mock_test(
    tf_fleet: Path, tmp_path: Path
) -> None:
    module = _aws_module(tmp_path)
    cluster = load_fleet(deep_fleet(tf_fleet)).fleet_or_raise().cluster("beta")
    # (`terraform validate` of this same module is in test_modules.py, and `terraform test`
    # validates the configuration before it runs.)
    _, test = _run_tftest(
        module, tmp_path, cluster, home_tftest(["era5-pds", "reference-data.example"])
    )
    assert test.returncode == 0, test.stdout + test.stderr
    assert "1 passed, 0 failed" in test.stdout
    # every resource the module creates carries the cluster's tag: the provider's default_tags
    with (module / "versions.tf").open() as handle:
        [provider] = hcl2.load(handle)["provider"]
    tags = provider['"aws"']["default_tags"][0]["tags"]
    assert tags == {'"hubfleet/cluster"': "${var.hubfleet_cluster}"}


def test_the_mock_test_fails_on_a_grant_that_is_not_exactly_the_buckets(
    tf_fleet: Path, tmp_path: Path
) -> None:
    module = _aws_module(tmp_path)
    cluster = load_fleet(deep_fleet(tf_fleet)).fleet_or_raise().cluster("beta")
    _, test = _run_tftest(module, tmp_path, cluster, home_tftest(["era5-pds"]))
    assert test.returncode != 0
    assert "check 14 failed" in test.stdout + test.stderr


# --- names an existing cluster keeps ---------------------------------------------------

KEPT = {"scratch": "leap-scratch", "public": "leap-public"}
KEPT_ROLE = "leap-research-user"


def import_tftest(imports: dict[str, str]) -> tuple[str, str]:
    """Import blocks for existing objects (address -> id) and a plan test whose mock
    provider answers the import with the object as it exists; each asserts the
    name attribute that forces a replacement (S3 bucket, IAM role name) equals it."""
    blocks = "".join(f'import {{\n  to = {a}\n  id = "{i}"\n}}\n' for a, i in imports.items())
    overrides = "".join(
        f"  override_resource {{\n    target = {a}\n"
        f'    values = {{ id = "{i}", {"bucket" if "s3" in a else "name"} = "{i}" }}\n  }}\n'
        for a, i in imports.items()
    )
    checks = [f'{a}.{"bucket" if "s3" in a else "name"} == "{i}"' for a, i in imports.items()]
    asserts = "\n".join(
        f"  assert {{\n    condition     = {c}\n    error_message = {_hcl_string('would replace: ' + c)}\n  }}"
        for c in checks
    )
    test = (
        MOCKS.replace('mock_provider "aws" {\n', 'mock_provider "aws" {\n' + overrides, 1)
        + f'\nrun "adopt" {{\n  command = plan\n{asserts}\n}}\n'
    )
    return blocks, test


# The buckets: the example (`leap-scratch`), and what a replacement destroys.
# (An imported IAM role cannot be mocked: the mock provider leaves its computed
# attributes unknown on refresh; the role's kept name is checked in the inputs.)
IMPORTS = {
    'aws_s3_bucket.bucket["scratch"]': KEPT["scratch"],
    'aws_s3_bucket.bucket["public"]': KEPT["public"],
}


def _example_with_names(tmp_path: Path, names: bool) -> Any:
    root = copy_example(tmp_path)
    path = root / "config" / "clusters" / "research-aws" / "cluster.yaml"
    if names:
        path.write_text(
            path.read_text()
            + "  names:\n    buckets:\n"
            + "".join(f"      {k}: {v}\n" for k, v in KEPT.items())
            + f"    hubs:\n      research: {KEPT_ROLE}\n"
        )
    return load_fleet(root).fleet_or_raise().cluster("research-aws")


def test_a_plan_of_the_example_cluster_with_its_kept_names_replaces_nothing(
    tmp_path: Path,
) -> None:
    module = _aws_module(tmp_path)
    cluster = _example_with_names(tmp_path, names=True)
    blocks, test = import_tftest(IMPORTS)
    (module / "imports.tf").write_text(blocks)
    assert compute(cluster).variables["hub_identities"]["research"]["name"] == KEPT_ROLE
    _, result = _run_tftest(module, tmp_path, cluster, test)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 0 failed" in result.stdout


def test_without_the_names_the_same_import_would_replace(tmp_path: Path) -> None:
    module = _aws_module(tmp_path)
    cluster = _example_with_names(tmp_path, names=False)
    blocks, test = import_tftest(IMPORTS)
    (module / "imports.tf").write_text(blocks)
    _, result = _run_tftest(module, tmp_path, cluster, test)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert 'is "111122223333-research-aws-scratch"' in output
