"""The `z2jh` helper module of the official JupyterHub chart, for the local provider.

Snippets in `hub.extraConfig` often `from z2jh import get_config` to read the
chart's values, typically `custom.*`. In a local hub this module is registered as
`z2jh` (see `hubfleet.local.hubconfig`), and reads the hub's merged values, which
reach the JupyterHub process through a pipe (never a file).
"""

from __future__ import annotations

from typing import Any

_values: dict[str, Any] = {}


def load(values: dict[str, Any]) -> None:
    """Set the values this module answers from (called once by the hub's config)."""
    _values.clear()
    _values.update(values)


def get_config(key: str, default: Any = None) -> Any:
    """The value at dotted `key` ("custom.title", "hub.config"), or `default`."""
    value: Any = _values
    for level in key.split("."):
        if not isinstance(value, dict) or level not in value:
            return default
        value = value[level]
    return value


def set_config_if_not_none(cparent: Any, name: str, key: str) -> None:
    """Set trait `name` of `cparent` from the value at `key`, when that value is set."""
    data = get_config(key)
    if data is not None:
        setattr(cparent, name, data)


def get_secret_value(key: str, default: Any = "never-explicitly-set") -> Any:
    """The chart reads these from its Kubernetes Secret; locally they are the values."""
    value = get_config(key, None)
    if value is None:
        if default != "never-explicitly-set":
            return default
        raise KeyError(f"{key} is not set in the hub's values")
    return value


def get_name(name: str) -> str:
    raise NotImplementedError(
        f"z2jh.get_name({name!r}) names a Kubernetes resource; "
        "it has no meaning for a hub of the local provider"
    )


def get_name_env(name: str, suffix: str = "") -> str:
    raise NotImplementedError(
        f"z2jh.get_name_env({name!r}) reads a Kubernetes service's environment; "
        "it has no meaning for a hub of the local provider"
    )
