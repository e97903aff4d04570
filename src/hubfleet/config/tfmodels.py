"""The schema of the deeper parts of cluster.yaml's `terraform:` block (docs/terraform.md):
home storage and its backups, what a hub's identity may read outside the fleet, and
explicit cloud names (`names:`), for clusters that keep the names they already have.

`TerraformBlock` (`config/models.py`) holds them; the checks that need the provider
or the hubs are in `config/terraform.py`, the cloud limits of names in
`terraform/names.py`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TF_NAME = re.compile(r"[a-z][a-z0-9-]*[a-z0-9]|[a-z]")
# A directory under the home storage's root: one path segment.
_DIRECTORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
# An external bucket: GCS or S3 bucket names (3-63; dots allowed, as buckets outside
# the fleet may have them).
_EXTERNAL_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
# A policy: an IAM policy ARN (AWS), a role name `roles/...` or
# `projects/<p>/roles/...` (GCP), an Azure role definition name.
_POLICY = re.compile(
    r"arn:aws[a-z-]*:iam::(?:aws|\d{12}):policy/[A-Za-z0-9+=,.@_/-]{1,512}"
    r"|(?:projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/|organizations/\d{1,32}/)?roles/[A-Za-z0-9_.]{1,64}"
    r"|[A-Za-z0-9][A-Za-z0-9 ._()-]{0,127}"
)
# A cloud name given explicitly: checked against the cloud's rule in terraform/names.py;
# here only what can never be a name of any cloud.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=,@-]{0,127}")

# The keys of a hub's `hub_access` entry that are not fleet buckets (bucket short names
# never contain '_', so they cannot clash).
EXTERNAL_KEY = "external_buckets"
POLICIES_KEY = "extra_policies"


def _env_name(value: str) -> str:
    if len(value) > 128 or not _ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


def _tf_name(value: str) -> str:
    if len(value) > 40 or not _TF_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a short name (lowercase letters, digits and '-', "
            "starting with a letter, at most 40)"
        )
    return value


def _matching(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


EnvName = Annotated[str, AfterValidator(_env_name)]
TfName = Annotated[str, AfterValidator(_tf_name)]
Directory = Annotated[str, _matching(_DIRECTORY, "a directory name (one path segment)")]
ExternalBucketName = Annotated[str, _matching(_EXTERNAL_BUCKET, "a bucket name")]
PolicyName = Annotated[
    str, _matching(_POLICY, "a policy ARN, a GCP role or an Azure role definition name")
]
CloudName = Annotated[str, _matching(_NAME, "a cloud resource name")]

HomeKind = Literal["filestore", "efs", "azure-files", "nfs-disk"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class HomeBackups(_Strict):
    """Snapshots of the home storage on a schedule (UTC), kept `retention_days`."""

    every_hours: Literal[1, 2, 3, 4, 6, 8, 12, 24] = Field(
        24, description="hours between snapshots (24: daily)"
    )
    start_hour: int = Field(3, ge=0, le=23, description="the UTC hour of the first snapshot")
    retention_days: int = Field(30, ge=1, le=3650, description="days a snapshot is kept")
    grace_hours: int = Field(
        6,
        ge=0,
        le=168,
        description="how late a snapshot may be before `hubfleet terraform backups` fails",
    )

    @property
    def max_age_hours(self) -> int:
        return self.every_hours + self.grace_hours


class HomeStorage(_Strict):
    """The users' home directories: one storage per cluster, a directory per hub."""

    kind: HomeKind = Field(
        description="filestore or nfs-disk (GCP), efs (AWS), azure-files (Azure)"
    )
    size_gb: int = Field(
        1024,
        ge=1,
        le=1024 * 1024,
        description="capacity (Filestore, the disk, the Azure share quota); EFS grows by itself",
    )
    tier: str | None = Field(
        None,
        max_length=64,
        pattern=r"[A-Za-z0-9_-]+",
        description="Filestore tier (BASIC_HDD), disk type (pd-balanced), EFS throughput "
        "mode (elastic), Azure share tier (Premium); absent: the module's default",
    )
    directories: dict[str, Directory] = Field(
        default_factory=dict,
        description="hub -> its directory under the storage's root (default: the hub's name)",
    )
    backups: HomeBackups | None = Field(None, description="snapshot schedule and retention")


class ExternalBucket(_Strict):
    """A bucket outside the fleet that a hub may read (never write)."""

    name: ExternalBucketName = Field(description="the bucket's own name (GCS or S3)")
    requester_pays: bool = Field(
        False, description="reads are billed to the reader's project or account"
    )
    env: EnvName | None = Field(None, description="the environment variable with its URL")


class HubAccess(_Strict):
    """What one hub's cloud identity may use. In cluster.yaml it is one mapping: each
    fleet bucket's short name -> its environment variable, plus `external_buckets`
    (short name -> ExternalBucket) and `extra_policies` (a list)."""

    buckets: dict[TfName, EnvName] = Field(default_factory=dict)
    external_buckets: dict[TfName, ExternalBucket] = Field(default_factory=dict)
    extra_policies: tuple[PolicyName, ...] = Field(default=())

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: Any) -> Any:
        if isinstance(data, HubAccess) or not isinstance(data, dict):
            return data
        if "buckets" in data and isinstance(data["buckets"], dict):
            raise ValueError(
                "list fleet buckets directly (short name: VARIABLE), not under 'buckets'"
            )
        buckets = {k: v for k, v in data.items() if k not in (EXTERNAL_KEY, POLICIES_KEY)}
        for key, value in buckets.items():
            if not isinstance(key, str) or not _TF_NAME.fullmatch(key) or len(key) > 40:
                raise ValueError(f"{key!r} is not a bucket short name")
            if not isinstance(value, str):
                raise ValueError(f"bucket {key}: the environment variable must be a string")
            _env_name(value)
        found: dict[str, Any] = {"buckets": buckets}
        if EXTERNAL_KEY in data:
            found["external_buckets"] = data[EXTERNAL_KEY]
        if POLICIES_KEY in data:
            policies = data[POLICIES_KEY]
            found["extra_policies"] = tuple(policies) if isinstance(policies, list) else policies
        return found

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        external = handler(ExternalBucket.__pydantic_core_schema__)
        return {
            "type": "object",
            "description": cls.__doc__,
            "properties": {
                EXTERNAL_KEY: {"type": "object", "additionalProperties": external},
                POLICIES_KEY: {"type": "array", "items": {"type": "string"}},
            },
            "additionalProperties": {"type": "string", "pattern": _ENV_NAME.pattern},
        }

    def __len__(self) -> int:
        return len(self.buckets)


class NameOverrides(_Strict):
    """Cloud names given explicitly instead of derived (an existing cluster's names)."""

    buckets: dict[TfName, CloudName] = Field(
        default_factory=dict, description="bucket short name -> its cloud name"
    )
    hubs: dict[str, CloudName] = Field(
        default_factory=dict,
        description="hub -> its identity (GCP service account id, IAM role, Azure identity)",
    )
    deployer: dict[str, CloudName] = Field(
        default_factory=dict,
        description="CI identity key (as in `hubfleet terraform vars`' deployer) -> its name",
    )
    storage_account: CloudName | None = Field(None, description="Azure storage account")
    home_account: CloudName | None = Field(
        None, description="Azure: the storage account of the home share"
    )
    home: CloudName | None = Field(
        None, description="the home storage (Filestore instance, EFS creation token, disk, share)"
    )
    backup: CloudName | None = Field(
        None, description="the backup vault, snapshot schedule or Recovery Services vault"
    )
