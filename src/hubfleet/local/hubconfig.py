"""From a hub's helm values to JupyterHub configuration, as the official chart (z2jh) does.

This module runs in two places:

- in hubfleet, to compute what the local provider ignores (`ignored_keys`);
- inside the JupyterHub process: the `jupyterhub_config.py` hubfleet ships next to
  this module only calls `configure(c)`, which reads a JSON payload (the values and
  the runtime settings: ports, folders, the health-check service token) from the
  file descriptor named by `$HUBFLEET_LOCAL_CONFIG_FD`, a pipe hubfleet writes to.
  No value, secret or not, is ever written to a file.

Order, as in the chart: runtime settings and chart defaults, the chart's
`hub.*` / `singleuser.*` keys, `hub.services`, `hub.loadRoles`, `cull`, then
`hub.config` (traitlets configuration, class -> trait -> value), then the
`hub.extraConfig` snippets in sorted-key order. Last, hubfleet enforces what makes
the hub local (127.0.0.1, the recorded ports, the database and cookie secret in the
state folder, the local-process spawner) and appends its health-check service.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any, TypedDict

from hubfleet.health.check import health_scopes
from hubfleet.local import z2jh

CONFIG_FD_ENV = "HUBFLEET_LOCAL_CONFIG_FD"
HEALTH_SERVICE = "hubfleet"
HEALTH_ROLE = "hubfleet-health-check"
# configurable-http-proxy's pid file, in the hub's folder: a proxy left behind by a
# hub that died is found by it (`hubfleet local status`) and stopped (`local stop`).
PROXY_PID_NAME = "jupyterhub-proxy.pid"

# chart key -> JupyterHub trait, for the keys of `hub` and `singleuser` honoured locally.
HUB_TRAITS = {
    "baseUrl": "base_url",
    "allowNamedServers": "allow_named_servers",
    "namedServerLimitPerUser": "named_server_limit_per_user",
    "concurrentSpawnLimit": "concurrent_spawn_limit",
    "activeServerLimit": "active_server_limit",
    "redirectToServer": "redirect_to_server",
    "shutdownOnLogout": "shutdown_on_logout",
    "templatePaths": "template_paths",
    "templateVars": "template_vars",
    "authenticatePrometheus": "authenticate_prometheus",
}
SPAWNER_TRAITS = {
    "cmd": "cmd",
    "defaultUrl": "default_url",
    "startTimeout": "start_timeout",
}
HONOURED_HUB = {
    *HUB_TRAITS,
    "config",
    "extraConfig",
    "services",
    "loadRoles",
    "consecutiveFailureLimit",
}
HONOURED_SINGLEUSER = {*SPAWNER_TRAITS, "extraEnv"}
# top-level key -> honoured sub-keys (None: every sub-key)
HONOURED: dict[str, set[str] | None] = {
    "hub": HONOURED_HUB,
    "singleuser": HONOURED_SINGLEUSER,
    "cull": None,
    "custom": None,
    "debug": None,
}

# The chart's defaults for what the local provider honours (values files usually
# only hold overrides).
CULL_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "users": False,
    "adminUsers": True,
    "removeNamedServers": False,
    "timeout": 3600,
    "every": 600,
    "concurrency": 10,
    "maxAge": 0,
}


def ignored_keys(values: Mapping[str, Any]) -> tuple[str, ...]:
    """Keys of `values` the local provider ignores (they only mean something on Kubernetes).

    Top-level keys ("proxy", "ingress", "scheduling", ...) and, inside the honoured
    `hub` and `singleuser` sections, the second-level ones ("singleuser.image").
    Environment entries taken from Kubernetes objects (`valueFrom`) are reported as
    "singleuser.extraEnv.NAME".
    """
    found: list[str] = []
    for key, sub in values.items():
        if key not in HONOURED:
            found.append(str(key))
            continue
        honoured = HONOURED[key]
        if honoured is not None and isinstance(sub, Mapping):
            found.extend(f"{key}.{name}" for name in sub if name not in honoured)
    env = values.get("singleuser", {}) if isinstance(values.get("singleuser"), Mapping) else {}
    for name, value in _env_items(env.get("extraEnv")):
        if value is None:
            found.append(f"singleuser.extraEnv.{name}")
    return tuple(sorted(found))


def _env_items(extra_env: Any) -> list[tuple[str, str | None]]:
    """`singleuser.extraEnv` as (name, value) pairs; value None when Kubernetes-only."""
    items: list[tuple[str, Any]] = []
    if isinstance(extra_env, Mapping):
        items = [(str(k), v) for k, v in extra_env.items()]
    elif isinstance(extra_env, list):
        items = [(str(e.get("name")), e) for e in extra_env if isinstance(e, Mapping)]
    pairs: list[tuple[str, str | None]] = []
    for name, value in items:
        if isinstance(value, Mapping):
            plain = value.get("value")
            pairs.append((name, None if plain is None else _env_str(plain)))
        elif value is not None:
            pairs.append((name, _env_str(value)))
    return pairs


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class HubRuntime(TypedDict):
    """hubfleet's runtime settings of a hub: where it lives, its ports, its check service."""

    cluster: str
    hub: str
    hub_dir: str
    port: int
    hub_port: int
    proxy_api_port: int
    proxy_command: list[str]
    service_token: str
    check_user: str


class HubPayload(TypedDict):
    """What crosses the process boundary: the hub's z2jh values and its runtime settings."""

    values: dict[str, Any]
    runtime: HubRuntime


def encode_payload(payload: HubPayload) -> bytes:
    """hubfleet's side of the pipe (the only place the payload is serialised)."""
    return json.dumps(payload).encode("utf-8")


def decode_payload(data: bytes) -> HubPayload:
    """The hub's side of the pipe (the only place the payload is parsed)."""
    payload: HubPayload = json.loads(data.decode("utf-8"))
    return payload


def read_payload() -> HubPayload:
    """The payload hubfleet wrote to the pipe named by $HUBFLEET_LOCAL_CONFIG_FD."""
    fd_text = os.environ.pop(CONFIG_FD_ENV, None)
    if fd_text is None:
        raise RuntimeError(
            f"{CONFIG_FD_ENV} is not set: this configuration is meant for hubs "
            "started by hubfleet's local provider"
        )
    with os.fdopen(int(fd_text), "rb") as pipe:
        return decode_payload(pipe.read())


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def _url_join(*parts: str) -> str:
    joined = "/".join(p.strip("/") for p in parts if p.strip("/"))
    return "/" + joined + ("/" if parts and parts[-1].endswith("/") else "")


def configure(c: Any, payload: HubPayload | None = None) -> None:
    """Fill the traitlets config `c` of a local hub (called from jupyterhub_config.py)."""
    if payload is None:
        payload = read_payload()
    values: dict[str, Any] = payload["values"]
    runtime = payload["runtime"]
    z2jh.load(values)
    sys.modules["z2jh"] = z2jh  # for `from z2jh import get_config` in hub.extraConfig
    get = z2jh.get_config

    # Chart defaults that matter locally.
    c.JupyterHub.authenticator_class = "dummy"
    c.JupyterHub.admin_access = True
    c.JupyterHub.cleanup_servers = True
    # As the chart: answer a spawn request at once, the client polls the user model.
    c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}
    c.JupyterHub.services = []
    c.JupyterHub.load_roles = []

    for key, trait in HUB_TRAITS.items():
        z2jh.set_config_if_not_none(c.JupyterHub, trait, f"hub.{key}")
    z2jh.set_config_if_not_none(
        c.Spawner, "consecutive_failure_limit", "hub.consecutiveFailureLimit"
    )
    for key, trait in SPAWNER_TRAITS.items():
        z2jh.set_config_if_not_none(c.Spawner, trait, f"singleuser.{key}")
    env_items = _env_items(get("singleuser.extraEnv"))
    environment = {name: value for name, value in env_items if value is not None}
    if environment:
        c.Spawner.environment = environment

    for name, service in (get("hub.services") or {}).items():
        service = dict(service)
        service.setdefault("name", name)
        token = service.pop("apiToken", None)
        if token:
            service["api_token"] = token
        c.JupyterHub.services.append(service)

    for name, role in (get("hub.loadRoles") or {}).items():
        role = dict(role)
        role.setdefault("name", name)
        c.JupyterHub.load_roles.append(role)

    if get("debug.enabled", False):
        c.JupyterHub.log_level = "DEBUG"
        c.Spawner.debug = True

    # hub.config: JupyterHub traitlets configuration, merged as the chart does.
    for section, settings in (get("hub.config") or {}).items():
        if isinstance(settings, Mapping):
            c[section].merge(type(c)(dict(settings)))

    # The culler is configured after hub.config so that it sees the final base_url.
    cull = {**CULL_DEFAULTS, **(get("cull") or {})}
    if cull["enabled"]:
        _add_culler(c, cull, runtime)

    _enforce_local(c, runtime)

    # hub.extraConfig: snippets run in sorted-key order, in a namespace like the
    # chart's jupyterhub_config.py (c, get_config and friends from z2jh).
    for key, code in sorted((get("hub.extraConfig") or {}).items()):
        namespace: dict[str, Any] = {
            "__name__": f"hubfleet_extra_config_{_camel(str(key))}",
            "c": c,
            "get_config": z2jh.get_config,
            "set_config_if_not_none": z2jh.set_config_if_not_none,
            "get_secret_value": z2jh.get_secret_value,
            "os": os,
            "sys": sys,
            "re": re,
        }
        print(f"Loading extra config: {key}", file=sys.stderr)
        exec(compile(str(code), f"<hub.extraConfig.{key}>", "exec"), namespace)

    # What makes it a local hub wins over any snippet.
    _enforce_local(c, runtime)
    _add_health_service(c, runtime)


def _add_culler(c: Any, cull: dict[str, Any], runtime: HubRuntime) -> None:
    base_url = str(c.JupyterHub.get("base_url", "/") or "/")
    api_url = f"http://127.0.0.1:{runtime['hub_port']}" + _url_join(base_url, "hub/api")
    cmd = [sys.executable, "-m", "jupyterhub_idle_culler", f"--url={api_url}"]
    scopes = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
    if cull["timeout"]:
        cmd.append(f"--timeout={cull['timeout']}")
    if cull["every"]:
        cmd.append(f"--cull-every={cull['every']}")
    if cull["concurrency"]:
        cmd.append(f"--concurrency={cull['concurrency']}")
    if cull["users"]:
        cmd.append("--cull-users")
        scopes.append("admin:users")
    if not cull["adminUsers"]:
        cmd.append("--cull-admin-users=false")
    if cull["removeNamedServers"]:
        cmd.append("--remove-named-servers")
    if cull["maxAge"]:
        cmd.append(f"--max-age={cull['maxAge']}")
    c.JupyterHub.services.append({"name": "jupyterhub-idle-culler", "command": cmd})
    c.JupyterHub.load_roles.append(
        {"name": "jupyterhub-idle-culler", "scopes": scopes, "services": ["jupyterhub-idle-culler"]}
    )


def _enforce_local(c: Any, runtime: HubRuntime) -> None:
    hub_dir = runtime["hub_dir"]
    c.JupyterHub.ip = "127.0.0.1"
    c.JupyterHub.port = int(runtime["port"])
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = int(runtime["hub_port"])
    c.JupyterHub.hub_connect_ip = "127.0.0.1"
    c.JupyterHub.db_url = "sqlite:///" + os.path.join(hub_dir, "jupyterhub.sqlite")
    c.JupyterHub.cookie_secret_file = os.path.join(hub_dir, "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = ""
    c.JupyterHub.proxy_class = "jupyterhub.proxy.ConfigurableHTTPProxy"
    c.ConfigurableHTTPProxy.should_start = True
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{runtime['proxy_api_port']}"
    c.ConfigurableHTTPProxy.command = list(runtime["proxy_command"])
    c.ConfigurableHTTPProxy.pid_file = os.path.join(hub_dir, PROXY_PID_NAME)
    spawner = str(c.JupyterHub.get("spawner_class", "") or "")
    if spawner in ("", "kubespawner.KubeSpawner", "kubespawner", "simple", "localprocess") or (
        "KubeSpawner" in spawner
    ):
        c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
    c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(hub_dir, "home", "{username}")
    c.Spawner.ip = "127.0.0.1"
    if os.getuid() == 0:
        # Jupyter Server refuses to run as root without this flag (containers, CI).
        args = list(c.Spawner.get("args", []) or [])
        if "--allow-root" not in args:
            c.Spawner.args = [*args, "--allow-root"]


def _add_health_service(c: Any, runtime: HubRuntime) -> None:
    token = runtime.get("service_token")
    if not token:
        return
    user = runtime["check_user"]
    services = [s for s in c.JupyterHub.services if s.get("name") != HEALTH_SERVICE]
    services.append({"name": HEALTH_SERVICE, "api_token": token})
    c.JupyterHub.services = services
    roles = [r for r in c.JupyterHub.load_roles if r.get("name") != HEALTH_ROLE]
    roles.append(
        {
            "name": HEALTH_ROLE,
            "description": "hubfleet's health check: manage and use its own check user only",
            "scopes": health_scopes(user),
            "services": [HEALTH_SERVICE],
        }
    )
    c.JupyterHub.load_roles = roles
    # The check user is created through the API only: it can never log in.
    blocked = set(c.Authenticator.get("blocked_users", set()) or set())
    c.Authenticator.blocked_users = blocked | {user}
