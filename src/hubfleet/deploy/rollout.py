"""Watching a release's rollout after `helm upgrade` (which runs without `--wait`).

1. The workloads of the revision just applied: the Deployments, StatefulSets and
   DaemonSets of its manifest (`helm get manifest <release> --revision=N`).
2. Every `poll_s` seconds one `kubectl get deploy,sts,ds,pods --output=json` per
   namespace of those workloads (through the runner, in the cluster's credentials).
3. Done when every workload is rolled out: `observedGeneration >= generation`, and
   its updated and ready replicas equal the desired count (a DaemonSet: updated and
   ready scheduled pods equal the desired number).
4. Failed at once when a pod selected by a workload that is not rolled out yet waits
   with a reason of `FATAL_REASONS`, or is unschedulable (`PodScheduled` False,
   reason `Unschedulable`) for longer than `unschedulable_grace_s`: the failure names
   the pod, the reason and its container's last log lines (`kubectl logs --tail`),
   redacted. Failed too when the workloads are not rolled out by `deadline_s` (the
   helm timeout stays the outer bound).

Setting `cancel` stops the watch (`Cancelled`); the release is left as helm left it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from hubfleet.base import argv
from hubfleet.base.errors import DeployError, HubfleetError
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import Cancelled, run, tail
from hubfleet.helm.cli import HELM, kubeconfig_args
from hubfleet.helm.masking import mask_text

KUBECTL = "kubectl"
WORKLOAD_KINDS = {"Deployment": "deploy", "StatefulSet": "sts", "DaemonSet": "ds"}
FATAL_REASONS = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "InvalidImageName",
)
UNSCHEDULABLE = "Unschedulable"
LOG_LINES = 20
CALL_TIMEOUT = 60.0


@dataclass(frozen=True)
class WatchSettings:
    poll_s: float = 2.0
    unschedulable_grace_s: float = 60.0
    log_lines: int = LOG_LINES


@dataclass(frozen=True)
class Workload:
    kind: str  # Deployment, StatefulSet, DaemonSet
    name: str
    namespace: str

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class RolloutResult:
    workloads: int
    polls: int
    duration_s: float


class RolloutFailed(DeployError):
    """A pod of the new revision cannot start, or the rollout did not finish in time."""

    def __init__(self, message: str, *, pod: str = "", reason: str = "", logs: str = "") -> None:
        super().__init__(message)
        self.pod = pod
        self.reason = reason
        self.logs = logs


def workloads_of(manifest: str, default_namespace: str) -> list[Workload]:
    """The Deployments, StatefulSets and DaemonSets of a rendered manifest."""
    found: list[Workload] = []
    try:
        documents = list(yaml.safe_load_all(manifest))
    except yaml.YAMLError:
        raise DeployError("cannot read the release's manifest (not YAML)") from None
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") not in WORKLOAD_KINDS:
            continue
        meta = _meta(doc)
        name = meta.get("name")
        if not isinstance(name, str):
            continue
        namespace = meta.get("namespace") or default_namespace
        found.append(Workload(str(doc["kind"]), name, str(namespace)))
    return found


def manifest(
    release: str,
    namespace: str,
    revision: int | None,
    *,
    env: Mapping[str, str],
    redactor: Redactor,
    cancel: threading.Event | None = None,
) -> str:
    """`helm get manifest` of the revision just applied (the latest when None)."""
    words = [
        HELM, "get", "manifest",
        argv.flag("--namespace", argv.dns_label(namespace, "the namespace")),
        *([argv.flag("--revision", str(int(revision)))] if revision else []),
        *kubeconfig_args(env.get("KUBECONFIG")),
        "--", argv.release_name(release),
    ]  # fmt: skip
    return run(words, redactor=redactor, env=env, timeout=CALL_TIMEOUT, cancel=cancel).stdout


def get_argv(namespace: str, kubeconfig: str | None) -> list[str]:
    return [
        KUBECTL, "get", "deploy,sts,ds,pods", "--output=json",
        argv.flag("--namespace", argv.dns_label(namespace, "a workload's namespace")),
        *_kubeconfig(kubeconfig),
    ]  # fmt: skip


def _kubeconfig(kubeconfig: str | None) -> list[str]:
    return (
        [argv.flag("--kubeconfig", argv.path(kubeconfig, "the kubeconfig"))] if kubeconfig else []
    )


def logs_argv(
    namespace: str, pod: str, container: str, lines: int, previous: bool, kubeconfig: str | None
) -> list[str]:
    return [
        KUBECTL, "logs", argv.flag("--namespace", argv.dns_label(namespace, "the namespace")),
        argv.flag("--container", argv.k8s_name(container, "a container name")),
        argv.flag("--tail", str(int(lines))), *(["--previous"] if previous else []),
        *_kubeconfig(kubeconfig),
        "--", argv.k8s_name(pod, "a pod name"),
    ]  # fmt: skip


def watch(
    workloads: Sequence[Workload],
    *,
    env: Mapping[str, str],
    redactor: Redactor,
    settings: WatchSettings,
    deadline_s: float,
    cancel: threading.Event | None = None,
) -> RolloutResult:
    """Poll until every workload is rolled out; raises `RolloutFailed` or `Cancelled`."""
    started = time.monotonic()
    stop = cancel or threading.Event()
    namespaces = sorted({w.namespace for w in workloads})
    unschedulable_since: dict[str, float] = {}
    polls = 0
    while True:
        if stop.is_set():
            raise Cancelled("rollout watch stopped by an interrupt")
        polls += 1
        waiting: list[str] = []
        for namespace in namespaces:
            items = _get(namespace, env=env, redactor=redactor, cancel=cancel)
            mine = [w for w in workloads if w.namespace == namespace]
            waiting += _check_namespace(
                mine, items, unschedulable_since, settings, env=env, redactor=redactor
            )
        if not waiting:
            return RolloutResult(len(workloads), polls, time.monotonic() - started)
        elapsed = time.monotonic() - started
        if elapsed >= deadline_s:
            raise RolloutFailed(
                f"not rolled out within the helm timeout ({deadline_s:g} s): " + "; ".join(waiting),
                reason="timeout",
            )
        if stop.wait(min(settings.poll_s, max(0.0, deadline_s - elapsed))):
            raise Cancelled("rollout watch stopped by an interrupt")


def _get(
    namespace: str, *, env: Mapping[str, str], redactor: Redactor, cancel: threading.Event | None
) -> list[dict[str, Any]]:
    words = get_argv(namespace, env.get("KUBECONFIG"))
    text = run(words, redactor=redactor, env=env, timeout=CALL_TIMEOUT, cancel=cancel).stdout
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        raise DeployError(f"kubectl get in namespace {namespace!r} answered no JSON") from None
    items = data.get("items") if isinstance(data, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _check_namespace(
    workloads: Sequence[Workload],
    items: Sequence[Mapping[str, Any]],
    unschedulable_since: dict[str, float],
    settings: WatchSettings,
    *,
    env: Mapping[str, str],
    redactor: Redactor,
) -> list[str]:
    """What is still rolling out in one namespace; raises `RolloutFailed` on a broken pod."""
    by_key = {(i.get("kind"), _meta(i).get("name")): i for i in items}
    pods = [i for i in items if i.get("kind") == "Pod"]
    waiting = []
    for workload in workloads:
        item = by_key.get((workload.kind, workload.name))
        if item is None:
            waiting.append(f"{workload.label} not found yet")
            continue
        why = _not_rolled_out(item)
        if why is None:
            continue
        waiting.append(f"{workload.label}: {why}")
        for pod in _selected(item, pods):
            _check_pod(workload, pod, unschedulable_since, settings, env=env, redactor=redactor)
    return waiting


def _map(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _items(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _meta(item: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(item, "metadata")


def _int(data: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = data.get(key)
    return value if isinstance(value, int) else default


def _not_rolled_out(item: Mapping[str, Any]) -> str | None:
    """None when the workload is rolled out, else what it waits for."""
    spec = _map(item, "spec")
    status = _map(item, "status")
    generation = _int(_meta(item), "generation")
    if _int(status, "observedGeneration") < generation:
        return "new generation not observed yet"
    if item.get("kind") == "DaemonSet":
        desired = _int(status, "desiredNumberScheduled")
        updated = _int(status, "updatedNumberScheduled")
        ready = _int(status, "numberReady")
    else:
        desired = _int(spec, "replicas", 1)
        updated = _int(status, "updatedReplicas")
        ready = _int(status, "readyReplicas")
        if _int(status, "replicas") > desired:
            return f"{_int(status, 'replicas') - desired} old pod(s) still running"
    if updated < desired or ready < desired:
        return f"{updated}/{desired} updated, {ready}/{desired} ready"
    return None


def _selected(
    item: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The pods the workload's `spec.selector.matchLabels` selects (not terminating)."""
    spec = _map(item, "spec")
    selector = _map(spec, "selector")
    labels = _map(selector, "matchLabels")
    if not labels:
        return []
    chosen = []
    for pod in pods:
        meta = _meta(pod)
        have = _map(meta, "labels")
        if meta.get("deletionTimestamp") or any(have.get(k) != v for k, v in labels.items()):
            continue
        chosen.append(pod)
    return chosen


def _check_pod(
    workload: Workload,
    pod: Mapping[str, Any],
    unschedulable_since: dict[str, float],
    settings: WatchSettings,
    *,
    env: Mapping[str, str],
    redactor: Redactor,
) -> None:
    name = str(_meta(pod).get("name", "?"))
    status = _map(pod, "status")
    for container, reason, detail in _waiting(status):
        if reason in FATAL_REASONS:
            logs = _logs(workload.namespace, name, container, reason, settings, env, redactor)
            text = f"pod {workload.namespace}/{name} ({workload.label}): {reason}"
            if detail:
                text += f": {detail}"
            if logs:
                text += f"\nlast log lines of container {container}:\n{logs}"
            raise RolloutFailed(redactor.scrub(text), pod=name, reason=reason, logs=logs)
    conditions = _items(status, "conditions")
    for condition in conditions:
        if (
            isinstance(condition, Mapping)
            and condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == UNSCHEDULABLE
        ):
            first = unschedulable_since.setdefault(name, time.monotonic())
            if time.monotonic() - first >= settings.unschedulable_grace_s:
                why = str(condition.get("message") or "")
                raise RolloutFailed(
                    redactor.scrub(
                        f"pod {workload.namespace}/{name} ({workload.label}): {UNSCHEDULABLE} "
                        f"for {settings.unschedulable_grace_s:g} s" + (f": {why}" if why else "")
                    ),
                    pod=name,
                    reason=UNSCHEDULABLE,
                )
            return
    unschedulable_since.pop(name, None)


def _waiting(status: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(container, reason, message) of every waiting (init) container."""
    found = []
    for key in ("initContainerStatuses", "containerStatuses"):
        entries = _items(status, key)
        for entry in entries:
            if not isinstance(entry, Mapping):
                continue
            state = _map(entry, "state")
            waiting = state.get("waiting") if isinstance(state.get("waiting"), Mapping) else None
            if waiting is not None:
                found.append(
                    (
                        str(entry.get("name", "")),
                        str(waiting.get("reason", "")),
                        str(waiting.get("message", "")),
                    )
                )
    return found


def _logs(
    namespace: str,
    pod: str,
    container: str,
    reason: str,
    settings: WatchSettings,
    env: Mapping[str, str],
    redactor: Redactor,
) -> str:
    """The container's last log lines (of its crashed run for a crash loop), masked and
    redacted; empty when there are none (an image that never started)."""
    if reason != "CrashLoopBackOff" or not container:
        return ""
    words = logs_argv(namespace, pod, container, settings.log_lines, True, env.get("KUBECONFIG"))
    try:
        result = run(words, redactor=redactor, env=env, timeout=CALL_TIMEOUT)
    except HubfleetError:
        return ""
    return redactor.scrub(tail(mask_text(result.stdout, redactor.mask_key), settings.log_lines))
