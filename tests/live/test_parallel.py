"""Clusters are read in parallel, at most `parallelism` at once; one failing reader
(any HubfleetError) is isolated in its own rows."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from hubfleet.base.errors import DeployError
from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import Cluster
from hubfleet.config.load import load_fleet
from hubfleet.live.query import ClusterState
from hubfleet.live.status import fleet_status
from hubfleet.secrets.sops import Sops


def test_bounded_parallel_reads_and_isolation(fleet_copy: Path) -> None:
    fleet = load_fleet(fleet_copy).fleet
    lock = threading.Lock()
    running = [0]
    peak = [0]

    def reader(cluster: Cluster) -> ClusterState:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        if cluster.name == "beta":
            raise DeployError("beta: connection refused")
        return ClusterState(cluster.name, ())

    started = time.monotonic()
    redactor = Redactor()
    status = fleet_status(
        fleet, sops=Sops(redactor, cwd=fleet_copy), redactor=redactor, parallelism=2,
        reader=reader,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert len(fleet.clusters) >= 4
    assert peak[0] == 2  # in parallel, and bounded
    assert elapsed < 0.2 * len(fleet.clusters)  # not one after the other
    by_name = {c.cluster: c for c in status.clusters}
    assert by_name["beta"].error == "beta: connection refused"
    assert {r.state for r in by_name["beta"].rows} == {"error"}
    assert {r.state for r in by_name["alpha"].rows} == {"missing"}
    assert status.exit_code == 1
