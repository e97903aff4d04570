"""The loader (cluster.yaml and hubfleet.yaml parsing, names, file checks) on bad input:
`hubfleet validate` exits 2 and names the exact file and line, no traceback.

Each case copies the test fleet, breaks one thing, and names where the problem
must be reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.config.bad_input import (
    ALPHA,
    Case,
    assert_reported,
    parametrize,
    replace,
    symlink_outside,
)

LOAD_CASES: list[Case] = [
    (
        "yaml-syntax",
        replace(f"{ALPHA}/cluster.yaml", "zone: us-central1-b", "zone: [us"),
        f"{ALPHA}/cluster.yaml:7:",
        "YAML syntax error",
        False,
    ),
    (
        "wrong-type",
        replace(
            f"{ALPHA}/cluster.yaml",
            "  domain: prod1.alpha.example.org\n",
            "  domain: prod1.alpha.example.org\n  staging: maybe\n",
        ),
        f"{ALPHA}/cluster.yaml:21:",
        "staging",
        False,
    ),
    (
        "unknown-top-key",
        replace(f"{ALPHA}/cluster.yaml", "provider: gcp", "provider: gcp\nprovder: x"),
        f"{ALPHA}/cluster.yaml:3:",
        "unknown key 'provder'",
        False,
    ),
    (
        "typo-hint",
        replace(f"{ALPHA}/cluster.yaml", "  zone: us-central1-b", "  zonee: us-central1-b"),
        f"{ALPHA}/cluster.yaml:6:",
        "did you mean 'zone'",
        False,
    ),
    (
        "typo-hub-key",
        replace(f"{ALPHA}/cluster.yaml", "  domain: prod2.alpha", "  domian: prod2.alpha"),
        f"{ALPHA}/cluster.yaml:26:",
        "did you mean 'domain'",
        False,
    ),
    (
        "missing-required",
        replace(f"{ALPHA}/cluster.yaml", "  domain: prod2.alpha.example.org\n", ""),
        f"{ALPHA}/cluster.yaml:25:",
        "missing required key 'hubs.2.domain'",
        False,
    ),
    (
        "missing-file",
        replace(f"{ALPHA}/cluster.yaml", "- prod2.values.yaml", "- prod3.values.yaml"),
        f"{ALPHA}/cluster.yaml:29:",
        "does not exist (hint: did you mean 'prod2.values.yaml'",
        False,
    ),
    (
        "path-escape",
        replace(f"{ALPHA}/cluster.yaml", "- prod2.values.yaml", "- ../../../../etc/passwd"),
        f"{ALPHA}/cluster.yaml:29:",
        "outside the repository",
        False,
    ),
    (
        "absolute-path",
        replace(f"{ALPHA}/cluster.yaml", "- prod2.values.yaml", "- /etc/passwd"),
        f"{ALPHA}/cluster.yaml:29:",
        "absolute path",
        False,
    ),
    (
        "symlink-outside",
        symlink_outside,
        f"{ALPHA}/cluster.yaml:29:",
        "link pointing outside",
        False,
    ),
    (
        "folder-not-file",
        replace(f"{ALPHA}/cluster.yaml", "- prod2.values.yaml", "- ."),
        f"{ALPHA}/cluster.yaml:29:",
        "is a folder",
        False,
    ),
    (
        "duplicate-hub",
        replace(f"{ALPHA}/cluster.yaml", "- name: prod2", "- name: prod1"),
        f"{ALPHA}/cluster.yaml:25:",
        "duplicate hub name 'prod1'",
        False,
    ),
    (
        "duplicate-domain",
        replace(f"{ALPHA}/cluster.yaml", "domain: prod2.alpha", "domain: prod1.alpha"),
        f"{ALPHA}/cluster.yaml:26:",
        "domain 'prod1.alpha.example.org' is also used",
        False,
    ),
    (
        "duplicate-domain-across-clusters",
        replace(
            "config/clusters/beta/cluster.yaml", "domain: research.beta", "domain: prod1.alpha"
        ),
        "config/clusters/beta/cluster.yaml:",
        "is also used by another hub",
        False,
    ),
    (
        "provider-mismatch",
        replace(f"{ALPHA}/cluster.yaml", "provider: gcp", "provider: aws"),
        f"{ALPHA}/cluster.yaml:3:",
        "gcp: block given but provider is 'aws'",
        False,
    ),
    (
        "provider-block-missing",
        replace("config/clusters/beta/cluster.yaml", "provider: aws\naws:", "provider: aws\nawss:"),
        "config/clusters/beta/cluster.yaml:3:",
        "unknown key 'awss'",
        False,
    ),
    (
        "unknown-provider",
        replace(f"{ALPHA}/cluster.yaml", "provider: gcp", "provider: gce"),
        f"{ALPHA}/cluster.yaml:2:",
        "did you mean 'gcp'",
        False,
    ),
    (
        "name-not-folder",
        replace(f"{ALPHA}/cluster.yaml", "name: alpha", "name: alfa"),
        f"{ALPHA}/cluster.yaml:1:",
        "does not match its folder",
        False,
    ),
    (
        "gcp-no-location",
        replace(f"{ALPHA}/cluster.yaml", "  zone: us-central1-b\n", ""),
        f"{ALPHA}/cluster.yaml:3:",
        "needs 'zone' or 'region'",
        False,
    ),
    (
        "duplicate-key",
        replace(f"{ALPHA}/cluster.yaml", "provider: gcp", "provider: gcp\nprovider: gcp"),
        f"{ALPHA}/cluster.yaml:3:",
        "duplicate key 'provider'",
        False,
    ),
    (
        "hubs-not-list",
        replace("config/clusters/gamma/cluster.yaml", "hubs:\n- name: prod", "hubs:\n  name: prod"),
        "config/clusters/gamma/cluster.yaml:",
        "hubs must be a list",
        False,
    ),
    (
        "invalid-hub-name",
        replace(f"{ALPHA}/cluster.yaml", "- name: prod2", "- name: Prod_2"),
        f"{ALPHA}/cluster.yaml:25:",
        "not a valid release and namespace name",
        False,
    ),
    (
        "hub-name-too-long",
        replace(f"{ALPHA}/cluster.yaml", "- name: prod2", "- name: " + "p" * 54),
        f"{ALPHA}/cluster.yaml:25:",
        "not a valid release",
        False,
    ),
    (
        "invalid-domain",
        replace(f"{ALPHA}/cluster.yaml", "domain: prod2.alpha.example.org", "domain: prod2..org"),
        f"{ALPHA}/cluster.yaml:26:",
        "invalid domain",
        False,
    ),
    (
        "unknown-chart",
        replace(
            f"{ALPHA}/cluster.yaml",
            "  domain: prod2.alpha.example.org\n",
            "  domain: prod2.alpha.example.org\n  helm_chart: testhubb\n",
        ),
        f"{ALPHA}/cluster.yaml:27:",
        "did you mean 'testhub'",
        False,
    ),
    (
        "settings-unknown-key",
        replace("hubfleet.yaml", "redeploy_all_when_changed", "redeploy_all_when_change"),
        "hubfleet.yaml:",
        "did you mean 'redeploy_all_when_changed'",
        False,
    ),
    (
        "settings-wrong-type",
        replace("hubfleet.yaml", "version: 4.2.0", "version: 4"),
        "hubfleet.yaml:5:",
        "charts.jupyterhub.version",
        False,
    ),
]


@parametrize(LOAD_CASES)
def test_bad_input(fleet_copy: Path, run_cli, monkeypatch: pytest.MonkeyPatch, case: tuple) -> None:  # type: ignore[no-untyped-def, type-arg]
    assert_reported(fleet_copy, run_cli, monkeypatch, *case)


def test_an_unknown_chart_is_reported_once_at_its_line(
    fleet_copy: Path,
    run_cli,
    no_age_key: None,  # type: ignore[no-untyped-def]
) -> None:
    replace(
        f"{ALPHA}/cluster.yaml",
        "  domain: prod2.alpha.example.org\n",
        "  domain: prod2.alpha.example.org\n  helm_chart: testhubb\n",
    )(fleet_copy)
    result = run_cli("--repo", fleet_copy, "validate")
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        f"{ALPHA}/cluster.yaml:27: unknown chart 'testhubb': no helm-charts/testhubb/Chart.yaml"
        " and no entry in hubfleet.yaml charts (hint: did you mean 'testhub'?)"
    ]
