"""hubfleet.base.runner: scrubbed environment, timeouts, cancellation, redaction."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.conftest import ENV_SAMPLE, alive

from hubfleet.base import runner
from hubfleet.base.errors import ProgramError
from hubfleet.base.redact import MARKER, Redactor
from hubfleet.base.runner import (
    Cancelled,
    ProgramFailed,
    ProgramNotFound,
    ProgramTimeout,
    base_environment,
    run,
    run_bytes,
)

PY = sys.executable
PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"


def test_run_returns_scrubbed_result() -> None:
    redactor = Redactor()
    redactor.add("hunter2-secret")
    result = run(
        [PY, "-c", "import sys; print('out hunter2-secret'); print('err', file=sys.stderr)"],
        redactor=redactor,
    )
    assert result.returncode == 0
    assert result.stdout == f"out {MARKER}\n"
    assert result.stderr == "err\n"
    assert result.argv[1:] == ("-c", result.argv[2])
    assert result.duration_s > 0
    with pytest.raises(AttributeError):
        result.returncode = 1  # type: ignore[misc]


def test_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    inherited = {
        "KUBECONFIG": "/home/u/.kube/config",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "AWS_PROFILE": "prod",
        "GOOGLE_APPLICATION_CREDENTIALS": "/key.json",
        "CLOUDSDK_CORE_PROJECT": "p",
        "AZURE_CLIENT_SECRET": "az",
        "ARM_CLIENT_SECRET": "arm",
        "GITHUB_TOKEN": "ghp_x",
        "SOPS_AGE_KEY": "AGE-SECRET-KEY-1X",
        "HUBFLEET_API_TOKEN": "t",
        "HUBFLEET_CHART_CACHE": "/cache",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
    }
    for name, value in inherited.items():
        monkeypatch.setenv(name, value)
    result = run([PY, "-c", PRINT_ENV], redactor=Redactor(), env={"EXTRA": "1", "TZ": "Europe/X"})
    env = json.loads(result.stdout)
    for dropped in (
        "KUBECONFIG",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "CLOUDSDK_CORE_PROJECT",
        "AZURE_CLIENT_SECRET",
        "ARM_CLIENT_SECRET",
        "GITHUB_TOKEN",
        "SOPS_AGE_KEY",
        "HUBFLEET_API_TOKEN",
    ):
        assert dropped not in env, dropped
    assert env["HUBFLEET_CHART_CACHE"] == "/cache"
    assert env["LC_ALL"] == "C.UTF-8"
    assert env["PATH"] == os.environ["PATH"]
    assert env["EXTRA"] == "1"
    assert env["TZ"] == "Europe/X"  # env wins over the parent


def test_base_environment() -> None:
    source = ENV_SAMPLE
    assert base_environment(source) == {"PATH": "/bin", "HOME": "/h"}


def test_missing_program_has_message_and_hint(tmp_path: Path) -> None:
    with pytest.raises(ProgramNotFound) as info:
        run(["helm", "version"], redactor=Redactor(), env={"PATH": str(tmp_path)})
    assert str(info.value.message) == "helm is not installed or not on PATH"
    assert info.value.hint and "helm.sh" in info.value.hint
    assert isinstance(info.value, ProgramError)


def test_nonzero_exit_quotes_redacted_stderr_tail() -> None:
    redactor = Redactor()
    redactor.add("s3cr3t-value")
    code = "import sys\nfor i in range(50): print('line', i, file=sys.stderr)\n"
    code += "print('Error: bad s3cr3t-value', file=sys.stderr); sys.exit(3)"
    with pytest.raises(ProgramFailed) as info:
        run([PY, "-c", code, "s3cr3t-value"], redactor=redactor)
    error = info.value
    assert error.returncode == 3
    assert "exit code 3" in error.message
    assert f"Error: bad {MARKER}" in error.message
    assert "s3cr3t-value" not in str(error)
    assert "line 0\n" not in error.message  # only the tail is quoted
    result = run([PY, "-c", "import sys; sys.exit(4)"], redactor=redactor, check=False)
    assert result.returncode == 4


def test_stdin_and_pass_fds() -> None:
    result = run(
        [PY, "-c", "import sys; print(sys.stdin.read().upper())"],
        redactor=Redactor(),
        stdin=b"hello",
    )
    assert result.stdout == "HELLO\n"
    read_end, write_end = os.pipe()
    os.write(write_end, b"from a pipe")
    os.close(write_end)
    try:
        result = run(
            [PY, "-c", f"print(open('/dev/fd/{read_end}').read())"],
            redactor=Redactor(),
            pass_fds=[read_end],
        )
    finally:
        os.close(read_end)
    assert result.stdout == "from a pipe\n"


def test_run_bytes_is_raw_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor()
    redactor.add("plain-secret")
    caplog.set_level(logging.DEBUG, logger="hubfleet.base.runner")
    result = run_bytes(
        [PY, "-c", "import sys; sys.stdout.buffer.write(b'plain-secret\\x00\\xff')"],
        redactor=redactor,
        stdin=b"stdin-secret-material",
    )
    assert result.stdout == b"plain-secret\x00\xff"
    assert "plain-secret" not in caplog.text
    assert "stdin-secret-material" not in caplog.text
    assert "run:" in caplog.text and "exit 0" in caplog.text


def test_debug_log_scrubs_argv(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor()
    redactor.add("token-abcdef")
    caplog.set_level(logging.DEBUG, logger="hubfleet.base.runner")
    run([PY, "-c", "pass", "--set", "x=token-abcdef"], redactor=redactor)
    assert "token-abcdef" not in caplog.text
    assert f"x={MARKER}" in caplog.text


def _spawn_tree(pidfile: Path, *, ignore_term: bool = False) -> list[str]:
    """A program that starts a grandchild, writes its pid, then waits forever."""
    code = (
        "import signal, subprocess, sys, time\n"
        + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else "")
        + "child = subprocess.Popen(['sleep', '300'])\n"
        + f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        + "time.sleep(300)\n"
    )
    return [PY, "-c", code]


def _wait_for(path: Path) -> int:
    for _ in range(200):
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError("pid file never written")


def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(ProgramTimeout) as info:
        run(_spawn_tree(pidfile), redactor=Redactor(), timeout=1.0, grace=1.0)
    assert time.monotonic() - started < 5
    assert "timed out after 1s" in info.value.message
    grandchild = _wait_for(pidfile)
    time.sleep(0.2)
    assert not alive(grandchild)
    assert runner.live_children() == []


def test_sigterm_ignored_then_sigkill(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(ProgramTimeout):
        run(_spawn_tree(pidfile, ignore_term=True), redactor=Redactor(), timeout=0.5, grace=0.5)
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 5
    time.sleep(0.2)
    assert not alive(_wait_for(pidfile))


def test_cancel_event_stops_the_program(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled) as info:
        run(_spawn_tree(pidfile), redactor=Redactor(), cancel=cancel, grace=1.0)
    assert time.monotonic() - started < 5
    assert info.value.exit_code == 130
    assert isinstance(info.value, ProgramError)
    time.sleep(0.2)
    assert not alive(_wait_for(pidfile))


def test_terminate_all_stops_every_child(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            run(_spawn_tree(tmp_path / f"pid{index}"), redactor=Redactor(), grace=1.0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    grandchildren = [_wait_for(tmp_path / f"pid{i}") for i in range(3)]
    assert len(runner.live_children()) == 3
    assert runner.terminate_all(grace=1.0) == 3
    for thread in threads:
        thread.join(timeout=10)
    assert len(errors) == 3 and all(isinstance(e, Cancelled) for e in errors)
    assert runner.live_children() == []
    time.sleep(0.2)
    assert not any(alive(pid) for pid in grandchildren)


def test_kube_clients_never_fall_back_to_the_users_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tiny "kubectl" on a private PATH that prints its KUBECONFIG.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "kubectl"
    tool.write_text(f"#!{PY}\nimport os; print(os.environ.get('KUBECONFIG'))\n")
    tool.chmod(0o755)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "users-config"))
    env = {"PATH": str(bin_dir)}
    assert run(["kubectl"], redactor=Redactor(), env=env).stdout == f"{os.devnull}\n"
    private = str(tmp_path / "private")
    env["KUBECONFIG"] = private
    assert run(["kubectl"], redactor=Redactor(), env=env).stdout == f"{private}\n"


# --- background programs -----------------------------------------------------------

READY = re.compile(r"^ready (\d+)$")


def _serving(pidfile: Path, first_line: str = "ready 4242") -> list[str]:
    """A program that starts a grandchild (pid in `pidfile`), prints `first_line` and
    then a steady stream of lines (the pipe must not fill up)."""
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "print('starting hunter2-secret', file=sys.stderr, flush=True)\n"
        f"print({first_line!r}, flush=True)\n"
        "while True:\n    print('x' * 1000, flush=True)\n    time.sleep(0.001)\n"
    )
    return [PY, "-c", code]


def test_background_yields_while_running_and_stops_the_group(tmp_path: Path) -> None:
    redactor = Redactor()
    redactor.add("hunter2-secret")
    pidfile = tmp_path / "pid"
    with runner.background(_serving(pidfile), redactor=redactor) as program:
        assert program.wait_for_line(READY, 10).group(1) == "4242"
        assert runner.live_children() == [program.pid]
        time.sleep(0.5)  # ~500 kB of output: it must keep running, not block on a full pipe
        assert program.poll() is None
        assert program.stderr() == f"starting {MARKER}"
        grandchild = _wait_for(pidfile)
    assert program.poll() is not None
    assert runner.live_children() == []
    time.sleep(0.2)
    assert not alive(program.pid) and not alive(grandchild)


def test_background_is_stopped_when_the_block_raises(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    with (
        pytest.raises(KeyboardInterrupt),
        runner.background(_serving(pidfile), redactor=Redactor(), grace=1.0) as program,
    ):
        program.wait_for_line(READY, 10)
        raise KeyboardInterrupt
    time.sleep(0.2)
    assert not alive(program.pid) and not alive(_wait_for(pidfile))
    assert runner.live_children() == []


def test_background_that_exits_or_stays_silent(tmp_path: Path) -> None:
    with (
        runner.background(
            [PY, "-c", "import sys; print('no such service', file=sys.stderr); sys.exit(1)"],
            redactor=Redactor(),
        ) as program,
        pytest.raises(ProgramFailed, match="no such service") as failed,
    ):
        program.wait_for_line(READY, 10)
    assert failed.value.returncode == 1
    started = time.monotonic()
    with (
        runner.background(
            _serving(tmp_path / "pid", first_line="waiting"), redactor=Redactor()
        ) as program,
        pytest.raises(ProgramTimeout, match="no line matching"),
    ):
        program.wait_for_line(READY, 0.5)
    assert time.monotonic() - started < 5
    assert runner.live_children() == []


def test_background_cancel_and_terminate_all(tmp_path: Path) -> None:
    cancel = threading.Event()
    with runner.background(
        _serving(tmp_path / "pid1", first_line="waiting"), redactor=Redactor(), cancel=cancel
    ) as program:
        threading.Timer(0.3, cancel.set).start()
        with pytest.raises(Cancelled):
            program.wait_for_line(READY, 10)
        assert program.process.wait(timeout=10) is not None  # stopped before the block ends
    with runner.background(_serving(tmp_path / "pid2"), redactor=Redactor()) as program:
        program.wait_for_line(READY, 10)
        assert runner.terminate_all(grace=1.0) == 1
        assert program.process.wait(timeout=10) is not None
        with pytest.raises(Cancelled):
            program.wait_for_line(re.compile("never"), 10)
    assert runner.live_children() == []
