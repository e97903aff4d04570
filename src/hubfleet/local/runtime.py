"""The local provider's runtime: each hub is a JupyterHub process on 127.0.0.1.

State folder of a cluster (`LocalHubSpec.state_dir`, default
`<repo>/.hubfleet/local/<cluster>`, mode 0700)::

    .lock                        cluster lock (port allocation)
    <hub>/                       0700, the hub's working directory
        hub.json                 pid, process start time, ports, URL, config hash (no values)
        ports.json               the hub's stable ports
        hubfleet-service-token   0600, token of the health-check service (hub-local credential)
        jupyterhub.sqlite        JupyterHub's database (users survive upgrades)
        jupyterhub_cookie_secret JupyterHub's cookie secret
        jupyterhub.log           the hub's log (JupyterHub, proxy, servers)
        home/<user>/             single-user homes

The values (secrets included) never touch the disk: they reach JupyterHub through a
pipe read by the generic `jupyterhub_config.py` shipped in this package.

This module is the runtime's use cases (deploy, stop, status); the state folder's
files are read and written in `local/state.py`, processes started, awaited and
stopped in `local/processes.py`, the payload crossing the pipe typed in
`local/hubconfig.py` (`HubPayload`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import hubfleet
from hubfleet.base.errors import HubfleetError, did_you_mean
from hubfleet.base.redact import Redactor
from hubfleet.health.check import DEFAULT_USER, base_url_of
from hubfleet.helm.values import at_key
from hubfleet.local import hubconfig, processes
from hubfleet.local import state as hubstate
from hubfleet.local.processes import LocalDeployError, api_answers, find_proxy_command
from hubfleet.local.state import (
    DEFAULT_STATE_ROOT,
    LOG_NAME,
    PORTS_NAME,
    HubState,
    Ports,
    cluster_state_dir,
    local_check_token,
    locked,
    port_is_free,
    private_dir,
)

__all__ = [
    "DEFAULT_STATE_ROOT",
    "LocalDeployError",
    "Ports",
    "api_answers",
    "cluster_state_dir",
    "find_proxy_command",
    "local_check_token",
]

DEFAULT_BASE_PORT = 18000
# The user the health check runs as by default: the hub grants its service scopes on it.
DEFAULT_CHECK_USER = DEFAULT_USER
STOP_GRACE_S = 10.0
_HUB_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(frozen=True)
class LocalHubSpec:
    """One hub of a local cluster, as the orchestrator builds it from the fleet.

    `values` are the hub's merged helm values (secrets included, in memory only);
    `values_key` selects the z2jh values inside them when the hub's chart wraps the
    JupyterHub chart (e.g. "jupyterhub" for a basehub-style chart). `chart_values`
    are `values` coalesced over the chart's default values, as an install on
    Kubernetes gets them (None: the chart was not available, the hub runs on
    `values` alone); the hub is configured from them, while the ignored
    (Kubernetes-only) keys are those of `values`, the keys the hub's files set.
    """

    cluster: str
    hub: str
    values: Mapping[str, Any] = field(repr=False, hash=False)
    state_dir: Path
    base_port: int = DEFAULT_BASE_PORT
    values_key: str | None = None
    chart_values: Mapping[str, Any] | None = field(default=None, repr=False, hash=False)


@dataclass(frozen=True)
class LocalDeployResult:
    cluster: str
    hub: str
    status: Literal["succeeded", "unchanged"]
    url: str
    pid: int
    port: int
    log_path: Path
    ignored_keys: tuple[str, ...]
    message: str
    duration_s: float


@dataclass(frozen=True)
class LocalHubStatus:
    cluster: str
    hub: str
    url: str
    pid: int | None
    running: bool
    uptime_s: float | None
    healthy: bool
    log_path: Path
    # singleuser.defaultUrl of the running configuration (None: the server's own default)
    default_url: str | None = None
    # Processes of the hub left running although the hub is not (an orphaned proxy
    # holding the hub's port, a single-user server): what `local stop` stops.
    leftovers: tuple[processes.Leftover, ...] = ()
    # Another program listening on the stopped hub's port (" by NAME (pid N)"), if any.
    port_taken_by: str | None = None
    port: int | None = None

    @property
    def note(self) -> str:
        """One line on what a stopped hub left behind ("" when nothing)."""
        parts = [f"orphaned {left.describe(self.port)}" for left in self.leftovers]
        if self.port_taken_by:
            parts.append(f"port {self.port} is taken{self.port_taken_by}")
        return "; ".join(parts)


@dataclass(frozen=True)
class LocalStopResult:
    cluster: str
    hub: str
    was_running: bool
    processes_stopped: int


def _check_hub_name(name: str, what: str) -> None:
    if not name or name.startswith(".") or not set(name) <= _HUB_NAME_OK:
        raise HubfleetError(
            f"invalid {what} name {name!r} for the local provider",
            hint="use letters, digits, '-', '_' and '.'",
        )


def hub_url(port: int, base_url: str = "/") -> str:
    return f"http://127.0.0.1:{port}{base_url}"


def values_for_hub(spec: LocalHubSpec) -> dict[str, Any]:
    """The JupyterHub chart values the hub runs with (inside `values_key` for wrapper
    charts): over the chart's defaults when the spec has them."""
    values = at_key(
        spec.values if spec.chart_values is None else spec.chart_values, spec.values_key
    )
    plain: dict[str, Any] = json.loads(json.dumps(values, default=str))
    return plain


def default_url_of(values: Mapping[str, Any]) -> str | None:
    """`singleuser.defaultUrl` of z2jh values (None when unset)."""
    singleuser = values.get("singleuser")
    url = singleuser.get("defaultUrl") if isinstance(singleuser, Mapping) else None
    return str(url) if url else None


def config_hash(values: Mapping[str, Any], ports: Ports, check_user: str) -> str:
    """What decides "unchanged": the values, hubfleet's version, the public port, the check user."""
    doc = {
        "values": values,
        "hubfleet": hubfleet.__version__,
        "port": ports.port,
        "check_user": check_user,
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- state


def _running_state(hub_dir: Path) -> tuple[HubState | None, bool]:
    """The hub's recorded state, and whether its recorded process is alive and ours."""
    state = hubstate.read_state(hub_dir)
    if state is None:
        return None, False
    return state, processes.is_our_process(state.pid, state.create_time)


def _stop_recorded(hub_dir: Path, state: HubState | None, alive: bool) -> int:
    """Stop the recorded hub (signalled only when `alive`: it is ours) and every process
    working in its folder, then forget its pid; return how many processes were stopped."""
    count = processes.terminate_hub(
        state.pid if alive and state is not None else None,
        state.create_time if state is not None else None,
        hub_dir,
        grace=STOP_GRACE_S,
        proxy_pid_file=hub_dir / hubconfig.PROXY_PID_NAME,
    )
    if state is not None:
        hubstate.write_state(hub_dir, state.without_process())
    return count


# ----------------------------------------------------------------------------- deploy


def deploy_hub(
    spec: LocalHubSpec,
    *,
    timeout: float = 120.0,
    redactor: Redactor | None = None,
    check_user: str = DEFAULT_CHECK_USER,
) -> LocalDeployResult:
    """Start (or restart, or leave running) one local hub; wait until its API answers.

    Unchanged configuration and a live process: status "unchanged", nothing touched.
    Otherwise the hub is stopped (its whole process tree) and started again with the
    same database and cookie secret, so users survive. Raises `LocalDeployError`
    (a `DeployError`) when JupyterHub exits or does not answer within `timeout`.
    """
    started = time.monotonic()
    _check_hub_name(spec.cluster, "cluster")
    _check_hub_name(spec.hub, "hub")
    state_dir = private_dir(Path(spec.state_dir).resolve())
    hub_dir = private_dir(state_dir / spec.hub)
    log_path = hub_dir / LOG_NAME
    values = values_for_hub(spec)
    ignored = hubconfig.ignored_keys(at_key(spec.values, spec.values_key))
    base_url = base_url_of(values)

    with locked(hub_dir):
        ports = hubstate.allocate_ports(state_dir, spec.hub, spec.base_port)
        token = hubstate.service_token(hub_dir)
        if redactor is not None:
            redactor.add(token)
        url = hub_url(ports.port, base_url)
        digest = config_hash(values, ports, check_user)
        state, alive = _running_state(hub_dir)

        if (
            alive
            and state is not None
            and state.pid is not None
            and state.config_hash == digest
            and api_answers(url, timeout=5.0)
        ):
            return LocalDeployResult(
                cluster=spec.cluster,
                hub=spec.hub,
                status="unchanged",
                url=url,
                pid=state.pid,
                port=ports.port,
                log_path=log_path,
                ignored_keys=ignored,
                message="configuration unchanged; hub left running",
                duration_s=time.monotonic() - started,
            )

        restarted = alive
        _stop_recorded(hub_dir, state, alive)

        if not port_is_free(ports.port):
            raise LocalDeployError(
                f"port {ports.port} of hub {spec.hub!r} (cluster {spec.cluster!r}) "
                f"is taken{processes.who_listens(ports.port)}",
                log_path=log_path,
                hint=f"stop what listens on 127.0.0.1:{ports.port}, or change the cluster's "
                f"local base port (the hub's ports are recorded in {hub_dir / PORTS_NAME})",
            )
        ports = hubstate.refresh_internal_ports(state_dir, spec.hub, ports)

        payload: hubconfig.HubPayload = {
            "values": values,
            "runtime": {
                "cluster": spec.cluster,
                "hub": spec.hub,
                "hub_dir": str(hub_dir),
                "port": ports.port,
                "hub_port": ports.hub_port,
                "proxy_api_port": ports.proxy_api_port,
                "proxy_command": find_proxy_command([state_dir]),
                "service_token": token,
                "check_user": check_user,
            },
        }
        proc, log_offset = processes.start_hub(hub_dir, log_path, payload, digest)
        create_time = processes.create_time_of(proc.pid)
        record = HubState(
            cluster=spec.cluster,
            hub=spec.hub,
            pid=proc.pid,
            create_time=create_time,
            url=url,
            port=ports.port,
            hub_port=ports.hub_port,
            proxy_api_port=ports.proxy_api_port,
            started_at=time.time(),
            hubfleet_version=hubfleet.__version__,
            log=str(log_path),
            default_url=default_url_of(values),
        )
        hubstate.write_state(hub_dir, record)

        what = f"JupyterHub of hub {spec.hub!r} (cluster {spec.cluster!r})"
        try:
            processes.wait_ready(
                proc, url, started + timeout, what, (log_path, log_offset), redactor
            )
        except BaseException:
            processes.terminate_hub(proc.pid, create_time, hub_dir, grace=3.0)
            processes.reap(proc)
            hubstate.write_state(hub_dir, record.without_process())
            raise

        # Recorded only once the hub answers: a failed start is retried next time.
        hubstate.write_state(hub_dir, replace(record, config_hash=digest))
        what = "restarted with the new configuration" if restarted else "started"
        return LocalDeployResult(
            cluster=spec.cluster,
            hub=spec.hub,
            status="succeeded",
            url=url,
            pid=proc.pid,
            port=ports.port,
            log_path=log_path,
            ignored_keys=ignored,
            message=f"hub {what}",
            duration_s=time.monotonic() - started,
        )


# ----------------------------------------------------------------------------- stop, status


def stop_hubs(state_dir: Path, hubs: Sequence[str] | None = None) -> list[LocalStopResult]:
    """Stop hubs of one local cluster (all when `hubs` is None); no process is left behind."""
    state_dir = Path(state_dir).resolve()
    known = [d.name for d in hubstate.hub_dirs(state_dir)]
    names = list(hubs) if hubs is not None else known
    for name in names:
        if name not in known:
            raise HubfleetError(
                f"no local hub {name!r} in {state_dir}",
                hint=did_you_mean(name, known) or "deployed hubs: " + (", ".join(known) or "none"),
            )
    results = []
    for name in names:
        hub_dir = state_dir / name
        with locked(hub_dir):
            state, alive = _running_state(hub_dir)
            count = _stop_recorded(hub_dir, state, alive)
            with contextlib.suppress(FileNotFoundError):
                (hub_dir / hubconfig.PROXY_PID_NAME).unlink()
        results.append(
            LocalStopResult(
                cluster=(state.cluster if state else "") or state_dir.name,
                hub=name,
                was_running=alive,
                processes_stopped=count,
            )
        )
    return results


def hub_status(
    state_dir: Path, hubs: Sequence[str] | None = None, *, probe_timeout: float = 2.0
) -> list[LocalHubStatus]:
    """Every hub ever deployed in this cluster's state folder (or only those of `hubs`
    among them), running or not; each running one's API is probed."""
    state_dir = Path(state_dir).resolve()
    out = []
    for hub_dir in hubstate.hub_dirs(state_dir):
        if hubs is not None and hub_dir.name not in hubs:
            continue
        state, alive = _running_state(hub_dir)
        port = hubstate.recorded_port(hub_dir)
        url = (state.url if state else "") or hub_url(port or 0)
        create_time = state.create_time if state else None
        left = () if alive else _leftovers(hub_dir)
        holder = None
        if not alive and port is not None and not any(port in x.ports for x in left):
            holder = processes.who_listens(port) or None
        out.append(
            LocalHubStatus(
                cluster=(state.cluster if state else "") or state_dir.name,
                hub=hub_dir.name,
                url=url,
                pid=state.pid if alive and state else None,
                running=alive,
                uptime_s=round(time.time() - create_time, 1) if alive and create_time else None,
                healthy=alive and api_answers(url, timeout=probe_timeout),
                log_path=hub_dir / LOG_NAME,
                default_url=state.default_url if state else None,
                leftovers=left,
                port_taken_by=holder,
                port=port,
            )
        )
    return out


def _leftovers(hub_dir: Path) -> tuple[processes.Leftover, ...]:
    """The processes of a hub that is not running (its proxy, servers, services)."""
    return processes.leftovers(hub_dir, proxy_pid_file=hub_dir / hubconfig.PROXY_PID_NAME)
