"""The schema of `cluster.yaml` and `hubfleet.yaml`, as strict pydantic models.

These models are the single source of truth: loading validates against them and
`hubfleet schema` exports their JSON Schema. Field names are the ones public
fleets already use (DESIGN.md section 2), informational keys included; any other
key is an error.
"""

from __future__ import annotations

import datetime
import re
import typing
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from hubfleet.base import duration, kubenames
from hubfleet.config.community import CommunityBlock, CommunitySettings
from hubfleet.config.notify import HealthSettings, NotifySettings
from hubfleet.config.providers import Provider
from hubfleet.config.rollout import HoldBlock, HubLabels, RolloutSettings
from hubfleet.config.tfmodels import HomeStorage, HubAccess, NameOverrides, TfName

# Whole-string patterns (always used with fullmatch: `$` also matches before a final
# newline). Kubernetes' DNS-1123 label, and its subdomain (dot-separated labels).
# A value that reaches an external program's argv: no option look-alike, no space,
# no control character.
_ARGV_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@=+,-]*")
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_CHART_NAME = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.]*")
_CHART_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]*")
_KUBE_VERSION = re.compile(r"v?\d+\.\d+(\.\d+)?")
MAX_HELM_TIMEOUT_S = 24 * 3600.0


def _argv_token(value: str) -> str:
    if len(value) > 256 or not _ARGV_TOKEN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name: letters, digits and . _ : / @ = + , -, "
            "starting with a letter or digit"
        )
    return value


def _dns_subdomain(value: str) -> str:
    if not kubenames.is_subdomain(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes object name (lowercase letters, digits, '-' and '.')"
        )
    return value


def _secret_key(value: str) -> str:
    if (
        len(value) > kubenames.MAX_SUBDOMAIN
        or not _SECRET_KEY.fullmatch(value)
        or value.startswith("-")
    ):
        raise ValueError(f"{value!r} is not a Secret key (letters, digits, '-', '_' and '.')")
    return value


def _chart_name(value: str) -> str:
    if len(value) > 100 or not _CHART_NAME.fullmatch(value) or ".." in value:
        raise ValueError(
            f"{value!r} is not a chart name (letters, digits, '-', '_' and '.', no '..')"
        )
    return value


def _helm_timeout(value: str) -> str:
    seconds = duration.seconds(value)
    if not 1.0 <= seconds <= MAX_HELM_TIMEOUT_S:
        raise ValueError(f"{value!r} is out of range: between 1s and 24h")
    return value


def _state_dir(value: str) -> str:
    if not value or "\0" in value or any(ord(c) < 32 for c in value):
        raise ValueError(f"{value!r} is not a folder path")
    if value.startswith("/"):
        return value  # explicitly elsewhere: the loader says so
    depth = 0
    for part in value.split("/"):
        depth += -1 if part == ".." else 0 if part in ("", ".") else 1
        if depth < 0:
            raise ValueError(
                f"{value!r} points outside the repository (a relative state_dir stays inside it; "
                "give an absolute path to keep state elsewhere on purpose)"
            )
    return value


ArgvToken = Annotated[str, AfterValidator(_argv_token)]
KubeName = Annotated[str, AfterValidator(_dns_subdomain)]
SecretKey = Annotated[str, AfterValidator(_secret_key)]
ChartName = Annotated[str, AfterValidator(_chart_name)]
HelmDuration = Annotated[str, AfterValidator(_helm_timeout)]
StateDir = Annotated[str, AfterValidator(_state_dir)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ProviderBlock(_Strict):
    """The block of a provider (a field of `ClusterFile` named after it)."""

    # Optional keys `hubfleet new cluster` asks for although the model cannot mark
    # them required (one of two is), each with the key that may stand for it.
    ASKED_ALTERNATIVES: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def may_be_absent(cls) -> bool:
        """A block with no required key may be left out of cluster.yaml (`local:`)."""
        return not any(field.is_required() for field in cls.model_fields.values())


class GcpBlock(ProviderBlock):
    """Google Kubernetes Engine."""

    ASKED_ALTERNATIVES: ClassVar[Mapping[str, str]] = {"zone": "region"}

    project: ArgvToken = Field(description="GCP project id holding the cluster")
    cluster: ArgvToken = Field(description="GKE cluster name")
    zone: ArgvToken | None = Field(None, description="zone (zonal cluster) or region (regional)")
    region: ArgvToken | None = Field(None, description="region of a regional cluster")
    key: str | None = Field(
        None,
        description="sops-encrypted service-account JSON key, relative to cluster.yaml; "
        "absent: ambient credentials (workload identity federation)",
    )
    billing: dict[str, Any] | None = Field(None, description="free information")

    @model_validator(mode="after")
    def _location(self) -> GcpBlock:
        if not self.zone and not self.region:
            raise ValueError("gcp needs 'zone' or 'region'")
        return self


class AwsBlock(ProviderBlock):
    """Amazon EKS."""

    account: str | int | None = Field(None, description="AWS account id")
    clusterName: ArgvToken = Field(description="EKS cluster name")
    region: ArgvToken = Field(description="AWS region")
    key: str | None = Field(
        None, description="sops-encrypted access key JSON, relative to cluster.yaml"
    )
    role_arn: ArgvToken | None = Field(None, description="role assumed for the deploy")
    clusterType: Literal["eks", "kops"] | None = Field(None, description="eks (default) or kops")
    billing: dict[str, Any] | None = Field(None, description="free information")


class AzureBlock(ProviderBlock):
    """Azure Kubernetes Service."""

    resource_group: ArgvToken = Field(description="resource group holding the cluster")
    cluster: ArgvToken = Field(description="AKS cluster name")
    subscription: ArgvToken | None = Field(None, description="subscription id")
    key: str | None = Field(
        None,
        description="sops-encrypted service principal JSON, relative to cluster.yaml; "
        "absent: ambient (federated) login",
    )


class KubeconfigBlock(ProviderBlock):
    """Any cluster reachable with a kubeconfig."""

    file: str = Field(description="sops-encrypted kubeconfig, relative to cluster.yaml")


class LocalBlock(ProviderBlock):
    """The local provider: each hub as a JupyterHub process on 127.0.0.1."""

    state_dir: StateDir | None = Field(
        None,
        description="state folder, relative to the repository and inside it (default "
        ".hubfleet/local); an absolute path keeps state outside the repository on purpose",
    )
    base_port: int = Field(18000, ge=1024, le=65000, description="first port of this cluster")


class SupportBlock(_Strict):
    """The cluster-wide support release (namespace `support`)."""

    helm_chart: ChartName = Field("support", description="chart of the support release")
    helm_chart_values_files: list[str] = Field(
        description="values files, relative to cluster.yaml, in order (later wins)"
    )


class HealthCheckBlock(_Strict):
    """How `hubfleet check` and the deploy's canary gate check a hub (docs/health-check.md).

    `enabled` applies to every provider; the other keys say where the check finds a
    hub on Kubernetes, with zero-to-jupyterhub's conventions as defaults.
    """

    enabled: bool = Field(
        True, description="check this hub; false: its cluster's canary gate is helm's result"
    )
    secret: KubeName = Field(
        "hub", description="Kubernetes Secret in the hub's namespace holding the check's API token"
    )
    key: SecretKey = Field(
        "hub.services.hubfleet-health-check.apiToken",
        description="key of that Secret holding the token (z2jh: hub.services.<name>.apiToken)",
    )
    service: KubeName = Field("proxy-public", description="Kubernetes Service to port-forward to")
    port: int = Field(80, ge=1, le=65535, description="port of that Service")
    user: ArgvToken | None = Field(
        None, description="the check user; default hubfleet-health-check (Kubernetes hubs)"
    )


class HubEntry(_Strict):
    """One hub: a helm release (and namespace) named after it."""

    name: str = Field(description="hub name: also its helm release and namespace")
    domain: str = Field(description="the hub's domain name")
    helm_chart: ChartName | None = Field(
        None, description="chart: helm-charts/<name>/ or an entry of hubfleet.yaml charts"
    )
    helm_chart_values_files: list[str] = Field(
        description="values files, relative to cluster.yaml, in order (later wins)"
    )
    display_name: str | None = Field(None, description="free information")
    staging: bool | None = Field(
        None, description="a canary, upgraded first; absent: true when the name contains 'staging'"
    )
    chart_override: str | None = Field(
        None,
        description=(
            "a replacement Chart.yaml laid over the helm_chart folder, or a chart folder or .tgz"
            " used instead (relative to cluster.yaml; a path with '/' that is not there, to the"
            " repository root)"
        ),
    )
    domain_override_file: str | None = Field(
        None, description="a YAML file with a 'domain' key replacing domain (may be encrypted)"
    )
    uptime_check: dict[str, Any] | None = Field(None, description="free settings of uptime checks")
    health_check: HealthCheckBlock = Field(
        default_factory=HealthCheckBlock,
        description="the hub's health check: where its token and Service are (Kubernetes)",
    )
    community: CommunityBlock | None = Field(
        None, description="the community that may change its own files (docs/community.md)"
    )
    hold: HoldBlock | None = Field(
        None, description="hold the hub back: never deployed while held (docs/deploy.md)"
    )
    labels: HubLabels | None = Field(
        None, description="free labels (k: v) rollout waves select hubs by (docs/deploy.md)"
    )


def _iso_date(value: Any) -> Any:
    """An ISO date (`2026-01-31`): YAML's own date, or the same text quoted."""
    if isinstance(value, datetime.datetime):
        raise ValueError(f"{value!s} is a date and time: give the date only (YYYY-MM-DD)")
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None
    return value


class DecommissionedHub(_Strict):
    """A hub removed from the cluster: its release is uninstalled by the next deploy
    (docs/decommission.md). Only through such an entry does a hub leave a cluster."""

    name: str = Field(description="the hub's name (its helm release and namespace)")
    date: Annotated[datetime.date, BeforeValidator(_iso_date)] = Field(
        description="when it was decommissioned (ISO date, YYYY-MM-DD)"
    )
    data: Literal["keep", "delete"] = Field(
        description="keep: the namespace and its volumes (home directories) stay; "
        "delete: the namespace is deleted with the release"
    )
    reason: str | None = Field(None, description="free information: why it was removed")


class TerraformBackend(_Strict):
    """Where the cluster's one Terraform state lives (no shared state, no workspaces)."""

    type: Literal["gcs", "s3", "azurerm", "local"] = Field(description="Terraform backend type")
    settings: dict[str, str | int | bool] = Field(
        default_factory=dict,
        description="the backend's settings (bucket, prefix, key, ...) as `terraform init "
        "-backend-config` pairs",
    )


class TerraformBucket(_Strict):
    """One object-storage bucket (GCS, S3, or an Azure blob container)."""

    lifecycle_days: int | None = Field(
        None, ge=1, le=36500, description="objects are deleted this many days after creation"
    )
    public_read: bool = Field(False, description="anyone may read the objects")
    versioning: bool = Field(False, description="keep old versions of objects")


class TerraformNodePool(_Strict):
    """A node pool (`core` is the pool of the hub infrastructure, the others user pools)."""

    machine_type: ArgvToken = Field(description="machine / instance / VM size")
    min_nodes: int = Field(0, ge=0, le=1000)
    max_nodes: int = Field(ge=1, le=1000)
    disk_size_gb: int = Field(100, ge=10, le=65536)
    gpu_type: ArgvToken | None = Field(None, description="accelerator type (GCP) or none")
    gpu_count: int = Field(0, ge=0, le=16)
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[str] = Field(
        default_factory=list, description="taints as key=value:Effect (e.g. gpu=yes:NoSchedule)"
    )

    @model_validator(mode="after")
    def _sizes(self) -> TerraformNodePool:
        if self.min_nodes > self.max_nodes:
            raise ValueError("min_nodes is larger than max_nodes")
        for taint in self.taints:
            if not re.fullmatch(
                r"[A-Za-z0-9./_-]+=[A-Za-z0-9._-]*:(NoSchedule|PreferNoSchedule|NoExecute)", taint
            ):
                raise ValueError(f"taint {taint!r} is not key=value:Effect")
        return self


class TerraformBlock(_Strict):
    """The cluster's infrastructure, built by Terraform from this block (docs/terraform.md)."""

    module: str | None = Field(
        None,
        description="the root module folder, relative to the repository (default "
        "terraform/<provider>)",
    )
    backend: TerraformBackend = Field(description="the cluster's own state")
    credentials: str | None = Field(
        None,
        description="sops file with the credentials Terraform uses, relative to cluster.yaml; "
        "absent: ambient/keyless (CI federation, your own login)",
    )
    buckets: dict[TfName, TerraformBucket] = Field(
        default_factory=dict, description="object storage by short name"
    )
    hub_access: dict[str, HubAccess] = Field(
        default_factory=dict,
        description="hub name -> {bucket short name: environment variable it appears as}, "
        "plus external_buckets (read-only) and extra_policies: each such hub gets its own "
        "cloud identity with access to exactly these",
    )
    node_pools: dict[TfName, TerraformNodePool] = Field(default_factory=dict)
    vars: dict[str, Any] = Field(
        default_factory=dict, description="more module inputs, passed as they are"
    )
    home: HomeStorage | None = Field(
        None, description="users' home directories and their backups (docs/terraform.md)"
    )
    names: NameOverrides = Field(
        default_factory=NameOverrides, description="cloud names kept instead of derived ones"
    )

    @model_validator(mode="after")
    def _known_buckets(self) -> TerraformBlock:
        for hub, access in self.hub_access.items():
            for bucket in access.buckets:
                if bucket not in self.buckets:
                    raise ValueError(
                        f"hub_access.{hub} names bucket {bucket!r}, which is not in buckets"
                    )
        return self


class ClusterDeployBlock(_Strict):
    """Per-cluster deploy settings (docs/deploy.md)."""

    parallelism: int | None = Field(
        None, ge=1, le=256, description="helm upgrades at once on this cluster"
    )


class ClusterFile(_Strict):
    """`config/clusters/<name>/cluster.yaml`."""

    name: str = Field(description="cluster name; equals the folder name")
    provider: Provider
    provider_url: str | None = Field(None, description="free information")
    metadata: dict[str, Any] | None = Field(None, description="free information")
    tenancy: Any = Field(None, description="free information")
    gcp: GcpBlock | None = None
    aws: AwsBlock | None = None
    azure: AzureBlock | None = None
    kubeconfig: KubeconfigBlock | None = None
    local: LocalBlock | None = None
    support: SupportBlock | None = None
    deploy: ClusterDeployBlock | None = Field(
        None, description="deploy settings of this cluster (override hubfleet.yaml's deploy)"
    )
    hubs: list[HubEntry] = Field(default_factory=list)
    decommissioned: list[DecommissionedHub] = Field(
        default_factory=list,
        description="hubs removed from this cluster, each with its date and data decision: "
        "the deploy uninstalls them (docs/decommission.md)",
    )
    terraform: TerraformBlock | None = Field(None, description="the cluster's infrastructure")


def provider_block_model(provider: str) -> type[ProviderBlock]:
    """The model of a provider's block: the type of `ClusterFile`'s field of that name."""
    annotation = ClusterFile.model_fields[provider].annotation
    block = next(t for t in typing.get_args(annotation) if t is not type(None))
    assert isinstance(block, type) and issubclass(block, ProviderBlock)
    return block


class RemoteChart(_Strict):
    """A chart from a helm repository (https) or an OCI registry (oci://)."""

    repository: str = Field(description="helm repository URL or oci:// reference")
    version: str = Field(description="pinned chart version")

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not re.fullmatch(r"(https?|oci)://[^\s]+", value):
            raise ValueError(f"{value!r} is not an https://, http:// or oci:// URL")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if len(value) > 128 or not _CHART_VERSION.fullmatch(value):
            raise ValueError(f"{value!r} is not a chart version (e.g. 4.2.0)")
        return value


class DeploySettings(_Strict):
    helm_timeout: HelmDuration = Field(
        "10m", description="helm --timeout for each release: a duration (10m, 300s, 1h30m), 1s-24h"
    )
    concurrency: int | None = Field(None, ge=1, le=256, description="helm processes at once")
    cluster_concurrency: int | None = Field(None, ge=1, le=256, description="clusters at once")
    health_check: bool = Field(True, description="health-check staging hubs before production")
    cluster_parallelism: int = Field(
        8,
        ge=1,
        le=256,
        description="helm upgrades at once on one cluster (cluster.yaml may override)",
    )
    rollout_poll_s: float = Field(
        2.0, gt=0, le=60, description="seconds between kubectl polls while watching a rollout"
    )
    unschedulable_grace_s: float = Field(
        60.0, ge=0, le=3600, description="seconds a new pod may stay unschedulable before failing"
    )
    rate_limit_retries: int = Field(
        3, ge=0, le=20, description="retries of an upgrade refused by the API's rate limit"
    )
    rate_limit_backoff_s: float = Field(
        2.0, ge=0, le=300, description="first wait before such a retry (doubled each time)"
    )
    check_production: bool = Field(
        True, description="health-check production hubs after their upgrade too"
    )
    production_user_server: bool = Field(
        False,
        description="production hubs' check starts a user server too, as the canaries' does "
        "(off: the hub answers its API through the proxy)",
    )
    rollback_on_failed_check: bool = Field(
        False, description="roll a hub whose check failed after its upgrade back to its revision"
    )
    skip_crds: list[ChartName] = Field(
        default_factory=list,
        description="charts whose CRDs (their crds/ folders and their subcharts') a deploy does "
        "not apply before each upgrade (left to helm, which installs them only at first install)",
    )


class JsonnetSettings(_Strict):
    """How `.jsonnet` values files are evaluated."""

    ext_var_prefix: str = Field(
        "VARS_2I2C_",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="prefix of the external variables (CLUSTER_NAME, HUB_NAME, HUB_DOMAIN, "
        "PROVIDER, ACCOUNT_ID) a .jsonnet values file reads with std.extVar",
    )


class PlanSettings(_Strict):
    """How `hubfleet plan` shows a plan (docs/plans.md)."""

    mention_owners: bool = Field(
        False,
        description="the plan comment mentions, once each, the owners (community owners) of "
        "the hubs that change",
    )
    mention_teams: bool = Field(
        False, description="with mention_owners: @org/team owners are mentioned too"
    )


class DriftSettings(_Strict):
    """The scheduled status workflow (docs/ci.md, docs/status.md "Reconciling plans")."""

    repair: bool = Field(
        False,
        description="deploy each drifted cluster's live plan (git's state) instead of only "
        "reporting it in an issue",
    )
    issue_label: str = Field(
        "hubfleet-drift",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,49}$",
        description="label of the drift issues (one per drifted cluster)",
    )


class FleetFile(_Strict):
    """`hubfleet.yaml`: optional fleet-wide settings."""

    charts: dict[str, RemoteChart] = Field(
        default_factory=dict, description="remote charts hubs may name in helm_chart"
    )
    default_chart: ChartName | None = Field(None, description="helm_chart of hubs that name none")
    redeploy_all_when_changed: list[str] = Field(
        default_factory=list,
        description="globs (repository-relative): a change to a matching file redeploys all",
    )
    kubernetes_version: str | None = Field(
        None, description="Kubernetes version manifests are checked against (e.g. 1.31)"
    )
    hubfleet_version: str | None = Field(None, description="the hubfleet version CI installs")
    deploy: DeploySettings = Field(default_factory=DeploySettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    jsonnet: JsonnetSettings = Field(default_factory=JsonnetSettings)
    community: CommunitySettings = Field(default_factory=CommunitySettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    plan: PlanSettings = Field(default_factory=PlanSettings)
    rollout: RolloutSettings = Field(
        default_factory=RolloutSettings,
        description="fleet-wide changes rolled out in waves (docs/deploy.md)",
    )
    support_chart_values_files: list[str] = Field(
        default_factory=lambda: ["enc-*.secret.values.yaml"],
        description="values files of the support chart's own folder (helm-charts/<chart>/), by "
        "file name or glob, added to every support release before the chart's values.jsonnet "
        "and the cluster's helm_chart_values_files (the layout's deployer adds "
        "enc-*.secret.values.yaml so); in this order, a glob's matches sorted; [] for none",
    )
    helm_repositories_file: str = Field(
        "helm-charts/repositories.yaml",
        description="helm's repositories.yaml (as `helm repo add` writes it), relative to the "
        'repository: where a chart dependency\'s `repository: "@name"` is looked up',
    )
    z2jh_values_keys: dict[str, str] = Field(
        default_factory=dict,
        description="chart -> where its values for the JupyterHub chart (z2jh) sit: a dotted "
        "key (jupyterhub for a basehub-like chart, basehub.jupyterhub for a daskhub-like one), "
        "'' at the top; wins over what hubfleet reads from the chart's dependencies",
    )

    @field_validator("charts", "z2jh_values_keys")
    @classmethod
    def _chart_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            _chart_name(name)
        return value

    @field_validator("support_chart_values_files")
    @classmethod
    def _chart_file_patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern or "/" in pattern or "\\" in pattern or pattern in (".", ".."):
                raise ValueError(
                    f"{pattern!r} is not a file name or glob in the support chart's folder"
                )
        return value

    @field_validator("helm_repositories_file")
    @classmethod
    def _repositories_file(cls, value: str) -> str:
        _state_dir(value)  # a relative path that stays inside the repository
        if value.startswith("/"):
            raise ValueError(f"{value!r} is not relative to the repository")
        return value

    @field_validator("z2jh_values_keys")
    @classmethod
    def _z2jh_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value.values():
            if key and not re.fullmatch(r"[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63}){0,7}", key):
                raise ValueError(f"{key!r} is not a dotted values key (e.g. basehub.jupyterhub)")
        return value

    @field_validator("kubernetes_version")
    @classmethod
    def _kube_version(cls, value: str | None) -> str | None:
        if value is not None and not _KUBE_VERSION.fullmatch(value):
            raise ValueError(f"{value!r} is not a Kubernetes version (e.g. 1.31)")
        return value

    @field_validator("hubfleet_version")
    @classmethod
    def _hubfleet_version(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 64 or not _CHART_VERSION.fullmatch(value)):
            raise ValueError(f"{value!r} is not a version (e.g. 1.2.0)")
        return value
