"""Fields a chart randomises, found by rendering again; comparisons blind only to those.

A small chart written here generates a token as z2jh does its secrets (helm's
`randAlphaNum`, unless the values set it), embeds it in a base64 blob, and
follows it with a checksum annotation; everything else is decided by its values.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hubfleet.base.errors import ChartError
from hubfleet.helm.engine import render
from hubfleet.helm.stability import (
    FieldRef,
    compare_renders,
    ignored_note,
    resources,
    unstable_fields,
)

SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: generated
data:
  token: {{ .Values.token | default (randAlphaNum 32) | b64enc | quote }}
  config.yaml: {{ dict "token" (.Values.token | default (randAlphaNum 32)) "greeting" .Values.greeting | toYaml | b64enc | quote }}
  greeting: {{ .Values.greeting | b64enc | quote }}
"""
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  annotations:
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
data:
  greeting: {{ .Values.greeting | quote }}
  items: {{ .Values.items | toJson | quote }}
"""
RANDOM = {
    "Secret/-/generated data.token",
    "Secret/-/generated data.config.yaml",
    "ConfigMap/-/settings metadata.annotations.checksum/secret",
}


def _chart(root: Path, *, templates: Mapping[str, str]) -> Path:
    chart = root / "gen"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: gen\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hello\nitems: [a, b]\ntoken: ''\n")
    for name, text in templates.items():
        (chart / "templates" / name).write_text(text)
    return chart


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    return _chart(tmp_path, templates={"secret.yaml": SECRET, "configmap.yaml": CONFIGMAP})


def _renderer(chart: Path, values: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    calls: list[int] = []

    def run() -> dict[str, str]:
        calls.append(1)
        return render(chart, values or {}, release="r", namespace="n")

    run.calls = calls  # type: ignore[attr-defined]
    return run


def test_the_fields_that_differ_between_renders_of_one_input_are_found(chart: Path) -> None:
    run = _renderer(chart)
    found = unstable_fields([resources(run()) for _ in range(3)])
    # The random token, the blob that embeds it, and the checksum that follows
    # them (which also depends on the input) and nothing the values decide.
    assert {str(ref) for ref in found} == RANDOM


def test_one_input_compares_the_same_and_names_what_it_ignored(chart: Path) -> None:
    comparison = compare_renders(_renderer(chart), _renderer(chart))
    assert comparison.same
    assert [str(ref) for ref in comparison.ignored] == sorted(RANDOM)
    assert comparison.renders == 3 and comparison.resources == 2
    note = ignored_note(comparison.ignored)
    assert note.startswith("ignored 3 field(s) the chart randomises")
    assert "Secret/-/generated data.token" in note


def test_an_input_decided_field_still_differs(chart: Path) -> None:
    comparison = compare_renders(_renderer(chart), _renderer(chart, {"greeting": "bonjour"}))
    assert {str(d.ref) for d in comparison.differences} == {
        "ConfigMap/-/settings data.greeting",
        "Secret/-/generated data.greeting",
    }
    assert all(d.random_on == "" for d in comparison.differences)
    assert len(comparison.ignored) == 3  # the blob changed too, but it is random: ignored


def test_a_list_item_that_differs_is_named_by_index(chart: Path) -> None:
    left = {"items": ["a", "b"]}
    comparison = compare_renders(_renderer(chart, left), _renderer(chart, {"items": ["a", "c"]}))
    assert [str(d.ref) for d in comparison.differences] == ["ConfigMap/-/settings data.items"]


def test_a_field_random_on_one_side_only_is_a_difference(chart: Path) -> None:
    fixed = {"token": "t" * 32}
    comparison = compare_renders(_renderer(chart), _renderer(chart, fixed))
    token = [d for d in comparison.differences if str(d.ref) == "Secret/-/generated data.token"]
    assert len(token) == 1 and token[0].random_on == "left"
    assert comparison.ignored == ()
    reverse = compare_renders(_renderer(chart, fixed), _renderer(chart))
    assert {d.random_on for d in reverse.differences} == {"right"}


def test_a_deterministic_chart_is_rendered_once_a_side(tmp_path: Path) -> None:
    fixed = CONFIGMAP.replace(
        '{{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}', "x"
    )
    chart = _chart(tmp_path, templates={"configmap.yaml": fixed})
    left, right = _renderer(chart), _renderer(chart)
    comparison = compare_renders(left, right)
    assert comparison.same and comparison.ignored == () and comparison.renders == 1
    assert len(left.calls) == len(right.calls) == 1


def test_a_resource_only_one_side_renders_is_a_difference(chart: Path, tmp_path: Path) -> None:
    other = _chart(tmp_path / "other", templates={"secret.yaml": SECRET})
    comparison = compare_renders(_renderer(chart), _renderer(other))
    whole = [d for d in comparison.differences if d.ref.path == ()]
    assert [str(d.ref) for d in whole] == ["ConfigMap/-/settings"]


def test_within_matches_the_field_and_what_contains_it() -> None:
    ignored = {FieldRef("Secret/-/s", ("data",)), FieldRef("ConfigMap/-/c", ())}
    assert FieldRef("Secret/-/s", ("data", "token")).within(ignored)
    assert FieldRef("ConfigMap/-/c", ("data", "x", 0)).within(ignored)
    assert not FieldRef("Secret/-/s", ("metadata", "name")).within(ignored)
    assert not FieldRef("Secret/-/other", ("data",)).within(ignored)


def test_invalid_yaml_names_the_template_and_no_text() -> None:
    with pytest.raises(ChartError) as raised:
        resources({"gen/templates/bad.yaml": "a: 1\nsecret-value-here\nb: 2\n"})
    message = str(raised.value)
    assert "gen/templates/bad.yaml" in message and "invalid YAML" in message
    assert "secret-value-here" not in message
