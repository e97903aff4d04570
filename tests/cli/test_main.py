"""The entry point's command table: every command registers, a missing one is an error."""

from __future__ import annotations

import pytest

from hubfleet.cli.main import COMMANDS, TABLE, register
from hubfleet.cli.spec import Group


def test_every_command_module_imports_and_registers() -> None:
    found = register(COMMANDS)
    assert sorted(found) == sorted(name for name, _ in COMMANDS)
    for name, target in found.items():
        assert isinstance(target, Group) == TABLE[name].group, name
        assert callable(target) or isinstance(target, Group)


def test_a_missing_command_module_is_an_error_not_a_missing_command() -> None:
    table = [("validate", "hubfleet.cli.validate"), ("later", "hubfleet.cli.not_a_module")]
    with pytest.raises(ModuleNotFoundError) as caught:
        register(table)
    assert caught.value.name == "hubfleet.cli.not_a_module"


def test_help_lists_every_command(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--help")
    assert result.exit_code == 0
    commands = result.stdout.split("\ncommands:\n")[1]
    listed = {
        line.split()[0]
        for line in commands.splitlines()
        if line.startswith("  ") and line[2] != " "
    }
    assert {name for name, _ in COMMANDS} <= listed
