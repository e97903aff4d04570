"""`read_fleet_file` through the confined opener: what it reads, what it refuses, and
the messages that did not change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubfleet.base.errors import ConfigError
from hubfleet.base.yamlio import fleet_file_problem, read_fleet_file


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "a/b").mkdir(parents=True)
    (root / "a/b/f.yaml").write_text("x: 1\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    return root


def _message(root: Path, relative: str) -> str:
    with pytest.raises(ConfigError) as caught:
        read_fleet_file(root, relative)
    problem = caught.value.problems[0]
    assert problem.path == relative and problem.line == 1
    return problem.message


def test_links_inside_are_followed_at_any_component(repo: Path) -> None:
    os.symlink("a/b", repo / "short")
    os.symlink("short/f.yaml", repo / "chain.yaml")
    os.symlink(repo / "a", repo / "absolute-inside")
    assert read_fleet_file(repo, "short/f.yaml") == b"x: 1\n"
    assert read_fleet_file(repo, "chain.yaml") == b"x: 1\n"
    assert read_fleet_file(repo, "absolute-inside/b/f.yaml") == b"x: 1\n"
    assert fleet_file_problem(repo, "chain.yaml") is None


def test_a_link_leaving_at_any_component_is_refused(repo: Path) -> None:
    os.symlink("../..", repo / "a/up")  # a/.. is the root: one more leaves it
    os.symlink(repo.parent / "secret.txt", repo / "a/b/leak.yaml")
    os.symlink("../../../secret.txt", repo / "a/b/climb.yaml")
    for path in ("a/up/secret.txt", "a/b/leak.yaml", "a/b/climb.yaml"):
        assert "is a link pointing outside the repository" in _message(repo, path), path


def test_git_is_never_read(repo: Path) -> None:
    (repo / ".git").mkdir()
    (repo / ".git/config").write_text("[core]\n")
    os.symlink(".git/config", repo / "config.yaml")
    assert _message(repo, ".git/config") == "'.git/config' is inside .git/"
    assert _message(repo, "config.yaml") == "'config.yaml' is inside .git/"


def test_messages_kept_byte_identical(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    os.mkfifo(repo / "pipe.yaml")
    (repo / "big.yaml").write_text("x" * 2000)
    monkeypatch.setenv("HUBFLEET_MAX_FILE_BYTES", "1000")
    assert _message(repo, "/etc/passwd") == "'/etc/passwd' is an absolute path"
    assert _message(repo, "nope.yaml") == "file 'nope.yaml' does not exist"
    assert _message(repo, "a") == "'a' is a folder, not a file"
    assert _message(repo, "pipe.yaml") == "'pipe.yaml' is a FIFO, not a regular file"
    assert _message(repo, "big.yaml") == "'big.yaml' is 2000 bytes, over the limit of 1000 bytes"
    assert _message(repo, "../x.yaml").startswith("'../x.yaml' points outside the repository (to ")
    with pytest.raises(ConfigError) as caught:
        read_fleet_file(repo, "big.yaml")
    assert caught.value.problems[0].hint == (
        "fleet files are at most 1000 bytes (set HUBFLEET_MAX_FILE_BYTES to change the limit)"
    )


def test_a_nul_byte_is_a_refusal_not_a_crash(repo: Path) -> None:
    assert _message(repo, "a\0b.yaml") == "'a\\x00b.yaml' contains a NUL byte"
