"""A deploy's threads are bounded by its concurrency settings, not by its jobs (issue
23.2): a job's slots are taken before it gets a thread, so 200 hubs of one cluster at
concurrency 4 never run more than a handful of threads, and still all deploy."""

from __future__ import annotations

import threading
from typing import Any

from tests.deploy.conftest import DeployEnv, many_hubs

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.deploy.model import JobRecord
from hubfleet.deploy.orchestrator import Deployer, DeployOptions
from hubfleet.deploy.targets import from_cli
from hubfleet.secrets.sops import Sops

HUBS = 200
CONCURRENCY = 4
# The main thread, the cluster's pipeline and the sampler; helm's values pipes are
# filled before helm starts, so the files of a running upgrade add no thread.
OTHERS = 3


def test_threads_stay_within_concurrency_for_200_hubs(denv: DeployEnv, monkeypatch: Any) -> None:
    many_hubs(denv, "delta", HUBS, 64)  # the deploy's concurrency is the limit here
    monkeypatch.setenv("PATH", denv.fakes.path)
    fleet = load_fleet(denv.fleet).fleet_or_raise()
    redactor = Redactor()
    jobs = from_cli(fleet, "delta", []).jobs
    before = threading.active_count()
    seen: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.002):
            seen.append(threading.active_count())

    def observe(_record: JobRecord) -> None:
        seen.append(threading.active_count())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    deployer = Deployer(
        fleet,
        jobs,
        sops=Sops(redactor, cwd=fleet.root),
        redactor=redactor,
        options=DeployOptions(concurrency=CONCURRENCY, cluster_concurrency=8, health_check=False),
        observer=observe,
    )
    try:
        report = deployer.run()
    finally:
        stop.set()
        sampler.join(timeout=5)
    statuses = {r.status for r in report.records}
    assert statuses == {"succeeded"}, statuses
    assert len(report.records) == HUBS + 1
    assert max(seen) - before <= CONCURRENCY + OTHERS, max(seen) - before
    assert len([c for c in denv.fakes.calls("helm") if c["argv"][:1] == ["upgrade"]]) == HUBS + 1
