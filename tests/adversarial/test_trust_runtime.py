"""Issue 21, points 3 (keys), 6 (nothing decrypted outlives a killed run), 7 (no secret on argv).

- The age key hubfleet decrypts with (SOPS_AGE_KEY, or the file SOPS_AGE_KEY_FILE
  names) and the cloud secrets of its environment are registered with the
  redactor at the command's start: a values file or a cluster file that puts
  the key into a rendered ConfigMap or an error message shows it in no form in
  render, validate or deploy --dry-run.
- `kill -9` of a deploy while helm runs: the watchdog stops the helm processes
  and removes the private folders at once; with the watchdog killed too, the
  next run sweeps the folder (and only folders of dead processes of this user
  that are ours: not a live process's, not a link, not another prefix's).
- SIGINT while hubfleet is still importing its signal handling: exit 130, no
  traceback.
- `az login` gets the service principal's secret on stdin, never on its argv;
  the command line of every process a deploy starts, read from /proc while it
  runs, holds no decrypted value in any form, on each provider.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubfleet.base import sweep
from hubfleet.base.redact import MARKER, Redactor, leaf_strings
from hubfleet.secrets.keys import key_material
from hubfleet.secrets.sops import Sops
from tests.adversarial.test_signals import handlers_installed
from tests.conftest import AGE_KEY, SECRET_MARKER, alive
from tests.deploy.conftest import DeployEnv, denv
from tests.secretscan import find_secrets, scan_tree

__all__ = ["denv"]

CONSOLE_SCRIPT = Path(sys.executable).parent / "hubfleet"
WAIT_S = 60.0
AGE_LINE = next(
    line for line in AGE_KEY.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-")
)


def _command() -> list[str]:
    if CONSOLE_SCRIPT.exists():
        return [str(CONSOLE_SCRIPT)]
    return [sys.executable, "-m", "hubfleet"]


def _no_key(text: str) -> None:
    hits = find_secrets(text.encode(), [AGE_LINE, AGE_LINE.removeprefix("AGE-SECRET-KEY-")])
    assert hits == [], hits
    assert "Traceback" not in text


# --- point 3: keys are secrets ---------------------------------------------------


def _plant_key_in_values(fleet: Path, command: str) -> None:
    """The key in a hub's values, rendered into its ConfigMap; for validate also where
    the chart's schema refuses it (the message quotes the value)."""
    path = fleet / "config" / "clusters" / "delta" / "staging-a.values.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["hub"]["config"]["Leak"] = {"key": AGE_LINE, "again": f"x{AGE_LINE}y"}
    if command == "validate":
        doc["singleuser"] = {"defaultUrl": [AGE_LINE]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _use_key(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "SOPS_AGE_KEY":
        monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
        monkeypatch.setenv("SOPS_AGE_KEY", AGE_KEY.read_text())
    else:
        monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
        monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEY))


COMMANDS: dict[str, Callable[[DeployEnv], list[str | Path]]] = {
    "render": lambda d: ["render", "delta", "staging-a"],
    "validate": lambda d: ["validate", "delta", "staging-a"],
    "deploy --dry-run": lambda d: [
        "deploy", "--plan", d.plan(["delta"]), "--dry-run", "--progress", "plain",
        "--report", d.out / "report.json", "--no-health-check",
    ],
}  # fmt: skip


@pytest.mark.parametrize("how", ["SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_age_key_in_values_is_never_shown(
    run_cli: Any, denv: DeployEnv, monkeypatch: pytest.MonkeyPatch, how: str, command: str
) -> None:
    _use_key(how, monkeypatch)
    _plant_key_in_values(denv.fleet, command)
    # helm fails and quotes the values it was given (as helm's errors quote lines).
    denv.fakes.script(
        [{"tool": "helm", "args": ["upgrade", "staging-a"], "echo_values": True, "exit": 1}]
    )
    result = run_cli("--repo", denv.fleet, *COMMANDS[command](denv))
    assert result.exit_code == {"render": 0, "validate": 2, "deploy --dry-run": 1}[command], (
        result.output
    )
    if command == "validate":  # refused as a plaintext secret, never quoted
        assert "looks like an age secret key" in result.output
    elif command == "render":  # the key was there, scrubbed
        assert MARKER in result.output
    else:  # helm's error, quoted by the report, is scrubbed
        assert MARKER in (denv.out / "report.json").read_text()
    _no_key(result.output)
    assert scan_tree(denv.out, [AGE_LINE]) == []
    if command == "render":  # it was rendered: scrubbed, not left out
        assert result.exit_code == 0, result.output
        assert "Leak" in result.stdout


@pytest.mark.parametrize("how", ["SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY"])
def test_age_key_in_an_error_message_is_never_shown(
    run_cli: Any, denv: DeployEnv, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A cluster file whose values are the key: every message quoting them is scrubbed."""
    _use_key(how, monkeypatch)
    path = denv.fleet / "config" / "clusters" / "delta" / "cluster.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["hubs"][0]["domain"] = AGE_LINE
    doc["hubs"][0]["helm_chart_values_files"].append(f"{AGE_LINE}.values.yaml")
    doc["kubeconfig"]["surprise"] = AGE_LINE
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    for args in (["validate"], ["render", "delta", "staging-a"], ["list", "--output", "json"]):
        result = run_cli("--repo", denv.fleet, *args)
        assert result.exit_code == 2, result.output
        assert "config/clusters/delta/cluster.yaml" in result.output
        assert MARKER in result.output  # quoted, scrubbed
        _no_key(result.output)


def test_key_material_of_the_environment(tmp_path: Path) -> None:
    """What is registered: identities and cloud secrets; not ids, paths, public keys."""
    pem_body = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7", "k3Y9Zq1QabcDEF"]
    pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(pem_body) + "\n-----END PRIVATE KEY-----\n"
    google = tmp_path / "sa.json"
    google.write_text(
        json.dumps(
            {"type": "service_account", "private_key": pem, "private_key_id": "abcdef0123456789",
             "client_email": "deployer@p.iam.gserviceaccount.com", "project_id": "project-x"}
        )
    )  # fmt: skip
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.federated-token-body\n")
    env = {
        "SOPS_AGE_KEY_FILE": str(AGE_KEY),
        "SOPS_PGP_FP": "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEYID0001",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEXAMPLESESSIONTOKEN",
        "AZURE_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
        "AZURE_CLIENT_SECRET": "azure-client-secret-value",
        "GOOGLE_APPLICATION_CREDENTIALS": str(google),
        "AZURE_FEDERATED_TOKEN_FILE": str(token),
        "GOOGLE_CREDENTIALS": json.dumps(
            {"type": "authorized_user", "refresh_token": "1//0refresh"}
        ),
        "HOME": str(tmp_path),
    }
    found = set(key_material(env))
    assert AGE_LINE in found
    assert not any(value.startswith("# ") for value in found)  # comments: the public key
    for secret in ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEXAMPLESESSIONTOKEN",
                   "azure-client-secret-value", "abcdef0123456789", *pem_body, "1//0refresh",
                   "eyJhbGciOiJSUzI1NiJ9.federated-token-body"):  # fmt: skip
        assert secret in found, secret
    for public in ("AKIAEXAMPLEKEYID0001", str(AGE_KEY), "11111111-1111-1111-1111-111111111111",
                   "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4", "-----BEGIN PRIVATE KEY-----",
                   "deployer@p.iam.gserviceaccount.com", str(google)):  # fmt: skip
        assert public not in found, public
    # A Sops made with an override registers the key it is given, too.
    redactor = Redactor()
    Sops(redactor, cwd=tmp_path, env={"SOPS_AGE_KEY": AGE_KEY.read_text()})
    assert AGE_LINE not in redactor.scrub(f"x {AGE_LINE} y")


# --- point 6: nothing decrypted outlives a killed run ----------------------------


def _start_deploy(denv: DeployEnv, clusters: list[str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TMPDIR": str(denv.tmp),
        "HOME": str(denv.home),
        "SOPS_AGE_KEY_FILE": str(AGE_KEY),
        "PATH": denv.fakes.path,
    }
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.Popen(
        [*_command(), "--repo", str(denv.fleet), "deploy", "--plan", str(denv.plan(clusters)),
         "--progress", "plain", "--no-health-check", "--report", str(denv.out / "r.json")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _until(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s")
        time.sleep(0.01)


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _watchdog_of(pid: int) -> int:
    for child in _children_of(pid):
        try:
            if b"watchdog.py" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            continue
    raise AssertionError(f"process {pid} has no watchdog")


def _upgrades_hanging(denv: DeployEnv, count: int) -> Callable[[], bool]:
    def ready() -> bool:
        started = [c for c in denv.fakes.started("helm") if c["argv"][:1] == ["upgrade"]]
        return len(started) >= count

    return ready


def _helm_pids(denv: DeployEnv) -> list[int]:
    return [call["pid"] for call in denv.fakes.started("helm")]


def _creds_folders(denv: DeployEnv) -> list[Path]:
    return sorted(denv.tmp.glob("hubfleet-creds-*"))


def test_sigkill_during_deploy_kills_helm_and_removes_the_credentials(denv: DeployEnv) -> None:
    """The watchdog: helm (ignoring SIGTERM, too) stopped, the kubeconfig removed at once;
    a rerun then succeeds and leaves nothing."""
    denv.fakes.script([{"tool": "helm", "args": ["upgrade"], "hang": True, "ignore_sigterm": True}])
    process = _start_deploy(denv, ["delta"])
    try:
        _until(_upgrades_hanging(denv, 1), "hanging helm upgrade")
        [folder] = _creds_folders(denv)
        assert (folder / "kubeconfig").read_text().count(SECRET_MARKER)  # the bearer token
        watchdog = _watchdog_of(process.pid)
        process.kill()
        process.wait(timeout=WAIT_S)
        _until(lambda: not any(alive(pid) for pid in _helm_pids(denv)), "helm stopped", 15)
        _until(lambda: _creds_folders(denv) == [], "credentials removed", 15)
        _until(lambda: not alive(watchdog), "the watchdog's exit", 15)
    finally:
        process.kill()
    denv.fakes.script([])
    rerun = _start_deploy(denv, ["delta"])
    _out, err = rerun.communicate(timeout=WAIT_S)
    assert rerun.returncode == 0, err.decode()
    assert _creds_folders(denv) == [] and list(denv.tmp.iterdir()) == []
    assert not any(alive(pid) for pid in _helm_pids(denv))


def test_rerun_sweeps_what_a_killed_run_and_its_watchdog_left(denv: DeployEnv) -> None:
    """Watchdog killed as well (the worst case): the folder with the bearer token
    stays until the next run, whose first private folder sweeps it."""
    denv.fakes.script([{"tool": "helm", "args": ["upgrade"], "hang": True}])
    process = _start_deploy(denv, ["delta"])
    helm: list[int] = []
    try:
        _until(_upgrades_hanging(denv, 1), "hanging helm upgrade")
        watchdog = _watchdog_of(process.pid)
        os.kill(watchdog, signal.SIGKILL)
        process.kill()
        process.wait(timeout=WAIT_S)
        _until(lambda: not alive(watchdog), "the watchdog's end", 15)
        helm = [pid for pid in _helm_pids(denv) if alive(pid)]
        [left] = _creds_folders(denv)
        assert SECRET_MARKER in (left / "kubeconfig").read_text()
    finally:
        process.kill()
        for pid in helm:  # orphans of this worst case: not the rerun's business
            os.kill(pid, signal.SIGKILL)
    denv.fakes.script([])
    rerun = _start_deploy(denv, ["delta"])
    _out, err = rerun.communicate(timeout=WAIT_S)
    assert rerun.returncode == 0, err.decode()
    assert not left.exists()
    assert list(denv.tmp.iterdir()) == []


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def _owned_folder(tmp: Path, owner: sweep.Owner, cluster: str = "c1") -> Path:
    folder = tmp / f"{sweep.PREFIX}{cluster}-abc123_x.{owner.token()}"
    folder.mkdir(mode=0o700)
    (folder / "kubeconfig").write_text("token: s3cr3t\n")
    return folder


def test_sweep_keeps_live_owners_and_removes_dead_and_reused_pids(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    here = sweep.current_owner()
    start = sweep.start_time(sleeper.pid)
    assert start

    def owner(pid: int, start: int, **changes: Any) -> sweep.Owner:
        return replace(here, pid=pid, start=start, **changes)

    live = _owned_folder(tmp_path, owner(sleeper.pid, start))
    mine = _owned_folder(tmp_path, here, "mine")
    reused = _owned_folder(tmp_path, owner(sleeper.pid, start + 1), "reused")
    other_boot = _owned_folder(tmp_path, owner(999_999_999, 1, boot="deadbeef"), "boot")
    other_ns = _owned_folder(tmp_path, owner(999_999_999, 1, pidns=here.pidns + 1), "ns")
    other_host = _owned_folder(tmp_path, owner(999_999_999, 1, host="0badc0de"), "host")
    removed = sweep.sweep_stale(tmp_path)
    assert sorted(removed) == sorted([reused.name, other_boot.name])
    assert live.exists() and mine.exists() and other_ns.exists() and other_host.exists()
    sleeper.kill()
    sleeper.wait()
    assert sweep.sweep_stale(tmp_path) == [live.name]
    assert mine.exists() and other_ns.exists() and other_host.exists()


def test_sweep_never_touches_what_is_not_ours(tmp_path: Path) -> None:
    dead = replace(sweep.current_owner(), pid=999_999_999, start=5)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep me")
    where = tmp_path / "tmp"
    where.mkdir()
    link = where / f"{sweep.PREFIX}c1-linklink.{dead.token()}"
    link.symlink_to(outside)
    other_prefix = where / f"hubfleet-cache-c1-abcdefgh.{dead.token()}"
    other_prefix.mkdir(mode=0o700)
    no_owner = where / f"{sweep.PREFIX}c1-abcdefgh"  # a folder of an older hubfleet
    no_owner.mkdir(mode=0o700)
    wide = where / f"{sweep.PREFIX}c2-abcdefgh.{dead.token()}"
    wide.mkdir(mode=0o755)
    a_file = where / f"{sweep.PREFIX}c3-abcdefgh.{dead.token()}"
    a_file.write_text("a file, not a folder")
    stale = _owned_folder(where, dead, "c4")
    inner_link = stale / "escape"
    inner_link.symlink_to(outside)
    assert sweep.sweep_stale(where) == [stale.name]
    assert not stale.exists()
    assert (outside / "keep").read_text() == "keep me"  # not followed through either link
    assert link.is_symlink() and other_prefix.exists() and no_owner.exists()
    assert wide.exists() and a_file.exists()


# --- point 6: SIGINT in the first milliseconds ------------------------------------


def _recorder_installed(pid: int) -> bool:
    """SIGTERM is caught: the entry module's first lines have run (Python's own
    handler covers SIGINT only)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except FileNotFoundError:
        pass
    return False


@pytest.mark.parametrize("attempt", range(3))
def test_sigint_while_importing_exits_130_without_traceback(denv: DeployEnv, attempt: int) -> None:
    env = {**os.environ, "TMPDIR": str(denv.tmp), "HOME": str(denv.home)}
    process = subprocess.Popen(
        [*_command(), "--repo", str(denv.fleet), "validate"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _until(lambda: _recorder_installed(process.pid) or process.poll() is not None, "recorder")
    before_interrupt = not handlers_installed(process.pid)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=WAIT_S)
    assert process.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    assert err.decode().strip() == "error: interrupted"
    print(f"SIGINT before hubfleet.base.interrupt was imported: {before_interrupt}")


# --- point 7: no secret on any argv -----------------------------------------------


# Identifiers in the azure key that az needs on its argv (`--username`, `--tenant`), as
# the AWS key's AccessKeyId: names of the credential, not the credential.
IDENTIFIERS = frozenset({"appId", "tenant", "service_principal_id", "tenant_id", "AccessKeyId"})


def _without_identifiers(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_identifiers(v) for k, v in data.items() if k not in IDENTIFIERS}
    if isinstance(data, list):
        return [_without_identifiers(v) for v in data]
    return data


def _decrypted_values(fleet: Path) -> list[str]:
    redactor = Redactor()
    sops = Sops(redactor, cwd=fleet, env={"SOPS_AGE_KEY_FILE": str(AGE_KEY)})
    values: list[str] = [AGE_LINE]
    for path in sorted((fleet / "config").rglob("enc-*")):
        data = _without_identifiers(sops.decrypt_data(path))
        values += [v for v in leaf_strings(data) if len(v) >= 6]
    assert any(SECRET_MARKER in v for v in values)
    return values


class CmdlineScan:
    """Reads /proc/PID/cmdline of every descendant of this process, every few ms."""

    def __init__(self) -> None:
        self.seen: dict[int, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CmdlineScan:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        root = os.getpid()
        while not self._stop.is_set():
            parents: dict[int, int] = {}
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        stat = Path(f"/proc/{entry}/stat").read_text()
                        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
                    except (OSError, IndexError, ValueError):
                        continue
            for pid in parents:
                chain, cursor = 0, pid
                while cursor in parents and cursor != root and chain < 20:
                    cursor, chain = parents[cursor], chain + 1
                if cursor == root and pid != root and pid not in self.seen:
                    try:
                        self.seen[pid] = Path(f"/proc/{pid}/cmdline").read_bytes()
                    except OSError:
                        continue
            time.sleep(0.005)


PROVIDER_CLUSTERS = {"gcp": "alpha", "aws": "beta", "kubeconfig": "delta", "azure": "gamma"}


@pytest.mark.parametrize("provider", sorted(PROVIDER_CLUSTERS))
def test_no_decrypted_value_on_any_command_line(
    run_cli: Any, denv: DeployEnv, provider: str
) -> None:
    cluster = PROVIDER_CLUSTERS[provider]
    secrets = _decrypted_values(denv.fleet)
    # Every fake call lasts long enough to be seen in /proc while it runs.
    denv.fakes.script([], default={"sleep": 0.25})
    with CmdlineScan() as scan:
        result = run_cli(
            "--repo", denv.fleet, "deploy", "--plan", denv.plan([cluster]), "--progress",
            "plain", "--no-health-check", "--report", denv.out / "report.json",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    fake_pids = {c["pid"] for tool in denv.fakes.tools for c in denv.fakes.started(tool)}
    assert fake_pids and fake_pids <= set(scan.seen), "a fake ran unseen"
    for pid, cmdline in scan.seen.items():
        assert find_secrets(cmdline, secrets) == [], (pid, cmdline)
        assert SECRET_MARKER.encode() not in cmdline
    for tool in denv.fakes.tools:  # the recorded argv of every call, too
        for call in denv.fakes.calls(tool):
            assert find_secrets(json.dumps(call["argv"]).encode(), secrets) == [], call["argv"]


def test_az_login_reads_the_secret_from_stdin(run_cli: Any, denv: DeployEnv) -> None:
    result = run_cli(
        "--repo", denv.fleet, "deploy", "--plan", denv.plan(["gamma"]), "--progress", "plain",
        "--no-health-check", "--report", denv.out / "report.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [login] = [c for c in denv.fakes.calls("az") if c["argv"][:1] == ["login"]]
    assert "--password=@-" in login["argv"]
    assert not any(SECRET_MARKER in word for word in login["argv"])
    assert denv.fakes.stdin(login) == b"gamma-sp-password-s3cr3t"
    others = [c for c in denv.fakes.calls("az") if c["argv"][:1] != ["login"]]
    assert others and all(denv.fakes.stdin(c) == b"" for c in others)
