"""The local provider takes part: its hubs carry the same record, `hubfleet status`
reads it back (a real JupyterHub, deployed by the real command)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hubfleet.local.records import history
from tests.conftest import AGE_KEY
from tests.helpers import GitFleet, hubfleet
from tests.local.hubs import free_base_port, kill_everything

pytestmark = pytest.mark.slow


# The record is what this file proves; each deploy's health check would start a user
# server (tens of seconds under load) and is proven in tests/local/test_deploy_local.py.
DEPLOY = ("--no-health-check",)


def _env() -> dict[str, str]:
    return {**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEY), "SOPS_DISABLE_VERSION_CHECK": "1"}


@pytest.fixture
def local_fleet(fleet_copy: Path) -> Iterator[Path]:
    path = fleet_copy / "config/clusters/local/cluster.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["local"]["base_port"] = free_base_port()
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    (fleet_copy / ".gitignore").write_text(".hubfleet/\n")
    try:
        yield fleet_copy
    finally:
        kill_everything(fleet_copy / ".hubfleet/local/local")


def status(repo: Path) -> dict[str, dict[str, object]]:
    result = hubfleet("--repo", repo, "status", "local", "--output", "json", env=_env())
    assert result.returncode == 0, result.stdout + result.stderr
    [cluster] = json.loads(result.stdout)["clusters"]
    return {row["release"]: row for row in cluster["rows"]}


def test_local_hubs_carry_the_record(local_fleet: Path) -> None:
    repo = GitFleet.started(local_fleet)
    head = repo.git("rev-parse", "HEAD")
    deployed = hubfleet("--repo", local_fleet, "deploy", "local", "staging", *DEPLOY, env=_env())
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    rows = status(local_fleet)
    staging = rows["staging"]
    assert staging["state"] == "in-sync" and staging["commit"] == head
    assert staging["made_by"] == "hubfleet" and staging["revision"] == 1
    assert rows["prod1"]["state"] == "missing"
    hub_dir = local_fleet / ".hubfleet/local/local/staging"
    assert len(history(hub_dir)) == 1
    # The same inputs again: the hub is unchanged, no new revision.
    again = hubfleet("--repo", local_fleet, "deploy", "local", "staging", *DEPLOY, env=_env())
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(history(hub_dir)) == 1
    # git moves on: the hub is behind until it is deployed again.
    repo.edit("config/clusters/local/staging.values.yaml", "\n", "\n# changed\n")
    new_head = repo.commit("change staging")
    assert status(local_fleet)["staging"]["state"] == "behind"
    redeployed = hubfleet("--repo", local_fleet, "deploy", "local", "staging", *DEPLOY, env=_env())
    assert redeployed.returncode == 0, redeployed.stdout + redeployed.stderr
    staging = status(local_fleet)["staging"]
    assert staging["state"] == "in-sync" and staging["commit"] == new_head
    assert staging["revision"] == 2
    assert [r["status"] for r in history(hub_dir)] == ["superseded", "deployed"]
