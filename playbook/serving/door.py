"""The pack's data contract enforced at the door of the model server: a request body becomes a frame of the model's
features, or a :class:`Rejected` naming the rule, the column and (when one row is to blame) the row.

Pure functions (no HTTP): :func:`parse_body` turns the bytes of a request into rows, in the MLflow scoring protocol
(``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`` or ``{"dataframe_records": [{...}, ...]}``);
:func:`admit` holds the rows to the contract and returns the frame the model scores. The rules, each with its HTTP
status (see :data:`RULES`):

* the body: ``not_json`` (400: not UTF-8 JSON, or NaN / Infinity, which JSON does not have), ``bad_format`` (400:
  neither protocol key, rows of the wrong length, a record that is not an object), ``oversized_body`` (413),
  ``unsupported_media_type`` (415);
* the batch: ``empty_batch`` (422), ``oversized_batch`` (413: more rows than the server's ``max_batch``);
* the columns: ``missing_column`` and ``extra_column`` (422): a request carries exactly the model's features, plus
  optionally the contract's id and timestamp columns, which are ignored;
* the values (422), checked per JSON value before any conversion, so nothing is coerced silently:
  ``wrong_type`` (a number sent as text, a boolean sent as 0 / 1, text where a number belongs, a date that does not
  parse), ``missing_value`` (null in a column that had no missing value in the reference), ``unseen_category`` (a
  value of a categorical column the reference never held) and ``out_of_range`` (a number or a date outside the
  reference's range).

The contract is the one the audit step wrote (:mod:`playbook.audit.contract`); the door reads its ``kind``,
``dtype``, ``nullable``, ``min`` / ``max`` and ``categories`` per column.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

RULES: dict[str, int] = {
    "unsupported_media_type": 415, "oversized_body": 413, "not_json": 400, "bad_format": 400,
    "empty_batch": 422, "oversized_batch": 413, "missing_column": 422, "extra_column": 422, "wrong_type": 422,
    "missing_value": 422, "unseen_category": 422, "out_of_range": 422, "model_rejected": 422,
}
PROTOCOL_KEYS = ("dataframe_split", "dataframe_records")
OPTIONAL_ROLES = ("id", "timestamp")


@dataclass
class Rejected(Exception):
    """A request the door refuses: the rule broken, its HTTP status, and what a client needs to fix it."""

    rule: str
    message: str
    column: str | None = None
    row: int | None = None

    @property
    def status(self) -> int:
        return RULES[self.rule]

    def body(self) -> dict:
        """The JSON error body (MLflow's ``error_code`` / ``message``, plus the rule, column and row)."""
        code = "RESOURCE_LIMIT_EXCEEDED" if self.status == 413 else (
            "MALFORMED_REQUEST" if self.status in (400, 415) else "INVALID_PARAMETER_VALUE")
        return {"error_code": code, "rule": self.rule, "column": self.column, "row": self.row,
                "message": self.message}

    def __str__(self) -> str:
        return self.message


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_body(body: bytes, max_rows: int) -> tuple[list[str], list[list[Any]]]:
    """``(columns, rows)`` of a request body in the MLflow protocol; rows as lists in the order of ``columns``.

    Records that lack a column get it as missing (``None``) only when another record has it; a record with a key
    no other record has keeps it, so the column checks see it."""
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise Rejected("not_json", "the body is not UTF-8 text; send JSON encoded as UTF-8.") from None
    except ValueError as exc:
        msg = str(exc)
        if "is not JSON" in msg:
            raise Rejected("not_json", f"the body holds {msg.split(' is not')[0]}, which JSON does not have; send "
                           "null for a missing value.") from None
        raise Rejected("not_json", f"the body is not valid JSON ({msg}); send a JSON object.") from None
    if not isinstance(payload, dict) or sum(k in payload for k in PROTOCOL_KEYS) != 1:
        raise Rejected("bad_format", "the body must be a JSON object with exactly one of the keys "
                       "'dataframe_split' ({\"columns\": [...], \"data\": [[...]]}) or 'dataframe_records' "
                       "([{column: value}, ...]), as in the MLflow scoring protocol.")
    if "dataframe_split" in payload:
        split = payload["dataframe_split"]
        if not isinstance(split, dict) or not isinstance(split.get("columns"), list) \
                or not isinstance(split.get("data"), list):
            raise Rejected("bad_format", "'dataframe_split' must be an object with a 'columns' list and a 'data' "
                           "list of rows.")
        columns = split["columns"]
        if not all(isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
            raise Rejected("bad_format", "'dataframe_split.columns' must be distinct column names (text).")
        rows = split["data"]
        _check_rows(len(rows), max_rows)
        for i, r in enumerate(rows):
            if not isinstance(r, list) or len(r) != len(columns):
                raise Rejected("bad_format", f"row {i} of 'dataframe_split.data' must be a list of {len(columns)} "
                               "values, one per column.", row=i)
        return list(columns), rows
    records = payload["dataframe_records"]
    if not isinstance(records, list):
        raise Rejected("bad_format", "'dataframe_records' must be a list of objects, one per row.")
    _check_rows(len(records), max_rows)
    columns: dict[str, None] = {}
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise Rejected("bad_format", f"record {i} of 'dataframe_records' must be an object of column: value.",
                           row=i)
        columns.update(dict.fromkeys(r))
    names = list(columns)
    return names, [[r.get(c) for c in names] for r in records]


def _check_rows(n: int, max_rows: int) -> None:
    if n == 0:
        raise Rejected("empty_batch", "the batch has no rows; send at least one row.")
    if n > max_rows:
        raise Rejected("oversized_batch", f"the batch has {n} rows, more than this server's limit of {max_rows}; "
                       "split it into smaller batches.")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _category_key(v: Any) -> str:
    """How the contract's categories and a request's values are compared (the contract stores them as JSON)."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return json.dumps(v) if not isinstance(v, str) else v


def _category_keys(spec: Mapping) -> set | None:
    cats = spec.get("categories")
    return None if cats is None else {_category_key(c) for c in cats}


def _value_problem(col: str, v: Any, spec: Mapping, known: set | None = None) -> tuple[str, str] | None:
    """``(rule, message)`` for one non-null JSON value against its column's contract, or None when it passes.
    ``known``: the contract's categories as :func:`_category_keys` (computed once per request)."""
    kind = spec.get("kind")
    if kind == "numeric":
        if not _is_number(v):
            what = ("text" if isinstance(v, str) else "a boolean" if isinstance(v, bool) else type(v).__name__)
            return "wrong_type", f"column {col!r} takes numbers, got {what} ({_show(v)}); send a JSON number."
        if not math.isfinite(float(v)):
            return "wrong_type", f"column {col!r} got a non-finite number; send a finite number or null."
        lo, hi = spec.get("min"), spec.get("max")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return "out_of_range", (f"column {col!r} got {_show(v)}, outside the reference range [{_show(lo)}, "
                                    f"{_show(hi)}] of the data contract.")
        return None
    if kind == "boolean":
        if not isinstance(v, bool):
            return "wrong_type", f"column {col!r} takes true or false, got {_show(v)}; send a JSON boolean."
        return None
    if kind == "datetime":
        if not isinstance(v, str):
            return "wrong_type", f"column {col!r} takes an ISO date or timestamp as text, got {_show(v)}."
        try:
            ts = pd.Timestamp(v)
        except (ValueError, TypeError):
            return "wrong_type", f"column {col!r} got {_show(v)}, which is not an ISO date or timestamp."
        if ts is pd.NaT:
            return "wrong_type", f"column {col!r} got {_show(v)}, which is not an ISO date or timestamp."
        lo, hi = spec.get("min"), spec.get("max")
        try:
            outside = (lo is not None and ts < pd.Timestamp(lo)) or (hi is not None and ts > pd.Timestamp(hi))
        except TypeError:  # one side carries a time zone, the other not
            return "wrong_type", f"column {col!r} got {_show(v)}: give the time zone as the reference data does."
        if outside:
            return "out_of_range", f"column {col!r} got {_show(v)}, outside the reference range [{lo}, {hi}]."
        return None
    # categorical / text: the value's JSON type must be the reference's
    cats = spec.get("categories")
    text_column = not cats or all(isinstance(c, str) for c in cats)
    if text_column and not isinstance(v, str):
        return "wrong_type", f"column {col!r} takes text, got {_show(v)}; send a JSON string."
    if not text_column and not (_is_number(v) or isinstance(v, bool)) and not isinstance(v, type(cats[0])):
        return "wrong_type", f"column {col!r} takes values like {_show(cats[0])}, got {_show(v)}."
    if known is None and cats is not None:
        known = _category_keys(spec)
    if kind == "categorical" and cats is not None and _category_key(v) not in known:
        shown = ", ".join(_show(c) for c in cats[:6]) + (", ..." if len(cats) > 6 else "")
        return "unseen_category", (f"column {col!r} got {_show(v)}, a value the reference never held (it held "
                                   f"{shown}).")
    return None


def _show(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def admit(columns: list[str], rows: list[list[Any]], contract: Mapping, features: Iterable[str]) -> pd.DataFrame:
    """The frame of the model's features for ``rows``, or :class:`Rejected` at the first broken rule.

    Columns are checked first (missing, then extra), then each value in row order, column by column."""
    features = [str(f) for f in features]
    specs = contract.get("columns") or {}
    optional = {c for c, s in specs.items() if s.get("role") in OPTIONAL_ROLES}
    present = set(columns)
    missing = [f for f in features if f not in present]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise Rejected("missing_column", f"the request lacks the model's feature column {missing[0]!r}{more}; send "
                       "every feature the model was trained on.", column=missing[0])
    extra = [c for c in columns if c not in features and c not in optional]
    if extra:
        role = (specs.get(extra[0]) or {}).get("role")
        why = f"its role in the contract is {role}" if role else "the data contract does not know it"
        raise Rejected("extra_column", f"column {extra[0]!r} is not a model input ({why}); send only the model's "
                       "features (and the id or timestamp columns).", column=extra[0])
    pos = {c: i for i, c in enumerate(columns)}
    plan = [(f, pos[f], specs.get(f) or {}) for f in features]
    known = {f: _category_keys(spec) for f, _, spec in plan}
    for i, row in enumerate(rows):
        for f, p, spec in plan:
            v = row[p]
            if v is None:
                if spec and not spec.get("nullable", True):
                    raise Rejected("missing_value", f"column {f!r} is null in row {i}, but it had no missing value "
                                   "in the reference; send a value.", column=f, row=i)
                continue
            problem = _value_problem(f, v, spec, known[f]) if spec else None
            if problem:
                raise Rejected(problem[0], problem[1], column=f, row=i)
    return _frame(rows, plan)


def _frame(rows: list[list[Any]], plan: list[tuple[str, int, Mapping]]) -> pd.DataFrame:
    """The admitted rows as a frame in the dtypes the model saw in the reference, so that scoring equals the offline
    scoring. Built column by column from the JSON values (one request is often one row, and building a frame of
    rows then converting each column costs more than the model); a column the fast path does not cover (dates,
    booleans with nulls, mixed values) goes through :func:`_as_reference_dtype` on pandas' inference of the rows,
    the rule every column follows."""
    cols: dict[str, Any] = {}
    slow = []
    for f, p, spec in plan:
        arr = _fast_column([row[p] for row in rows], spec)
        if arr is None:
            slow.append((f, p, spec))
        cols[f] = arr
    if slow:
        frame = pd.DataFrame([[row[p] for _, p, _ in slow] for row in rows], columns=[f for f, _, _ in slow])
        for f, _, spec in slow:
            cols[f] = _as_reference_dtype(frame[f], spec)
    from playbook.modeling import frame_of_arrays

    return frame_of_arrays(cols, pd.RangeIndex(len(rows)), [f for f, _, _ in plan])


def _fast_column(vals: list[Any], spec: Mapping):
    """The column of ``vals`` as :func:`_as_reference_dtype` makes it, for the common cases (numbers, text, booleans
    without nulls); None for the others."""
    kind, dtype = spec.get("kind"), str(spec.get("dtype") or "")
    if kind == "datetime":
        return None
    if kind == "boolean":
        return np.array(vals, dtype=bool) if all(v is True or v is False for v in vals) else None
    if all(v is None or _is_number(v) for v in vals):
        if dtype.startswith(("int", "uint")) and all(v is not None and float(v) % 1 == 0 for v in vals):
            try:
                return np.array(vals, dtype=dtype)
            except (OverflowError, ValueError, TypeError):
                return None
        if kind == "numeric" or dtype.startswith(("int", "uint", "float")):
            return np.array([np.nan if v is None else v for v in vals], dtype=float)
        return None
    if all(v is None or isinstance(v, str) for v in vals) and any(v is not None for v in vals):
        return np.array(vals, dtype=object)
    return None


def _as_reference_dtype(s: pd.Series, spec: Mapping) -> pd.Series:
    kind, dtype = spec.get("kind"), str(spec.get("dtype") or "")
    numbers = s.map(lambda v: v is None or _is_number(v)).all()
    if kind == "datetime":
        return pd.to_datetime(s, format="ISO8601")
    if kind == "boolean":
        return s.astype("boolean") if s.isna().any() else s.astype(bool)
    if numbers and dtype.startswith(("int", "uint")) and s.notna().all() and (s.astype(float) % 1 == 0).all():
        return s.astype(dtype)
    if numbers and (kind == "numeric" or dtype.startswith(("int", "uint", "float"))):
        return s.astype(float)
    return s.astype(object)


__all__ = ["OPTIONAL_ROLES", "PROTOCOL_KEYS", "RULES", "Rejected", "admit", "parse_body"]
