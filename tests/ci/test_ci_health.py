"""The scheduled health workflow (hubfleet-health.yaml): when it runs, which clusters
(the matrix step with the real hubfleet), the order of its jobs under GitHub's rules,
the incidents step with a fake `gh`, and its cron from hubfleet.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.ci.workflows import CiSettings, check_up_to_date, read_settings, render
from hubfleet.deploy.fleetcheck import FleetCheck, HubCheck
from tests.ci.ci_helpers import HEALTH, bash, load, rendered, step
from tests.ci.test_ci_order import STATUS_FUNCTIONS, _Expr, _needs
from tests.fakes import install_fakes

Cli = Any


@pytest.fixture(scope="module")
def health() -> dict[str, Any]:
    return load(rendered()[HEALTH])


def _simulate(
    workflow: dict[str, Any], github: dict[str, Any], results: dict[str, str], count: str = "2"
) -> dict[str, str]:
    """Each job's result under GitHub's rules (as tests/ci/test_ci_order.py does), with
    the `github` context; `results` the result of a job that runs (default success)."""
    jobs = workflow["jobs"]
    done: dict[str, str] = {}
    while len(done) < len(jobs):
        for name in [j for j in jobs if j not in done and all(n in done for n in _needs(jobs[j]))]:
            job = jobs[name]
            outputs = {"clusters": {"count": count}}
            needs = {n: {"result": done[n], "outputs": outputs.get(n, {})} for n in _needs(job)}
            condition = str(job.get("if", "true")).removeprefix("${{").removesuffix("}}")
            if not any(f in condition for f in STATUS_FUNCTIONS):
                condition = f"success() && ({condition})"
            needs_ok = all(n["result"] == "success" for n in needs.values())
            context = {"needs": needs, "github": github}
            runs = bool(_Expr(condition, context, needs_ok, cancelled=False).value())
            done[name] = results.get(name, "success") if runs else "skipped"
    return done


SCHEDULE = {"event_name": "schedule", "repository": "o/r"}


def _after_deploy(event: str, repository: str = "o/r") -> dict[str, Any]:
    run = {"event": event, "head_repository": {"full_name": repository}}
    return {"event_name": "workflow_run", "repository": "o/r", "event": {"workflow_run": run}}


def test_triggers(health: dict[str, Any]) -> None:
    on = health["on"]
    assert on["schedule"] == [{"cron": "17 */6 * * *"}]
    assert "workflow_dispatch" in on
    assert on["workflow_run"] == {
        "workflows": ["hubfleet deploy"],
        "types": ["completed"],
        "branches": ["main"],
    }
    assert health["permissions"] == {}


def test_every_cluster_checked_then_the_incidents(health: dict[str, Any]) -> None:
    done = _simulate(health, SCHEDULE, {})
    assert done == {"clusters": "success", "check": "success", "incidents": "success"}


def test_a_failed_cluster_job_does_not_stop_the_incidents(health: dict[str, Any]) -> None:
    """One cluster's check job failing (the matrix's result is then failure): the others'
    results still become issues; fail-fast is off, so the other clusters ran."""
    assert health["jobs"]["check"]["strategy"]["fail-fast"] is False
    done = _simulate(health, SCHEDULE, {"check": "failure"})
    assert done["incidents"] == "success"


def test_nothing_to_check_runs_nothing(health: dict[str, Any]) -> None:
    done = _simulate(health, SCHEDULE, {}, count="0")
    assert done == {"clusters": "success", "check": "skipped", "incidents": "skipped"}
    done = _simulate(health, SCHEDULE, {"clusters": "failure"})
    assert done["check"] == done["incidents"] == "skipped"


@pytest.mark.parametrize(
    ("github", "runs"),
    [
        (_after_deploy("push"), True),
        (_after_deploy("pull_request"), False),  # a pull request's deploy run: nothing
        (_after_deploy("push", "fork/r"), False),  # a fork's branch named like ours
    ],
)
def test_after_a_deploy_only_a_push_of_this_repository(
    health: dict[str, Any], github: dict[str, Any], runs: bool
) -> None:
    done = _simulate(health, github, {})
    assert (done["clusters"] == "success") is runs
    assert (done["incidents"] == "success") is runs


def test_one_job_per_cluster_with_its_own_identity(health: dict[str, Any]) -> None:
    check = health["jobs"]["check"]
    assert check["strategy"]["matrix"] == "${{ fromJSON(needs.clusters.outputs.matrix) }}"
    assert check["environment"] == "hubfleet-deploy-${{ matrix.cluster }}"
    run = step(check, name="Check the hubs")
    assert run["env"]["CLUSTER"] == "${{ matrix.cluster }}"
    assert 'hubfleet check --all "$CLUSTER" --output json' in run["run"]
    # the incidents job: no cloud identity, no sops key, issues only
    incidents = health["jobs"]["incidents"]
    assert incidents["permissions"] == {"contents": "read", "issues": "write"}
    assert "SOPS_AGE_KEY" not in json.dumps(incidents)


def test_the_check_step_keeps_results_of_failing_hubs(
    tmp_path: Path, health: dict[str, Any]
) -> None:
    """Exit 1 (a hub failed) and 3 (broken) keep the results for the incidents job;
    any other exit fails the step."""
    script = step(health["jobs"]["check"], name="Check the hubs")["run"]
    fake = tmp_path / "bin"
    fake.mkdir()
    for status, ok in ((0, True), (1, True), (3, True), (2, False), (70, False)):
        (fake / "hubfleet").write_text(f"#!/bin/sh\necho '{{}}'\nexit {status}\n")
        (fake / "hubfleet").chmod(0o755)
        result = bash(script, cwd=tmp_path, env={"CLUSTER": "c"}, path_first=[fake])
        assert (result.returncode == 0) is ok, status
        assert (tmp_path / ".hubfleet/health/c.json").read_text() == "{}\n"


# ---------------------------------------------------------------- which clusters


def _matrix(
    tmp_path: Path, health: dict[str, Any], fleet: Path, env: dict[str, str]
) -> dict[str, str]:
    script = step(health["jobs"]["clusters"], id="matrix")["run"]
    out = tmp_path / "github_output"
    out.write_text("")
    result = bash(script, cwd=fleet, env={"GITHUB_OUTPUT": str(out), **env})
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in out.read_text().splitlines())


def test_the_schedule_checks_every_cluster_ci_reaches(
    tmp_path: Path, health: dict[str, Any], fleet_copy: Path
) -> None:
    outputs = _matrix(tmp_path, health, fleet_copy, {"EVENT_NAME": "schedule"})
    assert json.loads(outputs["matrix"]) == {
        "include": [
            {"cluster": "alpha", "provider": "gcp"},
            {"cluster": "beta", "provider": "aws"},
            {"cluster": "delta", "provider": "kubeconfig"},
            {"cluster": "gamma", "provider": "azure"},
        ]  # not `local`: its hubs run on one machine
    }
    assert outputs["count"] == "4"


def test_after_a_deploy_only_the_terraform_only_clusters(
    tmp_path: Path, health: dict[str, Any], fleet_copy: Path
) -> None:
    def job(cluster: str, provider: str, **extra: str) -> dict[str, Any]:
        return {"cluster_name": cluster, "provider": provider, "reasons": ["x"],
                "choice_reason": "x", **extra}  # fmt: skip

    plan = {
        "support_jobs": [job("alpha", "gcp")],
        "staging_jobs": [],
        "prod_jobs": [job("delta", "kubeconfig", hub_name="prod")],
        "terraform_jobs": [job("alpha", "gcp"), job("beta", "aws"), job("ghost", "aws")],
    }
    folder = fleet_copy / ".hubfleet" / "deploy-plan"
    folder.mkdir(parents=True)
    (folder / "plan.json").write_text(json.dumps(plan))
    outputs = _matrix(tmp_path, health, fleet_copy, {"EVENT_NAME": "workflow_run"})
    # alpha deployed (its canaries were checked), ghost is not a cluster of the fleet
    assert json.loads(outputs["matrix"]) == {"include": [{"cluster": "beta", "provider": "aws"}]}


def test_a_broken_cluster_is_left_out(
    tmp_path: Path, health: dict[str, Any], fleet_copy: Path
) -> None:
    (fleet_copy / "config/clusters/gamma/cluster.yaml").write_text("name: gamma\nprovider: [\n")
    outputs = _matrix(tmp_path, health, fleet_copy, {"EVENT_NAME": "schedule"})
    assert "gamma" not in outputs["matrix"] and outputs["count"] == "3"


# ---------------------------------------------------------------- the incidents step


def test_the_incidents_step_with_a_fake_gh(
    tmp_path: Path, health: dict[str, Any], fleet_copy: Path
) -> None:
    fakes = install_fakes(tmp_path / "f", tools=["gh"])
    fakes.script([{"tool": "gh", "args": ["issue", "list"], "stdout": "[]"}])
    folder = fleet_copy / ".hubfleet" / "health"
    folder.mkdir(parents=True)
    failed = HubCheck("alpha", "prod1", "failed", "step wait_ready failed", "wait_ready", tries=2)
    check = FleetCheck("2026-12-07T12:00:00Z", ("alpha",), (failed,))
    (folder / "alpha.json").write_text(json.dumps(check.to_json()))
    summary = tmp_path / "summary.md"
    env = {
        "GH_TOKEN": "ghs_x",
        "REPOSITORY": "o/r",
        "RUN_URL": "https://github.com/o/r/actions/runs/5",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    script = step(health["jobs"]["incidents"], name="Open, update and close the incidents")["run"]
    result = bash(script, cwd=fleet_copy, env=env, path_first=[fakes.bin_dir])
    assert result.returncode == 0, result.stderr
    created = [c for c in fakes.calls("gh") if c["argv"][:2] == ["issue", "create"]]
    assert len(created) == 1 and created[0]["env"]["GH_TOKEN"] == "ghs_x"
    assert "| alpha | prod1 | **failed** | 2 |" in summary.read_text()
    # no results at all (every check job failed): the step fails, no issue changes
    for path in folder.iterdir():
        path.unlink()
    fakes.reset()
    result = bash(script, cwd=fleet_copy, env=env, path_first=[fakes.bin_dir])
    assert result.returncode == 1 and fakes.calls("gh") == []


# ---------------------------------------------------------------- the schedule


def test_the_cron_comes_from_hubfleet_yaml(tmp_path: Path, fleet_copy: Path, run_cli: Cli) -> None:
    path = fleet_copy / "hubfleet.yaml"
    data = yaml.safe_load(path.read_text())
    data["health"] = {"schedule": "*/30 8-18 * * 1-5"}
    path.write_text(yaml.safe_dump(data))
    result = run_cli("--repo", fleet_copy, "ci", "init", "--provider", "gcp")
    assert result.exit_code == 0, result.output
    written = load((fleet_copy / HEALTH).read_text())
    assert written["on"]["schedule"] == [{"cron": "*/30 8-18 * * 1-5"}]
    settings = read_settings(fleet_copy)
    assert settings is not None and settings.health_schedule == "*/30 8-18 * * 1-5"
    assert check_up_to_date(fleet_copy) == []
    # the default is not recorded: headers of fleets without one stay as they were
    assert "health_schedule" not in CiSettings(("gcp",)).to_json()


@pytest.mark.parametrize("cron", ["@hourly", "* * * *", "0 0 * * * *", "0 0 * * MON", "0  0 * * *"])
def test_a_bad_cron_is_refused(fleet_copy: Path, run_cli: Cli, cron: str) -> None:
    path = fleet_copy / "hubfleet.yaml"
    data = yaml.safe_load(path.read_text())
    data["health"] = {"schedule": cron}
    path.write_text(yaml.safe_dump(data))
    result = run_cli("--repo", fleet_copy, "list")
    assert result.exit_code == 2
    assert "hubfleet.yaml:" in result.output and "is not a cron line" in result.output


def test_the_template_renders_every_provider_variant() -> None:
    for providers in ((), ("kubeconfig",), ("gcp", "aws", "azure", "kubeconfig")):
        text = render(CiSettings(providers))[HEALTH]
        data = load(text)
        check = data["jobs"]["check"]
        logins = [s for s in check["steps"] if str(s.get("name", "")).startswith("Log in")]
        assert len(logins) == len(set(providers) - {"kubeconfig"})
        assert ("id-token" in check["permissions"]) == bool(logins)


def test_ci_check_sees_a_changed_schedule(fleet_copy: Path, run_cli: Cli) -> None:
    assert run_cli("--repo", fleet_copy, "ci", "init", "--provider", "gcp").exit_code == 0
    assert run_cli("--repo", fleet_copy, "ci", "check").exit_code == 0
    path = fleet_copy / "hubfleet.yaml"
    data = yaml.safe_load(path.read_text())
    data["health"] = {"schedule": "0 * * * *"}
    path.write_text(yaml.safe_dump(data))
    result = run_cli("--repo", fleet_copy, "ci", "check")
    assert result.exit_code == 1 and "hubfleet-health.yaml" in result.stderr
    assert run_cli("--repo", fleet_copy, "ci", "init", "--force").exit_code == 0
    assert run_cli("--repo", fleet_copy, "ci", "check").exit_code == 0


def test_a_deploy_run_without_a_plan_checks_nothing(
    tmp_path: Path, health: dict[str, Any], fleet_copy: Path
) -> None:
    download = step(health["jobs"]["clusters"], name="Download the push's plan")
    assert download["continue-on-error"] is True
    outputs = _matrix(tmp_path, health, fleet_copy, {"EVENT_NAME": "workflow_run"})
    assert outputs == {"count": "0"}
