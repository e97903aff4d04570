"""Run several hubfleet commands in one child process, under a memory limit.

    python -m tests.adversarial.child SPEC.json

SPEC: {"limit_bytes": int, "commands": [[argv...], ...]}. Each command runs through
hubfleet's real entry point (error handling included); the child prints one JSON
object: per command its exit code, stdout, stderr, seconds and the peak RSS so far.
The data limit (RLIMIT_DATA: private writable memory) is set before hubfleet is imported, so an input that
would need more memory fails here instead of taking the machine.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys
import time


def _vm_peak_kib() -> int:
    """The peak address space of this process, from /proc (reported; not what is limited)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmPeak:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)
    limit = int(spec["limit_bytes"])
    # RLIMIT_DATA, not RLIMIT_AS: each Go runtime in the process (the Helm engine, the
    # jsonnet VM) reserves gigabytes of address space it never touches (PROT_NONE), which
    # RLIMIT_AS counts and RLIMIT_DATA does not; what an input makes hubfleet allocate, it counts.
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    from hubfleet.cli.main import main as hubfleet

    results = []
    real_stdout = sys.stdout
    for argv in spec["commands"]:
        out, err = io.StringIO(), io.StringIO()
        sys.argv = ["hubfleet", *argv]
        started = time.monotonic()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                hubfleet()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except MemoryError:
                code = -1
        results.append(
            {
                "argv": argv,
                "exit": code,
                "stdout": out.getvalue(),
                "stderr": err.getvalue(),
                "seconds": time.monotonic() - started,
                "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "peak_vm_kib": _vm_peak_kib(),
            }
        )
    real_stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
