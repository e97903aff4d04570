"""Jsonnet values files, evaluated with the Go implementation (`gojsonnet`) in a child.

A `.jsonnet` values file is evaluated with the facts of the release it is for as
external string variables (`<prefix>CLUSTER_NAME`, `<prefix>PROVIDER`,
`<prefix>ACCOUNT_ID`, and for a hub `<prefix>HUB_NAME`, `<prefix>HUB_DOMAIN`),
and the file's own folder on the import path. The result is JSON bytes, which
helm takes as a values file like any other.

The file's path is given to the evaluator as written, not resolved: a chart's
`values.jsonnet` may be a link to another chart's, and `std.thisFile` and
relative imports then see the link's path (as the Go `jsonnet` command does).

Bounded: every file read (the top file and each import) must be a regular file
inside the repository, reached without a link leaving it (opened confined, see
`hubfleet.base.confined`) and at most `MAX_FILE_BYTES`; an import that fails
(missing or refused; `importstr` and `importbin` too) is an error at the importing
file and line; the evaluator's stack is
limited (`MAX_STACK`), and so is the size of the result. Errors name the
repository-relative file and line where the evaluator stopped.

The Go evaluator cannot be interrupted, so each evaluation runs in a child process
(`hubfleet.helm.jsonnet_child`, a long-lived evaluator of `hubfleet.helm.jsonnet_pool`
that evaluates many files one at a time, each with its own limits and VM; started like
the runner's programs: explicit argv, scrubbed environment) with a time limit
(`DEFAULT_TIMEOUT_S`) and a memory limit (RLIMIT_DATA, `DEFAULT_MEMORY_BYTES`). The
time limit counts the child's processor time (RLIMIT_CPU), so a busy machine (a CI
runner running tests on every core) cannot make a normal evaluation time out; a wall-
clock limit of `WALL_FACTOR` times it, and at least `WALL_MIN_S` more, stops a child
that waits instead of computing. A hostile file (an endless loop, a huge range, an
endless tail call) is stopped and reported at the file, line 1, like any other jsonnet
error (exit 2; a deploy's job fails). The environment variables
`HUBFLEET_JSONNET_TIMEOUT` (seconds) and `HUBFLEET_JSONNET_MEMORY_MIB` change the
limits (tests lower them). A new child costs tens of milliseconds, mostly Python's
start, so the pool keeps one per processor and replaces only a child that exceeded a
limit or crashed (benchmarks/bench_jsonnet.py prints the figures).

`jsonnet_dependencies` finds, without evaluating, the files a jsonnet file may
read (imports followed statically, link targets included): the plan treats them
as dependencies of every release the file is evaluated for.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubfleet.base.errors import ConfigError, Problem
from hubfleet.base.runner import tail
from hubfleet.helm import jsonnet_pool
from hubfleet.helm.jsonnet_deps import MAX_FILE_BYTES as MAX_FILE_BYTES
from hubfleet.helm.jsonnet_deps import MAX_IMPORTS as MAX_IMPORTS
from hubfleet.helm.jsonnet_deps import is_jsonnet as is_jsonnet
from hubfleet.helm.jsonnet_deps import jsonnet_dependencies as jsonnet_dependencies
from hubfleet.helm.jsonnet_deps import new_reader
from hubfleet.helm.jsonnet_reader import Reader

DEFAULT_EXT_VAR_PREFIX = "VARS_2I2C_"
MAX_STACK = 500
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
MIB = 1024 * 1024
# Per evaluation (each in its own child process): processor seconds, RLIMIT_DATA bytes.
DEFAULT_TIMEOUT_S = 30.0
WALL_FACTOR = 4.0  # the wall-clock backstop: this many times the processor time ...
WALL_MIN_S = 30.0  # ... and at least this much more
DEFAULT_MEMORY_BYTES = 1024 * MIB
TIMEOUT_VARIABLE = "HUBFLEET_JSONNET_TIMEOUT"
MEMORY_VARIABLE = "HUBFLEET_JSONNET_MEMORY_MIB"
# Isolated (-I): no PYTHON* variables, no user site, no current folder on sys.path
# (the fleet repository's files are never importable by the child).
CHILD_ARGV = (sys.executable, "-I", "-m", "hubfleet.helm.jsonnet_child")
# Exit code of a child that ran out of memory in Python (hubfleet.helm.jsonnet_child).
EXIT_MEMORY = 3
HINT = "the values of a .jsonnet file are what it evaluates to; check it with these variables set"

_LOCATION = re.compile(r"(?P<file>/[^\s:()]+):(?P<line>\d+)(?::\d+)?")


@dataclass(frozen=True)
class JsonnetFacts:
    """What a release tells its jsonnet files (hub name and domain: hubs only)."""

    cluster_name: str
    provider: str
    account_id: str | None
    hub_name: str | None = None
    hub_domain: str | None = None

    def ext_vars(self, prefix: str) -> dict[str, str]:
        found = {f"{prefix}CLUSTER_NAME": self.cluster_name}
        if self.hub_name is not None:
            found[f"{prefix}HUB_NAME"] = self.hub_name
        if self.hub_domain is not None:
            found[f"{prefix}HUB_DOMAIN"] = self.hub_domain
        found[f"{prefix}PROVIDER"] = self.provider
        # The other deployer passes the text "None" when there is no account: so do we.
        found[f"{prefix}ACCOUNT_ID"] = str(self.account_id)
        return found


@dataclass(frozen=True)
class JsonnetLimits:
    """How long one evaluation may run and how much memory its child may take."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_bytes: int = DEFAULT_MEMORY_BYTES

    @property
    def cpu_seconds(self) -> int:
        """RLIMIT_CPU counts whole seconds: the timeout rounded up."""
        return max(1, math.ceil(self.timeout_s))

    @property
    def wall_s(self) -> float:
        """The wall-clock backstop, for a child that waits rather than computes."""
        return self.timeout_s * WALL_FACTOR + WALL_MIN_S

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> JsonnetLimits:
        """The defaults, or `HUBFLEET_JSONNET_TIMEOUT` (seconds) and
        `HUBFLEET_JSONNET_MEMORY_MIB` when set (tests lower them)."""
        environ = os.environ if environ is None else environ
        timeout = _positive(environ, TIMEOUT_VARIABLE, DEFAULT_TIMEOUT_S)
        memory = _positive(environ, MEMORY_VARIABLE, DEFAULT_MEMORY_BYTES / MIB)
        return cls(timeout_s=timeout, memory_bytes=int(memory * MIB))


def _positive(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ConfigError(
            [Problem(name, 0, f"{text!r} is not a positive number", "unset it for the default")]
        )
    return value


def render_jsonnet(
    root: Path, path: str, ext_vars: Mapping[str, str], *, limits: JsonnetLimits | None = None
) -> bytes:
    """Evaluate the repository-relative `path` under `root`; the JSON result as bytes.

    In a child process (`hubfleet.helm.jsonnet_child`) with `limits` (default: from the
    environment): an evaluation that runs too long or needs too much memory is stopped
    and reported at the file, like any other jsonnet error."""
    limits = JsonnetLimits.from_environment() if limits is None else limits
    reader = new_reader(root)
    top = reader.root / path
    request = {
        "root": str(reader.root),
        "path": path,
        "ext_vars": dict(ext_vars),
        "search": [str(top.parent)],
        "max_stack": MAX_STACK,
        "max_file_bytes": MAX_FILE_BYTES,
        "max_output_bytes": MAX_OUTPUT_BYTES,
        "max_imports": MAX_IMPORTS,
        "memory_bytes": limits.memory_bytes,
        "cpu_seconds": limits.cpu_seconds,
    }
    outcome = jsonnet_pool.pool(limits.memory_bytes).evaluate(
        request, limits.cpu_seconds, limits.wall_s
    )
    if outcome.timed_out:
        raise _too_long(path, limits)
    if outcome.answer is None:
        returncode = outcome.returncode if outcome.returncode is not None else -signal.SIGKILL
        if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise _too_long(path, limits)  # past RLIMIT_CPU's soft (SIGXCPU) or hard limit
        raise _crashed(path, returncode, outcome.stderr, limits)
    answer = outcome.answer
    if "import_error" in answer:
        failed = answer["import_error"]
        raise ConfigError(
            [
                Problem(
                    str(failed["path"]),
                    int(failed["line"]),
                    f"jsonnet: {failed['message']}",
                    "a jsonnet file imports only files inside the repository that exist "
                    "(beside it or in its chart)",
                )
            ]
        )
    if "runtime_error" in answer:
        raise _error(reader, path, str(answer["runtime_error"]))
    if "refused" in answer:
        refused = answer["refused"]
        raise ConfigError([Problem(str(refused["path"]), 1, str(refused["message"]))])
    return str(answer["json"]).encode()


def _too_long(path: str, limits: JsonnetLimits) -> ConfigError:
    return ConfigError(
        [
            Problem(
                path,
                1,
                f"jsonnet evaluation stopped after {limits.timeout_s:g} s",
                f"the evaluation took more than {limits.timeout_s:g} s: an endless loop or "
                f"a very large result? ({TIMEOUT_VARIABLE} sets the limit in seconds)",
            )
        ]
    )


def _crashed(path: str, returncode: int, stderr: str, limits: JsonnetLimits) -> ConfigError:
    """The child ended without an answer: out of memory, the Go stack overflowed, or else."""
    fatal = next(
        (line.strip() for line in stderr.splitlines() if line.startswith("fatal error:")), ""
    )
    mib = limits.memory_bytes // MIB
    if returncode == EXIT_MEMORY or "out of memory" in fatal or "cannot allocate" in fatal:
        message = f"jsonnet evaluation stopped: it needed more than {mib} MiB of memory"
        hint = (
            "an endless recursion or a very large result? "
            f"({MEMORY_VARIABLE} sets the limit in MiB)"
        )
    elif "stack overflow" in fatal:
        message = "jsonnet evaluation stopped: the evaluator's stack overflowed"
        hint = "an endless recursion (tail calls too)?"
    else:
        message = f"jsonnet evaluation failed (exit {returncode}): {fatal or tail(stderr, 1)}"
        hint = HINT
    return ConfigError([Problem(path, 1, message, hint)])


def render_jsonnet_data(root: Path, path: str, ext_vars: Mapping[str, str]) -> dict[str, Any]:
    """Like `render_jsonnet`, parsed; the result must be an object (a values mapping)."""
    return jsonnet_values(path, render_jsonnet(root, path, ext_vars))


def jsonnet_values(path: str, result: bytes) -> dict[str, Any]:
    """The values mapping of `path`'s evaluated JSON `result` (null: no values)."""
    data = json.loads(result)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            [Problem(path, 1, "a jsonnet values file must evaluate to an object", HINT)]
        )
    return data


def _error(reader: Reader, path: str, message: str) -> ConfigError:
    """The evaluator's message as a problem at the file and line it names."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    where, line = path, 1
    for found in _LOCATION.finditer(message):
        relative = reader.relative(found.group("file"))
        if relative != found.group("file"):
            where, line = relative, int(found.group("line"))
            break
    first = lines[0] if lines else "evaluation failed"
    first = _LOCATION.sub(lambda m: reader.relative(m.group(0)), first)
    return ConfigError([Problem(where, line, f"jsonnet: {first}", HINT)])
