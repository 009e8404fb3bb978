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

Counted over every row of the full data (:mod:`playbook.audit.scan`): distinct values, the most frequent value,
quantile fences and the values beyond them, infinities; dates and numbers are read as times in SQL, text dates once
per distinct value (on the sample, recorded, past ``TIME_VALUES_CAP`` distinct values).
"""

from __future__ import annotations

import pandas as pd

from playbook import catalogue
from playbook.audit.prepare import FINDINGS, AuditData, as_of, feature_columns, listing, pct, per_dataset, title
from playbook.data import is_numeric
from playbook.audit.scan import TIME_VALUES_CAP


def _distinct(data: AuditData, dataset: str, column: str) -> int:
    """Distinct clean values over every row (a lower bound above the scan's group cap, see playbook.audit.scan)."""
    return data.scan.column(dataset, column).distinct


def constant_columns(data: AuditData, dataset: str) -> dict:
    """``data.validity.constant.<dataset>``: number of features with at most one distinct (non-missing) value
    (an all-empty feature is constant)."""
    cid = f"data.validity.constant.{dataset}"
    mx = data.limit(cid, "max", 0)
    df = data.clean[dataset]
    if data.rows[dataset] == 0:
        return catalogue.skip(cid, f"The {dataset} data has no rows.", title=title(cid), threshold={"max": mx})
    rows = []
    for c in feature_columns(df, data.roles):
        st = data.scan.column(dataset, c)
        if st.distinct <= 1:
            rows.append({"column": c, "value": data.example(c, st.top_value) if st.distinct else None,
                         "empty": st.distinct == 0})
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
    n = data.rows[dataset]
    varying = [c for c in feature_columns(df, data.roles) if _distinct(data, dataset, c) > 1] if n else []
    if not varying:
        why = (f"The {dataset} data has no rows." if n == 0 else
               "No feature takes two or more values (see data.validity.constant), so none can be near-constant.")
        return catalogue.skip(cid, why, title=title(cid), threshold=threshold, not_applicable=n > 0)
    rows = []
    for c in varying:
        st = data.scan.column(dataset, c)
        top, value = (st.top_count, st.top_value) if st.top_count >= st.missing else (st.missing, None)
        rows.append({"column": c, "top_share": round(top / n, 6), "top_value": data.example(c, value)})
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
    rows = [{"column": c, "distinct": _distinct(data, dataset, c)} for c in data.roles.categorical if c in df.columns]
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


def fences(data: AuditData, columns: list[str]) -> dict[str, tuple[float, float] | None]:
    """Robust fences ``q_lo - k*spread, q_hi + k*spread`` of reference columns, ``spread = q_hi - q_lo`` (quantiles
    ``outlier_quantile`` and its mirror over every row, linear interpolation; 1 % / 99 % when that spread is zero).
    None for a column without any spread."""
    p = data.params
    q = p.outlier_quantile
    out = {}
    for c, qs in data.scan.quantiles("reference", columns, [q, 1 - q, min(q, 0.01), 1 - min(q, 0.01)]).items():
        out[c] = None
        for lo, hi in (((qs[0], qs[1]), (qs[2], qs[3])) if qs is not None else ()):
            if hi > lo:
                spread = hi - lo
                out[c] = (float(lo - p.outlier_k * spread), float(hi + p.outlier_k * spread))
                break
    return out


def outlier_fences(s: pd.Series, quantile: float = 0.05, k: float = 1.5) -> tuple[float, float] | None:
    """:func:`fences` of one series (as the audit computes them on a reference column)."""
    from playbook.audit.params import AuditParams
    from playbook.audit.prepare import prepare

    frame = pd.DataFrame({"v": pd.to_numeric(s, errors="coerce").astype("Float64").astype(float)})
    data = prepare(frame, frame.iloc[:0], None, AuditParams(outlier_quantile=quantile, outlier_k=k, missing_markers=[],
                                                              numeric_missing_markers=[]))
    try:
        return fences(data, ["v"])["v"]
    finally:
        data.close()


def outliers(data: AuditData, dataset: str) -> dict:
    """``data.validity.outliers.<dataset>``: the largest share of a numeric feature's values outside the robust
    fences (computed on the reference, applied to both datasets); warns above ``max_outlier_share``."""
    p = data.params
    cid = f"data.validity.outliers.{dataset}"
    mx = data.limit(cid, "max", p.max_outlier_share)
    threshold = {"max": mx, "quantile": p.outlier_quantile, "k": p.outlier_k}
    ref, df = data.clean["reference"], data.clean[dataset]
    n = data.rows[dataset]
    eligible = [c for c in data.roles.numeric
                if c in df.columns and c in ref.columns and is_numeric(df[c]) and is_numeric(ref[c])
                and _distinct(data, "reference", c) >= p.outlier_min_distinct]
    todo = [c for c in eligible if c not in data._fences]  # the reference's fences serve both datasets
    data._fences.update(fences(data, todo))
    fenced = {c: data._fences[c] for c in eligible if data._fences[c] is not None}
    counts = data.scan.outside(dataset, fenced)
    rows = []
    for c, fence in fenced.items():
        st = data.scan.column(dataset, c)
        share = counts[c] / max(n, 1)
        rows.append({"column": c, "low_fence": fence[0], "high_fence": fence[1], "outliers": counts[c],
                     "share": round(share, 6), "min": st.min, "max": st.max})
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
            k = data.scan.column(dataset, c).infinite
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
        elif (c != data.roles.target and not pd.api.types.is_numeric_dtype(ref[c])
              and data.scan.datelike("reference", c, data.clean["reference"][c].dropna)):
            out.append(c)
    return out


def timestamp_validity(data: AuditData, dataset: str) -> list[dict]:
    """``data.validity.unparseable_timestamps.<dataset>`` and ``data.validity.future_timestamps.<dataset>``:
    the worst share, over the date columns, of values that do not parse as dates / lie after the run date."""
    p = data.params
    df = data.clean[dataset]
    cols = [c for c in timestamp_columns(data) if c in df.columns]
    uid, fid = f"data.validity.unparseable_timestamps.{dataset}", f"data.validity.future_timestamps.{dataset}"
    _, label = as_of(data.params)
    u_threshold = {"max": data.limit(uid, "max", p.max_unparseable_share)}
    f_threshold = {"max": data.limit(fid, "max", p.max_future_share), "after": label}
    if not cols:
        reason = (f"The {dataset} data has no timestamp column (data.timestamp) and no column holding dates, so "
                  "there is nothing to parse.")
        return [catalogue.skip(uid, reason, title=title(uid), threshold=u_threshold, not_applicable=True),
                catalogue.skip(fid, reason, title=title(fid), threshold=f_threshold, not_applicable=True)]
    urows, frows, sampled = [], [], {}
    n = max(data.rows[dataset], 1)
    for c in cols:
        t = data.times(dataset, c)
        m = max(t.sample["sample_rows"], 1) if t.sample else n
        if t.sample:
            sampled[c] = t.sample
        urows.append({"column": c, "unparseable": t.unparseable, "share": round(t.unparseable / m, 6),
                      "examples": [data.example(c, v) for v in t.examples],
                      **({"sample": t.sample} if t.sample else {})})
        frows.append({"column": c, "future": t.future, "share": round(t.future / m, 6),
                      "latest": data.example(c, t.last.isoformat()) if t.last is not None else None,
                      **({"sample": t.sample} if t.sample else {})})
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
    if sampled:
        note = (f" Text dates with more than {TIME_VALUES_CAP:,} distinct values ({listing(sampled)}) were read on a "
                f"seeded sample of {next(iter(sampled.values()))['sample_rows']:,} of {data.rows[dataset]:,} rows.")
        u_why, f_why = u_why + note, f_why + note
        u_threshold.update(next(iter(sampled.values())))
        f_threshold.update(next(iter(sampled.values())))
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
    "constant_columns", "fences", "high_cardinality", "infinite_values", "near_constant_columns", "outlier_fences",
    "outliers",
    "timestamp_columns", "timestamp_validity", "validity_checks",
]
