"""Changed files: from a list (`--changed-files`) or from git (`--base/--head`).

A `Change` is one changed path with git's status letter: `A` added, `M`
modified, `D` deleted, `R` renamed (`old_path` set), `T` type change. A list of
paths without statuses gives `M` for each (the planner states `deleted` when the
path is gone from the working tree).

Asking git (`--base/--head`) is `hubfleet.plan.git`'s `GitRepo`: apart, so that a
plan from a list imports neither the runner nor the redactor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hubfleet.base.confined import read_handoff_text
from hubfleet.base.errors import HubfleetError

_STATUS = re.compile(r"^([ACDMRTUX])(\d{0,3})$")


@dataclass(frozen=True, order=True)
class Change:
    path: str
    status: str = "M"
    old_path: str | None = None  # renames and copies: the path before

    def paths(self) -> tuple[str, ...]:
        """Every path this change touches (a rename touches both)."""
        return (self.path,) if self.old_path is None else (self.old_path, self.path)


def _clean(path: str) -> str:
    path = path.strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.strip("/")


def parse_changed_files(text: str) -> list[Change]:
    """Paths one per line (commas also accepted), relative to the repository root.

    Lines in git's `--name-status` form (`M<TAB>path`, `R100<TAB>old<TAB>new`)
    keep their status; a rename names both paths.
    """
    changes: dict[str, Change] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        status = _STATUS.match(fields[0]) if len(fields) > 1 else None
        if status:
            letter = status.group(1)
            if letter in "RC" and len(fields) >= 3:
                old, new = _clean(fields[1]), _clean(fields[2])
                changes[new] = Change(new, "R" if letter == "R" else "A", old)
            else:
                path = _clean(fields[-1])
                changes[path] = Change(path, letter)
            continue
        for part in line.split(","):
            path = _clean(part)
            if path:
                changes.setdefault(path, Change(path, "M"))
    return sorted(changes.values())


def read_changed_files(source: str, *, stdin_text: str | None = None) -> list[Change]:
    """`--changed-files FILE|-`."""
    if source == "-":
        return parse_changed_files(stdin_text or "")
    try:
        text = read_handoff_text(source)
    except OSError as exc:
        raise HubfleetError(
            f"--changed-files {source}: cannot read: {exc.strerror or exc}",
            hint="pass a file with one repository-relative path per line, or - for stdin",
        ) from None
    return parse_changed_files(text)
