"""The local demo as a person meets it: a real headless browser (Debian's chromium,
driven by Playwright) logs in to the example fleet's staging hub with the demo
password as `admin`, waits for the spawn, and finds JupyterLab's UI; a screenshot
is saved under tests/artifacts/ (gitignored).

The hub is deployed by the real `hubfleet deploy` from a copy of examples/fleet,
with the real z2jh chart in the chart cache (its defaults applied, its health check
run as the canary gate). `scripts/setup test` installs chromium when it is missing
(as root); the test skips only when it is still absent.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.local import hub_status
from tests.helpers import hubfleet
from tests.local.hubs import free_base_port, kill_everything

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fleet"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
DEMO_PASSWORD = "demo-password-1234"  # the README's
# What a closed network needs: no first-run, sync, component or background traffic.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_TIMEOUT_MS = 180_000


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture
def demo(tmp_path: Path, real_chart_cache: Path) -> Iterator[tuple[Path, str]]:
    """(fleet copy, URL) of the example fleet's staging hub, deployed by `hubfleet deploy`."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is absent and could not be installed "
            "(scripts/setup test installs Debian's chromium when run as root)"
        )
    repo = tmp_path / "fleet"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".hubfleet"))
    cluster_yaml = repo / "config/clusters/local-demo/cluster.yaml"
    cluster = yaml.safe_load(cluster_yaml.read_text())
    cluster["local"]["base_port"] = free_base_port()  # other tests and demos may run
    cluster_yaml.write_text(yaml.safe_dump(cluster, sort_keys=False))
    state = repo / ".hubfleet/local/local-demo"
    try:
        report = tmp_path / "report.json"
        key = {**os.environ, "SOPS_AGE_KEY_FILE": str(repo / "DEMO-ONLY.age-key.txt")}
        result = hubfleet(
            "--repo", repo, "deploy", "local-demo", "staging", "--report", report, env=key
        )
        assert result.returncode == 0, result.stdout + result.stderr
        [job] = json.loads(report.read_text())["jobs"]
        assert job["status"] == "succeeded" and job["gate"] == "health-check", job
        assert "warning" not in job["message"], job["message"]  # the chart's defaults applied
        [status] = hub_status(state)
        yield repo, status.url
    finally:
        kill_everything(state)


def login_status(url: str, user: str, password: str) -> int:
    """The status of a login through the hub's form (302: logged in)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    page = opener.open(url + "hub/login", timeout=10).read().decode()
    match = re.search(r'name="_xsrf" value="([^"]+)"', page)
    assert match, "no _xsrf field on the login page"
    form = {"username": user, "password": password, "_xsrf": match.group(1)}
    try:
        return int(opener.open(url + "hub/login", urllib.parse.urlencode(form).encode()).status)
    except urllib.error.HTTPError as err:
        return err.code


def test_a_person_logs_in_and_gets_jupyterlab(demo: tuple[Path, str], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    _, url = demo
    # Every user name the README promises logs in with the demo password ("admin" too).
    for user in ("admin", "alice", "any-name"):
        assert login_status(url, user, DEMO_PASSWORD) == 302, user
    assert login_status(url, "alice", "not-the-password") != 302

    started = time.monotonic()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "demo-jupyterlab.png"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a new, empty user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
        )
        try:
            page = context.new_page()
            page.goto(url + "hub/login")
            page.fill("#username_input", "admin")
            page.fill("#password_input", DEMO_PASSWORD)
            page.click("#login_submit")
            # The spawn, then JupyterLab's shell with its launcher.
            page.wait_for_selector("#jp-main-dock-panel", timeout=UI_TIMEOUT_MS)
            page.wait_for_selector(".jp-Launcher", timeout=UI_TIMEOUT_MS)
            assert "/user/admin/lab" in page.url, page.url
            page.screenshot(path=str(screenshot))
        finally:
            context.close()
    elapsed = time.monotonic() - started
    print(f"\nbrowser: login to JupyterLab's UI in {elapsed:.1f}s; screenshot {screenshot}")
    assert screenshot.stat().st_size > 10_000
