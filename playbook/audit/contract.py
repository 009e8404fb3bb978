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


#: a date written with numbers only, day and month in either order: ``06/07/2024``, ``6.7.24``, ``06-07-2024 10:00``
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)")


def day_first(text: pd.Series) -> bool | None:
    """Whether a column's numeric dates (``06/07/2024``) put the day first: one order for the whole column.

    The values that decide are those with a part above 12 (``13/07/2024`` can only be day first, ``07/13/2024``
    only month first); the order most of them show wins. When none decides (every day of the data is a 1 to 12),
    dotted dates (``06.07.2024``) read day first, as they are written wherever dots are used, and others month
    first, the convention of the parser. ``None`` when the column has no numeric date at all. Parsing each value on
    its own instead (as a mixed-format parser does) reads ``06/07/2024`` as June and ``13/07/2024`` as July in the
    same column: the phantom gaps and the wrong latest date this function exists to prevent."""
    text = pd.Series(text, dtype="string")
    parts = text.str.extract(_NUMERIC_DATE)
    parts = parts[parts[0].notna()]
    if parts.empty:
        return None
    first, second = parts[0].astype(int), parts[2].astype(int)
    days = int(((first > 12) & (second <= 12)).sum())
    months = int(((second > 12) & (first <= 12)).sum())
    if days != months:
        return days > months
    return bool((parts[1] == ".").mean() > 0.5)


def parse_datetime(s: pd.Series, dayfirst: bool | None = None) -> pd.Series:
    """Timestamps as naive UTC ``datetime64[ns]``; values that do not parse become NaT.

    Text is parsed once per distinct value (:func:`parse_text_datetimes`, weighted by how often each occurs), so
    the answer is the same whether the values come from a frame or from the distinct values of a table.
    ``dayfirst`` fixes the order of numeric dates (``06/07/2024``); ``None`` decides it from the column's values
    (:func:`day_first`)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is not None:
            return s.dt.tz_convert("UTC").dt.tz_localize(None)
        return s.astype("datetime64[ns]")
    if pd.api.types.is_numeric_dtype(s):
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    codes, uniques = pd.factorize(s.astype("string").str.strip())
    weights = np.bincount(codes[codes >= 0], minlength=len(uniques))
    parsed = parse_text_datetimes(pd.Series(uniques, dtype="string"), weights, dayfirst=dayfirst).to_numpy()
    out = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = codes >= 0
    out[ok] = parsed[codes[ok]]
    return pd.Series(out, index=s.index)


def utc_timestamps(s: pd.Series, dayfirst: bool | None = None) -> pd.Series:
    """:func:`parse_datetime` as tz-aware UTC timestamps (numbers do not parse)."""
    return parse_datetime(s, dayfirst=dayfirst).dt.tz_localize("UTC")


def parse_text_datetimes(text: pd.Series, weights: Any = None, dayfirst: bool | None = None) -> pd.Series:
    """Text (already stripped) as naive UTC ``datetime64[ns]``, NaT where it does not parse.

    ISO 8601 first; when it leaves more than a tenth of the values (counted with ``weights``: how many rows hold
    each value) unparsed, any mix of formats and time zones, keeping whichever parses more. Numeric dates
    (``06/07/2024``) are read in one order for the whole column: ``dayfirst``, or :func:`day_first` of the values."""
    text = pd.Series(text, dtype="string").reset_index(drop=True)
    w = np.ones(len(text)) if weights is None else np.asarray(weights, dtype=float)
    total = float(w[text.notna().to_numpy()].sum())
    best = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    best_n = 0.0
    for fmt in ("ISO8601", "mixed"):
        kw = {}
        if fmt == "mixed":
            order = day_first(text) if dayfirst is None else dayfirst
            kw["dayfirst"] = bool(order)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = pd.to_datetime(text, errors="coerce", utc=True, format=fmt, **kw)
        except (ValueError, TypeError, OverflowError):
            continue
        n = float(w[out.notna().to_numpy()].sum())
        if n > best_n:
            best, best_n = out, n
        if best_n >= 0.9 * total:
            break
    return best.dt.tz_localize(None).astype("datetime64[ns]")


def column_kind(s: pd.Series, role: str | None = None) -> str:
    """numeric | categorical | boolean | datetime | text, inferred from a column's dtype and values."""
    family = _family(s)
    if family != "text":
        return family
    vals = s.dropna()
    uniq = pd.unique(vals.to_numpy(dtype=object)) if len(vals) else []
    return text_kind(present=len(vals), distinct=len(uniq),
                     all_boolean=len(uniq) > 0 and all(isinstance(v, (bool, np.bool_)) for v in uniq),
                     datetime_like=lambda: role == "timestamp" or looks_like_datetime(vals),
                     categorical_dtype=isinstance(s.dtype, pd.CategoricalDtype))


def scanned_kind(s: pd.Series, stats, role: str | None = None, datelike=None, present=None) -> str:
    """:func:`column_kind` of a column known from a sample and from its statistics over every row: ``s`` is the
    sample's column (its dtype), ``present`` a function returning its values without the missing ones (default
    ``s.dropna()``), asked only when the answer needs them (their look, dates or not; whether they are booleans);
    ``stats`` is the column's :class:`playbook.audit.scan.Column` (present and distinct values counted by DuckDB);
    ``datelike(present)`` (default :func:`looks_like_datetime` of ``present()``) says whether the values look like
    dates."""
    family = _family(s)
    if family != "text":
        return family
    present = present or s.dropna
    if stats.family == "boolean":
        all_boolean = True
    elif stats.distinct <= 2:
        vals = present().dropna()
        uniq = pd.unique(vals.to_numpy(dtype=object)) if len(vals) else []
        all_boolean = len(uniq) > 0 and all(isinstance(v, (bool, np.bool_)) for v in uniq)
    else:
        all_boolean = False
    looks = datelike or (lambda values: looks_like_datetime(values().dropna()))
    return text_kind(present=stats.present, distinct=stats.distinct, all_boolean=all_boolean,
                     datetime_like=lambda: role == "timestamp" or looks(present),
                     categorical_dtype=isinstance(s.dtype, pd.CategoricalDtype))


def text_kind(*, present: int, distinct: int, all_boolean: bool, datetime_like, categorical_dtype: bool) -> str:
    """The kind of a text-typed column from its statistics (``present`` values, ``distinct`` ones; whether every
    value is a boolean; ``datetime_like``: a callable, asked only when needed): boolean, datetime, categorical (at
    most ``MAX_CONTRACT_CATEGORIES`` distinct values and at most half as many as values, 20 always allowed) or text."""
    if present == 0:
        return "categorical"
    if all_boolean:
        return "boolean"
    if datetime_like():
        return "datetime"
    if categorical_dtype:
        return "categorical"
    if distinct <= min(MAX_CONTRACT_CATEGORIES, max(20, present // 2)):
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
    """True where a (non-null) value is a missing marker: text compared after stripping blanks (each distinct value
    looked at once; a number in a text column compared as its text)."""
    text, nums = split_markers(markers)
    if pd.api.types.is_bool_dtype(s):
        return pd.Series(False, index=s.index)
    if pd.api.types.is_numeric_dtype(s):
        return s.isin(list(nums)) if nums else pd.Series(False, index=s.index)
    if pd.api.types.is_datetime64_any_dtype(s) or not text:
        return pd.Series(False, index=s.index)
    return _per_value(s, lambda v: _text_marker(v, text), bool) & s.notna()


def _text_marker(v: Any, text: set[str]) -> bool:
    """A value of a text column is a marker when its text, stripped, is one (a number among text, ``-999``, is read
    as its text, as DuckDB reads such a column)."""
    if v is None or isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, str):
        return v.strip() in text
    if isinstance(v, (int, float, np.integer, np.floating)):
        return not (isinstance(v, (float, np.floating)) and math.isnan(v)) and str(v).strip() in text
    return False


def _per_value(s: pd.Series, fn, dtype=object) -> pd.Series:
    """``s.map(fn)`` computed once per distinct value (missing values map to ``fn(None)``)."""
    try:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists, dicts)
        return s.map(fn).astype(dtype)
    mapped = np.array([fn(v) for v in uniques] + [fn(None)], dtype=dtype)
    return pd.Series(mapped[codes], index=s.index)


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
                   missing_slack: float = 0.01, pii_columns: Iterable[str] = (), table=None, scan=None,
                   dataset: str = "reference") -> dict:
    """The data contract of a reference frame (see the module docstring for the format).

    ``roles`` is a :class:`playbook.data.Roles` (None: every column is a feature, no target).
    ``missing_markers`` are placeholder values counted as missing (e.g. ``['?', -999]``).
    ``pii_columns`` are personal data: their contract keeps name, kind, dtype and nullability but no value
    (no range, no categories, marked ``"pii": true``), so neither the contract nor a violation message built
    from it can carry a raw value into the evidence pack.

    The contract describes the full data: ``table`` (a :class:`playbook.tables.Table`) when ``df`` is only a sample
    of it, else ``df`` itself. Missing shares, ranges and categories are counted over every row by DuckDB
    (:mod:`playbook.audit.scan`; ``scan``: the audit's, holding ``dataset``, built with the same markers); dtypes
    and the look of text columns (dates or not) come from ``df``.
    """
    from playbook.audit.scan import TIME_VALUES_CAP, Scan
    from playbook.tables import Table

    pii = {str(c) for c in pii_columns}
    if not isinstance(df, pd.DataFrame):
        raise ContractError(f"build_contract needs a pandas DataFrame, got {type(df).__name__}.")
    markers = list(missing_markers or [])
    own = scan is None
    if own:
        source = table if table is not None else Table.from_frame(df, dataset)
        scan = Scan({dataset: source}, markers, columns={dataset: list(df.columns)}, samples={dataset: df})
    try:
        rows = scan.rows[dataset]
        if len(df) == 0 or rows == 0:
            raise ContractError("build_contract: the reference frame has no rows; a contract needs data to describe.")
        roles_by_col = column_roles(df.columns, roles)
        columns: dict[str, dict] = {}
        for col in df.columns:
            s = df[col]
            role = roles_by_col[col]
            st = scan.column(dataset, col)
            kind = _family(s)
            if kind == "text":
                kind = scanned_kind(s, st, role, lambda values, col=col: scan.datelike(dataset, col, values),
                                    present=lambda s=s: s[~missing_mask(s, markers)])
            missing = st.missing
            spec: dict[str, Any] = {
                "role": role, "kind": kind, "dtype": str(s.dtype),
                "nullable": bool(missing),
                "max_missing_share": min(1.0, _ceil(missing / rows + missing_slack)) if missing else 0.0,
                "min": None, "max": None, "categories": None,
            }
            if str(col) in pii:
                spec["pii"] = True
            elif kind == "numeric":
                spec["min"], spec["max"] = st.min, st.max
            elif kind == "datetime":
                ts = scan.times(dataset, col, cap=TIME_VALUES_CAP, sample=df)
                if ts.first is not None:
                    spec["min"], spec["max"] = ts.first.isoformat(), ts.last.isoformat()
            elif kind in ("categorical", "boolean"):
                spec["categories"] = _jsonable_sorted(v for v, _ in scan.values(dataset, col))
            columns[str(col)] = spec
        fingerprint = scan.fingerprint(dataset)
    finally:
        if own:
            scan.close()
    return {
        "schema_version": SCHEMA_VERSION,
        "target": getattr(roles, "target", None),
        "task": getattr(roles, "task", None),
        "columns": columns,
        "missing_markers": _jsonable_sorted(markers),
        "reference_fingerprint": fingerprint,
        "reference_rows": int(rows),
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
            as_text = _per_value(present, lambda v: str(to_jsonable(v)))
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
