"""Checks of a cluster's `decommissioned:` entries (docs/decommission.md).

A hub leaves a cluster only through such an entry: its name, the date, and what
happens to its data (`keep`: the namespace and its volumes stay; `delete`: the
namespace goes too). The deploy uninstalls its release and, with `delete`, deletes
its namespace, so the name must be one a hub could have had (never `support`,
`default` or a `kube-*` namespace), once, and not a live hub's as well.

A date in the future is a warning, not an error: the entry is the decision, and
the next deploy acts on it; the date records when it was taken.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping

from hubfleet.base import kubenames
from hubfleet.base.errors import Problem
from hubfleet.base.yamlio import LineMap
from hubfleet.config.models import ClusterFile, DecommissionedHub

NameProblem = Callable[[str], "tuple[str, str] | None"]


def decommission_problems(
    spec: ClusterFile,
    file: str,
    lines: LineMap,
    live: Mapping[str, int],
    name_problem: NameProblem,
    today: datetime.date | None = None,
) -> list[Problem]:
    """Every problem of the cluster's decommissioned entries; `live`: the names of its
    hubs with the line of each entry."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    today = today or datetime.datetime.now(datetime.UTC).date()
    for index, entry in enumerate(spec.decommissioned):
        where = lines.line(("decommissioned", index, "name"))
        found = name_problem(entry.name)
        if found is not None:
            message, hint = found
            problems.append(Problem(file, where, f"decommissioned: {message}", hint))
            continue
        if entry.name in seen:
            problems.append(
                Problem(
                    file,
                    where,
                    f"hub {entry.name!r} is decommissioned twice",
                    f"first at line {seen[entry.name]}; keep one entry",
                )
            )
            continue
        seen[entry.name] = where
        if entry.name in live:
            problems.append(
                Problem(
                    file,
                    where,
                    f"hub {entry.name!r} is both a hub (line {live[entry.name]}) and "
                    "decommissioned",
                    "remove its entry from hubs: to keep the hub, remove it from decommissioned",
                )
            )
        if entry.date > today:
            problems.append(
                Problem(
                    file,
                    lines.line(("decommissioned", index, "date")),
                    f"hub {entry.name!r} is decommissioned on {entry.date.isoformat()}, a date "
                    "in the future: the next deploy uninstalls it anyway",
                    "give the date the decision was taken",
                    severity="warning",
                )
            )
    return problems


def entry_yaml(name: str) -> str:
    """The `decommissioned:` entry that removes hub `name`, as one line of YAML to paste
    under `decommissioned:`: the date is left for the person to fill in (the day of the
    decision; the loader refuses the placeholder), the data kept (the safe choice, made
    `delete` on purpose)."""
    written = name if kubenames.is_release_name(name) else json.dumps(name)
    return f"- {{name: {written}, date: YYYY-MM-DD, data: keep, reason: ...}}"


def describe(entry: DecommissionedHub) -> str:
    """The reason an uninstall job shows: `decommissioned on DATE, data: keep (why)`."""
    text = f"decommissioned on {entry.date.isoformat()}, data: {entry.data}"
    return f"{text} ({entry.reason})" if entry.reason else text
