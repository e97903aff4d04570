"""helm's values pipes cost no thread (issue 23.2): each pipe is filled before helm starts;
only what a pipe cannot hold is written by one thread per upgrade, for all its files, in
whichever order helm reads them; a reader that goes away stops that writer."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from tests.fakes import FakeTools, fake_tools  # noqa: F401

from hubfleet.base.redact import Redactor
from hubfleet.helm import cli as helm

# Larger than any pipe can be grown to without privileges (1 MiB by default).
HUGE = 3 * 1024 * 1024


def _writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "helm-values"]


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def test_files_that_fit_in_their_pipes_start_no_thread() -> None:
    values = [
        helm.ValuesInput("a.values.yaml", b"a: 1\n"),
        helm.ValuesInput("empty.values.yaml", b""),
        helm.ValuesInput("big.values.yaml", b"x: " + b"y" * 300_000 + b"\n"),  # a grown pipe
    ]
    before = threading.active_count()
    with helm.values_pipes(values) as (paths, fds):
        assert threading.active_count() == before
        assert not _writers()
        assert paths == [f"/dev/fd/{fd}" for fd in fds]
        assert [_read(path) for path in reversed(paths)] == [v.content for v in values[::-1]]
    for fd in fds:  # the read ends are closed on exit
        try:
            os.fstat(fd)
        except OSError:
            continue
        raise AssertionError(f"fd {fd} still open")


def test_what_does_not_fit_is_written_by_one_thread_in_any_order() -> None:
    values = [
        helm.ValuesInput(f"huge-{n}.values.yaml", bytes([ord("a") + n]) * (HUGE + n))
        for n in range(3)
    ]
    before = threading.active_count()
    with helm.values_pipes(values) as (paths, _fds):
        assert len(_writers()) == 1
        assert threading.active_count() == before + 1
        # The last file first: the writer serves whichever pipe is being read.
        read = {path: _read(path) for path in reversed(paths)}
    assert [read[path] for path in paths] == [v.content for v in values]
    assert not _writers()


def test_a_reader_that_goes_away_stops_the_writer() -> None:
    values = [helm.ValuesInput("huge.values.yaml", b"z" * HUGE)] * 2
    started = time.monotonic()
    with helm.values_pipes(values) as (paths, _fds):
        assert len(_writers()) == 1
        with open(paths[1], "rb") as handle:
            assert handle.read(10) == b"z" * 10  # a reader that stops early
    assert time.monotonic() - started < 4.0  # not the 5 s join timeout
    assert not _writers()


def test_a_huge_secret_file_reaches_helm_through_a_pipe(
    fake_tools: FakeTools,  # noqa: F811
    tmp_path: Path,
) -> None:
    secret = "s3cr3t-" + "q" * 40
    huge = ("token: " + secret + "\npad: " + "p" * HUGE + "\n").encode()
    values = [
        helm.ValuesInput("a.values.yaml", b"a: 1\n"),
        helm.ValuesInput("enc-huge.secret.values.yaml", huge),
    ]
    redactor = Redactor()
    redactor.add(secret)
    fake_tools.script([{"tool": "helm", "args": ["upgrade"], "stdout": "REVISION: 2\n"}])
    result = helm.upgrade(
        release="hub", namespace="hub", chart=helm.ChartRef("/chart"), values=values,
        flags=helm.flags_for(helm.HelmVersion(3, 16, 0)), env={"KUBECONFIG": "/kc"},
        redactor=redactor,
    )  # fmt: skip
    assert result.revision == 2
    assert secret not in result.command
    [call] = [c for c in fake_tools.calls("helm") if c["argv"][0] == "upgrade"]
    assert [v["kind"] for v in call["values"]] == ["fifo", "fifo"]
    assert [v["content"].encode() for v in call["values"]] == [v.content for v in values]
    assert not _writers()
