"""Jsonnet values files, evaluated in-process with the Go implementation (`gojsonnet`).

A `.jsonnet` values file is evaluated with the facts of the release it is for as
external string variables (`<prefix>CLUSTER_NAME`, `<prefix>PROVIDER`,
`<prefix>ACCOUNT_ID`, and for a hub `<prefix>HUB_NAME`, `<prefix>HUB_DOMAIN`),
and the file's own folder on the import path. The result is JSON bytes, which
helm takes as a values file like any other.

The file's path is given to the evaluator as written, not resolved: a chart's
`values.jsonnet` may be a link to another chart's, and `std.thisFile` and
relative imports then see the link's path (as the Go `jsonnet` command does).

Bounded: every file read (the top file and each import) must be a regular file
inside the repository and at most `MAX_FILE_BYTES`; the evaluator's stack is
limited (`MAX_STACK`), and so is the size of the result. Errors name the
repository-relative file and line where the evaluator stopped.

`jsonnet_dependencies` finds, without evaluating, the files a jsonnet file may
read (imports followed statically, link targets included): the plan treats them
as dependencies of every release the file is evaluated for.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _gojsonnet

from hubfleet.base.errors import ConfigError, Problem

DEFAULT_EXT_VAR_PREFIX = "VARS_2I2C_"
MAX_STACK = 500
MAX_FILE_BYTES = 1024 * 1024
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
MAX_IMPORTS = 1000
HINT = "the values of a .jsonnet file are what it evaluates to; check it with these variables set"

_IMPORT = re.compile(
    r"""\b(import|importstr|importbin)\s*(?:'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)")"""
)
_LOCATION = re.compile(r"(?P<file>/[^\s:()]+):(?P<line>\d+)(?::\d+)?")


def is_jsonnet(path: str) -> bool:
    return path.endswith(".jsonnet")


@dataclass(frozen=True)
class JsonnetFacts:
    """What a release tells its jsonnet files (hub name and domain: hubs only)."""

    cluster_name: str
    provider: str
    account_id: str | None
    hub_name: str | None = None
    hub_domain: str | None = None

    def ext_vars(self, prefix: str) -> dict[str, str]:
        found = {f"{prefix}CLUSTER_NAME": self.cluster_name}
        if self.hub_name is not None:
            found[f"{prefix}HUB_NAME"] = self.hub_name
        if self.hub_domain is not None:
            found[f"{prefix}HUB_DOMAIN"] = self.hub_domain
        found[f"{prefix}PROVIDER"] = self.provider
        # The other deployer passes the text "None" when there is no account: so do we.
        found[f"{prefix}ACCOUNT_ID"] = str(self.account_id)
        return found


class _Reader:
    """Reads files for the evaluator: regular files inside `root`, size-bounded."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self.real_root = self.root.resolve()
        self.count = 0

    def relative(self, full: str) -> str:
        try:
            return Path(full).relative_to(self.root).as_posix()
        except ValueError:
            return full

    def read(self, full: Path) -> bytes | None:
        """The file's bytes; None when absent. Refused (ConfigError) outside the repository."""
        if not full.exists():
            return None
        real = full.resolve()
        if not real.is_relative_to(self.real_root) or not real.is_file():
            raise ConfigError(
                [Problem(self.relative(str(full)), 1, "jsonnet reads only files in the repository")]
            )
        size = real.stat().st_size
        self.count += 1
        if size > MAX_FILE_BYTES or self.count > MAX_IMPORTS:
            raise ConfigError(
                [Problem(self.relative(str(full)), 1, f"jsonnet input too large ({size} bytes)")]
            )
        return real.read_bytes()

    def find(self, folder: str, name: str, search: tuple[Path, ...]) -> Path | None:
        """Where an import of `name` from a file in `folder` is: beside it, else on the path."""
        for base in (Path(folder), *search):
            candidate = Path(os.path.normpath(base / name))
            if candidate.exists():
                return candidate
        return None


def render_jsonnet(root: Path, path: str, ext_vars: Mapping[str, str]) -> bytes:
    """Evaluate the repository-relative `path` under `root`; the JSON result as bytes."""
    reader = _Reader(root)
    top = reader.root / path
    source = reader.read(top)
    if source is None:
        raise ConfigError([Problem(path, 1, "jsonnet file does not exist")])
    search = (top.parent,)

    def import_callback(folder: str, name: str) -> tuple[str, bytes]:
        # Never raise and never return None here: the binding then reports garbage.
        # A file that cannot be read becomes a file that fails with the reason, so
        # the evaluator's trace names the import's file and line.
        found = reader.find(folder, name, search)
        if found is None:
            return _failing(name, f"import {name!r}: no such file beside it or in its chart")
        try:
            content = reader.read(found)
        except ConfigError as exc:
            return _failing(name, f"import {name!r}: {exc.message}")
        return str(found), content or b""

    try:
        text: str = _gojsonnet.evaluate_snippet(
            str(top),
            source.decode("utf-8", errors="replace"),
            max_stack=MAX_STACK,
            ext_vars=dict(ext_vars),
            import_callback=import_callback,
        )
    except RuntimeError as exc:
        raise _error(reader, path, str(exc)) from None
    data = text.encode()
    if len(data) > MAX_OUTPUT_BYTES:
        raise ConfigError([Problem(path, 1, f"jsonnet result too large ({len(data)} bytes)")])
    return data


def _failing(name: str, reason: str) -> tuple[str, bytes]:
    return f"<{name}>", f"error {json.dumps(reason)}\n".encode()


def render_jsonnet_data(root: Path, path: str, ext_vars: Mapping[str, str]) -> dict[str, Any]:
    """Like `render_jsonnet`, parsed; the result must be an object (a values mapping)."""
    data = json.loads(render_jsonnet(root, path, ext_vars))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            [Problem(path, 1, "a jsonnet values file must evaluate to an object", HINT)]
        )
    return data


def _error(reader: _Reader, path: str, message: str) -> ConfigError:
    """The evaluator's message as a problem at the file and line it names."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    where, line = path, 1
    for found in _LOCATION.finditer(message):
        relative = reader.relative(found.group("file"))
        if relative != found.group("file"):
            where, line = relative, int(found.group("line"))
            break
    first = lines[0] if lines else "evaluation failed"
    first = _LOCATION.sub(lambda m: reader.relative(m.group(0)), first)
    return ConfigError([Problem(where, line, f"jsonnet: {first}", HINT)])


def jsonnet_dependencies(root: Path, path: str) -> list[str]:
    """The repository-relative files `path` may read: itself, what it imports
    (found statically, transitively), and the targets of links among them."""
    reader = _Reader(root)
    top = reader.root / path
    search = (top.parent,)
    seen: dict[str, None] = {}
    pending: list[tuple[Path, bool]] = [(top, True)]
    while pending and len(seen) < MAX_IMPORTS:
        full, follow = pending.pop()
        relative = reader.relative(str(full))
        if relative in seen or relative == str(full):
            continue  # outside the repository: never read, no dependency
        seen[relative] = None
        if full.is_symlink():
            target = reader.relative(str(full.resolve()))
            if not target.startswith("/"):
                seen.setdefault(target, None)
        real = full.resolve()
        if not follow or not real.is_relative_to(reader.real_root) or not real.is_file():
            continue  # never read outside the repository
        if real.stat().st_size > MAX_FILE_BYTES:
            continue
        text = full.read_text(encoding="utf-8", errors="replace")
        for match in _IMPORT.finditer(text):
            name = match.group(2) if match.group(2) is not None else match.group(3)
            found = reader.find(str(full.parent), name, search)
            if found is not None:
                pending.append((found, match.group(1) == "import"))
    return list(seen)
