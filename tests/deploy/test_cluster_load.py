"""Bounded load on one cluster's API: at most `deploy.cluster_parallelism` upgrades at
once on a cluster (cluster.yaml may override it), whatever the fleet-wide
concurrency; an upgrade refused by the API's rate limit is retried with backoff."""

from __future__ import annotations

from typing import Any

from tests.deploy.conftest import DeployEnv, cluster_rule, many_hubs, release_of
from tests.deploy.rollout_states import fast_watch

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.deploy.orchestrator import Deployer, DeployOptions
from hubfleet.deploy.targets import from_cli
from hubfleet.plan.job import Job
from hubfleet.secrets.sops import Sops

HUBS = 95
RATE_LIMITED = "Error: client rate limiter Wait returned an error: context deadline exceeded"


def _deployer(denv: DeployEnv, clusters: list[str], concurrency: int) -> Deployer:
    fleet = load_fleet(denv.fleet).fleet_or_raise()
    redactor = Redactor()
    jobs: list[Job] = []
    for cluster in clusters:
        jobs += from_cli(fleet, cluster, []).jobs
    options = DeployOptions(concurrency=concurrency, cluster_concurrency=4)
    return Deployer(fleet, jobs, sops=Sops(redactor, cwd=fleet.root), redactor=redactor,
                    options=options)  # fmt: skip


def _most_at_once(calls: list[dict[str, Any]]) -> int:
    events = sorted([(c["start"], 1) for c in calls] + [(c["end"], -1) for c in calls])
    running = most = 0
    for _, step in events:  # an end before a start at the same instant
        running += step
        most = max(most, running)
    return most


def test_at_most_the_cluster_limit_at_once_while_another_cluster_proceeds(
    denv: DeployEnv,
) -> None:
    many_hubs(denv, "delta", HUBS, parallelism=None)  # hubfleet.yaml's limit: 8
    fast_watch(denv.fleet, cluster_parallelism=8)
    denv.fakes.script([
        {"tool": "helm", "args": ["upgrade"], "contains": "hubfleet-creds-delta-", "sleep": 0.15},
        {"tool": "helm", "args": ["upgrade"], "contains": "hubfleet-creds-gamma-", "sleep": 0.5},
    ])  # fmt: skip
    report = _deployer(denv, ["delta", "gamma"], concurrency=64).run()
    assert report.exit_code == 0, [r.message for r in report.records if r.status == "failed"]
    upgrades = denv.upgrades()
    delta = [c for c in upgrades if "hubfleet-creds-delta-" in " ".join(c["argv"])]
    gamma = [c for c in upgrades if "hubfleet-creds-gamma-" in " ".join(c["argv"])]
    assert len(delta) == HUBS + 1 and len(gamma) == 2  # the hubs and support
    assert _most_at_once(delta) == 8  # reached, never passed
    # gamma's upgrades ran while delta's were still queued behind the limit.
    last_delta_end = max(c["end"] for c in delta)
    assert all(c["end"] < last_delta_end for c in gamma)


def test_cluster_yaml_overrides_the_limit(denv: DeployEnv) -> None:
    many_hubs(denv, "delta", 12, parallelism=3)
    fast_watch(denv.fleet, cluster_parallelism=8)
    denv.fakes.script([{"tool": "helm", "args": ["upgrade"], "sleep": 0.1}])
    report = _deployer(denv, ["delta"], concurrency=64).run()
    assert report.exit_code == 0
    assert _most_at_once(denv.upgrades()) == 3


def test_rate_limited_upgrade_is_retried_then_succeeds(denv: DeployEnv) -> None:
    fast_watch(denv.fleet, rate_limit_backoff_s=0.05, rate_limit_retries=3)
    steps = [
        {"exit": 1, "stderr": RATE_LIMITED},
        {"exit": 1, "stderr": "429 Too Many Requests"},
        {},
    ]
    denv.fakes.script([cluster_rule("gamma", "prod", steps=steps)])
    report = _deployer(denv, ["gamma"], concurrency=8).run()
    prod = {r.job.label: r for r in report.records}["gamma/prod"]
    assert prod.status == "succeeded", prod.message
    assert "retried 2 time(s) after the API's rate limit" in prod.message
    tries = [c for c in denv.upgrades() if release_of(c) == "prod"]
    assert [c["exit"] for c in tries] == [1, 1, 0]
    assert tries[1]["start"] - tries[0]["end"] >= 0.05  # backed off before retrying


def test_rate_limit_that_persists_is_reported_as_such(denv: DeployEnv) -> None:
    fast_watch(denv.fleet, rate_limit_backoff_s=0.01, rate_limit_retries=2)
    denv.fakes.script([cluster_rule("gamma", "prod", exit=1, stderr=RATE_LIMITED)])
    report = _deployer(denv, ["gamma"], concurrency=8).run()
    prod = {r.job.label: r for r in report.records}["gamma/prod"]
    assert prod.status == "failed"
    assert prod.message.startswith("rate-limited by the Kubernetes API 3 time(s), gave up")
    assert len([c for c in denv.upgrades() if release_of(c) == "prod"]) == 3
