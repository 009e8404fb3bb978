"""Held-out metrics with bootstrap confidence intervals, and the comparison with a dummy baseline.

Everything works on a :class:`Scored` bundle: the true labels, the model's labels at the operating
threshold and its class probabilities, for the rows being evaluated. Metrics come from scikit-learn;
the confidence intervals are percentile bootstrap intervals over rows (seeded, so reproducible).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from playbook.metrics import CHECKED, HIGHER_IS_BETTER, PRIMARY, TITLES, WHY  # noqa: F401 - re-exported

MAPE_MIN_ABS = 1e-9  # MAPE is reported only when every |y| exceeds this


@dataclass
class Scored:
    """The rows under evaluation: truth, labels at the operating threshold, probabilities."""

    task: str
    y: np.ndarray
    pred: np.ndarray | None = None
    proba: np.ndarray | None = None
    classes: list[Any] | None = None
    positive: Any = None
    threshold: float = 0.5
    index: pd.Index | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def is_classification(self) -> bool:
        return self.task in ("binary", "multiclass")

    @property
    def pos_index(self) -> int:
        return [str(c) for c in self.classes].index(str(self.positive))

    def _codes(self, which: str) -> np.ndarray:
        """The position in ``classes`` of each value of ``y`` or ``pred`` (-1: not a class), compared as text,
        computed once per frame (a subset taken with :meth:`take` slices its parent's codes)."""
        cache = self.__dict__.setdefault("_code_cache", {})
        if which not in cache:
            values = self.y if which == "y" else self.pred
            lookup = {str(c): i for i, c in enumerate(self.classes or [])}
            codes, uniques = pd.factorize(pd.Series(np.asarray(values, dtype=object)), use_na_sentinel=False)
            table = np.array([lookup.get(str(u), -1) for u in uniques], dtype=int)
            cache[which] = table[codes] if len(uniques) else np.zeros(0, dtype=int)
        return cache[which]

    @property
    def y_bin(self) -> np.ndarray:
        """Binary: 1 where the truth is the positive label."""
        return (self._codes("y") == self.pos_index).astype(int)

    @property
    def pred_bin(self) -> np.ndarray:
        return (self._codes("pred") == self.pos_index).astype(int)

    @property
    def p_pos(self) -> np.ndarray | None:
        return None if self.proba is None else self.proba[:, self.pos_index]

    def _index(self, which: str) -> np.ndarray:
        codes = self._codes(which)
        if (codes < 0).any():
            values = self.y if which == "y" else self.pred
            raise KeyError(str(np.asarray(values, dtype=object)[np.flatnonzero(codes < 0)[0]]))
        return codes

    @property
    def y_index(self) -> np.ndarray:
        """Classification: the position of each true label in ``classes``."""
        return self._index("y")

    @property
    def pred_index(self) -> np.ndarray:
        return self._index("pred")

    def take(self, rows) -> "Scored":
        """A subset (boolean mask or integer positions), e.g. a slice or a bootstrap resample."""
        rows = np.asarray(rows)
        out = Scored(
            task=self.task, y=self.y[rows], pred=None if self.pred is None else self.pred[rows],
            proba=None if self.proba is None else self.proba[rows], classes=self.classes,
            positive=self.positive, threshold=self.threshold,
            index=None if self.index is None else self.index[rows],
        )
        if self.is_classification:  # the codes of the subset are the parent's, sliced
            parent = self.__dict__.get("_code_cache", {})
            for which in ("y", "pred"):
                if (which == "y" or self.pred is not None) and self.classes:
                    out.__dict__.setdefault("_code_cache", {})[which] = (parent.get(which) if which in parent
                                                                          else self._codes(which))[rows]
        return out


def labels_at_threshold(proba: np.ndarray, classes: list, positive: Any, threshold: float) -> np.ndarray:
    """Binary: the positive label where P(positive) >= threshold, else the other class."""
    pos = [str(c) for c in classes].index(str(positive))
    neg = 1 - pos
    return np.where(proba[:, pos] >= threshold, classes[pos], classes[neg]).astype(object)


def score(adapter, frame: pd.DataFrame, target: str, threshold: float = 0.5) -> Scored:
    """Run the model on ``frame`` (labelled rows) and bundle truth, labels and probabilities.

    Binary with probabilities: labels are the positive class where P(positive) >= ``threshold``, except in
    predictions mode with a prediction column, where the recorded decisions are used as they are.
    """
    y = frame[target].to_numpy()
    task = adapter.task
    s = Scored(task=task, y=y, classes=adapter.classes_, positive=adapter.positive_label,
               threshold=threshold, index=frame.index)
    if task == "regression":
        s.y = pd.to_numeric(frame[target]).to_numpy(dtype=float)
        s.pred = np.asarray(adapter.predict(frame), dtype=float)
        return s
    from playbook.modeling import _map_labels

    s.y = np.asarray(_map_labels(pd.Series(y), adapter.classes_, "target"), dtype=object)
    if adapter.has_proba:
        s.proba = np.clip(np.asarray(adapter.predict_proba(frame), dtype=float), 0.0, 1.0)
    if adapter.mode == "predictions" and adapter.prediction_column:
        s.pred = adapter.predict(frame)
        if task == "binary" and s.proba is not None:
            s.notes.append("labels are the recorded decisions in the prediction column; the threshold parameter is not applied")
    elif task == "binary" and s.proba is not None:
        s.pred = labels_at_threshold(s.proba, adapter.classes_, adapter.positive_label, threshold)
    elif s.proba is not None:
        s.pred = np.asarray(adapter.classes_, dtype=object)[s.proba.argmax(axis=1)]
    else:
        s.pred = adapter.predict(frame)
    return s


# --------------------------------------------------------------------------------------------------
# point metrics
# --------------------------------------------------------------------------------------------------
def _safe(fn: Callable[[], float]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            v = float(fn())
        except ValueError:
            return float("nan")
    return v


def _confusion(y: np.ndarray, yp: np.ndarray) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) of 0/1 labels."""
    t, q = y.astype(bool), yp.astype(bool)
    tp, fp, fn = int(np.sum(t & q)), int(np.sum(~t & q)), int(np.sum(t & ~q))
    return tp, fp, fn, len(t) - tp - fp - fn


def binary_metrics(s: Scored, only: str | None = None) -> dict[str, float]:
    """The binary metrics (``only``: just that one). ROC AUC, average precision and log loss are scikit-learn's;
    the metrics of the confusion matrix are computed from its counts as scikit-learn computes them (the same
    divisions of the same integers, so the same numbers) without its per-call input validation."""
    y = s.y_bin
    out: dict[str, float] = {}
    both = len(np.unique(y)) == 2

    def want(name: str) -> bool:
        return only is None or only == name

    if s.proba is not None:
        p = s.p_pos
        if want("roc_auc"):
            out["roc_auc"] = _safe(lambda: skm.roc_auc_score(y, p)) if both else float("nan")
        if want("pr_auc"):
            out["pr_auc"] = _safe(lambda: skm.average_precision_score(y, p)) if both else float("nan")
        if want("log_loss"):
            out["log_loss"] = _safe(lambda: skm.log_loss(y, p, labels=[0, 1]))
        if want("brier"):
            out["brier"] = float(np.mean((p - y) ** 2))
    if s.pred is not None:
        out.update({k: v for k, v in _label_metrics(y, s.pred_bin, both).items() if want(k)})
    return out


def _label_metrics(y: np.ndarray, yp: np.ndarray, both: bool) -> dict[str, float]:
    """The metrics of the confusion matrix of 0/1 labels, from its counts as scikit-learn computes them (the same
    divisions of the same integers, so the same numbers) without its per-call input validation."""
    tp, fp, fn, tn = _confusion(y, yp)
    return {
        "f1": (2 * tp) / ((tp + fn) + (tp + fp)) if (tp + fn) + (tp + fp) else 0.0,  # 0 when both are 0
        "accuracy": float(np.mean(y == yp)),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": (tp / (tp + fn) if tp + fn else 0.0) if tp + fn else float("nan"),
        # the mean of the two per-class recalls
        "balanced_accuracy": float(np.mean([tn / (tn + fp), tp / (tp + fn)])) if both else float("nan"),
    }


def multiclass_metrics(s: Scored) -> dict[str, float]:
    yi = s.y_index
    k = len(s.classes)
    labels = list(range(k))
    out: dict[str, float] = {}
    present = np.unique(yi)
    if s.proba is not None:
        P = s.proba
        onehot = np.eye(k)[yi]
        if len(present) == k:
            out["roc_auc_macro"] = _safe(lambda: skm.roc_auc_score(yi, P, multi_class="ovr", average="macro", labels=labels))
            out["roc_auc_weighted"] = _safe(lambda: skm.roc_auc_score(yi, P, multi_class="ovr", average="weighted", labels=labels))
            out["pr_auc_macro"] = _safe(lambda: skm.average_precision_score(onehot, P, average="macro"))
        else:
            out["roc_auc_macro"] = out["roc_auc_weighted"] = out["pr_auc_macro"] = float("nan")
        Pn = P / np.clip(P.sum(axis=1, keepdims=True), 1e-12, None)
        out["log_loss"] = _safe(lambda: skm.log_loss(yi, Pn, labels=labels))
        out["brier"] = float(np.mean(np.sum((P - onehot) ** 2, axis=1)))
    if s.pred is not None:
        yp = s.pred_index
        out["accuracy"] = float(np.mean(yi == yp))
        out["f1_macro"] = _safe(lambda: skm.f1_score(yi, yp, average="macro", labels=labels, zero_division=0.0))
        out["f1_weighted"] = _safe(lambda: skm.f1_score(yi, yp, average="weighted", labels=labels, zero_division=0.0))
        out["precision_macro"] = _safe(lambda: skm.precision_score(yi, yp, average="macro", labels=labels, zero_division=0.0))
        out["recall_macro"] = _safe(lambda: skm.recall_score(yi, yp, average="macro", labels=labels, zero_division=0.0))
        out["balanced_accuracy"] = _safe(lambda: skm.balanced_accuracy_score(yi, yp))
    return out


def regression_metrics(s: Scored) -> dict[str, float]:
    y = np.asarray(s.y, dtype=float)
    p = np.asarray(s.pred, dtype=float)
    err = p - y
    out = {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(math.sqrt(np.mean(err ** 2))),
        "median_ae": float(np.median(np.abs(err))),
    }
    var = float(np.sum((y - y.mean()) ** 2))
    out["r2"] = float(1 - np.sum(err ** 2) / var) if var > 0 else float("nan")
    out["mape"] = float(np.mean(np.abs(err) / np.abs(y))) if np.all(np.abs(y) > MAPE_MIN_ABS) else float("nan")
    return out


def single(s: Scored, name: str) -> float:
    """One metric, computed directly for the cheap ones (used inside bootstrap loops)."""
    if name == "brier" and s.proba is not None:
        if s.task == "binary":
            return float(np.mean((s.p_pos - s.y_bin) ** 2))
        return float(np.mean(np.sum((s.proba - np.eye(len(s.classes))[s.y_index]) ** 2, axis=1)))
    if name == "accuracy" and s.pred is not None and s.task != "regression":
        yc, pc = s._codes("y"), s._codes("pred")
        if (yc >= 0).all() and (pc >= 0).all():
            return float(np.mean(yc == pc))
        return float(np.mean(np.array([str(v) for v in s.pred]) == np.array([str(v) for v in s.y])))
    if name == "mae" and s.task == "regression":
        return float(np.mean(np.abs(np.asarray(s.pred, float) - np.asarray(s.y, float))))
    if s.task == "binary":
        return fast_binary_metrics(s.y_bin, s.p_pos, None if s.pred is None else s.pred_bin).get(name, float("nan"))
    return compute(s).get(name, float("nan"))


def compute(s: Scored, only: str | None = None) -> dict[str, float]:
    """All point metrics for the task (NaN where undefined, e.g. ROC AUC with one class present); ``only``: just
    that one where the task computes it on its own (binary), else all of them."""
    if s.task == "binary":
        return binary_metrics(s, only)
    if s.task == "multiclass":
        return multiclass_metrics(s)
    return regression_metrics(s)


# --------------------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------------------
def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``n_boot`` resamples of ``n`` row positions, with replacement (seeded), as one array: for the capped
    frames of the refits; a frame of any size iterates :func:`iter_bootstrap_indices` instead."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n))


#: Row positions one block of resamples may hold at once (int64: 128 MB).
BLOCK_CELLS = 2 ** 24


def bootstrap_blocks(rng: np.random.Generator, n: int, n_boot: int, max_cells: int = BLOCK_CELLS):
    """``rng.integers(0, n, size=(n_boot, n))`` drawn in blocks of whole resamples (the same values, in the same
    order, as the one array), so memory holds at most ``max_cells`` positions whatever the rows."""
    per = max(1, max_cells // max(n, 1))
    if n_boot <= 0:
        yield rng.integers(0, max(n, 1), size=(0, n))
        return
    done = 0
    while done < n_boot:
        b = min(per, n_boot - done)
        yield rng.integers(0, n, size=(b, n))
        done += b


def iter_bootstrap_indices(n: int, n_boot: int, seed: int):
    """The rows of :func:`bootstrap_indices` one resample at a time (the same values): memory for one resample,
    not ``n_boot`` of them (1,000 resamples of a million rows would take 8 GB at once)."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield rng.integers(0, n, size=n)


def fast_binary_metrics(y: np.ndarray, p: np.ndarray | None, yp: np.ndarray | None) -> dict[str, float]:
    """:func:`binary_metrics` of 0/1 truth ``y``, positive-class probabilities ``p`` and 0/1 labels ``yp``, in plain
    numpy: the same definitions as scikit-learn's (trapezoidal ROC AUC and step-wise average precision over the
    distinct scores, log loss with probabilities clipped to the float epsilon, zero_division=0), one sort per call
    and none of the input validation that dominates scikit-learn's time on a bootstrap resample of many rows. The
    tests hold it to scikit-learn's values."""
    y = np.asarray(y, dtype=np.int64)
    n = len(y)
    out: dict[str, float] = {}
    n_pos = int(y.sum())
    n_neg = n - n_pos
    both = n_pos > 0 and n_neg > 0
    if p is not None:
        p = np.asarray(p, dtype=float)
        order = np.argsort(p, kind="mergesort")[::-1]
        ps, ys = p[order], y[order]
        distinct = np.flatnonzero(np.diff(ps))
        last = np.r_[distinct, n - 1]
        tps = np.cumsum(ys)[last].astype(float)
        fps = 1.0 + last - tps
        if both:
            tpr, fpr = np.r_[0.0, tps / tps[-1]], np.r_[0.0, fps / fps[-1]]
            out["roc_auc"] = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
            precision = tps / (tps + fps)
            recall = tps / tps[-1]
            out["pr_auc"] = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
        else:
            out["roc_auc"] = out["pr_auc"] = float("nan")
        eps = np.finfo(p.dtype).eps
        pc = np.clip(p, eps, 1 - eps)
        out["log_loss"] = float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))) if n else float("nan")
        out["brier"] = float(np.mean((p - y) ** 2))
    if yp is not None:
        out.update(_label_metrics(y, np.asarray(yp, dtype=np.int64), both))
    return out


def bootstrap(s: Scored, n_boot: int = 200, seed: int = 0, alpha: float = 0.05,
              fn: Callable[[Scored], dict[str, float]] = compute) -> dict[str, dict]:
    """Point estimate and percentile bootstrap interval for every metric ``fn`` returns.

    Returns ``{metric: {value, ci_low, ci_high, n_boot}}`` where ``n_boot`` counts the resamples on which
    the metric was defined (a resample with a single class has no ROC AUC). The resamples of a binary task's
    :func:`compute` are scored by :func:`fast_binary_metrics` (the same values, without scikit-learn's
    per-call validation).
    """
    point = fn(s)
    draws: dict[str, list[float]] = {k: [] for k in point}
    fast = fn is compute and s.task == "binary"
    if fast:
        yb = s.y_bin
        pp = s.p_pos
        pb = s.pred_bin if s.pred is not None else None
    if n_boot > 0 and len(s) > 1:
        for rows in iter_bootstrap_indices(len(s), n_boot, seed):
            if fast:
                vals = fast_binary_metrics(yb[rows], None if pp is None else pp[rows], None if pb is None else pb[rows])
            else:
                vals = fn(s.take(rows))
            for k in draws:
                draws[k].append(vals.get(k, float("nan")))
    out = {}
    for k, v in point.items():
        arr = np.asarray(draws[k], dtype=float)
        arr = arr[np.isfinite(arr)]
        if len(arr) and np.isfinite(v):
            lo, hi = np.percentile(arr, [100 * alpha / 2, 100 * (1 - alpha / 2)])
        else:
            lo = hi = float("nan")
        out[k] = {"value": v, "ci_low": float(lo), "ci_high": float(hi), "n_boot": int(len(arr))}
    return out


# --------------------------------------------------------------------------------------------------
# the dummy baseline
# --------------------------------------------------------------------------------------------------
def dummy_scored(s: Scored, y_train) -> Scored:
    """What a model without features would say: the training prior as probabilities and the majority
    class as label (classification), the training median (regression)."""
    y_train = pd.Series(y_train).dropna()
    if s.task == "regression":
        med = float(pd.to_numeric(y_train).median())
        return Scored(task=s.task, y=s.y, pred=np.full(len(s), med), index=s.index)
    text = y_train.map(str)
    prior = np.array([(text == str(c)).mean() for c in s.classes], dtype=float)
    proba = np.tile(prior, (len(s), 1))
    majority = s.classes[int(np.argmax(prior))]
    pred = np.array([majority] * len(s), dtype=object)
    return Scored(task=s.task, y=s.y, pred=pred, proba=proba, classes=s.classes, positive=s.positive,
                  threshold=s.threshold, index=s.index)


def comparison_metric(s: Scored) -> str:
    """The metric the dummy comparison uses: Brier score with probabilities (a proper score: it rewards
    both ranking and calibration), accuracy with labels only, MAE for regression."""
    if s.task == "regression":
        return "mae"
    return "brier" if s.proba is not None else "accuracy"


def beats_dummy(s: Scored, y_train, n_boot: int = 200, seed: int = 0, alpha: float = 0.05) -> dict:
    """Paired bootstrap of the model's improvement over the dummy on the comparison metric.

    Returns ``{metric, model, dummy, improvement, ci_low, ci_high, beats, majority_accuracy,
    model_accuracy}``; ``beats`` is True when the whole interval of the improvement is above zero.
    """
    d = dummy_scored(s, y_train)
    metric = comparison_metric(s)
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0

    def one(ms: Scored, ds: Scored) -> tuple[float, float]:
        return single(ms, metric), single(ds, metric)

    m0, d0 = one(s, d)
    diffs = []
    if n_boot > 0:
        for rows in iter_bootstrap_indices(len(s), n_boot, seed):
            mv, dv = one(s.take(rows), d.take(rows))
            diffs.append(sign * (mv - dv))
    arr = np.asarray(diffs, dtype=float)
    arr = arr[np.isfinite(arr)]
    lo, hi = (np.percentile(arr, [100 * alpha / 2, 100 * (1 - alpha / 2)]) if len(arr) else (float("nan"), float("nan")))
    out = {"metric": metric, "model": m0, "dummy": d0, "improvement": sign * (m0 - d0),
           "ci_low": float(lo), "ci_high": float(hi), "beats": bool(np.isfinite(lo) and lo > 0)}
    if s.is_classification and s.pred is not None:
        out["model_accuracy"] = float(np.mean(np.array([str(v) for v in s.pred]) == np.array([str(v) for v in s.y])))
        out["majority_accuracy"] = float(np.mean(np.array([str(v) for v in d.pred]) == np.array([str(v) for v in s.y])))
    return out


# --------------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.3g}"


def metric_checks(results: dict[str, dict], task: str, policy=None,
                  evidence: str | list | None = None, undefined_reason: dict[str, str] | None = None) -> list[dict]:
    """One check per headline metric: ``model.<metric>``, value = point estimate, ``ci`` = its 95% bootstrap CI.

    The status is the gate's judgement (:func:`playbook.catalogue.settle`): a ``min`` / ``max`` gate in force (the
    policy's, or the catalogue's default such as ``model.roc_auc >= 0.7``) is judged on the CI bound it protects;
    without a gate the check is a measurement (``pass``). ``skip`` when the metric is undefined on this data.
    """
    from playbook import catalogue

    out = []
    for name in CHECKED[task]:
        cid = f"model.{name}"
        r = results.get(name)
        title = TITLES.get(name, name)
        why = WHY.get(name, "")
        if r is None or not np.isfinite(r["value"]):
            reason = (undefined_reason or {}).get(name) or (
                "the model gives no probabilities" if r is None else "undefined on this data (e.g. a single class present)")
            out.append(catalogue.skip(cid, f"Not computed: {reason}.", title=title, evidence=evidence,
                                      not_applicable=r is None))
            continue
        ci = [r["ci_low"], r["ci_high"]] if np.isfinite(r["ci_low"]) and np.isfinite(r["ci_high"]) else None
        shown = f"{title}: {_fmt(r['value'])}" + (f" (95% CI {_fmt(r['ci_low'])} to {_fmt(r['ci_high'])})" if ci else "")
        c = catalogue.check(cid, "pass", r["value"], title=shown, evidence=evidence, why=why, ci=ci)
        out.append(catalogue.settle(c, policy))
    return out


def beats_check(res: dict, evidence=None) -> dict:
    from playbook import catalogue

    metric = res["metric"]
    better = "lower" if not HIGHER_IS_BETTER[metric] else "higher"
    title = (f"Beats a model without features on {TITLES.get(metric, metric)} beyond the 95% CI "
             f"(model {_fmt(res['model'])}, dummy {_fmt(res['dummy'])}, improvement {_fmt(res['improvement'])}, "
             f"CI {_fmt(res['ci_low'])} to {_fmt(res['ci_high'])}; {better} is better)")
    ci = [res["ci_low"], res["ci_high"]] if np.isfinite(res["ci_low"]) and np.isfinite(res["ci_high"]) else None
    return catalogue.check(
        "model.beats_baseline", "pass" if res["beats"] else "fail", res["improvement"], title=title, ci=ci,
        threshold={"min": 0.0, "on": "ci"}, evidence=evidence,
        why="A model that cannot beat predicting the base rate (or the majority class, or the median) adds "
            "cost and risk without value: that is a finding, not a success.")
