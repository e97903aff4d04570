"""A local hub on a chart that wraps the JupyterHub chart (basehub-style): its z2jh
values sit under the wrapper's dependency key, and the local provider reads them there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.local import hub_status
from tests.local.hubs import cleaned, free_base_port, wrapper_chart

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow


def test_local_hub_on_a_wrapper_chart_reads_the_nested_values(
    fleet_copy: Path, run_cli: Callable[..., Any]
) -> None:
    wrapper_chart(fleet_copy)
    folder = fleet_copy / "config/clusters/local"
    (folder / "wrapped.values.yaml").write_text(
        yaml.safe_dump(
            {
                "jupyterhub": {"hub": {"baseUrl": "/wrapped/"}, "cull": {"enabled": False}},
                # The same key at the top level is not z2jh's for this chart: ignored.
                "hub": {"baseUrl": "/not-this/"},
            }
        )
    )
    cluster = yaml.safe_load((folder / "cluster.yaml").read_text())
    cluster["local"]["base_port"] = free_base_port()
    cluster["hubs"] = [
        {
            "name": "wrapped",
            "domain": "wrapped.local.example.org",
            "helm_chart": "wrapper",
            "staging": False,
            "helm_chart_values_files": ["wrapped.values.yaml"],
        }
    ]
    (folder / "cluster.yaml").write_text(yaml.safe_dump(cluster, sort_keys=False))
    state = fleet_copy / ".hubfleet/local/local"
    with cleaned(state):
        result = run_cli("--repo", fleet_copy, "deploy", "local", "--progress", "plain")
        assert result.exit_code == 0, result.output
        [status] = hub_status(state)
        assert status.running and status.url.endswith("/wrapped/"), status.url
