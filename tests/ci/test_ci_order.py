"""The order of a push's jobs per cluster: the cluster workflow's jobs are run through
GitHub's rules (a job's `if`, with the implicit `success()` when it has no status
function; a job whose `if` is false is skipped) for given job results, so the tests
show which jobs run: the apply before the deploy, no deploy after a failed apply,
no job across clusters. The matrix step's combined matrix is run with the real
hubfleet."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.ci.ci_helpers import bash, step

# ---------------------------------------------------------------- a small evaluator

_TOKEN = re.compile(
    r"\s*(?:(?P<op>&&|\|\||==|!=|!|\(|\))|'(?P<str>[^']*)'|(?P<name>[A-Za-z_][\w.-]*(?:\(\))?))"
)
STATUS_FUNCTIONS = ("success()", "failure()", "always()", "cancelled()")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        assert match, f"cannot read {text[pos:]!r}"
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Expr:
    """GitHub expressions as the cluster workflow uses them: && || ! == != ( ),
    strings, booleans, contexts (inputs, needs) and the status functions."""

    def __init__(self, text: str, context: dict[str, Any], needs_ok: bool, cancelled: bool):
        self.tokens = _tokens(text)
        self.context, self.needs_ok, self.cancelled = context, needs_ok, cancelled

    def value(self) -> Any:
        result = self._or()
        assert not self.tokens, self.tokens
        return result

    def _peek(self) -> str | None:
        return self.tokens[0][1] if self.tokens else None

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self.tokens.pop(0)
            right = self._and()
            left = left or right
        return left

    def _and(self) -> Any:
        left = self._compare()
        while self._peek() == "&&":
            self.tokens.pop(0)
            right = self._compare()
            left = left and right
        return left

    def _compare(self) -> Any:
        left = self._unary()
        if self._peek() in ("==", "!="):
            op = self.tokens.pop(0)[1]
            right = self._unary()
            return (str(left) == str(right)) == (op == "==")
        return left

    def _unary(self) -> Any:
        kind, token = self.tokens.pop(0)
        if token == "!":
            return not self._unary()
        if token == "(":
            inner = self._or()
            assert self.tokens.pop(0)[1] == ")"
            return inner
        if kind == "str":
            return token
        if token in STATUS_FUNCTIONS:
            return {
                "success()": self.needs_ok and not self.cancelled,
                "failure()": not self.needs_ok,
                "always()": True,
                "cancelled()": self.cancelled,
            }[token]
        if token in ("true", "false"):
            return token == "true"
        value: Any = self.context
        for part in token.split("."):
            value = value.get(part, "") if isinstance(value, dict) else ""
        return value


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def simulate(
    workflow: dict[str, Any],
    inputs: dict[str, Any],
    results: dict[str, str] | None = None,
    outputs: dict[str, dict[str, str]] | None = None,
    github: dict[str, Any] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """Each job's result and the order the jobs ran in: a job runs when its `if` holds
    (jobs run unless told otherwise: `success`, or `results[job]`)."""
    jobs = workflow["jobs"]
    done: dict[str, str] = {}
    order: list[str] = []
    while len(done) < len(jobs):
        ready = [j for j in jobs if j not in done and all(n in done for n in _needs(jobs[j]))]
        assert ready, "a cycle in needs"
        for name in ready:
            job = jobs[name]
            needs = {
                n: {"result": done[n], "outputs": (outputs or {}).get(n, {})} for n in _needs(job)
            }
            condition = str(job.get("if", "true")).removeprefix("${{").removesuffix("}}")
            if not any(f in condition for f in STATUS_FUNCTIONS):
                condition = f"success() && ({condition})"
            needs_ok = all(n["result"] == "success" for n in needs.values())
            context = {"inputs": inputs, "needs": needs, "github": github or {}}
            runs = bool(_Expr(condition, context, needs_ok, cancelled=False).value())
            done[name] = (results or {}).get(name, "success") if runs else "skipped"
            if runs:
                order.append(name)
    return done, order


def _ancestors(workflow: dict[str, Any], name: str) -> set[str]:
    found: set[str] = set()
    todo = _needs(workflow["jobs"][name])
    while todo:
        need = todo.pop()
        if need not in found:
            found.add(need)
            todo += _needs(workflow["jobs"][need])
    return found


BOTH = {"cluster": "c", "provider": "aws", "terraform": True, "deploy": True}
CHANGED = {"apply": {"values-changed": "true"}}


def test_the_evaluator_has_teeth() -> None:
    """The old shape (a deploy needing only the plan) deploys after a failed apply."""
    old = {
        "jobs": {
            "apply": {"if": "github.event_name != 'pull_request'"},
            "deploy": {"if": "github.event_name != 'pull_request'"},
        }
    }
    done, _ = simulate(old, BOTH, {"apply": "failure"})
    assert done["deploy"] == "success"


def test_apply_runs_before_the_deploy_of_its_cluster(cluster: dict[str, Any]) -> None:
    assert {"terraform-plan", "apply"} <= _ancestors(cluster, "deploy")
    done, order = simulate(cluster, BOTH, outputs=CHANGED)
    assert order == ["terraform-plan", "apply", "values", "deploy", "outcome"]
    assert all(result == "success" for result in done.values())
    # the apply uses the saved plan the plan job made at the pushed commit
    assert _ancestors(cluster, "apply") == {"terraform-plan"}


@pytest.mark.parametrize(
    ("failed", "result"),
    [("apply", "failure"), ("apply", "cancelled"), ("terraform-plan", "failure")],
)
def test_no_deploy_after_a_failed_apply(cluster: dict[str, Any], failed: str, result: str) -> None:
    """A failed, rejected (a failure) or cancelled apply, or a failed plan: that
    cluster's hubs are not deployed, and its outcome is still recorded."""
    done, order = simulate(cluster, BOTH, {failed: result}, outputs=CHANGED)
    assert done["deploy"] == "skipped"
    assert done["values"] == "skipped"
    assert order[-1] == "outcome"
    if failed == "terraform-plan":
        assert done["apply"] == "skipped"


def test_a_cluster_without_terraform_deploys_at_once(cluster: dict[str, Any]) -> None:
    done, order = simulate(cluster, {**BOTH, "terraform": False})
    assert order == ["deploy", "outcome"]
    assert done["terraform-plan"] == done["apply"] == "skipped"


def test_a_terraform_only_cluster_applies_and_deploys_nothing(cluster: dict[str, Any]) -> None:
    done, order = simulate(cluster, {**BOTH, "deploy": False})
    assert order == ["terraform-plan", "apply", "outcome"]  # values unchanged: no pull request
    assert done["deploy"] == done["values"] == "skipped"


def test_a_failed_deploy_or_values_job_fails_only_itself(cluster: dict[str, Any]) -> None:
    done, _ = simulate(cluster, BOTH, {"values": "failure"}, outputs=CHANGED)
    assert done["deploy"] == "success"  # the values pull request does not gate the deploy


def test_no_job_waits_for_another_cluster(deploy: dict[str, Any], cluster: dict[str, Any]) -> None:
    """Every per-cluster job is inside the one call per matrix entry: nothing in the
    deploy workflow needs a cluster's jobs except the summary (which runs always)."""
    jobs = deploy["jobs"]
    call = jobs["cluster"]
    assert call["strategy"]["fail-fast"] is False
    assert _needs(call) == ["plan", "notify-before"]  # the owners' notice first
    assert _needs(jobs["notify-before"]) == ["plan"]
    for name, job in jobs.items():
        if "cluster" in _needs(job):
            assert name == "summary" and job["if"].startswith("always()")
    # inside the cluster workflow: one cluster (its inputs), no fan-out, no other workflow
    for name, job in cluster["jobs"].items():
        assert "strategy" not in job and "uses" not in job, name
        assert set(_needs(job)) <= set(cluster["jobs"]), name
    text = json.dumps(cluster)
    assert "matrix." not in text
    assert "${{ inputs.cluster }}" in cluster["jobs"]["apply"]["environment"]


def test_the_outcome_records_every_result(tmp_path: Path, cluster: dict[str, Any]) -> None:
    record = step(cluster["jobs"]["outcome"], name="Record the results")
    env = {
        "CLUSTER": "c",
        "TERRAFORM": "true",
        "DEPLOY": "true",
        "PLAN_RESULT": "success",
        "APPLY_RESULT": "failure",
        "VALUES_RESULT": "skipped",
        "DEPLOY_RESULT": "skipped",
    }
    assert set(record["env"]) == set(env)
    result = bash(record["run"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "hubfleet-outcome" / "c.outcome.json").read_text())
    assert data == {
        "cluster": "c",
        "terraform": True,
        "deploy": True,
        "results": {
            "terraform_plan": "success",
            "apply": "failure",
            "values": "skipped",
            "deploy": "skipped",
        },
    }
    upload = step(cluster["jobs"]["outcome"], name="Upload the results")
    # one per wave of a rollout in waves (tests/ci/test_ci_waves.py)
    assert upload["with"]["name"].startswith("hubfleet-outcome-${{ inputs.cluster }}")


# ---------------------------------------------------------------- the matrix step


def test_the_matrix_has_every_cluster_with_helm_or_terraform_jobs(
    tmp_path: Path, deploy: dict[str, Any]
) -> None:
    def job(cluster: str, provider: str, **extra: str) -> dict[str, Any]:
        return {
            "cluster_name": cluster,
            "provider": provider,
            "reasons": ["x"],
            "choice_reason": "x",
            **extra,
        }

    plan = {
        "support_jobs": [job("both", "gcp")],
        "staging_jobs": [],
        "prod_jobs": [
            job("helm-only", "kubeconfig", hub_name="h"),
            job("here", "local", hub_name="h"),
        ],
        "terraform_jobs": [job("both", "gcp"), job("infra-only", "aws")],
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    out = tmp_path / "github_output"
    out.write_text("")
    script = step(deploy["jobs"]["plan"], id="matrix")["run"]
    result = bash(script, cwd=tmp_path, env={"GITHUB_OUTPUT": str(out)})
    assert result.returncode == 0, result.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert json.loads(outputs["clusters"]) == {
        "include": [
            {"cluster": "both", "provider": "gcp", "terraform": True, "deploy": True},
            {"cluster": "helm-only", "provider": "kubeconfig", "terraform": False, "deploy": True},
            {"cluster": "infra-only", "provider": "aws", "terraform": True, "deploy": False},
        ]
    }
    assert outputs["cluster-count"] == "3"
    assert outputs["count"] == "2"  # the helm clusters, as before
    assert "\n" not in outputs["clusters"]


# ---------------------------------------------------------------- the summary


def _outcome_file(
    reports: Path, cluster: str, apply: str, *, plan: str = "success", values: str = "skipped"
) -> None:
    results = {"terraform_plan": plan, "apply": apply, "values": values, "deploy": "skipped"}
    data = {"cluster": cluster, "terraform": True, "deploy": True, "results": results}
    (reports / f"{cluster}.outcome.json").write_text(json.dumps(data))


def _run_summary(
    tmp_path: Path, deploy: dict[str, Any], include: list[dict[str, Any]]
) -> tuple[int, str]:
    script = step(deploy["jobs"]["summary"], name="Merge the reports")["run"]
    summary = tmp_path / "summary.md"
    env = {
        "GITHUB_STEP_SUMMARY": str(summary),
        "PLAN_RESULT": "success",
        "MATRIX": json.dumps({"include": include}),
    }
    result = bash(script, cwd=tmp_path, env=env)
    return result.returncode, summary.read_text() if summary.exists() else ""


def _report(reports: Path, cluster: str) -> None:
    job = {"cluster_name": cluster, "hub_name": "h", "kind": "prod", "status": "succeeded"}
    (reports / f"{cluster}.json").write_text(json.dumps({"jobs": [job]}))


def test_the_summary_says_a_cluster_was_not_deployed_because_its_apply_failed(
    tmp_path: Path, deploy: dict[str, Any]
) -> None:
    reports = tmp_path / "hubfleet-reports"
    reports.mkdir()
    _report(reports, "ok")
    _outcome_file(reports, "ok", "success")
    _outcome_file(reports, "broken", "failure")  # no report: its deploy did not run
    include = [
        {"cluster": "broken", "provider": "aws", "terraform": True, "deploy": True},
        {"cluster": "ok", "provider": "gcp", "terraform": True, "deploy": True},
    ]
    status, summary = _run_summary(tmp_path, deploy, include)
    assert status == 1
    assert "1 of 2 clusters deployed, 1 failed." in summary
    assert (
        "- **broken**: not deployed: its terraform apply did not succeed (result: failure"
        in summary
    )
    assert "so its helm jobs did not run" in summary
    assert "| broken | success | failure | skipped |" in summary  # the Terraform table
    assert "| ok | gcp | ok | 1 | 0 | 0 | 0 | 0 |" in summary


def test_the_summary_of_a_failed_terraform_plan_and_a_terraform_only_cluster(
    tmp_path: Path, deploy: dict[str, Any]
) -> None:
    reports = tmp_path / "hubfleet-reports"
    reports.mkdir()
    _outcome_file(reports, "planless", "skipped", plan="failure")
    _outcome_file(reports, "infra", "success", values="success")
    include = [
        {"cluster": "infra", "provider": "aws", "terraform": True, "deploy": False},
        {"cluster": "planless", "provider": "gcp", "terraform": True, "deploy": True},
    ]
    status, summary = _run_summary(tmp_path, deploy, include)
    assert status == 1
    assert "- **planless**: not deployed: its terraform plan did not succeed" in summary
    assert "| infra | aws | ok | 0 | 0 | 0 | 0 | 0 |" in summary  # applied, nothing to deploy
    assert "`infra`:" not in summary


def test_the_summary_fails_when_the_values_pull_request_failed(
    tmp_path: Path, deploy: dict[str, Any]
) -> None:
    reports = tmp_path / "hubfleet-reports"
    reports.mkdir()
    _report(reports, "c")
    _outcome_file(reports, "c", "success", values="failure")
    include = [{"cluster": "c", "provider": "aws", "terraform": True, "deploy": True}]
    status, summary = _run_summary(tmp_path, deploy, include)
    assert status == 1
    assert "- **c**: the pull request of its regenerated values failed (result: failure)" in summary


def test_the_summary_without_an_outcome(tmp_path: Path, deploy: dict[str, Any]) -> None:
    """No outcome (the call failed to start or was cancelled): the old messages."""
    reports = tmp_path / "hubfleet-reports"
    reports.mkdir()
    include = [
        {"cluster": "a", "provider": "aws", "terraform": True, "deploy": True},
        {"cluster": "b", "provider": "aws", "terraform": True, "deploy": False},
    ]
    status, summary = _run_summary(tmp_path, deploy, include)
    assert status == 1
    assert "- **a**: no report: the job failed before deploying or was cancelled" in summary
    assert "- **b**: no outcome of its terraform jobs" in summary
    assert "| a | unknown | unknown | unknown |" in summary
