"""A cluster's releases read back through its credentials and the (stateful fake) helm."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.live.query import (
    ClusterState,
    read_cluster,
    revisions_of,
    split_chart,
)
from hubfleet.live.record import Record, describe
from hubfleet.secrets.sops import Sops
from tests.fakes import FakeTools, install_fakes
from tests.fakes.helmstate import HelmState

SHA1 = "1" * 40
SHA2 = "2" * 40
D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64


@pytest.fixture
def state(tmp_path: Path) -> HelmState:
    return HelmState(tmp_path / "clusters")


@pytest.fixture
def fakes(tmp_path: Path, state: HelmState) -> FakeTools:
    fakes = install_fakes(tmp_path)
    fakes.script([], helm_state=state.folder)
    return fakes


def read(fleet_copy: Path, fakes: FakeTools, cluster: str = "delta") -> ClusterState:
    fleet = load_fleet(fleet_copy).fleet
    redactor = Redactor()
    return read_cluster(
        fleet,
        fleet.cluster(cluster),
        sops=Sops(redactor, cwd=fleet_copy),
        redactor=redactor,
        extra_env=fakes.env(),
    )


def test_records_origins_and_rollbacks(
    fleet_copy: Path, age_key: Path, fakes: FakeTools, state: HelmState
) -> None:
    one = describe(Record(commit=SHA1, digest=D1))
    two = describe(Record(commit=SHA2, digest=D2))
    state.seed("delta", "prod", "prod", description=one, chart="testhub-0.1.0")
    state.seed("delta", "staging-a", "staging-a", description=one)
    state.seed("delta", "staging-a", "staging-a", description="Upgrade complete")  # by hand
    state.seed("delta", "staging-b", "staging-b", description=one)
    state.seed("delta", "staging-b", "staging-b", description=two)
    state.seed("delta", "staging-b", "staging-b", description="Rollback to 1")
    state.seed("delta", "support", "support", description=one)
    state.seed(
        "delta", "support", "support", status="failed", description='Upgrade "support" failed: x'
    )
    state.seed("delta", "other", "elsewhere", description="Install complete")
    found = read(fleet_copy, fakes)
    assert [(r.namespace, r.name) for r in found.releases] == [
        ("elsewhere", "other"), ("prod", "prod"), ("staging-a", "staging-a"),
        ("staging-b", "staging-b"), ("support", "support"),
    ]  # fmt: skip
    prod = found.get("prod", "prod")
    assert prod is not None and prod.origin == "hubfleet" and prod.record is not None
    assert prod.record.commit == SHA1 and prod.chart == "testhub" and prod.version == "0.1.0"
    assert prod.revision == 1 and prod.status == "deployed" and prod.last_rollback is None
    hand = found.get("staging-a", "staging-a")
    assert hand is not None and hand.by_hand and hand.record is None and hand.revision == 2
    back = found.get("staging-b", "staging-b")
    assert back is not None and back.origin == "rollback"
    assert back.record is not None and back.record.commit == SHA1  # what runs: revision 1's
    assert back.last_rollback is not None
    assert back.last_rollback.revision == 3 and back.last_rollback.to_revision == 1
    assert back.last_rollback.rolled_back is not None
    assert back.last_rollback.rolled_back.commit == SHA2  # the commit the rollback undid
    failed = found.get("support", "support")
    assert failed is not None and failed.status == "failed" and failed.origin == "failed"
    assert found.get("nothing", "nothing") is None
    # One list for the cluster, one history per release, each with the cluster's kubeconfig.
    calls = [c["argv"] for c in fakes.calls("helm")]
    assert sum(1 for c in calls if c[0] == "list") == 1
    assert sum(1 for c in calls if c[0] == "history") == 5
    assert all(any(a.startswith("--kubeconfig=") for a in c) for c in calls)


def test_wanted_limits_the_histories(
    fleet_copy: Path, age_key: Path, fakes: FakeTools, state: HelmState
) -> None:
    state.seed("delta", "prod", "prod")
    state.seed("delta", "other", "elsewhere")
    fleet = load_fleet(fleet_copy).fleet
    redactor = Redactor()
    found = read_cluster(
        fleet,
        fleet.cluster("delta"),
        sops=Sops(redactor, cwd=fleet_copy),
        redactor=redactor,
        wanted=lambda name, namespace: namespace == "prod",
        extra_env=fakes.env(),
    )
    assert [r.name for r in found.releases] == ["prod"]
    assert sum(1 for c in fakes.calls("helm") if c["argv"][0] == "history") == 1


def test_a_cluster_whose_list_is_forbidden_is_read_per_namespace(
    fleet_copy: Path, age_key: Path, fakes: FakeTools, state: HelmState
) -> None:
    state.seed("delta", "prod", "prod")
    fakes.script(
        [
            {
                "tool": "helm",
                "args": ["list", "--all-namespaces"],
                "exit": 1,
                "stderr": "Error: list: failed to list: secrets is forbidden: User cannot list",
            }
        ],
        helm_state=state.folder,
    )
    fleet = load_fleet(fleet_copy).fleet
    redactor = Redactor()
    found = read_cluster(
        fleet,
        fleet.cluster("delta"),
        sops=Sops(redactor, cwd=fleet_copy),
        redactor=redactor,
        namespaces=["prod", "support"],
        extra_env=fakes.env(),
    )
    assert [r.name for r in found.releases] == ["prod"]


def test_split_chart_and_odd_history_entries() -> None:
    assert split_chart("jupyterhub-3.3.7") == ("jupyterhub", "3.3.7")
    assert split_chart("daskhub-2024.1.0-beta.1") == ("daskhub", "2024.1.0-beta.1")
    assert split_chart("my-chart-v1.0.0") == ("my-chart", "v1.0.0")
    assert split_chart("weird") == ("weird", "")
    revisions = revisions_of([{"revision": "x"}, "no", {"revision": 2}, {"revision": 1}])
    assert [r.revision for r in revisions] == [1, 2]
