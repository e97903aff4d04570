"""EKS: `aws eks update-kubeconfig --kubeconfig <private file>`.

With `key` (the JSON `aws iam create-access-key` prints: `AccessKey.AccessKeyId`,
`AccessKey.SecretAccessKey`), the access key goes into the cluster's environment
only. With `role_arn`, `aws sts assume-role` (with the key, or the ambient
credentials) gives temporary credentials that replace them in that environment.
Without either: the ambient credentials (`AWS_*` of the parent, e.g. OIDC in CI).

When the block sets its own credentials, the AWS CLI's config and credentials
files point into the private folder, so `~/.aws` profiles are not consulted. The
kubeconfig calls `aws eks get-token`, which helm and kubectl run with the same
environment.
"""

from __future__ import annotations

import contextlib
import json
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

SESSION_SECONDS = 3600
# The CLI this provider runs, when it is missing (`run_cli`).
INSTALL_HINT = "install the AWS CLI v2: https://aws.amazon.com/cli/"


def update_kubeconfig_argv(cluster: str, region: str, kubeconfig: str) -> list[str]:
    """Each value checked by `hubfleet.base.argv`; flags as `--flag=value`."""
    return [
        "aws", "eks", "update-kubeconfig",
        argv.flag("--name", argv.cloud_name(cluster, "aws.clusterName")),
        argv.flag("--region", argv.region(region, "aws.region")),
        argv.flag("--kubeconfig", argv.path(kubeconfig, "the kubeconfig")),
    ]  # fmt: skip


def assume_role_argv(role_arn: str, session: str) -> list[str]:
    return [
        "aws", "sts", "assume-role",
        argv.flag("--role-arn", argv.role_arn(role_arn, "aws.role_arn")),
        argv.flag("--role-session-name", argv.session_name(session, "the role session name")),
        argv.flag("--duration-seconds", str(SESSION_SECONDS)), "--output=json",
    ]  # fmt: skip


def check_arguments(cluster: Cluster) -> None:
    """Raise `ArgvError` now when a value of the cluster's `aws` block cannot reach aws."""
    block = cluster.spec.aws
    if block is None:
        return
    update_kubeconfig_argv(block.clusterName, block.region, "/kubeconfig")
    if block.role_arn:
        assume_role_argv(block.role_arn, session_name(cluster))


def session_name(cluster: Cluster) -> str:
    return f"hubfleet-{cluster.name}"[:64]


KEY_FORMAT = "the aws key file has no AccessKey.AccessKeyId / AccessKey.SecretAccessKey"


@dataclass(frozen=True)
class AccessKey:
    key_id: str
    secret: str
    session_token: str | None  # a temporary key's (`aws sts` output), else None


def access_key(data: Any) -> AccessKey:
    """The access key in a decrypted key file: the JSON `aws iam create-access-key` prints
    (`AccessKey.AccessKeyId`, ...) or its inner mapping (ValueError naming no value)."""
    inner = data.get("AccessKey", data) if isinstance(data, dict) else None
    if not isinstance(inner, dict) or "AccessKeyId" not in inner or "SecretAccessKey" not in inner:
        raise ValueError(KEY_FORMAT)
    token = inner.get("SessionToken")
    return AccessKey(
        str(inner["AccessKeyId"]), str(inner["SecretAccessKey"]), str(token) if token else None
    )


@contextlib.contextmanager
def credentials(context: ProviderContext) -> Iterator[Credentials]:
    cluster = context.cluster
    block = cluster.spec.aws
    if block is None:
        raise credentials_error(cluster, "provider aws needs an `aws` block")
    if block.clusterType == "kops":
        raise credentials_error(
            cluster,
            "kops clusters have no `aws eks update-kubeconfig`",
            hint="use provider `kubeconfig` with a sops-encrypted kubeconfig",
        )
    with private_folder(cluster.name) as folder:
        kubeconfig = write_private(folder, KUBECONFIG_NAME)
        region = {"AWS_REGION": block.region, "AWS_DEFAULT_REGION": block.region}
        own_files = {
            "AWS_CONFIG_FILE": str(write_private(folder, "aws-config")),
            "AWS_SHARED_CREDENTIALS_FILE": str(write_private(folder, "aws-credentials")),
        }
        env: dict[str, str]
        if block.key:
            data = context.sops.decrypt_data(context.fleet.abspath(cluster.path(block.key)))
            try:
                key = access_key(data)
            except ValueError as exc:
                raise credentials_error(
                    cluster, str(exc), hint="store the JSON `aws iam create-access-key` prints"
                ) from None
            env = {
                **own_files,
                "AWS_ACCESS_KEY_ID": key.key_id,
                "AWS_SECRET_ACCESS_KEY": key.secret,
            }
        else:
            env = ambient(("AWS_",))
        env |= region
        env["KUBECONFIG"] = str(kubeconfig)
        if block.role_arn:
            assume = assume_role_argv(block.role_arn, session_name(cluster))
            out = run_cli(context, assume, env, install_hint=INSTALL_HINT)
            try:
                assumed = json.loads(out)["Credentials"]
                temporary = {
                    "AWS_ACCESS_KEY_ID": str(assumed["AccessKeyId"]),
                    "AWS_SECRET_ACCESS_KEY": str(assumed["SecretAccessKey"]),
                    "AWS_SESSION_TOKEN": str(assumed["SessionToken"]),
                }
            except (ValueError, KeyError, TypeError):
                raise credentials_error(
                    cluster, f"aws sts assume-role {block.role_arn} gave no credentials"
                ) from None
            context.redactor.add_all(
                [temporary["AWS_SECRET_ACCESS_KEY"], temporary["AWS_SESSION_TOKEN"]]
            )
            env = {k: v for k, v in env.items() if k != "AWS_PROFILE"}
            env |= own_files | temporary
        run_cli(
            context,
            update_kubeconfig_argv(block.clusterName, block.region, str(kubeconfig)),
            env,
            install_hint=INSTALL_HINT,
        )
        yield Credentials(cluster.name, folder, kubeconfig, env)


PROVIDER = Provider(name="aws", credentials=credentials, check_arguments=check_arguments)
