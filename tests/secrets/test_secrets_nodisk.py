"""Decrypting writes nothing to disk and shows no secret anywhere (DESIGN.md section 5)."""

from __future__ import annotations

import logging
import secrets
import tempfile
import time
from pathlib import Path

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.secrets.sops import Sops, encrypt
from tests.secrets.conftest import AgeKey
from tests.written import files_holding, files_written_since

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}
MAX_SIZE = 5_000_000


def test_decrypt_writes_nothing_and_prints_nothing(
    tmp_path: Path,
    with_key: AgeKey,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    value = "nodisk-" + secrets.token_hex(16)
    repo = tmp_path / "repo"
    repo.mkdir()
    path = repo / "enc-hub.secret.values.yaml"
    path.write_bytes(
        encrypt(
            f"hub:\n  cookieSecret: {value}\n".encode(),
            filename=path.name,
            cwd=repo,
            age_recipients=[with_key.public],
        )
    )
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    since = time.time() - 1
    caplog.set_level(logging.DEBUG)
    redactor = Redactor()
    sops = Sops(redactor, cwd=repo)
    data = sops.decrypt_data(path)
    assert data["hub"]["cookieSecret"] == value
    logging.getLogger("hubfleet.test").debug("decrypted %s", redactor.scrub(str(data)))

    # Nothing new or changed in the test's folders, and the secret in no file
    # written since the test began: the tmp folders, the repository, $TMPDIR, /tmp.
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before
    roots = [tmp_path, REPO, Path(tempfile.gettempdir()), Path("/tmp"), Path.home() / ".config"]
    with tempfile.TemporaryDirectory() as probe_folder:  # the listing sees a new file
        probe = Path(probe_folder, "probe")
        probe.write_bytes(b"not the secret")
        written = files_written_since(roots, since, skip_dirs=SKIP_DIRS, max_size=MAX_SIZE)
        assert probe.resolve() in written
    assert files_holding(written, value.encode()) == []
    # Nor on stdout, stderr or in any log record, debug included.
    out, err = capfd.readouterr()
    assert value not in out and value not in err
    assert value not in caplog.text
    assert "decrypted" in caplog.text and "sops" in caplog.text
