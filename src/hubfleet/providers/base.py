"""The one interface every provider implements: a cluster's credentials for a block.

    with provider.credentials(context) as creds:
        run(["helm", ...], env=creds.env, ...)

`Credentials` names a private folder (mode 0700, created for this block only), the
kubeconfig inside it (mode 0600) and the environment the cluster's processes get
(on top of the runner's scrubbed base environment): `KUBECONFIG` and the cloud
variables the provider set. Nothing is put in `os.environ`, so clusters deployed
in parallel never see each other's credentials, and `~/.kube/config` is never
read or written.

The folder is removed when the block exits, on every path (success, exception,
cancellation). `remove_all_private_folders` is a last resort for a signal
handler or `atexit`: it removes every folder still open in this process. A
process killed outright (SIGKILL) removes nothing: its folder's name records its
owner, and the first private folder any later run makes sweeps the folders whose
owner is gone (`hubfleet.providers.sweep`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hubfleet.base import watchdog
from hubfleet.base.errors import DeployError, ProgramError
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import ProgramNotFound, run
from hubfleet.providers.sweep import PREFIX as PREFIX
from hubfleet.providers.sweep import current_owner, sweep_stale

if TYPE_CHECKING:
    from hubfleet.config.fleet import Cluster, Fleet
    from hubfleet.secrets.sops import Sops

KUBECONFIG_NAME = "kubeconfig"
# Timeout of one cloud CLI call (get-credentials, login, assume-role).
CLI_TIMEOUT = 180.0


@dataclass(frozen=True)
class Credentials:
    """A cluster's credentials, valid only inside its `credentials()` block."""

    cluster: str
    folder: Path
    kubeconfig: Path
    env: Mapping[str, str] = field(repr=False)


@dataclass(frozen=True)
class ProviderContext:
    """What a provider needs to log in to one cluster."""

    fleet: Fleet
    cluster: Cluster
    sops: Sops
    redactor: Redactor
    cancel: threading.Event | None = None
    timeout: float = CLI_TIMEOUT
    # Variables added to every process of the cluster (tests: PATH with the fakes).
    extra_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Provider:
    name: str
    credentials: Callable[[ProviderContext], AbstractContextManager[Credentials]]
    # Raises `hubfleet.base.argv.ArgvError` when a value of the cluster's provider block
    # cannot reach the provider's CLI (a deploy checks every cluster before it starts).
    check_arguments: Callable[[Cluster], None] | None = None


# --- private folders -------------------------------------------------------------

_open_lock = threading.Lock()
_open_folders: set[Path] = set()


def remove_all_private_folders() -> int:
    """Remove every private folder still open in this process (signal handler, atexit)."""
    with _open_lock:
        folders = list(_open_folders)
        _open_folders.clear()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return len(folders)


atexit.register(remove_all_private_folders)


def open_private_folders() -> list[Path]:
    """The private folders open now (tests, diagnostics)."""
    with _open_lock:
        return sorted(_open_folders)


_swept = False


def sweep_once() -> None:
    """Sweep the stale private folders of killed runs, once per process (before its
    first private folder; `hubfleet.providers.sweep`)."""
    global _swept
    with _open_lock:
        if _swept:
            return
        _swept = True
    sweep_stale()


@contextlib.contextmanager
def private_folder(cluster: str) -> Iterator[Path]:
    """A fresh 0700 folder for one cluster's block, removed on exit whatever happens;
    its name records this process (pid, start time), so that a run that was killed
    leaves nothing a later run does not sweep."""
    sweep_once()
    watchdog.start()  # before the folder exists: registering it is then one write
    owner = current_owner().token()
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{_safe(cluster)}-", suffix=f".{owner}"))
    os.chmod(folder, 0o700)
    watchdog.watch_folder(folder)  # removed at once if this process is killed
    with _open_lock:
        _open_folders.add(folder)
    try:
        yield folder
    finally:
        with _open_lock:
            _open_folders.discard(folder)
        shutil.rmtree(folder, ignore_errors=True)
        watchdog.release_folder(folder)


def write_private(folder: Path, name: str, content: bytes = b"") -> Path:
    """Create `folder/name` with mode 0600 (never an existing file) holding `content`."""
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(content)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)
    return path


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:40]


def ambient(prefixes: tuple[str, ...]) -> dict[str, str]:
    """hubfleet's variables with one of `prefixes`: ambient credentials (CI federation)."""
    return {k: v for k, v in os.environ.items() if k.startswith(prefixes)}


def credentials_error(cluster: Cluster, message: str, hint: str | None = None) -> DeployError:
    return DeployError(
        f"cluster {cluster.name}: {message}",
        path=cluster.file,
        line=cluster.lines.line((cluster.provider,)) or None,
        hint=hint,
    )


def run_cli(
    context: ProviderContext,
    argv: list[str],
    env: Mapping[str, str],
    *,
    install_hint: str | None = None,
    stdin: bytes | None = None,
) -> str:
    """Run one cloud CLI call for the cluster; a failure names the cluster, and a
    missing CLI gets the provider's `install_hint` (its module names its CLI).
    A secret the CLI needs goes to its `stdin` (a pipe), never on the argv."""
    try:
        result = run(
            argv,
            redactor=context.redactor,
            env={**context.extra_env, **env},
            timeout=context.timeout,
            cancel=context.cancel,
            stdin=stdin,
        )
    except ProgramError as exc:
        exc.message = f"cluster {context.cluster.name}: {exc.message}"
        if isinstance(exc, ProgramNotFound) and install_hint is not None:
            exc.hint = install_hint
        raise
    return result.stdout
