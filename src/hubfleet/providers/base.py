"""The one interface every provider implements: a cluster's credentials for a block.

    with provider.credentials(context) as creds:
        run(["helm", ...], env=creds.env, ...)

`Credentials` names a private folder (mode 0700, created for this block only), the
kubeconfig inside it (mode 0600) and the environment the cluster's processes get
(on top of the runner's scrubbed base environment): `KUBECONFIG` and the cloud
variables the provider set. Nothing is put in `os.environ`, so clusters deployed
in parallel never see each other's credentials, and `~/.kube/config` is never
read or written.

The folder is one of `hubfleet.base.private`'s: removed when the block exits, on
every path (success, exception, cancellation), at exit or by the watchdog when
hubfleet dies, and swept by a later run when even the watchdog was killed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hubfleet.base.errors import DeployError, ProgramError
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import ProgramNotFound, run

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
