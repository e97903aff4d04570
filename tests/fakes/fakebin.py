"""A fake external program (helm, kubectl, gcloud, aws, az, terraform, gh) for tests.

Installed by `tests.fakes.install_fakes` as small shell wrappers:

    exec PYTHON -I -S fakebin.py --fake-tool helm --fake-record-dir D --fake-script S -- "$@"

The record dir and script are baked into the wrapper so that they survive the
runner's scrubbed environment; the variables FAKE_RECORD_DIR and FAKE_SCRIPT,
when set, win. Standard library only, and only modules that import fast: every
test and the deploy benchmark start it hundreds of times, and `json` alone (it
imports `re`, `enum`, ...) would double its start-up. So the script is read in
`marshal` form (`FakeTools.script` writes it beside the JSON; a FAKE_SCRIPT
ending in .json is read with `json`), and records are written by `_encode`.

Each call appends one JSON line to `<record dir>/<tool>.jsonl` when it ends
(normally, or on SIGTERM) and one to `<tool>.started.jsonl` when it starts:

    {"tool", "argv" (without the program name), "env" (all of it), "cwd", "pid",
     "stdin" (base64, or null when stdin was a terminal or empty),
     "values": [{"arg", "path", "kind": fifo|file|char|missing|other, "content"}],
     "start", "end" (time.time()), "exit", "signal" (e.g. "SIGTERM" or null)}

`values` covers every `--values X`, `--values=X`, `-f X`, `-f=X` and `-fX`
argument; the fake reads each (draining a pipe, as helm would).

The script (JSON) is a list of rules, or {"rules": [...], "default": {...}}; the
first rule that matches decides:

    {"tool": "helm",                 optional: only this tool
     "args": ["upgrade", "hub-a"],   optional: every element appears in argv
     "contains": "--namespace hub-a",optional: substring of the space-joined argv
     "exit": 1, "stdout": "...", "stderr": "...",
     "echo_values": true,            write every values file and stdin to stderr
     "sleep": 2.5,                   seconds before exiting
     "hang": true,                   sleep until killed
     "ignore_sigterm": true,         only SIGKILL stops it
     "forward": "127.0.0.1:PORT",    a real port-forward (below)
     "states": ["...", "..."],       stdout of the 1st, 2nd, ... matching call; the
                                     last one repeats (a rollout played step by step)
     "steps": [{"exit": 1, "stderr": "..."}, {}],  the keys of the 1st, 2nd, ...
                                     matching call laid over the rule; the last repeats
     "name": "watch-a"}              names the rule's call counter (default: its index)

`states` and `steps` keep a counter per rule in `<record dir>/<tool>.state-<name>`
(under a lock), so successive calls of the same rule see successive answers; each
such call records its `state` index.

`forward` makes the call a working `kubectl port-forward`: it listens on a free
port of 127.0.0.1, prints `Forwarding from 127.0.0.1:N -> 8000` (after the rule's
stdout), and copies every accepted TCP connection to and from PORT until SIGTERM,
when the call is recorded like any other (`"signal": "SIGTERM"`). Its code is in
portforward.py, imported only for such a rule.

Without a matching rule: exit 0, and `helm version` prints a helm 3 version.

With `"helm_state": DIR` in the script (or FAKE_HELM_STATE set), helm keeps
releases with revisions per cluster and answers list, history, get, status,
upgrade, install, rollback and uninstall from them; a matching rule still wins.
Its code is in helmstate.py, imported only then.

The fake terraform writes the file of a `-out=FILE` argument (as `terraform plan`
does: a saved plan), holding the argv, so a later `apply FILE` finds it.
"""

from __future__ import annotations

import _signal as signal  # `signal` imports enum: 5 ms per start
import binascii
import fcntl
import marshal
import os
import select
import stat
import sys
import time

TYPE_CHECKING = False  # typing itself is slow to import
if TYPE_CHECKING:
    from typing import Any

DEFAULT_OUTPUT = {("helm", "version"): "v3.16.2+g13654a5\n"}


def _options(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    opts: dict[str, str] = {}
    while argv and argv[0] != "--":
        opts[argv[0].removeprefix("--fake-")] = argv[1]
        argv = argv[2:]
    return opts, argv[1:]


_SIGNAL_NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT", signal.SIGHUP: "SIGHUP"}
# JSON string escapes: quote, backslash and the control characters.
_ESCAPES = {i: f"\\u{i:04x}" for i in range(32)} | {ord('"'): '\\"', ord("\\"): "\\\\"}


def _encode(value: object) -> str:
    """JSON for a record's plain values (None, bool, int, float, str, list, dict)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPES) + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_encode(item) for item in value) + "]"
    if isinstance(value, dict):
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ", ".join(f"{_encode(k)}: {_encode(v)}" for k, v in items) + "}"
    raise TypeError(f"cannot record a {type(value).__name__}")


def _append(path: str, record: dict[str, Any]) -> None:
    line = (_encode(record) + "\n").encode("utf-8", errors="replace")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)


def _values_paths(args: list[str]) -> list[tuple[str, str]]:
    found = []
    for index, arg in enumerate(args):
        if arg in ("--values", "-f") and index + 1 < len(args):
            found.append((arg, args[index + 1]))
        elif arg.startswith(("--values=", "-f=")):
            found.append((arg.split("=", 1)[0], arg.split("=", 1)[1]))
        elif arg.startswith("-f") and len(arg) > 2 and not arg.startswith("--"):
            found.append(("-f", arg[2:]))
    return found


def _inspect(arg: str, path: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"arg": arg, "path": path, "kind": "missing", "content": None}
    if path == "-":
        entry["kind"] = "stdin"
        return entry
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return entry
    if stat.S_ISFIFO(mode):
        entry["kind"] = "fifo"
    elif stat.S_ISREG(mode):
        entry["kind"] = "file"
    elif stat.S_ISCHR(mode):
        entry["kind"] = "char"
    else:
        entry["kind"] = "other"
    try:
        with open(path, "rb") as handle:
            entry["content"] = handle.read().decode("utf-8", errors="replace")
    except OSError as exc:
        entry["content"] = None
        entry["error"] = str(exc)
    return entry


def _read_stdin() -> bytes:
    """All of stdin, unless it is a terminal or a pipe nobody writes to (an inherited one)."""
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return b""
    if os.isatty(0):
        return b""
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        ready, _, _ = select.select([0], [], [], 2.0)
        if not ready:
            return b""
    return sys.stdin.buffer.read()


def _load_script(path: str) -> Any:
    with open(path, "rb") as handle:
        if path.endswith(".json"):
            import json

            return json.load(handle)
        return marshal.load(handle)


def _rule(script_path: str, tool: str, args: list[str]) -> dict[str, Any]:
    """The matching rule (marked `_matched`), or the default; `_helm_state`: the
    script's stateful helm folder, if any."""
    if not script_path or not os.path.exists(script_path):
        return {}
    script = _load_script(script_path)
    state = None if isinstance(script, list) else script.get("helm_state")
    chosen = _match(script, tool, args)
    if state:
        chosen["_helm_state"] = state
    return chosen


def _match(script: Any, tool: str, args: list[str]) -> dict[str, Any]:
    rules = script if isinstance(script, list) else script.get("rules", [])
    default = {} if isinstance(script, list) else script.get("default", {})
    joined = " ".join(args)
    for index, rule in enumerate(rules):
        if rule.get("tool") not in (None, tool):
            continue
        if not all(arg in args for arg in rule.get("args", [])):
            continue
        if rule.get("contains") and rule["contains"] not in joined:
            continue
        chosen = dict(rule)
        chosen.setdefault("name", str(index))
        chosen["_matched"] = True
        return chosen
    return dict(default)


def _next_state(record_dir: str, tool: str, name: str) -> int:
    """The number of earlier calls of the rule `name` (then counts this one)."""
    path = os.path.join(record_dir, f"{tool}.state-{name}")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        seen = int(os.read(fd, 32) or b"0")
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str(seen + 1).encode())
    finally:
        os.close(fd)
    return seen


def _stateful(args: list[str]) -> bool:
    """Whether the helm call is one the stateful fake answers (its first word)."""
    words = [a for a in args if not a.startswith("-")]
    return bool(words) and words[0] in (
        "list", "ls", "history", "hist", "get", "status", "upgrade", "install",
        "rollback", "uninstall", "delete",
    )  # fmt: skip


def main() -> int:
    opts, args = _options(sys.argv[1:])
    tool = opts["tool"]
    record_dir = os.environ.get("FAKE_RECORD_DIR") or opts.get("record-dir", "")
    script_path = os.environ.get("FAKE_SCRIPT") or opts.get("script", "")
    start = time.time()
    record: dict[str, Any] = {
        "tool": tool,
        "argv": args,
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "start": start,
        "end": None,
        "exit": None,
        "signal": None,
        "stdin": None,
        "values": [],
    }
    if record_dir:
        os.makedirs(record_dir, exist_ok=True)
        _append(
            os.path.join(record_dir, f"{tool}.started.jsonl"),
            {"tool": tool, "argv": args, "pid": os.getpid(), "start": start},
        )
    rule = _rule(script_path, tool, args)
    if rule.get("states") or rule.get("steps"):
        index = _next_state(record_dir, tool, str(rule["name"]))
        record["state"] = index
        if rule.get("states"):
            rule["stdout"] = rule["states"][min(index, len(rule["states"]) - 1)]
        if rule.get("steps"):
            rule.update(rule["steps"][min(index, len(rule["steps"]) - 1)])

    def finish(code: int, sig: str | None = None) -> None:
        record["end"] = time.time()
        record["exit"] = code
        record["signal"] = sig
        if record_dir:
            _append(os.path.join(record_dir, f"{tool}.jsonl"), record)

    def on_term(signum: int, frame: object) -> None:
        finish(128 + signum, _SIGNAL_NAMES.get(signum, f"signal {signum}"))
        os._exit(128 + signum)

    if rule.get("ignore_sigterm"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, on_term)

    record["values"] = [_inspect(arg, path) for arg, path in _values_paths(args)]
    data = _read_stdin()
    record["stdin"] = binascii.b2a_base64(data, newline=False).decode() if data else None

    if tool == "terraform":
        for arg in args:
            if arg.startswith("-out="):
                with open(arg[len("-out=") :], "w") as handle:
                    handle.write("fake terraform plan: " + " ".join(args) + "\n")
    stdout = rule.get("stdout")
    state_dir = os.environ.get("FAKE_HELM_STATE") or rule.get("_helm_state")
    if tool == "helm" and state_dir and _stateful(args):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I left it out
        import helmstate

        failing = rule.get("_matched") and int(rule.get("exit", 0)) != 0
        out, err, code = helmstate.handle(
            state_dir, args, dict(os.environ), record["values"], rule if failing else None
        )
        if not rule.get("_matched") or "exit" not in rule:
            rule["exit"] = code
        stdout = out if stdout is None else stdout
        rule.setdefault("stderr", err)
    if stdout is None:
        stdout = DEFAULT_OUTPUT.get((tool, args[0] if args else ""), "")
    sys.stdout.write(stdout)
    sys.stdout.flush()
    sys.stderr.write(rule.get("stderr", ""))
    if rule.get("echo_values"):  # a helm that quotes its input in an error
        for entry in record["values"]:
            sys.stderr.write(entry["content"] or "")
        sys.stderr.write(data.decode("utf-8", errors="replace"))
    sys.stderr.flush()
    if rule.get("forward"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I left it out
        import portforward

        portforward.serve(str(rule["forward"]))  # until SIGTERM (on_term records the call)
    if rule.get("hang"):
        while True:
            time.sleep(3600)
    if rule.get("sleep"):
        time.sleep(float(rule["sleep"]))
    code = int(rule.get("exit", 0))
    finish(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
