"""The data audit checks: schema, completeness, uniqueness, validity, target, contamination, freshness.

Every function returns check dicts ``{id, title, status, value, threshold, evidence, why, details}``
that a notebook passes to ``step.add_checks(...)`` (``details`` is a list of rows for display and for
``artifacts/audit_findings.json``; the results API ignores it). The thresholds live in
:class:`AuditParams`, whose defaults are the template's parameter defaults.

Typical use::

    data = prepare(reference, current, roles, AuditParams(run_date="2024-06-30"))
    checks = schema_checks(data) + completeness_checks(data) + ...

:func:`prepare` finds the disguised missing values (``'?'``, ``'NA'``, ``-999`` ...) once and keeps a
*clean* copy of each frame where they are real missing values; every later check reads the clean
copy, so a ``'?'`` is never mistaken for a category or ``-999`` for an outlier.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from playbook.audit.contract import (
    column_kind, looks_like_datetime, marker_mask, parse_datetime, split_markers, to_number,
)
from playbook.data import is_numeric

DATASETS = ("reference", "current")
FINDINGS = "artifacts/audit_findings.json"
CONTRACT = "artifacts/data_contract.json"

DEFAULT_MISSING_MARKERS = ["?", "", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "-", "--", "missing"]
DEFAULT_NUMERIC_MARKERS = [-999, -9999, -99999]


# -- parameters ----------------------------------------------------------------------------------
@dataclass
class AuditParams:
    """Every threshold of the audit, with the template's defaults (see the template for their meaning)."""

    run_date: str = ""
    missing_markers: list = field(default_factory=lambda: list(DEFAULT_MISSING_MARKERS))
    numeric_missing_markers: list = field(default_factory=lambda: list(DEFAULT_NUMERIC_MARKERS))
    max_missing_share: float = 0.05
    max_column_missing_share: float = 0.3
    max_disguised_share: float = 0.0
    mixed_types_min_share: float = 0.01
    numeric_text_share: float = 0.95
    max_duplicate_share: float = 0.01
    max_duplicate_id_share: float = 0.0
    max_conflicting_share: float = 0.01
    near_constant_share: float = 0.99
    max_categories: int = 50
    outlier_quantile: float = 0.05
    outlier_k: float = 1.5
    outlier_min_distinct: int = 10
    max_outlier_share: float = 0.01
    min_class_share: float = 0.05
    max_target_missing_share: float = 0.01
    max_target_skew: float = 3.0
    leakage_max_score: float = 0.95
    leakage_max_rows: int = 10000
    leakage_folds: int = 3
    id_unique_share: float = 0.95
    id_max_abs_corr: float = 0.2
    max_contamination_share: float = 0.01
    max_overlap_days: float = 0.0
    max_gap_factor: float = 10.0
    max_staleness_days: float = 180.0
    max_future_share: float = 0.0
    max_unparseable_share: float = 0.0
    max_violation_share: float = 0.01
    contract_missing_slack: float = 0.01
    seed: int = 0

    _SHARES = ("max_missing_share", "max_column_missing_share", "max_disguised_share", "mixed_types_min_share",
               "numeric_text_share", "max_duplicate_share", "max_duplicate_id_share", "max_conflicting_share",
               "near_constant_share", "max_outlier_share", "min_class_share", "max_target_missing_share",
               "leakage_max_score", "id_unique_share", "id_max_abs_corr", "max_contamination_share",
               "max_future_share", "max_unparseable_share", "max_violation_share",
               "contract_missing_slack")

    def __post_init__(self) -> None:
        if isinstance(self.run_date, (_dt.date, pd.Timestamp)):
            self.run_date = self.run_date.isoformat()
        elif self.run_date is None:
            self.run_date = ""
        elif not isinstance(self.run_date, str):
            raise ValueError(f"parameter run_date: expected a date as text like \"2024-06-30\", got {self.run_date!r}; "
                             "quote the date in YAML.")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("float", float):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(float(v)):
                    raise ValueError(f"parameter {f.name}: expected a number, got {v!r}; fix it in the step's params.")
                setattr(self, f.name, float(v))
            elif f.type in ("int", int) and (isinstance(v, bool) or not isinstance(v, int)):
                if isinstance(v, float) and v.is_integer():
                    setattr(self, f.name, int(v))
                else:
                    raise ValueError(f"parameter {f.name}: expected a whole number, got {v!r}; fix it in the step's params.")
        for name in self._SHARES:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"parameter {name}: {getattr(self, name)!r} is a share and must lie between 0 and 1.")
        for name in ("missing_markers", "numeric_missing_markers"):
            v = getattr(self, name)
            if v is None:
                v = []
            if isinstance(v, (str, int, float)):
                v = [v]
            if not isinstance(v, (list, tuple)):
                raise ValueError(f"parameter {name}: expected a list of values, got {v!r}.")
            setattr(self, name, list(v))
        if any(isinstance(m, (bool, str)) or not isinstance(m, (int, float)) for m in self.numeric_missing_markers):
            raise ValueError(f"parameter numeric_missing_markers: expected numbers, got {self.numeric_missing_markers!r}.")
        if not 0.0 < self.outlier_quantile < 0.5:
            raise ValueError(f"parameter outlier_quantile: {self.outlier_quantile!r} must lie between 0 and 0.5 (e.g. 0.05).")
        for name in ("max_categories", "leakage_max_rows", "outlier_min_distinct"):
            if getattr(self, name) < 1:
                raise ValueError(f"parameter {name}: must be at least 1.")
        if self.leakage_folds < 2:
            raise ValueError("parameter leakage_folds: cross-validation needs at least 2 folds.")
        for name in ("outlier_k", "max_overlap_days", "max_gap_factor", "max_staleness_days", "max_target_skew"):
            if getattr(self, name) < 0:
                raise ValueError(f"parameter {name}: must be zero or more.")
        self.run_day  # validates run_date

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], **overrides: Any) -> "AuditParams":
        """Pick the audit's parameters out of a mapping (a notebook's ``globals()``, a config's params)."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in mapping.items() if k in names}
        kw.update(overrides)
        return cls(**kw)

    @property
    def markers(self) -> list:
        """Text and numeric missing markers together."""
        return list(self.missing_markers) + list(self.numeric_missing_markers)

    @property
    def run_day(self) -> pd.Timestamp | None:
        """``run_date`` as a timestamp (None when empty)."""
        if not self.run_date:
            return None
        try:
            ts = pd.Timestamp(str(self.run_date))
        except (ValueError, TypeError):
            raise ValueError(f"parameter run_date: {self.run_date!r} is not a date; use YYYY-MM-DD or leave it empty.") from None
        if ts is pd.NaT:
            raise ValueError(f"parameter run_date: {self.run_date!r} is not a date; use YYYY-MM-DD or leave it empty.")
        return ts.tz_convert("UTC").tz_localize(None) if ts.tz is not None else ts


# -- prepared data ---------------------------------------------------------------------------------
@dataclass
class AuditData:
    """The frames under audit: raw, clean (missing markers replaced by NaN), and what was replaced."""

    raw: dict[str, pd.DataFrame]
    clean: dict[str, pd.DataFrame]
    markers: dict[str, list[dict]]  # dataset -> [{column, marker, count, share}]
    roles: Any
    params: AuditParams
    pii: list[str] = field(default_factory=list)

    def example(self, column: str, value: Any) -> Any:
        """A data value as it may appear in the evidence: masked for PII columns."""
        return "<redacted>" if column in self.pii else value


def find_markers(df: pd.DataFrame, markers: Iterable[Any]) -> list[dict]:
    """Cells holding a missing marker: ``[{column, marker, count, share}]`` (text compared stripped)."""
    text, nums = split_markers(markers)
    out = []
    n = max(len(df), 1)
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
            continue
        if pd.api.types.is_numeric_dtype(s):
            if not nums:
                continue
            vc = s[s.isin(list(nums))].value_counts()
            for m, k in vc.items():
                out.append({"column": col, "marker": to_marker(m), "count": int(k), "share": k / n})
            continue
        vc = s.value_counts(dropna=True)
        found: dict[str, int] = {}
        for v, k in vc.items():
            if isinstance(v, str) and v.strip() in text:
                found[v.strip()] = found.get(v.strip(), 0) + int(k)
        for m, k in sorted(found.items()):
            out.append({"column": col, "marker": m, "count": k, "share": k / n})
    return out


def to_marker(v: Any) -> Any:
    v = float(v)
    return int(v) if v.is_integer() else v


def clean_frame(df: pd.DataFrame, found: list[dict], markers: Iterable[Any]) -> pd.DataFrame:
    """A copy of ``df`` where the missing markers of the columns in ``found`` are NaN."""
    cols = sorted({f["column"] for f in found})
    if not cols:
        return df
    out = df.copy()
    for c in cols:
        out[c] = out[c].mask(marker_mask(out[c], markers))
        if out[c].dtype == object:
            converted = out[c].infer_objects()
            if is_numeric(converted):
                out[c] = converted
    return out


def prepare(reference: pd.DataFrame, current: pd.DataFrame, roles, params: AuditParams | None = None,
            pii: Iterable[str] = ()) -> AuditData:
    """Find the missing markers in both frames and build their clean copies."""
    p = params or AuditParams()
    raw = {"reference": reference, "current": current}
    markers = {ds: find_markers(df, p.markers) for ds, df in raw.items()}
    clean = {ds: clean_frame(df, markers[ds], p.markers) for ds, df in raw.items()}
    return AuditData(raw=raw, clean=clean, markers=markers, roles=roles, params=p, pii=list(pii))


# -- helpers ----------------------------------------------------------------------------------------
def check(id: str, title: str, status: str, value: Any = None, threshold: Any = None, why: str = "",
          details: Any = None, evidence: Any = FINDINGS) -> dict:
    """A check dict as the results API expects it (plus ``details`` for the findings artifact)."""
    return {"id": id, "title": title, "status": status, "value": value, "threshold": threshold,
            "evidence": evidence, "why": why, "details": details}


def skip(id: str, title: str, reason: str, threshold: Any = None) -> dict:
    return check(id, title, "skip", None, threshold, reason, None, None)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%" if x < 0.1 else f"{100 * x:.1f}%"


def _names(items: Iterable[str], n: int = 5) -> str:
    items = list(items)
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _per_dataset(fn: Callable[[str], dict | list[dict]]) -> list[dict]:
    out: list[dict] = []
    for ds in DATASETS:
        r = fn(ds)
        out.extend(r if isinstance(r, list) else [r])
    return out


def _audited_columns(df: pd.DataFrame, roles) -> list[str]:
    """Every column but the target (which has its own checks)."""
    return [c for c in df.columns if c != roles.target]


def _features(df: pd.DataFrame, roles) -> list[str]:
    return [c for c in roles.features if c in df.columns]


def _text_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns
            if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_datetime64_any_dtype(df[c]))]


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


# -- schema and types --------------------------------------------------------------------------------
def schema_types(data: AuditData) -> dict:
    """``data.schema.types``: the inferred kind of every column; warns when a column's kind differs
    between reference and current."""
    roles = data.roles
    ref, cur = data.clean["reference"], data.clean["current"]
    rows, counts, changed = [], {}, []
    for c in ref.columns:
        role = "timestamp" if c == roles.timestamp else None
        k_ref = column_kind(ref[c], role)
        counts[k_ref] = counts.get(k_ref, 0) + 1
        k_cur = column_kind(cur[c], role) if c in cur.columns else None
        if k_cur is not None and k_cur != k_ref:
            changed.append(c)
        rows.append({"column": c, "dtype_reference": str(ref[c].dtype), "kind_reference": k_ref,
                     "dtype_current": str(cur[c].dtype) if c in cur.columns else None, "kind_current": k_cur})
    value = dict(sorted(counts.items()))
    if changed:
        why = (f"{len(changed)} column(s) change kind between reference and current ({_names(changed)}); "
               "a pipeline fitted on one kind silently mis-encodes the other, so fix the export before training.")
    else:
        why = ("Column kinds (" + ", ".join(f"{v} {k}" for k, v in value.items()) + ") agree between reference and "
               "current; the kinds decide how each column is encoded, so a change would silently corrupt features.")
    return check("data.schema.types", "Inferred column types agree between datasets",
                 "warn" if changed else "pass", value, {"kind_changes": 0}, why, rows)


def _text_value_counts(s: pd.Series) -> pd.Series:
    vc = s.value_counts(dropna=True)
    return vc[vc > 0]


def mixed_types(data: AuditData, dataset: str) -> dict:
    """``data.schema.mixed_types.<dataset>``: text columns mixing kinds of values (numbers and words,
    or Python objects of several types), each kind at least ``mixed_types_min_share`` of the values."""
    p = data.params
    df = data.clean[dataset]
    cid = f"data.schema.mixed_types.{dataset}"
    rows = []
    for c in _text_columns(df):
        vc = _text_value_counts(df[c])
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
            examples.setdefault(kind, data.example(c, to_jsonable_scalar(v)))
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
    why = (f"{n} column(s) mix kinds of values ({_names(cols)}); encoders treat '12' and 12 or numbers and words "
           "as unrelated values, so clean the column or split it before training." if n else
           "No column mixes numbers with words or objects of several types; mixed columns are read differently by "
           "each tool in the pipeline.")
    return check(cid, f"Mixed value types in one column ({dataset})", "warn" if n else "pass", n,
                 {"min_share_of_each_kind": p.mixed_types_min_share, "max_columns": 0}, why, rows)


def to_jsonable_scalar(v: Any) -> Any:
    from playbook.results import to_jsonable

    return to_jsonable(v)


def numeric_as_text(data: AuditData, dataset: str) -> dict:
    """``data.schema.numeric_as_text.<dataset>``: text columns whose values are (almost all) numbers."""
    p = data.params
    df = data.clean[dataset]
    cid = f"data.schema.numeric_as_text.{dataset}"
    rows = []
    for c in _text_columns(df):
        vc = _text_value_counts(df[c])
        if vc.empty:
            continue
        parsed = to_number(pd.Series(vc.index, dtype=object)).to_numpy()
        ok = ~np.isnan(parsed)
        weights = vc.to_numpy()
        share = float(weights[ok].sum() / weights.sum())
        if share >= p.numeric_text_share:
            bad = [data.example(c, to_jsonable_scalar(v)) for v, good in zip(vc.index, ok) if not good][:5]
            rows.append({"column": c, "dtype": str(df[c].dtype), "numeric_share": round(share, 4),
                         "non_numeric_examples": bad})
    n = len(rows)
    cols = [r["column"] for r in rows]
    why = (f"{n} column(s) hold numbers stored as text ({_names(cols)}); they are one-hot encoded as categories "
           "instead of being used as quantities, and a stray non-number breaks parsing in serving: cast them "
           "to numbers (and fix the stray values)." if n else
           "No text column holds numbers; numbers stored as text are treated as categories by most pipelines.")
    return check(cid, f"Numbers stored as text ({dataset})", "warn" if n else "pass", n,
                 {"numeric_share_at_least": p.numeric_text_share, "max_columns": 0}, why, rows)


def schema_checks(data: AuditData) -> list[dict]:
    """Schema and types: inferred kinds, mixed types, numbers stored as text."""
    return ([schema_types(data)] + _per_dataset(lambda ds: mixed_types(data, ds))
            + _per_dataset(lambda ds: numeric_as_text(data, ds)))


# -- completeness --------------------------------------------------------------------------------------
def missing_table(data: AuditData, dataset: str) -> pd.DataFrame:
    """Per column: null cells, disguised missing cells (markers), total missing share."""
    raw = data.raw[dataset]
    n = max(len(raw), 1)
    disguised: dict[str, int] = {}
    for f in data.markers[dataset]:
        disguised[f["column"]] = disguised.get(f["column"], 0) + f["count"]
    rows = []
    for c in raw.columns:
        nulls = int(raw[c].isna().sum())
        dis = disguised.get(c, 0)
        rows.append({"column": c, "nulls": nulls, "disguised": dis, "missing_share": (nulls + dis) / n})
    return pd.DataFrame(rows, columns=["column", "nulls", "disguised", "missing_share"])


def missing_share(data: AuditData, dataset: str) -> dict:
    """``data.completeness.missing_share.<dataset>``: share of missing cells (nulls and disguised) over
    every column but the target."""
    p = data.params
    tab = missing_table(data, dataset)
    tab = tab[tab["column"] != data.roles.target]
    n = max(len(data.raw[dataset]), 1)
    cells = n * max(len(tab), 1)
    share = float((tab["nulls"].sum() + tab["disguised"].sum()) / cells)
    status = "warn" if share > p.max_missing_share else "pass"
    why = (f"{_pct(share)} of the cells are missing (nulls and disguised placeholders); models trained on gaps "
           "fail silently when serving fills them differently, so agree on one imputation and test it."
           if share else "No cell is missing; gaps that serving fills differently from training are a classic silent failure.")
    details = tab[(tab["nulls"] + tab["disguised"]) > 0].to_dict("records")
    return check(f"data.completeness.missing_share.{dataset}", f"Missing cells overall ({dataset})", status,
                 share, {"max": p.max_missing_share}, why, details)


def column_missing(data: AuditData, dataset: str) -> dict:
    """``data.completeness.column_missing.<dataset>``: the worst column's missing share."""
    p = data.params
    tab = missing_table(data, dataset)
    tab = tab[tab["column"] != data.roles.target]
    worst = float(tab["missing_share"].max()) if len(tab) else 0.0
    over = tab[tab["missing_share"] > p.max_column_missing_share]
    col = tab.loc[tab["missing_share"].idxmax(), "column"] if len(tab) and worst > 0 else None
    why = (f"{len(over)} column(s) miss more than {_pct(p.max_column_missing_share)} of their values "
           f"({_names(over['column'])}); such a column mostly teaches the model the imputation, so drop it or "
           "find why it is empty." if len(over) else
           (f"The emptiest column ({col}) misses {_pct(worst)} of its values, within the limit; a mostly empty "
            "column teaches the model the imputation rather than the signal." if col else
            "No column has missing values."))
    return check(f"data.completeness.column_missing.{dataset}", f"Worst column missing share ({dataset})",
                 "warn" if len(over) else "pass", worst, {"max": p.max_column_missing_share}, why,
                 over.to_dict("records"))


def disguised_missing(data: AuditData, dataset: str) -> dict:
    """``data.completeness.disguised_missing.<dataset>``: cells holding a missing marker
    ('?', 'NA', '', -999 ...), as a share of all cells."""
    p = data.params
    found = data.markers[dataset]
    df = data.raw[dataset]
    cells = max(df.size, 1)
    count = sum(f["count"] for f in found)
    share = count / cells
    status = "warn" if share > p.max_disguised_share else "pass"
    if found:
        parts = [f"{f['column']}: {f['marker']!r} x{f['count']}" for f in found]
        why = (f"{count} cell(s) hide missing values behind placeholders ({_names(parts, 4)}); a model reads "
               f"them as a real category or number, so map them to missing at ingestion (the contract does).")
    else:
        why = ("No placeholder such as '?', 'NA' or -999 stands in for a missing value; such placeholders "
               "pass every null check and are learned as real values.")
    details = [{**f, "share": round(f["share"], 6)} for f in found]
    return check(f"data.completeness.disguised_missing.{dataset}", f"Disguised missing values ({dataset})",
                 status, share, {"max": p.max_disguised_share, "markers": to_jsonable_scalar(p.markers)}, why, details)


def completeness_checks(data: AuditData) -> list[dict]:
    """Completeness: overall and per-column missing shares, disguised missing values."""
    return (_per_dataset(lambda ds: missing_share(data, ds)) + _per_dataset(lambda ds: column_missing(data, ds))
            + _per_dataset(lambda ds: disguised_missing(data, ds)))


# -- uniqueness ----------------------------------------------------------------------------------------
def _row_hash(df: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(df, index=False)


def duplicate_rows(data: AuditData, dataset: str) -> dict:
    """``data.uniqueness.duplicate_rows.<dataset>``: share of rows that repeat an earlier row exactly."""
    p = data.params
    df = data.clean[dataset]
    dup = int(_row_hash(df).duplicated().sum()) if len(df) else 0
    share = dup / max(len(df), 1)
    why = (f"{dup} row(s) ({_pct(share)}) repeat an earlier row exactly; duplicates over-weight some cases and, "
           "split across train and test, inflate every metric: deduplicate or explain them."
           if dup else "No row is an exact copy of another; duplicates over-weight cases and leak across splits.")
    return check(f"data.uniqueness.duplicate_rows.{dataset}", f"Exact duplicate rows ({dataset})",
                 "warn" if share > p.max_duplicate_share else "pass", share,
                 {"max": p.max_duplicate_share}, why, [{"duplicate_rows": dup, "rows": len(df)}])


def duplicate_ids(data: AuditData, dataset: str) -> dict:
    """``data.uniqueness.duplicate_ids.<dataset>``: share of rows whose id (``data.id``) repeats."""
    p = data.params
    cid = f"data.uniqueness.duplicate_ids.{dataset}"
    title = f"Duplicate ids ({dataset})"
    ids = [c for c in (data.roles.id or []) if c in data.clean[dataset].columns]
    if not ids:
        return skip(cid, title, "No id column is configured (data.id), so id uniqueness cannot be checked; "
                    "set data.id to the record identifier.", {"max": p.max_duplicate_id_share})
    df = data.clean[dataset]
    keyed = df[ids].dropna()
    dup = int(keyed.duplicated().sum())
    share = dup / max(len(df), 1)
    examples = [data.example(ids[0], to_jsonable_scalar(v))
                for v in keyed[keyed.duplicated(keep=False)][ids[0]].drop_duplicates().head(5)]
    why = (f"{dup} row(s) reuse an id ({_names(ids)}); repeated ids usually come from a bad join and make one "
           "record count several times: find the join that fans out." if dup else
           f"Every id ({_names(ids)}) is unique; repeated ids usually betray a join that fans out.")
    return check(cid, title, "fail" if share > p.max_duplicate_id_share else ("warn" if dup else "pass"), share,
                 {"max": p.max_duplicate_id_share}, why, [{"id_columns": ids, "duplicate_rows": dup, "examples": examples}])


def conflicting_labels(data: AuditData, dataset: str) -> dict:
    """``data.uniqueness.conflicting_labels.<dataset>``: rows whose features are identical to another
    row's but whose label differs (classification)."""
    p = data.params
    roles = data.roles
    cid = f"data.uniqueness.conflicting_labels.{dataset}"
    title = f"Identical features with conflicting labels ({dataset})"
    df = data.clean[dataset]
    if roles.task == "regression":
        return skip(cid, title, "Not meaningful for regression: identical inputs with different numeric targets are ordinary noise.")
    if roles.target not in df.columns:
        return skip(cid, title, f"The {dataset} data has no target column {roles.target!r}.")
    feats = _features(df, roles)
    labelled = df[df[roles.target].notna()]
    if not feats or labelled.empty:
        return skip(cid, title, "No labelled rows with features to compare.")
    key = _row_hash(labelled[feats])
    nuniq = labelled[roles.target].groupby(key.to_numpy()).nunique()
    conflicted = nuniq[nuniq > 1].index
    rows = int(np.isin(key.to_numpy(), conflicted.to_numpy()).sum())
    share = rows / len(labelled)
    why = (f"{rows} row(s) ({_pct(share)}) share their features with a row of another label; no model can "
           "learn both, so check the labelling process or add the feature that tells them apart."
           if rows else "No two rows with identical features carry different labels; such conflicts cap the "
           "accuracy any model can reach and often reveal labelling errors.")
    return check(cid, title, "warn" if share > p.max_conflicting_share else "pass", share,
                 {"max": p.max_conflicting_share}, why, [{"conflicting_rows": rows, "groups": int(len(conflicted))}])


def uniqueness_checks(data: AuditData) -> list[dict]:
    """Uniqueness: exact duplicate rows, duplicate ids, conflicting labels."""
    return (_per_dataset(lambda ds: duplicate_rows(data, ds)) + _per_dataset(lambda ds: duplicate_ids(data, ds))
            + _per_dataset(lambda ds: conflicting_labels(data, ds)))


# -- validity --------------------------------------------------------------------------------------------
def constant_columns(data: AuditData, dataset: str) -> dict:
    """``data.validity.constant.<dataset>``: features with at most one distinct (non-missing) value."""
    df = data.clean[dataset]
    cols = [c for c in _features(df, data.roles) if df[c].nunique(dropna=True) <= 1]
    why = (f"{len(cols)} feature(s) never change ({_names(cols)}); they carry no signal, and if they vary in "
           "production the model meets values it never saw: drop them or find why they are constant."
           if cols else "No feature is constant; a constant feature carries no signal and hides upstream breakage.")
    return check(f"data.validity.constant.{dataset}", f"Constant features ({dataset})", "warn" if cols else "pass",
                 len(cols), {"max_columns": 0}, why, [{"column": c} for c in cols])


def near_constant_columns(data: AuditData, dataset: str) -> dict:
    """``data.validity.near_constant.<dataset>``: features whose most frequent value (missing counted
    as a value) covers at least ``near_constant_share`` of the rows."""
    p = data.params
    df = data.clean[dataset]
    rows = []
    for c in _features(df, data.roles):
        if df[c].nunique(dropna=True) <= 1 or len(df) == 0:
            continue
        vc = df[c].value_counts(dropna=False, normalize=True)
        if vc.iloc[0] >= p.near_constant_share:
            rows.append({"column": c, "top_share": round(float(vc.iloc[0]), 6),
                         "top_value": data.example(c, to_jsonable_scalar(vc.index[0]))})
    cols = [r["column"] for r in rows]
    why = (f"{len(cols)} feature(s) hold one value in at least {_pct(p.near_constant_share)} of rows "
           f"({_names(cols)}); the rare values are too few to learn from and make the model fragile."
           if cols else f"No feature is stuck on one value in {_pct(p.near_constant_share)} of rows or more.")
    return check(f"data.validity.near_constant.{dataset}", f"Near-constant features ({dataset})",
                 "warn" if cols else "pass", len(cols), {"top_share_below": p.near_constant_share}, why, rows)


def high_cardinality(data: AuditData, dataset: str) -> dict:
    """``data.validity.high_cardinality.<dataset>``: categorical features with more than
    ``max_categories`` distinct values."""
    p = data.params
    df = data.clean[dataset]
    cats = [c for c in data.roles.categorical if c in df.columns]
    rows = [{"column": c, "distinct": int(df[c].nunique(dropna=True))} for c in cats]
    rows = [r for r in rows if r["distinct"] > p.max_categories]
    cols = [r["column"] for r in rows]
    why = (f"{len(cols)} categorical feature(s) have more than {p.max_categories} values ({_names(cols)}); "
           "one-hot encoding explodes, rare values are memorised and new ones appear daily: group rare values, "
           "or treat the column as an id or free text." if cols else
           f"Every categorical feature has at most {p.max_categories} distinct values.")
    return check(f"data.validity.high_cardinality.{dataset}", f"High-cardinality categoricals ({dataset})",
                 "warn" if cols else "pass", len(cols), {"max_categories": p.max_categories}, why, rows)


def outlier_fences(s: pd.Series, quantile: float = 0.05, k: float = 1.5) -> tuple[float, float] | None:
    """Robust fences ``q_lo - k*spread, q_hi + k*spread`` with ``spread = q_hi - q_lo`` (quantiles
    ``quantile`` and ``1 - quantile``; 1 % / 99 % when that spread is zero). None when the column
    has no spread at all."""
    v = s.dropna().astype(float)
    v = v[np.isfinite(v)]
    if v.empty:
        return None
    for q in (quantile, min(quantile, 0.01)):
        lo, hi = np.quantile(v, [q, 1 - q])
        if hi > lo:
            spread = hi - lo
            return float(lo - k * spread), float(hi + k * spread)
    return None


def outliers(data: AuditData, dataset: str) -> dict:
    """``data.validity.outliers.<dataset>``: numeric features whose share of values outside the robust
    fences (computed on the reference, applied to both datasets) exceeds ``max_outlier_share``."""
    p = data.params
    ref, df = data.clean["reference"], data.clean[dataset]
    rows = []
    for c in data.roles.numeric:
        if c not in df.columns or c not in ref.columns or not is_numeric(df[c]):
            continue
        if ref[c].nunique(dropna=True) < p.outlier_min_distinct:
            continue
        fences = outlier_fences(ref[c], p.outlier_quantile, p.outlier_k)
        if fences is None:
            continue
        v = df[c].astype(float)
        v = v[np.isfinite(v)]
        out = int(((v < fences[0]) | (v > fences[1])).sum())
        share = out / max(len(df), 1)
        rows.append({"column": c, "low_fence": fences[0], "high_fence": fences[1], "outliers": out,
                     "share": round(share, 6), "min": float(v.min()) if len(v) else None,
                     "max": float(v.max()) if len(v) else None})
    flagged = [r for r in rows if r["share"] > p.max_outlier_share]
    cols = [r["column"] for r in flagged]
    why = (f"{len(cols)} numeric feature(s) have more than {_pct(p.max_outlier_share)} of values far outside the "
           f"reference's range ({_names(cols)}); look for unit changes, sentinel codes or capped values before "
           "they dominate the fit." if cols else
           "No numeric feature has more than "
           f"{_pct(p.max_outlier_share)} of values beyond the robust fences; gross outliers are usually unit "
           "errors or sentinel codes.")
    return check(f"data.validity.outliers.{dataset}", f"Out-of-range numeric values ({dataset})",
                 "warn" if cols else "pass", len(cols),
                 {"max_share": p.max_outlier_share, "quantile": p.outlier_quantile, "k": p.outlier_k}, why, rows)


def infinite_values(data: AuditData, dataset: str) -> dict:
    """``data.validity.infinite.<dataset>``: cells holding +/- infinity in numeric columns."""
    df = data.clean[dataset]
    rows = []
    for c in df.columns:
        if is_numeric(df[c]) and pd.api.types.is_float_dtype(df[c]):
            k = int(np.isinf(df[c].to_numpy(dtype=float)).sum())
            if k:
                rows.append({"column": c, "infinite": k})
    total = sum(r["infinite"] for r in rows)
    cols = [r["column"] for r in rows]
    why = (f"{total} infinite value(s) in {_names(cols)}; most models reject or mis-handle infinity, usually "
           "the trace of a division by zero upstream: fix the computation." if total else
           "No infinite value; infinities come from divisions by zero and crash or skew most models.")
    return check(f"data.validity.infinite.{dataset}", f"Infinite values ({dataset})", "fail" if total else "pass",
                 total, {"max": 0}, why, rows)


def timestamp_columns(data: AuditData) -> list[str]:
    """The configured timestamp column and any column holding dates (by dtype or by its text)."""
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
    """``data.validity.unparseable_timestamps.<dataset>`` and ``data.validity.future_timestamps.<dataset>``."""
    p = data.params
    df = data.clean[dataset]
    cols = [c for c in timestamp_columns(data) if c in df.columns]
    uid, fid = f"data.validity.unparseable_timestamps.{dataset}", f"data.validity.future_timestamps.{dataset}"
    ut, ft = f"Unparseable timestamps ({dataset})", f"Timestamps in the future ({dataset})"
    if not cols:
        reason = "No timestamp column (data.timestamp) and no column holding dates, so there is nothing to parse."
        return [skip(uid, ut, reason, {"max": p.max_unparseable_share}), skip(fid, ft, reason, {"max": p.max_future_share})]
    as_of, label = _as_of(data)
    urows, frows = [], []
    n = max(len(df), 1)
    for c in cols:
        present = df[c].dropna()
        ts = parse_datetime(present)
        # placeholders like 9999-12-31 lie beyond pandas' datetime range: future, not unparseable
        far = ts.isna() & present.astype(str).str.match(r"^\s*(2[3-9]\d\d|[3-9]\d\d\d)-\d")
        bad = int((ts.isna() & ~far).sum())
        fut = int((ts >= as_of).sum()) + int(far.sum())
        urows.append({"column": c, "unparseable": bad, "share": round(bad / n, 6),
                      "examples": [data.example(c, to_jsonable_scalar(v)) for v in present[ts.isna() & ~far].unique()[:5]]})
        frows.append({"column": c, "future": fut, "share": round(fut / n, 6),
                      "latest": ts.max().isoformat() if ts.notna().any() else None})
    u_share = max(r["share"] for r in urows)
    f_share = max(r["share"] for r in frows)
    u_cols = [r["column"] for r in urows if r["unparseable"]]
    f_cols = [r["column"] for r in frows if r["future"]]
    u_why = (f"Some timestamps do not parse as dates ({_names(u_cols)}); unparseable dates become missing and "
             "rows drop out of every time-based split: fix the format at the source." if u_cols else
             f"Every timestamp in {_names(cols)} parses as a date.")
    f_why = (f"Some timestamps lie after {label} ({_names(f_cols)}); future dates are typos, time-zone bugs or "
             "placeholder dates like 2099-12-31, and they break freshness and time-based splits."
             if f_cols else f"No timestamp lies after {label}; future dates betray typos, time-zone bugs or placeholders.")
    return [
        check(uid, ut, "warn" if u_share > p.max_unparseable_share else "pass", u_share,
              {"max": p.max_unparseable_share}, u_why, urows),
        check(fid, ft, "warn" if f_share > p.max_future_share else "pass", f_share,
              {"max": p.max_future_share, "after": label}, f_why, frows),
    ]


def validity_checks(data: AuditData) -> list[dict]:
    """Validity: constant, near-constant, high-cardinality, outliers, infinities, timestamps."""
    out: list[dict] = []
    for fn in (constant_columns, near_constant_columns, high_cardinality, outliers, infinite_values):
        out += _per_dataset(lambda ds, fn=fn: fn(data, ds))
    out += _per_dataset(lambda ds: timestamp_validity(data, ds))
    return out


# -- target ----------------------------------------------------------------------------------------------
def target_missing(data: AuditData) -> dict:
    """``data.target.missing``: the larger share of rows without a label (null or a missing marker) in
    the reference or the current data (the current counts only when it has the target column)."""
    p = data.params
    t = data.roles.target
    rows = []
    for ds in DATASETS:
        df = data.clean[ds]
        if t not in df.columns:
            rows.append({"dataset": ds, "missing": None, "share": None, "note": "no target column"})
            continue
        k = int(df[t].isna().sum())
        rows.append({"dataset": ds, "missing": k, "share": round(k / max(len(df), 1), 6)})
    shares = [r["share"] for r in rows if r["share"] is not None]
    worst = max(shares) if shares else 0.0
    status = "fail" if worst > p.max_target_missing_share else ("warn" if worst > 0 else "pass")
    why = (f"{_pct(worst)} of rows have no label ("
           + ", ".join(f"{r['dataset']} {r['missing']}" for r in rows if r["missing"] is not None)
           + "); unlabelled rows are dropped silently, so training and evaluation see a biased subset: find "
           "why the labels are missing." if worst else
           "Every row has a label; missing labels drop rows silently and bias training and evaluation.")
    return check("data.target.missing", "Missing target values", status, worst,
                 {"max": p.max_target_missing_share}, why, rows)


def target_balance(data: AuditData, dataset: str) -> dict:
    """``data.target.balance.<dataset>`` (classification): the smallest class's share of labelled rows."""
    p = data.params
    t = data.roles.target
    cid = f"data.target.balance.{dataset}"
    title = f"Class balance ({dataset})"
    df = data.clean[dataset]
    if t not in df.columns or df[t].notna().sum() == 0:
        return skip(cid, title, f"The {dataset} data has no labels in {t!r}.", {"min": p.min_class_share})
    vc = df[t].value_counts(normalize=True)
    classes = [c for c in (data.roles.classes or vc.index.tolist())]
    shares = {str(c): float(vc.get(c, 0.0)) for c in classes}
    for c, sh in vc.items():
        shares.setdefault(str(c), float(sh))
    smallest = min(shares, key=lambda c: (shares[c], c))
    value = shares[smallest]
    rows = [{"class": c, "share": round(sh, 6), "count": int(df[t].astype(str).eq(c).sum())} for c, sh in sorted(shares.items())]
    why = (f"The rarest class ({smallest!r}) is {_pct(value)} of rows, below {_pct(p.min_class_share)}; accuracy "
           "looks good while that class is ignored, so judge the model on per-class recall and a cost-based "
           "threshold." if value < p.min_class_share else
           f"The rarest class ({smallest!r}) is {_pct(value)} of rows; heavy imbalance makes accuracy "
           "misleading and needs class-aware metrics.")
    return check(cid, title, "warn" if value < p.min_class_share else "pass", value, {"min": p.min_class_share}, why, rows)


def target_distribution(data: AuditData, dataset: str) -> dict:
    """``data.target.distribution.<dataset>`` (regression): skewness of the target."""
    p = data.params
    t = data.roles.target
    cid = f"data.target.distribution.{dataset}"
    title = f"Target distribution ({dataset})"
    df = data.clean[dataset]
    if t not in df.columns or not is_numeric(df[t]) or df[t].notna().sum() < 3:
        return skip(cid, title, f"The {dataset} data has fewer than 3 numeric values in {t!r}.", {"max_abs_skew": p.max_target_skew})
    y = df[t].dropna().astype(float)
    y = y[np.isfinite(y)]
    skew = float(y.skew()) if y.std() > 0 else 0.0
    q = y.quantile([0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0])
    rows = [{"statistic": k, "value": float(v)} for k, v in
            [("mean", y.mean()), ("std", y.std()), ("skew", skew)] + [(f"q{int(i * 100):02d}", v) for i, v in q.items()]]
    bad = abs(skew) > p.max_target_skew
    why = (f"The target is strongly skewed (skew {skew:.2f}); squared-error models chase the few extreme values, "
           "so consider a log transform or a robust loss and report errors per range." if bad else
           f"The target's skew ({skew:.2f}) is moderate; a heavily skewed target lets a few extreme values drive a squared-error fit.")
    return check(cid, title, "warn" if bad else "pass", skew, {"max_abs_skew": p.max_target_skew}, why, rows)


def unseen_labels(data: AuditData) -> dict:
    """``data.target.unseen_labels`` (classification): labels of the current data absent from the reference."""
    t = data.roles.target
    cid, title = "data.target.unseen_labels", "Current labels all seen in the reference"
    ref, cur = data.clean["reference"], data.clean["current"]
    if t not in cur.columns:
        return skip(cid, title, f"The current data has no target column {t!r}.")
    seen = {str(v) for v in ref[t].dropna().unique()}
    vc = cur[t].dropna().astype(str).value_counts()
    new = {k: int(v) for k, v in vc.items() if k not in seen}
    missing = sorted(seen - set(vc.index))
    why = (f"The current data has {len(new)} label(s) never seen in the reference ({_names(sorted(new))}); the "
           "model can never predict them, so retrain with them or map them to known classes." if new else
           "Every current label occurs in the reference; a new label is one the model can never predict.")
    details = [{"label": k, "current_rows": v, "in_reference": False} for k, v in sorted(new.items())]
    details += [{"label": k, "current_rows": 0, "in_reference": True} for k in missing]
    return check(cid, title, "fail" if new else "pass", len(new), {"max": 0}, why, details)


def target_checks(data: AuditData) -> list[dict]:
    """Target: missing labels, class balance (classification) or distribution (regression), unseen labels."""
    out = [target_missing(data)]
    if data.roles.task == "regression":
        out += _per_dataset(lambda ds: target_distribution(data, ds))
    else:
        out += _per_dataset(lambda ds: target_balance(data, ds))
        out.append(unseen_labels(data))
    return out


# -- contamination -------------------------------------------------------------------------------------------
def _aligned(ref: pd.DataFrame, cur: pd.DataFrame, cols: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames on ``cols`` with one dtype per column, so equal values hash equally."""
    a, b = ref[cols].copy(), cur[cols].copy()
    for c in cols:
        if a[c].dtype != b[c].dtype:
            if is_numeric(a[c]) and is_numeric(b[c]):
                a[c], b[c] = a[c].astype(float), b[c].astype(float)
            else:
                a[c], b[c] = a[c].astype(str), b[c].astype(str)
    return a, b


def contamination(data: AuditData) -> dict:
    """``data.contamination``: share of current rows that also appear, identical, in the reference
    (all shared columns, label included)."""
    p = data.params
    ref, cur = data.clean["reference"], data.clean["current"]
    cols = [c for c in ref.columns if c in cur.columns]
    if not cols or len(cur) == 0:
        return skip("data.contamination", "Current rows also in the reference", "The datasets share no column.",
                    {"max": p.max_contamination_share})
    a, b = _aligned(ref, cur, cols)
    in_ref = _row_hash(b).isin(set(_row_hash(a)))
    k = int(in_ref.sum())
    share = k / len(cur)
    feats = [c for c in _features(cur, data.roles) if c in ref.columns]
    fa, fb = _aligned(ref, cur, feats) if feats else (a, b)
    feat_share = float(_row_hash(fb).isin(set(_row_hash(fa))).mean()) if feats else None
    why = (f"{k} current row(s) ({_pct(share)}) also appear in the reference; a model evaluated on rows it "
           "was trained on looks better than it is: remove them from the evaluation set and check the split."
           if k else "No current row is a copy of a reference row, so evaluation on the current data is not "
           "inflated by memorised training rows.")
    status = "fail" if share > p.max_contamination_share else ("warn" if k else "pass")
    return check("data.contamination", "Current rows also in the reference", status, share,
                 {"max": p.max_contamination_share}, why,
                 [{"rows_in_reference": k, "current_rows": len(cur), "share": round(share, 6),
                   "share_same_features_any_label": None if feat_share is None else round(feat_share, 6)}])


def id_overlap(data: AuditData) -> dict:
    """``data.contamination.ids``: share of current ids also present in the reference."""
    p = data.params
    cid, title = "data.contamination.ids", "Current ids also in the reference"
    ref, cur = data.clean["reference"], data.clean["current"]
    ids = [c for c in (data.roles.id or []) if c in ref.columns and c in cur.columns]
    if not ids:
        return skip(cid, title, "No id column is configured (data.id), so overlapping ids cannot be checked.",
                    {"max": p.max_contamination_share})
    a, b = _aligned(ref, cur, ids)
    in_ref = _row_hash(b).isin(set(_row_hash(a)))
    share = float(in_ref.mean()) if len(cur) else 0.0
    why = (f"{_pct(share)} of current rows carry an id seen in the reference; when the same entity is in both "
           "sets the evaluation measures memory, not generalisation: split by entity." if share else
           "No current id occurs in the reference, so the evaluation covers unseen entities.")
    return check(cid, title, "warn" if share > p.max_contamination_share else "pass", share,
                 {"max": p.max_contamination_share}, why, [{"id_columns": ids, "rows_with_seen_id": int(in_ref.sum())}])


def contamination_checks(data: AuditData) -> list[dict]:
    """Contamination: current rows (and ids) that also appear in the reference."""
    return [contamination(data), id_overlap(data)]


# -- freshness and coverage ------------------------------------------------------------------------------------
def _times(data: AuditData, dataset: str) -> pd.Series | None:
    t = data.roles.timestamp
    df = data.clean[dataset]
    if t is None or t not in df.columns:
        return None
    return parse_datetime(df[t].dropna()).dropna()


def freshness_checks(data: AuditData) -> list[dict]:
    """Freshness and coverage, when ``data.timestamp`` is set:

    * ``data.freshness.coverage``: the current data should follow the reference in time (value: days
      of overlap between the two ranges);
    * ``data.freshness.gaps.<dataset>``: the largest gap between consecutive timestamps, as a multiple
      of the median gap;
    * ``data.freshness.staleness``: age in days of the newest reference row at the *as-of* date:
      ``run_date`` when given, otherwise the latest timestamp in the data (results stay deterministic).
    """
    p = data.params
    ids = {"coverage": "data.freshness.coverage", "staleness": "data.freshness.staleness"}
    titles = {"coverage": "Current data follows the reference in time", "staleness": "Reference data is recent"}
    gap_ids = {ds: f"data.freshness.gaps.{ds}" for ds in DATASETS}
    if data.roles.timestamp is None:
        reason = "No timestamp column is configured (data.timestamp); set it to check freshness, gaps and time order."
        return ([skip(ids["coverage"], titles["coverage"], reason, {"max_overlap_days": p.max_overlap_days})]
                + [skip(gap_ids[ds], f"Gaps in time ({ds})", reason, {"max_gap_factor": p.max_gap_factor}) for ds in DATASETS]
                + [skip(ids["staleness"], titles["staleness"], reason, {"max_days": p.max_staleness_days})])
    times = {ds: _times(data, ds) for ds in DATASETS}
    out = []
    ranges = {ds: (t.min(), t.max()) if t is not None and len(t) else None for ds, t in times.items()}
    rows = [{"dataset": ds, "first": r[0].isoformat() if r else None, "last": r[1].isoformat() if r else None,
             "rows_with_time": int(len(times[ds])) if times[ds] is not None else 0} for ds, r in ranges.items()]
    if ranges["reference"] and ranges["current"]:
        overlap = (min(ranges["reference"][1], ranges["current"][1]) - ranges["current"][0]) / pd.Timedelta(days=1)
        overlap = max(0.0, float(overlap))
        bad = overlap > p.max_overlap_days
        why = (f"The current data starts {overlap:.1f} day(s) before the reference ends; a model is judged on "
               "the future it will face, so evaluate on data strictly after the training period." if bad else
               "The current data starts after the reference ends, as it will in production; overlapping periods "
               "make evaluation optimistic.")
        out.append(check(ids["coverage"], titles["coverage"], "warn" if bad else "pass", overlap,
                         {"max_overlap_days": p.max_overlap_days}, why, rows))
    else:
        out.append(skip(ids["coverage"], titles["coverage"], "One of the datasets has no parseable timestamp."))
    for ds in DATASETS:
        t = times[ds]
        title = f"Gaps in time ({ds})"
        uniq = np.sort(t.unique()) if t is not None else np.array([])
        if len(uniq) < 3:
            out.append(skip(gap_ids[ds], title, f"The {ds} data has fewer than 3 distinct timestamps.",
                            {"max_gap_factor": p.max_gap_factor}))
            continue
        diffs = pd.Series(np.diff(uniq)) / pd.Timedelta(days=1)
        median = float(diffs.median())
        i = int(diffs.idxmax())
        factor = float(diffs.iloc[i] / median) if median > 0 else 0.0
        bad = factor > p.max_gap_factor
        gap = {"from": pd.Timestamp(uniq[i]).isoformat(), "to": pd.Timestamp(uniq[i + 1]).isoformat(),
               "days": round(float(diffs.iloc[i]), 6), "median_gap_days": round(median, 6)}
        why = (f"The {ds} data has a hole of {gap['days']:.1f} days ({gap['from']} to {gap['to']}), "
               f"{factor:.0f}x the usual spacing; a pipeline outage or a filter removed a period the model "
               "then never learns about." if bad else
               f"The largest gap between timestamps is {factor:.1f}x the usual spacing; holes reveal outages or "
               "filters that remove whole periods.")
        out.append(check(gap_ids[ds], title, "warn" if bad else "pass", factor, {"max_gap_factor": p.max_gap_factor}, why, [gap]))
    if ranges["reference"]:
        if p.run_day is not None:
            as_of, basis = p.run_day, f"run_date {p.run_date}"
        else:
            as_of = max(r[1] for r in ranges.values() if r)
            basis = f"the latest timestamp in the data ({as_of.isoformat()}), as no run_date was given"
        age = float((as_of - ranges["reference"][1]) / pd.Timedelta(days=1))
        bad = age > p.max_staleness_days
        why = (f"The newest reference row is {age:.0f} days old relative to {basis}; the world the model learns "
               "from has moved on, so refresh the training data." if bad else
               f"The newest reference row is {age:.0f} days old relative to {basis}; stale training data "
               "misses recent behaviour.")
        out.append(check(ids["staleness"], titles["staleness"], "warn" if bad else "pass", age,
                         {"max_days": p.max_staleness_days, "as_of": as_of.isoformat()}, why, rows))
    else:
        out.append(skip(ids["staleness"], titles["staleness"], "The reference data has no parseable timestamp."))
    return out


# -- data contract ----------------------------------------------------------------------------------------------
def contract_checks(data: AuditData, path, link: str = CONTRACT) -> tuple[dict, list[dict]]:
    """Build the reference's data contract, write it to ``path`` and validate the current data against it.

    Returns ``(contract, [data.contract.written, data.contract.current_valid])``. Validation fails on
    missing columns and type changes, warns on range, category, missing-value and extra-column findings.
    """
    from playbook.audit.contract import build_contract, save, validate

    p = data.params
    contract = build_contract(data.raw["reference"], data.roles, missing_markers=p.markers,
                              missing_slack=p.contract_missing_slack, pii_columns=data.pii)
    save(contract, path)
    n = len(contract["columns"])
    written = check("data.contract.written", "Data contract written", "pass", n, None,
                    f"The contract fixes the names, kinds, ranges, categories and nullability of {n} columns; "
                    "serving and monitoring validate every new batch against it instead of trusting it.",
                    None, link)
    violations = validate(data.raw["current"], contract)
    severe = [v for v in violations if v["kind"] in ("missing_column", "type", "rows")]
    notable = [v for v in violations if v["kind"] == "extra_column"
               or (v not in severe and (v["share"] or 0.0) > p.max_violation_share)]
    status = "fail" if severe else ("warn" if notable else "pass")
    kinds: dict[str, int] = {}
    for v in violations:
        kinds[v["kind"]] = kinds.get(v["kind"], 0) + 1
    listed = ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items()))
    if severe:
        why = (f"The current data breaks the reference's contract ({listed}); missing columns or changed types "
               "break the pipeline outright: fix the export before anything else.")
    elif notable:
        why = (f"The current data breaks the reference's contract ({listed}), some on more than "
               f"{_pct(p.max_violation_share)} of rows; new categories, out-of-range values or extra columns are "
               "what the model never saw: check they are real before trusting predictions on them.")
    elif violations:
        why = (f"The current data stays within the reference's contract except on at most "
               f"{_pct(p.max_violation_share)} of rows ({listed}); listed in the findings, worth a look, not a block.")
    else:
        why = "The current data honours the reference's contract: same columns, types, ranges and categories."
    valid = check("data.contract.current_valid", "Current data honours the data contract", status, len(violations),
                  {"max_violation_share": p.max_violation_share, "missing_columns_or_type_changes": 0}, why,
                  violations, [link, FINDINGS])
    return contract, [written, valid]


# -- presentation -------------------------------------------------------------------------------------------------
def table(checks: Iterable[dict]) -> pd.DataFrame:
    """Checks as a compact table for a notebook (id, status, value, threshold, why)."""
    from playbook.results import to_jsonable

    rows = [{"id": c["id"], "status": c["status"], "value": to_jsonable(c.get("value")),
             "threshold": to_jsonable(c.get("threshold")), "why": c.get("why", "")} for c in checks]
    return pd.DataFrame(rows, columns=["id", "status", "value", "threshold", "why"])


def details(checks: Iterable[dict], id: str) -> pd.DataFrame:
    """The details rows of one check as a table (empty when it has none)."""
    for c in checks:
        if c["id"] == id:
            d = c.get("details") or []
            return pd.DataFrame(d if isinstance(d, list) else [d])
    raise KeyError(f"no check {id!r}; recorded ids: {', '.join(c['id'] for c in checks)}")


def findings(checks: Iterable[dict]) -> dict:
    """``{check id: details}`` for the findings artifact (checks without details are left out)."""
    return {c["id"]: c.get("details") for c in checks if c.get("details") not in (None, [], {})}


__all__ = [
    "AuditParams", "AuditData", "prepare", "find_markers", "clean_frame", "check", "skip",
    "schema_checks", "completeness_checks", "uniqueness_checks", "validity_checks", "target_checks",
    "contamination_checks", "freshness_checks", "contract_checks", "table", "details", "findings", "outlier_fences",
]
