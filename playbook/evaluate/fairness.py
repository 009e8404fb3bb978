"""Fairness across sensitive groups, with fairlearn.

For each sensitive column (``data.sensitive``; numeric columns such as age are cut into quantile bands),
fairlearn's :class:`~fairlearn.metrics.MetricFrame` gives per-group selection rate, true and false
positive rates and accuracy (binary). The disparity metrics are fairlearn's
``demographic_parity_difference`` (largest gap in selection rate) and ``equalized_odds_difference``
(largest gap in TPR or FPR). Groups smaller than ``min_group_size`` are listed with their numbers but
left out of the disparity metrics: a gap measured on a handful of people is noise. Multiclass: the gap in
accuracy; regression: the ratio of the largest to the smallest group MAE.
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


def fairness(frame: pd.DataFrame, s: Scored, column: str, numeric: bool, *, min_group_size: int = 30,
             n_bins: int = 4) -> dict:
    """``{column, by_group (DataFrame), metrics {name: value}, included, excluded, reason}``."""
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
    out = {"column": column, "by_group": by_group, "metrics": {}, "included": included, "excluded": excluded,
           "reason": None}
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
    return out


def fairness_checks(result: dict, limits: dict | None = None, evidence=None) -> list[dict]:
    """``model.fairness.<column>.<metric>`` checks: fail above the limit, skip when not computable."""
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
        return [catalogue.skip(f"{base}.{n}", f"Not computed: {result['reason']}.",
                               title=f"{n.replace('_', ' ').capitalize()} across {col}",
                               threshold={"max": limits[n]}, evidence=evidence) for n in metric_names]
    out = []
    small = f"; {len(result['excluded'])} small group(s) listed but not compared" if result["excluded"] else ""
    for n, v in result["metrics"].items():
        lim = limits[n]
        out.append(catalogue.check(
            f"{base}.{n}", "pass" if v <= lim else "fail", v,
            title=f"{n.replace('_', ' ').capitalize()} across {col}: {v:.3g} over {len(result['included'])} groups{small}",
            threshold={"max": lim}, evidence=evidence, why=WHY[n]))
    return out
