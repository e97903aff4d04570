"""Each provider: exact commands, credential files only inside the block, isolation."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest
from tests.conftest import SECRET_MARKER
from tests.fakes import FakeTools
from tests.providers.conftest import context, load

from hubfleet.base.private import open_private_folders
from hubfleet.config.providers import target_of
from hubfleet.deploy import local
from hubfleet.deploy.kinds import BACKENDS
from hubfleet.providers import get_provider

PARENT_CLOUD = {
    "KUBECONFIG": "/parent/kubeconfig",
    "AWS_ACCESS_KEY_ID": "PARENT-AWS-ID",
    "AWS_SECRET_ACCESS_KEY": "parent-aws-secret",
    "AWS_PROFILE": "parent-profile",
    "GOOGLE_APPLICATION_CREDENTIALS": "/parent/google.json",
    "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE": "/parent/gcloud.json",
    "CLOUDSDK_CONFIG": "/parent/gcloud",
    "AZURE_CONFIG_DIR": "/parent/azure",
    "AZURE_CLIENT_SECRET": "parent-azure-secret",
}


@pytest.fixture
def parent_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PARENT_CLOUD.items():
        monkeypatch.setenv(name, value)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _assert_private(creds_folder: Path, kubeconfig: Path) -> None:
    assert _mode(creds_folder) == 0o700
    assert _mode(kubeconfig) == 0o600
    assert kubeconfig.parent == creds_folder


def _no_parent_leak(env: dict[str, str], cloud_prefixes: tuple[str, ...]) -> None:
    for name, value in PARENT_CLOUD.items():
        assert env.get(name) != value, f"{name} leaked from the parent"
    for name in env:
        assert not name.startswith(cloud_prefixes), f"foreign cloud variable {name}"


def test_gcp_key(
    fleet_copy: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path, parent_cloud: None
) -> None:
    fleet = load(fleet_copy)
    with get_provider("gcp").credentials(context(fleet, "alpha")) as creds:
        _assert_private(creds.folder, creds.kubeconfig)
        key_file = Path(creds.env["CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"])
        assert key_file.parent == creds.folder and _mode(key_file) == 0o600
        assert json.loads(key_file.read_text())["client_email"].startswith("deployer@")
        assert creds.env["GOOGLE_APPLICATION_CREDENTIALS"] == str(key_file)
        folder = creds.folder
    assert not folder.exists()
    assert open_private_folders() == []
    [call] = fake_tools.calls("gcloud")
    assert call["argv"] == [
        "container", "clusters", "get-credentials", "alpha-cluster",
        "--project=alpha-project", "--zone=us-central1-b",
    ]  # fmt: skip
    env = call["env"]
    assert env["KUBECONFIG"] == str(folder / "kubeconfig")
    assert env["CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"] == str(key_file)
    assert env["CLOUDSDK_CONFIG"].startswith(str(folder))
    _no_parent_leak(env, ("AWS_", "AZURE_"))


def test_gcp_ambient_region(
    fleet_copy: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path, parent_cloud: None
) -> None:
    cluster_yaml = fleet_copy / "config/clusters/alpha/cluster.yaml"
    text = cluster_yaml.read_text().replace("  zone: us-central1-b\n", "  region: us-central1\n")
    cluster_yaml.write_text(text.replace("  key: enc-deployer-credentials.secret.json\n", ""))
    fleet = load(fleet_copy)
    with get_provider("gcp").credentials(context(fleet, "alpha")) as creds:
        assert "CLOUDSDK_CONFIG" in creds.env  # the parent's, passed through
    [call] = fake_tools.calls("gcloud")
    assert call["argv"][-1:] == ["--region=us-central1"]
    # Ambient: the parent's Google variables are the credentials; nothing else leaks.
    assert call["env"]["GOOGLE_APPLICATION_CREDENTIALS"] == "/parent/google.json"
    assert call["env"]["CLOUDSDK_CONFIG"] == "/parent/gcloud"
    assert call["env"]["KUBECONFIG"] != "/parent/kubeconfig"
    assert not any(name.startswith(("AWS_", "AZURE_")) for name in call["env"])


def test_aws_key(
    fleet_copy: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path, parent_cloud: None
) -> None:
    fleet = load(fleet_copy)
    with get_provider("aws").credentials(context(fleet, "beta")) as creds:
        _assert_private(creds.folder, creds.kubeconfig)
        kubeconfig = creds.kubeconfig
    assert not kubeconfig.parent.exists()
    [call] = fake_tools.calls("aws")
    assert call["argv"] == [
        "eks", "update-kubeconfig", "--name=beta-eks", "--region=eu-west-1",
        f"--kubeconfig={kubeconfig}",
    ]  # fmt: skip
    env = call["env"]
    assert env["AWS_ACCESS_KEY_ID"] == "AKIABETAEXAMPLE00001"
    assert env["AWS_SECRET_ACCESS_KEY"] == "beta-aws-secret-access-key-s3cr3t"
    assert "AWS_PROFILE" not in env
    assert env["AWS_CONFIG_FILE"].startswith(str(kubeconfig.parent))
    assert env["KUBECONFIG"] == str(kubeconfig)
    _no_parent_leak(env, ("GOOGLE_", "CLOUDSDK_", "AZURE_"))


def test_aws_role_arn(
    fleet_copy: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path
) -> None:
    cluster_yaml = fleet_copy / "config/clusters/beta/cluster.yaml"
    cluster_yaml.write_text(
        cluster_yaml.read_text().replace(
            "  region: eu-west-1\n",
            "  region: eu-west-1\n  role_arn: arn:aws:iam::123456789012:role/deployer\n",
        )
    )
    assumed = {
        "Credentials": {
            "AccessKeyId": "ASIATEMP",
            "SecretAccessKey": "temp-secret-s3cr3t",
            "SessionToken": "temp-session-s3cr3t",
        }
    }
    fake_tools.script([{"tool": "aws", "args": ["assume-role"], "stdout": json.dumps(assumed)}])
    fleet = load(fleet_copy)
    ctx = context(fleet, "beta")
    with get_provider("aws").credentials(ctx) as creds:
        assert creds.env["AWS_SESSION_TOKEN"] == "temp-session-s3cr3t"
    assume, update = fake_tools.calls("aws")
    assert assume["argv"][:4] == [
        "sts", "assume-role", "--role-arn=arn:aws:iam::123456789012:role/deployer",
        "--role-session-name=hubfleet-beta",
    ]  # fmt: skip
    assert assume["env"]["AWS_ACCESS_KEY_ID"] == "AKIABETAEXAMPLE00001"
    assert update["env"]["AWS_ACCESS_KEY_ID"] == "ASIATEMP"
    assert update["env"]["AWS_SESSION_TOKEN"] == "temp-session-s3cr3t"
    assert ctx.redactor.scrub("x temp-session-s3cr3t") == "x [REDACTED]"


def test_aws_ambient(
    fleet_copy: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path, parent_cloud: None
) -> None:
    cluster_yaml = fleet_copy / "config/clusters/beta/cluster.yaml"
    cluster_yaml.write_text(
        cluster_yaml.read_text().replace("  key: enc-deployer-credentials.secret.json\n", "")
    )
    fleet = load(fleet_copy)
    with get_provider("aws").credentials(context(fleet, "beta")):
        pass
    [call] = fake_tools.calls("aws")
    assert call["env"]["AWS_ACCESS_KEY_ID"] == "PARENT-AWS-ID"
    assert call["env"]["KUBECONFIG"] != "/parent/kubeconfig"
    assert not any(name.startswith(("GOOGLE_", "AZURE_")) for name in call["env"])


def test_azure_service_principal(
    fleet_copy: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path, parent_cloud: None
) -> None:
    fleet = load(fleet_copy)
    ctx = context(fleet, "gamma")
    with get_provider("azure").credentials(ctx) as creds:
        _assert_private(creds.folder, creds.kubeconfig)
        config_dir = Path(creds.env["AZURE_CONFIG_DIR"])
        assert config_dir.parent == creds.folder and _mode(config_dir) == 0o700
        kubeconfig = creds.kubeconfig
    login, get = fake_tools.calls("az")
    assert login["argv"] == [
        "login", "--service-principal",
        "--username=11111111-1111-1111-1111-111111111111",
        "--tenant=22222222-2222-2222-2222-222222222222",
        "--password=@-", "--output=none",
    ]  # fmt: skip
    assert fake_tools.stdin(login) == b"gamma-sp-password-s3cr3t"  # a pipe, not the argv
    assert get["argv"] == [
        "aks", "get-credentials", "--name=gamma-aks", "--resource-group=gamma-rg",
        f"--file={kubeconfig}", "--overwrite-existing", "--only-show-errors",
        "--subscription=00000000-0000-0000-0000-000000000000",
    ]  # fmt: skip
    for call in (login, get):
        assert call["env"]["AZURE_CONFIG_DIR"] == str(config_dir)
        _no_parent_leak(call["env"], ("AWS_", "GOOGLE_", "CLOUDSDK_"))
    assert not any(SECRET_MARKER in word for word in login["argv"] + get["argv"])
    assert not config_dir.exists()


def test_kubeconfig_decrypted_into_private_file(
    fleet_copy: Path, age_key: Path, isolated_tmp: Path, parent_cloud: None
) -> None:
    fleet = load(fleet_copy)
    with get_provider("kubeconfig").credentials(context(fleet, "delta")) as creds:
        _assert_private(creds.folder, creds.kubeconfig)
        assert "delta-kube-token-s3cr3t" in creds.kubeconfig.read_text()
        assert dict(creds.env) == {"KUBECONFIG": str(creds.kubeconfig)}
        assert list(isolated_tmp.iterdir()) == [creds.folder]
    assert list(isolated_tmp.iterdir()) == []


def test_local_has_no_cloud_credentials(
    fleet_copy: Path, age_key: Path, isolated_tmp: Path
) -> None:
    fleet = load(fleet_copy)
    provider = get_provider("local")
    # Its releases are not deployed with helm: the provider table sends them to the local backend.
    assert target_of("local") == "local" and BACKENDS[target_of("local")] is local.backend
    with provider.credentials(context(fleet, "local")) as creds:
        assert set(creds.env) == {"KUBECONFIG"}
        assert creds.kubeconfig.read_text() == ""
    assert list(isolated_tmp.iterdir()) == []


def test_folder_removed_when_block_raises(
    fleet_copy: Path, age_key: Path, isolated_tmp: Path
) -> None:
    fleet = load(fleet_copy)
    with (
        pytest.raises(RuntimeError),
        get_provider("kubeconfig").credentials(context(fleet, "delta")),
    ):
        raise RuntimeError("boom")
    assert list(isolated_tmp.iterdir()) == []


def test_credentials_failure_removes_folder(
    fleet_copy: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path
) -> None:
    from hubfleet.base.errors import ProgramError

    fake_tools.script([{"tool": "gcloud", "exit": 1, "stderr": "permission denied"}])
    fleet = load(fleet_copy)
    with (
        pytest.raises(ProgramError, match="cluster alpha: gcloud failed"),
        get_provider("gcp").credentials(context(fleet, "alpha")),
    ):
        pass
    assert list(isolated_tmp.iterdir()) == []


def test_parallel_clusters_never_see_each_other(
    fleet_copy: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path, parent_cloud: None
) -> None:
    """Blocks of gcp, aws and azure open at once: each tool sees only its own cluster."""
    fleet = load(fleet_copy)
    barrier = threading.Barrier(3)
    folders: dict[str, Path] = {}
    errors: list[BaseException] = []

    def open_block(provider: str, cluster: str) -> None:
        try:
            with get_provider(provider).credentials(context(fleet, cluster)) as creds:
                folders[cluster] = creds.folder
                barrier.wait(timeout=30)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=open_block, args=pair)
        for pair in (("gcp", "alpha"), ("aws", "beta"), ("azure", "gamma"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    tool_cluster = {"gcloud": "alpha", "aws": "beta", "az": "gamma"}
    for tool, cluster in tool_cluster.items():
        for call in fake_tools.calls(tool):
            env = call["env"]
            assert env["KUBECONFIG"].startswith(str(folders[cluster]))
            others = [str(f) for name, f in folders.items() if name != cluster]
            for value in env.values():
                assert not any(other in value for other in others)
            assert "beta-aws-secret" not in json.dumps(env) or cluster == "beta"
            assert "ALPHA-GCP-KEY" not in json.dumps(env)


def test_user_kubeconfig_untouched(
    fleet_copy: Path, age_key: Path, fake_tools: FakeTools, isolated_tmp: Path
) -> None:
    home_config = Path.home() / ".kube" / "config"
    before = (home_config.read_bytes(), home_config.stat().st_mtime_ns)
    fleet = load(fleet_copy)
    for provider, cluster in (("gcp", "alpha"), ("aws", "beta"), ("azure", "gamma")):
        with get_provider(provider).credentials(context(fleet, cluster)):
            pass
    assert (home_config.read_bytes(), home_config.stat().st_mtime_ns) == before
    for tool in ("gcloud", "aws", "az"):
        for call in fake_tools.calls(tool):
            assert call["env"]["KUBECONFIG"] != str(home_config)
