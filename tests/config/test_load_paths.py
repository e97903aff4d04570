"""The loader's check of the files cluster.yaml names, folder by folder.

Each folder holding named files is opened once through the confined walk and listed
once; a file it lists as a regular file is looked at relative to it without following
a link, and accepted only as listed. These tests try the ways around that: a linked
cluster folder (inside and outside the repository), a linked subfolder, links and
other kinds of file swapped in after the listing, `..`, a hardlink, the size limit,
and that no descriptor is left open.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubfleet.base.confined import Root
from hubfleet.config import load as load_module
from hubfleet.config.load import LoadResult, _PathChecker, load_fleet

ALPHA = "config/clusters/alpha"


def _messages(result: LoadResult) -> list[str]:
    return [f"{p.path}:{p.line}: {p.message}" for p in result.errors]


def _name_in_alpha(root: Path, old: str, new: str) -> None:
    """Make alpha's prod2 hub name `new` instead of `old` as a values file."""
    cluster = root / ALPHA / "cluster.yaml"
    text = cluster.read_text()
    assert f"  - {old}\n" in text
    cluster.write_text(text.replace(f"  - {old}\n", f"  - {new}\n", 1))


def _outside(tmp_path: Path, name: str = "outside.values.yaml") -> Path:
    outside = tmp_path / "elsewhere"
    outside.mkdir(exist_ok=True)
    (outside / name).write_text("jupyterhub: {outside: true}\n")
    return outside / name


def test_each_folder_is_walked_once_not_each_file(
    fleet_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    walks: list[tuple[str, bool]] = []
    real_open = Root.open

    def counting(self: Root, relative: str, *, folder: bool = False, shown: str | None = None):  # type: ignore[no-untyped-def]
        walks.append((relative, folder))
        return real_open(self, relative, folder=folder, shown=shown)

    monkeypatch.setattr(Root, "open", counting)
    result = load_fleet(fleet_copy)
    assert not result.errors, _messages(result)
    named = {
        path
        for cluster in result.fleet.clusters
        for path in (
            *cluster.credential_files,
            *(cluster.support.values_files if cluster.support else ()),
            *(f for hub in cluster.hubs for f in hub.values_files),
        )
    }
    file_walks = [relative for relative, folder in walks if not folder]
    # Only the files read (hubfleet.yaml, each cluster.yaml) and a named entry that is
    # not a plain file (delta's chart_override folder) are walked to; every values and
    # credentials file is checked in its folder's listing.
    assert not named & set(file_walks), sorted(named & set(file_walks))
    folder_walks = [relative for relative, folder in walks if folder]
    assert len(folder_walks) == len(set(folder_walks))  # each folder listed once
    assert len(named) > 3 * len(folder_walks)


def test_a_cluster_folder_linked_inside_the_repository_loads(fleet_copy: Path) -> None:
    real = fleet_copy / "shared" / "alpha"
    real.parent.mkdir()
    (fleet_copy / ALPHA).rename(real)
    (fleet_copy / ALPHA).symlink_to("../../shared/alpha")
    result = load_fleet(fleet_copy)
    assert not result.errors, _messages(result)
    alpha = next(c for c in result.fleet.clusters if c.name == "alpha")
    assert f"{ALPHA}/prod2.values.yaml" in alpha.hubs[2].values_files
    assert not result.refused


def test_a_cluster_folder_linked_outside_is_refused(fleet_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside-alpha"
    (fleet_copy / ALPHA).rename(outside)
    (fleet_copy / ALPHA).symlink_to(outside)
    result = load_fleet(fleet_copy)
    assert "alpha" not in {c.name for c in result.fleet.clusters}
    messages = _messages(result)
    assert any(
        m.startswith(f"{ALPHA}/cluster.yaml:") and "outside the repository" in m for m in messages
    ), messages


def test_a_subfolder_linked_outside_is_refused_at_each_file(
    fleet_copy: Path, tmp_path: Path
) -> None:
    outside = _outside(tmp_path)
    (fleet_copy / ALPHA / "shared").symlink_to(outside.parent)
    _name_in_alpha(fleet_copy, "prod2.values.yaml", "shared/outside.values.yaml")
    result = load_fleet(fleet_copy)
    messages = _messages(result)
    assert any("is a link pointing outside the repository" in m for m in messages), messages
    assert f"{ALPHA}/shared/outside.values.yaml" in result.refused


def test_a_values_file_linked_outside_is_refused(fleet_copy: Path, tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    (fleet_copy / ALPHA / "prod2.values.yaml").unlink()
    (fleet_copy / ALPHA / "prod2.values.yaml").symlink_to(outside)
    result = load_fleet(fleet_copy)
    assert any("pointing outside the repository" in m for m in _messages(result))
    assert f"{ALPHA}/prod2.values.yaml" in result.refused


def test_a_values_file_linked_inside_is_accepted(fleet_copy: Path) -> None:
    (fleet_copy / ALPHA / "prod2.values.yaml").unlink()
    (fleet_copy / ALPHA / "prod2.values.yaml").symlink_to("prod1.values.yaml")
    result = load_fleet(fleet_copy)
    assert not result.errors, _messages(result)
    assert not result.refused


def _checker_after_listing(root: Path) -> _PathChecker:
    """A checker that has listed alpha's folder (one file of it checked)."""
    checker = _PathChecker(root.resolve())
    assert (
        checker.check("staging.values.yaml", f"{ALPHA}/staging.values.yaml", folder_ok=False)
        is None
    )
    return checker


def test_a_link_swapped_in_after_the_listing_is_refused(fleet_copy: Path, tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    checker = _checker_after_listing(fleet_copy)
    target = fleet_copy / ALPHA / "prod1.values.yaml"
    target.unlink()
    target.symlink_to(outside)  # listed as a regular file, a link when opened
    problem = checker.check("prod1.values.yaml", f"{ALPHA}/prod1.values.yaml", folder_ok=False)
    checker.close()
    assert problem is not None and "pointing outside the repository" in problem[0], problem
    assert f"{ALPHA}/prod1.values.yaml" in checker.refused


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_fifo_or_folder_swapped_in_after_the_listing_is_refused(
    fleet_copy: Path, kind: str
) -> None:
    checker = _checker_after_listing(fleet_copy)
    target = fleet_copy / ALPHA / "prod1.values.yaml"
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    problem = checker.check("prod1.values.yaml", f"{ALPHA}/prod1.values.yaml", folder_ok=False)
    checker.close()
    expected = "a FIFO" if kind == "fifo" else "is a folder"
    assert problem is not None and expected in problem[0], problem


def test_another_file_renamed_over_after_the_listing_is_checked_again(fleet_copy: Path) -> None:
    checker = _checker_after_listing(fleet_copy)
    folder = fleet_copy / ALPHA
    (folder / "new.yaml").write_text("a: 1\n")
    os.replace(folder / "new.yaml", folder / "prod1.values.yaml")  # a new inode
    problem = checker.check("prod1.values.yaml", f"{ALPHA}/prod1.values.yaml", folder_ok=False)
    checker.close()
    assert problem is None


def test_a_listed_folder_swapped_for_a_link_out_is_never_read_outside(
    fleet_copy: Path, tmp_path: Path
) -> None:
    outside = _outside(tmp_path, "evil.values.yaml").parent
    (outside / "prod2.values.yaml").write_text("jupyterhub: {outside: true}\n")
    checker = _checker_after_listing(fleet_copy)
    (fleet_copy / ALPHA).rename(fleet_copy / "moved-alpha")
    (fleet_copy / ALPHA).symlink_to(outside)
    # Listed before the swap: checked in the folder opened then (still inside).
    assert checker.check("prod2.values.yaml", f"{ALPHA}/prod2.values.yaml", folder_ok=False) is None
    # Not listed: walked from the root, and refused at the link.
    problem = checker.check("evil.values.yaml", f"{ALPHA}/evil.values.yaml", folder_ok=False)
    checker.close()
    assert problem is not None and "pointing outside the repository" in problem[0], problem


def test_dotdot_inside_the_repository_is_accepted_and_outside_refused(fleet_copy: Path) -> None:
    _name_in_alpha(fleet_copy, "prod2.values.yaml", "../beta/research.values.yaml")
    _name_in_alpha(fleet_copy, "prod1.values.yaml", "../../../../escape.values.yaml")
    result = load_fleet(fleet_copy)
    messages = _messages(result)
    assert any(
        "'../../../../escape.values.yaml' points outside the repository" in m for m in messages
    ), messages
    alpha = next(c for c in result.fleet.clusters if c.name == "alpha")
    prod2 = next(h for h in alpha.hubs if h.name == "prod2")
    assert "config/clusters/beta/research.values.yaml" in prod2.values_files
    assert "config/clusters/beta/research.values.yaml" not in result.refused


def test_dotdot_to_a_missing_file_names_its_siblings(fleet_copy: Path) -> None:
    _name_in_alpha(fleet_copy, "prod2.values.yaml", "../beta/reserch.values.yaml")
    result = load_fleet(fleet_copy)
    messages = [(p.message, p.hint or "") for p in result.errors]
    assert any("does not exist" in m and "research.values.yaml" in h for m, h in messages), messages


def test_a_hardlink_is_the_file_itself(fleet_copy: Path, tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    (fleet_copy / ALPHA / "prod2.values.yaml").unlink()
    os.link(outside, fleet_copy / ALPHA / "prod2.values.yaml")
    result = load_fleet(fleet_copy)
    assert not result.errors, _messages(result)


def test_a_file_over_the_limit_is_refused(
    fleet_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (fleet_copy / ALPHA / "prod2.values.yaml").write_text("a: " + "x" * 5000 + "\n")
    monkeypatch.setenv("HUBFLEET_MAX_FILE_BYTES", "4096")
    result = load_fleet(fleet_copy)
    messages = _messages(result)
    assert any("prod2.values.yaml" in m and "over the limit" in m for m in messages), messages


def test_folders_are_closed_and_few_kept_open(
    fleet_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load_module._PathChecker, "MAX_OPEN_FOLDERS", 1)
    before = len(os.listdir("/proc/self/fd"))
    result = load_fleet(fleet_copy)
    assert not result.errors, _messages(result)
    assert len(os.listdir("/proc/self/fd")) == before
