"""No test reaches a real cloud program: the stand-ins tests/conftest.py puts on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from hubfleet.base.redact import Redactor
from hubfleet.base.runner import base_environment, run
from tests.conftest import STANDINS
from tests.fakes import FakeTools
from tests.fakes.standins import CLOUD_PROGRAMS, EXIT_CODE, calls, install_standins

ROOT = Path(__file__).parents[2]


def test_every_cloud_program_of_a_test_without_fakes_is_a_stand_in() -> None:
    """On the test's PATH and on the PATH the runner gives programs, whatever the machine
    has installed (gcloud and aws are real here)."""
    for path in (os.environ["PATH"], base_environment()["PATH"]):
        for name in CLOUD_PROGRAMS:
            assert shutil.which(name, path=path) == str(STANDINS / name), name


def test_a_fake_wins_over_the_stand_in(fake_tools: FakeTools) -> None:
    result = run(["gcloud", "version"], redactor=Redactor())
    assert result.returncode == 0
    assert [c["argv"] for c in fake_tools.calls("gcloud")] == [["version"]]
    assert calls(STANDINS) == []


def test_a_stand_in_fails_loudly_and_notes_the_call(tmp_path: Path) -> None:
    folder = install_standins(tmp_path / "standins")
    done = subprocess.run(
        [str(folder / "aws"), "sts", "get-caller-identity"], capture_output=True, text=True
    )
    assert done.returncode == EXIT_CODE == 97
    assert "aws is not faked in this test" in done.stderr
    assert calls(folder) == ["aws sts get-caller-identity"]


INNER = '''
import subprocess
from pathlib import Path

from tests.fakes import install_fakes

from hubfleet.base.redact import Redactor
from hubfleet.base.runner import run


def test_forgot_its_fake() -> None:
    """Takes the failure as ordinary (as hubfleet may): only the check catches it."""
    done = subprocess.run(["gcloud", "auth", "list"], capture_output=True, text=True)
    assert done.returncode == 97 and "gcloud is not faked" in done.stderr


def test_forgot_through_the_runner() -> None:
    assert run(["az", "account", "show"], redactor=Redactor(), check=False).returncode == 97


def test_with_its_fake(tmp_path: Path) -> None:
    fakes = install_fakes(tmp_path)
    assert run(["gcloud", "auth", "list"], redactor=Redactor(), env=fakes.env()).returncode == 0
'''


def test_a_test_that_runs_a_cloud_program_without_its_fake_fails(tmp_path: Path) -> None:
    """An inner pytest run with this suite's conftest: both tests that reached a stand-in
    fail (even the one that accepted exit 97); the one with its fake passes. The inner
    run makes stand-ins of its own, so this test's check sees no call."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import _no_cloud_program_without_its_fake  # noqa: F401\n"
    )
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {**os.environ, "COLUMNS": "400", "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-p", "no:xdist",
         "--rootdir", str(tmp_path), "test_inner.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "3 passed, 2 errors" in out, out
    assert (
        "ERROR test_inner.py::test_forgot_its_fake - Failed: the test ran gcloud auth list" in out
    )
    assert (
        "ERROR test_inner.py::test_forgot_through_the_runner - Failed: the test ran az account show"
        in out
    )
    assert "PASSED test_inner.py::test_with_its_fake" in out
    assert calls(STANDINS) == []
