"""GKE: `gcloud container clusters get-credentials` into the private kubeconfig.

With `key`, the decrypted service-account JSON is written (0600) into the private
folder and named by `CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE` (gcloud) and
`GOOGLE_APPLICATION_CREDENTIALS` (client libraries); gcloud gets its own
configuration folder there (`CLOUDSDK_CONFIG`), so the user's gcloud accounts are
neither used nor changed. The kubeconfig calls `gke-gcloud-auth-plugin`, which
helm and kubectl run with the same environment.

Without `key`: the ambient credentials (`GOOGLE_*` / `CLOUDSDK_*` of the parent,
e.g. workload identity federation in CI, or the user's gcloud login).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from hubfleet.base import argv
from hubfleet.base.private import private_folder, write_private
from hubfleet.providers.base import (
    KUBECONFIG_NAME,
    Credentials,
    Provider,
    ProviderContext,
    ambient,
    credentials_error,
    run_cli,
)

if TYPE_CHECKING:
    from hubfleet.config.fleet import Cluster

KEY_NAME = "gcp-service-account.json"
# The CLI this provider runs, when it is missing (`run_cli`).
INSTALL_HINT = (
    "install the Google Cloud CLI with gke-gcloud-auth-plugin: "
    "https://cloud.google.com/sdk/docs/install"
)


def check_key(key: bytes) -> None:
    """ValueError (naming no value) unless `key` is a JSON credential file with a
    `type` (gcloud's): a service-account key, the format the largest public
    multi-hub repository keeps, must hold its private key and client email."""
    try:
        data = json.loads(key)
    except ValueError:
        raise ValueError("the gcp key file is not JSON") from None
    check_key_data(data)


def check_key_data(data: Any) -> None:
    """`check_key` of a key file already parsed (ValueError naming no value)."""
    kind = data.get("type") if isinstance(data, dict) else None
    if not isinstance(kind, str):
        raise ValueError("the gcp key file has no 'type' (not a gcloud credential file)")
    if kind == "service_account" and not (data.get("private_key") and data.get("client_email")):
        raise ValueError("the gcp service-account key has no private_key or client_email")


def get_credentials_argv(
    project: str, cluster: str, zone: str | None, region: str | None
) -> list[str]:
    """Each value checked by `hubfleet.base.argv`; flags as `--flag=value`."""
    location = (
        argv.flag("--zone", argv.zone(zone, "gcp.zone"))
        if zone
        else argv.flag("--region", argv.region(str(region), "gcp.region"))
    )
    return [
        "gcloud", "container", "clusters", "get-credentials",
        argv.cloud_name(cluster, "gcp.cluster"),
        argv.flag("--project", argv.gcp_project(project, "gcp.project")),
        location,
    ]  # fmt: skip


def check_arguments(cluster: Cluster) -> None:
    """Raise `ArgvError` now when a value of the cluster's `gcp` block cannot reach gcloud."""
    block = cluster.spec.gcp
    if block is not None:
        get_credentials_argv(block.project, block.cluster, block.zone, block.region)


@contextlib.contextmanager
def credentials(context: ProviderContext) -> Iterator[Credentials]:
    cluster = context.cluster
    block = cluster.spec.gcp
    if block is None:
        raise credentials_error(cluster, "provider gcp needs a `gcp` block")
    with private_folder(cluster.name) as folder:
        kubeconfig = write_private(folder, KUBECONFIG_NAME)
        env: dict[str, str] = {"KUBECONFIG": str(kubeconfig), "USE_GKE_GCLOUD_AUTH_PLUGIN": "True"}
        if block.key:
            key = context.sops.decrypt(context.fleet.abspath(cluster.path(block.key)))
            try:
                check_key(key)
            except ValueError as exc:
                raise credentials_error(
                    cluster,
                    str(exc),
                    hint="store the JSON key `gcloud iam service-accounts keys create` writes",
                ) from None
            key_file = write_private(folder, KEY_NAME, key)
            config_dir = folder / "gcloud"
            config_dir.mkdir(mode=0o700)
            env |= {
                "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE": str(key_file),
                "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
                "CLOUDSDK_CONFIG": str(config_dir),
                "CLOUDSDK_CORE_PROJECT": block.project,
            }
        else:
            env = {**ambient(("GOOGLE_", "CLOUDSDK_")), **env}
        argv = get_credentials_argv(block.project, block.cluster, block.zone, block.region)
        run_cli(context, argv, env, install_hint=INSTALL_HINT)
        yield Credentials(cluster.name, folder, kubeconfig, env)


PROVIDER = Provider(name="gcp", credentials=credentials, check_arguments=check_arguments)
