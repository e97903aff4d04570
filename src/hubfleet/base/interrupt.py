"""The signals that end hubfleet: SIGINT, SIGTERM, SIGHUP, SIGQUIT, handled alike.

The entry point (`hubfleet.cli.entry`) calls `install()` before it imports anything
heavy, so that a signal in the first milliseconds is neither a traceback (SIGINT),
an exit 143 (SIGTERM) nor a dead hubfleet that leaves its children running
(SIGHUP from a dropped SSH session, SIGQUIT). A signal is handled in one of three
modes:

- `record` (from `install()` until a command starts): the signal is only noted;
  whatever comes next sees it (`received()`), e.g. a deploy marks every job
  cancelled and writes its report;
- `raise` (a command other than deploy): `KeyboardInterrupt` in the main thread,
  which the CLI turns into exit 130 (a signal noted before is raised at once);
- `cancel` (inside `cancelling(event)`, a deploy): the first signal sets the
  deploy's cancel event (a signal noted before sets it at once); a second one
  runs the caller's `on_repeat` (stop every child, remove the credentials, exit).

Base room: imports nothing from hubfleet.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Literal

SIGNALS: tuple[signal.Signals, ...] = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
)
EXIT_CODE = 130

Mode = Literal["record", "raise", "cancel"]


@dataclass
class _State:
    mode: Mode = "record"
    first: int | None = None  # the first signal received, if any
    count: int = 0
    raised: bool = False  # a signal became a KeyboardInterrupt
    cancel: threading.Event | None = None
    on_repeat: Callable[[], None] | None = None


# Signal dispositions are per process, so is this record of them.
_state = _State()


def handler(signum: int, frame: FrameType | None) -> None:
    """The one handler of every signal in SIGNALS (runs in the main thread)."""
    _state.count += 1
    if _state.first is None:
        _state.first = signum
    if _state.mode == "raise":
        _state.raised = True
        raise KeyboardInterrupt
    if _state.mode == "cancel" and _state.cancel is not None:
        if _state.cancel.is_set() and _state.count > 1 and _state.on_repeat is not None:
            _state.on_repeat()
        _state.cancel.set()


def install() -> None:
    """Handle every signal of SIGNALS with `handler`, in `record` mode."""
    _state.mode = "record"
    for sig in SIGNALS:
        signal.signal(sig, handler)


def received() -> int | None:
    """The first signal received since `install()` (None: none)."""
    return _state.first


def installed() -> bool:
    """Whether `handler` handles SIGINT now (tests run commands in-process without it)."""
    return signal.getsignal(signal.SIGINT) is handler


def raising() -> None:
    """`raise` mode: a signal (and one noted before) is a `KeyboardInterrupt`."""
    if not installed():
        return
    _state.mode = "raise"
    if _state.first is not None:
        _state.raised = True
        raise KeyboardInterrupt


def raised() -> bool:
    """Whether a signal was raised as `KeyboardInterrupt` (the CLI turns it into exit 130)."""
    return _state.raised


@contextmanager
def cancelling(
    cancel: threading.Event, on_repeat: Callable[[], None] | None = None
) -> Iterator[None]:
    """`cancel` mode for the block: a signal sets `cancel` (at once if one was noted
    before), a further one calls `on_repeat`. Outside the main thread: nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if not installed():  # in-process callers (tests, the API): handle them for the block
        previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
        saved = _State()
    else:
        previous, saved = {}, _State(mode=_state.mode)
    _state.mode, _state.cancel, _state.on_repeat = "cancel", cancel, on_repeat
    if _state.first is not None:
        cancel.set()
    try:
        yield
    finally:
        _state.mode, _state.cancel, _state.on_repeat = saved.mode, None, None
        if previous:  # in-process: leave no trace for the next caller
            _state.first, _state.count = None, 0
            for sig, old in previous.items():
                signal.signal(sig, old)
