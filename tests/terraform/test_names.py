"""Every name hubfleet computes fits its cloud's length and character limits."""

from __future__ import annotations

import re

import pytest

from hubfleet.terraform import names as n

# The clouds' documented rules, written independently of names.py's patterns.
LIMITS = {
    "gcs_bucket": (3, 63, r"[a-z0-9][a-z0-9_.-]*[a-z0-9]"),
    "gcp_service_account": (6, 30, r"[a-z][a-z0-9-]*[a-z0-9]"),
    "gcp_pool": (4, 32, r"[a-z][a-z0-9-]*[a-z0-9]"),
    "s3_bucket": (3, 63, r"[a-z0-9][a-z0-9.-]*[a-z0-9]"),
    "iam_role": (1, 64, r"[A-Za-z0-9+=,.@_-]+"),
    "azure_storage_account": (3, 24, r"[a-z0-9]+"),
    "azure_container": (3, 63, r"[a-z0-9](?!.*--)[a-z0-9-]*[a-z0-9]"),
    "azure_identity": (3, 128, r"[A-Za-z0-9][A-Za-z0-9_-]*"),
    "azure_federated": (3, 120, r"[A-Za-z0-9][A-Za-z0-9_-]*"),
}
CLUSTERS = ["a", "pilot-gcp", "x" * 63, "a-" * 31 + "b", "9lives"]
HUBS = ["s", "staging", "h" * 53, "prod-1"]
BUCKETS = ["b", "scratch", "c" * 40, "home-dirs"]


# GCS also refuses a bucket name that starts with "goog" or contains "google" or a
# close misspelling of it, such as "g00gle".
GCS_REFUSED = re.compile(r"^goog|g[o0]{1,3}g[l1][e3]")


# S3 reserves these prefixes and suffixes (access point and Object Lambda aliases,
# Multi-Region Access Points, directory and table buckets).
S3_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
S3_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def ok(kind: str, name: str) -> bool:
    low, high, pattern = LIMITS[kind]
    if kind == "gcs_bucket" and GCS_REFUSED.search(name):
        return False
    if kind == "s3_bucket" and (name.startswith(S3_PREFIXES) or name.endswith(S3_SUFFIXES)):
        return False
    return low <= len(name) <= high and re.fullmatch(pattern, name) is not None


@pytest.mark.parametrize("cluster", CLUSTERS)
@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_every_name_within_the_cloud_limits(provider: str, cluster: str) -> None:
    scope = {"gcp": "my-project-123456", "aws": "111122223333", "azure": "0" * 8 + "-" + "0" * 27}
    names = n.cluster_names(provider, cluster, scope[provider], BUCKETS, HUBS)
    bucket_kind = {"gcp": "gcs_bucket", "aws": "s3_bucket", "azure": "azure_container"}[provider]
    identity_kind = {"gcp": "gcp_service_account", "aws": "iam_role", "azure": "azure_identity"}[
        provider
    ]
    for name in names.buckets.values():
        assert ok(bucket_kind, name), name
    for hub in names.hubs.values():
        assert ok(identity_kind, hub.identity), hub.identity
        if provider == "azure":
            assert ok("azure_federated", hub.federated), hub.federated
    # the CI identities: planner, terraform deployer, helm deployer
    ci = {
        "gcp": {
            "pool_id": "gcp_pool",
            "service_account_id": "gcp_service_account",
            "plan_service_account_id": "gcp_service_account",
            "helm_service_account_id": "gcp_service_account",
        },
        "aws": {
            "role_name": "iam_role",
            "plan_role_name": "iam_role",
            "helm_role_name": "iam_role",
        },
        "azure": {
            "identity_name": "azure_identity",
            "plan_identity_name": "azure_identity",
            "helm_identity_name": "azure_identity",
            "federated_name": "azure_federated",
            "plan_federated_name": "azure_federated",
            "helm_federated_name": "azure_federated",
        },
    }[provider]
    assert set(names.deployer) == set(ci)
    for key, kind in ci.items():
        assert ok(kind, names.deployer[key]), (key, names.deployer[key])
    identities = [names.deployer[k] for k, kind in ci.items() if kind != "gcp_pool"]
    assert len(set(identities)) == len(identities), identities
    if provider == "azure":
        assert names.storage_account is not None and ok(
            "azure_storage_account", names.storage_account
        )
    # distinct inputs give distinct names, even when cut to fit
    assert len(set(names.buckets.values())) == len(BUCKETS)
    assert len({h.identity for h in names.hubs.values()}) == len(HUBS)


def test_names_are_deterministic_and_readable() -> None:
    one = n.cluster_names("aws", "research", "111122223333", ["scratch"], ["staging"])
    two = n.cluster_names("aws", "research", "111122223333", ["scratch"], ["staging"])
    assert one == two
    assert one.buckets == {"scratch": "111122223333-research-scratch"}
    assert one.hubs["staging"].identity == "hubfleet-research-staging"


def test_a_cut_name_keeps_a_digest_of_the_whole() -> None:
    long_a = n.fit(n.GCP_SERVICE_ACCOUNT, "hf", "cluster-with-a-long-name", "hub-one")
    long_b = n.fit(n.GCP_SERVICE_ACCOUNT, "hf", "cluster-with-a-long-name", "hub-two")
    assert len(long_a) <= 30 and long_a != long_b
    assert long_a.startswith("hf-cluster-with-a-long")


def test_storage_accounts_differ_by_subscription() -> None:
    a = n.cluster_names("azure", "teaching", "sub-a", [], []).storage_account
    b = n.cluster_names("azure", "teaching", "sub-b", [], []).storage_account
    assert a != b


@pytest.mark.parametrize(
    ("cluster", "bucket"),
    [
        ("google", "scratch"),
        ("goog-lab", "scratch"),
        ("lab", "googly"),
        ("research", "google-data"),
        ("g00gle", "scratch"),
        ("research", "my-gogle-files"),
        ("x" * 50, "google"),
    ],
)
def test_gcs_bucket_names_avoid_google(cluster: str, bucket: str) -> None:
    names = n.cluster_names("gcp", cluster, "my-project-123456", [bucket, "other"], [])
    assert ok("gcs_bucket", names.buckets[bucket]), names.buckets[bucket]
    # the same bucket of a project starting with "goog" is refused too
    first = n.cluster_names("gcp", cluster, "googolplex-1", [bucket], []).buckets[bucket]
    assert ok("gcs_bucket", first), first


def test_gcs_names_that_differ_only_in_google_stay_distinct() -> None:
    names = n.cluster_names("gcp", "c", "p-1", ["google", "g00gle", "g-gle"], [])
    assert len(set(names.buckets.values())) == 3, names.buckets
    assert n.cluster_names("gcp", "c", "p-1", ["scratch"], []).buckets == {
        "scratch": "p-1-c-scratch"
    }


@pytest.mark.parametrize(
    ("account", "cluster", "bucket"),
    [
        ("sthree-lab", "c", "scratch"),  # no account: the cluster name is the scope
        ("sthree", "configurator", "scratch"),
        ("amzn-s3-demo", "c", "data"),
        ("xn", "lab", "data"),  # "xn-lab": not the reserved "xn--"
        ("111122223333", "c", "s3alias"),
        ("111122223333", "c", "ol-s3"),
        ("111122223333", "c", "x-s3"),
        ("111122223333", "c", "table-s3"),
        ("111122223333", "c", "mrap"),
        ("111122223333", "x" * 50, "s3alias"),  # cut to fit, then still not reserved
        ("sthree-" + "x" * 60, "c", "s3alias"),
    ],
)
def test_s3_bucket_names_avoid_the_reserved_prefixes_and_suffixes(
    account: str, cluster: str, bucket: str
) -> None:
    names = n.cluster_names("aws", cluster, account, [bucket, "other"], [])
    assert ok("s3_bucket", names.buckets[bucket]), names.buckets[bucket]
    assert ok("s3_bucket", names.buckets["other"]), names.buckets["other"]


def test_s3_names_that_differ_only_in_a_reserved_part_stay_distinct() -> None:
    a = n.cluster_names("aws", "c", "sthree-lab", ["data"], []).buckets["data"]
    b = n.cluster_names("aws", "c", "sthreelab", ["data"], []).buckets["data"]
    assert a != b and ok("s3_bucket", a) and ok("s3_bucket", b)
    # an ordinary name is left as it was
    assert n.cluster_names("aws", "lab", "111122223333", ["s3"], []).buckets == {
        "s3": "111122223333-lab-s3"
    }
