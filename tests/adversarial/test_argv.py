"""Configuration never becomes an option of helm, kubectl, gcloud, aws or az.

Hostile values in the fleet's files (`--kubeconfig=/root/.kube/config` as a Secret's
name, `-n` as a project, a newline or a space in a region or resource group) are
refused with exit 2, at their cluster file, before any program runs (the fakes
record every start). And the argv of a legitimate deploy puts helm's and
kubectl's positional values after `--` and every value flag as one
`--flag=value` word.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.base import argv
from tests.deploy.conftest import DeployEnv, denv

__all__ = ["denv"]

HOSTILE = ["--kubeconfig=/root/.kube/config", "-n", "a b", "ok\n--all", "x\x00y", ""]

KINDS: dict[str, Callable[[str, str], str]] = {
    "dns_label": argv.dns_label,
    "release_name": argv.release_name,
    "k8s_name": argv.k8s_name,
    "region": argv.region,
    "zone": argv.zone,
    "cloud_name": argv.cloud_name,
    "gcp_project": argv.gcp_project,
    "resource_group": argv.resource_group,
    "azure_id": argv.azure_id,
    "tenant": argv.tenant,
    "role_arn": argv.role_arn,
    "session_name": argv.session_name,
    "chart_name": argv.chart_name,
    "chart_repository": argv.chart_repository,
    "chart_version": argv.chart_version,
    "path": argv.path,
}
GOOD = {
    "dns_label": "staging-a",
    "release_name": "staging",
    "k8s_name": "proxy-public",
    "region": "eu-west-1",
    "zone": "us-central1-b",
    "cloud_name": "beta_eks-1",
    "gcp_project": "alpha-project",
    "resource_group": "gamma-rg.(x)",
    "azure_id": "11111111-1111-1111-1111-111111111111",
    "tenant": "contoso.onmicrosoft.com",
    "role_arn": "arn:aws:iam::123456789012:role/deployer",
    "session_name": "hubfleet-beta",
    "chart_name": "jupyterhub",
    "chart_repository": "https://hub.jupyter.org/helm-chart/",
    "chart_version": "4.2.0",
    "path": "/tmp/hubfleet-creds-x/kubeconfig",
}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_every_kind_refuses_options_and_control_characters(kind: str, value: str) -> None:
    with pytest.raises(argv.ArgvError) as info:
        KINDS[kind](value, "the value")
    assert info.value.exit_code == 2 and "the value" in info.value.message


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_takes_its_own_values(kind: str) -> None:
    assert KINDS[kind](GOOD[kind], "the value") == GOOD[kind]


def test_kind_rules() -> None:
    assert argv.port(8080, "p") == "8080" and argv.port("http", "p") == "http"
    for bad in (0, 65536, "-1", "a b", "--address=0.0.0.0", True):
        with pytest.raises(argv.ArgvError):
            argv.port(bad, "p")  # type: ignore[arg-type]
    with pytest.raises(argv.ArgvError, match="longer than 53"):
        argv.release_name("a" * 54)
    with pytest.raises(argv.ArgvError, match="longer than 63"):
        argv.dns_label("a" * 64, "n")
    for bad in ("Staging", "staging\n", "staging.", "kube_system"):
        with pytest.raises(argv.ArgvError):
            argv.dns_label(bad, "n")
    assert argv.subscription("My Subscription", "s") == "My Subscription"  # names have spaces
    assert argv.flag("--namespace", "-n") == "--namespace=-n"  # one word: never an option
    with pytest.raises(ValueError):
        argv.flag("-n", "x")


def _edit(fleet: Path, cluster: str, change: Callable[[dict[str, Any]], None]) -> Path:
    path = fleet / "config" / "clusters" / cluster / "cluster.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _hub(doc: dict[str, Any], name: str) -> dict[str, Any]:
    [entry] = [h for h in doc["hubs"] if h["name"] == name]
    return entry


def _set(block: str, key: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc[block][key] = value

    return change


def _secret(value: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        _hub(doc, "staging")["health_check"] = {"secret": value}

    return change


def _service(value: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        _hub(doc, "staging")["health_check"] = {"service": value}

    return change


# (cluster, change, what the message names)
CASES = {
    "health_check.secret is a kubectl option": (
        "beta", _secret("--kubeconfig=/root/.kube/config"), "health_check.secret"),
    "health_check.service is -n": ("alpha", _service("-n"), "health_check.service"),
    "gcp.project is -n": ("alpha", _set("gcp", "project", "-n"), "gcp.project"),
    "gcp.zone with a newline": (
        "alpha", _set("gcp", "zone", "us-central1-b\n--impersonate-service-account=x"), "gcp.zone"),
    "aws.region with a space": ("beta", _set("aws", "region", "eu-west-1 --profile=x"), "aws.region"),
    "aws.clusterName is an option": ("beta", _set("aws", "clusterName", "--debug"), "aws.clusterName"),
    "azure.resource_group with a space": (
        "gamma", _set("azure", "resource_group", "rg --subscription=x"), "azure.resource_group"),
    "azure.cluster with a newline": ("gamma", _set("azure", "cluster", "aks\n"), "azure.cluster"),
}  # fmt: skip


def _programs_started(denv: DeployEnv) -> list[str]:
    return [tool for tool in denv.fakes.tools for _ in denv.fakes.started(tool)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_value_refused_before_any_program_runs(
    run_cli: Any, denv: DeployEnv, case: str
) -> None:
    cluster, change, what = CASES[case]
    _edit(denv.fleet, cluster, change)
    report = denv.out / "report.json"
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--plan", denv.plan([cluster]), "--report", report,
        "--progress", "plain",
    )  # fmt: skip
    # The cluster is broken (docs/isolation.md): not deployed, its errors said at their
    # lines, the other clusters (none in this plan) deployed: exit 3.
    assert result.exit_code == 3, result.output
    assert f"config/clusters/{cluster}/cluster.yaml:" in result.stderr
    assert what.split(".")[-1] in result.stderr, result.stderr
    if "refused" in result.stderr:
        assert what in result.stderr
    assert f"{cluster}: not deployed, its configuration is broken" in result.stdout
    assert _programs_started(denv) == []
    assert "Traceback" not in result.output
    assert list(denv.tmp.iterdir()) == []


def test_hostile_health_check_secret_in_hubfleet_check(run_cli: Any, denv: DeployEnv) -> None:
    _edit(denv.fleet, "beta", _secret("--kubeconfig=/root/.kube/config"))
    result = run_cli("--repo", denv.fleet, "check", "beta", "staging")
    assert result.exit_code == 2, result.output
    assert "config/clusters/beta/cluster.yaml:" in result.stderr
    # Refused by the schema (config) or, if it slipped through, by the argv guard.
    assert "starts with '-'" in result.stderr or "is not a Kubernetes object name" in result.stderr
    assert _programs_started(denv) == []  # not even aws, for the credentials


def test_guard_holds_where_the_preflight_is_skipped(denv: DeployEnv) -> None:
    """A value that slipped past every earlier check still cannot become an option:
    the argv builders themselves refuse it."""
    from hubfleet.health.kubernetes import forward_argv, token_argv
    from hubfleet.helm import cli as helm
    from hubfleet.providers import aws, azure, gcp

    builders: list[Callable[[], object]] = [
        lambda: token_argv("staging", "--kubeconfig=/root/.kube/config", "beta/staging"),
        lambda: forward_argv("-n", "proxy-public", 80, "beta/staging"),
        lambda: gcp.get_credentials_argv("-n", "c", "us-central1-b", None),
        lambda: aws.update_kubeconfig_argv("c", "eu-west-1\n", "/k"),
        lambda: aws.assume_role_argv("--debug", "s"),
        lambda: azure.get_credentials_argv("c", "rg x", None, "/k"),
        lambda: azure.login_argv("--x", "t.example.org", certificate=None),
        lambda: helm.upgrade_argv(
            release="--set=x", namespace="ns", chart=helm.ChartRef("/c"), values_paths=[],
            flags=helm.flags_for(helm.HelmVersion(3, 16, 0)), helm_timeout="5m", dry_run=True,
        ),
        lambda: helm.chart_ref(local_dir=None, name="jupyterhub", repository="-r", version="1"),
        lambda: helm.chart_ref(local_dir=None, name="j", repository="https://x/", version="1 -x"),
    ]  # fmt: skip
    for build in builders:
        with pytest.raises(argv.ArgvError):
            build()
    assert _programs_started(denv) == []


def test_legit_deploy_argv_puts_values_after_double_dash(run_cli: Any, denv: DeployEnv) -> None:
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--plan", denv.plan(["alpha", "beta", "delta", "gamma"]),
        "--progress", "plain",
    )  # fmt: skip
    # The canaries' checks fail (the fake kubectl has no Secret): only the argv matter here.
    assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output
    upgrades = denv.upgrades()
    assert len(upgrades) >= 9  # support and canaries of 4 clusters, gamma's prod
    for call in upgrades:
        words = call["argv"]
        # flags, then `--`, then exactly RELEASE CHART
        assert words[-3] == "--" and words.count("--") == 1, words
        release, chart = words[-2:]
        assert re.fullmatch(r"[a-z0-9-]+", release)
        assert chart.startswith("/") or re.fullmatch(r"[a-z0-9-]+", chart) or "oci://" in chart
        flags = words[1:-3]
        assert all(w.startswith("--") for w in flags), words  # no bare value among flags
    kubectl = denv.fakes.started("kubectl")
    assert kubectl  # the canaries' checks ran
    for call in kubectl:
        words = call["argv"]
        assert "--" in words
        assert all(w.startswith("--") for w in words[2 : words.index("--")]), words
    for tool in ("gcloud", "aws", "az"):
        for call in denv.fakes.calls(tool):
            # every value flag as one word; positionals are the command words and gcloud's
            # validated cluster name
            options = [w for w in call["argv"] if w.startswith("-")]
            assert all("=" in w or w in _BARE_FLAGS for w in options), call["argv"]


_BARE_FLAGS = {"--service-principal", "--overwrite-existing", "--only-show-errors"}
