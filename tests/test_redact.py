"""The redactor: what it scrubs, and what it must leave readable."""

from __future__ import annotations

import base64

from hubfleet.redact import MARKER, Redactor, leaf_strings


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
