"""A deploy that fails before it starts, or cannot write its report, says so cleanly.

- helm missing: exit 1, and the report (when asked for) lists every job as failed
  with the reason;
- a report folder that cannot take a file: exit 1 before anything is deployed;
- out of disk space while writing the report (ENOSPC from the OS's write, injected
  for the report's folder only): exit 1 with a clear line, no partial file, no
  temporary file left.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
from tests.deploy.conftest import DeployEnv

CLUSTERS = ["alpha", "delta"]


def _deploy(run_cli: Any, denv: DeployEnv, report: Path) -> Any:
    return run_cli(
        "--repo", denv.fleet, "deploy", "--plan", denv.plan(CLUSTERS), "--report", report,
        "--progress", "plain", "--no-health-check",
    )  # fmt: skip


def test_helm_missing_still_writes_the_report(run_cli: Any, denv: DeployEnv) -> None:
    denv.fakes.tool("helm").unlink()
    report = denv.out / "report.json"
    result = _deploy(run_cli, denv, report)
    assert result.exit_code == 1, result.output
    assert "helm is not installed" in result.stderr
    assert "Traceback" not in result.output
    data = json.loads(report.read_text())
    assert len(data["jobs"]) == 8
    assert {j["status"] for j in data["jobs"]} == {"failed"}
    assert all(j["message"].startswith("not started: helm is not installed") for j in data["jobs"])
    assert list(denv.tmp.iterdir()) == []


def test_unwritable_report_folder_fails_before_the_deploy(run_cli: Any, denv: DeployEnv) -> None:
    blocker = denv.out / "not-a-folder"
    blocker.write_text("")
    result = _deploy(run_cli, denv, blocker / "report.json")
    assert result.exit_code == 1, result.output
    assert f"cannot write {blocker / 'report.json'}" in result.stderr
    assert denv.fakes.started("helm") == []  # nothing ran, not even `helm version`
    assert "Traceback" not in result.output


def test_out_of_disk_for_the_report_leaves_no_partial_file(
    run_cli: Any, denv: DeployEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    full = str(denv.out)
    written: list[int] = []

    def write(fd: int, data: Any) -> int:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.startswith(full):
            # A full disk takes a few bytes, then refuses the rest.
            if not written:
                written.append(real_write(fd, bytes(data[:10])))
                return written[0]
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    report = denv.out / "report.json"
    result = _deploy(run_cli, denv, report)
    assert result.exit_code == 1, result.output
    assert f"cannot write {report}: no space left on the device" in result.stderr
    assert "Traceback" not in result.output
    assert written  # the write did reach the report's folder, and failed there
    assert list(denv.out.iterdir()) == [denv.out / "plan.json"]  # no report, no temp file
    assert len(denv.upgrades()) == 8  # the deploy itself ran
