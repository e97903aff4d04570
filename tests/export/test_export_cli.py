"""`hubfleet export` from the command line (the real entry point, in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import public_key

from .conftest import FIXTURE_FLEET, FLEET_KEY, MARKER, OTHER_KEY

HUBFLEET = str(Path(sys.executable).parent / "hubfleet")


def _run(*args: str, key: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if key:
        env["SOPS_AGE_KEY_FILE"] = str(FLEET_KEY)
    return subprocess.run(
        [HUBFLEET, "--repo", str(FIXTURE_FLEET), "export", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_export_verify_json(tmp_path: Path) -> None:
    done = _run("alpha", "staging", str(tmp_path / "e"), "--verify", "--output", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["verify"]["status"] == "same"
    assert data["verify"]["secrets"] == "decrypted"
    assert data["secrets"] == "encrypted"
    assert MARKER not in done.stdout + done.stderr


def test_cli_decrypt_needs_acknowledgement(tmp_path: Path) -> None:
    done = _run("alpha", "staging", str(tmp_path / "e"), "--decrypt")
    assert done.returncode == 2
    assert "--i-understand-plaintext" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "e").exists()


def test_cli_recipient_verify_text(tmp_path: Path) -> None:
    done = _run(
        "alpha", "prod1", str(tmp_path / "e"), "--recipient", public_key(OTHER_KEY), "--verify"
    )
    assert done.returncode == 0, done.stderr
    assert "secrets: reencrypted" in done.stdout
    assert "round trip: the export renders the same" in done.stdout
    assert MARKER not in done.stdout + done.stderr


def test_cli_unknown_hub_is_a_clear_error(tmp_path: Path) -> None:
    done = _run("alpha", "prod3", str(tmp_path / "e"), key=False)
    assert done.returncode == 2
    assert "no hub 'prod3'" in done.stderr
