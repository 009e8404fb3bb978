"""Validity of the features: constant and near-constant columns, cardinality, outliers, infinities, timestamps.

* ``data.validity.constant.<dataset>``: number of features with at most one distinct value;
* ``data.validity.near_constant.<dataset>``: the largest share of rows one value covers in a feature that
  is not constant (missing counted as a value);
* ``data.validity.high_cardinality.<dataset>``: the most distinct values of a categorical feature;
* ``data.validity.outliers.<dataset>``: the largest share of a numeric feature's values beyond robust
  quantile fences computed on the reference (so a unit change in the current data shows up);
* ``data.validity.infinite.<dataset>``: cells holding +/- infinity (fail);
* ``data.validity.unparseable_timestamps.<dataset>`` / ``data.validity.future_timestamps.<dataset>``: the
  configured timestamp and every column holding dates (not applicable when there is none).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from playbook import catalogue
from playbook.audit.contract import looks_like_datetime
from playbook.audit.prepare import (
    FINDINGS, AuditData, feature_columns, listing, pct, per_dataset, timestamps, title,
)
from playbook.data import is_numeric


def _distinct(s: pd.Series) -> int:
    return int(s.nunique(dropna=True))


def constant_columns(data: AuditData, dataset: str) -> dict:
    """``data.validity.constant.<dataset>``: number of features with at most one distinct (non-missing) value
    (an all-empty feature is constant)."""
    cid = f"data.validity.constant.{dataset}"
    mx = data.limit(cid, "max", 0)
    df = data.clean[dataset]
    if len(df) == 0:
        return catalogue.skip(cid, f"The {dataset} data has no rows.", title=title(cid), threshold={"max": mx})
    rows = []
    for c in feature_columns(df, data.roles):
        k = _distinct(df[c])
        if k <= 1:
            rows.append({"column": c, "value": data.example(c, df[c].dropna().iloc[0]) if k else None,
                         "empty": k == 0})
    cols = [r["column"] for r in rows]
    empty = [r["column"] for r in rows if r["empty"]]
    why = (f"{len(cols)} feature(s) never change ({listing(cols)})"
           + (f"; {listing(empty)} hold(s) no value at all" if empty else "")
           + "; they carry no signal, and if they vary in production the model meets values it never saw: drop "
           "them or find why they are constant." if cols else
           "No feature is constant; a constant feature carries no signal and hides upstream breakage.")
    return catalogue.check(cid, "warn" if len(cols) > mx else "pass", len(cols), title=title(cid), threshold={"max": mx},
                           why=why, details=rows, evidence=FINDINGS)


def near_constant_columns(data: AuditData, dataset: str) -> dict:
    """``data.validity.near_constant.<dataset>``: the largest share of rows covered by the most frequent value
    (missing counted as a value) of a feature with at least two distinct values; warns above
    ``near_constant_share``."""
    p = data.params
    cid = f"data.validity.near_constant.{dataset}"
    mx = data.limit(cid, "max", p.near_constant_share)
    threshold = {"max": mx}
    df = data.clean[dataset]
    varying = [c for c in feature_columns(df, data.roles) if _distinct(df[c]) > 1] if len(df) else []
    if not varying:
        why = (f"The {dataset} data has no rows." if len(df) == 0 else
               "No feature takes two or more values (see data.validity.constant), so none can be near-constant.")
        return catalogue.skip(cid, why, title=title(cid), threshold=threshold, not_applicable=len(df) > 0)
    rows = []
    for c in varying:
        vc = df[c].value_counts(dropna=False, normalize=True)
        rows.append({"column": c, "top_share": round(float(vc.iloc[0]), 6),
                     "top_value": data.example(c, vc.index[0])})
    worst = max(r["top_share"] for r in rows)
    flagged = sorted((r for r in rows if r["top_share"] > mx),
                     key=lambda r: (-r["top_share"], str(r["column"])))
    cols = [r["column"] for r in flagged]
    why = (f"{len(cols)} feature(s) hold one value in more than {pct(mx)} of rows "
           f"({listing(cols)}); the rare values are too few to learn from and make the model fragile."
           if cols else f"No feature is stuck on one value in more than {pct(mx)} of rows "
           f"(the most is {pct(worst)}).")
    return catalogue.check(cid, "warn" if cols else "pass", worst, title=title(cid), threshold=threshold, why=why,
                           details=flagged, evidence=FINDINGS)


def high_cardinality(data: AuditData, dataset: str) -> dict:
    """``data.validity.high_cardinality.<dataset>``: the most distinct values of a categorical feature; warns
    above ``max_categories``."""
    p = data.params
    cid = f"data.validity.high_cardinality.{dataset}"
    mx = data.limit(cid, "max", p.max_categories)
    df = data.clean[dataset]
    rows = [{"column": c, "distinct": _distinct(df[c])} for c in data.roles.categorical if c in df.columns]
    worst = max((r["distinct"] for r in rows), default=0)
    flagged = [r for r in rows if r["distinct"] > mx]
    cols = [r["column"] for r in flagged]
    why = (f"{len(cols)} categorical feature(s) have more than {mx:g} values ({listing(cols)}); "
           "one-hot encoding explodes, rare values are memorised and new ones appear daily: group rare values, "
           "or treat the column as an id or free text." if cols else
           f"Every categorical feature has at most {mx:g} distinct values (the most is {worst})."
           if rows else "There is no categorical feature.")
    return catalogue.check(cid, "warn" if cols else "pass", worst, title=title(cid),
                           threshold={"max": mx}, why=why, details=flagged, evidence=FINDINGS)


def outlier_fences(s: pd.Series, quantile: float = 0.05, k: float = 1.5) -> tuple[float, float] | None:
    """Robust fences ``q_lo - k*spread, q_hi + k*spread`` with ``spread = q_hi - q_lo`` (quantiles
    ``quantile`` and ``1 - quantile``; 1 % / 99 % when that spread is zero). None when the column
    has no spread at all."""
    v = pd.to_numeric(s, errors="coerce").astype(float).dropna()
    v = v[np.isfinite(v)]
    if v.empty:
        return None
    for q in (quantile, min(quantile, 0.01)):
        lo, hi = np.quantile(v, [q, 1 - q])
        if hi > lo:
            spread = hi - lo
            return float(lo - k * spread), float(hi + k * spread)
    return None


def _floats(s: pd.Series) -> np.ndarray:
    """A numeric column as float values (missing as NaN, whatever the nullable dtype)."""
    return pd.to_numeric(s, errors="coerce").astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def outliers(data: AuditData, dataset: str) -> dict:
    """``data.validity.outliers.<dataset>``: the largest share of a numeric feature's values outside the robust
    fences (computed on the reference, applied to both datasets); warns above ``max_outlier_share``."""
    p = data.params
    cid = f"data.validity.outliers.{dataset}"
    mx = data.limit(cid, "max", p.max_outlier_share)
    threshold = {"max": mx, "quantile": p.outlier_quantile, "k": p.outlier_k}
    ref, df = data.clean["reference"], data.clean[dataset]
    rows = []
    for c in data.roles.numeric:
        if c not in df.columns or c not in ref.columns or not is_numeric(df[c]) or not is_numeric(ref[c]):
            continue
        if _distinct(ref[c]) < p.outlier_min_distinct:
            continue
        fences = outlier_fences(ref[c], p.outlier_quantile, p.outlier_k)
        if fences is None:
            continue
        v = _floats(df[c])
        v = v[np.isfinite(v)]
        out = int(((v < fences[0]) | (v > fences[1])).sum())
        share = out / max(len(df), 1)
        rows.append({"column": c, "low_fence": fences[0], "high_fence": fences[1], "outliers": out,
                     "share": round(share, 6), "min": float(v.min()) if len(v) else None,
                     "max": float(v.max()) if len(v) else None})
    worst = max((r["share"] for r in rows), default=0.0)
    flagged = [r for r in rows if r["share"] > mx]
    cols = [r["column"] for r in flagged]
    if cols:
        why = (f"{len(cols)} numeric feature(s) have more than {pct(mx)} of values far outside "
               f"the reference's range ({listing(cols)}); look for unit changes, sentinel codes or capped values "
               "before they dominate the fit.")
    elif rows:
        why = (f"No numeric feature has more than {pct(mx)} of values beyond the robust fences "
               f"(the most is {pct(worst)}); gross outliers are usually unit errors or sentinel codes.")
    else:
        why = (f"No numeric feature has at least {p.outlier_min_distinct} distinct values with a spread in the "
               "reference, so there are no fences to check against.")
    return catalogue.check(cid, "warn" if cols else "pass", worst, title=title(cid), threshold=threshold, why=why,
                           details=rows, evidence=FINDINGS)


def infinite_values(data: AuditData, dataset: str) -> dict:
    """``data.validity.infinite.<dataset>``: cells holding +/- infinity in numeric columns."""
    cid = f"data.validity.infinite.{dataset}"
    mx = data.limit(cid, "max", 0)
    df = data.clean[dataset]
    rows = []
    for c in df.columns:
        if is_numeric(df[c]) and pd.api.types.is_float_dtype(df[c]):
            k = int(np.isinf(_floats(df[c])).sum())
            if k:
                rows.append({"column": c, "infinite": k})
    total = sum(r["infinite"] for r in rows)
    cols = [r["column"] for r in rows]
    why = (f"{total} infinite value(s) in {listing(cols)}; most models reject or mis-handle infinity, usually "
           "the trace of a division by zero upstream: fix the computation." if total else
           "No infinite value; infinities come from divisions by zero and crash or skew most models.")
    return catalogue.check(cid, "fail" if total > mx else "pass", total, title=title(cid), threshold={"max": mx},
                           why=why, details=rows, evidence=FINDINGS)


def timestamp_columns(data: AuditData) -> list[str]:
    """The configured timestamp column and any other column holding dates (by dtype or by its text)."""
    ref = data.raw["reference"]
    out = []
    for c in ref.columns:
        if c == data.roles.timestamp or pd.api.types.is_datetime64_any_dtype(ref[c]):
            out.append(c)
        elif c != data.roles.target and not pd.api.types.is_numeric_dtype(ref[c]) and looks_like_datetime(data.clean["reference"][c]):
            out.append(c)
    return out


def _as_of(data: AuditData) -> tuple[pd.Timestamp, str]:
    """The day future timestamps are judged against: run_date when given, else today (see the notebook)."""
    day = data.params.run_day
    if day is not None:
        return day.normalize() + pd.Timedelta(days=1), f"run_date {data.params.run_date}"
    return pd.Timestamp.now("UTC").tz_localize(None).normalize() + pd.Timedelta(days=1), "today"


def timestamp_validity(data: AuditData, dataset: str) -> list[dict]:
    """``data.validity.unparseable_timestamps.<dataset>`` and ``data.validity.future_timestamps.<dataset>``:
    the worst share, over the date columns, of values that do not parse as dates / lie after the run date."""
    p = data.params
    df = data.clean[dataset]
    cols = [c for c in timestamp_columns(data) if c in df.columns]
    uid, fid = f"data.validity.unparseable_timestamps.{dataset}", f"data.validity.future_timestamps.{dataset}"
    as_of, label = _as_of(data)
    u_threshold = {"max": data.limit(uid, "max", p.max_unparseable_share)}
    f_threshold = {"max": data.limit(fid, "max", p.max_future_share), "after": label}
    if not cols:
        reason = (f"The {dataset} data has no timestamp column (data.timestamp) and no column holding dates, so "
                  "there is nothing to parse.")
        return [catalogue.skip(uid, reason, title=title(uid), threshold=u_threshold, not_applicable=True),
                catalogue.skip(fid, reason, title=title(fid), threshold=f_threshold, not_applicable=True)]
    urows, frows = [], []
    n = max(len(df), 1)
    for c in cols:
        present = df[c].dropna()
        ts = timestamps(present)
        # placeholders like 9999-12-31 lie beyond pandas' datetime range: future, not unparseable
        far = ts.isna() & present.astype(str).str.match(r"^\s*(2[3-9]\d\d|[3-9]\d\d\d)-\d")
        bad = int((ts.isna() & ~far).sum())
        fut = int((ts >= as_of).sum()) + int(far.sum())
        urows.append({"column": c, "unparseable": bad, "share": round(bad / n, 6),
                      "examples": [data.example(c, v) for v in pd.unique(present[(ts.isna() & ~far).to_numpy()])[:5]]})
        frows.append({"column": c, "future": fut, "share": round(fut / n, 6),
                      "latest": data.example(c, ts.max().isoformat()) if ts.notna().any() else None})
    u_share = max(r["share"] for r in urows)
    f_share = max(r["share"] for r in frows)
    u_cols = [r["column"] for r in urows if r["unparseable"]]
    f_cols = [r["column"] for r in frows if r["future"]]
    u_why = (f"Some timestamps do not parse as dates ({listing(u_cols)}, up to {pct(u_share)} of rows); unparseable "
             "dates become missing and rows drop out of every time-based split: fix the format at the source."
             if u_cols else f"Every timestamp in {listing(cols)} parses as a date.")
    f_why = (f"Some timestamps lie after {label} ({listing(f_cols)}, up to {pct(f_share)} of rows); future dates "
             "are typos, time-zone bugs or placeholder dates like 2099-12-31, and they break freshness and "
             "time-based splits." if f_cols else
             f"No timestamp lies after {label}; future dates betray typos, time-zone bugs or placeholders.")
    return [
        catalogue.check(uid, "warn" if u_share > u_threshold["max"] else "pass", u_share, title=title(uid),
                        threshold=u_threshold, why=u_why, details=urows, evidence=FINDINGS),
        catalogue.check(fid, "warn" if f_share > f_threshold["max"] else "pass", f_share, title=title(fid),
                        threshold=f_threshold, why=f_why, details=frows, evidence=FINDINGS),
    ]


def validity_checks(data: AuditData) -> list[dict]:
    """Validity: constant, near-constant, high-cardinality, outliers, infinities, timestamps."""
    out: list[dict] = []
    for fn in (constant_columns, near_constant_columns, high_cardinality, outliers, infinite_values):
        out += per_dataset(lambda ds, fn=fn: fn(data, ds))
    out += per_dataset(lambda ds: timestamp_validity(data, ds))
    return out


__all__ = [
    "constant_columns", "high_cardinality", "infinite_values", "near_constant_columns", "outlier_fences", "outliers",
    "timestamp_columns", "timestamp_validity", "validity_checks",
]
