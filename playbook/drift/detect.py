"""Drift detectors: per-column tests as Evidently 0.7 chooses them, dataset drift, the data contract.

Public API (used by the drift template and by the monitoring module)::

    from playbook.drift.detect import column_drift, column_statistic, dataset_drift

    table = column_drift(reference, current)            # one row per column
    # columns: column, kind, test, statistic, threshold, drifted, n_reference, n_current, note
    summary = dataset_drift(table, drift_share=0.5)      # {"n_columns", "n_drifted", "share", "drifted"}
    p = column_statistic("ks", reference["age"], current["age"])   # one column, one named test

``column_drift(reference, current, columns=None, kinds=None)``
    Reproduces the per-column decisions of Evidently 0.7's ``DataDriftPreset`` with its defaults:

    * the column kind is inferred from the *current* frame as Evidently does when given plain
      DataFrames (``evidently.core.datasets.infer_column_type``: floats numeric; integers numeric
      above 10 distinct values, else categorical; strings categorical, or text when more than half
      the values are distinct; bool / category categorical), unless ``kinds`` maps columns to
      ``"numeric"`` / ``"categorical"`` / ``"text"`` (as a ``DataDefinition`` would);
    * NaN and +-inf are dropped from each column before testing;
    * the test depends on the kind, the reference size (after dropping missing values) and the
      number of distinct values in reference + current (``_get_default_stattest``):

      ==================  =========================  ===========================
      reference rows      numeric                    categorical
      ==================  =========================  ===========================
      <= 1000             <= 2 values: ``z``;        <= 2 values: ``z``;
                          3-5: ``chisquare``;        otherwise ``chisquare``
                          otherwise ``ks``
      > 1000              <= 5 values:               ``jensenshannon``
                          ``jensenshannon``;
                          otherwise ``wasserstein``
      ==================  =========================  ===========================

      text columns use Evidently's own text-content tests (delegated to Evidently);
    * thresholds are Evidently's defaults: p-value tests (ks, z, chisquare) drift when
      ``p <= 0.05`` (ks) or ``p < 0.05`` (z, chisquare); distances drift when
      ``distance >= 0.1`` (jensenshannon, normed wasserstein).

    Situations where Evidently raises instead of answering are answered, and flagged in ``test``:
    a column absent from ``current`` (``missing_column``), a column with no values left in current
    (``empty``), a numeric column arriving as non-numbers (``type_mismatch``) all count as drifted;
    a column with no reference values (``empty_reference``) cannot be tested (``drifted`` False).
    By default the columns are those of ``reference`` that Evidently would test; columns only in
    ``current`` are left to the data contract.

    Large batches take a fast path: the normed Wasserstein distance on more than
    :data:`FAST_MIN_ROWS` rows is computed from fine histograms with exact per-bin integrals where
    the two CDFs do not cross, which brackets the distance between a lower and an upper bound; the
    decision is exact (when the threshold falls inside the bracket, the crossing bins are integrated
    exactly from their sorted values), and the reported statistic is the interpolated estimate
    inside the bracket (its relative error is far below the threshold's scale; pass
    ``exact=True`` for the exact value). All other tests are computed exactly (counts, scipy's
    ``ks_2samp``, the chi-square survival function), so statistics agree with Evidently's to
    floating point rounding.

``column_statistic(test, reference, current, kind="numeric")``
    The statistic of a named test on one pair of Series, computed as Evidently computes it (a
    p-value for ``ks`` / ``z`` / ``chisquare``, a distance for ``jensenshannon`` / ``wasserstein``).
    ``TESTS[test]`` gives its default threshold and direction; ``is_drift(test, statistic)``
    applies it. The monitoring module calibrates its own thresholds by bootstrapping this.

``DriftDetector(reference, kinds=None, columns=None)``
    The same tests with the reference side prepared once, for many batches against one reference
    (the simulation sweep): ``DriftDetector(ref).run(current)`` returns the rows as dicts.

``evidently_column_drift(reference, current, columns=None, kinds=None)``
    Evidently's own ``DataDriftPreset`` report in the same table format (slow; used to check
    agreement and by the benchmark).

Also here: :func:`contract_violations` (the audit step's data contract applied to a batch). The model metric of a
labeled batch is :func:`playbook.metrics.metric_value` (one vocabulary for every step).
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import chdtrc, ndtr, rel_entr

try:  # the exact two-sample KS distribution, as ks_2samp uses it (cached below by sample sizes)
    from scipy.stats._stats_py import _attempt_exact_2kssamp
except ImportError:  # pragma: no cover
    _attempt_exact_2kssamp = None

#: reference rows (after dropping missing values) above which Evidently switches to distances
LARGE_REFERENCE = 1000
#: above this many values on both sides the Wasserstein distance takes the histogram fast path
FAST_MIN_ROWS = 50_000
#: histogram bins of the fast path
FAST_BINS = 1 << 16
#: integers with at most this many distinct values are categorical for Evidently
INTEGER_CARDINALITY_LIMIT = 10

KINDS = ("numeric", "categorical", "text")
TABLE_COLUMNS = ["column", "kind", "test", "statistic", "threshold", "drifted", "n_reference",
                 "n_current", "note"]


@dataclass(frozen=True)
class TestSpec:
    """A drift test as Evidently 0.7 defines it."""

    name: str            # Evidently's registered name
    display_name: str    # the name Evidently shows in its reports
    statistic: str       # "p_value" | "distance"
    threshold: float     # Evidently's default threshold
    inclusive: bool      # p_value: drift when p <= threshold (True) or p < threshold (False)

    def drifted(self, statistic: float, threshold: float | None = None) -> bool:
        thr = self.threshold if threshold is None else threshold
        if statistic is None or (isinstance(statistic, float) and math.isnan(statistic)):
            return False
        if self.statistic == "distance":
            return bool(statistic >= thr)
        return bool(statistic <= thr) if self.inclusive else bool(statistic < thr)


TESTS: dict[str, TestSpec] = {
    "ks": TestSpec("ks", "K-S p_value", "p_value", 0.05, True),
    "z": TestSpec("z", "Z-test p_value", "p_value", 0.05, False),
    "chisquare": TestSpec("chisquare", "chi-square p_value", "p_value", 0.05, False),
    "jensenshannon": TestSpec("jensenshannon", "Jensen-Shannon distance", "distance", 0.1, True),
    "wasserstein": TestSpec("wasserstein", "Wasserstein distance (normed)", "distance", 0.1, True),
    # text columns: computed by Evidently itself (a domain classifier)
    "perc_text_content_drift": TestSpec("perc_text_content_drift", "Percentile text content drift",
                                        "distance", 0.95, True),
    "abs_text_content_drift": TestSpec("abs_text_content_drift", "Absolute text content drift",
                                       "distance", 0.55, True),
}
_BY_DISPLAY = {t.display_name: t.name for t in TESTS.values()}

#: pseudo-tests for situations Evidently refuses; they count as drifted except empty_reference
NON_TESTS = ("missing_column", "empty", "type_mismatch", "empty_reference", "unsupported")


def is_drift(test: str, statistic: float, threshold: float | None = None) -> bool:
    """Evidently's decision for a statistic of ``test`` (default threshold unless given)."""
    return TESTS[test].drifted(statistic, threshold)


# ---------------------------------------------------------------------------------------------
# column kinds and test choice
# ---------------------------------------------------------------------------------------------
def infer_kind(series: pd.Series) -> str:
    """Evidently 0.7's column type inference (``infer_column_type``), in our vocabulary.

    Returns "numeric", "categorical", "text", "datetime" or "unknown".
    """
    return _infer_kind(series)[0]


def _infer_kind(series: pd.Series) -> tuple[str, pd.Series | None]:
    """``infer_kind`` plus the value counts it needed (reused by the tests on large columns)."""
    name = series.dtype.name
    if name.startswith("float"):
        return "numeric", None
    if name.startswith("int"):
        return ("categorical" if series.nunique() <= INTEGER_CARDINALITY_LIMIT else "numeric"), None
    if name in ("string", "str", "object"):
        vc = series.value_counts(dropna=True, sort=False)
        count = int(vc.sum())
        if name == "object":
            if count == 0:
                return "unknown", vc
            first, last = _first_last_valid(series)
            if not (isinstance(first, str) and isinstance(last, str)):
                return "unknown", vc
        return ("text" if len(vc) > count * 0.5 else "categorical"), vc
    if name in ("bool", "category"):
        return "categorical", None
    if name.startswith("datetime"):
        return "datetime", None
    return "unknown", None


def _first_last_valid(series: pd.Series) -> tuple[Any, Any]:
    v = series.to_numpy()
    first = last = None
    for x in v[:64]:
        if not pd.isna(x):
            first = x
            break
    else:
        idx = series.first_valid_index()
        first = series.loc[idx] if idx is not None else None
    for x in v[::-1][:64]:
        if not pd.isna(x):
            last = x
            break
    else:
        idx = series.last_valid_index()
        last = series.loc[idx] if idx is not None else None
    return first, last


def kinds_from_roles(roles) -> dict[str, str]:
    """Column kinds from a :class:`playbook.data.Roles` (numeric features -> numeric, others categorical)."""
    out = {c: "numeric" for c in roles.numeric}
    out.update({c: "categorical" for c in roles.categorical})
    return out


def select_test(kind: str, n_reference: int, n_values: int) -> str:
    """Evidently 0.7's default test for a column (``_get_default_stattest``).

    ``n_reference`` is the reference row count after dropping missing values; ``n_values`` the
    number of distinct values in reference and current together.
    """
    if kind == "text":
        return "abs_text_content_drift" if n_reference > LARGE_REFERENCE else "perc_text_content_drift"
    if kind not in ("numeric", "categorical"):
        raise ValueError(f"kind {kind!r} has no drift test; use one of {', '.join(KINDS)}")
    if n_reference <= LARGE_REFERENCE:
        if kind == "numeric" and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if kind == "numeric":
        return "jensenshannon" if n_values <= 5 else "wasserstein"
    return "jensenshannon"


# ---------------------------------------------------------------------------------------------
# statistics (each matches evidently.legacy.calculations.stattests.*)
# ---------------------------------------------------------------------------------------------
def _clean(series: pd.Series) -> pd.Series:
    """Drop NaN and +-inf, as Evidently does before a drift test."""
    s = series
    if pd.api.types.is_float_dtype(s.dtype):
        v = s.to_numpy()
        ok = np.isfinite(v)
        return s if ok.all() else s[ok]
    if s.dtype == object:
        s = s.replace([-np.inf, np.inf], np.nan)
    return s.dropna()


def _counts(series: pd.Series) -> pd.Series:
    """Value counts without NaN and +-inf (category dtype: observed categories only).

    Equal to Evidently's ``value_counts`` of the cleaned column; one pass over the data.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        cnt = np.bincount(codes[codes >= 0], minlength=len(series.cat.categories))
        keep = cnt > 0
        out = pd.Series(cnt[keep], index=series.cat.categories[keep])
    elif pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        v = series.to_numpy()
        if v.dtype.kind == "f":
            v = v[np.isfinite(v)]
        vals = _few_distinct(v, 32) if len(v) > 4096 else None
        if vals is not None:  # few distinct values: count by equality instead of hashing
            return pd.Series([int(np.count_nonzero(v == x)) for x in vals], index=vals)
        return pd.Series(v).value_counts(sort=False)
    else:
        out = series.value_counts(dropna=True, sort=False)
    return _drop_inf_keys(out)


def _drop_inf_keys(out: pd.Series) -> pd.Series:
    if out.index.dtype == object and len(out):
        bad = [k for k in out.index if isinstance(k, float) and math.isinf(k)]
        if bad:
            out = out.drop(bad)
    return out


def _few_distinct(v: np.ndarray, limit: int) -> np.ndarray | None:
    """The distinct values of ``v`` when there are at most ``limit`` of them, else None (O(n))."""
    found = np.unique(v[:256])
    if len(found) > limit:
        return None
    while True:
        rest = v[~np.isin(v, found)] if len(found) else v
        if len(rest) == 0:
            return found
        found = np.union1d(found, np.unique(rest[:256]))
        if len(found) > limit:
            return None


def _aligned_counts(ref_counts: pd.Series, cur_counts: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    keys = ref_counts.index.union(cur_counts.index, sort=False) if len(cur_counts) else ref_counts.index
    r = ref_counts.reindex(keys, fill_value=0).to_numpy(dtype=float)
    c = cur_counts.reindex(keys, fill_value=0).to_numpy(dtype=float)
    return r, c


def _chisquare_p(ref_counts: pd.Series, cur_counts: pd.Series, n_ref: int, n_cur: int) -> float:
    r, c = _aligned_counts(ref_counts, cur_counts)
    f_exp = r * (n_cur / n_ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (c - f_exp) ** 2 / f_exp
    stat = float(terms.sum())
    return float(stats.chi2.sf(stat, len(r) - 1))


def _jensenshannon(ref_counts: pd.Series, cur_counts: pd.Series, n_ref: int, n_cur: int) -> float:
    r, c = _aligned_counts(ref_counts, cur_counts)
    p = r / n_ref
    q = c / n_cur
    p = p / np.sum(p)
    q = q / np.sum(q)
    m = (p + q) / 2.0
    js = (np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))) / 2.0
    return float(np.sqrt(js))


def _z_p(ref_counts: pd.Series, cur_counts: pd.Series) -> float:
    if len(ref_counts) == 1 and len(cur_counts) == 1 and ref_counts.index[0] == cur_counts.index[0]:
        return 1.0
    keys = list(ref_counts.index.union(cur_counts.index, sort=False))
    try:
        key = sorted(keys)[0]
    except TypeError:
        key = sorted(keys, key=str)[0]
    n1, n2 = int(ref_counts.sum()), int(cur_counts.sum())
    # Evidently codes key -> 0, anything else -> 1 and compares the shares of 1
    p1 = float(n1 - ref_counts.get(key, 0)) / n1
    p2 = float(n2 - cur_counts.get(key, 0)) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


def _ks_p(ref: np.ndarray, cur: np.ndarray) -> float:
    return float(stats.ks_2samp(ref, cur)[1])


def _wasserstein_norm(ref: np.ndarray, cur: np.ndarray, ref_std: float | None = None) -> float:
    norm = max(float(np.std(ref)) if ref_std is None else ref_std, 0.001)
    return float(stats.wasserstein_distance(ref, cur) / norm)


def wasserstein_sorted(ref_sorted: np.ndarray, prefix: np.ndarray, shift: float, cur: np.ndarray) -> float:
    """The first Wasserstein distance between a reference and ``cur``, exactly as scipy's ``wasserstein_distance``
    gives it, in O(m log n) for a batch of m values against n reference values: the reference comes sorted, with the
    prefix sums of ``ref_sorted - shift`` (``prefix[0] = 0``; the shift, e.g. the reference mean, keeps the sums
    small). scipy sorts both samples on every call, which against a reference of a million rows is most of the
    cost of a drift simulation.

    Between consecutive batch values the batch's CDF G is a constant g; the reference's CDF F is non-decreasing,
    so ``|F - g|`` changes sign once, where F first reaches g, and both sides integrate in closed form from
    ``I(t) = integral of F up to t = (k t - sum of the k reference values <= t) / n``."""
    n, m = len(ref_sorted), len(cur)
    r = ref_sorted
    c = np.sort(np.asarray(cur, dtype=float)) - shift
    lo, hi = min(float(r[0]) - shift, float(c[0])), max(float(r[-1]) - shift, float(c[-1]))
    a = np.concatenate([[lo], c])           # segment k runs from a[k] to b[k], where G = k / m
    b = np.concatenate([c, [hi]])
    k = np.arange(m + 1)
    need = -(-(k * n) // m)                 # reference values F must count to reach k / m
    first = np.where(need == 0, -np.inf, r[np.clip(need - 1, 0, n - 1)] - shift)
    cut = np.clip(first, a, b)

    def integral(t):
        j = np.searchsorted(r, t + shift, side="right")
        return (j * t - prefix[j]) / n

    ia, ib, ic = integral(a), integral(b), integral(cut)
    g = k / m
    return float(np.sum((g * (cut - a) - (ic - ia)) + ((ib - ic) - g * (b - cut))))


def _sturges_percents(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    combined = np.concatenate([ref, cur])
    bins = np.histogram_bin_edges(combined, bins="sturges")
    return np.histogram(ref, bins)[0] / len(ref), np.histogram(cur, bins)[0] / len(cur)


def column_statistic(test: str, reference: pd.Series, current: pd.Series, kind: str = "numeric") -> float:
    """The statistic of ``test`` on one column pair, as Evidently computes it.

    NaN / inf are dropped first. ``kind`` matters for the Jensen-Shannon distance only (numeric
    columns with more than 20 distinct reference values are binned with Sturges' rule).
    A p-value for ks / z / chisquare, a distance for jensenshannon / wasserstein (normed by the
    reference standard deviation). Raises ValueError for an unknown test or an empty column.
    """
    if test not in TESTS:
        raise ValueError(f"unknown drift test {test!r}; use one of {', '.join(TESTS)}")
    ref = _clean(pd.Series(reference).reset_index(drop=True))
    cur = _clean(pd.Series(current).reset_index(drop=True))
    if len(ref) == 0 or len(cur) == 0:
        raise ValueError(f"column_statistic({test!r}): a side has no values after dropping missing ones")
    if test.endswith("text_content_drift"):
        return _evidently_stattest(test, ref, cur, "text")[0]
    if test == "ks":
        return _ks_p(ref.to_numpy(dtype=float), cur.to_numpy(dtype=float))
    if test == "wasserstein":
        return _wasserstein_norm(ref.to_numpy(dtype=float), cur.to_numpy(dtype=float))
    if test == "jensenshannon" and kind == "numeric" and ref.nunique() > 20:
        p, q = _sturges_percents(ref.to_numpy(dtype=float), cur.to_numpy(dtype=float))
        m = (p / p.sum() + q / q.sum()) / 2
        pp, qq = p / p.sum(), q / q.sum()
        return float(np.sqrt((np.sum(rel_entr(pp, m)) + np.sum(rel_entr(qq, m))) / 2.0))
    rc, cc = _counts(ref), _counts(cur)
    if test == "z":
        return _z_p(rc, cc)
    if test == "chisquare":
        return _chisquare_p(rc, cc, len(ref), len(cur))
    return _jensenshannon(rc, cc, len(ref), len(cur))


def _evidently_stattest(test: str, ref: pd.Series, cur: pd.Series, kind: str) -> tuple[float, bool, float]:
    """Run one of Evidently's registered stat tests itself: (statistic, drifted, threshold)."""
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    ctype = {"numeric": ColumnType.Numerical, "categorical": ColumnType.Categorical,
             "text": ColumnType.Text}[kind]
    st = get_registered_stattest(test, ctype)
    res = st(ref, cur, ctype, None)
    return float(res.drift_score), bool(res.drifted), float(res.actual_threshold)


# ---------------------------------------------------------------------------------------------
# Wasserstein fast path: histogram brackets with exact integrals where the CDFs do not cross
# ---------------------------------------------------------------------------------------------
def _bin_positions(x: np.ndarray, lo: float, scale: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
    pos = (x - lo) * scale
    idx = np.minimum(pos.astype(np.int64), bins - 1)
    return pos, idx


def wasserstein_bracket(u: np.ndarray, v: np.ndarray, bins: int = FAST_BINS,
                        threshold: float | None = None, exact: bool = False) -> tuple[float, float, float]:
    """First Wasserstein distance between samples ``u`` and ``v`` without sorting them.

    Returns ``(estimate, lower, upper)`` with ``lower <= W1 <= upper``. Inside each histogram bin
    the integral of ``F_u - F_v`` is exact (from per-bin counts and within-bin offsets); where the
    two empirical CDFs cannot cross inside a bin that gives the exact contribution, elsewhere the
    contribution is bracketed and estimated by linear interpolation. When ``threshold`` lies inside
    the bracket, or ``exact`` is set, the crossing bins are integrated exactly from their sorted
    values and the three numbers coincide.
    """
    n, m = len(u), len(v)
    lo = float(min(u.min(), v.min()))
    hi = float(max(u.max(), v.max()))
    if not hi > lo:
        return 0.0, 0.0, 0.0
    width = (hi - lo) / bins
    scale = bins / (hi - lo)
    pos_u, idx_u = _bin_positions(u, lo, scale, bins)
    pos_v, idx_v = _bin_positions(v, lo, scale, bins)
    cu = np.bincount(idx_u, minlength=bins).astype(float)
    cv = np.bincount(idx_v, minlength=bins).astype(float)
    # sum over the bin's values of (bin end - position), in bin units; clipped for the last bin
    su = np.bincount(idx_u, weights=np.clip(idx_u + 1 - pos_u, 0.0, 1.0), minlength=bins)
    sv = np.bincount(idx_v, weights=np.clip(idx_v + 1 - pos_v, 0.0, 1.0), minlength=bins)
    a = np.concatenate([[0.0], np.cumsum(cu)]) / n      # F_u just below each bin edge
    b = np.concatenate([[0.0], np.cumsum(cv)]) / m
    a0, a1, b0, b1 = a[:-1], a[1:], b[:-1], b[1:]
    d = (a0 - b0) + su / n - sv / m                      # exact integral of F_u - F_v per bin
    mixed = ~((a1 <= b0) | (b1 <= a0))
    absd = np.abs(d)
    upper_b = np.maximum(a1 - b0, b1 - a0)
    d0, d1 = a0 - b0, a1 - b1
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = (d0 * d1) < 0
        lin = np.where(cross, (d0 ** 2 + d1 ** 2) / (2 * np.abs(d0 - d1)), np.abs(d0 + d1) / 2)
    lin = np.clip(np.nan_to_num(lin), absd, np.maximum(upper_b, absd))
    exact_part = float(absd[~mixed].sum())
    lower = (exact_part + float(absd[mixed].sum())) * width
    upper = (exact_part + float(np.maximum(upper_b, absd)[mixed].sum())) * width
    estimate = (exact_part + float(lin[mixed].sum())) * width
    need = exact or (threshold is not None and lower < threshold <= upper)
    if not need or not mixed.any():
        return estimate, lower, upper
    w_mixed = _mixed_bins_exact(pos_u[mixed[idx_u]], pos_v[mixed[idx_v]], a, b, mixed, n, m)
    value = (exact_part + w_mixed) * width
    return value, value, value


def _mixed_bins_exact(pu: np.ndarray, pv: np.ndarray, a: np.ndarray, b: np.ndarray,
                      mixed: np.ndarray, n: int, m: int) -> float:
    """Exact integral of |F_u - F_v| (in bin units) over the bins flagged ``mixed``."""
    ks = np.flatnonzero(mixed).astype(float)
    pu = np.sort(pu)
    pv = np.sort(pv)
    pts = np.sort(np.concatenate([pu, pv, ks, ks + 1.0]))
    left, right = pts[:-1], pts[1:]
    length = right - left
    mid_bin = np.floor((left + right) / 2).astype(np.int64)
    mid_bin = np.clip(mid_bin, 0, len(mixed) - 1)
    ok = (length > 0) & mixed[mid_bin] & (left >= mid_bin) & (right <= mid_bin + 1)
    left, length, kb = left[ok], length[ok], mid_bin[ok]
    # F at the left end of each interval: mass below the bin + values of the bin at or before it
    fu = a[kb] + (np.searchsorted(pu, left, "right") - np.searchsorted(pu, kb.astype(float), "left")) / n
    fv = b[kb] + (np.searchsorted(pv, left, "right") - np.searchsorted(pv, kb.astype(float), "left")) / m
    return float(np.sum(np.abs(fu - fv) * length))


# ---------------------------------------------------------------------------------------------
# array versions of the tests (the detector's hot path; same numbers as the functions above)
# ---------------------------------------------------------------------------------------------
def _chisquare_p_arr(r: np.ndarray, c: np.ndarray, n_ref: float, n_cur: float) -> float:
    f_exp = r * (n_cur / n_ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = float(((c - f_exp) ** 2 / f_exp).sum())
    return float(chdtrc(len(r) - 1, stat))  # = scipy.stats.chi2.sf(stat, k - 1)


def _jensenshannon_arr(r: np.ndarray, c: np.ndarray, n_ref: float, n_cur: float) -> float:
    p = r / n_ref
    q = c / n_cur
    p = p / np.sum(p)
    q = q / np.sum(q)
    m = (p + q) / 2.0
    return float(np.sqrt((np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))) / 2.0))


def _z_p_arr(keys: list, r: np.ndarray, c: np.ndarray, n1: float, n2: float) -> float:
    if len(keys) == 1:
        return 1.0  # one value on both sides
    try:
        first = keys.index(sorted(keys)[0])
    except TypeError:
        first = keys.index(sorted(keys, key=str)[0])
    p1 = float(n1 - r[first]) / n1
    p2 = float(n2 - c[first]) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - ndtr(np.abs(z))))  # = 2 * (1 - scipy.stats.norm.cdf(|z|))


@lru_cache(maxsize=65536)
def _ks_exact_p(n1: int, n2: int, h: int) -> tuple[bool, float]:
    g = math.gcd(n1, n2)
    lcm = (n1 // g) * n2
    ok, _, prob = _attempt_exact_2kssamp(n1, n2, g, h / lcm, "two-sided")
    return ok, prob


def _ks_p_sorted(ref_sorted: np.ndarray, cur: np.ndarray) -> float:
    """scipy's two-sided ``ks_2samp`` p-value (method 'auto') with the reference already sorted.

    The statistic is computed as scipy does; exact p-values are cached by (n1, n2, D * lcm).
    """
    if _attempt_exact_2kssamp is None:  # pragma: no cover - scipy moved its internals
        return _ks_p(ref_sorted, cur)
    n1, n2 = len(ref_sorted), len(cur)
    cur_sorted = np.sort(cur)
    data_all = np.concatenate([ref_sorted, cur_sorted])
    cdf1 = np.searchsorted(ref_sorted, data_all, side="right") / n1
    cdf2 = np.searchsorted(cur_sorted, data_all, side="right") / n2
    diffs = cdf1 - cdf2
    min_s = float(np.clip(-diffs.min(), 0, 1))
    max_s = float(diffs.max())
    d = min_s if min_s > max_s else max_s
    if max(n1, n2) <= 10000:
        g = math.gcd(n1, n2)
        lcm = (n1 // g) * n2
        h = int(np.round(d * lcm))
        if h == 0:
            return 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok, prob = _ks_exact_p(n1, n2, h)
        if ok:
            return float(np.clip(prob, 0, 1))
        d = h / lcm
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))


# ---------------------------------------------------------------------------------------------
# the detector
# ---------------------------------------------------------------------------------------------
@dataclass
class _RefColumn:
    name: str
    kind: str
    n: int = 0                          # reference values after dropping missing ones
    series: pd.Series | None = None     # text: cleaned reference values
    values: np.ndarray | None = None    # numeric: float values, sorted
    std: float | None = None
    shift: float = 0.0                  # numeric: the reference mean, and
    prefix: np.ndarray | None = None    # the prefix sums of values - shift (wasserstein_sorted)
    keys: pd.Index | None = None        # categorical / few-valued numeric: distinct values
    counts: np.ndarray | None = None    # their counts (float)


def _row(column: str, kind: str, test: str | None, statistic: float | None, threshold: float | None,
         drifted: bool, n_ref: int, n_cur: int, note: str = "") -> dict:
    return {"column": column, "kind": kind, "test": test, "statistic": statistic, "threshold": threshold,
            "drifted": bool(drifted), "n_reference": int(n_ref), "n_current": int(n_cur), "note": note}


def _is_missing(values: np.ndarray) -> np.ndarray:
    miss = pd.isna(values)
    if values.dtype == object and len(values):
        miss |= np.fromiter((isinstance(v, float) and math.isinf(v) for v in values), bool, len(values))
    return miss


def _current_counts(keys: pd.Index, raw: pd.Series, cached: pd.Series | None = None
                    ) -> tuple[list, np.ndarray, np.ndarray, int]:
    """Counts of ``raw`` aligned with the reference ``keys``; new values appended.

    Returns (all keys, reference-side length, current counts over all keys, number of new keys).
    """
    if cached is not None or isinstance(raw.dtype, pd.CategoricalDtype) or len(raw) > 4096:
        vc = _drop_inf_keys(cached) if cached is not None else _counts(raw)
        pos = keys.get_indexer(vc.index)
        cnt = vc.to_numpy(dtype=float)
        cur = np.zeros(len(keys) + int((pos < 0).sum()))
        cur[pos[pos >= 0]] = cnt[pos >= 0]
        cur[len(keys):] = cnt[pos < 0]
        new_keys = list(vc.index[pos < 0])
    else:
        values = raw.to_numpy()
        if values.dtype.kind == "f":
            values = values[np.isfinite(values)]
        codes = keys.get_indexer(values)
        known = codes >= 0
        counts = np.bincount(codes[known], minlength=len(keys)).astype(float)
        new_keys = []
        if not known.all():
            rest = values[~known]
            rest = rest[~_is_missing(rest)]
            if len(rest):
                extra = pd.Series(rest).value_counts(sort=False)
                new_keys = list(extra.index)
                counts = np.concatenate([counts, extra.to_numpy(dtype=float)])
        cur = counts
    return list(keys) + new_keys, len(keys), cur, len(new_keys)


class DriftDetector:
    """Per-column drift tests against one reference, prepared once.

    ``kinds`` maps column -> "numeric" | "categorical" | "text"; missing entries are inferred from
    the reference with Evidently's rules. ``columns`` defaults to every reference column of a
    testable kind. ``run(current)`` gives the same rows as :func:`column_drift` with these kinds.
    """

    def __init__(self, reference: pd.DataFrame, kinds: dict[str, str] | None = None,
                 columns: Iterable[str] | None = None, fast_min_rows: int = FAST_MIN_ROWS,
                 exact: bool = False):
        kinds = dict(kinds or {})
        allowed = (*KINDS, "datetime", "unknown")
        for c, k in kinds.items():
            if k not in allowed:
                raise ValueError(f"kinds[{c!r}] = {k!r}; use one of {', '.join(KINDS)}")
        self.fast_min_rows = fast_min_rows
        self.exact = exact
        cols = list(reference.columns) if columns is None else list(columns)
        missing = [c for c in cols if c not in reference.columns]
        if missing:
            raise ValueError(f"columns {missing} are not in the reference data; pick columns it has")
        self.columns: list[str] = []
        self._ref: dict[str, _RefColumn] = {}
        for c in cols:
            kind = kinds.get(c) or infer_kind(reference[c])
            if kind not in KINDS:
                if columns is not None:  # asked for explicitly: reported as untestable
                    self.columns.append(c)
                    self._ref[c] = _RefColumn(c, kind)
                continue
            self.columns.append(c)
            self._ref[c] = self._prepare(c, reference[c], kind)

    @staticmethod
    def _prepare(name: str, series: pd.Series, kind: str) -> _RefColumn:
        if kind == "categorical":
            vc = _counts(series)
            return _RefColumn(name, kind, int(vc.sum()), keys=vc.index, counts=vc.to_numpy(dtype=float))
        s = _clean(series.reset_index(drop=True))
        if kind == "numeric" and pd.api.types.is_bool_dtype(s.dtype):
            raise ValueError(f"column {name!r} is declared numeric but holds bool values; declare it categorical "
                             "(a yes/no column has no distance to measure)")
        if kind == "numeric" and not pd.api.types.is_numeric_dtype(s.dtype):
            coerced = pd.to_numeric(s, errors="coerce")
            if coerced.notna().sum() < len(s):
                bad = s[coerced.isna()].iloc[0]
                raise ValueError(f"column {name!r} is declared numeric but holds {bad!r} in the reference; declare it "
                                 "categorical or clean the column")
            s = coerced
        if kind == "numeric":
            vals = s.to_numpy(dtype=float)
            distinct = _few_distinct(vals, 5) if len(vals) else np.array([])
            # sorted once (every test here is blind to the order): the KS statistic and the Wasserstein distance
            # of each batch then cost O(batch log reference) instead of a sort of the reference per batch
            vals = np.sort(vals)
            rc = _RefColumn(name, kind, len(vals), values=vals, std=float(np.std(vals)) if len(vals) else None)
            if len(vals):
                rc.shift = float(np.mean(vals))
                rc.prefix = np.concatenate([[0.0], np.cumsum(vals - rc.shift)])
            if distinct is not None:
                rc.keys = pd.Index(distinct)
                rc.counts = np.array([np.count_nonzero(vals == x) for x in distinct], dtype=float)
            return rc
        return _RefColumn(name, kind, len(s), series=s)

    # -- one column -----------------------------------------------------------------------------
    def _test(self, rc: _RefColumn, current: pd.DataFrame, cache: dict | None = None) -> dict:
        name, kind = rc.name, rc.kind
        if kind not in KINDS:
            return _row(name, kind, "unsupported", None, None, False, rc.n, 0,
                        f"{kind} columns have no drift test")
        if name not in current.columns:
            return _row(name, kind, "missing_column", None, None, True, rc.n, 0,
                        "the column is missing from the current data")
        raw = current[name]
        if rc.n == 0:
            return _row(name, kind, "empty_reference", None, None, False, 0, int(raw.notna().sum()),
                        "the reference has no values in this column")
        if kind == "categorical":
            keys, k_ref, cur, _ = _current_counts(rc.keys, raw, (cache or {}).get(name))
            n_cur = float(cur.sum())
            if n_cur == 0:
                return _row(name, kind, "empty", None, None, True, rc.n, 0, "every current value is missing")
            ref = np.concatenate([rc.counts, np.zeros(len(keys) - k_ref)])
            return self._counts_test(name, kind, rc.n, keys, ref, cur, n_cur)
        if kind == "text":
            cur = _clean(raw.reset_index(drop=True))
            if len(cur) == 0:
                return _row(name, kind, "empty", None, None, True, rc.n, 0, "every current value is missing")
            test = select_test(kind, rc.n, 0)
            stat, drifted, thr = _evidently_stattest(test, rc.series, cur, "text")
            return _row(name, kind, test, stat, thr, drifted, rc.n, len(cur))
        # numeric
        if not pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_bool_dtype(raw.dtype):
            if int(raw.notna().sum()) == 0:
                return _row(name, kind, "empty", None, None, True, rc.n, 0, "every current value is missing")
            return _row(name, kind, "type_mismatch", None, None, True, rc.n, int(raw.notna().sum()),
                        f"expected numbers, got {raw.dtype} values")
        cv = raw.to_numpy(dtype=float)
        finite = np.isfinite(cv)
        if not finite.all():
            cv = cv[finite]
        if len(cv) == 0:
            return _row(name, kind, "empty", None, None, True, rc.n, 0, "every current value is missing")
        if rc.keys is not None:  # at most five distinct reference values: count the union
            codes = rc.keys.get_indexer(cv)
            new = cv[codes < 0]
            extra = np.unique(new[:4096]) if len(new) else new
            if len(new) > 4096 and len(extra) + len(rc.keys) <= 5:
                extra = _few_distinct(new, 5 - len(rc.keys))
                extra = np.array([np.inf] * 6) if extra is None else extra
            if len(rc.keys) + len(extra) <= 5:
                cur = np.bincount(codes[codes >= 0], minlength=len(rc.keys)).astype(float)
                if len(extra):
                    cur = np.concatenate([cur, [np.count_nonzero(new == x) for x in extra]])
                keys = list(rc.keys) + list(extra)
                ref = np.concatenate([rc.counts, np.zeros(len(extra))])
                return self._counts_test(name, kind, rc.n, keys, ref, cur, float(len(cv)))
        test = select_test(kind, rc.n, 6)
        if test == "ks":
            stat = _ks_p_sorted(rc.values, cv)
        else:  # wasserstein
            thr = TESTS[test].threshold
            norm = max(rc.std, 0.001)
            if min(rc.n, len(cv)) >= self.fast_min_rows:
                est, lower, upper = wasserstein_bracket(rc.values, cv, threshold=thr * norm, exact=self.exact)
                # the bracket decides (it was resolved exactly when the threshold fell inside)
                note = "" if lower == upper else (
                    f"fast path: statistic estimated within [{lower / norm:.6g}, {upper / norm:.6g}]")
                return _row(name, kind, test, est / norm, thr, lower / norm >= thr, rc.n, len(cv), note)
            stat = wasserstein_sorted(rc.values, rc.prefix, rc.shift, cv) / norm
        spec = TESTS[test]
        return _row(name, kind, test, stat, spec.threshold, spec.drifted(stat), rc.n, len(cv))

    @staticmethod
    def _counts_test(name, kind, n_ref, keys, ref, cur, n_cur) -> dict:
        test = select_test(kind, n_ref, len(keys))
        if test == "z":
            stat = _z_p_arr(keys, ref, cur, float(n_ref), n_cur)
        elif test == "chisquare":
            stat = _chisquare_p_arr(ref, cur, float(n_ref), n_cur)
        else:
            stat = _jensenshannon_arr(ref, cur, float(n_ref), n_cur)
        spec = TESTS[test]
        return _row(name, kind, test, stat, spec.threshold, spec.drifted(stat), n_ref, int(n_cur))

    def run(self, current: pd.DataFrame, threads: int | None = None,
            current_counts: dict[str, pd.Series] | None = None) -> list[dict]:
        """One row (dict) per column, in column order (see :data:`TABLE_COLUMNS`).

        Large batches are tested on a few threads (numpy releases the GIL). ``current_counts``
        may hold already computed value counts of categorical columns of ``current``.
        """
        cols = [self._ref[c] for c in self.columns]
        big = len(current) >= self.fast_min_rows
        workers = threads if threads is not None else (min(len(cols), os.cpu_count() or 1, 4) if big else 1)
        if workers > 1 and len(cols) > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return list(pool.map(lambda rc: self._test(rc, current, current_counts), cols))
        return [self._test(rc, current, current_counts) for rc in cols]

    def table(self, current: pd.DataFrame, current_counts: dict[str, pd.Series] | None = None) -> pd.DataFrame:
        return pd.DataFrame(self.run(current, current_counts=current_counts), columns=TABLE_COLUMNS)


def column_drift(reference: pd.DataFrame, current: pd.DataFrame, columns: Iterable[str] | None = None,
                 kinds: dict[str, str] | None = None, exact: bool = False,
                 fast_min_rows: int = FAST_MIN_ROWS) -> pd.DataFrame:
    """Per-column drift with Evidently 0.7's default tests and thresholds (see the module docstring).

    One row per column: ``column, kind, test, statistic, threshold, drifted, n_reference,
    n_current, note``. ``kinds`` overrides the inferred kind of some columns (as an Evidently
    ``DataDefinition`` would); otherwise the kind is inferred from ``current`` as Evidently does
    (from ``reference`` for a column absent from ``current``).
    """
    kinds = dict(kinds or {})
    cols = list(reference.columns) if columns is None else list(columns)
    missing = [c for c in cols if c not in reference.columns]
    if missing:
        raise ValueError(f"column_drift: columns {missing} are not in the reference data; pick columns it has")
    resolved: dict[str, str] = {}
    cache: dict[str, pd.Series] = {}
    for c in cols:
        if c in kinds:
            resolved[c] = kinds[c]
        elif c in current.columns:
            resolved[c], vc = _infer_kind(current[c])
            if vc is not None:
                cache[c] = vc
        else:
            resolved[c] = infer_kind(reference[c])
    if columns is None:
        cols = [c for c in cols if resolved[c] in KINDS]
    det = DriftDetector(reference, resolved, cols, fast_min_rows=fast_min_rows, exact=exact)
    return det.table(current, current_counts=cache)


def dataset_drift(table: pd.DataFrame | list[dict], drift_share: float = 0.5) -> dict:
    """Evidently's dataset-level drift: drifted when the share of drifted columns >= ``drift_share``.

    Columns whose kind has no test (``unsupported``, ``empty_reference``) are left out of the share.
    """
    if isinstance(table, pd.DataFrame):
        if "column" not in table.columns and table.index.name == "column":
            table = table.reset_index()
        rows = table.to_dict("records")
    else:
        rows = list(table)
    tested = [r for r in rows if r["test"] not in ("unsupported", "empty_reference")]
    n = len(tested)
    k = sum(1 for r in tested if r["drifted"])
    share = k / n if n else 0.0
    return {"n_columns": n, "n_drifted": k, "share": share, "drifted": bool(n and share >= drift_share),
            "drifted_columns": [r["column"] for r in tested if r["drifted"]]}


# ---------------------------------------------------------------------------------------------
# Evidently's own report, in the same format
# ---------------------------------------------------------------------------------------------
def evidently_column_drift(reference: pd.DataFrame, current: pd.DataFrame,
                           columns: Iterable[str] | None = None,
                           kinds: dict[str, str] | None = None) -> pd.DataFrame:
    """Run Evidently's ``DataDriftPreset`` report and return its per-column decisions.

    Same columns as :func:`column_drift` (``statistic`` is Evidently's drift score, ``drifted``
    its test status). ``kinds`` become a ``DataDefinition``. Slow on large data: this is the
    yardstick, not the monitor.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    cols = None if columns is None else list(columns)
    if kinds:
        dd = DataDefinition(numerical_columns=[c for c, k in kinds.items() if k == "numeric"],
                            categorical_columns=[c for c, k in kinds.items() if k == "categorical"],
                            text_columns=[c for c, k in kinds.items() if k == "text"])
        cur = Dataset.from_pandas(current, data_definition=dd)
        ref = Dataset.from_pandas(reference, data_definition=dd)
    else:
        cur, ref = current, reference
    snap = Report([DataDriftPreset(columns=cols)], include_tests=True).run(cur, ref)
    data = snap.dict()
    status: dict[str, bool] = {}
    for t in data.get("tests", []):
        params = (t.get("metric_config") or {}).get("params") or {}
        if params.get("type", "").endswith("ValueDrift"):
            status[params["column"]] = t["status"] == "FAIL"
    rows = []
    for m in data["metrics"]:
        cfg = m.get("config") or {}
        if not cfg.get("type", "").endswith("ValueDrift"):
            continue
        col = cfg["column"]
        test = _BY_DISPLAY.get(cfg.get("method"), cfg.get("method"))
        value = m["value"]
        thr = cfg.get("threshold")
        drifted = status.get(col)
        if drifted is None and test in TESTS:
            drifted = TESTS[test].drifted(value, thr)
        kind = (kinds or {}).get(col) or infer_kind(current[col])
        rows.append(_row(col, kind, test, value, thr, bool(drifted), 0, 0, "evidently"))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


# ---------------------------------------------------------------------------------------------
# the data contract
# ---------------------------------------------------------------------------------------------
def contract_violations(df: pd.DataFrame, contract: dict, kinds: Iterable[str] | None = None,
                        **kwargs) -> list[dict]:
    """Violations of the audit step's data contract by a batch (``playbook.audit.contract.validate``).

    ``kinds`` restricts the violation kinds that count (missing_column, extra_column, type, range,
    category, nulls); None keeps them all. Other keyword arguments go to ``validate``.
    """
    from playbook.audit.contract import validate

    found = validate(df, contract, **kwargs)
    if kinds is None:
        return list(found)
    keep = set(kinds)
    return [v for v in found if v.get("kind") in keep]
