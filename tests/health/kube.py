"""A real JupyterHub posing as a hub on Kubernetes, for the fake kubectl.

The hub runs locally (the local provider's runtime); the fake `kubectl get secret`
answers a Secret whose default key holds the hub's check token (base64, as
Kubernetes keeps it), and the fake `kubectl port-forward` forwards to the hub.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hubfleet.config.models import HealthCheckBlock
from hubfleet.health.check import health_scopes
from hubfleet.local import LocalHubSpec, deploy_hub
from hubfleet.local.hubconfig import HEALTH_SERVICE
from hubfleet.local.runtime import local_check_token
from tests.local.hubs import SLOW_MACHINE_SPAWNER, cleaned, free_base_port

BASE_URL = "/hub-base/"  # the hub's hub.baseUrl: the check must follow it
KEY = HealthCheckBlock().key
# Another key of z2jh's Secret: never decoded, never printed.
DECOY = {"hub.config.JupyterHub.cookie_secret": "decoy-cookie-secret-s3cr3t"}


@dataclass(frozen=True)
class KubeHub:
    port: int  # where the hub (its proxy) listens on 127.0.0.1
    token: str  # its health-check service token


@contextlib.contextmanager
def running_hub(state: Path, check_users: tuple[str, ...] = ()) -> Iterator[KubeHub]:
    """A local JupyterHub under BASE_URL; every process it started is stopped after.

    `check_users`: more users the check's token may manage, so that hubs checked at the
    same time (each its own hub in a real fleet, one hub here) each use their own.
    """
    with cleaned(state):
        hub_values: dict[str, Any] = {
            "baseUrl": BASE_URL,
            "config": {"Spawner": SLOW_MACHINE_SPAWNER},
        }
        if check_users:
            scopes = [scope for user in check_users for scope in health_scopes(user)]
            hub_values["loadRoles"] = {
                "more-check-users": {"scopes": scopes, "services": [HEALTH_SERVICE]}
            }
        values = {"cull": {"enabled": False}, "hub": hub_values}
        result = deploy_hub(
            LocalHubSpec("kube", "staging", values, state, free_base_port()), timeout=120
        )
        yield KubeHub(result.port, local_check_token(state, "staging"))


def secret_json(data: Mapping[str, str]) -> str:
    """`kubectl get secret --output json` of a Secret holding `data` (encoded as Kubernetes does)."""
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": encoded})


def kubectl_rules(
    hub: KubeHub,
    *,
    namespace: str | None = None,
    data: Mapping[str, str] | None = None,
    forward_to: int | None = None,
) -> list[dict[str, Any]]:
    """Fake kubectl rules: `get secret` answers the hub's token under KEY (or `data`),
    `port-forward` forwards to the hub (or `forward_to`); only for `namespace` if given."""
    only = [f"--namespace={namespace}"] if namespace else []
    secret = {KEY: hub.token, **DECOY} if data is None else data
    return [
        {"tool": "kubectl", "args": ["get", "secret", *only], "stdout": secret_json(secret)},
        {
            "tool": "kubectl",
            "args": ["port-forward", *only],
            "forward": f"127.0.0.1:{forward_to or hub.port}",
        },
    ]


def with_base_url(fleet: Path, cluster: str, hub: str) -> None:
    """Set hub.baseUrl to BASE_URL in the hub's own values file of the fleet copy."""
    path = fleet / "config" / "clusters" / cluster / f"{hub}.values.yaml"
    values = yaml.safe_load(path.read_text())
    values.setdefault("hub", {})["baseUrl"] = BASE_URL
    path.write_text(yaml.safe_dump(values, sort_keys=False))


def set_health_check(fleet: Path, cluster: str, hub: str, settings: Mapping[str, Any]) -> None:
    """Give the hub a `health_check` block in its cluster.yaml."""
    path = fleet / "config" / "clusters" / cluster / "cluster.yaml"
    doc = yaml.safe_load(path.read_text())
    [entry] = [e for e in doc["hubs"] if e["name"] == hub]
    entry["health_check"] = dict(settings)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
