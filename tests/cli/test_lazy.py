"""Start-up imports only the command that runs: `--version` answers before anything,
`--help` lists every command from the light table (no command module imported), and
a command imports its own module only."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import TEST_FLEET
from tests.modules_probe import run_fresh

from hubfleet import __version__
from hubfleet.cli.app import parse_root
from hubfleet.cli.main import COMMANDS, TABLE, asks_version, invoked_command
from hubfleet.cli.spec import UsageError

COMMAND_MODULES = {module for _, module in COMMANDS}


HEAVY = ("typer", "click", "pydantic", "rich")


def test_version_imports_neither_the_parser_nor_a_command() -> None:
    code, out, modules = run_fresh("--version")
    assert (code, out) == (0, f"hubfleet {__version__}\n")
    assert not {m for m in modules if m.split(".")[0] in HEAVY}
    assert not modules & COMMAND_MODULES
    assert not {"hubfleet.cli.common", "hubfleet.cli.spec", "argparse"} & modules


def test_help_lists_every_command_without_importing_one() -> None:
    code, out, modules = run_fresh("--help")
    assert code == 0
    assert not modules & COMMAND_MODULES
    assert not {m for m in modules if m.split(".")[0] in HEAVY}
    assert "hubfleet.cli.common" not in modules  # the redactor: not needed for help
    listed = out.split("\ncommands:\n")[1]
    for name, entry in TABLE.items():
        first_line = entry.summary.split("\n")[0]
        assert f"\n  {name} " in f"\n{listed}", name
        assert " ".join(first_line.split()[:4]) in " ".join(listed.split()), name


@pytest.mark.parametrize("command", ["plan", "list", "terraform"])
def test_a_command_imports_its_own_module_only(command: str) -> None:
    code, out, modules = run_fresh(command, "--help")
    assert code == 0, out
    assert modules & COMMAND_MODULES == {TABLE[command].module}


def test_a_command_runs_with_only_its_module() -> None:
    code, out, modules = run_fresh("--repo", str(TEST_FLEET), "list", "--output", "json")
    assert code == 0, out
    assert json.loads(out)["clusters"]
    assert modules & COMMAND_MODULES == {"hubfleet.cli.list_"}
    assert not {m for m in modules if m.split(".")[0] in ("typer", "click")}


@pytest.mark.parametrize("name", list(TABLE))
def test_table_matches_the_command_module(name: str) -> None:
    entry = TABLE[name]
    module = importlib.import_module(entry.module)
    assert hasattr(module, "app") == entry.group
    text = module.app.help if entry.group else module.command.__doc__
    assert inspect.cleandoc(text).split("\n\n")[0] == entry.summary


@pytest.mark.parametrize(
    ("args", "command", "version"),
    [
        ([], None, False),
        (["--version"], None, True),
        (["--repo", "x", "--version"], None, True),
        (["--repo=x", "--debug", "--version", "plan"], "plan", True),
        (["--repo", "--version"], None, False),  # --repo's value
        (["--help", "--version"], None, False),  # help first: help wins
        (["-h"], None, False),
        (["plan", "--version"], "plan", False),  # plan's option (an error there)
        (["--repo", "plan", "list"], "list", False),
        (["--debug", "deploy", "c1"], "deploy", False),
        (["--bogus", "plan"], None, False),
        (["--", "plan"], "plan", False),
        (["--debug", "--", "--version"], "--version", False),  # a command's name there
        (["--"], None, False),
        (["nosuch"], "nosuch", False),
    ],
)
def test_global_options_are_read_as_click_reads_them(
    args: list[str], command: str | None, version: bool
) -> None:
    assert invoked_command(args) == command
    assert asks_version(args) == version
    # the entry's quick scan and the parser that runs the command agree
    if "--bogus" in args:
        with pytest.raises(UsageError, match="no such option: --bogus"):
            parse_root(args)
    else:
        root = parse_root(args)
        assert (root.command, root.version) == (command, version)


def test_entry_point_script_prints_the_version() -> None:
    script = Path(sys.executable).parent / "hubfleet"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout == f"hubfleet {__version__}\n"
