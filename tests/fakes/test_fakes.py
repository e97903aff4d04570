"""The fake executables: records, scripted failures, sleeps and hangs."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.base.runner import Cancelled, ProgramFailed, ProgramTimeout, background, run
from tests.conftest import alive
from tests.fakes import FakeTools, install_fakes


@pytest.fixture
def fakes(tmp_path: Path) -> FakeTools:
    return install_fakes(tmp_path)


def test_records_argv_env_cwd_stdin(fakes: FakeTools, tmp_path: Path) -> None:
    result = run(
        ["helm", "upgrade", "--install", "hub-a", "chart"],
        redactor=Redactor(),
        env=fakes.env({"KUBECONFIG": "/private/kc"}),
        stdin=b"values: 1\n",
        cwd=tmp_path,
    )
    assert result.returncode == 0
    [call] = fakes.calls("helm")
    assert call["tool"] == "helm"
    assert call["argv"] == ["upgrade", "--install", "hub-a", "chart"]
    assert call["env"]["KUBECONFIG"] == "/private/kc"
    assert "FAKE_RECORD_DIR" not in call["env"]
    assert call["cwd"] == str(tmp_path)
    assert fakes.stdin(call) == b"values: 1\n"
    assert call["exit"] == 0 and call["signal"] is None
    assert call["start"] <= call["end"]
    assert [s["pid"] for s in fakes.started("helm")] == [call["pid"]]
    assert fakes.calls("kubectl") == []


def test_fake_comes_before_the_real_kubectl(fakes: FakeTools) -> None:
    run(["kubectl", "get", "pods"], redactor=Redactor(), env=fakes.env())
    assert fakes.calls("kubectl")[0]["argv"] == ["get", "pods"]


def test_values_pipe_or_file(fakes: FakeTools, tmp_path: Path) -> None:
    plain = tmp_path / "common.values.yaml"
    plain.write_text("a: 1\n")
    read_end, write_end = os.pipe()
    os.write(write_end, b"secret: x\n")
    os.close(write_end)
    try:
        run(
            ["helm", "upgrade", "h", "c", "--values", str(plain), f"-f=/dev/fd/{read_end}"],
            redactor=Redactor(),
            env=fakes.env(),
            pass_fds=[read_end],
        )
    finally:
        os.close(read_end)
    values = fakes.calls("helm")[0]["values"]
    assert [(v["arg"], v["kind"], v["content"]) for v in values] == [
        ("--values", "file", "a: 1\n"),
        ("-f", "fifo", "secret: x\n"),
    ]


def test_scripted_failure_and_default(fakes: FakeTools) -> None:
    fakes.script(
        [{"tool": "helm", "args": ["upgrade", "hub-b"], "exit": 1, "stderr": "Error: boom\n"}]
    )
    run(["helm", "upgrade", "hub-a", "c"], redactor=Redactor(), env=fakes.env())
    with pytest.raises(ProgramFailed, match="Error: boom") as info:
        run(["helm", "upgrade", "hub-b", "c"], redactor=Redactor(), env=fakes.env())
    assert info.value.returncode == 1
    version = run(["helm", "version", "--short"], redactor=Redactor(), env=fakes.env())
    assert version.stdout.startswith("v3.")
    assert [c["exit"] for c in fakes.calls("helm")] == [0, 1, 0]


def test_scripted_sleep_and_output(fakes: FakeTools) -> None:
    fakes.script([{"contains": "eks get-token", "stdout": '{"token": "t"}', "sleep": 0.5}])
    started = time.monotonic()
    result = run(
        ["aws", "eks", "get-token", "--cluster-name", "x"], redactor=Redactor(), env=fakes.env()
    )
    assert time.monotonic() - started >= 0.5
    assert result.stdout == '{"token": "t"}'
    [call] = fakes.calls("aws")
    assert call["end"] - call["start"] >= 0.5


def test_hang_is_recorded_when_terminated(fakes: FakeTools) -> None:
    fakes.script([{"args": ["hub-c"], "hang": True}])
    with pytest.raises(ProgramTimeout):
        run(["helm", "upgrade", "hub-c"], redactor=Redactor(), env=fakes.env(), timeout=1, grace=2)
    [call] = fakes.calls("helm")
    assert call["signal"] == "SIGTERM"
    assert call["exit"] == 143


def test_ignore_sigterm_needs_sigkill(fakes: FakeTools) -> None:
    fakes.script([{"args": ["hub-d"], "hang": True, "ignore_sigterm": True}])
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        run(
            ["helm", "upgrade", "hub-d"],
            redactor=Redactor(),
            env=fakes.env(),
            cancel=cancel,
            grace=0.5,
        )
    assert time.monotonic() - started >= 1.0
    assert fakes.calls("helm") == []  # killed: no end record
    assert len(fakes.started("helm")) == 1


def test_fixture_puts_fakes_on_path(fake_tools: FakeTools) -> None:
    assert os.environ["PATH"].startswith(str(fake_tools.bin_dir))
    run(["gcloud", "version"], redactor=Redactor())
    assert len(fake_tools.calls("gcloud")) == 1


def test_install_selected_tools(tmp_path: Path) -> None:
    fakes = install_fakes(tmp_path / "x", tools=["az"])
    assert sorted(p.name for p in fakes.bin_dir.iterdir()) == ["az"]


def test_forward_rule_is_a_real_port_forward(fakes: FakeTools) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    target = server.getsockname()[1]

    def echo_once() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"echo:" + conn.recv(100))

    threading.Thread(target=echo_once, daemon=True).start()
    fakes.script([{"tool": "kubectl", "args": ["port-forward"], "forward": f"127.0.0.1:{target}"}])
    argv = ["kubectl", "port-forward", "service/proxy-public", ":80", "--address", "127.0.0.1"]
    with background(argv, redactor=Redactor(), env=fakes.env()) as program:
        line = program.wait_for_line(
            re.compile(r"^Forwarding from 127\.0\.0\.1:(\d+) -> 8000$"), 10
        )
        with socket.create_connection(("127.0.0.1", int(line.group(1))), timeout=10) as client:
            client.sendall(b"ping")
            assert client.recv(100) == b"echo:ping"
        assert fakes.calls("kubectl") == []  # still forwarding
    server.close()
    [call] = fakes.calls("kubectl")
    assert call["argv"] == argv[1:]
    assert call["signal"] == "SIGTERM" and call["exit"] == 143
    assert not alive(call["pid"])
