"""Round-trip editing of cluster.yaml: comments, key order, quoting and the
indentation of the `hubs:` list are kept; only the new hub entry is added."""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from hubfleet.base.errors import ConfigError


def _yaml(offset: int) -> Any:
    yaml = YAML()  # round-trip mode
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    return yaml


def _list_offset(text: str) -> int:
    """Indentation of the `- ` items under `hubs:` (0 or 2 in practice)."""
    match = re.search(r"^hubs:[ \t]*(?:#.*)?\n(?:[ \t]*(?:#.*)?\n)*([ \t]*)- ", text, re.M)
    return len(match.group(1)) if match else 0


def append_hub(cluster_yaml: Path, entry: Mapping[str, Any]) -> None:
    """Add `entry` at the end of `hubs:` (created if absent), atomically."""
    text = cluster_yaml.read_text(encoding="utf-8")
    yaml = _yaml(_list_offset(text))
    data = yaml.load(text)
    if not isinstance(data, CommentedMap):
        raise ConfigError("cluster.yaml is not a mapping", path=str(cluster_yaml), line=1)
    hubs = data.get("hubs")
    if hubs is None:
        hubs = CommentedSeq()
        data["hubs"] = hubs
    if not isinstance(hubs, CommentedSeq):
        raise ConfigError("`hubs` is not a list", path=str(cluster_yaml), line=1)
    hubs.fa.set_block_style()
    new = CommentedMap()
    for key, value in entry.items():
        new[key] = CommentedSeq(value) if isinstance(value, list) else value
        if isinstance(value, list):
            new[key].fa.set_block_style()
    hubs.append(new)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    write_atomic(cluster_yaml, buffer.getvalue())


def write_atomic(path: Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
