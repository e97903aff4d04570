"""The child process that evaluates jsonnet files, under a memory limit.

    python -I -m hubfleet.helm.jsonnet_child < REQUEST.json
    python -I -m hubfleet.helm.jsonnet_child --serve MEMORY_BYTES

The first form answers one request and exits. The second (`--serve`) is a
long-lived evaluator of `hubfleet.helm.jsonnet_pool`: it reads requests and writes
answers, each a frame (a 4-byte big-endian length, then that much JSON), until its
stdin ends; every evaluation gets its own processor-time limit (the soft RLIMIT_CPU
moved to the time used so far plus the request's seconds), its own VM (no external
variable, import or cached file of one evaluation reaches the next) and its own
bounded reader.

`hubfleet.helm.jsonnet` starts it through the runner (explicit argv, scrubbed
environment, a wall-clock timeout after which its process group is killed): the Go
evaluator runs in-process and cannot be interrupted, a child can. The request
(stdin, JSON) carries all the child gets: the repository root, the file's path,
the external variables (release facts, never secrets), the import search folders
and the limits. The data limit (RLIMIT_DATA; the Go runtime reserves address space
it never touches, so RLIMIT_AS would refuse the runtime itself) is set before the
evaluator is loaded: past it the Go runtime aborts ("fatal error: runtime: cannot
allocate memory") and the parent reports the file.

The answer (stdout, JSON, exit 0) is one of `{"json": TEXT}` (the result),
`{"runtime_error": MESSAGE}` (the evaluator's message, with file:line as absolute
paths), `{"import_error": {"path": RELATIVE, "line": N, "message": ...}}` (an
`import`, `importstr` or `importbin` that failed: missing, or refused by the
bounded reader; at the importing file and line, whatever the evaluator made of
it) or `{"refused": {"path": RELATIVE, "message": ...}}` (the top file refused,
or a result over the size limit).

Only the standard library and `_gojsonnet` are imported, so that a child starts fast;
the bounded reader (`hubfleet.helm.jsonnet_reader`) is shared with the parent.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import _gojsonnet

from hubfleet.helm.jsonnet_reader import Reader, Refused

# Exit code of a child that ran out of memory in Python (the Go runtime aborts by itself).
EXIT_MEMORY = 3
# Exit code of a serving child whose inherited processor-time limit is used up.
EXIT_RETIRE = 4
# Bytes of a frame's length (big-endian) in the serving protocol.
FRAME_HEADER = 4


_IMPORT = r"""\b(?:import|importstr|importbin)\s*(?:'{0}'|"{0}")"""


def _failing(name: str, reason: str) -> tuple[str, bytes]:
    return f"<{name}>", f"error {json.dumps(reason)}\n".encode()


def _import_callback(
    reader: Reader, search: tuple[Path, ...], failures: list[tuple[str, str, str]]
) -> Callable[[str, str], tuple[str, bytes]]:
    def import_callback(folder: str, name: str) -> tuple[str, bytes]:
        # Never raise and never return None here: the binding then reports garbage.
        # A file that cannot be read is remembered (the evaluation fails with it, at
        # the importing file, whatever the evaluator made of it: an `importstr`
        # would take the stand-in below as text) and becomes a file that fails.
        found = reader.find(folder, name, search)
        if found is None:
            reason = f"import {name!r}: no such file beside it or in its chart"
            failures.append((folder, name, reason))
            return _failing(name, reason)
        try:
            content = reader.read(found)
        except Refused as exc:
            reason = f"import {name!r}: {exc.message}"
            failures.append((folder, name, reason))
            return _failing(name, reason)
        if content is None:
            reason = f"import {name!r}: no such file beside it or in its chart"
            failures.append((folder, name, reason))
            return _failing(name, reason)
        return str(found), content

    return import_callback


def _importer(reader: Reader, folder: str, name: str) -> tuple[str, int]:
    """The file (repository-relative) and line of the first import of `name` among the
    files read, those in `folder` first."""
    pattern = re.compile(_IMPORT.format(re.escape(name)))
    where = reader.relative(os.path.normpath(folder))
    where = "" if where == "." else where
    texts = sorted(reader.texts.items(), key=lambda item: os.path.dirname(item[0]) != where)
    for path, text in texts:
        match = pattern.search(text)
        if match is not None:
            return path, text.count("\n", 0, match.start()) + 1
    return next(iter(reader.texts), where), 1


def evaluate(request: dict[str, Any]) -> dict[str, Any]:
    """The answer to one request (see the module docstring)."""
    path = str(request["path"])
    reader = Reader(
        Path(request["root"]),
        max_file_bytes=int(request["max_file_bytes"]),
        max_imports=int(request["max_imports"]),
    )
    top = reader.root / path
    try:
        source = reader.read(top)
    except Refused as exc:
        return {"refused": {"path": exc.path, "message": exc.message}}
    if source is None:
        return {"refused": {"path": path, "message": "jsonnet file does not exist"}}
    search = tuple(Path(folder) for folder in request["search"])
    failures: list[tuple[str, str, str]] = []
    try:
        text: str = _gojsonnet.evaluate_snippet(
            str(top),
            source.decode("utf-8", errors="replace"),
            max_stack=int(request["max_stack"]),
            ext_vars={str(k): str(v) for k, v in request["ext_vars"].items()},
            import_callback=_import_callback(reader, search, failures),
        )
    except RuntimeError as exc:
        if failures:
            return _import_failure(reader, failures[0])
        return {"runtime_error": str(exc)}
    if failures:
        return _import_failure(reader, failures[0])
    size = len(text.encode())
    if size > int(request["max_output_bytes"]):
        return {"refused": {"path": path, "message": f"jsonnet result too large ({size} bytes)"}}
    return {"json": text}


def _import_failure(reader: Reader, failure: tuple[str, str, str]) -> dict[str, Any]:
    folder, name, reason = failure
    where, line = _importer(reader, folder, name)
    return {"import_error": {"path": where, "line": line, "message": reason}}


def _limit_memory(limit: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)  # never above what this process may have
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]))
        return
    request = json.loads(sys.stdin.buffer.read())
    _limit_memory(int(request["memory_bytes"]))
    # Processor seconds: SIGXCPU at the soft limit, SIGKILL a second later (the parent
    # reports either as the time limit).
    seconds = int(request["cpu_seconds"])
    _, hard_cpu = resource.getrlimit(resource.RLIMIT_CPU)
    if hard_cpu != resource.RLIM_INFINITY:
        seconds = min(seconds, max(1, hard_cpu - 1))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    try:
        answer = json.dumps(evaluate(request))
    except MemoryError:
        sys.exit(EXIT_MEMORY)
    sys.stdout.write(answer)


def _processor_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def serve(memory_bytes: int) -> None:
    """Answer framed requests until stdin ends (see the module docstring).

    Processor seconds: before each evaluation the soft RLIMIT_CPU is set to the time
    used so far (rounded up) plus the request's seconds, so the kernel's SIGXCPU ends
    an evaluation that runs longer (the parent also kills a child past that time plus
    a second: the hard limit cannot be raised again for the next evaluation). A child
    whose inherited hard limit leaves no room for a whole evaluation exits with
    `EXIT_RETIRE` before evaluating, and the parent starts another (a new child
    evaluates within what it has, as the one-shot form does)."""
    _limit_memory(memory_bytes)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    served = False
    while True:
        header = _read_exactly(stdin, FRAME_HEADER)
        if header is None:
            return
        body = _read_exactly(stdin, int.from_bytes(header, "big"))
        if body is None:
            return
        request = json.loads(body)
        _, hard_cpu = resource.getrlimit(resource.RLIMIT_CPU)  # prlimit(1) may lower it
        soft = math.ceil(_processor_seconds()) + int(request["cpu_seconds"])
        if hard_cpu != resource.RLIM_INFINITY and soft > hard_cpu - 1:
            if served:
                sys.exit(EXIT_RETIRE)
            soft = max(1, hard_cpu - 1)  # a new child: as much as the one-shot form has
        served = True
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard_cpu))
        try:
            answer = json.dumps(evaluate(request)).encode()
        except MemoryError:
            sys.exit(EXIT_MEMORY)
        stdout.write(len(answer).to_bytes(FRAME_HEADER, "big") + answer)
        stdout.flush()


if __name__ == "__main__":
    main()
