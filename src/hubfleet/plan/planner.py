"""The planner: changed files -> support, staging and production jobs, each with reasons.

`make_plan` answers from the dependency graph (`hubfleet.plan.graph`), then
applies, in order: the labels that add work, the optional `--rendered` check
(which drops hubs selected only by values or chart changes whose manifests are
identical, and names what changes in the others), the canary rule (every
cluster getting a production job gets its staging hubs, or a warning saying it
has none), and the labels that remove work.
A hub is uninstalled only through its `decommissioned:` entry (an `uninstall` job,
docs/decommission.md); a hub that merely disappears from cluster.yaml is only
listed, with a warning showing the entry that would remove it.

The planner is one `_Planner` per plan: its frozen input (`PlanInput`) and its named
state (the selected units with their reasons, the skipped and removed ones, the
warnings and the files nothing depends on). The `Plan` it makes is in `plan/plan.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any

from hubfleet.config.decommission import describe, entry_yaml
from hubfleet.config.fleet import Fleet
from hubfleet.plan.changes import Change
from hubfleet.plan.diff import ClusterDiff, FleetDiff
from hubfleet.plan.graph import (
    Category,
    UnitKey,
    build_graph,
    collector_paused,
    collector_running,
    sort_key,
)
from hubfleet.plan.job import Job, Kind
from hubfleet.plan.labels import (
    DEPLOY_HUBS,
    DEPLOY_SUPPORT,
    SKIP_DEPLOY,
    SKIP_DEPLOY_HUBS,
    Labels,
)
from hubfleet.plan.plan import Plan, Planned
from hubfleet.plan.terraform import terraform_needs
from hubfleet.plan.waves import assign as assign_waves
from hubfleet.plan.waves import last_rollout_stopped

SETTINGS_FILE = "hubfleet.yaml"
IDENTICAL = "identical"
RENDERED_IDENTICAL = f"rendered manifests {IDENTICAL} at base and head"
DIFFERENT = "different"
# The reasons `--rendered` decides: a hub reached only by these is rendered.
RENDERABLE: frozenset[str] = frozenset({"values", "chart"})

# `--rendered`: given hub keys, a verdict for each: "identical" (or "identical
# except ...", naming the fields the chart randomises), "different" (optionally
# followed by lines, each a reason naming what changes), or a sentence saying why
# it could not be compared (the hub is then kept, planned from its files).
RenderCheck = Callable[[Sequence[UnitKey]], Mapping[UnitKey, str]]

JobKey = UnitKey  # (cluster, hub name; None for the support release)
HubKey = tuple[str, str]  # (cluster, hub name): a removed hub
# A skipped job: a release's key, or (cluster, None, "cluster") for a cluster-wide note.
SkipKey = JobKey | tuple[str, None, str]


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


@dataclass(frozen=True)
class PlanInput:
    """What a plan is made from: the fleet (as loaded at head), the changes, the labels
    and, from git, the history and the optional `--rendered` check."""

    fleet: Fleet
    changes: tuple[Change, ...]
    labels: Labels = field(default_factory=Labels)
    history: History | None = None
    render_check: RenderCheck | None = None


class _Selections:
    """Reasons per unit, in the order found, without duplicates."""

    def __init__(self) -> None:
        self.reasons: dict[JobKey, dict[str, Category]] = {}

    def add(self, key: JobKey, reason: str, category: Category) -> None:
        self.reasons.setdefault(key, {}).setdefault(reason, category)

    def add_all(self, keys: Iterable[JobKey], reason: str, category: Category) -> None:
        for key in keys:
            self.add(key, reason, category)

    def pop(self, key: JobKey) -> dict[str, Category]:
        return self.reasons.pop(key)


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
    given = PlanInput(fleet, tuple(changes), labels or Labels(), history, render_check)
    return _Planner(given).plan()


def plan_from_files(fleet: Fleet, changes: Sequence[Change], *, labels: Labels) -> Plan:
    """`--changed-files`: no history, so a changed cluster.yaml selects its whole cluster.
    The plan records the changes and labels it was made from (`Planned`)."""
    plan = make_plan(fleet, changes, labels=labels)
    return replace(plan, planned=Planned(tuple(changes), labels.names))


class _Planner:
    """One plan's making: the input, its graph, and what has been decided so far."""

    def __init__(self, given: PlanInput) -> None:
        self.given = given
        self.graph = build_graph(given.fleet)
        self.selected = _Selections()
        self.skipped: dict[SkipKey, tuple[Kind, list[str]]] = {}
        self.removed: dict[HubKey, list[str]] = {}
        self.uninstall: dict[HubKey, list[str]] = {}
        self.warnings: list[str] = []
        self.unmatched: list[str] = []
        self.settings_file = given.fleet.settings_file or SETTINGS_FILE

    def plan(self) -> Plan:
        for change in self.given.changes:
            for path in change.paths():
                self._select_for(change, path)
        self._add_labelled()
        if self.given.render_check is not None:
            self._drop_identical(self.given.render_check)
        self._add_canaries()
        self._skip_labelled()
        return self._assemble()

    # -------------------------------------------------------------- changed files

    def _select_for(self, change: Change, path: str) -> None:
        graph, history = self.graph, self.given.history
        # Cheap checks first: most changed files match nothing and need no stat.
        dependants = graph.dependants(path)
        globs = [glob for glob in graph.globs if fnmatchcase(path, glob)]
        in_history = history is not None and path in history.cluster_diffs
        is_cluster_file = path in graph.cluster_files or in_history
        if not (dependants or globs or is_cluster_file or path == self.settings_file):
            self.unmatched.append(path)
            return
        verb = self._verb(change, path)
        self._select_for_config(path, verb)
        for edge, dependency in dependants:
            if edge.unit is None:
                self._whole_cluster(edge.cluster, f"{edge.role} {path} {verb}", edge.category)
            elif edge.named:
                self.selected.add(edge.unit, f"{edge.role}: {path} {verb}", edge.category)
            elif dependency != path:
                reason = f"{edge.role} ({dependency}/): {path} {verb}"
                self.selected.add(edge.unit, reason, edge.category)
            else:
                self.selected.add(edge.unit, f"{edge.role} {path} {verb}", edge.category)
        for glob in globs:
            self.selected.add_all(
                graph.all_units(),
                f"{path} {verb}, matching redeploy_all_when_changed {glob!r} "
                f"in {self.settings_file}",
                "fleet",
            )

    def _select_for_config(self, path: str, verb: str) -> None:
        """A changed `cluster.yaml` or `hubfleet.yaml`: by its diff, or wholesale."""
        graph, history = self.graph, self.given.history
        if history is not None and path in history.cluster_diffs:
            self._apply_cluster_diff(history.cluster_diffs[path])
        elif path in graph.cluster_files:
            reason = f"{path} {verb} (compared without git history: whole cluster)"
            self._whole_cluster(graph.cluster_files[path], reason, "cluster")
            self._uninstall_all(graph.cluster_files[path], reason)
        elif path == self.settings_file:
            if history is None:
                self.selected.add_all(
                    graph.all_units(),
                    f"{path} {verb} (compared without git history: every release)",
                    "fleet",
                )
            elif history.fleet_diff is not None:
                self._apply_fleet_diff(history.fleet_diff)

    def _verb(self, change: Change, path: str) -> str:
        if change.old_path is not None:
            if path == change.old_path:
                return f"renamed to {change.path}"
            return f"renamed from {change.old_path}"
        if change.status == "A":
            return "added"
        if change.status == "D" or (change.status == "M" and not self._exists(path)):
            return "deleted"
        return "changed"

    def _exists(self, path: str) -> bool:
        try:
            return self.given.fleet.abspath(path).exists()
        except (OSError, ValueError):  # a NUL byte or an over-long name: not a fleet file
            return False

    def _whole_cluster(self, name: str, reason: str, category: Category) -> None:
        self.selected.add_all(self.graph.cluster_units.get(name, ()), reason, category)

    def _apply_cluster_diff(self, diff: ClusterDiff) -> None:
        name, units = diff.cluster, self.graph.units
        for reason in diff.whole:
            self._whole_cluster(name, reason, "cluster")
        if (name, None) in units:
            for reason in diff.support:
                self.selected.add((name, None), reason, "cluster")
        for hub, reasons in diff.hubs.items():
            if (name, hub) in units:
                for reason in reasons:
                    self.selected.add((name, hub), reason, "cluster")
        for hub, reasons in diff.removed_hubs.items():
            self.removed.setdefault((name, hub), []).extend(reasons)
        if diff.removed_hubs:
            self.warnings += self._removed_warnings(name, sorted(diff.removed_hubs))
        for hub, reasons in diff.decommissioned.items():
            self._add_uninstall(name, hub, reasons)
        for info_hub, reasons in diff.informational.items():
            if info_hub is None:
                self.skipped[(name, None, "cluster")] = ("cluster", list(reasons))
            elif (name, info_hub) in units:
                self.skipped[(name, info_hub)] = (units[(name, info_hub)].kind, list(reasons))

    def _add_uninstall(self, cluster_name: str, hub: str, reasons: Iterable[str]) -> None:
        """An uninstall job for a hub its cluster (at head) decommissions."""
        cluster = self.given.fleet.find_cluster(cluster_name)
        entry = cluster.decommissioned_hub(hub) if cluster is not None else None
        if entry is None:
            return
        found = self.uninstall.setdefault((cluster_name, hub), [])
        for reason in (*reasons, describe(entry)):
            if reason not in found:
                found.append(reason)

    def _uninstall_all(self, cluster_name: str, reason: str) -> None:
        """Without history: every decommissioned hub of the cluster (idempotent: one
        already uninstalled is "already gone")."""
        cluster = self.given.fleet.find_cluster(cluster_name)
        for entry in cluster.decommissioned if cluster is not None else ():
            self._add_uninstall(cluster_name, entry.name, (reason,))

    def _removed_warnings(self, cluster_name: str, hubs: Sequence[str]) -> list[str]:
        """Hubs gone from cluster.yaml without a decommissioned entry: never uninstalled;
        each warning shows the entry that would remove the hub."""
        cluster = self.given.fleet.find_cluster(cluster_name)
        if cluster is None:
            return [
                f"cluster {cluster_name}: its cluster.yaml was deleted with hubs "
                f"{', '.join(hubs)}: none is uninstalled; to remove them, keep its cluster.yaml "
                "with each hub under decommissioned: until status shows nothing left "
                "(docs/decommission.md)"
            ]
        return [
            f"{cluster_name}/{hub}: removed from {cluster.file} without a decommissioned "
            f"entry: not uninstalled; to remove it, add under decommissioned: in "
            f"{cluster.file}: {entry_yaml(hub)} (date: the day of the decision; data: delete "
            "also deletes its namespace and volumes; docs/decommission.md)"
            for hub in hubs
        ]

    def _apply_fleet_diff(self, diff: FleetDiff) -> None:
        graph = self.graph
        for reason in diff.everything:
            self.selected.add_all(graph.all_units(), reason, "fleet")
        for chart, reason in diff.charts.items():
            self.selected.add_all(graph.remote_chart_users.get(chart, ()), reason, "chart")
        if diff.default_chart is not None:
            new_default, reason = diff.default_chart
            self.selected.add_all(
                (k for k in graph.chart_users.get(new_default, ()) if k[1] is not None),
                reason,
                "chart",
            )

    # -------------------------------------------------- labels, --rendered, canaries

    def _add_labelled(self) -> None:
        labels, units = self.given.labels, self.graph.all_units
        if labels.deploy_support:
            support = (k for k in units() if k[1] is None)
            self.selected.add_all(support, f"label {DEPLOY_SUPPORT}", "label")
        if labels.deploy_hubs:
            hubs = (k for k in units() if k[1] is not None)
            self.selected.add_all(hubs, f"label {DEPLOY_HUBS}", "label")

    def _drop_identical(self, render_check: RenderCheck) -> None:
        reasons_of = self.selected.reasons
        candidates = sorted(
            (k for k, reasons in reasons_of.items() if k[1] is not None and _renderable(reasons)),
            key=sort_key,
        )
        if not candidates:
            return
        with collector_running():  # renders charts: may make cycles
            verdicts = render_check(candidates)
        for key in candidates:
            verdict = verdicts.get(key, "not compared")
            if verdict == IDENTICAL or verdict.startswith(f"{IDENTICAL} except "):
                reasons = list(self.selected.pop(key))
                detail = verdict[len(IDENTICAL) :]  # "" or " except N field(s) ... randomises"
                kind = self.graph.units[key].kind
                self.skipped[key] = (kind, [*reasons, RENDERED_IDENTICAL + detail])
            elif verdict.split("\n", 1)[0] == DIFFERENT:
                category = next(iter(reasons_of[key].values()))
                for reason in verdict.split("\n")[1:]:
                    self.selected.add(key, reason, category)
            else:
                self.warnings.append(f"{key[0]}/{key[1]}: --rendered could not compare: {verdict}")
                reason = f"rendered: not compared ({verdict}): planned from the changed files"
                self.selected.add(key, reason, next(iter(reasons_of[key].values())))

    def _add_canaries(self) -> None:
        prod_by_cluster: dict[str, list[str]] = {}
        for key in self.selected.reasons:
            unit = self.graph.units[key]
            if unit.kind == "prod" and unit.hub is not None:
                prod_by_cluster.setdefault(unit.cluster, []).append(unit.hub)
        for cluster_name in sorted(prod_by_cluster):
            prods = ", ".join(sorted(prod_by_cluster[cluster_name]))
            staging = self.given.fleet.cluster(cluster_name).staging_hubs
            if not staging:
                self.warnings.append(
                    f"cluster {cluster_name} has no staging hub: its production hubs ({prods}) "
                    "deploy without a canary"
                )
                continue
            reason = f"canary: guards production hubs {prods} of cluster {cluster_name}"
            for hub in staging:
                self.selected.add((cluster_name, hub.name), reason, "canary")

    def _skip_labelled(self) -> None:
        labels = self.given.labels
        if not (labels.skip_deploy or labels.skip_hubs):
            return
        label = SKIP_DEPLOY if labels.skip_deploy else SKIP_DEPLOY_HUBS
        for hkey in sorted(self.uninstall):
            self.skipped[hkey] = ("uninstall", [f"label {label}", *self.uninstall.pop(hkey)])
        for key in sorted(self.selected.reasons, key=sort_key):
            if labels.skip_deploy or key[1] is not None:
                reasons = list(self.selected.pop(key))
                self.skipped[key] = (self.graph.units[key].kind, [f"label {label}", *reasons])
        if labels.deploy_hubs and labels.skip_hubs and not labels.skip_deploy:
            self.warnings.append(
                f"labels {DEPLOY_HUBS} and {SKIP_DEPLOY_HUBS} both set: no hub deploys"
            )

    # ------------------------------------------------------------------ the plan

    def _assemble(self) -> Plan:
        jobs = self._selected_jobs()
        given = self.given
        history = given.history
        needs = terraform_needs(
            given.fleet, given.changes, history.base_data if history is not None else None
        )
        held = self._held(jobs)
        waved, rollout = assign_waves(
            given.fleet, [*jobs["support"], *jobs["staging"], *jobs["prod"]]
        )
        return Plan(
            support_jobs=tuple(j for j in waved if j.kind == "support"),
            staging_jobs=tuple(j for j in waved if j.kind == "staging"),
            prod_jobs=tuple(j for j in waved if j.kind == "prod"),
            held=held,
            rollout=rollout,
            uninstall_jobs=tuple(
                Job(c, h, "uninstall", self._provider(c), tuple(reasons))
                for (c, h), reasons in sorted(self.uninstall.items())
            ),
            removed_hubs=self._removed_jobs(),
            skipped=self._skipped_jobs(),
            warnings=tuple(sorted(set(self.warnings + self._rollout_warnings(held)))),
            unmatched_files=tuple(sorted(set(self.unmatched))),
            terraform_jobs=tuple(
                Job(n.cluster, None, "terraform", n.provider, n.reasons) for n in needs
            ),
        )

    def _rollout_warnings(self, held: tuple[Job, ...]) -> list[str]:
        """A held canary (its cluster's production hubs go ungated), and the last
        rollout of this checkout when it stopped before its end."""
        warnings = [
            f"{job.label}: canary held back, its cluster's production hubs have no canary"
            for job in held
            if job.kind == "staging"
        ]
        stopped = last_rollout_stopped(self.given.fleet)
        if stopped is not None:
            warnings.append(f"the last rollout of this checkout stopped: {stopped}")
        return warnings

    def _held(self, jobs: dict[str, list[Job]]) -> tuple[Job, ...]:
        """Take the held hubs (`hold:`) out of `jobs`: never deployed, listed with why."""
        held: list[Job] = []
        for kind in ("staging", "prod"):
            kept = []
            for job in jobs[kind]:
                hub = self.given.fleet.cluster(job.cluster).hub(job.hub or "")
                if hub.hold is None:
                    kept.append(job)
                else:
                    held.append(replace(job, reasons=(f"held: {hub.hold}", *job.reasons)))
            jobs[kind] = kept
        return tuple(sorted(held, key=lambda j: j.sort_key))

    def _selected_jobs(self) -> dict[str, list[Job]]:
        jobs: dict[str, list[Job]] = {"support": [], "staging": [], "prod": []}
        for key in sorted(self.selected.reasons, key=sort_key):
            unit = self.graph.units[key]
            reasons = tuple(self.selected.reasons[key])
            jobs[unit.kind].append(Job(unit.cluster, unit.hub, unit.kind, unit.provider, reasons))
        return jobs

    def _skipped_jobs(self) -> tuple[Job, ...]:
        jobs = []
        for skey in sorted(self.skipped, key=lambda k: (k[0], k[1] or "", len(k))):
            if skey in self.selected.reasons:
                continue  # deployed for another reason
            kind, reasons = self.skipped[skey]
            unit = self.graph.units.get((skey[0], skey[1])) if len(skey) == 2 else None
            provider = unit.provider if unit is not None else self._provider(skey[0])
            jobs.append(Job(skey[0], skey[1], kind, provider, tuple(reasons)))
        return tuple(jobs)

    def _removed_jobs(self) -> tuple[Job, ...]:
        history = self.given.history
        jobs = []
        for (cluster_name, hub), reasons in sorted(self.removed.items()):
            provider = self._provider(cluster_name) or (
                history.removed_providers.get(cluster_name, "") if history else ""
            )
            jobs.append(Job(cluster_name, hub, "removed", provider, tuple(reasons)))
        return tuple(jobs)

    def _provider(self, cluster_name: str) -> str:
        cluster = self.given.fleet.find_cluster(cluster_name)
        return cluster.provider if cluster is not None else ""


def _renderable(reasons: Mapping[str, Category]) -> bool:
    return bool(reasons) and set(reasons.values()) <= RENDERABLE
