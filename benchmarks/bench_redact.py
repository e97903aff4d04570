"""Scrub throughput: ~200 registered secrets, 1 MB of manifest-like text; and masking.

Run: .venv/bin/python benchmarks/bench_redact.py [--secrets N] [--megabytes M]

Prints the time to register the secrets and compile the one regex (every form of
every value), the number of forms, the scrub throughput, and the time to mask the
Secret data of the same text.

Then the deploy's shape (issue 23): 201 jobs, each registering one decrypted file of
five values and then scrubbing what a job shows (an argv, a command line, progress
lines, helm's short output): CPU milliseconds per job to register, to index (the
first scrub after a registration builds its chunk) and to scrub.
"""

from __future__ import annotations

import argparse
import base64
import random
import string
import time
from collections.abc import Callable

from hubfleet.base.redact import Redactor
from hubfleet.helm.masking import mask_text


def secrets(count: int, rng: random.Random) -> list[str]:
    alphabet = string.ascii_letters + string.digits + '-_/+"\\'
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(12, 64))) for _ in range(count)]


def text(size: int, values: list[str], rng: random.Random) -> str:
    """YAML documents, some with a Secret (base64 of a document), some values inside."""
    parts: list[str] = []
    total = 0
    while total < size:
        blob = base64.b64encode(("key: " + rng.choice(values) + "\n" * 40).encode()).decode()
        doc = (
            "---\nkind: ConfigMap\napiVersion: v1\nmetadata:\n  name: cm\ndata:\n"
            + "".join(
                f"  key{i}: {''.join(rng.choices(string.ascii_letters, k=60))}\n" for i in range(40)
            )
            + "---\nkind: Secret\napiVersion: v1\nmetadata:\n  name: s\ndata:\n"
            + f'  values.yaml: "{blob}"\n'
        )
        parts.append(doc)
        total += len(doc)
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--secrets", type=int, default=200)
    parser.add_argument("--megabytes", type=float, default=1.0)
    args = parser.parse_args()
    rng = random.Random(11)
    values = secrets(args.secrets, rng)
    sample = text(int(args.megabytes * 1_000_000), values, rng)
    redactor = Redactor()
    started = time.perf_counter()
    redactor.add_all(values)
    redactor.scrub("warm")  # compiles the pattern
    built = time.perf_counter() - started
    runs = 5
    started = time.perf_counter()
    for _ in range(runs):
        redactor.scrub(sample)
    scrub_s = (time.perf_counter() - started) / runs
    started = time.perf_counter()
    for _ in range(runs):
        mask_text(sample, redactor.mask_key)
    mask_s = (time.perf_counter() - started) / runs
    megabytes = len(sample) / 1_000_000
    print(
        f"{args.secrets} secrets -> {len(redactor)} forms; register + compile {built * 1000:.0f} ms"
    )
    print(f"scrub {megabytes:.2f} MB: {scrub_s * 1000:.0f} ms ({megabytes / scrub_s:.1f} MB/s)")
    rate = megabytes / mask_s
    print(f"mask Secret data of {megabytes:.2f} MB: {mask_s * 1000:.0f} ms ({rate:.1f} MB/s)")
    deploy_shape(rng)


DEPLOY_JOBS = 201
VALUES_PER_JOB = 5


def job_texts(job: int, values: list[str]) -> tuple[list[str], list[str]]:
    """What one job scrubs: its argv, and ~25 short texts (command, progress, output)."""
    argv = ["helm", "upgrade", "--install", "--create-namespace", f"--namespace=hub{job}",
            "--values=/dev/fd/7", "--values=/dev/fd/8", "--cleanup-on-fail", "--timeout=10m",
            "--", f"hub{job}", "/tmp/charts/basehub"]  # fmt: skip
    texts = [" ".join(argv), f"c{job % 30:02d}/hub{job}  prod  running"] * 6
    texts += [f'Release "hub{job}" has been upgraded. Happy Helming!\nREVISION: 3\n'] * 4
    texts += [f"hub{job}  succeeded (0.6s)", "", values[0][:3] + " not a secret"] * 3
    return argv, texts


def deploy_shape(rng: random.Random) -> None:
    redactor = Redactor()
    clock = time.process_time
    spent = {"register": 0.0, "index": 0.0, "scrub": 0.0}

    def timed(part: str, call: Callable[[], object]) -> None:
        started = clock()
        call()
        spent[part] += clock() - started

    for job in range(DEPLOY_JOBS):
        values = secrets(VALUES_PER_JOB, rng)
        argv, texts = job_texts(job, values)
        timed("register", lambda: redactor.add_all(values))  # noqa: B023
        timed("index", lambda: redactor.scrub("x" * 20))
        timed("scrub", lambda: [redactor.scrub_all(argv), *map(redactor.scrub, texts)])  # noqa: B023
    total = sum(spent.values())
    parts = ", ".join(f"{name} {1000 * s / DEPLOY_JOBS:.3f}" for name, s in spent.items())
    print(
        f"deploy shape: {DEPLOY_JOBS} jobs x {VALUES_PER_JOB} values ({len(redactor)} forms): "
        f"{1000 * total / DEPLOY_JOBS:.3f} ms CPU per job ({parts}); {len(redactor.builds)} "
        "chunks built"
    )


if __name__ == "__main__":
    main()
