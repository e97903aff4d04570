"""Charts as real fleets keep them: uncommitted dependencies built in the chart cache,
`file://` charts, a chart_override Chart.yaml, values.schema.yaml, one pull per run,
broken Chart.yaml files at their line, and no Helm library noise on stderr.

The fixture fleet here has the shape of the largest public multi-hub repository:
`basehub` depends on the real z2jh (`jupyterhub 4.2.x`, never committed), `daskhub`
on `basehub` through `file://../basehub` and on the real dask-gateway.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.conftest import AGE_KEY, SHARED_CHARTS, public_key
from tests.fakes import install_fakes
from tests.helpers import hubfleet, silent_server

from hubfleet.base.errors import ChartError, ConfigError
from hubfleet.config.charts import ChartSource
from hubfleet.helm.charts import BUILT_DIR, ChartResolver, resolve_chart
from hubfleet.helm.engine import render
from hubfleet.secrets.sops import encrypt

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

Z2JH = "https://hub.jupyter.org/helm-chart/"
DASK = "https://helm.dask.org/"
CLUSTER = "config/clusters/c1"


# ------------------------------------------------------------------ the fixture fleet


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_layout_fleet(root: Path) -> Path:
    """basehub (z2jh 4.2.x, values.schema.yaml), daskhub (file://../basehub, dask-gateway)."""
    _write(
        root / "helm-charts/basehub/Chart.yaml",
        "apiVersion: v2\nname: basehub\nversion: 0.1.0\ndependencies:\n"
        f"  - name: jupyterhub\n    version: 4.2.x\n    repository: {Z2JH}\n",
    )
    _write(root / "helm-charts/basehub/values.yaml", "nfs:\n  enabled: false\njupyterhub: {}\n")
    _write(
        root / "helm-charts/basehub/values.schema.yaml",
        "$schema: http://json-schema.org/draft-07/schema#\ntype: object\nproperties:\n"
        "  nfs:\n    type: object\n    additionalProperties: false\n"
        "    properties:\n      enabled:\n        type: boolean\n",
    )
    _write(
        root / "helm-charts/basehub/templates/nfs.yaml",
        "{{- if .Values.nfs.enabled }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: {{ .Release.Name }}-nfs\ndata:\n  chart: {{ .Chart.Version | quote }}\n"
        "{{- end }}\n",
    )
    _write(
        root / "helm-charts/daskhub/Chart.yaml",
        "apiVersion: v2\nname: daskhub\nversion: 0.1.0\ndependencies:\n"
        "  - name: basehub\n    version: 0.1.0\n    repository: file://../basehub\n"
        f"  - name: dask-gateway\n    version: '>=2026.1.0'\n    repository: {DASK}\n"
        "    condition: dask-gateway.enabled\n",
    )
    _write(
        root / "helm-charts/daskhub/values.yaml", "basehub: {}\ndask-gateway:\n  enabled: true\n"
    )
    _write(
        root / f"{CLUSTER}/cluster.yaml",
        "name: c1\nprovider: local\nlocal:\n  base_port: 18950\nhubs:\n"
        "- name: staging\n  domain: staging.c1.example.org\n  helm_chart: basehub\n"
        "  helm_chart_values_files:\n  - staging.values.yaml\n"
        "- name: dask\n  domain: dask.c1.example.org\n  helm_chart: daskhub\n"
        "  helm_chart_values_files:\n  - dask.values.yaml\n",
    )
    _write(root / f"{CLUSTER}/staging.values.yaml", "nfs:\n  enabled: true\n")
    _write(root / f"{CLUSTER}/dask.values.yaml", "basehub:\n  nfs:\n    enabled: true\n")
    _write(root / ".gitignore", "charts/*.tgz\n")
    return root


@pytest.fixture
def layout_cache(real_chart_cache: Path) -> Path:
    """The real chart cache, with dask-gateway where a pull from helm.dask.org puts it."""
    archive = SHARED_CHARTS / "dask-gateway-2026.3.0.tgz"
    if not archive.is_file():
        pytest.skip(f"{archive} is absent")
    (real_chart_cache / "helm.dask.org").mkdir()
    shutil.copyfile(archive, real_chart_cache / "helm.dask.org" / archive.name)
    return real_chart_cache


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root with (size, mtime): what a command must leave as it is."""
    found: dict[str, tuple[int, int]] = {}
    for current, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(current, name)
            stat = path.lstat()
            found[path.relative_to(root).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return found


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for name in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "HUBFLEET_DEBUG"):
        env.pop(name, None)
    env.update(extra)
    return env


# ------------------------------------------------------------------ E: dependencies


def test_uncommitted_dependencies_are_built_in_the_cache(
    tmp_path: Path, layout_cache: Path
) -> None:
    fleet = make_layout_fleet(tmp_path / "fleet")
    before = listing(fleet)
    daskhub = ChartSource("daskhub", local_dir=fleet / "helm-charts/daskhub")
    basehub = ChartSource("basehub", local_dir=fleet / "helm-charts/basehub")

    started = time.monotonic()
    first = ChartResolver(root=fleet)
    built_dask, built_base = first.resolve(daskhub), first.resolve(basehub)
    first_run = time.monotonic() - started
    started = time.monotonic()
    second = ChartResolver(root=fleet)
    again_dask, again_base = second.resolve(daskhub), second.resolve(basehub)
    second_run = time.monotonic() - started
    print(f"\ndependency build: first run {first_run:.3f}s, second run {second_run:.3f}s")

    assert built_dask.parent == layout_cache / BUILT_DIR
    assert (again_dask, again_base) == (built_dask, built_base)  # the second run reuses them
    assert len(list((layout_cache / BUILT_DIR).iterdir())) == 2
    assert first.pull_attempts == second.pull_attempts == 0  # a seeded cache is offline
    # The range 4.2.x was resolved against the cache; basehub went in unpacked, its
    # values.schema.yaml made into values.schema.json.
    assert (built_base / "charts/jupyterhub-4.2.0.tgz").is_file()
    assert (built_dask / "charts/basehub/charts/jupyterhub-4.2.0.tgz").is_file()
    assert (built_dask / "charts/dask-gateway-2026.3.0.tgz").is_file()
    assert (built_dask / "charts/basehub/values.schema.json").is_file()

    base_manifests = render(built_base, {"nfs": {"enabled": True}}, release="s", namespace="s")
    assert "basehub/templates/nfs.yaml" in base_manifests
    assert any(name.startswith("basehub/charts/jupyterhub/") for name in base_manifests)
    dask_manifests = render(built_dask, {}, release="d", namespace="d")
    assert any("charts/basehub/charts/jupyterhub/" in name for name in dask_manifests)
    assert any("charts/dask-gateway/" in name for name in dask_manifests)
    assert listing(fleet) == before  # nothing written in the working tree


def test_validate_and_render_build_once_and_write_nothing_in_the_fleet(
    tmp_path: Path, layout_cache: Path
) -> None:
    fleet = make_layout_fleet(tmp_path / "fleet")
    before = listing(fleet)
    env = child_env(HUBFLEET_CHART_CACHE=str(layout_cache))
    times = []
    for _ in range(2):
        started = time.monotonic()
        result = hubfleet("--repo", fleet, "validate", env=env)
        times.append(time.monotonic() - started)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2 release(s) rendered" in result.stderr
    print(f"\nvalidate (2 releases): first {times[0]:.2f}s, second {times[1]:.2f}s")
    rendered = hubfleet("--repo", fleet, "render", "c1", "dask", env=env)
    assert rendered.returncode == 0, rendered.stderr
    assert "# Source: daskhub/charts/basehub/templates/nfs.yaml" in rendered.stdout
    assert len(list((layout_cache / BUILT_DIR).iterdir())) == 2
    assert listing(fleet) == before


def test_a_change_to_a_file_dependency_is_a_new_build(tmp_path: Path, layout_cache: Path) -> None:
    fleet = make_layout_fleet(tmp_path / "fleet")
    daskhub = ChartSource("daskhub", local_dir=fleet / "helm-charts/daskhub")
    first = ChartResolver().resolve(daskhub)
    template = fleet / "helm-charts/basehub/templates/nfs.yaml"
    template.write_text(template.read_text().replace("-nfs", "-nfs-changed"))
    second = ChartResolver().resolve(daskhub)
    assert second != first
    manifests = render(second, {"basehub": {"nfs": {"enabled": True}}}, release="d", namespace="d")
    assert "name: d-nfs-changed" in manifests["daskhub/charts/basehub/templates/nfs.yaml"]


def test_a_range_nothing_satisfies_names_the_dependency_line(
    tmp_path: Path, layout_cache: Path
) -> None:
    fleet = make_layout_fleet(tmp_path / "fleet")
    chart = fleet / "helm-charts/basehub/Chart.yaml"
    chart.write_text(chart.read_text().replace("4.2.x", "~5.1.0"))
    with pytest.raises(ChartError) as caught:
        ChartResolver(root=fleet).resolve(
            ChartSource("basehub", local_dir=fleet / "helm-charts/basehub")
        )
    assert caught.value.path == "helm-charts/basehub/Chart.yaml"
    assert caught.value.line == 5
    assert "no version in Chart.lock or the chart cache satisfies" in caught.value.message


def test_chart_lock_picks_the_version_of_a_range(tmp_path: Path, layout_cache: Path) -> None:
    fleet = make_layout_fleet(tmp_path / "fleet")
    newer = SHARED_CHARTS / "jupyterhub-4.3.3.tgz"
    shutil.copyfile(newer, layout_cache / "hub.jupyter.org_helm-chart" / newer.name)
    chart = fleet / "helm-charts/basehub/Chart.yaml"
    chart.write_text(chart.read_text().replace("4.2.x", "'>=4.0.0'"))
    source = ChartSource("basehub", local_dir=fleet / "helm-charts/basehub")
    assert (ChartResolver().resolve(source) / "charts/jupyterhub-4.3.3.tgz").is_file()
    (fleet / "helm-charts/basehub/Chart.lock").write_text(
        f"dependencies:\n- name: jupyterhub\n  repository: {Z2JH}\n  version: 4.2.0\n"
    )
    assert (ChartResolver().resolve(source) / "charts/jupyterhub-4.2.0.tgz").is_file()


# ------------------------------------------------------------------ F: values.schema.yaml


def test_values_schema_yaml_is_checked_at_the_values_file_line(
    tmp_path: Path, layout_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = make_layout_fleet(tmp_path / "fleet")
    (fleet / f"{CLUSTER}/dask.values.yaml").write_text(
        "basehub:\n  nfs:\n    enabled: true\n    bogus: 1\n"
    )
    # A key set by an encrypted file is reported at that file's line.
    _write(fleet / ".sops.yaml", f"creation_rules:\n- age: {public_key(AGE_KEY)}\n")
    secret = f"{CLUSTER}/enc-staging.secret.values.yaml"
    (fleet / secret).write_bytes(
        encrypt(
            b"nfs:\n  enabled: true\n  password: hunter2-s3cr3t\n",
            filename=secret,
            cwd=fleet,
            age_recipients=[public_key(AGE_KEY)],
        )
    )
    cluster = fleet / f"{CLUSTER}/cluster.yaml"
    cluster.write_text(
        cluster.read_text().replace(
            "  - staging.values.yaml\n",
            "  - staging.values.yaml\n  - enc-staging.secret.values.yaml\n",
        )
    )
    line = next(
        number
        for number, text in enumerate((fleet / secret).read_text().splitlines(), start=1)
        if text.strip().startswith("password:")
    )
    for key in (None, AGE_KEY):  # without a key (placeholders) and with it (decrypted)
        env = child_env(HUBFLEET_CHART_CACHE=str(layout_cache))
        if key is not None:
            env["SOPS_AGE_KEY_FILE"] = str(key)
        result = hubfleet("--repo", fleet, "validate", env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert (
            f"{CLUSTER}/dask.values.yaml:4: basehub.nfs.bogus: unknown key (not in the chart's "
            "schema)" in result.stdout
        )
        assert f"{secret}:{line}: nfs.password: unknown key" in result.stdout
        assert "hunter2" not in result.stdout + result.stderr


def test_the_build_carries_values_schema_json_for_plain_helm(
    tmp_path: Path, layout_cache: Path
) -> None:
    fleet = make_layout_fleet(tmp_path / "fleet")
    built = resolve_chart(ChartSource("basehub", local_dir=fleet / "helm-charts/basehub"))
    schema = yaml.safe_load((built / "values.schema.json").read_text())
    assert schema["properties"]["nfs"]["additionalProperties"] is False
    assert not (fleet / "helm-charts/basehub/values.schema.json").exists()


# ------------------------------------------------------------------ D: chart_override


def _override_fleet(fleet_copy: Path, written: str, where: Path) -> str:
    """delta/prod's chart_override: a replacement Chart.yaml for testhub (version 0.9.0)."""
    chart = (fleet_copy / "helm-charts/testhub/Chart.yaml").read_text()
    _write(where, chart.replace("\nversion: 0.1.0", "\nversion: 0.9.0", 1))
    cluster = fleet_copy / "config/clusters/delta/cluster.yaml"
    cluster.write_text(
        cluster.read_text().replace(
            "chart_override: chart-override/testhub", f"chart_override: {written}"
        )
    )
    return where.read_text()


@pytest.mark.parametrize(
    ("written", "relative"),
    [
        ("lis-chart.yaml", "config/clusters/delta/lis-chart.yaml"),  # beside cluster.yaml
        ("overrides/lis-chart.yaml", "overrides/lis-chart.yaml"),  # with '/': repository root
    ],
)
def test_chart_override_file_is_a_chart_yaml_over_the_chart_folder(
    fleet_copy: Path,
    run_cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    written: str,
    relative: str,
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(cache))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEY))
    override = _override_fleet(fleet_copy, written, fleet_copy / relative)
    before = listing(fleet_copy)

    result = run_cli("--repo", fleet_copy, "validate", "delta", "prod")
    assert result.exit_code == 0, result.output
    assert "1 release(s) rendered" in result.stderr
    rendered = run_cli("--repo", fleet_copy, "render", "delta", "prod")
    assert rendered.exit_code == 0, rendered.output
    assert "helm.sh/chart: testhub-0.9.0" in rendered.stdout  # the override's version
    assert "kind: Deployment" in rendered.stdout  # the base folder's templates

    export = tmp_path / "export"
    exported = run_cli("--repo", fleet_copy, "export", "delta", "prod", export, "--verify")
    assert exported.exit_code == 0, exported.output
    assert (export / "chart/Chart.yaml").read_text() == override
    assert (export / "chart/templates/deployment.yaml").is_file()

    fakes = install_fakes(tmp_path)
    monkeypatch.setenv("PATH", fakes.path)
    # No hub answers behind the fakes: the check after the upgrade is not this test's.
    deployed = run_cli("--repo", fleet_copy, "deploy", "delta", "prod", "--no-health-check")
    assert deployed.exit_code == 0, deployed.output
    upgrades = [c for c in fakes.calls("helm") if c["argv"][:1] == ["upgrade"]]
    assert len(upgrades) == 1
    words = upgrades[0]["argv"]
    chart_arg = Path(words[words.index("--") + 2])  # upgrade [flags] -- RELEASE CHART
    assert chart_arg.parent == cache / BUILT_DIR
    assert (chart_arg / "Chart.yaml").read_text() == override
    assert listing(fleet_copy) == before


# ------------------------------------------------------------------ C: broken Chart.yaml


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("apiVersion: v2\nname: testhub\nversion: [0.1\n", 4, "YAML syntax error"),
        (
            "apiVersion: v2\nname: testhub\ndescription: no version\n",
            1,
            "Chart.yaml has no version",
        ),
    ],
)
def test_a_broken_local_chart_is_an_error_at_its_line(
    fleet_copy: Path,
    run_cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    line: int,
    message: str,
) -> None:
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEY))
    (fleet_copy / "helm-charts/testhub/Chart.yaml").write_text(text)
    where = f"helm-charts/testhub/Chart.yaml:{line}: {message}"
    validated = run_cli("--repo", fleet_copy, "validate", "local")
    assert validated.exit_code == 2, validated.output
    assert where in validated.stdout
    assert f"helm-charts/testhub/Chart.yaml:{line}: warning" not in validated.stdout
    for args in (
        ("render", "local", "prod1"),
        ("export", "local", "prod1", tmp_path / "export"),
    ):
        result = run_cli("--repo", fleet_copy, *args)
        assert result.exit_code == 2, result.output
        assert where in result.stderr
    assert not (tmp_path / "export").exists()

    fakes = install_fakes(tmp_path)
    monkeypatch.setenv("PATH", fakes.path)
    deployed = run_cli("--repo", fleet_copy, "deploy", "alpha", "prod2", "--dry-run")
    assert deployed.exit_code != 0
    assert where in deployed.output


def test_broken_chart_yaml_from_the_resolver(tmp_path: Path) -> None:
    _write(tmp_path / "c/Chart.yaml", "name: c\nversion: banana\n")
    with pytest.raises(ConfigError) as caught:
        ChartResolver(root=tmp_path).resolve(ChartSource("c", local_dir=tmp_path / "c"))
    rendered = sorted(p.render() for p in caught.value.problems)
    assert rendered[0].startswith("c/Chart.yaml:1: Chart.yaml has no apiVersion")
    assert rendered[1].startswith("c/Chart.yaml:2: Chart.yaml version 'banana' is not a semantic")


# ------------------------------------------------------------------ A: one pull per run


@pytest.fixture
def silent_repository() -> Iterator[tuple[str, list[socket.socket]]]:
    """A repository on 127.0.0.1 that accepts connections and never answers."""
    with silent_server() as (port, held):
        yield f"http://127.0.0.1:{port}/helm-chart/", held


def test_an_unanswering_repository_is_tried_once_per_run(
    tmp_path: Path, silent_repository: tuple[str, list[socket.socket]]
) -> None:
    url, held = silent_repository
    fleet = tmp_path / "fleet"
    shutil.copytree(Path(__file__).parents[2] / "examples" / "fleet", fleet, symlinks=False)
    settings = fleet / "hubfleet.yaml"
    settings.write_text(settings.read_text().replace(Z2JH, url))
    hubs = sorted(
        f"{path.parent.name}/{hub['name']}"
        for path in (fleet / "config/clusters").glob("*/cluster.yaml")
        for hub in yaml.safe_load(path.read_text())["hubs"]
        if hub.get("helm_chart", "jupyterhub") == "jupyterhub"
    )
    assert len(hubs) >= 5
    env = child_env(HUBFLEET_CHART_CACHE=str(tmp_path / "cache"), HUBFLEET_PULL_TIMEOUT="1")
    started = time.monotonic()
    result = hubfleet("--repo", fleet, "validate", env=env)
    elapsed = time.monotonic() - started
    print(f"\nunanswering repository: {len(held)} connection(s), validate {elapsed:.1f}s")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(held) == 1  # one pull attempt for the whole run
    lines = [line for line in result.stdout.splitlines() if "pull timed out" in line]
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith("hubfleet.yaml:")
    assert f"render skipped for {len(hubs)} releases: {', '.join(hubs)}" in lines[0]


# ------------------------------------------------------------------ B: library noise


def test_helm_library_logs_only_with_debug(tmp_path: Path, fleet_copy: Path) -> None:
    # A local chart reaches the library only as its build (no links in it): a chart
    # in the cache, where hubfleet does not look inside, still makes it log one.
    chart = tmp_path / "cache/example.org_charts/linked-0.1.0"
    shutil.copytree(fleet_copy / "helm-charts/testhub", chart)
    text = (chart / "Chart.yaml").read_text()
    (chart / "Chart.yaml").write_text(text.replace("name: testhub", "name: linked"))
    (chart / "real-values.yaml").write_text((chart / "values.yaml").read_text())
    (chart / "values.yaml").unlink()
    (chart / "values.yaml").symlink_to("real-values.yaml")
    settings = fleet_copy / "hubfleet.yaml"
    settings.write_text(
        settings.read_text()
        .replace("default_chart: testhub", "default_chart: linked")
        .replace(
            "charts:\n",
            "charts:\n  linked:\n    repository: https://example.org/charts\n    version: 0.1.0\n",
        )
    )
    env = child_env(HUBFLEET_CHART_CACHE=str(tmp_path / "cache"), SOPS_AGE_KEY_FILE=str(AGE_KEY))
    quiet = hubfleet("--repo", fleet_copy, "validate", "local", env=env)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "symbolic link" not in quiet.stderr + quiet.stdout
    assert "INFO" not in quiet.stderr
    assert "release(s) rendered" in quiet.stderr  # hubfleet's own stderr still comes through
    loud = hubfleet("--repo", fleet_copy, "--debug", "validate", "local", env=env)
    assert loud.returncode == 0, loud.stdout + loud.stderr
    assert "INFO found symbolic link in path" in loud.stderr


def test_a_file_dependency_cycle_is_an_error_not_a_hang(tmp_path: Path) -> None:
    for name, other in (("a", "b"), ("b", "a")):
        _write(
            tmp_path / name / "Chart.yaml",
            f"apiVersion: v2\nname: {name}\nversion: 0.1.0\ndependencies:\n"
            f"  - name: {other}\n    version: 0.1.0\n    repository: file://../{other}\n",
        )
    with pytest.raises(ConfigError, match="nested more than"):
        ChartResolver(cache_dir=tmp_path / "cache").resolve(
            ChartSource("a", local_dir=tmp_path / "a")
        )


def test_chart_override_written_for_another_chart_is_an_error_at_its_name(
    fleet_copy: Path,
    run_cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A replacement Chart.yaml naming another chart, one the chart does not wrap
    through a file:// dependency, would render the wrong chart: refused at its `name:`
    line (basehub's laid over daskhub, which wraps it, is tests/release's)."""
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEY))
    where = fleet_copy / "config/clusters/delta/lis-chart.yaml"
    _override_fleet(fleet_copy, "lis-chart.yaml", where)
    text = where.read_text()
    where.write_text(text.replace("\nname: testhub", "\nname: otherhub", 1))
    line = where.read_text().splitlines().index("name: otherhub") + 1
    for command in (["validate", "delta", "prod"], ["render", "delta", "prod"]):
        result = run_cli("--repo", fleet_copy, *command)
        assert result.exit_code == 2, result.output
        assert f"config/clusters/delta/lis-chart.yaml:{line}:" in result.output
        assert "chart_override names chart 'otherhub'" in result.output
        assert "Traceback" not in result.output
