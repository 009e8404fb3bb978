"""The model-metric vocabulary every step shares: one primary metric per task, which direction is better, titles,
and the metric of one labeled batch.

The evaluation step (:mod:`playbook.evaluate.metrics`, bootstrap CIs), the drift simulation (the metric of each
shifted batch) and the monitoring step all read their metric names, directions and primary metric from here, so a
multiclass model is judged on the same metric everywhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

# which direction is better, and the human name of each metric
HIGHER_IS_BETTER = {
    "roc_auc": True, "pr_auc": True, "log_loss": False, "brier": False, "f1": True, "accuracy": True,
    "precision": True, "recall": True, "balanced_accuracy": True,
    "roc_auc_macro": True, "roc_auc_weighted": True, "pr_auc_macro": True, "f1_macro": True,
    "f1_weighted": True, "precision_macro": True, "recall_macro": True,
    "mae": False, "rmse": False, "r2": True, "mape": False, "median_ae": False,
}
TITLES = {
    "roc_auc": "ROC AUC", "pr_auc": "PR AUC (average precision)", "log_loss": "Log loss", "brier": "Brier score",
    "f1": "F1 at the operating threshold", "accuracy": "Accuracy at the operating threshold",
    "precision": "Precision at the operating threshold", "recall": "Recall at the operating threshold",
    "balanced_accuracy": "Balanced accuracy at the operating threshold",
    "roc_auc_macro": "ROC AUC (one-vs-rest, macro)", "roc_auc_weighted": "ROC AUC (one-vs-rest, weighted)",
    "pr_auc_macro": "PR AUC (one-vs-rest, macro)", "f1_macro": "F1 (macro)", "f1_weighted": "F1 (weighted)",
    "precision_macro": "Precision (macro)", "recall_macro": "Recall (macro)",
    "mae": "Mean absolute error", "rmse": "Root mean squared error", "r2": "R squared",
    "mape": "Mean absolute percentage error", "median_ae": "Median absolute error",
}
WHY = {
    "roc_auc": "How well the model ranks positives above negatives, whatever the threshold; 0.5 is chance.",
    "pr_auc": "Precision averaged over recall levels: the honest ranking metric when positives are rare.",
    "log_loss": "Penalises confident wrong probabilities; what downstream decisions built on the scores pay for.",
    "brier": "Mean squared error of the probabilities: accuracy and calibration of the scores in one number.",
    "f1": "Balance of precision and recall at the threshold the decisions are made with.",
    "accuracy": "Share of correct decisions at the threshold the decisions are made with.",
    "roc_auc_macro": "Ranking quality per class, averaged so that every class counts equally.",
    "roc_auc_weighted": "Ranking quality per class, weighted by how often each class occurs.",
    "f1_macro": "F1 per class averaged equally: a rare class the model ignores shows up here.",
    "f1_weighted": "F1 per class weighted by frequency: the view of the average decision.",
    "mae": "The typical size of an error, in the target's units.",
    "rmse": "Error size with large misses weighted more: what an occasional big miss costs.",
    "r2": "Share of the target's variance the model explains; 0 is no better than predicting the mean.",
    "mape": "Error relative to the true value; defined only when no true value is zero.",
}
PRIMARY = {"binary": "roc_auc", "multiclass": "roc_auc_macro", "regression": "mae"}
CHECKED = {
    "binary": ["roc_auc", "pr_auc", "log_loss", "brier", "f1", "accuracy"],
    "multiclass": ["roc_auc_macro", "roc_auc_weighted", "log_loss", "brier", "f1_macro", "f1_weighted", "accuracy"],
    "regression": ["mae", "rmse", "r2", "mape"],
}
LOWER_IS_BETTER = {m for m, higher in HIGHER_IS_BETTER.items() if not higher}


def primary(task: str) -> str:
    """The primary metric of a task (what the drift, robustness and slice analyses track)."""
    return PRIMARY.get(task, "accuracy")


def worse(metric: str, value: float, bound: float) -> bool:
    """``value`` is worse than ``bound`` for this metric."""
    return value > bound if metric in LOWER_IS_BETTER else value < bound


def metric_value(metric: str, y_true, y_pred=None, y_score=None, classes=None) -> float | None:
    """A performance metric of one labeled batch; None when it is undefined (e.g. one class only).

    ``y_score``: binary, the positive-class probability (``y_true`` as 0/1); multiclass ``roc_auc_macro``, the
    probability matrix with columns in ``classes`` order (``y_true`` as labels).
    """
    from sklearn import metrics as skm

    y_true = np.asarray(y_true)
    try:
        if metric == "roc_auc":
            if y_score is None or len(np.unique(y_true)) < 2:
                return None
            return roc_auc(y_true, y_score)
        if metric == "roc_auc_macro":
            if y_score is None or classes is None:
                return None
            lookup = {str(c): i for i, c in enumerate(classes)}
            yi = np.array([lookup.get(str(v), -1) for v in y_true])
            ok = yi >= 0
            if len(np.unique(yi[ok])) < len(classes):
                return None
            P = np.asarray(y_score, dtype=float)[ok]
            P = P / np.clip(P.sum(axis=1, keepdims=True), 1e-12, None)
            return float(skm.roc_auc_score(yi[ok], P, multi_class="ovr", average="macro",
                                           labels=list(range(len(classes)))))
        if metric == "accuracy":
            return float(skm.accuracy_score(y_true, y_pred))
        if metric == "f1_macro":
            return float(skm.f1_score(y_true, y_pred, average="macro"))
        if metric == "mae":
            return float(skm.mean_absolute_error(y_true, y_pred))
        if metric == "rmse":
            return float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
        if metric == "r2":
            return float(skm.r2_score(y_true, y_pred))
    except ValueError:
        return None
    raise ValueError(f"unknown metric {metric!r}; use roc_auc, roc_auc_macro, accuracy, f1_macro, mae, rmse or r2")


def roc_auc(y_true, y_score) -> float:
    """Binary ROC AUC (labels 0/1) as the Mann-Whitney statistic with average ranks for ties:
    the value of ``sklearn.metrics.roc_auc_score`` without its per-call overhead."""
    y = np.asarray(y_true).astype(bool)
    ranks = stats.rankdata(np.asarray(y_score, dtype=float))
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        raise ValueError("ROC AUC needs both classes")
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def roc_auc_macro_present(y_true, y_score, classes) -> float | None:
    """Macro one-vs-rest ROC AUC over the classes that occur in ``y_true`` (at least two; else None).

    ``y_score`` is the probability matrix with columns in ``classes`` order; rows whose label is not one of
    ``classes`` are ignored. When every class occurs this is ``metric_value("roc_auc_macro", ...)``; unlike it, it
    stays defined on a batch that lacks a class (a small batch, or a fault that relabels rows), which is what the
    drift simulation needs to compare a shifted batch with the same batch before the shift.
    """
    lookup = {str(c): i for i, c in enumerate(classes)}
    yi = pd.Series(np.asarray(y_true, dtype=object)).map(lambda v: lookup.get(str(v), -1)).to_numpy(dtype=int)
    ok = yi >= 0
    yi = yi[ok]
    P = np.asarray(y_score, dtype=float)[ok]
    P = P / np.clip(P.sum(axis=1, keepdims=True), 1e-12, None)
    present = np.unique(yi)
    if len(present) < 2:
        return None
    return float(np.mean([roc_auc(yi == k, P[:, k]) for k in present]))


def relative_drop(metric: str, baseline: float | None, value: float | None) -> float | None:
    """How much worse ``value`` is than ``baseline``, as a share of the baseline (positive = worse)."""
    if baseline is None or value is None or baseline == 0:
        return None
    if metric in LOWER_IS_BETTER:
        return (value - baseline) / abs(baseline)
    return (baseline - value) / abs(baseline)


__all__ = ["CHECKED", "HIGHER_IS_BETTER", "LOWER_IS_BETTER", "PRIMARY", "TITLES", "WHY", "metric_value", "primary",
           "relative_drop", "roc_auc", "roc_auc_macro_present", "worse"]
