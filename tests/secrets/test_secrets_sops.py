"""hubfleet.secrets.sops with the real sops binary and the committed test age keys."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

import pytest
import yaml

from hubfleet.base.errors import SecretsError
from hubfleet.base.redact import MARKER, Redactor
from hubfleet.secrets.sops import Sops, encrypt, file_format, is_encrypted, uses_cloud_keys
from tests.secrets.conftest import AgeKey


def _secret() -> str:
    return "s-" + secrets.token_hex(12)


def _write_encrypted(repo: Path, name: str, plaintext: bytes, key: AgeKey) -> Path:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encrypt(plaintext, filename=name, cwd=repo, age_recipients=[key.public]))
    return path


def test_file_format() -> None:
    assert file_format("enc-x.secret.values.yaml") == "yaml"
    assert file_format("a.yml") == "yaml"
    assert file_format("enc-deployer-credentials.secret.json") == "json"
    assert file_format("x.env") == "dotenv"
    assert file_format("kubeconfig") == "binary"


def test_round_trip_in_memory_registers_values(tmp_path: Path, with_key: AgeKey) -> None:
    value = _secret()
    plaintext = f"hub:\n  config:\n    clientSecret: {value}\n  port: 8081\n".encode()
    path = _write_encrypted(tmp_path, "enc-a.secret.values.yaml", plaintext, with_key)
    text = path.read_text()
    assert value not in text
    assert is_encrypted(text, path.name)
    redactor = Redactor()
    sops = Sops(redactor, cwd=tmp_path)
    assert yaml.safe_load(sops.decrypt(path)) == yaml.safe_load(plaintext)  # sops re-indents
    assert sops.decrypt_data(path) == {"hub": {"config": {"clientSecret": value}, "port": 8081}}
    assert redactor.scrub(f"x {value} y") == f"x {MARKER} y"
    assert redactor.scrub("hub config") == "hub config"  # keys are not registered


def test_json_dotenv_and_binary(tmp_path: Path, with_key: AgeKey) -> None:
    values = [_secret() for _ in range(3)]
    js = _write_encrypted(
        tmp_path, "creds.secret.json", json.dumps({"private_key": values[0]}).encode(), with_key
    )
    env = _write_encrypted(tmp_path, "x.secret.env", f"TOKEN={values[1]}\n".encode(), with_key)
    binary = _write_encrypted(tmp_path, "blob", f"raw {values[2]} text".encode(), with_key)
    assert is_encrypted(js.read_text(), js.name)
    assert is_encrypted(env.read_text(), env.name)
    assert is_encrypted(binary.read_text(), binary.name)
    redactor = Redactor()
    sops = Sops(redactor, cwd=tmp_path)
    assert sops.decrypt_data(js) == {"private_key": values[0]}
    assert sops.decrypt_data(env) == {"TOKEN": values[1]}
    assert sops.decrypt(binary) == f"raw {values[2]} text".encode()
    for value in values[:2]:
        assert value not in redactor.scrub(f"<{value}>")
    # An unstructured file is registered whole.
    assert redactor.scrub(f"raw {values[2]} text") == MARKER
    assert redactor.scrub("raw x") == "raw x"


def test_is_encrypted_rejects_plain_files() -> None:
    assert not is_encrypted("hub:\n  config: {}\n", "values.yaml")
    assert not is_encrypted("sops: 1\n", "a.yaml")
    assert not is_encrypted("sops:\n  version: 3\n", "a.yaml")
    assert not is_encrypted('{"sops": 1, "mac": 2}', "a.json")
    assert not is_encrypted("A=1\n", "a.env")
    assert not is_encrypted("", "a.yaml")
    assert not is_encrypted("not json", "blob")


def test_decrypts_once_per_instance(
    tmp_path: Path, with_key: AgeKey, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write_encrypted(tmp_path, "a.yaml", b"k: " + _secret().encode() + b"\n", with_key)
    caplog.set_level(logging.DEBUG, logger="hubfleet.base.runner")
    sops = Sops(Redactor(), cwd=tmp_path)
    first = sops.decrypt(path)
    assert sops.decrypt(Path("a.yaml")) is first  # relative to cwd: same file, cached
    assert caplog.text.count("sops decrypt") == 2  # one "run:" line and one "exit" line


def test_sops_decrypts_the_bytes_read_not_the_path(
    tmp_path: Path, with_key: AgeKey, caplog: pytest.LogCaptureFixture
) -> None:
    """The file is read once, confined to the repository, and its bytes reach sops on
    stdin: a link leaving the repository is refused before sops runs, and sops's argv
    names no file to open (so a link swapped in after the check is never read)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    outside = _write_encrypted(
        tmp_path, "outside.yaml", b"k: " + _secret().encode() + b"\n", with_key
    )
    (repo / "enc-a.secret.yaml").symlink_to(outside)
    caplog.set_level(logging.DEBUG, logger="hubfleet.base.runner")
    sops = Sops(Redactor(), cwd=repo)
    with pytest.raises(SecretsError) as info:
        sops.decrypt(repo / "enc-a.secret.yaml")
    assert "outside the repository" in info.value.message
    assert "sops decrypt" not in caplog.text  # refused before sops ran
    (repo / "enc-a.secret.yaml").unlink()
    (repo / "enc-a.secret.yaml").write_bytes(outside.read_bytes())
    assert sops.decrypt_data(repo / "enc-a.secret.yaml")["k"]
    ran = [line for line in caplog.text.splitlines() if "run:" in line and "sops" in line]
    assert ran and all(str(repo) not in line and "--filename-override" in line for line in ran)


def test_encrypt_follows_creation_rules(tmp_path: Path, with_key: AgeKey) -> None:
    rules = {"creation_rules": [{"path_regex": r".*secret.*", "age": with_key.public}]}
    (tmp_path / ".sops.yaml").write_text(yaml.safe_dump(rules))
    value = _secret()
    name = "config/clusters/c1/enc-hub.secret.values.yaml"
    out = encrypt(f"a: {value}\n".encode(), filename=name, cwd=tmp_path)
    assert with_key.public in out.decode() and value not in out.decode()
    (tmp_path / "e.yaml").write_bytes(out)
    assert Sops(Redactor(), cwd=tmp_path).decrypt_data(tmp_path / "e.yaml") == {"a": value}
    with pytest.raises(SecretsError) as info:
        encrypt(b"a: 1\n", filename="plain.yaml", cwd=tmp_path)
    assert "cannot encrypt" in info.value.message
    assert info.value.hint and "creation rule" in info.value.hint


def test_re_encrypt_for_another_key(
    tmp_path: Path, with_key: AgeKey, other_age_identity: AgeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = _secret()
    path = _write_encrypted(tmp_path, "a.yaml", f"a: {value}\n".encode(), with_key)
    plaintext = Sops(Redactor(), cwd=tmp_path).decrypt(path)
    other = tmp_path / "export.yaml"
    other.write_bytes(
        encrypt(
            plaintext, filename="a.yaml", cwd=tmp_path, age_recipients=[other_age_identity.public]
        )
    )
    with pytest.raises(SecretsError, match="none of the available keys"):
        Sops(Redactor(), cwd=tmp_path).decrypt(other)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(other_age_identity.file))
    assert Sops(Redactor(), cwd=tmp_path).decrypt_data(other) == {"a": value}


def test_tampered_file_mac_mismatch(tmp_path: Path, with_key: AgeKey) -> None:
    path = _write_encrypted(tmp_path, "sub/enc.yaml", b"a: one-secret\nb: two-secret\n", with_key)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith("b:")))
    with pytest.raises(SecretsError) as info:
        Sops(Redactor(), cwd=tmp_path).decrypt(path)
    error = info.value
    assert "file was modified after encryption (MAC mismatch)" in error.message
    assert error.path == "sub/enc.yaml" and error.line == 1
    assert error.hint


def test_tampered_value(tmp_path: Path, with_key: AgeKey) -> None:
    path = _write_encrypted(tmp_path, "enc.yaml", b"a: one-secret\n", with_key)
    path.write_text(path.read_text().replace("a: ENC", "z: ENC", 1))
    with pytest.raises(SecretsError, match="modified after encryption"):
        Sops(Redactor(), cwd=tmp_path).decrypt(path)


def test_no_key_hint(tmp_path: Path, age_identity: AgeKey, no_default_key: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_bytes(
        encrypt(
            b"a: x-secret\n",
            filename="enc.yaml",
            cwd=tmp_path,
            age_recipients=[age_identity.public],
        )
    )
    sops = Sops(Redactor(), cwd=tmp_path)
    assert not sops.key_available()
    with pytest.raises(SecretsError) as info:
        sops.decrypt(path)
    assert "no age key" in info.value.message
    assert info.value.hint and "SOPS_AGE_KEY_FILE" in info.value.hint
    assert info.value.path == "enc.yaml"
    # The key given only to this instance (env override) is enough.
    keyed = Sops(Redactor(), cwd=tmp_path, env={"SOPS_AGE_KEY_FILE": str(age_identity.file)})
    assert keyed.key_available()
    assert keyed.decrypt_data(path) == {"a": "x-secret"}


def test_key_available_default_location(
    no_default_key: Path, monkeypatch: pytest.MonkeyPatch, age_identity: AgeKey
) -> None:
    sops = Sops(Redactor(), cwd=no_default_key)
    assert not sops.key_available()
    default = no_default_key / ".config" / "sops" / "age" / "keys.txt"
    default.parent.mkdir(parents=True)
    default.write_text(age_identity.file.read_text())
    assert sops.key_available()
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(no_default_key / "missing.txt"))
    assert not sops.key_available()
    monkeypatch.setenv("SOPS_AGE_KEY", "AGE-SECRET-KEY-1XYZ")
    assert sops.key_available()


def test_unparsable_plaintext_is_not_quoted(tmp_path: Path, with_key: AgeKey) -> None:
    path = _write_encrypted(tmp_path, "blob", b"a: [unclosed s3cr3t-xyz", with_key)
    sops = Sops(Redactor(), cwd=tmp_path)
    with pytest.raises(SecretsError) as info:
        sops.decrypt_data(path)
    assert "s3cr3t" not in str(info.value)


def test_cloud_login_reaches_sops_only_for_kms_encrypted_files(
    tmp_path: Path, with_key: AgeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet encrypted with a cloud KMS decrypts with the job's cloud login; age
    files never see it (no real KMS here: the environment sops would get is checked)."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/run/login.json")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session")
    age_file = _write_encrypted(tmp_path, "enc-a.secret.yaml", b"token: abc\n", with_key)
    kms_file = tmp_path / "enc-kms.secret.yaml"
    data = yaml.safe_load(age_file.read_text())
    data["sops"]["gcp_kms"] = [
        {"resource_id": "projects/p/locations/global/keyRings/r/cryptoKeys/k", "enc": "x"}
    ]
    kms_file.write_text(yaml.safe_dump(data))
    dotenv_file = tmp_path / "enc-kms.secret.env"
    dotenv_file.write_text("a=ENC[...]\nsops_kms__list_0__map_arn=arn:aws:kms:x\nsops_mac=x\n")

    sops = Sops(Redactor(), cwd=tmp_path)
    age_env = sops.environment_for(age_file)
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in age_env
    assert "AWS_SESSION_TOKEN" not in age_env
    assert sops.environment_for(kms_file)["GOOGLE_APPLICATION_CREDENTIALS"] == "/run/login.json"
    assert sops.environment_for(dotenv_file)["AWS_SESSION_TOKEN"] == "session"
    assert sops.decrypt(age_file) == b"token: abc\n"


def test_deeply_nested_json_is_not_a_sops_file_and_no_internal_error() -> None:
    """A hostile `.json` values file nested 100,000 deep that names "sops" and "mac" is
    judged plaintext (RecursionError was an internal error, exit 70)."""
    deep = '{"sops": {"mac": "x", "lastmodified": "y"}, "a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert is_encrypted(deep, "enc-x.secret.values.json") is False
    assert uses_cloud_keys(deep.replace('"mac"', '"kms"'), "enc-x.secret.values.json") is False
