"""Fake helm, kubectl, gcloud, aws, az, terraform and gh for tests (DESIGN.md section 6).

    fakes = install_fakes(tmp_path)              # wrappers in tmp_path/fakebin
    fakes.script([{"tool": "helm", "args": ["hub-a"], "exit": 1, "stderr": "boom"}])
    run(["helm", "upgrade", "hub-a", ...], redactor=r, env=fakes.env())
    fakes.calls("helm")                          # one dict per finished call

`FakeTools.env()` gives a PATH with the fakes first (a real kubectl may be on the
machine's PATH); the `fake_tools` fixture also puts it into os.environ for the
test. The record format and the script rules are documented in `fakebin.py`.
Behind the fakes, every test's PATH has stand-ins for the real cloud CLIs (gcloud,
aws, az, ...: `standins.py`): a program a test forgot to fake exits 97 and fails it.
"""

from __future__ import annotations

import base64
import json
import marshal
import os
import shlex
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

FAKEBIN = Path(__file__).with_name("fakebin.py")
TOOLS = ("helm", "kubectl", "gcloud", "aws", "az", "terraform", "gh")


@dataclass(frozen=True)
class FakeTools:
    bin_dir: Path
    record_dir: Path
    script_path: Path
    tools: tuple[str, ...] = field(default=TOOLS)

    @property
    def path(self) -> str:
        """PATH with the fakes first, then the real PATH."""
        return f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Variables to pass to `hubfleet.base.runner.run(env=...)`."""
        return {"PATH": self.path, **(extra or {})}

    def tool(self, name: str) -> Path:
        return self.bin_dir / name

    def script(
        self,
        rules: Sequence[Mapping[str, Any]],
        default: Mapping[str, Any] | None = None,
        *,
        helm_state: Path | str | None = None,
    ) -> None:
        """Replace the script: a list of rules, first match wins (see fakebin.py);
        `helm_state`: the folder of the stateful fake helm's clusters (helmstate.py)."""
        payload: dict[str, Any] = {
            "rules": [dict(r) for r in rules],
            "default": dict(default or {}),
        }
        if helm_state is not None:
            payload["helm_state"] = str(helm_state)
        # JSON for people; the fakes read the marshal copy (fast to load, see fakebin.py).
        for path, data in (
            (self.script_path, json.dumps(payload, indent=1).encode()),
            (self.script_path.with_suffix(".marshal"), marshal.dumps(payload)),
        ):
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)

    def calls(self, tool: str) -> list[dict[str, Any]]:
        """Every finished call of `tool`, in the order they ended."""
        return _read_jsonl(self.record_dir / f"{tool}.jsonl")

    def started(self, tool: str) -> list[dict[str, Any]]:
        """Every call of `tool` that started (finished or not): tool, argv, pid, start."""
        return _read_jsonl(self.record_dir / f"{tool}.started.jsonl")

    def stdin(self, call: Mapping[str, Any]) -> bytes:
        data = call.get("stdin")
        return base64.b64decode(data) if data else b""

    def reset(self) -> None:
        for record in [*self.record_dir.glob("*.jsonl"), *self.record_dir.glob("*.state-*")]:
            record.unlink()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def install_fakes(tmp_path: Path, tools: Sequence[str] = TOOLS) -> FakeTools:
    """Write one wrapper per tool into `tmp_path/fakebin`; records go to `tmp_path/fakerec`."""
    bin_dir = tmp_path / "fakebin"
    record_dir = tmp_path / "fakerec"
    bin_dir.mkdir(parents=True, exist_ok=True)
    record_dir.mkdir(parents=True, exist_ok=True)
    script_path = tmp_path / "fakescript.json"
    for tool in tools:
        wrapper = bin_dir / tool
        command = shlex.join(
            [
                sys.executable,
                "-I",
                "-S",
                str(FAKEBIN),
                "--fake-tool",
                tool,
                "--fake-record-dir",
                str(record_dir),
                "--fake-script",
                str(script_path.with_suffix(".marshal")),
                "--",
            ]
        )
        wrapper.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        wrapper.chmod(0o755)
    return FakeTools(bin_dir, record_dir, script_path, tuple(tools))


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTools]:
    """The fakes installed and first on os.environ's PATH for this test."""
    fakes = install_fakes(tmp_path)
    monkeypatch.setenv("PATH", fakes.path)
    yield fakes
