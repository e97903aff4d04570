"""A release's CRDs applied before its upgrade (helm installs `crds/` only at first install).

Before each `helm upgrade` of a Kubernetes release, its chart's CRDs (the `crds/`
folders of the chart helm is handed and of its subcharts at any depth,
`hubfleet.helm.crds`) are compared with the cluster's and the changed ones applied:

1. `kubectl get customresourcedefinitions.apiextensions.k8s.io --ignore-not-found
   --output=json -- NAME...`: each CRD's `hubfleet.dev/crd-digest` annotation;
2. the CRDs whose digest differs (absent, never applied by hubfleet, or changed in
   the chart): `kubectl apply --server-side --force-conflicts
   --field-manager=hubfleet --filename=-` (the documents on stdin, with the digest
   annotation set). Server-side: a client-side apply writes the whole object into a
   `last-applied-configuration` annotation, which a large CRD overflows (annotations
   are limited to 256 KiB: prometheus-operator's CRDs fail that way; dask-gateway's
   largest, traefik's IngressRoute, is 42 KB), and the server tracks which manager owns
   which field; `--force-conflicts`, because the fields helm's first install created are
   owned by helm's field manager and would otherwise refuse the change. Nothing is
   ever deleted (no `--prune`, no `kubectl replace`, no `delete`): a CRD a chart
   drops stays, as do its custom resources.

With `--dry-run` the apply is `--dry-run=server` (the API server checks it, nothing
changes). Both run in the cluster's credentials (its private kubeconfig), through
the runner (redacted, cancellable). The step is part of the release's deploy: its
failure fails that release like a failed upgrade. Each set of CRDs is applied once
per cluster and deploy: the next release of the same chart in that cluster reuses
the result. `deploy.skip_crds` in hubfleet.yaml names charts whose CRDs are left to
helm.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hubfleet.base import argv
from hubfleet.base.errors import HubfleetError
from hubfleet.base.runner import Cancelled, run
from hubfleet.deploy.backend import Session
from hubfleet.helm import crds as charts_crds
from hubfleet.helm.cli import kubeconfig_args
from hubfleet.release.pipeline import Release

KUBECTL = "kubectl"
CRD_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"
FIELD_MANAGER = "hubfleet"
CALL_TIMEOUT = 120.0
_Key = tuple[tuple[str, str], ...]


def get_argv(names: Sequence[str], kubeconfig: str | None) -> list[str]:
    """`kubectl get` of the named CRDs (absent ones left out), names after `--`."""
    return [
        KUBECTL, "get", CRD_RESOURCE, "--ignore-not-found", "--output=json",
        *kubeconfig_args(kubeconfig),
        "--", *(argv.k8s_name(n, "a CRD name") for n in names),
    ]  # fmt: skip


def apply_argv(kubeconfig: str | None, *, dry_run: bool) -> list[str]:
    """`kubectl apply`, server-side, of the documents on stdin (see the module)."""
    return [
        KUBECTL, "apply", "--server-side", "--force-conflicts",
        f"--field-manager={FIELD_MANAGER}", "--filename=-",
        *(["--dry-run=server"] if dry_run else []),
        *kubeconfig_args(kubeconfig),
    ]  # fmt: skip


@dataclass
class ChartCrdsReader:
    """The CRDs of each chart a deploy hands helm, read once per deploy (thread-safe)."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _locks: dict[Path, threading.Lock] = field(default_factory=dict)
    _read: dict[Path, charts_crds.ChartCrds] = field(default_factory=dict)

    def of(self, chart: Path, shown: str) -> charts_crds.ChartCrds:
        with self._lock:
            chart_lock = self._locks.setdefault(chart, threading.Lock())
        with chart_lock:  # the jobs that start together wait for one read, not each read
            found = self._read.get(chart)
            if found is None:
                found = charts_crds.chart_crds(chart, shown)
                self._read[chart] = found
        return found


@dataclass
class ClusterCrds:
    """One cluster's CRD step: each set of CRDs compared and applied once per deploy."""

    session: Session
    env: Mapping[str, str]  # the deploy's variables and the cluster's credentials
    reader: ChartCrdsReader
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _keys: dict[_Key, threading.Lock] = field(default_factory=dict)
    _done: dict[_Key, str] = field(default_factory=dict)  # -> the release that applied them

    def before_upgrade(self, release: Release) -> str:
        """Apply the release's changed CRDs; what was done, for the job's message ("" when
        its chart has none). Raises `HubfleetError` when they cannot be read or applied."""
        session = self.session
        source = release.chart
        skipped = source.name in session.fleet.settings.deploy.skip_crds
        try:
            chart = session.values.charts.resolve(source)
            found = self.reader.of(chart, repr(source.name))
        except Cancelled:
            raise
        except HubfleetError as exc:
            if skipped:  # what cannot be read is not needed: helm alone handles the chart
                return f"CRDs of chart {source.name} left to helm (deploy.skip_crds)"
            where = f"{exc.path}:{exc.line or 1}: " if exc.path else ""
            skip = f"list {source.name!r} in deploy.skip_crds (hubfleet.yaml): helm keeps its CRDs"
            raise HubfleetError(
                f"cannot read the CRDs of chart {source.name!r}: {where}{exc.message}",
                hint=f"{exc.hint}; or {skip}" if exc.hint else skip,
            ) from None
        if not found.crds:
            return ""
        if skipped:
            count = len(found.crds)
            return f"{count} CRD(s) of chart {source.name} left to helm (deploy.skip_crds)"
        key: _Key = tuple((c.name, c.digest) for c in found.crds)
        with self._lock:
            key_lock = self._keys.setdefault(key, threading.Lock())
        with key_lock:  # another release of the same CRDs waits for this one's result
            earlier = self._done.get(key)
            if earlier is not None:
                return f"CRDs as before {earlier}'s upgrade in this deploy"
            try:
                done = self._apply(found.crds)
            except Cancelled:
                raise
            except HubfleetError as exc:
                raise HubfleetError(
                    f"CRDs of chart {source.name!r} before the upgrade: {exc.message}",
                    hint=exc.hint,
                ) from None
            self._done[key] = release.label
        return done

    def _apply(self, crds: Sequence[charts_crds.Crd]) -> str:
        session = self.session
        kubeconfig = self.env.get("KUBECONFIG")
        names = [c.name for c in crds]
        listed = run(
            get_argv(names, kubeconfig),
            redactor=session.redactor,
            env=self.env,
            timeout=CALL_TIMEOUT,
            cancel=session.cancel,
        )
        changed = charts_crds.changed(crds, charts_crds.live_digests(listed.stdout))
        if not changed:
            return f"CRDs unchanged ({len(crds)})"
        run(
            apply_argv(kubeconfig, dry_run=session.dry_run),
            redactor=session.redactor,
            env=self.env,
            stdin=charts_crds.apply_stream(changed),
            timeout=CALL_TIMEOUT,
            cancel=session.cancel,
        )
        shown = ", ".join(c.name for c in changed)
        unchanged = len(crds) - len(changed)
        rest = f"; {unchanged} unchanged" if unchanged else ""
        if session.dry_run:
            return f"CRDs to apply before the upgrade (server dry run): {shown}{rest}"
        return f"CRDs applied before the upgrade (server-side): {shown}{rest}"
