"""A hub's `health_check` block in cluster.yaml: defaults, settings, errors, JSON Schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.health.kube import set_health_check

from hubfleet.config.load import load_fleet
from hubfleet.config.models import HealthCheckBlock
from hubfleet.config.schema import json_schema


def test_defaults_are_z2jh_conventions(fleet_copy: Path) -> None:
    fleet = load_fleet(fleet_copy).fleet_or_raise()
    settings = fleet.cluster("delta").hub("staging-a").health_check
    assert settings == HealthCheckBlock()
    assert settings.enabled is True
    assert (settings.secret, settings.key) == ("hub", "hub.services.hubfleet-health-check.apiToken")
    assert (settings.service, settings.port, settings.user) == ("proxy-public", 80, None)


def test_settings_reach_the_hub(fleet_copy: Path) -> None:
    set_health_check(
        fleet_copy, "beta", "staging",
        {"enabled": False, "secret": "s", "key": "k", "service": "svc", "port": 8000, "user": "u"},
    )  # fmt: skip
    fleet = load_fleet(fleet_copy).fleet_or_raise()
    settings = fleet.cluster("beta").hub("staging").health_check
    assert settings.model_dump() == {
        "enabled": False, "secret": "s", "key": "k", "service": "svc", "port": 8000, "user": "u",
    }  # fmt: skip
    assert fleet.cluster("beta").hub("research").health_check == HealthCheckBlock()


def test_bad_settings_name_file_and_line(fleet_copy: Path, run_cli: Any) -> None:
    set_health_check(fleet_copy, "beta", "staging", {"secrt": "hub", "port": 0})
    result = run_cli("--repo", fleet_copy, "validate", "beta")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if "health_check" in line]
    assert any("config/clusters/beta/cluster.yaml:" in line and "secrt" in line for line in lines)
    assert any("health_check.port" in line for line in lines), result.output


def test_json_schema_has_the_block_and_its_defaults() -> None:
    schema = json_schema("cluster")
    hub = schema["$defs"]["HubEntry"]["properties"]["health_check"]
    assert hub["$ref"] == "#/$defs/HealthCheckBlock"
    block = schema["$defs"]["HealthCheckBlock"]
    assert block["additionalProperties"] is False
    defaults = {name: field.get("default") for name, field in block["properties"].items()}
    assert defaults == {
        "enabled": True,
        "secret": "hub",
        "key": "hub.services.hubfleet-health-check.apiToken",
        "service": "proxy-public",
        "port": 80,
        "user": None,
    }
