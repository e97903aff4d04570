"""`--rendered`: hubs selected only by a chart change are rendered at base and head."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import Fleet
from hubfleet.plan.changes import parse_changed_files
from hubfleet.plan.graph import UnitKey
from hubfleet.plan.labels import Labels
from hubfleet.plan.plan import Plan
from hubfleet.plan.planner import RENDERED_IDENTICAL, make_plan
from hubfleet.plan.revisions import plan_from_git
from tests.plan.conftest import GitFleet, units

CONFIGMAP = "helm-charts/testhub/templates/configmap.yaml"


def rendered_plan(repo: GitFleet) -> Plan:
    return plan_from_git(
        repo.root, base="base", head="HEAD", labels=Labels(), redactor=Redactor(), rendered=True
    )


def test_chart_change_with_identical_manifests_is_skipped(git_fleet: GitFleet) -> None:
    git_fleet.path("helm-charts/testhub/README.md").write_text("A chart for tests.\n")
    git_fleet.edit(CONFIGMAP, "\ndata:\n", "\n{{- /* a comment only */}}\ndata:\n")
    git_fleet.commit("cosmetic chart change")
    result = rendered_plan(git_fleet)
    assert result.empty, result.to_json()
    skipped = {f"{j.cluster}/{j.hub}": j.reasons for j in result.skipped}
    assert set(skipped) == {
        "alpha/staging",
        "alpha/prod1",
        "alpha/prod2",
        "beta/staging",
        "beta/research",
        "delta/staging-a",
        "delta/staging-b",
        "gamma/prod",
        "local/staging",
        "local/prod1",
    }
    assert skipped["gamma/prod"][-1] == RENDERED_IDENTICAL
    assert skipped["gamma/prod"][0].startswith("chart testhub (helm-charts/testhub/): ")
    # No canary is added for a production hub that was dropped.
    assert result.warnings == ()


def test_chart_change_with_different_manifests_is_kept(git_fleet: GitFleet) -> None:
    git_fleet.edit(CONFIGMAP, "\ndata:\n", '\ndata:\n  added: "yes"\n')
    git_fleet.commit("real chart change")
    result = rendered_plan(git_fleet)
    assert len(result.prod_jobs) == 5 and len(result.staging_jobs) == 5
    assert result.skipped == ()


def test_a_values_change_is_rendered_and_names_the_changed_resource(git_fleet: GitFleet) -> None:
    git_fleet.path("helm-charts/testhub/README.md").write_text("A chart for tests.\n")
    git_fleet.edit("config/clusters/gamma/prod.values.yaml", "hello from prod", "hi from prod")
    git_fleet.commit("chart readme and a values change")
    result = rendered_plan(git_fleet)
    assert units(result) == {"support": [], "staging": [], "prod": ["gamma/prod"]}
    assert result.prod_jobs[0].reasons == (
        "values file config/clusters/gamma/prod.values.yaml changed",
        "chart testhub (helm-charts/testhub/): helm-charts/testhub/README.md added",
        "rendered: ConfigMap/prod/prod-extras: data.message",
    )


def test_encrypted_values_stay_encrypted_and_are_never_printed(git_fleet: GitFleet) -> None:
    git_fleet.path("helm-charts/testhub/README.md").write_text("A chart for tests.\n")
    git_fleet.commit("readme")
    result = rendered_plan(git_fleet)
    assert "s3cr3t" not in str(result.to_json())
    assert len(result.skipped) == 10


def test_a_hub_that_cannot_be_compared_is_kept_with_a_warning(fleet: Fleet) -> None:
    asked: list[object] = []

    def check(keys: Sequence[UnitKey]) -> Mapping[UnitKey, str]:
        asked.extend(keys)
        return {key: "rendering at base failed: no chart" for key in keys}

    changes = parse_changed_files("helm-charts/testhub/values.yaml")
    result = make_plan(fleet, changes, render_check=check)
    assert len(result.prod_jobs) == 5
    assert ("gamma", "prod") in asked and ("alpha", None) not in asked
    assert "gamma/prod: --rendered could not compare: rendering at base failed: no chart" in (
        result.warnings
    )
