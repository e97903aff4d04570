"""`hubfleet terraform backups`: proof that the home storage's backups exist and are fresh.

For each cluster with `terraform.home.backups`, the newest snapshot of its home
storage is asked of the cloud's CLI, in the cluster's Terraform credentials (its
`terraform.credentials` sops file, else the ambient login, as `terraform` gets
them), and compared with the schedule: it may be at most `every_hours +
grace_hours` old. No snapshot at all fails too.

- AWS (EFS): `aws backup list-recovery-points-by-backup-vault` of the cluster's
  vault (only the home file system is backed up into it), completed points;
- GCP (nfs-disk): `gcloud compute snapshots list` of the snapshots the schedule
  labels `hubfleet-home=<home disk>`, ready ones;
- Azure (azure-files): `az backup recoverypoint list` of the share in the
  cluster's Recovery Services vault.

Every name in an argv is one hubfleet derived (or a `terraform.names` entry,
checked against the cloud's rule), passed as `--flag=value`.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hubfleet.base.errors import HubfleetError, ProgramError
from hubfleet.base.private import private_folder, write_private
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import run
from hubfleet.config.fleet import Cluster, Fleet
from hubfleet.providers import azure
from hubfleet.providers.base import ambient
from hubfleet.secrets.sops import Sops
from hubfleet.terraform.inputs import Inputs, block, compute
from hubfleet.terraform.tf import AMBIENT_PREFIXES, credential_env

TIMEOUT = 300.0


@dataclass(frozen=True)
class Query:
    """How to list one cluster's home snapshots."""

    storage: str  # what is backed up, for people: "EFS hubfleet-beta-home"
    argv: tuple[str, ...]
    max_age_hours: int


@dataclass(frozen=True)
class BackupStatus:
    cluster: str
    status: str  # fresh, stale, missing, failed, not-configured
    storage: str = ""
    newest: str | None = None  # ISO 8601, UTC
    age_hours: float | None = None
    max_age_hours: int | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("fresh", "not-configured")

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster_name": self.cluster,
            "status": self.status,
            "storage": self.storage,
            "newest": self.newest,
            "age_hours": None if self.age_hours is None else round(self.age_hours, 2),
            "max_age_hours": self.max_age_hours,
            "message": self.message,
        }


def query(cluster: Cluster, inputs: Inputs) -> Query | None:
    """The CLI call that lists the cluster's home snapshots (None without backups)."""
    home = block(cluster).home
    names = inputs.names
    if home is None or home.backups is None or names.home is None or names.backup is None:
        return None
    limit = home.backups.max_age_hours
    spec = cluster.spec
    if spec.aws is not None:
        return Query(
            f"EFS {names.home} (backup vault {names.backup})",
            (
                "aws",
                "backup",
                "list-recovery-points-by-backup-vault",
                f"--backup-vault-name={names.backup}",
                f"--region={spec.aws.region}",
                "--output=json",
            ),
            limit,
        )
    if spec.gcp is not None:
        return Query(
            f"disk {names.home} (snapshot schedule {names.backup})",
            (
                "gcloud",
                "compute",
                "snapshots",
                "list",
                f"--project={spec.gcp.project}",
                f"--filter=labels.hubfleet-home={names.home}",
                "--format=json",
            ),
            limit,
        )
    if spec.azure is not None:
        argv = [
            "az",
            "backup",
            "recoverypoint",
            "list",
            f"--resource-group={spec.azure.resource_group}",
            f"--vault-name={names.backup}",
            f"--container-name={names.home_account}",
            f"--item-name={names.home}",
            "--backup-management-type=AzureStorage",
            "--workload-type=AzureFileShare",
            "--output=json",
        ]
        if spec.azure.subscription:
            argv.append(f"--subscription={spec.azure.subscription}")
        return Query(f"Azure Files share {names.home_account}/{names.home}", tuple(argv), limit)
    return None


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def snapshot_times(provider: str, stdout: str) -> list[datetime]:
    """The creation times of the finished snapshots in a CLI's JSON answer (a
    ProgramError when it is not that answer)."""
    try:
        data = json.loads(stdout or "null")
    except ValueError:
        raise ProgramError(f"the {provider} CLI did not print JSON") from None
    if provider == "aws":
        points = data.get("RecoveryPoints") if isinstance(data, dict) else None
        entries = [
            p.get("CreationDate")
            for p in (points if isinstance(points, list) else [])
            if isinstance(p, dict) and p.get("Status", "COMPLETED") == "COMPLETED"
        ]
    elif provider == "gcp":
        entries = [
            s.get("creationTimestamp")
            for s in (data if isinstance(data, list) else [])
            if isinstance(s, dict) and s.get("status", "READY") == "READY"
        ]
    else:
        entries = [
            (p.get("properties") or {}).get("recoveryPointTime")
            for p in (data if isinstance(data, list) else [])
            if isinstance(p, dict) and isinstance(p.get("properties") or {}, dict)
        ]
    if data is not None and not isinstance(data, (dict, list)):
        raise ProgramError(f"the {provider} CLI printed no list of snapshots")
    return sorted(t for t in (_time(e) for e in entries) if t is not None)


def judge(cluster: str, q: Query, times: Sequence[datetime], now: datetime) -> BackupStatus:
    """Fresh, stale (with the storage and the age) or missing."""
    if not times:
        return BackupStatus(
            cluster,
            "missing",
            q.storage,
            max_age_hours=q.max_age_hours,
            message=f"{cluster}: {q.storage} has no snapshot at all",
        )
    newest = max(times)
    age = (now - newest).total_seconds() / 3600
    shown = newest.astimezone(UTC).isoformat(timespec="seconds")
    if age > q.max_age_hours:
        return BackupStatus(
            cluster,
            "stale",
            q.storage,
            shown,
            age,
            q.max_age_hours,
            f"{cluster}: the newest snapshot of {q.storage} is {age:.1f} hours old ({shown}); "
            f"the schedule allows {q.max_age_hours}",
        )
    return BackupStatus(cluster, "fresh", q.storage, shown, age, q.max_age_hours)


@contextlib.contextmanager
def cli_env(
    fleet: Fleet, cluster: Cluster, sops: Sops, redactor: Redactor, extra: Mapping[str, str]
) -> Iterator[dict[str, str]]:
    """The cloud CLI's environment: the cluster's Terraform credentials (the key file
    gcloud needs, and az's login, only in a private folder removed afterwards), or the
    ambient login; the user's own CLI configuration never read."""
    tf = block(cluster)
    with private_folder(f"backups-{cluster.name}") as folder:
        config = folder / "config"
        config.mkdir(mode=0o700)
        env: dict[str, str] = {}
        if cluster.provider == "aws":
            env |= {
                "AWS_CONFIG_FILE": str(write_private(folder, "aws-config")),
                "AWS_SHARED_CREDENTIALS_FILE": str(write_private(folder, "aws-credentials")),
            }
        elif cluster.provider == "gcp":
            env |= {"CLOUDSDK_CONFIG": str(config), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
        else:
            env |= {"AZURE_CONFIG_DIR": str(config), "AZURE_CORE_COLLECT_TELEMETRY": "false"}
        if not tf.credentials:
            ambient_env = ambient(AMBIENT_PREFIXES)
            if cluster.provider != "aws":
                ambient_env = {k: v for k, v in ambient_env.items() if k not in env}
            yield {**ambient_env, **env, **extra}
            return
        secret = sops.decrypt_data(fleet.abspath(cluster.path(tf.credentials)))
        variables = credential_env(cluster, secret)  # checks the key's format
        if cluster.provider == "aws":
            env |= variables
        elif cluster.provider == "gcp":
            key = write_private(folder, "key.json", variables["GOOGLE_CREDENTIALS"].encode())
            env["CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"] = str(key)
        else:
            principal = azure.service_principal(secret)
            login = azure.login_argv(principal.app_id, principal.tenant, certificate=None)
            run(
                login,
                redactor=redactor,
                env={**env, **extra},
                timeout=TIMEOUT,
                stdin=variables["ARM_CLIENT_SECRET"].encode(),
            )
        yield {**env, **extra}


def check_cluster(
    fleet: Fleet,
    cluster: Cluster,
    sops: Sops,
    redactor: Redactor,
    extra_env: Mapping[str, str],
    now: datetime | None = None,
    cancel: threading.Event | None = None,
) -> BackupStatus:
    try:
        inputs = compute(cluster)
        q = query(cluster, inputs)
        if q is None:
            return BackupStatus(cluster.name, "not-configured", message="no terraform.home.backups")
        with cli_env(fleet, cluster, sops, redactor, extra_env) as env:
            result = run(
                list(q.argv),
                redactor=redactor,
                env=env,
                timeout=TIMEOUT,
                check=False,
                cancel=cancel,
            )
        if result.returncode != 0:
            return BackupStatus(
                cluster.name,
                "failed",
                q.storage,
                max_age_hours=q.max_age_hours,
                message=f"{cluster.name}: {q.argv[0]} failed listing the snapshots of "
                f"{q.storage}: {result.stderr.strip()[-1000:]}",
            )
        times = snapshot_times(cluster.provider, result.stdout)
    except HubfleetError as exc:
        return BackupStatus(cluster.name, "failed", message=f"{cluster.name}: {exc}")
    return judge(cluster.name, q, times, now or datetime.now(UTC))


def backup_clusters(fleet: Fleet, names: Sequence[str]) -> list[Cluster]:
    """The named clusters (each needs a terraform: block), or every cluster with home
    backups."""
    if names:
        chosen = [fleet.cluster(name) for name in names]
        for cluster in chosen:
            block(cluster)  # a ConfigError without one
        return chosen
    return [
        c
        for c in fleet.clusters
        if c.spec.terraform is not None
        and c.spec.terraform.home is not None
        and c.spec.terraform.home.backups is not None
    ]


def check_all(
    fleet: Fleet,
    clusters: Sequence[Cluster],
    sops: Sops,
    redactor: Redactor,
    extra_env: Mapping[str, str],
    concurrency: int = 4,
) -> list[BackupStatus]:
    now = datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(
            pool.map(lambda c: check_cluster(fleet, c, sops, redactor, extra_env, now), clusters)
        )
