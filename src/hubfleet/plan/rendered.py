"""`--rendered`: every hub a change reaches is rendered at base and at head, and
selected only when its manifests differ outside the fields its chart randomises.

Which hubs: those whose every reason is a values file (plain, encrypted, jsonnet,
a domain_override_file) or a chart (a local chart's files, a pin or the default
chart in `hubfleet.yaml`). Reasons from `cluster.yaml` (credentials, a hub entry),
fleet-wide rules and labels are kept as they are: rendering cannot tell what they do.

Both sides use the embedded Helm engine; the base side reads only what it needs
from git (the hubs' values files, chart folders and `hubfleet.yaml`) into a
temporary folder, where encrypted files stay encrypted. Encrypted values never
reach a render: each string of an encrypted file is replaced by a placeholder
that names its key path and carries a digest (`_PlanValues`):

- without a key for the file, the digest of its sops ciphertext (public in git):
  a changed secret always changes it, and so does a re-encryption of an unchanged
  one (the reason says the hub was compared without a key);
- with a key (`sops` given), the file is decrypted in memory and the digest is
  keyed (HMAC under the command's `MaskKey`, one key for both sides): a changed
  value changes it, a re-encryption does not, and no value is shown.

The data of every Secret the chart renders is masked under that same key before
anything compares, caches or shows it (`hubfleet.helm.masking`).

A chart may randomise fields (z2jh's generated secrets and the checksums that
follow them), so two renders of one input differ: when the first renders of base
and head differ, each side is rendered again (`hubfleet.helm.stability`), the
fields random at both revisions are ignored and named.

Renders run in worker processes across the cores (a process pool, spawned: the
engine's Go runtime does not survive a fork) when there are enough of them, and
each distinct input (chart content digest, values digest, release, namespace) is
rendered once per run (`RenderRun.renders`, `RenderRun.cache_hits`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubfleet.base.errors import HubfleetError
from hubfleet.base.redact import MaskKey
from hubfleet.base.yamlio import format_key_path, load_yaml
from hubfleet.config.fleet import Fleet, Hub
from hubfleet.config.models import FleetFile
from hubfleet.helm import engine
from hubfleet.helm.charts import ChartResolver
from hubfleet.helm.jsonnet import is_jsonnet
from hubfleet.helm.masking import mask_manifests
from hubfleet.helm.stability import (
    FieldDiff,
    FieldRef,
    field_diffs,
    randomised,
    resources,
    unstable_fields,
)
from hubfleet.plan.git import GitRepo
from hubfleet.plan.graph import UnitKey, build_graph
from hubfleet.plan.manifest_diff import HubChange, hub_change
from hubfleet.plan.planner import IDENTICAL, SETTINGS_FILE, RenderCheck
from hubfleet.release.pipeline import Release, ValuesDocument, hub_release
from hubfleet.release.values import ReleaseValues

DIFFERENT = "different"
NO_KEY_NOTE = (
    "rendered: compared without the key of {files}: each encrypted value is compared by "
    "its ciphertext, so a re-encryption alone also shows as a change"
)
_POOL_MIN = 6  # renders below this run in this process (a pool's start costs ~1 s)
# Renders of one input when base and head differ: the first and one more. A random
# field that happens to agree in both (z2jh's 4-hex-digit checksum/auth-token: once
# in 65536) is then seen as fixed: its hub is kept (a false "different", never a
# missed change). `hubfleet.helm.stability.RENDERS` (3) is for exports' checks.
PLAN_RENDERS = 2

Manifests = dict[str, str]


# ------------------------------------------------------------------ placeholders


def _digest_placeholders(
    data: Any, digest: Callable[[str], str], path: tuple[Any, ...] = ()
) -> Any:
    """A copy of `data` whose leaves are `<secret:key.path@digest>`."""
    if isinstance(data, Mapping):
        return {k: _digest_placeholders(v, digest, (*path, k)) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_digest_placeholders(v, digest, (*path, i)) for i, v in enumerate(data)]
    if data is None or isinstance(data, bool):
        return data
    return f"<secret:{format_key_path(path)}@{digest(str(data))[:12]}>"


def _ciphertext_digest(text: str) -> str:
    return "enc:" + hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


class _PlanValues(ReleaseValues):
    """The values pipeline of one side: an encrypted file's values as placeholders
    with a digest (see the module); everything else as `ReleaseValues` reads it."""

    def __init__(self, fleet: Fleet, *, sops: Any, key: MaskKey, charts: ChartResolver):
        super().__init__(fleet, sops=None, charts=charts)
        self.decryptor = sops
        self.mask_key = key
        self.without_key: set[str] = set()  # encrypted files compared by ciphertext

    def _document(self, path: str, release: Release) -> ValuesDocument:
        if is_jsonnet(path):
            return super()._document(path, release)
        file = self.file(path)
        if not file.encrypted:
            return super()._document(path, release)
        return self._cached(self._documents, (path, "plan"), lambda: self._masked(path))

    def _masked(self, path: str) -> ValuesDocument:
        file = self.file(path)
        sops = self.decryptor
        if sops is not None and sops.may_decrypt(file.text(), path):
            data = file.document(sops).data  # decrypted in memory, never kept here
            keyed = _digest_placeholders(data, lambda v: "hmac:" + self.mask_key.digest(v))
            return ValuesDocument(path, keyed, True, False)
        self.without_key.add(path)
        raw = dict(load_yaml(file.text(), path).data or {})
        raw.pop("sops", None)
        return ValuesDocument(path, _digest_placeholders(raw, _ciphertext_digest), True, False)


# ------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class RenderInput:
    """One render's whole input; `key` is its digest (the cache key)."""

    chart: str
    values: Mapping[str, Any]
    release: str
    namespace: str
    key: str


@dataclass(frozen=True)
class Examined:
    """An input rendered `RENDERS` times: its first render's resources (masked) and
    the fields in which the renders differ."""

    resources: dict[str, dict[str, Any]]
    unstable: frozenset[FieldRef]


def _render_masked(job: RenderInput, key: MaskKey) -> Manifests:
    manifests = engine.render(
        Path(job.chart), job.values, release=job.release, namespace=job.namespace
    )
    return mask_manifests(manifests, key)


def render_once(job: RenderInput, key: MaskKey) -> Manifests | str:
    """The masked manifests of `job`, or why it failed to render (a worker's task)."""
    try:
        return _render_masked(job, key)
    except HubfleetError as exc:
        return exc.message


def examine(job: RenderInput, first: Manifests, key: MaskKey) -> Examined | str:
    """Render `job` again (`PLAN_RENDERS` renders in all, `first` one of them) and find
    the fields the chart randomises for it (a worker's task)."""
    try:
        parsed: dict[tuple[str, str], list[dict[str, Any]]] = {}
        renders = [resources(first, parsed)]
        renders += [resources(_render_masked(job, key), parsed) for _ in range(PLAN_RENDERS - 1)]
    except HubfleetError as exc:
        return exc.message
    return Examined(renders[0], unstable_fields(renders))


def _chart_digest(path: Path) -> str:
    """The digest of a chart's content: an archive's bytes, or a folder's files."""
    digest = hashlib.sha256()
    if path.is_file():
        digest.update(path.read_bytes())
        return digest.hexdigest()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode("utf-8", "surrogateescape") + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


@dataclass
class RenderRun:
    """One `--rendered` check's state: the renders by input, its figures, and each
    hub's change (for `--diff`). `workers`: processes (0: this process only)."""

    mask_key: MaskKey
    sops: Any = None
    workers: int | None = None
    first: dict[str, Manifests | str] = field(default_factory=dict)
    examined: dict[str, Examined | str] = field(default_factory=dict)
    changes: dict[UnitKey, HubChange] = field(default_factory=dict)
    renders: int = 0  # renders made
    cache_hits: int = 0  # renders asked for and found already made
    cache_dir: Path | None = None  # on disk: masked renders only (see `_disk_key`)
    _chart_digests: dict[str, str] = field(default_factory=dict)
    _pool: Executor | None = None

    def _disk_key(self, key: str, what: str) -> Path | None:
        """Where an input's masked render is kept on disk: its name depends on the
        mask key too (digests in a render are keyed), so only runs with the same
        `HUBFLEET_MASK_KEY` share one; a random key never finds a file again."""
        if self.cache_dir is None:
            return None
        salt = self.mask_key.digest("hubfleet render cache")[:16]
        return self.cache_dir / f"{hashlib.sha256((salt + key).encode()).hexdigest()}.{what}"

    def _load(self, job: RenderInput, what: str) -> Any:
        path = self._disk_key(job.key, what)
        if path is None or not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _store(self, job: RenderInput, what: str, data: Any) -> None:
        path = self._disk_key(job.key, what)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(data), encoding="utf-8")
            temporary.replace(path)
        except OSError:
            pass  # a cache that cannot be written is only slower

    def close(self) -> None:
        """Stop the worker processes (a run keeps them between its phases)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def chart_digest(self, path: Path) -> str:
        name = str(path)
        if name not in self._chart_digests:
            self._chart_digests[name] = _chart_digest(path)
        return self._chart_digests[name]

    def run_first(self, jobs: Sequence[RenderInput]) -> None:
        """Render every input not rendered yet once."""
        todo = []
        for job in self._unique(jobs, self.first):
            stored = self._load(job, "first")
            if isinstance(stored, dict) and all(isinstance(v, str) for v in stored.values()):
                self.first[job.key] = stored
                self.cache_hits += 1
            else:
                todo.append(job)
        self.renders += len(todo)
        results = self._map(render_once, todo, [()] * len(todo))
        for job, result in zip(todo, results, strict=True):
            self.first[job.key] = result
            if _ok(result):
                self._store(job, "first", result)

    def run_examine(self, jobs: Sequence[RenderInput]) -> None:
        """Find the randomised fields of every input not examined yet."""
        todo = []
        for job in self._unique(jobs, self.examined):
            first = self.first[job.key]
            if isinstance(first, str):
                continue
            stored = self._load(job, "unstable")
            if isinstance(stored, list):
                try:
                    unstable = frozenset(FieldRef(str(r), tuple(p)) for r, p in stored)
                    self.examined[job.key] = Examined(resources(first), unstable)
                    self.cache_hits += PLAN_RENDERS - 1
                    continue
                except (TypeError, ValueError, HubfleetError):
                    pass
            todo.append(job)
        self.renders += (PLAN_RENDERS - 1) * len(todo)
        results = self._map(examine, todo, [(self.first[job.key],) for job in todo])
        for job, result in zip(todo, results, strict=True):
            self.examined[job.key] = result
            if isinstance(result, Examined):
                fields = sorted(([r.resource, list(r.path)] for r in result.unstable), key=str)
                self._store(job, "unstable", fields)

    def _unique(self, jobs: Sequence[RenderInput], done: Mapping[str, object]) -> list[RenderInput]:
        todo: dict[str, RenderInput] = {}
        for job in jobs:
            if job.key in done or job.key in todo:
                self.cache_hits += 1
            else:
                todo[job.key] = job
        return list(todo.values())

    def _map(
        self,
        task: Callable[..., Any],
        jobs: Sequence[RenderInput],
        extra: Sequence[tuple[Any, ...]],
    ) -> list[Any]:
        workers = self.workers if self.workers is not None else (os.cpu_count() or 1)
        if workers <= 1 or len(jobs) < _POOL_MIN:
            return [task(job, *more, self.mask_key) for job, more in zip(jobs, extra, strict=True)]
        if self._pool is None:
            self._pool = _pool(workers)
        futures = [
            self._pool.submit(task, job, *more, self.mask_key)
            for job, more in zip(jobs, extra, strict=True)
        ]
        return [future.result() for future in futures]


def _pool(workers: int) -> Executor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _ok(result: object) -> bool:
    return not isinstance(result, str)


# --------------------------------------------------------------------- the sides


def render_hub(
    fleet: Fleet, hub: Hub, *, allow_pull: bool = True, values: ReleaseValues | None = None
) -> dict[str, str]:
    """The hub's manifests (template -> text), secrets as placeholders; `values`: the
    side's pipeline (its files read once however often the hub is rendered)."""
    if values is None:
        values = ReleaseValues(fleet, sops=None, charts=ChartResolver(allow_pull=allow_pull))
    return values.render_release(hub_release(fleet, hub))


def _base_settings(root: Path, fallback: FleetFile) -> FleetFile:
    file = root / SETTINGS_FILE
    if not file.is_file():
        return FleetFile()
    try:
        data = load_yaml(file.read_text(encoding="utf-8"), SETTINGS_FILE).data
        return FleetFile.model_validate(data or {})
    except (HubfleetError, ValueError):
        return fallback


def needed_paths(fleet: Fleet, hubs: Sequence[Hub]) -> list[str]:
    """What rendering `hubs` reads: their dependencies in the plan's graph (values
    files, chart folders and the local charts they depend on, a chart_override,
    what their jsonnet files import), hubfleet.yaml, and the repositories file that
    `@name` dependencies are looked up in."""
    graph = build_graph(fleet)
    paths = {fleet.settings_file or SETTINGS_FILE, fleet.settings.helm_repositories_file}
    for hub in hubs:
        paths.update(graph.paths_of((hub.cluster, hub.name)))
    return sorted(paths)


@dataclass
class _Side:
    name: str  # the revision, as said in messages
    values: _PlanValues
    jobs: dict[UnitKey, RenderInput | str] = field(default_factory=dict)


def _input(run: RenderRun, side: _Side, hub: Hub) -> RenderInput | str:
    """The hub's render input on one side, or why it cannot be made (no chart...)."""
    release = hub_release(side.values.fleet, hub)
    try:
        chart = side.values.chart(release)
        values = side.values.merged(release)
    except HubfleetError as exc:
        return f"rendering at {side.name} failed: {exc.message}"
    text = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    digest = hashlib.sha256()
    for part in (run.chart_digest(chart), text, release.name, release.namespace):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return RenderInput(str(chart), values, release.name, release.namespace, digest.hexdigest())


def make_render_check(
    repo: GitRepo,
    base: str,
    head_fleet: Fleet,
    workdir: Path,
    run: RenderRun | None = None,
) -> RenderCheck:
    """A `RenderCheck` comparing each hub's manifests at `base` and at head; `run`
    keeps the renders, the figures and each hub's change (`--diff`)."""
    state = run if run is not None else RenderRun(MaskKey.random())

    def check(keys: Sequence[UnitKey]) -> Mapping[UnitKey, str]:
        hubs = [head_fleet.cluster(c).hub(h) for c, h in keys if h is not None]
        try:
            base_root = repo.extract(base, needed_paths(head_fleet, hubs), workdir / "base")
        except (HubfleetError, tarfile.TarError) as exc:
            return {key: f"cannot read the base revision: {exc}" for key in keys}
        base_fleet = dataclasses.replace(
            head_fleet, root=base_root, settings=_base_settings(base_root, head_fleet.settings)
        )
        sides = (_side(state, base_fleet, base), _side(state, head_fleet, "head"))
        try:
            return compare_hubs(state, sides, hubs)
        finally:
            state.close()

    return check


def _side(run: RenderRun, fleet: Fleet, name: str) -> _Side:
    charts = ChartResolver(allow_pull=False)
    return _Side(name, _PlanValues(fleet, sops=run.sops, key=run.mask_key, charts=charts))


def compare_hubs(
    run: RenderRun, sides: tuple[_Side, _Side], hubs: Iterable[Hub]
) -> dict[UnitKey, str]:
    """Each hub's verdict: `identical` (or `identical except N field(s) ...`),
    `different` followed by its reasons (one a line), or why it was not compared."""
    base, head = sides
    hubs = list(hubs)
    # Values (a jsonnet file is a process per release) are made in threads.
    pairs = [(side, hub) for hub in hubs for side in sides]
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as threads:
        made = list(threads.map(lambda pair: _input(run, *pair), pairs))
    for (side, hub), job in zip(pairs, made, strict=True):
        side.jobs[(hub.cluster, hub.name)] = job
    inputs = [job for side in sides for job in side.jobs.values() if isinstance(job, RenderInput)]
    run.run_first(inputs)
    verdicts: dict[UnitKey, str] = {}
    differing: list[Hub] = []
    for hub in hubs:
        key = (hub.cluster, hub.name)
        problem = _problem(run, base, key) or _problem(run, head, key)
        if problem is not None:
            verdicts[key] = problem
            continue
        left, right = _job(base, key), _job(head, key)
        if left.key == right.key or run.first[left.key] == run.first[right.key]:
            verdicts[key] = IDENTICAL
        else:
            differing.append(hub)
    run.run_examine([_job(side, (h.cluster, h.name)) for h in differing for side in sides])
    for hub in differing:
        key = (hub.cluster, hub.name)
        verdicts[key] = _verdict(run, sides, hub)
    return verdicts


def _job(side: _Side, key: UnitKey) -> RenderInput:
    job = side.jobs[key]
    assert isinstance(job, RenderInput)
    return job


def _problem(run: RenderRun, side: _Side, key: UnitKey) -> str | None:
    job = side.jobs[key]
    if isinstance(job, str):
        return job
    first = run.first[job.key]
    if isinstance(first, str):
        return f"rendering at {side.name} failed: {first}"
    return None


def _verdict(run: RenderRun, sides: tuple[_Side, _Side], hub: Hub) -> str:
    key = (hub.cluster, hub.name)
    left, right = (run.examined.get(_job(side, key).key, "not rendered") for side in sides)
    if isinstance(left, str) or isinstance(right, str):
        failed = left if isinstance(left, str) else right
        return f"cannot compare the renders: {failed}"
    both = left.unstable & right.unstable
    differences = []
    for ref, a, b in field_diffs(left.resources, right.resources):
        if ref.within(both):
            continue
        side = (
            "left" if ref.within(left.unstable) else "right" if ref.within(right.unstable) else ""
        )
        differences.append(FieldDiff(ref, a, b, side))  # type: ignore[arg-type]
    ignored = tuple(sorted(both, key=FieldRef.sort_key))
    if not differences:
        return f"{IDENTICAL} except {randomised(ignored)}" if ignored else IDENTICAL
    change = hub_change(
        hub.cluster,
        hub.name,
        left.resources,
        right.resources,
        differences,
        ignored,
        _notes(sides, hub),
    )
    run.changes[key] = change
    return "\n".join([DIFFERENT, *change.reasons()])


def _notes(sides: tuple[_Side, _Side], hub: Hub) -> list[str]:
    """A note when an encrypted file of the hub changed and was compared without its key."""
    release = hub_release(sides[1].values.fleet, hub)
    changed = []
    for path in release.values_files:
        if is_jsonnet(path) or not any(path in side.values.without_key for side in sides):
            continue
        try:
            if sides[0].values.file(path).raw != sides[1].values.file(path).raw:
                changed.append(path)
        except HubfleetError:
            changed.append(path)
    if not changed:
        return []
    return [NO_KEY_NOTE.format(files=", ".join(changed))]
