"""The `hubfleet` entry point: the command table, global options, error handling.

Start-up imports only what the command that runs needs: `--version` is answered
before typer is imported, and of the command modules (`cli/<command>.py`) only the
invoked one is imported (`hubfleet.cli.app.build_app`); `--help` lists every
command from the one-line help kept in `hubfleet.cli.commands.TABLE`. Everything
heavier is imported inside functions.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from hubfleet.base import interrupt
from hubfleet.cli.commands import (
    COMMANDS,
    HELP,
    TABLE,
    Entry,
    asks_version,
    invoked_command,
    print_version,
    register,
)

if TYPE_CHECKING:
    import typer

__all__ = [
    "COMMANDS",
    "HELP",
    "TABLE",
    "Entry",
    "asks_version",
    "invoked_command",
    "main",
    "print_version",
    "register",
]


def __getattr__(name: str) -> typer.Typer:
    """`app`: the application with every command's module (for tests and tools that
    drive typer directly), built on first use."""
    if name == "app":
        from hubfleet.cli.app import build_app

        app = build_app(TABLE)
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Run the CLI; `HubfleetError`s become one line each and their exit code."""
    args = sys.argv[1:]
    if asks_version(args):
        print_version()
        sys.exit(0)
    import typer

    from hubfleet.base.errors import HubfleetError
    from hubfleet.cli.app import build_app
    from hubfleet.cli.common import Options

    try:
        options = Options()  # reads HUBFLEET_MASK_KEY
    except HubfleetError as exc:
        _print_error(str(exc))
        sys.exit(exc.exit_code)
    scrub = options.redactor.scrub
    try:
        command = invoked_command(args)
        app = build_app([command] if command in TABLE else [])
        code = app(args=args, standalone_mode=False, obj=options)
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
    from hubfleet.base.runner import terminate_all

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
