"""The console script `hubfleet`: signal handlers first, then the CLI.

Importing the CLI (typer, rich, pydantic, the commands) takes a few hundred
milliseconds; a signal in that time used to print a traceback (SIGINT) or end
hubfleet with the default action (SIGTERM: exit 143). So signals are handled from
this module's first lines: a recorder on the C `_signal` module (importing
`signal` alone takes milliseconds: it imports `enum`) notes any signal while
`hubfleet.base.interrupt` itself is imported; `main` then installs its handlers
and hands them what was noted, and imports the CLI. A SIGINT at any moment
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

from hubfleet.base import interrupt  # noqa: E402  (after the recorder, on purpose)


def main() -> None:
    interrupt.install()
    for signum in _early:  # what came while the handlers were being imported
        interrupt.handler(signum, None)
    _early.clear()
    from hubfleet.cli.main import main as run

    run()


if __name__ == "__main__":
    main()
