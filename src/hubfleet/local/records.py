"""A local hub's revisions, kept as helm keeps a release's (docs/status.md).

The local runtime has no helm, so each deploy of a local hub appends one revision to
`<state dir>/<hub>/release.json` (0600, no values): its number, time, status,
chart, app version and description (hubfleet's record, `hubfleet.live.record`).
`hubfleet status` reads them back as it reads `helm history` from a cluster. The
entries have helm's `history --output json` keys, so one reader serves both.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hubfleet.local.state import locked, private_dir

RECORD_NAME = "release.json"
MAX_REVISIONS = 10  # like helm's --history-max default (older revisions dropped)


def history(hub_dir: Path) -> list[dict[str, Any]]:
    """The hub's revisions, oldest first ([] when it was never deployed by this version)."""
    try:
        data = json.loads((hub_dir / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    revisions = data.get("revisions") if isinstance(data, dict) else None
    if not isinstance(revisions, list):
        return []
    return [r for r in revisions if isinstance(r, dict) and isinstance(r.get("revision"), int)]


def add_revision(
    hub_dir: Path, *, chart: str, app_version: str, description: str, status: str = "deployed"
) -> int:
    """Append a revision (the earlier deployed one becomes `superseded`); its number."""
    private_dir(hub_dir)
    with locked(hub_dir):
        revisions = history(hub_dir)
        for entry in revisions:
            if entry.get("status") == "deployed":
                entry["status"] = "superseded"
        number = (revisions[-1]["revision"] if revisions else 0) + 1
        revisions.append(
            {
                "revision": number,
                "updated": datetime.now(UTC).isoformat(),
                "status": status,
                "chart": chart,
                "app_version": app_version,
                "description": description,
            }
        )
        _write(hub_dir / RECORD_NAME, {"revisions": revisions[-MAX_REVISIONS:]})
    return number


def cluster_histories(state_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every hub folder's revisions (hubs that have some), by hub name."""
    found: dict[str, list[dict[str, Any]]] = {}
    if not state_dir.is_dir():
        return found
    for entry in sorted(state_dir.iterdir()):
        if entry.is_dir() and not entry.name.startswith("."):
            revisions = history(entry)
            if revisions:
                found[entry.name] = revisions
    return found


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1, sort_keys=True)
    os.replace(tmp, path)
