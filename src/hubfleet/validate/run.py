"""`hubfleet validate`: every check of the fleet, every problem with its file and line.

1. The fleet's structure (`hubfleet.config.load`): YAML, schema, names, providers,
   files named in cluster.yaml.
2. Each file's content: secret-named files must be sops-encrypted; encrypted files
   are decrypted in memory when a key is available (which catches tampering), else
   checked for structure; plain values files must parse and hold no plaintext secret.
3. Each release (support and hubs): its values merged as helm does, checked against
   the chart's values.schema.json (subcharts included), rendered by the embedded
   Helm engine, and the manifests checked against the Kubernetes schemas.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from hubfleet.base.errors import ChartError, ConfigError, HubfleetError, Problem
from hubfleet.base.yamlio import Document, LineMap, decode_text, load_data, load_yaml
from hubfleet.community.check import community_problems
from hubfleet.config.fleet import CLUSTERS_DIR, Cluster, Fleet, Hub, Support
from hubfleet.config.load import IsolatedLoad, isolate, load_fleet
from hubfleet.helm.charts import ChartResolver, ChartsMissing
from hubfleet.helm.engine import ValuesSchemaError
from hubfleet.helm.manifests import Checker, manifest_checker, prepare
from hubfleet.release.pipeline import Release, ValuesDocument, hub_release, support_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.lint import lint_plaintext
from hubfleet.secrets.sops import KeyUnavailable, Sops, file_format, is_encrypted, parse
from hubfleet.terraform.check import terraform_problems

NO_KEY_NOTE = (
    "no sops key available: encrypted files were checked for structure only "
    "(set SOPS_AGE_KEY_FILE to decrypt them in memory)"
)
_ENCRYPTED_VALUE = re.compile(r"^ENC\[AES256_GCM,data:.*,iv:.*,tag:.*,type:\w+\]$", re.S)


@dataclass(frozen=True)
class Selection:
    """What to validate: everything, one cluster, or some hubs of one cluster."""

    cluster: str | None = None
    hubs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationResult:
    problems: tuple[Problem, ...]
    notes: tuple[str, ...] = ()
    rendered: tuple[str, ...] = ()
    clusters: int = 0
    hubs: int = 0
    # Clusters whose configuration does not load (docs/isolation.md): not rendered.
    broken: tuple[str, ...] = ()
    # Every error is one of those clusters' (the rest of the fleet is clean): exit 3.
    only_broken: bool = False
    # Some error is outside every cluster's folder (hubfleet.yaml, a chart): it stops
    # every cluster's deploy.
    fleet_wide: bool = False

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")


@dataclass
class _Run:
    fleet: Fleet
    sops: Sops | None
    strict: bool
    kube_version: str | None
    # The run's values pipeline: each file read once; its resolver pulls or builds
    # each chart once and remembers failures; each release rendered once.
    values: _RenderOnce
    problems: list[Problem] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)
    bad_files: set[str] = field(default_factory=set)
    checked: set[str] = field(default_factory=set)
    encrypted: set[str] = field(default_factory=set)
    line_maps: dict[str, Document] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    # A chart that cannot be had: its error and the releases it skipped (said once).
    chart_failures: dict[str, tuple[ChartError, list[Release]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The file checks (`_check_file`) in `_decrypt_ahead`'s threads: one at a time.
    check_lock: threading.Lock = field(default_factory=threading.Lock)
    # Decryptions that failed ahead (`_decrypt_ahead`): said by the file's own check.
    failed_ahead: dict[str, HubfleetError] = field(default_factory=dict)


def validate(
    root: Path,
    *,
    selection: Selection = Selection(),
    sops: Sops | None = None,
    render: bool = True,
    strict: bool = False,
    kube_version: str | None = None,
    workers: int = max(2, os.cpu_count() or 1),
) -> ValidationResult:
    """Validate the fleet at `root`. `sops` decrypts each encrypted file whose key this
    machine may hold (`Sops.may_decrypt`); the others are checked for structure."""
    loaded = load_fleet(root)
    fleet = loaded.fleet
    # Each values file is read once, by the checks below (parse_values would read it
    # again): a cluster is broken here when its configuration does not load.
    split = isolate(loaded, parse_values=False)
    broken = frozenset(cluster.name for cluster in split.broken)
    run = _Run(
        fleet,
        sops,
        strict,
        kube_version or fleet.settings.kubernetes_version,
        _RenderOnce(fleet, sops=sops, charts=ChartResolver(root=fleet.root)),
    )
    run.problems.extend(loaded.problems)
    run.bad_files.update(loaded.refused)  # reported by the loader, and never read
    run.checked.update(loaded.refused)
    clusters, units = _select(fleet, selection, run)
    files = _files_of(clusters, units)
    # While sops decrypts, this thread builds what the first manifest checks need.
    will_render = render and not split.fleet_wide

    def meanwhile() -> None:
        if will_render:
            prepare(run.kube_version)

    _decrypt_ahead(run, files, workers, meanwhile=meanwhile)
    for path in files:
        _check_file(run, path)  # each file checked once: those checked ahead return at once
    names = [c.name for c in clusters]
    run.problems.extend(community_problems(fleet, clusters=names, skip=frozenset(run.bad_files)))
    # One cluster's broken configuration stops only its own checks (docs/isolation.md);
    # a problem outside every cluster's folder stops them all.
    healthy = [c for c in clusters if c.name not in broken]
    if not split.fleet_wide:
        # With --no-render, the service-account check reads the chart cache only.
        tf_values = run.values if render else None
        run.problems.extend(terraform_problems(fleet, healthy, values=tf_values))
    if sops is None and run.encrypted:
        run.notes.add(NO_KEY_NOTE)
    elif sops is not None and (note := sops.no_key_note()):
        run.notes.add(note)
    every = [release for unit in units if (release := _release(fleet, unit)) is not None]
    releases = [release for release in every if release.cluster not in broken]
    rendered: list[str] = []
    if will_render:
        # Renders (Go, off the GIL), jsonnet (a child process each) and the manifests'
        # schema check in threads: the check is compiled (`helm.manifests`: ~0.1 ms of
        # GIL a valid release besides reading its YAML), so worker processes would only
        # add their start (~1 s of CPU each) and the copy of every manifest.
        with manifest_checker(1) as check, ThreadPoolExecutor(2 * workers) as pool:
            for label in pool.map(lambda r: _check_release(run, r, check), releases):
                if label:
                    rendered.append(label)
        _report_chart_failures(run)
    problems = tuple(sorted(set(run.problems)))
    return ValidationResult(
        problems=problems,
        notes=tuple(sorted(run.notes)),
        rendered=tuple(sorted(rendered)),
        clusters=len(clusters),
        hubs=sum(1 for r in every if r.hub is not None),
        broken=tuple(sorted(broken)),
        only_broken=_only_broken(split, problems),
        fleet_wide=any(
            p.severity == "error"
            and not p.path.startswith(f"{CLUSTERS_DIR}/")
            and p.path not in split.shared_bad
            for p in problems
        ),
    )


class _RenderOnce(ReleaseValues):
    """validate's values: a hub rendered by the service-account check of
    `terraform_problems` (a hub with a cloud identity) is not rendered again by its own
    release check; its manifests are kept from the first render until that check takes
    them, so only those few renders stay in memory, never the fleet's."""

    def __init__(
        self, fleet: Fleet, *, sops: Sops | None, charts: ChartResolver | None = None
    ) -> None:
        super().__init__(fleet, sops=sops, charts=charts)
        self._kept: dict[str, dict[str, str]] = {}
        self._kept_lock = threading.Lock()

    def render_release(self, release: Release) -> dict[str, str]:
        """Rendered for a check before the release's own: kept for it."""
        manifests = super().render_release(release)
        with self._kept_lock:
            self._kept[release.label] = manifests
        return manifests

    def render_last(self, release: Release) -> dict[str, str]:
        """The release's own check, the last to need its manifests: those kept, or a render."""
        with self._kept_lock:
            kept = self._kept.pop(release.label, None)
        return kept if kept is not None else super().render_release(release)


def _only_broken(split: IsolatedLoad, problems: Sequence[Problem]) -> bool:
    """Some error, and every error is a broken cluster's."""
    errors = [p for p in problems if p.severity == "error"]
    return bool(errors) and not split.fleet_wide and all(split.isolated(p) for p in errors)


def _select(
    fleet: Fleet, selection: Selection, run: _Run
) -> tuple[list[Cluster], list[Hub | Support]]:
    """The selected clusters, and their support releases and hubs."""
    if selection.cluster is None:
        clusters = list(fleet.clusters)
    else:
        try:
            clusters = [fleet.cluster(selection.cluster)]
        except ConfigError as exc:
            run.problems.append(exc.problem())
            return [], []
    units: list[Hub | Support] = []
    for cluster in clusters:
        if not selection.hubs:
            units.extend([cluster.support] if cluster.support else [])
            units.extend(cluster.hubs)
            continue
        for name in selection.hubs:
            try:
                units.append(cluster.hub(name))
            except ConfigError as exc:
                run.problems.append(exc.problem())
    return clusters, units


def _release(fleet: Fleet, unit: Hub | Support) -> Release | None:
    """The unit's release; None when its chart is unknown (the loader reported it)."""
    try:
        if isinstance(unit, Hub):
            return hub_release(fleet, unit)
        return support_release(fleet, fleet.cluster(unit.cluster))
    except ConfigError:
        return None


def _files_of(clusters: Sequence[Cluster], units: Iterable[Hub | Support]) -> list[str]:
    files: dict[str, None] = {}
    for cluster in clusters:
        files.update(dict.fromkeys(cluster.credential_files))
        for hub in cluster.hubs:
            if hub.domain_override_file:
                files[hub.domain_override_file] = None
    for unit in units:
        files.update(dict.fromkeys(unit.values_files))
    return list(files)


# ------------------------------------------------------------------ file contents


def _decrypt_ahead(
    run: _Run, files: Sequence[str], workers: int, *, meanwhile: Callable[[], None]
) -> None:
    """Decrypt the encrypted files in threads (one sops process each, ~40 ms of CPU),
    into the run's sops cache (memory only), and check each file as soon as it is
    decrypted (one check at a time, `_Run.check_lock`), so that the checks' Python work
    runs while other files' sops processes keep the cores busy, not after them all.
    A decryption's failure is not reported here: the file's own check says why.
    `meanwhile` runs in this thread while the others decrypt."""
    if run.sops is None:
        return
    sops = run.sops

    def decrypt(path: str) -> None:
        try:
            source = run.values.file(path)
            text = decode_text(source.raw, path)
        except HubfleetError:
            source = None  # said by `_check_file`, with its file and line
        if source is not None and is_encrypted(text, path) and sops.may_decrypt(text, path):
            try:
                sops.decrypt(run.fleet.abspath(path), source.raw)
            except HubfleetError as exc:  # said by `_check_encrypted`, with its file and line
                with run.lock:
                    run.failed_ahead[path] = exc
        with run.check_lock:
            _check_file(run, path)

    with ThreadPoolExecutor(2 * workers) as pool:
        done = pool.map(decrypt, [path for path in files if path not in run.checked])
        meanwhile()
        list(done)


def _check_file(run: _Run, path: str) -> None:
    if path in run.checked:
        return
    run.checked.add(path)
    full = run.fleet.abspath(path)
    try:
        # Read once for the whole command, by the values pipeline's reader: the render
        # and sops (below) use these bytes, never the file again.
        source = run.values.file(path)
        text = decode_text(source.raw, path)
    except ConfigError as exc:
        for problem in exc.problems:
            _bad(run, problem)
        return
    secret_named = "secret" in PurePosixPath(path).name
    if is_encrypted(text, path):
        if path.endswith((".yaml", ".yml")):
            run.texts[path] = text  # sops keeps keys and lines: a problem can point at them
        _check_encrypted(run, path, full, source.raw)
    elif secret_named:
        _bad(
            run,
            Problem(
                path,
                1,
                "file name says it holds secrets, but it is not sops-encrypted",
                f"encrypt it in place: sops encrypt --in-place {path}",
            ),
        )
    elif path.endswith((".yaml", ".yml", ".json")):  # helm reads JSON values files too
        _check_plain_values(run, path, text)


def _check_plain_values(run: _Run, path: str, text: str) -> None:
    """Parse with the C loader; build the (slower) line map only when a problem needs it."""
    run.texts[path] = text
    try:
        data = load_data(text, path)
    except ConfigError:
        data = _NOT_PARSED
    if data is _NOT_PARSED or _has_duplicate_risk(text):
        try:
            doc = load_yaml(text, path)  # names the line of a syntax error or duplicate key
        except ConfigError as exc:
            for problem in exc.problems:
                _bad(run, problem)
            return
        data = doc.data
    if data is not None and not isinstance(data, dict):
        _bad(run, Problem(path, 1, "a values file must be a mapping of keys"))
        return
    run.values.add(ValuesDocument(path, data or {}, encrypted=False, decrypted=False))
    problems = lint_plaintext(Document(path, data, LineMap()), text)
    if problems:
        problems = lint_plaintext(_line_doc(run, path), text)
    run.problems.extend(problems)


_NOT_PARSED = object()


def _has_duplicate_risk(text: str) -> bool:
    """PyYAML silently keeps the last of duplicate keys; look closer only when two
    lines of the same indentation start with the same key."""
    seen: set[str] = set()
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped or stripped.lstrip().startswith("-") or ":" not in stripped:
            continue
        key = stripped.split(":", 1)[0]
        if key in seen:
            return True
        seen.add(key)
    return False


def _line_doc(run: _Run, path: str) -> Document:
    doc = run.line_maps.get(path)
    if doc is None:
        doc = load_yaml(run.texts[path], path)
        run.line_maps[path] = doc
    return doc


def _check_encrypted(run: _Run, path: str, full: Path, raw: bytes) -> None:
    text = raw.decode("utf-8", errors="replace")
    run.encrypted.add(path)
    # Its keys are in the clear (sops encrypts values): a schema problem on a key this
    # file sets is reported at the file's own line.
    run.texts[path] = text
    failed = run.failed_ahead.get(path)
    if run.sops is not None and (failed is not None or run.sops.may_decrypt(text, path)):
        try:
            if failed is not None:
                raise failed
            run.sops.decrypt(full, raw)
            return
        except KeyUnavailable as exc:
            if not exc.cloud_only:
                _bad(run, Problem(path, exc.line or 1, exc.message, exc.hint))
                return
            # A cloud login this machine lacks (CI without one): a warning, and the
            # structure check below, as without a key.
            run.problems.append(Problem(path, 1, exc.message, exc.hint, severity="warning"))
        except HubfleetError as exc:
            _bad(run, Problem(path, exc.line or 1, exc.message, exc.hint))
            return
    # Without a key: check the structure sops leaves, so that a hand-edited value
    # (plaintext pasted into an encrypted file) is caught.
    kind = file_format(path)
    if kind not in ("yaml", "json"):
        return
    try:
        data = parse(text.encode(), kind)
    except Exception:
        _bad(run, Problem(path, 1, "encrypted file is not valid " + kind.upper()))
        return
    meta = data.get("sops", {}) if isinstance(data, dict) else {}
    suffix = meta.get("unencrypted_suffix", "_unencrypted") if isinstance(meta, dict) else ""
    doc: Document | None = None
    for key_path, value in _leaves({k: v for k, v in data.items() if k != "sops"}):
        if any(str(k).endswith(suffix) for k in key_path if isinstance(k, str)) or (
            isinstance(value, str) and _ENCRYPTED_VALUE.match(value)
        ):
            continue
        if doc is None and kind == "yaml":
            doc = load_yaml(text, path)
        line = doc.lines.line(key_path) if doc is not None else 1
        dotted = ".".join(str(k) for k in key_path)
        _bad(
            run,
            Problem(
                path,
                line,
                f"{dotted} is not encrypted in a sops file (edited after encryption?)",
                f"edit encrypted files with `sops edit {path}`",
            ),
        )
        return


def _leaves(
    data: Any, here: tuple[str | int, ...] = ()
) -> Iterable[tuple[tuple[str | int, ...], Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*here, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _leaves(item, (*here, index))
    else:
        yield here, data


def _bad(run: _Run, problem: Problem) -> None:
    run.problems.append(problem)
    run.bad_files.add(problem.path)


# ---------------------------------------------------------------------- releases


def _check_release(run: _Run, release: Release, check: Checker) -> str | None:
    """Schema-check, render and check one release; its label if it rendered."""
    fleet = run.fleet
    cluster = fleet.cluster(release.cluster)
    where = _release_location(cluster, release)
    if any(path in run.bad_files for path in release.values_files):
        return None
    try:
        run.values.chart(release)  # resolved (and a failure told) before the values are read
    except ConfigError as exc:  # a broken local chart: an error at its file and line
        run.problems.extend(exc.problems)
        return None
    except ChartError as exc:  # not to be had (unreachable, not cached): said once
        with run.lock:
            run.chart_failures.setdefault(str(exc), (exc, []))[1].append(release)
        return None
    try:
        run.values.documents(release)
    except HubfleetError as exc:
        run.problems.append(Problem(exc.path or where[0], exc.line or 1, exc.message, exc.hint))
        return None
    try:
        manifests = run.values.render_last(release)
    except ValuesSchemaError as exc:
        for found in exc.problems:
            path, line = _locate(run, release, found.path)
            run.problems.append(
                Problem(
                    path,
                    line,
                    f"{found.render()} (values.schema.json of chart {found.chart})",
                    f"{release.label} merges "
                    f"{', '.join(release.values_files) or 'no values files'}",
                )
            )
        return None
    except ChartError as exc:
        run.problems.append(
            Problem(where[0], where[1], f"{release.label}: {exc.message}", exc.hint)
        )
        return None
    report = check(manifests, run.kube_version)
    for bad in report.problems:
        run.problems.append(
            Problem(where[0], where[1], f"{release.label}: rendered {bad.render()}")
        )
    for kind in report.unknown_kinds:
        run.notes.add(f"no Kubernetes schema for {kind}: not checked")
    return release.label


def _report_chart_failures(run: _Run) -> None:
    """One problem per chart that could not be had, naming every release it skipped;
    the archives missing from the chart cache all in one (`ChartsMissing`)."""
    failures = list(run.chart_failures.values())
    missing = [(e, r) for e, r in failures if isinstance(e, ChartsMissing)]
    if len({m.archive for e, _ in missing for m in e.misses}) > 1:
        merged = ChartsMissing(m for e, _ in missing for m in e.misses)
        failures = [(e, r) for e, r in failures if not isinstance(e, ChartsMissing)]
        failures.append((merged, [r for _, releases in missing for r in releases]))
    for error, releases in failures:
        labels = sorted(release.label for release in releases)
        first = min(releases, key=lambda r: r.label)
        path, line = (
            (error.path, error.line or 1)
            if error.path
            else _release_location(run.fleet.cluster(first.cluster), first)
        )
        count = f"{len(labels)} release{'s' if len(labels) != 1 else ''}"
        problem = Problem(
            path,
            line,
            f"{error.message}; render skipped for {count}: {', '.join(labels)}",
            error.hint,
        )
        run.problems.append(problem if run.strict else replace(problem, severity="warning"))


def _release_location(cluster: Cluster, release: Release) -> tuple[str, int]:
    if release.hub is None:
        return cluster.file, cluster.lines.line(("support",))
    return cluster.file, cluster.hub(release.hub).line


def _locate(run: _Run, release: Release, key_path: tuple[str | int, ...]) -> tuple[str, int]:
    """The values file (last one wins) and line that set `key_path` or its nearest parent."""
    best: tuple[int, str, int] | None = None
    for path in reversed(release.values_files):
        if path not in run.texts:
            continue  # not read as YAML text (broken, or encrypted JSON/dotenv): no lines
        try:
            doc = _line_doc(run, path)
        except ConfigError:
            continue
        for depth in range(len(key_path), 0, -1):
            if key_path[:depth] in doc.lines.lines:
                if best is None or depth > best[0]:
                    best = (depth, path, doc.lines.lines[key_path[:depth]])
                break
    if best is not None:
        return best[1], best[2]
    cluster = run.fleet.cluster(release.cluster)
    return _release_location(cluster, release)
