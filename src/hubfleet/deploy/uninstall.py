"""Uninstalling a decommissioned hub from a Kubernetes cluster (docs/decommission.md).

`helm uninstall` of its release, then, when cluster.yaml decided `data: delete`,
`kubectl delete namespace` of its namespace (the PersistentVolumeClaims holding
its home directories go with it); with `data: keep` the namespace and its volumes
stay, and `hubfleet status` lists them as retained data. Both steps are idempotent:
a release or namespace that is not there is "already gone", a success, so an
uninstall job may run again (a retry, a deploy of the whole cluster) harmlessly.

Every command runs through the runner (redacted, cancellable) with the cluster's
credentials (`env`); names reach argv only through `hubfleet.base.argv`'s guards.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hubfleet.base import argv
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import ProgramFailed, run
from hubfleet.deploy.backend import Decommission, Progress, ReleaseOutcome, joined
from hubfleet.helm.cli import HELM, TIMEOUT_SLACK_S, duration_seconds, kubeconfig_args

KUBECTL = "kubectl"
# What helm 3 and 4 answer for a release that is not there.
_NOT_FOUND = ("release: not found", "release not loaded")


@dataclass(frozen=True)
class Uninstaller:
    """One cluster's uninstalls: its environment (credentials) and the deploy's options."""

    env: Mapping[str, str]
    redactor: Redactor
    helm_timeout: str
    dry_run: bool
    cancel: threading.Event | None = None

    def uninstall(self, target: Decommission, progress: Progress) -> ReleaseOutcome:
        helm_words = helm_uninstall_argv(target, self.helm_timeout, self.env.get("KUBECONFIG"))
        kubectl_words = delete_namespace_argv(target, self.helm_timeout, self.env.get("KUBECONFIG"))
        steps = [helm_words, *([kubectl_words] if target.delete_data else [])]
        command = " && ".join(_shown(words) for words in steps)
        if self.dry_run:
            return ReleaseOutcome(
                "succeeded", f"dry run: would uninstall {target.label}; {_data_note(target)}",
                command=command,
            )  # fmt: skip
        release = self._helm_uninstall(helm_words, target)
        progress(ReleaseOutcome("running", release, command=command))
        data = self._delete_namespace(kubectl_words, target) if target.delete_data else ""
        return ReleaseOutcome(
            "succeeded", joined(release, data or _data_note(target)), command=command
        )

    def _helm_uninstall(self, words: Sequence[str], target: Decommission) -> str:
        try:
            self._run(words)
        except ProgramFailed as exc:
            if not _not_found(exc):
                raise
            return f"release {target.release}: already gone"
        return f"release {target.release} uninstalled"

    def _delete_namespace(self, words: Sequence[str], target: Decommission) -> str:
        out = self._run(words)
        if not out.strip():  # --ignore-not-found: nothing printed when it was not there
            return f"namespace {target.namespace}: already gone (data: delete)"
        return f"namespace {target.namespace} deleted with its volumes (data: delete)"

    def _run(self, words: Sequence[str]) -> str:
        return run(
            words,
            redactor=self.redactor,
            env=self.env,
            timeout=duration_seconds(self.helm_timeout) + TIMEOUT_SLACK_S,
            cancel=self.cancel,
        ).stdout


def helm_uninstall_argv(
    target: Decommission, helm_timeout: str, kubeconfig: str | None
) -> list[str]:
    return [
        HELM, "uninstall",
        argv.flag("--namespace", argv.dns_label(target.namespace, "the hub's namespace")),
        "--wait", argv.flag("--timeout", _seconds(helm_timeout)),
        *kubeconfig_args(kubeconfig),
        "--", argv.release_name(target.release),
    ]  # fmt: skip


def delete_namespace_argv(
    target: Decommission, helm_timeout: str, kubeconfig: str | None
) -> list[str]:
    return [
        KUBECTL, "delete", "namespace", "--ignore-not-found", "--wait=true",
        argv.flag("--timeout", _seconds(helm_timeout)),
        *_kubeconfig(kubeconfig),
        "--", argv.dns_label(target.namespace, "the hub's namespace"),
    ]  # fmt: skip


def _kubeconfig(kubeconfig: str | None) -> list[str]:
    return (
        [argv.flag("--kubeconfig", argv.path(kubeconfig, "the kubeconfig"))] if kubeconfig else []
    )


def _seconds(helm_timeout: str) -> str:
    return f"{int(duration_seconds(helm_timeout))}s"


def _not_found(exc: ProgramFailed) -> bool:
    text = (exc.stderr or exc.message).lower()
    return any(marker in text for marker in _NOT_FOUND)


def _data_note(target: Decommission) -> str:
    if target.delete_data:
        return f"namespace {target.namespace} and its volumes deleted (data: delete)"
    return (
        f"namespace {target.namespace} and its PersistentVolumeClaims kept (data: keep; "
        "`hubfleet status` lists them)"
    )


def _shown(words: Sequence[str]) -> str:
    """The command as the report shows it (without the credentials' kubeconfig path)."""
    shown: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word == "--kubeconfig":
            skip = True
            continue
        if not word.startswith("--kubeconfig="):
            shown.append(word)
    return shlex.join(shown)
