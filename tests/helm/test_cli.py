"""The helm CLI runner: version-matched flags, the upgrade argv, values pipes, pending releases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fakes import FakeTools, fake_tools  # noqa: F401

from hubfleet.base.errors import DeployError, HubfleetError
from hubfleet.base.redact import Redactor
from hubfleet.helm import cli as helm


def test_flags_by_version() -> None:
    v3 = helm.flags_for(helm.parse_version("v3.16.2+g13654a5"))
    assert (v3.rollback_on_failure, v3.cleanup_on_fail, v3.dry_run) == (
        "--atomic", "--cleanup-on-fail", "--dry-run=server",
    )  # fmt: skip
    old = helm.flags_for(helm.parse_version("v3.12.0"))
    assert old.dry_run == "--dry-run"
    v4 = helm.flags_for(helm.parse_version("v4.0.1+gabc"))
    assert v4.rollback_on_failure == "--rollback-on-failure"


def test_version_detected_from_helm(fake_tools: FakeTools) -> None:  # noqa: F811
    fake_tools.script([{"tool": "helm", "args": ["version"], "stdout": "v4.1.0+gdeadbeef\n"}])
    flags = helm.detect_version(redactor=Redactor())
    assert str(flags.version) == "4.1.0" and flags.rollback_on_failure == "--rollback-on-failure"
    [call] = fake_tools.calls("helm")
    assert call["argv"] == ["version", "--short"]


def test_upgrade_argv() -> None:
    flags = helm.flags_for(helm.HelmVersion(3, 16, 2))
    chart = helm.chart_ref(local_dir=None, name="jupyterhub",
                           repository="https://hub.jupyter.org/helm-chart/", version="4.2.0")  # fmt: skip
    argv = helm.upgrade_argv(
        release="hub", namespace="hub", chart=chart, values_paths=["/dev/fd/5", "/dev/fd/6"],
        flags=flags, helm_timeout="5m", dry_run=False, kubeconfig="/k",
    )  # fmt: skip
    # No --wait (so no --atomic): the deploy watches the rollout itself (docs/deploy.md).
    assert argv == [
        "helm", "upgrade", "--install", "--create-namespace", "--namespace=hub",
        "--repo=https://hub.jupyter.org/helm-chart/", "--version=4.2.0",
        "--kubeconfig=/k", "--values=/dev/fd/5", "--values=/dev/fd/6",
        "--cleanup-on-fail", "--timeout=5m", "--", "hub", "jupyterhub",
    ]  # fmt: skip
    oci = helm.chart_ref(
        local_dir=None, name="c", repository="oci://ghcr.io/o/charts/", version="1"
    )
    assert (oci.chart, oci.flags) == ("oci://ghcr.io/o/charts/c", ("--version=1",))
    dry = helm.upgrade_argv(
        release="hub", namespace="hub", chart=helm.chart_ref(local_dir=Path("/c"), name="c",
        repository=None, version=None), values_paths=[], flags=flags, helm_timeout="5m",
        dry_run=True,
    )  # fmt: skip
    assert "--dry-run=server" in dry and "--atomic" not in dry and "--wait" not in dry


def test_durations() -> None:
    assert helm.duration_seconds("10m") == 600
    assert helm.duration_seconds("1h30m") == 5400
    assert helm.duration_seconds("1.5h") == 5400
    for text in ("10 minutes", "90", " 10m", "10m\n", "-5m"):  # helm refuses a bare number too
        with pytest.raises(HubfleetError):
            helm.duration_seconds(text)


def test_upgrade_values_through_pipes(fake_tools: FakeTools) -> None:  # noqa: F811
    big = ("x: " + "y" * 200_000 + "\n").encode()  # larger than a pipe's buffer
    values = [
        helm.ValuesInput("a.values.yaml", b"a: 1\n"),
        helm.ValuesInput("enc-b.secret.values.yaml", b"token: tok-s3cr3t\n"),
        helm.ValuesInput("big.values.yaml", big),
    ]
    redactor = Redactor()
    redactor.add("tok-s3cr3t")
    fake_tools.script([{"tool": "helm", "args": ["upgrade"], "stdout": "REVISION: 3\n"}])
    result = helm.upgrade(
        release="hub", namespace="hub", chart=helm.ChartRef("/chart"), values=values,
        flags=helm.flags_for(helm.HelmVersion(3, 16, 0)), env={"KUBECONFIG": "/kc"},
        redactor=redactor,
    )  # fmt: skip
    assert result.revision == 3
    assert "--values=a.values.yaml --values=enc-b.secret.values.yaml" in result.command
    assert "--kubeconfig=$KUBECONFIG " in result.command
    [call] = [c for c in fake_tools.calls("helm") if c["argv"][0] == "upgrade"]
    assert [v["kind"] for v in call["values"]] == ["fifo", "fifo", "fifo"]
    assert [v["content"].encode() for v in call["values"]] == [v.content for v in values]


def test_release_states_one_list_for_many_releases(fake_tools: FakeTools) -> None:  # noqa: F811
    listed = [
        {"name": "hub", "namespace": "hub", "revision": 5, "status": "pending-rollback"},
        {"name": "support", "namespace": "support", "revision": "2", "status": "deployed"},
        {"name": "hub", "namespace": "other-team", "revision": 9, "status": "pending-install"},
        {"name": "unrelated", "namespace": "x", "revision": 1, "status": "failed"},
    ]
    fake_tools.script([{"tool": "helm", "args": ["list"], "stdout": json.dumps(listed)}])
    wanted = [("hub", "hub"), ("support", "support"), ("new-hub", "new-hub")]
    states = helm.release_states(wanted, env={"KUBECONFIG": "/kc"}, redactor=Redactor())
    assert states == {
        ("hub", "hub"): helm.ReleaseState("hub", "hub", "pending-rollback", 5),
        ("support", "support"): helm.ReleaseState("support", "support", "deployed", 2),
    }
    [call] = fake_tools.calls("helm")
    argv = call["argv"]
    assert argv[:4] == ["list", "--all-namespaces", "--all", "--output=json"]
    assert "--filter=^(hub|new\\-hub|support)$" in argv
    [limit] = [arg for arg in argv if arg.startswith("--max=")]
    assert int(limit.removeprefix("--max=")) >= 256
    assert argv[-1:] == ["--kubeconfig=/kc"]
    assert helm.release_states([], env={}, redactor=Redactor()) == {}
    assert len(fake_tools.calls("helm")) == 1  # nothing to list: no call


def test_release_states_per_namespace_when_the_cluster_scope_is_forbidden(
    fake_tools: FakeTools,  # noqa: F811
) -> None:
    forbidden = (
        'Error: list: failed to list: secrets is forbidden: User "deployer" cannot list '
        'resource "secrets" in API group "" at the cluster scope'
    )
    fake_tools.script(
        [
            {"tool": "helm", "args": ["--all-namespaces"], "exit": 1, "stderr": forbidden},
            {"tool": "helm", "args": ["list", "--namespace=hub-a"], "stdout": json.dumps(
                [{"name": "hub-a", "namespace": "hub-a", "revision": 3, "status": "deployed"}]
            )},
        ]
    )  # fmt: skip
    wanted = [("hub-a", "hub-a"), ("hub-b", "hub-b"), ("support", "support")]
    states = helm.release_states(wanted, env={}, redactor=Redactor())
    assert states == {("hub-a", "hub-a"): helm.ReleaseState("hub-a", "hub-a", "deployed", 3)}
    namespaces = [
        next(a.removeprefix("--namespace=") for a in c["argv"] if a.startswith("--namespace="))
        for c in fake_tools.calls("helm")
        if any(a.startswith("--namespace=") for a in c["argv"])
    ]
    assert namespaces == ["hub-a", "hub-b", "support"]
    # Any other failure is the cluster's failure.
    fake_tools.script([{"tool": "helm", "exit": 1, "stderr": "Error: cluster unreachable"}])
    with pytest.raises(helm.ProgramFailed, match="unreachable"):
        helm.release_states(wanted, env={}, redactor=Redactor())


def test_release_states_unreadable_output(fake_tools: FakeTools) -> None:  # noqa: F811
    fake_tools.script([{"tool": "helm", "args": ["list"], "stdout": "Error: not json"}])
    with pytest.raises(DeployError, match="not JSON"):
        helm.release_states([("hub", "hub")], env={}, redactor=Redactor())


def test_pending_release_and_recover(fake_tools: FakeTools) -> None:  # noqa: F811
    state = helm.ReleaseState("hub", "hub", "pending-rollback", 5)
    kwargs = dict(
        release="hub", namespace="hub", chart=helm.ChartRef("/chart"), values=[],
        flags=helm.flags_for(helm.HelmVersion(3, 16, 0)), env={}, redactor=Redactor(),
        state=state,
    )  # fmt: skip
    with pytest.raises(helm.PendingRelease, match="pending-rollback") as info:
        helm.upgrade(**kwargs)  # type: ignore[arg-type]
    assert "helm rollback hub --namespace hub" in str(info.value)
    assert fake_tools.calls("helm") == []
    result = helm.upgrade(recover=True, **kwargs)  # type: ignore[arg-type]
    assert result.recovered is not None and result.recovered.revision == 5
    verbs = [c["argv"][0] for c in fake_tools.calls("helm")]
    assert verbs == ["rollback", "upgrade"]
    deployed = helm.ReleaseState("hub", "hub", "deployed", 5)
    helm.upgrade(**{**kwargs, "state": deployed})  # type: ignore[arg-type]
    assert [c["argv"][0] for c in fake_tools.calls("helm")] == ["rollback", "upgrade", "upgrade"]


def test_pending_install_is_not_rolled_back(fake_tools: FakeTools) -> None:  # noqa: F811
    with pytest.raises(helm.PendingRelease, match="helm uninstall hub"):
        helm.upgrade(
            release="hub", namespace="hub", chart=helm.ChartRef("/chart"), values=[],
            flags=helm.flags_for(helm.HelmVersion(3, 16, 0)), env={}, redactor=Redactor(),
            recover=True, state=helm.ReleaseState("hub", "hub", "pending-install", 1),
        )  # fmt: skip
    assert fake_tools.calls("helm") == []
