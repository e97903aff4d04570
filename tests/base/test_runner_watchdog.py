"""The runner's watchdog: a process killed with SIGKILL leaves no program and no folder.

A child Python process starts programs through `hubfleet.base.runner` (one
`background`, one `run`, each in its own process group with a grandchild of its
own) and registers a folder; the test kills it with SIGKILL and checks that the
programs, their grandchildren and the folder are gone. A normal exit leaves no
watchdog behind.
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

from tests.conftest import alive

from hubfleet.base import watchdog

CHILD = r"""
import json, sys, threading, time
from pathlib import Path
from hubfleet.base import runner, watchdog
from hubfleet.base.redact import Redactor

out, folder = Path(sys.argv[1]), Path(sys.argv[2])
folder.mkdir(mode=0o700)
(folder / "kubeconfig").write_text("token: s3cr3t")
watchdog.watch_folder(folder)
shell = "sleep 300 & echo $! > {}; exec sleep 300"
r = Redactor()
def run_one():
    runner.run(["sh", "-c", shell.format(out / "run-grandchild")], redactor=r, timeout=600)
threading.Thread(target=run_one, daemon=True).start()
with runner.background(["sh", "-c", shell.format(out / "bg-grandchild")], redactor=r) as bg:
    # Both programs told to the watchdog: the runner lists a program after it told the
    # watchdog its group, and the run's thread may not have reached that yet.
    while len(runner.live_children()) < 2:
        time.sleep(0.005)
    pids = out / "pids.tmp"  # renamed whole: the test never reads half a file
    pids.write_text(json.dumps({"watchdog": watchdog.watchdog_pid(), "bg": bg.pid}))
    pids.replace(out / "pids.json")
    threading.Event().wait()
"""


def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s")
        time.sleep(0.01)


def _pids(out: Path) -> list[int]:
    found = json.loads((out / "pids.json").read_text())
    return [
        found["bg"],
        int((out / "run-grandchild").read_text()),
        int((out / "bg-grandchild").read_text()),
    ]


def test_sigkill_of_hubfleet_stops_its_programs_and_removes_its_folders(tmp_path: Path) -> None:
    out, folder = tmp_path / "out", tmp_path / "hubfleet-creds-x"
    out.mkdir()
    process = subprocess.Popen([sys.executable, "-c", CHILD, str(out), str(folder)])
    try:
        _until(
            lambda: (
                all((out / n).exists() for n in ("pids.json", "run-grandchild", "bg-grandchild"))
                and bool((out / "run-grandchild").read_text().strip())
                and bool((out / "bg-grandchild").read_text().strip())
            ),
            "the programs",
        )
        programs = _pids(out)
        guard = json.loads((out / "pids.json").read_text())["watchdog"]
        assert guard and alive(guard) and all(alive(pid) for pid in programs)
        process.kill()
        process.wait()
        _until(lambda: not any(alive(pid) for pid in programs), "programs stopped", 15)
        _until(lambda: not folder.exists(), "folder removed", 15)
        _until(lambda: not alive(guard), "the watchdog's exit", 15)
    finally:
        process.kill()
        for name in ("run-grandchild", "bg-grandchild"):
            path = out / name
            if path.exists() and path.read_text().strip():
                pid = int(path.read_text())
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)


def test_watchdog_ignores_what_was_released(tmp_path: Path) -> None:
    """A released folder and group are not touched; garbage lines are ignored."""
    groups: set[int] = set()
    folders: set[bytes] = set()
    for line in (b"+12", b"d" + b"/x".hex().encode(), b"-12", b"k" + b"/x".hex().encode(),
                 b"+oops", b"dzz", b"?", b"+7"):  # fmt: skip
        watchdog._apply(line, groups, folders)
    assert groups == {7} and folders == set()
