"""Bad-input cases of `hubfleet validate`: edits of a copy of the test fleet, and the
check that the problem is reported at the exact file and line (exit 2, no traceback).

Shared by the loader's cases (`tests/config/test_load.py`) and the values' cases
(`tests/validate/test_validate.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import AGE_KEY

ALPHA = "config/clusters/alpha"
Edit = Callable[[Path], None]


def replace(rel: str, old: str, new: str, count: int = 1) -> Edit:
    def edit(root: Path) -> None:
        path = root / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, count))

    return edit


def write(rel: str, text: str) -> Edit:
    def edit(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)

    return edit


def both(*edits: Edit) -> Edit:
    def edit(root: Path) -> None:
        for one in edits:
            one(root)

    return edit


def symlink_outside(root: Path) -> None:
    outside = root.parent / "outside.values.yaml"
    outside.write_text("a: 1\n")
    (root / ALPHA / "prod2.values.yaml").unlink()
    (root / ALPHA / "prod2.values.yaml").symlink_to(outside)


def add_hub(extra: str) -> Edit:
    return replace(
        f"{ALPHA}/cluster.yaml",
        "- name: prod2\n",
        extra + "- name: prod2\n",
    )


# (id, edit, expected "path:line:" prefix, expected words in the message, needs the age key)
Case = tuple[str, Edit, str, str, bool]


def parametrize(cases: list[Case]) -> pytest.MarkDecorator:
    """One test per case, named by its id; the test gets (edit, where, words, needs_key)."""
    return pytest.mark.parametrize("case", [c[1:] for c in cases], ids=[c[0] for c in cases])


def assert_reported(
    fleet_copy: Path,
    run_cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    edit: Edit,
    where: str,
    words: str,
    needs_key: bool,
) -> None:
    if needs_key:
        monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEY))
    else:
        monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
        monkeypatch.setenv("HOME", str(fleet_copy.parent / "home"))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(fleet_copy.parent / "xdg"))
    edit(fleet_copy)
    result = run_cli("--repo", fleet_copy, "validate")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith(where)]
    assert any(words in line for line in lines), result.output
    assert "Traceback" not in result.output
