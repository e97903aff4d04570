"""`plan --rendered` with the real z2jh chart, which generates secrets at render time.

The example fleet's hubs use the remote z2jh chart, which `--rendered` never
renders (only hubs selected by a local chart change are). So the example fleet,
copied to a git repository in tmp, gets a hub whose local wrapper chart has the
real z2jh archive in its `charts/` folder: a chart change then renders z2jh at
base and at head.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hubfleet.base.redact import Redactor
from hubfleet.plan.labels import Labels
from hubfleet.plan.plan import Plan
from hubfleet.plan.planner import RENDERED_IDENTICAL
from hubfleet.plan.revisions import plan_from_git
from tests.conftest import SHARED_CHARTS, TESTS, CliResult
from tests.plan.conftest import GitFleet, units

EXAMPLE_FLEET = TESTS.parent / "examples" / "fleet"

WRAPPER = "helm-charts/hub-wrapper"
TEMPLATE = f"{WRAPPER}/templates/notice.yaml"
CLUSTER = "config/clusters/onprem/cluster.yaml"

CHART_YAML = """\
apiVersion: v2
name: hub-wrapper
version: 0.1.0
dependencies:
- name: jupyterhub
  version: 4.2.0
  repository: https://hub.jupyter.org/helm-chart/
"""
NOTICE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: notice
data:
  note: {{ .Values.note | quote }}
"""
HUB_ENTRY = """\
- name: wrapped
  domain: wrapped.onprem.hubs.example.org
  helm_chart: hub-wrapper
  helm_chart_values_files:
  - wrapped.values.yaml
"""
HUB_VALUES = """\
jupyterhub:
  hub:
    services:
      reporter: {}
"""


@pytest.fixture
def wrapped_fleet(tmp_path: Path) -> GitFleet:
    """The example fleet in a git repository, plus onprem/wrapped on a wrapper of z2jh."""
    archive = SHARED_CHARTS / "jupyterhub-4.2.0.tgz"
    if not archive.is_file():
        pytest.skip(f"the real z2jh chart is not available ({archive} is absent)")
    root = tmp_path / "fleet"
    shutil.copytree(EXAMPLE_FLEET, root, symlinks=False)
    wrapper = root / WRAPPER
    (wrapper / "templates").mkdir(parents=True)
    (wrapper / "charts").mkdir()
    (wrapper / "Chart.yaml").write_text(CHART_YAML)
    (wrapper / "values.yaml").write_text("note: hello\n")
    (wrapper / "templates" / "notice.yaml").write_text(NOTICE)
    shutil.copyfile(archive, wrapper / "charts" / archive.name)
    (root / "config/clusters/onprem/wrapped.values.yaml").write_text(HUB_VALUES)
    with (root / CLUSTER).open("a") as handle:
        handle.write(HUB_ENTRY)
    return GitFleet.started(root)


def rendered_plan(repo: GitFleet) -> Plan:
    return plan_from_git(
        repo.root, base="base", head="HEAD", labels=Labels(), redactor=Redactor(), rendered=True
    )


def test_a_comment_only_chart_commit_selects_no_hub_and_says_why(wrapped_fleet: GitFleet) -> None:
    wrapped_fleet.edit(TEMPLATE, "\ndata:\n", "\n{{- /* a comment only */}}\ndata:\n")
    wrapped_fleet.path(f"{WRAPPER}/README.md").write_text("A wrapper of z2jh.\n")
    wrapped_fleet.commit("comment only")
    result = rendered_plan(wrapped_fleet)
    assert result.empty, result.to_json()
    assert result.warnings == ()
    [skipped] = result.skipped
    assert (skipped.cluster, skipped.hub) == ("onprem", "wrapped")
    reason = skipped.reasons[-1]
    assert reason.startswith(f"{RENDERED_IDENTICAL} except ")
    assert "field(s) the chart randomises" in reason
    # z2jh's generated values (inside the subchart), and a checksum that follows them.
    assert "Secret/-/hub data.hub.config.JupyterHub.cookie_secret" in reason
    assert "Secret/-/hub data.hub.services.reporter.apiToken" in reason
    assert "checksum/secret" in reason
    # The wrapper's own, input-decided resource is not among them.
    assert "ConfigMap/-/notice" not in reason


def test_the_cli_says_why_the_hub_is_skipped(
    wrapped_fleet: GitFleet,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    wrapped_fleet.edit(TEMPLATE, "\ndata:\n", "\n{{- /* a comment only */}}\ndata:\n")
    wrapped_fleet.commit("comment only")
    result: CliResult = run_cli(
        "--repo", wrapped_fleet.root, "plan", "--base", "base", "--rendered", "-o", "json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["staging_jobs"] == [] and data["prod_jobs"] == []
    [skipped] = data["skipped"]
    assert "the chart randomises" in skipped["choice_reason"]


def test_a_real_template_change_still_selects_the_hub(wrapped_fleet: GitFleet) -> None:
    wrapped_fleet.edit(TEMPLATE, "\ndata:\n", '\ndata:\n  added: "yes"\n')
    wrapped_fleet.commit("real chart change")
    result = rendered_plan(wrapped_fleet)
    assert units(result) == {
        "support": [],
        "staging": ["onprem/staging"],
        "prod": ["onprem/wrapped"],
    }
    assert result.skipped == ()
    assert result.warnings == ()


def test_a_change_of_the_subchart_values_still_selects_the_hub(wrapped_fleet: GitFleet) -> None:
    """The wrapper's defaults reach z2jh: an input-decided field of z2jh changes."""
    wrapped_fleet.path(f"{WRAPPER}/values.yaml").write_text(
        "note: hello\njupyterhub:\n  hub:\n    concurrentSpawnLimit: 7\n"
    )
    wrapped_fleet.commit("subchart default")
    result = rendered_plan(wrapped_fleet)
    assert units(result)["prod"] == ["onprem/wrapped"]
    assert result.skipped == ()
