"""hubfleet.helm.jsonnet_pool: long-lived jsonnet evaluators keep every per-evaluation
limit, see nothing of an earlier evaluation, and a child that ended is replaced."""

from __future__ import annotations

import json
import os
import resource
import signal
import threading
import time
from pathlib import Path

import pytest

from hubfleet.base.errors import ConfigError
from hubfleet.helm import jsonnet_pool
from hubfleet.helm.jsonnet import (
    MAX_FILE_BYTES,
    MAX_IMPORTS,
    MAX_OUTPUT_BYTES,
    MAX_STACK,
    JsonnetLimits,
    render_jsonnet,
)
from hubfleet.helm.jsonnet_pool import Pool

MIB = 1024 * 1024
# A loop that allocates little and runs for minutes (as tests/helm/test_jsonnet.py).
ENDLESS_LOOP = (
    "{ a: std.foldl(function(x, i) x + std.foldl(function(y, j) y + j, std.range(1, 10000), 0),"
    " std.range(1, 10000), 0) }\n"
)
HUGE_RANGE = "{ a: std.length(std.range(1, 100000000)) }\n"


def request(root: Path, path: str, ext_vars: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "root": str(root),
        "path": path,
        "ext_vars": ext_vars or {},
        "search": [str(root)],
        "max_stack": MAX_STACK,
        "max_file_bytes": MAX_FILE_BYTES,
        "max_output_bytes": MAX_OUTPUT_BYTES,
        "max_imports": MAX_IMPORTS,
        "memory_bytes": 256 * MIB,
        "cpu_seconds": 30,
    }


@pytest.fixture
def pool() -> object:
    made = Pool(256 * MIB, size=1)
    yield made
    made.shutdown()


def answer(pool: Pool, root: Path, path: str, ext_vars: dict[str, str] | None = None) -> object:
    outcome = pool.evaluate(request(root, path, ext_vars), cpu_seconds=30, wall_s=120)
    assert outcome.answer is not None, outcome
    return outcome.answer


def ended(pid: int) -> bool:
    """The process has exited (a zombie until its parent reaps it, or gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2 :].split()[0] in (b"Z", b"X")


def wait_ended(pid: int) -> None:
    deadline = time.monotonic() + 30
    while not ended(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs"
        time.sleep(0.02)


def test_one_child_evaluates_many_files(tmp_path: Path, pool: Pool) -> None:
    (tmp_path / "a.jsonnet").write_text("{ a: std.extVar('X') }\n")
    results = [answer(pool, tmp_path, "a.jsonnet", {"X": str(n)}) for n in range(5)]
    assert [json.loads(str(r["json"])) for r in results] == [{"a": str(n)} for n in range(5)]  # type: ignore[index]
    assert pool.started == 1 and len(pool.pids()) == 1


def test_a_hostile_file_after_a_good_one_sees_nothing_of_it(tmp_path: Path, pool: Pool) -> None:
    """Same child, next request: the earlier external variables, imports and cached
    files are gone (a VM per evaluation, a reader per request)."""
    (tmp_path / "good.jsonnet").write_text(
        "local lib = import 'lib.libsonnet';\n{ hub: std.extVar('HUB'), lib: lib }\n"
    )
    (tmp_path / "lib.libsonnet").write_text("{ token: 'first-data' }\n")
    first = answer(pool, tmp_path, "good.jsonnet", {"HUB": "alpha-private"})
    assert json.loads(str(first["json"])) == {  # type: ignore[index]
        "hub": "alpha-private",
        "lib": {"token": "first-data"},
    }
    (pid,) = pool.pids()

    (tmp_path / "hostile.jsonnet").write_text("{ stolen: std.extVar('HUB') }\n")
    stolen = answer(pool, tmp_path, "hostile.jsonnet")
    assert "Undefined external variable: HUB" in str(stolen["runtime_error"])  # type: ignore[index]
    assert "alpha-private" not in json.dumps(stolen)
    # The library changed on disk: read again, not taken from the first evaluation.
    (tmp_path / "lib.libsonnet").write_text("{ token: 'second' }\n")
    (tmp_path / "again.jsonnet").write_text("(import 'lib.libsonnet').token\n")
    again = answer(pool, tmp_path, "again.jsonnet")
    assert json.loads(str(again["json"])) == "second"  # type: ignore[index]
    assert pool.pids() == [pid] and pool.started == 1  # all in the one child


def test_a_child_killed_from_outside_is_replaced(tmp_path: Path, pool: Pool) -> None:
    (tmp_path / "a.jsonnet").write_text("{ a: 1 }\n")
    answer(pool, tmp_path, "a.jsonnet")
    (pid,) = pool.pids()
    os.kill(pid, signal.SIGKILL)
    wait_ended(pid)
    assert json.loads(str(answer(pool, tmp_path, "a.jsonnet")["json"])) == {"a": 1}  # type: ignore[index]
    assert pool.started == 2
    (new,) = pool.pids()
    assert new != pid


def test_a_child_past_the_time_limit_is_killed_and_replaced(tmp_path: Path) -> None:
    """Through `render_jsonnet`: the error names the file, the child is gone (its
    process ended and reaped), and the next evaluation gets a new child that still
    has its full limits."""
    (tmp_path / "loop.jsonnet").write_text(ENDLESS_LOOP)
    (tmp_path / "a.jsonnet").write_text("{ a: 1 }\n")
    limits = JsonnetLimits(timeout_s=1.0, memory_bytes=301 * MIB)  # its own pool
    assert json.loads(render_jsonnet(tmp_path, "a.jsonnet", {}, limits=limits)) == {"a": 1}
    the_pool = jsonnet_pool.pool(limits.memory_bytes)
    (first,) = the_pool.pids()
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        render_jsonnet(tmp_path, "loop.jsonnet", {}, limits=limits)
    assert time.monotonic() - started < 30  # the processor-time limit, not the backstop
    problem = caught.value.problems[0]
    assert (problem.path, problem.line) == ("loop.jsonnet", 1)
    assert problem.message == "jsonnet evaluation stopped after 1 s"
    assert ended(first) and the_pool.pids() == []
    assert json.loads(render_jsonnet(tmp_path, "a.jsonnet", {}, limits=limits)) == {"a": 1}
    (second,) = the_pool.pids()
    assert second != first
    # The new child's limit holds too.
    with pytest.raises(ConfigError, match="stopped after 1 s"):
        render_jsonnet(tmp_path, "loop.jsonnet", {}, limits=limits)
    the_pool.shutdown()


def test_the_time_limit_counts_each_evaluation_alone(tmp_path: Path) -> None:
    """Evaluations that together use more than one evaluation's processor seconds all
    succeed in the same child (the soft limit moves with each request)."""
    (tmp_path / "busy.jsonnet").write_text(
        "{ a: std.foldl(function(x, i) x + i, std.range(1, 300000), 0) }\n"
    )
    pool = Pool(1024 * MIB, size=1)  # room for what the evaluations leave mapped
    used = 0.0
    for _ in range(40):
        outcome = pool.evaluate(request(tmp_path, "busy.jsonnet"), cpu_seconds=1, wall_s=120)
        assert outcome.answer is not None and "json" in outcome.answer, outcome
        (pid,) = pool.pids()
        used = jsonnet_pool._processor_seconds(pid) or 0.0
        if used > 2.5:
            break
    pool.shutdown()
    assert used > 2.5  # well past one evaluation's limit, all in one child
    assert pool.started == 1


def test_a_child_past_the_memory_limit_is_replaced(tmp_path: Path, pool: Pool) -> None:
    (tmp_path / "big.jsonnet").write_text(HUGE_RANGE)
    (tmp_path / "a.jsonnet").write_text("{ a: 1 }\n")
    answer(pool, tmp_path, "a.jsonnet")
    (first,) = pool.pids()
    outcome = pool.evaluate(request(tmp_path, "big.jsonnet"), cpu_seconds=30, wall_s=120)
    assert outcome.answer is None and outcome.returncode not in (None, 0)
    assert ended(first) and pool.pids() == []
    assert json.loads(str(answer(pool, tmp_path, "a.jsonnet")["json"])) == {"a": 1}  # type: ignore[index]
    assert pool.started == 2


def test_a_child_with_no_processor_time_left_is_retired(tmp_path: Path, pool: Pool) -> None:
    """A used child whose hard RLIMIT_CPU leaves no room for a whole evaluation exits
    before evaluating; the pool asks a new child, and the caller sees only the answer."""
    (tmp_path / "a.jsonnet").write_text("{ a: 1 }\n")
    answer(pool, tmp_path, "a.jsonnet")
    (first,) = pool.pids()
    resource.prlimit(first, resource.RLIMIT_CPU, (1, 1))
    assert json.loads(str(answer(pool, tmp_path, "a.jsonnet")["json"])) == {"a": 1}  # type: ignore[index]
    assert pool.started == 2 and ended(first)


def test_the_pool_is_bounded_and_threads_wait(tmp_path: Path) -> None:
    (tmp_path / "a.jsonnet").write_text("{ a: std.extVar('N') }\n")
    bounded = Pool(256 * MIB, size=2)
    results: dict[int, object] = {}

    def work(n: int) -> None:
        results[n] = bounded.evaluate(
            request(tmp_path, "a.jsonnet", {"N": str(n)}), cpu_seconds=30, wall_s=120
        ).answer

    threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert {n: json.loads(str(r["json"]))["a"] for n, r in results.items()} == {  # type: ignore[index]
            n: str(n) for n in range(12)
        }
        assert bounded.started <= 2
    finally:
        bounded.shutdown()
    assert bounded.pids() == []


def test_a_child_whose_data_grew_past_half_its_limit_is_retired(
    tmp_path: Path, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Go runtime keeps what an evaluation mapped: a child past the share is not
    given the next evaluation (here every child is past a share of 0)."""
    (tmp_path / "a.jsonnet").write_text("{ a: 1 }\n")
    answer(pool, tmp_path, "a.jsonnet")
    assert pool.started == 1 and len(pool.pids()) == 1
    monkeypatch.setattr(jsonnet_pool, "RETIRE_DATA_SHARE", 0.0)
    first = pool.pids()[0]
    answer(pool, tmp_path, "a.jsonnet")
    assert pool.pids() == [] and ended(first)
    answer(pool, tmp_path, "a.jsonnet")
    assert pool.started == 2
