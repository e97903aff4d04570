"""Secrets in an export: kept encrypted, re-encrypted for a new key, or decrypted
only on explicit request."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from tests.conftest import public_key

from hubfleet.base.errors import SecretsError
from hubfleet.base.redact import Redactor
from hubfleet.config.fleet import Fleet
from hubfleet.export.build import ExportOptions, export_hub
from hubfleet.export.layout import ExportError
from hubfleet.export.verify import verify_export
from hubfleet.secrets.sops import Sops, is_encrypted

from .conftest import FLEET_KEY, MARKER, OTHER_KEY, all_files_text, make_sops

SECRET_FILE = "values/03-enc-prod1.secret.values.yaml"


def test_default_export_keeps_secrets_encrypted_and_names_who_can_decrypt(
    fleet: Fleet, tmp_path: Path
) -> None:
    hub = fleet.cluster("alpha").hub("prod1")
    result = export_hub(fleet, hub, tmp_path / "export")
    assert result.secrets_mode == "encrypted"
    exported = result.directory / SECRET_FILE
    assert exported.read_bytes() == fleet.abspath(hub.values_files[2]).read_bytes()
    assert MARKER not in all_files_text(result.directory)
    readme = (result.directory / "README.md").read_text()
    assert f"age {public_key(FLEET_KEY)}" in readme
    assert "<(sops --decrypt values/03-enc-prod1.secret.values.yaml)" in readme


def test_reencrypted_secrets_open_with_the_new_key_only(
    fleet: Fleet, sops: Sops, tmp_path: Path
) -> None:
    hub = fleet.cluster("alpha").hub("prod1")
    recipient = public_key(OTHER_KEY)
    result = export_hub(
        fleet, hub, tmp_path / "export", options=ExportOptions(recipients=(recipient,)), sops=sops
    )
    assert result.secrets_mode == "reencrypted"
    exported = result.directory / SECRET_FILE
    text = exported.read_text()
    assert is_encrypted(text, exported.name)
    assert recipient in text and public_key(FLEET_KEY) not in text
    assert MARKER not in all_files_text(result.directory)
    sops_config = (result.directory / ".sops.yaml").read_text()
    assert f"age: {recipient}" in sops_config

    new_key = make_sops(Redactor(), result.directory, OTHER_KEY)
    assert MARKER in new_key.decrypt(exported).decode()
    fleet_key = make_sops(Redactor(), result.directory, FLEET_KEY)
    with pytest.raises(SecretsError, match="cannot decrypt"):
        fleet_key.decrypt(exported)

    # The round trip with real values: fleet side with the fleet's key, export
    # side with the new key.
    round_trip = verify_export(fleet, hub, result.directory, sops=sops, export_sops=new_key)
    assert round_trip.status == "same"
    assert round_trip.secrets == "decrypted"


def test_decrypt_is_refused_without_the_acknowledgement(
    fleet: Fleet, sops: Sops, tmp_path: Path
) -> None:
    hub = fleet.cluster("alpha").hub("prod1")
    with pytest.raises(ExportError, match="plaintext; refused") as raised:
        export_hub(fleet, hub, tmp_path / "export", options=ExportOptions(decrypt=True), sops=sops)
    assert "--i-understand-plaintext" in (raised.value.hint or "")
    assert not (tmp_path / "export").exists()


def test_decrypt_with_acknowledgement_writes_0600_files(
    fleet: Fleet, sops: Sops, tmp_path: Path
) -> None:
    hub = fleet.cluster("alpha").hub("prod1")
    options = ExportOptions(decrypt=True, i_understand_plaintext=True)
    result = export_hub(fleet, hub, tmp_path / "export", options=options, sops=sops)
    assert result.secrets_mode == "decrypted"
    plaintext = result.directory / "values" / "03-prod1.secret.values.yaml"
    assert stat.S_IMODE(plaintext.stat().st_mode) == 0o600
    assert MARKER in plaintext.read_text()
    assert "sops --decrypt" not in (result.directory / "README.md").read_text()
    for other in (result.directory / "values").iterdir():
        if other != plaintext:
            assert MARKER not in other.read_text()
    assert verify_export(fleet, hub, result.directory, sops=sops).status == "same"


def test_reencrypting_needs_the_fleet_key_and_a_real_age_key(fleet: Fleet, tmp_path: Path) -> None:
    hub = fleet.cluster("alpha").hub("prod1")
    with pytest.raises(ExportError, match="needs sops and the fleet's key"):
        export_hub(
            fleet,
            hub,
            tmp_path / "a",
            options=ExportOptions(recipients=(public_key(OTHER_KEY),)),
            sops=None,
        )
    with pytest.raises(ExportError, match="not an age public key"):
        export_hub(fleet, hub, tmp_path / "b", options=ExportOptions(recipients=("ssh-rsa AAAA",)))


def test_a_failed_reencryption_leaves_no_folder(
    fleet: Fleet, tmp_path: Path, redactor: Redactor
) -> None:
    hub = fleet.cluster("alpha").hub("prod1")
    wrong_key = make_sops(redactor, fleet.root, OTHER_KEY)  # cannot open the fleet's files
    with pytest.raises(SecretsError):
        export_hub(
            fleet,
            hub,
            tmp_path / "export",
            options=ExportOptions(recipients=(public_key(OTHER_KEY),)),
            sops=wrong_key,
        )
    # Nothing but the chart cache's build of the local chart (the autouse fixture's cache).
    assert [p for p in tmp_path.iterdir() if p.name != "chart-cache"] == []
