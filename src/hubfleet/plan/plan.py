"""The plan: changed files -> support, staging and production jobs, each with reasons.

`make_plan` answers from the dependency graph (`hubfleet.plan.graph`), then
applies, in order: the labels that add work, the optional `--rendered` check
(which drops hubs selected only by a chart change whose manifests are
identical), the canary rule (every cluster getting a production job gets its
staging hubs, or a warning saying it has none), and the labels that remove work.
Nothing is ever uninstalled: removed hubs are only listed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from hubfleet.base.errors import ConfigError
from hubfleet.config.fleet import Fleet
from hubfleet.plan.changes import Change
from hubfleet.plan.diff import ClusterDiff, FleetDiff
from hubfleet.plan.graph import (
    Category,
    Graph,
    UnitKey,
    build_graph,
    collector_paused,
    collector_running,
    sort_key,
)
from hubfleet.plan.job import Job, JsonFile, Kind, read_job, read_json
from hubfleet.plan.labels import (
    DEPLOY_HUBS,
    DEPLOY_SUPPORT,
    SKIP_DEPLOY,
    SKIP_DEPLOY_HUBS,
    Labels,
)
from hubfleet.plan.schema import JOB_LISTS, check_plan_json
from hubfleet.plan.terraform import terraform_needs

SETTINGS_FILE = "hubfleet.yaml"
IDENTICAL = "identical"
RENDERED_IDENTICAL = f"chart changed, rendered manifests {IDENTICAL}"

# `--rendered`: given hub keys, a verdict for each: "identical" (or "identical
# except ...", naming the fields the chart randomises), "different", or a
# sentence saying why it could not be compared (the hub is then kept).
RenderCheck = Callable[[Sequence[UnitKey]], Mapping[UnitKey, str]]


@dataclass(frozen=True)
class Planned:
    """What a plan was made from (its JSON's `planned`): the changes, the labels and,
    from git (`--base/--head`), the two commits. `deploy --plan` makes the plan again
    from this record and the fleet it deploys, and refuses any job the plan lists
    that the fleet would not give (`hubfleet.plan.replan`)."""

    changes: tuple[Change, ...]
    labels: tuple[str, ...] = ()
    base: str | None = None  # the base commit (--base), None for --changed-files
    head: str | None = None  # the head commit (--head), None for the working tree

    def to_json(self) -> dict[str, Any]:
        changes = []
        for change in self.changes:
            entry = {"path": change.path, "status": change.status}
            if change.old_path is not None:
                entry["old_path"] = change.old_path
            changes.append(entry)
        return {
            "base": self.base,
            "head": self.head,
            "changes": changes,
            "labels": list(self.labels),
        }


@dataclass(frozen=True)
class Plan:
    support_jobs: tuple[Job, ...] = ()
    staging_jobs: tuple[Job, ...] = ()
    prod_jobs: tuple[Job, ...] = ()
    removed_hubs: tuple[Job, ...] = ()
    skipped: tuple[Job, ...] = ()
    warnings: tuple[str, ...] = ()
    unmatched_files: tuple[str, ...] = ()
    # `plan --event`: the community-only decision (hubfleet.community.decision), as JSON.
    community: Mapping[str, Any] | None = None
    terraform_jobs: tuple[Job, ...] = ()  # clusters needing `terraform plan` (plan/terraform.py)
    planned: Planned | None = None  # what it was made from (None: an older or hand-made file)

    @property
    def empty(self) -> bool:
        return not (self.support_jobs or self.staging_jobs or self.prod_jobs)

    @collector_paused()  # a dict per job: see collector_paused
    def to_json(self) -> dict[str, Any]:
        lists = {key: [job.to_json() for job in getattr(self, key)] for key, _ in JOB_LISTS}
        data: dict[str, Any] = {
            **lists,
            "removed_hubs": [job.to_json() for job in self.removed_hubs],
            "skipped": [job.to_json(with_kind=True) for job in self.skipped],
            "warnings": list(self.warnings),
            "unmatched_files": list(self.unmatched_files),
            "terraform_jobs": [job.to_json() for job in self.terraform_jobs],
        }
        if self.community is not None:
            data["community"] = dict(self.community)
        if self.planned is not None:
            data["planned"] = self.planned.to_json()
        return data

    @property
    def community_hubs(self) -> frozenset[tuple[str, str]] | None:
        """A change inside community files and their policy (`plan --event`,
        docs/community.md): the hubs it may deploy, each health-checked and rolled
        back if it fails; None for any other plan."""
        community = self.community
        if community is None or community.get("files_only") is not True:
            return None
        hubs = community.get("hubs")
        return frozenset(
            (str(h.get("cluster_name")), str(h.get("hub_name")))
            for h in (hubs if isinstance(hubs, list) else [])
            if isinstance(h, Mapping)
        )

    @classmethod
    def from_json(cls, data: Any) -> Plan:
        """The plan in a JSON document already parsed (errors without a line)."""
        return plan_from_file(JsonFile("plan", "", data))


def read_plan(path: Path, *, stdin_text: str | None = None, schema: bool = False) -> Plan:
    """The plan in file `path` (`-`: `stdin_text`), the one reader of the plan JSON
    (DESIGN.md section 3): `deploy --plan`, `ci matrix` and `plan --from-json`, which
    also checks it against the plan's JSON Schema (`schema`). Errors exit 2."""
    file = read_json(path, "plan", stdin_text=stdin_text)
    if schema:
        problems = check_plan_json(file.data, file.path)
        if problems:
            raise ConfigError(problems)
    return plan_from_file(file)


def plan_from_file(file: JsonFile) -> Plan:
    """The plan in a read JSON document: every structural check, with the entry and
    its line; what the plan says is checked against a fleet by its user."""
    data = file.data
    if not isinstance(data, Mapping) or not any(key in data for key, _ in JOB_LISTS):
        raise file.error(
            "not a plan: expected support_jobs, staging_jobs and prod_jobs",
            hint="write it with `hubfleet plan --output json`",
        )
    lists = {key: _jobs(file, key, kind) for key, kind in JOB_LISTS}
    _one_provider_per_cluster(file, lists)
    community = data.get("community")
    if community is not None and not isinstance(community, Mapping):
        raise file.error("community must be a JSON object", "community")
    return Plan(
        support_jobs=lists["support_jobs"],
        staging_jobs=lists["staging_jobs"],
        prod_jobs=lists["prod_jobs"],
        removed_hubs=_jobs(file, "removed_hubs", "removed"),
        skipped=_jobs(file, "skipped", "support", "staging", "prod", "cluster"),
        warnings=_strings(file, "warnings"),
        unmatched_files=_strings(file, "unmatched_files"),
        community=community,
        terraform_jobs=_jobs(file, "terraform_jobs", "terraform"),
        planned=_planned(file),
    )


_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_STATUSES = frozenset("ACDMRTUX")


def _planned(file: JsonFile) -> Planned | None:
    """The plan's record of what it was made from (None when absent: an older plan)."""
    data = file.data.get("planned")
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise file.error("planned must be a JSON object", "planned")
    commits = {}
    for key in ("base", "head"):
        value = data.get(key)
        if value is not None and not (isinstance(value, str) and _COMMIT.match(value)):
            raise file.error(f"planned.{key} must be a commit id or null", "planned", key)
        commits[key] = value
    if commits["head"] is not None and commits["base"] is None:
        raise file.error("planned.head without planned.base", "planned", "head")
    changes = data.get("changes")
    if not isinstance(changes, list):
        raise file.error("planned.changes must be a list", "planned", "changes")
    labels = data.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise file.error("planned.labels must be a list of strings", "planned", "labels")
    return Planned(
        changes=tuple(_change(file, entry, index) for index, entry in enumerate(changes)),
        labels=tuple(labels),
        base=commits["base"],
        head=commits["head"],
    )


def _change(file: JsonFile, entry: Any, index: int) -> Change:
    steps = ("planned", "changes", index)
    where = f"planned.changes[{index}]"
    if not isinstance(entry, Mapping):
        raise file.error(f"{where}: a change must be a JSON object", *steps)
    path, old = entry.get("path"), entry.get("old_path")
    status = entry.get("status", "M")
    if not _clean_path(path) or (old is not None and not _clean_path(old)):
        raise file.error(f"{where}: a change needs a repository-relative path", *steps)
    if not isinstance(status, str) or status not in _STATUSES:
        raise file.error(f"{where}: unknown status {status!r}", *steps)
    return Change(str(path), status, old)


def _clean_path(path: Any) -> bool:
    """A repository-relative path as git names one: no NUL (it cannot reach a stat), not
    absolute, no `..` (any other character is a possible file name)."""
    return (
        isinstance(path, str)
        and bool(path)
        and "\0" not in path
        and not path.startswith("/")
        and ".." not in path.split("/")
    )


def _list(file: JsonFile, key: str) -> list[Any]:
    value = file.data.get(key)
    if value is None and key not in file.data:
        return []
    if not isinstance(value, list):
        raise file.error(f"{key} must be a list", key)
    return value


def _jobs(file: JsonFile, key: str, *kinds: Kind) -> tuple[Job, ...]:
    """The jobs of list `key`: of its one kind, or (`skipped`) of the kind each names."""
    jobs = []
    for index, entry in enumerate(_list(file, key)):
        # a `skipped` entry without a kind (an older plan): by its hub_name
        hub = isinstance(entry, Mapping) and entry.get("hub_name")
        jobs.append(read_job(file, entry, (key, index), kinds, "prod" if hub else "support"))
    return tuple(jobs)


def _one_provider_per_cluster(file: JsonFile, lists: Mapping[str, tuple[Job, ...]]) -> None:
    providers: dict[str, str] = {}
    for key, _ in JOB_LISTS:
        for index, job in enumerate(lists[key]):
            if not job.provider:
                continue
            seen = providers.setdefault(job.cluster, job.provider)
            if seen != job.provider:
                raise file.error(
                    f"{key}[{index}]: the plan gives cluster {job.cluster!r} two providers: "
                    f"{seen} and {job.provider}",
                    key,
                    index,
                    hint="regenerate the plan from this repository",
                )


def _strings(file: JsonFile, key: str) -> tuple[str, ...]:
    return tuple(str(item) for item in _list(file, key))


@dataclass
class History:
    """What comparing two revisions adds (`--base/--head`): the semantic diff of
    each changed `cluster.yaml` (by path) and of `hubfleet.yaml`, and the
    providers of clusters gone at head."""

    cluster_diffs: dict[str, ClusterDiff] = field(default_factory=dict)
    fleet_diff: FleetDiff | None = None
    removed_providers: dict[str, str] = field(default_factory=dict)
    # Each changed cluster.yaml (by head path) as parsed at base (terraform_jobs).
    base_data: dict[str, Any] = field(default_factory=dict)


class _Selection:
    """Reasons per unit, in the order found, without duplicates."""

    def __init__(self) -> None:
        self.reasons: dict[UnitKey, dict[str, Category]] = {}

    def add(self, key: UnitKey, reason: str, category: Category) -> None:
        self.reasons.setdefault(key, {}).setdefault(reason, category)

    def add_all(self, keys: Iterable[UnitKey], reason: str, category: Category) -> None:
        for key in keys:
            self.add(key, reason, category)

    def pop(self, key: UnitKey) -> dict[str, Category]:
        return self.reasons.pop(key)


def _verb(change: Change, path: str, exists: Callable[[str], bool]) -> str:
    if change.old_path is not None:
        if path == change.old_path:
            return f"renamed to {change.path}"
        return f"renamed from {change.old_path}"
    if change.status == "A":
        return "added"
    if change.status == "D" or (change.status == "M" and not exists(path)):
        return "deleted"
    return "changed"


@collector_paused()
def make_plan(
    fleet: Fleet,
    changes: Sequence[Change],
    *,
    labels: Labels | None = None,
    history: History | None = None,
    render_check: RenderCheck | None = None,
) -> Plan:
    """The plan for `changes` to the `fleet` (as loaded at head).

    Without `history` (a plain list of changed files) a changed `cluster.yaml`
    selects its whole cluster and a changed `hubfleet.yaml` every release.
    """
    graph = build_graph(fleet)
    labels = labels or Labels()
    selection = _Selection()
    skipped: dict[UnitKey | tuple[str, None, str], tuple[Kind, list[str]]] = {}
    removed: dict[tuple[str, str], list[str]] = {}
    warnings: list[str] = []
    unmatched: list[str] = []
    settings_file = fleet.settings_file or SETTINGS_FILE

    def exists(path: str) -> bool:
        try:
            return fleet.abspath(path).exists()
        except (OSError, ValueError):  # a NUL byte or an over-long name: not a fleet file
            return False

    def whole_cluster(name: str, reason: str, category: Category) -> None:
        selection.add_all(graph.cluster_units.get(name, ()), reason, category)

    for change in changes:
        for path in change.paths():
            # Cheap checks first: most changed files match nothing and need no stat.
            dependants = graph.dependants(path)
            globs = [glob for glob in graph.globs if fnmatchcase(path, glob)]
            is_cluster_file = path in graph.cluster_files or (
                history is not None and path in history.cluster_diffs
            )
            if not (dependants or globs or is_cluster_file or path == settings_file):
                unmatched.append(path)
                continue
            verb = _verb(change, path, exists)
            if history is not None and path in history.cluster_diffs:
                _apply_cluster_diff(graph, history.cluster_diffs[path], selection, removed, skipped)
            elif path in graph.cluster_files:
                whole_cluster(
                    graph.cluster_files[path],
                    f"{path} {verb} (compared without git history: whole cluster)",
                    "cluster",
                )
            elif path == settings_file:
                if history is None:
                    selection.add_all(
                        graph.all_units(),
                        f"{path} {verb} (compared without git history: every release)",
                        "fleet",
                    )
                elif history.fleet_diff is not None:
                    _apply_fleet_diff(graph, history.fleet_diff, selection)
            for edge, dependency in dependants:
                if edge.unit is None:
                    whole_cluster(edge.cluster, f"{edge.role} {path} {verb}", edge.category)
                elif edge.named:
                    selection.add(edge.unit, f"{edge.role}: {path} {verb}", edge.category)
                elif dependency != path:
                    selection.add(
                        edge.unit, f"{edge.role} ({dependency}/): {path} {verb}", edge.category
                    )
                else:
                    selection.add(edge.unit, f"{edge.role} {path} {verb}", edge.category)
            for glob in globs:
                selection.add_all(
                    graph.all_units(),
                    f"{path} {verb}, matching redeploy_all_when_changed {glob!r} "
                    f"in {settings_file}",
                    "fleet",
                )

    if labels.deploy_support:
        selection.add_all(
            (k for k in graph.all_units() if k[1] is None), f"label {DEPLOY_SUPPORT}", "label"
        )
    if labels.deploy_hubs:
        selection.add_all(
            (k for k in graph.all_units() if k[1] is not None), f"label {DEPLOY_HUBS}", "label"
        )

    if render_check is not None:
        _drop_identical(graph, selection, skipped, warnings, render_check)

    _add_canaries(fleet, graph, selection, warnings)

    if labels.skip_deploy or labels.skip_hubs:
        label = SKIP_DEPLOY if labels.skip_deploy else SKIP_DEPLOY_HUBS
        for key in sorted(selection.reasons, key=sort_key):
            if labels.skip_deploy or key[1] is not None:
                reasons = list(selection.pop(key))
                skipped[key] = (graph.units[key].kind, [f"label {label}", *reasons])
        if labels.deploy_hubs and labels.skip_hubs and not labels.skip_deploy:
            warnings.append(f"labels {DEPLOY_HUBS} and {SKIP_DEPLOY_HUBS} both set: no hub deploys")

    plan = _assemble(fleet, graph, selection, skipped, removed, warnings, unmatched, history)
    needs = terraform_needs(fleet, changes, history.base_data if history is not None else None)
    jobs = tuple(Job(n.cluster, None, "terraform", n.provider, n.reasons) for n in needs)
    return replace(plan, terraform_jobs=jobs)


def _apply_cluster_diff(
    graph: Graph,
    diff: ClusterDiff,
    selection: _Selection,
    removed: dict[tuple[str, str], list[str]],
    skipped: dict[Any, tuple[Kind, list[str]]],
) -> None:
    name = diff.cluster
    for reason in diff.whole:
        selection.add_all(graph.cluster_units.get(name, ()), reason, "cluster")
    if (name, None) in graph.units:
        for reason in diff.support:
            selection.add((name, None), reason, "cluster")
    for hub, reasons in diff.hubs.items():
        if (name, hub) in graph.units:
            for reason in reasons:
                selection.add((name, hub), reason, "cluster")
    for hub, reasons in diff.removed_hubs.items():
        removed.setdefault((name, hub), []).extend(reasons)
    for info_hub, reasons in diff.informational.items():
        if info_hub is None:
            skipped[(name, None, "cluster")] = ("cluster", list(reasons))
        elif (name, info_hub) in graph.units:
            skipped[(name, info_hub)] = (graph.units[(name, info_hub)].kind, list(reasons))


def _apply_fleet_diff(graph: Graph, diff: FleetDiff, selection: _Selection) -> None:
    for reason in diff.everything:
        selection.add_all(graph.all_units(), reason, "fleet")
    for chart, reason in diff.charts.items():
        selection.add_all(graph.remote_chart_users.get(chart, ()), reason, "chart")
    if diff.default_chart is not None:
        new_default, reason = diff.default_chart
        selection.add_all(
            (k for k in graph.chart_users.get(new_default, ()) if k[1] is not None),
            reason,
            "chart",
        )


def _drop_identical(
    graph: Graph,
    selection: _Selection,
    skipped: dict[Any, tuple[Kind, list[str]]],
    warnings: list[str],
    render_check: RenderCheck,
) -> None:
    candidates = sorted(
        (
            key
            for key, reasons in selection.reasons.items()
            if key[1] is not None and set(reasons.values()) == {"chart"}
        ),
        key=sort_key,
    )
    if not candidates:
        return
    with collector_running():  # renders charts: may make cycles
        verdicts = render_check(candidates)
    for key in candidates:
        verdict = verdicts.get(key, "not compared")
        if verdict == IDENTICAL or verdict.startswith(f"{IDENTICAL} except "):
            reasons = list(selection.pop(key))
            detail = verdict[len(IDENTICAL) :]  # "" or " except N field(s) the chart randomises..."
            skipped[key] = (graph.units[key].kind, [*reasons, RENDERED_IDENTICAL + detail])
        elif verdict != "different":
            warnings.append(f"{key[0]}/{key[1]}: --rendered could not compare: {verdict}")


def _add_canaries(fleet: Fleet, graph: Graph, selection: _Selection, warnings: list[str]) -> None:
    prod_by_cluster: dict[str, list[str]] = {}
    for key in selection.reasons:
        unit = graph.units[key]
        if unit.kind == "prod" and unit.hub is not None:
            prod_by_cluster.setdefault(unit.cluster, []).append(unit.hub)
    for cluster_name in sorted(prod_by_cluster):
        prods = ", ".join(sorted(prod_by_cluster[cluster_name]))
        cluster = fleet.cluster(cluster_name)
        staging = cluster.staging_hubs
        if not staging:
            warnings.append(
                f"cluster {cluster_name} has no staging hub: its production hubs ({prods}) "
                "deploy without a canary"
            )
            continue
        for hub in staging:
            selection.add(
                (cluster_name, hub.name),
                f"canary: guards production hubs {prods} of cluster {cluster_name}",
                "canary",
            )


def _assemble(
    fleet: Fleet,
    graph: Graph,
    selection: _Selection,
    skipped: dict[Any, tuple[Kind, list[str]]],
    removed: dict[tuple[str, str], list[str]],
    warnings: list[str],
    unmatched: list[str],
    history: History | None,
) -> Plan:
    jobs: dict[str, list[Job]] = {"support": [], "staging": [], "prod": []}
    for key in sorted(selection.reasons, key=sort_key):
        unit = graph.units[key]
        jobs[unit.kind].append(
            Job(unit.cluster, unit.hub, unit.kind, unit.provider, tuple(selection.reasons[key]))
        )
    skipped_jobs = []
    for skey in sorted(skipped, key=lambda k: (k[0], k[1] or "", len(k))):
        if skey in selection.reasons:
            continue  # deployed for another reason
        kind, reasons = skipped[skey]
        provider = graph.units[skey].provider if skey in graph.units else _provider(fleet, skey[0])
        skipped_jobs.append(Job(skey[0], skey[1], kind, provider, tuple(reasons)))
    removed_jobs = []
    for (cluster_name, hub), reasons in sorted(removed.items()):
        provider = _provider(fleet, cluster_name) or (
            history.removed_providers.get(cluster_name, "") if history else ""
        )
        removed_jobs.append(Job(cluster_name, hub, "removed", provider, tuple(reasons)))
    return Plan(
        support_jobs=tuple(jobs["support"]),
        staging_jobs=tuple(jobs["staging"]),
        prod_jobs=tuple(jobs["prod"]),
        removed_hubs=tuple(removed_jobs),
        skipped=tuple(skipped_jobs),
        warnings=tuple(sorted(set(warnings))),
        unmatched_files=tuple(sorted(set(unmatched))),
    )


def _provider(fleet: Fleet, cluster_name: str) -> str:
    return next((c.provider for c in fleet.clusters if c.name == cluster_name), "")
