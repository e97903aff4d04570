"""The schema of `cluster.yaml` and `hubfleet.yaml`, as strict pydantic models.

These models are the single source of truth: loading validates against them and
`hubfleet schema` exports their JSON Schema. Field names are the ones public
fleets already use (DESIGN.md section 2), informational keys included; any other
key is an error.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Provider = Literal["gcp", "aws", "azure", "kubeconfig", "local"]
PROVIDERS: tuple[str, ...] = ("gcp", "aws", "azure", "kubeconfig", "local")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class GcpBlock(_Strict):
    """Google Kubernetes Engine."""

    project: str = Field(description="GCP project id holding the cluster")
    cluster: str = Field(description="GKE cluster name")
    zone: str | None = Field(None, description="zone (zonal cluster) or region (regional)")
    region: str | None = Field(None, description="region of a regional cluster")
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


class AwsBlock(_Strict):
    """Amazon EKS."""

    account: str | int | None = Field(None, description="AWS account id")
    clusterName: str = Field(description="EKS cluster name")
    region: str = Field(description="AWS region")
    key: str | None = Field(
        None, description="sops-encrypted access key JSON, relative to cluster.yaml"
    )
    role_arn: str | None = Field(None, description="role assumed for the deploy")
    clusterType: Literal["eks", "kops"] | None = Field(None, description="eks (default) or kops")
    billing: dict[str, Any] | None = Field(None, description="free information")


class AzureBlock(_Strict):
    """Azure Kubernetes Service."""

    resource_group: str = Field(description="resource group holding the cluster")
    cluster: str = Field(description="AKS cluster name")
    subscription: str | None = Field(None, description="subscription id")
    key: str | None = Field(
        None,
        description="sops-encrypted service principal JSON, relative to cluster.yaml; "
        "absent: ambient (federated) login",
    )


class KubeconfigBlock(_Strict):
    """Any cluster reachable with a kubeconfig."""

    file: str = Field(description="sops-encrypted kubeconfig, relative to cluster.yaml")


class LocalBlock(_Strict):
    """The local provider: each hub as a JupyterHub process on 127.0.0.1."""

    state_dir: str | None = Field(
        None, description="state folder, relative to the repository (default .hubfleet/local)"
    )
    base_port: int = Field(18000, ge=1024, le=65000, description="first port of this cluster")


class SupportBlock(_Strict):
    """The cluster-wide support release (namespace `support`)."""

    helm_chart: str = Field("support", description="chart of the support release")
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
    secret: str = Field(
        "hub", description="Kubernetes Secret in the hub's namespace holding the check's API token"
    )
    key: str = Field(
        "hub.services.hubfleet-health-check.apiToken",
        description="key of that Secret holding the token (z2jh: hub.services.<name>.apiToken)",
    )
    service: str = Field("proxy-public", description="Kubernetes Service to port-forward to")
    port: int = Field(80, ge=1, le=65535, description="port of that Service")
    user: str | None = Field(
        None, description="the check user; default hubfleet-health-check (Kubernetes hubs)"
    )


class HubEntry(_Strict):
    """One hub: a helm release (and namespace) named after it."""

    name: str = Field(description="hub name: also its helm release and namespace")
    domain: str = Field(description="the hub's domain name")
    helm_chart: str | None = Field(
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
        None, description="a chart folder or .tgz (relative to cluster.yaml) used instead"
    )
    domain_override_file: str | None = Field(
        None, description="a YAML file with a 'domain' key replacing domain (may be encrypted)"
    )
    uptime_check: dict[str, Any] | None = Field(None, description="free settings of uptime checks")
    health_check: HealthCheckBlock = Field(
        default_factory=HealthCheckBlock,
        description="the hub's health check: where its token and Service are (Kubernetes)",
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
    hubs: list[HubEntry] = Field(default_factory=list)


class RemoteChart(_Strict):
    """A chart from a helm repository (https) or an OCI registry (oci://)."""

    repository: str = Field(description="helm repository URL or oci:// reference")
    version: str = Field(description="pinned chart version")


class DeploySettings(_Strict):
    helm_timeout: str = Field("10m", description="helm --timeout for each release")
    concurrency: int | None = Field(None, ge=1, description="helm processes at once")
    cluster_concurrency: int | None = Field(None, ge=1, description="clusters at once")
    health_check: bool = Field(True, description="health-check staging hubs before production")


class JsonnetSettings(_Strict):
    """How `.jsonnet` values files are evaluated."""

    ext_var_prefix: str = Field(
        "VARS_2I2C_",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="prefix of the external variables (CLUSTER_NAME, HUB_NAME, HUB_DOMAIN, "
        "PROVIDER, ACCOUNT_ID) a .jsonnet values file reads with std.extVar",
    )


class FleetFile(_Strict):
    """`hubfleet.yaml`: optional fleet-wide settings."""

    charts: dict[str, RemoteChart] = Field(
        default_factory=dict, description="remote charts hubs may name in helm_chart"
    )
    default_chart: str | None = Field(None, description="helm_chart of hubs that name none")
    redeploy_all_when_changed: list[str] = Field(
        default_factory=list,
        description="globs (repository-relative): a change to a matching file redeploys all",
    )
    kubernetes_version: str | None = Field(
        None, description="Kubernetes version manifests are checked against (e.g. 1.31)"
    )
    hubfleet_version: str | None = Field(None, description="the hubfleet version CI installs")
    deploy: DeploySettings = Field(default_factory=DeploySettings)
    jsonnet: JsonnetSettings = Field(default_factory=JsonnetSettings)
