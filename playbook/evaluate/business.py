"""Business view: what the model's decisions are worth, at which threshold, per day.

A binary decision "flag" is taken when P(positive) >= threshold. With the config's ``business`` costs
(``cost_false_positive``, ``cost_false_negative``) and values (``value_true_positive``,
``value_true_negative``), the expected value per decision at a threshold is

    (TP * value_tp + TN * value_tn - FP * cost_fp - FN * cost_fn) / n

The threshold that maximises it is searched over every distinct predicted probability, and compared with
the two policies that need no model: flag nobody (e.g. approve every application when the positive class is
"bad credit") and flag everybody (reject every application). Value per day = value per decision x
``volume_per_day`` - compute cost (``compute_cost_per_1k`` per thousand predictions).

The optimum is found on the evaluation rows themselves, so it is optimistic; the cost-implied threshold
``(cost_fp + value_tn) / (cost_fp + value_tn + cost_fn + value_tp)`` is what a calibrated model should use
and is reported next to it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def costs_of(business) -> dict:
    """The business settings as a plain dict (accepts the config dataclass or a mapping)."""
    keys = ("cost_false_positive", "cost_false_negative", "value_true_positive", "value_true_negative",
            "volume_per_day", "compute_cost_per_1k", "currency")
    defaults = {"cost_false_positive": 1.0, "cost_false_negative": 5.0, "value_true_positive": 0.0,
                "value_true_negative": 0.0, "volume_per_day": 1000.0, "compute_cost_per_1k": 0.0, "currency": "EUR"}
    get = (lambda k: business.get(k, defaults[k])) if isinstance(business, dict) else (lambda k: getattr(business, k, defaults[k]))
    return {k: get(k) for k in keys}


def value_of(tp, fp, tn, fn, c: dict) -> np.ndarray:
    """Total value of a confusion matrix (arrays allowed)."""
    return (np.asarray(tp) * c["value_true_positive"] + np.asarray(tn) * c["value_true_negative"]
            - np.asarray(fp) * c["cost_false_positive"] - np.asarray(fn) * c["cost_false_negative"])


def cost_implied_threshold(c: dict) -> float:
    """The threshold a perfectly calibrated model should use: flag when the expected value of flagging
    exceeds that of not flagging."""
    num = c["cost_false_positive"] + c["value_true_negative"]
    den = num + c["cost_false_negative"] + c["value_true_positive"]
    return float(num / den) if den > 0 else 0.5


def threshold_curve(y_bin: np.ndarray, p: np.ndarray, business) -> pd.DataFrame:
    """Value per decision for every candidate threshold (each distinct probability, plus "flag nobody").

    Columns: ``threshold, flagged, tp, fp, tn, fn, value_per_decision``; rows by decreasing threshold; the
    first row (threshold +inf) flags nobody, the last flags everybody.
    """
    c = costs_of(business)
    y = np.asarray(y_bin, dtype=int)
    p = np.asarray(p, dtype=float)
    n = len(y)
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    cum_pos = np.cumsum(ys)
    cum_n = np.arange(1, n + 1)
    # last position of each distinct value in the descending order: flag everything >= that value
    last = np.r_[np.nonzero(np.diff(ps))[0], n - 1]
    thr = np.r_[np.inf, ps[last]]
    flagged = np.r_[0, cum_n[last]]
    tp = np.r_[0, cum_pos[last]]
    fp = flagged - tp
    P = int(y.sum())
    fn = P - tp
    tn = (n - P) - fp
    val = value_of(tp, fp, tn, fn, c) / max(n, 1)
    return pd.DataFrame({"threshold": thr, "flagged": flagged, "tp": tp, "fp": fp, "tn": tn, "fn": fn,
                         "value_per_decision": val})


def business_view(y_bin: np.ndarray, p: np.ndarray, business, operating_threshold: float = 0.5) -> dict:
    """Value per decision and per day at the optimal, the cost-implied and the operating thresholds, and
    for the flag-nobody / flag-everybody policies."""
    c = costs_of(business)
    curve = threshold_curve(y_bin, p, business)
    y = np.asarray(y_bin, dtype=int)
    p = np.asarray(p, dtype=float)
    n = len(y)
    best_i = int(np.argmax(curve["value_per_decision"].to_numpy()))  # first max = the highest such threshold
    best = curve.iloc[best_i]
    per_day = float(c["volume_per_day"])
    compute = float(c["compute_cost_per_1k"]) * per_day / 1000.0

    def at(t: float) -> float:
        f = p >= t
        tp = int((f & (y == 1)).sum())
        fp = int((f & (y == 0)).sum())
        fn = int((~f & (y == 1)).sum())
        tn = int((~f & (y == 0)).sum())
        return float(value_of(tp, fp, tn, fn, c) / max(n, 1))

    implied = cost_implied_threshold(c)
    flag_none = float(curve["value_per_decision"].iloc[0])
    flag_all = float(value_of(int(y.sum()), int((y == 0).sum()), 0, 0, c) / max(n, 1))
    out = {
        "currency": c["currency"], "volume_per_day": per_day, "compute_cost_per_day": compute, "rows": n,
        "optimal_threshold": float(best["threshold"]),
        "value_per_decision": float(best["value_per_decision"]),
        "value_per_day": float(best["value_per_decision"]) * per_day - compute,
        "flagged_share_at_optimum": float(best["flagged"]) / max(n, 1),
        "cost_implied_threshold": implied,
        "value_per_decision_at_cost_implied": at(implied),
        "value_per_day_at_cost_implied": at(implied) * per_day - compute,
        "operating_threshold": float(operating_threshold),
        "value_per_decision_at_operating": at(operating_threshold),
        "value_per_day_at_operating": at(operating_threshold) * per_day - compute,
        "flag_none_value_per_decision": flag_none,
        "flag_none_value_per_day": flag_none * per_day,
        "flag_all_value_per_decision": flag_all,
        "flag_all_value_per_day": flag_all * per_day,
    }
    out["best_trivial_policy"] = "flag_none" if flag_none >= flag_all else "flag_all"
    out["best_trivial_value_per_day"] = max(flag_none, flag_all) * per_day
    out["uplift_per_day"] = out["value_per_day"] - out["best_trivial_value_per_day"]
    out["curve"] = curve
    return out


def business_check(view: dict, evidence=None) -> dict:
    from playbook import catalogue

    cur = view["currency"]
    thr = view["optimal_threshold"]
    thr_txt = "flag nobody" if math.isinf(thr) else f"threshold {thr:.3g}"
    title = (f"Value per day at the best threshold ({thr_txt}): {view['value_per_day']:,.2f} {cur} at "
             f"{view['volume_per_day']:,.0f} decisions/day, vs {view['best_trivial_value_per_day']:,.2f} {cur} for "
             f"'{view['best_trivial_policy'].replace('_', ' ')}'")
    beats = view["value_per_day"] > view["best_trivial_value_per_day"] + 1e-12
    return catalogue.check(
        "model.business.value_per_day", "pass" if beats else "fail", view["value_per_day"], title=title,
        threshold={"min": view["best_trivial_value_per_day"], "exclusive": True, "unit": f"{cur} per day"},
        evidence=evidence,
        why="A model earns its place only if its decisions are worth more than the simplest policy without "
            "it (approve everything or reject everything) at the costs the business states.")
