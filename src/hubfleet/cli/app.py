"""The typer application: the root options and the commands of `hubfleet.cli.commands`'
table.

`build_app(names)` imports only the modules of the commands named (`main` names the
command that runs, or none); every other command is a placeholder with its name and
its one-line help, so that `hubfleet --help` lists them all (the same lines as with
every module imported: a test compares both) without importing them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Annotated

import typer

from hubfleet.base import interrupt
from hubfleet.cli.commands import COMMANDS, HELP, TABLE, print_version, register
from hubfleet.cli.common import Options


def build_app(names: Collection[str]) -> typer.Typer:
    """The application with the modules of the commands `names` (others: placeholders)."""
    app = typer.Typer(
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(root)
    for name, module_name in COMMANDS:
        if name in names:
            register(app, [(name, module_name)])
        elif TABLE[name].group:
            app.add_typer(typer.Typer(help=TABLE[name].summary), name=name)
        else:
            app.command(name, help=TABLE[name].summary)(_placeholder(name))
    return app


def _placeholder(name: str) -> Callable[[], None]:
    def placeholder() -> None:
        # Unreachable: main imports the command that runs (main.invoked_command).
        raise RuntimeError(f"the command {name!r} was not loaded")

    return placeholder


def _version(value: bool) -> None:
    if value:  # `main` answers a leading --version before typer; this is the fallback
        print_version()
        raise typer.Exit()


def root(
    ctx: typer.Context,
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo",
            help="The fleet repository (default: the one containing the current directory).",
            envvar="HUBFLEET_REPO",
        ),
    ] = None,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show tracebacks and debug logs (secrets stay redacted)."),
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    from hubfleet.helm.liblog import show_library_logs

    obj = ctx.obj if isinstance(ctx.obj, Options) else Options()
    obj.repo, obj.debug = repo, debug
    show_library_logs(debug)  # the Helm library's own log lines: only with --debug
    ctx.obj = obj
    # A deploy turns signals into its cancel event (and writes its report); every other
    # command stops at a signal, also one that came while hubfleet was starting.
    if ctx.invoked_subcommand != "deploy":
        interrupt.raising()
