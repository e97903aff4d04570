"""The generated Terraform workflows: actionlint-clean, schema-valid, no names in the
YAML, no expressions in run: scripts, saved-plan applies behind an environment."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.ci.ci_helpers import BIN, CLUSTER, VARIANTS, load, rendered, write_repo

# Among the slowest files of the suite: scripts/test -m "not slow" leaves it out.
pytestmark = pytest.mark.slow

TERRAFORM = ".github/workflows/hubfleet-terraform.yaml"
COMMENT = ".github/workflows/hubfleet-terraform-comment.yaml"
DRIFT = ".github/workflows/hubfleet-terraform-drift.yaml"
FILES = (TERRAFORM, COMMENT, DRIFT, CLUSTER)


@pytest.mark.parametrize("providers", VARIANTS, ids=lambda p: "-".join(p) or "none")
def test_actionlint_has_no_findings(tmp_path: Path, providers: tuple[str, ...]) -> None:
    write_repo(tmp_path, rendered(providers))
    result = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", *FILES],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_workflows_match_the_github_workflow_schema(tmp_path: Path) -> None:
    write_repo(tmp_path, rendered())
    result = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *(str(tmp_path / f) for f in FILES),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_expression_in_a_run_script_and_no_names() -> None:
    files = rendered()
    for path in FILES:
        data = load(files[path])
        for job in data["jobs"].values():
            for step in job.get("steps", []):
                assert "${{" not in step.get("run", ""), (path, step.get("name"))
        for name in ("alpha", "beta", "gamma", "pilot-gcp", "research-aws", "teaching-azure"):
            assert not re.search(rf"\b{name}\b", files[path]), (path, name)


def test_apply_runs_the_saved_plan_behind_an_environment_per_cluster() -> None:
    # The apply moved from hubfleet-terraform.yaml (pull requests only now) into the
    # cluster workflow, where it comes before the cluster's deploy (test_ci_order.py).
    assert "push" not in load(rendered()[TERRAFORM])["on"]
    assert "apply" not in load(rendered()[TERRAFORM])["jobs"]
    jobs = load(rendered()[CLUSTER])["jobs"]
    assert jobs["terraform-plan"]["if"] == "inputs.terraform"
    assert jobs["apply"]["needs"] == "terraform-plan"
    apply = jobs["apply"]
    assert apply["if"] == "inputs.terraform"
    assert apply["environment"] == "terraform-apply-${{ inputs.cluster }}"
    assert apply["concurrency"] == {
        "group": "hubfleet-terraform-apply-${{ inputs.cluster }}",
        "cancel-in-progress": False,
        "queue": "max",  # waiting runs queue (test_ci_queue.py)
    }
    script = next(
        s["run"] for s in apply["steps"] if s.get("name", "").startswith("Terraform apply")
    )
    assert 'hubfleet terraform apply "$CLUSTER" --plan' in script
    download = next(s for s in apply["steps"] if s.get("name") == "Download the saved plan")
    assert download["with"]["name"] == "hubfleet-terraform-plan-${{ inputs.cluster }}"
    upload = next(
        s for s in jobs["terraform-plan"]["steps"] if s.get("name") == "Upload the saved plan"
    )
    assert upload["with"]["name"] == download["with"]["name"]
    assert jobs["terraform-plan"]["environment"] == "terraform-plan-${{ inputs.cluster }}"
    # the pull request's matrix comes from the plan's terraform_jobs
    pr = load(rendered()[TERRAFORM])["jobs"]
    assert ".terraform_jobs" in pr["clusters"]["steps"][-1]["run"]
    assert pr["plan"]["strategy"]["matrix"] == "${{ fromJSON(needs.clusters.outputs.matrix) }}"


def test_a_pull_request_plan_gets_no_secret() -> None:
    text = rendered()[TERRAFORM]
    assert "secrets." not in text
    plan = load(text)["jobs"]["plan"]
    step = next(s for s in plan["steps"] if s.get("name") == "Terraform plan")
    assert set(step["env"]) == {"CLUSTER"}
    assert plan["environment"] == "terraform-plan-${{ matrix.cluster }}"
    assert load(text)["on"] == {"pull_request": None}


def test_drift_is_scheduled_and_the_comment_labels_destruction() -> None:
    files = rendered()
    drift = load(files[DRIFT])
    assert drift["on"]["schedule"] and "workflow_dispatch" in drift["on"]
    assert "hubfleet terraform drift" in drift["jobs"]["drift"]["steps"][-1]["run"]
    # one job per cluster with a terraform: block, in that cluster's plan environment
    job = drift["jobs"]["drift"]
    assert job["strategy"]["matrix"] == "${{ fromJSON(needs.clusters.outputs.matrix) }}"
    assert job["environment"] == "terraform-plan-${{ matrix.cluster }}"
    assert job["steps"][-1]["env"]["CLUSTER"] == "${{ matrix.cluster }}"
    assert 'hubfleet terraform drift "$CLUSTER"' in job["steps"][-1]["run"]
    assert ".terraform_jobs" in drift["jobs"]["clusters"]["steps"][-1]["run"]
    comment = load(files[COMMENT])
    assert comment["on"]["workflow_run"]["workflows"] == ["hubfleet terraform"]
    assert any(
        "terraform-destroys" in s.get("run", "") for s in comment["jobs"]["comment"]["steps"]
    )


def test_every_job_with_a_cloud_identity_runs_in_an_environment_of_its_cluster() -> None:
    """The environment is the OIDC subject each identity trusts (tests/terraform/
    test_ci_identities.py): apply, helm deploy and plans each in their own."""
    jobs = load(rendered()[CLUSTER])["jobs"]
    assert jobs["deploy"]["environment"] == "hubfleet-deploy-${{ inputs.cluster }}"
    assert jobs["apply"]["environment"] == "terraform-apply-${{ inputs.cluster }}"
    for path, data in ((p, load(t)) for p, t in rendered().items() if p.endswith(".yaml")):
        for name, job in data.get("jobs", {}).items():
            if "id-token" in job.get("permissions", {}) and "uses" not in job:
                assert re.search(r"-\$\{\{ (inputs|matrix)\.cluster \}\}$", job["environment"]), (
                    path,
                    name,
                )
