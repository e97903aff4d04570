"""A present release's state from what the cluster says: each rule, and what it must not
be mistaken for (a rollback or a failure is never "in sync", a hand upgrade never
hubfleet's)."""

from __future__ import annotations

from hubfleet.live.query import LastRollback, LiveRelease, live_release, revisions_of
from hubfleet.live.record import Record, describe
from hubfleet.live.status import judge

A = Record(commit="a" * 40, digest="sha256:" + "1" * 64)
B = Record(commit="b" * 40, digest="sha256:" + "2" * 64)


def release(*descriptions: str, status: str = "deployed") -> LiveRelease:
    entries = [
        {"revision": n, "status": "superseded", "description": d, "chart": "testhub-1.0.0"}
        for n, d in enumerate(descriptions, start=1)
    ]
    entries[-1]["status"] = status
    listed = {"name": "hub", "namespace": "hub", "chart": "testhub-1.0.0",
              "revision": str(len(entries)), "status": status}  # fmt: skip
    return live_release(listed, revisions_of(entries))


def test_in_sync_and_behind_by_digest() -> None:
    live = release(describe(A))
    assert live.origin == "hubfleet" and live.record == A
    assert judge(live, True)[0] == "in-sync"
    state, reasons = judge(live, False)
    assert state == "behind" and "a" * 12 in reasons[0]


def test_hand_upgrade_after_hubfleet() -> None:
    live = release(describe(A), "Upgrade complete")
    assert live.by_hand and live.record is None
    assert judge(live, None)[0] == "changed-by-hand"


def test_rollback_names_the_undone_commit_and_what_runs() -> None:
    live = release(describe(A), describe(B), "Rollback to 1")
    assert live.origin == "rollback" and live.record == A
    assert live.last_rollback == LastRollback(3, 1, B, "")
    state, reasons = judge(live, False)
    assert state == "rolled-back"
    assert "undid commit bbbbbbbbbbbb" in reasons[0] and "runs commit aaaaaaaaaaaa" in reasons[0]
    assert "behind git" in reasons[0]
    # Even when git went back to the old inputs, the row says it is a rollback.
    assert judge(live, True)[0] == "rolled-back"


def test_an_older_rollback_is_still_the_last_rollback() -> None:
    live = release(describe(A), describe(B), "Rollback to 1", describe(B))
    assert live.origin == "hubfleet" and live.record == B
    assert live.last_rollback is not None and live.last_rollback.rolled_back == B


def test_failed_and_pending_win_over_the_record() -> None:
    failed = release(describe(A), 'Upgrade "hub" failed: timed out', status="failed")
    assert failed.origin == "failed"
    assert judge(failed, None)[0] == "failed"
    pending = release(describe(A), describe(B), status="pending-upgrade")
    assert judge(pending, True)[0] == "pending"
