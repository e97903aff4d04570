"""`--changed-files`: the graph's answers without git history."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubfleet.config.fleet import Fleet
from hubfleet.config.load import load_fleet
from hubfleet.plan.changes import Change, parse_changed_files
from hubfleet.plan.labels import Labels
from hubfleet.plan.plan import Plan
from hubfleet.plan.planner import make_plan
from tests.plan.conftest import job, units

C = "config/clusters"
ALL_TESTHUB_HUBS = {
    "staging": [
        "alpha/staging",
        "beta/staging",
        "delta/staging-a",
        "delta/staging-b",
        "local/staging",
    ],
    "prod": ["alpha/prod1", "alpha/prod2", "beta/research", "gamma/prod", "local/prod1"],
}


def plan(fleet: Fleet, *paths: str, labels: Labels | None = None) -> Plan:
    return make_plan(fleet, parse_changed_files("\n".join(paths)), labels=labels)


def test_one_production_values_file_selects_that_hub_and_its_canary(fleet: Fleet) -> None:
    result = plan(fleet, f"{C}/alpha/prod1.values.yaml")
    assert units(result) == {"support": [], "staging": ["alpha/staging"], "prod": ["alpha/prod1"]}
    assert job(result, "alpha/prod1") == (f"values file {C}/alpha/prod1.values.yaml changed",)
    assert job(result, "alpha/staging") == (
        "canary: guards production hubs prod1 of cluster alpha",
    )
    assert result.prod_jobs[0].choice_reason == f"values file {C}/alpha/prod1.values.yaml changed"
    assert result.warnings == () and result.removed_hubs == ()


def test_file_shared_by_all_hubs_of_one_cluster(fleet: Fleet) -> None:
    result = plan(fleet, f"{C}/alpha/common.values.yaml")
    assert units(result) == {
        "support": [],
        "staging": ["alpha/staging"],
        "prod": ["alpha/prod1", "alpha/prod2"],
    }
    # The staging hub uses the file itself, and guards both production hubs.
    assert job(result, "alpha/staging") == (
        f"values file {C}/alpha/common.values.yaml changed",
        "canary: guards production hubs prod1, prod2 of cluster alpha",
    )


def test_encrypted_values_file(fleet: Fleet) -> None:
    result = plan(fleet, f"{C}/alpha/enc-prod1.secret.values.yaml")
    assert units(result)["prod"] == ["alpha/prod1"]
    assert units(result)["staging"] == ["alpha/staging"]
    assert job(result, "alpha/prod1") == (
        f"encrypted values file {C}/alpha/enc-prod1.secret.values.yaml changed",
    )


def test_staging_values_file_selects_only_that_staging_hub(fleet: Fleet) -> None:
    result = plan(fleet, f"{C}/beta/enc-staging.secret.values.yaml")
    assert units(result) == {"support": [], "staging": ["beta/staging"], "prod": []}


def test_support_values_file_only(fleet: Fleet) -> None:
    result = plan(fleet, f"{C}/beta/support.values.yaml")
    assert units(result) == {"support": ["beta"], "staging": [], "prod": []}
    assert job(result, "beta") == (f"values file {C}/beta/support.values.yaml changed",)
    assert result.support_jobs[0].hub is None


@pytest.mark.parametrize(
    ("line", "path", "verb"),
    [
        ("helm-charts/testhub/templates/deployment.yaml", None, "changed"),
        ("helm-charts/testhub/charts/extras/values.yaml", None, "changed"),
        ("A\thelm-charts/testhub/Chart.lock", "helm-charts/testhub/Chart.lock", "added"),
        # Not in the working tree any more: said to be deleted.
        ("helm-charts/testhub/templates/gone.yaml", None, "deleted"),
    ],
)
def test_local_chart_file_selects_every_hub_using_it_on_every_cluster(
    fleet: Fleet, line: str, path: str | None, verb: str
) -> None:
    result = plan(fleet, line)
    path = path or line
    # delta/prod deploys its chart_override instead, so it is not selected.
    assert units(result) == {"support": [], **ALL_TESTHUB_HUBS}
    assert job(result, "gamma/prod") == (f"chart testhub (helm-charts/testhub/): {path} {verb}",)
    # delta has no selected production hub: its staging hubs are there for the chart only.
    assert job(result, "delta/staging-a") == (
        f"chart testhub (helm-charts/testhub/): {path} {verb}",
    )


def test_support_chart_selects_every_support_release(fleet: Fleet) -> None:
    result = plan(fleet, "helm-charts/support/templates/configmap.yaml")
    assert units(result) == {
        "support": ["alpha", "beta", "delta", "gamma"],  # local has no support release
        "staging": [],
        "prod": [],
    }


def test_cluster_yaml_without_history_selects_the_whole_cluster(fleet: Fleet) -> None:
    result = plan(fleet, f"{C}/beta/cluster.yaml")
    assert units(result) == {
        "support": ["beta"],
        "staging": ["beta/staging"],
        "prod": ["beta/research"],
    }
    assert job(result, "beta") == (
        f"{C}/beta/cluster.yaml changed (compared without git history: whole cluster)",
    )


def test_deployer_credentials_select_the_whole_cluster(fleet: Fleet) -> None:
    result = plan(fleet, f"{C}/delta/enc-deployer-credentials.secret.yaml")
    assert units(result) == {
        "support": ["delta"],
        "staging": ["delta/staging-a", "delta/staging-b"],
        "prod": ["delta/prod"],
    }


def test_renamed_values_file_in_name_status_form(fleet: Fleet) -> None:
    result = plan(fleet, f"R087\t{C}/alpha/old-prod2.values.yaml\t{C}/alpha/prod2.values.yaml")
    assert units(result)["prod"] == ["alpha/prod2"]
    assert job(result, "alpha/prod2") == (
        f"values file {C}/alpha/prod2.values.yaml renamed from {C}/alpha/old-prod2.values.yaml",
    )
    assert result.unmatched_files == (f"{C}/alpha/old-prod2.values.yaml",)


def test_renamed_values_file_as_two_paths(fleet: Fleet) -> None:
    result = plan(fleet, f"{C}/alpha/old-prod2.values.yaml", f"{C}/alpha/prod2.values.yaml")
    assert units(result)["prod"] == ["alpha/prod2"]


def test_deleted_values_file_is_named_deleted(fleet_copy: Path) -> None:
    # The values file is gone from the working tree but a hub still names it:
    # loading fails, so plan on the fleet as loaded before the deletion.
    root = fleet_copy
    fleet = load_fleet(root).fleet_or_raise()
    (root / C / "alpha" / "prod2.values.yaml").unlink()
    result = plan(fleet, f"{C}/alpha/prod2.values.yaml")
    assert job(result, "alpha/prod2") == (f"values file {C}/alpha/prod2.values.yaml deleted",)
    status = make_plan(fleet, [Change(f"{C}/gamma/prod.values.yaml", "D")])
    assert job(status, "gamma/prod") == (f"values file {C}/gamma/prod.values.yaml deleted",)


def test_chart_override_file(fleet: Fleet) -> None:
    path = f"{C}/delta/chart-override/testhub/templates/configmap.yaml"
    result = plan(fleet, path)
    assert units(result) == {
        "support": [],
        "staging": ["delta/staging-a", "delta/staging-b"],
        "prod": ["delta/prod"],
    }
    assert job(result, "delta/prod") == (
        f"chart_override ({C}/delta/chart-override/testhub/): {path} changed",
    )


def test_a_file_nothing_depends_on_gives_an_empty_plan(fleet: Fleet) -> None:
    result = plan(fleet, "README.md", f"{C}/templates/hub.values.yaml", ".sops.yaml")
    assert result.empty
    assert units(result) == {"support": [], "staging": [], "prod": []}
    assert result.unmatched_files == (
        ".sops.yaml",
        "README.md",
        f"{C}/templates/hub.values.yaml",
    )


def test_redeploy_all_when_changed_glob_selects_everything(fleet: Fleet) -> None:
    result = plan(fleet, "requirements-hubfleet.txt")
    assert units(result)["support"] == ["alpha", "beta", "delta", "gamma"]
    assert len(result.staging_jobs) == 5 and len(result.prod_jobs) == 6
    assert job(result, "gamma") == (
        "requirements-hubfleet.txt changed, matching redeploy_all_when_changed "
        "'requirements-hubfleet.txt' in hubfleet.yaml",
    )


def test_hubfleet_yaml_without_history_selects_everything(fleet: Fleet) -> None:
    result = plan(fleet, "hubfleet.yaml")
    assert len(result.support_jobs) == 4 and len(result.prod_jobs) == 6
    assert "compared without git history" in job(result, "alpha/prod1")[0]


def test_cluster_with_two_staging_hubs_gets_both_as_canaries(fleet: Fleet) -> None:
    result = plan(fleet, f"{C}/delta/prod.values.yaml")
    assert units(result)["staging"] == ["delta/staging-a", "delta/staging-b"]
    for hub in ("delta/staging-a", "delta/staging-b"):
        assert job(result, hub) == ("canary: guards production hubs prod of cluster delta",)


def test_cluster_without_staging_hub_says_so(fleet: Fleet) -> None:
    result = plan(fleet, f"{C}/gamma/prod.values.yaml")
    assert units(result) == {"support": [], "staging": [], "prod": ["gamma/prod"]}
    assert result.warnings == (
        "cluster gamma has no staging hub: its production hubs (prod) deploy without a canary",
    )


def test_label_skip_deploy_deploys_nothing(fleet: Fleet) -> None:
    result = plan(fleet, f"{C}/alpha/prod1.values.yaml", labels=Labels(("deployer:skip-deploy",)))
    assert result.empty
    skipped = {(j.cluster, j.hub): j.reasons for j in result.skipped}
    assert skipped[("alpha", "prod1")][0] == "label deployer:skip-deploy"
    assert set(skipped) == {("alpha", "prod1"), ("alpha", "staging")}


def test_label_skip_deploy_hubs_keeps_support(fleet: Fleet) -> None:
    result = plan(
        fleet,
        f"{C}/alpha/cluster.yaml",
        labels=Labels(("deployer:skip-deploy-hubs",)),
    )
    assert units(result) == {"support": ["alpha"], "staging": [], "prod": []}
    assert {j.hub for j in result.skipped} == {"staging", "prod1", "prod2"}


def test_label_deploy_hubs_selects_every_hub(fleet: Fleet) -> None:
    result = plan(fleet, labels=Labels(("deployer:deploy-hubs",)))
    assert units(result)["support"] == []
    assert len(result.staging_jobs) == 5
    assert len(result.prod_jobs) == 6
    assert job(result, "gamma/prod") == ("label deployer:deploy-hubs",)
    assert job(result, "alpha/staging")[0] == "label deployer:deploy-hubs"


def test_label_deploy_support_selects_every_support_release(fleet: Fleet) -> None:
    result = plan(fleet, labels=Labels(("deployer:deploy-support",)))
    assert units(result) == {
        "support": ["alpha", "beta", "delta", "gamma"],
        "staging": [],
        "prod": [],
    }
    assert job(result, "beta") == ("label deployer:deploy-support",)


def test_deploy_and_skip_hubs_labels_together_warn(fleet: Fleet) -> None:
    result = plan(fleet, labels=Labels(("deployer:deploy-hubs", "deployer:skip-deploy-hubs")))
    assert result.empty
    assert any("both set" in w for w in result.warnings)


def test_plan_is_sorted_and_deterministic(fleet: Fleet) -> None:
    paths = [
        "requirements-hubfleet.txt",
        f"{C}/gamma/prod.values.yaml",
        f"{C}/alpha/prod1.values.yaml",
    ]
    first = plan(fleet, *paths).to_json()
    second = plan(fleet, *reversed(paths)).to_json()
    assert first == second
    keys = [(j["cluster_name"], j["hub_name"]) for j in first["prod_jobs"]]
    assert keys == sorted(keys)


def test_parse_changed_files_accepts_lines_commas_and_name_status() -> None:
    text = "a.yaml, ./b.yaml\n\n# comment\nD\tc.yaml\nR100\told.yaml\tnew.yaml\nA\td.yaml\n"
    assert parse_changed_files(text) == [
        Change("a.yaml", "M"),
        Change("b.yaml", "M"),
        Change("c.yaml", "D"),
        Change("d.yaml", "A"),
        Change("new.yaml", "R", "old.yaml"),
    ]
