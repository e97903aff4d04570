"""The round trip: a hub rendered through hubfleet, and its export rendered
exactly as the export's README says, must give the same manifests.

hubfleet's side is what `hubfleet deploy` would install: the hub's values files
read, merged and rendered by the command's values pipeline
(`hubfleet.release.values.ReleaseValues.render_release`: helm's merge rule, the
embedded Helm engine).

The export's side uses no hubfleet code to read or merge values. It parses the
README's `helm upgrade --install` command; reads each `--values` file with helm's
own YAML reader (`helm_python.values_from_yaml`, decrypting `<(sops --decrypt F)`
in memory); combines them the way `helm -f a -f b` does; and renders the exported
chart with the embedded Helm engine directly (`helm_python.Chart`), which
coalesces the result with the chart's defaults as an install does.

About that combination: the engine (helm_python 0.2) exposes no way to hand it
several values files, and its only merge, `Chart.merge_values`, is helm's
*coalescing* of user values with chart defaults, which deletes a key set to
`null` instead of keeping the `null` for the next file (so `helm -f a -f b` with
`x: null` in b, which removes the chart's default for x, cannot be reproduced by
chaining it). `_helm_values_merge` is therefore a separate implementation of
helm's documented rule for several `-f` files (helm's `pkg/cli/values` mergeMaps:
a mapping in a later file merges into a mapping of an earlier one, anything else
replaces it, `null` included), kept independent of `hubfleet.helm.values` on
purpose: a bug in either shows up as a difference.

Randomised fields: a chart may generate values while it renders (z2jh's cookie
secret, proxy token, ...), so two renders of one input differ. Each side is
rendered several times when the first renders differ
(`hubfleet.helm.stability.compare_renders`); the fields random on both sides
are ignored and named (`RoundTrip.ignored`), everything else must be equal.

Secrets: with a key (`sops`), both sides decrypt in memory (every value goes to
the redactor); without one, both sides replace encrypted files' string values by
the same placeholders. Nothing decrypted is written to disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import helm_python

from hubfleet.base.errors import ChartError, HubfleetError
from hubfleet.config.charts import ChartSource
from hubfleet.config.fleet import Fleet, Hub
from hubfleet.export.compare import Difference, differences
from hubfleet.export.layout import README, DeployCommand, ExportError, parse_command
from hubfleet.helm.charts import ChartResolver, resolve_chart
from hubfleet.helm.stability import compare_renders, ignored_note
from hubfleet.helm.values import placeholder_secrets
from hubfleet.release.pipeline import hub_release
from hubfleet.release.values import ReleaseValues

if TYPE_CHECKING:
    from hubfleet.secrets.sops import Sops

Status = Literal["same", "different", "skipped"]


class RoundTripError(HubfleetError):
    """The export does not render what hubfleet renders."""

    exit_code = 1


@dataclass(frozen=True)
class RoundTrip:
    hub: str  # cluster/hub
    status: Status
    secrets: Literal["none", "decrypted", "placeholders"]
    resources: int = 0
    differences: tuple[Difference, ...] = ()
    reason: str = ""  # why it was skipped
    ignored: tuple[str, ...] = ()  # fields the chart randomises on both sides, not compared
    renders: int = 0  # renders made of each side

    @property
    def ignored_note(self) -> str:
        """`ignored N field(s) the chart randomises: ...`, or "" when none were."""
        return ignored_note(self.ignored)

    @property
    def ok(self) -> bool:
        return self.status != "different"

    def raise_for_differences(self) -> None:
        if self.status == "different":
            shown = "; ".join(
                f"{d.resource}: {d.field or '(whole resource)'}" for d in self.differences[:20]
            )
            more = len(self.differences) - 20
            raise RoundTripError(
                f"round trip of {self.hub} failed: {len(self.differences)} difference(s): "
                + shown
                + (f"; and {more} more" if more > 0 else "")
                + (f" ({self.ignored_note})" if self.ignored else ""),
                hint="the export does not deploy what hubfleet deploys; please report this",
            )


def verify_export(
    fleet: Fleet,
    hub: Hub,
    folder: Path,
    *,
    sops: Sops | None,
    export_sops: Sops | None = None,
    cache_dir: Path | None = None,
) -> RoundTrip:
    """Render `hub` through hubfleet and the export at `folder` as its README says,
    and compare. `sops`: decrypt both sides (the export's encrypted files with
    `export_sops` if given, e.g. the key of re-encryption recipients); None:
    placeholders on both sides."""

    label = hub.label
    readme = folder / README
    if not readme.is_file():
        raise ExportError(f"{folder} is not an export: it has no {README}")
    command = parse_command(readme.read_text(encoding="utf-8"))
    release = hub_release(fleet, hub)
    pipeline = ReleaseValues(
        fleet, sops=sops, charts=ChartResolver(cache_dir=cache_dir, allow_pull=False)
    )
    documents = pipeline.documents(release)
    has_secrets = any(doc.encrypted for doc in documents) or any(
        entry.decrypt for entry in command.values
    )
    secrets: Literal["none", "decrypted", "placeholders"] = (
        "none" if not has_secrets else "decrypted" if sops is not None else "placeholders"
    )
    try:
        pipeline.chart(release)
        export_chart = _export_chart(folder, command, cache_dir)
    except ChartError as exc:
        return RoundTrip(label, "skipped", secrets, reason=f"chart not available offline: {exc}")
    values = _helm_values_merge(
        [
            _read_export_values(folder, entry.path, entry.decrypt, export_sops or sops)
            for entry in command.values
        ]
    )

    def hubfleet_render() -> dict[str, str]:
        return pipeline.render_release(release)

    def export_render() -> dict[str, str]:
        return _render_export(export_chart, values, command)

    comparison = compare_renders(hubfleet_render, export_render)
    found = tuple(differences(comparison))
    return RoundTrip(
        label,
        "different" if found else "same",
        secrets,
        comparison.resources,
        found,
        ignored=tuple(str(ref) for ref in comparison.ignored),
        renders=comparison.renders,
    )


def _export_chart(folder: Path, command: DeployCommand, cache_dir: Path | None) -> Path:
    if command.local_chart:
        chart = (folder / command.chart).resolve()
        if not chart.is_relative_to(folder.resolve()) or not (chart / "Chart.yaml").is_file():
            raise ExportError(f"README's chart {command.chart!r} is not a chart inside {folder}")
        return chart
    source = ChartSource(command.chart, None, command.repository, command.version)
    return resolve_chart(source, cache_dir=cache_dir, allow_pull=False)


def _read_export_values(
    folder: Path, relative: str, decrypt: bool, sops: Sops | None
) -> dict[str, Any]:
    """One `--values` file as helm reads it; decrypted in memory, or placeholders."""
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder.resolve()) or not path.is_file():
        raise ExportError(f"README names values file {relative!r}, which is not in {folder}")
    try:
        text = path.read_text(encoding="utf-8")
        if decrypt and sops is not None and sops.may_decrypt(text, relative):
            return helm_python.values_from_yaml(sops.decrypt(path).decode("utf-8"))
        data = helm_python.values_from_yaml(text)
    except helm_python.HelmError:
        # helm's message may quote decrypted text: never show it.
        raise ExportError(f"helm cannot read values file {relative}", path=relative) from None
    if decrypt:
        data.pop("sops", None)
        placeholders: dict[str, Any] = placeholder_secrets(data)
        return placeholders
    return data


def _helm_values_merge(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """`helm -f a -f b ...`: see the module docstring."""
    result: dict[str, Any] = {}
    for document in documents:
        result = _merge_two(result, document)
    return result


def _merge_two(base: Mapping[str, Any], later: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in later.items():
        earlier = out.get(key)
        if isinstance(value, Mapping) and isinstance(earlier, Mapping):
            out[key] = _merge_two(earlier, value)
        else:
            out[key] = value
    return out


def _render_export(
    chart_path: Path, values: dict[str, Any], command: DeployCommand
) -> dict[str, str]:
    try:
        with helm_python.Chart.load(chart_path) as chart:
            rendered = chart.render(values, name=command.release, namespace=command.namespace)
    except helm_python.HelmError as exc:
        detail = str(getattr(exc, "detail", None) or exc).strip()
        raise ChartError(f"the export's chart does not render: {detail}") from None
    return {
        name: text
        for name, text in sorted(rendered.items())
        if text.strip() and not name.endswith("NOTES.txt")
    }
