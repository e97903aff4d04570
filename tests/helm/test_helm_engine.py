"""The embedded Helm engine: render, values schema checks, chart info."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hubfleet.base.errors import ChartError
from hubfleet.helm.engine import chart_info, check_values, render, values_problems

CHARTS = Path(__file__).parents[1] / "fixtures" / "charts"
TESTHUB = CHARTS / "testhub"


def test_render_testhub() -> None:
    values = {
        "ingress": {"hosts": ["staging.example.org"]},
        "singleuser": {"image": {"name": "pangeo/pangeo-notebook", "tag": "2024.01.01"}},
        "hub": {"config": {"JupyterHub": {"admin_access": True}}},
        "proxy": {"secretToken": "abc"},
    }
    manifests = render(TESTHUB, values, release="staging", namespace="staging")
    assert list(manifests) == sorted(manifests)
    assert set(manifests) == {
        "testhub/charts/extras/templates/configmap.yaml",
        "testhub/templates/configmap.yaml",
        "testhub/templates/deployment.yaml",
        "testhub/templates/ingress.yaml",
        "testhub/templates/secret.yaml",
        "testhub/templates/service.yaml",
    }  # NOTES.txt dropped
    deployment = yaml.safe_load(manifests["testhub/templates/deployment.yaml"])
    assert deployment["metadata"] == {
        "name": "staging-hub",
        "namespace": "staging",
        "labels": {
            "app.kubernetes.io/name": "testhub",
            "app.kubernetes.io/instance": "staging",
            "app.kubernetes.io/version": "5.2.1",
            "helm.sh/chart": "testhub-0.1.0",
        },
    }
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "SINGLEUSER_IMAGE", "value": "pangeo/pangeo-notebook:2024.01.01"} in env
    config = yaml.safe_load(manifests["testhub/templates/configmap.yaml"])
    assert yaml.safe_load(config["data"]["hub-config.yaml"]) == {
        "JupyterHub": {"admin_access": True, "authenticator_class": "dummy"}
    }
    ingress = yaml.safe_load(manifests["testhub/templates/ingress.yaml"])
    assert ingress["spec"]["rules"][0]["host"] == "staging.example.org"
    secret = yaml.safe_load(manifests["testhub/templates/secret.yaml"])
    assert secret["data"]["proxy.secretToken"] == "YWJj"
    assert render(TESTHUB, values, release="staging", namespace="staging") == manifests


def test_render_drops_disabled_subchart_and_empty_templates() -> None:
    manifests = render(
        TESTHUB,
        {"extras": {"enabled": False}, "ingress": {"enabled": False}},
        release="a",
        namespace="a",
    )
    assert not any("extras" in name or "ingress" in name for name in manifests)


def test_yaml_dates_reach_the_engine_as_strings() -> None:
    import datetime

    manifests = render(
        TESTHUB,
        {"singleuser": {"image": {"tag": datetime.date(2024, 1, 2)}}},
        release="a",
        namespace="a",
    )
    assert "singleuser-sample:2024-01-02" in manifests["testhub/templates/configmap.yaml"]


def test_schema_violation_names_the_key_path() -> None:
    assert check_values(TESTHUB, {"hub": {"image": {"tag": "4.1"}}}) == []
    messages = check_values(
        TESTHUB,
        {
            "hub": {"image": {"tag": 5, "pullPolicy": "Always"}},
            "ingress": {"hosts": ["ok.example.org", 3]},
            "proxy": {"service": {"type": "Bogus"}},
        },
    )
    assert messages == [
        "hub.image.pullPolicy: unknown key (not in the chart's schema)",
        "hub.image.tag: expected string, got number",
        "ingress.hosts[1]: expected string, got number",
        "proxy.service.type: value must be one of 'ClusterIP', 'NodePort', 'LoadBalancer'",
    ]
    problems = values_problems(TESTHUB, {"ingress": {"hosts": ["a", 3]}})
    assert [p.path for p in problems] == [("ingress", "hosts", 1)]


def test_null_removing_a_required_key_is_reported() -> None:
    assert check_values(TESTHUB, {"hub": {"image": {"tag": None}}}) == [
        "hub.image.tag: required key is missing"
    ]


def test_subchart_schema_violation_names_the_key_path() -> None:
    messages = check_values(TESTHUB, {"extras": {"replicas": "two", "colour": "red"}})
    assert messages == [
        "extras.colour: unknown key (not in the chart's schema)",
        "extras.replicas: expected integer, got string",
    ]


def test_disabled_subchart_is_not_checked() -> None:
    assert check_values(TESTHUB, {"extras": {"enabled": False, "replicas": "two"}}) == []


def test_aliased_subchart_is_checked_under_its_alias(tmp_path: Path) -> None:
    chart = tmp_path / "testhub"
    shutil.copytree(TESTHUB, chart)
    meta = (chart / "Chart.yaml").read_text()
    (chart / "Chart.yaml").write_text(
        meta.replace("condition: extras.enabled", "alias: more\n    condition: more.enabled")
    )
    (chart / "values.yaml").write_text(
        (chart / "values.yaml").read_text().replace("extras:", "more:")
    )
    assert check_values(chart, {"more": {"replicas": "x"}}) == [
        "more.replicas: expected integer, got string"
    ]
    assert check_values(chart, {"extras": {"replicas": "x"}}) == []


def test_render_reports_schema_violation_clearly() -> None:
    with pytest.raises(ChartError) as caught:
        render(TESTHUB, {"hub": {"image": {"tag": 5}}}, release="a", namespace="a")
    assert "values.schema.json" in caught.value.message
    assert "hub.image.tag: expected string, got number" in caught.value.message


def test_render_error_names_the_template() -> None:
    with pytest.raises(ChartError) as caught:
        render(CHARTS / "broken" / "badtemplate", {}, release="a", namespace="a")
    message = caught.value.message
    assert "badtemplate/templates/ingress.yaml" in message
    assert "a domain is required" in message
    render(CHARTS / "broken" / "badtemplate", {"domain": "x.org"}, release="a", namespace="a")


def test_chart_is_reloaded_when_a_file_changes(tmp_path: Path) -> None:
    chart = tmp_path / "testhub"
    shutil.copytree(TESTHUB, chart)
    before = render(chart, {}, release="a", namespace="a")
    template = chart / "templates" / "service.yaml"
    template.write_text(template.read_text().replace("proxy-public", "proxy-changed"))
    after = render(chart, {}, release="a", namespace="a")
    assert "proxy-public" in before["testhub/templates/service.yaml"]
    assert "proxy-changed" in after["testhub/templates/service.yaml"]


def test_missing_or_invalid_chart(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match="not found"):
        render(tmp_path / "nothing", {}, release="a", namespace="a")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ChartError, match="cannot load chart"):
        render(tmp_path / "empty", {}, release="a", namespace="a")


def test_chart_info() -> None:
    info = chart_info(TESTHUB)
    assert (info.name, info.version, info.app_version) == ("testhub", "0.1.0", "5.2.1")
    assert [(d.name, d.version, d.condition) for d in info.dependencies] == [
        ("extras", "0.1.0", "extras.enabled")
    ]


def test_render_does_not_leak_between_calls() -> None:
    # helm_python's Chart.render drops disabled subcharts from the loaded chart
    # for good; the engine must render a fresh copy every time.
    name = "testhub/charts/extras/templates/configmap.yaml"
    assert name not in render(TESTHUB, {"extras": {"enabled": False}}, release="a", namespace="a")
    assert name in render(TESTHUB, {}, release="a", namespace="a")
    assert check_values(TESTHUB, {"extras": {"replicas": "x"}}) == [
        "extras.replicas: expected integer, got string"
    ]


def test_concurrent_renders_match_serial_ones() -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(index: int) -> dict[str, str]:
        values = {
            "ingress": {"hosts": [f"hub{index}.example.org"]},
            "extras": {"enabled": index % 2 == 0},
        }
        return render(TESTHUB, values, release=f"hub{index}", namespace="ns")

    serial = [one(index) for index in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(one, range(16)))
    assert parallel == serial
