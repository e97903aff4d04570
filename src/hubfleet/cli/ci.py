"""`hubfleet ci`: the fleet's GitHub Actions workflows.

`init` writes them into the fleet repository and `check` says whether they are
current. `matrix` and `summary` are the steps the deploy workflow itself runs
(hidden: they are for the workflow, not for people).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from hubfleet.cli import spec
from hubfleet.cli.common import echo, options, repo_root
from hubfleet.config.providers import CLOUD_PROVIDERS

if TYPE_CHECKING:
    from hubfleet.config.fleet import Fleet

app = spec.Group(
    help="GitHub Actions workflows: plan on pull requests, per-cluster deploys on merge.",
    no_args_is_help=True,
)


class MatrixOutput(StrEnum):
    json = "json"
    github = "github"


def _codeowners(fleet: Fleet | None) -> dict[str, str]:
    """`.github/CODEOWNERS` from the fleet's communities (nothing without a platform team)."""
    from hubfleet.base.errors import HubfleetError
    from hubfleet.community.codeowners import CODEOWNERS_PATH, render_codeowners

    try:
        text = render_codeowners(fleet) if fleet is not None else None
    except HubfleetError:
        return {}
    return {CODEOWNERS_PATH: text} if text is not None else {}


@app.command()
def init(
    ctx: spec.Context,
    provider: Annotated[
        list[str] | None,
        spec.Option(
            "--provider",
            "-p",
            help="A provider to log in to (repeat; default: the providers of the fleet's "
            f"clusters, else {', '.join(CLOUD_PROVIDERS[:-1])} and {CLOUD_PROVIDERS[-1]}).",
        ),
    ] = None,
    hubfleet_version: Annotated[
        str | None,
        spec.Option(
            "--hubfleet-version", help="The hubfleet version the workflows install (pinned)."
        ),
    ] = None,
    branch: Annotated[
        str | None,
        spec.Option("--branch", help="The default branch, whose pushes deploy (default: main)."),
    ] = None,
    force: Annotated[
        bool, spec.Option("--force", help="Replace generated files that were changed.")
    ] = False,
) -> None:
    """Write the deploy and plan-comment workflows into the fleet repository."""
    from hubfleet import __version__
    from hubfleet.ci.initfleet import choose_settings, fleet_if_it_loads, soak_environments
    from hubfleet.ci.workflows import render, write_files

    repo = repo_root(ctx)
    fleet = fleet_if_it_loads(repo)  # once, for the settings, CODEOWNERS and the soaks
    version = hubfleet_version or __version__
    settings, source = choose_settings(repo, fleet, provider, version, branch)
    result = write_files(repo, {**render(settings), **_codeowners(fleet)}, force=force)
    providers = ", ".join(settings.providers) or "none"
    lines = [f"providers: {providers} ({source}); hubfleet {settings.hubfleet_version}"]
    lines += [f"wrote     {path}" for path in result.written]
    lines += [f"unchanged {path}" for path in result.unchanged]
    if result.written:
        lines.append("Set up the cloud identities and secrets: see docs/ci.md in hubfleet.")
    lines += soak_environments(fleet)
    echo(ctx, "\n".join(lines))


@app.command()
def check(ctx: spec.Context) -> None:
    """Exit 1 when the generated workflows are missing or differ from the templates."""
    from hubfleet.ci.initfleet import fleet_if_it_loads, schedule_changed
    from hubfleet.ci.workflows import StaleWorkflowsError, check_up_to_date

    repo = repo_root(ctx)
    fleet = fleet_if_it_loads(repo)
    stale = check_up_to_date(repo)
    stale += schedule_changed(repo, fleet, stale)
    for relative, content in _codeowners(fleet).items():
        path = repo / relative
        if not path.is_file() or path.read_bytes() != content.encode("utf-8"):
            stale.append(relative)
    if stale:
        raise StaleWorkflowsError(
            "the generated workflows are not up to date: " + ", ".join(stale),
            hint="regenerate them with `hubfleet ci init --force`",
        )
    echo(ctx, "the generated workflows are up to date")


@app.command(hidden=True)
def matrix(
    ctx: spec.Context,
    plan: Annotated[Path, spec.Option("--plan", help="A plan JSON file (`-` for stdin).")],
    output: Annotated[
        MatrixOutput,
        spec.Option("--output", help="json: the matrix; github: `matrix=` and `count=` lines."),
    ] = MatrixOutput.json,
    every_cluster: Annotated[
        bool,
        spec.Option(
            "--every-cluster",
            help="Every cluster of the fleet too (a force push: each reconciles with git).",
        ),
    ] = False,
) -> None:
    """The deploy job's matrix from a plan: {"include": [{"cluster", "provider"}]}."""
    import json
    import sys

    from hubfleet.ci.workflows import build_matrix
    from hubfleet.plan.plan import read_plan

    stdin_text = sys.stdin.read() if str(plan) == "-" else None
    read = read_plan(plan, stdin_text=stdin_text)
    every = _every_cluster(ctx) if every_cluster else ()
    result = build_matrix(read, every)
    for entry in result.not_deployed:
        # A workflow command's data: escaped so that a name cannot start another command.
        cluster = entry.cluster.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        echo(
            ctx,
            f"::notice::cluster {cluster} uses the {entry.provider} provider: not deployed from CI",
            err=True,
        )
    text = json.dumps(result.as_json(), separators=(",", ":"))
    if output is MatrixOutput.github:
        broken = json.dumps(list(result.broken), separators=(",", ":"))
        waved = "true" if read.rollout is not None else "false"  # docs/ci.md: waves
        notify = "true" if _notices_on(ctx) else "false"  # docs/ci.md: notices
        echo(
            ctx,
            f"matrix={text}\ncount={len(result.include)}\nbroken={broken}\nwaved={waved}\n"
            f"notify={notify}",
        )
    else:
        echo(ctx, text)


def _notices_on(ctx: spec.Context) -> bool:
    """hubfleet.yaml's `notify.owners` at this commit: the deploy workflow's
    notify-before job runs, and the deploy waits for it, only then."""
    from hubfleet.base.errors import HubfleetError
    from hubfleet.config.load import load_isolated

    try:
        return load_isolated(repo_root(ctx), parse_values=False).fleet.settings.notify.owners
    except HubfleetError:
        return False


@app.command(hidden=True)
def wave(
    ctx: spec.Context,
    plan: Annotated[Path, spec.Option("--plan", help="A plan JSON file.")],
    number: Annotated[int, spec.Option("--wave", min=1, help="The wave, counted from 1.")],
) -> None:
    """Wave N of a plan rolled out in waves, as `$GITHUB_OUTPUT` lines: name=, clusters=
    (the cluster workflow's matrix), count=, soak-s= (docs/ci.md)."""
    from hubfleet.ci.waves import wave_matrix
    from hubfleet.plan.plan import read_plan

    echo(ctx, wave_matrix(read_plan(plan), number).github_lines().rstrip("\n"))


@app.command(name="wave-gate", hidden=True)
def wave_gate(
    ctx: spec.Context,
    plan: Annotated[Path, spec.Option("--plan", help="A plan JSON file.")],
    number: Annotated[int, spec.Option("--wave", min=1, help="The wave, counted from 1.")],
    reports: Annotated[Path, spec.Option("--reports", help="The folder of <cluster>.json.")],
) -> None:
    """Wave N's failures against its max_failures (markdown); exit 1 over it: the
    rollout halts (the next wave's call needs this one)."""
    from hubfleet.base.errors import DeployError
    from hubfleet.ci.waves import wave_gate as gate
    from hubfleet.plan.plan import read_plan

    result = gate(read_plan(plan), number, reports)
    echo(ctx, result.markdown.rstrip("\n"))
    if not result.ok:
        raise DeployError(f"wave {number} failed over its threshold: the rollout halts here")


@app.command(hidden=True)
def summary(
    ctx: spec.Context,
    reports: Annotated[Path, spec.Option("--reports", help="The folder of <cluster>.json.")],
    matrix: Annotated[str, spec.Option("--matrix", help="The plan job's matrix JSON.")] = "",
    plan_result: Annotated[
        str, spec.Option("--plan-result", help="The plan job's result.")
    ] = "success",
    broken: Annotated[
        str,
        spec.Option("--broken", help="The plan job's broken clusters (JSON list of names)."),
    ] = "",
) -> None:
    """Merge the per-cluster deploy reports into markdown; exit 1 if any cluster failed
    or any cluster's configuration is broken."""
    from hubfleet.base.errors import DeployError
    from hubfleet.ci.workflows import parse_broken, parse_matrix, summarize

    result = summarize(plan_result, parse_matrix(matrix), reports, parse_broken(broken))
    echo(ctx, result.markdown)
    if not result.ok:
        raise DeployError("the deploy failed: see the summary")


@app.command("rollout-run", hidden=True)
def rollout_run(
    ctx: spec.Context,
    repository: Annotated[str, spec.Option("--repository", help="OWNER/NAME.")],
    branch: Annotated[str, spec.Option("--branch", help="The default branch.")],
) -> None:
    """`run-id=N`: the run holding the newest `hubfleet-rollout` artifact of the branch
    (empty: none), for the plan job's download (docs/ci.md)."""
    from hubfleet.ci.ghissues import words
    from hubfleet.ci.rollout import find_state_run

    found = find_state_run(words(_gh_runner(ctx)), repository, branch)
    echo(ctx, f"run-id={found if found is not None else ''}")


@app.command("rollout-summary", hidden=True)
def rollout_summary_command(
    ctx: spec.Context,
    plan: Annotated[Path, spec.Option("--plan", help="A plan JSON file.")],
    reports: Annotated[Path, spec.Option("--reports", help="The waves' artifact folders.")],
    results: Annotated[str, spec.Option("--results", help="toJSON(needs).")] = "",
    commit: Annotated[str, spec.Option("--commit", help="The deployed commit.")] = "",
    before: Annotated[
        Path | None, spec.Option("--before", help="The state the plan job fetched.")
    ] = None,
    state_out: Annotated[
        Path | None, spec.Option("--state-out", help="Write the rollout's state here.")
    ] = None,
) -> None:
    """The summary of a rollout in waves (markdown) and its state; exit 1 when it
    halted or a cluster failed."""
    import json

    from hubfleet.base.errors import DeployError
    from hubfleet.ci.rollout import parse_results, rollout_summary
    from hubfleet.plan.plan import read_plan
    from hubfleet.plan.rollout_state import read_state_file

    earlier = read_state_file(before) if before is not None and before.is_file() else None
    result = rollout_summary(
        read_plan(plan), parse_results(results), reports, commit or "unknown", earlier
    )
    if state_out is not None and result.state is not None:
        text = json.dumps(result.state.to_json(), indent=2, sort_keys=True) + "\n"
        state_out.write_text(text, encoding="utf-8")
    echo(ctx, result.markdown.rstrip("\n"))
    if not result.ok:
        raise DeployError("the rollout halted or a cluster failed: see the summary")


def _gh_runner(ctx: spec.Context) -> Callable[[Sequence[str], bytes | None], str]:
    """`gh ARGS` through the runner, with the workflow's token ($GH_TOKEN or
    $GITHUB_TOKEN) in its environment only and registered with the redactor."""
    import os

    from hubfleet.base.runner import run

    redactor = options(ctx).redactor
    token = os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN") or ""
    if token:
        redactor.add(token)
    env = {"GH_TOKEN": token, "GH_PROMPT_DISABLED": "1", "NO_COLOR": "1"} if token else {}

    def gh(argv: Sequence[str], stdin: bytes | None) -> str:
        return run(list(argv), redactor=redactor, env=env, stdin=stdin, timeout=120).stdout

    return gh


@app.command(hidden=True)
def incidents(
    ctx: spec.Context,
    results: Annotated[
        list[Path],
        spec.Option(
            "--results",
            help="A `hubfleet check --all --output json` file, or a folder of them (repeat).",
        ),
    ],
    repository: Annotated[
        str | None,
        spec.Option(help="owner/name of the repository (default: $GITHUB_REPOSITORY)."),
    ] = None,
    run_url: Annotated[
        str | None, spec.Option("--run-url", help="The workflow run, linked from the issues.")
    ] = None,
    dry_run: Annotated[
        bool, spec.Option("--dry-run", help="Print what would change (JSON); call no gh.")
    ] = False,
    summary: Annotated[
        Path | None,
        spec.Option("--summary", help="Append the results as Markdown to this file."),
    ] = None,
) -> None:
    """Open, update and close the health issues of the hubs the results name, through
    `gh` (docs/health-check.md): one issue per failing hub, closed when it passes."""
    import json
    import os

    from hubfleet.ci.incidents import (
        apply_actions,
        hub_owners,
        known_hubs,
        list_issues,
        merge_results,
        plan_incidents,
        validate_repository,
        validate_run_url,
    )
    from hubfleet.cli.common import load_fleet
    from hubfleet.deploy.fleetcheck import read_fleet_check

    files: list[Path] = []
    for path in results:
        files += sorted(path.glob("*.json")) if path.is_dir() else [path]
    check = merge_results([read_fleet_check(path) for path in files])
    fleet = load_fleet(ctx)
    check = known_hubs(check, fleet)
    repo = repository or os.environ.get("GITHUB_REPOSITORY", "")
    organization, _ = validate_repository(repo)
    validate_run_url(run_url)
    gh = _gh_runner(ctx)
    issues = list_issues(gh, repo)
    actions = plan_incidents(
        check, issues, hub_owners(fleet), organization=organization, run_url=run_url
    )
    if dry_run:
        echo(
            ctx,
            json.dumps(
                [
                    {
                        "kind": a.kind,
                        "cluster": a.cluster,
                        "hub": a.hub,
                        "number": a.number,
                        "labels": list(a.labels),
                    }
                    for a in actions
                ],
                indent=2,
            ),
        )
        return
    lines = apply_actions(gh, repo, actions)
    done = "\n".join(lines) if lines else "no incident opened, updated or closed"
    if summary is not None:
        from hubfleet.base.markdown import md_text
        from hubfleet.deploy.fleetcheck import render_markdown

        with summary.open("a", encoding="utf-8") as handle:
            handle.write(render_markdown(check) + "\n")
            handle.write("".join(f"- {md_text(line)}\n" for line in lines))
    echo(ctx, done)


@app.command("health-matrix", hidden=True)
def health_matrix_command(
    ctx: spec.Context,
    plan: Annotated[
        Path | None,
        spec.Option(
            "--plan", help="A push's plan: only its Terraform-only clusters (default: all)."
        ),
    ] = None,
    output: Annotated[
        MatrixOutput,
        spec.Option("--output", help="json: the matrix; github: `matrix=` and `count=` lines."),
    ] = MatrixOutput.json,
) -> None:
    """The health workflow's matrix: {"include": [{"cluster", "provider"}]}, one entry
    per cluster whose hubs the scheduled check (or the check after Terraform) runs."""
    import json

    from hubfleet.ci.health import health_matrix
    from hubfleet.config.load import load_isolated
    from hubfleet.plan.plan import read_plan

    # A broken cluster is left out (its configuration does not load); the rest is checked.
    fleet = load_isolated(repo_root(ctx), parse_values=False).fleet
    result = health_matrix(fleet, read_plan(plan) if plan is not None else None)
    text = json.dumps(result.as_json(), separators=(",", ":"))
    if output is MatrixOutput.github:
        echo(ctx, f"matrix={text}\ncount={len(result.include)}")
    else:
        echo(ctx, text)


@app.command(hidden=True)
def notice(
    ctx: spec.Context,
    plan: Annotated[Path, spec.Option("--plan", help="The push's plan JSON.")],
    stage: Annotated[str, spec.Option("--stage", help="before or after the deploy.")],
    out: Annotated[Path, spec.Option("--out", help="The folder the notice is written to.")],
    commit: Annotated[str, spec.Option("--commit", help="The pushed commit.")],
    reports: Annotated[
        Path | None, spec.Option("--reports", help="after: the folder of <cluster>.json.")
    ] = None,
    repository: Annotated[
        str | None,
        spec.Option(help="owner/name of the repository (default: $GITHUB_REPOSITORY)."),
    ] = None,
    run_url: Annotated[
        str | None, spec.Option("--run-url", help="The workflow run, linked from the notice.")
    ] = None,
) -> None:
    """The owners' notice of a merged change (docs/ci.md "Notices"): notice.md (github)
    or notice.json (webhook) in --out; prints `channel=` and `file=` for $GITHUB_OUTPUT."""
    import os

    from hubfleet.ci.incidents import validate_repository, validate_run_url
    from hubfleet.ci.notices import build_notice, check_commit, stage_of, write_notice
    from hubfleet.cli.common import load_fleet
    from hubfleet.plan.plan import read_plan

    repo = repository or os.environ.get("GITHUB_REPOSITORY") or None
    organization = validate_repository(repo)[0] if repo else None
    validate_run_url(run_url)
    fleet = load_fleet(ctx)
    found = build_notice(
        fleet, read_plan(plan), stage_of(stage), commit=check_commit(commit), reports=reports
    )
    outputs = write_notice(found, out, organization=organization, repository=repo, run_url=run_url)
    echo(ctx, "\n".join(f"{key}={value}" for key, value in outputs.items()))


def _every_cluster(ctx: spec.Context) -> tuple[Any, ...]:
    """Every cluster whose configuration loads (a broken one has nothing to deploy)."""
    from hubfleet.ci.workflows import every_cluster
    from hubfleet.config.load import load_isolated

    return every_cluster(load_isolated(repo_root(ctx), parse_values=False).fleet)


@app.command("drift-matrix", hidden=True)
def drift_matrix(ctx: spec.Context) -> None:
    """The scheduled status workflow's clusters (every cluster a CI job can reach) and
    hubfleet.yaml's `drift.repair`, as `matrix=`, `count=`, `repair=` lines."""
    import json

    from hubfleet.ci.workflows import Matrix, build_matrix, every_cluster
    from hubfleet.config.load import load_isolated
    from hubfleet.plan.plan import Plan

    loaded = load_isolated(repo_root(ctx), parse_values=False)
    result: Matrix = build_matrix(Plan(), every_cluster(loaded.fleet))
    text = json.dumps(result.as_json(), separators=(",", ":"))
    repair = "true" if loaded.fleet.settings.drift.repair else "false"
    echo(ctx, f"matrix={text}\ncount={len(result.include)}\nrepair={repair}")


@app.command("drift-issues", hidden=True)
def drift_issues(
    ctx: spec.Context,
    plans: Annotated[
        Path, spec.Option("--plans", help="The folder of each cluster's live plan <name>.json.")
    ],
    matrix: Annotated[str, spec.Option("--matrix", help="The clusters' matrix JSON.")],
    repository: Annotated[str, spec.Option("--repository", help="OWNER/NAME.")],
    run_url: Annotated[str, spec.Option("--run-url", help="A link for the issues.")] = "",
) -> None:
    """Open, update and close one GitHub issue per drifted cluster (through `gh`, with
    $GH_TOKEN); print the summary (markdown)."""

    from hubfleet.ci.drift import apply_actions, decide, list_issues, read_drifts, summary
    from hubfleet.ci.ghissues import validate_repository, words
    from hubfleet.ci.workflows import parse_matrix
    from hubfleet.config.load import load_isolated

    validate_repository(repository)
    include = (parse_matrix(matrix) or {}).get("include") or []
    clusters = [str(entry.get("cluster")) for entry in include if isinstance(entry, dict)]
    # a broken cluster does not stop the issues of the others (docs/isolation.md)
    label = load_isolated(repo_root(ctx), parse_values=False).fleet.settings.drift.issue_label
    gh = words(_gh_runner(ctx))
    drifts = read_drifts(plans, clusters)
    actions = decide(drifts, list_issues(gh, repository, label), run_url)
    for line in apply_actions(gh, repository, label, actions):
        echo(ctx, line, err=True)
    echo(ctx, summary(drifts))
