"""The redactor's transformed forms (issue 21.8), its incremental index and its
threads (issue 23.1): what a chart's `upper`, `lower`, `title` and `printf "%x"` make
of a secret is scrubbed; registering costs no rebuild of what is registered; a scrub
never waits and never misses a secret registered before it started."""

from __future__ import annotations

import base64
import math
import threading
import time

import pytest
from tests.secretscan import find_secrets

from hubfleet.base.redact import MARKER, Redactor

SECRET = "Sw0rdfish-Token-7f3a9c"


def _transformed(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "upper": value.upper(),
        "lower": value.lower(),
        "title": value.title(),
        "swapped case": value.swapcase(),
        "printf %x": raw.hex(),
        "printf %X": raw.hex().upper(),
        "upper | b64enc": base64.b64encode(value.upper().encode()).decode(),
        "lower | b64enc": base64.b64encode(value.lower().encode()).decode(),
        "printf %x | b64enc": base64.b64encode(raw.hex().encode()).decode(),
        "upper | quote (json)": '"' + value.upper() + '"',
    }


@pytest.mark.parametrize("name", sorted(_transformed(SECRET)))
def test_a_transformed_secret_is_scrubbed(name: str) -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    text = f"key: {_transformed(SECRET)[name]} end"
    scrubbed = redactor.scrub(text)
    assert MARKER in scrubbed, name
    assert find_secrets(scrubbed.encode(), [SECRET]) == [], (name, scrubbed)
    assert scrubbed.startswith("key: ") and scrubbed.endswith(" end")


def test_a_non_ascii_secret_in_upper_case() -> None:
    redactor = Redactor()
    redactor.add("geheim-schlüssel-äöü")
    assert redactor.scrub("GEHEIM-SCHLÜSSEL-ÄÖÜ!") == f"{MARKER}!"
    assert redactor.scrub("Geheim-Schlüssel-Äöü") == MARKER


def test_short_secrets_do_not_scrub_ordinary_words() -> None:
    redactor = Redactor()
    redactor.add_all(["admin", "ab12", "main"])
    text = "ADMIN Admin MAIN Main"
    assert redactor.scrub(text) == text  # case variants of short words are words
    assert redactor.scrub("user admin on main") == f"user {MARKER} on {MARKER}"
    assert redactor.scrub("AB12 ab12") == f"{MARKER} {MARKER}"  # not a word: both cases
    assert redactor.scrub("hex 61646d696e") == f"hex {MARKER}"  # printf "%x" of admin


def test_overlapping_occurrences_are_all_hidden() -> None:
    """Every character of every occurrence goes, also where two secrets overlap
    (a leftmost-first single pass left the rest of the second one visible)."""
    redactor = Redactor()
    redactor.add_all(["abcdefgh-one", "gh-one-two-three"])
    assert redactor.scrub("x abcdefgh-one-two-three y") == f"x {MARKER} y"
    redactor.add("zz-first-part")
    redactor.add("part-second-zz")
    assert redactor.scrub("zz-first-part-second-zz") == MARKER


def test_scrub_all_is_one_pass_with_the_same_result() -> None:
    redactor = Redactor()
    redactor.add_all([SECRET, "other-secret-value"])
    argv = ["helm", "upgrade", f"--set=token={SECRET}", "--", "x", SECRET.upper(), ""]
    assert redactor.scrub_all(argv) == [redactor.scrub(arg) for arg in argv]
    assert redactor.scrub_all(argv)[2] == f"--set=token={MARKER}"
    assert Redactor().scrub_all(argv) == argv  # nothing registered: as given


def test_a_thousand_secrets_added_one_by_one_cost_one_build() -> None:
    redactor = Redactor()
    values = [f"secret-value-{i:04d}-q" for i in range(1000)]
    for value in values:
        redactor.add(value)
    assert redactor.builds == []  # nothing indexed before a scrub needs it
    assert redactor.scrub(f"a {values[0]} b {values[-1].upper()}") == f"a {MARKER} b {MARKER}"
    assert len(redactor.builds) <= math.ceil(math.log2(1000))
    assert len(redactor.builds) == 1


def test_secrets_interleaved_with_scrubs_are_indexed_a_logarithmic_number_of_times() -> None:
    redactor = Redactor()
    batches = 256
    for batch in range(batches):
        redactor.add_all([f"batch-{batch:03d}-value-{i}-x" for i in range(5)])
        assert redactor.scrub(f"batch-{batch:03d}-value-4-x") == MARKER
    forms = len(redactor)
    levels = math.log2(batches) + 2
    assert sum(redactor.builds) <= forms * levels  # each form indexed O(log) times
    assert len(redactor._state.chunks) <= levels  # and scanned in O(log) chunks
    for batch in (0, 100, 255):
        assert redactor.scrub(f"x batch-{batch:03d}-value-0-x") == f"x {MARKER}"


def test_a_scrub_never_waits_for_the_writers_lock() -> None:
    """A writer that holds the lock (or hangs) does not stop printing; and the
    secret registered before is still scrubbed."""
    redactor = Redactor()
    redactor.add(SECRET)
    done: list[str] = []
    with redactor._lock:  # as a writer would hold it
        thread = threading.Thread(target=lambda: done.append(redactor.scrub(f"t {SECRET}")))
        thread.start()
        thread.join(timeout=5)
        assert done == [f"t {MARKER}"]
    assert redactor.scrub(SECRET) == MARKER


def test_concurrent_adds_and_scrubs_never_miss_a_registered_secret() -> None:
    """Writers register batches while readers scrub: each reader's text holds every
    secret whose registration finished before its scrub started; none may survive."""
    redactor = Redactor()
    registered: list[str] = []  # appended after add_all returned
    stop = threading.Event()
    misses: list[str] = []
    scrubs = [0]

    def writer(worker: int) -> None:
        for batch in range(60):
            values = [f"w{worker}-b{batch:02d}-secret-{i}-tok" for i in range(5)]
            redactor.add_all(values)
            registered.extend(values)

    def reader() -> None:
        while not stop.is_set():
            known = list(registered)  # registered before this scrub starts
            text = " | ".join(known[-40:] + [v.upper() for v in known[:10]])
            out = redactor.scrub(text) if len(known) % 2 else redactor.scrub_all([text])[0]
            misses.extend(v for v in known[-40:] + known[:10] if v in out or v.upper() in out)
            scrubs[0] += 1

    readers = [threading.Thread(target=reader) for _ in range(4)]
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    time.sleep(0.05)
    stop.set()
    for thread in readers:
        thread.join(timeout=60)
    assert misses == []
    assert scrubs[0] > 10
    everything = " ".join(registered)
    assert set(redactor.scrub(everything).split()) == {MARKER}
