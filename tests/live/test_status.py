"""`hubfleet status` end to end through real git and the stateful fake helm: a first
deploy in sync, a hand upgrade, a change in git, orphans, an unreadable cluster, the
outputs (table, JSON, Markdown, HTML)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.base.runner import run
from tests.conftest import AGE_KEY
from tests.deploy.conftest import DeployEnv
from tests.fakes.helmstate import HelmState
from tests.helpers import GitFleet
from tests.secretscan import decrypted_leaves, find_secrets


@pytest.fixture
def helm_state(denv: DeployEnv) -> HelmState:
    found = HelmState(denv.out / "clusters")
    denv.fakes.script([], helm_state=found.folder)
    return found


def status(run_cli: Any, denv: DeployEnv, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("--repo", denv.fleet, "status", *args, "--output", "json")
    return result.exit_code, json.loads(result.stdout)


def rows(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{c['name']}/{r['namespace']}/{r['release']}": r
        for c in data["clusters"]
        for r in c["rows"]
    }


def hand_upgrade(denv: DeployEnv, cluster: str, name: str, description: str) -> None:
    """A person's `helm upgrade` from a laptop: the fake helm called directly."""
    chart = denv.fleet / "helm-charts" / "testhub"
    run(
        [
            "helm",
            "upgrade",
            "--install",
            f"--kube-context={cluster}",
            f"--namespace={name}",
            f"--description={description}",
            "--",
            name,
            str(chart),
        ],
        redactor=Redactor(),
        env=denv.fakes.env(),
    )


def test_first_deploy_hand_upgrade_git_change_and_orphans(
    run_cli: Any, denv: DeployEnv, helm_state: HelmState
) -> None:
    repo = GitFleet.started(denv.fleet)
    head = repo.git("rev-parse", "HEAD")
    # Before any deploy: everything declared is missing.
    code, data = status(run_cli, denv, "delta")
    assert code == 0 and data["head"] == head
    assert {r["state"] for r in rows(data).values()} == {"missing"}

    deployed = run_cli("--repo", denv.fleet, "deploy", "delta", "--no-health-check")
    assert deployed.exit_code == 0, deployed.output
    code, data = status(run_cli, denv, "delta")
    found = rows(data)
    assert code == 0
    assert sorted(found) == [
        "delta/prod/prod", "delta/staging-a/staging-a", "delta/staging-b/staging-b",
        "delta/support/support",
    ]  # fmt: skip
    for row in found.values():
        assert row["state"] == "in-sync" and row["in_sync"] is True, row
        assert row["commit"] == head and row["made_by"] == "hubfleet"
        assert row["declared"] and row["present"] and row["status"] == "deployed"
        assert row["revision"] == 1 and row["chart"] and row["version"]

    # A person upgrades one hub by hand; a stray release appears in a managed namespace,
    # another in a namespace hubfleet does not manage (not its business).
    hand_upgrade(denv, "delta", "staging-b", "quick fix from my laptop")
    helm_state.seed("delta", "stray", "prod", description="Install complete")
    helm_state.seed("delta", "cert-manager", "cert-manager")
    # A hub removed from cluster.yaml leaves its release: an orphan, deployed by hubfleet.
    repo.edit("config/clusters/delta/cluster.yaml", "- name: staging-a\n", "- name: staging-x\n")
    repo.edit("config/clusters/delta/cluster.yaml", "staging-a.delta", "staging-x.delta")
    # And git changes one hub's values.
    repo.edit("config/clusters/delta/prod.values.yaml", "\n", "\n# a change\n")
    new_head = repo.commit("rename a hub, change prod")

    code, data = status(run_cli, denv, "delta")
    found = rows(data)
    assert code == 0 and data["head"] == new_head
    hand = found["delta/staging-b/staging-b"]
    assert hand["state"] == "changed-by-hand" and hand["made_by"] == "hand"
    assert hand["revision"] == 2 and "quick fix from my laptop" in hand["reasons"][0]
    prod = found["delta/prod/prod"]
    assert prod["state"] == "behind" and prod["in_sync"] is False and prod["commit"] == head
    assert found["delta/support/support"]["state"] == "in-sync"
    assert found["delta/staging-x/staging-x"]["state"] == "missing"
    stray = found["delta/prod/stray"]
    assert stray["state"] == "orphan" and not stray["declared"] and stray["present"]
    assert "which hubfleet manages" in stray["reasons"][0]
    renamed = found["delta/staging-a/staging-a"]
    assert renamed["state"] == "orphan" and "deployed by hubfleet" in renamed["reasons"][0]
    assert "decommissioned:" in renamed["reasons"][0]
    assert not any("cert-manager" in key for key in found)
    assert data["counts"]["orphan"] == 2 and data["counts"]["changed-by-hand"] == 1


def test_one_unreadable_cluster_is_isolated(
    run_cli: Any, denv: DeployEnv, helm_state: HelmState
) -> None:
    GitFleet.started(denv.fleet)
    assert run_cli("--repo", denv.fleet, "deploy", "delta", "--no-health-check").exit_code == 0
    denv.fakes.script(
        [{"tool": "az", "exit": 1, "stderr": "ERROR: AADSTS700016: application not found"}],
        helm_state=helm_state.folder,
    )
    code, data = status(run_cli, denv)
    assert code == 1
    by_name = {c["name"]: c for c in data["clusters"]}
    assert by_name["gamma"]["error"] and "AADSTS700016" in by_name["gamma"]["error"]
    assert {r["state"] for r in by_name["gamma"]["rows"]} == {"error"}
    assert by_name["delta"]["error"] is None
    assert {r["state"] for r in by_name["delta"]["rows"]} == {"in-sync"}
    assert {r["state"] for r in by_name["alpha"]["rows"]} == {"missing"}


def test_a_broken_cluster_is_listed_with_its_problems(
    run_cli: Any, denv: DeployEnv, helm_state: HelmState
) -> None:
    (denv.fleet / "config/clusters/beta/research.values.yaml").unlink()
    code, data = status(run_cli, denv, "beta", "delta")
    assert code == 3
    by_name = {c["name"]: c for c in data["clusters"]}
    assert by_name["beta"]["broken"] and "research.values.yaml" in by_name["beta"]["broken"][0]
    assert by_name["delta"]["rows"]


def test_unknown_cluster_is_bad_input(run_cli: Any, denv: DeployEnv, helm_state: HelmState) -> None:
    result = run_cli("--repo", denv.fleet, "status", "deltaa")
    assert result.exit_code == 2 and "delta" in result.stderr
    assert "Traceback" not in result.output


def test_outputs_escape_and_hold_no_secret(
    run_cli: Any, denv: DeployEnv, helm_state: HelmState, tmp_path: Path
) -> None:
    GitFleet.started(denv.fleet)
    assert run_cli("--repo", denv.fleet, "deploy", "delta", "--no-health-check").exit_code == 0
    hostile = "<script>alert(1)</script> | `x` [y](z) [bold red]styled[/bold red]"
    hand_upgrade(denv, "delta", "prod", hostile)
    page = tmp_path / "status.html"
    table = run_cli("--repo", denv.fleet, "status", "delta", "--html", page)
    assert table.exit_code == 0 and "changed-by-hand" in table.stdout
    assert "[bold" in table.stdout  # shown as written (wrapped), not read as rich markup
    text = page.read_text()
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.count("<script>") == 1  # the page's own filter script, nothing else
    assert 'id="filter"' in text and "http://" not in text and "https://" not in text
    markdown = run_cli("--repo", denv.fleet, "status", "delta", "--output", "markdown").stdout
    assert "<script>" not in markdown and "| delta |" in markdown
    # The kubeconfig names its cluster (`delta`): a public name, not a secret to find.
    secrets = decrypted_leaves(denv.fleet / "config/clusters", AGE_KEY) - {"delta"}
    assert secrets
    for output in (text, table.stdout, markdown, page.read_text()):
        assert find_secrets(output.encode(), secrets) == []
