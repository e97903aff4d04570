"""The scheduled status workflow's scripts, run as the runner runs them (bash, the real
`hubfleet` executable) on a git fleet whose cluster is the stateful fake helm: a manual
out-of-band upgrade is found by the cluster's "Live plan" step, its issue is opened by
"One issue per drifted cluster" (a fake `gh` on PATH records every call), updated while
it drifts, and closed once `drift.repair` deployed git's state back. And the push's
cluster workflow's Deploy step: the push's plan with the cluster's live plan deployed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci.ci_helpers import bash, load, rendered, step
from tests.conftest import AGE_KEY
from tests.deploy.conftest import DeployEnv
from tests.fakes.helmstate import HelmState
from tests.helpers import GitFleet
from tests.live.test_reconcile_e2e import Ci, jobs_of

STATUS = ".github/workflows/hubfleet-status.yaml"
MATRIX = json.dumps({"include": [{"cluster": "delta", "provider": "kubeconfig"}]})

FAKE_GH = """#!{python}
import json, os, sys
folder = {folder!r}  # baked in: hubfleet's runner passes gh a scrubbed environment
stdin = "" if sys.stdin.isatty() else sys.stdin.read()
with open(os.path.join(folder, "calls.jsonl"), "a") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "stdin": stdin,
                          "token": os.environ.get("GH_TOKEN")}}) + "\\n")
if sys.argv[1:3] == ["issue", "list"]:
    with open(os.path.join(folder, "issues.json")) as issues:
        sys.stdout.write(issues.read())
"""


class FakeGh:
    def __init__(self, tmp_path: Path) -> None:
        self.bin = tmp_path / "gh-bin"
        self.bin.mkdir()
        self.folder = tmp_path / "gh"
        self.folder.mkdir()
        gh = self.bin / "gh"
        gh.write_text(FAKE_GH.format(python=sys.executable, folder=str(self.folder)))
        gh.chmod(0o755)
        self.issues([])

    def issues(self, open_issues: list[dict[str, Any]]) -> None:
        (self.folder / "issues.json").write_text(json.dumps(open_issues))

    def calls(self) -> list[dict[str, Any]]:
        path = self.folder / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def helm_state(denv: DeployEnv) -> HelmState:
    found = HelmState(denv.out / "clusters")
    denv.fakes.script([], helm_state=found.folder)
    return found


@pytest.fixture
def workflow() -> dict[str, Any]:
    return load(rendered()[STATUS])


def _run(script: str, denv: DeployEnv, gh: FakeGh, env: dict[str, str]) -> Any:
    full = {
        "SOPS_AGE_KEY_FILE": str(AGE_KEY),
        "SOPS_AGE_KEY": "",
        "TMPDIR": str(denv.tmp),
        "RUNNER_TEMP": str(denv.tmp),
        **env,
    }
    fakes = Path(denv.fakes.path.split(os.pathsep)[0])
    result = bash(script, cwd=denv.fleet, env=full, path_first=[gh.bin, fakes])
    return result


def test_a_manual_upgrade_opens_an_issue_and_a_repair_closes_it(
    run_cli: Any, denv: DeployEnv, helm_state: HelmState, workflow: dict[str, Any], tmp_path: Path
) -> None:
    # no canary health check here: the fake clusters run no hub (tests/deploy test it)
    settings = yaml.safe_load((denv.fleet / "hubfleet.yaml").read_text()) or {}
    settings.setdefault("deploy", {})["health_check"] = False
    (denv.fleet / "hubfleet.yaml").write_text(yaml.safe_dump(settings))
    repo = GitFleet.started(denv.fleet)
    (denv.fleet / ".gitignore").write_text("hubfleet-drift/\n.step.sh\n")
    repo.commit("ignore the workflow's files")
    ci = Ci(run_cli, denv)
    first = ci.out("first.json")
    first.write_text(json.dumps(ci.live_plan("delta")))
    assert ci.deploy(first, "delta")["exit_code"] == 0
    helm_state.seed("delta", "prod", "prod", description="Upgrade complete")  # by hand

    gh = FakeGh(tmp_path)
    live_step = step(workflow["jobs"]["status"], name="Live plan")["run"]
    issues_step = step(workflow["jobs"]["issues"], name="One issue per drifted cluster")["run"]
    summary = tmp_path / "summary.md"
    common = {"CLUSTER": "delta", "GITHUB_STEP_SUMMARY": str(summary)}
    found = _run(live_step, denv, gh, {**common, "REPAIR": "false"})
    assert found.returncode == 0, found.stderr
    plan = json.loads((denv.fleet / "hubfleet-drift" / "delta.json").read_text())
    assert "changed by hand" in jobs_of(plan)["prod"][0]
    assert "changed by hand" in summary.read_text()

    issues_env = {
        "GH_TOKEN": "gh-token-value",
        "MATRIX": MATRIX,
        "REPOSITORY": "example/fleet",
        "RUN_URL": "https://github.com/example/fleet/actions/runs/1",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    opened = _run(issues_step, denv, gh, issues_env)
    assert opened.returncode == 0, opened.stderr
    calls = gh.calls()
    assert [c["argv"][:2] for c in calls] == [
        ["issue", "list"], ["label", "create"], ["issue", "create"]
    ]  # fmt: skip
    create = calls[2]
    assert create["token"] == "gh-token-value"
    assert (
        "--title" in create["argv"]
        and "hubfleet drift: cluster delta differs from git" in (create["argv"])
    )
    assert create["argv"][create["argv"].index("--label") + 1] == "hubfleet-drift"
    body = create["stdin"]
    assert body.startswith("<!-- hubfleet-drift cluster=delta -->")
    assert "**prod** (prod): changed by hand" in body
    assert "| delta | drifted | 3 |" in summary.read_text()  # prod and its two canaries

    # The next run: still drifting, the same issue is updated.
    gh.issues([{"number": 7, "body": body}])
    updated = _run(issues_step, denv, gh, issues_env)
    assert updated.returncode == 0, updated.stderr
    edit = gh.calls()[-1]
    assert edit["argv"][:3] == ["issue", "edit", "7"]

    # drift.repair: true: the live plan is deployed, read again, and the issue closes.
    settings = yaml.safe_load((denv.fleet / "hubfleet.yaml").read_text()) or {}
    settings["drift"] = {"repair": True}
    (denv.fleet / "hubfleet.yaml").write_text(yaml.safe_dump(settings))
    repo.commit("drift.repair: true")
    out = tmp_path / "github_output"
    out.write_text("")
    matrix_step = step(workflow["jobs"]["clusters"], id="matrix")["run"]
    listed = _run(matrix_step, denv, gh, {"GITHUB_OUTPUT": str(out)})
    assert listed.returncode == 0, listed.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert outputs["repair"] == "true"
    assert [e["cluster"] for e in json.loads(outputs["matrix"])["include"]] == [
        "alpha", "beta", "delta", "gamma"
    ]  # fmt: skip
    repaired = _run(live_step, denv, gh, {**common, "REPAIR": "true"})
    assert repaired.returncode == 0, repaired.stderr
    assert "warning" not in repaired.stdout, repaired.stdout + repaired.stderr
    assert (denv.fleet / "hubfleet-drift" / "delta.report.json").is_file()
    plan = json.loads((denv.fleet / "hubfleet-drift" / "delta.json").read_text())
    assert jobs_of(plan) == {}
    closed = _run(issues_step, denv, gh, issues_env)
    assert closed.returncode == 0, closed.stderr
    close = gh.calls()[-1]
    assert close["argv"][:3] == ["issue", "close", "7"]
    assert "Back in sync" in " ".join(close["argv"])
    # the token never reaches the summary or the log
    assert "gh-token-value" not in summary.read_text() + closed.stdout + closed.stderr


def test_the_cluster_workflows_deploy_step_adds_the_live_plan(
    run_cli: Any, denv: DeployEnv, helm_state: HelmState, tmp_path: Path
) -> None:
    """hubfleet-cluster.yaml's Deploy step, as the runner runs it: the push's plan (a
    change to staging-a) with the cluster's live plan (prod changed by hand) deployed."""
    settings = yaml.safe_load((denv.fleet / "hubfleet.yaml").read_text()) or {}
    settings.setdefault("deploy", {})["health_check"] = False
    (denv.fleet / "hubfleet.yaml").write_text(yaml.safe_dump(settings))
    repo = GitFleet.started(denv.fleet)
    ci = Ci(run_cli, denv)
    first = ci.out("first.json")
    first.write_text(json.dumps(ci.live_plan("delta")))
    assert ci.deploy(first, "delta")["exit_code"] == 0
    helm_state.seed("delta", "prod", "prod", description="Upgrade complete")  # by hand
    before = repo.git("rev-parse", "HEAD")
    repo.edit("config/clusters/delta/staging-a.values.yaml", "\n", "\n# a change\n")
    repo.commit("a change to staging-a")
    plan = ci.cli("plan", "--base", before, "--head", "HEAD", "--output", "json")
    assert plan.exit_code == 0, plan.output
    assert set(jobs_of(json.loads(plan.stdout))) == {"staging-a"}
    (denv.fleet / "plan.json").write_text(plan.stdout)  # the downloaded artifact

    cluster_workflow = load(rendered()[".github/workflows/hubfleet-cluster.yaml"])
    script = step(cluster_workflow["jobs"]["deploy"], name="Deploy")["run"]
    summary = tmp_path / "summary.md"
    gh = FakeGh(tmp_path)
    env = {"CLUSTER": "delta", "GITHUB_STEP_SUMMARY": str(summary)}
    result = _run(script, denv, gh, env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((denv.fleet / "hubfleet-reports" / "delta.json").read_text())
    reasons = {j["hub_name"]: j["reasons"] for j in report["jobs"] if j["status"] == "succeeded"}
    assert any("staging-a.values.yaml" in r for r in reasons["staging-a"])
    assert any("changed by hand" in r for r in reasons["prod"])
    text = summary.read_text()
    assert "changed by hand" in text and "staging-a.values.yaml" in text
    assert jobs_of(ci.live_plan("delta")) == {}
    latest = helm_state.latest("delta", "prod", "prod")
    assert latest is not None and repo.git("rev-parse", "HEAD") in latest["description"]
