"""The local provider's slot: no cloud credentials; releases are deployed by its own hook.

Its runtime (`hubfleet.local`: each hub a JupyterHub process on 127.0.0.1) lives
in its own room; `deploy_release` is the hook the orchestrator calls instead of
`helm upgrade`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from hubfleet.providers.base import (
    KUBECONFIG_NAME,
    Credentials,
    Provider,
    ProviderContext,
    ReleaseOutcome,
    private_folder,
    write_private,
)

if TYPE_CHECKING:
    from hubfleet.release.pipeline import Release


@contextlib.contextmanager
def credentials(context: ProviderContext) -> Iterator[Credentials]:
    """An empty private kubeconfig and no cloud variables: nothing to log in to."""
    with private_folder(context.cluster.name) as folder:
        kubeconfig = write_private(folder, KUBECONFIG_NAME)
        yield Credentials(context.cluster.name, folder, kubeconfig, {"KUBECONFIG": str(kubeconfig)})


def deploy_release(
    context: ProviderContext, creds: Credentials, release: Release, dry_run: bool
) -> ReleaseOutcome:
    """Deploy one release of a local cluster: a JupyterHub process (`hubfleet.local`)."""
    from hubfleet.local.deploy import deploy_release as deploy_local

    return deploy_local(context, creds, release, dry_run)


PROVIDER = Provider(name="local", credentials=credentials, deploy_release=deploy_release)
