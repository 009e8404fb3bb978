"""Bootstrap CIs of metric deltas (``new - old``) between two models.

*Paired* when both models scored the same rows (the same row fingerprints, see
:mod:`playbook.evaluate.predictions`): each resample draws row positions once and scores both models on them, so
the interval is about the difference itself (the rows' own difficulty cancels out). *Unpaired* otherwise: each
pack's rows are resampled on their own and the delta of the two draws taken, a wider interval, stated as such.
Seeded: the same inputs give the same intervals.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from playbook.evaluate.metrics import Scored, compute, fast_binary_metrics, iter_bootstrap_indices

PAIRED, UNPAIRED, APPROXIMATE = "paired bootstrap", "unpaired bootstrap", "approximate, from the packs' own CIs"


def align(old: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The two stored prediction tables in one row order when they hold the same rows (the same multiset of
    fingerprints, each duplicate matched by its occurrence), else None."""
    if len(old) != len(new):
        return None
    a = old.assign(_k=old.groupby("row").cumcount()).reset_index(drop=True)
    b = new.assign(_k=new.groupby("row").cumcount())
    keys_a = pd.MultiIndex.from_frame(a[["row", "_k"]])
    keys_b = pd.MultiIndex.from_frame(b[["row", "_k"]])
    if not keys_a.sort_values().equals(keys_b.sort_values()):
        return None
    b = b.set_index(keys_b).loc[keys_a].reset_index(drop=True)
    return a.drop(columns="_k"), b.drop(columns="_k")


def _metrics_fn(s: Scored) -> Callable[[np.ndarray | None], dict[str, float]]:
    """Metrics of ``s`` on a resample (row positions; None: all rows), on the binary fast path where it applies."""
    if s.task == "binary":
        yb, pp = s.y_bin, s.p_pos
        pb = s.pred_bin if s.pred is not None else None
        point = compute(s)

        def fn(rows):
            if rows is None:
                return point
            return fast_binary_metrics(yb[rows], None if pp is None else pp[rows], None if pb is None else pb[rows])
        return fn
    return lambda rows: compute(s) if rows is None else compute(s.take(rows))


def _interval(draws: list[float], confidence: float) -> tuple[float | None, float | None, int]:
    arr = np.asarray(draws, dtype=float)
    arr = arr[np.isfinite(arr)]
    if not len(arr):
        return None, None, 0
    a = (1 - confidence) / 2
    lo, hi = np.percentile(arr, [100 * a, 100 * (1 - a)])
    return float(lo), float(hi), int(len(arr))


def _finish(point_old: dict, point_new: dict, draws: dict, confidence: float, kind: str, rows) -> dict[str, dict]:
    out = {}
    for m in sorted(set(point_old) & set(point_new)):
        o, n = point_old[m], point_new[m]
        if not (np.isfinite(o) and np.isfinite(n)):
            continue
        lo, hi, k = _interval(draws.get(m, []), confidence)
        out[m] = {"old": float(o), "new": float(n), "delta": float(n - o), "ci_low": lo, "ci_high": hi,
                  "n_boot": k, "kind": kind, "rows": rows}
    return out


def paired_deltas(old: Scored, new: Scored, *, n_boot: int = 1000, seed: int = 0,
                  confidence: float = 0.95) -> dict[str, dict]:
    """``{metric: {old, new, delta, ci_low, ci_high, n_boot, kind, rows}}``: both models scored on the same
    resampled rows (``old`` and ``new`` hold the same rows in the same order)."""
    if len(old) != len(new):
        raise ValueError("a paired comparison needs the same rows in both models' outputs")
    f_old, f_new = _metrics_fn(old), _metrics_fn(new)
    p_old, p_new = f_old(None), f_new(None)
    draws: dict[str, list[float]] = {m: [] for m in p_old}
    if len(old) > 1:
        for rows in iter_bootstrap_indices(len(old), n_boot, seed):
            a, b = f_old(rows), f_new(rows)
            for m in draws:
                draws[m].append(b.get(m, np.nan) - a.get(m, np.nan))
    return _finish(p_old, p_new, draws, confidence, PAIRED, len(old))


def unpaired_deltas(old: Scored, new: Scored, *, n_boot: int = 1000, seed: int = 0,
                    confidence: float = 0.95) -> dict[str, dict]:
    """The same, each model's rows resampled on their own (different rows: the rows' difficulty does not cancel)."""
    f_old, f_new = _metrics_fn(old), _metrics_fn(new)
    p_old, p_new = f_old(None), f_new(None)
    draws: dict[str, list[float]] = {m: [] for m in p_old}
    if len(old) > 1 and len(new) > 1:
        for r_old, r_new in zip(iter_bootstrap_indices(len(old), n_boot, seed),
                                iter_bootstrap_indices(len(new), n_boot, seed + 1)):
            a, b = f_old(r_old), f_new(r_new)
            for m in draws:
                draws[m].append(b.get(m, np.nan) - a.get(m, np.nan))
    return _finish(p_old, p_new, draws, confidence, UNPAIRED, {"old": len(old), "new": len(new)})


def approximate_deltas(old: dict, new: dict) -> dict[str, dict]:
    """Without stored predictions: the delta of the packs' point estimates with an interval of half-width
    ``sqrt(h_old^2 + h_new^2)`` from their own CIs (``metrics.json``: ``{metric: {value, ci_low, ci_high}}``)."""
    out = {}
    for m in sorted(set(old) & set(new)):
        o, n = old[m], new[m]
        try:
            vo, vn = float(o["value"]), float(n["value"])
            h = float(np.hypot((o["ci_high"] - o["ci_low"]) / 2, (n["ci_high"] - n["ci_low"]) / 2))
        except (KeyError, TypeError, ValueError):
            continue
        if not all(np.isfinite([vo, vn])):
            continue
        d = vn - vo
        out[m] = {"old": vo, "new": vn, "delta": d, "ci_low": d - h if np.isfinite(h) else None,
                  "ci_high": d + h if np.isfinite(h) else None, "n_boot": None, "kind": APPROXIMATE, "rows": None}
    return out


def value_deltas(y_old: np.ndarray, flag_old: np.ndarray, y_new: np.ndarray, flag_new: np.ndarray, costs: dict, *,
                 paired: bool, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict:
    """Business value per day (``mean value per decision x volume_per_day``) of each model's decisions (0/1 flags
    against 0/1 truth), both under the same costs, and the CI of its delta (paired or not, as the metrics)."""
    from playbook.evaluate.business import _row_values

    vol = float(costs["volume_per_day"])
    v_old = _row_values(np.asarray(y_old), np.asarray(flag_old), costs) * vol
    v_new = _row_values(np.asarray(y_new), np.asarray(flag_new), costs) * vol
    draws = []
    if paired:
        diff = v_new - v_old
        for rows in iter_bootstrap_indices(len(diff), n_boot, seed):
            draws.append(float(diff[rows].mean()))
    else:
        for r_old, r_new in zip(iter_bootstrap_indices(len(v_old), n_boot, seed),
                                iter_bootstrap_indices(len(v_new), n_boot, seed + 1)):
            draws.append(float(v_new[r_new].mean() - v_old[r_old].mean()))
    lo, hi, k = _interval(draws, confidence)
    o, n = float(v_old.mean()), float(v_new.mean())
    return {"old": o, "new": n, "delta": n - o, "ci_low": lo, "ci_high": hi, "n_boot": k,
            "kind": PAIRED if paired else UNPAIRED, "currency": costs.get("currency")}


__all__ = ["APPROXIMATE", "PAIRED", "UNPAIRED", "align", "approximate_deltas", "paired_deltas", "unpaired_deltas",
           "value_deltas"]
