"""Column profiles and the drift statistics the monitors compute on them.

A monitor never keeps the reference rows: it keeps a **profile** of each column, a fixed set of bins
with the reference share in each, and compares a batch's shares with it.

* numeric columns: up to ``bins`` quantile bins of the reference (the maximum value has a bin of its own,
  so a 0/1 or few-valued column keeps one bin per value), plus a *below the reference minimum* bin, an
  *above the reference maximum* bin and a *missing* bin. The statistic is the Kolmogorov-Smirnov
  distance between the two binned distributions (``binned_ks``: the largest gap between the cumulative
  shares, missing values counted as larger than any number). A unit change puts the whole batch in
  the *above* bin, a new source of nulls moves mass into *missing*: both show up as a large distance.
* categorical columns: the reference's categories (the ``max_categories`` most frequent), an *other*
  bin for unseen or rare categories and a *missing* bin. The statistic is the Jensen-Shannon distance
  (base 2, between 0 and 1) of the two share vectors (``jensen_shannon``, via scipy).

Both statistics are vectorised over the leading axes so that calibration can evaluate thousands of
bootstrap batches at once. Values of columns flagged as personal data are stored only as sha256
digests (``hashed: true``): the profile of a name column does not contain the names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

TESTS = ("binned_ks", "jensen_shannon")
MISSING = "<missing>"
OTHER = "<other>"


def binned_ks(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Largest gap between the cumulative shares of ``p`` and ``q`` (last axis = ordered bins)."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    p = p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-300)
    q = q / np.maximum(q.sum(axis=-1, keepdims=True), 1e-300)
    return np.abs(np.cumsum(p, axis=-1) - np.cumsum(q, axis=-1)).max(axis=-1)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2, in [0, 1]) between share vectors along the last axis."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    out = jensenshannon(p, q, axis=-1, base=2)
    return np.nan_to_num(np.asarray(out, dtype=float), nan=0.0)


STATISTICS = {"binned_ks": binned_ks, "jensen_shannon": jensen_shannon}


def _digest(value: Any) -> str:
    return hashlib.sha256(str(value).encode("utf-8")).hexdigest()[:16]


def frame_signature(df: pd.DataFrame) -> tuple:
    """(column names, dtype names): frames with the same signature can be stacked without changing a dtype."""
    try:
        dtypes = df._mgr.get_dtypes()  # the dtypes without building a Series (many small frames)
    except AttributeError:  # pragma: no cover - another pandas internals layout
        dtypes = df.dtypes.to_numpy()
    return tuple(df.columns), tuple(str(d) for d in dtypes)


def as_numeric(s: pd.Series) -> tuple[pd.Series, int]:
    """The column as floats, and how many non-null values could not be read as numbers."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float), 0
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float), 0
    conv = pd.to_numeric(s, errors="coerce")
    bad = int((conv.isna() & s.notna()).sum())
    return conv.astype(float), bad


@dataclass
class ColumnProfile:
    """The reference distribution of one column, as the monitor stores it.

    ``kind`` is ``numeric`` or ``categorical``; ``test`` the statistic (``binned_ks`` or
    ``jensen_shannon``); ``reference_shares`` the reference share per bin (numeric: below, the interior
    bins, above, missing; categorical: each category, other, missing).
    """

    column: str
    kind: str
    test: str
    reference_shares: list[float]
    rows: int
    edges: list[float] | None = None
    categories: list[str] | None = None
    hashed: bool = False
    labels: list[str] = field(default_factory=list)

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def build(cls, series: pd.Series, kind: str | None = None, bins: int = 50,
              max_categories: int = 50, hashed: bool = False) -> "ColumnProfile":
        """Profile a reference column. ``kind`` defaults to numeric for numbers (not booleans)."""
        if kind is None:
            kind = "numeric" if (pd.api.types.is_numeric_dtype(series)
                                 and not pd.api.types.is_bool_dtype(series)) else "categorical"
        n = int(len(series))
        if n == 0:
            raise ValueError(f"column {series.name!r}: the reference has no rows to profile.")
        if kind == "numeric":
            values, _ = as_numeric(series)
            finite = values[np.isfinite(values)]
            if len(finite):
                qs = np.quantile(finite.to_numpy(), np.linspace(0.0, 1.0, max(int(bins), 1) + 1),
                                 method="inverted_cdf")  # edges are observed values: discrete columns stay exact
                edges = np.unique(qs)
            else:
                edges = np.array([0.0])
            prof = cls(str(series.name), "numeric", "binned_ks", [], n, edges=[float(e) for e in edges])
        elif kind == "categorical":
            keys = series.dropna().map(str)
            counts = keys.value_counts()
            order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: max(int(max_categories), 1)]
            cats = [k for k, _ in order]
            prof = cls(str(series.name), "categorical", "jensen_shannon", [], n,
                       categories=[_digest(c) for c in cats] if hashed else cats, hashed=hashed)
        else:
            raise ValueError(f"column {series.name!r}: kind {kind!r} must be numeric or categorical.")
        counts = np.bincount(prof.codes(series), minlength=prof.n_bins).astype(float)
        prof.reference_shares = [float(c) for c in counts / n]
        prof.labels = prof.bin_labels()
        return prof

    # -- bins ----------------------------------------------------------------------------------
    @property
    def n_bins(self) -> int:
        if self.kind == "numeric":
            # below, [e0, e1), ..., [e_{m-2}, e_{m-1}), exactly e_{m-1}, above, missing
            return len(self.edges or []) + 3
        return len(self.categories or []) + 2  # categories, other, missing

    def bin_labels(self) -> list[str]:
        if self.kind == "numeric":
            e = self.edges or []
            labels = [f"< {e[0]:g}"]
            labels += [f"[{e[i]:g}, {e[i + 1]:g})" for i in range(len(e) - 1)]
            labels += [f"= {e[-1]:g}", f"> {e[-1]:g}", MISSING]
            return labels
        return [*(self.categories or []), OTHER, MISSING]

    def codes(self, series: pd.Series) -> np.ndarray:
        """The bin index of every value of ``series`` (numpy int array)."""
        nb = self.n_bins
        if self.kind == "numeric":
            values, _ = as_numeric(series)
            v = values.to_numpy(dtype=float)
            e = np.asarray(self.edges, dtype=float)
            missing = np.isnan(v)
            # below the minimum -> 0, [e_i, e_{i+1}) -> i+1, exactly the maximum -> len(e) (so a value that
            # sits on the top edge, e.g. the larger of two values, keeps a bin of its own), above -> nb-2
            inner = np.searchsorted(e, v, side="right")
            out = np.where(v > e[-1], nb - 2, inner)
            out = np.where(v < e[0], 0, out)
            out = np.where(missing, nb - 1, out)
            return out.astype(np.int64)
        # each value's text (its digest when hashed), as ``Series.map(str)`` gives it, looked up once per
        # distinct text; missing values go to the missing bin
        values = series.to_numpy(dtype=object)
        lookup = self._lookup()
        other = len(self.categories or [])
        key = _digest if self.hashed else str
        if len(values) > 64:
            # text values: one look-up per distinct value (equal strings are equal text; other types, where 1 and
            # 1.0 hash alike but read "1" and "1.0", take the value-by-value path)
            inverse, uniq = pd.factorize(values)
            if all(type(u) is str for u in uniq):
                table = np.fromiter((lookup.get(key(u), other) for u in uniq), dtype=np.int64, count=len(uniq))
                return np.append(table, nb - 1)[inverse]  # -1 (missing) -> the missing bin
        missing = pd.isna(values)
        out = np.fromiter((lookup.get(key(v), other) for v in values), dtype=np.int64, count=len(values))
        out[missing] = nb - 1
        return out

    def _lookup(self) -> dict[str, int]:
        cats = self.categories or []
        cached = self.__dict__.get("_lookup_cache")
        if cached is None or cached[0] is not cats or cached[1] != len(cats):
            cached = (cats, len(cats), {c: i for i, c in enumerate(cats)})
            self.__dict__["_lookup_cache"] = cached
        return cached[2]

    def counts(self, series: pd.Series) -> np.ndarray:
        return np.bincount(self.codes(series), minlength=self.n_bins).astype(float)

    def statistic(self, series: pd.Series) -> float:
        """The drift statistic of a batch column against this profile (0 = identical shares)."""
        if len(series) == 0:
            return float("nan")
        return self.statistic_of_counts(self.counts(series))

    def statistic_of_counts(self, counts: np.ndarray) -> float:
        """:meth:`statistic` from a batch's bin counts (:meth:`counts`) already computed."""
        return float(STATISTICS[self.test](np.asarray(self.reference_shares), counts))

    def shares(self, series: pd.Series) -> dict[str, float]:
        """A batch's share per bin, labelled (for reports)."""
        return self.shares_of_counts(self.counts(series))

    def shares_of_counts(self, counts: np.ndarray) -> dict[str, float]:
        """:meth:`shares` from bin counts already computed."""
        c = counts / max(counts.sum(), 1.0)
        return {lab: float(v) for lab, v in zip(self.labels or self.bin_labels(), c)}

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {"kind": self.kind, "test": self.test, "rows": self.rows,
             "reference_shares": [float(x) for x in self.reference_shares]}
        if self.kind == "numeric":
            d["edges"] = [float(x) for x in self.edges or []]
        else:
            d["categories"] = list(self.categories or [])
            d["hashed"] = bool(self.hashed)
        return d

    @classmethod
    def from_dict(cls, column: str, d: dict) -> "ColumnProfile":
        kind = d.get("kind")
        if kind not in ("numeric", "categorical"):
            raise ValueError(f"monitors.{column}.profile.kind must be numeric or categorical, got {kind!r}.")
        test = d.get("test", "binned_ks" if kind == "numeric" else "jensen_shannon")
        if test not in TESTS:
            raise ValueError(f"monitors.{column}.profile.test {test!r} is not one of {', '.join(TESTS)}.")
        prof = cls(column, kind, test, [float(x) for x in d.get("reference_shares", [])], int(d.get("rows", 0)),
                   edges=[float(x) for x in d["edges"]] if kind == "numeric" else None,
                   categories=[str(c) for c in d.get("categories", [])] if kind == "categorical" else None,
                   hashed=bool(d.get("hashed", False)))
        if kind == "numeric" and not prof.edges:
            raise ValueError(f"monitors.{column}.profile.edges must list at least one bin edge.")
        if len(prof.reference_shares) != prof.n_bins:
            raise ValueError(
                f"monitors.{column}.profile.reference_shares has {len(prof.reference_shares)} entries but the "
                f"profile has {prof.n_bins} bins; regenerate the monitoring config.")
        prof.labels = prof.bin_labels()
        return prof
