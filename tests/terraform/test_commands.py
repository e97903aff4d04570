"""plan, apply, drift and values with a fake terraform on PATH (argv, env, stdin recorded)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

from hubfleet.base.private import open_private_folders
from hubfleet.terraform.summary import summarize
from tests.conftest import SECRET_MARKER
from tests.fakes import FakeTools
from tests.terraform.conftest import git

SHOW_JSON = {
    "format_version": "1.2",
    "resource_changes": [
        {
            "address": 'aws_s3_bucket.bucket["scratch"]',
            "type": "aws_s3_bucket",
            "change": {"actions": ["delete", "create"]},
        },
        {
            "address": "aws_ebs_volume.home",
            "type": "aws_ebs_volume",
            "change": {"actions": ["delete"]},
        },
        {
            "address": 'aws_iam_role.hub["research"]',
            "type": "aws_iam_role",
            "change": {"actions": ["create"]},
        },
        {
            "address": 'aws_eks_node_group.pool["core"]',
            "type": "aws_eks_node_group",
            "change": {"actions": ["update"]},
        },
        {"address": "aws_vpc.this", "type": "aws_vpc", "change": {"actions": ["no-op"]}},
    ],
}
HARMLESS = {
    "format_version": "1.2",
    "resource_changes": [
        {
            "address": 'aws_iam_role.hub["research"]',
            "type": "aws_iam_role",
            "change": {"actions": ["delete", "create"]},
        },
    ],
}
OUTPUTS = {
    "bucket_urls": {"sensitive": False, "value": {"public": "s3://x", "scratch": "s3://y"}},
    "hub_values": {
        "sensitive": False,
        "value": {
            "research": {
                "service_account_annotations": {
                    "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/hubfleet-beta-research"
                },
                "pod_labels": {},
            }
        },
    },
}
SENSITIVE_VALUE = f"tf-{SECRET_MARKER}-connection-string"


def script(
    fakes: FakeTools,
    show: dict[str, Any] = SHOW_JSON,
    outputs: dict[str, Any] = OUTPUTS,
    **extra: Any,
) -> None:
    fakes.script(
        [
            *extra.get("rules", []),
            {"tool": "terraform", "args": ["show", "-json"], "stdout": json.dumps(show)},
            {"tool": "terraform", "args": ["output", "-json"], "stdout": json.dumps(outputs)},
        ]
    )


def cluster_of(call: dict[str, Any]) -> str:
    data_dir = call["env"]["TF_DATA_DIR"]
    return next(c for c in ("alpha", "beta", "gamma") if f"tf-{c}-" in data_dir)


def test_plan_summary_flags_data_loss_and_saves_the_plan(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    script(fake_tools)
    result = run_cli("--repo", tf_fleet, "terraform", "plan", "beta", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["destructive"] is True
    [plan] = data["plans"]
    assert [f["address"] for f in plan["flagged"]] == [
        "aws_ebs_volume.home",
        'aws_s3_bucket.bucket["scratch"]',
    ]
    assert [f["action"] for f in plan["flagged"]] == ["delete", "replace"]
    assert (plan["creates"], plan["updates"], plan["deletes"], plan["replaces"]) == (1, 1, 1, 1)
    calls = fake_tools.calls("terraform")
    init, plan_call, show = (c["argv"] for c in calls)
    module = str(tf_fleet / "terraform" / "aws")
    assert init[:2] == [f"-chdir={module}", "init"] and "-lockfile=readonly" in init
    assert (
        "-backend-config=bucket=beta-tfstate" in init and "-backend-config=key=beta.tfstate" in init
    )
    assert plan_call[1] == "plan" and any(a.startswith("-var-file=") for a in plan_call)
    saved = Path(plan["plan_file"])
    assert saved.is_file() and f"-out={saved}" in plan_call and show[-1] == str(saved)
    meta = json.loads(saved.with_name("beta.tfplan.json").read_text())
    assert meta["commit"] == git(tf_fleet, "rev-parse", "HEAD").strip() and meta["clean"] is True


def test_a_harmless_replace_is_not_flagged(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    script(fake_tools, show=HARMLESS)
    data = json.loads(run_cli("--repo", tf_fleet, "terraform", "plan", "beta", "-o", "json").stdout)
    assert data["destructive"] is False and data["plans"][0]["replaces"] == 1


def test_credentials_reach_only_their_clusters_process(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ARM_CLIENT_ID", "ambient-client")  # e.g. CI's OIDC login
    monkeypatch.setenv("KUBECONFIG", "/nowhere/kubeconfig")
    script(fake_tools, show=HARMLESS)
    result = run_cli("--repo", tf_fleet, "terraform", "plan", "--output", "json")
    assert result.exit_code == 0, result.output
    calls = fake_tools.calls("terraform")
    by_cluster: dict[str, list[dict[str, Any]]] = {}
    for call in calls:
        by_cluster.setdefault(cluster_of(call), []).append(call)
    assert sorted(by_cluster) == ["alpha", "beta", "gamma"]
    for call in by_cluster["alpha"]:
        key = json.loads(call["env"]["GOOGLE_CREDENTIALS"])  # the key's content, not a path
        assert key["client_email"] == "deployer@alpha-project.iam.gserviceaccount.com"
        assert not any(k.startswith(("AWS_", "ARM_")) for k in call["env"])
    for call in by_cluster["beta"]:
        assert call["env"]["AWS_ACCESS_KEY_ID"] == "AKIABETAEXAMPLE00001"
        assert SECRET_MARKER in call["env"]["AWS_SECRET_ACCESS_KEY"]
        assert not any(k.startswith(("GOOGLE_", "ARM_")) for k in call["env"])
    for call in by_cluster["gamma"]:  # no credentials: the ambient login, nothing else
        assert call["env"]["ARM_CLIENT_ID"] == "ambient-client"
        assert not any(SECRET_MARKER in v for v in call["env"].values())
    for call in calls:
        env = call["env"]
        assert "KUBECONFIG" not in env and env["CHECKPOINT_DISABLE"] == "1"
        assert not {"GOOGLE_APPLICATION_CREDENTIALS", "AWS_SHARED_CREDENTIALS_FILE"} & set(env)
        key_files = [
            k
            for k, v in env.items()
            if k.startswith(("GOOGLE_", "AWS_", "ARM_")) and "CA_" not in k and Path(v).is_file()
        ]
        assert key_files == []
    data_dirs = {cluster_of(c): c["env"]["TF_DATA_DIR"] for c in calls}
    assert len(set(data_dirs.values())) == 3  # each cluster its own data dir
    assert not any(Path(d).exists() for d in data_dirs.values())  # removed afterwards
    assert open_private_folders() == []
    assert SECRET_MARKER not in result.output
    assert not any(
        SECRET_MARKER in f.read_text(errors="ignore") for f in tf_fleet.rglob("*.tfplan*")
    )


def _plan(tf_fleet: Path, fakes: FakeTools, run_cli) -> Path:  # type: ignore[no-untyped-def]
    result = run_cli("--repo", tf_fleet, "terraform", "plan", "beta", "-o", "json")
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.stdout)["plans"][0]["plan_file"])


def _applied(fakes: FakeTools) -> bool:
    return any(c["argv"][1] == "apply" for c in fakes.calls("terraform"))


def test_apply_runs_the_saved_plan_and_regenerates_values(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    script(fake_tools)
    saved = _plan(tf_fleet, fake_tools, run_cli)
    fake_tools.reset()
    result = run_cli(
        "--repo", tf_fleet, "terraform", "apply", "beta", "--plan", saved, "-o", "json"
    )
    assert result.exit_code == 0, result.output
    argvs = [c["argv"] for c in fake_tools.calls("terraform")]
    assert [a[1] for a in argvs] == ["init", "apply", "output"]
    assert argvs[1][-2:] == ["-auto-approve", str(saved)]
    values = tf_fleet / "config" / "clusters" / "beta" / "research.terraform.values.yaml"
    assert json.loads(result.stdout)["written"] == [
        {"path": "config/clusters/beta/research.terraform.values.yaml", "encrypted": False},
        {"path": "config/clusters/beta/support.terraform.values.yaml", "encrypted": False},
    ]
    text = values.read_text()
    assert text.startswith("# GENERATED by `hubfleet terraform values beta`")
    data = yaml.safe_load(text)
    assert data["singleuser"] == {
        "serviceAccountName": "user-sa",
        "extraEnv": {
            "PUBLIC_BUCKET": "s3://123456789012-beta-public",
            "SCRATCH_BUCKET": "s3://123456789012-beta-scratch",
        },
        "extraLabels": {"hubfleet/hub": "research"},  # cost per hub
    }
    assert "custom" not in data  # the service account is the support release's
    support = yaml.safe_load(
        (tf_fleet / "config" / "clusters" / "beta" / "support.terraform.values.yaml").read_text()
    )
    assert support == {
        "hubServiceAccounts": [
            {
                "namespace": "research",
                "name": "user-sa",
                "labels": {"app.kubernetes.io/instance": "research"},
                "annotations": {
                    "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/hubfleet-beta-research"
                },
            }
        ]
    }
    assert not (
        tf_fleet / "config" / "clusters" / "beta" / "staging.terraform.values.yaml"
    ).exists()


def test_apply_refuses_a_dirty_tree(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    script(fake_tools)
    saved = _plan(tf_fleet, fake_tools, run_cli)
    (tf_fleet / "terraform" / "aws" / "main.tf").write_text("# edited by hand\n")
    result = run_cli("--repo", tf_fleet, "terraform", "apply", "beta", "--plan", saved)
    assert result.exit_code == 2 and "uncommitted" in result.stderr
    assert not _applied(fake_tools)


def test_apply_refuses_a_plan_of_another_commit(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    script(fake_tools)
    saved = _plan(tf_fleet, fake_tools, run_cli)
    git(
        tf_fleet,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.org",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "later",
    )
    result = run_cli("--repo", tf_fleet, "terraform", "apply", "beta", "--plan", saved)
    assert result.exit_code == 2 and "commit" in result.stderr
    assert not _applied(fake_tools)


def test_apply_refuses_a_plan_made_from_a_dirty_tree(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    script(fake_tools)
    main_tf = tf_fleet / "terraform" / "aws" / "main.tf"
    original = main_tf.read_text()
    main_tf.write_text(original + "# not committed\n")
    saved = _plan(tf_fleet, fake_tools, run_cli)
    main_tf.write_text(original)  # the tree is clean again, the plan is not
    result = run_cli("--repo", tf_fleet, "terraform", "apply", "beta", "--plan", saved)
    assert result.exit_code == 2 and "uncommitted changes: refused" in result.stderr
    assert not _applied(fake_tools)


def test_apply_refuses_another_clusters_plan(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    script(fake_tools)
    saved = _plan(tf_fleet, fake_tools, run_cli)
    result = run_cli("--repo", tf_fleet, "terraform", "apply", "alpha", "--plan", saved)
    assert result.exit_code == 2 and "not 'alpha'" in result.stderr
    assert not _applied(fake_tools)


def test_values_encrypts_a_sensitive_output_through_stdin(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    outputs = {
        **OUTPUTS,
        "hub_secrets": {
            "sensitive": True,
            "value": {"research": {"STORAGE_CONNECTION": SENSITIVE_VALUE}},
        },
    }
    script(fake_tools, outputs=outputs)
    result = run_cli("--repo", tf_fleet, "terraform", "values", "beta", "-o", "json")
    assert result.exit_code == 0, result.output
    assert {
        "path": "config/clusters/beta/enc-research.terraform.secret.values.yaml",
        "encrypted": True,
    } in json.loads(result.stdout)["written"]
    encrypted = (
        tf_fleet / "config" / "clusters" / "beta" / "enc-research.terraform.secret.values.yaml"
    )
    assert "sops:" in encrypted.read_text() and SENSITIVE_VALUE not in encrypted.read_text()
    plain = subprocess.run(
        ["sops", "--decrypt", str(encrypted)], capture_output=True, text=True, check=True
    ).stdout
    assert yaml.safe_load(plain) == {
        "singleuser": {"extraEnv": {"STORAGE_CONNECTION": SENSITIVE_VALUE}}
    }
    # never a plaintext file: nothing on disk holds the value but the scripted fake's own script
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.name.startswith("fakescript"):
            assert SENSITIVE_VALUE.encode() not in path.read_bytes(), path
    assert SENSITIVE_VALUE not in result.output


def test_values_refuses_a_secret_output_not_marked_sensitive(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    outputs = {
        **OUTPUTS,
        "hub_secrets": {"sensitive": False, "value": {"research": {"X": SENSITIVE_VALUE}}},
    }
    script(fake_tools, outputs=outputs)
    result = run_cli("--repo", tf_fleet, "terraform", "values", "beta")
    assert result.exit_code == 1 and "sensitive" in result.stderr
    assert not (
        tf_fleet / "config" / "clusters" / "beta" / "enc-research.terraform.secret.values.yaml"
    ).exists()


def test_drift_lists_the_clusters_that_differ(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    script(
        fake_tools,
        rules=[
            {
                "tool": "terraform",
                "args": ["plan", "-detailed-exitcode"],
                "contains": "terraform/aws",
                "exit": 2,
            }
        ],
    )
    result = run_cli("--repo", tf_fleet, "terraform", "drift", "-o", "json")
    assert result.exit_code == 1
    status = {c["cluster_name"]: c["status"] for c in json.loads(result.stdout)["clusters"]}
    assert status == {"alpha": "in-sync", "beta": "drifted", "gamma": "in-sync"}
    plans = [c["argv"] for c in fake_tools.calls("terraform") if c["argv"][1] == "plan"]
    assert len(plans) == 3 and all(
        "-detailed-exitcode" in a and not any(x.startswith("-out") for x in a) for a in plans
    )


def test_drift_in_sync_exits_zero(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    script(fake_tools)
    assert run_cli("--repo", tf_fleet, "terraform", "drift", "alpha").exit_code == 0


def test_a_failing_plan_never_shows_the_credentials(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    leaked = "Error: bad key beta-aws-secret-access-key-s3cr3t for AKIABETAEXAMPLE00001"
    script(fake_tools, rules=[{"tool": "terraform", "args": ["plan"], "exit": 1, "stderr": leaked}])
    result = run_cli("--repo", tf_fleet, "terraform", "plan", "beta")
    assert result.exit_code == 1
    assert "terraform plan failed" in result.stderr and "Error: bad key" in result.stderr
    assert SECRET_MARKER not in result.output


def test_plan_of_many_clusters_reports_every_failure(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    fails = [
        {"tool": "terraform", "contains": f"terraform/{module} plan", "exit": 1, "stderr": text}
        for module, text in (("aws", "Error: beta is broken"), ("azure", "Error: gamma too"))
    ]
    script(fake_tools, rules=fails)
    args = ("--repo", tf_fleet, "terraform", "plan", "alpha", "beta", "gamma")
    result = run_cli(*args, "-o", "json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [p["cluster_name"] for p in data["plans"]] == ["alpha"]
    failed = {f["cluster_name"]: f["error"] for f in data["failed"]}
    assert sorted(failed) == ["beta", "gamma"]
    assert "Error: beta is broken" in failed["beta"] and "Error: gamma too" in failed["gamma"]
    assert Path(data["plans"][0]["plan_file"]).is_file()
    text = run_cli(*args)
    assert text.exit_code == 1
    assert "beta: the plan failed" in text.stderr and "gamma: the plan failed" in text.stderr
    assert "saved: " in text.stdout


def test_plan_of_many_clusters_succeeds_when_each_does(
    tf_fleet: Path, fake_tools: FakeTools, age_key: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    script(fake_tools)
    result = run_cli("--repo", tf_fleet, "terraform", "plan", "alpha", "beta", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [p["cluster_name"] for p in data["plans"]] == ["alpha", "beta"]
    assert data["failed"] == []


def test_the_plan_summary_shows_hostile_addresses_as_inert_markdown() -> None:
    """A `for_each` key is written by the fleet's files (a pull request): the summary's
    addresses reach the step summary as code spans, never as HTML, links or mentions."""
    address = 'module.x["a` <img src=x onerror=alert(1)> [y](https://e.example) @team"]'
    show = json.dumps(
        {"resource_changes": [
            {"address": address, "type": "google_filestore_instance",
             "change": {"actions": ["delete", "create"]}},
        ]}
    )  # fmt: skip
    html = MarkdownIt("commonmark", {"html": True}).render(summarize("c1", show).markdown())
    assert "<img" not in html and "<a " not in html
    assert html.count("<code>") == 2  # the WARNING line and the change line, whole
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 2
