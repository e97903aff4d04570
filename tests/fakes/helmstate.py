"""The stateful fake helm: per cluster, releases with revisions, as helm keeps them.

Enabled by the script's `helm_state` key (`FakeTools.script(rules, helm_state=DIR)`,
or the variable FAKE_HELM_STATE): the fake `helm` then answers `list`, `history`,
`get values|manifest|metadata`, `status`, `upgrade [--install]`, `install`,
`rollback` and `uninstall` from `DIR/<cluster>.json` (under `DIR/<cluster>.lock`),
with the JSON shapes of helm 3:

    list --output json     [{"name", "namespace", "revision": "3", "updated":
                             "2026-01-02 15:04:05.123456789 +0000 UTC", "status",
                             "chart": "name-1.2.3", "app_version"}]
    history --output json  [{"revision": 3, "updated": "2026-01-02T15:04:05.123456789Z",
                             "status", "chart", "app_version", "description"}]

The cluster is `--kube-context`, else the cluster named by hubfleet's private
kubeconfig folder (`hubfleet-creds-<cluster>-...`), else the kubeconfig's path,
else "default". A rule of the script still wins: a matching rule with a non-zero
`exit` makes the call fail and leaves the state as helm would (a failed upgrade or
install adds a revision in status `failed` whose description is helm's error, the
revision before it stays `deployed`; a failed rollback adds a `failed` revision
too); a matching rule with exit 0 runs the state's command and may replace its
stdout. `upgrade` records the revision's values (the content of each `--values`
file, as helm would store them in the cluster: keep DIR out of secret scans),
labels (`--labels`, merged with the earlier revision's like helm's; `k=null`
unsets) and a manifest (a ConfigMap: nothing for the rollout watch to wait on,
unless seeded). Standard library only: fakebin.py imports it only when enabled.

From tests, `HelmState(DIR)` seeds and inspects the same files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

COMMANDS = ("list", "ls", "history", "hist", "get", "status", "upgrade", "install",
            "rollback", "uninstall", "delete")  # fmt: skip
_PRIVATE = re.compile(
    r"^hubfleet-creds-(.+)-[A-Za-z0-9_]{8}\.\d+\.\d+\.[0-9a-f]{8}\.\d+\.[0-9a-f]{8}$"
)
# Options of these commands that take a value (the rest are booleans).
_VALUED = {
    "--namespace", "-n", "--kubeconfig", "--kube-context", "--output", "-o", "--filter",
    "-f", "--max", "--offset", "--values", "--timeout", "--version", "--repo", "--description",
    "--labels", "-l", "--selector", "--revision", "--history-max", "--post-renderer",
    "--set", "--set-string", "--set-file", "--set-json", "--wait-for-jobs", "--cascade",
}  # fmt: skip
_CHART_FIELD = re.compile(r"^(name|version|appVersion):\s*['\"]?([^'\"\s#]+)", re.MULTILINE)
_ARCHIVE = re.compile(r"^(?P<name>.+?)-(?P<version>v?\d+\.\d+\.\d+[^/]*?)\.tgz$")


# ----------------------------------------------------------------------------- store


class HelmState:
    """One folder of fake clusters: seed and inspect them from tests."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = os.fspath(folder)

    def path(self, cluster: str) -> str:
        return os.path.join(self.folder, f"{_safe(cluster)}.json")

    @contextlib.contextmanager
    def cluster(self, cluster: str) -> Iterator[dict[str, Any]]:
        """The cluster's store, locked; changes are written back when the block ends."""
        os.makedirs(self.folder, exist_ok=True)
        fd = os.open(os.path.join(self.folder, f"{_safe(cluster)}.lock"), os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                with open(self.path(cluster), encoding="utf-8") as handle:
                    data = json.load(handle)
            except FileNotFoundError:
                data = {"releases": {}}
            yield data
            tmp = self.path(cluster) + f".{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
            os.replace(tmp, self.path(cluster))
        finally:
            os.close(fd)

    def read(self, cluster: str) -> dict[str, Any]:
        try:
            with open(self.path(cluster), encoding="utf-8") as handle:
                data: dict[str, Any] = json.load(handle)
                return data
        except FileNotFoundError:
            return {"releases": {}}

    def clusters(self) -> list[str]:
        if not os.path.isdir(self.folder):
            return []
        return sorted(n[:-5] for n in os.listdir(self.folder) if n.endswith(".json"))

    def release(self, cluster: str, name: str, namespace: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.read(cluster)["releases"].get(f"{namespace}/{name}")
        return found

    def revisions(self, cluster: str, name: str, namespace: str) -> list[dict[str, Any]]:
        found = self.release(cluster, name, namespace)
        return list(found["revisions"]) if found else []

    def latest(self, cluster: str, name: str, namespace: str) -> dict[str, Any] | None:
        revisions = self.revisions(cluster, name, namespace)
        return revisions[-1] if revisions else None

    def seed(
        self,
        cluster: str,
        name: str,
        namespace: str,
        *,
        chart: str = "testhub-0.1.0",
        app_version: str = "1.0",
        status: str = "deployed",
        description: str = "Install complete",
        labels: dict[str, str] | None = None,
        manifest: str | None = None,
    ) -> int:
        """Add a revision to a release (created when absent), as a person's helm would;
        the revision number. The deployed revision before it becomes `superseded`."""
        with self.cluster(cluster) as data:
            release = _release(data, name, namespace, create=True)
            chart_name, _, version = chart.rpartition("-")
            return _add_revision(
                release,
                {
                    "chart": chart_name or chart,
                    "version": version,
                    "app_version": app_version,
                    "description": description,
                    "labels": dict(labels or {}),
                    "values": [],
                    "manifest": manifest if manifest is not None else _manifest(name, namespace),
                },
                status,
            )

    def set_status(self, cluster: str, name: str, namespace: str, status: str) -> None:
        """Change the latest revision's status (e.g. `pending-upgrade`, as an interrupted
        helm leaves it)."""
        with self.cluster(cluster) as data:
            _release(data, name, namespace)["revisions"][-1]["status"] = status

    def remove(self, cluster: str, name: str, namespace: str) -> None:
        with self.cluster(cluster) as data:
            data["releases"].pop(f"{namespace}/{name}", None)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "default"


def _release(data: dict[str, Any], name: str, namespace: str, create: bool = False) -> Any:
    key = f"{namespace}/{name}"
    if key not in data["releases"]:
        if not create:
            raise KeyError(key)
        data["releases"][key] = {"name": name, "namespace": namespace, "revisions": []}
    return data["releases"][key]


def _add_revision(release: dict[str, Any], content: dict[str, Any], status: str) -> int:
    revisions = release["revisions"]
    if status == "deployed":
        for entry in revisions:
            if entry["status"] == "deployed":
                entry["status"] = "superseded"
    number = (revisions[-1]["revision"] if revisions else 0) + 1
    revisions.append({**content, "revision": number, "status": status, "updated": time.time()})
    return number


def _manifest(name: str, namespace: str) -> str:
    return (
        f"---\n# Source: fake/templates/configmap.yaml\napiVersion: v1\nkind: ConfigMap\n"
        f"metadata:\n  name: {name}-fake\n  namespace: {namespace}\ndata:\n  release: {name}\n"
    )


# ----------------------------------------------------------------------------- argv


def _parse(args: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    positional: list[str] = []
    options: dict[str, list[str]] = {}
    index = 0
    rest = False
    while index < len(args):
        arg = args[index]
        index += 1
        if rest or not arg.startswith("-") or arg == "-":
            positional.append(arg)
        elif arg == "--":
            rest = True
        elif "=" in arg and arg.startswith("--"):
            key, _, value = arg.partition("=")
            options.setdefault(key, []).append(value)
        elif arg in _VALUED and index < len(args):
            options.setdefault(arg, []).append(args[index])
            index += 1
        else:
            options.setdefault(arg, []).append("true")
    return positional, options


def _one(options: dict[str, list[str]], *names: str, default: str = "") -> str:
    for name in names:
        if name in options:
            return options[name][-1]
    return default


def cluster_of(options: dict[str, list[str]], env: dict[str, str]) -> str:
    context = _one(options, "--kube-context")
    if context:
        return context
    kubeconfig = _one(options, "--kubeconfig") or env.get("KUBECONFIG", "")
    if not kubeconfig or kubeconfig == "/dev/null":
        return "default"
    found = _PRIVATE.match(os.path.basename(os.path.dirname(os.path.abspath(kubeconfig))))
    return found.group(1) if found else kubeconfig


# ----------------------------------------------------------------------------- answers


def _list_time(stamp: float) -> str:
    seconds = int(stamp)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + (
        f".{int((stamp - seconds) * 1e9):09d} +0000 UTC"
    )


def _history_time(stamp: float) -> str:
    seconds = int(stamp)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + (
        f".{int((stamp - seconds) * 1e9):09d}Z"
    )


def _chart(entry: dict[str, Any]) -> str:
    return f"{entry['chart']}-{entry['version']}" if entry.get("version") else entry["chart"]


def _table(rows: list[list[str]]) -> str:
    return "".join("\t".join(row) + "\t\n" for row in rows)


def handle(
    folder: str,
    args: list[str],
    env: dict[str, str],
    values: list[dict[str, Any]],
    failure: dict[str, Any] | None = None,
) -> tuple[str, str, int]:
    """Answer one helm call from the state: (stdout, stderr, exit code). `failure`: the
    matching rule that makes this call fail (its stderr is helm's error)."""
    positional, options = _parse(args)
    command = positional[0]
    state = HelmState(folder)
    cluster = cluster_of(options, env)
    namespace = _one(options, "--namespace", "-n", default="default")
    json_out = _one(options, "--output", "-o") == "json"
    if failure is not None and command not in ("upgrade", "install", "rollback"):
        return "", "", int(failure.get("exit", 1))
    with state.cluster(cluster) as data:
        if command in ("list", "ls"):
            return _do_list(data, options, namespace, json_out), "", 0
        if command in ("history", "hist"):
            return _do_history(data, positional, options, namespace, json_out)
        if command == "get":
            return _do_get(data, positional, options, namespace, json_out)
        if command == "status":
            return _do_status(data, positional, namespace, json_out)
        if command in ("upgrade", "install"):
            return _do_upgrade(data, command, positional, options, namespace, values, failure)
        if command == "rollback":
            return _do_rollback(data, positional, namespace, failure)
        return _do_uninstall(data, positional, options, namespace)


def _latest(release: dict[str, Any]) -> dict[str, Any]:
    latest: dict[str, Any] = release["revisions"][-1]
    return latest


def _do_list(
    data: dict[str, Any], options: dict[str, list[str]], namespace: str, json_out: bool
) -> str:
    every = "--all-namespaces" in options or "-A" in options
    show_all = "--all" in options or "-a" in options
    pattern = _one(options, "--filter")
    selector = _one(options, "--selector", "-l")
    wanted = {
        "deployed": "--deployed" in options,
        "failed": "--failed" in options,
        "pending": "--pending" in options,
        "superseded": "--superseded" in options,
        "uninstalled": "--uninstalled" in options,
    }
    rows = []
    for release in data["releases"].values():
        latest = _latest(release)
        status = latest["status"]
        if not every and release["namespace"] != namespace:
            continue
        if pattern and not re.search(pattern, release["name"]):
            continue
        if selector and not _selected(latest.get("labels", {}), selector):
            continue
        if not show_all:
            chosen = [k for k, v in wanted.items() if v] or ["deployed", "failed"]
            kind = "pending" if status.startswith("pending-") else status
            if kind not in chosen:
                continue
        elif status == "uninstalled" and not wanted["uninstalled"]:
            continue  # helm's --all leaves uninstalled (kept history) out too
        rows.append((release, latest))
    rows.sort(key=lambda pair: (pair[0]["name"], pair[0]["namespace"]))
    limit = int(_one(options, "--max", default="256") or 256)
    if limit > 0:
        rows = rows[:limit]
    if json_out:
        return (
            json.dumps(
                [
                    {
                        "name": r["name"],
                        "namespace": r["namespace"],
                        "revision": str(e["revision"]),
                        "updated": _list_time(e["updated"]),
                        "status": e["status"],
                        "chart": _chart(e),
                        "app_version": e["app_version"],
                    }
                    for r, e in rows
                ]
            )
            + "\n"
        )
    header = ["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION"]
    return _table(
        [header]
        + [
            [
                r["name"],
                r["namespace"],
                str(e["revision"]),
                _list_time(e["updated"]),
                e["status"],
                _chart(e),
                e["app_version"],
            ]
            for r, e in rows
        ]
    )


def _selected(labels: dict[str, str], selector: str) -> bool:
    for term in selector.split(","):
        if "!=" in term:
            key, _, value = term.partition("!=")
            if labels.get(key) == value:
                return False
        else:
            key, _, value = term.replace("==", "=").partition("=")
            if labels.get(key) != value:
                return False
    return True


def _find(data: dict[str, Any], name: str, namespace: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = data["releases"].get(f"{namespace}/{name}")
    return found


def _do_history(
    data: dict[str, Any],
    positional: list[str],
    options: dict[str, list[str]],
    namespace: str,
    json_out: bool,
) -> tuple[str, str, int]:
    name = positional[1] if len(positional) > 1 else ""
    release = _find(data, name, namespace)
    if release is None:
        return "", "Error: release: not found\n", 1
    limit = int(_one(options, "--max", default="256") or 256)
    entries = release["revisions"][-limit:]
    if json_out:
        return (
            json.dumps(
                [
                    {
                        "revision": e["revision"],
                        "updated": _history_time(e["updated"]),
                        "status": e["status"],
                        "chart": _chart(e),
                        "app_version": e["app_version"],
                        "description": e["description"],
                    }
                    for e in entries
                ]
            )
            + "\n",
            "",
            0,
        )
    header = ["REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION"]
    rows = [
        [
            str(e["revision"]),
            time.ctime(e["updated"]),
            e["status"],
            _chart(e),
            e["app_version"],
            e["description"],
        ]
        for e in entries
    ]
    return _table([header, *rows]), "", 0


def _revision(release: dict[str, Any], options: dict[str, list[str]]) -> dict[str, Any] | None:
    wanted = _one(options, "--revision")
    if not wanted:
        return _latest(release)
    for entry in release["revisions"]:
        if str(entry["revision"]) == wanted:
            found: dict[str, Any] = entry
            return found
    return None


def _do_get(
    data: dict[str, Any],
    positional: list[str],
    options: dict[str, list[str]],
    namespace: str,
    json_out: bool,
) -> tuple[str, str, int]:
    what = positional[1] if len(positional) > 1 else ""
    name = positional[2] if len(positional) > 2 else ""
    release = _find(data, name, namespace)
    if release is None or _latest(release)["status"] == "uninstalled":
        return "", "Error: release: not found\n", 1
    entry = _revision(release, options)
    if entry is None:
        return "", "Error: release: not found\n", 1
    if what == "manifest":
        return entry["manifest"], "", 0
    if what == "values":
        if json_out:
            return json.dumps({"files": entry["values"]}) + "\n", "", 0
        return "USER-SUPPLIED VALUES:\n" + "".join(entry["values"]), "", 0
    if what == "metadata":
        meta = {
            "name": release["name"],
            "chart": entry["chart"],
            "version": entry["version"],
            "appVersion": entry["app_version"],
            "namespace": release["namespace"],
            "revision": entry["revision"],
            "status": entry["status"],
            "deployedAt": _history_time(entry["updated"]),
        }
        if json_out:
            return json.dumps(meta) + "\n", "", 0
        return "".join(f"{k.upper()}: {v}\n" for k, v in meta.items()), "", 0
    return "", f'Error: unknown command "{what}" for "helm get"\n', 1


def _do_status(
    data: dict[str, Any], positional: list[str], namespace: str, json_out: bool
) -> tuple[str, str, int]:
    name = positional[1] if len(positional) > 1 else ""
    release = _find(data, name, namespace)
    if release is None or _latest(release)["status"] == "uninstalled":
        return "", "Error: release: not found\n", 1
    entry = _latest(release)
    if json_out:
        answer = {
            "name": release["name"],
            "namespace": release["namespace"],
            "version": entry["revision"],
            "info": {
                "first_deployed": _history_time(release["revisions"][0]["updated"]),
                "last_deployed": _history_time(entry["updated"]),
                "status": entry["status"],
                "description": entry["description"],
            },
            "chart": {
                "metadata": {
                    "name": entry["chart"],
                    "version": entry["version"],
                    "appVersion": entry["app_version"],
                }
            },
        }
        return json.dumps(answer) + "\n", "", 0
    return _summary(release["name"], release["namespace"], entry), "", 0


def _summary(name: str, namespace: str, entry: dict[str, Any]) -> str:
    return (
        f"NAME: {name}\nLAST DEPLOYED: {time.ctime(entry['updated'])}\nNAMESPACE: {namespace}\n"
        f"STATUS: {entry['status']}\nREVISION: {entry['revision']}\nTEST SUITE: None\n"
    )


def _chart_identity(chart: str, options: dict[str, list[str]]) -> tuple[str, str, str]:
    """(name, version, app version) of the chart argument: a local folder's Chart.yaml, an
    archive's file name, or a repository chart's name and --version."""
    if os.path.isdir(chart):
        try:
            with open(os.path.join(chart, "Chart.yaml"), encoding="utf-8") as handle:
                fields = dict(_CHART_FIELD.findall(handle.read()))
        except OSError:
            fields = {}
        return (
            fields.get("name", os.path.basename(chart.rstrip("/"))),
            fields.get("version", "0.0.0"),
            fields.get("appVersion", ""),
        )
    found = _ARCHIVE.match(os.path.basename(chart))
    if found:
        return found["name"], found["version"], ""
    return chart.rstrip("/").rsplit("/", 1)[-1], _one(options, "--version", default="0.0.0"), ""


def _labels(previous: dict[str, str], text: str) -> dict[str, str]:
    labels = dict(previous)
    for pair in filter(None, text.split(",")):
        key, _, value = pair.partition("=")
        if value == "null":
            labels.pop(key, None)
        else:
            labels[key] = value
    return labels


def _do_upgrade(
    data: dict[str, Any],
    command: str,
    positional: list[str],
    options: dict[str, list[str]],
    namespace: str,
    values: list[dict[str, Any]],
    failure: dict[str, Any] | None,
) -> tuple[str, str, int]:
    if len(positional) < 3:
        return "", f'Error: "helm {command}" requires 2 arguments\n', 1
    name, chart = positional[1], positional[2]
    release = _find(data, name, namespace)
    live = release is not None and _latest(release)["status"] != "uninstalled"
    if command == "upgrade" and not live and "--install" not in options and "-i" not in options:
        return "", f'Error: UPGRADE FAILED: "{name}" has no deployed releases\n', 1
    if command == "install" and live:
        return "", "Error: INSTALLATION FAILED: cannot re-use a name that is still in use\n", 1
    if live and release is not None and _latest(release)["status"].startswith("pending-"):
        return (
            "",
            (
                "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n"
            ),
            1,
        )
    installing = not live
    if any(k.startswith("--dry-run") for k in options):
        verb = "Installing" if installing else "Upgrading"
        return f"{verb} (dry run)\nNAME: {name}\nNAMESPACE: {namespace}\nSTATUS: pending\n", "", 0
    chart_name, version, app_version = _chart_identity(chart, options)
    previous = _latest(release) if release is not None and release["revisions"] else {}
    labels = _labels(previous.get("labels", {}), _one(options, "--labels", "-l"))
    description = _one(options, "--description") or (
        "Install complete" if installing else "Upgrade complete"
    )
    content = {
        "chart": chart_name,
        "version": version,
        "app_version": app_version,
        "description": description,
        "labels": labels,
        "values": [v.get("content") or "" for v in values],
        "manifest": _manifest(name, namespace),
    }
    target = _release(data, name, namespace, create=True)
    if failure is not None:
        error = (str(failure.get("stderr") or "failed").strip().splitlines() or ["failed"])[-1]
        error = error.removeprefix("Error: ")
        what = f'Release "{name}"' if installing else f'Upgrade "{name}"'
        content["description"] = f"{what} failed: {error}"
        _add_revision(target, content, "failed")
        return (
            "",
            str(failure.get("stderr") or "Error: UPGRADE FAILED: failed\n"),
            int(failure.get("exit", 1)),
        )
    number = _add_revision(target, content, "deployed")
    head = (
        f'Release "{name}" does not exist. Installing it now.\n'
        if installing and command == "upgrade"
        else ""
        if installing
        else f'Release "{name}" has been upgraded. Happy Helming!\n'
    )
    return head + _summary(name, namespace, target["revisions"][-1]), "", 0 if number else 1


def _do_rollback(
    data: dict[str, Any], positional: list[str], namespace: str, failure: dict[str, Any] | None
) -> tuple[str, str, int]:
    name = positional[1] if len(positional) > 1 else ""
    release = _find(data, name, namespace)
    if release is None or _latest(release)["status"] == "uninstalled":
        return "", "Error: release: not found\n", 1
    revisions = release["revisions"]
    wanted = int(positional[2]) if len(positional) > 2 and positional[2].isdigit() else 0
    if wanted == 0:
        wanted = revisions[-1]["revision"] - 1
    target = next((r for r in revisions if r["revision"] == wanted), None)
    if target is None:
        return "", f"Error: release has no {wanted} version\n", 1
    content = {k: v for k, v in target.items() if k not in ("revision", "status", "updated")}
    content["description"] = f"Rollback to {wanted}"
    if failure is not None:
        error = (str(failure.get("stderr") or "failed").strip().splitlines() or ["failed"])[-1]
        content["description"] = f'Rollback "{name}" failed: {error.removeprefix("Error: ")}'
        _add_revision(release, content, "failed")
        return "", str(failure.get("stderr") or "Error: failed\n"), int(failure.get("exit", 1))
    _add_revision(release, content, "deployed")
    return "Rollback was a success! Happy Helming!\n", "", 0


def _do_uninstall(
    data: dict[str, Any], positional: list[str], options: dict[str, list[str]], namespace: str
) -> tuple[str, str, int]:
    name = positional[1] if len(positional) > 1 else ""
    release = _find(data, name, namespace)
    if release is None or _latest(release)["status"] == "uninstalled":
        return "", f"Error: uninstall: Release not loaded: {name}: release: not found\n", 1
    if "--keep-history" in options:
        latest = _latest(release)
        latest["status"] = "uninstalled"
        latest["description"] = "Uninstallation complete"
        latest["updated"] = time.time()
    else:
        del data["releases"][f"{namespace}/{name}"]
    return f'release "{name}" uninstalled\n', "", 0
