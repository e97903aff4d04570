"""`hubfleet status --html FILE`: the whole fleet on one self-contained page.

Clusters are rows, their releases tiles coloured by state; hovering a tile shows its
reasons (the `title` attribute), a filter box hides what does not match (cluster,
release, state, chart, commit). No external asset: the style and the script are in
the page. Every text from the fleet or the clusters is HTML-escaped.
"""

from __future__ import annotations

from html import escape

from hubfleet.live.status import STATES, FleetStatus, Row

COLOURS = {
    "in-sync": "#2e7d32",
    "behind": "#b8860b",
    "changed-by-hand": "#8e24aa",
    "rolled-back": "#ef6c00",
    "failed": "#c62828",
    "pending": "#d81b60",
    "missing": "#546e7a",
    "orphan": "#6d4c41",
    "retained": "#9e9e9e",
    "error": "#4e0000",
}

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .3em}
.meta{color:#555;margin-bottom:1em}
#filter{font-size:1em;padding:.4em .6em;width:28em;max-width:90%;
border:1px solid #999;border-radius:4px}
.legend{margin:.8em 0 1.2em;display:flex;flex-wrap:wrap;gap:.4em}
.legend span{padding:.15em .6em;border-radius:3px;color:#fff;font-size:.9em}
table{border-collapse:collapse;width:100%}
th{text-align:left;vertical-align:top;padding:.5em .8em .5em 0;white-space:nowrap;width:12em}
th small{display:block;color:#666;font-weight:normal}
td{padding:.4em 0;border-top:1px solid #ddd}
.tiles{display:flex;flex-wrap:wrap;gap:.35em}
.tile{color:#fff;padding:.3em .6em;border-radius:4px;cursor:default;font-size:.92em}
.tile b{font-weight:600}
.tile i{font-style:normal;opacity:.85;font-size:.85em;margin-left:.4em}
.broken{color:#b71c1c}
.hidden{display:none}
"""

_SCRIPT = """
(function(){
  var box=document.getElementById('filter');
  var count=document.getElementById('shown');
  function apply(){
    var q=box.value.trim().toLowerCase().split(/\\s+/).filter(Boolean);
    var shown=0;
    document.querySelectorAll('tr.cluster').forEach(function(row){
      var any=false;
      row.querySelectorAll('.tile').forEach(function(t){
        var text=t.getAttribute('data-text');
        var ok=q.every(function(w){return text.indexOf(w)>=0;});
        t.classList.toggle('hidden',!ok);
        if(ok){any=true;shown++;}
      });
      var name=row.getAttribute('data-text');
      var own=q.length>0&&q.every(function(w){return name.indexOf(w)>=0;});
      row.classList.toggle('hidden',!any&&!(own&&row.querySelectorAll('.tile').length===0));
    });
    count.textContent=shown;
  }
  box.addEventListener('input',apply);
  apply();
})();
"""


def _tile(row: Row) -> str:
    chart = f"{row.chart}-{row.version}" if row.version else row.chart
    details = [
        f"{row.cluster} / {row.namespace}/{row.release}",
        f"state: {row.state}",
        f"kind: {row.kind}",
        *(
            [f"chart: {chart}, revision {row.revision}, helm status {row.status}"]
            if row.present
            else ["not installed"]
        ),
        *([f"commit: {row.commit}"] if row.commit else []),
        *([f"made by: {row.made_by}"] if row.made_by else []),
        *([f"last rollback: {row.last_rollback}"] if row.last_rollback else []),
        *row.reasons,
    ]
    search = " ".join(
        [row.cluster, row.release, row.namespace, row.kind, row.state, chart, row.commit or ""]
    ).lower()
    label = row.release if row.release == row.namespace else f"{row.namespace}/{row.release}"
    return (
        f'<span class="tile" data-state="{escape(row.state)}" data-text="{escape(search)}" '
        f'style="background:{COLOURS[row.state]}" title="{escape(chr(10).join(details))}">'
        f"<b>{escape(label)}</b><i>{escape(row.state)}</i></span>"
    )


def html_page(status: FleetStatus, *, title: str = "hubfleet status") -> str:
    """The page (see the module)."""
    legend = "".join(
        f'<span style="background:{COLOURS[state]}">{escape(state)}: {count}</span>'
        for state in STATES
        for count in [status.counts.get(state, 0)]
    )
    rows = []
    for report in status.clusters:
        tiles = "".join(_tile(row) for row in report.rows)
        note = ""
        if report.error:
            note = f'<div class="broken">cannot be read: {escape(report.error)}</div>'
        if report.broken:
            note = (
                '<div class="broken">configuration broken: '
                + escape("; ".join(report.broken))
                + "</div>"
            )
        hubs = sum(1 for row in report.rows if row.hub is not None)
        rows.append(
            f'<tr class="cluster" data-text="{escape(report.cluster.lower())}">'
            f"<th>{escape(report.cluster)}"
            f"<small>{escape(report.provider)}, {hubs} hub{'' if hubs == 1 else 's'}</small></th>"
            f'<td>{note}<div class="tiles">{tiles}</div></td></tr>'
        )
    total = len(status.rows)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<div class="meta">git at {escape(status.head)}; {len(status.clusters)} clusters, '
        f'{total} releases; <span id="shown">{total}</span> shown</div>'
        '<input id="filter" type="search" placeholder="filter: cluster, hub, state, chart, commit" '
        'aria-label="filter">'
        f'<div class="legend">{legend}</div>'
        f"<table>{''.join(rows)}</table>"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )
