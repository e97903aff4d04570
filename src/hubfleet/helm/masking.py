"""Masking of the data of every `kind: Secret` in rendered manifests and helm output.

Charts put secrets into Secrets in forms no list of known values can foresee
(z2jh stores the whole merged values document base64-encoded under `values.yaml`,
and generates tokens of its own), so whatever shows or writes manifests replaces
each value under a Secret's `data` and `stringData` with a marker and a short
digest of the value, as helmfile's `--suppress-secrets` and Argo CD's diffs do:

    values.yaml: "[MASKED hmac:1a2b3c4d]"

The digest keeps a change visible. It is keyed (HMAC-SHA256 under the command's
`MaskKey`, cut to 8 hex digits): an unkeyed hash of a weak value could be
confirmed offline by hashing guesses. The key is random per command, so the same
value has the same digest within one command only; `HUBFLEET_MASK_KEY` sets a
stable key for comparing the output of different runs.

Only those values change: every other byte of the text stays as it was (the
value's lines are rewritten in place; a Secret whose layout is unusual, e.g. flow
style or JSON, is written again as YAML). Text that is not whole YAML (the tail
of helm's output) is masked line by line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from hubfleet.base.redact import MaskKey
from hubfleet.helm.manifests import load_documents

MASK_PREFIX = "[MASKED hmac:"
SECRET_FIELDS = ("data", "stringData")
_DIGEST_CHARS = 8
_MARKER = re.compile(re.escape(MASK_PREFIX) + f"[0-9a-f]{{{_DIGEST_CHARS}}}\\]")

_SEPARATOR = re.compile(r"^---(?:[ \t].*)?$|^\.\.\.[ \t]*$", re.MULTILINE)
_KIND_SECRET = re.compile(r"""^["']?kind["']?[ \t]*:[ \t]*["']?Secret["']?[ \t]*(?:#.*)?$""", re.M)
_FIELD = re.compile(r"""^(["']?)(data|stringData)\1[ \t]*:[ \t]*(.*?)[ \t]*$""")
_ENTRY = re.compile(r"""^([ \t]+)("[^"]*"|'[^']*'|[^\s#'"][^:#]*?)[ \t]*:(?:[ \t]+(.*))?$""")


def mask_value(value: object, key: MaskKey) -> str:
    """The marker that replaces one value: its keyed digest, so a change shows. A
    marker stays as it is: text masked twice (helm's output, then the report that
    holds it) shows the digest of the value, as text masked once does."""
    if is_masked(value):
        return str(value)
    return f"{MASK_PREFIX}{key.digest(str(value))[:_DIGEST_CHARS]}]"


def is_masked(value: object) -> bool:
    """Whether `value` is exactly a marker (nothing of a value can hide in one)."""
    return isinstance(value, str) and _MARKER.fullmatch(value) is not None


def is_secret_data(resource: str, field: str) -> bool:
    """Whether a field path (`data.values.yaml`) of a resource (`Secret/ns/name`) is
    a Secret's data, whose values are shown masked."""
    top = re.split(r"[.\[]", field, maxsplit=1)[0]
    return resource.split("/", 1)[0] == "Secret" and top in SECRET_FIELDS


def masked_object(document: Any, key: MaskKey) -> Any:
    """A parsed document with its Secret data masked (other documents unchanged)."""
    if not isinstance(document, dict) or document.get("kind") != "Secret":
        return document
    masked = dict(document)
    for name in SECRET_FIELDS:
        values = masked.get(name)
        if isinstance(values, dict):
            masked[name] = {entry: mask_value(value, key) for entry, value in values.items()}
        elif values is not None:
            masked[name] = mask_value(values, key)
    return masked


def mask_manifests(manifests: Mapping[str, str], key: MaskKey) -> dict[str, str]:
    """Template -> text, with the data of every Secret masked (`mask_text`)."""
    return {template: mask_text(text, key) for template, text in manifests.items()}


def mask_text(text: str, key: MaskKey) -> str:
    """`text` (YAML documents, or any output that may hold some) with the data of
    every Secret document masked; text without a Secret is returned as it is."""
    if "Secret" not in text:
        return text
    pieces: list[str] = []
    position = 0
    for separator in _SEPARATOR.finditer(text):
        pieces.append(_mask_document(text[position : separator.start()], key))
        pieces.append(separator.group(0))
        position = separator.end()
    pieces.append(_mask_document(text[position:], key))
    return "".join(pieces)


def _mask_document(chunk: str, key: MaskKey) -> str:
    if "Secret" not in chunk:
        return chunk
    try:
        documents = load_documents(chunk)
    except yaml.YAMLError:
        documents = None
    if documents is None:  # not YAML as a whole (a tail of helm's output): by lines
        return _mask_lines(chunk, key) if _KIND_SECRET.search(chunk) else chunk
    if not any(isinstance(d, dict) and d.get("kind") == "Secret" for d in documents):
        return chunk
    wanted = [masked_object(d, key) for d in documents]
    masked = _mask_lines(chunk, key)
    try:
        if load_documents(masked) == wanted:
            return masked
    except yaml.YAMLError:
        pass
    return _dumped(chunk, wanted)


def _dumped(chunk: str, documents: list[Any]) -> str:
    """The documents written again as YAML, after the chunk's leading comments."""
    comments = []
    for line in chunk.splitlines(keepends=True):
        if line.strip() and not line.lstrip().startswith("#"):
            break
        comments.append(line)
    body = "---\n".join(
        yaml.safe_dump(d, sort_keys=False, default_flow_style=False, width=2**16) for d in documents
    )
    return "".join(comments) + body


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _mask_lines(chunk: str, key: MaskKey) -> str:
    """Each entry of a top-level `data:`/`stringData:` block replaced by its marker,
    the entry's continuation lines (block scalars, folded quotes) dropped."""
    lines = chunk.splitlines(keepends=True)
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        field = _FIELD.match(line.rstrip("\r\n"))
        index += 1
        if field is None or (field.group(3) and not field.group(3).startswith("#")):
            out.append(line)
            continue
        out.append(line)
        index = _mask_block(lines, index, out, key)
    return "".join(out)


def _mask_block(lines: list[str], index: int, out: list[str], key: MaskKey) -> int:
    """Mask the entries of the block that starts at `lines[index]`; the index after it."""
    entry_indent: int | None = None
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if not stripped or (stripped.startswith("#") and entry_indent is None):
            out.append(line)
            index += 1
            continue
        indent = _indent(line)
        if indent == 0:
            return index
        if entry_indent is None:
            entry_indent = indent
        entry = _ENTRY.match(line.rstrip("\r\n"))
        if indent != entry_indent or stripped.startswith("#") or entry is None:
            out.append(line)
            index += 1
            continue
        end = _entry_end(lines, index + 1, entry_indent)
        value = "".join(lines[index:end])
        newline = "\n" if line.endswith("\n") else ""
        marker = mask_value(_scalar(value), key)
        out.append(f'{entry.group(1)}{entry.group(2)}: "{marker}"{newline}')
        index = _give_back_blank(lines, index + 1, end)
        out.extend(lines[index:end])
        index = end
    return index


def _entry_end(lines: list[str], index: int, entry_indent: int) -> int:
    while index < len(lines):
        line = lines[index]
        if line.strip() and _indent(line) <= entry_indent:
            break
        index += 1
    return index


def _give_back_blank(lines: list[str], start: int, end: int) -> int:
    """Where the trailing blank lines of an entry (kept in the output) begin."""
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def _scalar(entry: str) -> object:
    """The value of one `key: value` entry (its text when it does not parse)."""
    try:
        parsed = load_documents(_dedent(entry))
    except yaml.YAMLError:
        parsed = []
    if len(parsed) == 1 and isinstance(parsed[0], dict) and len(parsed[0]) == 1:
        return next(iter(parsed[0].values()))
    return entry.split(":", 1)[-1].strip()


def _dedent(text: str) -> str:
    lines = text.splitlines(keepends=True)
    cut = _indent(lines[0]) if lines else 0
    return "".join(
        line[cut:] if line[:cut].strip() == "" and line.strip() else line.lstrip(" \t")
        for line in lines
    )
