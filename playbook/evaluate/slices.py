"""Slices: the metric per value of each categorical feature and per bin of each numeric feature.

An average hides the segment where the model fails. Every slice is reported with its sample size;
slices smaller than ``min_size`` are marked ``small`` (their metric is noisy) rather than hidden, and the
worst sufficiently large slice is flagged when it trails the overall metric by more than ``max_gap``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from playbook.evaluate.metrics import Scored, compute

MISSING = "(missing)"


def slice_metric_for(s: Scored) -> str:
    """The default slice metric: ROC AUC (binary, with probabilities), accuracy (other classification),
    MAE (regression)."""
    if s.task == "regression":
        return "mae"
    if s.task == "binary" and s.proba is not None:
        return "roc_auc"
    return "accuracy"


def slice_labels(col: pd.Series, numeric: bool, n_bins: int = 4, max_values: int = 20) -> pd.Series:
    """A text label per row naming its slice: the value (categorical; the ``max_values`` most frequent,
    the rest pooled as "(other)"), or the quantile bin (numeric with more than ``n_bins`` values)."""
    if numeric and col.nunique(dropna=True) > n_bins:
        vals = pd.to_numeric(col, errors="coerce")
        bins = pd.qcut(vals, q=n_bins, duplicates="drop")
        labels = bins.map(lambda iv: f"[{iv.left:.4g}, {iv.right:.4g}]" if pd.notna(iv) else MISSING)
        labels = labels.astype(object).where(vals.notna(), MISSING)
        return labels.astype(str)
    text = col.astype(object).where(col.notna(), MISSING).map(str)
    top = text.value_counts().index[:max_values]
    return text.where(text.isin(top), "(other)")


def slice_table(frame: pd.DataFrame, s: Scored, numeric: list[str], categorical: list[str], *,
                n_bins: int = 4, min_size: int = 30, max_gap: float = 0.1, max_values: int = 20,
                metric: str | None = None) -> pd.DataFrame:
    """One row per slice: ``column, kind, slice, n, share, metric, value, overall, gap, small, flagged``
    (+ ``positive_rate`` for binary). ``gap`` is how much worse than overall the slice is, relative to the
    overall value (:func:`playbook.metrics.relative_drop`: positive = worse, 0.1 = 10% worse; unit-free, so a
    regression in large units is judged like a classifier); ``flagged`` = not small and gap > ``max_gap``."""
    from playbook.metrics import relative_drop

    metric = metric or slice_metric_for(s)
    overall = compute(s).get(metric, float("nan"))
    frame = frame.loc[s.index] if s.index is not None else frame
    rows = []
    n_total = len(s)
    for col in list(categorical) + list(numeric):
        if col not in frame.columns:
            continue
        labels = slice_labels(frame[col], col in numeric, n_bins, max_values).to_numpy()
        for lab in sorted(pd.unique(labels), key=str):
            mask = labels == lab
            n = int(mask.sum())
            sub = s.take(mask)
            v = compute(sub).get(metric, float("nan"))
            gap = relative_drop(metric, overall, v)
            gap = float("nan") if gap is None or not np.isfinite(v) else float(gap)
            row = {"column": col, "kind": "numeric" if col in numeric else "categorical", "slice": str(lab),
                   "n": n, "share": n / n_total if n_total else 0.0, "metric": metric, "value": v,
                   "overall": overall, "gap": gap, "small": n < min_size}
            if s.task == "binary":
                row["positive_rate"] = float(sub.y_bin.mean()) if n else float("nan")
            rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["flagged"] = (~table["small"]) & np.isfinite(table["gap"]) & (table["gap"] > max_gap)
    return table.sort_values(["gap", "column", "slice"], ascending=[False, True, True], na_position="last").reset_index(drop=True)


def slices_check(table: pd.DataFrame, max_gap: float, min_size: int, evidence=None) -> dict:
    from playbook import catalogue

    cid = "model.slices.worst_gap"
    why = ("An average hides the segment where the model fails; a slice far below the overall metric is a "
           "group of customers the model serves badly. Investigate it, collect data for it, or route it to a human.")
    if table.empty:
        return catalogue.skip(cid, "Not computed: no feature to slice by.", evidence=evidence, not_applicable=True)
    ok = table[(~table["small"]) & np.isfinite(table["gap"])]
    n_small = int(table["small"].sum())
    if ok.empty:
        return catalogue.skip(cid, f"Not computed: all {len(table)} slices are smaller than {min_size} rows, too few "
                              "to judge.", title=f"Worst slice: every slice has fewer than {min_size} rows",
                              threshold={"max": max_gap}, evidence=evidence)
    w = ok.iloc[0]
    flagged = int(table["flagged"].sum())
    title = (f"Worst slice {w['column']} = {w['slice']} (n={int(w['n'])}): {w['metric']} {w['value']:.4g} vs "
             f"{w['overall']:.4g} overall ({w['gap']:.1%} worse); {flagged} slice(s) flagged, {n_small} small "
             f"slice(s) (n < {min_size}) marked")
    return catalogue.check(cid, "warn" if w["gap"] > max_gap else "pass", float(w["gap"]), title=title,
                           threshold={"max": max_gap, "of": "relative gap to the overall metric"}, evidence=evidence,
                           why=why)
