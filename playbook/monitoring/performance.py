"""Label-free performance estimation (confidence-based, as in NannyML's CBPE) and realized metrics.

Production labels arrive late (a loan defaults months after the decision). Until then, a classifier's
own probabilities say what accuracy and ROC AUC to expect on a batch, **provided they are calibrated**:
if among the rows scored 0.8 four in five really are positive, then the expected number of true
positives above any threshold is the sum of the calibrated probabilities above it. So:

1. fit a calibrator (Platt sigmoid, or isotonic regression for larger samples) that maps the model's
   score to the observed positive rate, on labeled data the model did not train on;
2. on an unlabeled batch, the expected confusion matrix at every threshold follows from the calibrated
   probabilities, hence the expected accuracy and the expected ROC curve and its area;
3. once labels come, compare the estimate with the realized metric: the difference is the estimation
   error, the figure that says how far the estimate can be trusted.

The estimate is only as good as the calibration: it cannot see *concept* drift (the same inputs now
meaning a different outcome), only changes in the inputs the model sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CALIBRATION_METHODS = ("auto", "sigmoid", "isotonic")
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    """Maps a binary classifier's positive-class score to a calibrated probability."""

    method: str
    a: float = 1.0
    b: float = 0.0
    x: list[float] | None = None
    y: list[float] | None = None
    rows: int = 0

    def __call__(self, scores) -> np.ndarray:
        s = np.asarray(scores, dtype=float)
        if self.method == "sigmoid":
            return 1.0 / (1.0 + np.exp(-(self.a * _logit(s) + self.b)))
        if self.method == "isotonic":
            return np.interp(s, np.asarray(self.x), np.asarray(self.y))
        if self.method == "identity":
            return np.clip(s, 0.0, 1.0)
        raise ValueError(f"calibrator method {self.method!r} is not sigmoid, isotonic or identity.")

    def to_dict(self) -> dict:
        d = {"method": self.method, "rows": self.rows}
        if self.method == "sigmoid":
            d.update(a=float(self.a), b=float(self.b))
        elif self.method == "isotonic":
            d.update(x=[float(v) for v in self.x or []], y=[float(v) for v in self.y or []])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Calibrator":
        method = d.get("method")
        if method == "sigmoid":
            return cls("sigmoid", a=float(d["a"]), b=float(d["b"]), rows=int(d.get("rows", 0)))
        if method == "isotonic":
            x, y = list(map(float, d["x"])), list(map(float, d["y"]))
            if len(x) != len(y) or not x:
                raise ValueError("performance.calibrator: isotonic x and y must be non-empty and of equal length.")
            return cls("isotonic", x=x, y=y, rows=int(d.get("rows", 0)))
        if method == "identity":
            return cls("identity", rows=int(d.get("rows", 0)))
        raise ValueError(f"performance.calibrator.method {method!r} must be sigmoid, isotonic or identity.")


def fit_calibrator(scores, labels, method: str = "auto") -> Calibrator:
    """Fit a calibrator on out-of-sample scores and 0/1 labels.

    ``auto`` uses Platt scaling (a logistic regression on the score's logit: two parameters, stable on a
    few hundred rows) below 1000 rows and isotonic regression (no shape assumption) above.
    """
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=float)
    keep = np.isfinite(s) & np.isfinite(y)
    s, y = s[keep], y[keep]
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method {method!r} must be one of {', '.join(CALIBRATION_METHODS)}.")
    if len(s) < 10 or len(np.unique(y)) < 2:
        return Calibrator("identity", rows=int(len(s)))
    if method == "auto":
        method = "sigmoid" if len(s) < 1000 else "isotonic"
    if method == "sigmoid":
        lr = LogisticRegression(C=1e6, max_iter=1000)
        lr.fit(_logit(s).reshape(-1, 1), y.astype(int))
        return Calibrator("sigmoid", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]), rows=int(len(s)))
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(s, y)
    return Calibrator("isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist(), rows=int(len(s)))


def expected_roc_auc(q) -> np.ndarray:
    """Expected ROC AUC of a batch from calibrated probabilities ``q`` (last axis = rows).

    Ranking rows by ``q`` from high to low, the expected true / false positives above each cut are the
    running sums of ``q`` and ``1 - q``; the area under that expected ROC curve is the estimate.
    Vectorised over leading axes (one estimate per bootstrap batch).
    """
    q = np.asarray(q, dtype=float)
    qs = -np.sort(-q, axis=-1)
    tp = np.cumsum(qs, axis=-1)
    fp = np.cumsum(1.0 - qs, axis=-1)
    pos = tp[..., -1:]
    neg = fp[..., -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tp / pos
        fpr = fp / neg
    zeros = np.zeros(q.shape[:-1] + (1,))
    tpr = np.concatenate([zeros, tpr], axis=-1)
    fpr = np.concatenate([zeros, fpr], axis=-1)
    auc = np.sum((fpr[..., 1:] - fpr[..., :-1]) * (tpr[..., 1:] + tpr[..., :-1]) / 2.0, axis=-1)
    return np.where((pos[..., 0] > 0) & (neg[..., 0] > 0), auc, np.nan)


def expected_accuracy(q, predicted_positive) -> np.ndarray:
    """Expected accuracy: a row predicted positive is right with probability q, else 1 - q."""
    q = np.asarray(q, dtype=float)
    d = np.asarray(predicted_positive, dtype=bool)
    return np.mean(np.where(d, q, 1.0 - q), axis=-1)


def realized_roc_auc(y, scores) -> float:
    """ROC AUC from labels (0/1) and scores; NaN when the batch has a single class."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=float)
    s = np.asarray(scores, dtype=float)
    keep = np.isfinite(y) & np.isfinite(s)
    y, s = y[keep], s[keep]
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, s))


def realized_accuracy(y, predicted_positive) -> float:
    y = np.asarray(y, dtype=float)
    d = np.asarray(predicted_positive, dtype=float)
    keep = np.isfinite(y)
    if not keep.any():
        return float("nan")
    return float(np.mean(y[keep] == d[keep]))


def batch_roc_auc(y, scores) -> np.ndarray:
    """Realized ROC AUC of many batches at once (rows of ``y`` and ``scores``); NaN for one-class batches.

    Mann-Whitney form with average ranks for ties, vectorised over the leading axis.
    """
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=float)
    s = np.asarray(scores, dtype=float)
    ranks = rankdata(s, axis=-1)
    n_pos = y.sum(axis=-1)
    n_neg = y.shape[-1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * y).sum(axis=-1) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def estimate(calibrator: Calibrator, scores, decision_threshold: float = 0.5) -> dict:
    """Label-free estimates for one batch of positive-class scores."""
    s = np.asarray(scores, dtype=float)
    s = s[np.isfinite(s)]
    if len(s) == 0:
        return {"roc_auc": None, "accuracy": None, "rows": 0}
    q = calibrator(s)
    return {
        "roc_auc": float(expected_roc_auc(q)),
        "accuracy": float(expected_accuracy(q, s >= decision_threshold)),
        "positive_rate": float(np.mean(q)),
        "rows": int(len(s)),
    }


def realized(y, scores, decision_threshold: float = 0.5) -> dict:
    """Realized metrics for one labeled batch (``y`` 0/1)."""
    y = np.asarray(y, dtype=float)
    s = np.asarray(scores, dtype=float)
    return {
        "roc_auc": realized_roc_auc(y, s),
        "accuracy": realized_accuracy(y, s >= decision_threshold),
        "positive_rate": float(np.nanmean(y)) if len(y) else None,
        "rows": int(np.isfinite(y).sum()),
    }


def estimation_error(estimates: list[dict], actuals: list[dict], metric: str = "roc_auc") -> dict:
    """Mean absolute and mean signed error (estimate - realized) of a metric over batches."""
    pairs = [(e.get(metric), a.get(metric)) for e, a in zip(estimates, actuals)]
    diffs = np.array([e - a for e, a in pairs if e is not None and a is not None
                      and np.isfinite(e) and np.isfinite(a)], dtype=float)
    if len(diffs) == 0:
        return {"metric": metric, "batches": 0, "mae": None, "bias": None, "max_abs": None}
    return {"metric": metric, "batches": int(len(diffs)), "mae": float(np.mean(np.abs(diffs))),
            "bias": float(np.mean(diffs)), "max_abs": float(np.max(np.abs(diffs)))}
