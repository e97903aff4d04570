"""Offline Kubernetes schema checks of rendered manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubfleet.base.errors import ConfigError
from hubfleet.helm.engine import render
from hubfleet.helm.manifests import (
    available_versions,
    check_manifests,
    manifest_checker,
    schema_version,
    split_documents,
)

CHARTS = Path(__file__).parents[1] / "fixtures" / "charts"


def test_testhub_manifests_are_valid() -> None:
    manifests = render(
        CHARTS / "testhub", {"ingress": {"hosts": ["a.example.org"]}}, release="a", namespace="a"
    )
    report = check_manifests(manifests)
    assert report.problems == []
    assert report.unknown_kinds == []
    assert report.kube_version == available_versions()[-1]
    kinds = sorted(doc["kind"] for doc in split_documents(manifests))
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "Ingress", "Secret", "Service"]


def test_invalid_deployment_is_detected_with_kind_and_name() -> None:
    manifests = render(CHARTS / "broken" / "badmanifest", {}, release="h", namespace="h")
    report = check_manifests(manifests, kube_version="1.30")
    assert [(p.template, p.kind, p.name) for p in report.problems] == [
        ("badmanifest/templates/deployment.yaml", "Deployment", "h-hub"),
        ("badmanifest/templates/deployment.yaml", "Deployment", "h-hub"),
    ]
    messages = sorted(p.message for p in report.problems)
    assert messages[0].startswith("spec.replicas: 'three' is not of type 'integer'")
    assert messages[1].startswith("spec.template.spec.containers[0]: Additional properties")
    assert "imagePullPolicyy" in messages[1]  # strict: unknown fields are errors
    assert report.unknown_kinds == ["HubWidget (example.com/v1)"]
    assert report.kube_version.startswith("1.30.")


def test_unknown_kind_is_noted_not_failed() -> None:
    report = check_manifests(
        {"x/templates/w.yaml": "apiVersion: example.com/v1\nkind: HubWidget\nmetadata: {name: w}\n"}
    )
    assert report.ok
    assert report.unknown_kinds == ["HubWidget (example.com/v1)"]


def test_documents_without_kind_or_with_bad_yaml() -> None:
    report = check_manifests(
        {
            "x/templates/a.yaml": "metadata:\n  name: a\n",
            "x/templates/b.yaml": "a: [unclosed\n",
            "x/templates/c.yaml": "---\n# only a comment\n---\n",
        }
    )
    assert [(p.template, p.message.split(":")[0]) for p in report.problems] == [
        ("x/templates/a.yaml", "a Kubernetes object needs `apiVersion` and `kind`"),
        ("x/templates/b.yaml", "invalid YAML"),
    ]


def test_unquoted_dates_stay_strings_as_in_kubernetes() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  day: 2024-01-02\n"
    assert check_manifests({"x/templates/c.yaml": text}).ok


def test_kube_versions() -> None:
    newest = available_versions()[-1]
    assert schema_version() == newest
    assert schema_version("v" + newest) == newest
    assert schema_version("1.30.7").startswith("1.30.")
    with pytest.raises(ConfigError, match="not supported"):
        schema_version("1.99")
    with pytest.raises(ConfigError, match="not supported"):
        schema_version("0.1")


def test_the_check_in_worker_processes_reports_what_it_reports_in_process() -> None:
    """validate's schema check off the GIL (`manifest_checker(2)`: spawned workers) gives
    the same report, problems and unknown kinds included, as the check in process."""
    bad = render(CHARTS / "broken" / "badmanifest", {}, release="h", namespace="h")
    custom = {"crd.yaml": "apiVersion: example.org/v1\nkind: Widget\nmetadata: {name: w}\n"}
    cases = [(bad, "1.30"), (custom, None), ({**bad, **custom}, None)]
    with manifest_checker(1) as here:
        expected = [here(manifests, version) for manifests, version in cases]
    with manifest_checker(2) as workers:
        found = [workers(manifests, version) for manifests, version in cases]
    assert found == expected
    assert expected[0].problems and expected[1].unknown_kinds == ["Widget (example.org/v1)"]
