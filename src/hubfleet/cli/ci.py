"""`hubfleet ci`: the fleet's GitHub Actions workflows.

`init` writes them into the fleet repository and `check` says whether they are
current. `matrix` and `summary` are the steps the deploy workflow itself runs
(hidden: they are for the workflow, not for people).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hubfleet.cli.common import echo, repo_root
from hubfleet.config.providers import CLOUD_PROVIDERS

if TYPE_CHECKING:
    from hubfleet.ci.workflows import CiSettings

app = typer.Typer(
    help="GitHub Actions workflows: plan on pull requests, per-cluster deploys on merge.",
    no_args_is_help=True,
)


class MatrixOutput(StrEnum):
    json = "json"
    github = "github"


def _fleet_providers(ctx: typer.Context) -> tuple[str, ...] | None:
    """The providers of the fleet's clusters, when the fleet loads."""
    from hubfleet.base.errors import HubfleetError
    from hubfleet.ci.workflows import fleet_providers
    from hubfleet.cli.common import load_fleet

    try:
        return fleet_providers(load_fleet(ctx))
    except HubfleetError:
        return None


def _codeowners(ctx: typer.Context) -> dict[str, str]:
    """`.github/CODEOWNERS` from the fleet's communities (nothing without a platform team)."""
    from hubfleet.base.errors import HubfleetError
    from hubfleet.cli.common import load_fleet
    from hubfleet.community.codeowners import CODEOWNERS_PATH, render_codeowners

    try:
        text = render_codeowners(load_fleet(ctx))
    except HubfleetError:
        return {}
    return {CODEOWNERS_PATH: text} if text is not None else {}


def _settings(
    ctx: typer.Context,
    repo: Path,
    providers: list[str] | None,
    hubfleet_version: str | None,
    branch: str | None,
) -> tuple[CiSettings, str]:
    from hubfleet import __version__
    from hubfleet.ci.workflows import (
        CI_PROVIDERS,
        CLOUD_PROVIDERS,
        DEFAULT_BRANCH,
        CiSettings,
        read_settings,
    )

    existing = read_settings(repo)
    if providers:
        chosen, source = tuple(providers), "--provider"
    elif found := tuple(p for p in _fleet_providers(ctx) or () if p in CI_PROVIDERS):
        chosen, source = found, "the fleet's clusters"
    elif existing is not None:
        chosen, source = existing.providers, "the existing workflows"
    else:
        chosen, source = CLOUD_PROVIDERS, "default: every cloud provider"
    settings = CiSettings(
        providers=chosen,
        hubfleet_version=hubfleet_version or __version__,
        branch=branch or (existing.branch if existing else DEFAULT_BRANCH),
    )
    return settings, source


@app.command()
def init(
    ctx: typer.Context,
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider",
            "-p",
            help="A provider to log in to (repeat; default: the providers of the fleet's "
            f"clusters, else {', '.join(CLOUD_PROVIDERS[:-1])} and {CLOUD_PROVIDERS[-1]}).",
        ),
    ] = None,
    hubfleet_version: Annotated[
        str | None,
        typer.Option(
            "--hubfleet-version", help="The hubfleet version the workflows install (pinned)."
        ),
    ] = None,
    branch: Annotated[
        str | None,
        typer.Option("--branch", help="The default branch, whose pushes deploy (default: main)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace generated files that were changed.")
    ] = False,
) -> None:
    """Write the deploy and plan-comment workflows into the fleet repository."""
    from hubfleet.ci.workflows import render, write_files

    repo = repo_root(ctx)
    settings, source = _settings(ctx, repo, provider, hubfleet_version, branch)
    result = write_files(repo, {**render(settings), **_codeowners(ctx)}, force=force)
    providers = ", ".join(settings.providers) or "none"
    lines = [f"providers: {providers} ({source}); hubfleet {settings.hubfleet_version}"]
    lines += [f"wrote     {path}" for path in result.written]
    lines += [f"unchanged {path}" for path in result.unchanged]
    if result.written:
        lines.append("Set up the cloud identities and secrets: see docs/ci.md in hubfleet.")
    lines += _soak_environments(ctx)
    echo(ctx, "\n".join(lines))


def _soak_environments(ctx: typer.Context) -> list[str]:
    """The environments whose wait timers hold each wave's soak (docs/ci.md): one line each."""
    from hubfleet.base.errors import HubfleetError
    from hubfleet.cli.common import load_fleet

    try:
        waves = load_fleet(ctx).settings.rollout.waves
    except HubfleetError:
        return []
    return [
        f"rollout wave {index} ({wave.name}): give the environment hubfleet-soak-{index} a "
        f"wait timer of {int((wave.soak_s + 59) // 60)} minutes"
        for index, wave in enumerate(waves, start=1)
        if wave.soak_s > 0
    ]


@app.command()
def check(ctx: typer.Context) -> None:
    """Exit 1 when the generated workflows are missing or differ from the templates."""
    from hubfleet.ci.workflows import StaleWorkflowsError, check_up_to_date

    repo = repo_root(ctx)
    stale = check_up_to_date(repo)
    for relative, content in _codeowners(ctx).items():
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
    ctx: typer.Context,
    plan: Annotated[Path, typer.Option("--plan", help="A plan JSON file (`-` for stdin).")],
    output: Annotated[
        MatrixOutput,
        typer.Option("--output", help="json: the matrix; github: `matrix=` and `count=` lines."),
    ] = MatrixOutput.json,
) -> None:
    """The deploy job's matrix from a plan: {"include": [{"cluster", "provider"}]}."""
    import json
    import sys

    from hubfleet.ci.workflows import build_matrix
    from hubfleet.plan.plan import read_plan

    stdin_text = sys.stdin.read() if str(plan) == "-" else None
    read = read_plan(plan, stdin_text=stdin_text)
    result = build_matrix(read)
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
        echo(ctx, f"matrix={text}\ncount={len(result.include)}\nbroken={broken}\nwaved={waved}")
    else:
        echo(ctx, text)


@app.command(hidden=True)
def wave(
    ctx: typer.Context,
    plan: Annotated[Path, typer.Option("--plan", help="A plan JSON file.")],
    number: Annotated[int, typer.Option("--wave", min=1, help="The wave, counted from 1.")],
) -> None:
    """Wave N of a plan rolled out in waves, as `$GITHUB_OUTPUT` lines: name=, clusters=
    (the cluster workflow's matrix), count=, soak-s= (docs/ci.md)."""
    from hubfleet.ci.waves import wave_matrix
    from hubfleet.plan.plan import read_plan

    echo(ctx, wave_matrix(read_plan(plan), number).github_lines().rstrip("\n"))


@app.command(name="wave-gate", hidden=True)
def wave_gate(
    ctx: typer.Context,
    plan: Annotated[Path, typer.Option("--plan", help="A plan JSON file.")],
    number: Annotated[int, typer.Option("--wave", min=1, help="The wave, counted from 1.")],
    reports: Annotated[Path, typer.Option("--reports", help="The folder of <cluster>.json.")],
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
    ctx: typer.Context,
    reports: Annotated[Path, typer.Option("--reports", help="The folder of <cluster>.json.")],
    matrix: Annotated[str, typer.Option("--matrix", help="The plan job's matrix JSON.")] = "",
    plan_result: Annotated[
        str, typer.Option("--plan-result", help="The plan job's result.")
    ] = "success",
    broken: Annotated[
        str,
        typer.Option("--broken", help="The plan job's broken clusters (JSON list of names)."),
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
