"""Every upgrade hubfleet makes carries its record; a rollback's is read from the history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.config.load import load_fleet
from hubfleet.deploy.orchestrator import DeployOptions
from hubfleet.live.digest import Digests
from hubfleet.live.query import ClusterState, read_cluster
from hubfleet.live.record import UNCOMMITTED, parse
from hubfleet.release.pipeline import hub_release, support_release
from hubfleet.release.values import ReleaseValues
from hubfleet.secrets.sops import Sops
from tests.deploy.conftest import DeployEnv, deployer
from tests.deploy.rollout_states import fast_watch, manifest, state
from tests.fakes.helmstate import HelmState
from tests.helpers import GitFleet


def live(denv: DeployEnv, cluster: str) -> ClusterState:
    fleet = load_fleet(denv.fleet).fleet
    redactor = Redactor()
    return read_cluster(
        fleet, fleet.cluster(cluster), sops=Sops(redactor, cwd=denv.fleet), redactor=redactor
    )


@pytest.fixture
def helm_state(denv: DeployEnv) -> HelmState:
    found = HelmState(denv.out / "clusters")
    denv.fakes.script([], helm_state=found.folder)
    return found


def test_each_upgrade_records_commit_digest_and_version(
    denv: DeployEnv, helm_state: HelmState
) -> None:
    head = GitFleet.started(denv.fleet).git("rev-parse", "HEAD")
    report = deployer(denv, ["delta"]).run()
    assert report.exit_code == 0, [r.message for r in report.records]
    fleet = load_fleet(denv.fleet).fleet
    digests = Digests(ReleaseValues(fleet, sops=None))
    cluster = fleet.cluster("delta")
    releases = [hub_release(fleet, hub) for hub in cluster.hubs]
    support = support_release(fleet, cluster)
    assert support is not None
    state = live(denv, "delta")
    for release in [support, *releases]:
        found = state.get(release.name, release.namespace)
        assert found is not None and found.origin == "hubfleet", release.name
        assert found.record is not None
        assert found.record.commit == head
        assert found.record.digest == digests.of(release)
    for upgrade in denv.upgrades():
        [description] = [a for a in upgrade["argv"] if a.startswith("--description=")]
        assert parse(description.removeprefix("--description=")) is not None
        # The fake helm is 3.16: release labels too.
        [labels] = [a for a in upgrade["argv"] if a.startswith("--labels=")]
        assert f"hubfleet-commit={head}" in labels and "hubfleet=1" in labels
        assert upgrade["argv"].index("--") > upgrade["argv"].index(labels)
    latest = helm_state.latest("delta", "prod", "prod")
    assert latest is not None and latest["labels"]["hubfleet-commit"] == head


def test_a_checkout_with_changes_records_uncommitted(
    denv: DeployEnv, helm_state: HelmState
) -> None:
    repo = GitFleet.started(denv.fleet)
    repo.edit("config/clusters/delta/prod.values.yaml", "\n", "\n# local change\n")
    assert deployer(denv, ["delta"]).run().exit_code == 0
    found = live(denv, "delta").get("prod", "prod")
    assert found is not None and found.record is not None
    assert found.record.commit == UNCOMMITTED


def test_helm_without_labels_gets_the_description_only(
    denv: DeployEnv, helm_state: HelmState
) -> None:
    denv.fakes.script(
        [{"tool": "helm", "args": ["version"], "stdout": "v3.12.3+g3a31588\n"}],
        helm_state=helm_state.folder,
    )
    assert deployer(denv, ["delta"]).run().exit_code == 0
    upgrades = denv.upgrades()
    assert upgrades and all(
        not any(a.startswith("--labels") for a in u["argv"])
        and any(a.startswith("--description=hubfleet/1 ") for a in u["argv"])
        for u in upgrades
    )


def test_an_automatic_rollback_says_which_commit_it_undid(
    denv: DeployEnv, helm_state: HelmState
) -> None:
    repo = GitFleet.started(denv.fleet)
    fast_watch(denv.fleet)
    head = repo.commit("fast watch")
    helm_state.seed("alpha", "staging", "staging", description="Install complete")
    creds = "hubfleet-creds-alpha-"
    denv.fakes.script(
        [
            {
                "tool": "helm",
                "args": ["get", "manifest", "staging"],
                "contains": creds,
                "stdout": manifest("staging"),
            },
            {
                "tool": "kubectl",
                "args": ["get", "deploy,sts,ds,pods", "--namespace=staging"],
                "contains": creds,
                "states": [state("pending"), state("crashloop")],
            },
        ],
        helm_state=helm_state.folder,
    )
    report = deployer(denv, ["alpha"], options=DeployOptions(helm_timeout="10m")).run()
    canary = {r.job.label: r for r in report.records}["alpha/staging"]
    assert canary.status == "failed" and canary.rolled_back == 1
    history = [
        (r["revision"], r["status"], r["description"][:11])
        for r in helm_state.revisions("alpha", "staging", "staging")
    ]
    assert history == [
        (1, "superseded", "Install com"),
        (2, "superseded", "hubfleet/1 "),
        (3, "deployed", "Rollback to"),
    ]
    found = live(denv, "alpha").get("staging", "staging")
    assert found is not None and found.origin == "rollback"
    assert found.record is None  # revision 1 was a person's: what runs has no record
    assert found.last_rollback is not None
    assert found.last_rollback.rolled_back is not None
    assert found.last_rollback.rolled_back.commit == head
    assert json.dumps(found.last_rollback.to_revision) == "1"


def test_only_changes_that_can_be_inputs_make_a_checkout_uncommitted(tmp_path: Path) -> None:
    from hubfleet.live.checkout import checkout_commit

    root = tmp_path / "fleet"
    (root / "config/clusters/a").mkdir(parents=True)
    (root / "config/clusters/a/cluster.yaml").write_text("name: a\n")
    (root / "README.md").write_text("x\n")
    repo = GitFleet.started(root)
    head = repo.git("rev-parse", "HEAD")
    redactor = Redactor()
    assert checkout_commit(root, redactor) == head
    (root / "plan.json").write_text("{}")  # a CI job's own file
    (root / "hubfleet-reports").mkdir()
    (root / "hubfleet-reports/a.json").write_text("{}")
    (root / ".hubfleet").mkdir()
    (root / ".hubfleet/x").write_text("state")
    assert checkout_commit(root, redactor) == head
    (root / "config/clusters/a/new.values.yaml").write_text("a: 1\n")  # untracked input
    assert checkout_commit(root, redactor) == UNCOMMITTED
    (root / "config/clusters/a/new.values.yaml").unlink()
    (root / "README.md").write_text("changed\n")  # any tracked change
    assert checkout_commit(root, redactor) == UNCOMMITTED
    assert checkout_commit(tmp_path / "not-a-repo", redactor) == UNCOMMITTED


def test_a_fleet_inside_a_larger_repository_counts_its_own_folder(tmp_path: Path) -> None:
    from hubfleet.live.checkout import checkout_commit

    (tmp_path / "fleet/config").mkdir(parents=True)
    (tmp_path / "fleet/config/a.yaml").write_text("a: 1\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    repo = GitFleet.started(tmp_path)
    head = repo.git("rev-parse", "HEAD")
    (tmp_path / "code.py").write_text("x = 2\n")  # the larger repository's own change
    assert checkout_commit(tmp_path / "fleet", Redactor()) == head
    (tmp_path / "fleet/config/a.yaml").write_text("a: 2\n")
    assert checkout_commit(tmp_path / "fleet", Redactor()) == UNCOMMITTED
