"""AKS: a login into a private `AZURE_CONFIG_DIR`, then `az aks get-credentials --file`.

With `key` (a service principal: `appId`, `tenant`, and `password` or a PEM
`certificate`, as `az ad sp create-for-rbac` prints it; or, as the largest public
multi-hub repository keeps it, `service_principal_id`, `service_principal_password`,
`tenant_id` and `subscription_id`, the subscription used when the `azure` block names
none), hubfleet runs `az login --service-principal` into a configuration
folder inside the private folder, so the user's `~/.azure` is neither used nor
changed. A certificate is passed as a private 0600 file (`--certificate`).

No secret is ever on az's command line (readable by every local user through
/proc/PID/cmdline): the client secret goes as `--password=@-`, which the Azure
CLI reads from its standard input. Every az command expands an argument value
`@PATH` into the content of PATH, and `@-` into all of stdin with one trailing
newline dropped (azure-cli core `_expand_file_prefixed_files`, documented as
"load parameter values from a file"); hubfleet writes the secret to az's stdin
through a pipe, so it is in no file and on no argv. Chosen over the other ways:
kubelogin's `spn` mode (`AAD_SERVICE_PRINCIPAL_CLIENT_SECRET`) logs kubectl in
but not `az aks get-credentials`, which still needs an az login; a certificate
cannot be made from a password; az's `AZURE_CLIENT_SECRET` login without
`az login` is a proposal, not a release (azure-cli pull request 27938). Azure CLI
versions before 2.67 also tested whether the password names a certificate file
(a `stat` of the secret, seen by syscall auditing, not by other users).
Without `key`: the ambient login (the parent's `AZURE_*` and the user's or CI's az
login, e.g. `azure/login` with OIDC). When `kubelogin` is installed, the
kubeconfig is converted to use the az login (`kubelogin convert-kubeconfig -l
azurecli`), for clusters with Entra ID authentication.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
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

# The CLI this provider runs, when it is missing (`run_cli`); kubelogin is optional.
INSTALL_HINT = "install the Azure CLI: https://learn.microsoft.com/cli/azure/install-azure-cli"
KEY_FORMATS = (
    "the azure key file needs appId, tenant and password (or certificate), as "
    "`az ad sp create-for-rbac` prints them, or service_principal_id, "
    "service_principal_password and tenant_id"
)


@dataclass(frozen=True)
class ServicePrincipal:
    app_id: str
    tenant: str
    password: str | None
    certificate: str | None
    subscription: str | None


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return str(value) if value not in (None, "") else None


def service_principal(data: Any) -> ServicePrincipal:
    """The service principal in a decrypted key file, in either format (ValueError if neither)."""
    if not isinstance(data, dict):
        raise ValueError(KEY_FORMATS)
    if "service_principal_id" in data:
        app_id, tenant = _text(data, "service_principal_id"), _text(data, "tenant_id")
        password, certificate = _text(data, "service_principal_password"), None
    else:
        app_id, tenant = _text(data, "appId"), _text(data, "tenant")
        password, certificate = _text(data, "password"), _text(data, "certificate")
    if app_id is None or tenant is None or (password is None and certificate is None):
        raise ValueError(KEY_FORMATS)
    subscription = _text(data, "subscription_id")
    return ServicePrincipal(app_id, tenant, password, certificate, subscription)


# az reads the value of an argument `@-` from its standard input (module docstring).
PASSWORD_FROM_STDIN = "--password=@-"


def login_argv(app_id: str, tenant: str, *, certificate: str | None) -> list[str]:
    """`az login`; the ids checked by `hubfleet.base.argv`, every flag as `--flag=value`.
    Without `certificate` the client secret is read from stdin (`--password=@-`):
    the caller writes it there, never on the argv."""
    secret = (
        argv.flag("--certificate", argv.path(certificate, "the certificate"))
        if certificate
        else PASSWORD_FROM_STDIN
    )
    return [
        "az", "login", "--service-principal",
        argv.flag("--username", argv.azure_id(app_id, "appId of the azure key")),
        argv.flag("--tenant", argv.tenant(tenant, "tenant of the azure key")),
        secret, "--output=none",
    ]  # fmt: skip


def get_credentials_argv(
    cluster: str, resource_group: str, subscription: str | None, kubeconfig: str
) -> list[str]:
    words = [
        "az", "aks", "get-credentials",
        argv.flag("--name", argv.cloud_name(cluster, "azure.cluster")),
        argv.flag("--resource-group", argv.resource_group(resource_group, "azure.resource_group")),
        argv.flag("--file", argv.path(kubeconfig, "the kubeconfig")),
        "--overwrite-existing", "--only-show-errors",
    ]  # fmt: skip
    if subscription:
        words.append(
            argv.flag("--subscription", argv.subscription(subscription, "azure.subscription"))
        )
    return words


def convert_argv(kubeconfig: str) -> list[str]:
    return [
        "kubelogin", "convert-kubeconfig", "--login=azurecli",
        argv.flag("--kubeconfig", argv.path(kubeconfig, "the kubeconfig")),
    ]  # fmt: skip


def check_arguments(cluster: Cluster) -> None:
    """Raise `ArgvError` now when a value of the cluster's `azure` block cannot reach az."""
    block = cluster.spec.azure
    if block is not None:
        get_credentials_argv(block.cluster, block.resource_group, block.subscription, "/k")


@contextlib.contextmanager
def credentials(context: ProviderContext) -> Iterator[Credentials]:
    cluster = context.cluster
    block = cluster.spec.azure
    if block is None:
        raise credentials_error(cluster, "provider azure needs an `azure` block")
    with private_folder(cluster.name) as folder:
        kubeconfig = write_private(folder, KUBECONFIG_NAME)
        env: dict[str, str] = {"KUBECONFIG": str(kubeconfig)}
        subscription = block.subscription
        if block.key:
            data = context.sops.decrypt_data(context.fleet.abspath(cluster.path(block.key)))
            try:
                principal = service_principal(data)
            except ValueError as exc:
                raise credentials_error(
                    cluster, str(exc), hint="store the JSON `az ad sp create-for-rbac` prints"
                ) from None
            subscription = subscription or principal.subscription
            config_dir = folder / "azure"
            config_dir.mkdir(mode=0o700)
            env |= {"AZURE_CONFIG_DIR": str(config_dir), "AZURE_CORE_COLLECT_TELEMETRY": "false"}
            certificate = None
            if principal.certificate:
                certificate = str(write_private(folder, "sp.pem", principal.certificate.encode()))
            login = login_argv(principal.app_id, principal.tenant, certificate=certificate)
            password = None if certificate else (principal.password or "").encode()
            run_cli(context, login, env, install_hint=INSTALL_HINT, stdin=password)
        else:
            env |= ambient(("AZURE_",))
        run_cli(
            context,
            get_credentials_argv(
                block.cluster, block.resource_group, subscription, str(kubeconfig)
            ),
            env,
            install_hint=INSTALL_HINT,
        )
        if shutil.which("kubelogin", path=context.extra_env.get("PATH")) is not None:
            run_cli(context, convert_argv(str(kubeconfig)), env)
        yield Credentials(cluster.name, folder, kubeconfig, env)


PROVIDER = Provider(name="azure", credentials=credentials, check_arguments=check_arguments)
