"""A local hub's state on disk: its ports, its health-check token, its recorded process.

Every file of a hub's state folder that hubfleet writes is read and written here
(the layout is in `hubfleet.local.runtime`'s docstring); the rest of `local/` works
on the typed `Ports` and `HubState`. Nothing here holds values or secrets other than
the hub-local health-check token (0600).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from hubfleet.base.errors import HubfleetError

LOG_NAME = "jupyterhub.log"
STATE_NAME = "hub.json"
PORTS_NAME = "ports.json"
TOKEN_NAME = "hubfleet-service-token"
LOCK_NAME = ".lock"
DEFAULT_STATE_ROOT = Path(".hubfleet") / "local"
_PORT_KEYS = ("port", "hub_port", "proxy_api_port")


@dataclass(frozen=True)
class Ports:
    port: int
    hub_port: int
    proxy_api_port: int


@dataclass(frozen=True)
class HubState:
    """What `hub.json` records of a hub (no values): its process while one runs
    (`pid`, `create_time`), and `config_hash` once that process answered."""

    cluster: str
    hub: str
    url: str
    port: int
    hub_port: int
    proxy_api_port: int
    started_at: float
    hubfleet_version: str
    log: str
    default_url: str | None = None
    pid: int | None = None
    create_time: float | None = None
    config_hash: str | None = None

    def without_process(self) -> HubState:
        return replace(self, pid=None, create_time=None, config_hash=None)


def cluster_state_dir(repo_root: Path, cluster: str, state_root: str | None = None) -> Path:
    """A local cluster's state folder: `<repo>/<state_root or .hubfleet/local>/<cluster>`."""
    return (repo_root / (state_root or DEFAULT_STATE_ROOT) / cluster).resolve()


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` (0600) atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """The lock of `folder` (a hub's, or the cluster's for port allocation)."""
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# ----------------------------------------------------------------------------- hub.json


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_state(hub_dir: Path) -> HubState | None:
    """The hub's recorded state (None when nothing is recorded); unreadable fields are empty."""
    data = _read_json(hub_dir / STATE_NAME)
    if not data:
        return None
    return HubState(
        cluster=str(data.get("cluster") or ""),
        hub=str(data.get("hub") or hub_dir.name),
        url=str(data.get("url") or ""),
        port=_int_or_none(data.get("port")) or 0,
        hub_port=_int_or_none(data.get("hub_port")) or 0,
        proxy_api_port=_int_or_none(data.get("proxy_api_port")) or 0,
        started_at=_float_or_none(data.get("started_at")) or 0.0,
        hubfleet_version=str(data.get("hubfleet_version") or ""),
        log=str(data.get("log") or ""),
        default_url=_str_or_none(data.get("default_url")),
        pid=_int_or_none(data.get("pid")),
        create_time=_float_or_none(data.get("create_time")),
        config_hash=_str_or_none(data.get("config_hash")),
    )


def write_state(hub_dir: Path, state: HubState) -> None:
    """`hub.json`: the process keys only while a process is recorded."""
    doc = asdict(state)
    if state.pid is None:
        for key in ("pid", "create_time"):
            del doc[key]
    if state.config_hash is None:
        del doc["config_hash"]
    _write_private(hub_dir / STATE_NAME, json.dumps(doc, indent=2, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------- ports.json


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(avoid: set[int]) -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port
    raise HubfleetError("no free port on 127.0.0.1")


def hub_dirs(state_dir: Path) -> list[Path]:
    """The folders of the hubs ever deployed in a cluster's state folder."""
    if not state_dir.is_dir():
        return []
    return sorted(p for p in state_dir.iterdir() if p.is_dir() and (p / PORTS_NAME).is_file())


def recorded_port(hub_dir: Path) -> int | None:
    """The hub's public port as recorded (None when unrecorded)."""
    return _int_or_none(_read_json(hub_dir / PORTS_NAME).get("port"))


def _recorded_ports(state_dir: Path) -> dict[str, dict[str, Any]]:
    """hub -> its recorded ports.json (call with the cluster lock held)."""
    return {d.name: _read_json(d / PORTS_NAME) for d in hub_dirs(state_dir)}


def _used_ports(recorded: Mapping[str, Mapping[str, Any]]) -> set[int]:
    return {int(p) for r in recorded.values() for p in r.values() if isinstance(p, int)}


def _write_ports(state_dir: Path, hub: str, ports: Ports) -> None:
    _write_private(state_dir / hub / PORTS_NAME, json.dumps(asdict(ports), indent=2) + "\n")


def allocate_ports(state_dir: Path, hub: str, base_port: int) -> Ports:
    """The hub's recorded ports, or new ones: public base_port + n, internal ones from the OS."""
    with locked(state_dir):
        recorded = _recorded_ports(state_dir)
        mine = recorded.get(hub)
        if mine and all(isinstance(mine.get(k), int) for k in _PORT_KEYS):
            return Ports(mine["port"], mine["hub_port"], mine["proxy_api_port"])
        used = _used_ports(recorded)
        n = 0
        while base_port + n in used:
            n += 1
        port = base_port + n
        hub_port = _free_port(used | {port})
        proxy_api_port = _free_port(used | {port, hub_port})
        ports = Ports(port, hub_port, proxy_api_port)
        private_dir(state_dir / hub)
        _write_ports(state_dir, hub, ports)
        return ports


def refresh_internal_ports(state_dir: Path, hub: str, ports: Ports) -> Ports:
    """Internal ports taken by another program are replaced (and recorded) silently."""
    if port_is_free(ports.hub_port) and port_is_free(ports.proxy_api_port):
        return ports
    with locked(state_dir):
        used = _used_ports(_recorded_ports(state_dir))
        hub_port = ports.hub_port if port_is_free(ports.hub_port) else _free_port(used)
        used.add(hub_port)
        api_port = ports.proxy_api_port if port_is_free(ports.proxy_api_port) else _free_port(used)
        fresh = Ports(ports.port, hub_port, api_port)
        _write_ports(state_dir, hub, fresh)
        return fresh


# ----------------------------------------------------------------------------- the token


def service_token(hub_dir: Path) -> str:
    """The hub's health-check service token, made on first use."""
    path = hub_dir / TOKEN_NAME
    try:
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_hex(32)
    _write_private(path, token + "\n")
    return token


def local_check_token(state_dir: Path, hub: str) -> str:
    """The health-check service token of a local hub (kept 0600 in its state folder)."""
    path = state_dir / hub / TOKEN_NAME
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        token = ""
    if not token:
        raise HubfleetError(
            f"hub {hub!r} has no health-check token in {state_dir}",
            hint="deploy the hub first",
        )
    return token
