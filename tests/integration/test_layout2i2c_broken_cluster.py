"""A broken cluster beside healthy ones in the 2i2c layout, end to end with the real
charts (issue 24 point 2, docs/isolation.md): aws-two's cluster.yaml still lists a
secret file that was deleted (the case of that layout's history). validate renders
every release of the other clusters and exits 3; the plan of a basehub and support
change plans every release except aws-two's and lists it; deploy --plan upgrades
them through the fake helm, never aws-two, and exits 3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult
from tests.fakes import FakeTools
from tests.integration.test_layout2i2c_e2e import RELEASES, fakes, label_of, layout

pytestmark = pytest.mark.slow

__all__ = ["fakes", "layout"]  # fixtures used here

BROKEN = "aws-two"
DELETED = f"config/clusters/{BROKEN}/enc-lis.secret.values.yaml"
HEALTHY = [r for r in RELEASES if not r.startswith(f"{BROKEN}/")]


def test_validate_plan_and_deploy_around_the_broken_cluster(
    run_cli: Any, layout: Path, fakes: FakeTools, tmp_path: Path
) -> None:
    (layout / DELETED).unlink()

    checked: CliResult = run_cli("--repo", layout, "validate", "--isolate", "-o", "json")
    assert checked.exit_code == 3, checked.output
    data = json.loads(checked.stdout)
    assert data["broken_clusters"] == [BROKEN]
    assert data["rendered"] == HEALTHY  # 8 releases of gcp-one and azure-three
    [error] = [p for p in data["problems"] if p["severity"] == "error"]
    assert error["path"] == f"config/clusters/{BROKEN}/cluster.yaml" and error["line"] > 0

    changed = tmp_path / "changed.txt"
    changed.write_text("helm-charts/basehub/values.yaml\nhelm-charts/support/values.yaml\n")
    planned: CliResult = run_cli("--repo", layout, "plan", "--changed-files", changed, "-o", "json")
    assert planned.exit_code == 3, planned.output
    plan_data = json.loads(planned.stdout)
    jobs = [
        f"{j['cluster_name']}/{j.get('hub_name') or 'support'}"
        for key in ("support_jobs", "staging_jobs", "prod_jobs")
        for j in plan_data[key]
    ]
    assert sorted(jobs) == HEALTHY
    assert [b["cluster_name"] for b in plan_data["broken"]] == [BROKEN]
    plan = tmp_path / "plan.json"
    plan.write_text(planned.stdout)

    report = tmp_path / "report.json"
    deployed: CliResult = run_cli(
        "--repo", layout, "deploy", "--plan", plan, "--report", report,
        "--progress", "plain", "--no-health-check",
    )  # fmt: skip
    assert deployed.exit_code == 3, deployed.output
    assert f"{BROKEN}: not deployed, its configuration is broken" in deployed.stdout
    upgrades = [c for c in fakes.calls("helm") if c["argv"][:1] == ["upgrade"]]
    assert sorted(label_of(c) for c in upgrades) == HEALTHY
    statuses = {j["status"] for j in json.loads(report.read_text())["jobs"]}
    assert statuses == {"succeeded"}
