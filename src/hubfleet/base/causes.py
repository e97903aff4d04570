"""The lines of a failed program's output that say why it failed.

A failure message quotes a program's last lines (a log tail, helm's stderr), but
the console shows one line per job: `cause_lines` picks the lines worth showing
there, in their order:

- the exception of a Python traceback (the line after its frames, `RuntimeError: ...`),
  also when a log indents the whole traceback;
- error and critical lines of a JupyterHub/tornado log (`[E ...]`, `[C ...]`), without
  their timestamp prefix;
- `Error: ...` lines, as helm, kubectl and most Go programs print them.
"""

from __future__ import annotations

import re

# `[E 2026-01-01 10:00:00.123 JupyterHub app:123] message` (traitlets/tornado log format)
_LOG_LINE = re.compile(r"^\[(?P<level>[DIWEC]) [^\]]*\]\s*(?P<text>.*)$")
_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception|Exit|Failure)\b:?")
_ERROR_PREFIX = re.compile(r"^(?:Error|ERROR|error|FATAL|Fatal)\b[:\s]")
_TRACEBACK = "Traceback (most recent call last):"
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")


def cause_lines(text: str, limit: int = 3) -> list[str]:
    """Up to `limit` distinct lines of `text` that say why a program failed (the last
    ones, in order); [] when none looks like an error."""
    found: list[str] = []
    frame_indent: int | None = None  # inside a traceback: the indentation of its header
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        indent = len(raw) - len(raw.lstrip())
        if line == _TRACEBACK or line.startswith(_CHAINED):
            frame_indent = indent if line == _TRACEBACK else None
            continue
        if frame_indent is not None:
            if indent > frame_indent:
                continue  # a frame of the traceback, not its exception
            frame_indent = None
            found.append(line)  # the exception, at the header's indentation
            continue
        log = _LOG_LINE.match(line)
        if log is not None:
            if log.group("level") in "EC" and log.group("text"):
                found.append(log.group("text"))
        elif _EXCEPTION.match(line) or _ERROR_PREFIX.match(line):
            found.append(line)
    unique = list(dict.fromkeys(found))
    return unique[-limit:]
