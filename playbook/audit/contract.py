"""The data contract: what the reference data looks like, written down so later data can be held to it.

The audit step writes it as ``artifacts/data_contract.json``; the evaluation, serving and monitoring
steps (and ``playbook monitor``) load it and call :func:`validate` on new data.

Format (``schema_version`` 1)::

    {"schema_version": 1, "target": "creditability", "task": "binary",
     "columns": {"<name>": {"role": "feature|target|id|timestamp|prediction|probability|excluded",
                            "kind": "numeric|categorical|boolean|datetime|text",
                            "dtype": "int64", "nullable": false, "max_missing_share": 0.0,
                            "min": 4.0, "max": 72.0, "categories": ["a", "b"] | null}},
     "missing_markers": ["?", "NA", -999],
     "reference_fingerprint": "<sha256 of the reference frame>", "reference_rows": 700}

* ``nullable`` is false when the reference has no missing value in the column: then any missing
  value in new data is a violation. Otherwise ``max_missing_share`` is the reference's share plus a
  slack (``missing_slack``, default 0.01 absolute), and a larger share is a violation.
* ``min`` / ``max`` are the observed range of numeric columns (ISO strings for datetime columns);
  ``categories`` the observed values of categorical and boolean columns (null otherwise).
* ``missing_markers`` (optional, may be empty) lists the placeholder values (``'?'``, ``-999``, ...) that
  mean "missing": they are counted as missing, never as categories or range values.

:func:`validate` returns a list of violations, each
``{"column", "kind", "detail", "count", "share"}`` with ``kind`` one of ``missing_column``,
``extra_column``, ``type``, ``range``, ``category``, ``nulls`` and ``rows`` (the frame has no rows;
``column`` is then ``None``). ``count`` / ``share`` are the number and share of offending rows when
that is meaningful, else ``None``. It never raises on odd data (missing or extra columns, wrong types,
empty frames); only a malformed contract raises :class:`ContractError`.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from playbook.data import fingerprint_frame
from playbook.results import to_jsonable, write_json_atomic

SCHEMA_VERSION = 1
KINDS = ("numeric", "categorical", "boolean", "datetime", "text")
ROLES = ("feature", "target", "id", "timestamp", "prediction", "probability", "excluded")
VIOLATION_KINDS = ("missing_column", "extra_column", "type", "range", "category", "nulls", "rows")
#: Roles whose column must be present in data validated against the contract (labels and model
#: outputs often arrive later, so target / prediction / probability may be absent).
REQUIRED_ROLES = ("feature", "id", "timestamp")
#: A text column is categorical (rather than free text) when it has at most this many distinct values
#: and at most half as many distinct values as rows (small frames: at least 20 are always allowed).
MAX_CONTRACT_CATEGORIES = 1000

_DATE_HINT = re.compile(r"\d[-/.:T ]\d|\d{4}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_BOOL_TEXT = {"true", "false", "0", "1", "yes", "no", "t", "f", "y", "n"}


class ContractError(ValueError):
    """A data contract that cannot be used: the message names the problem and the fix."""


# -- column classification -------------------------------------------------------------------------
def column_roles(columns: Iterable[str], roles) -> dict[str, str]:
    """The contract role of each column, given a :class:`playbook.data.Roles` (or None: all features)."""
    out: dict[str, str] = {}
    if roles is None:
        return {str(c): "feature" for c in columns}
    probs = roles.probability
    prob_list = [probs] if isinstance(probs, str) else list(probs or [])
    # a reference feature the current data lacks stays a feature of the contract, so validation fails on it
    features = set(roles.features) | set(getattr(roles, "missing_in_current", None) or [])
    for c in columns:
        if c == roles.target:
            out[c] = "target"
        elif c in (roles.id or []):
            out[c] = "id"
        elif c == roles.timestamp:
            out[c] = "timestamp"
        elif c == roles.prediction:
            out[c] = "prediction"
        elif c in prob_list:
            out[c] = "probability"
        elif c in features:
            out[c] = "feature"
        else:
            out[c] = "excluded"
    return out


def to_number(s: pd.Series) -> pd.Series:
    """Parse text as numbers (``' 12 '``, ``'1,234.5'`` too); what does not parse becomes NaN."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    text = s.astype("string").str.strip()
    text = text.where(~text.fillna("").str.match(_THOUSANDS), text.str.replace(",", "", regex=False))
    return pd.to_numeric(text, errors="coerce").astype(float)


def looks_like_datetime(s: pd.Series, sample: int = 200) -> bool:
    """True when a text column's values look like dates or times (checked on a sample of distinct values)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return False
    vals = pd.Series(s.dropna().unique()[:sample])
    vals = vals[vals.map(lambda v: isinstance(v, str))]
    if len(vals) == 0:
        return False
    if vals.str.contains(_DATE_HINT).mean() < 0.9:
        return False
    return parse_datetime(vals).notna().mean() >= 0.9


def parse_datetime(s: pd.Series) -> pd.Series:
    """Timestamps as naive UTC ``datetime64[ns]``; values that do not parse become NaT."""
    if pd.api.types.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is not None:
            return s.dt.tz_convert("UTC").dt.tz_localize(None)
        return s.astype("datetime64[ns]")
    if pd.api.types.is_numeric_dtype(s):
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    text = s.astype("string").str.strip()
    best = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    for fmt in ("ISO8601", "mixed"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = pd.to_datetime(text, errors="coerce", utc=True, format=fmt)
        except (ValueError, TypeError, OverflowError):
            continue
        if out.notna().sum() > best.notna().sum():
            best = out
        if best.notna().sum() >= 0.9 * text.notna().sum():
            break
    return best.dt.tz_localize(None).astype("datetime64[ns]")


def column_kind(s: pd.Series, role: str | None = None) -> str:
    """numeric | categorical | boolean | datetime | text, inferred from a column's dtype and values."""
    family = _family(s)
    if family != "text":
        return family
    vals = s.dropna()
    if len(vals) == 0:
        return "categorical"
    uniq = pd.unique(vals.to_numpy(dtype=object))
    if all(isinstance(v, (bool, np.bool_)) for v in uniq):
        return "boolean"
    if role == "timestamp" or looks_like_datetime(vals):
        return "datetime"
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "categorical"
    n_unique = len(uniq)
    if n_unique <= min(MAX_CONTRACT_CATEGORIES, max(20, len(vals) // 2)):
        return "categorical"
    return "text"


# -- missing markers ------------------------------------------------------------------------------
def split_markers(markers: Iterable[Any] | None) -> tuple[set[str], set[float]]:
    """(text markers, numeric markers) from a mixed list like ``['?', 'NA', -999]``."""
    text, nums = set(), set()
    for m in markers or []:
        if isinstance(m, (bool, np.bool_)):
            continue
        if isinstance(m, (int, float, np.integer, np.floating)):
            if not math.isnan(float(m)):
                nums.add(float(m))
                text.add(str(int(m)) if float(m).is_integer() else str(m))
        elif m is not None:
            text.add(str(m).strip())
    return text, nums


def marker_mask(s: pd.Series, markers: Iterable[Any] | None) -> pd.Series:
    """True where a (non-null) value is a missing marker: text compared after stripping blanks."""
    text, nums = split_markers(markers)
    if pd.api.types.is_bool_dtype(s):
        return pd.Series(False, index=s.index)
    if pd.api.types.is_numeric_dtype(s):
        return s.isin(list(nums)) if nums else pd.Series(False, index=s.index)
    if pd.api.types.is_datetime64_any_dtype(s) or not text:
        return pd.Series(False, index=s.index)
    stripped = s.map(lambda v: v.strip() if isinstance(v, str) else None)
    return stripped.isin(list(text)) & s.notna()


def missing_mask(s: pd.Series, markers: Iterable[Any] | None = None) -> pd.Series:
    """True where a value is missing: null, or one of the missing markers."""
    return s.isna() | marker_mask(s, markers)


# -- building --------------------------------------------------------------------------------------
def _ceil(x: float, digits: int = 4) -> float:
    return math.ceil(x * 10**digits - 1e-9) / 10**digits


def _jsonable_sorted(values: Iterable[Any]) -> list:
    vals = [to_jsonable(v) for v in values]
    return sorted(vals, key=lambda v: (str(type(v).__name__), str(v)))


def build_contract(df: pd.DataFrame, roles=None, *, missing_markers: Iterable[Any] | None = None,
                   missing_slack: float = 0.01, pii_columns: Iterable[str] = ()) -> dict:
    """The data contract of a reference frame (see the module docstring for the format).

    ``roles`` is a :class:`playbook.data.Roles` (None: every column is a feature, no target).
    ``missing_markers`` are placeholder values counted as missing (e.g. ``['?', -999]``).
    ``pii_columns`` are personal data: their contract keeps name, kind, dtype and nullability but no value
    (no range, no categories, marked ``"pii": true``), so neither the contract nor a violation message built
    from it can carry a raw value into the evidence pack.
    """
    pii = {str(c) for c in pii_columns}
    if not isinstance(df, pd.DataFrame):
        raise ContractError(f"build_contract needs a pandas DataFrame, got {type(df).__name__}.")
    if len(df) == 0:
        raise ContractError("build_contract: the reference frame has no rows; a contract needs data to describe.")
    markers = list(missing_markers or [])
    roles_by_col = column_roles(df.columns, roles)
    columns: dict[str, dict] = {}
    for col in df.columns:
        s = df[col]
        role = roles_by_col[col]
        miss = missing_mask(s, markers)
        present = s[~miss]
        kind = column_kind(present, role)
        share = float(miss.mean())
        spec: dict[str, Any] = {
            "role": role, "kind": kind, "dtype": str(s.dtype),
            "nullable": bool(miss.any()),
            "max_missing_share": min(1.0, _ceil(share + missing_slack)) if miss.any() else 0.0,
            "min": None, "max": None, "categories": None,
        }
        if str(col) in pii:
            spec["pii"] = True
        elif kind == "numeric":
            vals = to_number(present)
            vals = vals[np.isfinite(vals)]
            if len(vals):
                spec["min"], spec["max"] = float(vals.min()), float(vals.max())
        elif kind == "datetime":
            ts = parse_datetime(present).dropna()
            if len(ts):
                spec["min"], spec["max"] = ts.min().isoformat(), ts.max().isoformat()
        elif kind in ("categorical", "boolean"):
            spec["categories"] = _jsonable_sorted(pd.unique(present))
        columns[str(col)] = spec
    return {
        "schema_version": SCHEMA_VERSION,
        "target": getattr(roles, "target", None),
        "task": getattr(roles, "task", None),
        "columns": columns,
        "missing_markers": _jsonable_sorted(markers),
        "reference_fingerprint": fingerprint_frame(df),
        "reference_rows": int(len(df)),
    }


def save(contract: dict, path: str | Path) -> Path:
    """Write the contract as deterministic JSON (sorted keys), floats exact: a rounded min / max would
    move inside the reference range and turn the reference's own extreme values into violations."""
    path = Path(path)
    write_json_atomic(path, contract, round_floats=False)
    return path


def load(path: str | Path) -> dict:
    """Read a contract JSON file (raises :class:`ContractError` with the path when it cannot)."""
    p = Path(path)
    if not p.exists():
        raise ContractError(f"{p}: data contract not found; run the data audit step first to write it.")
    try:
        contract = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ContractError(f"{p}: not a valid JSON data contract ({exc}); re-run the data audit to rewrite it.") from None
    _check_contract(contract, str(p))
    return contract


def _check_contract(contract: Any, where: str = "contract") -> None:
    if not isinstance(contract, Mapping):
        raise ContractError(f"{where}: a data contract must be a JSON object, got {type(contract).__name__}.")
    cols = contract.get("columns")
    if not isinstance(cols, Mapping) or not all(isinstance(v, Mapping) for v in cols.values()):
        raise ContractError(f"{where}: the data contract has no 'columns' mapping; rebuild it with build_contract.")
    version = contract.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ContractError(f"{where}: data contract schema_version {version!r} is not supported (expected {SCHEMA_VERSION}); rebuild it.")


# -- validating ------------------------------------------------------------------------------------
def _violation(column, kind, detail, count=None, share=None) -> dict:
    return {"column": column, "kind": kind, "detail": detail,
            "count": None if count is None else int(count),
            "share": None if share is None else round(float(share), 6)}


def _family(s: pd.Series) -> str:
    """The kind a column's dtype alone tells: boolean, datetime, numeric, else text (object / string)."""
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime"
    if pd.api.types.is_numeric_dtype(s):
        return "numeric"
    return "text"


def _type_and_values(col: str, s: pd.Series, spec: Mapping, out: list) -> pd.Series | None:
    """Check the column's type against the contract; return values usable for range/category checks."""
    kind = spec.get("kind")
    fam = _family(s)
    n = len(s)
    if kind == "numeric":
        if fam == "numeric":
            return s.astype(float)
        if fam == "text":
            num = to_number(s)
            bad = int(num.isna().sum())
            if bad == 0:
                out.append(_violation(col, "type", f"expected numbers ({spec.get('dtype')}), got numbers stored as text ({s.dtype})"))
                return num
            out.append(_violation(col, "type", f"expected numbers ({spec.get('dtype')}), got {bad} non-numeric value(s) in a {s.dtype} column", bad, bad / n))
            return None
        out.append(_violation(col, "type", f"expected numbers ({spec.get('dtype')}), got a {fam} column ({s.dtype})"))
        return None
    if kind == "datetime":
        if fam == "datetime":
            return parse_datetime(s)
        if fam == "text":
            ts = parse_datetime(s)
            bad = int(ts.isna().sum())
            if bad:
                out.append(_violation(col, "type", f"expected timestamps, {bad} value(s) do not parse as dates", bad, bad / n))
            return ts
        out.append(_violation(col, "type", f"expected timestamps, got a {fam} column ({s.dtype})"))
        return None
    if kind == "boolean":
        if fam == "boolean":
            return s
        vals = {str(v).strip().lower() for v in pd.unique(s)}
        if fam in ("numeric", "text") and vals <= (_BOOL_TEXT | {"0.0", "1.0"}):
            return s
        out.append(_violation(col, "type", f"expected true/false values, got a {fam} column ({s.dtype})"))
        return None
    # categorical / text: the reference held text values
    if fam != "text":
        out.append(_violation(col, "type", f"expected {kind} text values ({spec.get('dtype')}), got a {fam} column ({s.dtype})"))
    return s


def validate(df: pd.DataFrame, contract: Mapping | str | Path, *,
             required_roles: Iterable[str] = REQUIRED_ROLES) -> list[dict]:
    """Violations of ``df`` against a contract (a dict or the path of its JSON file).

    Columns whose role is in ``required_roles`` must be present; target, prediction and probability
    columns are checked only when present. See the module docstring for the violation format.
    """
    if isinstance(contract, (str, Path)):
        contract = load(contract)
    _check_contract(contract)
    if not isinstance(df, pd.DataFrame):
        raise ContractError(f"validate needs a pandas DataFrame, got {type(df).__name__}.")
    markers = contract.get("missing_markers") or []
    required = set(required_roles)
    out: list[dict] = []
    n = len(df)
    if n == 0:
        out.append(_violation(None, "rows", "the data has no rows", 0, None))
    df_cols = [str(c) for c in df.columns]
    for col, spec in contract["columns"].items():
        if col not in df_cols:
            if spec.get("role", "feature") in required:
                out.append(_violation(col, "missing_column", f"column {col!r} ({spec.get('role', 'feature')}) is missing"))
            continue
        s = df[col]
        if isinstance(s, pd.DataFrame):  # duplicated column name
            s = s.iloc[:, 0]
        if n == 0:
            continue
        miss = missing_mask(s, markers)
        n_miss = int(miss.sum())
        if n_miss and not spec.get("nullable", True):
            out.append(_violation(col, "nulls", f"{n_miss} missing value(s) in a column that had none in the reference", n_miss, n_miss / n))
        elif n_miss / n > float(spec.get("max_missing_share", 1.0)) + 1e-12:
            out.append(_violation(col, "nulls", f"missing share {n_miss / n:.4f} above the allowed {spec.get('max_missing_share')}", n_miss, n_miss / n))
        present = s[~miss]
        if len(present) == 0:
            continue
        vals = _type_and_values(col, present, spec, out)
        if vals is None:
            continue
        kind = spec.get("kind")
        lo, hi = spec.get("min"), spec.get("max")
        if kind == "numeric" and (lo is not None or hi is not None):
            v = vals.astype(float)
            below = int((v < lo).sum()) if lo is not None else 0
            above = int((v > hi).sum()) if hi is not None else 0
            infinite = int(np.isinf(v).sum())
            if below or above:
                out.append(_violation(col, "range", f"{below} value(s) below {lo} and {above} above {hi} (reference range)", below + above, (below + above) / n))
            elif infinite:
                out.append(_violation(col, "range", f"{infinite} infinite value(s)", infinite, infinite / n))
        elif kind == "datetime" and (lo is not None or hi is not None):
            ts = vals.dropna()
            below = int((ts < pd.Timestamp(lo)).sum()) if lo else 0
            above = int((ts > pd.Timestamp(hi)).sum()) if hi else 0
            if below or above:
                out.append(_violation(col, "range", f"{below} timestamp(s) before {lo} and {above} after {hi} (reference range)", below + above, (below + above) / n))
        elif kind in ("categorical", "boolean") and spec.get("categories") is not None:
            allowed = {str(c) for c in spec["categories"]}
            if kind == "boolean":
                allowed |= {str(c).lower() for c in spec["categories"]} | {str(int(c)) for c in spec["categories"] if isinstance(c, bool)}
            as_text = present.map(lambda v: str(to_jsonable(v)))
            if kind == "boolean":
                as_text = as_text.where(as_text.isin(allowed), as_text.str.lower())
            new = ~as_text.isin(allowed)
            k = int(new.sum())
            if k:
                unseen = sorted(as_text[new].unique())
                shown = ", ".join(repr(u) for u in unseen[:5]) + (", ..." if len(unseen) > 5 else "")
                out.append(_violation(col, "category", f"{len(unseen)} value(s) not seen in the reference: {shown}", k, k / n))
    known = set(contract["columns"])
    for col in df_cols:
        if col not in known:
            out.append(_violation(col, "extra_column", f"column {col!r} is not in the contract"))
    return out


def violations_frame(violations: list[dict]) -> pd.DataFrame:
    """Violations as a table for display."""
    return pd.DataFrame(violations, columns=["column", "kind", "detail", "count", "share"])
