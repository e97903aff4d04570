"""`hubfleet terraform backups` with fake cloud CLIs (argv, environment recorded): a
fresh snapshot passes, a stale one fails naming the storage and its age, none at all
fails, a CLI failure fails; each cloud's query and answer; and the scheduled job."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hubfleet.base.private import open_private_folders
from hubfleet.config.load import load_fleet
from hubfleet.terraform.backups import query, snapshot_times
from hubfleet.terraform.inputs import compute
from tests.ci.ci_helpers import load, rendered
from tests.conftest import SECRET_MARKER
from tests.fakes import FakeTools

HOMES = {
    "alpha": "  home:\n    kind: nfs-disk\n    backups: {every_hours: 12, grace_hours: 2}\n",
    "beta": "  home:\n    kind: efs\n    backups: {every_hours: 24, grace_hours: 6}\n",
    "gamma": "  home:\n    kind: azure-files\n    backups: {}\n",
}


@pytest.fixture
def home_fleet(tf_fleet: Path) -> Path:
    for cluster, text in HOMES.items():
        path = tf_fleet / "config" / "clusters" / cluster / "cluster.yaml"
        path.write_text(path.read_text().replace("  hub_access:\n", text + "  hub_access:\n", 1))
    return tf_fleet


def ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def aws_points(*hours: float, status: str = "COMPLETED") -> str:
    return json.dumps(
        {
            "RecoveryPoints": [
                {"CreationDate": ago(h), "Status": status, "ResourceArn": "arn:efs"} for h in hours
            ]
        }
    )


def run_backups(run_cli, fleet: Path, *clusters: str) -> tuple[int, Any, str]:  # type: ignore[no-untyped-def]
    result = run_cli("--repo", fleet, "terraform", "backups", *clusters, "--output", "json")
    return result.exit_code, json.loads(result.stdout) if result.stdout else None, result.stderr


def test_a_fresh_snapshot_passes_in_the_clusters_terraform_credentials(
    home_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    fake_tools.script([{"tool": "aws", "stdout": aws_points(30, 2, 50)}])
    code, data, _ = run_backups(run_cli, home_fleet, "beta")
    assert code == 0
    [entry] = data["clusters"]
    assert entry["status"] == "fresh"
    assert entry["storage"] == "EFS hubfleet-beta-home (backup vault hubfleet-beta-home)"
    assert 1.9 < entry["age_hours"] < 2.1 and entry["max_age_hours"] == 30
    [call] = fake_tools.calls("aws")
    assert call["argv"] == [
        "backup",
        "list-recovery-points-by-backup-vault",
        "--backup-vault-name=hubfleet-beta-home",
        "--region=eu-west-1",
        "--output=json",
    ]
    # the cluster's terraform.credentials, decrypted into the environment only
    assert SECRET_MARKER in call["env"]["AWS_SECRET_ACCESS_KEY"]
    assert SECRET_MARKER not in " ".join(call["argv"])
    assert Path(call["env"]["AWS_CONFIG_FILE"]).name == "aws-config"  # never ~/.aws
    assert not Path(call["env"]["AWS_CONFIG_FILE"]).exists()  # its folder is gone
    assert open_private_folders() == []


def test_a_stale_snapshot_fails_with_the_storage_and_its_age(
    home_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    fake_tools.script([{"tool": "aws", "stdout": aws_points(40, 64)}])
    result = run_cli("--repo", home_fleet, "terraform", "backups", "beta")
    assert result.exit_code == 1
    assert (
        "beta: the newest snapshot of EFS hubfleet-beta-home (backup vault hubfleet-beta-home) "
        "is 40.0 hours old" in result.stderr
    )
    assert "the schedule allows 30" in result.stderr
    code, data, _ = run_backups(run_cli, home_fleet, "beta")
    assert code == 1 and data["clusters"][0]["status"] == "stale"


def test_no_snapshot_at_all_fails(
    home_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    # an unfinished recovery point is no backup either
    fake_tools.script([{"tool": "aws", "stdout": aws_points(1, status="CREATING")}])
    result = run_cli("--repo", home_fleet, "terraform", "backups", "beta")
    assert result.exit_code == 1
    assert "beta: EFS hubfleet-beta-home (backup vault hubfleet-beta-home) has no snapshot" in (
        result.stderr
    )


def test_a_cli_that_fails_fails_the_check(
    home_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    fake_tools.script([{"tool": "aws", "exit": 254, "stderr": "AccessDenied"}])
    code, data, _ = run_backups(run_cli, home_fleet, "beta")
    assert code == 1
    assert data["clusters"][0]["status"] == "failed"
    assert "AccessDenied" in data["clusters"][0]["message"]


def test_every_cluster_with_backups_is_checked_each_in_its_cloud(
    home_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    fake_tools.script(
        [
            {"tool": "aws", "stdout": aws_points(3)},
            {
                "tool": "gcloud",
                "stdout": json.dumps(
                    [
                        {"creationTimestamp": ago(20), "status": "READY"},
                        {"creationTimestamp": ago(1), "status": "CREATING"},
                    ]
                ),
            },
            {
                "tool": "az",
                "args": ["recoverypoint"],
                "stdout": json.dumps([{"properties": {"recoveryPointTime": ago(5)}}]),
            },
        ]
    )
    code, data, _ = run_backups(run_cli, home_fleet)
    statuses = {e["cluster_name"]: e["status"] for e in data["clusters"]}
    # alpha: the newest ready snapshot is 20 h old, every 12 h + 2 h allowed
    assert statuses == {"alpha": "stale", "beta": "fresh", "gamma": "fresh"}
    assert code == 1
    [gcloud] = fake_tools.calls("gcloud")
    assert "--filter=labels.hubfleet-home=hf-alpha-home" in gcloud["argv"]
    key_file = gcloud["env"]["CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"]
    assert not Path(key_file).exists()  # the key lived in a private folder, now removed
    assert "GOOGLE_CREDENTIALS" not in gcloud["env"]
    [az] = fake_tools.calls("az")  # gamma has no terraform.credentials: no az login
    assert az["argv"][:3] == ["backup", "recoverypoint", "list"]
    assert "--workload-type=AzureFileShare" in az["argv"]


def test_a_cluster_without_backups_passes_and_says_so(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    code, data, _ = run_backups(run_cli, tf_fleet, "beta")
    assert code == 0
    assert data["clusters"][0]["status"] == "not-configured"
    assert fake_tools.calls("aws") == []
    # and with no cluster named: none has backups, nothing is checked
    code, data, _ = run_backups(run_cli, tf_fleet)
    assert (code, data) == (0, {"clusters": []})


def test_each_clouds_answer_is_read() -> None:
    when = "2026-12-07T03:00:12.345-08:00"
    assert snapshot_times("gcp", json.dumps([{"creationTimestamp": when}])) == [
        datetime.fromisoformat(when)
    ]
    azure = json.dumps([{"properties": {"recoveryPointTime": "2026-12-07T03:00:00Z"}}])
    assert snapshot_times("azure", azure) == [datetime(2026, 12, 7, 3, tzinfo=UTC)]
    assert snapshot_times("aws", json.dumps({"RecoveryPoints": []})) == []
    assert snapshot_times("gcp", "[]") == []


def test_a_names_override_reaches_the_query(home_fleet: Path) -> None:
    path = home_fleet / "config" / "clusters" / "beta" / "cluster.yaml"
    path.write_text(path.read_text() + "  names:\n    backup: leap-home-vault\n")
    cluster = load_fleet(home_fleet).fleet_or_raise().cluster("beta")
    found = query(cluster, compute(cluster))
    assert found is not None
    assert "--backup-vault-name=leap-home-vault" in found.argv


def test_the_drift_workflow_checks_the_backups_every_day() -> None:
    workflow = load(rendered()[".github/workflows/hubfleet-terraform-drift.yaml"])
    assert "schedule" in workflow["on"]
    job = workflow["jobs"]["backups"]
    assert job["environment"] == "terraform-plan-${{ matrix.cluster }}"
    assert job["needs"] == "clusters"
    [step] = [s for s in job["steps"] if s.get("name") == "Backups"]
    assert 'hubfleet terraform backups "$CLUSTER"' in step["run"]
    assert step["env"]["CLUSTER"] == "${{ matrix.cluster }}"
