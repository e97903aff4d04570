"""No decrypted value is shown or written, in any form, with the real z2jh chart.

The example fleet (copied), the real chart in a temporary chart cache, every
`enc-*` file decrypted with sops to collect every value; then every command that
shows or writes manifests or helm output: `render` (text, json, --output-dir) of
several hubs, `deploy --dry-run` with a fake helm that prints the manifests as
helm does, a deploy whose fake helm fails and echoes its values back, `export`.
All stdout/stderr and every new file are scanned (tests/secretscan.py) for each
value and for the base64 data of every Secret the chart renders: zero hits.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.base.redact import MASK_KEY_ENV, Redactor
from hubfleet.config.load import load_fleet
from hubfleet.helm.charts import resolve_chart
from hubfleet.helm.engine import render
from hubfleet.helm.manifests import split_documents
from hubfleet.helm.masking import MASK_PREFIX
from hubfleet.release.pipeline import hub_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.sops import Sops
from tests.conftest import CliResult
from tests.fakes import FakeTools, install_fakes
from tests.secretscan import IDENTIFIER_KEYS, Hit, find_secrets, scan_tree, snapshot

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fleet"
KEY_NAME = "DEMO-ONLY.age-key.txt"
HUBS = [
    ("pilot-gcp", "staging"),
    ("pilot-gcp", "research"),
    ("onprem", "research"),
    ("teaching-azure", "teaching"),
    ("research-aws", "staging"),
]


def _leaves(data: Any, key: str | None = None) -> list[str]:
    if key in IDENTIFIER_KEYS:
        return []
    if isinstance(data, dict):
        return [v for k, item in data.items() for v in _leaves(item, str(k))]
    if isinstance(data, list):
        return [v for item in data for v in _leaves(item, key)]
    if isinstance(data, str):
        lines = [line.strip() for line in data.splitlines()]
        return [data, *(line for line in lines if len(line) >= 8 and not line.startswith("---"))]
    return []


def fleet_secrets(fleet: Path) -> set[str]:
    """Every decrypted value of the fleet, by sops itself (as the stop hook does)."""
    values: set[str] = set()
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(fleet / KEY_NAME)}
    for path in sorted(fleet.rglob("enc-*")):
        result = subprocess.run(
            ["sops", "--decrypt", str(path)], capture_output=True, text=True, check=True, env=env
        )
        data = (
            json.loads(result.stdout) if path.suffix == ".json" else yaml.safe_load(result.stdout)
        )
        values |= {v for v in _leaves(data) if len(v) >= 8}
    return values


@pytest.fixture(scope="module")
def example_secrets() -> frozenset[str]:
    """The example fleet's decrypted values, once for the module (20 sops runs): each
    test's copy of the fleet holds the same files, and no test changes them first."""
    return frozenset(fleet_secrets(EXAMPLE))


@pytest.fixture
def world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    real_chart_cache: Path,
    example_secrets: frozenset[str],
) -> dict[str, Any]:
    work = tmp_path / "work"
    fleet = work / "fleet"
    shutil.copytree(EXAMPLE, fleet, symlinks=False)
    for name in ("tmp", "home", "out"):
        (work / name).mkdir()
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(fleet / KEY_NAME))
    monkeypatch.setenv("TMPDIR", str(work / "tmp"))
    monkeypatch.setenv("HOME", str(work / "home"))
    fakes = install_fakes(tmp_path / "fakes")  # their records hold what helm was given
    monkeypatch.setenv("PATH", fakes.path)
    secrets = set(example_secrets)
    assert len(secrets) > 20
    return {"work": work, "fleet": fleet, "fakes": fakes, "secrets": secrets}


def secret_data(fleet: Path, cluster: str, hub: str) -> set[str]:
    """The data of every Secret the real chart renders for the hub (values decrypted):
    as it stands in the manifests (base64) and decoded."""
    loaded = load_fleet(fleet).fleet_or_raise()
    release = hub_release(loaded, loaded.cluster(cluster).hub(hub))
    values = ReleaseValues(loaded, sops=Sops(Redactor(), cwd=fleet)).merged(release)
    manifests = render(
        resolve_chart(release.chart), values, release=release.name, namespace=release.namespace
    )
    found: set[str] = set()
    for document in split_documents(manifests):
        if document.get("kind") == "Secret":
            for value in (document.get("data") or {}).values():
                found.add(str(value))
            for value in (document.get("stringData") or {}).values():
                found.add(str(value))
    return {value for value in found if len(value) >= 8}


def helm_output(fleet: Path, cluster: str, hub: str) -> str:
    """What `helm upgrade --dry-run` prints: status, then every manifest, hub Secret last."""
    loaded = load_fleet(fleet).fleet_or_raise()
    release = hub_release(loaded, loaded.cluster(cluster).hub(hub))
    values = ReleaseValues(loaded, sops=Sops(Redactor(), cwd=fleet)).merged(release)
    manifests = render(
        resolve_chart(release.chart), values, release=release.name, namespace=release.namespace
    )
    ordered = sorted(manifests.items(), key=lambda item: item[0].endswith("hub/secret.yaml"))
    body = "".join(f"---\n# Source: {name}\n{text.strip()}\n" for name, text in ordered)
    return f'Release "{hub}" has been upgraded.\nNAME: {hub}\nSTATUS: pending-upgrade\nMANIFEST:\n{body}'


def assert_secret_data_masked(text: str) -> None:
    """Every value of every Secret in the output (YAML, or JSON of manifests) is a marker."""
    if text.lstrip().startswith("{"):
        text = "\n---\n".join(json.loads(text)["manifests"].values())
    for document in yaml.safe_load_all(text):
        if isinstance(document, dict) and document.get("kind") == "Secret":
            for field in ("data", "stringData"):
                for key, value in (document.get(field) or {}).items():
                    assert str(value).startswith(MASK_PREFIX), (key, str(value)[:20])


def _hits(results: list[CliResult], secrets: set[str]) -> list[Hit]:
    return [h for r in results for h in find_secrets(r.output.encode(), secrets)]


def test_render_in_every_form_shows_no_secret(world: dict[str, Any], run_cli) -> None:  # type: ignore[no-untyped-def]
    fleet, work = world["fleet"], world["work"]
    secrets = set(world["secrets"])
    for cluster, hub in HUBS:
        secrets |= secret_data(fleet, cluster, hub)
    before = snapshot(work)
    results = []
    for cluster, hub in HUBS:
        results.append(run_cli("--repo", fleet, "render", cluster, hub))
        results.append(run_cli("--repo", fleet, "render", cluster, hub, "--output", "json"))
    results.append(run_cli("--repo", fleet, "render", "pilot-gcp", "support"))
    out_dir = work / "out" / "rendered"
    results.append(
        run_cli("--repo", fleet, "render", "pilot-gcp", "staging", "--output-dir", out_dir)
    )
    assert [r.exit_code for r in results] == [0] * len(results), [r.stderr for r in results]
    text = results[0].stdout
    assert f'values.yaml: "{MASK_PREFIX}' in text  # the hub Secret is there, masked
    manifests = json.loads(results[1].stdout)["manifests"]
    assert MASK_PREFIX in manifests["jupyterhub/templates/hub/secret.yaml"]
    assert (out_dir / "jupyterhub/templates/hub/secret.yaml").is_file()
    shown = [r.stdout for r in results[:-1]]
    shown += [p.read_text() for p in out_dir.rglob("*.yaml")]
    for text in shown:
        assert_secret_data_masked(text)
    assert _hits(results, secrets) == []
    assert scan_tree(work, secrets, since=before) == []


def test_render_masks_the_same_values_with_the_same_digest(
    world: dict[str, Any],
    run_cli,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """Deterministic output with a stable mask key: the values document's digest is
    the same across renders (without one, each run has its own random key)."""
    fleet = world["fleet"]
    monkeypatch.setenv(MASK_KEY_ENV, "a-stable-mask-key-for-this-test-0123456789")
    first = run_cli("--repo", fleet, "render", "pilot-gcp", "staging").stdout
    second = run_cli("--repo", fleet, "render", "pilot-gcp", "staging").stdout
    line = next(x for x in first.splitlines() if x.strip().startswith("values.yaml:"))
    assert line in second.splitlines()
    monkeypatch.delenv(MASK_KEY_ENV)
    third = run_cli("--repo", fleet, "render", "pilot-gcp", "staging").stdout
    assert line not in third.splitlines()


def test_deploy_dry_run_and_failing_helm_show_no_secret(world: dict[str, Any], run_cli) -> None:  # type: ignore[no-untyped-def]
    fleet, work, fakes = world["fleet"], world["work"], world["fakes"]
    assert isinstance(fakes, FakeTools)
    secrets = set(world["secrets"]) | secret_data(fleet, "pilot-gcp", "staging")
    printed = helm_output(fleet, "pilot-gcp", "staging")
    assert find_secrets(printed.encode(), secrets)  # the fake helm's output does hold them
    fakes.script(
        [
            {"tool": "helm", "args": ["upgrade", "staging"], "stdout": printed},
            {
                "tool": "helm",
                "args": ["upgrade", "research"],
                "exit": 1,
                "echo_values": True,
                "stdout": printed,
                "stderr": "Error: UPGRADE FAILED: values were:\n",
            },
        ]
    )
    before = snapshot(work)
    out = work / "out"
    results = [
        run_cli(
            "--repo", fleet, "deploy", "pilot-gcp", "staging", "--dry-run", "--no-health-check",
            "--report", out / "dry.json", "--junit", out / "dry.xml", "--progress", "plain",
        ),
        run_cli(
            "--repo", fleet, "deploy", "pilot-gcp", "staging", "--dry-run", "--no-health-check",
            "--output", "json",
        ),
        run_cli(
            "--repo", fleet, "deploy", "pilot-gcp", "research", "--no-health-check",
            "--report", out / "failed.json", "--junit", out / "failed.xml", "--progress", "plain",
        ),
        run_cli(
            "--repo", fleet, "deploy", "pilot-gcp", "research", "--no-health-check",
            "--output", "json",
        ),
    ]  # fmt: skip
    assert [r.exit_code for r in results] == [0, 0, 1, 1], [r.output for r in results]
    echoed = [
        c for c in fakes.calls("helm") if c["argv"][:1] == ["upgrade"] and "research" in c["argv"]
    ]
    assert echoed and any(v["content"] for v in echoed[0]["values"])  # helm got the secrets
    report = json.loads((out / "failed.json").read_text())
    failed = [job for job in report["jobs"] if job["status"] == "failed"]
    assert failed and failed[0]["output_tail"], failed  # the tail is reported ...
    dry = json.loads((out / "dry.json").read_text())
    assert any(MASK_PREFIX in job["output_tail"] for job in dry["jobs"])  # ... masked
    assert _hits(results, secrets) == []
    assert scan_tree(work, secrets, since=before) == []


def test_export_shows_and_writes_no_secret(world: dict[str, Any], run_cli) -> None:  # type: ignore[no-untyped-def]
    fleet, work = world["fleet"], world["work"]
    secrets = set(world["secrets"])
    before = snapshot(work)
    results = [
        run_cli("--repo", fleet, "export", "pilot-gcp", "staging", work / "out" / "exp1"),
        run_cli(
            "--repo", fleet, "export", "onprem", "research", work / "out" / "exp2",
            "--output", "json",
        ),
        run_cli("--repo", fleet, "export", "pilot-gcp", "research", work / "out" / "exp3", "--verify"),
    ]  # fmt: skip
    assert results[0].exit_code == 0 and results[1].exit_code == 0, [r.output for r in results]
    assert (work / "out" / "exp1").is_dir()
    assert _hits(results, secrets) == []
    assert scan_tree(work, secrets, since=before) == []


def test_show_secrets_is_refused_without_a_terminal_and_with_output_dir(
    world: dict[str, Any],
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    fleet = world["fleet"]
    piped = run_cli("--repo", fleet, "render", "pilot-gcp", "staging", "--show-secrets")
    assert piped.exit_code == 2
    assert "--show-secrets needs a terminal" in piped.stderr
    to_disk = run_cli(
        "--repo", fleet, "render", "pilot-gcp", "staging", "--show-secrets",
        "--output-dir", world["work"] / "out" / "shown",
    )  # fmt: skip
    assert to_disk.exit_code == 2
    assert "never written to disk" in to_disk.stderr
    assert not (world["work"] / "out" / "shown").exists()
    assert find_secrets((piped.output + to_disk.output).encode(), world["secrets"]) == []


def test_show_secrets_on_a_terminal_shows_them(world: dict[str, Any]) -> None:
    """A person on a terminal who asks sees the values (a pty, not a pipe)."""
    import pty

    primary, secondary = pty.openpty()
    env = dict(os.environ)
    process = subprocess.Popen(
        [shutil.which("hubfleet") or "hubfleet", "--repo", str(world["fleet"]), "render",
         "pilot-gcp", "staging", "--show-secrets"],
        stdout=secondary, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
    shown = b"".join(chunks).decode("utf-8", "replace")
    assert "[MASKED" not in shown
    assert "values.yaml: " in shown
    assert find_secrets(shown.encode(), world["secrets"])  # the values are there, as asked
