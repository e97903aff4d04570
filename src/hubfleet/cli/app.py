"""The command line read: the root options, the command of `hubfleet.cli.commands`'
table (only its module is imported), a group's subcommand, then the command's own
`argparse` parser (`hubfleet.cli.spec`).

`hubfleet --help` lists every command from the table's one-line help without
importing a command module; `hubfleet GROUP --help` lists the group's subcommands.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from hubfleet.base import interrupt
from hubfleet.cli import spec
from hubfleet.cli.commands import HELP, TABLE, print_version

if TYPE_CHECKING:
    from hubfleet.cli.common import Options

PROG = "hubfleet"
HELP_OPTIONS = ("-h", "--help")
REPO_HELP = "The fleet repository (default: the one containing the current directory)."
DEBUG_HELP = "Show tracebacks and debug logs (secrets stay redacted)."


@dataclass(frozen=True)
class Root:
    """The root options as given, and the command with its words."""

    repo: Path | None = None
    debug: bool = False
    version: bool = False
    help: bool = False
    command: str | None = None
    rest: tuple[str, ...] = ()


def parse_root(args: Sequence[str]) -> Root:
    """The global options before the command (as click read them: a value option
    takes the next word; `--` ends them; any other word starting with `-` is an error)."""
    repo: Path | None = None
    env_repo = os.environ.get("HUBFLEET_REPO")
    if env_repo:
        repo = Path(env_repo)
    debug = version = show_help = False
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            index += 1
            break
        if arg == "--repo":
            if index + 1 >= len(args):
                raise spec.UsageError(PROG, "option --repo requires an argument")
            repo = Path(args[index + 1])
            index += 2
            continue
        if arg.startswith("--repo="):
            repo = Path(arg.removeprefix("--repo="))
        elif arg == "--debug":
            debug = True
        elif arg == "--version":
            version = version or not show_help  # eager options act in the order given
        elif arg in HELP_OPTIONS:
            show_help = show_help or not version
        elif arg.startswith("-"):
            raise spec.UsageError(PROG, f"no such option: {arg}")
        else:
            break
        index += 1
    command = args[index] if index < len(args) else None
    rest = tuple(args[index + 1 :])
    return Root(repo, debug, version, show_help, command, rest)


def _wrap_list(title: str, rows: Sequence[tuple[str, str]]) -> str:
    """A `title:` section of `name  one-line help` rows, wrapped to the help width."""
    if not rows:
        return ""
    column = max(len(name) for name, _ in rows) + 4
    lines = [f"{title}:"]
    for name, text in rows:
        words = " ".join(text.split())
        body = textwrap.wrap(words, spec.WIDTH - column - 2) or [""]
        lines.append(f"  {name.ljust(column - 2)}{body[0]}")
        lines += [" " * column + line for line in body[1:]]
    return "\n".join(lines)


def root_parser() -> argparse.ArgumentParser:
    """The root's help (the commands listed from the table, no module imported)."""
    rows = [(name, entry.summary) for name, entry in TABLE.items()]
    parser = spec.new_parser(
        PROG,
        HELP.strip(),
        usage=f"{PROG} [OPTIONS] COMMAND [ARGS]...",
        epilog=_wrap_list("commands", rows),
    )
    parser.add_argument("--repo", metavar="PATH", help=f"{REPO_HELP} [env var: HUBFLEET_REPO]")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser.add_argument("--version", action="store_true", help="Print the version.")
    return parser


def group_parser(prog: str, group: spec.Group) -> argparse.ArgumentParser:
    rows = [(c.name, c.summary) for c in group.commands.values() if not c.hidden]
    return spec.new_parser(
        prog,
        group.help.strip(),
        usage=f"{prog} [-h] COMMAND [ARGS]...",
        epilog=_wrap_list("commands", rows),
    )


def _load(name: str) -> ModuleType:
    return importlib.import_module(TABLE[name].module)


def answer_root(root: Root) -> int | None:
    """The exit code when the root options alone answer (`--version`, `--help`, no
    command); None when a command runs. An unknown command is a usage error."""
    if root.version:
        print_version()
        return 0
    if root.help or root.command is None:
        sys.stdout.write(root_parser().format_help())
        return 0 if root.help else 2  # no command: the help, as a usage error
    if root.command not in TABLE:
        raise spec.UsageError(PROG, f"no such command '{root.command}'")
    return None


def run(root: Root, options: Options) -> int:
    """Run the command `root` names; its exit code (errors raise)."""
    assert root.command is not None
    from hubfleet.helm.liblog import show_library_logs

    options.repo, options.debug = root.repo, root.debug
    show_library_logs(root.debug)  # the Helm library's own log lines: only with --debug
    # A deploy turns signals into its cancel event (and writes its report); every other
    # command stops at a signal, also one that came while hubfleet was starting.
    if root.command != "deploy":
        interrupt.raising()
    module = _load(root.command)
    prog = f"{PROG} {root.command}"
    context = spec.Context(obj=options, parent=spec.Context(obj=options), command_path=prog)
    rest = list(root.rest)
    try:
        if TABLE[root.command].group:
            group: spec.Group = module.app
            sub = rest[0] if rest else None
            if sub is None or sub in HELP_OPTIONS:
                sys.stdout.write(group_parser(prog, group).format_help())
                return 2 if sub is None and group.no_args_is_help else 0
            if sub not in group.commands:
                if sub.startswith("-"):
                    raise spec.UsageError(prog, f"no such option: {sub}")
                raise spec.UsageError(prog, f"no such command '{sub}'")
            context.command_path = f"{prog} {sub}"
            spec.run(group.commands[sub].function, context.command_path, rest[1:], context)
        else:
            spec.run(module.command, prog, rest, context)
    except spec.Exit as done:
        return done.code
    return 0
