"""Each hub_access hub's user service account: generated into the support release's
values, rendered by the support chart (the real Helm engine), named as the module
binds it, and required of the cluster by validate."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.config.fleet import Cluster, Fleet
from hubfleet.config.load import load_fleet
from hubfleet.helm.engine import render as render_chart
from hubfleet.helm.values import merge_values
from hubfleet.terraform.inputs import compute
from hubfleet.terraform.scaffold import SUPPORT_TEMPLATE, support_template
from hubfleet.terraform.values import render, stale, support_values_file, values_file
from hubfleet.validate.run import validate
from tests.terraform.conftest import copy_example, line_of

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet"
SUPPORT_CHART = EXAMPLE / "helm-charts" / "support"
MODULES = Path(__file__).parents[2] / "src" / "hubfleet" / "terraform" / "modules"
CLUSTERS = {"gcp": "pilot-gcp", "aws": "research-aws", "azure": "teaching-azure"}
ANNOTATION = {
    "gcp": ("iam.gke.io/gcp-service-account", "hf-pilot-gcp-research@p.iam.gserviceaccount.com"),
    "aws": ("eks.amazonaws.com/role-arn", "arn:aws:iam::111122223333:role/hubfleet-x"),
    "azure": ("azure.workload.identity/client-id", "6f0d5b4e-0000-4000-8000-000000000001"),
}


def _fleet() -> Fleet:
    return load_fleet(EXAMPLE).fleet_or_raise()


def _cluster(provider: str) -> Cluster:
    return _fleet().cluster(CLUSTERS[provider])


def _outputs(provider: str, hubs: list[str]) -> dict[str, Any]:
    """`terraform output -json` as each module's outputs.tf shapes hub_values."""
    key, value = ANNOTATION[provider]
    labels = {"azure.workload.identity/use": "true"} if provider == "azure" else {}
    return {
        "hub_values": {
            "sensitive": False,
            "value": {
                hub: {"service_account_annotations": {key: value}, "pod_labels": labels}
                for hub in hubs
            },
        }
    }


def _render_support(text: str) -> list[dict[str, Any]]:
    """The example support chart rendered with its plain values and `text` (support's
    generated file), as the support release would be."""
    values = merge_values(
        [
            yaml.safe_load((SUPPORT_CHART / "values.yaml").read_text()),
            {"clusterName": "c", "grafana": {"adminPassword": "x"}},
            yaml.safe_load(text),
        ]
    )
    manifests = render_chart(SUPPORT_CHART, values, release="support", namespace="support")
    return [
        doc
        for text in manifests.values()
        for doc in yaml.safe_load_all(text)
        if isinstance(doc, dict)
    ]


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_the_support_chart_creates_each_hubs_service_account(provider: str) -> None:
    cluster = _cluster(provider)
    inputs = compute(cluster)
    hubs = sorted(inputs.names.hubs)
    files = render(_fleet(), cluster, inputs, _outputs(provider, hubs))
    docs = _render_support(files[support_values_file(cluster)])
    key, value = ANNOTATION[provider]
    for hub_name in hubs:
        hub = cluster.hub(hub_name)
        [account] = [
            d
            for d in docs
            if d["kind"] == "ServiceAccount" and d["metadata"]["namespace"] == hub.namespace
        ]
        hub_values = yaml.safe_load(files[values_file(cluster, hub_name)])
        # the account the hub's pods use, in the hub's release namespace
        assert account["metadata"]["name"] == hub_values["singleuser"]["serviceAccountName"]
        assert account["metadata"]["annotations"] == {key: value}
        assert account["metadata"]["labels"]["app.kubernetes.io/instance"] == hub_name
        [namespace] = [
            d for d in docs if d["kind"] == "Namespace" and d["metadata"]["name"] == hub.namespace
        ]
        assert namespace["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        # the hub's own file holds no service account (nothing reads custom.hubfleet)
        assert "custom" not in hub_values
        labels = hub_values["singleuser"].get("extraLabels", {})
        cost = {"hubfleet/hub": hub_name}  # every hub's pods: cost per hub
        if provider == "azure":
            assert labels == {"azure.workload.identity/use": "true", **cost}
        else:
            assert labels == cost


def test_no_hub_access_renders_no_account() -> None:
    for text in ("hubServiceAccounts: []\n", "{}\n"):
        kinds = {d["kind"] for d in _render_support(text)}
        assert kinds == {"ConfigMap", "Secret"}, kinds


def test_the_example_chart_carries_the_shipped_template() -> None:
    path = SUPPORT_CHART / "templates" / SUPPORT_TEMPLATE
    assert path.read_text() == support_template(), (
        "run examples/make_example_fleet.py --terraform-only"
    )


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_the_example_support_release_renders_the_committed_accounts(provider: str) -> None:
    cluster = _cluster(provider)
    assert cluster.support is not None
    assert support_values_file(cluster) in cluster.support.values_files
    text = (EXAMPLE / support_values_file(cluster)).read_text()
    accounts = [d for d in _render_support(text) if d["kind"] == "ServiceAccount"]
    key = ANNOTATION[provider][0]
    assert [a["metadata"]["namespace"] for a in accounts] == sorted(compute(cluster).names.hubs)
    assert all(key in a["metadata"]["annotations"] for a in accounts)


# What each module binds the hub's identity to: the Kubernetes service account
# `<namespace>/<name>` from the hub_identities input.
BINDINGS = {
    "gcp": r"\.svc\.id\.goog\[\$\{each\.value\.namespace\}/\$\{each\.value\.service_account\}\]",
    "aws": r"system:serviceaccount:\$\{each\.value\.namespace\}:\$\{each\.value\.service_account\}",
    "azure": r"system:serviceaccount:\$\{each\.value\.namespace\}:"
    r"\$\{each\.value\.service_account\}",
}


@pytest.mark.parametrize("provider", ["gcp", "aws", "azure"])
def test_the_module_binds_the_account_the_support_release_creates(provider: str) -> None:
    blocks = re.split(r"\n(?=resource |data )", (MODULES / provider / "storage.tf").read_text())
    [binding] = [block for block in blocks if re.search(BINDINGS[provider], block)]
    assert re.search(r"for_each\s*=\s*var\.hub_identities", binding), binding
    cluster = _cluster(provider)
    inputs = compute(cluster)
    support = yaml.safe_load(
        render(_fleet(), cluster, inputs, _outputs(provider, sorted(inputs.names.hubs)))[
            support_values_file(cluster)
        ]
    )
    bound = {
        hub: (identity["namespace"], identity["service_account"])
        for hub, identity in inputs.variables["hub_identities"].items()
    }
    created = {
        a["labels"]["app.kubernetes.io/instance"]: (a["namespace"], a["name"])
        for a in support["hubServiceAccounts"]
    }
    assert bound == created and bound
    assert all(ns == cluster.hub(hub).namespace for hub, (ns, _) in bound.items())


def _problems(root: Path) -> list[str]:
    return [p.render() for p in validate(root, render=False).problems]


def _copy(tmp_path: Path) -> Path:
    return copy_example(tmp_path)


def _hub_access_line(cluster_yaml: Path) -> int:
    return line_of(cluster_yaml, "hub_access:")


def test_validate_requires_the_support_release_to_list_the_accounts(
    tmp_path: Path, real_chart_cache: Path
) -> None:
    """z2jh creates no user service account: its render (the real chart) has none."""
    root = _copy(tmp_path)
    cluster_yaml = root / "config" / "clusters" / "research-aws" / "cluster.yaml"
    cluster_yaml.write_text(
        cluster_yaml.read_text().replace("  - support.terraform.values.yaml\n", "")
    )
    line = _hub_access_line(cluster_yaml)
    [problem] = _problems(root)
    assert problem.startswith(f"config/clusters/research-aws/cluster.yaml:{line}: ")
    assert "does not list support.terraform.values.yaml" in problem
    assert "hubfleet terraform values research-aws" in problem


def test_validate_requires_a_support_release(tmp_path: Path, real_chart_cache: Path) -> None:
    root = _copy(tmp_path)
    cluster_yaml = root / "config" / "clusters" / "teaching-azure" / "cluster.yaml"
    data = cluster_yaml.read_text()
    support = re.search(r"^support:\n(?:  .*\n)+", data, re.M)
    assert support is not None
    cluster_yaml.write_text(data.replace(support.group(0), ""))
    line = _hub_access_line(cluster_yaml)
    [problem] = _problems(root)
    assert problem.startswith(f"config/clusters/teaching-azure/cluster.yaml:{line}: ")
    assert "has no support release" in problem


def test_a_stale_support_file_is_reported_at_its_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    fleet = load_fleet(root).fleet_or_raise()
    cluster = fleet.cluster("pilot-gcp")
    assert stale(fleet, cluster, compute(cluster)) == []
    cluster_yaml = root / cluster.file
    # a second hub gets an identity: the support file lacks its account
    cluster_yaml.write_text(
        cluster_yaml.read_text().replace(
            "  hub_access:\n", "  hub_access:\n    teaching:\n      scratch: SCRATCH_BUCKET\n"
        )
    )
    fleet = load_fleet(root).fleet_or_raise()
    cluster = fleet.cluster("pilot-gcp")
    [problem] = stale(fleet, cluster, compute(cluster))
    assert problem.path == "config/clusters/pilot-gcp/support.terraform.values.yaml"
    lines = (root / problem.path).read_text().splitlines()
    assert lines[problem.line - 1] == "hubServiceAccounts:"
    assert "hubServiceAccounts is stale" in problem.message


def test_scaffold_writes_the_template_into_the_support_chart_once(
    fleet_copy: Path,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    template = f"helm-charts/support/templates/{SUPPORT_TEMPLATE}"
    result = run_cli("--repo", fleet_copy, "terraform", "scaffold", "gcp", "-o", "json")
    assert result.exit_code == 0, result.output
    assert template in json.loads(result.stdout)["written"]
    assert (fleet_copy / template).read_text() == support_template()
    (fleet_copy / template).write_text("# the fleet's own\n")
    other = run_cli("--repo", fleet_copy, "terraform", "scaffold", "aws", "-o", "json")
    assert template not in json.loads(other.stdout)["written"]
    assert (fleet_copy / template).read_text() == "# the fleet's own\n"
