"""Uninstalling a decommissioned local hub (docs/decommission.md).

The local provider's `helm uninstall`: the hub's JupyterHub (and its proxy and
servers) stopped, its revisions (`release.json`, what `hubfleet status` reads) removed,
then its folder in the cluster's state folder (its database,
its secrets, its users' files) deleted with `data: delete`, or kept with `data:
keep`. Idempotent: a hub with no folder and no process is "already gone".
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from hubfleet.base.errors import HubfleetError
from hubfleet.local.records import RECORD_NAME
from hubfleet.local.runtime import stop_hubs
from hubfleet.local.state import hub_dirs, locked


@dataclass(frozen=True)
class LocalUninstall:
    hub: str
    was_running: bool
    processes_stopped: int
    data_deleted: bool
    message: str


def uninstall_hub(state_dir: Path, hub: str, *, delete_data: bool) -> LocalUninstall:
    """Stop local hub `hub` of the cluster whose state folder is `state_dir`, and delete
    its folder when `delete_data`; "already gone" when there is nothing to do."""
    state_dir = Path(state_dir).resolve()
    folder = state_dir / hub
    if "/" in hub or hub in ("", ".", "..") or folder.parent != state_dir:
        raise HubfleetError(f"invalid local hub name {hub!r}")
    if folder.is_symlink():
        raise HubfleetError(
            f"{folder} is a link: not removed", hint="a hub's state folder is a plain folder"
        )
    known = {d.name for d in hub_dirs(state_dir)}
    if hub not in known:
        if folder.is_dir() and delete_data:  # a folder left without its ports record
            _remove(state_dir, folder)
            return LocalUninstall(hub, False, 0, True, f"local hub {hub}: folder deleted")
        return LocalUninstall(hub, False, 0, False, f"local hub {hub}: already gone")
    stopped = stop_hubs(state_dir, [hub])[0]
    what = (
        f"stopped ({stopped.processes_stopped} process(es))"
        if stopped.was_running or stopped.processes_stopped
        else "was not running"
    )
    if delete_data:
        _remove(state_dir, folder)
        return LocalUninstall(
            hub, stopped.was_running, stopped.processes_stopped, True,
            f"local hub {hub} {what}; its folder deleted (data: delete)",
        )  # fmt: skip
    with locked(folder):  # the release's revisions go, as helm's do; its data stays
        (folder / RECORD_NAME).unlink(missing_ok=True)
    return LocalUninstall(
        hub, stopped.was_running, stopped.processes_stopped, False,
        f"local hub {hub} {what}; its folder {folder} kept (data: keep)",
    )  # fmt: skip


def _remove(state_dir: Path, folder: Path) -> None:
    """The hub's folder deleted under the cluster's lock (no port allocation meanwhile)."""
    with locked(state_dir):
        shutil.rmtree(folder)
