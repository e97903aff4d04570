"""The test secret scanner finds a value in every form, and nothing in clean text."""

from __future__ import annotations

import base64
import json
import urllib.parse
from pathlib import Path

import pytest
import yaml

from tests.secretscan import find_secrets, scan_tree, snapshot

SECRET = 'pa"ss\\word/+-s3cr3t-value'

FORMS = {
    "plain": SECRET,
    "json": json.dumps({"k": SECRET}),
    "yaml double-quoted": yaml.safe_dump({"k": SECRET}, default_style='"'),
    "repr": repr({"k": SECRET}),
    "url": "https://x/?q=" + urllib.parse.quote(SECRET, safe=""),
    "url plus": urllib.parse.urlencode({"q": SECRET}),
    "base64": base64.b64encode(SECRET.encode()).decode(),
    "base64url": base64.urlsafe_b64encode(SECRET.encode()).decode(),
}
for _shift in range(3):
    _blob = base64.b64encode(b"x" * _shift + b"key: " + SECRET.encode() + b"\nmore: 1\n").decode()
    FORMS[f"inside a base64 blob, offset {_shift}"] = f'values.yaml: "{_blob}"'
    FORMS[f"base64url blob, offset {_shift}"] = _blob.translate(str.maketrans("+/", "-_"))
FORMS["upper-case (sprig upper)"] = "x: " + SECRET.upper()
FORMS["lower-case (sprig lower)"] = "x: " + SECRET.lower()
FORMS["hex (printf %x)"] = "x: " + SECRET.encode().hex()
FORMS["hex (printf %X)"] = "x: " + SECRET.encode().hex().upper()
FORMS["base64 of the upper case"] = base64.b64encode(SECRET.upper().encode()).decode()
_inner = base64.b64encode(SECRET.encode())
FORMS["base64 of a document holding its base64"] = base64.b64encode(
    b"token: " + _inner + b"\n"
).decode()


@pytest.mark.parametrize("name", sorted(FORMS))
def test_each_form_is_found(name: str) -> None:
    hits = find_secrets(FORMS[name].encode(), [SECRET, "unrelated-value-123"])
    assert hits, name
    assert {h.secret for h in hits} == {SECRET}


def test_clean_text_gives_no_hit() -> None:
    clean = "\n".join(
        [
            'apiVersion: v1\nkind: Secret\ndata:\n  values.yaml: "[MASKED hmac:1a2b3c4d]"',
            base64.b64encode(b"an unrelated document with password: [REDACTED]\n" * 3).decode(),
            "pa ss word s3cr3t value",
        ]
    )
    assert find_secrets(clean.encode(), [SECRET]) == []


def test_scan_tree_reports_new_files_only(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text(SECRET)
    before = snapshot(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "new.json").write_text(json.dumps([SECRET]))
    (tmp_path / "clean.txt").write_text("nothing here")
    hits = scan_tree(tmp_path, [SECRET], since=before)
    assert {h.where for h in hits} == {str(tmp_path / "sub" / "new.json")}
    assert {h.where for h in scan_tree(tmp_path, [SECRET])} == {
        str(tmp_path / "old.txt"),
        str(tmp_path / "sub" / "new.json"),
    }


def test_a_short_word_is_not_looked_for_in_other_cases() -> None:
    """A short alphabetic secret's upper case is an ordinary word: not a hit; its hex is."""
    assert find_secrets(b"ADMIN Admin", ["admin"]) == []
    assert find_secrets(b"x: 61646d696e", ["admin"])
    assert find_secrets(b"AB12", ["ab12"])  # not a word: its upper case is looked for
