"""Render 100 hubs with the test chart: values check, render, manifest check.

Run: .venv/bin/python benchmarks/bench_render.py [--hubs N] [--compare-library]

Prints the one-time warm-up (chart load, Kubernetes schema loading) apart from
the steady per-hub cost, the manifest check split into reading the YAML and the
compiled schema check. `--compare-library` also times, on one hub's documents,
jsonschema alone (what checks an invalid document and words its problems) and
kubernetes-validate's own `validate()` (what the cached validators replace).
Times are CPU seconds of this process (its Go threads included), not wall: a shared,
loaded machine stretches wall time, not the work done.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from hubfleet.helm import manifests as checks
from hubfleet.helm.engine import check_values, render
from hubfleet.helm.manifests import check_manifests, load_documents, split_documents
from hubfleet.helm.values import merge_values

clock = time.process_time
CHART = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "charts" / "testhub"


def hub_values(index: int) -> dict[str, Any]:
    """Common values, then a hub's own, as a fleet's values files would give."""
    common = {
        "hub": {"config": {"JupyterHub": {"authenticator_class": "github"}}},
        "singleuser": {"memory": {"limit": "4G", "guarantee": "1G"}},
        "proxy": {"service": {"type": "ClusterIP"}},
    }
    own = {
        "hub": {
            "config": {"GitHubOAuthenticator": {"allowed_organizations": [f"org-{index}"]}},
            "image": {"tag": f"4.0.{index % 7}"},
        },
        "singleuser": {
            "image": {"name": f"example/image-{index}", "tag": f"2024.{index % 12 + 1}.1"},
            "memory": {"guarantee": None} if index % 3 == 0 else {},
        },
        "ingress": {"hosts": [f"hub{index}.example.org"]},
        "proxy": {"secretToken": f"token-{index:04d}"},
        "extras": {"enabled": index % 5 != 0, "message": f"hub {index}"},
    }
    return merge_values([common, own])


def one_hub(index: int) -> int:
    values = hub_values(index)
    problems = check_values(CHART, values)
    manifests = render(CHART, values, release=f"hub{index}", namespace=f"hub{index}")
    report = check_manifests(manifests)
    if problems or report.problems or report.unknown_kinds:
        raise SystemExit(f"hub {index}: unexpected problems: {problems} {report}")
    return len(manifests)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hubs", type=int, default=100)
    parser.add_argument("--compare-library", action="store_true")
    args = parser.parse_args()

    started = clock()
    one_hub(-1)
    warmup = clock() - started

    started = clock()
    documents = sum(one_hub(index) for index in range(args.hubs))
    total = clock() - started

    # Break the steady cost down by step.
    steps = {"merge": 0.0, "check_values": 0.0, "render": 0.0, "check_manifests": 0.0}
    steps |= {"  of which YAML": 0.0}
    for index in range(args.hubs):
        t0 = clock()
        values = hub_values(index)
        t1 = clock()
        check_values(CHART, values)
        t2 = clock()
        manifests = render(CHART, values, release=f"hub{index}", namespace="x")
        t3 = clock()
        check_manifests(manifests)
        t4 = clock()
        for text in manifests.values():
            load_documents(text)
        t5 = clock()
        for step, seconds in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            steps[step] += seconds

    print(f"chart: {CHART.name}, hubs: {args.hubs}, manifests rendered: {documents}")
    print(f"warm-up (first hub: chart load + Kubernetes schema load): {warmup * 1000:.1f} ms")
    print(f"total for {args.hubs} hubs: {total * 1000:.1f} ms")
    print(f"per hub: {total * 1000 / args.hubs:.2f} ms")
    for step, seconds in steps.items():
        print(f"  {step:>16}: {seconds * 1000 / args.hubs:.2f} ms/hub")

    if args.compare_library:
        import kubernetes_validate

        manifests = render(CHART, hub_values(1), release="hub1", namespace="hub1")
        docs = split_documents(manifests)
        version = checks.schema_version()
        validators = [checks._validator(version, d["kind"], d["apiVersion"]) for d in docs]
        started = clock()
        for document, validator in zip(docs, validators, strict=True):
            list(validator.iter_errors(document))
        alone = clock() - started
        print(
            f"jsonschema alone on one hub's {len(docs)} documents: {alone * 1000:.1f} ms "
            "(compiled validators; what the check was before jsonschema_rs)"
        )
        started = clock()
        for document in docs:
            kubernetes_validate.validate(document, kubernetes_validate.latest_version(), True)
        library = clock() - started
        print(
            f"kubernetes_validate.validate() on one hub's {len(docs)} documents: "
            f"{library * 1000:.1f} ms (uncached library calls)"
        )


if __name__ == "__main__":
    main()
