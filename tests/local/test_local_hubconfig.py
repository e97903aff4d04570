"""Values -> JupyterHub configuration, in-process (no hub started)."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from traitlets.config import Config

from hubfleet.health.check import base_url_of, health_scopes
from hubfleet.local import hubconfig
from tests.local.hubs import ADMIN_TOKEN, rich_values


def configure(values: dict[str, Any], **runtime: Any) -> Config:
    c = Config()
    payload = {
        "values": values,
        "runtime": {
            "hub_dir": "/state/hub",
            "port": 18000,
            "hub_port": 40001,
            "proxy_api_port": 40002,
            "proxy_command": ["/bin/chp"],
            "service_token": "tok-123456",
            "check_user": "hubfleet-health-check",
            **runtime,
        },
    }
    hubconfig.configure(c, payload)
    return c


def test_ignored_keys_are_kubernetes_only_ones() -> None:
    assert hubconfig.ignored_keys(rich_values()) == (
        "hub.image",
        "ingress",
        "proxy",
        "scheduling",
        "singleuser.extraEnv.FROM_SECRET",
        "singleuser.image",
        "singleuser.storage",
    )


def test_chart_keys_hub_config_services_roles(capsys: pytest.CaptureFixture[str]) -> None:
    c = configure(rich_values())
    assert c.JupyterHub.authenticator_class == "dummy"
    assert c.DummyAuthenticator.password == "s3cr3t-demo-password"
    assert c.Spawner.default_url == "/api/status"
    assert c.Spawner.environment == {"HUBFLEET_TEST": "yes"}
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert services["test-admin"] == {"name": "test-admin", "api_token": ADMIN_TOKEN}
    assert services["hubfleet"] == {"name": "hubfleet", "api_token": "tok-123456"}
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["test-admin"]["services"] == ["test-admin"]
    assert roles["hubfleet-health-check"]["scopes"] == health_scopes("hubfleet-health-check")
    assert "hubfleet-health-check" in c.Authenticator.blocked_users
    # extraConfig: sorted by key, z2jh's get_config (import or global) reads `custom`
    out = capsys.readouterr()
    first = out.out.index("extra-config-order: first Demo Hub")
    assert out.out.index("extra-config-order: second Demo Hub") > first


def test_cull_defaults_and_options() -> None:
    c = configure({"cull": {"users": True, "timeout": 60}})
    culler = next(s for s in c.JupyterHub.services if s["name"] == "jupyterhub-idle-culler")
    cmd = culler["command"]
    assert cmd[:3] == [sys.executable, "-m", "jupyterhub_idle_culler"]
    assert "--url=http://127.0.0.1:40001/hub/api" in cmd
    assert "--timeout=60" in cmd and "--cull-every=600" in cmd and "--cull-users" in cmd
    role = next(r for r in c.JupyterHub.load_roles if r["name"] == "jupyterhub-idle-culler")
    assert "admin:users" in role["scopes"]
    c = configure({"cull": {"enabled": False}})
    assert all(s["name"] != "jupyterhub-idle-culler" for s in c.JupyterHub.services)


def test_local_settings_win_over_extra_config() -> None:
    snippet = (
        "c.JupyterHub.ip = '0.0.0.0'\n"
        "c.JupyterHub.spawner_class = 'kubespawner.KubeSpawner'\n"
        "c.JupyterHub.services = []\n"
    )
    c = configure({"hub": {"extraConfig": {"net": snippet}, "baseUrl": "/prefix"}})
    assert c.JupyterHub.ip == "127.0.0.1"
    assert c.JupyterHub.port == 18000
    assert c.JupyterHub.hub_ip == "127.0.0.1"
    assert c.JupyterHub.spawner_class == "jupyterhub.spawner.SimpleLocalProcessSpawner"
    assert c.SimpleLocalProcessSpawner.home_dir_template == "/state/hub/home/{username}"
    assert c.JupyterHub.db_url == "sqlite:////state/hub/jupyterhub.sqlite"
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:40002"
    assert [s["name"] for s in c.JupyterHub.services] == ["hubfleet"]
    assert c.JupyterHub.base_url == "/prefix"
    assert base_url_of({"hub": {"baseUrl": "/prefix"}}) == "/prefix/"


def test_z2jh_kubernetes_helpers_explain_themselves() -> None:
    with pytest.raises(Exception, match="no meaning for a hub of the local provider"):
        configure({"hub": {"extraConfig": {"k": "from z2jh import get_name\nget_name('hub')"}}})
