"""Concurrency bounds and no global barrier, from the fake helm's recorded start and end times."""

from __future__ import annotations

import json
from typing import Any

from tests.deploy.conftest import DeployEnv, by_job, cluster_rule, release_of


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    return peak


def _cluster_of(call: dict[str, Any]) -> str:
    kubeconfig = call["env"]["KUBECONFIG"]
    return kubeconfig.split("hubfleet-creds-")[1].rsplit("-", 1)[0]


def test_helm_concurrency_bound(run_cli: Any, denv: DeployEnv) -> None:
    denv.fakes.script([{"tool": "helm", "args": ["upgrade"], "sleep": 0.3}])
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--plan", denv.plan(["alpha", "beta", "delta", "gamma"]),
        "--concurrency", "2", "--progress", "plain", "--no-health-check",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    calls = [c for c in denv.fakes.calls("helm") if c["argv"][0] in ("upgrade", "list")]
    assert len(denv.upgrades()) == 13
    assert _max_overlap([(c["start"], c["end"]) for c in calls]) <= 2
    # With 4 clusters and 2 slots the bound is actually reached.
    assert _max_overlap([(c["start"], c["end"]) for c in denv.upgrades()]) == 2


def test_cluster_concurrency_bound(run_cli: Any, denv: DeployEnv) -> None:
    denv.fakes.script([{"tool": "helm", "args": ["upgrade"], "sleep": 0.1}])
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--plan", denv.plan(["alpha", "beta", "delta"]),
        "--cluster-concurrency", "1", "--progress", "plain", "--no-health-check",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    spans: dict[str, tuple[float, float]] = {}
    for call in denv.upgrades():
        cluster = _cluster_of(call)
        start, end = spans.get(cluster, (call["start"], call["end"]))
        spans[cluster] = (min(start, call["start"]), max(end, call["end"]))
    assert sorted(spans) == ["alpha", "beta", "delta"]
    assert _max_overlap(list(spans.values())) == 1


def test_no_global_barrier(run_cli: Any, denv: DeployEnv) -> None:
    """beta's production hub starts before alpha's slow canary ends."""
    denv.fakes.script([cluster_rule("alpha", "staging", sleep=2.0)])
    report_path = denv.out / "report.json"
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--plan", denv.plan(["alpha", "beta"]),
        "--report", report_path, "--progress", "plain", "--no-health-check",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    calls = {(_cluster_of(c), release_of(c)): c for c in denv.upgrades()}
    alpha_canary = calls[("alpha", "staging")]
    beta_prod = calls[("beta", "research")]
    assert beta_prod["start"] < alpha_canary["end"]
    # and alpha's production waited for its own canary
    assert calls[("alpha", "prod1")]["start"] >= alpha_canary["end"]
    jobs = by_job(json.loads(report_path.read_text()))
    assert jobs["alpha/staging"]["gate"] == "none: --no-health-check"


def test_staging_hubs_run_in_parallel(run_cli: Any, denv: DeployEnv) -> None:
    denv.fakes.script([{"tool": "helm", "args": ["upgrade"], "sleep": 0.5}])
    result = run_cli(
        "--repo", denv.fleet, "deploy", "delta", "--progress", "plain", "--no-health-check"
    )
    assert result.exit_code == 0, result.output
    calls = {release_of(c): c for c in denv.upgrades()}
    a, b, prod = calls["staging-a"], calls["staging-b"], calls["prod"]
    assert a["start"] < b["end"] and b["start"] < a["end"]
    assert prod["start"] >= max(a["end"], b["end"])
    assert calls["support"]["end"] <= min(a["start"], b["start"])
