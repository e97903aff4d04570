"""What is left of decommissioned hubs, for status (docs/decommission.md): a kept
namespace's claims listed as retained data (`kubectl get pvc`, fake kubectl), a hub
fully gone (its entry removable), one still being uninstalled; the local provider's
folders; the entry that would remove an orphan release."""

from __future__ import annotations

import json
from pathlib import Path

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.live.retained import decommissioned_state, orphan_entry
from hubfleet.secrets.sops import Sops
from tests.deploy.conftest import DeployEnv
from tests.deploy.test_uninstall import decommission

PROD1 = """- name: prod1
  domain: prod1.alpha.example.org
  helm_chart_values_files:
  - common.values.yaml
  - prod1.values.yaml
  - enc-prod1.secret.values.yaml
"""
CLAIMS = {
    "items": [
        {
            "metadata": {"name": "claim-ada"},
            "spec": {"resources": {"requests": {"storage": "10Gi"}}, "volumeName": "pv-1"},
            "status": {"phase": "Bound"},
        },
        {
            "metadata": {"name": "claim-bob"},
            "spec": {"resources": {"requests": {"storage": "5Gi"}}},
            "status": {"phase": "Pending"},
        },
    ]
}
NAMESPACE = json.dumps({"kind": "Namespace", "metadata": {"name": "prod2"}})


def _state(denv: DeployEnv, installed: set[str]):  # type: ignore[no-untyped-def]
    fleet = load_fleet(denv.fleet).fleet_or_raise()
    redactor = Redactor()
    return decommissioned_state(
        fleet,
        fleet.cluster("alpha"),
        installed,
        sops=Sops(redactor, cwd=fleet.root),
        redactor=redactor,
    )


def _both(denv: DeployEnv) -> None:
    """prod2 decommissioned with data: keep, prod1 with data: delete."""
    decommission(denv.fleet, "keep")
    path = denv.fleet / "config/clusters/alpha/cluster.yaml"
    text = path.read_text().replace(PROD1, "")
    path.write_text(text + "- name: prod1\n  date: 2025-07-01\n  data: delete\n")


def test_a_kept_namespace_is_retained_data_with_its_claims(denv: DeployEnv) -> None:
    _both(denv)
    denv.fakes.script(
        [
            {"tool": "kubectl", "args": ["get", "namespace"], "contains": "-- prod2", "stdout": NAMESPACE},
            {"tool": "kubectl", "args": ["get", "pvc"], "contains": "--namespace=prod2", "stdout": json.dumps(CLAIMS)},
            {"tool": "kubectl", "args": ["get", "namespace"], "contains": "-- prod1", "stdout": ""},
        ]
    )  # fmt: skip
    rows = {r.hub: r for r in _state(denv, installed=set())}
    kept = rows["prod2"]
    assert (kept.left, kept.data, kept.date) == ("retained", "keep", "2025-06-30")
    assert [(c.name, c.size, c.volume, c.phase) for c in kept.claims] == [
        ("claim-ada", "10Gi", "pv-1", "Bound"),
        ("claim-bob", "5Gi", "", "Pending"),
    ]
    assert kept.detail == "namespace prod2 kept (data: keep): claim-ada 10Gi, claim-bob 5Gi"
    assert not kept.removable
    gone = rows["prod1"]
    assert gone.left == "gone" and gone.removable and gone.claims == ()
    assert json.loads(json.dumps(kept.to_json()))["claims"][0]["name"] == "claim-ada"
    calls = denv.fakes.calls("kubectl")
    assert calls and all("hubfleet-creds-alpha-" in c["env"]["KUBECONFIG"] for c in calls)
    assert not [
        c for c in calls if c["argv"][:2] == ["get", "pvc"] and "--namespace=prod1" in c["argv"]
    ]


def test_a_release_still_installed_or_a_namespace_to_delete_is_uninstalling(
    denv: DeployEnv,
) -> None:
    _both(denv)
    denv.fakes.script(
        [{"tool": "kubectl", "args": ["get", "namespace"], "contains": "-- prod1", "stdout": NAMESPACE}]
    )  # fmt: skip
    rows = {r.hub: r for r in _state(denv, installed={"prod2"})}
    assert rows["prod2"].left == "uninstalling" and "still installed" in rows["prod2"].detail
    assert rows["prod1"].left == "uninstalling"
    assert rows["prod1"].detail.startswith("namespace prod1 still there (data: delete)")


def test_a_cluster_without_decommissioned_hubs_asks_nothing(denv: DeployEnv) -> None:
    assert _state(denv, installed=set()) == ()
    assert denv.fakes.started("kubectl") == [] and denv.fakes.started("gcloud") == []


def test_local_folders(tmp_path: Path, fleet_copy: Path) -> None:
    path = fleet_copy / "config/clusters/local/cluster.yaml"
    doc = path.read_text()
    path.write_text(
        doc + "decommissioned:\n- name: kept\n  date: 2025-06-30\n  data: keep\n"
        "- name: gone\n  date: 2025-06-30\n  data: delete\n"
    )
    fleet = load_fleet(fleet_copy).fleet_or_raise()
    cluster = fleet.cluster("local")
    from hubfleet.local.fleet import state_dir

    (state_dir(fleet, cluster) / "kept" / "home").mkdir(parents=True)
    redactor = Redactor()
    rows = {
        r.hub: r
        for r in decommissioned_state(
            fleet, cluster, set(), sops=Sops(redactor, cwd=fleet.root), redactor=redactor
        )
    }
    assert rows["kept"].left == "retained" and "kept (data: keep)" in rows["kept"].detail
    assert rows["gone"].left == "gone"


def test_the_entry_that_would_remove_an_orphan() -> None:
    assert orphan_entry("old-hub") == (
        "- {name: old-hub, date: YYYY-MM-DD, data: keep, reason: ...}"
    )
