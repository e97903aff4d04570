"""A copy of the test fleet whose gcp (alpha), aws (beta) and azure (gamma) clusters
have terraform: blocks and the scaffolded modules, committed in a git repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubfleet.terraform.scaffold import scaffold
from tests.fakes import fake_tools  # noqa: F401 (fixture)
from tests.helpers import git

TERRAFORM_BLOCKS = {
    "alpha": """
terraform:
  credentials: enc-deployer-credentials.secret.json
  backend:
    type: gcs
    settings:
      bucket: alpha-tfstate
      prefix: alpha
  buckets:
    scratch:
      lifecycle_days: 7
    shared:
      versioning: true
  hub_access:
    staging:
      scratch: SCRATCH_BUCKET
    prod1:
      scratch: SCRATCH_BUCKET
      shared: SHARED_BUCKET
  node_pools:
    core:
      machine_type: n2-highmem-4
      max_nodes: 3
    user:
      machine_type: n2-highmem-8
      max_nodes: 20
      taints: [hub.jupyter.org/dedicated=user:NoSchedule]
  vars:
    budget_amount: 500
""",
    "beta": """
terraform:
  credentials: enc-deployer-credentials.secret.json
  backend:
    type: s3
    settings:
      bucket: beta-tfstate
      key: beta.tfstate
      region: eu-west-1
  buckets:
    scratch:
      lifecycle_days: 7
    public:
      public_read: true
  hub_access:
    research:
      scratch: SCRATCH_BUCKET
      public: PUBLIC_BUCKET
  node_pools:
    core:
      machine_type: r5.xlarge
      max_nodes: 3
    gpu:
      machine_type: g4dn.xlarge
      max_nodes: 4
      gpu_count: 1
      taints: [nvidia.com/gpu=present:NoSchedule]
  vars:
    github_repository: example/fleet
""",
    "gamma": """
terraform:
  backend:
    type: azurerm
    settings:
      resource_group_name: gamma-tfstate
      storage_account_name: gammatfstate
      container_name: tfstate
      key: gamma.tfstate
  buckets:
    scratch: {}
  hub_access:
    prod:
      scratch: SCRATCH_BUCKET
  vars:
    location: westeurope
""",
}


EXAMPLE_FLEET = Path(__file__).resolve().parents[2] / "examples" / "fleet"


def copy_example(tmp_path: Path) -> Path:
    """A copy of examples/fleet to edit."""
    target = tmp_path / "fleet"
    shutil.copytree(EXAMPLE_FLEET, target)
    return target


def line_of(path: Path, text: str) -> int:
    """The number of the first line of `path` that is `text` once stripped."""
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip() == text)


@pytest.fixture
def tf_fleet(fleet_copy: Path) -> Path:
    return make_tf_fleet(fleet_copy)


def make_tf_fleet(fleet_copy: Path) -> Path:
    """Add the terraform blocks and modules to a copy of the test fleet; commit it."""
    for name, text in TERRAFORM_BLOCKS.items():
        path = fleet_copy / "config" / "clusters" / name / "cluster.yaml"
        path.write_text(path.read_text() + text)
    for provider in ("gcp", "aws", "azure"):
        scaffold(fleet_copy, provider)
    (fleet_copy / ".gitignore").write_text(".hubfleet/\n")
    git(fleet_copy, "init", "-q", "-b", "main")
    git(fleet_copy, "add", "-A")
    git(fleet_copy, "commit", "-qm", "fleet")
    return fleet_copy


def terraform_or_skip() -> str:
    found = shutil.which("terraform")
    if found is None:
        pytest.skip("terraform is not on PATH (it cannot be installed from package registries)")
    return found
