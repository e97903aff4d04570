"""Any cluster reachable by a kubeconfig: the sops file, decrypted into the private one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hubfleet.base.private import private_folder, write_private
from hubfleet.providers.base import (
    KUBECONFIG_NAME,
    Credentials,
    Provider,
    ProviderContext,
    credentials_error,
)


@contextlib.contextmanager
def credentials(context: ProviderContext) -> Iterator[Credentials]:
    cluster = context.cluster
    block = cluster.spec.kubeconfig
    if block is None:
        raise credentials_error(cluster, "provider kubeconfig needs a `kubeconfig` block")
    content = context.sops.decrypt(context.fleet.abspath(cluster.path(block.file)))
    with private_folder(cluster.name) as folder:
        kubeconfig = write_private(folder, KUBECONFIG_NAME, content)
        yield Credentials(cluster.name, folder, kubeconfig, {"KUBECONFIG": str(kubeconfig)})


PROVIDER = Provider(name="kubeconfig", credentials=credentials)
