"""`hubfleet status` of decommissioned hubs (docs/decommission.md), through real git, the
stateful fake helm and the fake kubectl: the release still installed (state
`decommissioned`, never an orphan), then uninstalled with its data kept (`retained`, its
volume claims listed), then its data deleted (`gone`: the entry can be removed); an
orphan release's row shows the entry that would remove it."""

from __future__ import annotations

import json
from typing import Any

from tests.deploy.conftest import DeployEnv
from tests.deploy.test_uninstall import ALPHA, PROD2
from tests.fakes.helmstate import HelmState
from tests.helpers import GitFleet
from tests.live.test_retained import CLAIMS, NAMESPACE
from tests.live.test_status import rows, status

ENTRY = "decommissioned:\n- name: prod2\n  date: 2025-06-30\n  data: keep\n  reason: course over\n"


def _script(denv: DeployEnv, state: HelmState, *rules: dict[str, Any]) -> None:
    denv.fakes.script(list(rules), helm_state=state.folder)


def test_a_decommissioned_hub_from_installed_to_retained_to_gone(
    run_cli: Any, denv: DeployEnv
) -> None:
    state = HelmState(denv.out / "clusters")
    _script(denv, state)
    repo = GitFleet.started(denv.fleet)
    deployed = run_cli("--repo", denv.fleet, "deploy", "alpha", "--no-health-check")
    assert deployed.exit_code == 0, deployed.output
    assert state.release("alpha", "prod2", "prod2") is not None

    # decommissioned in git, not deployed yet: its row, not an orphan, is drift
    repo.edit(ALPHA, PROD2, "")
    with repo.path(ALPHA).open("a") as handle:
        handle.write(ENTRY)
    repo.commit("decommission prod2")
    code, data = status(run_cli, denv, "alpha")
    row = rows(data)["alpha/prod2/prod2"]
    assert code == 0
    assert (row["kind"], row["state"], row["present"], row["declared"]) == (
        "decommissioned",
        "decommissioned",
        True,
        False,
    )
    assert row["reasons"][0] == "decommissioned on 2025-06-30, data: keep (course over)"
    assert "the next deploy uninstalls it" in row["reasons"][1]
    assert data["counts"]["orphan"] == 0 and data["counts"]["decommissioned"] == 1

    # uninstalled, data kept: retained, with its claims
    uninstalled = run_cli("--repo", denv.fleet, "deploy", "alpha", "prod2")
    assert uninstalled.exit_code == 0, uninstalled.output
    assert state.release("alpha", "prod2", "prod2") is None
    _script(
        denv,
        state,
        {"tool": "kubectl", "args": ["get", "namespace"], "contains": "-- prod2", "stdout": NAMESPACE},
        {"tool": "kubectl", "args": ["get", "pvc"], "contains": "--namespace=prod2", "stdout": json.dumps(CLAIMS)},
    )  # fmt: skip
    code, data = status(run_cli, denv, "alpha")
    row = rows(data)["alpha/prod2/prod2"]
    assert (row["state"], row["present"]) == ("retained", False)
    assert row["reasons"][1] == "namespace prod2 kept (data: keep): claim-ada 10Gi, claim-bob 5Gi"
    pvc = [c for c in denv.fakes.calls("kubectl") if c["argv"][:2] == ["get", "pvc"]]
    assert pvc and all("hubfleet-creds-alpha-" in c["env"]["KUBECONFIG"] for c in pvc)
    table = run_cli("--repo", denv.fleet, "status", "alpha", "--output", "markdown")
    assert "| retained |" in table.stdout and "claim-ada 10Gi" in table.stdout

    # the decision changed to delete: the namespace goes; nothing is left
    repo.edit(ALPHA, "data: keep", "data: delete")
    repo.commit("delete prod2's data")
    _script(
        denv,
        state,
        {"tool": "kubectl", "args": ["delete", "namespace"], "stdout": 'namespace "prod2" deleted\n'},
        {"tool": "kubectl", "args": ["get", "namespace"], "contains": "-- prod2", "stdout": ""},
    )  # fmt: skip
    again = run_cli("--repo", denv.fleet, "deploy", "alpha", "prod2")
    assert again.exit_code == 0, again.output
    code, data = status(run_cli, denv, "alpha")
    row = rows(data)["alpha/prod2/prod2"]
    assert row["state"] == "gone" and "the entry can be removed" in row["reasons"][1]
    assert data["counts"]["gone"] == 1 and data["counts"]["decommissioned"] == 0
    html = denv.out / "status.html"
    page = run_cli("--repo", denv.fleet, "status", "alpha", "--html", html)
    assert page.exit_code == 0, page.output
    assert "gone: 1" in html.read_text()


def test_an_orphan_row_shows_the_entry_that_would_remove_it(run_cli: Any, denv: DeployEnv) -> None:
    state = HelmState(denv.out / "clusters")
    _script(denv, state)
    repo = GitFleet.started(denv.fleet)
    assert run_cli("--repo", denv.fleet, "deploy", "alpha", "--no-health-check").exit_code == 0
    repo.edit(ALPHA, PROD2, "")  # gone from git without an entry
    repo.commit("drop prod2")
    _, data = status(run_cli, denv, "alpha")
    row = rows(data)["alpha/prod2/prod2"]
    assert row["state"] == "orphan"
    assert row["reasons"][1] == (
        "the entry, under decommissioned: (date: the day of the decision): "
        "- {name: prod2, date: YYYY-MM-DD, data: keep, reason: ...}"
    )
    assert denv.fakes.calls("kubectl") == []  # no decommissioned hub: nothing asked
