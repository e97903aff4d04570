"""The entry point's command table: every command registers, a missing one is an error."""

from __future__ import annotations

import pytest
import typer

from hubfleet.cli.main import COMMANDS, register


def _names(app: typer.Typer) -> list[str | None]:
    commands = [info.name for info in app.registered_commands]
    groups = [info.name for info in app.registered_groups]
    return sorted([*commands, *groups], key=str)


def test_every_command_module_imports_and_registers() -> None:
    app = typer.Typer()
    register(app, COMMANDS)
    assert _names(app) == sorted(name for name, _ in COMMANDS)


def test_a_missing_command_module_is_an_error_not_a_missing_command() -> None:
    app = typer.Typer()
    table = [("validate", "hubfleet.cli.validate"), ("later", "hubfleet.cli.not_a_module")]
    with pytest.raises(ModuleNotFoundError) as caught:
        register(app, table)
    assert caught.value.name == "hubfleet.cli.not_a_module"


def test_help_lists_every_command(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--help")
    assert result.exit_code == 0
    listed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ")}
    assert {name for name, _ in COMMANDS} <= listed
