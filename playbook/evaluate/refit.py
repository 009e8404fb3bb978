"""Training the model again, for the sections that need to: feature cost (leave one feature out), training
reproducibility, the model-spec tests, hyper-parameter tuning and staleness.

A model can be trained here when it is the baseline (:func:`playbook.modeling.fit_baseline`) or a scikit-learn
estimator from a model file that :func:`sklearn.base.clone` copies unfitted (:func:`playbook.modeling.refittable`):
the clone keeps every hyper-parameter of the file's model and is fitted on the rows given. :class:`Trainer` hides the
difference and returns, for every fit, a :class:`~playbook.modeling.ModelAdapter`, so that a refitted model is
validated and scored exactly like the model under review.

Seeds: ``seed=None`` trains the procedure as it is configured (the baseline with the pack seed; a model file's clone
with its own ``random_state`` values, unseeded if the file's model is); an integer seed sets the baseline's seed, or
every ``*random_state`` parameter of the clone.

Rows (:func:`trainer`): the baseline is refitted on the rows it was fitted on, a model file's clone on the labelled
reference; refits are evaluated on the evaluation rows when those are held out (the labelled current data, or the
baseline's 30% holdout). When a model file is evaluated on the reference itself, a seeded 30% of the reference is
held out for the refits instead. Training and evaluation rows are each capped at ``max_rows`` (a seeded, stratified
sample for classification) to bound the time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from playbook.evaluate.metrics import HIGHER_IS_BETTER, PRIMARY, Scored, bootstrap_indices, score
from playbook.modeling import ModelAdapter, baseline_training_frame, fit_baseline, labelled, refittable, single_thread


@dataclass
class Fitted:
    """One training run: the adapter that scores with it, the fitted estimator, the wall-clock fit time and how
    features left out were removed (``dropped`` from the frame, or replaced by a ``constant``)."""

    adapter: ModelAdapter
    estimator: Any
    seconds: float
    method: str = "full"


class _Constant:
    """Scores with a fitted estimator after replacing some columns by constants (a feature left out of a model whose
    preprocessing names every column: the column stays, its information does not)."""

    def __init__(self, estimator, constants: dict):
        self.estimator = estimator
        self.constants = dict(constants)
        if hasattr(estimator, "classes_"):
            self.classes_ = estimator.classes_

    def _fill(self, X):
        X = X.copy()
        for c, v in self.constants.items():
            X[c] = v
        return X

    def predict(self, X):
        return self.estimator.predict(self._fill(X))

    def __getattr__(self, name):
        if name == "predict_proba" and hasattr(self.__dict__.get("estimator"), "predict_proba"):
            return lambda X: self.estimator.predict_proba(self._fill(X))
        raise AttributeError(name)


@dataclass
class Trainer:
    """The training procedure of the model under review, and the rows to refit and evaluate it on."""

    adapter: ModelAdapter
    target: str
    train: pd.DataFrame
    test: pd.DataFrame
    seed: int
    where: str

    @property
    def task(self) -> str:
        return self.adapter.task

    @property
    def features(self) -> list[str]:
        return list(self.adapter.features)

    @property
    def is_baseline(self) -> bool:
        return self.adapter.mode == "baseline"

    def seed_parameters(self) -> list[str]:
        """The parameters a seed sets (the baseline's ``random_state``; every ``*random_state`` of a clone)."""
        if self.is_baseline:
            return ["random_state"]
        params = self.adapter.estimator.get_params(deep=True)
        return sorted(k for k in params if k == "random_state" or k.endswith("__random_state"))

    def _clone(self, seed: int | None, params: dict | None):
        from sklearn.base import clone

        est = clone(self.adapter.estimator)
        if seed is not None:
            keys = self.seed_parameters()
            if keys:
                est.set_params(**{k: int(seed) for k in keys})
        if params:
            est.set_params(**params)
        return est

    def fit(self, rows: pd.DataFrame | None = None, *, seed: int | None = None, features: list[str] | None = None,
            params: dict | None = None) -> Fitted:
        """Train on ``rows`` (default: the training rows) with the features given (default: all of the model's).

        Features left out are dropped from the frame; when a model file's clone cannot be fitted without them (its
        preprocessing names them), they are replaced by their training median / most frequent value instead.
        """
        rows = self.train if rows is None else rows
        rows = rows.loc[rows[self.target].notna()]
        feats = list(features) if features is not None else self.features
        keep = [c for c in self.adapter.features if c in feats]
        y = rows[self.target]
        a = self.adapter
        sub = dict(features=keep, numeric=[c for c in a.numeric if c in keep],
                   categorical=[c for c in a.categorical if c in keep],
                   categories={c: v for c, v in a.categories.items() if c in keep},
                   info={k: v for k, v in a.info.items() if k not in ("bytes", "sha256", "path")})
        t0 = time.perf_counter()
        if self.is_baseline:
            hyper = {**baseline_params(a.estimator), **(params or {})}
            est = fit_baseline(rows[keep], y, self.task, self.seed if seed is None else int(seed), params=hyper,
                               hashed=[c for c in a.hashed if c in keep])
            return Fitted(replace(a, estimator=est, **sub), est, time.perf_counter() - t0,
                          "full" if len(keep) == len(a.features) else "dropped")
        Xp = a.prepare(rows)
        if len(keep) == len(a.features):
            est = self._clone(seed, params)
            with single_thread():
                est.fit(Xp, y)
            return Fitted(replace(a, estimator=est, info=sub["info"]), est, time.perf_counter() - t0, "full")
        est = self._clone(seed, params)
        try:
            with single_thread():
                est.fit(Xp[keep], y)
            return Fitted(replace(a, estimator=est, **sub), est, time.perf_counter() - t0, "dropped")
        except Exception:  # noqa: BLE001 - a preprocessing that names every column: fall back to constants
            pass
        constants = {c: constant_of(Xp[c]) for c in a.features if c not in keep}
        t0 = time.perf_counter()
        est = self._clone(seed, params)
        filled = Xp.copy()
        for c, v in constants.items():
            filled[c] = v
        with single_thread():
            est.fit(filled, y)
        return Fitted(replace(a, estimator=_Constant(est, constants), info=sub["info"]), est,
                      time.perf_counter() - t0, "constant")


def baseline_params(pipeline) -> dict:
    """The hyper-parameters of a fitted baseline's gradient boosting step (without the ones :func:`fit_baseline`
    derives from the data and the seed); empty when there is no fitted baseline."""
    est = pipeline[-1] if pipeline is not None and hasattr(pipeline, "steps") else None
    if est is None:
        return {}
    return {k: v for k, v in est.get_params(deep=False).items() if k not in ("categorical_features", "random_state")}


def constant_of(s: pd.Series):
    """The value that carries no information about a column: its median (numbers) or most frequent value."""
    vals = s.dropna()
    if not len(vals):
        return np.nan
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return float(np.median(vals.to_numpy(dtype=float)))
    counts = vals.astype(str).value_counts()
    top = sorted(counts[counts == counts.max()].index)[0]
    return vals[vals.astype(str) == top].iloc[0]


def cap(df: pd.DataFrame, n: int, seed: int, target: str | None = None, classification: bool = False) -> pd.DataFrame:
    """At most ``n`` rows of ``df`` (a seeded sample, stratified by the target for classification), in their order."""
    if n is None or len(df) <= n:
        return df
    positions = np.arange(len(df))
    if classification and target is not None:
        y = df[target].astype(str).to_numpy()
        _, counts = np.unique(y, return_counts=True)
        if counts.min() >= 2 and n >= len(counts):
            from sklearn.model_selection import train_test_split

            keep, _ = train_test_split(positions, train_size=int(n), stratify=y, random_state=seed)
            return df.iloc[np.sort(keep)]
    rng = np.random.default_rng(seed)
    return df.iloc[np.sort(rng.choice(positions, size=int(n), replace=False))]


def why_not(adapter: ModelAdapter) -> str | None:
    """Why the model cannot be trained again here (None when it can)."""
    if adapter.mode == "predictions":
        return "predictions mode: the model was trained elsewhere and only its outputs are in the data"
    if adapter.mode == "endpoint":
        return "the model is behind model.endpoint: it scores rows over HTTP, and its training procedure is not here"
    if not refittable(adapter):
        return (f"the model file's {type(adapter.estimator).__name__} is not a scikit-learn estimator that "
                "sklearn.base.clone can copy, so its training procedure cannot be run here")
    return None


def trainer(ctx, ev, max_rows: int = 5000) -> Trainer | None:
    """The :class:`Trainer` of the model under review (``ev`` from :func:`playbook.evaluate.setup`), or None when it
    cannot be trained again here (see :func:`why_not`)."""
    a = ev.adapter
    if why_not(a) is not None:
        return None
    target = ctx.target
    cls = a.task != "regression"
    if a.mode == "baseline":
        train, where_train = baseline_training_frame(ctx)
        test, where_test = ev.frame, ev.evaluated_on
    elif ev.evaluated_on == "reference":
        ref = labelled(ctx.reference, target)
        rng = np.random.default_rng(ctx.seed)
        idx = rng.permutation(len(ref))
        cut = int(round(0.7 * len(ref)))
        train, test = ref.iloc[np.sort(idx[:cut])], ref.iloc[np.sort(idx[cut:])]
        where_train, where_test = "reference_70pct", "reference_holdout_30pct"
    else:
        train, where_train = labelled(ctx.reference, target), "reference"
        test, where_test = ev.frame, ev.evaluated_on
    from playbook.modeling import _finite_rows

    # rows holding +/- infinity are refused by the model (and reported by the audit): never trained or scored on
    train, test = _finite_rows(train, ctx.roles.numeric), _finite_rows(test, ctx.roles.numeric)
    n_train, n_test = len(train), len(test)
    train = cap(train, max_rows, ctx.seed, target, cls)
    test = cap(test, max_rows, ctx.seed + 1, target, cls)
    where = (f"trained on {len(train)} rows of the {where_train.replace('_', ' ')}"
             + (f" (a seeded sample of {n_train})" if len(train) < n_train else "")
             + f", evaluated on {len(test)} rows of the {where_test.replace('_', ' ')}"
             + (f" (a seeded sample of {n_test})" if len(test) < n_test else ""))
    return Trainer(adapter=a, target=target, train=train, test=test, seed=int(ctx.seed), where=where)


# -- the primary metric, fast enough for bootstrap loops ----------------------------------------------------------
def primary_metric(adapter: ModelAdapter) -> str:
    """The task's primary metric (:data:`playbook.metrics.PRIMARY`); accuracy for a classifier without
    probabilities."""
    if adapter.task != "regression" and not adapter.has_proba:
        return "accuracy"
    return PRIMARY[adapter.task]


class MetricOn:
    """One metric of a :class:`Scored` bundle on any subset of its rows (``m(rows)``; ``m()`` on all rows)."""

    def __init__(self, metric: str, s: Scored):
        self.metric = metric
        self.n = len(s)
        if metric == "roc_auc":
            self.y, self.p = s.y_bin, s.p_pos
        elif metric == "roc_auc_macro":
            self.s = s
        elif metric == "accuracy":
            self.hit = np.array([str(p) == str(y) for p, y in zip(s.pred, s.y)], dtype=float)
        elif metric == "mae":
            self.err = np.abs(np.asarray(s.pred, dtype=float) - np.asarray(s.y, dtype=float))
        else:
            raise ValueError(f"metric {metric!r} is not a primary metric (roc_auc, roc_auc_macro, accuracy, mae)")

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER[self.metric]

    def __call__(self, rows=None) -> float:
        from playbook import metrics as vocab

        rows = slice(None) if rows is None else rows
        if self.metric == "roc_auc":
            try:
                return vocab.roc_auc(self.y[rows], self.p[rows])
            except ValueError:
                return float("nan")
        if self.metric == "roc_auc_macro":
            s = self.s
            v = vocab.metric_value("roc_auc_macro", s.y[rows], y_score=s.proba[rows], classes=s.classes)
            return float("nan") if v is None else float(v)
        if self.metric == "accuracy":
            return float(np.mean(self.hit[rows]))
        return float(np.mean(self.err[rows]))

    def values(self, indices: np.ndarray) -> np.ndarray:
        """``[self(r) for r in indices]`` (one resample of row positions per row of ``indices``), computed for all
        resamples at once where the metric allows it: ROC AUC from average ranks (half-integers, whose sums are
        exact in any order, so the values are those of the loop), accuracy and MAE as row means. The result of the
        last call is kept (the same resamples score every model of a comparison against the same reference)."""
        idx = np.asarray(indices)
        cached = self.__dict__.get("_values")
        if cached is not None and cached[0] is indices:
            return cached[1]
        if idx.ndim != 2 or not len(idx):
            out = np.array([self(r) for r in idx], dtype=float)
        elif self.metric == "roc_auc":
            from scipy import stats

            y = np.asarray(self.y)[idx].astype(bool)
            ranks = stats.rankdata(np.asarray(self.p, dtype=float)[idx], axis=1)
            n1 = y.sum(axis=1)
            n0 = idx.shape[1] - n1
            with np.errstate(invalid="ignore", divide="ignore"):
                out = ((ranks * y).sum(axis=1) - n1 * (n1 + 1) / 2.0) / (n1 * n0)
            out = np.where((n1 == 0) | (n0 == 0), np.nan, out).astype(float)
        elif self.metric == "accuracy":
            out = np.mean(self.hit[idx], axis=1)
        elif self.metric == "mae":
            out = np.mean(self.err[idx], axis=1)
        else:
            out = np.array([self(r) for r in idx], dtype=float)
        self.__dict__["_values"] = (indices, out)
        return out


def better_by(metric: str, a: float, b: float) -> float:
    """How much better ``a`` is than ``b`` on this metric (positive = ``a`` is better)."""
    return (a - b) if HIGHER_IS_BETTER[metric] else (b - a)


def paired_difference(a: MetricOn, b: MetricOn, n_boot: int, seed: int, alpha: float = 0.05,
                      indices: np.ndarray | None = None) -> dict:
    """How much better ``a`` is than ``b`` on the same rows, with a paired percentile bootstrap interval (the same
    resampled rows for both): ``{value, ci_low, ci_high, n_boot}``."""
    point = better_by(a.metric, a(), b())
    idx = bootstrap_indices(a.n, n_boot, seed) if indices is None else indices
    draws = np.asarray(better_by(a.metric, a.values(idx), b.values(idx)), dtype=float) if len(idx) else np.array([])
    draws = draws[np.isfinite(draws)]
    if len(draws) and np.isfinite(point):
        lo, hi = np.percentile(draws, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    else:
        lo = hi = float("nan")
    return {"value": float(point), "ci_low": float(lo), "ci_high": float(hi), "n_boot": int(len(draws))}


def scored(fitted: Fitted | ModelAdapter, frame: pd.DataFrame, target: str, threshold: float = 0.5) -> Scored:
    """Score a refit on labelled rows."""
    adapter = fitted.adapter if isinstance(fitted, Fitted) else fitted
    return score(adapter, frame, target, threshold)


def outputs(adapter: ModelAdapter, X: pd.DataFrame) -> np.ndarray:
    """The model's raw outputs on ``X``: probabilities for a classifier that has them, else predictions."""
    if adapter.has_proba:
        return np.asarray(adapter.predict_proba(X), dtype=float)
    out = adapter.predict(X)
    if adapter.task == "regression":
        return np.asarray(out, dtype=float)
    return np.asarray([str(v) for v in out], dtype=object)


def max_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference between two output arrays (labels: the number that differ); inf on a shape
    mismatch."""
    if a.shape != b.shape:
        return float("inf")
    if a.dtype.kind in "fc":
        if not a.size:
            return 0.0
        both_nan = np.isnan(a) & np.isnan(b)
        d = np.abs(np.where(both_nan, 0.0, a - b))
        return float(np.nanmax(np.where(np.isnan(d), np.inf, d)))
    return float(np.sum(a != b))


def model_bytes(estimator) -> int:
    """Serialized size of a fitted estimator in bytes (pickle protocol 4): quick enough to compare many refits, and
    the same for the same model (its length does not depend on the order of hashed containers). The skops file the
    pack saves holds the same content in a larger layout (``model.serving.size``)."""
    import pickle

    return len(pickle.dumps(estimator, protocol=4))


__all__ = ["Fitted", "MetricOn", "Trainer", "baseline_params", "better_by", "cap", "constant_of", "max_difference",
           "model_bytes", "outputs", "paired_difference", "primary_metric", "scored", "trainer", "why_not"]
