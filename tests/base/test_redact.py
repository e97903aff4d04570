"""The redactor: what it scrubs, and what it must leave readable."""

from __future__ import annotations

import base64

from hubfleet.base.redact import MARKER, Redactor, leaf_strings


def test_scrubs_values_their_lines_and_base64_forms() -> None:
    redactor = Redactor()
    redactor.add("token-abc-123")
    redactor.add("-----BEGIN KEY-----\nline-one-secret\n-----END KEY-----")
    text = "a token-abc-123 b " + base64.b64encode(b"token-abc-123").decode() + " line-one-secret"
    assert redactor.scrub(text) == f"a {MARKER} b {MARKER} {MARKER}"


def test_short_values_are_not_registered() -> None:
    redactor = Redactor()
    redactor.add("abc")
    assert redactor.scrub("abc abc") == "abc abc"
    assert len(redactor) == 0


def test_leaf_strings_skip_structural_keys_and_keep_long_numbers() -> None:
    kubeconfig = {
        "apiVersion": "v1",
        "clusters": [{"name": "onprem", "cluster": {"server": "https://k8s.example:6443"}}],
        "users": [{"name": "deployer", "user": {"token": "tok-1234567"}}],
        "port": 8080,
        "pin": 12345678,
        "enabled": True,
    }
    found = set(leaf_strings(kubeconfig))
    assert found == {"tok-1234567", "12345678"}


ODD = "pa\"ss\\wo'rd/+&<x>-s3cr3t"


def _forms_of(value: str) -> dict[str, str]:
    import json
    import urllib.parse

    import yaml

    forms = {
        "json": json.dumps({"k": value}),
        "json utf-8": json.dumps({"k": value + "é"}, ensure_ascii=False),
        "yaml double-quoted": yaml.safe_dump({"k": value}, default_style='"', width=10**6),
        "yaml single-quoted": yaml.safe_dump({"k": value}, default_style="'", width=10**6),
        "go quote": '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"',
        "go json (html)": json.dumps(value)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026"),
        "repr": repr({"k": value}),
        "repr in an exception": repr(ValueError(value)),
        "url": urllib.parse.quote(value, safe=""),
        "url plus": urllib.parse.urlencode({"q": value}),
        "base64": base64.b64encode(value.encode()).decode(),
        "base64url": base64.urlsafe_b64encode(value.encode()).decode().rstrip("="),
        "base64 of base64": base64.b64encode(b"t: " + base64.b64encode(value.encode())).decode(),
    }
    for shift in range(3):
        blob = b"p" * shift + b"key: " + value.encode() + b"\nnext: 1\n"
        forms[f"blob {shift}"] = base64.b64encode(blob).decode()
        forms[f"url blob {shift}"] = base64.urlsafe_b64encode(blob).decode()
    return forms


def test_every_form_of_a_value_is_scrubbed() -> None:
    redactor = Redactor()
    redactor.add(ODD)
    for name, text in _forms_of(ODD).items():
        scrubbed = redactor.scrub(text)
        assert MARKER in scrubbed, name
        for form in ("s3cr3t", base64.b64encode(ODD.encode()).decode()[4:16]):
            assert form not in scrubbed, (name, scrubbed)


def test_scrub_data_scrubs_before_encoding() -> None:
    import json

    redactor = Redactor()
    redactor.add(ODD)
    data = {"manifests": {"a.yaml": f'value: "{ODD}"', ODD: [ODD, 1, None]}}
    clean = redactor.scrub_data(data)
    assert clean == {"manifests": {"a.yaml": f'value: "{MARKER}"', MARKER: [MARKER, 1, None]}}
    assert "s3cr3t" not in json.dumps(clean)


def test_the_index_is_built_once_per_change_and_matches_the_longest() -> None:
    redactor = Redactor()
    redactor.add_all(["token-abc-123", "token-abc-123-longer"])
    assert redactor.scrub("x token-abc-123-longer y") == f"x {MARKER} y"
    assert len(redactor.builds) == 1
    redactor.add("token-abc-123")  # nothing new
    redactor.scrub("x")
    assert len(redactor.builds) == 1
    redactor.add("another-value")
    assert redactor.scrub("another-value") == MARKER
    assert len(redactor.builds) >= 2


def test_plain_text_is_left_alone() -> None:
    redactor = Redactor()
    redactor.add_all([f"secret-number-{i:03d}-xyz" for i in range(200)])
    text = "apiVersion: v1\nkind: ConfigMap\n" + base64.b64encode(b"harmless " * 50).decode()
    assert redactor.scrub(text) == text
