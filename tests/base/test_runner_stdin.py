"""A program's stdin larger than a pipe's buffer reaches it whole (the runner's
poll loop used to drop the rest after its first timeout: the program waited forever)."""

from __future__ import annotations

import hashlib
import sys

from hubfleet.base.redact import Redactor
from hubfleet.base.runner import run


def test_a_large_stdin_reaches_a_slow_reader_whole() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB, far over a pipe's 64 KiB
    reader = (
        "import hashlib, sys, time; time.sleep(0.5); "
        "print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"
    )
    result = run([sys.executable, "-c", reader], redactor=Redactor(), stdin=data, timeout=30)
    assert result.stdout.strip() == hashlib.sha256(data).hexdigest()


def test_a_program_that_reads_no_stdin_still_ends() -> None:
    data = b"x" * (1 << 20)
    result = run([sys.executable, "-c", "print('done')"], redactor=Redactor(), stdin=data)
    assert result.stdout.strip() == "done"
