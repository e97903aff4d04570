"""The structure of the generated workflows, read back as YAML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.ci.ci_helpers import (
    ACTION,
    ALL,
    CLUSTER,
    COMMENT,
    DEPLOY,
    EXAMPLE_FLEET,
    HEALTH,
    PLAN,
    TEST_FLEET,
    VARIANTS,
    load,
    rendered,
    run_steps,
    step,
)

LOGIN_ACTIONS = {
    "gcp": "google-github-actions/auth@",
    "aws": "aws-actions/configure-aws-credentials@",
    "azure": "azure/login@",
}


def test_deploy_triggers_and_jobs(deploy: dict, cluster: dict) -> None:
    # workflow_dispatch: resume a halted rollout in waves (tests/ci/test_ci_rollout.py)
    assert set(deploy["on"]) == {"pull_request", "push", "workflow_dispatch"}
    assert deploy["on"]["push"]["branches"] == ["main"]
    # The push's clusters are calls of the cluster workflow (terraform apply, then deploy).
    # wave-N, rollout-summary: a plan rolled out in waves (tests/ci/test_ci_waves.py)
    waves = [name for k in range(1, 7) for name in (f"wave-{k}", f"wave-{k}-gate")]
    assert list(deploy["jobs"]) == [
        "plan",
        "auto-merge",
        "cluster",
        *waves,
        "rollout-summary",
        "summary",
        "notify-before",
        "notify-after",
    ]
    assert "needs" not in deploy["jobs"]["plan"]
    assert deploy["jobs"]["cluster"]["needs"] == ["plan", "notify-before"]
    assert deploy["jobs"]["cluster"]["uses"] == f"./{CLUSTER}"
    assert deploy["jobs"]["summary"]["needs"] == ["plan", "cluster"]
    assert set(cluster["on"]) == {"workflow_call"}
    assert list(cluster["jobs"]) == ["terraform-plan", "apply", "values", "deploy", "outcome"]


def test_branch_is_a_setting() -> None:
    from hubfleet.ci.workflows import render_workflows

    data = load(render_workflows(ALL, "0.1.0", branch="trunk")[DEPLOY])
    assert data["on"]["push"]["branches"] == ["trunk"]


def test_pull_requests_plan_read_only(deploy: dict) -> None:
    plan = deploy["jobs"]["plan"]
    # actions: read only to fetch the last rollout's state (an artifact of a run)
    assert plan["permissions"] == {"contents": "read", "actions": "read"}
    plan_step = step(plan, name="Plan")
    env = plan_step["env"]
    assert env["PR_BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"
    assert env["PR_LABELS"] == "${{ toJSON(github.event.pull_request.labels.*.name) }}"
    assert 'args=(--base "$base" --head HEAD --rendered --output json)' in plan_step["run"]
    assert 'args+=(--labels "$PR_LABELS")' in plan_step["run"]
    assert "hubfleet plan --from-json plan.json --output markdown" in plan_step["run"]
    assert '"$GITHUB_STEP_SUMMARY"' in plan_step["run"]
    assert "hubfleet validate" in step(plan, name="Validate the fleet")["run"]
    upload = step(plan, name="Upload the plan")
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["name"] == "hubfleet-plan"
    # rollout-before.json: the state of the last rollout, for the rollout summary
    assert upload["with"]["path"].split() == [
        "plan.json",
        "plan.diff",
        "plan-diff.json",
        "rollout-before.json",
    ]
    # the clusters' (deploy) and summary jobs never run for a pull request
    assert "github.event_name != 'pull_request'" in deploy["jobs"]["cluster"]["if"]
    assert "github.event_name != 'pull_request'" in deploy["jobs"]["summary"]["if"]


def test_matrix_comes_from_the_plan_job(deploy: dict) -> None:
    plan, job = deploy["jobs"]["plan"], deploy["jobs"]["cluster"]
    assert plan["outputs"]["matrix"] == "${{ steps.matrix.outputs.matrix }}"
    assert plan["outputs"]["count"] == "${{ steps.matrix.outputs.count }}"
    assert plan["outputs"]["clusters"] == "${{ steps.matrix.outputs.clusters }}"
    assert plan["outputs"]["cluster-count"] == "${{ steps.matrix.outputs.cluster-count }}"
    matrix_step = step(plan, id="matrix")
    # a force push: every cluster (each reconciles with git, docs/status.md)
    assert 'hubfleet ci matrix --plan plan.json "${every[@]}" --output github' in matrix_step["run"]
    assert matrix_step["env"] == {"EVERY_CLUSTER": "${{ steps.reconcile.outputs.every-cluster }}"}
    # the clusters with helm jobs or a terraform job (tests/ci/test_ci_order.py)
    assert job["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.clusters) }}"
    assert job["strategy"]["fail-fast"] is False
    assert "needs.plan.outputs.cluster-count != '0'" in job["if"]  # an empty matrix is an error
    assert job["with"] == {
        "cluster": "${{ matrix.cluster }}",
        "provider": "${{ matrix.provider }}",
        "terraform": "${{ matrix.terraform }}",
        "deploy": "${{ matrix.deploy }}",
    }
    assert job["secrets"] == "inherit"


def test_one_concurrency_group_per_cluster(deploy: dict, cluster: dict) -> None:
    job = cluster["jobs"]["deploy"]
    assert job["concurrency"] == {
        "group": "hubfleet-deploy-${{ inputs.cluster }}",
        "cancel-in-progress": False,
        "queue": "max",  # waiting runs queue (test_ci_queue.py)
    }
    # a cluster's whole chain (plan, apply, deploy) is one push at a time; the caller's
    # group differs from every group inside (a shared name would deadlock)
    assert deploy["jobs"]["cluster"]["concurrency"] == {
        "group": "hubfleet-cluster-${{ matrix.cluster }}",
        "cancel-in-progress": False,
        "queue": "max",  # waiting runs queue (test_ci_queue.py)
    }
    assert "concurrency" not in cluster  # a called workflow's own group would be the caller's
    # the workflow-level group never cancels a push, and cannot collide with a cluster's
    top = deploy["concurrency"]
    assert top["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    assert not top["group"].startswith("hubfleet-deploy-")


def test_deploy_step(cluster: dict) -> None:
    job = cluster["jobs"]["deploy"]
    deploy_step = step(job, name="Deploy")
    assert deploy_step["env"]["CLUSTER"] == "${{ inputs.cluster }}"
    assert deploy_step["env"]["SOPS_AGE_KEY"] == "${{ secrets.SOPS_AGE_KEY }}"
    script = " ".join(deploy_step["run"].replace("\\\n", " ").split())
    # the push's plan with this cluster's live plan, then that plan deployed
    live = '"$RUNNER_TEMP/hubfleet-live-plan.json"'
    assert (
        'hubfleet plan --from-json plan.json --live --cluster "$CLUSTER" --output json > ' + live
    ) in script
    assert (
        f'deploy_plan={live} fi hubfleet deploy --plan "$deploy_plan" --cluster "$CLUSTER"'
        in script
    )
    # in a rollout in waves, the wave's jobs as planned (tests/ci/test_ci_waves.py)
    assert 'deploy_plan=plan.json wave=() if [ -n "$WAVE" ]; then' in script
    assert '--report "hubfleet-reports/$CLUSTER.json"' in script
    assert '--junit "hubfleet-reports/$CLUSTER.junit.xml"' in script
    download = step(job, name="Download the plan")
    assert download["with"] == {"name": "hubfleet-plan"}
    upload = step(job, name="Upload the report")
    assert upload["if"] == "always()"
    # one per wave of a rollout in waves (a cluster may be in several): tests/ci/test_ci_waves.py
    assert upload["with"]["name"].startswith("hubfleet-report-${{ inputs.cluster }}")
    setup = job["steps"][1]
    assert setup["uses"] == "./.github/actions/hubfleet-setup"
    assert setup["with"] == {"helm": "true"}


def test_secrets_reach_only_the_deploy_step() -> None:
    # The cluster workflow's terraform plan (pushes only) and apply, and the drift
    # and backups steps, also get the sops key, for a cluster's terraform.credentials
    # (tests/ci/test_ci_terraform.py); its values job the optional GitHub App's key.
    # The pull request's terraform plan (hubfleet-terraform.yaml) gets none.
    expected = {
        CLUSTER: ["secrets.SOPS_AGE_KEY"] * 2
        + ["secrets.HUBFLEET_APP_PRIVATE_KEY"]
        + ["secrets.SOPS_AGE_KEY"],
        ".github/workflows/hubfleet-terraform-drift.yaml": ["secrets.SOPS_AGE_KEY"] * 2,
        # the scheduled check of a cluster's hubs (decrypts its credentials), and the
        # owners' webhook URL, only in the steps that send it (tests/ci/test_ci_health.py)
        ".github/workflows/hubfleet-health.yaml": ["secrets.SOPS_AGE_KEY"],
        DEPLOY: ["secrets.HUBFLEET_NOTIFY_WEBHOOK_URL"] * 2,
        # the live plan (and its repair) and status read each cluster's releases
        ".github/workflows/hubfleet-status.yaml": ["secrets.SOPS_AGE_KEY"] * 2,
    }
    for path, text in rendered().items():
        uses = re.findall(r"secrets\.\w+", text)
        assert uses == expected.get(path, []), path
    deploy = load(rendered()[CLUSTER])["jobs"]["deploy"]
    assert step(deploy, name="Deploy")["env"]["SOPS_AGE_KEY"] == "${{ secrets.SOPS_AGE_KEY }}"


def test_summary_job(deploy: dict) -> None:
    job = deploy["jobs"]["summary"]
    assert job["if"].startswith("always()")
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    download = step(job, name="Download the reports")
    assert download["with"]["pattern"] == "hubfleet-report-*"
    assert download["with"]["merge-multiple"] is True
    merge = step(job, name="Merge the reports")
    # the clusters (with their terraform and deploy flags), not only the helm ones
    assert merge["env"] == {
        "PLAN_RESULT": "${{ needs.plan.result }}",
        "MATRIX": "${{ needs.plan.outputs.clusters }}",
        # the clusters whose configuration is broken (docs/isolation.md): the summary fails
        "BROKEN": "${{ needs.plan.outputs.broken }}",
    }
    outcomes = step(job, name="Download the outcomes")
    assert outcomes["with"]["pattern"] == "hubfleet-outcome-*"
    assert outcomes["with"]["path"] == download["with"]["path"]
    assert "hubfleet ci summary" in merge["run"]
    assert '>> "$GITHUB_STEP_SUMMARY"' in merge["run"]


@pytest.mark.parametrize("providers", VARIANTS, ids=lambda p: "-".join(p) or "none")
def test_cloud_login_per_provider(providers: tuple[str, ...]) -> None:
    job = load(rendered(providers)[CLUSTER])["jobs"]["deploy"]
    logins = {
        provider: [s for s in job["steps"] if s.get("uses", "").startswith(prefix)]
        for provider, prefix in LOGIN_ACTIONS.items()
    }
    for provider, found in logins.items():
        if provider not in providers:
            assert found == []
            continue
        (login,) = found
        assert login["if"].startswith(f"inputs.provider == '{provider}'")
        assert re.search(r"@v\d+$", login["uses"])
        for value in login["with"].values():  # identities from repository variables
            assert "secrets." not in str(value)
    assert ("id-token" in job["permissions"]) == any(logins.values())
    if any(logins.values()):
        assert job["permissions"] == {"contents": "read", "id-token": "write"}


@pytest.mark.parametrize("providers", VARIANTS, ids=lambda p: "-".join(p) or "none")
def test_azure_deploys_get_kubelogin_before_the_deploy(providers: tuple[str, ...]) -> None:
    """The shipped AKS module turns on Azure RBAC: its kubeconfig needs kubelogin."""
    steps = load(rendered(providers)[CLUSTER])["jobs"]["deploy"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    found = [i for i, u in enumerate(uses) if u.startswith("azure/use-kubelogin@")]
    if "azure" not in providers:
        assert found == []
        return
    (index,) = found
    deploy = next(i for i, s in enumerate(steps) if s.get("name") == "Deploy")
    assert index < deploy
    assert steps[index]["if"] == "inputs.provider == 'azure'"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", steps[index]["with"]["kubelogin-version"])


def test_identities_come_from_repository_variables(deploy: dict) -> None:
    assert re.findall(r"vars\.(\w+)", rendered()[DEPLOY]) == []  # it logs in nowhere
    text = rendered()[CLUSTER]
    # and the optional GitHub App of the values pull request
    assert set(re.findall(r"vars\.(\w+)", text)) - {"HUBFLEET_APP_CLIENT_ID"} == {
        "GCP_WORKLOAD_IDENTITY_PROVIDER",
        "GCP_SERVICE_ACCOUNT",
        "AWS_ROLE_ARN",
        "AWS_REGION",
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_SUBSCRIPTION_ID",
    }


def test_least_privilege_everywhere() -> None:
    files = rendered()
    for path in (DEPLOY, COMMENT, CLUSTER, HEALTH):
        data = load(files[path])
        assert data["permissions"] == {}
        for name, job in data["jobs"].items():
            perms = job["permissions"]
            assert all(v in ("read", "write") for v in perms.values()), (path, name)
            if job.get("uses") == "./.github/workflows/hubfleet-wave-gate.yaml":
                assert perms == {"contents": "read"}  # a wave's gate and soak: read only
                continue
            if "uses" in job:  # the call of the cluster workflow: the most its jobs may ask for
                assert perms == {"contents": "write", "pull-requests": "write", "id-token": "write"}
                continue
            logs_in = any(
                s.get("uses", "").startswith(tuple(LOGIN_ACTIONS.values())) for s in job["steps"]
            )
            assert ("id-token" in perms) == logs_in, (path, name)
            writes = {k for k, v in perms.items() if v == "write"} - {"id-token"}
            # auto-merge: turns on GitHub's auto-merge of a community-only pull request;
            # summary: posts the deploy's summary (upgrades, rollbacks) on the merged pull request;
            # values: pushes the regenerated values' branch and opens its pull request
            expected = {
                "auto-merge": {"contents", "pull-requests"},
                "summary": {"pull-requests"},
                # the rollout in waves' summary, on the merged pull request too
                "rollout-summary": {"pull-requests"},
                "values": {"contents", "pull-requests"},
                # the owners' notices: a comment on the merged pull request
                "notify-before": {"pull-requests"},
                "notify-after": {"pull-requests"},
                # the health workflow's issues (open, update, close)
                "incidents": {"issues"},
            }.get(name, set())
            assert writes == ({"pull-requests"} if path == COMMENT else expected), (path, name)
    # the one job with write access to the repository has no cloud identity nor sops key
    values = load(files[CLUSTER])["jobs"]["values"]
    assert "id-token" not in values["permissions"]
    assert "SOPS_AGE_KEY" not in json.dumps(values)


def test_every_action_is_pinned_to_a_version() -> None:
    for path, text in rendered().items():
        for s in run_steps(load(text)):
            uses = s.get("uses")
            if uses is None or uses.startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*", uses), (path, uses)


@pytest.mark.parametrize("providers", VARIANTS, ids=lambda p: "-".join(p) or "none")
def test_no_expression_inside_any_run_script(providers: tuple[str, ...]) -> None:
    for path, text in rendered(providers).items():
        for s in run_steps(load(text)):
            if "run" in s:
                assert "${{" not in s["run"], (path, s.get("name"))


def test_composite_action(tmp_path: Path) -> None:
    action = load(rendered()[ACTION])
    assert action["runs"]["using"] == "composite"
    install = next(s for s in action["runs"]["steps"] if s.get("name", "").startswith("Install h"))
    assert install["env"]["HUBFLEET_REQUIREMENT"] == "hubfleet==0.1.0"
    assert all("shell" in s for s in action["runs"]["steps"] if "run" in s)


def test_plan_comment_workflow(comment: dict) -> None:
    deploy_name = load(rendered()[DEPLOY])["name"]
    assert comment["on"] == {"workflow_run": {"workflows": [deploy_name], "types": ["completed"]}}
    assert list(comment["jobs"]) == ["comment"]
    job = comment["jobs"]["comment"]
    assert "github.event.workflow_run.event == 'pull_request'" in job["if"]
    assert job["permissions"] == {
        "actions": "read",
        "contents": "read",
        "pull-requests": "write",
    }
    # nothing of the pull request is checked out or run: only the default branch, whose
    # owners confirm the mentions an artifact carries (tests/plan/test_diffs.py)
    checkouts = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout")]
    assert [c["with"] for c in checkouts] == [
        {
            "ref": "${{ github.event.repository.default_branch }}",
            "path": "trusted",
            "persist-credentials": False,
        }
    ]
    find = step(job, name="Find the pull request")
    assert find["env"]["PAYLOAD_NUMBER"] == (
        "${{ github.event.workflow_run.pull_requests[0].number }}"
    )
    assert find["env"]["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    download = step(job, name="Download the plan")
    assert download["with"]["name"] == "hubfleet-plan"
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    render = step(job, name="Render the comment")
    assert "hubfleet schema plan > plan.schema.json" in render["run"]
    assert 'check-jsonschema --schemafile plan.schema.json "$plan"' in render["run"]
    assert 'hubfleet --repo trusted plan --from-json "$plan" "${diffs[@]}"' in render["run"]
    assert "diffs=(--diff-from hubfleet-plan/plan-diff.json)" in render["run"]
    assert render["env"]["HUBFLEET_REQUIREMENT"] == "hubfleet==0.1.0"
    update = step(job, name="Create or update the comment")
    assert update["env"]["NUMBER"] == "${{ steps.pr.outputs.number }}"
    for s in (render, update):
        assert "marker='<!-- hubfleet-plan -->'" in s["run"]
    assert "-X PATCH" in update["run"]
    assert "-X POST" in update["run"]
    # the number never comes from the artifact
    assert "plan.json" not in find["run"]


def _fleet_names(fleet: Path) -> set[str]:
    names = set()
    for cluster_yaml in sorted((fleet / "config" / "clusters").glob("*/cluster.yaml")):
        names.add(cluster_yaml.parent.name)
        data = yaml.safe_load(cluster_yaml.read_text()) or {}
        names.update(str(h["name"]) for h in data.get("hubs") or [] if "name" in h)
    return names


# Names that are also hubfleet's own vocabulary (a provider, a job kind): a fleet may
# use them for a cluster or hub, and the workflows must use them as words.
VOCABULARY = {"local", "staging", "prod", "support", "gcp", "aws", "azure", "kubeconfig"}


def _names_to_check() -> set[str]:
    import json

    names = _fleet_names(TEST_FLEET)
    if (EXAMPLE_FLEET / "config" / "clusters").is_dir():
        names |= _fleet_names(EXAMPLE_FLEET)
    plan = json.loads(PLAN.read_text())
    for jobs in plan.values():
        for job in jobs:
            names.add(job["cluster_name"])
            if job.get("hub_name"):
                names.add(job["hub_name"])
    return names - VOCABULARY


@pytest.mark.parametrize("providers", VARIANTS, ids=lambda p: "-".join(p) or "none")
def test_no_cluster_or_hub_name_anywhere(providers: tuple[str, ...]) -> None:
    names = _names_to_check()
    assert {"alpha", "beta", "prod1", "staging-a"} <= names  # the check has teeth
    for path, text in rendered(providers).items():
        tokens = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9_.-]*", text))
        assert not names & tokens, (path, sorted(names & tokens))
