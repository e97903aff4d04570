"""The `hubfleet` entry point: the command table, global options, error handling.

Start-up imports only what the command that runs needs: `--version` is answered
before anything else is imported, and of the command modules (`cli/<command>.py`)
only the invoked one is imported (`hubfleet.cli.app.run`), its parameters read into
a stdlib `argparse` parser (`hubfleet.cli.spec`); `--help` lists every command from
the one-line help kept in `hubfleet.cli.commands.TABLE`. Everything heavier is
imported inside functions.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import NoReturn

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


def main() -> None:
    """Run the CLI; `HubfleetError`s become one line each and their exit code."""
    args = sys.argv[1:]
    if asks_version(args):
        print_version()
        sys.exit(0)
    from hubfleet.cli.app import answer_root, parse_root
    from hubfleet.cli.spec import UsageError

    try:  # the root options alone: nothing of the core is imported for these
        root = parse_root(args)
        answered = answer_root(root)
    except UsageError as exc:
        _print_error(str(exc))
        sys.exit(2)
    if answered is not None:
        sys.exit(answered)

    from hubfleet.base.errors import HubfleetError
    from hubfleet.cli.app import run
    from hubfleet.cli.common import Options

    try:
        options = Options()  # reads HUBFLEET_MASK_KEY
    except HubfleetError as exc:
        _print_error(str(exc))
        sys.exit(exc.exit_code)
    scrub = options.redactor.scrub
    try:
        code = run(root, options)
    except UsageError as exc:  # one line naming the option or command
        _print_error(scrub(str(exc)))
        sys.exit(2)
    except HubfleetError as exc:
        _print_error(scrub(str(exc)))
        if options.debug:
            raise
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except Exception as exc:  # out of disk, anything unexpected
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            where = f" ({exc.filename})" if exc.filename else ""
            _print_error(f"{exc.strerror}{where}: free some space and run again")
            sys.exit(1)
        if options.debug or os.environ.get("HUBFLEET_DEBUG"):
            raise
        _print_error(scrub(f"internal error: {exc!r} (run with --debug for the traceback)"))
        sys.exit(70)
    if interrupt.raised():  # a signal's KeyboardInterrupt caught on its way: still exit 130
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


def _print_error(text: str) -> None:
    sys.stderr.write(f"error: {text}\n" if "\n" not in text else text + "\n")
    sys.stderr.flush()
