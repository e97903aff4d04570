"""Stand-ins for the real cloud programs of this machine: no test can start one.

The machine that runs the tests may have the real `gcloud`, `aws` or `az` on PATH (one
once ran on fake credentials from a test that forgot its fakes). tests/conftest.py puts
a folder of stand-ins first on the PATH of every test (and of every process a test
starts): each one writes `<program> is not faked in this test` to stderr, notes the
call in the folder's `calls.log` and exits 97. A test that installs its fakes
(`install_fakes`, `fake_tools`) puts them before the stand-ins, so they win; a test
whose fakes leave one of these programs out gets the stand-in, and the conftest's
autouse check fails that test, even when hubfleet took exit 97 as a mere failure.

Only programs that must never run for real are stood in for: the cloud CLIs and the
helpers installed with them. Not helm (no real binary here, and tests check "helm is
not installed"), nor kubelogin (hubfleet runs it only when it is installed, and tests
rely on its absence); kubectl, terraform, sops and age run for real where tests say so.
The stand-ins are shell scripts (the runner's scrubbed environment keeps no variable
of ours, so the log's path is written into each script).
"""

from __future__ import annotations

import shlex
from pathlib import Path

CLOUD_PROGRAMS = (
    "gcloud",
    "gsutil",
    "bq",
    "gke-gcloud-auth-plugin",
    "docker-credential-gcloud",
    "aws",
    "aws_completer",
    "az",
)
EXIT_CODE = 97
LOG_NAME = "calls.log"


def install_standins(folder: Path) -> Path:
    """Write one stand-in per cloud program into `folder` (made if needed); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    log = shlex.quote(str(folder / LOG_NAME))
    for name in CLOUD_PROGRAMS:
        script = folder / name
        script.write_text(
            "#!/bin/sh\n"
            f'echo "{name} is not faked in this test (a stand-in from tests/fakes/standins.py;'
            f' install its fake)" >&2\n'
            f'printf "%s\\n" "{name} $*" >> {log}\n'
            f"exit {EXIT_CODE}\n"
        )
        script.chmod(0o755)
    return folder


def calls(folder: Path) -> list[str]:
    """Every stand-in call noted in `folder` so far: `program args...`, one a line."""
    log = folder / LOG_NAME
    return log.read_text().splitlines() if log.exists() else []
