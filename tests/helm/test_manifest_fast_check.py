"""The compiled schema check (jsonschema_rs says valid or not, jsonschema words the
problems) reports exactly what the check with jsonschema alone reports, on documents
of every kind of mistake and of every value YAML can make, hostile tags included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.helm import manifests
from hubfleet.helm.engine import render
from hubfleet.helm.manifests import ManifestProblem, check_manifests, schema_version

CHARTS = Path(__file__).parents[1] / "fixtures" / "charts"

HEAD = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n"
SPEC = "spec:\n  selector: {}\n  template:\n    spec:\n      containers:\n      - name: c\n"
MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\n"

DOCUMENTS = {
    "valid": HEAD + SPEC,
    "valid, float that is an integer": HEAD + SPEC + "  replicas: 2.0\n",
    "valid, huge integer": HEAD + SPEC + "  replicas: 100000000000000000000000000\n",
    "valid, int-or-string": HEAD + SPEC + "  strategy: {rollingUpdate: {maxSurge: 25%}}\n",
    "wrong type": HEAD + SPEC + "  replicas: three\n",
    "fraction": HEAD + SPEC + "  replicas: 1.5\n",
    "nan": HEAD + SPEC + "  replicas: .nan\n",
    "infinity": HEAD + SPEC + "  replicas: .inf\n",
    "bool for integer": HEAD + SPEC + "  replicas: true\n",
    "unknown field": HEAD + SPEC + "  replicaz: 1\n",
    "unknown nested field": HEAD + SPEC + "        imagePullPolicyy: Always\n",
    "missing required": HEAD + "spec:\n  template: {}\n",
    "enum": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
    + SPEC.replace("spec:\n", "spec:\n  strategy: {type: Sideways}\n", 1),
    "oneOf broken": HEAD + SPEC + "  strategy: {rollingUpdate: {maxSurge: [1]}}\n",
    "not a mapping": HEAD + "spec: [1, 2]\n",
    "number label": MAP + "  labels: {a: 1}\n",
    "int key": MAP + "  labels: {1: a}\n",
    "bool key": MAP + "  labels: {yes: a}\n",
    "null key": MAP + "  labels: {~: a}\n",
    "binary": MAP + "binaryData: {a: !!binary aGVsbG8=}\n",
    "binary as text": MAP + "data: {a: !!binary aGVsbG8=}\n",
    "set": MAP + "  finalizers: !!set {a, b}\n",
    "timestamp tag": MAP + "data: {a: !!timestamp 2024-01-02}\n",
    "omap": MAP + "  finalizers: !!omap [a: 1, b: 2]\n",
    "pairs": MAP + "  finalizers: !!pairs [a: 1]\n",
    "omap in data": MAP + "data: !!omap [a: x]\n",
    "empty omap": MAP + "  finalizers: !!omap []\n",
    "deep": MAP + "data:\n  a: " + "[" * 200 + "]" * 200 + "\n",
    "unicode": MAP + "data: {é: ü, a: '\\u2603'}\n",
    "null metadata": "apiVersion: v1\nkind: ConfigMap\nmetadata: ~\n",
    "no kind": "apiVersion: v1\nmetadata: {name: x}\n",
    "custom kind": "apiVersion: example.org/v1\nkind: Widget\nmetadata: {name: w}\n",
    "scalar document": "just text\n",
}


def reference(manifests_: dict[str, str], kube_version: str | None = None) -> Any:
    """The check as it was, jsonschema alone: the report the compiled one must equal."""
    version = schema_version(kube_version)
    problems: list[ManifestProblem] = []
    unknown: set[str] = set()
    for template, text in sorted(manifests_.items()):
        try:
            documents = manifests.load_documents(text)
        except yaml.YAMLError as exc:
            problems.append(ManifestProblem(template, "", "", f"invalid YAML: {exc}"))
            continue
        for document in documents:
            if not isinstance(document, dict):
                problems.append(
                    ManifestProblem(template, "", "", "not a Kubernetes object (not a mapping)")
                )
                continue
            kind, api_version = document.get("kind"), document.get("apiVersion")
            metadata = document.get("metadata")
            name = str(metadata.get("name") or "") if isinstance(metadata, dict) else ""
            if not isinstance(kind, str) or not kind or not isinstance(api_version, str):
                problems.append(
                    ManifestProblem(
                        template,
                        str(kind or ""),
                        name,
                        "a Kubernetes object needs `apiVersion` and `kind`",
                    )
                )
                continue
            validator = manifests._validator(version, kind, api_version)
            if validator is None:
                unknown.add(f"{kind} ({api_version})")
                continue
            for error in validator.iter_errors(document):
                where = manifests._error_path(error)
                message = f"{where}: {error.message}" if where else error.message
                problems.append(ManifestProblem(template, kind, name, message))
    return manifests.ManifestReport(sorted(problems), sorted(unknown), version)


@pytest.mark.parametrize("case", sorted(DOCUMENTS))
def test_each_document_is_reported_as_jsonschema_alone_reports_it(case: str) -> None:
    rendered = {"x/templates/doc.yaml": DOCUMENTS[case]}
    assert check_manifests(rendered) == reference(rendered)


def test_all_documents_at_once_and_the_broken_chart() -> None:
    together = {f"x/templates/{n:02}.yaml": text for n, text in enumerate(DOCUMENTS.values())}
    report = check_manifests(together)
    assert report == reference(together)
    assert len({p.template for p in report.problems}) >= 20  # the mistakes were found
    bad = render(CHARTS / "broken" / "badmanifest", {}, release="h", namespace="h")
    assert check_manifests(bad, kube_version="1.30") == reference(bad, "1.30")


def test_a_valid_release_never_reaches_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is taken: a valid release is decided by jsonschema_rs alone."""

    def no_python(*_: Any) -> Any:
        raise AssertionError("jsonschema asked about a valid document")

    manifests_ = render(
        CHARTS / "testhub", {"ingress": {"hosts": ["a.example.org"]}}, release="a", namespace="a"
    )
    monkeypatch.setattr(manifests, "_validator", no_python)
    assert check_manifests(manifests_).ok


class _SaysValid:
    """A fast validator that finds everything valid: what a disagreement would look like."""

    def is_valid(self, _document: Any) -> bool:
        return True


class _Raises:
    def is_valid(self, _document: Any) -> bool:
        raise ValueError("Unsupported type")


def test_pairs_are_decided_by_jsonschema_whatever_the_fast_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tuples (`!!omap`, `!!pairs`) are arrays to jsonschema_rs and not to jsonschema:
    such a document is never decided by the fast validator."""
    rendered = {"x/templates/doc.yaml": DOCUMENTS["omap"], "x/templates/p.yaml": DOCUMENTS["pairs"]}
    expected = reference(rendered)
    assert {p.template for p in expected.problems} == set(rendered)
    monkeypatch.setattr(manifests, "_fast_validator", lambda *_: _SaysValid())
    assert check_manifests(rendered) == expected
    # without pairs, the fast answer is the answer (so the test above tests the bypass)
    assert check_manifests({"x/templates/doc.yaml": DOCUMENTS["wrong type"]}).ok


def test_a_document_the_fast_validator_cannot_read_is_checked_by_jsonschema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rendered = {"x/templates/doc.yaml": DOCUMENTS["wrong type"]}
    expected = reference(rendered)
    assert [p.message.split(":")[0] for p in expected.problems] == ["spec.replicas"]
    monkeypatch.setattr(manifests, "_fast_validator", lambda *_: _Raises())
    assert check_manifests(rendered) == expected


def test_the_loader_says_when_a_document_holds_pairs() -> None:
    assert manifests._load_for_check(DOCUMENTS["omap"])[1] is True
    assert manifests._load_for_check(DOCUMENTS["pairs"])[1] is True
    assert manifests._load_for_check(DOCUMENTS["valid"] + "---\n" + MAP)[1] is False
    documents, _ = manifests._load_for_check("---\n# nothing\n---\n" + MAP)
    assert documents == manifests.load_documents(MAP)
