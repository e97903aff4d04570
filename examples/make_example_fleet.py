"""Regenerate examples/fleet's encrypted files and cluster folders (output committed).

Run from the repository root: `.venv/bin/python examples/make_example_fleet.py`.
`--terraform-only` adds (or refreshes) just the Terraform part: the terraform:
blocks of the gcp, aws and azure clusters, the hub values file each hub with
hub_access lists, the support values file the support release lists (the hubs'
service accounts), the generated `*.terraform.values.yaml` files, the scaffolded
modules under terraform/ and the support chart's service-account template,
leaving every encrypted file as it is.
The age key used is examples/fleet/DEMO-ONLY.age-key.txt: a demo key, public on
purpose, never to protect real secrets.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import yaml

from hubfleet.config.load import load_fleet
from hubfleet.health.kubernetes import values_snippet
from hubfleet.helm.values import merge_values
from hubfleet.secrets.sops import encrypt as encrypt_bytes
from hubfleet.terraform.inputs import compute
from hubfleet.terraform.scaffold import scaffold, scaffold_support_template
from hubfleet.terraform.values import SUPPORT_VALUES
from hubfleet.terraform.values import render as render_terraform_values

FLEET = Path(__file__).parent / "fleet"
KEY_FILE = FLEET / "DEMO-ONLY.age-key.txt"


def public_key() -> str:
    if not KEY_FILE.exists():
        import pyrage

        identity = pyrage.x25519.Identity.generate()
        KEY_FILE.write_text(
            "# DEMO KEY ONLY. It is public, committed to hubfleet's repository so that\n"
            "# the example fleet's secrets can be decrypted by anyone trying hubfleet.\n"
            "# Never encrypt a real secret with it.\n"
            f"# public key: {identity.to_public()}\n{identity}\n"
        )
    for line in KEY_FILE.read_text().splitlines():
        if line.startswith("# public key: "):
            return line.removeprefix("# public key: ")
    raise SystemExit("no public key line in the demo key file")


def write(path: str, data: object, header: str = "") -> None:
    target = FLEET / path
    target.parent.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    target.write_text(header + text)


def encrypt(path: str, data: object, recipient: str, fmt: str = "yaml") -> None:
    """Encrypt `data` for the demo age key, in memory, into `path` (format from its name)."""
    plain = json.dumps(data, indent=2) if fmt == "json" else yaml.safe_dump(data, sort_keys=False)
    ciphertext = encrypt_bytes(
        plain.encode(),
        filename=path,
        cwd=FLEET,
        age_recipients=[recipient],
        env={"SOPS_DISABLE_VERSION_CHECK": "1"},
    )
    (FLEET / path).write_bytes(ciphertext)


COMMON = {
    "hub": {
        "config": {
            "JupyterHub": {"admin_access": False},
            "Authenticator": {"admin_users": ["admin"]},
        }
    },
    "singleuser": {"defaultUrl": "/lab", "memory": {"limit": "2G", "guarantee": "1G"}},
    "cull": {"enabled": True, "timeout": 3600, "every": 600},
}


def hub_values(cluster: str, hub: str, domain: str, staging: bool) -> dict[str, object]:
    values: dict[str, object] = {
        "ingress": {
            "enabled": True,
            "hosts": [domain],
            "tls": [{"hosts": [domain], "secretName": "https-auto-tls"}],
        },
        "custom": {"community": hub, "cluster": cluster},
        "hub": {
            "config": {
                "GitHubOAuthenticator": {
                    "oauth_callback_url": f"https://{domain}/hub/oauth_callback",
                    "allowed_organizations": [f"example-{hub}"],
                },
                "JupyterHub": {"authenticator_class": "github"},
            }
        },
    }
    if staging:
        values["singleuser"] = {
            "image": {"name": "quay.io/jupyter/scipy-notebook", "tag": "2025-10-20"}
        }
        # The canary's health check (docs/health-check.md): the service whose token
        # z2jh keeps in the hub's Secret, its role, the blocked check user.
        values = merge_values([values, values_snippet()])
    return values


# Communities (docs/community.md): on pilot-gcp, the research and teaching hubs are
# changed by their communities themselves, in <hub>.community.values.yaml, within the
# policy of hubfleet.yaml (and, for teaching, one addition of its own).
COMMUNITIES: dict[tuple[str, str], dict[str, object]] = {
    ("pilot-gcp", "research"): {"owners": ["@example-research/hub-admins", "@alice-research"]},
    ("pilot-gcp", "teaching"): {
        "owners": ["@example-teaching/instructors"],
        "policy": {
            "allow": ["singleuser.memory"],
            "constraints": {"singleuser.memory.limit": {"minimum": "1G", "maximum": "8G"}},
        },
    },
}

COMMUNITY_HEADER = (
    "# The {hub} community's own settings of its hub: its owners change this file\n"
    "# themselves (docs/community.md); `hubfleet validate` checks it against the policy.\n"
)


def community_values(hub: str) -> dict[str, object]:
    singleuser: dict[str, object] = {
        "image": {"name": "quay.io/jupyter/scipy-notebook", "tag": "2025-10-20"},
    }
    if hub == "teaching":  # its own policy addition: memory, within 1G-8G
        singleuser["memory"] = {"limit": "4G"}
    return {
        "singleuser": singleuser,
        "hub": {"config": {"Authenticator": {"admin_users": [f"{hub}-lead"]}}},
        "custom": {"homepage": {"templateVars": {"org": f"Example {hub.title()}"}}},
    }


def kube_cluster(
    name: str,
    provider: str,
    block: dict[str, object],
    recipient: str,
    credentials: object,
    credentials_file: str,
) -> None:
    base = f"config/clusters/{name}"
    hubs = [("staging", True), ("research", False), ("teaching", False)]
    doc = {
        "name": name,
        "provider": provider,
        provider: block,
        "support": {
            "helm_chart_values_files": ["support.values.yaml", "enc-support.secret.values.yaml"]
        },
        "hubs": [],
    }
    write(
        f"{base}/support.values.yaml",
        {
            "clusterName": name,
            "ingressNginx": {"replicas": 2},
            "certManager": {"email": "ops@example.org"},
            "prometheus": {"retention": "30d"},
        },
    )
    encrypt(
        f"{base}/enc-support.secret.values.yaml",
        {"grafana": {"adminPassword": f"demo-grafana-{name}"}},
        recipient,
    )
    write(f"{base}/common.values.yaml", COMMON)
    for hub, staging in hubs:
        domain = f"{hub}.{name}.hubs.example.org"
        doc["hubs"].append(
            {  # type: ignore[attr-defined]
                "name": hub,
                "display_name": f"{hub.title()} hub on {name}",
                "domain": domain,
                "helm_chart": "jupyterhub",
                "helm_chart_values_files": [
                    "common.values.yaml",
                    f"{hub}.values.yaml",
                    f"enc-{hub}.secret.values.yaml",
                ],
            }
        )
        write(f"{base}/{hub}.values.yaml", hub_values(name, hub, domain, staging))
        community = COMMUNITIES.get((name, hub))
        if community is not None:
            entry = doc["hubs"][-1]  # type: ignore[index]
            entry["helm_chart_values_files"].append(f"{hub}.community.values.yaml")
            entry["community"] = community
            write(
                f"{base}/{hub}.community.values.yaml",
                community_values(hub),
                header=COMMUNITY_HEADER.format(hub=hub),
            )
        encrypt(
            f"{base}/enc-{hub}.secret.values.yaml",
            {
                "hub": {
                    "config": {
                        "GitHubOAuthenticator": {
                            "client_id": f"demo-client-id-{name}-{hub}",
                            "client_secret": f"demo-client-secret-{name}-{hub}",
                        }
                    }
                }
            },
            recipient,
        )
    encrypt(
        f"{base}/{credentials_file}",
        credentials,
        recipient,
        fmt="json" if credentials_file.endswith(".json") else "yaml",
    )
    block_key = "file" if provider == "kubeconfig" else "key"
    if block_key in block:
        block[block_key] = credentials_file
    add_terraform(doc)
    write(f"{base}/cluster.yaml", doc, header=f"# The {provider} example cluster.\n")


# The clusters' Terraform (docs/terraform.md): one hub per cluster gets buckets and
# its own cloud identity (hub_access), and lists its generated values file.
TERRAFORM: dict[str, dict[str, object]] = {
    "pilot-gcp": {
        "backend": {
            "type": "gcs",
            "settings": {"bucket": "example-pilot-tfstate", "prefix": "pilot-gcp"},
        },
        "buckets": {"scratch": {"lifecycle_days": 7}, "shared": {"versioning": True}},
        "hub_access": {"research": {"scratch": "SCRATCH_BUCKET", "shared": "SHARED_BUCKET"}},
        "node_pools": {
            "core": {"machine_type": "n2-highmem-2", "min_nodes": 1, "max_nodes": 3},
            "user": {
                "machine_type": "n2-highmem-4",
                "max_nodes": 20,
                "taints": ["hub.jupyter.org/dedicated=user:NoSchedule"],
            },
        },
        "vars": {"github_repository": "example-org/example-fleet", "budget_amount": 500},
    },
    "research-aws": {
        "backend": {
            "type": "s3",
            "settings": {
                "bucket": "example-research-tfstate",
                "key": "research-aws.tfstate",
                "region": "us-west-2",
            },
        },
        "buckets": {"scratch": {"lifecycle_days": 7}, "public": {"public_read": True}},
        "hub_access": {"research": {"scratch": "SCRATCH_BUCKET", "public": "PUBLIC_BUCKET"}},
        "node_pools": {
            "core": {"machine_type": "r5.xlarge", "min_nodes": 1, "max_nodes": 3},
            "user": {"machine_type": "r5.2xlarge", "max_nodes": 20},
        },
        "vars": {"github_repository": "example-org/example-fleet"},
    },
    "teaching-azure": {
        "backend": {
            "type": "azurerm",
            "settings": {
                "resource_group_name": "example-tfstate",
                "storage_account_name": "exampletfstate",
                "container_name": "tfstate",
                "key": "teaching-azure.tfstate",
            },
        },
        "buckets": {"scratch": {"lifecycle_days": 30}},
        "hub_access": {"teaching": {"scratch": "SCRATCH_BUCKET"}},
        "node_pools": {
            "core": {"machine_type": "Standard_E4s_v5", "min_nodes": 1, "max_nodes": 3},
            "user": {"machine_type": "Standard_E8s_v5", "max_nodes": 20},
        },
        "vars": {"location": "westeurope", "github_repository": "example-org/example-fleet"},
    },
}


def add_terraform(doc: dict[str, object]) -> None:
    """The cluster's terraform: block, each hub_access hub lists its generated file, and
    the support release the generated file of the hubs' service accounts."""
    block = TERRAFORM.get(str(doc["name"]))
    if block is None:
        return
    doc["terraform"] = json.loads(json.dumps(block))
    support = doc["support"]["helm_chart_values_files"]  # type: ignore[index]
    if SUPPORT_VALUES not in support:
        support.insert(support.index("support.values.yaml") + 1, SUPPORT_VALUES)
    for hub in doc["hubs"]:  # type: ignore[attr-defined]
        generated = f"{hub['name']}.terraform.values.yaml"
        files = hub["helm_chart_values_files"]
        if hub["name"] in block["hub_access"] and generated not in files:  # type: ignore[operator]
            files.insert(files.index(f"{hub['name']}.values.yaml") + 1, generated)


def example_outputs(cluster: str, provider: str, identities: dict[str, str]) -> dict[str, object]:
    """What `terraform output -json` would give after an apply (example values:
    no real cloud behind the demo; the Azure client id is made up)."""
    annotations = {
        "gcp": lambda hub, name: {
            "iam.gke.io/gcp-service-account": f"{name}@example-pilot.iam.gserviceaccount.com"
        },
        "aws": lambda hub, name: {
            "eks.amazonaws.com/role-arn": f"arn:aws:iam::111122223333:role/{name}"
        },
        "azure": lambda hub, name: {
            "azure.workload.identity/client-id": "00000000-0000-0000-0000-00000000demo"
        },
    }[provider]
    labels = {"azure.workload.identity/use": "true"} if provider == "azure" else {}
    return {
        "hub_values": {
            "sensitive": False,
            "value": {
                hub: {"service_account_annotations": annotations(hub, name), "pod_labels": labels}
                for hub, name in identities.items()
            },
        }
    }


def terraform_files() -> None:
    """The scaffolded modules and the generated values files (from cluster.yaml)."""
    for provider in ("gcp", "aws", "azure"):
        scaffold(FLEET, provider, force=True)
    scaffold_support_template(FLEET, force=True)
    for name, block in TERRAFORM.items():  # listed by their releases: present before loading
        files = [f"{hub}.terraform.values.yaml" for hub in block["hub_access"]]  # type: ignore[attr-defined]
        for filename in [*files, SUPPORT_VALUES]:
            generated = FLEET / "config" / "clusters" / name / filename
            if not generated.exists():
                generated.write_text("{}\n")
    fleet = load_fleet(FLEET).fleet_or_raise()
    for cluster in fleet.clusters:
        if cluster.spec.terraform is None:
            continue
        inputs = compute(cluster)
        identities = {hub: names.identity for hub, names in inputs.names.hubs.items()}
        outputs = example_outputs(cluster.name, cluster.provider, identities)
        for path, text in render_terraform_values(fleet, cluster, inputs, outputs).items():
            write(path, text)


def terraform_only() -> None:
    """Add the Terraform part to the committed clusters without touching a secret."""
    for name in TERRAFORM:
        path = FLEET / "config" / "clusters" / name / "cluster.yaml"
        header = "".join(
            line for line in path.read_text().splitlines(keepends=True) if line.startswith("#")
        )
        doc = yaml.safe_load(path.read_text())
        doc.pop("terraform", None)
        add_terraform(doc)
        write(f"config/clusters/{name}/cluster.yaml", doc, header=header)
    terraform_files()


LOCAL_HUB = """\
# hubfleet's local provider runs this hub as a JupyterHub process on 127.0.0.1.
hub:
  config:
    JupyterHub:
      authenticator_class: shared-password
    Authenticator:
      # No admin_users: the shared-password authenticator lets an admin user log in
      # only with a separate admin password, and the README promises that every user
      # name ("admin" too) logs in with the demo password.
      allow_all: true
    SharedPasswordAuthenticator:
      # The demo password, documented in the README: any user name logs in with it.
      # The marker tells `hubfleet validate` that this plaintext value is intended.
      user_password: demo-password-1234  # hubfleet: allow-plaintext
  extraConfig:
    00-banner: |
      c.JupyterHub.template_vars = {"announcement": "hubfleet local demo: {hub}"}
singleuser:
  # JupyterLab (installed with hubfleet's `local` extra); the health check opens it.
  defaultUrl: /lab
custom:
  community: {hub}
"""


def local_cluster() -> None:
    base = "config/clusters/local-demo"
    doc = {"name": "local-demo", "provider": "local", "local": {"base_port": 18000}, "hubs": []}
    for hub in ("staging", "research", "teaching"):
        doc["hubs"].append(
            {  # type: ignore[attr-defined]
                "name": hub,
                "display_name": f"{hub.title()} (local demo)",
                "domain": f"{hub}.local-demo.localhost",
                "helm_chart": "jupyterhub",
                "helm_chart_values_files": ["common.values.yaml", f"{hub}.values.yaml"],
            }
        )
        write(f"{base}/{hub}.values.yaml", LOCAL_HUB.replace("{hub}", hub))
    write(
        f"{base}/common.values.yaml",
        {
            "cull": {"enabled": True, "timeout": 3600, "every": 300},
            "singleuser": {"extraEnv": {"HUBFLEET_DEMO": "1"}},
        },
    )
    write(
        f"{base}/cluster.yaml",
        doc,
        header="# The local provider: every hub is a JupyterHub process on this machine.\n",
    )


def main() -> None:
    recipient = public_key()
    clusters = FLEET / "config" / "clusters"
    shutil.rmtree(clusters, ignore_errors=True)
    write(
        ".sops.yaml",
        {"creation_rules": [{"path_regex": r".*secret.*", "age": recipient}]},
        header="# Files whose name contains 'secret' are encrypted for the demo age key.\n",
    )
    # The deployer credentials below are FAKE: they have the shape of a GCP credential
    # file (a workload identity federation configuration, as `gcloud iam
    # workload-identity-pools create-cred-config` writes it: no key inside), an AWS
    # access key, an Azure service principal and a kubeconfig, so that the demo has
    # something realistic to encrypt and decrypt, but hold no key material and no
    # string shaped like one ("DEMO-...", "demo-..."). They open nothing.
    kube_cluster(
        "pilot-gcp",
        "gcp",
        {"project": "example-pilot", "cluster": "pilot", "region": "us-central1", "key": "x"},
        recipient,
        {
            "type": "external_account",
            "audience": "//iam.googleapis.com/projects/000000000000/locations/global/"
            "workloadIdentityPools/demo-pool/providers/demo-provider",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": "https://sts.googleapis.com/v1/token",
            "credential_source": {"file": "/var/run/demo/oidc-token"},
        },
        "enc-deployer-credentials.secret.json",
    )
    kube_cluster(
        "research-aws",
        "aws",
        {"account": "111122223333", "clusterName": "research", "region": "us-west-2", "key": "x"},
        recipient,
        {
            "AccessKey": {
                # FAKE, demo only: not even shaped like an issued key id.
                "AccessKeyId": "DEMO-NOT-AN-ACCESS-KEY",
                "SecretAccessKey": "demo-secret-access-key",
            }
        },
        "enc-deployer-credentials.secret.json",
    )
    kube_cluster(
        "teaching-azure",
        "azure",
        {
            "resource_group": "teaching-rg",
            "cluster": "teaching",
            "subscription": "00000000-0000-0000-0000-000000000000",
            "key": "x",
        },
        recipient,
        {
            "appId": "11111111-1111-1111-1111-111111111111",
            "password": "demo-service-principal-password",
            "tenant": "22222222-2222-2222-2222-222222222222",
        },
        "enc-deployer-credentials.secret.json",
    )
    kube_cluster(
        "onprem",
        "kubeconfig",
        {"file": "x"},
        recipient,
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "onprem",
            "clusters": [
                {"name": "onprem", "cluster": {"server": "https://k8s.onprem.example.org:6443"}}
            ],
            "users": [{"name": "deployer", "user": {"token": "demo-kube-token"}}],
            "contexts": [{"name": "onprem", "context": {"cluster": "onprem", "user": "deployer"}}],
        },
        "enc-deployer-credentials.secret.yaml",
    )
    local_cluster()
    terraform_files()


if __name__ == "__main__":
    if sys.argv[1:] == ["--terraform-only"]:
        terraform_only()
    else:
        main()
