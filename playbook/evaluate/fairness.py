"""Fairness across sensitive groups, with fairlearn, and the uncertainty of every gap.

For each sensitive column (``data.sensitive``; numeric columns such as age are cut into quantile bands),
fairlearn's :class:`~fairlearn.metrics.MetricFrame` gives per-group selection rate, true and false
positive rates and accuracy (binary). The disparity metrics are fairlearn's
``demographic_parity_difference`` (largest gap in selection rate) and ``equalized_odds_difference``
(largest gap in TPR or FPR). Groups smaller than ``min_group_size`` are listed with their numbers but
left out of the disparity metrics: a gap measured on a handful of people is noise. Multiclass: the gap in
accuracy; regression: the ratio of the largest to the smallest group MAE.

**Uncertainty.** On groups of a few dozen people a gap is mostly sampling noise, so every per-group rate and
every gap carries a 95% percentile bootstrap interval, resampling rows *within* each group (group sizes stay
fixed, as they are in the data). fairlearn's own ``MetricFrame(n_boot=...)`` resamples all rows together, so the
group sizes change between resamples; the within-group resampling is done here with numpy on the per-group
counts (cheap and vectorised), and its point estimates equal fairlearn's. The check is judged on the interval: a
gap *exceeds* the limit only when the interval's lower bound does (``fail``), is *within* it only when the upper
bound is (``pass``), and is undecided otherwise (``warn``: more data would tell). A group whose true-positive or
false-positive rate is undefined (no positives or no negatives in it) is named in the result.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from playbook.evaluate.metrics import Scored
from playbook.evaluate.slices import slice_labels

DEFAULT_LIMITS = {
    "demographic_parity_difference": 0.1,
    "equalized_odds_difference": 0.1,
    "accuracy_difference": 0.1,
    "mae_ratio": 1.25,
}
WHY = {
    "demographic_parity_difference": "Groups receiving the favourable or unfavourable decision at very different rates is "
                                     "the first thing a regulator or a journalist measures.",
    "equalized_odds_difference": "Among people with the same true outcome, the model should err as often for every group; "
                                 "a gap means one group bears more of the model's mistakes.",
    "accuracy_difference": "A class of decisions the model gets right far less often for one group is a disparate harm.",
    "mae_ratio": "Predictions much less accurate for one group translate into worse decisions for that group.",
}


def safe_id(name: str) -> str:
    """A column name usable inside a dotted check id."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", str(name)).strip("_") or "column"


def _group_rates(task: str, y_true: np.ndarray, y_pred: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per-resample rates of one group: ``rows`` is (n_boot, group size) row positions."""
    yt, yp = y_true[rows], y_pred[rows]
    if task == "binary":
        pos = yt == 1
        neg = ~pos
        with np.errstate(invalid="ignore", divide="ignore"):
            return {"selection_rate": yp.mean(axis=1),
                    "true_positive_rate": (yp * pos).sum(axis=1) / pos.sum(axis=1),
                    "false_positive_rate": (yp * neg).sum(axis=1) / neg.sum(axis=1)}
    if task == "multiclass":
        return {"accuracy": (yt == yp).mean(axis=1)}
    return {"mae": np.abs(yt - yp).mean(axis=1)}


def _gaps(task: str, rates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The disparity measures from per-group rates (arrays: groups x resamples)."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if task == "binary":
            sel, tpr, fpr = rates["selection_rate"], rates["true_positive_rate"], rates["false_positive_rate"]
            spread = lambda a: np.nanmax(a, axis=0) - np.nanmin(a, axis=0)  # noqa: E731
            return {"demographic_parity_difference": spread(sel),
                    "equalized_odds_difference": np.fmax(spread(tpr), spread(fpr))}
        if task == "multiclass":
            acc = rates["accuracy"]
            return {"accuracy_difference": np.nanmax(acc, axis=0) - np.nanmin(acc, axis=0)}
        mae = rates["mae"]
        lo = np.nanmin(mae, axis=0)
        return {"mae_ratio": np.where(lo > 0, np.nanmax(mae, axis=0) / np.where(lo > 0, lo, 1.0), np.inf)}


def _bootstrap(task: str, y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, names: list, n_boot: int,
               seed: int) -> tuple[dict[str, dict[str, list]], dict[str, list]]:
    """Within-group bootstrap: ``({rate: {group: [lo, hi]}}, {gap: [lo, hi]})`` (95% percentile intervals)."""
    rng = np.random.default_rng(seed)
    per_group: dict[str, list[np.ndarray]] = {}
    from playbook.evaluate.metrics import bootstrap_blocks

    for g in names:
        idx = np.flatnonzero(groups == g)
        parts: dict[str, list[np.ndarray]] = {}
        for block in bootstrap_blocks(rng, len(idx), n_boot):  # bounded memory for groups of any size
            for k, v in _group_rates(task, y_true, y_pred, idx[block]).items():
                parts.setdefault(k, []).append(v)
        for k, v in parts.items():
            per_group.setdefault(k, []).append(np.concatenate(v))
    rates = {k: np.vstack(v) for k, v in per_group.items()}
    gaps = _gaps(task, rates)

    def ci(a: np.ndarray) -> list:
        a = a[np.isfinite(a)]
        return [float(x) for x in np.percentile(a, [2.5, 97.5])] if len(a) else [None, None]

    rate_ci = {k: {g: ci(v[i]) for i, g in enumerate(names)} for k, v in rates.items()}
    return rate_ci, {k: ci(v) for k, v in gaps.items()}


def fairness(frame: pd.DataFrame, s: Scored, column: str, numeric: bool, *, min_group_size: int = 30,
             n_bins: int = 4, n_boot: int = 200, seed: int = 0) -> dict:
    """``{column, by_group (DataFrame), metrics {name: value}, ci {name: [lo, hi]}, included, excluded,
    undefined, reason}``; ``by_group`` has a ``<rate>_ci_low`` / ``<rate>_ci_high`` pair per rate."""
    from fairlearn.metrics import (MetricFrame, count, demographic_parity_difference, equalized_odds_difference,
                                   false_positive_rate, selection_rate, true_positive_rate)
    from sklearn.metrics import accuracy_score, mean_absolute_error

    frame = frame.loc[s.index] if s.index is not None else frame
    groups = slice_labels(frame[column], numeric, n_bins=n_bins, max_values=50).to_numpy()
    if s.task == "binary":
        y_true, y_pred = s.y_bin, s.pred_bin
        metrics = {"count": count, "selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
                   "false_positive_rate": false_positive_rate, "accuracy": accuracy_score}
    elif s.task == "multiclass":
        y_true, y_pred = s.y_index, s.pred_index
        metrics = {"count": count, "accuracy": accuracy_score}
    else:
        y_true, y_pred = np.asarray(s.y, dtype=float), np.asarray(s.pred, dtype=float)
        metrics = {"count": count, "mae": mean_absolute_error}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=pd.Series(groups, name=column))
        by_group = mf.by_group.reset_index().rename(columns={column: "group"})
    by_group["count"] = by_group["count"].astype(int)
    by_group["small"] = by_group["count"] < min_group_size
    if s.task == "binary":
        pos = pd.Series(y_true).groupby(groups).sum()
        by_group["positives"] = by_group["group"].map(pos).fillna(0).astype(int)
    included = by_group.loc[~by_group["small"], "group"].tolist()
    excluded = by_group.loc[by_group["small"], "group"].tolist()
    out = {"column": column, "by_group": by_group, "metrics": {}, "ci": {}, "included": included,
           "excluded": excluded, "undefined": [], "reason": None, "n_boot": int(n_boot)}
    if s.task == "binary":
        out["undefined"] = [str(g) for g in included
                            if int(by_group.loc[by_group["group"] == g, "positives"].iloc[0]) in
                            (0, int(by_group.loc[by_group["group"] == g, "count"].iloc[0]))]
    if len(included) < 2:
        out["reason"] = (f"fewer than two groups of {column!r} have at least {min_group_size} rows "
                         f"({len(by_group)} groups in all)")
        return out
    m = np.isin(groups, included)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if s.task == "binary":
            out["metrics"]["demographic_parity_difference"] = float(
                demographic_parity_difference(y_true[m], y_pred[m], sensitive_features=groups[m]))
            out["metrics"]["equalized_odds_difference"] = float(
                equalized_odds_difference(y_true[m], y_pred[m], sensitive_features=groups[m]))
        elif s.task == "multiclass":
            acc = by_group.loc[~by_group["small"], "accuracy"]
            out["metrics"]["accuracy_difference"] = float(acc.max() - acc.min())
        else:
            mae = by_group.loc[~by_group["small"], "mae"]
            out["metrics"]["mae_ratio"] = float(mae.max() / mae.min()) if mae.min() > 0 else float("inf")
    if n_boot > 0:
        rate_ci, gap_ci = _bootstrap(s.task, np.asarray(y_true), np.asarray(y_pred), groups, included, n_boot, seed)
        out["ci"] = gap_ci
        for rate, by in rate_ci.items():
            by_group[f"{rate}_ci_low"] = by_group["group"].map(lambda g, by=by: (by.get(g) or [None, None])[0])
            by_group[f"{rate}_ci_high"] = by_group["group"].map(lambda g, by=by: (by.get(g) or [None, None])[1])
    return out


def fairness_checks(result: dict, limits: dict | None = None, evidence=None) -> list[dict]:
    """``model.fairness.<column>.<metric>`` checks, judged on the bootstrap interval of the gap (see the module
    docstring): ``fail`` when even its lower bound exceeds the limit, ``pass`` when its upper bound is within it,
    ``warn`` when the interval straddles the limit; ``skip`` when not computable."""
    from playbook import catalogue

    limits = {**DEFAULT_LIMITS, **(limits or {})}
    col = result["column"]
    base = f"model.fairness.{safe_id(col)}"
    if not result["metrics"]:
        by_group = result["by_group"]
        if "selection_rate" in by_group:
            metric_names = ["demographic_parity_difference", "equalized_odds_difference"]
        elif "accuracy" in by_group:
            metric_names = ["accuracy_difference"]
        else:
            metric_names = ["mae_ratio"]
        return [catalogue.skip(f"{base}.{n}", f"Not computed: {result['reason']}; groups too small to judge: "
                               f"{', '.join(map(str, result['excluded'])) or 'none'}.",
                               title=f"{n.replace('_', ' ').capitalize()} across {col}",
                               threshold={"max": limits[n], "on": "interval"}, evidence=evidence)
                for n in metric_names]
    out = []
    small = (f"; too small to judge (n < min group size): {', '.join(map(str, result['excluded']))}"
             if result["excluded"] else "")
    undefined = (f"; error rates undefined (one class only) in: {', '.join(result['undefined'])}"
                 if result.get("undefined") else "")
    for n, v in result["metrics"].items():
        lim = limits[n]
        ci = (result.get("ci") or {}).get(n)
        ci = ci if ci and None not in ci else None
        probe = catalogue.check(f"{base}.{n}", "pass", v, ci=ci)
        status, _ = catalogue.judge(probe, {"max": lim, "on": "interval"})
        if ci is None:
            status = "pass" if v <= lim else "fail"
        ci_txt = f" (95% CI {ci[0]:.3g} to {ci[1]:.3g})" if ci else ""
        verdict = {"pass": "within the limit", "fail": "exceeds the limit",
                   "warn": "cannot be told from the limit on this data"}[status]
        out.append(catalogue.check(
            f"{base}.{n}", status, v, ci=ci,
            title=(f"{n.replace('_', ' ').capitalize()} across {col}: {v:.3g}{ci_txt} over "
                   f"{len(result['included'])} groups, {verdict}{small}{undefined}"),
            threshold={"max": lim, "on": "interval"}, evidence=evidence, why=WHY[n]))
    return out
