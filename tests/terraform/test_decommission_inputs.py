"""A decommissioned hub leaves the cluster's Terraform inputs (docs/decommission.md): its
identity always, the buckets only it reached when its data goes (`data: delete`); the
next `terraform plan` deletes them and the summary flags every delete (a recorded
`terraform show -json` of such a plan, through the fake terraform)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hubfleet.config.load import load_fleet
from hubfleet.terraform.inputs import compute, dropped
from hubfleet.terraform.summary import summarize
from tests.conftest import TEST_FLEET
from tests.fakes import FakeTools
from tests.terraform.conftest import make_tf_fleet

RECORDED = Path(__file__).with_name("recorded") / "decommission-show.json"
ALPHA = "config/clusters/alpha/cluster.yaml"
PROD1 = """- name: prod1
  domain: prod1.alpha.example.org
  helm_chart_values_files:
  - common.values.yaml
  - prod1.values.yaml
  - enc-prod1.secret.values.yaml
"""


def decommission_prod1(root: Path, data: str) -> None:
    """alpha's prod1 (hub_access: scratch, shared; staging reaches scratch too) moved
    from hubs: to decommissioned:."""
    path = root / ALPHA
    text = path.read_text()
    assert PROD1 in text
    entry = f"decommissioned:\n- name: prod1\n  date: 2025-06-30\n  data: {data}\n"
    path.write_text(text.replace(PROD1, "") + entry)


def fleet_with_access(tmp_path: Path, *, data: str) -> Path:
    root = tmp_path / "fleet"
    shutil.copytree(TEST_FLEET, root, symlinks=False)
    make_tf_fleet(root)
    decommission_prod1(root, data)
    return root


def _inputs(root: Path) -> dict[str, object]:
    fleet = load_fleet(root).fleet_or_raise()
    return compute(fleet.cluster("alpha")).variables


def test_hub_access_may_name_a_decommissioned_hub(tmp_path: Path) -> None:
    """The loader accepts it (the inputs leave it out), and only a hub or a decommissioned
    hub: any other name is still an error."""
    root = fleet_with_access(tmp_path, data="keep")
    assert load_fleet(root).errors == ()
    path = root / ALPHA
    path.write_text(
        path.read_text().replace("    prod1:\n      scratch:", "    prod9:\n      scratch:")
    )
    assert any("'prod9', which is not a hub" in p.message for p in load_fleet(root).errors)


def test_before_the_decommission_prod1_has_its_identity(tf_fleet: Path) -> None:
    variables = _inputs(tf_fleet)
    assert set(variables["hub_identities"]) == {"staging", "prod1"}  # type: ignore[arg-type]
    assert set(variables["buckets"]) == {"scratch", "shared"}  # type: ignore[arg-type]


def test_data_delete_drops_its_identity_and_the_buckets_only_it_reached(tmp_path: Path) -> None:
    root = fleet_with_access(tmp_path, data="delete")
    variables = _inputs(root)
    assert set(variables["hub_identities"]) == {"staging"}  # type: ignore[arg-type]
    # shared: prod1's alone, goes; scratch: staging reaches it too, stays
    assert set(variables["buckets"]) == {"scratch"}  # type: ignore[arg-type]
    fleet = load_fleet(root).fleet_or_raise()
    assert dropped(fleet.cluster("alpha")) == (["prod1"], ["shared"])


def test_data_keep_drops_its_identity_and_keeps_its_buckets(tmp_path: Path) -> None:
    root = fleet_with_access(tmp_path, data="keep")
    variables = _inputs(root)
    assert set(variables["hub_identities"]) == {"staging"}  # type: ignore[arg-type]
    assert set(variables["buckets"]) == {"scratch", "shared"}  # type: ignore[arg-type]
    fleet = load_fleet(root).fleet_or_raise()
    assert dropped(fleet.cluster("alpha")) == (["prod1"], [])


def test_a_cluster_bucket_no_hub_reaches_stays(tmp_path: Path) -> None:
    root = fleet_with_access(tmp_path, data="delete")
    path = root / ALPHA
    path.write_text(path.read_text().replace("  buckets:\n", "  buckets:\n    logs: {}\n", 1))
    assert set(_inputs(root)["buckets"]) == {"logs", "scratch"}  # type: ignore[arg-type]


def test_terraform_vars_shows_the_inputs_without_the_hub(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    root = fleet_with_access(tmp_path, data="delete")
    result = run_cli("--repo", root, "terraform", "vars", "alpha")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "prod1" not in data["hub_identities"] and "shared" not in data["buckets"]
    assert "prod1" not in result.stdout


def test_the_next_plan_flags_every_delete_as_destructive(
    tmp_path: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    root = fleet_with_access(tmp_path, data="delete")
    from tests.helpers import git

    git(root, "commit", "-qam", "decommission prod1")
    fake_tools.script(
        [{"tool": "terraform", "args": ["show", "-json"], "stdout": RECORDED.read_text()}]
    )
    result = run_cli("--repo", root, "terraform", "plan", "alpha", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["destructive"] is True
    [plan] = data["plans"]
    assert plan["deletes"] == 4 and plan["creates"] == 0
    assert [f["address"] for f in plan["flagged"]] == [
        'google_service_account.hub["prod1"]',
        'google_service_account_iam_member.hub_workload_identity["prod1"]',
        'google_storage_bucket.bucket["shared"]',
        'google_storage_bucket_iam_member.hub["prod1-scratch"]',
    ]
    # the inputs handed to terraform plan: prod1 gone
    plan_call = next(c for c in fake_tools.calls("terraform") if "plan" in c["argv"])
    assert plan_call["exit"] == 0


def test_the_summary_says_which_delete_holds_data() -> None:
    summary = summarize("alpha", RECORDED.read_text())
    text = summary.markdown()
    assert '> **WARNING**: delete of `google_storage_bucket.bucket["shared"]` (holds data)' in text
    assert '> **WARNING**: delete of `google_service_account.hub["prod1"]` (destroyed)' in text
    assert summary.destructive and summary.deletes == 4
    assert "scratch" not in {c.address for c in summary.flagged}
