"""A secret the chart transforms is still scrubbed (issue 21.8): trust corpus, redaction.

A hostile (or merely ordinary) chart prints a decrypted value through sprig's
`upper`, `lower`, `title`, Go's `printf "%x"` / `"%X"`, and `b64enc` of those, in
manifests, in a `fail` message, and helm quotes it back on a failed upgrade. Each
case runs the real CLI (render in every output mode, validate, deploy through the
fake helm) and scans everything it printed and every file it wrote for the age key
and every decrypted value of the fleet, in every form `tests/secretscan.py` knows
(the new ones included).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.base.redact import STRUCTURAL_KEYS
from tests.conftest import AGE_KEY
from tests.fakes import FakeTools, install_fakes
from tests.secretscan import age_secret_keys, decrypted_leaves, find_secrets, scan_tree, snapshot

ALPHA = "config/clusters/alpha"
SECRET = "Tr4nsf0rm-s3cr3t-Value-99"
TEMPLATE = """{{- with .Values.hub.config.Transform }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: transformed
data:
  upper: {{ .secret | upper | quote }}
  lower: {{ .secret | lower | quote }}
  title: {{ .secret | title | quote }}
  hex: {{ printf "%x" .secret | quote }}
  HEX: {{ printf "%X" .secret | quote }}
  upper-b64: {{ .secret | upper | b64enc | quote }}
  hex-b64: {{ printf "%x" .secret | b64enc | quote }}
  annotated: "token={{ .secret | upper }};"
{{- if .fail }}
{{ fail (printf "refused token %s (%x)" (upper .secret) .secret) }}
{{- end }}
{{- end }}
"""


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


def every_secret(fleet: Path) -> list[str]:
    """The age key and every decrypted value of every encrypted file of the fleet, except
    the identifiers of credential documents (a kubeconfig's `kind: Config`, cluster
    names: hubfleet registers none of those)."""
    values = decrypted_leaves(fleet, AGE_KEY, skip_keys=STRUCTURAL_KEYS)
    return sorted(age_secret_keys(AGE_KEY) | {v for v in values if len(v) >= 4})


def _fleet(fleet: Path, *, fail: bool = False) -> Path:
    _encrypt(
        fleet,
        f"{ALPHA}/enc-staging.secret.values.yaml",
        "proxy:\n  secretToken: proxy-token-alpha-staging-s3cr3t\n"
        f"hub:\n  config:\n    Transform:\n      secret: {SECRET}\n"
        + ("      fail: true\n" if fail else ""),
    )
    (fleet / "helm-charts/testhub/templates/transformed.yaml").write_text(TEMPLATE)
    return fleet


@pytest.fixture
def transform_fleet(fleet_copy: Path, age_key: Path) -> Path:
    return _fleet(fleet_copy)


@pytest.fixture
def failing_fleet(fleet_copy: Path, age_key: Path) -> Path:
    return _fleet(fleet_copy, fail=True)


def assert_clean(
    output: str, fleet: Path, roots: list[Path], before: list[dict[str, float]]
) -> None:
    secrets = every_secret(fleet)
    assert SECRET in secrets
    assert "Traceback" not in output
    assert find_secrets(output.encode(), secrets) == []
    for root, seen in zip(roots, before, strict=True):
        assert scan_tree(root, secrets, since=seen) == []


def test_the_chart_prints_every_transformed_form(transform_fleet: Path) -> None:
    """What the cases below guard against: the embedded Helm engine, with the real
    decrypted values, prints the secret in each transformed form (and the scanner
    sees each of them)."""
    from hubfleet.base.redact import Redactor
    from hubfleet.config.load import load_fleet
    from hubfleet.helm.charts import resolve_chart
    from hubfleet.helm.engine import render
    from hubfleet.release.pipeline import hub_release, merged_values
    from hubfleet.secrets.sops import Sops

    fleet = load_fleet(transform_fleet).fleet_or_raise()
    release = hub_release(fleet, fleet.cluster("alpha").hub("staging"))
    values = merged_values(fleet, release, sops=Sops(Redactor(), cwd=transform_fleet))
    manifests = render(resolve_chart(release.chart), values, release="staging", namespace="x")
    [shown] = [text for text in manifests.values() if "name: transformed" in text]
    data = yaml.safe_load(shown)["data"]
    assert data["upper"] == SECRET.upper() and data["lower"] == SECRET.lower()
    assert data["hex"] == SECRET.encode().hex() and data["HEX"] == SECRET.encode().hex().upper()
    forms = {hit.form for hit in find_secrets(shown.encode(), [SECRET])}
    assert {"upper-case", "lower-case", "hex (printf %x)", "hex (printf %X)"} <= forms


@pytest.mark.parametrize("output", ["text", "json"])
def test_render_scrubs_transformed_forms(
    transform_fleet: Path, run_cli: Any, tmp_path: Path, output: str
) -> None:
    before = [snapshot(transform_fleet), snapshot(tmp_path)]
    result = run_cli("--repo", transform_fleet, "render", "alpha", "staging", "--output", output)
    assert result.exit_code == 0, result.output
    text = result.stdout
    if output == "json":
        [text] = [m for m in json.loads(result.stdout)["manifests"].values() if "transformed" in m]
    shown = text[text.index("name: transformed") :]
    for key in ("upper", "lower", "title", "hex", "HEX", "upper-b64", "hex-b64"):
        assert f'{key}: "[REDACTED]"' in shown, key
    assert 'annotated: "token=[REDACTED];"' in shown
    assert_clean(result.output, transform_fleet, [transform_fleet, tmp_path], before)


def test_render_output_dir_files_hold_no_transformed_form(
    transform_fleet: Path, run_cli: Any, tmp_path: Path
) -> None:
    out = tmp_path / "rendered"
    before = [snapshot(transform_fleet), snapshot(tmp_path)]
    result = run_cli("--repo", transform_fleet, "render", "alpha", "staging", "--output-dir", out)
    assert result.exit_code == 0, result.output
    written = "".join(path.read_text() for path in out.rglob("*") if path.is_file())
    assert "name: transformed" in written and "[REDACTED]" in written
    assert_clean(result.output, transform_fleet, [transform_fleet, tmp_path], before)


def test_validate_scrubs_transformed_forms(
    transform_fleet: Path, run_cli: Any, tmp_path: Path
) -> None:
    before = [snapshot(transform_fleet), snapshot(tmp_path)]
    result = run_cli("--repo", transform_fleet, "validate", "alpha", "--output", "json")
    assert result.exit_code in (0, 1, 2), result.output
    assert_clean(result.output, transform_fleet, [transform_fleet, tmp_path], before)


@pytest.mark.parametrize("command", ["render", "validate"])
def test_a_fail_message_quoting_the_transformed_secret_is_scrubbed(
    failing_fleet: Path, run_cli: Any, tmp_path: Path, command: str
) -> None:
    """`fail` with the upper case and the hex of the secret: helm's error message
    reaches the user as hubfleet's own, at exit 2, never as an internal error."""
    before = [snapshot(failing_fleet), snapshot(tmp_path)]
    args = ["alpha", "staging"] if command == "render" else ["alpha"]
    result = run_cli("--repo", failing_fleet, command, *args)
    assert result.exit_code not in (0, 70), result.output
    assert "refused token [REDACTED] ([REDACTED])" in result.output
    assert_clean(result.output, failing_fleet, [failing_fleet, tmp_path], before)


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTools:
    private = tmp_path / "private"
    private.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    fakes = install_fakes(tmp_path / "fakes")
    monkeypatch.setenv("PATH", fakes.path)
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return fakes


@pytest.mark.parametrize("dry_run", [False, True])
def test_deploy_scrubs_a_failed_upgrade_quoting_transformed_forms(
    transform_fleet: Path, run_cli: Any, tmp_path: Path, fake_tools: FakeTools, dry_run: bool
) -> None:
    """helm fails and quotes what the chart made of the secret (upper case, hex, its
    base64): the progress lines, the failure, the JSON report and the JUnit file hold
    none of it."""
    quoted = (
        f"Error: UPGRADE FAILED: token {SECRET.upper()} hex {SECRET.encode().hex()} "
        f"HEX {SECRET.encode().hex().upper()} lower {SECRET.lower()}"
    )
    fake_tools.script([{"tool": "helm", "args": ["upgrade"], "exit": 1, "stderr": quoted}])
    report, junit = tmp_path / "out" / "report.json", tmp_path / "out" / "junit.xml"
    report.parent.mkdir()
    # Everything but the fake's own records (which hold the values helm was given).
    roots = [transform_fleet, report.parent, tmp_path / "private", tmp_path / "home"]
    before = [snapshot(root) for root in roots]
    result = run_cli(
        "--repo", transform_fleet, "deploy", "alpha", "staging", "--no-health-check",
        "--progress", "plain", "--report", report, "--junit", junit,
        *(["--dry-run"] if dry_run else []),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "UPGRADE FAILED: token [REDACTED]" in result.output + report.read_text()
    assert_clean(result.output, transform_fleet, roots, before)
    upgrades = [c for c in fake_tools.calls("helm") if c["argv"][:1] == ["upgrade"]]
    assert upgrades, "the upgrade ran"
    argv_text = json.dumps([c["argv"] for c in upgrades])
    assert find_secrets(argv_text.encode(), [SECRET]) == []  # and no secret on an argv
