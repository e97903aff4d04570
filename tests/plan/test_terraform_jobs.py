"""Which changes give `terraform_jobs`, and which do not (compared at base and head)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.plan.changes import Change
from hubfleet.plan.labels import Labels
from hubfleet.plan.planner import plan_from_files
from hubfleet.plan.render import github_outputs
from hubfleet.plan.revisions import plan_from_git
from tests.conftest import TEST_FLEET
from tests.terraform.conftest import git, make_tf_fleet

CLUSTERS = "config/clusters"


@pytest.fixture
def tf_fleet(tmp_path: Path) -> Path:
    """The test fleet with the terraform room's terraform: blocks, committed in git."""
    target = tmp_path / "fleet"
    shutil.copytree(TEST_FLEET, target, symlinks=False)
    return make_tf_fleet(target)


def edit(path: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        target = root / path
        text = target.read_text()
        assert old in text, (path, old)
        target.write_text(text.replace(old, new, 1))

    return apply


def write(path: str, text: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / path).write_text(text)

    return apply


BETA = f"{CLUSTERS}/beta/cluster.yaml"
ALPHA = f"{CLUSTERS}/alpha/cluster.yaml"
CASES: list[tuple[str, list[Callable[[Path], None]], dict[str, list[str]]]] = [
    (
        "hub domain edit",
        [edit(BETA, "domain: research.beta.example.org", "domain: science.beta.example.org")],
        {},
    ),
    (
        "hub values file edit",
        [edit(f"{CLUSTERS}/beta/common.values.yaml", "\n", "\n# edited\n")],
        {},
    ),
    ("comment and key order", [edit(BETA, "terraform:\n", "# infrastructure\nterraform:\n")], {}),
    (
        "provider billing (free information)",
        [
            edit(
                BETA,
                "  region: eu-west-1\n  key:",
                "  region: eu-west-1\n  billing: {team: x}\n  key:",
            )
        ],
        {},
    ),
    (
        "cluster without terraform block",
        [edit(f"{CLUSTERS}/delta/cluster.yaml", "domain: prod.delta", "domain: other.delta")],
        {},
    ),
    (
        "bucket lifecycle",
        [edit(BETA, "lifecycle_days: 7", "lifecycle_days: 30")],
        {"beta": [f"{BETA}: terraform.buckets changed"]},
    ),
    (
        "hub added to hub_access",
        [
            edit(
                BETA,
                "  hub_access:\n",
                "  hub_access:\n    staging:\n      scratch: SCRATCH_BUCKET\n",
            )
        ],
        {"beta": [f"{BETA}: terraform.hub_access: hub staging added"]},
    ),
    (
        "hub removed from hub_access",
        [edit(ALPHA, "    staging:\n      scratch: SCRATCH_BUCKET\n", "")],
        {"alpha": [f"{ALPHA}: terraform.hub_access: hub staging removed"]},
    ),
    (
        "hub renamed",
        [
            edit(BETA, "- name: research", "- name: science"),
            edit(BETA, "    research:\n      scratch", "    science:\n      scratch"),
        ],
        {
            "beta": [
                f"{BETA}: terraform.hub_access: hub science added",
                f"{BETA}: terraform.hub_access: hub research removed",
            ]
        },
    ),
    (
        "provider block",
        [edit(BETA, "clusterName: beta-eks", "clusterName: beta-eks-2")],
        {"beta": [f"{BETA}: provider block 'aws' changed"]},
    ),
    (
        "module file",
        [edit("terraform/aws/main.tf", "\n", "\n# edited\n")],
        {"beta": ["module file terraform/aws/main.tf changed"]},
    ),
    (
        "lock file",
        [write("terraform/gcp/.terraform.lock.hcl", "# lock\n")],
        {"alpha": ["lock file terraform/gcp/.terraform.lock.hcl changed"]},
    ),
    (
        "shared module change touches every cluster on it",
        [
            edit("terraform/azure/outputs.tf", "\n", "\n# edited\n"),
            edit("terraform/gcp/outputs.tf", "\n", "\n# edited\n"),
        ],
        {
            "alpha": ["module file terraform/gcp/outputs.tf changed"],
            "gamma": ["module file terraform/azure/outputs.tf changed"],
        },
    ),
]


@pytest.mark.parametrize(("edits", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_terraform_jobs_table(
    tf_fleet: Path, edits: list[Callable[[Path], None]], expected: dict[str, list[str]]
) -> None:
    for apply in edits:
        apply(tf_fleet)
    git(tf_fleet, "add", "-A")
    git(tf_fleet, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "change")
    plan = plan_from_git(tf_fleet, base="HEAD~1", head=None, labels=Labels(), redactor=Redactor())
    got = {job.cluster: list(job.reasons) for job in plan.terraform_jobs}
    assert got == expected
    assert all(job.provider for job in plan.terraform_jobs)


def test_a_terraform_only_change_deploys_no_release(tf_fleet: Path) -> None:
    edit(BETA, "lifecycle_days: 7", "lifecycle_days: 30")(tf_fleet)
    git(tf_fleet, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "change")
    plan = plan_from_git(tf_fleet, base="HEAD~1", head=None, labels=Labels(), redactor=Redactor())
    assert plan.empty and [j.cluster for j in plan.terraform_jobs] == ["beta"]


def test_without_history_a_changed_cluster_yaml_gives_a_job(tf_fleet: Path) -> None:
    fleet = load_fleet(tf_fleet).fleet_or_raise()
    plan = plan_from_files(
        fleet, [Change(BETA), Change(f"{CLUSTERS}/delta/cluster.yaml")], labels=Labels()
    )
    assert [(j.cluster, j.reasons) for j in plan.terraform_jobs] == [
        ("beta", (f"{BETA} changed (compared without git history)",))
    ]


def test_json_and_github_outputs_carry_the_jobs(tf_fleet: Path) -> None:
    fleet = load_fleet(tf_fleet).fleet_or_raise()
    plan = plan_from_files(fleet, [Change("terraform/aws/versions.tf")], labels=Labels())
    data = plan.to_json()
    assert data["terraform_jobs"] == [
        {
            "cluster_name": "beta",
            "provider": "aws",
            "reasons": ["module file terraform/aws/versions.tf changed"],
            "choice_reason": "module file terraform/aws/versions.tf changed",
        }
    ]
    line = next(x for x in github_outputs(plan).splitlines() if x.startswith("terraform-jobs="))
    assert json.loads(line.split("=", 1)[1]) == data["terraform_jobs"]
    assert type(plan).from_json(data).terraform_jobs == plan.terraform_jobs
