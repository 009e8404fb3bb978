"""Schema and types: the inferred kind of every column, mixed value types, numbers stored as text.

* ``data.schema.types``: columns whose inferred kind (numeric, categorical, boolean, datetime, text)
  differs between the reference and the current data;
* ``data.schema.mixed_types.<dataset>``: text columns mixing kinds of values (numbers and words, Python
  objects of several types), each kind at least ``mixed_types_min_share`` of the values;
* ``data.schema.numeric_as_text.<dataset>``: text columns in which at least ``numeric_text_share`` of the
  values parse as numbers.

A column's kind is read from its dtype and its statistics over every row (distinct values, in DuckDB); whether text
looks like dates, the kinds of values mixed in a column and the numbers stored as text are read on the pandas sample
(recorded in the threshold as ``sample_rows`` / ``of_rows`` when it is one).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np
import pandas as pd

from playbook import catalogue
from playbook.audit.contract import scanned_kind, to_number
from playbook.audit.prepare import FINDINGS, AuditData, listing, per_dataset, text_columns, title


def kind(data: AuditData, dataset: str, column: str, role: str | None = None) -> str:
    """A column's kind on its clean values (:func:`playbook.audit.contract.scanned_kind`: the sample's dtype and the
    look of its values, the distinct values counted over every row)."""
    return scanned_kind(data.clean[dataset][column], data.scan.column(dataset, column), role,
                        lambda values: data.scan.datelike(dataset, column, values))


def schema_types(data: AuditData) -> dict:
    """``data.schema.types``: number of columns whose inferred kind differs between reference and current
    (the kind of every column is in the details)."""
    roles = data.roles
    ref, cur = data.clean["reference"], data.clean["current"]
    rows, counts, changed = [], {}, []
    for c in ref.columns:
        role = "timestamp" if c == roles.timestamp else None
        k_ref = kind(data, "reference", c, role)
        counts[k_ref] = counts.get(k_ref, 0) + 1
        k_cur = kind(data, "current", c, role) if c in cur.columns else None
        if k_cur is not None and k_cur != k_ref:
            changed.append(c)
        rows.append({"column": c, "dtype_reference": str(ref[c].dtype), "kind_reference": k_ref,
                     "dtype_current": str(cur[c].dtype) if c in cur.columns else None, "kind_current": k_cur,
                     "changed": c in changed})
    kinds = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    if changed:
        why = (f"{len(changed)} column(s) change kind between reference and current ({listing(changed)}); "
               "a pipeline fitted on one kind silently mis-encodes the other, so fix the export before training.")
    else:
        why = (f"Column kinds ({kinds}) agree between reference and current; the kinds decide how each column is "
               "encoded, so a change would silently corrupt features.")
    cid = "data.schema.types"
    mx = data.limit(cid, "max", 0)
    return catalogue.check(cid, "warn" if len(changed) > mx else "pass", len(changed), title=title(cid),
                           threshold={"max": mx}, why=why, details=rows, evidence=FINDINGS)


def _value_counts(s: pd.Series) -> pd.Series:
    vc = s.value_counts(dropna=True)
    return vc[vc > 0]


def _kind_of_value(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "boolean"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(v, str):
        return "text"
    if isinstance(v, (pd.Timestamp, _dt.date, np.datetime64)):
        return "datetime"
    return type(v).__name__


def mixed_types(data: AuditData, dataset: str) -> dict:
    """``data.schema.mixed_types.<dataset>``: number of text columns mixing kinds of values (numbers and
    words, or Python objects of several types), each kind at least ``mixed_types_min_share`` of the values."""
    p = data.params
    df = data.clean[dataset]
    cid = f"data.schema.mixed_types.{dataset}"
    rows = []
    for c in text_columns(df):
        vc = _value_counts(df[c])
        if vc.empty:
            continue
        total = vc.sum()
        kinds: dict[str, int] = {}
        examples: dict[str, Any] = {}
        num = to_number(pd.Series(vc.index, dtype=object)).notna().to_numpy()
        for (v, k), is_num in zip(vc.items(), num):
            kind = _kind_of_value(v)
            if kind == "text" and is_num:
                kind = "number as text"
            kinds[kind] = kinds.get(kind, 0) + int(k)
            examples.setdefault(kind, data.example(c, v))
        shares = {k: v / total for k, v in kinds.items()}
        numberish = shares.get("number as text", 0.0) + shares.get("number", 0.0)
        if numberish >= p.numeric_text_share:
            continue  # (almost) all numbers: reported by numeric_as_text
        major = [k for k, sh in shares.items() if sh >= p.mixed_types_min_share]
        if len(major) > 1:
            rows.append({"column": c, "kinds": {k: round(sh, 4) for k, sh in sorted(shares.items())},
                         "examples": {k: examples[k] for k in sorted(examples)}})
    n = len(rows)
    cols = [r["column"] for r in rows]
    why = (f"{n} column(s) mix kinds of values ({listing(cols)}); encoders treat '12' and 12 or numbers and words "
           "as unrelated values, so clean the column or split it before training." if n else
           "No column mixes numbers with words or objects of several types; mixed columns are read differently by "
           "each tool in the pipeline.") + data.sample_why(dataset)
    mx = data.limit(cid, "max", 0)
    return catalogue.check(cid, "warn" if n > mx else "pass", n, title=title(cid),
                           threshold={"max": mx, "mixed_types_min_share": p.mixed_types_min_share,
                                      **data.sampled(dataset)}, why=why, details=rows, evidence=FINDINGS)


def numeric_as_text(data: AuditData, dataset: str) -> dict:
    """``data.schema.numeric_as_text.<dataset>``: number of text columns whose values are (almost all) numbers."""
    p = data.params
    df = data.clean[dataset]
    cid = f"data.schema.numeric_as_text.{dataset}"
    rows = []
    for c in text_columns(df):
        vc = _value_counts(df[c])
        if vc.empty:
            continue
        parsed = to_number(pd.Series(vc.index, dtype=object)).to_numpy()
        ok = ~np.isnan(parsed)
        weights = vc.to_numpy()
        share = float(weights[ok].sum() / weights.sum())
        if share >= p.numeric_text_share:
            bad = [data.example(c, v) for v, good in zip(vc.index, ok) if not good][:5]
            rows.append({"column": c, "dtype": str(df[c].dtype), "numeric_share": round(share, 4),
                         "non_numeric_examples": bad})
    n = len(rows)
    cols = [r["column"] for r in rows]
    why = (f"{n} column(s) hold numbers stored as text ({listing(cols)}); they are one-hot encoded as categories "
           "instead of being used as quantities, and a stray non-number breaks parsing in serving: cast them "
           "to numbers (and fix the stray values)." if n else
           "No text column holds numbers; numbers stored as text are treated as categories by most pipelines."
           ) + data.sample_why(dataset)
    mx = data.limit(cid, "max", 0)
    return catalogue.check(cid, "warn" if n > mx else "pass", n, title=title(cid),
                           threshold={"max": mx, "numeric_text_share": p.numeric_text_share, **data.sampled(dataset)},
                           why=why, details=rows, evidence=FINDINGS)


def schema_checks(data: AuditData) -> list[dict]:
    """Schema and types: inferred kinds, mixed types, numbers stored as text."""
    return ([schema_types(data)] + per_dataset(lambda ds: mixed_types(data, ds))
            + per_dataset(lambda ds: numeric_as_text(data, ds)))


__all__ = ["kind", "mixed_types", "numeric_as_text", "schema_checks", "schema_types"]
