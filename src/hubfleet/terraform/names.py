"""The names hubfleet computes for a cluster's cloud resources, within each cloud's limits.

A module never derives a name itself: it gets every one as an input, so the
names in hub values and the names Terraform creates cannot disagree. A name that
would be too long keeps a readable prefix and ends with a digest of the whole
name, so distinct inputs stay distinct and the same input gives the same name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

DIGEST_LEN = 6
# The Kubernetes service account of a hub's user pods (in the hub's namespace).
USER_SERVICE_ACCOUNT = "user-sa"


@dataclass(frozen=True)
class Rule:
    """One cloud's rule for one kind of name."""

    max_len: int
    min_len: int
    pattern: re.Pattern[str]  # the whole name (fullmatch)
    invalid: re.Pattern[str]  # characters replaced by `separator`
    separator: str = "-"
    lower: bool = True  # the cloud allows lowercase only
    # A part the cloud refuses anywhere in the name (with its vowels made separators).
    forbidden: re.Pattern[str] | None = None
    # A prefix or suffix the cloud reserves (with its separators taken out).
    reserved: re.Pattern[str] | None = None


# Google Cloud Storage buckets: 3-63 of a-z 0-9 - _ (and .), start and end alphanumeric;
# never starting with "goog", never containing "google" or a close misspelling ("g00gle").
GCS_FORBIDDEN = re.compile(r"^g[o0]{2}g|g[o0]{1,3}g(?:[l1][e3]|[e3][l1])")
GCS_BUCKET = Rule(
    63,
    3,
    re.compile(
        r"(?!g[o0]{2}g)(?!.*g[o0]{1,3}g(?:[l1][e3]|[e3][l1]))[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]"
    ),
    re.compile(r"[^a-z0-9_-]"),
    forbidden=GCS_FORBIDDEN,
)
# GCP service account ids: 6-30, lowercase letters, digits, '-', start with a letter.
GCP_SERVICE_ACCOUNT = Rule(
    30, 6, re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]"), re.compile(r"[^a-z0-9-]")
)
# Workload identity pool ids: 4-32, lowercase letters, digits, '-', start with a letter.
GCP_POOL = Rule(32, 4, re.compile(r"[a-z][a-z0-9-]{2,30}[a-z0-9]"), re.compile(r"[^a-z0-9-]"))
# S3 buckets: 3-63 of a-z 0-9 . -, start and end alphanumeric (no dots here: TLS); never
# starting with a prefix nor ending with a suffix S3 reserves (access point aliases,
# Multi-Region Access Points, directory and table buckets). Separators never repeat
# here, so only sthree-, amzn-s3-demo- and -s3alias can arise; all are listed.
S3_RESERVED = re.compile(
    r"^(?:xn--|sthree-|amzn-s3-demo-)|(?:-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$"
)
S3_BUCKET = Rule(
    63,
    3,
    re.compile(
        r"(?!xn--|sthree-|amzn-s3-demo-)(?!.*(?:-s3alias|--ol-s3|--x-s3|--table-s3)$)"
        r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]"
    ),
    re.compile(r"[^a-z0-9-]"),
    reserved=S3_RESERVED,
)
# IAM role names: 1-64 of letters, digits and + = , . @ _ -.
IAM_ROLE = Rule(
    64, 1, re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}"), re.compile(r"[^A-Za-z0-9+=,.@_-]"), lower=False
)
# Azure storage accounts: 3-24 lowercase letters and digits only, globally unique.
AZURE_STORAGE_ACCOUNT = Rule(
    24, 3, re.compile(r"[a-z0-9]{3,24}"), re.compile(r"[^a-z0-9]"), separator=""
)
# Azure blob containers: 3-63, lowercase letters, digits, single '-', start/end alphanumeric.
AZURE_CONTAINER = Rule(
    63, 3, re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}"), re.compile(r"[^a-z0-9-]")
)
# Azure user-assigned identities: 3-128, letters, digits, '-', '_', start alphanumeric.
AZURE_IDENTITY = Rule(
    128,
    3,
    re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,127}"),
    re.compile(r"[^A-Za-z0-9_-]"),
    lower=False,
)
# Federated identity credentials: 3-120, letters, digits, '-', '_', start alphanumeric.
AZURE_FEDERATED = Rule(
    120,
    3,
    re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,119}"),
    re.compile(r"[^A-Za-z0-9_-]"),
    lower=False,
)


def digest(text: str, length: int = DIGEST_LEN) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def fit(rule: Rule, *parts: str) -> str:
    """`parts` joined by the rule's separator, made valid and at most `max_len` long."""
    sep = rule.separator
    joined = sep.join(p for p in parts if p)
    name = rule.invalid.sub(sep, joined.lower() if rule.lower else joined)
    if sep:
        name = re.sub(f"{re.escape(sep)}+", sep, name).strip(sep)
    if rule.forbidden is not None and rule.forbidden.search(name):
        # Break every refused part ("google" -> "g-gle"); the digest keeps names distinct
        # that differ only there ("google" and "g00gle").
        name = rule.forbidden.sub(lambda m: re.sub("[o0]+", sep, m.group(0)), name)
        name = re.sub(f"{re.escape(sep)}+", sep, name).strip(sep) + sep + digest(joined)
    if rule.reserved is not None and rule.reserved.search(name):
        # "sthree-lab" -> "sthreelab-<digest>", "x-s3alias" -> "xs3alias-<digest>": the
        # digest keeps it distinct from a name that was "sthreelab" to begin with.
        name = rule.reserved.sub(lambda m: re.sub(r"[^A-Za-z0-9]", "", m.group(0)), name)
        name = name.strip(sep) + sep + digest(joined)
    if len(name) > rule.max_len:
        keep = rule.max_len - DIGEST_LEN - len(sep)
        name = name[:keep].rstrip(sep + "_") + sep + digest(joined)
    while len(name) < rule.min_len:
        name += digest(joined)[: rule.min_len - len(name)]
    if not rule.pattern.fullmatch(name):
        raise ValueError(f"cannot make a valid name from {joined!r} ({name!r})")
    return name


@dataclass(frozen=True)
class HubNames:
    identity: str  # GCP service account id, IAM role name or Azure identity name
    federated: str  # Azure federated credential name ("" elsewhere)
    namespace: str
    service_account: str


@dataclass(frozen=True)
class ClusterNames:
    buckets: dict[str, str]  # short name -> cloud name
    hubs: dict[str, HubNames]
    deployer: dict[str, str]
    storage_account: str | None = None  # Azure only


def cluster_names(
    provider: str, cluster: str, scope: str, buckets: list[str], hubs: list[str]
) -> ClusterNames:
    """Every name of one cluster. `scope` is the project, account or subscription:
    bucket and storage account names are global, so they carry it."""
    if provider == "gcp":
        return ClusterNames(
            buckets={b: fit(GCS_BUCKET, scope, cluster, b) for b in buckets},
            hubs={h: _hub(fit(GCP_SERVICE_ACCOUNT, "hf", cluster, h), "", h) for h in hubs},
            deployer={
                "service_account_id": fit(GCP_SERVICE_ACCOUNT, "hf", cluster, "deployer"),
                "plan_service_account_id": fit(GCP_SERVICE_ACCOUNT, "hf", cluster, "planner"),
                "helm_service_account_id": fit(GCP_SERVICE_ACCOUNT, "hf", cluster, "helm"),
                "pool_id": fit(GCP_POOL, "hubfleet", cluster),
            },
        )
    if provider == "aws":
        return ClusterNames(
            buckets={b: fit(S3_BUCKET, scope, cluster, b) for b in buckets},
            hubs={h: _hub(fit(IAM_ROLE, "hubfleet", cluster, h), "", h) for h in hubs},
            deployer={
                "role_name": fit(IAM_ROLE, "hubfleet", cluster, "deployer"),
                "plan_role_name": fit(IAM_ROLE, "hubfleet", cluster, "planner"),
                "helm_role_name": fit(IAM_ROLE, "hubfleet", cluster, "helm"),
            },
        )
    if provider == "azure":
        return ClusterNames(
            buckets={b: fit(AZURE_CONTAINER, b) for b in buckets},
            hubs={
                h: _hub(
                    fit(AZURE_IDENTITY, "hubfleet", cluster, h),
                    fit(AZURE_FEDERATED, "hubfleet", cluster, h, USER_SERVICE_ACCOUNT),
                    h,
                )
                for h in hubs
            },
            deployer={
                "identity_name": fit(AZURE_IDENTITY, "hubfleet", cluster, "deployer"),
                "federated_name": fit(AZURE_FEDERATED, "hubfleet", cluster, "deployer", "github"),
                "plan_identity_name": fit(AZURE_IDENTITY, "hubfleet", cluster, "planner"),
                "plan_federated_name": fit(
                    AZURE_FEDERATED, "hubfleet", cluster, "planner", "github"
                ),
                "helm_identity_name": fit(AZURE_IDENTITY, "hubfleet", cluster, "helm"),
                "helm_federated_name": fit(AZURE_FEDERATED, "hubfleet", cluster, "helm", "github"),
            },
            storage_account=fit(
                AZURE_STORAGE_ACCOUNT, "hf", cluster[:10], digest(f"{scope}/{cluster}", 8)
            ),
        )
    raise ValueError(f"no Terraform names for provider {provider!r}")


def _hub(identity: str, federated: str, hub: str) -> HubNames:
    return HubNames(identity, federated, hub, USER_SERVICE_ACCOUNT)
