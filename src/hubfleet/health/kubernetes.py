"""Health check of a hub on a Kubernetes cluster (target `kubernetes` of the provider table).

With the cluster's credentials (its private KUBECONFIG, never the user's):

1. the token: `kubectl get secret <secret> --namespace <hub> --output json`, read as
   raw bytes (never logged); only `<key>` is base64-decoded, and the token is
   registered with the redactor at once. zero-to-jupyterhub keeps the token of each
   `hub.services.<name>` there (generated when the values set none);
2. the hub: `kubectl port-forward --namespace <hub> service/<service> :<port>
   --address 127.0.0.1` in the background; the local port is read from its first
   line, and the forward is stopped when the check ends, however it ends;
3. `check_hub` against `http://127.0.0.1:<local port><hub.baseUrl>`.

The settings are the hub's `health_check` block in cluster.yaml (defaults: z2jh's
names); the base URL comes from the hub's merged values. docs/health-check.md has
the values snippet a hub needs (service, role, blocked user).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubfleet.base import argv
from hubfleet.base.errors import DeployError, HubfleetError, ProgramError
from hubfleet.base.runner import Background, Cancelled, ProgramFailed, background, run_bytes
from hubfleet.health.check import (
    API_STEPS,
    DEFAULT_USER,
    STEPS,
    CheckResult,
    base_url_of,
    check_hub,
    health_scopes,
)
from hubfleet.health.gate import HealthRequest, HealthResult
from hubfleet.release.pipeline import hub_release
from hubfleet.release.values import ReleaseValues

if TYPE_CHECKING:
    from hubfleet.base.redact import Redactor
    from hubfleet.config.fleet import Fleet, Hub

# The JupyterHub service of the values snippet; z2jh keeps its token in the hub's
# Secret under hub.services.<SERVICE>.apiToken, the default `health_check.key`.
SERVICE = "hubfleet-health-check"
KUBECTL_TIMEOUT = 60.0
FORWARD_TIMEOUT = 30.0
RETRY_DELAY_S = 2.0  # between attempts, as check_hub waits
FORWARD_GRACE = 1.0  # after a failed check: time for a dying forward to say why
# The canary gate: a freshly upgraded hub may need to pull the user image first.
GATE_ATTEMPTS = 2
GATE_ATTEMPT_TIMEOUT = 300.0
DOCS = "docs/health-check.md"
_FORWARDING = re.compile(r"^Forwarding from 127\.0\.0\.1:(\d+) ")


@dataclass(frozen=True)
class KubeTarget:
    """Where the check of one Kubernetes hub finds its token and its hub."""

    hub: str  # cluster/hub, for messages
    namespace: str
    secret: str
    key: str
    service: str
    port: int
    user: str
    base_url: str  # starts and ends with "/"


def kube_target(fleet: Fleet, hub: Hub, pipeline: ReleaseValues | None = None) -> KubeTarget:
    """The hub's check settings, its base URL from its z2jh values through the command's
    values `pipeline` (plain files only: the base URL is no secret, so an encrypted
    file's strings read as placeholders for it)."""

    release = hub_release(fleet, hub)
    if pipeline is None:
        pipeline = ReleaseValues(fleet, sops=None)
    values = pipeline.hub_values(release, placeholders=True)
    section = values.get("hub")
    raw = section.get("baseUrl") if isinstance(section, Mapping) else None
    if isinstance(raw, str) and raw.startswith("<secret:"):
        raise DeployError(
            f"hub {hub.label}: hub.baseUrl is set in an encrypted values file",
            hint="set hub.baseUrl in a plain values file; the health check reads no secrets for it",
        )
    settings = hub.health_check
    return KubeTarget(
        hub=hub.label,
        namespace=hub.namespace,
        secret=settings.secret,
        key=settings.key,
        service=settings.service,
        port=settings.port,
        user=settings.user or DEFAULT_USER,
        base_url=base_url_of(values),
    )


def values_snippet(user: str = DEFAULT_USER) -> dict[str, Any]:
    """What a Kubernetes hub's own values need for the check (docs/health-check.md).

    The service (z2jh generates its token into the hub's Secret), a role with only
    the check user's scopes (those the local provider grants, `health_scopes`),
    and the check user blocked from logging in: it exists through the API only.
    """

    return {
        "hub": {
            "services": {SERVICE: {}},
            "loadRoles": {
                SERVICE: {
                    "description": "hubfleet health check (its own check user only)",
                    "scopes": health_scopes(user),
                    "services": [SERVICE],
                }
            },
            "config": {"Authenticator": {"blocked_users": [user]}},
        }
    }


def _fix(target: KubeTarget) -> str:
    return (
        f"register the health-check service in the hub's values ({DOCS}), set "
        f"health_check.secret/key in cluster.yaml if it is kept elsewhere, or switch the "
        f"check off with `health_check: {{enabled: false}}` on hub {target.hub}"
    )


def read_token(
    target: KubeTarget,
    *,
    env: Mapping[str, str],
    redactor: Redactor,
    cancel: threading.Event | None = None,
) -> str:
    """The check's API token from the hub's Secret, registered with `redactor`."""
    where = f"Secret {target.secret!r} in namespace {target.namespace!r}"
    try:
        result = run_bytes(
            token_argv(target.namespace, target.secret, target.hub),
            redactor=redactor,
            env=env,
            timeout=KUBECTL_TIMEOUT,
            cancel=cancel,
        )
    except ProgramFailed as exc:
        if "NotFound" in exc.stderr:
            raise DeployError(
                f"{where} not found (hub {target.hub}): {exc.stderr.strip()}", hint=_fix(target)
            ) from None
        raise DeployError(f"cannot read {where}: {exc.message}") from None
    try:
        secret = json.loads(result.stdout)
    except ValueError:
        secret = None
    data = secret.get("data") if isinstance(secret, dict) else None
    if not isinstance(data, dict):
        raise DeployError(f"kubectl answered no Secret data for {where}")
    encoded = data.get(target.key)
    if not encoded:
        services = sorted(str(k) for k in data if str(k).startswith("hub.services."))
        others = f" (its hub.services keys: {', '.join(services)})" if services else ""
        raise DeployError(f"{where} has no key {target.key!r}{others}", hint=_fix(target))
    try:
        token = base64.b64decode(str(encoded), validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError):
        raise DeployError(f"key {target.key!r} of {where} is not base64 text") from None
    if not token:
        raise DeployError(f"key {target.key!r} of {where} is empty", hint=_fix(target))
    redactor.add(token)
    return token


def token_argv(namespace: str, secret: str, hub: str) -> list[str]:
    """`kubectl get secret`, its configured names checked and after `--` (`hubfleet.base.argv`)."""
    return [
        "kubectl", "get", "secret", "--output=json",
        argv.flag("--namespace", argv.dns_label(namespace, f"the namespace of hub {hub}")),
        "--", argv.k8s_name(secret, f"health_check.secret of hub {hub}"),
    ]  # fmt: skip


def forward_argv(namespace: str, service: str, port: int | str, hub: str) -> list[str]:
    """`kubectl port-forward` to the hub's Service, checked like `token_argv`."""
    name = argv.k8s_name(service, f"health_check.service of hub {hub}")
    number = argv.port(port, f"health_check.port of hub {hub}")
    return [
        "kubectl", "port-forward", "--address=127.0.0.1",
        argv.flag("--namespace", argv.dns_label(namespace, f"the namespace of hub {hub}")),
        "--", f"service/{name}", f":{number}",
    ]  # fmt: skip


def check_arguments(hub: Hub) -> None:
    """Raise `ArgvError` (exit 2) now when a setting of the hub's check cannot reach
    kubectl: what a deploy checks before it starts."""
    settings = hub.health_check
    label = hub.label
    token_argv(hub.namespace, settings.secret, label)
    forward_argv(hub.namespace, settings.service, settings.port, label)


@dataclass(frozen=True)
class Forward:
    """A running `kubectl port-forward`: the local port on 127.0.0.1."""

    port: int
    program: Background

    def ended(self, wait: float = 0.0) -> str | None:
        """What kubectl said if it ended (e.g. "lost connection to pod"), waiting up to
        `wait` seconds for that; None while it runs."""
        code = self.program.wait(wait)
        if code is None:
            return None
        return self.program.stderr() or f"exit code {code}"


@contextlib.contextmanager
def port_forward(
    target: KubeTarget,
    *,
    env: Mapping[str, str],
    redactor: Redactor,
    cancel: threading.Event | None = None,
    timeout: float = FORWARD_TIMEOUT,
) -> Iterator[Forward]:
    """`kubectl port-forward` to the hub's Service while the block runs. Stopped when
    the block exits (also on an exception or Ctrl-C), or at once when `cancel` is set."""
    words = forward_argv(target.namespace, target.service, target.port, target.hub)
    with background(words, redactor=redactor, env=env, cancel=cancel) as program:
        try:
            found = program.wait_for_line(_FORWARDING, timeout)
        except ProgramError as exc:
            if isinstance(exc, Cancelled):
                raise
            raise DeployError(
                f"kubectl port-forward to service/{target.service}:{target.port} in namespace "
                f"{target.namespace!r} failed: {exc.message}",
                hint=f"set health_check.service and health_check.port of hub {target.hub} to "
                "the Service that serves the hub (z2jh: proxy-public, port 80)",
            ) from None
        yield Forward(int(found.group(1)), program)


def check_kubernetes_hub(
    fleet: Fleet,
    hub: Hub,
    *,
    env: Mapping[str, str],
    redactor: Redactor,
    cancel: threading.Event | None = None,
    attempts: int = GATE_ATTEMPTS,
    attempt_timeout: float = GATE_ATTEMPT_TIMEOUT,
    user_server: bool = True,
    pipeline: ReleaseValues | None = None,
) -> tuple[str, CheckResult]:
    """(URL checked, result) of the REST API check of one Kubernetes hub, inside its
    cluster's credentials (`env`: the provider's KUBECONFIG and cloud variables).

    Raises `DeployError` when the check cannot start: no token, no forward. Without
    `user_server`, only the hub's API is asked (no token read, no user made).
    `pipeline`: the command's values pipeline (None: one of its own, no secrets).
    """
    target = kube_target(fleet, hub, pipeline)
    token = read_token(target, env=env, redactor=redactor, cancel=cancel) if user_server else ""
    started = time.monotonic()
    attempts = max(1, attempts)
    for attempt in range(1, attempts + 1):
        # A fresh forward per attempt: one that died with its pod is not reused.
        with port_forward(target, env=env, redactor=redactor, cancel=cancel) as forward:
            url = f"http://127.0.0.1:{forward.port}{target.base_url}"
            result = check_hub(
                url,
                token,
                user=target.user,
                attempts=1,
                attempt_timeout=attempt_timeout,
                redactor=redactor,
                steps=STEPS if user_server else API_STEPS,
            )
            # A failure may be the forward's: it dies with the connection to the pod.
            ended = None if result.ok else forward.ended(wait=FORWARD_GRACE)
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"health check of {target.hub} cancelled")
        if ended is not None:
            result = _noted(result, f"kubectl port-forward had ended: {ended}")
        if result.ok or attempt == attempts:
            break
        if (cancel or threading.Event()).wait(RETRY_DELAY_S):
            raise Cancelled(f"health check of {target.hub} cancelled")
    elapsed = time.monotonic() - started
    return url, dataclasses.replace(result, attempts=attempt, duration_s=elapsed)


def _noted(result: CheckResult, note: str) -> CheckResult:
    """`result` with `note` added to its failed step's message."""
    steps = tuple(
        dataclasses.replace(step, message=f"{step.message} ({note})") if not step.ok else step
        for step in result.steps
    )
    return dataclasses.replace(result, steps=steps)


def health_check(request: HealthRequest) -> HealthResult:
    """The canary gate for Kubernetes hubs: `check_kubernetes_hub` of the freshly
    upgraded staging hub."""

    try:
        _, result = check_kubernetes_hub(
            request.fleet,
            request.hub,
            env=request.credentials.env,
            redactor=request.redactor,
            cancel=request.cancel,
            user_server=request.user_server,
            pipeline=request.values,
        )
    except Cancelled:
        return HealthResult(False, "cancelled during the health check")
    except HubfleetError as exc:
        return HealthResult(False, str(exc))
    if result.ok and not request.user_server:  # say what was (and was not) checked
        return HealthResult(True, f"{result.message}: {result.steps[-1].message}, no user server")
    return HealthResult(result.ok, result.message)
