"""Errors and problems.

A `Problem` is one finding about the user's files (validation collects many).
A `HubfleetError` stops a command; it carries the same location and hint, and its
`exit_code` is the one the CLI exits with (2 bad input, 1 a deploy or check failed).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding, rendered as `path:line: message`."""

    path: str
    line: int
    message: str
    hint: str | None = None
    severity: Severity = "error"

    def render(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        prefix = "warning: " if self.severity == "warning" else ""
        text = f"{where}: {prefix}{self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class HubfleetError(Exception):
    """A failure the user can act on: never shown with a traceback unless --debug."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.hint = hint

    def problem(self) -> Problem:
        return Problem(self.path or "hubfleet", self.line or 0, self.message, self.hint)

    def __str__(self) -> str:
        if self.path:
            return self.problem().render()
        return self.message + (f" (hint: {self.hint})" if self.hint else "")


class ConfigError(HubfleetError):
    """The fleet's files are wrong; may carry every problem found."""

    def __init__(self, problems: Iterable[Problem] | str, **kwargs: object) -> None:
        if isinstance(problems, str):
            super().__init__(problems, **kwargs)  # type: ignore[arg-type]
            self.problems: tuple[Problem, ...] = (self.problem(),)
            return
        found = tuple(problems)
        first = found[0] if found else Problem("hubfleet", 0, "invalid configuration")
        super().__init__(first.message, path=first.path, line=first.line, hint=first.hint)
        self.problems = found

    def __str__(self) -> str:
        return "\n".join(p.render() for p in self.problems)


class SecretsError(HubfleetError):
    """sops could not decrypt, or a secret rule was broken."""


class ChartError(HubfleetError):
    """A chart could not be found, pulled, loaded or rendered."""


class ProgramError(HubfleetError):
    """An external program is missing, failed or timed out."""

    exit_code = 1


class DeployError(HubfleetError):
    """A deploy or health check failed."""

    exit_code = 1


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest choice, for a misspelt key or name."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None
