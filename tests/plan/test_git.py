"""`--base/--head`: git lists the changes, cluster.yaml and hubfleet.yaml are compared."""

from __future__ import annotations

import shutil

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.plan.git import GitError, GitRepo
from hubfleet.plan.labels import Labels
from hubfleet.plan.plan import Plan
from hubfleet.plan.revisions import plan_from_git
from tests.plan.conftest import GitFleet, job, units

C = "config/clusters"
ALPHA = f"{C}/alpha/cluster.yaml"


def git_plan(repo: GitFleet, base: str = "base", head: str | None = None) -> Plan:
    return plan_from_git(repo.root, base=base, head=head, labels=Labels(), redactor=Redactor())


def test_editing_one_hub_entry_selects_only_that_hub(git_fleet: GitFleet) -> None:
    git_fleet.edit(ALPHA, "domain: prod2.alpha.example.org", "domain: two.alpha.example.org")
    git_fleet.commit("rename prod2's domain")
    result = git_plan(git_fleet, head="HEAD")
    assert units(result) == {"support": [], "staging": ["alpha/staging"], "prod": ["alpha/prod2"]}
    assert job(result, "alpha/prod2") == (f"{ALPHA}: hub prod2: domain changed",)


def test_working_tree_is_the_default_head(git_fleet: GitFleet) -> None:
    git_fleet.edit(ALPHA, "domain: prod1.alpha.example.org", "domain: one.alpha.example.org")
    (git_fleet.path("notes.txt")).write_text("untracked\n")
    result = git_plan(git_fleet)
    assert units(result)["prod"] == ["alpha/prod1"]
    assert result.unmatched_files == ("notes.txt",)


def test_adding_a_hub_selects_that_hub(git_fleet: GitFleet) -> None:
    (git_fleet.path(f"{C}/alpha/prod3.values.yaml")).write_text("{}\n")
    with git_fleet.path(ALPHA).open("a") as handle:
        handle.write(
            "- name: prod3\n  domain: prod3.alpha.example.org\n"
            "  helm_chart_values_files:\n  - prod3.values.yaml\n"
        )
    git_fleet.commit("add prod3")
    result = git_plan(git_fleet, head="HEAD")
    assert units(result) == {"support": [], "staging": ["alpha/staging"], "prod": ["alpha/prod3"]}
    assert job(result, "alpha/prod3") == (
        f"{ALPHA}: hub prod3 added",
        f"values file {C}/alpha/prod3.values.yaml added",
    )


def test_credentials_block_edit_selects_the_whole_cluster(git_fleet: GitFleet) -> None:
    git_fleet.edit(ALPHA, "zone: us-central1-b", "zone: us-central1-c")
    git_fleet.commit("move zone")
    result = git_plan(git_fleet, head="HEAD")
    assert units(result) == {
        "support": ["alpha"],
        "staging": ["alpha/staging"],
        "prod": ["alpha/prod1", "alpha/prod2"],
    }
    assert job(result, "alpha")[0] == f"{ALPHA}: provider/credentials block 'gcp' changed"


def test_billing_and_display_name_deploy_nothing_but_are_noted(git_fleet: GitFleet) -> None:
    git_fleet.edit(ALPHA, "  zone: us-central1-b\n", "  zone: us-central1-b\n  billing: {a: 1}\n")
    git_fleet.edit(
        ALPHA,
        "- name: prod1\n",
        "- name: prod1\n  display_name: Production One\n",
    )
    git_fleet.commit("information only")
    result = git_plan(git_fleet, head="HEAD")
    assert result.empty
    skipped = {(j.cluster, j.hub, j.kind): j.reasons for j in result.skipped}
    assert skipped[("alpha", None, "cluster")] == (
        f"{ALPHA}: only free information changed (gcp.billing)",
    )
    assert skipped[("alpha", "prod1", "prod")] == (
        f"{ALPHA}: hub prod1: only free information changed (display_name)",
    )


def test_health_check_settings_deploy_nothing(git_fleet: GitFleet) -> None:
    """How a hub is checked changes nothing that is deployed."""
    git_fleet.edit(ALPHA, "- name: staging\n", "- name: staging\n  health_check: {port: 8000}\n")
    git_fleet.commit("check through another port")
    result = git_plan(git_fleet, head="HEAD")
    assert result.empty
    skipped = {(j.cluster, j.hub): j.reasons for j in result.skipped}
    assert skipped[("alpha", "staging")] == (
        f"{ALPHA}: hub staging: only free information changed (health_check)",
    )


def test_reformatting_cluster_yaml_deploys_nothing(git_fleet: GitFleet) -> None:
    text = git_fleet.path(ALPHA).read_text()
    git_fleet.path(ALPHA).write_text("# a comment\n" + text.replace("name: alpha", "name: 'alpha'"))
    git_fleet.commit("cosmetic")
    result = git_plan(git_fleet, head="HEAD")
    assert result.empty and result.skipped == ()


def test_removed_hub_is_listed_never_planned(git_fleet: GitFleet) -> None:
    text = git_fleet.path(ALPHA).read_text()
    start = text.index("- name: prod2")
    git_fleet.path(ALPHA).write_text(text[:start])
    git_fleet.commit("remove prod2")
    result = git_plan(git_fleet, head="HEAD")
    assert result.empty
    assert [(j.cluster, j.hub, j.provider) for j in result.removed_hubs] == [
        ("alpha", "prod2", "gcp")
    ]
    assert result.removed_hubs[0].reasons == (
        f"{ALPHA}: hub prod2 removed (not uninstalled by a plan)",
    )
    # prod2.values.yaml is still there but nothing depends on it any more.
    assert result.to_json()["removed_hubs"][0]["hub_name"] == "prod2"


def test_removed_cluster_lists_its_hubs(git_fleet: GitFleet) -> None:
    shutil.rmtree(git_fleet.path(f"{C}/gamma"))
    git_fleet.commit("remove gamma")
    result = git_plan(git_fleet, head="HEAD")
    assert result.empty
    assert [(j.cluster, j.hub, j.provider) for j in result.removed_hubs] == [
        ("gamma", "prod", "azure")
    ]


def test_renamed_values_file(git_fleet: GitFleet) -> None:
    git_fleet.git("mv", f"{C}/alpha/prod2.values.yaml", f"{C}/alpha/prod2-hub.values.yaml")
    git_fleet.edit(ALPHA, "  - prod2.values.yaml", "  - prod2-hub.values.yaml")
    git_fleet.commit("rename")
    result = git_plan(git_fleet, head="HEAD")
    assert units(result) == {"support": [], "staging": ["alpha/staging"], "prod": ["alpha/prod2"]}
    assert job(result, "alpha/prod2") == (
        f"{ALPHA}: hub prod2: helm_chart_values_files changed",
        "values file prod2.values.yaml no longer used",
        "values file prod2-hub.values.yaml now used",
        f"values file {C}/alpha/prod2-hub.values.yaml renamed from {C}/alpha/prod2.values.yaml",
    )


def test_deleted_values_file(git_fleet: GitFleet) -> None:
    git_fleet.path(f"{C}/alpha/prod2.values.yaml").unlink()
    git_fleet.edit(ALPHA, "  - prod2.values.yaml\n", "")
    git_fleet.commit("delete")
    result = git_plan(git_fleet, head="HEAD")
    assert units(result) == {"support": [], "staging": ["alpha/staging"], "prod": ["alpha/prod2"]}
    assert "values file prod2.values.yaml no longer used" in job(result, "alpha/prod2")
    assert result.unmatched_files == (f"{C}/alpha/prod2.values.yaml",)


def test_support_block_edit_selects_the_support_release(git_fleet: GitFleet) -> None:
    git_fleet.edit(f"{C}/beta/cluster.yaml", "  - enc-support.secret.values.yaml\n", "")
    git_fleet.commit("drop a support file")
    assert units(git_plan(git_fleet, head="HEAD")) == {
        "support": ["beta"],
        "staging": [],
        "prod": [],
    }


def test_chart_pin_selects_hubs_using_that_chart(git_fleet: GitFleet) -> None:
    git_fleet.edit(
        f"{C}/gamma/cluster.yaml", "- name: prod\n", "- name: prod\n  helm_chart: jupyterhub\n"
    )
    base = git_fleet.commit("gamma on the remote chart")
    git_fleet.edit("hubfleet.yaml", "version: 4.2.0", "version: 4.3.0")
    git_fleet.commit("bump")
    result = git_plan(git_fleet, base=base, head="HEAD")
    assert units(result) == {"support": [], "staging": [], "prod": ["gamma/prod"]}
    assert job(result, "gamma/prod") == (
        "hubfleet.yaml: charts.jupyterhub.version changed from 4.2.0 to 4.3.0",
    )


def test_hubfleet_version_selects_everything_and_deploy_settings_nothing(
    git_fleet: GitFleet,
) -> None:
    with git_fleet.path("hubfleet.yaml").open("a") as handle:
        handle.write("kubernetes_version: '1.31'\ndeploy:\n  helm_timeout: 20m\n")
    base = git_fleet.commit("settings")
    assert git_plan(git_fleet, base="base", head=base).empty
    with git_fleet.path("hubfleet.yaml").open("a") as handle:
        handle.write("hubfleet_version: 0.2.0\n")
    git_fleet.commit("pin hubfleet")
    result = git_plan(git_fleet, base=base, head="HEAD")
    assert len(result.support_jobs) == 4 and len(result.prod_jobs) == 6
    assert job(result, "local/prod1") == (
        "hubfleet.yaml: hubfleet_version changed from None to 0.2.0 (the deploy tooling)",
    )


def test_explicit_head_other_than_checkout_is_read_from_git(git_fleet: GitFleet) -> None:
    git_fleet.edit(f"{C}/beta/research.values.yaml", "research", "research-edited")
    head = git_fleet.commit("edit research")
    git_fleet.git("checkout", "-q", "base")
    result = git_plan(git_fleet, base="base", head=head)
    assert units(result) == {
        "support": [],
        "staging": ["beta/staging"],
        "prod": ["beta/research"],
    }


def test_fleet_in_a_subfolder_of_the_git_repository(git_fleet: GitFleet) -> None:
    # Move the fleet into deploy/ of a fresh repository.
    outer = GitFleet(git_fleet.root.parent / "outer")
    outer.root.mkdir()
    shutil.copytree(git_fleet.root, outer.root / "deploy", ignore=shutil.ignore_patterns(".git"))
    outer.git("init", "-q", "-b", "main")
    outer.commit("base")
    outer.git("tag", "base")
    outer.edit("deploy/config/clusters/gamma/prod.values.yaml", "prod", "prod-x")
    outer.commit("edit")
    result = git_plan(GitFleet(outer.root / "deploy"), head="HEAD")
    assert units(result)["prod"] == ["gamma/prod"]
    assert job(result, "gamma/prod") == (f"values file {C}/gamma/prod.values.yaml changed",)


def test_unknown_revision_is_a_clear_error(git_fleet: GitFleet) -> None:
    with pytest.raises(GitError) as caught:
        git_plan(git_fleet, base="no-such-branch")
    assert "no-such-branch" in str(caught.value)
    assert caught.value.exit_code == 2


def test_git_read_returns_contents_in_memory(git_fleet: GitFleet) -> None:
    repo = GitRepo(git_fleet.root, Redactor())
    found = repo.read("base", ["hubfleet.yaml", "missing.txt"])
    assert found["missing.txt"] is None
    assert b"default_chart: testhub" in (found["hubfleet.yaml"] or b"")


def test_default_chart_change_selects_hubs_on_the_new_default(git_fleet: GitFleet) -> None:
    # Hubs naming no helm_chart move from testhub to the remote jupyterhub chart.
    git_fleet.edit("hubfleet.yaml", "default_chart: testhub", "default_chart: jupyterhub")
    git_fleet.commit("new default")
    result = git_plan(git_fleet, head="HEAD")
    assert len(result.prod_jobs) == 5  # every hub but delta/prod (chart_override)
    assert job(result, "gamma/prod") == (
        "hubfleet.yaml: default_chart changed from testhub to jupyterhub",
    )
    assert units(result)["support"] == []
