"""The plan: support, staging and production jobs, each with reasons, and what it was
made from (`Planned`); its JSON and the one reader of that JSON (`read_plan`).

The planner that makes a plan from changed files is `hubfleet.plan.planner`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hubfleet.base.errors import ConfigError, Problem
from hubfleet.config.fleet import BrokenCluster
from hubfleet.plan.changes import Change
from hubfleet.plan.graph import collector_paused
from hubfleet.plan.job import InputError, Job, JsonFile, Kind, read_job, read_json
from hubfleet.plan.schema import BASE_PLAN_VERSION, JOB_LISTS, PLAN_VERSION, check_plan_json
from hubfleet.plan.waves import Rollout, WaveInfo


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
class FileVerdict:
    path: str
    hubs: tuple[str, ...]
    changed_keys: tuple[str, ...]
    problems: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "hubs": list(self.hubs),
            "changed_keys": list(self.changed_keys),
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class HubVerdict:
    cluster: str
    hub: str
    owners: tuple[str, ...]
    approved_by: str | None  # the owner (author or approver) who satisfies it

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster_name": self.cluster,
            "hub_name": self.hub,
            "owners": list(self.owners),
            "approved_by": self.approved_by,
        }


@dataclass(frozen=True)
class CommunityDecision:
    """`plan --event`: whether the change is community-only, and why (made by
    `hubfleet.community.decision`, docs/community.md)."""

    community_only: bool
    files_only: bool  # every change is inside community files and their policies
    reasons: tuple[str, ...]
    files: tuple[FileVerdict, ...] = ()
    hubs: tuple[HubVerdict, ...] = ()
    author: str | None = None
    approvers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "community_only": self.community_only,
            "files_only": self.files_only,
            "reasons": list(self.reasons),
            "author": self.author,
            "approvers": list(self.approvers),
            "hubs": [h.to_json() for h in self.hubs],
            "files": [f.to_json() for f in self.files],
        }


@dataclass(frozen=True)
class Unreachable:
    """A cluster whose live state could not be read (`plan --live`): its change-based
    jobs stay, nothing is known of what runs there."""

    cluster: str
    provider: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"cluster_name": self.cluster, "provider": self.provider, "message": self.message}


@dataclass(frozen=True)
class LiveScope:
    """What `plan --live` read (the plan JSON's `live`, version 3): the clusters whose
    live state it compared with git, whether rolled-back hubs are retried (`--retry`),
    and the clusters it could not read. `deploy --plan` reads the same clusters again
    and deploys a live job only while the cluster still differs from git."""

    clusters: tuple[str, ...]
    retry: bool = False
    unreachable: tuple[Unreachable, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "clusters": list(self.clusters),
            "retry": self.retry,
            "unreachable": [u.to_json() for u in self.unreachable],
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
    community: CommunityDecision | None = None  # `plan --event`
    terraform_jobs: tuple[Job, ...] = ()  # clusters needing `terraform plan` (plan/terraform.py)
    planned: Planned | None = None  # what it was made from (None: an older or hand-made file)
    # Clusters whose configuration does not load: their errors, no jobs (docs/isolation.md).
    broken: tuple[BrokenCluster, ...] = ()
    # `plan --live`: the clusters whose live state was read (None: a change-based plan).
    live: LiveScope | None = None
    # Hubs held back (`hold:` in cluster.yaml): never deployed, listed with the reason.
    held: tuple[Job, ...] = ()
    # Rolled out in waves (`rollout:` in hubfleet.yaml): the waves in order; None: not.
    rollout: Rollout | None = None
    # Decommissioned hubs to uninstall (docs/decommission.md).
    uninstall_jobs: tuple[Job, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.support_jobs or self.staging_jobs or self.prod_jobs or self.uninstall_jobs)

    @collector_paused()  # a dict per job: see collector_paused
    def to_json(self) -> dict[str, Any]:
        lists = {key: [job.to_json() for job in getattr(self, key)] for key, _ in JOB_LISTS}
        if not lists["uninstall_jobs"]:
            del lists["uninstall_jobs"]  # a plan without one: the bytes it always had
        data: dict[str, Any] = {
            # a plan without `live` stays version 2: older readers read it unchanged
            "version": PLAN_VERSION if self.live is not None else BASE_PLAN_VERSION,
            **lists,
            "removed_hubs": [job.to_json() for job in self.removed_hubs],
            "skipped": [job.to_json(with_kind=True) for job in self.skipped],
            "warnings": list(self.warnings),
            "unmatched_files": list(self.unmatched_files),
            "terraform_jobs": [job.to_json() for job in self.terraform_jobs],
            "broken": [broken_to_json(cluster) for cluster in self.broken],
        }
        if self.community is not None:
            data["community"] = self.community.to_json()
        if self.planned is not None:
            data["planned"] = self.planned.to_json()
        if self.live is not None:
            data["live"] = self.live.to_json()
        if self.held:
            data["held"] = [job.to_json(with_kind=True) for job in self.held]
        if self.rollout is not None:
            data["rollout"] = self.rollout.to_json()
        return data

    @property
    def community_hubs(self) -> frozenset[tuple[str, str]] | None:
        """A change inside community files and their policy (`plan --event`,
        docs/community.md): the hubs it may deploy, each health-checked and rolled
        back if it fails; None for any other plan."""
        community = self.community
        if community is None or not community.files_only:
            return None
        return frozenset((h.cluster, h.hub) for h in community.hubs)

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
    _version(file)
    lists = {key: _jobs(file, key, kind) for key, kind in JOB_LISTS}
    _one_provider_per_cluster(file, lists)
    return Plan(
        support_jobs=lists["support_jobs"],
        staging_jobs=lists["staging_jobs"],
        prod_jobs=lists["prod_jobs"],
        uninstall_jobs=lists["uninstall_jobs"],
        removed_hubs=_jobs(file, "removed_hubs", "removed"),
        skipped=_jobs(file, "skipped", "support", "staging", "prod", "cluster", "uninstall"),
        warnings=_strings(file, "warnings"),
        unmatched_files=_strings(file, "unmatched_files"),
        community=_community(file),
        terraform_jobs=_jobs(file, "terraform_jobs", "terraform"),
        planned=_planned(file),
        broken=_broken_clusters(file),
        live=_live(file),
        held=_jobs(file, "held", "staging", "prod") if "held" in data else (),
        rollout=_rollout(file),
    )


def _live(file: JsonFile) -> LiveScope | None:
    """The plan's `live` (version 3: `plan --live`), every field checked."""
    data = file.data.get("live")
    if data is None:
        return None
    read = _Fields.of(file, data, ("live",))
    if file.data.get("version", 1) < PLAN_VERSION:
        raise file.error(f"live needs plan version {PLAN_VERSION}", "live")
    clusters = read.strings("clusters")
    if not all(clusters) or len(set(clusters)) != len(clusters):
        raise read._error("clusters", "a list of distinct cluster names")
    unreachable = []
    for index, entry in enumerate(read.items("unreachable")):
        item = _Fields.of(file, entry, ("live", "unreachable", index))
        name = item.text("cluster_name")
        if not name:
            raise item._error("cluster_name", "a cluster name")
        unreachable.append(Unreachable(name, item.text("provider"), item.text("message")))
    return LiveScope(clusters, read.flag("retry"), tuple(unreachable))


def _rollout(file: JsonFile) -> Rollout | None:
    """The plan's waves (`rollout`), every field checked; None when absent."""
    data = file.data.get("rollout")
    if data is None:
        return None
    read = _Fields.of(file, data, ("rollout",))
    waves = []
    for index, entry in enumerate(read.items("waves")):
        steps: tuple[str | int, ...] = ("rollout", "waves", index)
        wave = _Fields.of(file, entry, steps)
        soak = entry.get("soak_s")
        if isinstance(soak, bool) or not isinstance(soak, int | float) or not 0 <= soak <= 1e6:
            raise file.error(f"{_dotted(steps)}.soak_s must be a number of seconds", *steps)
        limit = entry.get("max_failures")
        if isinstance(limit, bool) or not isinstance(limit, int | str):
            raise file.error(f"{_dotted(steps)}.max_failures must be a count or a share", *steps)
        waves.append(WaveInfo(wave.text("name"), float(soak), limit))
    names = [wave.name for wave in waves]
    if not waves or len(set(names)) != len(names):
        raise file.error("rollout.waves must name each wave once", "rollout")
    for key, _ in JOB_LISTS:
        for index, job in enumerate(file.data.get(key) or ()):
            if isinstance(job, Mapping) and job.get("wave") not in names:
                raise file.error(f"{key}[{index}]: not in a wave of the rollout", key, index)
    return Rollout(tuple(waves), read.text("trigger"))


def _community(file: JsonFile) -> CommunityDecision | None:
    """The plan's community decision (`plan --event`), every field checked."""
    data = file.data.get("community")
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise file.error("community must be a JSON object", "community")
    read = _Fields(file, data, ("community",))
    return CommunityDecision(
        community_only=read.flag("community_only"),
        files_only=read.flag("files_only"),
        reasons=read.strings("reasons"),
        files=tuple(_file_verdict(file, entry, i) for i, entry in enumerate(read.items("files"))),
        hubs=tuple(_hub_verdict(file, entry, i) for i, entry in enumerate(read.items("hubs"))),
        author=read.text_or_none("author"),
        approvers=read.strings("approvers"),
    )


def _file_verdict(file: JsonFile, entry: Any, index: int) -> FileVerdict:
    read = _Fields.of(file, entry, ("community", "files", index))
    return FileVerdict(
        path=read.text("path"),
        hubs=read.strings("hubs"),
        changed_keys=read.strings("changed_keys"),
        problems=read.strings("problems"),
    )


def _hub_verdict(file: JsonFile, entry: Any, index: int) -> HubVerdict:
    read = _Fields.of(file, entry, ("community", "hubs", index))
    return HubVerdict(
        cluster=read.text("cluster_name"),
        hub=read.text("hub_name"),
        owners=read.strings("owners"),
        approved_by=read.text_or_none("approved_by"),
    )


@dataclass(frozen=True)
class _Fields:
    """Typed fields of one JSON object of the plan, each error at its line."""

    file: JsonFile
    data: Mapping[str, Any]
    steps: tuple[str | int, ...]

    @classmethod
    def of(cls, file: JsonFile, entry: Any, steps: tuple[str | int, ...]) -> _Fields:
        if not isinstance(entry, Mapping):
            raise file.error(f"{_dotted(steps)} must be a JSON object", *steps)
        return cls(file, entry, steps)

    def _error(self, key: str, what: str) -> InputError:
        return self.file.error(f"{_dotted((*self.steps, key))} must be {what}", *self.steps, key)

    def flag(self, key: str) -> bool:
        value = self.data.get(key)
        if not isinstance(value, bool):
            raise self._error(key, "true or false")
        return value

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str):
            raise self._error(key, "a string")
        return value

    def text_or_none(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise self._error(key, "a string or null")
        return value

    def items(self, key: str) -> list[Any]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self._error(key, "a list")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.items(key)
        if not all(isinstance(item, str) for item in value):
            raise self._error(key, "a list of strings")
        return tuple(value)


def _dotted(steps: tuple[str | int, ...]) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps).lstrip(".")


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


# ------------------------------------------------------------ broken clusters


def with_broken(plan: Plan, broken: tuple[BrokenCluster, ...]) -> Plan:
    """The plan of the clusters that load, with the `broken` ones named: nothing of a
    broken cluster stays in it (a changed file in its folder is not "unmatched", its
    hubs are not "removed": its configuration could not be read to say)."""
    if not broken:
        return plan

    def kept(job: Job) -> bool:
        return all(job.cluster != cluster.name for cluster in broken)

    return replace(
        plan,
        uninstall_jobs=tuple(job for job in plan.uninstall_jobs if kept(job)),
        removed_hubs=tuple(job for job in plan.removed_hubs if kept(job)),
        skipped=tuple(job for job in plan.skipped if kept(job)),
        terraform_jobs=tuple(job for job in plan.terraform_jobs if kept(job)),
        unmatched_files=tuple(
            path for path in plan.unmatched_files if not any(c.owns(path) for c in broken)
        ),
        broken=broken,
    )


def broken_to_json(cluster: BrokenCluster) -> dict[str, Any]:
    return {
        "cluster_name": cluster.name,
        "provider": cluster.provider,
        "file": cluster.file,
        "problems": [
            {"path": p.path, "line": p.line, "message": p.message, "hint": p.hint}
            for p in cluster.problems
        ],
    }


def _version(file: JsonFile) -> None:
    """A plan without `version` is version 1 (before `broken`); a newer one is refused."""
    version = file.data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise file.error("version must be a positive integer", "version")
    if version > PLAN_VERSION:
        raise file.error(
            f"plan version {version} is newer than this hubfleet reads ({PLAN_VERSION})",
            "version",
            hint="read it with the hubfleet version that wrote it",
        )


def _broken_clusters(file: JsonFile) -> tuple[BrokenCluster, ...]:
    clusters = []
    for index, entry in enumerate(_list(file, "broken")):
        read = _Fields.of(file, entry, ("broken", index))
        name = read.text("cluster_name")
        if not name:
            raise read._error("cluster_name", "a cluster name")
        problems = tuple(
            _broken_problem(file, item, index, number)
            for number, item in enumerate(read.items("problems"))
        )
        clusters.append(BrokenCluster(name, read.text("provider"), read.text("file"), problems))
    names = [c.name for c in clusters]
    if len(set(names)) != len(names):
        raise file.error("broken lists a cluster twice", "broken")
    return tuple(clusters)


def _broken_problem(file: JsonFile, entry: Any, index: int, number: int) -> Problem:
    read = _Fields.of(file, entry, ("broken", index, "problems", number))
    line = read.data.get("line")
    if not isinstance(line, int) or isinstance(line, bool) or line < 0:
        raise read._error("line", "a line number")
    return Problem(read.text("path"), line, read.text("message"), read.text_or_none("hint"))
