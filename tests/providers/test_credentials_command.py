"""`hubfleet credentials CLUSTER -- CMD`: the command gets the private kubeconfig, then it is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import AGE_KEY


def _env(tmp: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBECONFIG"))}
    env |= {
        "TMPDIR": str(tmp),
        "HOME": str(home),
        "SOPS_AGE_KEY_FILE": str(AGE_KEY),
        "KUBECONFIG": "/parent/kubeconfig",
        "AWS_SECRET_ACCESS_KEY": "parent-secret",
    }
    return env


def _credentials(fleet: Path, cluster: str, *command: str) -> list[str]:
    """`hubfleet --repo FLEET credentials CLUSTER -- COMMAND...` in a fresh interpreter."""
    return [sys.executable, "-m", "hubfleet", "--repo", str(fleet), "credentials", cluster,
            "--", *command]  # fmt: skip


def test_command_runs_with_private_kubeconfig(fleet_copy: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    script = 'echo "K=$KUBECONFIG"; stat -c %a "$KUBECONFIG" "$(dirname $KUBECONFIG)"; env'
    result = subprocess.run(
        _credentials(fleet_copy, "delta", "sh", "-c", script),
        env=_env(tmp, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    kubeconfig = lines[0].removeprefix("K=")
    assert kubeconfig.startswith(str(tmp)) and kubeconfig.endswith("/kubeconfig")
    assert lines[1:3] == ["600", "700"]
    assert "AWS_SECRET_ACCESS_KEY" not in result.stdout
    assert list(tmp.iterdir()) == []


def test_exit_code_of_the_command(fleet_copy: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        _credentials(fleet_copy, "delta", "sh", "-c", "exit 7"),
        env=_env(tmp_path, tmp_path),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 7


def test_sigterm_removes_the_private_folder(fleet_copy: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    process = subprocess.Popen(
        _credentials(fleet_copy, "delta", "sleep", "60"),
        env=_env(tmp, tmp_path),
    )
    deadline = time.monotonic() + 30
    while not any(tmp.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    [folder] = list(tmp.iterdir())
    assert (folder / "kubeconfig").exists()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert not folder.exists()
    assert list(tmp.iterdir()) == []


def test_unknown_cluster_is_bad_input(fleet_copy: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        _credentials(fleet_copy, "delt", "true"),
        env=_env(tmp_path, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "did you mean 'delta'" in result.stderr
