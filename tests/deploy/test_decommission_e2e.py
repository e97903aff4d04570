"""End to end through real git (docs/decommission.md): `hubfleet plan --base --head` then
`hubfleet deploy --plan`, with the fake helm and kubectl. A hub that disappears is
never uninstalled (the plan warns); the same hub decommissioned with `data: keep` is
uninstalled and its namespace kept; its decision changed to `data: delete`, the
uninstall runs again ("already gone") and deletes the namespace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.deploy.conftest import DeployEnv
from tests.deploy.test_uninstall import ALPHA, NOT_FOUND, PROD2, verb
from tests.helpers import GitFleet


def _plan_and_deploy(run_cli: Any, denv: DeployEnv, base: str, name: str) -> dict[str, Any]:
    planned = run_cli(
        "--repo", denv.fleet, "plan", "--base", base, "--head", "HEAD", "--output", "json"
    )
    assert planned.exit_code == 0, planned.output
    plan_file = denv.out / f"{name}.plan.json"
    plan_file.write_text(planned.stdout)
    report_file = denv.out / f"{name}.report.json"
    deployed = run_cli("--repo", denv.fleet, "deploy", "--plan", plan_file, "--report", report_file)
    assert deployed.exit_code == 0, deployed.output
    return {
        "plan": json.loads(planned.stdout),
        "report": json.loads(report_file.read_text()),
    }


def test_a_hub_is_uninstalled_only_with_its_decision(run_cli: Any, denv: DeployEnv) -> None:
    repo = GitFleet.started(denv.fleet)

    # 1. prod2 simply disappears: never uninstalled; the plan says how to remove it
    repo.edit(ALPHA, PROD2, "")
    repo.commit("drop prod2")
    repo.git("tag", "dropped")
    first = _plan_and_deploy(run_cli, denv, "base", "dropped")
    assert "uninstall_jobs" not in first["plan"]
    [warning] = first["plan"]["warnings"]
    assert "- {name: prod2, date: YYYY-MM-DD, data: keep, reason: ...}" in warning
    assert verb(denv, "helm", "uninstall") == [] and verb(denv, "kubectl", "delete") == []

    # 2. decommissioned with data: keep: uninstalled, the namespace kept
    with repo.path(ALPHA).open("a") as handle:
        handle.write("decommissioned:\n- name: prod2\n  date: 2025-06-30\n  data: keep\n")
    repo.commit("decommission prod2, keep its data")
    repo.git("tag", "kept")
    second = _plan_and_deploy(run_cli, denv, "dropped", "kept")
    [job] = second["plan"]["uninstall_jobs"]
    assert job["hub_name"] == "prod2" and "data: keep" in job["choice_reason"]
    assert second["plan"]["warnings"] == []
    [record] = second["report"]["jobs"]
    assert (record["hub_name"], record["kind"], record["status"]) == (
        "prod2",
        "uninstall",
        "succeeded",
    )
    [uninstall] = verb(denv, "helm", "uninstall")
    assert uninstall["argv"][-2:] == ["--", "prod2"]
    assert verb(denv, "kubectl", "delete") == []  # the namespace and its volumes stay
    assert verb(denv, "helm", "upgrade") == []  # nothing else deployed

    # 3. the decision changed to delete: the release is already gone, the namespace goes
    denv.fakes.script(
        [
            {"tool": "helm", "args": ["uninstall"], "exit": 1, "stderr": NOT_FOUND},
            {
                "tool": "kubectl",
                "args": ["delete", "namespace"],
                "stdout": 'namespace "prod2" deleted\n',
            },
        ]
    )
    repo.edit(ALPHA, "data: keep", "data: delete")
    repo.commit("delete prod2's data after all")
    third = _plan_and_deploy(run_cli, denv, "kept", "deleted")
    [record] = third["report"]["jobs"]
    assert record["status"] == "succeeded"
    assert record["message"] == (
        "release prod2: already gone; namespace prod2 deleted with its volumes (data: delete)"
    )
    [delete] = verb(denv, "kubectl", "delete", "namespace")
    assert delete["argv"][-2:] == ["--", "prod2"]
    assert len(verb(denv, "helm", "uninstall")) == 2
    # only prod2 was ever removed
    removed = {c["argv"][-1] for c in verb(denv, "helm", "uninstall")}
    assert removed == {"prod2"} and Path(denv.fleet / ALPHA).read_text().count("prod2") == 1
