"""`hubfleet plan`."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from hubfleet.cli import spec
from hubfleet.cli.common import echo, options, repo_root

if TYPE_CHECKING:
    from hubfleet.cli.community import Events
    from hubfleet.config.fleet import Fleet
    from hubfleet.plan.diff_report import Mention
    from hubfleet.plan.manifest_diff import HubChange
    from hubfleet.plan.plan import Plan
    from hubfleet.plan.rendered import RenderRun


# `hubfleet plan` wrote the plan of every cluster that loads, and some cluster's
# configuration is broken (docs/isolation.md).
BROKEN_EXIT = 3


class PlanOutput(StrEnum):
    table = "table"
    json = "json"
    github = "github"
    markdown = "markdown"


def command(
    ctx: spec.Context,
    changed_files: Annotated[
        str | None,
        spec.Option(
            "--changed-files",
            metavar="FILE|-",
            help="Changed paths (repository-relative), one per line or comma-separated; "
            "git --name-status lines keep their status. '-' reads stdin.",
        ),
    ] = None,
    base: Annotated[
        str | None,
        spec.Option("--base", metavar="REF", help="Compare this revision with --head (git)."),
    ] = None,
    head: Annotated[
        str | None,
        spec.Option("--head", metavar="REF", help="Default: the working tree."),
    ] = None,
    labels: Annotated[
        str | None,
        spec.Option(
            "--labels",
            metavar="JSON-LIST",
            help="Pull-request labels: deployer:skip-deploy, deployer:skip-deploy-hubs, "
            "deployer:deploy-hubs, deployer:deploy-support.",
        ),
    ] = None,
    output: Annotated[
        PlanOutput | None,
        spec.Option(
            "--output",
            "-o",
            help="table (default on a terminal), json (default otherwise), github "
            "(appends to $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY), markdown (PR comment).",
        ),
    ] = None,
    rendered: Annotated[
        bool,
        spec.Option(
            "--rendered",
            help="With --base: render every hub reached only by values files or a chart at "
            "both revisions and upgrade it only if its manifests differ (fields the chart "
            "randomises ignored and named); reasons name the changed resources; a hub "
            "whose chart is not in the cache keeps its file-level plan (docs/plans.md).",
        ),
    ] = False,
    diff: Annotated[
        bool,
        spec.Option(
            "--diff",
            help="With --base (implies --rendered): each hub's changed resources as unified "
            "YAML diffs in the table and markdown outputs (Secret data as keyed digests, "
            "fields the chart randomises hidden and named, hubs with the same change grouped; "
            "the markdown stays under GitHub's comment limit).",
        ),
    ] = False,
    diff_file: Annotated[
        Path | None,
        spec.Option(
            "--diff-file",
            metavar="PATH",
            help="With --base (implies --rendered): write the whole diff of every hub here.",
        ),
    ] = None,
    diff_json: Annotated[
        Path | None,
        spec.Option(
            "--diff-json",
            metavar="PATH",
            help="With --base (implies --rendered): write the diffs (and the owners to "
            "mention, when hubfleet.yaml's plan.mention_owners) as JSON, for --diff-from.",
        ),
    ] = None,
    render_cache: Annotated[
        bool,
        spec.Option(
            "--render-cache",
            help="With --rendered: keep masked renders under .hubfleet/cache/renders and "
            "reuse them (across runs only with the same HUBFLEET_MASK_KEY: digests are keyed).",
        ),
    ] = False,
    diff_from: Annotated[
        Path | None,
        spec.Option(
            "--diff-from",
            metavar="PATH",
            help="With --from-json: add the diffs a --diff-json run saved (checked).",
        ),
    ] = None,
    from_json: Annotated[
        Path | None,
        spec.Option(
            "--from-json",
            metavar="FILE",
            help="Render a saved plan (checked against `hubfleet schema plan`).",
        ),
    ] = None,
    event: Annotated[
        Path | None,
        spec.Option(
            "--event",
            metavar="FILE",
            help="A GitHub event payload: add the community-only decision (docs/community.md).",
        ),
    ] = None,
    github_event: Annotated[
        bool,
        spec.Option("--github-event", help="--event $GITHUB_EVENT_PATH (in GitHub Actions)."),
    ] = False,
    reviews: Annotated[
        Path | None,
        spec.Option(
            "--reviews",
            metavar="FILE",
            help="With --event: the pull request's reviews (GitHub API JSON list).",
        ),
    ] = None,
    live: Annotated[
        bool,
        spec.Option(
            "--live",
            help="Read the clusters (each with its credentials) and add a job for every "
            "release whose live state differs from git: never deployed, failed, pending, "
            "changed by hand, behind. Alone, or with --base/--changed-files/--from-json "
            "(the union). docs/status.md, 'Reconciling plans'.",
        ),
    ] = False,
    clusters: Annotated[
        list[str] | None,
        spec.Option(
            "--cluster",
            metavar="NAME",
            help="With --live: read only this cluster (repeatable; default: every cluster).",
        ),
    ] = None,
    retry: Annotated[
        bool,
        spec.Option(
            "--retry",
            help="With --live: also deploy hubs rolled back with the inputs git still holds.",
        ),
    ] = False,
    resume_rollout: Annotated[
        bool,
        spec.Option(
            "--resume-rollout",
            help="Plan the hubs a halted rollout left untouched (.hubfleet/rollout.json), "
            "in their waves, from its base (default --base). docs/deploy.md 'After a halt'.",
        ),
    ] = False,
) -> None:
    """Which support releases, staging hubs and production hubs to upgrade, and why.

    Answers from the dependency graph of every release: its values files (encrypted
    ones too), its chart (every file of a local chart folder, or its pin in
    hubfleet.yaml), chart_override, domain_override_file, its cluster's
    provider/credentials block and deployer credentials, and the
    redeploy_all_when_changed globs. With --base, cluster.yaml and hubfleet.yaml are
    compared key by key: one edited hub entry selects that hub; a provider or
    credentials block the whole cluster; a hub moved to decommissioned: its uninstall
    job; a removed hub is listed, never uninstalled (a warning shows the entry that
    would remove it: docs/decommission.md); a chart pin the hubs using it;
    hubfleet_version everything; free information, kubernetes_version and deploy
    settings nothing. Every cluster getting a production job gets its staging hubs as
    canaries.

    A cluster whose configuration is broken gets no jobs; the plan lists it (`broken`)
    with its errors and every other cluster is planned (docs/isolation.md). With
    --live, a cluster that cannot be read keeps its change-based jobs and is listed
    (`live.unreachable`). Exit codes: 0 planned; 3 planned, and some cluster is broken
    or could not be read; 2 bad input, or a problem every cluster depends on
    (hubfleet.yaml, a shared chart): nothing planned.
    """
    from hubfleet.plan.render import github_outputs, to_json_text, to_table

    if output is None:
        output = PlanOutput.table if sys.stdout.isatty() else PlanOutput.json
    events = None
    if event is not None or github_event:
        from hubfleet.cli.community import Events

        events = Events(event, github_event, reviews)
    _check_live_options(live, clusters, retry)
    wants_diff = diff or diff_file is not None or diff_json is not None
    if diff_from is not None and from_json is None:
        from hubfleet.base.errors import HubfleetError

        raise HubfleetError("--diff-from needs --from-json", hint="it adds diffs to a saved plan")
    if resume_rollout and from_json is not None:
        from hubfleet.base.errors import HubfleetError

        raise HubfleetError(
            "--resume-rollout plans from the checkout: it cannot change a saved plan (--from-json)",
            hint="run `hubfleet plan --resume-rollout` without --from-json",
        )
    shown: Diffs | None = None
    # A halted rollout's state (hubfleet.plan.rollout_state): its hubs held, or resumed.
    from hubfleet.plan.rollout_state import hold_halted, read_state, resume

    state = read_state(repo_root(ctx)) if from_json is None else None
    if resume_rollout and base is None and changed_files is None and state is not None:
        base = state.base
    if from_json is not None:
        plan = _saved_plan(from_json)
        if diff_from is not None:
            shown = _saved_diffs(ctx, diff_from)
    elif live and changed_files is None and base is None:
        plan = _live_only()
    else:
        plan, shown = _make(
            ctx,
            changed_files,
            base,
            head,
            labels,
            rendered or wants_diff or render_cache,
            events,
            wants_diff,
            render_cache,
        )
    if from_json is None:
        plan = resume(plan, state) if resume_rollout else hold_halted(plan, state)
    if live:
        plan = _with_live(ctx, plan, clusters or [], retry)
    if shown is not None:
        _write_diffs(ctx, shown, diff_file, diff_json)
    if not (diff or diff_from is not None):
        shown = None
    if output is PlanOutput.json:
        echo(ctx, to_json_text(plan))
    elif output is PlanOutput.markdown:
        echo(ctx, _markdown(ctx, plan, shown))
    elif output is PlanOutput.table:
        width = 120 if not sys.stdout.isatty() else os.get_terminal_size().columns
        echo(ctx, to_table(plan, width=width, color=sys.stdout.isatty()))
        if shown is not None:
            from hubfleet.plan.manifest_diff import full_text

            echo(ctx, options(ctx).redactor.scrub(full_text(shown.changes)))
    else:
        scrub = options(ctx).redactor.scrub
        lines = scrub(github_outputs(plan))
        target = os.environ.get("GITHUB_OUTPUT")
        if target:
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(lines)
        else:
            echo(ctx, lines)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(scrub(_markdown(ctx, plan, shown)))
    unreachable = plan.live.unreachable if live and plan.live is not None else ()
    for gone in unreachable:
        echo(ctx, f"cluster {gone.cluster}: live state not read: {gone.message}", err=True)
    if (plan.broken and from_json is None) or unreachable:
        # docs/isolation.md: the plan of every other cluster is written; a broken one
        # is said on stderr and by the exit code (3), so no script takes it for clean.
        if output is not PlanOutput.table:  # the table says it already
            for cluster in plan.broken:
                echo(ctx, f"cluster {cluster.name}: configuration broken, not planned:", err=True)
                echo(ctx, "\n".join(f"  {p.render()}" for p in cluster.problems), err=True)
        raise spec.Exit(BROKEN_EXIT)


def _make(
    ctx: spec.Context,
    changed_files: str | None,
    base: str | None,
    head: str | None,
    labels_text: str | None,
    rendered: bool,
    events: Events | None,
    wants_diff: bool = False,
    render_cache: bool = False,
) -> tuple[Plan, Diffs | None]:
    """The plan (and, with `events`, its community decision) from one reading of the
    fleet and, with --base, one set of questions to git (`Revisions`)."""
    from hubfleet.cli.community import decide_on_files, decide_on_revisions, with_community
    from hubfleet.plan.changes import read_changed_files
    from hubfleet.plan.labels import parse_labels
    from hubfleet.plan.planner import plan_from_files

    _require_one_input(changed_files, base, head, rendered=rendered)
    labels = parse_labels(labels_text)
    if base is not None:
        # only here: it loads the charts
        from hubfleet.plan.revisions import plan_from_revisions, read_revisions

        redactor = options(ctx).redactor
        with read_revisions(repo_root(ctx), base=base, head=head, redactor=redactor) as revisions:
            root = revisions.head_fleet.root
            run = _render_run(ctx, root, render_cache) if rendered else None
            plan = plan_from_revisions(revisions, labels, rendered=rendered, run=run)
            shown = _diffs(plan, run, revisions.head_fleet) if wants_diff and run else None
            if events is None:
                return plan, shown
            return with_community(plan, events, decide_on_revisions(revisions)), shown
    assert changed_files is not None
    from hubfleet.config.load import load_isolated
    from hubfleet.plan.plan import with_broken

    stdin_text = sys.stdin.read() if changed_files == "-" else None
    changes = read_changed_files(changed_files, stdin_text=stdin_text)
    touched = {path for change in changes for path in change.paths()}
    loaded = load_isolated(repo_root(ctx), only=touched)
    fleet = loaded.fleet
    plan = with_broken(plan_from_files(fleet, changes, labels=labels), loaded.broken)
    if events is None:
        return plan, None
    return with_community(plan, events, decide_on_files(fleet, changes, changed_files)), None


def _check_live_options(live: bool, clusters: list[str] | None, retry: bool) -> None:
    from hubfleet.base.errors import HubfleetError

    if not live and (clusters or retry):
        raise HubfleetError(
            "--cluster and --retry go with --live",
            hint="e.g. hubfleet plan --live --cluster NAME --retry",
        )


def _live_only() -> Plan:
    """`plan --live` alone: no change, so its jobs are the live plan's (what it was made
    from records no change: `deploy --plan` finds every job by reading the clusters)."""
    from hubfleet.plan.plan import Plan, Planned

    return Plan(planned=Planned(changes=()))


def _with_live(ctx: spec.Context, plan: Plan, names: list[str], retry: bool) -> Plan:
    """The plan with the live plan of the clusters in scope (`names`, or every cluster
    that loads and is not broken), their union (`hubfleet.plan.live.combine`)."""
    from hubfleet.config.load import load_isolated
    from hubfleet.deploy.reconcile import make_live_plan
    from hubfleet.plan.live import combine

    loaded = load_isolated(repo_root(ctx), parse_values=False)
    fleet = loaded.fleet
    broken = {cluster.name for cluster in (*loaded.broken, *plan.broken)}
    for name in names:
        if name not in broken:
            fleet.cluster(name)  # an unknown name: did-you-mean error
    scope = sorted(set(names)) if names else [c.name for c in fleet.clusters]
    scope = [name for name in scope if name not in broken]
    live = make_live_plan(fleet, scope, redactor=options(ctx).redactor, retry=retry)
    return combine(plan, live)


def _require_one_input(
    changed_files: str | None, base: str | None, head: str | None, *, rendered: bool
) -> None:
    from hubfleet.base.errors import HubfleetError

    if changed_files is not None and base is not None:
        raise HubfleetError(
            "give either --changed-files or --base, not both",
            hint="--base compares two revisions itself; --changed-files takes a list",
        )
    if changed_files is None and base is None:
        raise HubfleetError(
            "nothing to plan from",
            hint="pass --changed-files FILE (or - for stdin) or --base REF [--head REF]",
        )
    if head is not None and base is None:
        raise HubfleetError("--head needs --base", hint="e.g. --base origin/main --head HEAD")
    if rendered and base is None:
        raise HubfleetError(
            "--rendered needs --base", hint="rendering at base reads the base revision from git"
        )


@dataclass(frozen=True)
class Diffs:
    """The rendered changes of a plan, and the owners to mention (opt-in)."""

    changes: tuple[HubChange, ...]
    mentions: tuple[Mention, ...] = ()
    teams: bool = False
    refused: tuple[str, ...] = ()


def _render_run(ctx: spec.Context, root: Path, cache: bool) -> RenderRun:
    """The run's renders: masked under the run's key; a sops key on this machine
    decrypts in memory (keyed digests, see `hubfleet.plan.rendered`)."""
    from hubfleet.cli.common import sops
    from hubfleet.plan.rendered import RenderRun

    cache_dir = repo_root(ctx) / ".hubfleet" / "cache" / "renders" if cache else None
    return RenderRun(options(ctx).redactor.mask_key, sops=sops(ctx, root), cache_dir=cache_dir)


def _diffs(plan: Plan, run: RenderRun, fleet: Fleet) -> Diffs:
    """The changes of the hubs the plan upgrades; with `plan.mention_owners`, their
    community owners (checked handles, each once)."""
    from hubfleet.community.model import hub_community
    from hubfleet.plan.diff_report import mentions

    selected = {(j.cluster, j.hub) for j in (*plan.staging_jobs, *plan.prod_jobs)}
    changes = tuple(c for key, c in sorted(run.changes.items()) if key in selected)
    settings = fleet.settings.plan
    if not settings.mention_owners:
        return Diffs(changes)
    owners_of: dict[str, list[str]] = {}
    for cluster_name, hub_name in sorted(k for k in selected if k[1] is not None):
        assert hub_name is not None
        cluster = fleet.cluster(cluster_name)
        community = hub_community(fleet, cluster, cluster.hub(hub_name))
        if community is not None:
            owners_of[community.label] = list(community.owners)
    found, refused = mentions(owners_of, teams=settings.mention_teams)
    return Diffs(changes, tuple(found), settings.mention_teams, tuple(refused))


def _write_diffs(
    ctx: spec.Context, shown: Diffs, diff_file: Path | None, diff_json: Path | None
) -> None:
    """The whole diff (text) and the diffs as JSON, scrubbed of every known secret."""
    import json

    from hubfleet.plan.diff_report import to_json
    from hubfleet.plan.manifest_diff import full_text

    scrub = options(ctx).redactor.scrub
    if diff_file is not None:
        diff_file.write_text(scrub(full_text(shown.changes)), encoding="utf-8")
    if diff_json is not None:
        data = to_json(shown.changes, shown.mentions)
        diff_json.write_text(scrub(json.dumps(data, indent=1)) + "\n", encoding="utf-8")


def _saved_diffs(ctx: spec.Context, path: Path) -> Diffs:
    """Diffs a pull request's job saved (untrusted). Its mentions are kept only as
    far as the fleet at `--repo` (the comment workflow's checkout of the default
    branch, never the pull request's) says: `plan.mention_owners` set there, and the
    owner one of that fleet's owners of each hub named."""
    from hubfleet.base.errors import HubfleetError
    from hubfleet.community.model import communities
    from hubfleet.config.load import load_isolated
    from hubfleet.plan.diff_report import Mention, read_diffs

    changes, found = read_diffs(path)
    try:
        fleet = load_isolated(repo_root(ctx)).fleet
    except (HubfleetError, OSError):
        return Diffs(tuple(changes))
    settings = fleet.settings.plan
    if not settings.mention_owners or not found:
        return Diffs(tuple(changes))
    owners = {c.label: {o.lower() for o in c.owners} for c in communities(fleet)}
    trusted = []
    for mention in found:
        hubs = tuple(h for h in mention.hubs if mention.owner.lower() in owners.get(h, ()))
        if hubs:
            trusted.append(Mention(mention.owner, hubs))
    return Diffs(tuple(changes), tuple(trusted), teams=settings.mention_teams)


def _markdown(ctx: spec.Context, plan: Plan, shown: Diffs | None) -> str:
    from hubfleet.plan.render import to_markdown

    scrub = options(ctx).redactor.scrub
    if shown is None:
        return to_markdown(plan, scrub)
    from hubfleet.plan.render_diffs import to_markdown_with_diffs  # only with diffs

    return to_markdown_with_diffs(
        plan, shown.changes, scrub, found=shown.mentions, teams=shown.teams
    )


def _saved_plan(path: Path) -> Plan:
    from hubfleet.plan.plan import read_plan

    return read_plan(path, schema=True)
