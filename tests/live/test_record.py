"""The record in a release's description: written and read back; nothing else reads as one."""

from __future__ import annotations

import pytest

from hubfleet import __version__
from hubfleet.live.record import (
    UNCOMMITTED,
    Record,
    describe,
    labels,
    labels_supported,
    parse,
)

SHA = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32


def test_describe_and_parse_round_trip() -> None:
    record = Record(commit=SHA, digest=DIGEST)
    text = describe(record)
    assert text == f"hubfleet/1 commit={SHA} digest={DIGEST} v={__version__}"
    assert "\n" not in text and len(text) < 160
    assert parse(text) == record
    back = Record(commit=UNCOMMITTED, digest=DIGEST, version="1.2.3+dev", rolled_back_from=SHA)
    assert parse(describe(back)) == back
    assert back.uncommitted and back.short_commit == UNCOMMITTED
    assert record.short_commit == SHA[:12]


@pytest.mark.parametrize(
    "description",
    [
        "Upgrade complete",
        "Install complete",
        "Rollback to 3",
        "",
        None,
        42,
        f"hubfleet/1 commit={SHA} digest={DIGEST}",  # no version
        f"hubfleet/2 commit={SHA} digest={DIGEST} v=1",  # another format
        f"hubfleet/1 commit={SHA[:-1]} digest={DIGEST} v=1",  # short commit
        f"hubfleet/1 commit={SHA} digest=sha256:{'ab' * 31} v=1",  # short digest
        f"hubfleet/1 commit={SHA} digest={DIGEST} v=1 extra",  # trailing words
        f"by hand; hubfleet/1 commit={SHA} digest={DIGEST} v=1",  # quoted inside
        f"hubfleet/1 commit={SHA.upper()} digest={DIGEST} v=1",
    ],
)
def test_anything_else_is_made_by_hand(description: object) -> None:
    assert parse(description) is None


def test_a_record_refuses_values_that_would_not_read_back() -> None:
    with pytest.raises(ValueError):
        Record(commit="main", digest=DIGEST)
    with pytest.raises(ValueError):
        Record(commit=SHA, digest="abc")
    with pytest.raises(ValueError):
        Record(commit=SHA, digest=DIGEST, version="1 2")


def test_labels_are_kubernetes_label_values() -> None:
    found = labels(Record(commit=SHA, digest=DIGEST, version="1.0+local", rolled_back_from=SHA))
    assert found["hubfleet"] == "1" and found["hubfleet-commit"] == SHA
    assert found["hubfleet-rolled-back-from"] == SHA
    for value in found.values():
        assert len(value) <= 63 and all(c.isalnum() or c in "-_." for c in value)


def test_labels_need_helm_3_13() -> None:
    assert not labels_supported((3, 12, 3))
    assert labels_supported((3, 13, 0)) and labels_supported((4, 0, 0))
