"""Row-wise reuse: compute a row-wise function of many shifted batches without recomputing the rows a shift left as
they were.

A fault injected into a clean batch changes some columns, and often only some rows of them (a unit change on a
share of rows, outliers in a tenth of them, a new category in some rows). The model's output on a row depends on
that row only, so a shifted batch's outputs are its clean batch's outputs except on the rows the shift changed.
:func:`rowwise` computes ``fn`` on those rows only, for many batches in one call, and takes the others from the
clean batch's outputs.

A row is reused only when it is provably the same model input: every column the function reads has the same dtype
in both frames and the same value at that position (floats equal or both NaN; text and other objects of the same
type and equal). Anything else (a column whose dtype changed, a frame with other columns or another row count, a
group of rows the function refuses) is computed from the whole frame, exactly as without reuse. ``fn`` must be
row-wise (a row's output does not depend on the other rows in the call), as every fitted scikit-learn model is.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from playbook.monitoring.stats import frame_signature


def equal_values(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per position: the same value (NaN equal to NaN; objects of the same type and equal)."""
    if a.dtype != b.dtype:
        return np.zeros(len(a), dtype=bool)
    kind = a.dtype.kind
    if kind in "iub":
        return a == b
    if kind == "f":
        return (a == b) | (np.isnan(a) & np.isnan(b))
    if kind == "O":
        out = np.empty(len(a), dtype=bool)
        for i, (x, y) in enumerate(zip(a.tolist(), b.tolist())):
            if x is y:
                out[i] = True
                continue
            if type(x) is not type(y):
                out[i] = False
                continue
            try:
                same = x == y
                out[i] = bool(same) if isinstance(same, (bool, np.bool_)) else False
            except Exception:  # noqa: BLE001 - values that cannot be compared are not the same
                out[i] = False
        return out
    return np.zeros(len(a), dtype=bool)  # other dtypes (dates, extension types): never reused row by row


def _same_column(a, b) -> bool:
    """``Series.equals`` of two columns' values (same dtype; NaN equal to NaN, and to None in object columns),
    without building the Series (the index is not compared: positions are)."""
    if a.dtype != b.dtype or len(a) != len(b):
        return False
    if not isinstance(a, np.ndarray):  # an extension array (categories, nullable integers, strings)
        return bool(a.equals(b))
    kind = a.dtype.kind
    if kind in "iub":
        return bool(np.array_equal(a, b))
    if kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    from pandas.core.dtypes.missing import array_equivalent

    return bool(array_equivalent(a, b, dtype_equal=True))


def changed_columns(frame: pd.DataFrame, base: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` that are not in ``base`` or hold other values (or another dtype), then the columns
    of ``base`` that ``frame`` lacks."""
    bcols = {c: i for i, c in enumerate(base.columns)}
    try:
        fa, ba = list(frame._iter_column_arrays()), list(base._iter_column_arrays())
    except AttributeError:  # pragma: no cover - another pandas: the Series way
        out = [c for c in frame.columns if c not in bcols or not frame[c].equals(base[c])]
        return out + [c for c in base.columns if c not in frame.columns]
    if frame.columns.has_duplicates or base.columns.has_duplicates:
        out = [c for c in frame.columns if c not in bcols or not frame[c].equals(base[c])]
        return out + [c for c in base.columns if c not in frame.columns]
    out = [c for c, a in zip(frame.columns, fa) if c not in bcols or not _same_column(a, ba[bcols[c]])]
    present = set(frame.columns)
    return out + [c for c in base.columns if c not in present]


def same_rows(frame: pd.DataFrame, base: pd.DataFrame, columns: Sequence[str],
              changed: Sequence[str] | None = None) -> np.ndarray | None:
    """Rows of ``frame`` identical to the same row of ``base`` in every one of ``columns``, or None when the two
    frames are not aligned (other row count, a column missing on either side). ``changed``: the columns already
    known to differ (the others are known to be equal, e.g. from ``Series.equals``)."""
    if len(frame) != len(base):
        return None
    same = np.ones(len(frame), dtype=bool)
    for c in columns:
        if c not in frame.columns or c not in base.columns:
            return None
        if changed is not None and c not in changed:
            continue
        a, b = frame[c], base[c]
        if changed is None and a.dtype == b.dtype and a.equals(b):
            continue
        if a.dtype != b.dtype:
            return np.zeros(len(frame), dtype=bool)
        same &= equal_values(a.to_numpy(), b.to_numpy())
    return same


def rowwise(fn: Callable[[pd.DataFrame], np.ndarray], frames: Sequence[pd.DataFrame],
            same: Sequence[np.ndarray | None], base_values: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
    """``fn(frame)`` for every frame whose ``same`` rows take ``base_values`` (the base frame's ``fn`` output); the
    other rows of all frames with the same columns and dtypes are computed in one call. A frame without reuse
    (``same`` or ``base_values`` None) gets None, and so do the frames of a group whose call raised: the caller
    computes those on their own (with its own handling of a refusal)."""
    out: list[np.ndarray | None] = [None] * len(frames)
    groups: dict[tuple, list[int]] = {}
    for i, (f, s, bv) in enumerate(zip(frames, same, base_values)):
        if s is None or bv is None or len(bv) != len(f):
            continue
        if s.all():
            out[i] = np.array(bv, copy=True)
            continue
        groups.setdefault(frame_signature(f), []).append(i)
    for idx in groups.values():
        parts = [frames[i].iloc[np.flatnonzero(~same[i])] for i in idx]
        try:
            values = np.asarray(fn(pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)))
        except Exception:  # noqa: BLE001 - the caller computes these frames on their own
            continue
        start = 0
        for i, part in zip(idx, parts):
            k = len(part)
            full = np.array(base_values[i], copy=True)
            new = values[start:start + k]
            if full.dtype != new.dtype and full.dtype != object:
                full = full.astype(np.result_type(full.dtype, new.dtype))
            full[np.flatnonzero(~same[i])] = new
            out[i] = full
            start += k
    return out


__all__ = ["changed_columns", "equal_values", "rowwise", "same_rows"]
