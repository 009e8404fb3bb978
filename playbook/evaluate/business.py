"""Business view: what the model's decisions are worth, at which threshold, per day.

A binary decision "flag" is taken when P(positive) >= threshold. With the config's ``business`` costs
(``cost_false_positive``, ``cost_false_negative``) and values (``value_true_positive``,
``value_true_negative``), the expected value per decision at a threshold is

    (TP * value_tp + TN * value_tn - FP * cost_fp - FN * cost_fn) / n

The threshold that maximises it is searched over every distinct predicted probability, and compared with
the two policies that need no model: flag nobody (e.g. approve every application when the positive class is
"bad credit") and flag everybody (reject every application). Value per day = value per decision x
``volume_per_day`` - compute cost (``compute_cost_per_1k`` per thousand predictions).

The optimum found on the evaluation rows themselves is optimistic (its candidates include both trivial
policies, and it is chosen on the rows it is judged on): it is drawn as the value-vs-threshold curve, but it does
not decide the check. :func:`business_value` judges the model honestly, at two thresholds that do not look at
the rows they are scored on:

* the **cost-implied** threshold ``(cost_fp + value_tn) / (cost_fp + value_tn + cost_fn + value_tp)``, what a
  calibrated model should use;
* a threshold **chosen on a separate fold** (cross-fitting: each fold's decisions use the threshold that
  maximises the value on the other folds);

each against the best trivial policy (flag nobody or flag everybody), with a paired bootstrap 95% interval on
the uplift per decision. The model adds value only when the lower bound of the uplift is above zero at one of
the two thresholds; random scores fail that in at least 95 of 100 seeded trials (tested).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _get(business, key, default=None):
    return business.get(key, default) if isinstance(business, dict) else getattr(business, key, default)


def costs_of(business) -> dict:
    """The business settings as a plain dict (accepts the config dataclass or a mapping)."""
    keys = ("cost_false_positive", "cost_false_negative", "value_true_positive", "value_true_negative",
            "volume_per_day", "compute_cost_per_1k", "currency")
    defaults = {"cost_false_positive": 1.0, "cost_false_negative": 5.0, "value_true_positive": 0.0,
                "value_true_negative": 0.0, "volume_per_day": 1000.0, "compute_cost_per_1k": 0.0, "currency": "EUR"}
    return {k: _get(business, k, defaults[k]) for k in keys}


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


def _row_values(y: np.ndarray, flag: np.ndarray, c: dict) -> np.ndarray:
    """Value of each decision: flag (1) or not (0), for truth ``y`` (1 = positive)."""
    return np.where(flag == 1, np.where(y == 1, c["value_true_positive"], -c["cost_false_positive"]),
                    np.where(y == 1, -c["cost_false_negative"], c["value_true_negative"])).astype(float)


def _best_threshold(y: np.ndarray, p: np.ndarray, business) -> float:
    curve = threshold_curve(y, p, business)
    return float(curve["threshold"].iloc[int(np.argmax(curve["value_per_decision"].to_numpy()))])


def cross_fitted_flags(y: np.ndarray, p: np.ndarray, business, folds: int = 5, seed: int = 0) -> tuple[np.ndarray, list]:
    """Decisions where each fold uses the value-maximising threshold of the other folds (never its own rows)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    k = int(min(folds, max(2, np.bincount(y, minlength=2).min()))) if len(np.unique(y)) == 2 else 2
    split = (StratifiedKFold(k, shuffle=True, random_state=seed) if len(np.unique(y)) == 2 and np.bincount(y).min() >= k
             else KFold(k, shuffle=True, random_state=seed))
    flags = np.zeros(len(y), dtype=int)
    thresholds = []
    for train, test in split.split(p.reshape(-1, 1), y):
        t = _best_threshold(y[train], p[train], business)
        thresholds.append(t)
        flags[test] = (p[test] >= t).astype(int)
    return flags, thresholds


def business_value(y_bin: np.ndarray, p: np.ndarray, business, *, n_boot: int = 200, seed: int = 0,
                   folds: int = 5) -> dict:
    """The model's uplift over the best trivial policy at the cost-implied and at a cross-fitted threshold, each
    with a paired bootstrap 95% CI (per decision and per day, compute cost included). ``chosen`` is the policy
    whose interval's lower bound is higher; ``adds_value`` is True when that lower bound is above zero."""
    c = costs_of(business)
    y = np.asarray(y_bin, dtype=int)
    p = np.asarray(p, dtype=float)
    n = len(y)
    per_day = float(c["volume_per_day"])
    compute = float(c["compute_cost_per_1k"]) * per_day / 1000.0
    none_v = _row_values(y, np.zeros(n, dtype=int), c)
    all_v = _row_values(y, np.ones(n, dtype=int), c)
    trivial, trivial_v = ("flag_none", none_v) if none_v.mean() >= all_v.mean() else ("flag_all", all_v)
    boot = n_boot > 0 and n > 1
    implied = cost_implied_threshold(c)
    xf_flags, xf_thresholds = cross_fitted_flags(y, p, business, folds=folds, seed=seed)
    policies = {"cost_implied": (p >= implied).astype(int), "cross_fitted": xf_flags}
    out: dict = {"currency": c["currency"], "volume_per_day": per_day, "compute_cost_per_day": compute, "rows": n,
                 "best_trivial_policy": trivial, "trivial_value_per_decision": float(trivial_v.mean()),
                 "cost_implied_threshold": implied, "cross_fitted_thresholds": xf_thresholds, "n_boot": int(n_boot),
                 "placeholder_costs": bool(_get(business, "placeholder", False)), "policies": {}}
    uplift = {name: _row_values(y, flags, c) - trivial_v for name, flags in policies.items()}
    draws: dict[str, list] = {name: [] for name in policies}
    if boot:  # the same resamples for every policy (a paired bootstrap), drawn a block at a time
        from playbook.evaluate.metrics import bootstrap_blocks

        for rows in bootstrap_blocks(np.random.default_rng(seed), n, n_boot):
            for name, u in uplift.items():
                draws[name].append(u[rows].mean(axis=1))
    for name, flags in policies.items():
        u = uplift[name]
        mean = float(u.mean())
        if boot:
            lo, hi = (float(x) for x in np.percentile(np.concatenate(draws[name]), [2.5, 97.5]))
        else:
            lo = hi = float("nan")
        out["policies"][name] = {
            "flagged_share": float(flags.mean()), "value_per_decision": float(_row_values(y, flags, c).mean()),
            "uplift_per_decision": mean, "uplift_ci_per_decision": [lo, hi],
            "uplift_per_day": mean * per_day - compute,
            "uplift_ci_per_day": [lo * per_day - compute, hi * per_day - compute],
        }
    chosen = max(out["policies"], key=lambda k: (np.nan_to_num(out["policies"][k]["uplift_ci_per_day"][0], nan=-np.inf), k))
    out["chosen"] = chosen
    lo = out["policies"][chosen]["uplift_ci_per_day"][0]
    out["adds_value"] = bool(np.isfinite(lo) and lo > 0)
    return out


def value_check(bv: dict, evidence=None) -> dict:
    """``model.business.value_per_day``: uplift per day over the best trivial policy, judged on its CI. No shown
    value fails (a blocking gate) when the costs are the business's own; at the placeholder costs (no cost or value
    in the config) it warns, since a go / no-go on invented amounts would be its own pilot illusion."""
    from playbook import catalogue

    cur = bv["currency"]
    ch = bv["chosen"]
    pol = bv["policies"][ch]
    lo, hi = pol["uplift_ci_per_day"]
    other = bv["policies"]["cross_fitted" if ch == "cost_implied" else "cost_implied"]
    where = ("the cost-implied threshold " + f"{bv['cost_implied_threshold']:.3g}" if ch == "cost_implied"
             else "a threshold chosen on separate folds")
    title = (f"Value added per day over '{bv['best_trivial_policy'].replace('_', ' ')}' at {where}: "
             f"{pol['uplift_per_day']:,.2f} {cur} (95% CI {lo:,.2f} to {hi:,.2f}) at {bv['volume_per_day']:,.0f} "
             f"decisions/day")
    why = ("A model earns its place only if its decisions are worth more than the simplest policy without it "
           "(approve everything or reject everything) at the costs the business states, beyond sampling noise. "
           f"The other threshold gives {other['uplift_per_day']:,.2f} {cur} per day "
           f"(95% CI {other['uplift_ci_per_day'][0]:,.2f} to {other['uplift_ci_per_day'][1]:,.2f}).")
    if not bv["adds_value"]:
        why += " Neither interval's lower bound is above zero: the evidence does not show that the model adds value."
    placeholder = bool(bv.get("placeholder_costs"))
    if placeholder:
        why += (" These are the playbook's placeholder costs (no cost or value is set under `business:` in the "
                "config), so the result is reported, not gated: state the business's own costs to judge it.")
    status = "pass" if bv["adds_value"] else "warn" if placeholder else "fail"
    ci = [lo, hi] if np.isfinite(lo) and np.isfinite(hi) else None
    return catalogue.check("model.business.value_per_day", status,
                           pol["uplift_per_day"], title=title, ci=ci, evidence=evidence,
                           threshold={"min": 0.0, "exclusive": True, "on": "ci", "unit": f"{cur} per day"}, why=why)
