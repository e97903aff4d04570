"""Plan outputs: a rich table for people, JSON, GitHub Actions outputs, markdown.

Every output is a pure function of the `Plan`: the same plan gives the same bytes.
The comment with rendered diffs is `hubfleet.plan.render_diffs` (a plan that renders
nothing imports none of the diff modules).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence

from hubfleet.base.markdown import md_cell, md_text
from hubfleet.config.fleet import BrokenCluster
from hubfleet.plan.job import Job
from hubfleet.plan.plan import CommunityDecision, Plan

MARKER = "<!-- hubfleet-plan -->"
NOTHING = "Nothing will be deployed: no support release or hub depends on the changed files."


def to_json_text(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2) + "\n"


def _compact(jobs: Sequence[Job]) -> str:
    return json.dumps([job.to_json() for job in jobs], separators=(",", ":"))


def github_outputs(plan: Plan) -> str:
    """The lines appended to `$GITHUB_OUTPUT` (names existing workflows consume)."""
    return (
        f"support-jobs={_compact(plan.support_jobs)}\n"
        f"staging-jobs={_compact(plan.staging_jobs)}\n"
        f"prod-jobs={_compact(plan.prod_jobs)}\n"
        f"terraform-jobs={_compact(plan.terraform_jobs)}\n"
        f"broken-clusters={json.dumps([c.name for c in plan.broken], separators=(',', ':'))}\n"
    )


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def jobs_line(plan: Plan) -> str:
    if plan.empty:
        return NOTHING
    line = (
        f"{_plural(len(plan.support_jobs), 'support release')}, "
        f"{_plural(len(plan.staging_jobs), 'staging hub')} and "
        f"{_plural(len(plan.prod_jobs), 'production hub')} will be upgraded."
    )
    if plan.uninstall_jobs:
        count = _plural(len(plan.uninstall_jobs), "decommissioned hub")
        line += f" {count} will be uninstalled."
    return line


def summary_line(plan: Plan) -> str:
    return jobs_line(plan) + (broken_line(plan.broken) if plan.broken else "")


def broken_line(broken: Sequence[BrokenCluster]) -> str:
    names = ", ".join(c.name for c in broken)
    return (
        f" {_plural(len(broken), 'cluster')} not planned, its configuration broken: {names}"
        " (fix it; the deploy's summary fails until then)."
    )


Scrub = Callable[[str], str]


def unchanged(text: str) -> str:
    return text


def _md_table(
    jobs: Sequence[Job],
    scrub: Scrub,
    *,
    hubs: bool,
    kind: bool = False,
    max_reasons: int | None = None,
    wave: bool = False,
) -> list[str]:
    header = ["Cluster", *(["Hub"] if hubs else []), *(["Kind"] if kind else []), "Provider"]
    header += ["Wave"] if wave else []
    lines = [
        "| " + " | ".join([*header, "Reasons"]) + " |",
        "|" + "---|" * (len(header) + 1),
    ]
    for job in jobs:
        cells = [job.cluster]
        if hubs:
            cells.append(job.hub or "support")
        if kind:
            cells.append(job.kind)
        cells.append(job.provider)
        if wave:
            cells.append(job.wave or "")
        escaped = [md_cell(scrub(c)) for c in cells]
        reasons = list(job.reasons)
        if max_reasons is not None and len(reasons) > max_reasons:
            left = len(reasons) - max_reasons
            reasons = [*reasons[:max_reasons], f"and {left} more reason(s): see the JSON plan"]
        escaped.append("<br>".join(md_cell(scrub(r)) for r in reasons))
        lines.append("| " + " | ".join(escaped) + " |")
    return lines


def to_markdown(plan: Plan, scrub: Scrub = unchanged, *, max_reasons: int | None = None) -> str:
    """A pull-request comment; the marker line lets a workflow update it in place.

    Every string from the plan is file-derived (a pull request's plan job wrote it):
    scrubbed with `scrub`, then escaped (`hubfleet.base.markdown`) so that it shows
    as text, never as HTML, a link, an image or a mention."""
    lines = [MARKER, "## hubfleet plan", ""]
    lines.append(f"**{jobs_line(plan)}**")
    lines += _broken_markdown(plan.broken, scrub)
    sections: list[tuple[str, Sequence[Job], bool, bool]] = [
        ("Support releases", plan.support_jobs, False, False),
        ("Staging hubs (canaries, upgraded first)", plan.staging_jobs, True, False),
        ("Production hubs", plan.prod_jobs, True, False),
        ("Decommissioned hubs (uninstalled)", plan.uninstall_jobs, True, False),
        ("Removed hubs (not uninstalled by a plan)", plan.removed_hubs, True, False),
        ("Skipped", plan.skipped, True, True),
        ("Held back (hold: in cluster.yaml, not deployed)", plan.held, True, True),
    ]
    lines += _rollout_markdown(plan, scrub)
    for title, jobs, hubs, kind in sections:
        if not jobs:
            continue
        lines += ["", f"### {title}: {len(jobs)}", ""]
        deployed = (plan.support_jobs, plan.staging_jobs, plan.prod_jobs)
        waved = plan.rollout is not None and any(jobs is listed for listed in deployed)
        lines += _md_table(jobs, scrub, hubs=hubs, kind=kind, max_reasons=max_reasons, wave=waved)
    if plan.community is not None:
        lines += _community_markdown(plan.community, scrub)
    if plan.warnings:
        lines += ["", "### Warnings", ""]
        lines += [f"- {md_text(scrub(w))}" for w in plan.warnings]
    if plan.unmatched_files:
        lines += [
            "",
            "<details><summary>Changed files nothing depends on: "
            f"{len(plan.unmatched_files)}</summary>",
            "",
        ]
        lines += [f"- {md_text(scrub(path))}" for path in plan.unmatched_files]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _wave_counts(plan: Plan) -> list[tuple[str, int, float]]:
    """Each wave of a waved plan: its name, its number of jobs, its soak (seconds)."""
    if plan.rollout is None:
        return []
    jobs = [*plan.support_jobs, *plan.staging_jobs, *plan.prod_jobs]
    return [
        (wave.name, sum(1 for job in jobs if job.wave == wave.name), wave.soak_s)
        for wave in plan.rollout.waves
    ]


def _rollout_markdown(plan: Plan, scrub: Scrub) -> list[str]:
    """The waves of a plan rolled out in waves, in order."""
    if plan.rollout is None:
        return []
    lines = ["", f"### Rolled out in waves: {md_text(scrub(plan.rollout.trigger))}", ""]
    lines += ["| Wave | Jobs | Soak |", "|---|---|---|"]
    for name, count, soak in _wave_counts(plan):
        lines.append(f"| {md_cell(scrub(name))} | {count} | {soak:g}s |")
    return lines


def _broken_markdown(broken: Sequence[BrokenCluster], scrub: Scrub) -> list[str]:
    """Each broken cluster and every error of its configuration (file:line)."""
    if not broken:
        return []
    names = ", ".join(md_text(scrub(c.name)) for c in broken)
    lines = [
        "",
        f"### Broken clusters (not planned, not deployed): {len(broken)}",
        "",
        f"Their configuration does not load: {names}. Every other cluster is planned; "
        "the deploy's summary fails until they are fixed.",
        "",
    ]
    lines += ["| Cluster | Provider | Problems |", "|---|---|---|"]
    for cluster in broken:
        problems = "<br>".join(md_cell(scrub(p.render())) for p in cluster.problems)
        cells = [md_cell(scrub(cluster.name)), md_cell(scrub(cluster.provider) or "?"), problems]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _community_markdown(community: CommunityDecision, scrub: Scrub) -> list[str]:
    """The community-only decision (docs/community.md) and its reasons."""
    if community.community_only:
        verdict = "yes: the hub's owners may merge it; its deploy upgrades only that hub"
    else:
        verdict = "no: the platform team reviews it"
    lines = ["", f"### Community-only: {verdict}", ""]
    lines += [f"- {md_text(scrub(reason))}" for reason in community.reasons]
    return lines


def to_table(plan: Plan, *, width: int = 120, color: bool = False) -> str:
    """The plan as rich tables, rendered to text."""
    from rich.console import Console  # lazy: only the terminal table; json/github need no rich
    from rich.table import Table  # lazy: as above

    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, force_terminal=color, no_color=not color, highlight=False
    )
    sections: list[tuple[str, Sequence[Job], bool]] = [
        ("Support releases", plan.support_jobs, False),
        ("Staging hubs (canaries)", plan.staging_jobs, True),
        ("Production hubs", plan.prod_jobs, True),
        ("Decommissioned hubs (uninstalled)", plan.uninstall_jobs, True),
        ("Removed hubs (not uninstalled)", plan.removed_hubs, True),
        ("Skipped", plan.skipped, True),
        ("Held back (not deployed)", plan.held, True),
    ]
    waved = plan.rollout is not None
    for title, jobs, hubs in sections:
        if not jobs:
            continue
        table = Table(title=f"{title}: {len(jobs)}", title_justify="left", show_lines=False)
        table.add_column("cluster", no_wrap=True)
        if hubs:
            table.add_column("hub", no_wrap=True)
        table.add_column("provider", no_wrap=True)
        if waved:
            table.add_column("wave", no_wrap=True)
        table.add_column("reasons")
        for job in jobs:
            row = [job.cluster]
            if hubs:
                row.append(job.hub or "support")
            row += [job.provider, *([job.wave or ""] if waved else []), "\n".join(job.reasons)]
            table.add_row(*row)
        console.print(table)
    for cluster in plan.broken:
        console.print(f"cluster {cluster.name}: configuration broken, not planned:", markup=False)
        for problem in cluster.problems:
            console.print(f"  {problem.render()}", markup=False)
    if plan.rollout is not None:
        waves = ", ".join(f"{n} ({c} jobs, soak {s:g}s)" for n, c, s in _wave_counts(plan))
        console.print(f"rolled out in waves ({plan.rollout.trigger}): {waves}", markup=False)
    for warning in plan.warnings:
        console.print(f"warning: {warning}", markup=False)
    if plan.unmatched_files:
        console.print(
            f"{_plural(len(plan.unmatched_files), 'changed file')} nothing depends on: "
            + ", ".join(plan.unmatched_files),
            markup=False,
        )
    console.print(summary_line(plan), markup=False)
    return buffer.getvalue()
