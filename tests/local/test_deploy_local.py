"""End to end: `hubfleet deploy` of local clusters, real JupyterHubs, real health checks.

Runs the real command in a subprocess on a copy of the test fleet whose local
cluster gets a second production hub and an admin service token kept in a
sops-encrypted values file (so the token reaches JupyterHub decrypted in memory).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.local import hub_status
from hubfleet.secrets.sops import encrypt
from tests.conftest import AGE_KEY, SECRET_MARKER
from tests.helpers import hubfleet
from tests.local.hubs import SLOW_MACHINE_SPAWNER, free_base_port, kill_everything

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

ADMIN_TOKEN = f"e2e-admin-token-{SECRET_MARKER}-0123456789"


def _env() -> dict[str, str]:
    return {**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEY), "SOPS_DISABLE_VERSION_CHECK": "1"}


def add_local_cluster(repo: Path, name: str, base_port: int) -> None:
    """A local cluster like the test fleet's, with staging, prod1 and prod2, and an
    admin service whose token lives in an encrypted values file."""
    source = repo / "config/clusters/local"
    folder = repo / "config/clusters" / name
    if name != "local":
        folder.mkdir()
        for item in source.iterdir():
            (folder / item.name).write_text(item.read_text())
    (folder / "prod2.values.yaml").write_text((folder / "prod1.values.yaml").read_text())
    common = yaml.safe_load((folder / "common.values.yaml").read_text())
    common["hub"]["config"]["Spawner"] = SLOW_MACHINE_SPAWNER
    (folder / "common.values.yaml").write_text(yaml.safe_dump(common, sort_keys=False))
    secret = {
        "hub": {
            "services": {"e2e-admin": {"apiToken": ADMIN_TOKEN}},
            "loadRoles": {"e2e-admin": {"scopes": ["admin:users"], "services": ["e2e-admin"]}},
        }
    }
    encrypted = encrypt(
        yaml.safe_dump(secret).encode(),
        filename=f"config/clusters/{name}/enc-admin.secret.values.yaml",
        cwd=repo,
        env={"SOPS_AGE_KEY_FILE": str(AGE_KEY)},
    )
    (folder / "enc-admin.secret.values.yaml").write_bytes(encrypted)
    hubs = []
    for hub in ("staging", "prod1", "prod2"):
        hubs.append(
            {
                "name": hub,
                "domain": f"{hub}.{name}.example.org",
                "helm_chart_values_files": [
                    "common.values.yaml",
                    f"{hub}.values.yaml",
                    "enc-admin.secret.values.yaml",
                ],
            }
        )
    cluster = {"name": name, "provider": "local", "local": {"base_port": base_port}, "hubs": hubs}
    (folder / "cluster.yaml").write_text(yaml.safe_dump(cluster, sort_keys=False))


@pytest.fixture
def repo(fleet_copy: Path) -> Iterator[Path]:
    add_local_cluster(fleet_copy, "local", free_base_port())
    try:
        yield fleet_copy
    finally:
        for state in (fleet_copy / ".hubfleet" / "local").glob("*"):
            kill_everything(state)


def report_of(path: Path) -> dict[tuple[str, str | None], dict[str, Any]]:
    jobs = json.loads(path.read_text())["jobs"]
    return {(job["cluster_name"], job["hub_name"]): job for job in jobs}


def api(url: str, path: str, method: str = "GET") -> int:
    request = urllib.request.Request(
        url.rstrip("/") + "/hub/api/" + path,
        method=method,
        headers={"Authorization": f"token {ADMIN_TOKEN}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def pids(repo: Path, cluster: str) -> dict[str, int | None]:
    state = repo / ".hubfleet" / "local" / cluster
    return {status.hub: status.pid for status in hub_status(state)}


def test_deploy_checks_redeploys_and_upgrades_a_local_cluster(repo: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    first = hubfleet("--repo", repo, "deploy", "local", "--report", report, env=_env())
    assert first.returncode == 0, first.stdout + first.stderr
    jobs = report_of(report)
    assert {hub: job["status"] for (_, hub), job in jobs.items()} == {
        "staging": "succeeded",
        "prod1": "succeeded",
        "prod2": "succeeded",
    }
    assert jobs[("local", "staging")]["gate"] == "health-check"
    state = repo / ".hubfleet" / "local" / "local"
    statuses = {status.hub: status for status in hub_status(state)}
    for status in statuses.values():
        assert status.running and status.url.startswith("http://127.0.0.1:")
        assert api(status.url, "") == 200  # each hub's API answers
    # The decrypted admin token reached JupyterHub, and it was never printed.
    assert api(statuses["prod1"].url, "users/alice", "POST") == 201
    assert SECRET_MARKER not in first.stdout + first.stderr + report.read_text()
    before = pids(repo, "local")

    again = hubfleet("--repo", repo, "deploy", "local", "--report", report, env=_env())
    assert again.returncode == 0, again.stdout + again.stderr
    assert {job["status"] for job in report_of(report).values()} == {"unchanged"}
    assert pids(repo, "local") == before

    values = repo / "config/clusters/local/prod1.values.yaml"
    values.write_text(values.read_text() + "custom:\n  changed: true\n")
    upgrade = hubfleet("--repo", repo, "deploy", "local", "--report", report, env=_env())
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    statuses_after = {hub: job["status"] for (_, hub), job in report_of(report).items()}
    assert statuses_after == {"staging": "unchanged", "prod1": "succeeded", "prod2": "unchanged"}
    after = pids(repo, "local")
    assert after["prod1"] != before["prod1"]
    assert after["staging"] == before["staging"] and after["prod2"] == before["prod2"]
    url = {s.hub: s for s in hub_status(repo / ".hubfleet/local/local")}["prod1"].url
    assert api(url, "users/alice") == 200  # users survive the upgrade

    stopped = hubfleet("--repo", repo, "local", "stop", "local", env=_env())
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not any(s.running for s in hub_status(repo / ".hubfleet/local/local"))


def test_failing_canary_skips_production_while_another_cluster_deploys(
    repo: Path, tmp_path: Path
) -> None:
    add_local_cluster(repo, "local2", free_base_port())
    staging = repo / "config/clusters/local/staging.values.yaml"
    staging.write_text(
        staging.read_text() + "hub:\n  extraConfig:\n    boom: raise RuntimeError('canary')\n"
    )
    plan = {
        "support_jobs": [],
        "staging_jobs": [
            {
                "cluster_name": c,
                "provider": "local",
                "hub_name": "staging",
                "reasons": ["test"],
                "choice_reason": "test",
            }
            for c in ("local", "local2")
        ],
        "prod_jobs": [
            {
                "cluster_name": c,
                "provider": "local",
                "hub_name": h,
                "reasons": ["test"],
                "choice_reason": "test",
            }
            for c in ("local", "local2")
            for h in ("prod1", "prod2")
        ],
        # What the plan was made from (deploy --plan makes it again): both clusters changed.
        "planned": {
            "base": None,
            "head": None,
            "changes": [
                {"path": f"config/clusters/{c}/cluster.yaml", "status": "M"}
                for c in ("local", "local2")
            ],
            "labels": [],
        },
    }
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    report = tmp_path / "report.json"
    result = hubfleet("--repo", repo, "deploy", "--plan", plan_file, "--report", report, env=_env())
    assert result.returncode == 1, result.stdout + result.stderr
    jobs = report_of(report)
    assert jobs[("local", "staging")]["status"] == "failed"
    for hub in ("prod1", "prod2"):
        job = jobs[("local", hub)]
        assert job["status"] == "skipped"
        assert "staging" in " ".join(job["reasons"]) + job.get("message", "")
    assert {jobs[("local2", h)]["status"] for h in ("staging", "prod1", "prod2")} == {"succeeded"}


def test_canary_whose_default_url_is_no_page_fails_the_gate(repo: Path, tmp_path: Path) -> None:
    """The demo's old `defaultUrl: /tree` without Notebook installed: the user's page 404s."""
    staging = repo / "config/clusters/local/staging.values.yaml"
    staging.write_text(staging.read_text() + "singleuser:\n  defaultUrl: /tree\n")
    report = tmp_path / "report.json"
    result = hubfleet("--repo", repo, "deploy", "local", "--report", report, env=_env())
    assert result.returncode == 1, result.stdout + result.stderr
    jobs = report_of(report)
    canary = jobs[("local", "staging")]
    assert canary["status"] == "failed"
    assert "step open_default_url failed" in canary["message"]
    assert "/user/hubfleet-health-check/tree: HTTP 404" in canary["message"]
    assert {jobs[("local", h)]["status"] for h in ("prod1", "prod2")} == {"skipped"}
    [status] = [s for s in hub_status(repo / ".hubfleet/local/local") if s.hub == "staging"]
    assert status.default_url == "/tree"
