"""The helm CLI runner: `helm upgrade --install` for one release, values through pipes.

- The helm version is detected once per deploy (`detect_version`) and selects the
  flags that changed between helm 3 and 4 (`HelmFlags`); server-side dry run needs
  helm 3.13 or later. `upgrade` runs without `--wait` (so without `--atomic` /
  `--rollback-on-failure`): the deploy watches the rollout and rolls back itself
  (`hubfleet.deploy.rollout`, docs/deploy.md).
- Every values file reaches helm as `--values /dev/fd/N`, the read end of a pipe
  filled from memory before helm starts (`values_pipes`: no thread unless a file
  is larger than a pipe can hold): decrypted secrets never touch the disk, and
  plain files take the same path, so the argv is the same for both.
- Before a cluster's upgrades, `release_states` reads every release's status in
  one `helm list`; a release stuck in `pending-*` is reported with the fix
  (`PendingRelease`), or with `recover` rolled back first (`helm rollback`; a
  `pending-install` has nothing to roll back to and is left to the user).
- Every upgrade carries hubfleet's record (`hubfleet.live.record`): the text of
  `--description`, and release labels with `--labels` where helm has it (3.13.0 and
  later, `HelmFlags.labels`). helm 3 and 4.0's `rollback` take no description: a
  rollback's record is read back from the history (docs/status.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import selectors
import shlex
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubfleet.base import argv, duration
from hubfleet.base.errors import DeployError, HubfleetError
from hubfleet.base.redact import MaskKey, Redactor
from hubfleet.base.runner import ProgramFailed, run, tail
from hubfleet.helm.masking import mask_text

HELM = "helm"
DEFAULT_HELM_TIMEOUT = "10m"
# Extra seconds hubfleet waits beyond helm's own --timeout before stopping it.
TIMEOUT_SLACK_S = 60.0
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
_REVISION = re.compile(r"^REVISION:\s*(\d+)", re.MULTILINE)
# The first helm whose `upgrade` takes `--labels` (helm/helm#10533).
LABELS_SINCE = (3, 13, 0)
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
# What hubfleet writes as a description: one line of printable ASCII (the record).
_DESCRIPTION = re.compile(r"[A-Za-z0-9][ -~]{0,255}")


@dataclass(frozen=True, order=True)
class HelmVersion:
    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class HelmFlags:
    version: HelmVersion
    rollback_on_failure: str
    cleanup_on_fail: str
    dry_run: str
    labels: bool = False  # `upgrade --labels` exists (helm 3.13.0 and later)


@dataclass(frozen=True)
class ValuesInput:
    """One values file: where it comes from (repository-relative) and its bytes, in memory."""

    source: str
    content: bytes


@dataclass(frozen=True)
class ChartRef:
    """The chart of `helm upgrade`: `chart` (a local folder, a name in `--repo`, or an
    oci:// reference) is a positional argument; `flags` are `--repo=...`, `--version=...`."""

    chart: str
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReleaseState:
    name: str
    namespace: str
    status: str
    revision: int

    @property
    def pending(self) -> bool:
        return self.status.startswith("pending-")


@dataclass(frozen=True)
class UpgradeResult:
    command: str  # shown form, values paths replaced by their sources, redacted
    revision: int | None
    output_tail: str
    duration_s: float
    recovered: ReleaseState | None = None


class PendingRelease(DeployError):
    """The release is stuck in a pending-* state from an interrupted operation."""


def parse_version(text: str) -> HelmVersion:
    found = _VERSION.search(text)
    if found is None:
        raise DeployError(f"cannot read helm's version from {text.strip()!r}")
    major, minor, patch = (int(part) for part in found.groups())
    return HelmVersion(major, minor, patch)


def flags_for(version: HelmVersion) -> HelmFlags:
    helm4 = version.major >= 4
    server_dry_run = version >= HelmVersion(3, 13, 0)
    return HelmFlags(
        version=version,
        rollback_on_failure="--rollback-on-failure" if helm4 else "--atomic",
        cleanup_on_fail="--cleanup-on-fail",
        dry_run="--dry-run=server" if server_dry_run else "--dry-run",
        labels=version >= HelmVersion(*LABELS_SINCE),
    )


def detect_version(
    *, redactor: Redactor, env: Mapping[str, str] | None = None, timeout: float = 30.0
) -> HelmFlags:
    """Run `helm version --short` once; raises ProgramNotFound with a hint when helm is missing."""
    result = run([HELM, "version", "--short"], redactor=redactor, env=env, timeout=timeout)
    return flags_for(parse_version(result.stdout))


def chart_ref(
    *, local_dir: Path | None, name: str, repository: str | None, version: str | None
) -> ChartRef:
    """Every part checked by `hubfleet.base.argv` (no value can become an option)."""
    if local_dir is not None:
        return ChartRef(argv.path(str(local_dir), "the chart folder"))
    what = f"chart {name!r}"
    repo = argv.chart_repository(str(repository), f"the repository of {what}")
    release = argv.flag("--version", argv.chart_version(str(version), f"the version of {what}"))
    if repo.startswith("oci://"):
        reference = f"{repo.rstrip('/')}/{argv.chart_name(name, 'the chart name')}"
        return ChartRef(reference, (release,))
    return ChartRef(argv.chart_name(name, "the chart name"), (argv.flag("--repo", repo), release))


def duration_seconds(text: str) -> float:
    """helm's `--timeout` (a Go duration: `10m`, `1h30m`, `90s`) in seconds; anything
    helm would refuse (a bare `90` too) is a HubfleetError."""
    try:
        return duration.seconds(text)
    except ValueError:
        raise HubfleetError(f"invalid helm timeout {text!r}", hint=duration.HINT) from None


def upgrade_argv(
    *,
    release: str,
    namespace: str,
    chart: ChartRef,
    values_paths: Sequence[str],
    flags: HelmFlags,
    helm_timeout: str,
    dry_run: bool,
    kubeconfig: str | None = None,
    description: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> list[str]:
    """`helm upgrade --install`: flags as `--flag=value`, then `--`, then RELEASE CHART
    (checked by `hubfleet.base.argv`: a value cannot become an option). `description`
    and `labels`: hubfleet's record (labels only when `flags.labels`)."""
    where = argv.dns_label(namespace, f"the namespace of release {release!r}")
    words = [
        HELM, "upgrade", "--install", "--create-namespace", argv.flag("--namespace", where),
        *chart.flags,
    ]  # fmt: skip
    words += kubeconfig_args(kubeconfig)
    for path in values_paths:
        words.append(argv.flag("--values", argv.path(path, "a values file")))
    if dry_run:
        words.append(flags.dry_run)
    else:
        # No --wait (and so no --atomic/--rollback-on-failure): hubfleet watches the
        # rollout itself and rolls back on failure (`hubfleet.deploy.rollout`).
        words.append(flags.cleanup_on_fail)
    words.append(argv.flag("--timeout", _timeout(helm_timeout)))
    if description is not None:
        words.append(argv.flag("--description", _description(description)))
    if labels and flags.labels:
        words.append(argv.flag("--labels", _labels(labels)))
    words += ["--", argv.release_name(release), chart.chart]
    return words


def _description(text: str) -> str:
    if not _DESCRIPTION.fullmatch(text):
        raise ValueError(f"not a one-line release description: {text!r}")
    return text


def _labels(labels: Mapping[str, str]) -> str:
    """`k=v,k2=v2` of release labels, each key and value a plain label word."""
    for key, value in labels.items():
        if not (_LABEL.fullmatch(key) and _LABEL.fullmatch(value)):
            raise ValueError(f"not a release label: {key!r}={value!r}")
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def _timeout(text: str) -> str:
    duration_seconds(text)  # a helm duration, nothing else
    return text


@contextlib.contextmanager
def values_pipes(values: Sequence[ValuesInput]) -> Iterator[tuple[list[str], list[int]]]:
    """One pipe per values file: yields (`/dev/fd/N` paths, fds to pass to helm).

    Each pipe is filled before helm starts and its write end closed, so a values file
    costs no thread: a pipe holds 64 KiB, and on Linux one is grown (`F_SETPIPE_SZ`,
    up to 1 MiB) to hold a larger file. Whatever still does not fit is written by one
    thread for all of the call's pipes while helm reads them. On exit the read ends are
    closed, so that writer gets EPIPE when its reader went away, and stops.
    """
    read_fds: list[int] = []
    unwritten: list[tuple[int, memoryview]] = []  # write ends not closed yet, what is left
    writer: threading.Thread | None = None
    try:
        for item in values:
            read_fd, write_fd = os.pipe()
            read_fds.append(read_fd)
            unwritten.append((write_fd, memoryview(item.content)))
            left = _prefill(write_fd, item.content)
            if left:
                unwritten[-1] = (write_fd, left)
            else:
                unwritten.pop()
                os.close(write_fd)
        if unwritten:
            writer = threading.Thread(
                target=_write_rest, args=(unwritten,), daemon=True, name="helm-values"
            )
            writer.start()
            unwritten = []  # the writer's now: it closes each write end
        yield [f"/dev/fd/{fd}" for fd in read_fds], read_fds
    finally:
        for fd in [*read_fds, *(fd for fd, _ in unwritten)]:
            with contextlib.suppress(OSError):
                os.close(fd)
        if writer is not None:
            writer.join(timeout=5)


# A pipe's capacity on Linux unless grown; growing past 1 MiB (`/proc/sys/fs/pipe-max-size`
# by default) needs privileges, and a file that large is rare: the writer thread takes it.
_PIPE_DEFAULT = 64 * 1024
_PIPE_MAX = 1024 * 1024


def _prefill(fd: int, content: bytes) -> memoryview:
    """Write as much of `content` as the pipe holds without blocking; what is left."""
    view = memoryview(content)
    grow = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if grow is not None and len(view) > _PIPE_DEFAULT:
        with contextlib.suppress(OSError):  # refused (a user's pipe quota): the writer
            fcntl.fcntl(fd, grow, min(len(view), _PIPE_MAX))
    os.set_blocking(fd, False)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except BlockingIOError:
        pass
    return view


def _write_rest(pending: list[tuple[int, memoryview]]) -> None:
    """Write the rest of each pipe's content as its reader drains it (whichever pipe
    helm reads first), closing each write end when done or when its reader is gone."""
    left = dict(pending)
    with selectors.DefaultSelector() as selector:
        for fd in left:
            selector.register(fd, selectors.EVENT_WRITE)
        while left:
            for key, _ in selector.select():
                fd = key.fd
                try:
                    left[fd] = left[fd][os.write(fd, left[fd]) :]
                except BlockingIOError:
                    continue
                except OSError:  # the reader is gone (helm exited or was stopped)
                    left[fd] = memoryview(b"")
                if not left[fd]:
                    selector.unregister(fd)
                    del left[fd]
                    with contextlib.suppress(OSError):
                        os.close(fd)


def shown_command(argv: Sequence[str], paths: Sequence[str], values: Sequence[ValuesInput]) -> str:
    """The argv as people read it: each `/dev/fd/N` replaced by the file it carries."""
    by_path = {path: item.source for path, item in zip(paths, values, strict=True)}
    by_flag = {f"--values={path}": f"--values={source}" for path, source in by_path.items()}
    return shlex.join(by_flag.get(arg, by_path.get(arg, arg)) for arg in argv)


def release_states(
    releases: Sequence[tuple[str, str]],
    *,
    env: Mapping[str, str],
    redactor: Redactor,
    cancel: threading.Event | None = None,
    timeout: float = 120.0,
) -> dict[tuple[str, str], ReleaseState]:
    """The current state of each `(release, namespace)` that exists, from one `helm list`.

    One call per cluster, not one per release: `--all-namespaces --all` with a
    filter on the release names, the namespaces matched here. Credentials allowed
    to read only some namespaces get "forbidden" at the cluster scope: then one
    call per namespace. A release missing from the answers is not installed yet.
    """
    wanted = set(releases)
    if not wanted:
        return {}
    try:
        entries = _list(wanted, None, env=env, redactor=redactor, cancel=cancel, timeout=timeout)
    except ProgramFailed as exc:
        if "forbidden" not in exc.stderr.lower():
            raise
        entries = []
        for namespace in sorted({ns for _, ns in wanted}):
            mine = {(name, ns) for name, ns in wanted if ns == namespace}
            entries += _list(
                mine, namespace, env=env, redactor=redactor, cancel=cancel, timeout=timeout
            )
    states: dict[tuple[str, str], ReleaseState] = {}
    for entry in entries:
        key = (str(entry.get("name")), str(entry.get("namespace")))
        if key in wanted:
            states[key] = ReleaseState(
                name=key[0],
                namespace=key[1],
                status=str(entry.get("status", "unknown")),
                revision=int(entry.get("revision", 0) or 0),
            )
    return states


def _list(
    releases: set[tuple[str, str]],
    namespace: str | None,
    *,
    env: Mapping[str, str],
    redactor: Redactor,
    cancel: threading.Event | None,
    timeout: float,
) -> list[dict[str, Any]]:
    """`helm list --all --output json` of the releases, in one namespace or all of them."""
    names = sorted({argv.release_name(name) for name, _ in releases})
    where = (
        [argv.flag("--namespace", argv.dns_label(namespace, "a release's namespace"))]
        if namespace
        else ["--all-namespaces"]
    )
    words = [
        HELM, "list", *where, "--all", "--output=json",
        argv.flag("--filter", "^(" + "|".join(re.escape(name) for name in names) + ")$"),
        # helm lists 256 releases unless told otherwise; 0 means the server's default.
        argv.flag("--max", str(max(256, 4 * len(releases)))),
        *kubeconfig_args(env.get("KUBECONFIG")),
    ]  # fmt: skip
    text = run(words, redactor=redactor, env=env, timeout=timeout, cancel=cancel).stdout.strip()
    try:
        entries = json.loads(text) if text else []
    except ValueError:
        raise DeployError("cannot read the output of `helm list` (not JSON)") from None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def pending_error(state: ReleaseState) -> PendingRelease:
    if state.status == "pending-install":
        fix = (
            f"the first install never finished: `helm uninstall {state.name} "
            f"--namespace {state.namespace}` (removes the release), then deploy again"
        )
    else:
        fix = (
            f"`helm rollback {state.name} --namespace {state.namespace}`, "
            "or deploy again with --recover"
        )
    return PendingRelease(
        f"release {state.namespace}/{state.name} is stuck in {state.status} "
        f"(revision {state.revision}): an earlier helm operation was interrupted",
        hint=fix,
    )


def rollback(
    state: ReleaseState,
    *,
    env: Mapping[str, str],
    redactor: Redactor,
    helm_timeout: str,
    cancel: threading.Event | None = None,
) -> None:
    """Roll a pending release back to its previous revision (`--recover`)."""
    if state.status == "pending-install" or state.revision <= 1:
        raise pending_error(state)
    rollback_to(
        state.name,
        state.namespace,
        None,
        env=env,
        redactor=redactor,
        helm_timeout=helm_timeout,
        cancel=cancel,
    )


def rollback_to(
    release: str,
    namespace: str,
    revision: int | None,
    *,
    env: Mapping[str, str],
    redactor: Redactor,
    helm_timeout: str,
    cancel: threading.Event | None = None,
) -> None:
    """`helm rollback <release> [<revision>]`: back to an earlier revision (a hub whose
    rollout or health check failed after its upgrade), or with None to the previous one."""
    words = [
        HELM, "rollback",
        argv.flag("--namespace", argv.dns_label(namespace, "the namespace")),
        "--wait", argv.flag("--timeout", _timeout(helm_timeout)),
        *kubeconfig_args(env.get("KUBECONFIG")),
        "--", argv.release_name(release),
        *([] if revision is None else [str(int(revision))]),
    ]  # fmt: skip
    run(
        words,
        redactor=redactor,
        env=env,
        timeout=duration_seconds(helm_timeout) + TIMEOUT_SLACK_S,
        cancel=cancel,
    )


def upgrade(
    *,
    release: str,
    namespace: str,
    chart: ChartRef,
    values: Sequence[ValuesInput],
    flags: HelmFlags,
    env: Mapping[str, str],
    redactor: Redactor,
    helm_timeout: str = DEFAULT_HELM_TIMEOUT,
    dry_run: bool = False,
    recover: bool = False,
    state: ReleaseState | None = None,
    cancel: threading.Event | None = None,
    description: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> UpgradeResult:
    """`helm upgrade --install` one release; raises ProgramFailed/PendingRelease/Cancelled.

    `state` is the release's state from `release_states` (None: not installed):
    a pending release is refused with the fix, or with `recover` rolled back first.
    """
    recovered = None
    if state is not None and state.pending:
        if not recover or dry_run:
            raise pending_error(state)
        rollback(state, env=env, redactor=redactor, helm_timeout=helm_timeout, cancel=cancel)
        recovered = state
    with values_pipes(values) as (paths, fds):
        words = upgrade_argv(
            release=release,
            namespace=namespace,
            chart=chart,
            values_paths=paths,
            flags=flags,
            helm_timeout=helm_timeout,
            dry_run=dry_run,
            kubeconfig=env.get("KUBECONFIG"),
            description=description,
            labels=labels,
        )
        shown = redactor.scrub(shown_command(words, paths, values))
        if env.get("KUBECONFIG"):
            shown = shown.replace(env["KUBECONFIG"], "$KUBECONFIG")
        try:
            result = run(
                words,
                redactor=redactor,
                env=env,
                timeout=duration_seconds(helm_timeout) + TIMEOUT_SLACK_S,
                pass_fds=fds,
                cancel=cancel,
            )
        except ProgramFailed as exc:
            raise _masked_failure(exc, redactor.mask_key) from None
    found = _REVISION.search(result.stdout)
    key = redactor.mask_key
    return UpgradeResult(
        command=shown,
        revision=int(found.group(1)) if found else None,
        # Masked before the tail is cut: a tail may start inside a Secret.
        output_tail=tail(mask_text(result.stdout, key) + mask_text(result.stderr, key)),
        duration_s=result.duration_s,
        recovered=recovered,
    )


def _masked_failure(exc: ProgramFailed, key: MaskKey) -> ProgramFailed:
    """The failure with the data of any Secret in helm's output masked (helm prints
    the manifests of a failed dry run), its message's tail cut again after masking."""
    stdout, stderr = mask_text(exc.stdout, key), mask_text(exc.stderr, key)
    message = first_line = exc.message.split("\n", 1)[0]
    detail = tail(stderr) or tail(stdout)
    if detail:
        message = f"{first_line}\n{detail}"
    return ProgramFailed(
        message, returncode=exc.returncode, stdout=stdout, stderr=stderr, hint=exc.hint
    )


_RATE_LIMITED = re.compile(
    r"client rate limiter Wait returned an error|\b429\b|Too Many Requests", re.IGNORECASE
)


def rate_limited(text: str) -> bool:
    """Whether helm's error is the Kubernetes API's (or client's) rate limit."""
    return _RATE_LIMITED.search(text) is not None


def kubeconfig_args(kubeconfig: str | None) -> list[str]:
    """The cluster's kubeconfig named on the command line too (it is also in KUBECONFIG)."""
    return (
        [argv.flag("--kubeconfig", argv.path(kubeconfig, "the kubeconfig"))] if kubeconfig else []
    )


__all__ = [
    "ChartRef",
    "HelmFlags",
    "HelmVersion",
    "PendingRelease",
    "ProgramFailed",
    "ReleaseState",
    "UpgradeResult",
    "ValuesInput",
    "chart_ref",
    "detect_version",
    "flags_for",
    "kubeconfig_args",
    "rate_limited",
    "release_states",
    "rollback_to",
    "tail",
    "upgrade",
    "upgrade_argv",
]
