"""Run the real entry point in a fresh interpreter and report the modules it imported
(tests/cli/test_lazy.py: start-up imports only the command that runs;
tests/plan/test_light_path.py: a plan from a list of files imports no rendering)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import TEST_FLEET

PROBE = """
import atexit, json, sys
sys.argv = ["hubfleet", *json.loads(sys.argv[1])]
atexit.register(lambda: sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
from hubfleet.cli.entry import main
main()
"""


def run_fresh(*args: str, stdin: str = "", code: str = PROBE) -> tuple[int, str, set[str]]:
    """(exit code, stdout, modules imported) of `hubfleet ARGS` run by `code` in the
    test fleet, with a bare environment."""
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        input=stdin,
        capture_output=True,
        text=True,
        env={"COLUMNS": "100", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
        cwd=TEST_FLEET,
        timeout=120,
    )
    marker = [line for line in result.stderr.splitlines() if line.startswith("MODULES ")]
    assert marker, result.stderr
    return result.returncode, result.stdout, set(json.loads(marker[-1][len("MODULES ") :]))
