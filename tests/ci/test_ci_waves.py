"""A plan rolled out in waves, in CI: the deploy workflow's chained wave and gate calls,
the wave workflow and the gate workflow, run through GitHub's rules
(`test_ci_order.simulate`): wave k+1 never runs after a failed or halted wave k, a
wave whose call failed (a cluster that could not deploy) is judged by its gate; the
scripts (the matrix, the gate, the soak check) run with the real hubfleet; actionlint
is clean. The rollout summary and state: tests/ci/test_ci_rollout.py."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.ci.ci_helpers import (
    BIN,
    CLUSTER,
    DEPLOY,
    bash,
    hubfleet,
    load,
    rendered,
    step,
    write_repo,
)
from tests.ci.test_ci_order import simulate

WAVE = ".github/workflows/hubfleet-wave.yaml"
GATE = ".github/workflows/hubfleet-wave-gate.yaml"
WAVE_JOBS = [f"wave-{k}" for k in range(1, 7)]
GATE_JOBS = [f"wave-{k}-gate" for k in range(1, 7)]


@pytest.fixture(scope="module")
def wave() -> dict[str, Any]:
    return load(rendered()[WAVE])


@pytest.fixture(scope="module")
def gate() -> dict[str, Any]:
    return load(rendered()[GATE])


def _deploy_run(deploy: dict[str, Any], waved: str, results: dict[str, str] | None = None) -> Any:
    """The push's jobs (the plan job's outputs given), as GitHub would run them."""
    outputs = {"plan": {"waved": waved, "cluster-count": "3"}}
    return simulate(deploy, {}, results, outputs)  # github.event_name: "" (a push)


def test_waves_run_one_after_the_other(deploy: dict[str, Any]) -> None:
    done, order = _deploy_run(deploy, "true")
    chain = [name for name in order if name.startswith("wave-")]
    assert chain == [name for pair in zip(WAVE_JOBS, GATE_JOBS, strict=True) for name in pair]
    assert done["cluster"] == "skipped" and done["summary"] == "skipped"
    assert order.index("rollout-summary") > order.index("wave-6-gate")
    # the owners' notice after the deploy waits for the rollout (tests/ci/test_ci_notices.py)
    assert "rollout-summary" in deploy["jobs"]["notify-after"]["needs"]
    for k in range(2, 7):
        assert deploy["jobs"][f"wave-{k}"]["needs"] == ["plan", f"wave-{k - 1}-gate"]
        assert deploy["jobs"][f"wave-{k}"]["with"] == {"wave": k}
        assert deploy["jobs"][f"wave-{k}-gate"]["needs"] == ["plan", f"wave-{k}"]
        assert deploy["jobs"][f"wave-{k}-gate"]["uses"] == f"./{GATE}"


@pytest.mark.parametrize("failed", ["wave-1-gate", "wave-2-gate", "wave-5-gate", "wave-3"])
@pytest.mark.parametrize("result", ["failure", "cancelled"])
def test_no_wave_after_a_failed_or_halted_wave(
    deploy: dict[str, Any], failed: str, result: str
) -> None:
    """A halted wave is a failed gate: no later wave runs; a wave whose call was
    cancelled has no gate, and stops the chain too. The rollout summary still runs."""
    done, order = _deploy_run(deploy, "true", {failed: result})
    k = int(failed.split("-")[1])
    assert all(done[name] == "success" for name in WAVE_JOBS[: k - 1] + GATE_JOBS[: k - 1])
    assert done[failed] == result
    if failed == "wave-3":
        # a failed call (a cluster that could not deploy) is the gate's to judge
        assert done["wave-3-gate"] == ("success" if result == "failure" else "skipped")
        later = WAVE_JOBS[3:] if result == "cancelled" else []
    else:
        later = WAVE_JOBS[k:] + GATE_JOBS[k:]
    assert all(done[name] == "skipped" for name in later)
    assert "rollout-summary" in order


@pytest.mark.parametrize("gate_result", ["success", "failure"])
def test_a_wave_whose_cluster_could_not_deploy_is_judged_by_its_gate(
    deploy: dict[str, Any], gate_result: str
) -> None:
    """A cluster that exits 2 in wave 2 fails the wave's call; the gate decides: under
    the wave's max_failures (gate passes) wave 3 runs, over it (gate fails) it halts."""
    done, order = _deploy_run(deploy, "true", {"wave-2": "failure", "wave-2-gate": gate_result})
    assert done["wave-2-gate"] == gate_result
    assert done["wave-3"] == ("success" if gate_result == "success" else "skipped")
    assert ("wave-6-gate" in order) == (gate_result == "success")
    assert order.index("rollout-summary") > order.index("wave-2-gate")


def test_a_plan_without_waves_deploys_as_before(deploy: dict[str, Any]) -> None:
    done, order = _deploy_run(deploy, "false")
    assert all(done[name] == "skipped" for name in WAVE_JOBS)
    assert done["rollout-summary"] == "skipped"
    assert "cluster" in order and order.index("cluster") < order.index("summary")


def test_pull_requests_run_no_wave(deploy: dict[str, Any]) -> None:
    for name in [*WAVE_JOBS, "rollout-summary"]:
        assert "github.event_name != 'pull_request'" in deploy["jobs"][name]["if"]
    # a gate runs only after its wave's call ran (never on a pull request)
    outputs = {"plan": {"waved": "true", "cluster-count": "3"}}
    done, _ = simulate(deploy, {}, None, outputs, github={"event_name": "pull_request"})
    assert all(done[name] == "skipped" for name in [*WAVE_JOBS, *GATE_JOBS, "rollout-summary"])


def _wave_run(wave: dict[str, Any], count: str, results: dict[str, str]) -> Any:
    return simulate(wave, {"wave": 1}, results, {"matrix": {"count": count}})


def _gate_run(gate: dict[str, Any], soak: str, results: dict[str, str]) -> Any:
    return simulate(gate, {"wave": 1}, results, {"gate": {"soak-s": soak}})


def test_inside_a_wave_clusters_then_gate_then_soak(
    wave: dict[str, Any], gate: dict[str, Any]
) -> None:
    _done, order = _wave_run(wave, "2", {})
    assert order == ["matrix", "cluster"]
    _done, order = _gate_run(gate, "1800", {})
    assert order == ["gate", "soak"]
    assert gate["jobs"]["soak"]["environment"] == "hubfleet-soak-${{ inputs.wave }}"
    assert "runs-on" in gate["jobs"]["soak"] and gate["jobs"]["soak"]["timeout-minutes"] <= 5
    assert set(gate["on"]) == {"workflow_call"} and set(wave["on"]) == {"workflow_call"}


def test_a_failed_gate_stops_the_soak(gate: dict[str, Any]) -> None:
    done, _ = _gate_run(gate, "60", {"gate": "failure"})
    assert done["soak"] == "skipped"


def test_an_empty_wave_or_no_soak_passes_at_once(
    wave: dict[str, Any], gate: dict[str, Any]
) -> None:
    done, order = _wave_run(wave, "0", {})
    assert order == ["matrix"] and done["cluster"] == "skipped"
    done, order = _gate_run(gate, "0", {})
    assert order == ["gate"] and done["soak"] == "skipped"


def test_no_names_in_the_wave_workflow(wave: dict[str, Any], deploy: dict[str, Any]) -> None:
    call = wave["jobs"]["cluster"]
    assert call["strategy"]["matrix"] == "${{ fromJSON(needs.matrix.outputs.clusters) }}"
    assert call["uses"] == f"./{CLUSTER}"
    assert call["with"]["wave"] == "${{ format('{0}', inputs.wave) }}"
    text = rendered()[WAVE] + rendered()[GATE]
    for name in ("alpha", "beta", "gamma", "delta", "canaries", "quarter"):
        assert name not in text


# ---------------------------------------------------------------- the scripts


def _plan(tmp_path: Path) -> Path:
    def job(cluster: str, provider: str, wave: str, hub: str | None = None) -> dict[str, Any]:
        entry = {"cluster_name": cluster, "provider": provider, "reasons": ["x"],
                 "choice_reason": "x", "wave": wave}  # fmt: skip
        if hub is not None:
            entry["hub_name"] = hub
        return entry

    plan = {
        "support_jobs": [job("a", "gcp", "first"), job("b", "aws", "second")],
        "staging_jobs": [job("a", "gcp", "first", "staging")],
        "prod_jobs": [
            job("a", "gcp", "first", "p1"),
            job("a", "gcp", "second", "p2"),
            job("b", "aws", "second", "p"),
            job("here", "local", "second", "h"),
        ],
        "terraform_jobs": [
            {"cluster_name": "b", "provider": "aws", "reasons": ["x"], "choice_reason": "x"},
            {"cluster_name": "infra", "provider": "azure", "reasons": ["x"], "choice_reason": "x"},
        ],
        "rollout": {
            "trigger": "chart basehub changed",
            "waves": [
                {"name": "first", "soak_s": 1800, "max_failures": 0},
                {"name": "second", "soak_s": 0, "max_failures": "50%"},
            ],
        },
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


@pytest.mark.parametrize(
    ("number", "name", "include", "soak"),
    [
        (
            1,
            "first",
            [
                {"cluster": "a", "provider": "gcp", "terraform": False, "deploy": True},
                {"cluster": "infra", "provider": "azure", "terraform": True, "deploy": False},
            ],
            "1800",
        ),
        (
            2,
            "second",
            [
                {"cluster": "a", "provider": "gcp", "terraform": False, "deploy": True},
                {"cluster": "b", "provider": "aws", "terraform": True, "deploy": True},
            ],
            "0",
        ),
        (3, "", [], "0"),
    ],
)
def test_the_wave_matrix_comes_from_the_plan(
    tmp_path: Path, wave: dict[str, Any], number: int, name: str, include: list[Any], soak: str
) -> None:
    _plan(tmp_path)
    out = tmp_path / "github_output"
    out.write_text("")
    script = step(wave["jobs"]["matrix"], id="wave")["run"]
    result = bash(script, cwd=tmp_path, env={"GITHUB_OUTPUT": str(out), "WAVE": str(number)})
    assert result.returncode == 0, result.stderr
    outputs = _outputs(out)
    assert outputs["name"] == name
    assert json.loads(outputs["clusters"]) == {"include": include}
    assert outputs["count"] == str(len(include))
    assert outputs["soak-s"] == soak


def _report(reports: Path, cluster: str, statuses: dict[str, str]) -> None:
    jobs = [
        {"cluster_name": cluster, "hub_name": None if hub == "support" else hub,
         "kind": "support" if hub == "support" else "prod", "status": status}
        for hub, status in statuses.items()
    ]  # fmt: skip
    (reports / f"{cluster}.json").write_text(json.dumps({"jobs": jobs}))


@pytest.mark.parametrize(
    ("reports", "expected", "verdict"),
    [
        # wave 2 (a/p2, b/support, b/p): at most 50% of 3 = 1 failure
        ({"a": {"p2": "succeeded"}, "b": {"support": "succeeded", "p": "failed"}}, 0, "passed"),
        ({"a": {"p2": "failed"}, "b": {"support": "succeeded", "p": "skipped"}}, 1, "halted"),
        ({"a": {"p2": "succeeded"}}, 1, "halted"),  # b left no report: both its jobs count
    ],
)
def test_the_gate_counts_the_wave_failures(
    tmp_path: Path,
    gate: dict[str, Any],
    reports: dict[str, dict[str, str]],
    expected: int,
    verdict: str,
) -> None:
    _plan(tmp_path)
    folder = tmp_path / "hubfleet-reports"
    folder.mkdir()
    for cluster, statuses in reports.items():
        _report(folder, cluster, statuses)
    summary = tmp_path / "summary.md"
    script = step(gate["jobs"]["gate"], name="Count the wave's failures")["run"]
    result = bash(script, cwd=tmp_path, env={"GITHUB_STEP_SUMMARY": str(summary), "WAVE": "2"})
    assert result.returncode == expected, result.stderr
    text = summary.read_text()
    assert text.startswith(f"## Wave 2 (second): {verdict}")
    download = step(gate["jobs"]["gate"], name="Download the wave's reports")
    assert download["with"]["pattern"] == "hubfleet-report-*-wave-${{ inputs.wave }}"


def test_the_cluster_workflow_names_its_artifacts_per_wave(cluster: dict[str, Any]) -> None:
    upload = step(cluster["jobs"]["deploy"], name="Upload the report")
    suffix = "${{ inputs.wave != '' && format('-wave-{0}', inputs.wave) || '' }}"
    assert upload["with"]["name"] == "hubfleet-report-${{ inputs.cluster }}" + suffix
    outcome = step(cluster["jobs"]["outcome"], name="Upload the results")
    assert outcome["with"]["name"] == "hubfleet-outcome-${{ inputs.cluster }}" + suffix
    deploy = step(cluster["jobs"]["deploy"], name="Deploy")
    assert deploy["env"]["WAVE"] == "${{ inputs.wave }}"
    assert cluster["on"]["workflow_call"]["inputs"]["wave"]["default"] == ""


def _fake_hubfleet(tmp_path: Path, code: int) -> Path:
    folder = tmp_path / "fakebin"
    folder.mkdir(exist_ok=True)
    fake = folder / "hubfleet"
    fake.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/argv"\nexit {code}\n')
    fake.chmod(0o755)
    return folder


@pytest.mark.parametrize(("wave_input", "code", "expected"), [("2", 1, 0), ("2", 2, 2), ("", 1, 1)])
def test_in_a_wave_a_failed_job_is_the_gates_to_judge(
    tmp_path: Path, cluster: dict[str, Any], wave_input: str, code: int, expected: int
) -> None:
    """Exit 1 (a job failed) passes the cluster's deploy job in a wave (the gate counts
    it); bad input (2) still fails it; outside waves nothing changes."""
    script = step(cluster["jobs"]["deploy"], name="Deploy")["run"]
    env = {"CLUSTER": "c", "WAVE": wave_input, "SOPS_AGE_KEY": "x"}
    result = bash(script, cwd=tmp_path, env=env, path_first=[_fake_hubfleet(tmp_path, code)])
    assert result.returncode == expected, result.stderr
    argv = (tmp_path / "argv").read_text().split()
    if wave_input:  # the wave's jobs as planned
        assert argv[:5] == ["deploy", "--plan", "plan.json", "--cluster", "c"]
        assert argv[5:7] == ["--wave", wave_input]
    else:  # outside waves the cluster's live plan comes first, and its failure stops it
        assert argv[:5] == ["plan", "--from-json", "plan.json", "--live", "--cluster"]


@pytest.mark.parametrize(("ago", "soak", "expected"), [(120, 60, 0), (10, 3600, 1), (0, 0, 0)])
def test_the_soak_check(
    tmp_path: Path, gate: dict[str, Any], ago: int, soak: int, expected: int
) -> None:
    script = step(gate["jobs"]["soak"], name="Check that the wave soaked")["run"]
    env = {"SOAK_S": str(soak), "FINISHED": str(int(time.time()) - ago), "WAVE": "1"}
    result = bash(script, cwd=tmp_path, env=env)
    assert result.returncode == expected, result.stdout + result.stderr
    if expected:
        assert "give the environment hubfleet-soak-1 a wait timer of at least 60 minutes" in (
            result.stdout
        )


@pytest.mark.slow
@pytest.mark.parametrize("providers", [("gcp", "aws", "azure", "kubeconfig"), ("kubeconfig",)])
def test_actionlint_is_clean_with_the_wave_workflow(
    tmp_path: Path, providers: tuple[str, ...]
) -> None:
    write_repo(tmp_path, rendered(providers))
    result = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", DEPLOY, CLUSTER, WAVE, GATE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_ci_init_says_which_soak_environments_to_create(fleet_copy: Path) -> None:
    settings = fleet_copy / "hubfleet.yaml"
    settings.write_text(
        settings.read_text()
        + "rollout:\n  waves:\n"
        + "  - {name: early, clusters: [alpha], soak: 90m}\n"
        + "  - {name: none, clusters: [beta]}\n"
        + "  - {name: late, share: 50%, soak: 45s}\n"
    )
    result = hubfleet("--repo", fleet_copy, "ci", "init")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("rollout wave")]
    assert lines == [
        "rollout wave 1 (early): give the environment hubfleet-soak-1 a wait timer of 90 minutes",
        "rollout wave 3 (late): give the environment hubfleet-soak-3 a wait timer of 1 minutes",
    ]
    assert (fleet_copy / WAVE).is_file() and (fleet_copy / GATE).is_file()


def test_an_uninstall_goes_with_the_first_wave() -> None:
    """A decommissioned hub's uninstall job has no wave (its hub left cluster.yaml):
    CI's first wave and `deploy --wave 1` run it, no later wave does."""
    from hubfleet.ci.waves import wave_jobs, wave_matrix
    from hubfleet.deploy.targets import Targets
    from hubfleet.plan.job import Job
    from hubfleet.plan.plan import Plan
    from hubfleet.plan.waves import Rollout, WaveInfo

    rollout = Rollout((WaveInfo("first", 0, 0), WaveInfo("rest", 0, 0)), "test")
    prod = Job("a", "h1", "prod", "gcp", ("x",), wave="rest")
    gone = Job("b", "old", "uninstall", "aws", ("decommissioned",))
    plan = Plan(prod_jobs=(prod,), uninstall_jobs=(gone,), rollout=rollout)
    assert wave_jobs(plan, 1) == [gone]
    assert wave_jobs(plan, 2) == [prod]
    assert [e["cluster"] for e in wave_matrix(plan, 1).include] == ["b"]
    assert [e["cluster"] for e in wave_matrix(plan, 2).include] == ["a"]
    targets = Targets((prod, gone), rollout=rollout)
    assert targets.only_wave("1").jobs == (gone,)
    assert targets.only_wave("rest").jobs == (prod,)
