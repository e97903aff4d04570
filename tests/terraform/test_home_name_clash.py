"""An AWS cluster with `terraform.home` derives its EFS creation token and its AWS
Backup vault both as `hubfleet-<cluster>-home`: two kinds of thing, so no clash (every
AWS cluster with home storage was refused). The backups' name still clashes with
another backups' name, and the home storage with anything of its own kind."""

from __future__ import annotations

from pathlib import Path

from hubfleet.config.load import load_fleet
from hubfleet.terraform.check import terraform_problems
from tests.terraform.conftest import copy_example

HOME = "  home:\n    kind: efs\n    backups: {every_hours: 24}\n"


def _clashes(root: Path) -> list[str]:
    fleet = load_fleet(root).fleet_or_raise()
    return [
        p.render()
        for p in terraform_problems(fleet, fleet.clusters)
        if "would both be named" in p.message
    ]


def _aws_home(tmp_path: Path, extra: str = "") -> Path:
    root = copy_example(tmp_path)
    path = root / "config" / "clusters" / "research-aws" / "cluster.yaml"
    path.write_text(path.read_text() + HOME + extra)
    return root


def test_the_home_storage_and_its_backups_may_share_a_name(tmp_path: Path) -> None:
    assert _clashes(_aws_home(tmp_path)) == []


def test_a_backups_name_still_clashes_with_a_backups_name(tmp_path: Path) -> None:
    root = _aws_home(tmp_path)
    # a second AWS cluster of the same account and region, keeping the first's vault name
    source = root / "config" / "clusters" / "research-aws"
    twin = root / "config" / "clusters" / "research-twin"
    twin.mkdir()
    for file in source.iterdir():
        (twin / file.name).write_bytes(file.read_bytes())
    text = (twin / "cluster.yaml").read_text().replace("research-aws", "research-twin")
    names = "  names:\n    backup: hubfleet-research-aws-home\n    home: twin-homes\n"
    (twin / "cluster.yaml").write_text(text + names)
    clashes = _clashes(root)
    assert any("'hubfleet-research-aws-home'" in c and "home backups" in c for c in clashes), (
        clashes
    )


def test_the_home_storage_still_clashes_with_its_own_kind(tmp_path: Path) -> None:
    """The home storage's name is checked as before: named like the planner role."""
    root = _aws_home(tmp_path, "  names:\n    home: hubfleet-research-aws-planner\n")
    clashes = _clashes(root)
    assert any("'hubfleet-research-aws-planner'" in c for c in clashes), clashes
