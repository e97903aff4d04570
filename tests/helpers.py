"""Helpers shared by every room's tests: git with a throwaway identity, a fleet in a git
repository, the CLI in a subprocess, copies of the fixture fleets, a silent server, and
free ports that no other pytest-xdist worker picks. Fixtures built on them live in
tests/conftest.py."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from hubfleet.local.runtime import port_is_free

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NODE_BIN = ROOT / "node_modules" / ".bin"
EXAMPLE_FLEET = ROOT / "examples" / "fleet"
LAYOUT = ROOT / "tests" / "fixtures" / "layout2i2c" / "fleet"

# git for the tests' own commits: a throwaway identity, no system or user configuration.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(root: Path, *args: str) -> str:
    """git in `root` with a throwaway identity; its stdout, stripped."""
    return subprocess.run(
        ["git", *args],
        cwd=root,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@dataclass
class GitFleet:
    """A fleet folder that is a git repository, for tests that commit changes to it."""

    root: Path

    @classmethod
    def started(cls, root: Path) -> GitFleet:
        """A git repository of `root`, its files committed and tagged `base`."""
        repo = cls(root)
        repo.git("init", "-q", "-b", "main")
        repo.commit("base")
        repo.git("tag", "base")
        return repo

    def git(self, *args: str) -> str:
        return git(self.root, *args)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def path(self, relative: str) -> Path:
        return self.root / relative

    def edit(self, relative: str, old: str, new: str) -> None:
        file = self.path(relative)
        text = file.read_text()
        assert old in text, f"{old!r} not in {relative}"
        file.write_text(text.replace(old, new, 1))


def empty_fleet(tmp_path: Path) -> Path:
    """A fleet folder with no cluster yet (`config/clusters/` empty)."""
    root = tmp_path / "fleet"
    (root / "config" / "clusters").mkdir(parents=True)
    return root


def copy_layout(tmp_path: Path) -> Path:
    """A writable copy of the layout2i2c fixture fleet, its links kept as links."""
    target = tmp_path / "fleet"
    shutil.copytree(LAYOUT, target, symlinks=True)
    return target


def hubfleet(
    *args: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`hubfleet ARGS` in a subprocess (`python -m hubfleet`), with the venv's programs and
    configurable-http-proxy first on PATH; `env` replaces the inherited environment."""
    base = dict(os.environ if env is None else env)
    base["PATH"] = os.pathsep.join([str(BIN), str(NODE_BIN), base.get("PATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "hubfleet", *map(str, args)],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


@contextlib.contextmanager
def silent_server(backlog: int = 64) -> Iterator[tuple[int, list[socket.socket]]]:
    """A server on 127.0.0.1 (a free port) that accepts connections and never answers:
    (its port, the connections it holds)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(backlog)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield server.getsockname()[1], held
    finally:
        stop.set()
        acceptor.join()
        for connection in held:
            connection.close()
        server.close()


# Local hubs listen on fixed ports from a base port up (hub, proxy API, ...), so the
# tests pick base ports below the ephemeral range, each pytest-xdist worker in a slice
# of its own: two workers never race for the same range.
PORTS = (20000, 32000)


def worker_ports() -> tuple[int, int]:
    """The slice of PORTS this pytest-xdist worker (or the only process) picks from."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker.removeprefix("gw") or 0) % count
    size = (PORTS[1] - PORTS[0]) // count
    return PORTS[0] + index * size, PORTS[0] + (index + 1) * size


def free_base_port(count: int = 8) -> int:
    """A base port with `count` free ports after it, in this worker's slice of PORTS."""
    low, high = worker_ports()
    for _ in range(200):
        base = random.randrange(low, high - count)
        if all(port_is_free(base + n) for n in range(count)):
            return base
    raise RuntimeError(f"no {count} free ports in {low}-{high}")
