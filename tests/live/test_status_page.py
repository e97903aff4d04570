"""The status page as a person meets it: Debian's chromium (Playwright) opens the HTML
that `hubfleet status --html` wrote for a fleet with every kind of state, shows the
reasons on hover, and its filter box hides what does not match. A screenshot is kept
at tests/artifacts/status.png (gitignored; docs/status.png is a copy)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.base.runner import run
from tests.deploy.conftest import DeployEnv
from tests.fakes.helmstate import HelmState
from tests.helpers import GitFleet

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def fleet_page(run_cli: Any, denv: DeployEnv, target: Path) -> dict[str, Any]:
    """A fleet in many states, through the real deploy and status: its page at `target`."""
    state = HelmState(denv.out / "clusters")
    denv.fakes.script([], helm_state=state.folder)
    repo = GitFleet.started(denv.fleet)
    assert run_cli("--repo", denv.fleet, "deploy", "delta", "--no-health-check").exit_code == 0
    chart = denv.fleet / "helm-charts" / "testhub"
    run(
        [
            "helm",
            "upgrade",
            "--install",
            "--kube-context=delta",
            "--namespace=staging-b",
            "--description=quick fix from a laptop",
            "--",
            "staging-b",
            str(chart),
        ],
        redactor=Redactor(),
        env=denv.fakes.env(),
    )
    state.seed("delta", "stray", "prod")
    repo.edit("config/clusters/delta/prod.values.yaml", "\n", "\n# a change\n")
    repo.commit("change prod")
    denv.fakes.script(
        [{"tool": "az", "exit": 1, "stderr": "ERROR: AADSTS700016: application not found"}],
        helm_state=state.folder,
    )
    result = run_cli("--repo", denv.fleet, "status", "--html", target, "--output", "json")
    assert result.exit_code == 1  # gamma could not be read; the rest is shown
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_the_page_in_chromium_filters_and_explains(
    run_cli: Any, denv: DeployEnv, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (scripts/setup test installs it as root)")
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "status.html"
    data = fleet_page(run_cli, denv, page_file)
    total = sum(len(c["rows"]) for c in data["clusters"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "status.png"
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            # The deploy's private TMPDIR is too long a path for chromium's socket.
            env={**os.environ, "TMPDIR": "/tmp"},
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_file.as_uri())
            tiles = page.locator(".tile")
            assert tiles.count() == total
            assert page.locator("#shown").inner_text() == str(total)
            hand = page.locator('.tile[data-state="changed-by-hand"]')
            assert hand.count() == 1
            assert "quick fix from a laptop" in (hand.get_attribute("title") or "")
            page.screenshot(path=str(screenshot), full_page=True)

            page.fill("#filter", "behind")
            visible = page.locator(".tile:not(.hidden)")
            assert visible.count() == 1
            assert visible.first.get_attribute("data-state") == "behind"
            assert page.locator("#shown").inner_text() == "1"
            assert page.locator("tr.cluster:not(.hidden)").count() == 1  # delta only

            page.fill("#filter", "gamma error")
            states = {t.get_attribute("data-state") for t in visible.all()}
            assert states == {"error"} and visible.count() >= 1

            page.fill("#filter", "nothing-matches-this")
            assert visible.count() == 0
            page.fill("#filter", "")
            assert visible.count() == total
        finally:
            browser.close()
    assert all(url.startswith("file://") for url in requests), requests  # self-contained
    print(f"\nstatus page: {total} releases; screenshot {screenshot}")
