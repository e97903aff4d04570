"""Running `terraform` for one cluster through hubfleet's one runner.

Each run gets a private 0700 folder (removed afterwards) holding its
`TF_DATA_DIR`, so clusters plan in parallel without sharing `.terraform/`. The
cluster's Terraform credentials (the sops file `terraform.credentials` names) are
decrypted into memory and reach only this process's environment: for GCP the
key's JSON content in `GOOGLE_CREDENTIALS`, for AWS the access key variables, for
Azure the `ARM_*` service principal; no key file is written. Without
`credentials`: the ambient login (CI's OIDC federation, your own login).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubfleet.base.errors import ConfigError, ProgramError, SecretsError
from hubfleet.base.private import private_folder, write_private
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import Result, run
from hubfleet.config.fleet import Cluster, Fleet
from hubfleet.providers import aws, azure, gcp
from hubfleet.providers.base import ambient
from hubfleet.secrets.sops import Sops
from hubfleet.terraform.inputs import Inputs, block, tfvars_json

TERRAFORM = "terraform"
TIMEOUT = 3600.0
_BACKEND = re.compile(r'^\s*backend\s+"([a-z0-9_]+)"', re.MULTILINE)
_BACKEND_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What an ambient login may need: the clouds' own variables and GitHub's OIDC request.
AMBIENT_PREFIXES = ("GOOGLE_", "CLOUDSDK_", "AWS_", "ARM_", "AZURE_", "ACTIONS_ID_TOKEN_")


@dataclass(frozen=True)
class Session:
    """One cluster's terraform working set, valid inside `session()`."""

    cluster: Cluster
    module: Path
    folder: Path
    tfvars: Path
    env: Mapping[str, str] = field(repr=False)
    redactor: Redactor = field(repr=False)
    cancel: threading.Event | None = None

    def run(self, *args: str, check: bool = True, timeout: float = TIMEOUT) -> Result:
        argv = [TERRAFORM, f"-chdir={self.module}", *args]
        try:
            return run(
                argv,
                redactor=self.redactor,
                env=self.env,
                timeout=timeout,
                check=check,
                cancel=self.cancel,
            )
        except ProgramError as exc:
            exc.message = f"cluster {self.cluster.name}: {exc.message}"
            raise


def credential_env(cluster: Cluster, secret: Any) -> dict[str, str]:
    """The variables a cluster's decrypted Terraform credentials become (never a file).
    Each key format is parsed by its provider's module (`providers/<cloud>.py`)."""
    if not isinstance(secret, dict):
        raise _credentials_error(cluster, "terraform.credentials is not a JSON or YAML mapping")
    try:
        if cluster.provider == "gcp":
            gcp.check_key_data(secret)
            return {"GOOGLE_CREDENTIALS": json.dumps(secret, sort_keys=True)}
        if cluster.provider == "aws":
            return _aws_env(aws.access_key(secret))
        return _azure_env(cluster, azure.service_principal(secret))
    except ValueError as exc:
        raise _credentials_error(cluster, f"terraform.credentials: {exc}") from None


def _credentials_error(cluster: Cluster, message: str) -> SecretsError:
    return SecretsError(
        f"cluster {cluster.name}: {message}",
        path=cluster.file,
        line=cluster.lines.line(("terraform", "credentials")),
    )


def _aws_env(key: aws.AccessKey) -> dict[str, str]:
    env = {"AWS_ACCESS_KEY_ID": key.key_id, "AWS_SECRET_ACCESS_KEY": key.secret}
    if key.session_token:
        env["AWS_SESSION_TOKEN"] = key.session_token
    return env


def _azure_env(cluster: Cluster, principal: azure.ServicePrincipal) -> dict[str, str]:
    if principal.password is None:
        raise ValueError("Terraform needs the service principal's password, not a certificate")
    env = {
        "ARM_CLIENT_ID": principal.app_id,
        "ARM_CLIENT_SECRET": principal.password,
        "ARM_TENANT_ID": principal.tenant,
    }
    block = cluster.spec.azure
    subscription = (block.subscription if block else None) or principal.subscription
    if subscription:
        env["ARM_SUBSCRIPTION_ID"] = subscription
    return env


def backend_args(cluster: Cluster, module: Path) -> list[str]:
    """`-backend-config=key=value` for each setting; the module must declare that backend."""
    backend = block(cluster).backend
    declared = set()
    for path in sorted(module.glob("*.tf")):
        declared.update(_BACKEND.findall(path.read_text(encoding="utf-8")))
    if backend.type not in declared:
        raise ConfigError(
            f"terraform.backend.type is {backend.type!r} but the module declares "
            f"{', '.join(sorted(declared)) or 'no backend'}",
            path=cluster.file,
            line=cluster.lines.line(("terraform", "backend", "type")),
            hint=f'declare `backend "{backend.type}" {{}}` in the module\'s terraform block',
        )
    args = []
    for key, value in sorted(backend.settings.items()):
        if not _BACKEND_KEY.fullmatch(key):
            raise ConfigError(
                f"terraform.backend.settings key {key!r} is not a setting name",
                path=cluster.file,
                line=cluster.lines.line(("terraform", "backend", "settings", key)),
            )
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        args.append(f"-backend-config={key}={shown}")
    return args


@contextlib.contextmanager
def session(
    fleet: Fleet,
    cluster: Cluster,
    inputs: Inputs,
    sops: Sops,
    redactor: Redactor,
    *,
    extra_env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[Session]:
    """A private folder with the cluster's tfvars and data dir, and its environment."""
    tf = block(cluster)
    module = fleet.abspath(inputs.module)
    with private_folder(f"tf-{cluster.name}") as folder:
        tfvars = write_private(folder, "hubfleet.tfvars.json", tfvars_json(inputs).encode())
        env: dict[str, str] = {
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "TF_DATA_DIR": str(folder / "data"),
        }
        cli_config = os.environ.get("TF_CLI_CONFIG_FILE")
        if cli_config:
            env["TF_CLI_CONFIG_FILE"] = cli_config
        if tf.credentials:
            secret = sops.decrypt_data(fleet.abspath(cluster.path(tf.credentials)))
            env |= credential_env(cluster, secret)
        else:
            env = {**ambient(AMBIENT_PREFIXES), **env}
        env |= dict(extra_env or {})
        yield Session(cluster, module, folder, tfvars, env, redactor, cancel)


def init(s: Session) -> None:
    """`init` with the cluster's backend; the committed lock file is read-only."""
    s.run("init", "-input=false", "-lockfile=readonly", *backend_args(s.cluster, s.module))


def plan(s: Session, out: Path | None, extra: Sequence[str] = ()) -> Result:
    args = ["plan", "-input=false", f"-var-file={s.tfvars}", *extra]
    if out is not None:
        args.append(f"-out={out}")
    return s.run(*args, check=False)


def show_json(s: Session, plan_file: Path) -> str:
    return s.run("show", "-json", str(plan_file)).stdout


def apply(s: Session, plan_file: Path) -> Result:
    return s.run("apply", "-input=false", "-auto-approve", str(plan_file))


def outputs(s: Session) -> dict[str, Any]:
    """`terraform output -json`: name -> {"value", "sensitive", "type"}."""
    text = s.run("output", "-json").stdout
    try:
        data = json.loads(text or "{}")
    except ValueError:
        raise ProgramError(
            f"cluster {s.cluster.name}: `terraform output -json` is not JSON"
        ) from None
    if not isinstance(data, dict):
        raise ProgramError(f"cluster {s.cluster.name}: `terraform output -json` is not a map")
    for entry in data.values():  # sensitive values are scrubbed from everything printed
        if isinstance(entry, dict) and entry.get("sensitive"):
            s.redactor.add_all(_leaves(entry.get("value")))
    return data


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [] if value is None or isinstance(value, bool) else [str(value)]
