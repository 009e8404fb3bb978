"""The frames under audit, prepared once: missing markers found, clean copies built, shared helpers.

:func:`prepare` finds the disguised missing values (``'?'``, ``'NA'``, ``-999`` ...) once and keeps a
*clean* copy of each frame where they are real missing values; every check reads the clean copy, so a
``'?'`` is never mistaken for a category or ``-999`` for an outlier. The helpers below are shared by the
check groups (``schema``, ``completeness``, ``uniqueness``, ``validity``, ``target``, ``leakage``,
``contamination``, ``freshness``, ``conformance``); each group builds its checks with
:func:`playbook.catalogue.check` / :func:`playbook.catalogue.skip`.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from playbook import catalogue
from playbook.audit.contract import marker_mask, parse_datetime, split_markers
from playbook.audit.params import AuditParams
from playbook.data import is_numeric

DATASETS = ("reference", "current")
FINDINGS = "artifacts/audit_findings.json"
CONTRACT = "artifacts/data_contract.json"


@dataclass
class AuditData:
    """The frames under audit: raw, clean (missing markers replaced by NaN), and what was replaced."""

    raw: dict[str, pd.DataFrame]
    clean: dict[str, pd.DataFrame]
    markers: dict[str, list[dict]]  # dataset -> [{column, marker, count, share}]
    roles: Any
    params: AuditParams
    pii: list[str] = field(default_factory=list)
    policy: Any = None  # the pack's policy: a gate's min / max overrides the parameter (playbook.catalogue.limit)

    def example(self, column: str, value: Any) -> Any:
        """A data value as it may appear in the evidence: masked for PII columns."""
        return "<redacted>" if column in self.pii else jsonable(value)

    def limit(self, check_id: str, key: str, default: float) -> float:
        """The bound ``key`` (``min`` / ``max``) of a check: the policy's gate when it sets one, else ``default``
        (the audit parameter), so the step judges with the bound the verdict uses."""
        return catalogue.limit(check_id, key, default, self.policy)


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


_CONTAINERS = (list, tuple, dict, set, frozenset, np.ndarray)


def _container_text(v: Any) -> Any:
    if isinstance(v, (set, frozenset)):
        v = sorted(v, key=repr)
    if isinstance(v, np.ndarray):
        v = v.tolist()
    return json.dumps(v, sort_keys=True, default=str) if isinstance(v, (list, tuple, dict)) else v


def flatten_containers(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with nested values (lists, dicts, arrays: parquet and JSON exports hold them) written as JSON
    text, so they can be counted, hashed and compared like any other value. The same frame when there are none."""
    cols = [c for c in df.columns if df[c].dtype == object
            and df[c].map(lambda v: isinstance(v, _CONTAINERS)).any()]
    if not cols:
        return df
    out = df.copy()
    for c in cols:
        out[c] = out[c].map(_container_text)
    return out


def prepare(reference: pd.DataFrame, current: pd.DataFrame, roles, params: AuditParams | None = None,
            pii: Iterable[str] = (), policy: Any = None) -> AuditData:
    """Find the missing markers in both frames and build their clean copies (``policy``: the pack's, whose
    gates' bounds take precedence over the parameters)."""
    p = params or AuditParams()
    raw = {"reference": flatten_containers(reference), "current": flatten_containers(current)}
    markers = {ds: find_markers(df, p.markers) for ds, df in raw.items()}
    clean = {ds: clean_frame(df, markers[ds], p.markers) for ds, df in raw.items()}
    return AuditData(raw=raw, clean=clean, markers=markers, roles=roles, params=p, pii=list(pii), policy=policy)


# -- helpers shared by the check groups -------------------------------------------------------------
def title(check_id: str) -> str:
    """The catalogue's title of a check, with the dataset it looks at (``Constant features (current)``)."""
    spec = catalogue.require(check_id)
    ds = catalogue.member(check_id).get("dataset")
    base = spec.title if spec else check_id
    return f"{base} ({ds})" if ds else base


def pct(x: float) -> str:
    return f"{100 * x:.2f}%" if x < 0.1 else f"{100 * x:.1f}%"


def listing(items: Iterable[Any], n: int = 5) -> str:
    """The first ``n`` items joined with commas, and how many more."""
    items = list(items)
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def per_dataset(fn: Callable[[str], dict | list[dict]]) -> list[dict]:
    """``fn(dataset)`` for the reference then the current data, flattened."""
    out: list[dict] = []
    for ds in DATASETS:
        r = fn(ds)
        out.extend(r if isinstance(r, list) else [r])
    return out


def feature_columns(df: pd.DataFrame, roles) -> list[str]:
    """The model's features present in ``df``."""
    return [c for c in roles.features if c in df.columns]


def text_columns(df: pd.DataFrame) -> list[str]:
    """Columns that are neither numeric nor datetime by dtype."""
    return [c for c in df.columns
            if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_datetime64_any_dtype(df[c]))]


def row_hash(df: pd.DataFrame) -> pd.Series:
    """One hash per row (equal rows hash equally; the index is ignored)."""
    return pd.util.hash_pandas_object(df, index=False)


_EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"), (float("inf"), "ns"))


def timestamps(s: pd.Series) -> pd.Series:
    """A column's values as naive UTC timestamps (NaT where a value does not parse).

    Text in any mix of formats and time zones is parsed by :func:`playbook.audit.contract.parse_datetime`.
    Numbers are dates when they read as ``YYYYMMDD`` integers (20240131) or as Unix epochs (seconds,
    milliseconds, micro- or nanoseconds after 1973, the unit from their magnitude); other numbers do not parse.
    """
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return parse_datetime(s)
    v = pd.to_numeric(s, errors="coerce").astype("Float64").astype(float)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    ok = v.notna() & np.isfinite(v)
    if not ok.any():
        return out
    x = v[ok]
    if bool(((x % 1 == 0) & (x >= 1000_01_01) & (x <= 2999_12_31)).all()):
        out[ok] = pd.to_datetime(x.astype("int64").astype(str), format="%Y%m%d", errors="coerce")
        return out
    magnitude = float(x.abs().median())
    if magnitude < 1e8:
        return out
    unit = next(u for limit, u in _EPOCH_UNITS if magnitude < limit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(x, unit=unit, errors="coerce")
    out[ok] = parsed.astype("datetime64[ns]")
    return out


def jsonable(v: Any) -> Any:
    """A data value as JSON can hold it (numpy scalars, timestamps, NaN)."""
    from playbook.results import to_jsonable

    return to_jsonable(v)


__all__ = [
    "AuditData", "CONTRACT", "DATASETS", "FINDINGS", "clean_frame", "feature_columns", "find_markers", "flatten_containers",
    "jsonable",
    "listing", "pct", "per_dataset", "prepare", "row_hash", "text_columns", "timestamps", "title", "to_marker",
]
