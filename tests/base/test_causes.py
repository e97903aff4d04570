"""The lines of a failed program's output that say why (what the console shows of a failure)."""

from __future__ import annotations

import pytest

from hubfleet.base.causes import cause_lines


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
            "    raise RuntimeError('boom')\nRuntimeError: boom\n",
            ["RuntimeError: boom"],
            id="traceback",
        ),
        pytest.param(
            "[E 2026-01-01 10:00:00.000 JupyterHub app:4090]\n    Traceback (most recent call last):\n"
            '      File "app.py", line 1, in launch\n        await self.initialize(argv)\n'
            "    RuntimeError: first run broke\n    \n",
            ["RuntimeError: first run broke"],
            id="indented-traceback-in-a-log",
        ),
        pytest.param(
            "[I 2026-01-01 10:00:00.000 JupyterHub app:1] Starting\n"
            "[C 2026-01-01 10:00:01.000 JupyterHub application:119] Bad config: 'x' could not be imported\n",
            ["Bad config: 'x' could not be imported"],
            id="jupyterhub-log",
        ),
        pytest.param(
            'coalesce.go:237: warning: skipped value\nError: UPGRADE FAILED: cannot patch "hub"\n',
            ['Error: UPGRADE FAILED: cannot patch "hub"'],
            id="helm",
        ),
        pytest.param("all went well\n", [], id="none"),
    ],
)
def test_cause_lines(text: str, expected: list[str]) -> None:
    assert cause_lines(text) == expected
