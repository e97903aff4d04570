"""The local provider's slot: no cloud credentials (its releases go to the `local`
target: `hubfleet.deploy.local`, a JupyterHub process on 127.0.0.1)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hubfleet.base.private import private_folder, write_private
from hubfleet.providers.base import (
    KUBECONFIG_NAME,
    Credentials,
    Provider,
    ProviderContext,
)


@contextlib.contextmanager
def credentials(context: ProviderContext) -> Iterator[Credentials]:
    """An empty private kubeconfig and no cloud variables: nothing to log in to."""
    with private_folder(context.cluster.name) as folder:
        kubeconfig = write_private(folder, KUBECONFIG_NAME)
        yield Credentials(context.cluster.name, folder, kubeconfig, {"KUBECONFIG": str(kubeconfig)})


PROVIDER = Provider(name="local", credentials=credentials)
