"""`--rendered`: render hubs selected only by a chart change at base and at head.

Both sides use the embedded Helm engine with encrypted values replaced by
stable placeholders (`ReleaseValues(fleet, sops=None)`), so no key is needed
and nothing is decrypted. The base side reads only what it needs from git (the
hubs' values files, chart folders and `hubfleet.yaml`) into a temporary folder;
encrypted files stay encrypted there.

A chart may randomise fields (z2jh's generated secrets and the checksums that
follow them), so two renders of one input differ: when the first renders of base
and head differ, each side is rendered again
(`hubfleet.helm.stability.compare_renders`), the fields random at both revisions
are ignored, and the verdict "identical except ..." names them.
"""

from __future__ import annotations

import dataclasses
import tarfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from hubfleet.base.errors import HubfleetError
from hubfleet.base.yamlio import load_yaml
from hubfleet.config.fleet import Fleet, Hub
from hubfleet.config.models import FleetFile
from hubfleet.helm.charts import ChartResolver
from hubfleet.helm.stability import compare_renders, randomised
from hubfleet.plan.changes import GitRepo
from hubfleet.plan.graph import UnitKey, build_graph
from hubfleet.plan.planner import IDENTICAL, SETTINGS_FILE, RenderCheck
from hubfleet.release.pipeline import hub_release
from hubfleet.release.values import ReleaseValues


def render_hub(
    fleet: Fleet, hub: Hub, *, allow_pull: bool = True, values: ReleaseValues | None = None
) -> dict[str, str]:
    """The hub's manifests (template -> text), secrets as placeholders; `values`: the
    side's pipeline (its files read once however often the hub is rendered)."""
    if values is None:
        values = ReleaseValues(fleet, sops=None, charts=ChartResolver(allow_pull=allow_pull))
    return values.render_release(hub_release(fleet, hub))


def _base_settings(root: Path, fallback: FleetFile) -> FleetFile:
    file = root / SETTINGS_FILE
    if not file.is_file():
        return FleetFile()
    try:
        data = load_yaml(file.read_text(encoding="utf-8"), SETTINGS_FILE).data
        return FleetFile.model_validate(data or {})
    except (HubfleetError, ValueError):
        return fallback


def needed_paths(fleet: Fleet, hubs: Sequence[Hub]) -> list[str]:
    """What rendering `hubs` reads: their dependencies in the plan's graph (values
    files, chart folders and the local charts they depend on, a chart_override,
    what their jsonnet files import), hubfleet.yaml, and the repositories file that
    `@name` dependencies are looked up in."""
    graph = build_graph(fleet)
    paths = {fleet.settings_file or SETTINGS_FILE, fleet.settings.helm_repositories_file}
    for hub in hubs:
        paths.update(graph.paths_of((hub.cluster, hub.name)))
    return sorted(paths)


def make_render_check(repo: GitRepo, base: str, head_fleet: Fleet, workdir: Path) -> RenderCheck:
    """A `RenderCheck` comparing each hub's manifests at `base` and at head."""

    def check(keys: Sequence[UnitKey]) -> Mapping[UnitKey, str]:
        hubs = [head_fleet.cluster(c).hub(h) for c, h in keys if h is not None]
        try:
            base_root = repo.extract(base, needed_paths(head_fleet, hubs), workdir / "base")
        except (HubfleetError, tarfile.TarError) as exc:
            return {key: f"cannot read the base revision: {exc}" for key in keys}
        base_fleet = dataclasses.replace(
            head_fleet, root=base_root, settings=_base_settings(base_root, head_fleet.settings)
        )
        # One pipeline per side for the whole check: a file read once for every hub.
        sides = (_placeholders(base_fleet), _placeholders(head_fleet))
        verdicts: dict[UnitKey, str] = {}
        for hub in hubs:
            verdicts[(hub.cluster, hub.name)] = _verdict(base, sides, hub)
        return verdicts

    return check


def _placeholders(fleet: Fleet) -> ReleaseValues:
    return ReleaseValues(fleet, sops=None, charts=ChartResolver())


def _verdict(base: str, sides: tuple[ReleaseValues, ReleaseValues], hub: Hub) -> str:
    """The hub's verdict: `identical` (or `identical except N field(s) the chart
    randomises ...`), `different`, or why its renders could not be compared."""
    failed: list[str] = []

    def side(values: ReleaseValues, revision: str) -> Callable[[], dict[str, str]]:
        def render() -> dict[str, str]:
            try:
                return render_hub(values.fleet, hub, values=values)
            except HubfleetError as exc:
                failed.append(f"rendering at {revision} failed: {exc.message}")
                raise

        return render

    try:
        comparison = compare_renders(side(sides[0], base), side(sides[1], "head"))
    except HubfleetError as exc:  # a render failed, or rendered invalid YAML
        return failed[0] if failed else f"cannot compare the renders: {exc.message}"
    if not comparison.same:
        return "different"
    if comparison.ignored:
        return f"{IDENTICAL} except {randomised(comparison.ignored)}"
    return IDENTICAL
