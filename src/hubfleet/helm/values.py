"""Helm values: merging several values files, and placeholders for secrets.

`merge_values` follows helm's rule for several `-f` files: mappings merge
recursively, anything else (lists, scalars) is replaced by the later file, and an
explicit `null` is kept, so that when the engine coalesces the result with the
chart's defaults the `null` removes that default (as `helm install -f` does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubfleet.base.yamlio import format_key_path


def merge_values(documents: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Merge values documents in order (later wins); inputs are never mutated.

    An empty or absent document (`None`) contributes nothing.
    """
    merged: dict[str, Any] = {}
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, Mapping):
            raise TypeError(f"a values document must be a mapping, not {type(document).__name__}")
        merged = _merge(merged, document)
    return merged


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {key: _copy(value) for key, value in base.items()}
    for key, value in override.items():
        current = result.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            result[key] = _merge(current, value)
        else:
            result[key] = _copy(value)
    return result


def _copy(value: Any) -> Any:
    """A deep copy of plain YAML data (mappings, lists, scalars)."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


def placeholder_secrets(data: Any, _path: tuple[str | int, ...] = ()) -> Any:
    """A copy of `data` whose string leaves are stable placeholders.

    The placeholder names the key path, e.g. `"<secret:hub.config.X.client_secret>"`
    (list items as `[0]`), so charts can be rendered without the decryption keys
    and the output shows where a secret would go. Non-string leaves (numbers,
    booleans, null) are kept: they carry structure, not secrets.
    """
    if isinstance(data, Mapping):
        return {key: placeholder_secrets(value, (*_path, key)) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [placeholder_secrets(item, (*_path, index)) for index, item in enumerate(data)]
    if isinstance(data, str):
        return f"<secret:{format_key_path(_path)}>"
    return data


def at_key(values: Mapping[str, Any], key: str | None) -> Mapping[str, Any]:
    """The part of `values` under the dotted `key` (a wrapper chart's subchart), or
    all of it when `key` is None; an absent level reads as empty."""
    found: Any = values
    for level in key.split(".") if key else ():
        found = found.get(level, {}) if isinstance(found, Mapping) else {}
    return found if isinstance(found, Mapping) else {}


def nest(values: Mapping[str, Any], key: str | None) -> dict[str, Any]:
    """`values` placed under the dotted `key` (the inverse of `at_key`)."""
    nested = dict(values)
    for level in reversed(key.split(".")) if key else ():
        nested = {level: nested}
    return nested
