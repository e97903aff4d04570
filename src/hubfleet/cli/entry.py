"""The console script `hubfleet`: signal handlers first, then the CLI.

Importing the CLI (argparse, the command, the core it needs) takes tens to hundreds of
milliseconds; a signal in that time used to print a traceback (SIGINT) or end
hubfleet with the default action (SIGTERM: exit 143). So signals are handled from
this module's first lines: a recorder on the C `_signal` module (importing
`signal` alone takes milliseconds: it imports `enum`) notes any signal while
`main` answers `--version` or imports `hubfleet.base.interrupt`; `main` then
installs its handlers and hands them what was noted, and imports the CLI. A SIGINT at any moment
after this module starts is exit 130 with one line, never a traceback. Before it
(the interpreter's own start and the console script's first import, about 10 ms)
Python's default handler is all there is: nothing of hubfleet's runs yet.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # no stub; `signal` is slow to import

_early: list[int] = []


def _note(signum: int, frame: object) -> None:
    _early.append(signum)


for _sig in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT):
    _signal.signal(_sig, _note)


def main() -> None:
    import sys

    from hubfleet.cli.commands import asks_version, print_version

    # `--version` is answered first, with the command table's module alone (no
    # `interrupt`: its imports were most of this answer's time); a signal noted
    # meanwhile still ends it as any other (exit 130).
    if asks_version(sys.argv[1:]):
        print_version()
        if _early:
            sys.stderr.write("error: interrupted\n")
            sys.exit(130)
        sys.exit(0)
    from hubfleet.base import interrupt

    interrupt.install()
    for signum in _early:  # what came while the handlers were being imported
        interrupt.handler(signum, None)
    _early.clear()
    from hubfleet.cli.main import main as run

    run()


if __name__ == "__main__":
    main()
