"""The GitHub Actions workflows hubfleet generates into a fleet repository.

The templates live in `templates/` beside this module (package data). They are
plain YAML with two additions, both resolved here:

- lines `#% if PROVIDER [PROVIDER ...]` ... `#% endif` keep what they enclose only
  when one of the named providers is selected (the marker lines themselves go);
- `@NAME@` placeholders, replaced by the settings (pinned versions, branch).

Every generated file starts with a header that records the settings it was made
with, so `check_up_to_date` can re-render a repository's files and compare them
byte for byte, and `hubfleet ci init` can keep a repository's settings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubfleet import __version__
from hubfleet.base.errors import HubfleetError
from hubfleet.base.jsonio import parse_json
from hubfleet.base.markdown import md_cell, md_text
from hubfleet.config.notify import DEFAULT_HEALTH_SCHEDULE, cron_line
from hubfleet.config.providers import CI_PROVIDERS, CLOUD_PROVIDERS, PROVIDERS
from hubfleet.deploy.model import read_report
from hubfleet.plan.job import read_json
from hubfleet.plan.plan import Plan
from hubfleet.plan.schema import JOB_LISTS

if TYPE_CHECKING:
    from hubfleet.config.fleet import Fleet

# CLOUD_PROVIDERS: a keyless (OIDC) login step in the deploy workflow; CI_PROVIDERS: the
# providers the deploy workflow deploys to (`local` runs hubs on one machine).

DEFAULT_BRANCH = "main"
HELM_VERSION = "v3.17.3"
KUBECTL_VERSION = "v1.32.3"
CHECK_JSONSCHEMA_VERSION = "0.39.0"
TERRAFORM_VERSION = "1.11.4"

# template (inside templates/) -> path written in the fleet repository
TEMPLATES = (
    ("actions/hubfleet-setup/action.yaml", ".github/actions/hubfleet-setup/action.yaml"),
    ("workflows/hubfleet-deploy.yaml", ".github/workflows/hubfleet-deploy.yaml"),
    # Called by the deploy workflow per cluster: terraform apply, then that cluster's deploy.
    ("workflows/hubfleet-cluster.yaml", ".github/workflows/hubfleet-cluster.yaml"),
    # Called by the deploy workflow per wave of a plan rolled out in waves (ci/waves.py).
    ("workflows/hubfleet-wave.yaml", ".github/workflows/hubfleet-wave.yaml"),
    # Called after each wave's call: its gate (max_failures) and soak (ci/waves.py).
    ("workflows/hubfleet-wave-gate.yaml", ".github/workflows/hubfleet-wave-gate.yaml"),
    ("workflows/hubfleet-plan-comment.yaml", ".github/workflows/hubfleet-plan-comment.yaml"),
    # A later approval by a hub's owners: plan again, auto-merge if community-only.
    (
        "workflows/hubfleet-community-review.yaml",
        ".github/workflows/hubfleet-community-review.yaml",
    ),
    # The clusters' Terraform (docs/terraform.md): pull-request plans, their comment, drift.
    ("workflows/hubfleet-terraform.yaml", ".github/workflows/hubfleet-terraform.yaml"),
    (
        "workflows/hubfleet-terraform-comment.yaml",
        ".github/workflows/hubfleet-terraform-comment.yaml",
    ),
    ("workflows/hubfleet-terraform-drift.yaml", ".github/workflows/hubfleet-terraform-drift.yaml"),
    # Every hub checked on a schedule (and after a Terraform-only push); incidents as issues.
    ("workflows/hubfleet-health.yaml", ".github/workflows/hubfleet-health.yaml"),
    # Scheduled: each cluster's live state against git, one issue per drifted cluster.
    ("workflows/hubfleet-status.yaml", ".github/workflows/hubfleet-status.yaml"),
)
GENERATED_PATHS = tuple(target for _, target in TEMPLATES)

SETTINGS_PREFIX = "# hubfleet-ci-settings: "

_VERSION_RE = re.compile(r"^[0-9][0-9A-Za-z.+!-]*$")
_BRANCH_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_PLACEHOLDER_RE = re.compile(r"@[A-Z_]+@")
_DIRECTIVE_RE = re.compile(r"^\s*#%\s*(\w+)\s*(.*?)\s*$")


class StaleWorkflowsError(HubfleetError):
    """The generated files differ from what the templates give (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class CiSettings:
    """What the generated files depend on; the same settings give the same bytes."""

    providers: tuple[str, ...]
    hubfleet_version: str = __version__
    branch: str = DEFAULT_BRANCH
    # The health workflow's cron (hubfleet.yaml `health.schedule`); recorded in the
    # header only when it is not the default, so older headers read the same.
    health_schedule: str = DEFAULT_HEALTH_SCHEDULE

    def __post_init__(self) -> None:
        unknown = sorted(set(self.providers) - set(PROVIDERS))
        if unknown:
            raise HubfleetError(
                f"unknown provider {unknown[0]!r}",
                hint="one of " + ", ".join(PROVIDERS),
            )
        ordered = tuple(p for p in PROVIDERS if p in self.providers)
        object.__setattr__(self, "providers", ordered)
        if not _VERSION_RE.match(self.hubfleet_version):
            raise HubfleetError(
                f"invalid hubfleet version {self.hubfleet_version!r}",
                hint="a release version such as 0.1.0",
            )
        if not _BRANCH_RE.match(self.branch) or ".." in self.branch:
            raise HubfleetError(f"invalid branch name {self.branch!r}")
        try:
            cron_line(self.health_schedule)
        except ValueError as exc:
            raise HubfleetError(str(exc)) from None

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "branch": self.branch,
            "hubfleet_version": self.hubfleet_version,
            "providers": list(self.providers),
        }
        if self.health_schedule != DEFAULT_HEALTH_SCHEDULE:
            data["health_schedule"] = self.health_schedule
        return json.dumps(data, sort_keys=True, separators=(", ", ": "))

    def command(self) -> str:
        """The `hubfleet ci init` command line that makes these files."""
        parts = ["hubfleet ci init"]
        parts += [f"--provider {p}" for p in self.providers]
        parts += [f"--hubfleet-version {self.hubfleet_version}", f"--branch {self.branch}"]
        return " ".join(parts)


def render_workflows(
    providers: Iterable[str],
    hubfleet_version: str = __version__,
    *,
    branch: str = DEFAULT_BRANCH,
) -> dict[str, str]:
    """The generated files: path relative to the fleet repository -> content."""
    return render(CiSettings(tuple(providers), hubfleet_version, branch))


def render(settings: CiSettings) -> dict[str, str]:
    values = {
        "@HUBFLEET_VERSION@": settings.hubfleet_version,
        "@HUBFLEET_REQUIREMENT@": f"hubfleet=={settings.hubfleet_version}",
        "@BRANCH@": settings.branch,
        "@HELM_VERSION@": HELM_VERSION,
        "@KUBECTL_VERSION@": KUBECTL_VERSION,
        "@CHECK_JSONSCHEMA_REQUIREMENT@": f"check-jsonschema=={CHECK_JSONSCHEMA_VERSION}",
        "@TERRAFORM_VERSION@": TERRAFORM_VERSION,
        "@HEALTH_SCHEDULE@": settings.health_schedule,
    }
    files: dict[str, str] = {}
    for template, target in TEMPLATES:
        text = _read_template(template)
        body = _substitute(_select(text, set(settings.providers), template), values, template)
        files[target] = _header(settings) + body
    return files


def _read_template(name: str) -> str:
    node = resources.files("hubfleet.ci").joinpath("templates", *name.split("/"))
    return node.read_text(encoding="utf-8")


def _header(settings: CiSettings) -> str:
    return (
        "# Generated by `hubfleet ci init` from the templates shipped with hubfleet.\n"
        "# Do not edit: change the settings and regenerate with\n"
        f"#   {settings.command()} --force\n"
        f"{SETTINGS_PREFIX}{settings.to_json()}\n"
    )


def _select(text: str, providers: set[str], template: str) -> str:
    """Keep the `#% if` blocks whose providers are selected; drop the marker lines."""
    out: list[str] = []
    stack: list[bool] = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        match = _DIRECTIVE_RE.match(line)
        if match is None:
            if all(stack):
                out.append(line)
            continue
        directive, argument = match.groups()
        if directive == "if":
            names = argument.split()
            unknown = [n for n in names if n not in PROVIDERS]
            if not names or unknown:
                raise HubfleetError(
                    f"bad template condition {argument!r}", path=template, line=number
                )
            stack.append(any(n in providers for n in names))
        elif directive == "endif" and stack and not argument:
            stack.pop()
        else:
            raise HubfleetError(
                f"bad template directive {line.strip()!r}", path=template, line=number
            )
    if stack:
        raise HubfleetError("unclosed `#% if` block", path=template)
    return "".join(out)


def _substitute(text: str, values: Mapping[str, str], template: str) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    left = _PLACEHOLDER_RE.search(text)
    if left:
        raise HubfleetError(f"unknown template placeholder {left.group(0)}", path=template)
    return text


# ---------------------------------------------------------------- settings on disk


def read_settings(repo: Path) -> CiSettings | None:
    """The settings recorded in a repository's generated files, if any."""
    for relative in GENERATED_PATHS:
        path = repo / relative
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines()[:10]:
            if not line.startswith(SETTINGS_PREFIX):
                continue
            try:
                data = parse_json(line[len(SETTINGS_PREFIX) :], relative, "settings").data
                return CiSettings(
                    providers=tuple(data["providers"]),
                    hubfleet_version=str(data["hubfleet_version"]),
                    branch=str(data["branch"]),
                    health_schedule=str(data.get("health_schedule", DEFAULT_HEALTH_SCHEDULE)),
                )
            except (HubfleetError, KeyError, TypeError) as exc:
                raise HubfleetError(
                    f"unreadable hubfleet CI settings: {exc}", path=relative
                ) from None
    return None


def check_up_to_date(repo: Path) -> list[str]:
    """The generated files that are missing or differ from a fresh rendering.

    The files are rendered again with the settings recorded in their own header,
    so only a change of the templates (or a hand edit) makes them stale.
    """
    settings = read_settings(repo)
    if settings is None:
        return list(GENERATED_PATHS)
    stale = []
    for relative, content in render(settings).items():
        path = repo / relative
        if not path.is_file() or path.read_bytes() != content.encode("utf-8"):
            stale.append(relative)
    return stale


@dataclass(frozen=True)
class WriteResult:
    written: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()


def write_files(repo: Path, files: Mapping[str, str], *, force: bool = False) -> WriteResult:
    """Write the files into the repository; without `force`, refuse to replace any
    file whose content differs (and then write none)."""
    changed = []
    unchanged = []
    for relative, content in sorted(files.items()):
        path = repo / relative
        if not path.exists():
            continue
        if path.is_file() and path.read_bytes() == content.encode("utf-8"):
            unchanged.append(relative)
        else:
            changed.append(relative)
    if changed and not force:
        raise HubfleetError(
            "would overwrite changed files: " + ", ".join(changed),
            hint="run `hubfleet ci init --force` to replace them",
        )
    written = []
    for relative, content in sorted(files.items()):
        if relative in unchanged:
            continue
        path = repo / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8"))
        written.append(relative)
    return WriteResult(written=tuple(written), unchanged=tuple(unchanged))


def fleet_providers(fleet: Fleet) -> tuple[str, ...]:
    """The providers of a loaded fleet's clusters, in `PROVIDERS` order."""
    found = {cluster.provider for cluster in fleet.clusters}
    return tuple(p for p in PROVIDERS if p in found)


# ---------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class MatrixEntry:
    cluster: str
    provider: str


@dataclass(frozen=True)
class Matrix:
    """The deploy job's matrix: one entry per cluster the plan touches."""

    include: tuple[MatrixEntry, ...]
    not_deployed: tuple[MatrixEntry, ...] = field(default=())  # local clusters
    # Clusters whose configuration is broken (the plan's `broken`, docs/isolation.md):
    # not in the matrix; the summary fails while there is one.
    broken: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, list[dict[str, str]]]:
        return {"include": [{"cluster": e.cluster, "provider": e.provider} for e in self.include]}


def build_matrix(plan: Plan, every: Sequence[MatrixEntry] = ()) -> Matrix:
    """`{"include": [{"cluster", "provider"}]}` from a plan (DESIGN.md section 3), as
    `hubfleet.plan.plan.read_plan` read it (which checked its structure).

    Sorted by cluster name; clusters of the `local` provider are left out (they
    run hubs on one machine, not from CI) and reported in `not_deployed`. `every`
    (a force push: `every_cluster`) adds clusters the plan does not touch: their
    deploy reconciles them with git (`plan --live`, docs/status.md).
    """
    providers: dict[str, str] = {}
    for key, _ in JOB_LISTS:
        for index, job in enumerate(getattr(plan, key)):
            if not job.provider:
                raise HubfleetError(
                    f"the plan's {key}[{index}] has no provider",
                    hint="write it with `hubfleet plan --output json`",
                )
            providers.setdefault(job.cluster, job.provider)
    broken = {cluster.name for cluster in plan.broken}
    for entry in every:
        if entry.cluster not in broken:
            providers.setdefault(entry.cluster, entry.provider)
    entries = [MatrixEntry(c, p) for c, p in sorted(providers.items())]
    return Matrix(
        include=tuple(e for e in entries if e.provider in CI_PROVIDERS),
        not_deployed=tuple(e for e in entries if e.provider not in CI_PROVIDERS),
        broken=tuple(sorted(cluster.name for cluster in plan.broken)),
    )


def every_cluster(fleet: Fleet) -> tuple[MatrixEntry, ...]:
    """Every cluster of a loaded fleet, as matrix entries (`build_matrix`'s `every`)."""
    ordered = sorted(fleet.clusters, key=lambda cluster: cluster.name)
    return tuple(MatrixEntry(c.name, c.provider) for c in ordered)


# ---------------------------------------------------------------- the summary

FAILED_STATUSES = frozenset({"failed", "cancelled"})
STATUS_COLUMNS = ("succeeded", "unchanged", "failed", "skipped", "cancelled")


# The jobs of the cluster workflow (hubfleet-cluster.yaml) its outcome file reports.
TERRAFORM_JOBS = (("terraform_plan", "plan"), ("apply", "apply"), ("values", "values pull request"))
OUTCOME_SUFFIX = ".outcome.json"


@dataclass(frozen=True)
class ClusterOutcome:
    cluster: str
    provider: str
    counts: tuple[tuple[str, int], ...]
    failed_jobs: tuple[str, ...]
    problem: str | None = None  # no report, an unreadable one, or a failed terraform job
    # job -> result of the cluster's terraform jobs; empty without a terraform job
    terraform: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.failed_jobs


@dataclass(frozen=True)
class Summary:
    markdown: str
    ok: bool


def summarize(
    plan_result: str,
    matrix: Mapping[str, Any] | None,
    reports: Path,
    broken: Sequence[str] = (),
) -> Summary:
    """Merge the per-cluster deploy reports (`<reports>/<cluster>.json`) and the cluster
    workflow's outcomes (`<reports>/<cluster>.outcome.json`) into one markdown summary.

    A matrix entry may say `"terraform": true` (the cluster has a terraform job: plan,
    apply, values pull request) and `"deploy": false` (no helm job). Not ok when the
    plan failed, a cluster failed, a cluster to deploy left no report (its job failed
    early, was cancelled, or did not run because its terraform apply did not succeed:
    the outcome says which), a cluster's terraform job failed, or a cluster's
    configuration is broken (`broken`, from the plan: never deployed, docs/isolation.md).
    """
    lines = ["## hubfleet deploy", ""]
    if plan_result != "success":
        lines.append(f"The plan job did not succeed (result: {plan_result or 'unknown'}):")
        lines.append("nothing was deployed.")
        return Summary("\n".join(lines) + "\n", ok=False)
    include = (matrix or {}).get("include", [])
    if not isinstance(include, list):
        raise HubfleetError("the matrix has no include list")
    if not include:
        lines.append("Nothing to deploy: the plan touches no cluster.")
        lines += _broken_lines(broken)
        return Summary("\n".join(lines) + "\n", ok=not broken)
    outcomes = [
        _outcome(
            str(entry.get("cluster")),
            str(entry.get("provider")),
            reports,
            deploy=entry.get("deploy", True) is not False,
            terraform=entry.get("terraform", False) is True,
        )
        for entry in sorted(include, key=lambda e: str(e.get("cluster")))
    ]
    failed = [o for o in outcomes if not o.ok]
    lines.append(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} clusters deployed"
        + (f", {len(failed)} failed." if failed else ".")
    )
    lines.append("")
    header = ["cluster", "provider", "result", *STATUS_COLUMNS]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for o in outcomes:
        result = "ok" if o.ok else "**failed**"
        counts = dict(o.counts)
        cells = [md_cell(o.cluster), md_cell(o.provider), result]
        cells += [str(counts.get(s, 0)) for s in STATUS_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    with_terraform = [o for o in outcomes if o.terraform]
    if with_terraform:
        lines += ["", "### Terraform", ""]
        titles = [title for _, title in TERRAFORM_JOBS]
        lines.append("| " + " | ".join(["cluster", *titles]) + " |")
        lines.append("|" + "---|" * (len(titles) + 1))
        for o in with_terraform:
            results = dict(o.terraform)
            cells = [md_cell(o.cluster)] + [md_cell(results.get(k, "")) for k, _ in TERRAFORM_JOBS]
            lines.append("| " + " | ".join(cells) + " |")
    if failed:
        lines += ["", "### Failures", ""]
        for o in failed:
            if o.problem:
                lines.append(f"- **{md_text(o.cluster)}**: {md_text(o.problem)}")
            lines += [f"- **{md_text(o.cluster)}** {job}" for job in o.failed_jobs]
    lines += _broken_lines(broken)
    return Summary("\n".join(lines) + "\n", ok=not failed and not broken)


def _broken_lines(broken: Sequence[str]) -> list[str]:
    """The clusters the plan left out because their configuration is broken."""
    if not broken:
        return []
    lines = ["", f"### Broken clusters: {len(broken)} (not deployed)", ""]
    lines += [
        f"- **{md_text(name)}**: its configuration does not load; nothing of it was "
        "planned or deployed (its errors are in the plan job's summary)"
        for name in broken
    ]
    return lines


def parse_broken(text: str) -> tuple[str, ...]:
    """The plan job's `broken` output: a JSON list of cluster names ("" when absent)."""
    if not text.strip():
        return ()
    data = parse_json(text, "--broken", "broken").data
    if not isinstance(data, list) or not all(isinstance(name, str) and name for name in data):
        raise HubfleetError("--broken is not a JSON list of cluster names")
    return tuple(data)


def _terraform_results(cluster: str, reports: Path) -> dict[str, str] | None:
    """The results of the cluster's terraform jobs from its outcome file (None when
    absent or unreadable: the cluster workflow did not get to record them)."""
    path = reports / f"{cluster}{OUTCOME_SUFFIX}"
    if not path.is_file():
        return None
    try:
        data = read_json(path, "outcome").data
    except HubfleetError:
        return None
    results = data.get("results") if isinstance(data, Mapping) else None
    if not isinstance(results, Mapping):
        return None
    return {key: str(results.get(key) or "unknown") for key, _ in TERRAFORM_JOBS}


def _terraform_problem(results: dict[str, str] | None) -> str | None:
    """Why the cluster's terraform did not succeed, or None."""
    if results is None:
        return "no outcome of its terraform jobs: its workflow failed early or was cancelled"
    plan, apply, values = (results[key] for key, _ in TERRAFORM_JOBS)
    if plan != "success":
        return f"its terraform plan did not succeed (result: {plan})"
    if apply != "success":
        # a rejected review (required reviewers) ends the job as a failure
        return f"its terraform apply did not succeed (result: {apply}; a rejected review fails)"
    if values not in ("success", "skipped"):
        return f"the pull request of its regenerated values failed (result: {values})"
    return None


def _outcome(
    cluster: str, provider: str, reports: Path, *, deploy: bool = True, terraform: bool = False
) -> ClusterOutcome:
    results = _terraform_results(cluster, reports) if terraform else None
    shown = tuple((key, results[key]) for key, _ in TERRAFORM_JOBS) if results else ()
    if terraform and not shown:
        shown = tuple((key, "unknown") for key, _ in TERRAFORM_JOBS)
    tf_problem = _terraform_problem(results) if terraform else None
    if not deploy:
        return ClusterOutcome(cluster, provider, (), (), tf_problem, shown)
    path = reports / f"{cluster}.json"
    if not path.is_file():
        blocked = tf_problem is not None and results is not None and results["apply"] != "success"
        if blocked:
            problem = f"not deployed: {tf_problem}, so its helm jobs did not run"
        else:
            problem = "no report: the job failed before deploying or was cancelled"
        return ClusterOutcome(cluster, provider, (), (), problem, shown)
    try:
        report = read_report(path)
    except HubfleetError as exc:
        return ClusterOutcome(cluster, provider, (), (), f"unreadable report: {exc}", shown)
    counts: dict[str, int] = {}
    failed: list[str] = []
    for record in sorted(report.records, key=lambda r: (r.job.kind, r.job.hub or "")):
        status, job = record.status, record.job
        counts[status] = counts.get(status, 0) + 1
        if status in FAILED_STATUSES or status not in STATUS_COLUMNS:
            text = f"{md_text(job.hub or 'support')} ({md_text(job.kind)}): {md_text(status)}"
            why = job.choice_reason
            failed.append(text + (f": {md_text(why)}" if why else ""))
    return ClusterOutcome(
        cluster, provider, tuple(sorted(counts.items())), tuple(failed), tf_problem, shown
    )


def parse_matrix(text: str) -> Mapping[str, Any] | None:
    """The matrix as the plan job printed it (empty when the plan job failed)."""
    if not text.strip():
        return None
    data = parse_json(text, "--matrix", "matrix").data
    if not isinstance(data, Mapping):
        raise HubfleetError("the matrix is not a JSON object")
    return data


__all__ = [
    "CI_PROVIDERS",
    "CLOUD_PROVIDERS",
    "GENERATED_PATHS",
    "PROVIDERS",
    "CiSettings",
    "Matrix",
    "MatrixEntry",
    "StaleWorkflowsError",
    "Summary",
    "WriteResult",
    "build_matrix",
    "check_up_to_date",
    "fleet_providers",
    "parse_broken",
    "read_settings",
    "render",
    "render_workflows",
    "summarize",
    "write_files",
]
