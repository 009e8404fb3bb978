"""The target: missing labels, class balance (classification) or distribution (regression), unseen labels.

* ``data.target.missing``: the larger share of unlabelled rows (null or a missing marker) in the reference
  or the current data (fail above ``max_target_missing_share``, warn on any);
* ``data.target.balance.<dataset>`` (classification): the rarest class's share of labelled rows;
* ``data.target.distribution.<dataset>`` (regression): the target's absolute skewness;
* ``data.target.unseen_labels`` (classification): labels of the current data absent from the reference (fail).

Labels are compared as text, with integer-valued numbers written without a decimal part, so a label column
read as ``1`` in one file and ``1.0`` in the other (a missing label turns integers into floats) is one label.
Counted over every row of the full data: the labels' distinct values with their counts, and the target's moments
and quantiles, come from DuckDB (:mod:`playbook.audit.scan`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from playbook import catalogue
from playbook.audit.prepare import DATASETS, FINDINGS, AuditData, listing, pct, per_dataset, title
from playbook.data import is_numeric


def label_text(s: pd.Series) -> pd.Series:
    """Labels as text, integer-valued numbers without a decimal part (``1`` and ``1.0`` read alike); missing dropped."""
    present = s.dropna()
    if is_numeric(present):
        v = pd.to_numeric(present, errors="coerce").astype(float)
        text = v.map(lambda x: str(int(x)) if np.isfinite(x) and float(x).is_integer() else str(x))
    else:
        text = present.map(lambda x: str(int(x)) if isinstance(x, float) and x.is_integer() else str(x))
    return text.astype(object)


def label_counts(data: AuditData, dataset: str) -> pd.Series:
    """How many rows hold each label (as :func:`label_text` writes it), over every row."""
    vals = data.scan.values(dataset, data.roles.target)
    if not vals:
        return pd.Series(dtype="int64")
    labels = label_text(pd.Series([v for v, _ in vals]))
    counts = pd.Series([k for _, k in vals], index=labels.index, dtype="int64")
    return counts.groupby(labels.to_numpy(), sort=False).sum()


def target_missing(data: AuditData) -> dict:
    """``data.target.missing``: the larger share of rows without a label (null or a missing marker) in
    the reference or the current data (the current counts only when it has the target column)."""
    p = data.params
    cid = "data.target.missing"
    t = data.roles.target
    rows = []
    for ds in DATASETS:
        df = data.clean[ds]
        if t not in df.columns:
            rows.append({"dataset": ds, "missing": None, "share": None, "note": "no target column"})
            continue
        k = data.scan.column(ds, t).missing
        rows.append({"dataset": ds, "missing": k, "share": round(k / max(data.rows[ds], 1), 6)})
    mx = data.limit(cid, "max", p.max_target_missing_share)
    shares = [r["share"] for r in rows if r["share"] is not None]
    worst = max(shares) if shares else 0.0
    status = "fail" if worst > mx else ("warn" if worst > 0 else "pass")
    why = (f"{pct(worst)} of rows have no label ("
           + ", ".join(f"{r['dataset']} {r['missing']}" for r in rows if r["missing"] is not None)
           + "); unlabelled rows are dropped silently, so training and evaluation see a biased subset: find "
           "why the labels are missing." if worst else
           "Every row has a label; missing labels drop rows silently and bias training and evaluation.")
    return catalogue.check(cid, status, worst, title=title(cid), threshold={"max": mx},
                           why=why, details=rows, evidence=FINDINGS)


def target_balance(data: AuditData, dataset: str) -> dict:
    """``data.target.balance.<dataset>`` (classification): the smallest class's share of labelled rows
    (a class of the reference absent from this dataset counts as 0)."""
    p = data.params
    t = data.roles.target
    cid = f"data.target.balance.{dataset}"
    mn = data.limit(cid, "min", p.min_class_share)
    threshold = {"min": mn}
    df = data.clean[dataset]
    if t not in df.columns or data.scan.column(dataset, t).present == 0:
        return catalogue.skip(cid, f"The {dataset} data has no labels in {t!r}.", title=title(cid),
                              threshold=threshold)
    counts = label_counts(data, dataset)
    labelled = int(counts.sum())
    classes = sorted(set(label_text(pd.Series(list(data.roles.classes or []), dtype=object))) | set(counts.index))
    shares = {c: float(counts.get(c, 0)) / labelled for c in classes}
    smallest = min(shares, key=lambda c: (shares[c], c))
    value = shares[smallest]
    rows = [{"class": c, "share": round(sh, 6), "count": int(counts.get(c, 0))} for c, sh in sorted(shares.items())]
    low = value < mn
    why = (f"The rarest class ({smallest!r}) is {pct(value)} of labelled rows, below {pct(mn)}; "
           "accuracy looks good while that class is ignored, so judge the model on per-class recall and a "
           "cost-based threshold." if low else
           f"The rarest class ({smallest!r}) is {pct(value)} of labelled rows; heavy imbalance makes accuracy "
           "misleading and needs class-aware metrics.")
    return catalogue.check(cid, "warn" if low else "pass", value, title=title(cid), threshold=threshold, why=why,
                           details=rows, evidence=FINDINGS)


def target_distribution(data: AuditData, dataset: str) -> dict:
    """``data.target.distribution.<dataset>`` (regression): the target's absolute skewness (the signed skew and
    quantiles are in the details)."""
    p = data.params
    t = data.roles.target
    cid = f"data.target.distribution.{dataset}"
    threshold = {"max": data.limit(cid, "max", p.max_target_skew)}
    df = data.clean[dataset]
    qs = [0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0]
    m = data.scan.moments(dataset, t, qs) if t in df.columns else None
    if m is None or m["n"] < 3:
        return catalogue.skip(cid, f"The {dataset} data has fewer than 3 finite numeric values in {t!r}.",
                              title=title(cid), threshold=threshold)
    # standardised first: moments of a target in small units (rates of 1e-8) are not lost to rounding
    skew, std = m["skew"], m["std"]
    rows = [{"statistic": k, "value": float(v)} for k, v in
            [("mean", m["mean"]), ("std", std), ("skew", skew)]
            + [(f"q{int(round(q * 100)):02d}", v) for q, v in zip(qs, m["quantiles"])]]
    bad = abs(skew) > threshold["max"]
    why = (f"The target is strongly skewed (skew {skew:.2f}); squared-error models chase the few extreme values, "
           "so consider a log transform or a robust loss and report errors per range." if bad else
           f"The target's skew ({skew:.2f}) is moderate; a heavily skewed target lets a few extreme values drive a "
           "squared-error fit.")
    return catalogue.check(cid, "warn" if bad else "pass", abs(skew), title=title(cid), threshold=threshold,
                           why=why, details=rows, evidence=FINDINGS)


def unseen_labels(data: AuditData) -> dict:
    """``data.target.unseen_labels`` (classification): number of labels of the current data absent from the
    reference."""
    t = data.roles.target
    cid = "data.target.unseen_labels"
    mx = data.limit(cid, "max", 0)
    ref, cur = data.clean["reference"], data.clean["current"]
    if t not in cur.columns or data.scan.column("current", t).present == 0:
        return catalogue.skip(cid, f"The current data has no labels in {t!r} (labels often arrive later).",
                              title=title(cid), threshold={"max": mx})
    seen = set(label_counts(data, "reference").index) if t in ref.columns else set()
    vc = label_counts(data, "current")
    new = {k: int(v) for k, v in vc.items() if k not in seen}
    missing = sorted(seen - set(vc.index))
    why = (f"The current data has {len(new)} label(s) never seen in the reference ({listing(sorted(new))}); the "
           "model can never predict them, so retrain with them or map them to known classes." if new else
           "Every current label occurs in the reference; a new label is one the model can never predict.")
    details = [{"label": k, "current_rows": v, "in_reference": False} for k, v in sorted(new.items())]
    details += [{"label": k, "current_rows": 0, "in_reference": True} for k in missing]
    return catalogue.check(cid, "fail" if len(new) > mx else "pass", len(new), title=title(cid), threshold={"max": mx},
                           why=why, details=details, evidence=FINDINGS)


def target_checks(data: AuditData) -> list[dict]:
    """Target: missing labels, class balance (classification) or distribution (regression), unseen labels."""
    out = [target_missing(data)]
    if data.roles.task == "regression":
        out += per_dataset(lambda ds: target_distribution(data, ds))
    else:
        out += per_dataset(lambda ds: target_balance(data, ds))
        out.append(unseen_labels(data))
    return out


__all__ = ["label_counts", "label_text", "target_balance", "target_checks", "target_distribution", "target_missing", "unseen_labels"]
