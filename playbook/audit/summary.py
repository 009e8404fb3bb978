"""The per-column data summary of the audit (``data_summary.html`` / ``data_summary.json``), from its own statistics.

The audit's scan (:mod:`playbook.audit.scan`) already holds, over every row of each dataset, what a data summary
shows: rows, missing cells (nulls and placeholders), distinct values, the most frequent value and the finite range.
:func:`summarise` adds, in one DuckDB query per dataset (numeric columns batched as :meth:`Scan.quantiles` does, so
memory stays bounded), the mean, standard deviation, quartiles and a histogram on bins shared by the two datasets,
and for categorical columns their most frequent values; dates get their first and last time. Nothing is read from a
pandas frame, so the summary covers the full data, not the sample, and costs a few scans (no Evidently import, no
plotting library).

Protected columns (the pack's privacy scan, ``AuditData.pii``) show counts only: no value, range, quantile or
histogram; a column whose *name* holds personal data is shown under its masked name.

:func:`render_html` writes a self-contained page (a table per column, inline SVG bars; no script, no network).
Evidently's ``DataSummaryPreset`` report is still available, on request (``evidently_report``), as
:func:`playbook.audit.report.evidently_summary`.
"""

from __future__ import annotations

import html
import math
from typing import Any, Iterable

from playbook.audit.prepare import DATASETS, AuditData, jsonable
from playbook.audit.scan import NUMERIC, Binder, when

#: Bins of a numeric column's histogram (shared by the two datasets).
BINS = 20
#: Most frequent values listed for a categorical column.
TOP_VALUES = 10
#: Quantiles of a numeric column.
QUANTILES = (0.25, 0.5, 0.75)
SCHEMA = "playbook.data_summary/1"


def _f(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


def _numeric_stats(data: AuditData, ds: str, cols: list[str], edges: dict[str, tuple[float, float]]) -> dict:
    """Per numeric column: mean, std, quartiles and histogram counts (on ``edges``: column -> (lo, hi)) of its finite
    clean values, a few columns per query."""
    def agg(c, v, b):
        lo, hi = edges[c]
        width = (hi - lo) / BINS
        if width > 0:
            bin_ = (f"CAST(greatest(0, least({BINS - 1}, floor(({v} - {b(float(lo))}) / {b(float(width))}))) "
                    f"AS INTEGER)")
        else:
            bin_ = "0"
        ok = f"isfinite({v})"
        return [f"avg({when(ok, v)})", f"stddev_samp({when(ok, v)})",
                f"quantile_cont({when(ok, v)}, {b([float(q) for q in QUANTILES])})", f"histogram({when(ok, bin_)})"]

    out: dict[str, dict] = {}
    for c, (mean, std, q, hist) in data.scan.per_column(ds, cols, agg).items():
        counts = [0] * (BINS if edges[c][1] > edges[c][0] else 1)
        for k, n in (hist or {}).items():
            counts[int(k)] += int(n)
        out[c] = {"mean": _f(mean), "std": _f(std),
                  "quartiles": None if q is None else [_f(x) for x in q], "histogram": counts}
    return out


def _top_values(data: AuditData, ds: str, col: str) -> list[tuple[Any, int]]:
    """The ``TOP_VALUES`` most frequent clean values of a column with their counts (ties by value)."""
    scan = data.scan
    key = (ds, str(col))
    if key in scan._values:  # the profile fetched them already
        vals = scan._values[key]
    else:
        b = Binder()
        x = scan.clean(ds, col, b)
        vals = scan.fetch(f"SELECT v, count(*) AS k FROM (SELECT {x} AS v FROM {scan.source(ds)}) WHERE v IS NOT NULL "
                          f"GROUP BY v ORDER BY k DESC, CAST(v AS VARCHAR) LIMIT {TOP_VALUES}", b)
    return sorted(((v, int(k)) for v, k in vals), key=lambda vk: (-vk[1], str(vk[0])))[:TOP_VALUES]


def summarise(data: AuditData, protected: Iterable[str] = ()) -> dict:
    """The data summary of both datasets (see the module docstring), as JSON-ready data."""
    from playbook.audit.schema import kind
    from playbook.privacy.mask import masked_column_name

    scan, roles = data.scan, data.roles
    hidden = {str(c) for c in data.pii} | {str(c) for c in protected}
    names: list[str] = list(scan.columns["reference"]) + [c for c in scan.columns["current"]
                                                          if c not in scan.columns["reference"]]
    label = {ds: {str(c): c for c in data.clean[ds].columns} for ds in DATASETS}  # the frames' own column labels
    kinds = {(ds, c): kind(data, ds, label[ds][c], "timestamp" if label[ds][c] == roles.timestamp else None)
             for ds in DATASETS for c in scan.columns[ds]}
    numeric = {ds: [c for c in scan.columns[ds] if c not in hidden and kinds[(ds, c)] == "numeric"
                    and scan.family(ds, c) in NUMERIC] for ds in DATASETS}
    edges = {}
    for c in set(numeric["reference"]) | set(numeric["current"]):
        lows = [scan.column(ds, c).min for ds in DATASETS if c in numeric[ds] and scan.column(ds, c).min is not None]
        highs = [scan.column(ds, c).max for ds in DATASETS if c in numeric[ds] and scan.column(ds, c).max is not None]
        if lows:
            edges[c] = (min(lows), max(highs))
    stats = {ds: _numeric_stats(data, ds, [c for c in numeric[ds] if c in edges], edges) for ds in DATASETS}
    columns = []
    for c in names:
        entry: dict[str, Any] = {"column": masked_column_name(c), "protected": c in hidden}
        for ds in DATASETS:
            if c not in scan.columns[ds]:
                entry[ds] = None
                continue
            st = scan.column(ds, c)
            k = kinds[(ds, c)]
            rows = max(st.rows, 1)
            d: dict[str, Any] = {"kind": k, "type": st.sql_type, "rows": st.rows, "missing": st.missing,
                                 "missing_share": st.missing / rows, "placeholders": st.marker_cells,
                                 "distinct": st.distinct, "distinct_exact": bool(st.exact)}
            if c not in hidden:
                d["top"] = {"value": jsonable(st.top_value), "count": st.top_count, "share": st.top_count / rows} \
                    if st.top_count else None
                if k == "numeric" and c in stats[ds]:
                    d.update({"min": st.min, "max": st.max, "infinite": st.infinite, **stats[ds][c]})
                elif k == "datetime":
                    t = data.times(ds, label[ds][c])
                    d.update({"first": None if t.first is None else t.first.isoformat(),
                              "last": None if t.last is None else t.last.isoformat(), "unparseable": t.unparseable})
                    if t.sample:
                        d["times_on_sample"] = dict(t.sample)
                elif k in ("categorical", "boolean"):
                    d["values"] = [{"value": jsonable(v), "count": n, "share": n / rows}
                                   for v, n in _top_values(data, ds, c)]
            entry[ds] = d
        if c in edges:
            entry["bins"] = {"lo": edges[c][0], "hi": edges[c][1], "n": BINS if edges[c][1] > edges[c][0] else 1}
        columns.append(entry)
    return {"schema": SCHEMA, "rows": {ds: int(scan.rows[ds]) for ds in DATASETS},
            "columns": columns, "source": "the audit's scan of every row (DuckDB)"}


# -- HTML --------------------------------------------------------------------------------------------------------
_CSS = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;margin:.3rem 0 1.5rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right;vertical-align:top}th{background:#f4f4f4}
td.l,th.l{text-align:left}h2{font-size:1.1rem;margin:1.5rem 0 .2rem}.k{color:#666;font-weight:normal}
.ref{fill:#4c78a8}.cur{fill:#f58518}.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem}"""


def _num(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return html.escape(str(v))


def _bars(series: list[list[float]], labels: list[str] | None = None, width: int = 360, height: int = 70) -> str:
    """Inline SVG: grouped bars of shares (reference, current) per bin or value."""
    n = max((len(s) for s in series), default=0)
    if not n:
        return ""
    top = max((x for s in series for x in s), default=0) or 1
    slot = width / n
    bar = slot / (len(series) + 0.5)
    out = [f'<svg width="{width}" height="{height}" role="img">']
    for j, s in enumerate(series):
        for i, x in enumerate(s):
            h = (height - 2) * x / top
            tip = f"{labels[i]}: " if labels else ""
            out.append(f'<rect class="{("ref", "cur")[j]}" x="{i * slot + j * bar:.1f}" y="{height - h:.1f}" '
                       f'width="{max(bar - 1, 1):.1f}" height="{h:.1f}"><title>{html.escape(tip)}{100 * x:.1f}%'
                       f'</title></rect>')
    return "".join(out) + "</svg>"


def render_html(summary: dict, note: str = "") -> str:
    """The summary as one self-contained HTML page."""
    rows = summary["rows"]
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Data summary</title>",
             f"<style>{_CSS}</style></head><body><h1>Data summary: current vs reference</h1>",
             f"<p>{rows['reference']:,} reference rows, {rows['current']:,} current rows, "
             f"{len(summary['columns'])} columns; every figure is counted over every row. "
             "Placeholders (missing markers) count as missing. Protected columns show counts only.</p>",
             f"<p>{html.escape(note)}</p>" if note else "",
             "<p class='legend'><span style='background:#4c78a8'></span>reference"
             "<span style='background:#f58518'></span>current</p>"]
    fields = [("type", "type"), ("rows", "rows"), ("missing", "missing"), ("missing_share", "missing %"),
              ("distinct", "distinct"), ("min", "min"), ("quartiles", "25 / 50 / 75 %"), ("max", "max"),
              ("mean", "mean"), ("std", "std"), ("first", "first"), ("last", "last"), ("top", "most frequent")]
    for col in summary["columns"]:
        sides = [col.get(ds) for ds in DATASETS]
        kinds = sorted({s["kind"] for s in sides if s})
        parts.append(f"<h2>{html.escape(col['column'])} <span class='k'>{' / '.join(kinds)}"
                     f"{' (protected)' if col['protected'] else ''}</span></h2>")
        cells = ["<table><tr><th class='l'></th><th>reference</th><th>current</th></tr>"]
        for key, label in fields:
            vals = []
            for s in sides:
                v = None if s is None else s.get(key)
                if key == "missing_share" and v is not None:
                    v = f"{100 * v:.2f}%"
                elif key == "quartiles" and v:
                    v = " / ".join(_num(x) for x in v)
                elif key == "top" and v:
                    v = f"{html.escape(str(v['value']))} ({100 * v['share']:.1f}%)"
                elif key == "distinct" and v is not None and not s.get("distinct_exact", True):
                    v = f"{v:,}+"
                else:
                    v = _num(v)
                vals.append(v or "")
            if any(vals):
                cells.append(f"<tr><th class='l'>{label}</th>" + "".join(f"<td>{v}</td>" for v in vals) + "</tr>")
        cells.append("</table>")
        parts += cells
        if col.get("bins"):
            shares = []
            for s in sides:
                h = (s or {}).get("histogram") or []
                total = sum(h) or 1
                shares.append([x / total for x in h])
            lo, hi = col["bins"]["lo"], col["bins"]["hi"]
            parts.append(f"<div>{_bars(shares)}<br><small>{_num(lo)} to {_num(hi)}, "
                         f"{col['bins']['n']} equal bins</small></div>")
        elif any(s and s.get("values") for s in sides):
            labels: list = []
            for s in sides:
                for v in (s or {}).get("values") or []:
                    if v["value"] not in labels:
                        labels.append(v["value"])
            labels = labels[:TOP_VALUES]
            shares = [[next((v["share"] for v in (s or {}).get("values") or [] if v["value"] == lab), 0.0)
                       for lab in labels] for s in sides]
            parts.append(f"<div>{_bars(shares, [str(x) for x in labels])}<br><small>most frequent values: "
                         f"{html.escape(', '.join(str(x) for x in labels))}</small></div>")
    parts.append("</body></html>")
    return "\n".join(parts)


__all__ = ["BINS", "QUANTILES", "SCHEMA", "TOP_VALUES", "render_html", "summarise"]
