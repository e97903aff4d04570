"""Finding the fleet repository's root."""

from __future__ import annotations

from pathlib import Path

from hubfleet.base.errors import ConfigError

MARKERS = ("hubfleet.yaml", "config/clusters")


def is_fleet_root(path: Path) -> bool:
    return any((path / marker).exists() for marker in MARKERS)


def find_repo_root(explicit: Path | None = None, start: Path | None = None) -> Path:
    """`explicit` if given (it must be a fleet), else the nearest ancestor of `start`
    (default: the current directory) holding `hubfleet.yaml` or `config/clusters`."""
    if explicit is not None:
        root = explicit.expanduser().resolve()
        if not root.is_dir():
            raise ConfigError(f"--repo {explicit}: no such directory")
        if not is_fleet_root(root):
            raise ConfigError(
                f"{explicit} is not a fleet repository",
                hint="a fleet repository has config/clusters/<cluster>/cluster.yaml "
                "or a hubfleet.yaml at its root",
            )
        return root
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if is_fleet_root(candidate):
            return candidate
    raise ConfigError(
        f"no fleet repository found in {here} or its parents",
        hint="run inside a fleet repository, or pass --repo PATH",
    )
