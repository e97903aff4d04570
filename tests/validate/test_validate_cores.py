"""validate on every core (issue 23, point 5): encrypted files are decrypted in parallel
(one sops each, at once, not one after the other), once each; the releases' schema
checks run in threads, with no worker process; what is reported does not change."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.helm import manifests
from hubfleet.secrets.sops import Sops
from hubfleet.validate import run as run_module
from hubfleet.validate.run import validate


class _Counting:
    """Sops._decrypt wrapped: how many ran at once, and how often each path."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.paths: dict[str, int] = {}

    def __call__(self, sops: Sops, path: Path, content: bytes | None) -> bytes:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.paths[str(path)] = self.paths.get(str(path), 0) + 1
        try:
            time.sleep(0.2)  # long enough for the others to start, if they are started
            result: bytes = self.real(sops, path, content)
            return result
        finally:
            with self.lock:
                self.running -= 1


def test_encrypted_files_are_decrypted_at_once_and_once_each(
    run_cli: Any, fleet_copy: Path, age_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = _Counting(Sops._decrypt)

    def decrypt(sops: Sops, path: Path, content: bytes | None) -> bytes:
        return counting(sops, path, content)

    monkeypatch.setattr(Sops, "_decrypt", decrypt)
    result = run_cli("--repo", fleet_copy, "validate")
    assert result.exit_code == 0, result.output
    assert len(counting.paths) >= 4, counting.paths  # the fleet's encrypted files
    assert set(counting.paths.values()) == {1}, counting.paths
    assert counting.most >= 2  # not one after the other


def test_a_broken_encrypted_file_is_still_reported_once_at_its_file(
    run_cli: Any, fleet_copy: Path, age_key: Path
) -> None:
    """Decrypting ahead says nothing itself: the file's own check reports it, once."""
    files = sorted((fleet_copy / "config" / "clusters").rglob("enc-*.secret.values.yaml"))
    broken = files[0]
    text = broken.read_text()
    start = text.index("ENC[AES256_GCM,data:") + len("ENC[AES256_GCM,data:")
    broken.write_text(text[:start] + ("A" if text[start] != "A" else "B") + text[start + 1 :])
    relative = broken.relative_to(fleet_copy).as_posix()
    result = run_cli("--repo", fleet_copy, "validate")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith(relative + ":")]
    assert len(lines) == 1, result.output


def test_the_schema_checks_run_in_threads_without_worker_processes(
    fleet_copy: Path, age_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_processes(*_: Any, **__: Any) -> Any:
        raise AssertionError("a worker process was started")

    monkeypatch.setattr(manifests, "ProcessPoolExecutor", no_processes)
    threads: set[str] = set()
    real = manifests.check_manifests

    def check(rendered: Any, *, kube_version: str | None = None) -> Any:
        threads.add(threading.current_thread().name)
        return real(rendered, kube_version=kube_version)

    monkeypatch.setattr(manifests, "check_manifests", check)
    result = validate(fleet_copy, workers=2)
    assert len(result.rendered) >= 8, result  # enough releases to have used processes before
    assert threads and threading.main_thread().name not in threads
    assert not result.errors, result.errors


def test_files_are_checked_while_others_are_still_decrypting(
    fleet_copy: Path, age_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file's check runs as soon as its own decryption is done, not after every
    file's: the checks' Python work overlaps the other sops processes. Each file is
    still checked once, and what is reported does not change."""
    encrypted = sorted((fleet_copy / "config" / "clusters").rglob("enc-*.values.yaml"))
    assert len(encrypted) >= 2, encrypted
    slow = encrypted[0]
    events: list[tuple[str, str]] = []
    lock = threading.Lock()
    real_decrypt = Sops._decrypt

    def decrypt(sops: Sops, path: Path, content: bytes | None) -> bytes:
        if Path(path) == slow:
            time.sleep(1.0)
        result: bytes = real_decrypt(sops, path, content)
        if Path(path) == slow:
            with lock:
                events.append(("slow decrypted", str(path)))
        return result

    checked: dict[str, int] = {}
    real_check = run_module._check_file

    def check(run: Any, path: str) -> None:
        first = path not in run.checked
        real_check(run, path)
        if first:
            with lock:
                checked[path] = checked.get(path, 0) + 1
                events.append(("checked", path))

    monkeypatch.setattr(Sops, "_decrypt", decrypt)
    monkeypatch.setattr(run_module, "_check_file", check)
    result = validate(fleet_copy, sops=Sops(Redactor(), cwd=fleet_copy), workers=2)
    assert not result.errors, result.errors
    assert set(checked.values()) == {1}, checked  # once each
    order = [kind for kind, _ in events]
    assert "slow decrypted" in order, events
    assert order.index("checked") < order.index("slow decrypted"), events


def test_the_schema_registry_is_built_while_sops_decrypts(
    fleet_copy: Path, age_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The main thread, idle while the files decrypt, builds what the first manifest
    checks need then (not when the first renders wait for it)."""
    encrypted = sorted((fleet_copy / "config" / "clusters").rglob("enc-*.values.yaml"))
    slow = encrypted[0]
    events: list[str] = []
    real_decrypt = Sops._decrypt

    def decrypt(sops: Sops, path: Path, content: bytes | None) -> bytes:
        if Path(path) == slow:
            time.sleep(1.0)
        result: bytes = real_decrypt(sops, path, content)
        if Path(path) == slow:
            events.append("slow decrypted")
        return result

    real_prepare = run_module.prepare

    def prepare(kube_version: str | None = None) -> None:
        events.append("prepared")
        real_prepare(kube_version)

    monkeypatch.setattr(Sops, "_decrypt", decrypt)
    monkeypatch.setattr(run_module, "prepare", prepare)
    result = validate(fleet_copy, sops=Sops(Redactor(), cwd=fleet_copy), workers=2)
    assert not result.errors, result.errors
    assert events == ["prepared", "slow decrypted"], events
    without_render = validate(fleet_copy, sops=Sops(Redactor(), cwd=fleet_copy), render=False)
    assert without_render.rendered == ()  # no render: nothing prepared
    assert events.count("prepared") == 1, events
