"""A secret with `"` and `\\` through the chart's `quote`, `--output json`, and a
values-schema error: never shown, in any escaping (issue 12.6)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from hubfleet.helm.engine import ValuesSchemaError, render, values_problems
from tests.conftest import AGE_KEY
from tests.secretscan import find_secrets, scan_tree, snapshot

ALPHA = "config/clusters/alpha"
ODD = 'quo"te\\back-s3cr3t-odd'


def _encrypt(fleet: Path, relative: str, plaintext: str) -> None:
    target = fleet / relative
    target.write_text(plaintext)
    subprocess.run(
        ["sops", "--encrypt", "--in-place", str(target)],
        cwd=fleet,
        check=True,
        capture_output=True,
        env={**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEY)},
    )


@pytest.fixture
def odd_fleet(fleet_copy: Path, age_key: Path) -> Path:
    _encrypt(
        fleet_copy,
        f"{ALPHA}/enc-staging.secret.values.yaml",
        "proxy:\n  secretToken: proxy-token-alpha-staging-s3cr3t\n"
        f"hub:\n  extraEnv:\n    API_KEY: '{ODD}'\n",
    )
    return fleet_copy


def test_quoted_secret_is_hidden_in_text_and_json(odd_fleet: Path, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(tmp_path)
    text = run_cli("--repo", odd_fleet, "render", "alpha", "staging")
    as_json = run_cli("--repo", odd_fleet, "render", "alpha", "staging", "--output", "json")
    out_dir = tmp_path / "rendered"
    files = run_cli("--repo", odd_fleet, "render", "alpha", "staging", "--output-dir", out_dir)
    assert [text.exit_code, as_json.exit_code, files.exit_code] == [0, 0, 0]
    assert '- name: API_KEY\n              value: "[REDACTED]"' in text.stdout  # quote's output
    manifests = json.loads(as_json.stdout)["manifests"]
    assert any("API_KEY" in m and "[REDACTED]" in m for m in manifests.values())
    for result in (text, as_json, files):
        assert find_secrets(result.output.encode(), [ODD]) == []
    assert scan_tree(tmp_path, [ODD], since=before) == []


def test_the_scanner_sees_the_quoted_form_the_chart_prints(odd_fleet: Path) -> None:
    """What the test above guards against: the chart prints the value Go-escaped."""
    from hubfleet.base.redact import Redactor
    from hubfleet.config.load import load_fleet
    from hubfleet.helm.charts import resolve_chart
    from hubfleet.release.pipeline import hub_release
    from hubfleet.release.values import ReleaseValues
    from hubfleet.secrets.sops import Sops

    fleet = load_fleet(odd_fleet).fleet_or_raise()
    release = hub_release(fleet, fleet.cluster("alpha").hub("staging"))
    values = ReleaseValues(fleet, sops=Sops(Redactor(), cwd=odd_fleet)).merged(release)
    manifests = render(resolve_chart(release.chart), values, release="staging", namespace="x")
    shown = "".join(manifests.values())
    assert ODD not in shown  # not plain ...
    assert find_secrets(shown.encode(), [ODD])  # ... but escaped


def _pattern_chart(root: Path) -> Path:
    chart = root / "pchart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: pchart\nversion: 0.1.0\n")
    (chart / "values.schema.json").write_text(
        json.dumps({"type": "object", "properties": {"token": {"pattern": "^tok-[0-9]+$"}}})
    )
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n"
        "  t: {{ .Values.token | quote }}\n"
    )
    return chart


def test_a_schema_error_never_quotes_the_value(tmp_path: Path) -> None:
    chart = _pattern_chart(tmp_path)
    problems = values_problems(chart, {"token": ODD})
    assert [p.path for p in problems] == [("token",)]
    assert "does not match pattern" in problems[0].message
    with pytest.raises(ValuesSchemaError) as caught:
        render(chart, {"token": ODD}, release="x", namespace="x")
    shown = " ".join([str(caught.value), *(p.render() for p in problems), repr(problems)])
    assert find_secrets(shown.encode(), [ODD]) == []


def test_validate_names_the_encrypted_file_and_line_not_the_value(
    fleet_copy: Path,
    run_cli,
    age_key: Path,  # type: ignore[no-untyped-def]
) -> None:
    _encrypt(
        fleet_copy,
        f"{ALPHA}/enc-staging.secret.values.yaml",
        "proxy:\n  secretToken: proxy-token-alpha-staging-s3cr3t\nhub:\n  baseUrl: 98765432101\n",
    )
    result = run_cli("--repo", fleet_copy, "validate", "alpha")
    assert result.exit_code == 2, result.output
    assert f"{ALPHA}/enc-staging.secret.values.yaml:4: hub.baseUrl: " in result.stdout
    assert find_secrets(result.output.encode(), ["98765432101", "proxy-token-alpha-staging"]) == []
