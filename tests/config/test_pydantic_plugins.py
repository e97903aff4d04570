"""pydantic's plugins are off for hubfleet (their discovery reads every installed
distribution's metadata when the first model is built), unless the environment says
otherwise; the setting never reaches the programs hubfleet starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from hubfleet.base.runner import base_environment

PROBE = """
import json, os, sys
import hubfleet.config.models
from pydantic.plugin import _loader
print(json.dumps([os.environ.get("PYDANTIC_DISABLE_PLUGINS"), _loader._plugins is None]))
"""


def probe(env: dict[str, str]) -> list[object]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_plugins_are_off_and_never_looked_for() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    # the models were built, and the entry points never read (the cache stays empty)
    assert probe(env) == ["__all__", True]


def test_a_value_in_the_environment_wins() -> None:
    env = {**os.environ, "PYDANTIC_DISABLE_PLUGINS": "some-plugin"}
    value, never_read = probe(env)
    assert value == "some-plugin"
    assert never_read is False  # pydantic looked for plugins, skipping the one named


def test_the_setting_stays_out_of_the_programs_hubfleet_starts() -> None:
    assert "PYDANTIC_DISABLE_PLUGINS" not in base_environment(
        {"PYDANTIC_DISABLE_PLUGINS": "__all__", "PATH": "/usr/bin"}
    )
