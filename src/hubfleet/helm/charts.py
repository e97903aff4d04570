"""Chart resolution: a hub's `helm_chart` to a chart the engine can load.

A chart is either a local folder `<repo>/helm-charts/<name>/` (its dependencies
already in its `charts/` folder, as `helm dependency build` leaves them) or a
remote chart (`repository`: an https helm repository or an `oci://` reference,
and `version`), pulled once into the chart cache and read from there afterwards.

Cache layout: `<cache>/<sanitized repository>/<name>-<version>.tgz` (or the
expanded folder `<name>-<version>/`), where the cache is `$HUBFLEET_CHART_CACHE`
or `<user cache dir>/hubfleet/charts`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubfleet.errors import ChartError

CACHE_ENV = "HUBFLEET_CHART_CACHE"
DEFAULT_PULL_TIMEOUT = 20.0
_OK_DEPENDENCY_STATUSES = frozenset({"ok", "unpacked"})


@dataclass(frozen=True)
class ChartSource:
    """Where a chart comes from: a local folder, or a repository and a version."""

    name: str
    local_dir: Path | None = None
    repository: str | None = None
    version: str | None = None


def chart_cache_dir() -> Path:
    """The chart cache: `$HUBFLEET_CHART_CACHE`, else the user cache dir."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("hubfleet")) / "charts"


def sanitize_repository(repository: str) -> str:
    """A folder name for a repository URL: `https://hub.jupyter.org/helm-chart/`
    -> `hub.jupyter.org_helm-chart`; `oci://ghcr.io/org/charts` -> `oci_ghcr.io_org_charts`.
    """
    scheme, sep, rest = repository.partition("://")
    if not sep:
        scheme, rest = "", repository
    prefix = "oci_" if scheme.lower() == "oci" else ""
    cleaned = re.sub(r"[^A-Za-z0-9.-]+", "_", rest).strip("_.")
    return prefix + (cleaned or "repository")


def cached_chart_paths(source: ChartSource, cache_dir: Path | None = None) -> tuple[Path, Path]:
    """The two places a remote chart may sit in the cache: (archive, expanded folder)."""
    if not source.repository or not source.version:
        raise ChartError(f"chart {source.name!r} has no repository and version")
    base = (cache_dir or chart_cache_dir()) / sanitize_repository(source.repository)
    stem = f"{source.name}-{source.version}"
    return base / f"{stem}.tgz", base / stem


def resolve_chart(
    source: ChartSource,
    *,
    cache_dir: Path | None = None,
    allow_pull: bool = True,
    timeout: float = DEFAULT_PULL_TIMEOUT,
) -> Path:
    """A chart directory (or `.tgz`) for `source`; raises `ChartError`.

    Local: the folder, once it has a Chart.yaml and every declared dependency in
    `charts/`. Remote: the cached archive or folder, pulled first when absent
    (unless `allow_pull` is false), with a `timeout` in seconds.
    """
    if source.local_dir is not None:
        return _check_local(source)
    if not source.repository or not source.version:
        raise ChartError(
            f"chart {source.name!r} is neither a local chart folder nor a remote chart",
            hint=(
                f"add helm-charts/{source.name}/ to the repository, or an entry "
                f"{source.name!r} with `repository` and `version` under `charts:` in hubfleet.yaml"
            ),
        )
    archive, expanded = cached_chart_paths(source, cache_dir)
    if (expanded / "Chart.yaml").is_file():
        return expanded
    if archive.is_file():
        return archive
    seed_hint = (
        f"pre-seed the chart cache by placing the packaged chart at {archive} "
        f"(set {CACHE_ENV} to choose the cache folder)"
    )
    if not allow_pull:
        raise ChartError(
            f"chart {source.name} {source.version} from {source.repository} is not in the "
            "chart cache and pulling is disabled",
            hint=seed_hint,
        )
    _pull(source, archive, timeout=timeout, seed_hint=seed_hint)
    return archive


def _check_local(source: ChartSource) -> Path:
    folder = source.local_dir
    assert folder is not None
    if not folder.is_dir():
        raise ChartError(
            f"chart {source.name!r}: folder {folder} does not exist",
            hint="a hub's helm_chart names a folder under helm-charts/ or a chart in hubfleet.yaml",
        )
    if not (folder / "Chart.yaml").is_file():
        raise ChartError(f"chart {source.name!r}: {folder} has no Chart.yaml")
    import helm_python

    try:
        dependencies = helm_python.dependency_list(folder)
    except helm_python.HelmError as exc:
        raise ChartError(f"chart {source.name!r}: cannot read {folder}: {exc.detail}") from None
    broken = [
        f"{dep.get('name')} {dep.get('version')} ({dep.get('status')})"
        for dep in dependencies
        if dep.get("status") not in _OK_DEPENDENCY_STATUSES
    ]
    if broken:
        raise ChartError(
            f"chart {source.name!r}: dependencies not in {folder / 'charts'}: " + ", ".join(broken),
            hint=f"run `helm dependency build {folder}` and commit its charts/ folder",
        )
    return folder


def _pull(source: ChartSource, archive: Path, *, timeout: float, seed_hint: str) -> None:
    """Pull into a private folder beside the archive, then move it into place."""
    import helm_python

    assert source.repository is not None and source.version is not None
    archive.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".pull-", dir=archive.parent))
    kwargs: dict[str, Any] = {"destination": staging, "version": source.version}
    if source.repository.startswith("oci://"):
        reference = source.repository.rstrip("/")
        if not reference.endswith("/" + source.name):
            reference += "/" + source.name
    else:
        reference = source.name
        kwargs["repo_url"] = source.repository

    outcome: list[BaseException | None] = []
    lock = threading.Lock()
    abandoned = False

    def run() -> None:
        try:
            helm_python.pull(reference, **kwargs)
            result: BaseException | None = None
        except BaseException as exc:  # reported by the waiting thread
            result = exc
        with lock:
            if abandoned:  # the caller gave up: clean up behind it
                shutil.rmtree(staging, ignore_errors=True)
            else:
                outcome.append(result)

    worker = threading.Thread(target=run, name=f"hubfleet-pull-{source.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    where = f"chart {source.name} {source.version} from {source.repository}"
    with lock:
        if not outcome:
            # The native call cannot be interrupted: it finishes in the
            # background and removes its staging folder.
            abandoned = True
            raise ChartError(
                f"{where}: pull timed out after {timeout:g}s (repository unreachable?)",
                hint=seed_hint,
            )
    try:
        failure = outcome[0]
        if failure is not None:
            detail = getattr(failure, "detail", None) or str(failure)
            raise ChartError(f"{where}: cannot pull: {detail.strip()}", hint=seed_hint)
        pulled = sorted(staging.glob("*.tgz"))
        if not pulled:
            raise ChartError(f"{where}: pull produced no chart archive", hint=seed_hint)
        os.replace(pulled[0], archive)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


JUPYTERHUB_CHART = "jupyterhub"


def jupyterhub_values_key(source: ChartSource) -> str | None:
    """Where a hub chart's values for the JupyterHub chart (z2jh) sit: None at the top
    (the chart is z2jh itself, or hubfleet cannot tell), else the dotted key of the
    dependency that is, e.g. `jupyterhub` for a basehub-style wrapper and
    `basehub.jupyterhub` for a daskhub-style chart that wraps basehub.

    Read from the local chart's Chart.yaml: a dependency named `jupyterhub` (its
    alias if it has one), or one found the same way inside a dependency kept in the
    repository (`repository: file://...`) or unpacked in `charts/<name>/`. Remote
    charts other than jupyterhub are taken as z2jh-shaped.
    """
    if source.local_dir is None:
        return None
    return _values_key_in(source.local_dir, depth=0)


def _values_key_in(folder: Path, *, depth: int) -> str | None:
    chart = _chart_yaml(folder)
    if depth > 5 or chart.get("name") == JUPYTERHUB_CHART:
        return None
    dependencies = chart.get("dependencies")
    for dep in dependencies if isinstance(dependencies, list) else []:
        if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
            continue
        key = str(dep.get("alias") or dep["name"])
        if dep["name"] == JUPYTERHUB_CHART:
            return key
        inner = _dependency_folder(folder, dep)
        if inner is not None:
            found = _values_key_in(inner, depth=depth + 1)
            if found is not None:
                return f"{key}.{found}"
    return None


def _dependency_folder(folder: Path, dep: dict[str, Any]) -> Path | None:
    repository = str(dep.get("repository") or "")
    candidates = [folder / "charts" / str(dep["name"])]
    if repository.startswith("file://"):
        candidates.insert(0, (folder / repository.removeprefix("file://")).resolve())
    return next((c for c in candidates if (c / "Chart.yaml").is_file()), None)


def _chart_yaml(folder: Path) -> dict[str, Any]:
    from hubfleet.errors import ConfigError
    from hubfleet.yamlio import load_data

    path = folder / "Chart.yaml"
    try:
        data = load_data(path.read_text(), str(path))
    except (OSError, ConfigError):
        return {}
    return data if isinstance(data, dict) else {}
