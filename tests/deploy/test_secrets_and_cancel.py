"""Secrets reach helm only through pipes and never leak; cancellation cleans up everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import AGE_KEY, SECRET_MARKER, alive
from tests.deploy.conftest import DeployEnv, by_job, cluster_rule, deployer

from hubfleet.release import pipeline
from hubfleet.secrets.sops import Sops

ALL = ["alpha", "beta", "delta", "gamma"]


def _files_with_marker(root: Path, skip: tuple[Path, ...] = ()) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not any(path.is_relative_to(s) for s in skip):
            data = path.read_bytes()
            if SECRET_MARKER.encode() in data:
                found.append(path)
    return found


def test_values_only_through_pipes_and_no_leak(
    run_cli: Any, denv: DeployEnv, tmp_path: Path
) -> None:
    report = denv.out / "report.json"
    junit = denv.out / "junit.xml"
    summary = denv.out / "summary.md"
    os.environ["GITHUB_STEP_SUMMARY"] = str(summary)
    try:
        # Make helm print a secret it received, and fail on one release, so outputs carry text.
        denv.fakes.script(
            [
                cluster_rule(
                    "beta", "research", exit=1, stderr="Error: token proxy-token-beta-research-s3cr3t"
                ),
                {"tool": "helm", "args": ["upgrade"], "stdout": "REVISION: 7\nproxy-token-alpha-staging-s3cr3t\n"},
            ]
        )  # fmt: skip
        result = run_cli(
            "--repo", denv.fleet, "--debug", "deploy", "--plan", denv.plan(ALL),
            "--report", report, "--junit", junit, "--progress", "plain", "--no-health-check",
        )  # fmt: skip
    finally:
        del os.environ["GITHUB_STEP_SUMMARY"]
    assert result.exit_code == 1
    upgrades = denv.upgrades()
    assert len(upgrades) == 13
    decrypted_seen = False
    for call in upgrades:
        assert call["values"], call["argv"]
        for values in call["values"]:
            assert values["kind"] == "fifo", values
            assert values["path"].startswith("/dev/fd/")
            decrypted_seen |= SECRET_MARKER in (values["content"] or "")
    assert decrypted_seen  # helm did get the decrypted values, through the pipes
    # No secret in stdout/stderr (--debug too), the report, JUnit, the step summary.
    assert SECRET_MARKER not in result.output
    for path in (report, junit, summary):
        assert SECRET_MARKER not in path.read_text(), path
    jobs = by_job(json.loads(report.read_text()))
    assert jobs["alpha/staging"]["helm_revision"] == 7
    assert "[REDACTED]" in jobs["beta/research"]["message"]
    # No decrypted value anywhere on disk: temp folders, HOME, the repository (the fakes'
    # own recordings are the test's instrument and are skipped).
    assert list(denv.tmp.iterdir()) == []
    instruments = (
        denv.fakes.record_dir,
        denv.fakes.script_path,
        denv.fakes.script_path.with_suffix(".marshal"),  # the copy the fakes read
    )
    leaks = _files_with_marker(tmp_path, skip=instruments)
    assert leaks == []


def test_each_values_file_read_and_decrypted_once(
    denv: DeployEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alpha's common.values.yaml serves three hubs: one read, one decrypt per file."""
    reads: list[str] = []
    decrypts: list[str] = []
    read_file, decrypt = pipeline.read_fleet_file, Sops.decrypt

    def counting_read(root: Path, relative: str) -> bytes:
        reads.append(Path(relative).name)
        return read_file(root, relative)

    def counting_decrypt(sops: Sops, path: Path, content: bytes | None = None) -> bytes:
        decrypts.append(path.name)
        return decrypt(sops, path, content)

    monkeypatch.setattr(pipeline, "read_fleet_file", counting_read)
    monkeypatch.setattr(Sops, "decrypt", counting_decrypt)
    report = deployer(denv, ["alpha"]).run()
    assert report.exit_code == 0
    values = [c["values"] for c in denv.upgrades()]
    assert len(values) == 4 and all(values)
    assert sorted(reads) == sorted(set(reads)) and "common.values.yaml" in reads
    assert (
        sorted(decrypts) == sorted(set(decrypts)) and "enc-support.secret.values.yaml" in decrypts
    )


def _start_deploy(denv: DeployEnv, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TMPDIR": str(denv.tmp),
        "HOME": str(denv.home),
        "SOPS_AGE_KEY_FILE": str(AGE_KEY),
        "PATH": denv.fakes.path,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "hubfleet", "--repo", str(denv.fleet), "deploy",
         "--plan", str(denv.plan(ALL)), "--report", str(denv.out / "report.json"),
         "--progress", "plain", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cancellation_mid_run(denv: DeployEnv, sig: signal.Signals) -> None:
    # Every upgrade hangs; alpha's support ignores SIGTERM (killed after the grace period).
    denv.fakes.script(
        [
            cluster_rule("alpha", "support", hang=True, ignore_sigterm=True),
            {"tool": "helm", "args": ["upgrade"], "hang": True},
        ]
    )
    process = _start_deploy(denv)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        started = [c for c in denv.fakes.started("helm") if c["argv"][:1] == ["upgrade"]]
        if len(started) >= 3:
            break
        time.sleep(0.05)
    assert len(started) >= 3
    assert any(denv.tmp.iterdir())  # credential folders exist while the deploy runs
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    for call in denv.fakes.started("helm"):
        assert not alive(call["pid"]), call["argv"]
    assert list(denv.tmp.iterdir()) == []
    report = json.loads((denv.out / "report.json").read_text())
    statuses = {j["status"] for j in report["jobs"]}
    assert statuses <= {"cancelled", "succeeded"}
    assert "cancelled" in statuses and report["interrupted"] is True
    cancelled = [j for j in report["jobs"] if j["status"] == "cancelled"]
    assert any(j["message"] == "stopped by an interrupt" for j in cancelled)
    assert SECRET_MARKER not in out.decode() + err.decode()
