"""The schema of communities: who owns a hub's community files, and what they may set.

A hub's `community:` block (cluster.yaml) names its owners and files, and may add to
the fleet's policy; `community:` in hubfleet.yaml holds the platform team and the
fleet-wide policy. The checks and decisions built on these live in `hubfleet.community`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# A GitHub user (`@login`) or team (`@org/team`), as CODEOWNERS writes them.
_OWNER = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9][A-Za-z0-9_.-]{0,99})?")
# A key path pattern: dot-separated segments; `*` one segment, `**` any number; a leading
# `/` matches from the top of the values file instead of at the chart's z2jh nesting.
_KEY_PATTERN = re.compile(r"/?[^./\s][^.\s]*(\.[^.\s]+)*")

DEFAULT_ALLOW: tuple[str, ...] = (
    "singleuser.image",
    "singleuser.profileList",
    "singleuser.defaultUrl",
    "hub.config.Authenticator.admin_users",
    "hub.config.*.allowed_users",
    "custom.homepage.**",
)
"""What a community file may set when hubfleet.yaml names no `community.policy.allow`."""

DEFAULT_DENY: tuple[str, ...] = (
    # secrets (matched without regard to case, as every deny entry is)
    "**.*secret*",
    "**.*token*",
    "**.*password*",
    "**.*passwd*",
    "**.*credential*",
    "**.*_key",
    "**.*keyfile*",
    # who can reach what
    "**.networkPolicy",
    "**.serviceAccountName",
    "**.serviceAccount",
    "**.service_account",
    "**.rbac",
    "scheduling",
    "proxy",
    "ingress",
    # code run by the hub or beside the user's server
    "hub.extraConfig",
    "**.extraConfig",
    "**.extraFiles",
    "**.initContainers",
    "**.init_containers",
    "**.lifecycleHooks",
    "**.lifecycle_hooks",
    "**.extraContainers",
    "**.extra_containers",
    "**.privileged",
    "**.extraPodConfig",
    "**.extra_pod_config",
    "**.extraVolumes",
    "**.extraVolumeMounts",
    "**.storage",
)
"""What no community file may set unless hubfleet.yaml's `community.policy.deny` says otherwise,
even inside an allowed key: nothing secret, nothing that changes who can reach what, no code
beside the user's server. Where a user pod may run (node selectors, tolerations, affinity) and
its resources are not here: the built-in pod checks hold them to `community.policy.pod`."""


def _owner(value: str) -> str:
    if not _OWNER.fullmatch(value):
        raise ValueError(f"{value!r} is not a GitHub owner: write @user or @org/team")
    return value


def _key_pattern(value: str) -> str:
    if len(value) > 256 or not _KEY_PATTERN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a key path: dot-separated keys, '*' for one key, '**' for any, "
            "a leading '/' from the top of the file"
        )
    return value


Owner = Annotated[str, AfterValidator(_owner)]
KeyPattern = Annotated[str, AfterValidator(_key_pattern)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ValueConstraint(_Strict):
    """What values a key matching the constraint's pattern may take."""

    registries: list[str] | None = Field(
        None, description="an image (or its `name`) must come from one of these registry prefixes"
    )
    minimum: float | int | str | None = Field(
        None, description="smallest value: a number or a Kubernetes quantity (e.g. 1G)"
    )
    maximum: float | int | str | None = Field(
        None, description="largest value: a number or a Kubernetes quantity (e.g. 16G)"
    )
    one_of: list[Any] | None = Field(None, description="the value must be one of these")
    pattern: str | None = Field(None, description="a string value must fully match this regex")


class AllowedToleration(_Strict):
    """A toleration a community may give its pods: each field given must be equal."""

    key: str | None = None
    operator: str | None = Field(None, description="Equal (the default) or Exists")
    value: str | None = None
    effect: str | None = Field(None, description="NoSchedule, PreferNoSchedule or NoExecute")


class PodBounds(_Strict):
    """What the built-in pod checks allow a community's user pods: what is not stated
    here is refused (docs/community.md)."""

    registries: list[str] = Field(
        default_factory=list,
        description="image prefixes (e.g. quay.io/jupyter) user pods' images may come from, "
        "besides those the policy's constraints list; registry hosts ignore case",
    )
    node_selectors: dict[str, list[str]] = Field(
        default_factory=dict,
        description="node label -> the values a community may select (node_selector, "
        "nodeSelector, node affinity `In` expressions); '*' any value",
    )
    tolerations: list[AllowedToleration] = Field(
        default_factory=list, description="tolerations a community may give its pods"
    )
    max_memory: int | float | str | None = Field(
        None,
        description="largest memory limit or guarantee (a quantity, e.g. 16G); unstated: "
        "a memory setting needs a constraint with a maximum on its key",
    )
    max_cpu: int | float | str | None = Field(
        None, description="largest CPU limit or guarantee (e.g. 4, 500m); unstated: as memory"
    )


class PolicyBlock(_Strict):
    """Keys a community file may set, keys it never may, and constraints on values."""

    allow: list[KeyPattern] | None = Field(
        None, description="key paths a community file may set (and everything under them)"
    )
    deny: list[KeyPattern] | None = Field(
        None,
        description="key paths refused even when allowed (hubfleet.yaml only; default: "
        "secrets, scheduling, network and service accounts, extraConfig code)",
    )
    constraints: dict[KeyPattern, ValueConstraint] = Field(
        default_factory=dict, description="key path pattern -> constraint on its values"
    )
    pod: PodBounds = Field(
        default_factory=PodBounds,
        description="bounds of the built-in checks of what a user pod can become",
    )


class HubPolicyBlock(_Strict):
    """A hub's additions to the fleet's policy (it cannot remove a deny entry)."""

    allow: list[KeyPattern] = Field(default_factory=list, description="more allowed key paths")
    constraints: dict[KeyPattern, ValueConstraint] = Field(
        default_factory=dict, description="more constraints on values"
    )


class CommunityBlock(_Strict):
    """A hub's community: its owners and the values files they may change themselves."""

    owners: list[Owner] = Field(min_length=1, description="GitHub users @user or teams @org/team")
    files: list[str] | None = Field(
        None,
        description="values files the community owns, relative to cluster.yaml and listed in "
        "helm_chart_values_files (default: <hub>.community.values.yaml)",
    )
    policy: HubPolicyBlock | None = Field(None, description="this hub's additions to the policy")


class CommunitySettings(_Strict):
    """`community:` in hubfleet.yaml: the platform team and the fleet-wide policy."""

    platform_owners: list[Owner] = Field(
        default_factory=list, description="owners of every file that is not a community file"
    )
    policy: PolicyBlock = Field(default_factory=PolicyBlock)
