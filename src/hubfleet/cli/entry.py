"""The console script `hubfleet`: signal handlers first, then the CLI.

Importing the CLI (typer, rich, pydantic, the commands) takes a few hundred
milliseconds; a signal in that time used to print a traceback (SIGINT) or end
hubfleet with the default action (SIGTERM: exit 143). So the handlers of
`hubfleet.base.interrupt` are installed before anything else is imported; the CLI
module is imported here, inside `main`, for that reason only.
"""

from __future__ import annotations

from hubfleet.base import interrupt


def main() -> None:
    interrupt.install()
    from hubfleet.cli.main import main as run

    run()


if __name__ == "__main__":
    main()
