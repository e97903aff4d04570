"""Semantic comparison of `cluster.yaml` and `hubfleet.yaml` at two revisions.

The parsed data is compared, never the text: reordering keys, comments and
quoting change nothing. The rules (documented in `hubfleet plan --help`):

`cluster.yaml`
- `name`, `provider` or the provider block (`gcp`, `aws`, `azure`,
  `kubeconfig`, `local`; its `billing` map excepted): the whole cluster
  (support release and every hub), since every release is deployed with them;
- `support`: the support release;
- `terraform`: no release (the cluster gets a terraform job instead);
- a hub entry added or edited: that hub; removed: listed in `removed_hubs`
  (a plan never uninstalls);
- free information (`provider_url`, `metadata`, `tenancy`, `billing`, and a
  hub's `display_name` and `uptime_check`) and a hub's `health_check` (how it is
  checked, not what is deployed): nothing is deployed; noted in `skipped`;
- any other key: the whole cluster (unknown means unsafe to ignore).

`hubfleet.yaml`
- `charts.<name>` (version or repository) added, changed or removed: every
  release using that chart from the repository (a local `helm-charts/<name>/`
  folder or a `chart_override` wins over the pin);
- `default_chart`: hubs on the new default chart;
- `hubfleet_version`: every release (the deploy tooling changed);
- `redeploy_all_when_changed`, `kubernetes_version`, `deploy`, `plan`: nothing
  (they decide what is checked, how deploys run or how plans are shown, not what
  is deployed);
- any other key: every release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hubfleet.config.providers import PROVIDERS

CLUSTER_INFO_KEYS = frozenset({"provider_url", "metadata", "tenancy"})
HUB_INFO_KEYS = frozenset({"display_name", "uptime_check", "health_check"})
FLEET_NOOP_KEYS = frozenset({"redeploy_all_when_changed", "kubernetes_version", "deploy", "plan"})


@dataclass
class ClusterDiff:
    """What one `cluster.yaml` change selects."""

    cluster: str
    whole: list[str] = field(default_factory=list)
    support: list[str] = field(default_factory=list)
    hubs: dict[str, list[str]] = field(default_factory=dict)
    removed_hubs: dict[str, list[str]] = field(default_factory=dict)
    informational: dict[str | None, list[str]] = field(default_factory=dict)


def _mapping(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


def _hub_entries(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    hubs = data.get("hubs")
    found: dict[str, dict[str, Any]] = {}
    if isinstance(hubs, list):
        for entry in hubs:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                found.setdefault(entry["name"], entry)
    return found


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(str(k) for k in set(old) | set(new) if old.get(k) != new.get(k))


def diff_cluster_yaml(cluster: str, path: str, old: Any, new: Any) -> ClusterDiff:
    """Compare the parsed `cluster.yaml` of `cluster` at base (`old`) and head (`new`)."""
    result = ClusterDiff(cluster)
    before, after = _mapping(old), _mapping(new)
    if not before:
        result.whole.append(f"{path} added (new cluster)")
        return result
    if not after:
        for name in _hub_entries(before):
            result.removed_hubs[name] = [
                f"{path} deleted: hub {name} removed with its cluster (not uninstalled by a plan)"
            ]
        return result
    top_keys = _changed_keys(
        {k: v for k, v in before.items() if k != "hubs"},
        {k: v for k, v in after.items() if k != "hubs"},
    )
    for key in top_keys:
        if key in CLUSTER_INFO_KEYS:
            result.informational.setdefault(None, []).append(
                f"{path}: only free information changed ({key})"
            )
        elif key in PROVIDERS:
            old_block, new_block = _mapping(before.get(key)), _mapping(after.get(key))
            strip = {"billing"}
            if {k: v for k, v in old_block.items() if k not in strip} != {
                k: v for k, v in new_block.items() if k not in strip
            }:
                result.whole.append(f"{path}: provider/credentials block {key!r} changed")
            else:
                result.informational.setdefault(None, []).append(
                    f"{path}: only free information changed ({key}.billing)"
                )
        elif key == "provider":
            result.whole.append(
                f"{path}: provider changed from {before.get(key)!r} to {after.get(key)!r}"
            )
        elif key == "support":
            result.support.append(f"{path}: support block changed")
        elif key == "terraform":  # infrastructure: terraform_jobs (plan/terraform.py)
            result.informational.setdefault(None, []).append(
                f"{path}: only the terraform block changed (see terraform_jobs)"
            )
        else:
            result.whole.append(f"{path}: key {key!r} changed")
    old_hubs, new_hubs = _hub_entries(before), _hub_entries(after)
    for name, entry in new_hubs.items():
        previous = old_hubs.get(name)
        if previous is None:
            result.hubs[name] = [f"{path}: hub {name} added"]
            continue
        keys = _changed_keys(previous, entry)
        relevant = [k for k in keys if k not in HUB_INFO_KEYS]
        if relevant:
            result.hubs[name] = [f"{path}: hub {name}: {', '.join(relevant)} changed"]
            result.hubs[name] += _values_list_change(
                previous.get("helm_chart_values_files"), entry.get("helm_chart_values_files")
            )
        elif keys:
            result.informational.setdefault(name, []).append(
                f"{path}: hub {name}: only free information changed ({', '.join(keys)})"
            )
    for name in old_hubs:
        if name not in new_hubs:
            result.removed_hubs[name] = [f"{path}: hub {name} removed (not uninstalled by a plan)"]
    return result


def _values_list_change(old: Any, new: Any) -> list[str]:
    """Which files a hub's helm_chart_values_files gained or lost."""
    before = [str(p) for p in old] if isinstance(old, list) else []
    after = [str(p) for p in new] if isinstance(new, list) else []
    reasons = [f"values file {p} no longer used" for p in before if p not in after]
    reasons += [f"values file {p} now used" for p in after if p not in before]
    if not reasons and before != after:
        reasons.append("values files reordered")
    return reasons


@dataclass
class FleetDiff:
    """What a `hubfleet.yaml` change selects."""

    everything: list[str] = field(default_factory=list)
    charts: dict[str, str] = field(default_factory=dict)  # chart name -> reason
    default_chart: tuple[str, str] | None = None  # (new default, reason)


def _describe_chart(value: Any) -> str:
    if not isinstance(value, dict):
        return "absent"
    return f"{value.get('version')} from {value.get('repository')}"


def diff_fleet_settings(path: str, old: Any, new: Any) -> FleetDiff:
    result = FleetDiff()
    before, after = _mapping(old), _mapping(new)
    for key in _changed_keys(before, after):
        if key == "charts":
            old_charts, new_charts = _mapping(before.get(key)), _mapping(after.get(key))
            for name in _changed_keys(old_charts, new_charts):
                old_pin, new_pin = old_charts.get(name), new_charts.get(name)
                if _mapping(old_pin).get("version") != _mapping(new_pin).get("version") and (
                    _mapping(old_pin).get("repository") == _mapping(new_pin).get("repository")
                ):
                    what = (
                        f"charts.{name}.version changed from "
                        f"{_mapping(old_pin).get('version')} to {_mapping(new_pin).get('version')}"
                    )
                else:
                    what = (
                        f"charts.{name} changed from {_describe_chart(old_pin)} "
                        f"to {_describe_chart(new_pin)}"
                    )
                result.charts[name] = f"{path}: {what}"
        elif key == "default_chart":
            new_default = after.get(key)
            reason = f"{path}: default_chart changed from {before.get(key)} to {new_default}"
            if isinstance(new_default, str):
                result.default_chart = (new_default, reason)
            else:
                result.everything.append(reason)
        elif key == "hubfleet_version":
            result.everything.append(
                f"{path}: hubfleet_version changed from {before.get(key)} to {after.get(key)} "
                "(the deploy tooling)"
            )
        elif key not in FLEET_NOOP_KEYS:  # those do not change what is deployed
            result.everything.append(f"{path}: key {key!r} changed")
    return result
