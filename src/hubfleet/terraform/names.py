"""The names hubfleet computes for a cluster's cloud resources, within each cloud's limits.

A module never derives a name itself: it gets every one as an input, so the
names in hub values and the names Terraform creates cannot disagree. A name that
would be too long keeps a readable prefix and ends with a digest of the whole
name, so distinct inputs stay distinct and the same input gives the same name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace

from hubfleet.config.tfmodels import NameOverrides

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


# Compute Engine names (disks, resource policies, Filestore instances): RFC 1035, 1-63.
GCE_NAME = Rule(63, 1, re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"), re.compile(r"[^a-z0-9-]"))
# EFS creation tokens: 1-64 characters (kept to IAM's set here).
EFS_TOKEN = Rule(
    64, 1, re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}"), re.compile(r"[^A-Za-z0-9+=,.@_-]"), lower=False
)
# AWS Backup vaults: 2-50 of letters, digits, '-' and '_'.
BACKUP_VAULT = Rule(
    50, 2, re.compile(r"[A-Za-z0-9_-]{2,50}"), re.compile(r"[^A-Za-z0-9_-]"), lower=False
)
# Azure Recovery Services vaults: 2-50 letters, digits and '-', starting with a letter.
AZURE_VAULT = Rule(
    50, 2, re.compile(r"[A-Za-z][A-Za-z0-9-]{1,49}"), re.compile(r"[^A-Za-z0-9-]"), lower=False
)
# Azure file shares: as blob containers (3-63, lowercase, single '-').
AZURE_SHARE = AZURE_CONTAINER


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
    home: str | None = None  # the home storage (without terraform.home: None)
    home_account: str | None = None  # Azure: the storage account of the home share
    backup: str | None = None  # the backup vault / snapshot schedule / Recovery Services vault


# The rule of each name a cluster may override (`terraform.names`), per cloud.
OVERRIDE_RULES: dict[str, dict[str, Rule]] = {
    "gcp": {
        "buckets": GCS_BUCKET,
        "hubs": GCP_SERVICE_ACCOUNT,
        "service_account_id": GCP_SERVICE_ACCOUNT,
        "plan_service_account_id": GCP_SERVICE_ACCOUNT,
        "helm_service_account_id": GCP_SERVICE_ACCOUNT,
        "pool_id": GCP_POOL,
        "home": GCE_NAME,
        "backup": GCE_NAME,
    },
    "aws": {
        "buckets": S3_BUCKET,
        "hubs": IAM_ROLE,
        "role_name": IAM_ROLE,
        "plan_role_name": IAM_ROLE,
        "helm_role_name": IAM_ROLE,
        "home": EFS_TOKEN,
        "backup": BACKUP_VAULT,
    },
    "azure": {
        "buckets": AZURE_CONTAINER,
        "hubs": AZURE_IDENTITY,
        "identity_name": AZURE_IDENTITY,
        "plan_identity_name": AZURE_IDENTITY,
        "helm_identity_name": AZURE_IDENTITY,
        "federated_name": AZURE_FEDERATED,
        "plan_federated_name": AZURE_FEDERATED,
        "helm_federated_name": AZURE_FEDERATED,
        "storage_account": AZURE_STORAGE_ACCOUNT,
        "home_account": AZURE_STORAGE_ACCOUNT,
        "home": AZURE_SHARE,
        "backup": AZURE_VAULT,
    },
}


class RefusedName(ValueError):
    """An explicit name (`terraform.names`) the cloud would refuse; `path` is its key
    under `terraform.names`."""

    def __init__(self, path: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def check_name(rule: Rule, name: str) -> str | None:
    """Why the cloud refuses `name` under `rule` (None: it is valid)."""
    if not rule.min_len <= len(name) <= rule.max_len:
        return f"{len(name)} characters, the cloud allows {rule.min_len}-{rule.max_len}"
    if not rule.pattern.fullmatch(name):
        return "not a valid name of this kind (characters, start and end, reserved parts)"
    return None


def cluster_names(
    provider: str,
    cluster: str,
    scope: str,
    buckets: list[str],
    hubs: list[str],
    *,
    home: bool = False,
    overrides: NameOverrides | None = None,
) -> ClusterNames:
    """Every name of one cluster: derived, then the explicit ones of `overrides` laid
    over them, each checked against the same rule (a `RefusedName` when refused).
    `scope` is the project, account or subscription: bucket and storage account names
    are global, so they carry it."""
    derived = _derived(provider, cluster, scope, buckets, hubs)
    if home:
        derived = _with_home(derived, provider, cluster, scope)
    return _override(provider, derived, overrides or NameOverrides())


def _with_home(names: ClusterNames, provider: str, cluster: str, scope: str) -> ClusterNames:
    if provider == "gcp":
        return replace(
            names,
            home=fit(GCE_NAME, "hf", cluster, "home"),
            backup=fit(GCE_NAME, "hf", cluster, "home-backups"),
        )
    if provider == "aws":
        return replace(
            names,
            home=fit(EFS_TOKEN, "hubfleet", cluster, "home"),
            backup=fit(BACKUP_VAULT, "hubfleet", cluster, "home"),
        )
    return replace(
        names,
        home=fit(AZURE_SHARE, "homes"),
        home_account=fit(
            AZURE_STORAGE_ACCOUNT, "hfh", cluster[:9], digest(f"{scope}/{cluster}/home", 8)
        ),
        backup=fit(AZURE_VAULT, "hubfleet", cluster, "home"),
    )


def _override(provider: str, names: ClusterNames, overrides: NameOverrides) -> ClusterNames:
    rules = OVERRIDE_RULES.get(provider, {})

    def checked(path: tuple[str, ...], rule_key: str, name: str) -> str:
        why = check_name(rules[rule_key], name)
        if why is not None:
            raise RefusedName(path, f"terraform.names.{'.'.join(path)}: {name!r} is refused: {why}")
        return name

    buckets = dict(names.buckets)
    for key, name in overrides.buckets.items():
        if key in buckets:
            buckets[key] = checked(("buckets", key), "buckets", name)
    hubs = dict(names.hubs)
    for hub, name in overrides.hubs.items():
        if hub in hubs:
            hubs[hub] = replace(hubs[hub], identity=checked(("hubs", hub), "hubs", name))
    deployer = dict(names.deployer)
    for key, name in overrides.deployer.items():
        if key not in deployer:
            raise RefusedName(
                ("deployer", key),
                f"terraform.names.deployer.{key}: not a CI identity name "
                f"(one of {', '.join(sorted(deployer))})",
            )
        deployer[key] = checked(("deployer", key), key, name)
    found = replace(names, buckets=buckets, hubs=hubs, deployer=deployer)
    for key in ("storage_account", "home_account", "home", "backup"):
        name = getattr(overrides, key)
        if name is not None and getattr(names, key) is not None and key in rules:
            found = _set(found, key, checked((key,), key, name))
    return found


def _set(names: ClusterNames, key: str, name: str) -> ClusterNames:
    if key == "storage_account":
        return replace(names, storage_account=name)
    if key == "home_account":
        return replace(names, home_account=name)
    if key == "home":
        return replace(names, home=name)
    return replace(names, backup=name)


def _derived(
    provider: str, cluster: str, scope: str, buckets: list[str], hubs: list[str]
) -> ClusterNames:
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
