"""Uninstall jobs (docs/decommission.md): a hub moved to `decommissioned:` gets one, with
its reasons, in the plan's JSON, table and markdown (the PR comment); a hub that simply
disappears never does: the plan warns and shows the entry that would remove it."""

from __future__ import annotations

import json

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.plan.changes import Change
from hubfleet.plan.job import JsonFile
from hubfleet.plan.labels import SKIP_DEPLOY, SKIP_DEPLOY_HUBS, Labels
from hubfleet.plan.plan import Plan, plan_from_file
from hubfleet.plan.planner import plan_from_files
from hubfleet.plan.render import github_outputs, to_json_text, to_markdown, to_table
from hubfleet.plan.revisions import plan_from_git
from hubfleet.plan.schema import check_plan_json
from tests.plan.conftest import GitFleet, units

ALPHA = "config/clusters/alpha/cluster.yaml"
PROD2 = """- name: prod2
  domain: prod2.alpha.example.org
  helm_chart_values_files:
  - common.values.yaml
  - prod2.values.yaml
"""
ENTRY = (
    "decommissioned:\n- name: prod2\n  date: 2025-06-30\n  data: {data}\n  reason: course over\n"
)


def _decommission(repo: GitFleet, data: str = "keep") -> None:
    repo.edit(ALPHA, PROD2, "")
    with repo.path(ALPHA).open("a") as handle:
        handle.write(ENTRY.format(data=data))


def git_plan(repo: GitFleet, labels: tuple[str, ...] = (), base: str = "base") -> Plan:
    return plan_from_git(
        repo.root, base=base, head="HEAD", labels=Labels(labels), redactor=Redactor()
    )


def test_a_decommissioned_hub_gets_an_uninstall_job_with_its_reasons(
    git_fleet: GitFleet,
) -> None:
    _decommission(git_fleet)
    git_fleet.commit("decommission prod2")
    plan = git_plan(git_fleet)
    [job] = plan.uninstall_jobs
    assert (job.cluster, job.hub, job.kind, job.provider) == ("alpha", "prod2", "uninstall", "gcp")
    assert job.reasons == (
        f"{ALPHA}: hub prod2 decommissioned",
        "decommissioned on 2025-06-30, data: keep (course over)",
    )
    # nothing else of alpha is deployed, and prod2 is not "removed"
    assert units(plan) == {"support": [], "staging": [], "prod": []}
    assert plan.removed_hubs == () and plan.warnings == ()
    assert not plan.empty


def test_the_uninstall_job_is_in_every_output(git_fleet: GitFleet) -> None:
    _decommission(git_fleet, "delete")
    git_fleet.commit("decommission prod2")
    plan = git_plan(git_fleet)
    data = json.loads(to_json_text(plan))
    assert data["uninstall_jobs"] == [
        {
            "cluster_name": "alpha",
            "provider": "gcp",
            "hub_name": "prod2",
            "reasons": [
                f"{ALPHA}: hub prod2 decommissioned",
                "decommissioned on 2025-06-30, data: delete (course over)",
            ],
            "choice_reason": f"{ALPHA}: hub prod2 decommissioned; decommissioned on "
            "2025-06-30, data: delete (course over)",
        }
    ]
    assert check_plan_json(data, "plan.json") == []
    again = plan_from_file(JsonFile("plan.json", to_json_text(plan), data))
    assert again.uninstall_jobs == plan.uninstall_jobs
    markdown = to_markdown(plan)
    assert "### Decommissioned hubs (uninstalled): 1" in markdown
    assert "data: delete (course over)" in markdown
    assert "1 decommissioned hub will be uninstalled." in markdown
    table = to_table(plan, width=200)
    assert "Decommissioned hubs (uninstalled): 1" in table and "prod2" in table
    assert "uninstall" not in github_outputs(plan)  # the existing output names only


def test_a_plan_without_uninstall_jobs_has_no_such_key(git_fleet: GitFleet) -> None:
    git_fleet.edit(ALPHA, "domain: prod2.alpha.example.org", "domain: two.alpha.example.org")
    git_fleet.commit("edit")
    assert "uninstall_jobs" not in json.loads(to_json_text(git_plan(git_fleet)))


def test_a_hub_that_disappears_is_never_uninstalled_and_the_plan_warns(
    git_fleet: GitFleet,
) -> None:
    git_fleet.edit(ALPHA, PROD2, "")
    git_fleet.commit("drop prod2")
    plan = git_plan(git_fleet)
    assert plan.uninstall_jobs == ()
    assert [(j.cluster, j.hub) for j in plan.removed_hubs] == [("alpha", "prod2")]
    [warning] = plan.warnings
    assert warning.startswith(f"alpha/prod2: removed from {ALPHA} without a decommissioned entry")
    entry = "- {name: prod2, date: YYYY-MM-DD, data: keep, reason: ...}"
    assert entry in warning
    assert entry in to_markdown(plan) and "prod2" in to_table(plan, width=400)


def test_pasting_the_entry_turns_the_warning_into_an_uninstall(git_fleet: GitFleet) -> None:
    git_fleet.edit(ALPHA, PROD2, "")
    git_fleet.commit("drop prod2")
    [warning] = git_plan(git_fleet).warnings
    start = warning.index("- {name:")
    entry = warning[start : warning.index("}", start) + 1].replace("YYYY-MM-DD", "2025-07-01")
    with git_fleet.path(ALPHA).open("a") as handle:
        handle.write(f"decommissioned:\n{entry}\n")
    assert load_fleet(git_fleet.root).errors == ()
    git_fleet.commit("decommission prod2 properly")
    plan = git_plan(git_fleet)
    assert [(j.hub, j.kind) for j in plan.uninstall_jobs] == [("prod2", "uninstall")]
    assert plan.warnings == () and plan.removed_hubs == ()


def test_a_cluster_deleted_with_its_hubs_warns_once(git_fleet: GitFleet) -> None:
    import shutil

    shutil.rmtree(git_fleet.path("config/clusters/beta"))
    git_fleet.commit("drop beta")
    plan = git_plan(git_fleet)
    assert plan.uninstall_jobs == ()
    [warning] = plan.warnings
    assert warning.startswith(
        "cluster beta: its cluster.yaml was deleted with hubs research, staging"
    )


def test_removing_the_entry_later_uninstalls_nothing_and_deploys_nothing(
    git_fleet: GitFleet,
) -> None:
    _decommission(git_fleet)
    git_fleet.commit("decommission prod2")
    git_fleet.git("tag", "decommissioned")
    git_fleet.edit(ALPHA, ENTRY.format(data="keep"), "")
    git_fleet.commit("prod2 is fully gone: drop its entry")
    plan = git_plan(git_fleet, base="decommissioned")
    assert plan.empty and plan.uninstall_jobs == () and plan.warnings == ()
    assert any(
        "decommissioned entry of hub prod2 removed" in r for j in plan.skipped for r in j.reasons
    )


def test_changing_the_data_decision_uninstalls_again(git_fleet: GitFleet) -> None:
    """keep -> delete: the uninstall runs again (the release already gone), now deleting
    the namespace."""
    _decommission(git_fleet, "keep")
    git_fleet.commit("decommission prod2")
    git_fleet.git("tag", "kept")
    git_fleet.edit(ALPHA, "data: keep", "data: delete")
    git_fleet.commit("delete its data after all")
    [job] = git_plan(git_fleet, base="kept").uninstall_jobs
    assert job.reasons[0] == f"{ALPHA}: hub prod2 decommissioned entry changed"
    assert "data: delete" in job.reasons[1]


def test_skip_labels_skip_the_uninstall(git_fleet: GitFleet) -> None:
    _decommission(git_fleet)
    git_fleet.commit("decommission prod2")
    for label in (SKIP_DEPLOY, SKIP_DEPLOY_HUBS):
        plan = git_plan(git_fleet, (label,))
        assert plan.uninstall_jobs == () and plan.empty
        [skipped] = [j for j in plan.skipped if j.hub == "prod2"]
        assert skipped.kind == "uninstall" and skipped.reasons[0] == f"label {label}"
        data = json.loads(to_json_text(plan))
        assert check_plan_json(data, "p") == []
        assert plan_from_file(JsonFile("p", "", data)).skipped == plan.skipped


def test_without_history_a_changed_cluster_file_uninstalls_every_decommissioned_hub(
    git_fleet: GitFleet,
) -> None:
    _decommission(git_fleet)
    fleet = load_fleet(git_fleet.root).fleet_or_raise()
    plan = plan_from_files(fleet, [Change(ALPHA, "M")], labels=Labels())
    [job] = plan.uninstall_jobs
    assert job.hub == "prod2"
    assert job.reasons == (
        f"{ALPHA} changed (compared without git history: whole cluster)",
        "decommissioned on 2025-06-30, data: keep (course over)",
    )
    other = plan_from_files(
        fleet, [Change("config/clusters/alpha/common.values.yaml", "M")], labels=Labels()
    )
    assert other.uninstall_jobs == ()  # a values change never uninstalls


def test_a_terraform_cluster_gets_a_terraform_job_for_the_hub_s_identity(
    git_fleet: GitFleet,
) -> None:
    from tests.terraform.conftest import TERRAFORM_BLOCKS

    with git_fleet.path(ALPHA).open("a") as handle:
        handle.write(TERRAFORM_BLOCKS["alpha"])
    git_fleet.commit("terraform")
    git_fleet.git("tag", "tf")
    git_fleet.edit(
        ALPHA,
        "- name: prod1\n  domain: prod1.alpha.example.org\n  helm_chart_values_files:\n"
        "  - common.values.yaml\n  - prod1.values.yaml\n  - enc-prod1.secret.values.yaml\n",
        "",
    )
    with git_fleet.path(ALPHA).open("a") as handle:
        handle.write("decommissioned:\n- name: prod1\n  date: 2025-06-30\n  data: delete\n")
    git_fleet.commit("decommission prod1")
    plan = git_plan(git_fleet, base="tf")
    [tf] = plan.terraform_jobs
    assert tf.cluster == "alpha"
    assert tf.reasons == (
        f"{ALPHA}: hub prod1 decommissioned (data: delete): its cloud identity leaves the "
        "Terraform inputs",
    )
