"""A secret scanner for tests: is any of these values anywhere in this output, in any form?

Written independently of `hubfleet.base.redact` (a scanner that shared the redactor's
list of forms would miss what the redactor misses). A value is looked for:

- plain, JSON-, YAML- and Go-escaped, as Python repr, URL-encoded;
- as a chart's functions change it: upper case, lower case (sprig `upper`, `lower`)
  and the hex of its UTF-8 bytes in either case (Go's `printf "%x"` and `"%X"` of a
  string); not for a short (under 8 characters) purely alphabetic value, whose case
  variants are ordinary words;
- base64 (standard and URL alphabets), standalone or at any alignment inside a
  larger blob (the characters that encode only the value's bytes);
- inside base64 blobs: every run of 16+ base64 characters is decoded and the
  decoded bytes searched again, recursively, 2 levels deep.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
import urllib.parse
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_RUN = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z0-9_-]{16,}={0,2}")
# The shortest base64 fragment searched: shorter ones match unrelated base64 text.
_MIN_FRAGMENT = 8


@dataclass(frozen=True, order=True)
class Hit:
    secret: str
    form: str  # how it was found, e.g. "json-escaped", "base64 (alignment 1)", "... in a blob"
    where: str = ""  # a file, or "" for the data given


def _escaped(secret: str) -> dict[str, str]:
    go = "".join(
        {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(c, c) for c in secret
    )
    return {
        "plain": secret,
        "json-escaped": json.dumps(secret)[1:-1],
        "json-escaped (utf-8)": json.dumps(secret, ensure_ascii=False)[1:-1],
        "yaml/go double-quoted": go,
        "yaml single-quoted": secret.replace("'", "''"),
        "repr": repr(secret)[1:-1],
        "bytes repr": repr(secret.encode())[2:-1],
        "url-encoded": urllib.parse.quote(secret, safe=""),
        "url-encoded (plus)": urllib.parse.quote_plus(secret),
    }


def _base64_forms(raw: bytes) -> dict[str, bytes]:
    forms: dict[str, bytes] = {}
    for shift in range(3):
        encoded = base64.b64encode(b"\x00" * shift + raw)
        start = (shift * 8 + 5) // 6  # the first character with no bit of the prefix
        end = ((shift + len(raw)) * 8) // 6  # the last one with only the value's bits
        fragment = encoded[start:end]
        if len(fragment) >= _MIN_FRAGMENT:
            forms[f"base64 (alignment {shift})"] = fragment
            forms[f"base64url (alignment {shift})"] = fragment.translate(
                bytes.maketrans(b"+/", b"-_")
            )
    whole = base64.b64encode(raw)
    forms.setdefault("base64", whole)
    return forms


def _transformed(secret: str) -> dict[str, str]:
    raw = secret.encode()
    forms = {"hex (printf %x)": raw.hex(), "hex (printf %X)": raw.hex().upper()}
    if len(secret) >= 8 or not secret.isalpha():
        forms |= {"upper-case": secret.upper(), "lower-case": secret.lower()}
    return forms


def _forms(secret: str) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for name, text in (_escaped(secret) | _transformed(secret)).items():
        found.setdefault(text.encode(), name)
        for b64_name, form in _base64_forms(text.encode()).items():
            suffix = "" if name == "plain" else f" of the {name} form"
            found.setdefault(form, b64_name + suffix)
    return {form: name for form, name in found.items() if form}


def _decoded_runs(data: bytes) -> Iterable[bytes]:
    for match in _RUN.finditer(data):
        token = match.group(0)
        padded = token + b"=" * (-len(token) % 4)
        for altchars in (None, b"-_"):
            try:
                yield base64.b64decode(padded, altchars=altchars)
            except (binascii.Error, ValueError):
                continue


def find_secrets(data: bytes, secrets: Iterable[str], *, depth: int = 2) -> list[Hit]:
    """Every secret found in `data`, with the form it was found in (sorted, unique)."""
    table = {secret: _forms(secret) for secret in secrets if secret}
    return sorted(_find(data, table, depth, ""))


def _find(data: bytes, table: dict[str, dict[bytes, str]], depth: int, inside: str) -> set[Hit]:
    hits = {
        Hit(secret, name + inside)
        for secret, forms in table.items()
        for form, name in forms.items()
        if form in data
    }
    if depth > 0:
        for decoded in _decoded_runs(data):
            hits |= _find(decoded, table, depth - 1, inside + " in a base64 blob")
    return hits


def scan_tree(
    root: Path, secrets: Iterable[str], *, since: dict[str, float] | None = None
) -> list[Hit]:
    """`find_secrets` over every regular file under `root` (only those new or changed
    since the `snapshot` given, when one is), each hit naming its file."""
    values = list(secrets)
    hits: list[Hit] = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            if since is not None and since.get(str(path)) == path.stat().st_mtime_ns:
                continue
            hits += [
                Hit(h.secret, h.form, str(path)) for h in find_secrets(path.read_bytes(), values)
            ]
    return sorted(hits)


def snapshot(root: Path) -> dict[str, float]:
    """Every file under `root` with its modification time (for `scan_tree(since=...)`)."""
    found: dict[str, float] = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                found[str(path)] = path.stat().st_mtime_ns
    return found


# ------------------------------------------------------------------ what to look for

# Keys of decrypted credential documents whose values name things rather than hold
# secrets (a GCP key's `type: service_account` is also a word of z2jh's own code and of
# the community policy's deny list): hubfleet registers none of them.
IDENTIFIER_KEYS = frozenset({
    "sops", "apiVersion", "kind", "name", "namespace", "server", "current-context",
    "cluster", "user", "context", "type", "project_id", "client_email", "auth_uri",
    "token_uri", "auth_provider_x509_cert_url", "client_x509_cert_url", "universe_domain",
    "region",
})  # fmt: skip


def age_secret_keys(key_file: Path) -> set[str]:
    """The `AGE-SECRET-KEY-...` lines of an age key file (what must never be shown)."""
    return {
        line.strip()
        for line in key_file.read_text().splitlines()
        if line.startswith("AGE-SECRET-KEY-")
    }


def _leaves(data: Any, skip: Collection[str]) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            if str(key) not in skip:
                yield from _leaves(value, skip)
    elif isinstance(data, list):
        for item in data:
            yield from _leaves(item, skip)
    elif isinstance(data, str):
        yield data
    elif isinstance(data, int) and not isinstance(data, bool) and abs(data) >= 100_000:
        yield str(data)


def decrypted_leaves(
    fleet: Path, key_file: Path, *, skip_keys: Collection[str] = ("sops",)
) -> set[str]:
    """Every value of every `enc-*` file below `fleet`, decrypted by sops itself (never by
    hubfleet, whose misses this must not share): string leaves and integers of 6+ digits,
    except under `skip_keys` (identifiers of credential documents, sops's metadata); a
    file that is neither YAML nor JSON gives the values of its `key=value` lines."""
    found: set[str] = set()
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(key_file)}
    for path in sorted(fleet.rglob("enc-*")):
        plain = subprocess.run(
            ["sops", "--decrypt", str(path)], env=env, capture_output=True, check=True
        ).stdout
        try:
            data = json.loads(plain) if path.suffix == ".json" else yaml.safe_load(plain)
        except (ValueError, yaml.YAMLError):
            data = [line.partition(b"=")[2].decode(errors="replace") for line in plain.splitlines()]
        found |= set(_leaves(data, skip_keys))
    return found
