"""The remaining conventions of the largest public fleet's layout (issue 24, point 7),
shown on tests/fixtures/layout2i2c (its `conventions` cluster) with the real charts:

- the support chart's own `helm-charts/support/enc-*.secret.values.yaml`, added before
  every cluster's support files (hubfleet.yaml `support_chart_values_files`);
- `chart_override` on a daskhub hub: basehub's replacement Chart.yaml, basehub rebuilt
  with it inside daskhub's build (in the chart cache, never the working tree);
- `domain_override_file` applied: the hub's jsonnet gets its domain, a secret when
  the file is encrypted;
- dependencies named `@name`, looked up in the fleet's `helm-charts/repositories.yaml`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import AGE_KEY, SECRET_MARKER, CliResult
from tests.fakes import install_fakes
from tests.helpers import copy_layout
from tests.secretscan import decrypted_leaves, find_secrets, scan_tree, snapshot

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.helm.charts import jupyterhub_values_key
from hubfleet.release.pipeline import hub_release, support_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.sops import Sops

CHART_SECRET = "helm-charts/support/enc-support.secret.values.yaml"
CHART_SECRET_VALUE = "support-chart-cryptnono-s3cr3t"
DOMAIN_FILE = "config/clusters/conventions/enc-private-domain.secret.yaml"
PRIVATE_DOMAIN = "private-s3cr3t.example.org"
DASK_OVERRIDE = "config/clusters/conventions/dask-override-chart.yaml"
NAMED_REPO_CHART = "config/clusters/conventions/named-repo-chart.yaml"


@pytest.fixture
def charted(tmp_path: Path, real_dask_chart_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixture fleet, the test age key, the real charts in the cache."""
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEY))
    return copy_layout(tmp_path)


def _ingress_hosts(manifests: str) -> list[str]:
    hosts = []
    for doc in yaml.safe_load_all(manifests):
        if isinstance(doc, dict) and doc.get("kind") == "Ingress":
            hosts += [rule.get("host") for rule in doc["spec"]["rules"]]
    return hosts


def _manifest(manifests: str, kind: str, name: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all(manifests):
        if isinstance(doc, dict) and doc.get("kind") == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name} in the render")


# ------------------------------------------------------------ support chart's own files


def test_every_support_release_gets_the_charts_own_files_first(layout: Path) -> None:
    fleet = load_fleet(layout).fleet_or_raise()
    for cluster in fleet.clusters:
        release = support_release(fleet, cluster)
        assert release is not None
        cluster_files = tuple(cluster.path(p) for p in ("support.values.yaml",))
        # The layout's deployer's order: the chart's own encrypted files, the chart's
        # values.jsonnet, then the cluster's files (which win).
        assert release.values_files[:2] == (CHART_SECRET, "helm-charts/support/values.jsonnet")
        assert release.values_files[2:3] == cluster_files
    # A fleet setting: [] turns it off; names and globs keep the order written.
    (layout / "helm-charts/support/enc-cryptnono.secret.values.yaml").write_bytes(
        (layout / CHART_SECRET).read_bytes()
    )
    (layout / "hubfleet.yaml").write_text("support_chart_values_files: []\n")
    off = load_fleet(layout).fleet_or_raise()
    assert all(CHART_SECRET not in c.support.values_files for c in off.clusters if c.support)
    (layout / "hubfleet.yaml").write_text(
        "support_chart_values_files: [enc-support.secret.values.yaml, 'enc-*.secret.values.yaml']\n"
    )
    ordered = load_fleet(layout).fleet_or_raise().cluster("conventions").support
    assert ordered is not None
    assert ordered.chart_values_files == (
        CHART_SECRET,
        "helm-charts/support/enc-cryptnono.secret.values.yaml",
    )


def test_a_path_in_the_setting_is_refused_at_its_line(layout: Path) -> None:
    (layout / "hubfleet.yaml").write_text(
        "support_chart_values_files:\n  - ../../config/clusters/gcp-one/enc-staging.secret.values.yaml\n"
    )
    problems = load_fleet(layout).problems
    assert [(p.path, p.line) for p in problems] == [("hubfleet.yaml", 1)], problems
    assert "not a file name or glob" in problems[0].message


def test_the_charts_secret_file_is_decrypted_in_memory_and_rendered_masked(
    run_cli: Any, charted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(charted)
    result: CliResult = run_cli("--repo", charted, "render", "conventions", "support")
    assert result.exit_code == 0, result.output
    secret = _manifest(result.stdout, "Secret", "support-chart-secrets")
    assert secret["stringData"]["cryptnono"].startswith("[MASKED hmac:")  # its effect
    # The cluster's own file still wins over the chart's (retention: 30d, not 15d).
    settings = _manifest(result.stdout, "ConfigMap", "support-settings")
    assert settings["data"]["retention"] == "30d"
    secrets = decrypted_leaves(charted, AGE_KEY)
    assert CHART_SECRET_VALUE in secrets
    assert find_secrets(result.output.encode(), secrets) == []
    assert scan_tree(charted, secrets, since=before) == []  # nothing decrypted on disk
    # Without a key: the chart's file as placeholders, rendered all the same.
    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    keyless: CliResult = run_cli("--repo", charted, "render", "conventions", "support")
    assert keyless.exit_code == 0, keyless.output
    masked = _manifest(keyless.stdout, "Secret", "support-chart-secrets")["stringData"]
    assert masked["cryptnono"].startswith("[MASKED hmac:")


def test_the_charts_secret_file_and_the_override_reach_helm_nothing_on_disk(
    run_cli: Any, charted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fakes = install_fakes(tmp_path)
    monkeypatch.setenv("PATH", fakes.path)
    before = snapshot(tmp_path)
    result: CliResult = run_cli(
        "--repo", charted, "deploy", "conventions", "--progress", "plain", "--no-health-check"
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    upgrades = [c for c in fakes.calls("helm") if c["argv"][:1] == ["upgrade"]]
    support = next(c for c in upgrades if c["argv"][c["argv"].index("--") + 1] == "support")
    first = support["values"][0]
    assert first["kind"] == "fifo" and first["path"].startswith("/dev/fd/")
    assert yaml.safe_load(first["content"]) == {"chartSecrets": {"cryptnono": CHART_SECRET_VALUE}}
    # The daskhub hub's chart_override reaches helm too: its basehub is the replacement.
    dask = next(c for c in upgrades if c["argv"][c["argv"].index("--") + 1] == "dask-override")
    chart = Path(dask["argv"][dask["argv"].index("--") + 2])
    assert not chart.is_relative_to(charted)  # built in the chart cache
    inner = yaml.safe_load((chart / "charts/basehub/Chart.yaml").read_text())
    assert inner["dependencies"][0]["version"] == "4.3.3"
    assert SECRET_MARKER not in result.output
    instruments = (fakes.record_dir, fakes.script_path, fakes.script_path.with_suffix(".marshal"))
    leaks = [
        hit
        for hit in scan_tree(tmp_path, {CHART_SECRET_VALUE, PRIVATE_DOMAIN}, since=before)
        if not any(Path(hit.where).is_relative_to(i) for i in instruments)
    ]
    assert leaks == []


def test_a_change_to_the_charts_secret_file_redeploys_every_support(
    run_cli: Any, layout: Path, tmp_path: Path
) -> None:
    changed = tmp_path / "changed.txt"
    changed.write_text(f"{CHART_SECRET}\n")
    result: CliResult = run_cli("--repo", layout, "plan", "--changed-files", changed, "-o", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    clusters = sorted(p.parent.name for p in layout.glob("config/clusters/*/cluster.yaml"))
    assert sorted(job["cluster_name"] for job in plan["support_jobs"]) == clusters
    assert plan["staging_jobs"] == plan["prod_jobs"] == []
    assert all(CHART_SECRET in " ".join(job["reasons"]) for job in plan["support_jobs"])


def test_a_plaintext_charts_secret_file_is_refused_by_validate(run_cli: Any, layout: Path) -> None:
    plain = layout / "helm-charts/support/enc-leak.secret.values.yaml"
    plain.write_text("chartSecrets:\n  cryptnono: plaintext-s3cr3t\n")
    result: CliResult = run_cli("--repo", layout, "validate", "conventions", "--no-render")
    assert result.exit_code == 2, result.output
    assert "helm-charts/support/enc-leak.secret.values.yaml:1:" in result.output
    assert "not sops-encrypted" in result.output
    assert "plaintext-s3cr3t" not in result.output


def test_a_charts_secret_file_linking_out_of_the_repository_is_refused(
    run_cli: Any, layout: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("chartSecrets:\n  cryptnono: outside-s3cr3t\n")
    (layout / "helm-charts/support/enc-outside.secret.values.yaml").symlink_to(outside)
    result: CliResult = run_cli("--repo", layout, "validate", "conventions", "--no-render")
    assert result.exit_code == 2, result.output
    assert "helm-charts/support/enc-outside.secret.values.yaml" in result.output
    assert "outside-s3cr3t" not in result.output and "Traceback" not in result.output


# ------------------------------------------------------------ chart_override on daskhub


def test_a_daskhub_chart_override_replaces_the_basehub_it_wraps(
    run_cli: Any, charted: Path, real_dask_chart_cache: Path
) -> None:
    before = snapshot(charted)
    fleet = load_fleet(charted).fleet_or_raise()
    source = fleet.hub_chart_source(fleet.cluster("conventions").hub("dask-override"))
    assert source.chart_yaml == charted / DASK_OVERRIDE
    assert jupyterhub_values_key(source) == "basehub.jupyterhub"  # still daskhub's nesting

    result: CliResult = run_cli("--repo", charted, "render", "conventions", "dask-override")
    assert result.exit_code == 0, result.output
    charts = {line.split(":", 1)[1].strip() for line in result.stdout.splitlines()
              if "helm.sh/chart:" in line}  # fmt: skip
    assert "jupyterhub-4.3.3" in charts and "jupyterhub-4.2.0" not in charts  # the override's
    assert any(c.startswith("dask-gateway-") for c in charts)  # daskhub's own dependency
    plain: CliResult = run_cli("--repo", charted, "render", "gcp-one", "dask-prod")
    assert "helm.sh/chart: jupyterhub-4.2.0" in plain.stdout  # basehub as committed

    # Built in the chart cache: daskhub as it is, basehub inside it with the override.
    builds = [p.parent for p in real_dask_chart_cache.glob("built/daskhub-*/Chart.yaml")]
    inner = [b / "charts/basehub/Chart.yaml" for b in builds]
    assert sorted(yaml.safe_load(p.read_text())["dependencies"][0]["version"] for p in inner) == [
        "4.2.0",
        "4.3.3",
    ]
    for build in builds:
        assert (build / "Chart.yaml").read_bytes() == (
            charted / "helm-charts/daskhub/Chart.yaml"
        ).read_bytes()
    assert snapshot(charted) == before  # nothing built in the working tree


# ------------------------------------------------------------ domain_override_file


def test_an_encrypted_domain_override_is_the_hubs_domain_and_a_secret(
    charted: Path,
) -> None:
    fleet = load_fleet(charted).fleet_or_raise()
    release = hub_release(fleet, fleet.cluster("conventions").hub("private-domain"))
    assert release.domain_file == DOMAIN_FILE
    redactor = Redactor()
    values = ReleaseValues(fleet, sops=Sops(redactor, cwd=fleet.root))
    assert values.domain(release) == PRIVATE_DOMAIN
    merged = values.merged(release)
    assert merged["jupyterhub"]["ingress"]["hosts"] == [PRIVATE_DOMAIN]  # jsonnet's HUB_DOMAIN
    assert PRIVATE_DOMAIN not in redactor.scrub(f"see https://{PRIVATE_DOMAIN}/hub")
    # Without a key: its placeholder, never cluster.yaml's domain in its place.
    placeholders = ReleaseValues(fleet, sops=None).merged(release)
    assert placeholders["jupyterhub"]["ingress"]["hosts"] == ["<secret:domain>"]
    # A hub without an override keeps cluster.yaml's.
    other = hub_release(fleet, fleet.cluster("conventions").hub("named-repo"))
    assert values.domain(other) is None


def test_render_applies_the_domain_override_redacted_or_plain(run_cli: Any, charted: Path) -> None:
    before = snapshot(charted)
    secret: CliResult = run_cli("--repo", charted, "render", "conventions", "private-domain")
    assert secret.exit_code == 0, secret.output
    assert _ingress_hosts(secret.stdout) == ["[REDACTED]"]
    assert find_secrets(secret.output.encode(), [PRIVATE_DOMAIN]) == []
    assert scan_tree(charted, [PRIVATE_DOMAIN], since=before) == []

    # A plaintext override file is no secret: its domain is shown as it is.
    override = charted / DOMAIN_FILE
    override.unlink()
    plain_file = override.with_name("private-domain.domain.yaml")
    plain_file.write_text("domain: public.example.org\n")
    cluster_yaml = charted / "config/clusters/conventions/cluster.yaml"
    cluster_yaml.write_text(cluster_yaml.read_text().replace(override.name, plain_file.name))
    plain: CliResult = run_cli("--repo", charted, "render", "conventions", "private-domain")
    assert plain.exit_code == 0, plain.output
    assert _ingress_hosts(plain.stdout) == ["public.example.org"]

    plain_file.write_text("domain: Not A Domain\n")
    bad: CliResult = run_cli("--repo", charted, "render", "conventions", "private-domain")
    assert bad.exit_code == 2, bad.output
    assert f"config/clusters/conventions/{plain_file.name}:1:" in bad.output
    assert "not a domain name" in bad.output and "Traceback" not in bad.output
    plain_file.write_text("host: public.example.org\n")
    missing: CliResult = run_cli("--repo", charted, "render", "conventions", "private-domain")
    assert missing.exit_code == 2, missing.output
    assert "under `domain:`" in missing.output


def test_export_applies_the_domain_override_and_never_writes_it_unasked(
    run_cli: Any, charted: Path, tmp_path: Path
) -> None:
    refused: CliResult = run_cli(
        "--repo", charted, "export", "conventions", "private-domain", tmp_path / "a"
    )  # fmt: skip
    assert refused.exit_code == 2, refused.output
    assert f"encrypted {DOMAIN_FILE}" in refused.output and "--decrypt" in refused.output
    assert scan_tree(tmp_path, [PRIVATE_DOMAIN]) == []

    decrypted = tmp_path / "b"
    result: CliResult = run_cli(
        "--repo", charted, "export", "conventions", "private-domain", decrypted,
        "--decrypt", "--i-understand-plaintext", "--verify",
    )  # fmt: skip
    assert result.exit_code == 0, result.output  # the round trip renders what hubfleet does
    evaluated = json.loads((decrypted / "values/01-values.json").read_text())
    assert evaluated["jupyterhub"]["ingress"]["hosts"] == [PRIVATE_DOMAIN]
    assert (decrypted / "values/01-values.json").stat().st_mode & 0o077 == 0
    assert PRIVATE_DOMAIN not in result.output


# ------------------------------------------------------------ @name dependencies


def test_an_at_name_dependency_is_resolved_through_the_repositories_file(
    run_cli: Any, charted: Path
) -> None:
    result: CliResult = run_cli("--repo", charted, "render", "conventions", "named-repo")
    assert result.exit_code == 0, result.output
    assert "helm.sh/chart: jupyterhub-4.3.3" in result.stdout  # from hub.jupyter.org's cache


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("unknown", "no repository named 'jupyterhb' in helm-charts/repositories.yaml"),
        ("no-file", "no repositories file helm-charts/repositories.yaml"),
        ("moved", None),  # helm_repositories_file names where it is
    ],
)
def test_an_unknown_repository_name_is_an_error_at_the_dependency(
    run_cli: Any, charted: Path, change: str, message: str | None
) -> None:
    chart = charted / NAMED_REPO_CHART
    if change == "unknown":
        chart.write_text(chart.read_text().replace('"@jupyterhub"', '"@jupyterhb"'))
    else:
        moved = charted / "config/helm-repositories.yaml"
        (charted / "helm-charts/repositories.yaml").rename(moved)
        if change == "moved":
            (charted / "hubfleet.yaml").write_text(
                "helm_repositories_file: config/helm-repositories.yaml\n"
            )
    result: CliResult = run_cli("--repo", charted, "render", "conventions", "named-repo")
    if message is None:
        assert result.exit_code == 0, result.output
        assert "helm.sh/chart: jupyterhub-4.3.3" in result.stdout
        return
    assert result.exit_code == 2, result.output
    line = chart.read_text().splitlines().index("  - name: jupyterhub") + 1
    assert f"{NAMED_REPO_CHART}:{line}:" in result.output
    assert message in result.output
    assert "Traceback" not in result.output
    if change == "unknown":
        assert "did you mean 'jupyterhub'?" in result.output


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("repositories:\n  jupyterhub: https://x.org/\n", 1, "a list of `name:` and `url:`"),
        ("repositories:\n  - name: jupyterhub\n", 2, "needs `name:` and `url:`"),
        (
            "repositories:\n  - name: jupyterhub\n    url: file:///etc/\n",
            2,
            "is not an https:// URL",
        ),
        (
            "repositories:\n  - {name: jupyterhub, url: 'https://a.org/'}\n"
            "  - {name: jupyterhub, url: 'https://b.org/'}\n",
            3,
            "listed twice",
        ),
        ("repositories: [\n", 2, "YAML syntax error"),
    ],
)
def test_a_broken_repositories_file_is_an_error_at_its_line(
    run_cli: Any, layout: Path, content: str, line: int, message: str
) -> None:
    (layout / "helm-charts/repositories.yaml").write_text(content)
    result: CliResult = run_cli("--repo", layout, "render", "conventions", "named-repo")
    assert result.exit_code == 2, result.output
    assert f"helm-charts/repositories.yaml:{line}:" in result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_repositories_file_linking_out_of_the_repository_is_not_read(
    run_cli: Any, layout: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("repositories:\n  - name: jupyterhub\n    url: https://evil.example/\n")
    target = layout / "helm-charts/repositories.yaml"
    target.unlink()
    target.symlink_to(outside)
    result: CliResult = run_cli("--repo", layout, "render", "conventions", "named-repo")
    assert result.exit_code == 2, result.output
    assert "helm-charts/repositories.yaml" in result.output
    assert "evil.example" not in result.output and "Traceback" not in result.output
