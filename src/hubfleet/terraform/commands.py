"""`hubfleet terraform plan | apply | drift | values`: the core, returning data.

A plan is saved as `<dir>/<cluster>.tfplan` beside `<cluster>.tfplan.json`, which
records the commit it was made at, whether the tree was clean, and the summary.
`apply` refuses (exit 2) a plan made from a dirty tree or at another commit than
the checkout's, or from another cluster: only what was reviewed is applied.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubfleet.base.atomic import write_atomic
from hubfleet.base.errors import ConfigError, HubfleetError, ProgramError
from hubfleet.base.redact import Redactor
from hubfleet.base.runner import run
from hubfleet.config.fleet import Cluster, Fleet
from hubfleet.secrets.sops import Sops
from hubfleet.terraform import tf
from hubfleet.terraform.inputs import Inputs, check_module, compute
from hubfleet.terraform.summary import PlanSummary, summarize
from hubfleet.terraform.values import Written, write

PLAN_SUFFIX = ".tfplan"
META_SUFFIX = ".tfplan.json"
# Paths git status may show without making the tree dirty: hubfleet's own state.
IGNORED_PREFIXES = (".hubfleet/",)


@dataclass(frozen=True)
class Context:
    fleet: Fleet
    sops: Sops
    redactor: Redactor
    extra_env: Mapping[str, str]
    cancel: threading.Event | None = None


@dataclass(frozen=True)
class GitState:
    commit: str
    clean: bool
    dirty: tuple[str, ...]


def git_state(root: Path, redactor: Redactor) -> GitState:
    head = run(["git", "-C", str(root), "rev-parse", "HEAD"], redactor=redactor, timeout=60)
    status = run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all"],
        redactor=redactor,
        timeout=60,
    )
    dirty = tuple(
        line[3:]
        for line in status.stdout.splitlines()
        if line.strip() and not line[3:].startswith(IGNORED_PREFIXES)
    )
    return GitState(head.stdout.strip(), not dirty, dirty)


def terraform_clusters(fleet: Fleet, names: Sequence[str]) -> list[Cluster]:
    """The named clusters (each must have a terraform: block), or every one that has."""
    if names:
        chosen = [fleet.cluster(name) for name in names]
        for cluster in chosen:
            compute_inputs(fleet, cluster)  # a ConfigError without a terraform: block
        return chosen
    return [c for c in fleet.clusters if c.spec.terraform is not None]


def compute_inputs(fleet: Fleet, cluster: Cluster) -> Inputs:
    inputs = compute(cluster)
    check_module(fleet, cluster, inputs)
    return inputs


def _session(ctx: Context, cluster: Cluster, inputs: Inputs) -> Any:
    return tf.session(
        ctx.fleet,
        cluster,
        inputs,
        ctx.sops,
        ctx.redactor,
        extra_env=ctx.extra_env,
        cancel=ctx.cancel,
    )


# --- plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanResult:
    cluster: str
    plan_file: str
    summary: PlanSummary


def plan_cluster(ctx: Context, cluster: Cluster, out_dir: Path, git: GitState) -> PlanResult:
    inputs = compute_inputs(ctx.fleet, cluster)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan_file = (out_dir / f"{cluster.name}{PLAN_SUFFIX}").resolve()
    with _session(ctx, cluster, inputs) as session:
        tf.init(session)
        result = tf.plan(session, plan_file)
        if result.returncode != 0:
            raise ProgramError(
                f"cluster {cluster.name}: terraform plan failed\n{result.stderr.strip()}"
            )
        summary = summarize(cluster.name, tf.show_json(session, plan_file))
    meta = {
        "cluster_name": cluster.name,
        "commit": git.commit,
        "clean": git.clean,
        "module": inputs.module,
        "summary": summary.to_json(),
    }
    write_atomic(
        plan_file.with_name(plan_file.name[: -len(PLAN_SUFFIX)] + META_SUFFIX),
        (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode(),
    )
    return PlanResult(cluster.name, str(plan_file), summary)


@dataclass(frozen=True)
class PlanFailure:
    cluster: str
    error: HubfleetError

    def to_json(self, redactor: Redactor) -> dict[str, Any]:
        return {
            "cluster_name": self.cluster,
            "error": redactor.scrub(str(self.error)),
            "exit_code": self.error.exit_code,
        }


def _plan_or_failure(
    ctx: Context, cluster: Cluster, out_dir: Path, git: GitState
) -> PlanResult | PlanFailure:
    try:
        return plan_cluster(ctx, cluster, out_dir, git)
    except HubfleetError as exc:
        return PlanFailure(cluster.name, exc)


def plan_all(
    ctx: Context, clusters: Sequence[Cluster], out_dir: Path, concurrency: int = 4
) -> list[PlanResult | PlanFailure]:
    """Plan each cluster, in parallel (each in its own data dir): every cluster's
    result, in the given order, a failure of one never hiding another's."""
    git = git_state(ctx.fleet.root, ctx.redactor)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(_plan_or_failure, ctx, c, out_dir, git) for c in clusters]
        return [f.result() for f in futures]


# --- apply -----------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyResult:
    cluster: str
    written: tuple[Written, ...]


def _meta(plan_file: Path) -> dict[str, Any]:
    name = plan_file.name
    meta_path = plan_file.with_name(
        (name[: -len(PLAN_SUFFIX)] if name.endswith(PLAN_SUFFIX) else name) + META_SUFFIX
    )
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(
            f"{plan_file}: not a plan saved by `hubfleet terraform plan` (no {meta_path.name})",
            hint="make the plan with `hubfleet terraform plan CLUSTER` on a clean checkout",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{meta_path}: not a hubfleet plan record")
    return data


def check_saved_plan(cluster: Cluster, plan_file: Path, git: GitState) -> dict[str, Any]:
    """The plan's record, or a ConfigError (exit 2) when it may not be applied."""
    if not plan_file.is_file():
        raise ConfigError(f"{plan_file}: no such plan file")
    meta = _meta(plan_file)
    if meta.get("cluster_name") != cluster.name:
        raise ConfigError(
            f"{plan_file} is a plan of cluster {meta.get('cluster_name')!r}, not {cluster.name!r}"
        )
    if not meta.get("clean"):
        raise ConfigError(
            f"{plan_file} was made from a tree with uncommitted changes: refused",
            hint="commit, then plan again; only a plan of a commit can be applied",
        )
    if meta.get("commit") != git.commit:
        raise ConfigError(
            f"{plan_file} was made at commit {str(meta.get('commit'))[:12]}, the checkout is at "
            f"{git.commit[:12]}: refused",
            hint="plan again at this commit",
        )
    if not git.clean:
        raise ConfigError(
            f"the checkout has uncommitted changes: refused to apply ({', '.join(git.dirty[:5])})",
            hint="apply from a clean checkout of the planned commit",
        )
    return meta


def apply_cluster(ctx: Context, cluster: Cluster, plan_file: Path) -> ApplyResult:
    """Apply a saved plan (refused unless from a clean tree at this commit), then
    regenerate the cluster's hub values."""
    plan_file = plan_file.resolve()
    check_saved_plan(cluster, plan_file, git_state(ctx.fleet.root, ctx.redactor))
    inputs = compute_inputs(ctx.fleet, cluster)
    with _session(ctx, cluster, inputs) as session:
        tf.init(session)
        tf.apply(session, plan_file)
        outputs = tf.outputs(session)
    written = write(ctx.fleet, cluster, inputs, outputs, ctx.redactor)
    return ApplyResult(cluster.name, tuple(written))


# --- drift -----------------------------------------------------------------------


@dataclass(frozen=True)
class DriftResult:
    cluster: str
    status: str  # "in-sync", "drifted", "failed"
    message: str = ""

    def to_json(self) -> dict[str, str]:
        return {"cluster_name": self.cluster, "status": self.status, "message": self.message}


def drift_cluster(ctx: Context, cluster: Cluster) -> DriftResult:
    try:
        inputs = compute_inputs(ctx.fleet, cluster)
        with _session(ctx, cluster, inputs) as session:
            tf.init(session)
            result = tf.plan(session, None, ("-detailed-exitcode", "-lock=false"))
    except HubfleetError as exc:
        return DriftResult(cluster.name, "failed", str(exc))
    if result.returncode == 0:
        return DriftResult(cluster.name, "in-sync")
    if result.returncode == 2:
        return DriftResult(cluster.name, "drifted", "the real infrastructure differs from git")
    return DriftResult(cluster.name, "failed", result.stderr.strip()[-2000:])


def drift_all(ctx: Context, clusters: Sequence[Cluster], concurrency: int = 4) -> list[DriftResult]:
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(lambda c: drift_cluster(ctx, c), clusters))


# --- values ----------------------------------------------------------------------


def values_cluster(ctx: Context, cluster: Cluster) -> list[Written]:
    """Regenerate the hub values from the current state's outputs."""
    inputs = compute_inputs(ctx.fleet, cluster)
    with _session(ctx, cluster, inputs) as session:
        tf.init(session)
        outputs = tf.outputs(session)
    return write(ctx.fleet, cluster, inputs, outputs, ctx.redactor)
