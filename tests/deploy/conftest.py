"""Deploy tests: the test fleet copy, the test age key, the fakes, a private TMPDIR and HOME.

Extension of tests/fakes (kept here, not in tests/fakes): helpers to write plan
files, to pick the fake helm's calls by verb, and to read call intervals.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import AGE_KEY
from tests.fakes import FakeTools, install_fakes

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.deploy.orchestrator import Deployer
from hubfleet.deploy.targets import from_plan
from hubfleet.secrets.sops import Sops


@dataclass(frozen=True)
class DeployEnv:
    fleet: Path
    tmp: Path  # TMPDIR: where private folders are made
    home: Path
    fakes: FakeTools
    out: Path  # where tests write plans and reports

    def plan(self, clusters: Sequence[str], name: str = "plan.json") -> Path:
        return write_plan(self.fleet, clusters, self.out / name)

    def upgrades(self) -> list[dict[str, Any]]:
        return [c for c in self.fakes.calls("helm") if c["argv"][:1] == ["upgrade"]]


CLUSTERS = {
    "alpha": ("gcp", True, [("staging", True), ("prod1", False), ("prod2", False)]),
    "beta": ("aws", True, [("staging", True), ("research", False)]),
    "delta": ("kubeconfig", True, [("staging-a", True), ("staging-b", True), ("prod", False)]),
    "gamma": ("azure", True, [("prod", False)]),
}


def write_plan(fleet: Path, clusters: Sequence[str], target: Path) -> Path:
    plan: dict[str, Any] = {
        "support_jobs": [],
        "staging_jobs": [],
        "prod_jobs": [],
        # What the plan was made from: each cluster's cluster.yaml changed (every job).
        "planned": planned_record(f"config/clusters/{c}/cluster.yaml" for c in clusters),
    }
    for cluster in sorted(clusters):
        provider, support, hubs = CLUSTERS[cluster]
        if support:
            plan["support_jobs"].append(
                {"cluster_name": cluster, "provider": provider, "reasons": ["test"],
                 "choice_reason": "test"}
            )  # fmt: skip
        for hub, staging in hubs:
            plan["staging_jobs" if staging else "prod_jobs"].append(
                {"cluster_name": cluster, "provider": provider, "hub_name": hub,
                 "reasons": ["test"], "choice_reason": "test"}
            )  # fmt: skip
    target.write_text(json.dumps(plan, indent=1))
    return target


def planned_record(paths: Iterable[str]) -> dict[str, Any]:
    """A plan's `planned` record of changed files (no commits: `--changed-files`)."""
    changes = [{"path": path, "status": "M"} for path in sorted(paths)]
    return {"base": None, "head": None, "changes": changes, "labels": []}


def cluster_rule(cluster: str, release: str, **rule: Any) -> dict[str, Any]:
    """A fake helm rule for one release of one cluster (its private kubeconfig names it)."""
    return {
        "tool": "helm",
        "args": ["upgrade", release],
        "contains": f"hubfleet-creds-{cluster}-",
        **rule,
    }


@pytest.fixture
def denv(fleet_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DeployEnv:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text("user: keep me\n")
    out = tmp_path / "out"
    out.mkdir()
    fakes = install_fakes(tmp_path)
    monkeypatch.setenv("PATH", fakes.path)
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEY))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return DeployEnv(fleet_copy, tmp, home, fakes, out)


def deployer(denv: DeployEnv, clusters: list[str], **kwargs: Any) -> Deployer:
    """A `Deployer` of the plan of `clusters`, in-process (its own redactor and sops)."""
    fleet = load_fleet(denv.fleet).fleet_or_raise()
    redactor = Redactor()
    targets = from_plan(fleet, denv.plan(clusters))
    return Deployer(
        fleet, targets.jobs, sops=Sops(redactor, cwd=fleet.root), redactor=redactor, **kwargs
    )


def release_of(call: dict[str, Any]) -> str:
    """The release a recorded `helm upgrade`/`rollback` acts on: the first word after `--`."""
    words: list[str] = call["argv"]
    return words[words.index("--") + 1]


def namespace_of(call: dict[str, Any]) -> str:
    """The `--namespace=NS` of a recorded helm or kubectl call."""
    [namespace] = [
        w.removeprefix("--namespace=") for w in call["argv"] if w.startswith("--namespace=")
    ]
    return namespace


def by_job(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{j['cluster_name']}/{j['hub_name'] or 'support'}": j for j in report["jobs"]}


def many_hubs(denv: DeployEnv, cluster: str, count: int, parallelism: int | None) -> None:
    """`count` production hubs on `cluster` (in the fleet copy), its own parallelism."""
    path = denv.fleet / "config" / "clusters" / cluster / "cluster.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["hubs"] = [
        {"name": f"hub{i:03d}", "domain": f"hub{i:03d}.{cluster}.example.org",
         "helm_chart_values_files": ["common.values.yaml", "prod.values.yaml"]}
        for i in range(count)
    ]  # fmt: skip
    if parallelism is not None:
        doc["deploy"] = {"parallelism": parallelism}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
