"""The `hubfleet` entry point: global options, command registration, error handling."""

from __future__ import annotations

import errno
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from hubfleet import __version__
from hubfleet.base import interrupt
from hubfleet.base.errors import HubfleetError
from hubfleet.base.runner import terminate_all
from hubfleet.cli.common import Options

HELP = """Deploy and operate a fleet of JupyterHubs from one git repository.

The repository keeps one folder per cluster under config/clusters/, each with a
cluster.yaml listing its hubs and their helm values files. Run commands from
inside it, or point at it with --repo.
"""

app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# (command name, module): each module defines `command` (a function) or `app` (a group).
COMMANDS = (
    ("validate", "hubfleet.cli.validate"),
    ("list", "hubfleet.cli.list_"),
    ("render", "hubfleet.cli.render"),
    ("schema", "hubfleet.cli.schema"),
    ("plan", "hubfleet.cli.plan"),
    ("deploy", "hubfleet.cli.deploy"),
    ("check", "hubfleet.cli.check"),
    ("credentials", "hubfleet.cli.credentials"),
    ("export", "hubfleet.cli.export"),
    ("new", "hubfleet.cli.new"),
    ("local", "hubfleet.cli.local"),
    ("ci", "hubfleet.cli.ci"),
    ("community", "hubfleet.cli.community"),
    ("terraform", "hubfleet.cli.terraform"),
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hubfleet {__version__}")
        raise typer.Exit()


@app.callback()
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


def register(target: typer.Typer, commands: Sequence[tuple[str, str]]) -> None:
    """Add every command to `target`; a command whose module is missing or fails to
    import is an error (ModuleNotFoundError, ImportError), never a command left out."""
    for name, module_name in commands:
        module = importlib.import_module(module_name)
        if hasattr(module, "app"):
            target.add_typer(module.app, name=name)
        else:
            target.command(name)(module.command)


register(app, COMMANDS)


def main() -> None:
    """Run the CLI; `HubfleetError`s become one line each and their exit code."""
    try:
        options = Options()  # reads HUBFLEET_MASK_KEY
    except HubfleetError as exc:
        _print_error(str(exc))
        sys.exit(exc.exit_code)
    scrub = options.redactor.scrub
    try:
        code = app(standalone_mode=False, obj=options)
    except HubfleetError as exc:
        _print_error(scrub(str(exc)))
        if options.debug:
            raise
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):  # click may turn Ctrl-C into Abort
        _interrupted()
    except Exception as exc:  # click usage errors, out of disk, anything unexpected
        if isinstance(exc, _click_exceptions()):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(2)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            where = f" ({exc.filename})" if exc.filename else ""
            _print_error(f"{exc.strerror}{where}: free some space and run again")
            sys.exit(1)
        if options.debug or os.environ.get("HUBFLEET_DEBUG"):
            raise
        _print_error(scrub(f"internal error: {exc!r} (run with --debug for the traceback)"))
        sys.exit(70)
    # click returns (rather than raises) the code of a `typer.Exit` without standalone mode.
    code = code if isinstance(code, int) else 0
    if interrupt.raised():  # typer turns the KeyboardInterrupt of a signal into exit 130
        _interrupted()
    if code == 0 and interrupt.received() is not None:
        code = interrupt.EXIT_CODE  # a signal noted while nothing could stop for it
    sys.exit(code)


def _interrupted() -> NoReturn:
    # Children first; the credentials' private folders go at exit (atexit).
    terminate_all(grace=1.0)
    _print_error("interrupted")
    sys.exit(interrupt.EXIT_CODE)


def _click_exceptions() -> tuple[type[Exception], ...]:
    """Usage errors' base class: recent typer vendors click (`typer._click`), older
    releases use click itself; catching only one turned usage errors into exit 70."""
    import click

    classes: list[type[Exception]] = [click.ClickException]
    try:
        from typer._click import ClickException  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        classes.append(ClickException)
    return tuple(classes)


def _print_error(text: str) -> None:
    sys.stderr.write(f"error: {text}\n" if "\n" not in text else text + "\n")
    sys.stderr.flush()
