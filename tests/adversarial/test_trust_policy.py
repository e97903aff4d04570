"""A hostile community owner's pull request, end to end through the real CLI (issue 21,
point 1): `hubfleet validate` refuses it (exit 2) at `path:line` naming the rule, and
`hubfleet plan --event` says it is not community-only, at the same `path:line`, so it
never deploys on the owner's approval alone. No traceback, and neither output holds
the age key or any decrypted value of the fleet, in any form.

The test fleet's hub alpha/prod2 gets a community (`@alice`) and its own
`prod2.community.values.yaml`; the fleet's z2jh nesting is set per case through
hubfleet.yaml's `z2jh_values_keys` (the chart itself is z2jh-shaped), so each case
runs at the top level, under `jupyterhub.` (basehub) or `basehub.jupyterhub.` (daskhub).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AGE_KEY, TEST_FLEET
from tests.plan.conftest import GitFleet
from tests.secretscan import IDENTIFIER_KEYS, age_secret_keys, decrypted_leaves, find_secrets

CLUSTER = "config/clusters/alpha"
COMMUNITY = f"{CLUSTER}/prod2.community.values.yaml"
NESTINGS = {"z2jh": "", "basehub": "jupyterhub", "daskhub": "basehub.jupyterhub"}
SETTINGS = """
community:
  platform_owners: ["@org/platform"]
  policy:
    pod:
      registries: [quay.io/jupyter]
      max_memory: 8G
"""
BENIGN = """singleuser:
  image:
    name: quay.io/jupyter/scipy-notebook
    tag: '2025-10-20'
"""


def _nested(text: str, nesting: str) -> str:
    keys = nesting.split(".") if nesting else []
    head = "".join(f"{'  ' * depth}{key}:\n" for depth, key in enumerate(keys))
    pad = "  " * len(keys)
    return head + "".join(f"{pad}{line}\n" for line in text.splitlines())


def _secrets(fleet: Path) -> set[str]:
    """The age key and every decrypted value of the fleet (sops itself decrypts them)."""
    values = decrypted_leaves(fleet, AGE_KEY, skip_keys=IDENTIFIER_KEYS)
    return age_secret_keys(AGE_KEY) | {v for v in values if len(v) >= 8}


@pytest.fixture(scope="module")
def fleet_secrets() -> set[str]:
    found = _secrets(TEST_FLEET)
    assert len(found) > 5
    return found


def _community_fleet(root: Path, nesting: str) -> GitFleet:
    """prod2 gets a community and a benign community file, committed and tagged `base`."""
    settings = SETTINGS
    if nesting:
        settings += f"z2jh_values_keys:\n  testhub: {nesting}\n"
    with (root / "hubfleet.yaml").open("a") as handle:
        handle.write(settings)
    cluster = root / CLUSTER / "cluster.yaml"
    text = cluster.read_text()
    old = "  - common.values.yaml\n  - prod2.values.yaml\n"
    assert text.endswith(old), text[-200:]
    cluster.write_text(
        text + "  - prod2.community.values.yaml\n  community:\n    owners: ['@alice']\n"
    )
    (root / COMMUNITY).write_text(_nested(BENIGN, nesting))
    return GitFleet.started(root)


def _event(tmp: Path) -> Path:
    payload = {
        "pull_request": {"number": 7, "user": {"login": "alice"}},
        "reviews": [],
    }
    path = tmp / "event.json"
    path.write_text(json.dumps(payload))
    return path


# (name, nesting, the community file at z2jh's level (`#!` marks the refused line), rule)
CASES = [
    ("uid 0 and a hostPath in a profile", "z2jh", """singleuser:
  image:
    name: quay.io/jupyter/scipy-notebook
    tag: '2025-10-20'
  profileList:
  - display_name: Root
    kubespawner_override:
      uid: 0  #!
      volumes:
      - name: root
        hostPath: {path: /}
""", "pod.user-root"),
    ("runAsUser 0 with SYS_ADMIN", "z2jh", """singleuser:
  profileList:
  - display_name: Admin
    kubespawner_override:
      container_security_context:
        runAsUser: 1000
        capabilities:
          add: [SYS_ADMIN]  #!
""", "pod.capabilities"),
    ("proxy https off under basehub", "basehub", """singleuser:
  image:
    tag: '2025-10-20'
proxy:  #!
  https:
    enabled: false
""", "policy.denied"),
    ("network access to the proxy API under basehub", "basehub", """singleuser:
  profileList:
  - display_name: Net
    kubespawner_override:
      extra_labels:
        hub.jupyter.org/network-access-proxy-api: 'true'  #!
""", "pod.network-access"),
    ("an image from any registry in a choice under daskhub", "daskhub", """singleuser:
  profileList:
  - display_name: Choose
    profile_options:
      image:
        display_name: Image
        choices:
          miner:
            display_name: Miner
            kubespawner_override:
              image: ghcr.io/someone/miner:1  #!
""", "pod.image-registry"),
    ("node affinity onto core nodes under daskhub", "daskhub", """singleuser:
  profileList:
  - display_name: Core
    kubespawner_override:
      node_affinity_required:
      - matchExpressions:
        - key: hub.jupyter.org/node-purpose  #!
          operator: In
          values: [core]
""", "pod.node-placement"),
    ("an upper-case secret in environment", "z2jh", """singleuser:
  profileList:
  - display_name: S3
    kubespawner_override:
      environment:
        AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMIK7MDENGbPxRfiCY  #!
""", "pod.plaintext-secret"),
    ("a merge key reusing root from a free-form key", "basehub", """custom:
  homepage:
    templateVars: &root
      uid: '0'  #!
singleuser:
  profileList:
  - display_name: Merged
    kubespawner_override:
      <<: *root
      mem_limit: 4G
""", "pod.user-root"),
    ("z2jh keys at the wrong nesting of a basehub fleet", "basehub", "", "policy.not-allowed"),
    ("privileged through hub.config.KubeSpawner under daskhub", "daskhub", """hub:
  config:
    KubeSpawner:
      privileged: 'True'  #!
""", "pod.privileged"),
]  # fmt: skip
WRONG_NESTING = "singleuser:  #!\n  uid: 0\n"


def _run(run_cli: Any, *args: str | Path) -> Any:
    result = run_cli(*args)
    assert "Traceback" not in result.output, result.output
    assert result.exit_code in (0, 2), result.output
    return result


@pytest.mark.parametrize(("name", "nesting", "body", "rule"), CASES, ids=[c[0] for c in CASES])
def test_hostile_community_change_is_refused_at_its_line(
    run_cli: Any,
    fleet_copy: Path,
    tmp_path: Path,
    age_key: Path,
    fleet_secrets: set[str],
    name: str,
    nesting: str,
    body: str,
    rule: str,
) -> None:
    key = NESTINGS[nesting]
    _community_fleet(fleet_copy, key)
    text = WRONG_NESTING if not body else _nested(body, key)
    (fleet_copy / COMMUNITY).write_text(text)
    line = next(n for n, s in enumerate(text.splitlines(), start=1) if "#!" in s)
    where = f"{COMMUNITY}:{line}: hub alpha/prod2: {rule}: "

    validated = _run(run_cli, "--repo", fleet_copy, "validate", "alpha", "prod2")
    assert validated.exit_code == 2, validated.output
    assert where in validated.output, validated.output

    planned = _run(
        run_cli, "--repo", fleet_copy, "plan", "--base", "base", "--event", _event(tmp_path),
        "--output", "json",
    )  # fmt: skip
    assert planned.exit_code == 0, planned.output
    community = json.loads(planned.stdout)["community"]
    assert community["community_only"] is False
    assert community["files_only"] is False
    assert any(r.startswith(where) for r in community["reasons"]), community["reasons"]

    shown = _run(
        run_cli, "--repo", fleet_copy, "plan", "--base", "base", "--event", _event(tmp_path),
        "--output", "markdown",
    )  # fmt: skip
    assert where in shown.output
    for result in (validated, planned, shown):
        assert find_secrets(result.output.encode(), fleet_secrets) == []


@pytest.mark.parametrize("nesting", NESTINGS)
def test_harmless_change_deploys_on_the_owner_approval(
    run_cli: Any,
    fleet_copy: Path,
    tmp_path: Path,
    age_key: Path,
    fleet_secrets: set[str],
    nesting: str,
) -> None:
    key = NESTINGS[nesting]
    repo = _community_fleet(fleet_copy, key)
    change = _nested(BENIGN.replace("2025-10-20", "2026-01-05") + "  memory:\n    limit: 4G\n", key)
    (fleet_copy / COMMUNITY).write_text(change)
    planned = _run(
        run_cli, "--repo", fleet_copy, "plan", "--base", "base", "--event", _event(tmp_path),
        "--output", "json",
    )  # fmt: skip
    community = json.loads(planned.stdout)["community"]
    # singleuser.memory is not in the default allow list ...
    assert community["community_only"] is False
    assert any("policy.not-allowed" in r for r in community["reasons"]), community["reasons"]
    # ... until the platform team allows it for this hub (max_memory bounds it)
    (fleet_copy / COMMUNITY).write_text(_nested(BENIGN, key))
    cluster = fleet_copy / CLUSTER / "cluster.yaml"
    cluster.write_text(cluster.read_text() + "    policy:\n      allow: [singleuser.memory]\n")
    repo.commit("platform: prod2 may set its memory")
    repo.git("tag", "allowed")
    (fleet_copy / COMMUNITY).write_text(change)
    planned = _run(
        run_cli, "--repo", fleet_copy, "plan", "--base", "allowed", "--event", _event(tmp_path),
        "--output", "json",
    )  # fmt: skip
    community = json.loads(planned.stdout)["community"]
    assert community["community_only"] is True, community["reasons"]
    validated = _run(run_cli, "--repo", fleet_copy, "validate", "alpha", "prod2")
    assert f"{COMMUNITY}:" not in validated.output, validated.output
    listed = _run(run_cli, "--repo", fleet_copy, "community", "--output", "json")
    hub = json.loads(listed.stdout)["hubs"][0]
    assert hub["may_change"]["z2jh_values_key"] == key
    assert hub["may_change"]["pod"]["registries"] == ["quay.io/jupyter"]
    output = planned.output + listed.output + validated.output
    assert find_secrets(output.encode(), fleet_secrets) == []
