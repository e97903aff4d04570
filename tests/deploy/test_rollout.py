"""The rollout watch after `helm upgrade` (no `--wait`): healthy rollouts succeed,
broken pods fail at the poll that shows them (not at the helm timeout), name the pod
and the reason, and roll the release back to its previous revision; other clusters
are not touched. The fake kubectl plays the states (tests/deploy/rollout_states.py)."""

from __future__ import annotations

import signal
from typing import Any

import pytest
from tests.adversarial import test_signals as signals
from tests.deploy.conftest import DeployEnv, deployer, release_of
from tests.deploy.rollout_states import POD, fast_watch, rollout_rules

from hubfleet.deploy.model import Report
from hubfleet.deploy.orchestrator import DeployOptions


def _gets(denv: DeployEnv, cluster: str, namespace: str) -> list[dict[str, Any]]:
    return [
        c
        for c in denv.fakes.calls("kubectl")
        if c["argv"][:2] == ["get", "deploy,sts,ds,pods"]
        and f"--namespace={namespace}" in c["argv"]
        and f"hubfleet-creds-{cluster}-" in " ".join(c["argv"])
    ]


def _rollbacks(denv: DeployEnv) -> list[list[str]]:
    return [c["argv"] for c in denv.fakes.calls("helm") if c["argv"][0] == "rollback"]


def _run(denv: DeployEnv, clusters: list[str]) -> Report:
    # A 10-minute helm timeout: a watch that waited for it would hang the test.
    return deployer(denv, clusters, options=DeployOptions(helm_timeout="10m")).run()


def test_healthy_rollout_succeeds(denv: DeployEnv) -> None:
    fast_watch(denv.fleet)
    denv.fakes.script(rollout_rules("alpha", "staging", ["stale", "pending", "pending", "ready"]))
    report = _run(denv, ["alpha"])
    jobs = {r.job.label: r for r in report.records}
    assert report.exit_code == 0, [r.message for r in report.records]
    assert jobs["alpha/staging"].status == "succeeded"
    assert "rolled out (1 workload(s)" in jobs["alpha/staging"].message
    gets = _gets(denv, "alpha", "staging")
    assert [c["state"] for c in gets] == [0, 1, 2, 3]  # polled until ready, then stopped
    [upgrade] = [c for c in denv.upgrades() if release_of(c) == "staging"]
    assert "--wait" not in upgrade["argv"] and "--atomic" not in upgrade["argv"]
    assert all(g["start"] >= upgrade["end"] for g in gets)  # watched after the upgrade
    [manifest] = [c for c in denv.fakes.calls("helm") if c["argv"][:2] == ["get", "manifest"]
                  and release_of(c) == "staging"]  # fmt: skip
    assert manifest["start"] >= upgrade["end"]
    assert _rollbacks(denv) == []


@pytest.mark.parametrize(
    ("states", "reason"),
    [
        (["pending", "pending", "crashloop"], "CrashLoopBackOff"),
        (["pending", "imagepull"], "ImagePullBackOff"),
        (["unschedulable"], "Unschedulable"),
    ],
)
def test_broken_canary_fails_fast_rolls_back_and_spares_other_clusters(
    denv: DeployEnv, states: list[str], reason: str
) -> None:
    fast_watch(denv.fleet)
    denv.fakes.script(
        rollout_rules("alpha", "staging", states, revision=3, logs="Traceback\nKeyError: 'x'\n")
        + rollout_rules("beta", "staging", ["pending", "ready"], revision=5)
    )
    report = _run(denv, ["alpha", "beta"])
    jobs = {r.job.label: r for r in report.records}
    canary = jobs["alpha/staging"]
    assert canary.status == "failed"
    assert canary.message.startswith("rollout failed: pod staging/" + POD)
    assert reason in canary.message
    assert canary.message.endswith("rolled back to revision 3")
    assert canary.rolled_back == 3
    if reason == "CrashLoopBackOff":  # the crashed container's last lines, in the message
        assert "KeyError: 'x'" in canary.message and "KeyError: 'x'" in canary.output_tail
        [logs] = [c for c in denv.fakes.calls("kubectl") if c["argv"][0] == "logs"]
        assert "--previous" in logs["argv"] and logs["argv"][-1] == POD
    # Failed at the poll that showed the state (the grace aside), not at the helm timeout.
    seen = [c["state"] for c in _gets(denv, "alpha", "staging")]
    if reason == "Unschedulable":
        assert len(seen) >= 2  # the same (last, repeated) state, until past the 0.3 s grace
    else:
        assert seen == list(range(len(states)))
    [rollback] = _rollbacks(denv)
    assert rollback[-3:] == ["--", "staging", "3"]
    assert "hubfleet-creds-alpha-" in " ".join(rollback)
    assert {jobs["alpha/prod1"].status, jobs["alpha/prod2"].status} == {"skipped"}
    # beta: its own rollout, untouched.
    assert jobs["beta/staging"].status == "succeeded"
    assert jobs["beta/research"].status == "succeeded"
    assert report.exit_code == 1


def test_first_install_that_fails_is_not_rolled_back(denv: DeployEnv) -> None:
    fast_watch(denv.fleet)
    rules = rollout_rules("alpha", "staging", ["crashloop"])
    rules[0] = {"tool": "helm", "args": ["list"], "stdout": "[]"}  # nothing installed yet
    denv.fakes.script(rules)
    report = _run(denv, ["alpha"])
    canary = {r.job.label: r for r in report.records}["alpha/staging"]
    assert canary.status == "failed" and "CrashLoopBackOff" in canary.message
    assert canary.message.endswith("not rolled back: it had no earlier revision (first install)")
    assert _rollbacks(denv) == []


def test_sigint_during_the_watch_exits_130_and_leaves_the_release(denv: DeployEnv) -> None:
    """A real `hubfleet deploy` child process, interrupted while it polls a rollout that
    never finishes: exit 130, no process left, the release not rolled back."""
    fast_watch(denv.fleet)
    denv.fakes.script(rollout_rules("delta", "staging-a", ["pending"]))
    report_path = denv.out / "report.json"
    process = signals._start(
        denv, "deploy", "delta", "--report", str(report_path), "--progress", "plain",
    )  # fmt: skip
    signals._until(lambda: len(_gets(denv, "delta", "staging-a")) >= 2, process, "two polls")
    process.send_signal(signal.SIGINT)
    _text, report = signals._ended(denv, process)
    jobs = {j["hub_name"] or "support": j for j in report["jobs"]}
    assert jobs["staging-a"]["status"] == "cancelled"
    assert jobs["staging-a"]["message"] == (
        "stopped watching the rollout (interrupt): the release is left as helm left it, "
        "not rolled back"
    )
    assert jobs["prod"]["status"] == "cancelled"
    assert _rollbacks(denv) == []
