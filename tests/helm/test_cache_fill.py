"""The chart cache names every miss at once, and `hubfleet charts pull` fills it
(issue 24, point 6): from a folder of archives (offline), each checked, and from a
chart repository served on 127.0.0.1.

The fleet: a copy of the layout2i2c fixture, whose charts need three real archives
(z2jh 4.2.0 for basehub, 4.3.3 for aws-two/lis's chart_override, dask-gateway for
daskhub), its support chart given two more dependencies (small charts made here):
five archives, none in the chart cache at first.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import shutil
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import AGE_KEY, SHARED_CHARTS, CliResult
from tests.helpers import copy_layout

from hubfleet.base.errors import ChartError
from hubfleet.config.charts import ChartSource
from hubfleet.helm.cache_fill import check_archive
from hubfleet.helm.charts import ChartResolver, ChartsMissing

EXTRA_REPO = "https://charts.example.org/stable/"
REAL = ("jupyterhub-4.2.0.tgz", "jupyterhub-4.3.3.tgz", "dask-gateway-2026.3.0.tgz")
EXTRA = ("alpha-0.1.0.tgz", "beta-1.2.3.tgz")
PLACES = {
    "jupyterhub-4.2.0.tgz": "hub.jupyter.org_helm-chart",
    "jupyterhub-4.3.3.tgz": "hub.jupyter.org_helm-chart",
    "dask-gateway-2026.3.0.tgz": "helm.dask.org",
    "alpha-0.1.0.tgz": "charts.example.org_stable",
    "beta-1.2.3.tgz": "charts.example.org_stable",
}


def chart_archive(
    name: str, version: str, *, top: str | None = None, extra: list[tarfile.TarInfo] = ()
) -> bytes:
    """A packaged chart (gzip tar, `<name>/...`) holding a ConfigMap template."""
    files = {
        "Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: {version}\n",
        "values.yaml": "greeting: hello\n",
        "templates/cm.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Chart.Name }}\n"
            "data:\n  greeting: {{ .Values.greeting | quote }}\n"
        ),
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for relative, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top or name}/{relative}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra:
            archive.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return out.getvalue()


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if not all((SHARED_CHARTS / name).is_file() for name in REAL):
        pytest.skip(f"the real charts are not in {SHARED_CHARTS}")
    root = copy_layout(tmp_path)
    chart_yaml = root / "helm-charts/support/Chart.yaml"
    chart_yaml.write_text(
        chart_yaml.read_text()
        + "dependencies:\n"
        + "".join(
            f"  - name: {n}\n    version: {v}\n    repository: {EXTRA_REPO}\n"
            for n, v in (("alpha", "0.1.0"), ("beta", "1.2.3"))
        )
    )
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEY))
    return root


@pytest.fixture
def archives(tmp_path: Path) -> Path:
    """A folder of the five archives, as offline CI would keep them."""
    folder = tmp_path / "archives"
    folder.mkdir()
    for name in REAL:
        shutil.copyfile(SHARED_CHARTS / name, folder / name)
    (folder / "alpha-0.1.0.tgz").write_bytes(chart_archive("alpha", "0.1.0"))
    (folder / "beta-1.2.3.tgz").write_bytes(chart_archive("beta", "1.2.3"))
    (folder / "README.md").write_text("not an archive: left alone\n")
    return folder


def test_validate_names_all_five_missing_archives_in_one_run_then_pull_from_fills_them(
    run_cli: Any, fleet: Path, archives: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "empty-cache"
    result: CliResult = run_cli("--repo", fleet, "validate", "--output", "json")
    problems = json.loads(result.stdout)["problems"]
    [missing] = [p for p in problems if "chart archives missing from" in p["message"]]
    assert missing["message"].startswith("5 chart archives missing from the chart cache: ")
    assert missing["message"].count("(put at ") == 5
    for name in (*REAL, *EXTRA):  # each named, with where it goes
        assert f"(put at {cache / PLACES[name] / name})" in missing["message"], name
    assert "hubfleet charts pull" in missing["hint"]
    assert len(problems) == 1  # one run, one problem: not one archive per run

    pulled: CliResult = run_cli("--repo", fleet, "charts", "pull", "--from", archives)
    assert pulled.exit_code == 0, pulled.output
    for name in (*REAL, *EXTRA):
        placed = cache / PLACES[name] / name
        assert placed.read_bytes() == (archives / name).read_bytes()
        assert f"placed {name.removesuffix('.tgz').rsplit('-', 1)[0]}" in pulled.stdout
    assert "5 archive(s) placed" in pulled.stdout

    checked: CliResult = run_cli("--repo", fleet, "validate", "--output", "json")
    assert checked.exit_code == 0, checked.output
    data = json.loads(checked.stdout)
    assert data["problems"] == [] and len(data["rendered"]) == 17
    again: CliResult = run_cli("--repo", fleet, "charts", "pull", "--from", archives)
    assert again.exit_code == 0 and "0 archive(s) placed" in again.stdout


def test_pull_from_a_folder_lacking_some_names_what_is_still_missing(
    run_cli: Any, fleet: Path, archives: Path
) -> None:
    (archives / "beta-1.2.3.tgz").unlink()
    (archives / "dask-gateway-2026.3.0.tgz").unlink()
    result: CliResult = run_cli("--repo", fleet, "charts", "pull", "--from", archives, "-o", "json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert sorted(m["name"] for m in data["missing"]) == ["beta", "dask-gateway"]
    assert sorted(p["name"] for p in data["placed"]) == ["alpha", "jupyterhub", "jupyterhub"]
    beta = next(m for m in data["missing"] if m["name"] == "beta")
    assert beta["needed_by"].startswith("helm-charts/support/Chart.yaml:")


def hostile(name: str, **info: Any) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    for key, value in info.items():
        setattr(member, key, value)
    return member


@pytest.mark.parametrize(
    ("archive", "why"),
    [
        (chart_archive("alpha", "0.1.0", extra=[hostile("alpha/../../evil", size=1)]), "outside"),
        (chart_archive("alpha", "0.1.0", extra=[hostile("/etc/evil", size=1)]), "outside"),
        (
            chart_archive(
                "alpha", "0.1.0", extra=[hostile("alpha/l", type=tarfile.SYMTYPE, linkname="/etc")]
            ),
            "a link",
        ),
        (
            chart_archive(
                "alpha", "0.1.0", extra=[hostile("alpha/h", type=tarfile.LNKTYPE, linkname="x")]
            ),
            "a link",
        ),
        (chart_archive("alpha", "0.2.0"), "says alpha 0.2.0, but the file is named"),
        (chart_archive("gamma", "0.1.0"), "says gamma 0.1.0"),
        (chart_archive("alpha", "0.1.0", top="other"), "is not its chart's name"),
        (chart_archive("alpha", "0.1.0", extra=[hostile("second/x", size=1)]), "one folder"),
        (b"not a tarball at all", "not a gzip tar"),
    ],
)
def test_a_hostile_or_wrong_archive_is_refused_and_never_placed(
    run_cli: Any, fleet: Path, archives: Path, tmp_path: Path, archive: bytes, why: str
) -> None:
    (archives / "alpha-0.1.0.tgz").write_bytes(archive)
    result: CliResult = run_cli("--repo", fleet, "charts", "pull", "--from", archives)
    assert result.exit_code == 2
    assert f"{archives / 'alpha-0.1.0.tgz'}: " in result.stderr
    assert why in result.stderr
    cache = tmp_path / "empty-cache"
    assert not (cache / PLACES["alpha-0.1.0.tgz"] / "alpha-0.1.0.tgz").exists()
    assert (cache / PLACES["beta-1.2.3.tgz"] / "beta-1.2.3.tgz").is_file()  # the rest placed
    assert not (tmp_path / "evil").exists()
    everything = [p.name for p in tmp_path.rglob("*")]
    assert "evil" not in everything


def test_a_link_in_the_folder_is_not_followed(
    run_cli: Any, fleet: Path, archives: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-alpha.tgz"
    outside.write_bytes(chart_archive("alpha", "0.1.0"))
    (archives / "alpha-0.1.0.tgz").unlink()
    (archives / "alpha-0.1.0.tgz").symlink_to(outside)
    result: CliResult = run_cli("--repo", fleet, "charts", "pull", "--from", archives)
    assert result.exit_code == 2
    assert "alpha-0.1.0.tgz: cannot open it" in result.stderr


def test_a_chart_build_names_every_missing_dependency_at_once(tmp_path: Path) -> None:
    chart = tmp_path / "fleet" / "helm-charts" / "many"
    chart.mkdir(parents=True)
    (tmp_path / "fleet" / "config" / "clusters").mkdir(parents=True)
    deps = "".join(
        f"  - name: dep{i}\n    version: 1.0.{i}\n    repository: {EXTRA_REPO}\n" for i in range(8)
    )
    (chart / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: many\nversion: 0.1.0\ndependencies:\n{deps}"
    )
    resolver = ChartResolver(
        cache_dir=tmp_path / "cache", allow_pull=False, root=tmp_path / "fleet"
    )
    with pytest.raises(ChartsMissing) as raised:
        resolver.resolve(ChartSource("many", local_dir=chart))
    misses = raised.value.misses
    assert sorted(m.name for m in misses) == [f"dep{i}" for i in range(8)]
    assert all(m.path == "helm-charts/many/Chart.yaml" for m in misses)
    assert sorted(m.line for m in misses) == [5 + 3 * i for i in range(8)]
    assert str(raised.value).startswith("helm-charts/many/Chart.yaml:5: 8 chart archives missing")


def test_check_archive_accepts_the_real_charts() -> None:
    if not (SHARED_CHARTS / REAL[2]).is_file():
        pytest.skip(f"the real charts are not in {SHARED_CHARTS}")
    found = check_archive(SHARED_CHARTS / REAL[2])
    assert (found.name, found.version) == ("dask-gateway", "2026.3.0")
    with pytest.raises(ChartError):
        check_archive(SHARED_CHARTS / "README.md")


# ------------------------------------------------------------ connected (127.0.0.1)


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[str]:
    """A chart repository on 127.0.0.1: an index.yaml and alpha's and beta's archives."""
    served = tmp_path / "served"
    served.mkdir()
    entries: dict[str, list[dict[str, Any]]] = {}
    for name, version in (("alpha", "0.1.0"), ("beta", "1.2.3")):
        data = chart_archive(name, version)
        (served / f"{name}-{version}.tgz").write_bytes(data)
        entries[name] = [
            {"apiVersion": "v2", "name": name, "version": version,
             "urls": [f"{name}-{version}.tgz"], "digest": hashlib.sha256(data).hexdigest(),
             "created": "2026-01-01T00:00:00Z"}
        ]  # fmt: skip
    index = {"apiVersion": "v1", "entries": entries, "generated": "2026-01-01T00:00:00Z"}
    (served / "index.yaml").write_text(yaml.safe_dump(index))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_charts_pull_pulls_from_a_repository(
    run_cli: Any, tmp_path: Path, repository: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "fleet"
    (root / "config" / "clusters" / "one").mkdir(parents=True)
    (root / "hubfleet.yaml").write_text(
        f"charts:\n  alpha:\n    repository: {repository}\n    version: 0.1.0\n"
    )
    (root / "helm-charts" / "wrap").mkdir(parents=True)
    (root / "helm-charts" / "wrap" / "Chart.yaml").write_text(
        "apiVersion: v2\nname: wrap\nversion: 0.1.0\ndependencies:\n"
        f"  - name: beta\n    version: 1.2.3\n    repository: {repository}\n"
    )
    (root / "config" / "clusters" / "one" / "cluster.yaml").write_text(
        "name: one\nprovider: local\nhubs:\n"
        "  - name: a\n    domain: a.example.org\n    helm_chart: alpha\n"
        "    helm_chart_values_files: []\n"
        "  - name: b\n    domain: b.example.org\n    helm_chart: wrap\n"
        "    helm_chart_values_files: []\n"
    )
    cache = tmp_path / "cache"
    monkeypatch.setenv("HUBFLEET_CHART_CACHE", str(cache))
    result: CliResult = run_cli("--repo", root, "charts", "pull", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    folder = cache / f"127.0.0.1_{repository.rsplit(':', 1)[1].strip('/')}"
    assert sorted((p["name"], p["source"]) for p in data["placed"]) == [
        ("alpha", "pulled"),
        ("beta", "pulled"),
    ]
    assert (folder / "alpha-0.1.0.tgz").is_file() and (folder / "beta-1.2.3.tgz").is_file()
