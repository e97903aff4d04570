"""The uninstall job of a decommissioned hub (docs/decommission.md): `helm uninstall`
through the runner with the cluster's credentials; `data: keep` leaves the namespace
and its volumes, `data: delete` deletes the namespace (fake kubectl); idempotent
("already gone"); a failure fails that job only; dry runs change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.deploy.conftest import DeployEnv, by_job, planned_record

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.deploy.model import Report
from hubfleet.deploy.orchestrator import Deployer, DeployOptions
from hubfleet.deploy.targets import from_cli
from hubfleet.secrets.sops import Sops

ALPHA = "config/clusters/alpha/cluster.yaml"
PROD2 = """- name: prod2
  domain: prod2.alpha.example.org
  helm_chart_values_files:
  - common.values.yaml
  - prod2.values.yaml
"""
NOT_FOUND = "Error: uninstall: Release not loaded: prod2: release: not found\n"


def decommission(fleet: Path, data: str, hub_text: str = PROD2, name: str = "prod2") -> None:
    path = fleet / ALPHA
    text = path.read_text()
    assert hub_text in text
    entry = f"decommissioned:\n- name: {name}\n  date: 2025-06-30\n  data: {data}\n"
    path.write_text(text.replace(hub_text, "") + entry)


def run(denv: DeployEnv, hubs: list[str], **options: Any) -> Report:
    fleet = load_fleet(denv.fleet).fleet_or_raise()
    redactor = Redactor()
    targets = from_cli(fleet, "alpha", hubs)
    return Deployer(
        fleet,
        targets.jobs,
        sops=Sops(redactor, cwd=fleet.root),
        redactor=redactor,
        options=DeployOptions(**options),
    ).run()


def verb(denv: DeployEnv, tool: str, *words: str) -> list[dict[str, Any]]:
    return [c for c in denv.fakes.calls(tool) if c["argv"][: len(words)] == list(words)]


def test_keep_uninstalls_the_release_and_leaves_the_namespace(denv: DeployEnv) -> None:
    decommission(denv.fleet, "keep")
    report = run(denv, ["prod2"])
    [record] = report.records
    assert (record.job.kind, record.status) == ("uninstall", "succeeded")
    assert "release prod2 uninstalled" in record.message
    assert "namespace prod2 and its PersistentVolumeClaims kept (data: keep" in record.message
    [call] = verb(denv, "helm", "uninstall")
    words = call["argv"]
    assert "--namespace=prod2" in words and words[words.index("--") + 1 :] == ["prod2"]
    # with the cluster's credentials: its private kubeconfig, named and in KUBECONFIG
    assert "hubfleet-creds-alpha-" in call["env"]["KUBECONFIG"]
    assert any(w.startswith("--kubeconfig=") and "hubfleet-creds-alpha-" in w for w in words)
    assert verb(denv, "kubectl", "delete") == []
    assert verb(denv, "helm", "upgrade") == []  # nothing else of alpha
    assert record.command == "helm uninstall --namespace=prod2 --wait --timeout=600s -- prod2"
    assert report.exit_code == 0


def test_delete_deletes_the_namespace_too(denv: DeployEnv) -> None:
    decommission(denv.fleet, "delete")
    denv.fakes.script(
        [
            {
                "tool": "kubectl",
                "args": ["delete", "namespace"],
                "stdout": 'namespace "prod2" deleted\n',
            }
        ]
    )
    [record] = run(denv, ["prod2"]).records
    assert record.status == "succeeded", record.message
    assert record.message == (
        "release prod2 uninstalled; namespace prod2 deleted with its volumes (data: delete)"
    )
    [helm] = verb(denv, "helm", "uninstall")
    [kubectl] = verb(denv, "kubectl", "delete", "namespace")
    assert kubectl["argv"][-2:] == ["--", "prod2"] and "--ignore-not-found" in kubectl["argv"]
    assert "hubfleet-creds-alpha-" in kubectl["env"]["KUBECONFIG"]
    assert helm["end"] <= kubectl["start"]  # the release first, then its namespace


def test_an_uninstall_that_finds_nothing_is_already_gone(denv: DeployEnv) -> None:
    """Idempotent: run again, the release and namespace are gone: success."""
    decommission(denv.fleet, "delete")
    denv.fakes.script(
        [
            {"tool": "helm", "args": ["uninstall"], "exit": 1, "stderr": NOT_FOUND},
            {"tool": "kubectl", "args": ["delete", "namespace"], "stdout": ""},
        ]
    )
    report = run(denv, ["prod2"])
    [record] = report.records
    assert record.status == "succeeded"
    assert record.message == (
        "release prod2: already gone; namespace prod2: already gone (data: delete)"
    )
    assert report.exit_code == 0


def test_a_failed_uninstall_fails_its_job_only(denv: DeployEnv) -> None:
    decommission(denv.fleet, "keep")
    denv.fakes.script(
        [
            {
                "tool": "helm",
                "args": ["uninstall"],
                "exit": 1,
                "stderr": "Error: Kubernetes cluster unreachable: connection refused\n",
            }
        ]
    )
    report = run(denv, [])  # the whole cluster: support, hubs and the uninstall
    jobs = {r.job.label: r for r in report.records}
    assert jobs["alpha/prod2"].job.kind == "uninstall"
    assert jobs["alpha/prod2"].status == "failed"
    assert "unreachable" in jobs["alpha/prod2"].message
    for label in ("alpha/support", "alpha/staging", "alpha/prod1"):
        assert jobs[label].status == "succeeded", (label, jobs[label].message)
    assert report.exit_code == 1


def test_dry_run_uninstalls_nothing(denv: DeployEnv) -> None:
    decommission(denv.fleet, "delete")
    [record] = run(denv, ["prod2"], dry_run=True).records
    assert record.status == "succeeded" and record.message.startswith("dry run: would uninstall")
    assert verb(denv, "helm", "uninstall") == [] and verb(denv, "kubectl", "delete") == []


def test_a_live_hub_is_never_uninstalled_from_the_command_line(denv: DeployEnv) -> None:
    decommission(denv.fleet, "keep")
    report = run(denv, ["prod1"])
    assert [r.job.kind for r in report.records] == ["prod"]
    assert verb(denv, "helm", "uninstall") == []


def _plan(denv: DeployEnv, **lists: list[dict[str, Any]]) -> Path:
    data = {
        "support_jobs": [],
        "staging_jobs": [],
        "prod_jobs": [],
        **lists,
        "planned": planned_record([ALPHA]),
    }
    path = denv.out / "plan.json"
    path.write_text(json.dumps(data))
    return path


JOB = {"cluster_name": "alpha", "provider": "gcp", "reasons": ["t"], "choice_reason": "t"}


def test_deploy_plan_runs_the_plans_uninstall_job(run_cli: Any, denv: DeployEnv) -> None:
    decommission(denv.fleet, "keep")
    plan = _plan(denv, uninstall_jobs=[{**JOB, "hub_name": "prod2"}])
    report_file = denv.out / "report.json"
    result = run_cli("--repo", denv.fleet, "deploy", "--plan", plan, "--report", report_file)
    assert result.exit_code == 0, result.output
    report = json.loads(report_file.read_text())
    job = by_job(report)["alpha/prod2"]
    assert (job["kind"], job["status"]) == ("uninstall", "succeeded")
    assert len(verb(denv, "helm", "uninstall")) == 1


@pytest.mark.parametrize(
    ("lists", "message"),
    [
        (
            {"uninstall_jobs": [{**JOB, "hub_name": "prod1"}]},
            "uninstall_jobs[0]: hub alpha/prod1 is not decommissioned in "
            f"{ALPHA}: it is not uninstalled",
        ),
        (
            {"prod_jobs": [{**JOB, "hub_name": "prod2"}]},
            "prod_jobs[0]: hub alpha/prod2 is decommissioned in this fleet, not a prod hub",
        ),
    ],
)
def test_a_plan_cannot_uninstall_a_live_hub_nor_upgrade_a_decommissioned_one(
    run_cli: Any, denv: DeployEnv, lists: dict[str, Any], message: str
) -> None:
    decommission(denv.fleet, "keep")
    plan = _plan(denv, **lists)
    result = run_cli("--repo", denv.fleet, "deploy", "--plan", plan)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    for tool in ("helm", "kubectl"):
        assert denv.fakes.started(tool) == [], tool


def test_a_hand_added_uninstall_job_is_refused_by_the_replan(run_cli: Any, denv: DeployEnv) -> None:
    """The plan records a change that gives no uninstall (a values file): refused."""
    decommission(denv.fleet, "delete")
    data = {
        "support_jobs": [],
        "staging_jobs": [],
        "prod_jobs": [],
        "uninstall_jobs": [{**JOB, "hub_name": "prod2"}],
        "planned": planned_record(["config/clusters/alpha/common.values.yaml"]),
    }
    plan = denv.out / "plan.json"
    plan.write_text(json.dumps(data))
    result = run_cli("--repo", denv.fleet, "deploy", "--plan", plan)
    assert result.exit_code == 2, result.output
    assert "gives no uninstall job for alpha/prod2" in result.stderr
    assert verb(denv, "helm", "uninstall") == []


def test_with_the_stateful_fake_helm_the_release_goes_and_a_rerun_is_already_gone(
    denv: DeployEnv,
) -> None:
    """The release is really removed from the cluster's store, another cluster's release
    of the same name is not touched, and running the job again changes nothing."""
    from tests.fakes.helmstate import HelmState

    state = HelmState(denv.out / "helm-state")
    state.seed("alpha", "prod2", "prod2")
    state.seed("alpha", "prod1", "prod1")
    state.seed("beta", "prod2", "prod2")  # another cluster: never touched
    denv.fakes.script([], helm_state=state.folder)
    decommission(denv.fleet, "keep")
    [record] = run(denv, ["prod2"]).records
    assert (record.status, record.message.split(";")[0]) == (
        "succeeded",
        "release prod2 uninstalled",
    )
    assert state.release("alpha", "prod2", "prod2") is None
    assert state.release("alpha", "prod1", "prod1") is not None
    assert state.release("beta", "prod2", "prod2") is not None
    [again] = run(denv, ["prod2"]).records
    assert again.status == "succeeded"
    assert again.message.startswith("release prod2: already gone")
    assert verb(denv, "kubectl", "delete") == []  # data: keep, both times
