"""Merged index chunks keep every form (issue 23.1): batches registered one by one are
indexed into chunks that merge as they grow; a gram that forms of two chunks share must
lead to both after a merge, in every form, however many batches came before."""

from __future__ import annotations

import base64

from hubfleet.base.redact import MARKER, Redactor

# Values that share their first 8 characters: every form of one shares grams with the
# same form of the other, at the same offsets, so their index entries meet in a merge.
PREFIX = "sharedpfx"


def _value(n: int) -> str:
    return f"{PREFIX}-secret-number-{n:03d}"


def test_forms_sharing_grams_survive_merges() -> None:
    redactor = Redactor()
    values = [_value(n) for n in range(40)]
    for value in values:  # one batch each, a scrub between: a chunk each, merged as they grow
        redactor.add_all([value])
        assert redactor.scrub(value) == MARKER
    chunks = redactor._current().chunks
    assert len(chunks) < len(values) / 4, [chunk.size for chunk in chunks]  # merges happened
    for value in values:
        shown = [
            value,
            value.upper(),
            base64.b64encode(value.encode()).decode(),
            value.encode().hex(),
            f"xy{base64.b64encode(b'pad' + value.encode()).decode()}",
        ]
        for text in shown:
            scrubbed = redactor.scrub(f"before {text} after")
            assert PREFIX not in scrubbed.lower(), (value, text, scrubbed)
            assert value not in scrubbed
            assert scrubbed.startswith("before ") and scrubbed.endswith(" after")


def test_a_merge_does_not_change_what_an_earlier_state_finds() -> None:
    """A scrub that read the state before a merge still finds what it held (the merge
    builds new lists: it never appends to one an older chunk holds)."""
    redactor = Redactor()
    redactor.add_all([_value(1)])
    redactor.scrub("build")
    before = redactor._current()
    held = {gram: entries for chunk in before.chunks for gram, entries in chunk.grams.items()}
    for n in range(2, 20):
        redactor.add_all([_value(n)])
        redactor.scrub("build")
    assert {
        gram: entries for chunk in before.chunks for gram, entries in chunk.grams.items()
    } == held
    assert all(_value(n) not in redactor.scrub(_value(n)) for n in range(1, 20))
