"""Scrub throughput: ~200 registered secrets, 1 MB of manifest-like text; and masking.

Run: .venv/bin/python benchmarks/bench_redact.py [--secrets N] [--megabytes M]

Prints the time to register the secrets and compile the one regex (every form of
every value), the number of forms, the scrub throughput, and the time to mask the
Secret data of the same text.
"""

from __future__ import annotations

import argparse
import base64
import random
import string
import time

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


if __name__ == "__main__":
    main()
