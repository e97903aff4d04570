"""What a sops file's metadata says about its keys, and what to tell a person about them.

A sops file names its master keys in its `sops:` block (YAML, JSON; `sops_*` lines in
dotenv and ini files): lists `age`, `pgp`, `gcp_kms`, `kms` (AWS), `azure_kv` and
`hc_vault`, directly or inside `key_groups`. hubfleet reads them to decide whether to
try a decryption on this machine (`hubfleet.secrets.sops.Sops.may_decrypt`), to give
sops only the credentials of those key types (`hubfleet.secrets.environment`), and to
say which key a failed decryption needed and how to get it.

The metadata is untrusted (a pull request can write anything there): at most
`MAX_KEYS` keys are read, only string fields, and every identifier that reaches a
message is shown through `shown` (a safe alphabet, bounded length): an ARN with a
newline, a backtick or Markdown cannot forge a second line or a code span.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from hubfleet.base.yamlio import FAST_LOADER

# The key types of sops' metadata, in the order hints name them.
AGE = "age"
PGP = "pgp"
GCP_KMS = "gcp_kms"
AWS_KMS = "kms"
AZURE_KV = "azure_kv"
HC_VAULT = "hc_vault"
KEY_TYPES = (AGE, PGP, GCP_KMS, AWS_KMS, AZURE_KV, HC_VAULT)
# Key types that need a login (cloud or Vault) rather than key material on this machine.
CLOUD_KEY_TYPES = (GCP_KMS, AWS_KMS, AZURE_KV, HC_VAULT)

LABELS = {
    AGE: "age",
    PGP: "PGP",
    GCP_KMS: "GCP KMS",
    AWS_KMS: "AWS KMS",
    AZURE_KV: "Azure Key Vault",
    HC_VAULT: "Vault transit",
}
# The field that names each key type's key.
_ID_FIELDS = {
    AGE: "recipient",
    PGP: "fp",
    GCP_KMS: "resource_id",
    AWS_KMS: "arn",
    AZURE_KV: "vault_url",
    HC_VAULT: "vault_address",
}

# Keys of one file's metadata: more are not read, and such a file is refused before sops
# runs (sops tries every key in turn: ten thousand KMS keys kept it busy past its
# timeout, measured). Real files name a few.
MAX_KEYS = 32
MAX_SHOWN = 160  # characters of one identifier in a message
MAX_NAMED = 3  # keys of one type a hint names
MAX_REASON = 400  # characters of sops' own reason in a message

_SAFE = re.compile(r"[A-Za-z0-9._:/@+=,\-]")
_FLAT = re.compile(
    r"^sops_(?:key_groups__list_\d+__map_)?"
    r"(age|pgp|gcp_kms|kms|azure_kv|hc_vault)__list_(\d+)__map_([a-z_]+)\s*=\s*(.*)$",
    re.MULTILINE,
)
_YAML_BLOCK = re.compile(r"^sops:[ \t]*(?:#.*)?$", re.MULTILINE)
_YAML_NEXT_TOP = re.compile(r"^[^\s#]", re.MULTILINE)


@dataclass(frozen=True)
class MasterKey:
    """One master key a sops file names: its type and its fields (strings only)."""

    kind: str
    fields: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str:
        return dict(self.fields).get(name, "")

    @property
    def ident(self) -> str:
        """The key's identifier as the file names it (unescaped: compare, never show)."""
        if self.kind == AZURE_KV:
            return f"{self.get('vault_url')}/keys/{self.get('name')}".strip("/")
        if self.kind == HC_VAULT:
            path = f"{self.get('engine_path')}/keys/{self.get('key_name')}"
            return f"{self.get('vault_address')}/v1/{path}"
        return self.get(_ID_FIELDS[self.kind])

    def describe(self) -> str:
        """`GCP KMS key projects/...`: for messages (escaped and bounded)."""
        if self.kind == AGE:
            return f"age recipient {shown(self.ident)}"
        if self.kind == PGP:
            return f"PGP key {shown(self.ident)}"
        return f"{LABELS[self.kind]} key {shown(self.ident)}"


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """`value` for a message: characters outside a safe alphabet (letters, digits,
    `._:/@+=,-`) escaped as `\\xNN`/`\\uNNNN`, at most `limit` characters shown."""
    text = value if isinstance(value, str) else repr(value)
    out: list[str] = []
    size = 0
    for char in text:
        if _SAFE.fullmatch(char):
            piece = char
        elif ord(char) < 0x100:
            piece = f"\\x{ord(char):02x}"
        else:
            piece = f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}"
        if size + len(piece) > limit:
            out.append("...")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) or '""'


def sops_block(text: str, kind: str) -> Any:
    """The file's sops metadata as data (None when there is none or it cannot be read).

    YAML: only the top-level `sops:` block is parsed (not the encrypted document);
    JSON (and binary files, which sops stores as JSON): the "sops" object.
    """
    try:
        if kind == "yaml":
            start = _YAML_BLOCK.search(text)
            if start is None:
                return None
            rest = text[start.end() :]
            end = _YAML_NEXT_TOP.search(rest)
            block = text[start.start() : start.end() + (end.start() if end else len(rest))]
            data = yaml.load(block, Loader=FAST_LOADER)
        else:
            data = json.loads(text)
    except (ValueError, RecursionError, yaml.YAMLError):
        return None
    return data.get("sops") if isinstance(data, dict) else None


def master_keys(text: str, kind: str) -> tuple[MasterKey, ...]:
    """The master keys the sops file (`text`, of sops type `kind`) names, in file order,
    at most MAX_KEYS + 1 (more than MAX_KEYS: `too_many`); unknown key types and
    non-string fields are left out."""
    if kind in ("dotenv", "ini"):
        return _flat_keys(text)
    meta = sops_block(text, kind)
    if not isinstance(meta, dict):
        return ()
    groups: list[Any] = [meta]
    key_groups = meta.get("key_groups")
    if isinstance(key_groups, list):
        groups += key_groups[: MAX_KEYS + 1]
    found: list[MasterKey] = []
    for group in groups:
        if not isinstance(group, dict):
            continue
        for key_type in KEY_TYPES:
            entries = group.get(key_type)
            if not isinstance(entries, list):
                continue
            for entry in entries[: MAX_KEYS + 1]:
                if len(found) > MAX_KEYS:
                    return tuple(found)
                if isinstance(entry, dict):
                    found.append(MasterKey(key_type, _string_fields(entry)))
    return tuple(found)


def _string_fields(entry: Mapping[Any, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name, value)
        for name, value in list(entry.items())[:16]
        if isinstance(name, str) and isinstance(value, str) and name != "enc"
    )


def _flat_keys(text: str) -> tuple[MasterKey, ...]:
    """dotenv/ini metadata: `sops_<type>__list_<n>__map_<field>=value` lines."""
    fields: dict[tuple[str, str], dict[str, str]] = {}
    for match in _FLAT.finditer(text):
        key_type, index, name, value = match.groups()
        entry = (key_type, index)
        if entry not in fields:
            if len(fields) > MAX_KEYS:
                break
            fields[entry] = {}
        if name != "enc":
            fields[entry][name] = value.strip()
    return tuple(
        MasterKey(key_type, tuple(values.items())) for (key_type, _), values in fields.items()
    )


def too_many(keys: tuple[MasterKey, ...]) -> bool:
    """More keys than a file may name (MAX_KEYS)."""
    return len(keys) > MAX_KEYS


def kinds_of(keys: Iterable[MasterKey]) -> tuple[str, ...]:
    """The key types among `keys`, in KEY_TYPES order."""
    present = {key.kind for key in keys}
    return tuple(kind for kind in KEY_TYPES if kind in present)


def key_hint(keys: Iterable[MasterKey]) -> str:
    """How to get a key that opens the file: one sentence per key type it names
    (each naming at most MAX_NAMED of its keys)."""
    keys = list(keys)
    if not keys:
        return "the file's sops metadata names no key sops knows; re-encrypt it with sops"
    parts: list[str] = []
    for kind in kinds_of(keys):
        of_kind = [key for key in keys if key.kind == kind]
        named = ", ".join(shown(key.ident) for key in of_kind[:MAX_NAMED])
        if len(of_kind) > MAX_NAMED:
            named += f" (and {len(of_kind) - MAX_NAMED} more)"
        parts.append(_HINTS[kind](named, of_kind))
    return "; or ".join(parts)


def _age_hint(named: str, keys: list[MasterKey]) -> str:
    return (
        f"encrypted for age recipient {named}: set SOPS_AGE_KEY_FILE to the age key file "
        "of one of them (or put it in ~/.config/sops/age/keys.txt)"
    )


def _pgp_hint(named: str, keys: list[MasterKey]) -> str:
    return (
        f"encrypted for PGP key {named}: import its secret key into your GnuPG keyring "
        "(`gpg --import`), or set GNUPGHOME to the keyring that holds it"
    )


def _gcp_hint(named: str, keys: list[MasterKey]) -> str:
    return (
        f"encrypted for GCP KMS key {named}: run `gcloud auth application-default login` "
        "with access to it (roles/cloudkms.cryptoKeyDecrypter), or set "
        "GOOGLE_APPLICATION_CREDENTIALS to a credential file that has it"
    )


def _aws_hint(named: str, keys: list[MasterKey]) -> str:
    roles = sorted({key.get("role") for key in keys if key.get("role")})
    role = f" (sops assumes role {shown(roles[0])} with it)" if roles else ""
    return (
        f"encrypted for AWS KMS key {named}: log in to AWS with kms:Decrypt on it{role} "
        "(`aws sso login` and AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    )


def _azure_hint(named: str, keys: list[MasterKey]) -> str:
    return (
        f"encrypted for Azure Key Vault key {named}: run `az login` with the Key Vault "
        "Crypto User role on it, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
        "AZURE_CLIENT_SECRET for a service principal that has it"
    )


def _vault_hint(named: str, keys: list[MasterKey]) -> str:
    return (
        f"encrypted for Vault transit key {named}: set VAULT_ADDR and VAULT_TOKEN "
        "(or run `vault login`) for a token allowed to decrypt with it"
    )


_HINTS = {
    AGE: _age_hint,
    PGP: _pgp_hint,
    GCP_KMS: _gcp_hint,
    AWS_KMS: _aws_hint,
    AZURE_KV: _azure_hint,
    HC_VAULT: _vault_hint,
}

UNLOCK = {
    AGE: "an age key file (SOPS_AGE_KEY_FILE)",
    PGP: "the PGP secret key in your GnuPG keyring",
    GCP_KMS: "a Google login with decrypt access to the GCP KMS key "
    "(`gcloud auth application-default login`)",
    AWS_KMS: "AWS credentials with kms:Decrypt on the AWS KMS key (AWS_PROFILE, ...)",
    AZURE_KV: "an Azure login with access to the Key Vault key (`az login`)",
    HC_VAULT: "a Vault token allowed to use the transit key (VAULT_ADDR, VAULT_TOKEN)",
}


def unlock_text(kinds: Iterable[str]) -> str:
    """What sops needs for keys of `kinds`, one phrase each (`a, b or c`)."""
    phrases = [UNLOCK[kind] for kind in KEY_TYPES if kind in set(kinds)]
    if not phrases:
        return "the key of one of the recipients listed"
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


# sops' report of a failed key retrieval: "Group 0: FAILED", then per key
# "  <key>: FAILED" and its reason on "    - | ..." lines.
_REASON_LINE = re.compile(r"^\s*(?:-\s*)?\|\s?(.*)$")
_KEY_LINE = re.compile(r"^\s+\S.*: FAILED\s*$")


def sops_reason(stderr: str) -> str:
    """sops' own reason for a failed key retrieval, on one line and bounded: the reason
    of each key it tried, joined; else its last non-empty line. The caller's stderr is
    already redacted; the text is escaped of control characters here."""
    reasons: list[str] = []
    current: list[str] = []
    for line in stderr.splitlines():
        reason = _REASON_LINE.match(line)
        if reason and (current or line.lstrip().startswith("- |")):
            current.append(reason.group(1).strip())
            continue
        if current:
            reasons.append(" ".join(current))
            current = []
        if _KEY_LINE.match(line) and len(reasons) >= MAX_NAMED:
            break
    if current:
        reasons.append(" ".join(current))
    if not reasons:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        reasons = lines[-1:]
    text = "; ".join(dict.fromkeys(reasons[:MAX_NAMED]))
    return one_line(text, MAX_REASON)


def one_line(text: str, limit: int) -> str:
    """`text` with every control character escaped (no second line) and backticks made
    quotes (no code span opened in a message shown as Markdown), bounded."""
    out = "".join(
        char if char.isprintable() else f"\\x{ord(char):02x}" if ord(char) < 0x100 else " "
        for char in text
    ).replace("`", "'")
    return out if len(out) <= limit else out[: limit - 3] + "..."


# How an export's README names each key type's recipients (`gcp kms projects/...`).
_RECIPIENT_LABELS = {
    AGE: "age",
    PGP: "pgp",
    GCP_KMS: "gcp kms",
    AWS_KMS: "aws kms",
    AZURE_KV: "azure key vault",
    HC_VAULT: "hashicorp vault",
}


def recipient(key: MasterKey) -> str:
    """The key as a README lists it: `gcp kms projects/...` (escaped and bounded)."""
    return f"{_RECIPIENT_LABELS[key.kind]} {shown(key.ident)}"


def recipient_kind(text: str) -> str | None:
    """The key type of a `recipient` line (None: not one)."""
    for kind, label in sorted(_RECIPIENT_LABELS.items(), key=lambda item: -len(item[1])):
        if text.startswith(label + " "):
            return kind
    return None
