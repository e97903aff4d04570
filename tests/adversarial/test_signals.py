"""SIGHUP, SIGQUIT, SIGTERM and SIGINT at several moments of a real `hubfleet deploy`.

Each test starts the console script (or `python -m hubfleet`) in a child process on
the test fleet's Kubernetes clusters, with the fake helm/gcloud scripted to hang,
sends one signal at one moment, and checks what a dropped SSH session or a CI
runner's stop must leave: exit 130, no traceback, no child process alive (the
fakes record every pid they ran as), no credential folder left in TMPDIR, and the
report written with the jobs cancelled.

Moments: `early` (as soon as the handlers are installed, while the CLI is still
being imported: detected from /proc/PID/status, not by a timed guess), `helm-version`
(the deploy's first program, before any job), `credentials` (gcloud logging in,
with alpha's decrypted key in its private folder), `upgrade` (helm upgrades running).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AGE_KEY, SECRET_MARKER, alive
from tests.deploy.conftest import DeployEnv, denv

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

__all__ = ["denv"]

ALL = ["alpha", "beta", "delta", "gamma"]
CONSOLE_SCRIPT = Path(sys.executable).parent / "hubfleet"
WAIT_S = 60.0
# Handlers every signal: the bits of /proc/PID/status SigCgt hubfleet sets at its start.
OURS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
SIGNALS = [signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM, signal.SIGINT]


def _command() -> list[str]:
    if CONSOLE_SCRIPT.exists():
        return [str(CONSOLE_SCRIPT)]
    return [sys.executable, "-m", "hubfleet"]


def _start(denv: DeployEnv, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TMPDIR": str(denv.tmp),
        "HOME": str(denv.home),
        "SOPS_AGE_KEY_FILE": str(AGE_KEY),
        "PATH": denv.fakes.path,
    }
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.Popen(
        [*_command(), "--repo", str(denv.fleet), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _deploy(denv: DeployEnv) -> subprocess.Popen[bytes]:
    return _start(
        denv, "deploy", "--plan", str(denv.plan(ALL)), "--report", str(denv.out / "report.json"),
        "--progress", "plain", "--no-health-check",
    )  # fmt: skip


def _until(condition: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"hubfleet ended before {what}: {process.stderr.read()!r}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no {what} within {WAIT_S}s")
        time.sleep(0.002)


def _caught(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


def handlers_installed(pid: int) -> bool:
    try:
        mask = _caught(pid)
    except FileNotFoundError:
        return False
    return all(mask & (1 << (sig - 1)) for sig in OURS)


def _imported(pid: int, module: str) -> bool:
    """Whether the process has opened `module`'s package (its files are mapped or open)."""
    try:
        return any(
            module in os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return False


def _started(denv: DeployEnv, tool: str, verb: str | None = None) -> list[dict[str, Any]]:
    return [c for c in denv.fakes.started(tool) if verb is None or c["argv"][:1] == [verb]]


def _ended(denv: DeployEnv, process: subprocess.Popen[bytes]) -> tuple[str, dict[str, Any]]:
    out, err = process.communicate(timeout=WAIT_S)
    text = out.decode() + err.decode()
    assert process.returncode == 130, text
    assert "Traceback" not in text, text
    assert SECRET_MARKER not in text
    for tool in ("helm", "gcloud", "aws", "az", "kubectl"):
        for call in denv.fakes.started(tool):
            assert not alive(call["pid"]), (tool, call["argv"])
    assert list(denv.tmp.iterdir()) == []  # no credential folder, no kubeconfig
    report = json.loads((denv.out / "report.json").read_text())
    assert report["interrupted"] is True
    assert list(denv.out.glob(".*")) == []  # no temporary report file left
    return text, report


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_signal_while_hubfleet_starts(denv: DeployEnv, sig: signal.Signals) -> None:
    """Before the imports finish: noted, then every job is cancelled before it starts."""
    denv.fakes.script([{"tool": "helm", "args": ["upgrade"], "hang": True}])
    process = _deploy(denv)
    started = time.monotonic()
    _until(lambda: handlers_installed(process.pid), process, "signal handlers")
    installed_after = time.monotonic() - started
    assert not _imported(process.pid, "hubfleet/cli/deploy")  # not yet reading the command
    process.send_signal(sig)
    _text, report = _ended(denv, process)
    assert _started(denv, "helm", "upgrade") == []
    assert {j["status"] for j in report["jobs"]} == {"cancelled"}
    assert {j["message"] for j in report["jobs"]} == {"cancelled before it started"}
    assert len(report["jobs"]) == 13
    print(f"handlers installed {installed_after * 1000:.0f} ms after the start")


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT], ids=lambda s: s.name)
def test_signal_during_helm_version(denv: DeployEnv, sig: signal.Signals) -> None:
    """The deploy's first program (before any job) is stopped; no job runs."""
    denv.fakes.script(
        [{"tool": "helm", "args": ["version"], "hang": True},
         {"tool": "helm", "args": ["upgrade"], "hang": True}]
    )  # fmt: skip
    process = _deploy(denv)
    _until(lambda: bool(_started(denv, "helm", "version")), process, "helm version")
    process.send_signal(sig)
    _text, report = _ended(denv, process)
    assert _started(denv, "helm", "upgrade") == []
    assert {j["status"] for j in report["jobs"]} == {"cancelled"}


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=lambda s: s.name)
def test_signal_during_credentials(denv: DeployEnv, sig: signal.Signals) -> None:
    """gcloud hangs while alpha's decrypted key sits in its private folder."""
    denv.fakes.script(
        [{"tool": "gcloud", "hang": True}, {"tool": "helm", "args": ["upgrade"], "hang": True}]
    )
    process = _deploy(denv)
    _until(lambda: bool(_started(denv, "gcloud")), process, "gcloud")
    assert any(denv.tmp.iterdir())
    process.send_signal(sig)
    _text, report = _ended(denv, process)
    alpha = [j for j in report["jobs"] if j["cluster_name"] == "alpha"]
    assert alpha and {j["status"] for j in alpha} == {"cancelled"}


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_signal_during_helm_upgrades(denv: DeployEnv, sig: signal.Signals) -> None:
    """helm upgrades run in their own sessions: hubfleet stops them, whatever the signal."""
    denv.fakes.script([{"tool": "helm", "args": ["upgrade"], "hang": True}])
    process = _deploy(denv)
    _until(lambda: len(_started(denv, "helm", "upgrade")) >= 3, process, "three upgrades")
    assert any(denv.tmp.iterdir())
    process.send_signal(sig)
    _text, report = _ended(denv, process)
    statuses = {j["status"] for j in report["jobs"]}
    assert statuses <= {"cancelled", "succeeded"} and "cancelled" in statuses


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_signal_while_another_command_starts(denv: DeployEnv, sig: signal.Signals) -> None:
    """Any other command: exit 130 with one line, no traceback, even in the first moment."""
    process = _start(denv, "validate")
    _until(lambda: handlers_installed(process.pid), process, "signal handlers")
    process.send_signal(sig)
    _out, err = process.communicate(timeout=WAIT_S)
    assert process.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    assert err.decode().strip() == "error: interrupted"
