"""`--base/--head`: the semantic diffs of `cluster.yaml` and `hubfleet.yaml` files.

Base contents come from git into memory (`git cat-file --batch`, once); head contents
from the fleet as loaded (the working tree, or a checkout of `--head`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubfleet.base.errors import ConfigError
from hubfleet.base.yamlio import load_yaml
from hubfleet.config.fleet import CLUSTERS_DIR, Fleet
from hubfleet.plan.changes import Change
from hubfleet.plan.diff import ClusterDiff, diff_cluster_yaml, diff_fleet_settings
from hubfleet.plan.planner import SETTINGS_FILE, History


def cluster_of_path(path: str) -> str | None:
    """`config/clusters/<name>/cluster.yaml` -> `<name>`."""
    parts = path.split("/")
    prefix = CLUSTERS_DIR.split("/")
    if (
        len(parts) == len(prefix) + 2
        and parts[: len(prefix)] == prefix
        and parts[-1] == "cluster.yaml"
    ):
        return parts[-2]
    return None


def _parse(data: bytes | None, path: str) -> tuple[Any, str | None]:
    """(parsed data, None) or (None, why it could not be parsed)."""
    if data is None:
        return None, None
    try:
        return load_yaml(data.decode("utf-8"), path).data, None
    except (ConfigError, UnicodeDecodeError) as exc:
        return None, str(exc)


def _head_data(fleet: Fleet, path: str) -> Any:
    """The file at head, as the fleet loaded it (None: deleted), without reading it again."""
    if path == (fleet.settings_file or SETTINGS_FILE):
        return fleet.settings_data
    for cluster in fleet.clusters:
        if cluster.file == path:
            return cluster.data
    return None


def load_history(
    fleet: Fleet, changes: Sequence[Change], base_files: Mapping[str, bytes | None]
) -> History:
    """The diffs of the changed `cluster.yaml`/`hubfleet.yaml` files: at base from
    `base_files` (read from git once, `hubfleet.plan.revisions`), at head from `fleet`."""
    settings_file = fleet.settings_file or SETTINGS_FILE
    wanted: dict[str, str] = {}  # head path -> base path
    for change in changes:
        if cluster_of_path(change.path) or change.path == settings_file:
            wanted[change.path] = change.old_path or change.path
    history = History()
    for path, old_path in sorted(wanted.items()):
        old, old_problem = _parse(base_files.get(old_path), old_path)
        new = _head_data(fleet, path)
        history.base_data[path] = old
        if path == settings_file:
            history.fleet_diff = diff_fleet_settings(path, old, new)
            if old_problem:
                history.fleet_diff.everything.append(
                    f"{path}: cannot read the base version ({old_problem})"
                )
            continue
        name = cluster_of_path(path)
        assert name is not None
        if old_problem:
            diff = ClusterDiff(name, whole=[f"{path}: cannot compare ({old_problem})"])
        else:
            diff = diff_cluster_yaml(name, path, old, new)
            if old_path != path:
                diff.whole.insert(0, f"{path} renamed from {old_path}")
        history.cluster_diffs[path] = diff
        if isinstance(old, dict) and new is None:
            history.removed_providers[name] = str(old.get("provider", ""))
    return history
