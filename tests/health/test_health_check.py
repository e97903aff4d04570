"""The health check against real local hubs."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.health import STEPS, check_hub
from hubfleet.health.check import _in_new_loop
from hubfleet.local import LocalDeployResult, LocalHubSpec, deploy_hub, local_check_token
from tests.local.hubs import (
    ADMIN_TOKEN,
    SLOW_MACHINE_SPAWNER,
    cleaned,
    free_base_port,
    rich_values,
)

# Two running hubs for the module: its tests run on one pytest-xdist worker. Among the slowest files.
pytestmark = [pytest.mark.xdist_group("health-hubs"), pytest.mark.slow]


class Hubs:
    def __init__(self, state_dir: Path, good: LocalDeployResult, bad: LocalDeployResult) -> None:
        self.state_dir = state_dir
        self.good = good
        self.bad = bad


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hubs]:
    state_dir = tmp_path_factory.mktemp("health") / "demo"
    with cleaned(state_dir):
        base = free_base_port()
        # The check opens the user's default page: JupyterLab's, not rich_values' JSON API.
        good_values = rich_values()
        good_values["singleuser"]["defaultUrl"] = "/lab"  # type: ignore[index]
        good_values["hub"]["config"]["Spawner"] = SLOW_MACHINE_SPAWNER  # type: ignore[index]
        good = deploy_hub(LocalHubSpec("demo", "good", good_values, state_dir, base), timeout=60)
        bad_values = {
            "singleuser": {"cmd": ["/nonexistent/jupyterhub-singleuser"]},
            "hub": rich_values()["hub"],
            "cull": {"enabled": False},
        }
        bad = deploy_hub(LocalHubSpec("demo", "bad", bad_values, state_dir, base), timeout=60)
        yield Hubs(state_dir, good, bad)


def user_exists(url: str, name: str) -> bool:
    req = urllib.request.Request(url + f"hub/api/users/{name}")
    req.add_header("Authorization", f"token {ADMIN_TOKEN}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return bool(json.loads(resp.read())["name"] == name)
    except urllib.error.HTTPError as err:
        assert err.code == 404
        return False


def test_check_passes_on_a_good_hub(hubs: Hubs) -> None:
    redactor = Redactor()
    token = local_check_token(hubs.state_dir, "good")
    result = check_hub(hubs.good.url, token, attempts=1, attempt_timeout=90, redactor=redactor)
    assert result.ok, result.steps
    assert result.failed_step is None and result.attempts == 1
    assert [s.name for s in result.steps] == list(STEPS)
    assert all(s.ok for s in result.steps)
    notebook = next(s for s in result.steps if s.name == "run_notebook")
    assert "'42'" in notebook.message
    assert not user_exists(hubs.good.url, "hubfleet-health-check")
    assert token not in json.dumps([s.message for s in result.steps])
    assert redactor.scrub(token) == "[REDACTED]"


def test_check_fails_naming_the_step_when_servers_cannot_start(hubs: Hubs) -> None:
    token = local_check_token(hubs.state_dir, "bad")
    result = check_hub(hubs.bad.url, token, attempts=2, attempt_timeout=60, retry_delay=0.1)
    assert not result.ok and result.attempts == 2
    assert result.failed_step in ("start_server", "wait_ready")
    assert result.steps[-1].name == result.failed_step and not result.steps[-1].ok
    assert result.failed_step in result.message
    assert not user_exists(hubs.bad.url, "hubfleet-health-check")  # cleaned up


@pytest.mark.parametrize(
    ("default_url", "why"),
    [
        # Notebook's /tree without the notebook package: what the demo's users got.
        ("/tree", "HTTP 404 (is the user interface, e.g. JupyterLab, installed?)"),
        ("/api/status", "not an HTML page"),  # JSON, not a page for a person
    ],
)
def test_check_fails_when_the_default_url_is_not_a_page(
    hubs: Hubs, default_url: str, why: str
) -> None:
    token = local_check_token(hubs.state_dir, "good")
    result = check_hub(
        hubs.good.url, token, attempts=1, attempt_timeout=90, default_url=default_url
    )
    assert not result.ok and result.failed_step == "open_default_url", result.steps
    assert why in result.steps[-1].message and default_url in result.steps[-1].message
    assert not user_exists(hubs.good.url, "hubfleet-health-check")  # cleaned up


def test_token_is_scoped_to_the_check_user(hubs: Hubs) -> None:
    token = local_check_token(hubs.state_dir, "good")
    req = urllib.request.Request(hubs.good.url + "hub/api/users/alice", data=b"", method="POST")
    req.add_header("Authorization", f"token {token}")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code in (403, 404)
    other = check_hub(hubs.good.url, token, user="someone-else", attempts=1, retry_delay=0)
    assert other.failed_step == "create_user"


def test_bad_token_and_unreachable_hub_fail_at_the_first_step(hubs: Hubs) -> None:
    result = check_hub(hubs.good.url, "not-a-token", attempts=1, retry_delay=0)
    assert result.failed_step == "create_user" and "403" in result.steps[0].message
    port = free_base_port(1)
    result = check_hub(f"http://127.0.0.1:{port}/", "tok", attempts=2, retry_delay=0)
    assert result.failed_step == "create_user" and result.attempts == 2


def test_runs_inside_a_running_event_loop() -> None:
    async def inner() -> str:
        async def work() -> str:
            return "done"

        return _in_new_loop(work)

    assert asyncio.run(inner()) == "done"
