"""The shipped root modules: fmt, variables vs cluster.yaml, plans of the tfvars, and
the EKS module's own `terraform validate` / `terraform test` against a local mirror."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

from hubfleet.config.load import load_fleet
from hubfleet.terraform.inputs import compute, tfvars_json
from tests.terraform.conftest import terraform_or_skip

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

MODULES = Path(__file__).parents[2] / "src" / "hubfleet" / "terraform" / "modules"
CLUSTERS = {"gcp": "alpha", "aws": "beta", "azure": "gamma"}
MIRROR = Path("/opt/tf-plugins")


def tf_env(tmp_path: Path) -> dict[str, str]:
    """No registry, ever: a CLI config whose only installation source is the mirror."""
    config = tmp_path / "cli.tfrc"
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{MIRROR}"\n  }}\n'
        '  direct {\n    exclude = ["*/*/*"]\n  }\n}\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))}
    env |= {"TF_CLI_CONFIG_FILE": str(config), "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    return env


def terraform(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [terraform_or_skip(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_modules_pass_fmt_check(provider: str, tmp_path: Path) -> None:
    result = terraform(MODULES / provider, tf_env(tmp_path), "fmt", "-check", "-diff")
    assert result.returncode == 0, result.stdout + result.stderr


def _hcl_type(expression: str) -> str:
    text = expression.strip().removeprefix("${").removesuffix("}")
    return text.split("(", 1)[0]


def _compatible(tf_type: str, value: object) -> bool:
    if value is None:
        return True
    kind = _hcl_type(tf_type)
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("map", "object"):
        return isinstance(value, dict)
    if kind in ("list", "set", "tuple"):
        return isinstance(value, list)
    return kind == "any"


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_every_input_is_a_variable_of_a_compatible_type(provider: str, tf_fleet: Path) -> None:
    with (MODULES / provider / "variables.tf").open() as handle:
        parsed = hcl2.load(handle)
    declared = {
        name.strip('"'): body for entry in parsed["variable"] for name, body in entry.items()
    }
    cluster = load_fleet(tf_fleet).fleet_or_raise().cluster(CLUSTERS[provider])
    variables = compute(cluster).variables
    for name, value in variables.items():
        assert name in declared, f"{provider}: {name} is not in variables.tf"
        assert _compatible(declared[name]["type"], value), (name, declared[name]["type"], value)
    required = {n for n, body in declared.items() if "default" not in body}
    assert required <= set(variables), required - set(variables)


def _variables_only(provider: str, tmp_path: Path, variables: dict[str, object]) -> Path:
    folder = tmp_path / f"vars-{provider}"
    folder.mkdir()
    shutil.copyfile(MODULES / provider / "variables.tf", folder / "variables.tf")
    (folder / "hubfleet.tfvars.json").write_text(
        json.dumps(variables, indent=2, sort_keys=True) + "\n"
    )
    return folder


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_terraform_plan_accepts_the_tfvars(provider: str, tf_fleet: Path, tmp_path: Path) -> None:
    cluster = load_fleet(tf_fleet).fleet_or_raise().cluster(CLUSTERS[provider])
    variables = json.loads(tfvars_json(compute(cluster)))
    folder = _variables_only(provider, tmp_path, variables)
    env = tf_env(tmp_path)
    result = terraform(folder, env, "plan", "-input=false", "-var-file=hubfleet.tfvars.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes" in result.stdout


def test_terraform_plan_rejects_a_wrong_type_at_its_line(tf_fleet: Path, tmp_path: Path) -> None:
    cluster = load_fleet(tf_fleet).fleet_or_raise().cluster("beta")
    variables = json.loads(tfvars_json(compute(cluster)))
    variables["buckets"]["scratch"]["lifecycle_days"] = "soon"
    folder = _variables_only("aws", tmp_path, variables)
    result = terraform(
        folder,
        tf_env(tmp_path),
        "plan",
        "-input=false",
        "-no-color",
        "-var-file=hubfleet.tfvars.json",
    )
    assert result.returncode == 1
    lines = (folder / "hubfleet.tfvars.json").read_text().splitlines()
    bad = next(i for i, line in enumerate(lines, 1) if '"soon"' in line)
    buckets_line = next(i for i, line in enumerate(lines, 1) if '"buckets"' in line)
    # terraform names the variable's line in the file and the offending value's type
    assert "a number is required" in result.stderr
    assert f"on hubfleet.tfvars.json line {buckets_line}:" in result.stderr
    assert '"soon"' in lines[bad - 1]


def _aws_module(tmp_path: Path) -> Path:
    if not list(
        MIRROR.glob("registry.terraform.io/hashicorp/aws/*/linux_amd64/terraform-provider-aws*")
    ):
        pytest.skip(f"no AWS provider in a filesystem mirror at {MIRROR}")
    terraform_or_skip()
    module = tmp_path / "aws"
    shutil.copytree(MODULES / "aws", module)
    return module


def _tftest(cluster_yaml: dict[str, object]) -> str:
    """A terraform test whose expectations come from cluster.yaml's own data."""
    tf = cluster_yaml["terraform"]
    assert isinstance(tf, dict)
    hubs = sorted(tf["hub_access"])
    buckets = sorted(tf["buckets"])
    checks = [
        f"toset(keys(aws_s3_bucket.bucket)) == toset({json.dumps(buckets)})",
        f"toset(keys(aws_iam_role.hub)) == toset({json.dumps(hubs)})",
        "alltrue([for k, b in aws_s3_bucket.bucket : b.bucket == var.buckets[k].name])",
        "alltrue([for h, r in aws_iam_role.hub : r.name == var.hub_identities[h].name])",
        "length(aws_s3_bucket_lifecycle_configuration.bucket) == "
        + str(sum(1 for b in tf["buckets"].values() if b.get("lifecycle_days"))),
        "length(aws_s3_bucket_policy.public) == "
        + str(sum(1 for b in tf["buckets"].values() if b.get("public_read"))),
        "length(aws_eks_node_group.pool) == " + str(len(tf["node_pools"])),
        # the CI identities: planner, terraform deployer and helm deployer; only the
        # helm role has access to the cluster, and no managed policy
        'toset(keys(aws_iam_role.ci)) == toset(["deployer", "helm", "planner"])',
        'aws_iam_role.ci["helm"].name == var.deployer.helm_role_name',
        'toset(keys(aws_iam_role_policy_attachment.ci)) == toset(["deployer", "planner"])',
        'aws_eks_access_entry.helm[0].principal_arn == aws_iam_role.ci["helm"].arn',
        "length(aws_eks_access_policy_association.helm) == 1",
    ]
    for hub, access in sorted(tf["hub_access"].items()):
        arns = ", ".join(
            f'aws_s3_bucket.bucket["{b}"].arn, "${{aws_s3_bucket.bucket["{b}"].arn}}/*"'
            for b in sorted(access)
        )
        checks.append(
            f'toset(jsondecode(aws_iam_role_policy.hub_buckets["{hub}"].policy).Statement[0].Resource)'
            f" == toset([{arns}])"
        )
    asserts = "\n".join(
        f'  assert {{\n    condition     = {c}\n    error_message = "check {i} failed"\n  }}'
        for i, c in enumerate(checks)
    )
    return f"""mock_provider "aws" {{
  mock_data "aws_availability_zones" {{
    defaults = {{ names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }}
  }}
  mock_data "aws_iam_policy_document" {{
    defaults = {{ json = "{{}}" }}
  }}
  mock_resource "aws_iam_role" {{
    defaults = {{ arn = "arn:aws:iam::123456789012:role/mock" }}
  }}
  mock_resource "aws_iam_openid_connect_provider" {{
    defaults = {{ arn = "arn:aws:iam::123456789012:oidc-provider/mock" }}
  }}
  mock_resource "aws_eks_cluster" {{
    defaults = {{ identity = [{{ oidc = [{{ issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE" }}] }}] }}
  }}
}}

run "hubfleet" {{
  command = apply
{asserts}
}}
"""


def test_eks_module_validates_and_its_mock_test_passes(tf_fleet: Path, tmp_path: Path) -> None:
    module = _aws_module(tmp_path)
    fleet = load_fleet(tf_fleet).fleet_or_raise()
    cluster = fleet.cluster("beta")
    (module / "hubfleet.tfvars.json").write_text(tfvars_json(compute(cluster)))
    (module / "tests").mkdir()
    (module / "tests" / "hubfleet.tftest.hcl").write_text(_tftest(dict(cluster.data)))
    env = tf_env(tmp_path)
    init = terraform(module, env, "init", "-backend=false", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    validate = terraform(module, env, "validate", "-no-color")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    test = terraform(module, env, "test", "-no-color", "-var-file=hubfleet.tfvars.json")
    assert test.returncode == 0, test.stdout + test.stderr
    assert "1 passed, 0 failed" in test.stdout


def test_the_mock_test_can_fail(tf_fleet: Path, tmp_path: Path) -> None:
    """The same test with one more hub_access entry than the module got fails."""
    module = _aws_module(tmp_path)
    cluster = load_fleet(tf_fleet).fleet_or_raise().cluster("beta")
    (module / "hubfleet.tfvars.json").write_text(tfvars_json(compute(cluster)))
    data = json.loads(json.dumps(dict(cluster.data)))
    data["terraform"]["hub_access"]["staging"] = {"scratch": "SCRATCH_BUCKET"}
    (module / "tests").mkdir()
    (module / "tests" / "hubfleet.tftest.hcl").write_text(_tftest(data))
    env = tf_env(tmp_path)
    assert terraform(module, env, "init", "-backend=false", "-input=false").returncode == 0
    test = terraform(module, env, "test", "-no-color", "-var-file=hubfleet.tfvars.json")
    assert test.returncode != 0
    assert "check 1 failed" in test.stdout + test.stderr
