"""Where a chart comes from, as the fleet's configuration declares it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ChartSource:
    """Where a chart comes from: a local folder (or archive), or a repository and a version.

    `chart_yaml`: a replacement Chart.yaml laid over `local_dir` (a hub's
    `chart_override` file), or over a chart it wraps (a `file://` dependency named as
    the replacement is). `origin`/`origin_line`: where the source is declared
    (hubfleet.yaml for a remote chart), for messages. `repositories_file`: helm's
    `repositories.yaml` in the fleet, where a dependency's `@name` is looked up.
    """

    name: str
    local_dir: Path | None = None
    repository: str | None = None
    version: str | None = None
    chart_yaml: Path | None = None
    origin: str | None = None
    origin_line: int = 0
    repositories_file: Path | None = None
