"""A decommissioned local hub (docs/decommission.md): its processes stopped, its folder
kept (`data: keep`) or deleted (`data: delete`); idempotent ("already gone")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hubfleet.base.errors import HubfleetError
from hubfleet.local.uninstall import uninstall_hub


def _hub(state_dir: Path, name: str) -> Path:
    """A hub folder as a deploy leaves it: its ports record, its database, a user's file."""
    folder = state_dir / name
    (folder / "home" / "ada").mkdir(parents=True)
    (folder / "ports.json").write_text(json.dumps({"port": 18000}))
    (folder / "jupyterhub.sqlite").write_bytes(b"db")
    (folder / "release.json").write_text(json.dumps({"revisions": [{"revision": 1}]}))
    (folder / "home" / "ada" / "notebook.ipynb").write_text("{}")
    return folder


def _worker(folder: Path) -> subprocess.Popen[bytes]:
    """A process working in the hub's folder, as its JupyterHub would."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=folder)


def test_keep_stops_the_hub_and_keeps_its_folder(tmp_path: Path) -> None:
    folder = _hub(tmp_path, "old")
    other = _hub(tmp_path, "other")
    worker = _worker(folder)
    try:
        result = uninstall_hub(tmp_path, "old", delete_data=False)
        assert worker.wait(timeout=20) is not None  # stopped
    finally:
        worker.kill()
    assert result.processes_stopped >= 1 and not result.data_deleted
    assert (folder / "home" / "ada" / "notebook.ipynb").is_file()
    assert not (folder / "release.json").exists()  # no longer a release status lists
    assert (other / "release.json").is_file()
    assert "kept (data: keep)" in result.message
    assert (other / "jupyterhub.sqlite").is_file()
    again = uninstall_hub(tmp_path, "old", delete_data=False)
    assert again.processes_stopped == 0 and "was not running" in again.message


def test_delete_removes_its_folder_then_it_is_already_gone(tmp_path: Path) -> None:
    folder = _hub(tmp_path, "old")
    other = _hub(tmp_path, "other")
    worker = _worker(folder)
    try:
        result = uninstall_hub(tmp_path, "old", delete_data=True)
        assert worker.wait(timeout=20) is not None
    finally:
        worker.kill()
    assert result.data_deleted and not folder.exists()
    assert "its folder deleted (data: delete)" in result.message
    assert (other / "home" / "ada" / "notebook.ipynb").is_file()  # another hub untouched
    again = uninstall_hub(tmp_path, "old", delete_data=True)
    assert again.message == "local hub old: already gone" and not again.data_deleted


def test_a_hub_never_deployed_is_already_gone(tmp_path: Path) -> None:
    assert uninstall_hub(tmp_path, "never", delete_data=True).message == (
        "local hub never: already gone"
    )


@pytest.mark.parametrize("name", ["..", "a/b", ""])
def test_a_name_leaving_the_state_folder_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(HubfleetError):
        uninstall_hub(tmp_path / "state", name, delete_data=True)
    assert tmp_path.exists()


def test_a_linked_hub_folder_is_not_followed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    outside = _hub(tmp_path, "outside")
    (state / "old").symlink_to(outside)
    with pytest.raises(HubfleetError, match="is a link"):
        uninstall_hub(state, "old", delete_data=True)
    assert (outside / "jupyterhub.sqlite").is_file()
