"""`export --verify` with the real z2jh chart: blind only to what the chart randomises.

z2jh generates its cookie secret, CryptKeeper keys, proxy token and services' API
tokens at render time when the values do not set them; the round trip must pass
for every hub of the example fleet anyway, name the fields it ignored, and still
fail on any field the inputs decide.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.export.build import export_hub
from hubfleet.export.verify import RoundTrip, RoundTripError, verify_export

from ..conftest import CliResult
from .conftest import EXAMPLE_FLEET, make_sops

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

DEMO_KEY = EXAMPLE_FLEET / "DEMO-ONLY.age-key.txt"
EXAMPLE_HUBS = [
    (hub.cluster, hub.name) for hub in load_fleet(EXAMPLE_FLEET).fleet_or_raise().hubs()
]
COOKIE_SECRET = "Secret/-/hub data.hub.config.JupyterHub.cookie_secret"


@pytest.fixture
def example_copy(tmp_path: Path, real_chart_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example fleet copied to tmp, its demo key available, the real chart cached."""
    target = tmp_path / "fleet"
    shutil.copytree(EXAMPLE_FLEET, target, symlinks=False)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(DEMO_KEY))
    return target


def _export(run_cli, fleet: Path, cluster: str, hub: str, folder: Path, *extra: str) -> CliResult:  # type: ignore[no-untyped-def]
    return run_cli("--repo", fleet, "export", cluster, hub, folder, "--verify", *extra)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("cluster", "hub"), EXAMPLE_HUBS, ids=[f"{c}/{h}" for c, h in EXAMPLE_HUBS]
)
def test_every_example_hub_round_trips_with_the_real_chart(
    run_cli,
    example_copy: Path,
    tmp_path: Path,
    cluster: str,
    hub: str,  # type: ignore[no-untyped-def]
) -> None:
    result = _export(run_cli, example_copy, cluster, hub, tmp_path / "export")
    assert result.exit_code == 0, result.output
    assert "round trip: the export renders the same" in result.stdout
    encrypted = cluster != "local-demo"
    assert f"(secrets: {'decrypted' if encrypted else 'none'})" in result.stdout
    # The fields z2jh generates were found by rendering again, and are named.
    note = next(line for line in result.stdout.splitlines() if "the chart randomises" in line)
    assert note.startswith("round trip: ignored ")
    assert COOKIE_SECRET in note
    assert "checksum/secret" in note  # a checksum of the Secret follows its random values


def test_json_names_the_ignored_fields(run_cli, example_copy: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = _export(run_cli, example_copy, "pilot-gcp", "staging", tmp_path / "e", "-o", "json")
    assert result.exit_code == 0, result.output
    verify = json.loads(result.stdout)["verify"]
    assert verify["status"] == "same" and verify["secrets"] == "decrypted"
    assert verify["differences"] == []
    assert COOKIE_SECRET in verify["ignored"]
    assert verify["ignored"] == sorted(verify["ignored"])
    # The health check service's token is generated too (this hub declares the service).
    assert "Secret/-/hub data.hub.services.hubfleet-health-check.apiToken" in verify["ignored"]


def _edited_export(example_copy: Path, folder: Path, name: str, edit) -> RoundTrip:  # type: ignore[no-untyped-def]
    """onprem/staging exported, one exported values file edited, the round trip run."""
    fleet = load_fleet(example_copy).fleet_or_raise()
    hub = fleet.cluster("onprem").hub("staging")
    export_hub(fleet, hub, folder)
    path = folder / "values" / name
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))
    return verify_export(fleet, hub, folder, sops=make_sops(Redactor(), example_copy, DEMO_KEY))


def test_an_input_decided_change_of_the_export_still_fails_and_is_named(
    example_copy: Path, tmp_path: Path
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["singleuser"]["image"]["tag"] = "2030-01-01"

    round_trip = _edited_export(example_copy, tmp_path / "export", "02-staging.values.yaml", edit)
    assert round_trip.status == "different"
    changed = {f"{d.resource} {d.field}": d for d in round_trip.differences}
    # The image tag reaches the image puller's containers and the hub's values.
    assert any("2030-01-01" in d.actual for d in changed.values()), sorted(changed)
    assert "Secret/-/hub data.values.yaml" in changed
    # The chart's random fields are still ignored (and named), not reported.
    assert COOKIE_SECRET in round_trip.ignored
    assert COOKIE_SECRET not in changed
    with pytest.raises(RoundTripError) as raised:
        round_trip.raise_for_differences()
    message = str(raised.value)
    assert "round trip of onprem/staging failed" in message
    assert "Secret/-/hub: data.values.yaml" in message
    assert "ignored " in message and "the chart randomises" in message
    assert raised.value.exit_code == 1


def test_a_generated_field_the_export_sets_is_a_difference(
    example_copy: Path, tmp_path: Path
) -> None:
    """Random on hubfleet's side, fixed in the export: not ignored, and said so."""

    def edit(data: dict[str, Any]) -> None:
        data["hub"]["config"]["JupyterHub"]["cookie_secret"] = "ab" * 32

    round_trip = _edited_export(example_copy, tmp_path / "export", "02-staging.values.yaml", edit)
    assert round_trip.status == "different"
    cookie = [d for d in round_trip.differences if f"{d.resource} {d.field}" == COOKIE_SECRET]
    assert len(cookie) == 1, [d.render() for d in round_trip.differences]
    assert "randomises it on hubfleet's side only" in cookie[0].render()
    assert COOKIE_SECRET not in round_trip.ignored
