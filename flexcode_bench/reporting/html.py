"""One self-contained HTML page: tables with sortable columns, figures embedded as data URIs, the
protocol, the provenance of the runs (versions, git SHA, devices) and, for FlexCode runs, which
items got which CF/semantic split by popularity bucket.

The page loads nothing: no external script, style, font or image, and a Content-Security-Policy that
forbids any fetch, so it opens offline and leaks nothing when shared.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone

from flexcode_bench import __version__
from flexcode_bench.reporting.layout import bucket_header, caption, cell_parts, pretty_metric
from flexcode_bench.reporting.report import Report

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}h3{margin-top:1.6rem}
table{border-collapse:collapse;margin:.6rem 0;font-variant-numeric:tabular-nums}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
thead th{background:#f4f4f4;cursor:pointer;user-select:none;position:sticky;top:0}
thead th[aria-sort=ascending]::after{content:" ▲"}thead th[aria-sort=descending]::after{content:" ▼"}
td.best{font-weight:700}.sig{color:#b00}.std{color:#777;font-size:.85em}
.caption{color:#555;font-size:.9em;max-width:1000px}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eee}
.split{display:inline-flex;gap:2px}.tok{width:14px;height:14px;border-radius:3px;display:inline-block}
.cf{background:#1f77b4}.sem{background:#ff7f0e}
td.text{white-space:normal;text-align:left;max-width:560px}th.text{text-align:left}
.scroll{overflow-x:auto;max-width:100%}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
"""
# Click a header to sort by that column (numbers by value, text alphabetically); click again to reverse.
_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('thead th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
      table.querySelectorAll('thead th').forEach(function(h){ h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
      rows.sort(function(a, b){
        var x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
        var nx = parseFloat(x), ny = parseFloat(y);
        if (!isNaN(nx) && !isNaN(ny)) return dir * (nx - ny);
        return dir * String(x).localeCompare(String(y));
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
document.body.dataset.tablesRendered = document.querySelectorAll('table.sortable tbody tr').length;
"""


def to_html(report: Report, *, layout: str = "dataset", with_figures: bool = True) -> str:
    """The whole report as one HTML document (a string)."""
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>flexbench report: {_e(', '.join(report.datasets()))}</title>", f"<style>{_STYLE}</style></head><body>",
        f"<h1>flexbench report · {_e(', '.join(report.datasets()))} · {_e(report.split)} split</h1>",
        f'<p class="caption">Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by flexbench {_e(__version__)} '
        "from the run records only. Click a column header to sort.</p>",
    ]  # fmt: skip
    if layout == "paper":
        parts.append(_paper_section(report))
    for dataset in report.datasets():
        parts.append(f"<h2>{_e(dataset)}</h2>")
        if layout != "paper":
            parts.append(_dataset_table(report, dataset))
        parts.append(_allocation_section(report, dataset))
        if with_figures:
            parts.append(_figures_section(report, dataset))
    parts.append(_provenance_section(report))
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(p for p in parts if p)


# ==== tables ====================================================================================


def _dataset_table(report: Report, dataset: str) -> str:
    columns = report.columns(dataset)
    head = ["<th>model</th>", "<th>seeds</th>"] + [
        f"<th>{_e(pretty_metric(m) if b is None else f'{bucket_header(report, dataset, b)} {pretty_metric(m)}')}</th>"
        for b, m in columns
    ]
    rows = []
    for row in report.rows_for(dataset):
        cells = [f'<td data-value="{_e(row.model)}">{_e(row.model)}</td>', f'<td data-value="{len(row.seeds)}">{len(row.seeds)}</td>']
        cells += [_value_cell(report, dataset, row.model, metric, bucket) for bucket, metric in columns]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return _table(head, rows, caption(report, dataset))


def _paper_section(report: Report) -> str:
    from flexcode_bench.reporting.latex import _short
    from flexcode_bench.reporting.paper import improvement_text, paper_caption, paper_table

    table = paper_table(report)
    head = ["<th>model</th>"]
    for dataset in table.datasets:
        head += [f"<th>{_e(dataset)} {_e(_short(m))}</th>" for m in table.metrics]
        if table.strongest.get(dataset):
            head.append(f"<th>{_e(dataset)} Δ</th>")
    rows = []
    for model in table.models:
        cells = [f'<td data-value="{_e(model)}">{_e(model)}</td>']
        for dataset in table.datasets:
            cells += [_value_cell(report, dataset, model, m, None) for m in table.metrics]
            if table.strongest.get(dataset):
                found = table.improvements.get((dataset, model))
                value = found.relative if found else float("nan")
                cells.append(f'<td data-value="{value}">{_e(improvement_text(table, dataset, model))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<h2>All datasets</h2>" + _table(head, rows, paper_caption(report, table))


def _value_cell(report: Report, dataset: str, model: str, metric: str, bucket: str | None) -> str:
    row = next((r for r in report.rows_for(dataset) if r.model == model), None)
    cell = row.cell(metric, bucket) if row else None
    mean, std = cell_parts(cell)
    best = row is not None and model in report.best_models(dataset, metric, bucket)
    mark = '<span class="sig">†</span>' if row is not None and report.significant(dataset, model, metric, bucket) else ""
    spread = f' <span class="std">± {_e(std)}</span>' if std is not None else ""
    value = cell.mean if cell is not None else float("nan")
    return f'<td data-value="{value}"{" class=best" if best else ""}>{_e(mean)}{mark}{spread}</td>'


def _table(head: list[str], rows: list[str], caption_text: str) -> str:
    return (
        f'<div class="scroll"><table class="sortable"><thead><tr>{"".join(head)}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></div>'
        f'<p class="caption">{_e(caption_text)}</p>'
    )


# ==== FlexCode allocation =======================================================================


def _allocation_section(report: Report, dataset: str) -> str:
    aligned = report.sources.get(dataset)
    if aligned is None:
        return ""
    blocks = []
    for model, records in sorted(aligned.records.items()):
        record = next((r for r in records if (r.manifest.get("diagnostics") or {}).get("allocation_sample")), None)
        if record is None or record.manifest["diagnostics"].get("router") == "fixed":
            continue  # a fixed split gives every item the same k: nothing to look at
        sample = record.manifest["diagnostics"]["allocation_sample"]
        rows = []
        for bucket, items in sample.items():
            for item in items:
                split = ('<span class="tok cf"></span>' * item["cf_tokens"]) + ('<span class="tok sem"></span>' * item["semantic_tokens"])
                rows.append(
                    f'<tr><td data-value="{_e(bucket)}">{_e(bucket)}</td><td data-value="{item["train_count"]}">{item["train_count"]}</td>'
                    f'<td data-value="{item["cf_tokens"]}"><span class="split" title="{item["cf_tokens"]} CF + '
                    f'{item["semantic_tokens"]} semantic tokens">{split}</span> {item["cf_tokens"]}/{item["semantic_tokens"]}</td>'
                    f'<td data-value="{item["cf_share"]}">{item["cf_share"]:.2f}</td>'
                    f'<td class="text" data-value="{_e(item["text"])}">{_e(item["text"])}</td></tr>'
                )  # fmt: skip
        head = ["<th>bucket</th>", "<th>training count</th>", "<th>split (CF / semantic)</th>", "<th>CF share α</th>", '<th class="text">item text</th>']
        note = (f"{model}, seed {record.seed}: items spread over each popularity bucket with the split the router gave them "
                "(blue = collaborative token, orange = semantic token).")  # fmt: skip
        blocks.append(f"<h3>Allocation: {_e(model)}</h3>" + _table(head, rows, note))
    return "".join(blocks)


# ==== figures and provenance ====================================================================


def _figures_section(report: Report, dataset: str) -> str:
    from flexcode_bench.reporting.plots import figures, png_bytes

    single = Report(report.split, report.metrics, report.by_popularity, report.rows_for(dataset),
                    report.bucket_sizes, settings=report.settings, tables={dataset: report.tables[dataset]},
                    sources={dataset: report.sources[dataset]})  # fmt: skip
    out = ["<h3>Figures</h3>"]
    for name, figure, footnote in figures(single):
        data = base64.b64encode(png_bytes(figure, footnote)).decode("ascii")
        out.append(f'<figure><img alt="{_e(name)}" src="data:image/png;base64,{data}"></figure>')
    return "".join(out)


def _provenance_section(report: Report) -> str:
    """What produced the numbers: per dataset, the protocol, then the distinct versions, commits and machines."""
    out = ["<h2>Protocol and provenance</h2>"]
    for dataset in report.datasets():
        info = report.tables[dataset]
        records = [r for runs in report.sources[dataset].records.values() for r in runs] if dataset in report.sources else []
        facts = {
            "protocol": info.protocol_summary,
            "runs": f"{len(records)} ({', '.join(sorted({r.model for r in records}))})",
            "flexbench": _distinct(r.manifest.get("package_version") for r in records),
            "git": _distinct(_git(r.manifest.get("git") or {}) for r in records),
            "libraries": _distinct(_libraries(r.manifest.get("libraries") or {}) for r in records),
            "devices": _distinct(_device(r.manifest) for r in records),
            "dataset fingerprint": _distinct(r.manifest.get("dataset_fingerprint") for r in records),
            "finished": _span([r.manifest.get("finished_at") for r in records]),
        }
        out.append(f"<h3>{_e(dataset)}</h3><dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts.items()) + "</dl>")
    return "".join(out)


def _git(git: dict) -> str:
    sha = git.get("sha")
    return "not recorded" if not sha else sha[:12] + (" (dirty)" if git.get("dirty") else "")


def _libraries(libraries: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(libraries.items()) if v)


def _device(manifest: dict) -> str:
    host = manifest.get("host") or {}
    threads = host.get("torch_threads")
    return (f"{manifest.get('device', '?')} on {host.get('cpu_model') or 'CPU not recorded'}"
            f" ({threads if threads is not None else '?'} torch threads, {host.get('cpu_count') or '?'} cores)")  # fmt: skip


def _distinct(values) -> str:
    seen = list(dict.fromkeys(str(v) for v in values if v is not None))
    return "; ".join(seen) if seen else "not recorded"


def _span(stamps: list) -> str:
    stamps = sorted(s for s in stamps if s)
    return "not recorded" if not stamps else (stamps[0] if stamps[0] == stamps[-1] else f"{stamps[0]} – {stamps[-1]}")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
