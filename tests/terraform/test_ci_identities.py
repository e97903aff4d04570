"""The keyless CI identities trust exactly the workflow jobs that need them (issue 16).

Both sides are computed independently and compared, for one repository and clusters
whose names could collide ("lab", "plan-lab", "apply-lab"):

- the jobs: every job of the generated workflows that logs in to a cloud, its role
  from the hubfleet command it runs, and GitHub's OIDC subject from its environment
  (`repo:R:environment:E`), or from its event without one (`repo:R:pull_request`,
  `repo:R:ref:refs/heads/B`); a called workflow's jobs run on its callers' events;
- the identities: each shipped module's ci.tf parsed with python-hcl2, the subjects
  each CI identity trusts evaluated by substituting the repository and the cluster.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

from hubfleet.ci.workflows import render_workflows
from tests.ci.ci_helpers import load

MODULES = Path(__file__).parents[2] / "src" / "hubfleet" / "terraform" / "modules"
REPO = "octo-org/fleet"
BRANCH = "main"
CLUSTERS = ("lab", "plan-lab", "apply-lab")
PROVIDERS = ("gcp", "aws", "azure")
LOGIN_ACTIONS = {
    "gcp": "google-github-actions/auth@",
    "aws": "aws-actions/configure-aws-credentials@",
    "azure": "azure/login@",
}
# What a job does with its cloud identity, from the command it runs.
ROLES = {
    "hubfleet terraform plan": "planner",
    "hubfleet terraform drift": "planner",
    "hubfleet terraform backups": "planner",  # lists snapshots: read-only
    "hubfleet terraform apply": "deployer",
    "hubfleet deploy": "helm",
    "hubfleet check": "helm",  # the scheduled health check (hubfleet-health.yaml), as the deploy
}
IDENTITIES = {"planner", "deployer", "helm"}
PRIVILEGED = {"deployer", "helm"}  # owner/admin of the infrastructure, admin of the cluster
POOL = "projects/123456789/locations/global/workloadIdentityPools/hubfleet-pool"
SUB = "token.actions.githubusercontent.com:sub"


# --- the jobs -----------------------------------------------------------------


@dataclass(frozen=True)
class LoginJob:
    workflow: str
    job: str
    provider: str
    role: str
    events: frozenset[str]
    environment: str | None  # as written, with its ${{ ... }} cluster expression

    def subjects(self, cluster: str) -> set[str]:
        if self.environment is not None:
            name = self.environment
            for expression in ("${{ inputs.cluster }}", "${{ matrix.cluster }}"):
                name = name.replace(expression, cluster)
            assert "${{" not in name, (self.workflow, self.job, name)
            return {f"repo:{REPO}:environment:{name}"}
        found = set()
        for event in self.events:
            if event in ("pull_request", "pull_request_target"):
                found.add(f"repo:{REPO}:pull_request")
            else:  # push, schedule, workflow_dispatch: the branch's ref
                found.add(f"repo:{REPO}:ref:refs/heads/{BRANCH}")
        return found


def _events(workflows: dict[str, dict[str, Any]], path: str) -> frozenset[str]:
    on = workflows[path]["on"]
    events = set(on if isinstance(on, (dict, list)) else [on]) - {"workflow_call"}
    if "workflow_call" in on:  # the events of its callers
        for caller_path, caller in workflows.items():
            for job in caller["jobs"].values():
                if job.get("uses") == f"./{path}":
                    called = set(_events(workflows, caller_path))
                    if "github.event_name != 'pull_request'" in job.get("if", ""):
                        called.discard("pull_request")
                    events |= called
    return frozenset(events)


@cache
def login_jobs() -> tuple[LoginJob, ...]:
    files = render_workflows(PROVIDERS, "0.1.0", branch=BRANCH)
    workflows = {p: load(t) for p, t in files.items() if p.startswith(".github/workflows/")}
    found = []
    for path, data in sorted(workflows.items()):
        for name, job in data["jobs"].items():
            steps = job.get("steps", [])
            scripts = "\n".join(s.get("run", "") for s in steps)
            roles = {role for command, role in ROLES.items() if command in scripts}
            for provider, action in LOGIN_ACTIONS.items():
                if not any(s.get("uses", "").startswith(action) for s in steps):
                    continue
                assert len(roles) == 1, (path, name, roles)
                (role,) = roles
                events = _events(workflows, path)
                found.append(LoginJob(path, name, provider, role, events, job.get("environment")))
    return tuple(found)


# --- the identities -------------------------------------------------------------


@dataclass(frozen=True)
class Trust:
    kind: str  # "exact", "like" (IAM StringLike), "repository" (a GCP principalSet)
    value: str

    def matches(self, subject: str) -> bool:
        if self.kind == "exact":
            return subject == self.value
        if self.kind == "like":
            return fnmatch.fnmatchcase(subject, self.value)
        return subject.startswith(f"repo:{self.value}:")


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def _unconditional(expr: Any) -> Any:
    """A for_each or local value with its `var.github_repository == "" ? {} :` dropped
    (the repository is set here), an object literal parsed; else the bare expression."""
    if not isinstance(expr, str):
        return expr
    text = expr.removeprefix("${").removesuffix("}").strip()
    text = re.sub(r'^var\.github_repository == "" \? \{\} : ', "", text)
    if text.startswith("{"):
        return _unquote(hcl2.loads(f"value = {text}\n"))["value"]
    return text


class Module:
    """One module's ci.tf, evaluated for one cluster."""

    def __init__(self, provider: str, cluster: str) -> None:
        with (MODULES / provider / "ci.tf").open() as handle:
            self.tf = _unquote(hcl2.load(handle))
        self.vars = {"github_repository": REPO, "hubfleet_cluster": cluster}
        self.locals: dict[str, Any] = {}
        for block in self.tf.get("locals", []):
            self.locals.update(block)

    def blocks(self, kind: str, type_: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for entry in self.tf.get(kind, []):
            found.update(entry.get(type_, {}))
        return found

    def render(self, template: str, key: str | None = None, value: Any = None) -> str:
        def one(match: re.Match[str]) -> str:
            expr = match.group(1).strip()
            if expr.startswith("var."):
                return self.vars[expr[4:]]
            if expr == "each.key" and key is not None:
                return key
            if expr == "each.value" and isinstance(value, str):
                return self.render(value, key)
            if expr.startswith("each.value.") and isinstance(value, dict):
                return self.render(value[expr.removeprefix("each.value.")], key)
            local = re.fullmatch(r"local\.(\w+)\[each\.key\]\.(\w+)", expr)
            if local and key is not None:
                return self.render(self.locals[local.group(1)][key][local.group(2)], key)
            if expr == "google_iam_workload_identity_pool.ci[0].name":
                return POOL
            raise AssertionError(f"cannot evaluate ${{{expr}}} in {template!r}")

        return re.sub(r"\$\{([^{}]*)\}", one, template)

    def instances(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        """Instance key -> each.value (a counted resource: its name -> None)."""
        expr = body.get("for_each")
        if expr is None:
            return {name: None}
        text = _unconditional(expr)
        if isinstance(text, dict):
            return text
        if text.startswith("local."):
            found = _unconditional(self.locals[text.removeprefix("local.")])
            assert isinstance(found, dict), text
            return found
        other = re.fullmatch(r"(\w+)\.(\w+)", text)
        assert other, f"cannot evaluate for_each {expr!r}"
        kind = "data" if other.group(1) == "data" else "resource"
        resource = self.blocks(kind, other.group(1))[other.group(2)]
        return self.instances(resource, other.group(2))

    def trusts(self) -> dict[str, list[Trust]]:
        """CI identity (planner, deployer, helm) -> the subjects it trusts."""
        found: dict[str, list[Trust]] = {}
        if "aws_iam_role" in str(self.tf):
            docs = self.blocks("data", "aws_iam_policy_document")
            for name, role in self.blocks("resource", "aws_iam_role").items():
                for key in self.instances(role, name):
                    ref = re.fullmatch(
                        r'\$\{data\.aws_iam_policy_document\.(\w+)\[(each\.key|"\w+")\]\.json\}',
                        role["assume_role_policy"],
                    )
                    assert ref, role["assume_role_policy"]
                    doc_key = key if ref.group(2) == "each.key" else ref.group(2).strip('"')
                    doc = docs[ref.group(1)]
                    doc_value = self.instances(doc, ref.group(1))[doc_key]
                    for statement in doc["statement"]:
                        for condition in statement.get("condition", []):
                            if condition["variable"] != SUB:
                                continue
                            kind = {"StringEquals": "exact", "StringLike": "like"}[
                                condition["test"]
                            ]
                            for template in condition["values"]:
                                subject = self.render(template, doc_key, doc_value)
                                found.setdefault(key, []).append(Trust(kind, subject))
        members = self.blocks("resource", "google_service_account_iam_member")
        for name, binding in members.items():
            if binding["role"] != "roles/iam.workloadIdentityUser":
                continue
            for key, value in self.instances(binding, name).items():
                member = self.render(binding["member"], key, value)
                if member.startswith(f"principal://iam.googleapis.com/{POOL}/subject/"):
                    trust = Trust("exact", member.split("/subject/", 1)[1])
                elif member.startswith(f"principalSet://iam.googleapis.com/{POOL}/"):
                    attribute = member.removeprefix(f"principalSet://iam.googleapis.com/{POOL}/")
                    assert attribute.startswith("attribute.repository/"), member
                    trust = Trust("repository", attribute.split("/", 1)[1])
                else:
                    raise AssertionError(f"unknown member {member}")
                found.setdefault(key, []).append(trust)
        credentials = self.blocks("resource", "azurerm_federated_identity_credential")
        for name, credential in credentials.items():
            for key, value in self.instances(credential, name).items():
                subject = self.render(credential["subject"], key, value)
                found.setdefault(key, []).append(Trust("exact", subject))
        return found


@cache
def identities(provider: str) -> dict[tuple[str, str], tuple[Trust, ...]]:
    """(cluster, identity) -> its trusted subjects, for every cluster of CLUSTERS."""
    return {
        (cluster, identity): tuple(trusts)
        for cluster in CLUSTERS
        for identity, trusts in Module(provider, cluster).trusts().items()
    }


def trusted_by(provider: str, subject: str) -> set[tuple[str, str]]:
    return {
        who
        for who, trusts in identities(provider).items()
        if any(t.matches(subject) for t in trusts)
    }


# --- the rules ------------------------------------------------------------------


def test_the_workflows_have_login_jobs_of_every_role() -> None:
    for provider in PROVIDERS:
        roles = {j.role for j in login_jobs() if j.provider == provider}
        assert roles == IDENTITIES, provider


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_login_job_is_trusted_by_exactly_the_identity_of_its_role(provider: str) -> None:
    for job in (j for j in login_jobs() if j.provider == provider):
        for cluster in CLUSTERS:
            for subject in job.subjects(cluster):
                assert trusted_by(provider, subject) == {(cluster, job.role)}, (
                    job.workflow,
                    job.job,
                    subject,
                )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_no_pull_request_job_is_trusted_by_a_deployer(provider: str) -> None:
    pull_request = [j for j in login_jobs() if "pull_request" in j.events]
    assert pull_request  # the pull request's terraform plan logs in
    subjects = {f"repo:{REPO}:pull_request"}
    for job in pull_request:
        for cluster in CLUSTERS:
            subjects |= job.subjects(cluster)
    for subject in subjects:
        privileged = {w for w in trusted_by(provider, subject) if w[1] in PRIVILEGED}
        assert privileged == set(), (subject, privileged)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_identity_trusts_one_exact_subject_of_a_job(provider: str) -> None:
    found = identities(provider)
    assert {identity for _, identity in found} == IDENTITIES
    jobs = {
        (cluster, job.role): job.subjects(cluster)
        for job in login_jobs()
        if job.provider == provider
        for cluster in CLUSTERS
    }
    for (cluster, identity), trusts in found.items():
        assert len(trusts) == 1, (cluster, identity, trusts)
        (trust,) = trusts
        assert trust.kind == "exact", (cluster, identity, trust)
        assert "*" not in trust.value and "?" not in trust.value, trust
        assert {trust.value} == jobs[(cluster, identity)], (cluster, identity)


def test_the_rules_catch_a_wildcard_and_a_repository_wide_principal() -> None:
    """The comparison itself: the trusts of the modules before issue 16's fix."""
    everything = Trust("like", f"repo:{REPO}:*")
    environments = Trust("like", f"repo:{REPO}:environment:*")
    repository = Trust("repository", REPO)
    plan = f"repo:{REPO}:environment:terraform-plan-lab"
    assert everything.matches(f"repo:{REPO}:pull_request")
    assert environments.matches(plan) and repository.matches(plan)
    assert not Trust("exact", f"repo:{REPO}:environment:terraform-apply-lab").matches(plan)
    assert not repository.matches(f"repo:{REPO}-fork:pull_request")
