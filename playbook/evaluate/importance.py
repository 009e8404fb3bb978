"""Explainability: permutation importance with its spread (scikit-learn).

Each feature is shuffled ``n_repeats`` times on the evaluation rows and the drop in the primary metric
recorded: the mean is the importance, the standard deviation its spread. A feature whose importance is
within ``near_zero`` of zero contributes nothing measurable (a candidate to drop, or a sign that a
pipeline step discards it); one feature holding most of the total importance deserves a leakage review.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from playbook.evaluate.metrics import HIGHER_IS_BETTER, Scored, compute


class _Scoring:
    """Adapts a :class:`playbook.modeling.ModelAdapter` to scikit-learn's estimator/scorer protocol."""

    def __init__(self, adapter, metric: str, template: Scored):
        self.adapter = adapter
        self.metric = metric
        self.template = template

    def fit(self, X, y=None):  # pragma: no cover - never called, present for the protocol
        return self

    def __call__(self, estimator, X, y) -> float:
        t = self.template
        s = Scored(task=t.task, y=np.asarray(y), classes=t.classes, positive=t.positive, threshold=t.threshold)
        if t.task == "regression":
            s.pred = np.asarray(self.adapter.predict(X), dtype=float)
        else:
            if self.adapter.has_proba:
                s.proba = np.asarray(self.adapter.predict_proba(X), dtype=float)
                if t.task == "binary":
                    from playbook.evaluate.metrics import labels_at_threshold

                    s.pred = labels_at_threshold(s.proba, t.classes, t.positive, t.threshold)
                else:
                    s.pred = np.asarray(t.classes, dtype=object)[s.proba.argmax(axis=1)]
            else:
                s.pred = self.adapter.predict(X)
        v = compute(s, only=self.metric)[self.metric]
        return v if HIGHER_IS_BETTER[self.metric] else -v


def _permutation_importance(scorer, X, y, n_repeats: int, seed: int):
    """scikit-learn's permutation importance, its features shuffled by two worker processes when there is a second
    core (joblib's fork-based backend; each feature is shuffled with the same seeds either way: the same result)."""
    import joblib

    from playbook.parallel import release_helpers, workers

    if workers() < 2 or X.shape[1] < 2:
        return permutation_importance(scorer, X, y, scoring=scorer, n_repeats=n_repeats, random_state=seed)
    try:
        with joblib.parallel_config(backend="multiprocessing", n_jobs=2):
            return permutation_importance(scorer, X, y, scoring=scorer, n_repeats=n_repeats, random_state=seed)
    finally:
        release_helpers()  # the pool's resource tracker would hold the kernel ~5 s at its shutdown


def importance_metric_for(s: Scored) -> str:
    if s.task == "regression":
        return "mae"
    if s.task == "binary" and s.proba is not None:
        return "roc_auc"
    if s.proba is not None:
        return "log_loss"
    return "accuracy"


def permutation(adapter, frame: pd.DataFrame, s: Scored, *, n_repeats: int = 5, seed: int = 0,
                max_rows: int = 2000, near_zero: float = 0.001) -> pd.DataFrame:
    """One row per feature: ``feature, importance_mean, importance_std, metric, near_zero, share`` sorted by
    importance. ``share`` is the feature's part of the total positive importance."""
    metric = importance_metric_for(s)
    X = frame.loc[s.index, adapter.features] if s.index is not None else frame[adapter.features]
    y = s.y
    if len(X) > max_rows:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(X), size=max_rows, replace=False))
        X, y = X.iloc[keep], y[keep]
    scorer = _Scoring(adapter, metric, s)
    res = _permutation_importance(scorer, X, y, n_repeats, seed)
    table = pd.DataFrame({"feature": list(X.columns), "importance_mean": res.importances_mean,
                          "importance_std": res.importances_std})
    table["metric"] = metric
    table["near_zero"] = table["importance_mean"].abs() <= near_zero
    pos = table["importance_mean"].clip(lower=0)
    total = float(pos.sum())
    table["share"] = pos / total if total > 0 else 0.0
    return table.sort_values(["importance_mean", "feature"], ascending=[False, True]).reset_index(drop=True)


def importance_checks(table: pd.DataFrame, near_zero: float, max_share: float = 0.5, evidence=None) -> list[dict]:
    from playbook import catalogue

    flagged = table.loc[table["near_zero"], "feature"].tolist()
    metric = table["metric"].iloc[0] if len(table) else ""
    checks = [catalogue.check(
        "model.importance.near_zero", "warn" if flagged else "pass", len(flagged),
        title=(f"{len(flagged)} of {len(table)} features have permutation importance within {near_zero:g} of zero "
               f"({metric})" + (f": {', '.join(map(str, flagged[:8]))}{' ...' if len(flagged) > 8 else ''}" if flagged else "")),
        threshold={"max": 0}, evidence=evidence,
        why="Features the model does not use still cost collection, validation and privacy exposure, and can "
            "break serving when they drift or go missing; drop them or find out why they are ignored.")]
    if len(table):
        top = table.iloc[0]
        share = float(top["share"])
        checks.append(catalogue.check(
            "model.importance.dominant_feature", "warn" if share > max_share else "pass", share,
            title=f"Top feature {top['feature']} holds {share:.0%} of the total permutation importance",
            threshold={"max": max_share}, evidence=evidence,
            why="A single feature carrying the model is a leakage suspect (is it known at decision time?) and a "
                "single point of failure when that feature drifts."))
    return checks
