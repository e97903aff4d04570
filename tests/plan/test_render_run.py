"""The renders of `--rendered`: once per input, in worker processes, and cached on
disk holding only masked manifests."""

from __future__ import annotations

from pathlib import Path

from hubfleet.base.redact import STRUCTURAL_KEYS, MaskKey, Redactor
from hubfleet.plan.labels import Labels
from hubfleet.plan.plan import Plan
from hubfleet.plan.rendered import RenderRun
from hubfleet.plan.revisions import plan_from_revisions, read_revisions
from hubfleet.secrets.sops import Sops
from tests.conftest import AGE_KEY
from tests.plan.conftest import GitFleet, units
from tests.secretscan import decrypted_leaves, scan_tree

CONFIGMAP = "helm-charts/testhub/templates/configmap.yaml"
STABLE = MaskKey(b"k" * 40, stable=True)


def plan_with(repo: GitFleet, run: RenderRun) -> Plan:
    with read_revisions(repo.root, base="base", head="HEAD", redactor=Redactor()) as revisions:
        return plan_from_revisions(revisions, Labels(), rendered=True, run=run)


def test_worker_processes_decide_as_this_process_does(git_fleet: GitFleet) -> None:
    git_fleet.edit(CONFIGMAP, "\ndata:\n", '\ndata:\n  added: "yes"\n')
    git_fleet.edit("config/clusters/gamma/prod.values.yaml", "hello from prod", "hi from prod")
    git_fleet.commit("a chart change and a values change")
    alone = RenderRun(STABLE, workers=1)
    pooled = RenderRun(STABLE, workers=2)
    plans = plan_with(git_fleet, alone), plan_with(git_fleet, pooled)
    assert plans[0].to_json() == plans[1].to_json()
    assert len(plans[0].prod_jobs) == 5
    assert alone.renders == pooled.renders > 6  # enough for the pool
    assert alone.changes == pooled.changes


def test_an_unchanged_hub_is_rendered_once_for_both_revisions(git_fleet: GitFleet) -> None:
    """A comment in alpha's common values file: each of alpha's hubs has the same
    input (chart content, merged values) at base and head: one render each."""
    common = "config/clusters/alpha/common.values.yaml"
    git_fleet.edit(common, "hub:\n", "# the hub's settings\nhub:\n")
    git_fleet.commit("a comment")
    run = RenderRun(STABLE, workers=1)
    plan = plan_with(git_fleet, run)
    assert plan.empty
    assert [f"{j.cluster}/{j.hub}" for j in plan.skipped] == [
        "alpha/prod1",
        "alpha/prod2",
        "alpha/staging",
    ]
    assert run.renders == 3 and run.cache_hits == 3


def test_the_disk_cache_holds_only_masked_renders_and_is_reused(
    git_fleet: GitFleet, age_key: Path, tmp_path: Path
) -> None:
    git_fleet.edit(CONFIGMAP, "\ndata:\n", '\ndata:\n  added: "yes"\n')
    git_fleet.commit("a chart change")
    cache = tmp_path / "render-cache"
    sops = Sops(Redactor(), cwd=git_fleet.root)  # the key is here: values decrypted in memory
    first = RenderRun(STABLE, sops=sops, workers=1, cache_dir=cache)
    plan = plan_with(git_fleet, first)
    assert units(plan)["prod"] and first.renders > 0
    again = RenderRun(STABLE, sops=sops, workers=1, cache_dir=cache)
    assert plan_with(git_fleet, again).to_json() == plan.to_json()
    assert again.renders == 0 and again.cache_hits >= first.renders
    # Another mask key finds nothing (its digests would differ).
    other = RenderRun(MaskKey(b"o" * 40, stable=True), sops=sops, workers=1, cache_dir=cache)
    plan_with(git_fleet, other)
    assert other.renders == first.renders
    leaves = decrypted_leaves(git_fleet.root, AGE_KEY, skip_keys=STRUCTURAL_KEYS)
    secrets = sorted(v for v in leaves if len(v) >= 6)
    assert secrets, "the test fleet has encrypted values"
    assert any(cache.iterdir())
    hits = scan_tree(cache, secrets)
    assert hits == [], sorted({(h.secret, h.form) for h in hits})
