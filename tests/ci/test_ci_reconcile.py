"""The push workflow reconciles (docs/status.md, "Reconciling plans"): its reconcile step
says when every cluster deploys its live plan (a force push, a push without a usable
"before"; never a pull request or an ordinary push), the matrix then lists every
cluster; and the drift issues' decisions (`hubfleet.ci.drift`): opened, updated, closed,
noted, found by their marker only, every fleet or cluster text escaped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from hubfleet.ci.drift import (
    MARKER,
    ClusterDrift,
    OpenIssue,
    apply_actions,
    body,
    decide,
    drift_of,
    parse_issues,
    read_drifts,
)
from hubfleet.plan.job import Job
from hubfleet.plan.plan import LiveScope, Plan, Unreachable
from tests.ci.ci_helpers import EXAMPLE_FLEET, bash, git, step


@pytest.fixture
def pushed(tmp_path: Path) -> tuple[Path, str]:
    if shutil.which("git") is None or shutil.which("jq") is None:
        pytest.skip("no git or jq")
    repo = tmp_path / "fleet"
    shutil.copytree(EXAMPLE_FLEET, repo, ignore=shutil.ignore_patterns(".github"))
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    before = git(repo, "rev-parse", "HEAD")
    values = repo / "config/clusters/pilot-gcp/common.values.yaml"
    values.write_text(values.read_text() + "\n# a change\n")
    git(repo, "commit", "-q", "-am", "change pilot-gcp")
    return repo, before


@pytest.mark.parametrize(
    ("event", "before", "forced", "every"),
    [
        ("push", "BEFORE", "false", "false"),
        ("push", "BEFORE", "true", "true"),  # a force push
        ("push", "0" * 40, "false", "true"),  # a new branch: no usable before
        ("push", "", "", "true"),  # a manual run
        ("pull_request", "", "true", "false"),
    ],
)
def test_the_reconcile_step(
    pushed: tuple[Path, str], deploy: dict[str, Any], tmp_path: Path,
    event: str, before: str, forced: str, every: str,
) -> None:  # fmt: skip
    repo, real_before = pushed
    out = tmp_path / "github_output"
    out.write_text("")
    env = {
        "EVENT_NAME": event,
        "PUSH_BEFORE": real_before if before == "BEFORE" else before,
        "FORCED": forced,
        "GITHUB_OUTPUT": str(out),
    }
    job = deploy["jobs"]["plan"]
    result = bash(step(job, id="reconcile")["run"], cwd=repo, env=env)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == f"every-cluster={every}\n"


def test_every_cluster_puts_each_cluster_in_the_matrix(
    pushed: tuple[Path, str], deploy: dict[str, Any], tmp_path: Path
) -> None:
    repo, before = pushed
    plan = repo / "plan.json"
    result = bash(
        f"hubfleet plan --base {before} --head HEAD --output json > plan.json", cwd=repo, env={}
    )
    assert result.returncode == 0, result.stderr
    job = deploy["jobs"]["plan"]
    found = {}
    for every in ("false", "true"):
        out = tmp_path / f"out-{every}"
        out.write_text("")
        env = {"GITHUB_OUTPUT": str(out), "EVERY_CLUSTER": every}
        matrix = bash(step(job, id="matrix")["run"], cwd=repo, env=env)
        assert matrix.returncode == 0, matrix.stderr
        outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
        found[every] = json.loads(outputs["clusters"])["include"]
    assert [c["cluster"] for c in found["false"]] == ["pilot-gcp"]
    everyone = {c["cluster"]: c for c in found["true"]}
    assert len(everyone) > 1 and "pilot-gcp" in everyone
    assert all(c["deploy"] is True for c in everyone.values())
    assert plan.is_file()


# ---------------------------------------------------------------- drift issues


def _plan(*jobs: Job, held: tuple[Job, ...] = (), gone: tuple[Unreachable, ...] = ()) -> Plan:
    return Plan(
        prod_jobs=tuple(j for j in jobs if j.kind == "prod"),
        staging_jobs=tuple(j for j in jobs if j.kind == "staging"),
        skipped=held,
        live=LiveScope(("a",), False, gone),
    )


HOSTILE = "x | y <script> ](http://evil) @team **bold**\n- injected"


def test_a_drift_lists_jobs_held_hubs_and_unreachable_clusters_escaped() -> None:
    plan = _plan(
        Job("a", "h1", "prod", "gcp", ("live: changed by hand: " + HOSTILE,)),
        held=(Job("a", "h2", "staging", "gcp", ("live: rolled back at 123, not retried "
                                                  "until its inputs change or `deploy --retry`",)),),
        gone=(Unreachable("a", "gcp", HOSTILE),),
    )  # fmt: skip
    drift = drift_of("a", plan)
    assert drift.state == "drifted"
    assert len(drift.lines) == 3
    text = body(drift, "https://github.com/o/r/actions/runs/1")
    assert "\n- injected" not in text
    assert "<script>" not in text and "](http://evil)" not in text
    assert text.startswith(MARKER.format("a"))
    assert drift_of("a", _plan()).state == "in-sync"
    assert drift_of("b", plan).state == "in-sync"  # another cluster's lines are not its


def test_decide_opens_updates_closes_and_notes() -> None:
    drifted = ClusterDrift("a", "drifted", ("- x",))
    insync = ClusterDrift("b", "in-sync")
    unknown = ClusterDrift("c", "unknown", ("- no live plan",))
    quiet = ClusterDrift("d", "in-sync")
    issues = [OpenIssue(5, "b"), OpenIssue(6, "c"), OpenIssue(9, "a"), OpenIssue(8, "a")]
    actions = {a.cluster: a for a in decide([drifted, insync, unknown, quiet], issues)}
    assert (actions["a"].verb, actions["a"].number) == ("update", 8)  # the oldest
    assert (actions["b"].verb, actions["b"].number) == ("close", 5)
    assert (actions["c"].verb, actions["c"].number) == ("note", 6)
    assert "d" not in actions
    assert decide([drifted], [])[0].verb == "create"
    assert decide([unknown], []) == []  # nothing is opened for a cluster not read


def test_issues_are_found_by_their_marker_only() -> None:
    text = json.dumps(
        [
            {"number": 1, "body": MARKER.format("alpha") + "\nfoo"},
            {"number": 2, "body": "hubfleet drift: cluster alpha differs from git"},
            {"number": 3, "body": "<!-- hubfleet-drift cluster=a;b -->"},
            {"number": "4", "body": MARKER.format("beta")},
        ]
    )
    assert parse_issues(text) == [OpenIssue(1, "alpha")]


def test_a_missing_or_broken_plan_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text("{not json")
    (tmp_path / "c.json").write_text(json.dumps(_plan().to_json()))
    drifts = {d.cluster: d.state for d in read_drifts(tmp_path, ["a", "b", "c"])}
    assert drifts == {"a": "unknown", "b": "unknown", "c": "in-sync"}


def test_apply_refuses_a_name_that_is_not_a_cluster_name() -> None:
    calls: list[list[str]] = []

    def gh(words: Any, stdin: str | None) -> str:
        calls.append(list(words))
        return ""

    bad = decide([ClusterDrift("a b", "drifted", ("- x",))], [])
    with pytest.raises(Exception, match="not a cluster name"):
        apply_actions(gh, "o/r", "hubfleet-drift", bad)
    ok = decide([ClusterDrift("a", "drifted", ("- x",))], [])
    assert apply_actions(gh, "o/r", "hubfleet-drift", ok) == ["a: drift issue opened"]
    assert calls[-1][:2] == ["issue", "create"] and "--body-file" in calls[-1]
