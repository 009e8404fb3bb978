"""Completeness: missing values, counting nulls *and* disguised placeholders (the target has its own check).

Counted over every row of the full data (:mod:`playbook.audit.scan`).

* ``data.completeness.missing_share.<dataset>``: share of missing cells over every column but the target;
* ``data.completeness.column_missing.<dataset>``: the emptiest column's missing share;
* ``data.completeness.disguised_missing.<dataset>``: share of cells holding a missing marker
  (``'?'``, ``'NA'``, ``''``, ``-999`` ...).
"""

from __future__ import annotations

import pandas as pd

from playbook import catalogue
from playbook.audit.prepare import FINDINGS, AuditData, jsonable, listing, pct, per_dataset, title


def missing_table(data: AuditData, dataset: str) -> pd.DataFrame:
    """Per column: null cells, disguised missing cells (markers), total missing share, over every row."""
    scan = data.scan
    n = max(data.rows[dataset], 1)
    rows = []
    for c in data.raw[dataset].columns:
        st = scan.column(dataset, c)
        rows.append({"column": c, "nulls": st.nulls, "disguised": st.marker_cells, "missing_share": st.missing / n})
    return pd.DataFrame(rows, columns=["column", "nulls", "disguised", "missing_share"])


def _audited(data: AuditData, dataset: str) -> pd.DataFrame:
    tab = missing_table(data, dataset)
    return tab[tab["column"] != data.roles.target]


def missing_share(data: AuditData, dataset: str) -> dict:
    """``data.completeness.missing_share.<dataset>``: share of missing cells (nulls and disguised) over
    every column but the target."""
    p = data.params
    cid = f"data.completeness.missing_share.{dataset}"
    mx = data.limit(cid, "max", p.max_missing_share)
    tab = _audited(data, dataset)
    n = data.rows[dataset]
    cells = n * len(tab)
    share = float((tab["nulls"].sum() + tab["disguised"].sum()) / cells) if cells else 0.0
    status = "warn" if share > mx else "pass"
    if not cells:
        why = f"The {dataset} data has no cells to check ({n} rows, {len(tab)} columns besides the target)."
    elif share:
        why = (f"{pct(share)} of the cells are missing (nulls and disguised placeholders); models trained on gaps "
               "fail silently when serving fills them differently, so agree on one imputation and test it.")
    else:
        why = "No cell is missing; gaps that serving fills differently from training are a classic silent failure."
    details = tab[(tab["nulls"] + tab["disguised"]) > 0].to_dict("records")
    return catalogue.check(cid, status, share, title=title(cid), threshold={"max": mx}, why=why,
                           details=details, evidence=FINDINGS)


def column_missing(data: AuditData, dataset: str) -> dict:
    """``data.completeness.column_missing.<dataset>``: the worst column's missing share (target excluded)."""
    p = data.params
    cid = f"data.completeness.column_missing.{dataset}"
    mx = data.limit(cid, "max", p.max_column_missing_share)
    tab = _audited(data, dataset)
    worst = float(tab["missing_share"].max()) if len(tab) else 0.0
    over = tab[tab["missing_share"] > mx]
    col = tab.loc[tab["missing_share"].idxmax(), "column"] if len(tab) and worst > 0 else None
    empty = list(tab.loc[tab["missing_share"] >= 1.0, "column"]) if data.rows[dataset] else []
    if len(over):
        why = (f"{len(over)} column(s) miss more than {pct(mx)} of their values "
               f"({listing(over['column'])}); such a column mostly teaches the model the imputation, so drop it or "
               "find why it is empty." + (f" {listing(empty)} hold(s) no value at all." if empty else ""))
    elif col is not None:
        why = (f"The emptiest column ({col}) misses {pct(worst)} of its values, within the limit; a mostly empty "
               "column teaches the model the imputation rather than the signal.")
    else:
        why = "No column has missing values."
    return catalogue.check(cid, "warn" if len(over) else "pass", worst, title=title(cid),
                           threshold={"max": mx}, why=why,
                           details=over.to_dict("records"), evidence=FINDINGS)


def disguised_missing(data: AuditData, dataset: str) -> dict:
    """``data.completeness.disguised_missing.<dataset>``: cells holding a missing marker
    ('?', 'NA', '', -999 ...), as a share of all cells."""
    p = data.params
    cid = f"data.completeness.disguised_missing.{dataset}"
    mx = data.limit(cid, "max", p.max_disguised_share)
    found = data.markers[dataset]
    cells = data.rows[dataset] * data.raw[dataset].shape[1]
    count = sum(f["count"] for f in found)
    share = count / cells if cells else 0.0
    status = "warn" if share > mx else "pass"
    if found:
        parts = [f"{f['column']}: {f['marker']!r} x{f['count']}" for f in found]
        why = (f"{count} cell(s) hide missing values behind placeholders ({listing(parts, 4)}); a model reads "
               f"them as a real category or number, so map them to missing at ingestion (the contract does).")
    else:
        why = ("No placeholder such as '?', 'NA' or -999 stands in for a missing value; such placeholders "
               "pass every null check and are learned as real values.")
    details = [{**f, "share": round(f["share"], 6)} for f in found]
    return catalogue.check(cid, status, share, title=title(cid),
                           threshold={"max": mx, "markers": jsonable(p.markers)}, why=why,
                           details=details, evidence=FINDINGS)


def completeness_checks(data: AuditData) -> list[dict]:
    """Completeness: overall and per-column missing shares, disguised missing values."""
    return (per_dataset(lambda ds: missing_share(data, ds)) + per_dataset(lambda ds: column_missing(data, ds))
            + per_dataset(lambda ds: disguised_missing(data, ds)))


__all__ = ["column_missing", "completeness_checks", "disguised_missing", "missing_share", "missing_table"]
