"""Long-lived jsonnet evaluators: a small pool of `jsonnet_child --serve` processes.

A child per evaluation cost 70-100 ms of processor time, most of it Python's own
start; a release of the largest public fleet's layout evaluates one or two files,
so `validate` of 171 hubs spent about 11 s starting children. Here each child
evaluates many files, one at a time, over a pipe (frames: a 4-byte big-endian
length, then JSON; `hubfleet.helm.jsonnet_child`), and the pool keeps at most one
child per processor this process may use; a thread that finds every child busy
waits for one.

Every limit of the one-shot child holds per evaluation:

- processor time: the child moves its soft RLIMIT_CPU to the time it has used plus
  the request's seconds before each evaluation (the kernel's SIGXCPU ends it past
  that); the parent kills it when it has used a second more (the hard limit, which
  a process cannot raise again) or when the wall-clock backstop passes;
- memory: RLIMIT_DATA, set once when the child starts (the pool is per limit); the
  Go runtime aborts past it;
- confinement: each request gets its own bounded reader (the repository's files
  only) and its own VM: no external variable, import or cached file of one
  evaluation is seen by the next;
- a child that exceeded a limit, crashed or was killed is stopped (its whole process
  group) and forgotten; the next evaluation starts another. The caller names the file.

Children are started like the runner's programs: explicit argv, isolated Python
(`-I`), the runner's scrubbed environment, their own session (the watchdog stops
them if hubfleet is killed), no inherited descriptors; stderr goes to an unnamed
temporary file (a Go crash writes its stacks there, and nothing has to read it
while the child runs). At exit (or `shutdown()`) every child is killed. A child
gets release facts, never secrets. A child is retired after `MAX_EVALUATIONS`, or
once its data segment passes half its limit.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from hubfleet.base import watchdog
from hubfleet.base.runner import base_environment

SERVE_ARGV = (sys.executable, "-I", "-m", "hubfleet.helm.jsonnet_child", "--serve")
FRAME_HEADER = 4  # as hubfleet.helm.jsonnet_child
EXIT_RETIRE = 4  # as hubfleet.helm.jsonnet_child: its inherited processor time is used up
MAX_EVALUATIONS = 500
MAX_CHILDREN = 8
RETIRE_DATA_SHARE = 0.5
CPU_GRACE_S = 2.0  # the soft limit is rounded up to a whole second, plus the hard second
POLL_S = 0.25  # how often a waiting parent looks at the child's processor time
STDERR_LIMIT = 1024 * 1024
ENDING_S = 5.0  # how long a child whose stdout closed may take to exit
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Outcome:
    """One evaluation: the child's answer, or how it ended without one."""

    answer: dict[str, Any] | None = None
    returncode: int | None = None  # the child ended: its exit status (-N: signal N)
    stderr: str = ""
    timed_out: bool = False  # killed by the parent: processor time or wall clock


def _data_bytes(pid: int) -> int | None:
    """A process's data segment (what RLIMIT_DATA counts), from /proc; None if unknown."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _processor_seconds(pid: int) -> float | None:
    """A process's processor time so far (all its threads), from /proc; None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    except (IndexError, ValueError):
        return None


class Evaluator:
    """One serving child."""

    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        self.evaluations = 0
        # Kept open for the child's life (closed by `stop`).
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        env = base_environment()
        # The Go collector works harder as the heap nears the limit, before it aborts.
        env["GOMEMLIMIT"] = str(int(memory_bytes * 0.9))
        try:
            self.process = subprocess.Popen(
                [*SERVE_ARGV, str(memory_bytes)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=env,
                close_fds=True,
                start_new_session=True,
            )
        except BaseException:
            self._stderr.close()
            raise
        watchdog.watch_group(self.process.pid)  # its own session: pgid == pid
        self._stopped = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def ask(self, request: Mapping[str, Any], cpu_seconds: int, wall_s: float) -> Outcome:
        """Send one request and wait for its answer, at most `wall_s` seconds and
        `cpu_seconds` (plus `CPU_GRACE_S`) of the child's processor time."""
        body = json.dumps(request).encode()
        started_cpu = _processor_seconds(self.pid)
        deadline = time.monotonic() + wall_s
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(len(body).to_bytes(FRAME_HEADER, "big") + body)
            self.process.stdin.flush()
        except (BrokenPipeError, ConnectionResetError):
            return self._ended()
        fd = self.process.stdout.fileno()
        buffer = bytearray()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                return Outcome(timed_out=True)
            if poller.poll(min(POLL_S, remaining) * 1000):
                chunk = os.read(fd, 1024 * 1024)
                if not chunk:
                    return self._ended()
                buffer += chunk
                answer = _frame(buffer)
                if answer is not None:
                    self.evaluations += 1
                    return Outcome(answer=answer)
            elif started_cpu is not None:
                used = _processor_seconds(self.pid)
                if used is not None and used - started_cpu > cpu_seconds + CPU_GRACE_S:
                    self.stop()
                    return Outcome(timed_out=True)

    def spent(self) -> bool:
        """Whether the child should serve no more: `MAX_EVALUATIONS` served, or a data
        segment past `RETIRE_DATA_SHARE` of its limit (the Go runtime keeps what an
        evaluation mapped; a new child gives the next evaluation its whole limit)."""
        if self.evaluations >= MAX_EVALUATIONS:
            return True
        data = _data_bytes(self.pid)
        return data is not None and data > self.memory_bytes * RETIRE_DATA_SHARE

    def _ended(self) -> Outcome:
        """The child ended without an answer (its stdout closed): its status and what it
        wrote on stderr."""
        try:
            returncode = self.process.wait(timeout=ENDING_S)
        except subprocess.TimeoutExpired:  # stdout closed, yet it runs: killed
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            returncode = self.process.wait()
        self._stderr.seek(0)
        stderr = self._stderr.read(STDERR_LIMIT).decode("utf-8", errors="replace")
        self.stop()
        return Outcome(returncode=returncode, stderr=stderr)

    def stop(self) -> None:
        """Kill the child's process group (it holds nothing worth a grace period)."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait()
        watchdog.release_group(self.pid)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._stderr.close()


def _frame(buffer: bytearray) -> dict[str, Any] | None:
    """The answer in `buffer` once it is whole."""
    if len(buffer) < FRAME_HEADER:
        return None
    size = int.from_bytes(buffer[:FRAME_HEADER], "big")
    if len(buffer) < FRAME_HEADER + size:
        return None
    answer: dict[str, Any] = json.loads(bytes(buffer[FRAME_HEADER : FRAME_HEADER + size]))
    return answer


class Pool:
    """At most `size` evaluators with one memory limit; each serves one request at a time."""

    def __init__(self, memory_bytes: int, size: int) -> None:
        self.memory_bytes = memory_bytes
        self.size = size
        self._condition = threading.Condition()
        self._idle: list[Evaluator] = []
        self._busy: set[Evaluator] = set()
        self._live = 0  # idle, busy and starting
        self.started = 0  # children started so far (for tests and benchmarks)

    def evaluate(self, request: Mapping[str, Any], cpu_seconds: int, wall_s: float) -> Outcome:
        """The outcome of one request, in an idle child (or a new one, or the next freed)."""
        for _ in range(2):  # once more when a used child had no processor time left
            evaluator = self._take()
            try:
                outcome = evaluator.ask(request, cpu_seconds, wall_s)
            except BaseException:
                evaluator.stop()
                self._put(None, evaluator)
                raise
            if outcome.answer is None or evaluator.spent():
                evaluator.stop()
                self._put(None, evaluator)
            else:
                self._put(evaluator)
            if outcome.returncode != EXIT_RETIRE:
                return outcome
        return outcome

    def pids(self) -> list[int]:
        """The idle children's process ids (for tests)."""
        with self._condition:
            return [evaluator.pid for evaluator in self._idle]

    def _take(self) -> Evaluator:
        with self._condition:
            while True:
                while self._idle:
                    evaluator = self._idle.pop()
                    if evaluator.alive():
                        self._busy.add(evaluator)
                        return evaluator
                    evaluator.stop()  # ended while idle (killed from outside): replaced
                    self._live -= 1
                if self._live < self.size:
                    self._live += 1
                    break
                self._condition.wait()
        try:
            evaluator = Evaluator(self.memory_bytes)
        except BaseException:
            self._put(None)
            raise
        with self._condition:
            self.started += 1
            self._busy.add(evaluator)
        return evaluator

    def _put(self, evaluator: Evaluator | None, taken: Evaluator | None = None) -> None:
        """Give a child back (None: it was stopped; its place is free)."""
        with self._condition:
            done = taken if taken is not None else evaluator
            if done is not None:
                self._busy.discard(done)
            if evaluator is None:
                self._live -= 1
            else:
                self._idle.append(evaluator)
            self._condition.notify()

    def shutdown(self) -> None:
        """Stop the idle children and kill the busy ones (their callers see a child
        that ended and clean up)."""
        with self._condition:
            idle, self._idle = self._idle, []
            self._live -= len(idle)
            busy = list(self._busy)
        for evaluator in idle:
            evaluator.stop()
        for evaluator in busy:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(evaluator.pid, signal.SIGKILL)


_pools_lock = threading.Lock()
_pools: dict[int, Pool] = {}


def pool(memory_bytes: int) -> Pool:
    """The process's pool of evaluators with this memory limit."""
    with _pools_lock:
        found = _pools.get(memory_bytes)
        if found is None:
            if not _pools:
                atexit.register(shutdown)
            found = _pools[memory_bytes] = Pool(memory_bytes, _size())
        return found


def _size() -> int:
    try:
        processors = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        processors = os.cpu_count() or 1
    return max(1, min(MAX_CHILDREN, processors))


def shutdown() -> None:
    """Stop every idle evaluator of every pool (at exit; tests)."""
    with _pools_lock:
        pools = list(_pools.values())
    for each in pools:
        each.shutdown()
