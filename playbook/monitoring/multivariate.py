"""Multivariate monitors: faults that leave every column's distribution intact but change how columns relate.

A join that pairs the rows of two customers, or a sensor recalibrated against another, keeps every marginal
distribution: each per-column test of :mod:`playbook.monitoring.calibrate` stays quiet. Two monitors look at the
rows as a whole, both on the same **prepared** rows (:class:`Prepared`: numeric features standardized with the
calibration rows' mean and standard deviation, missing values at the mean; categorical features one-hot over the
bins of the per-column profile, so the categories, the *other* and *missing* bins and the digests of personal
data columns are the profile's own):

* :class:`PCAMonitor` (NannyML's data reconstruction drift): a scikit-learn PCA fitted on the calibration rows
  keeps the components explaining ``variance`` (65 %) of the variance; a row's statistic is its Euclidean
  reconstruction error, a batch's the mean over its rows. When two correlated columns stop moving together, the
  rows leave the plane the components span and the error grows. Its null distribution comes from the calibration
  rows' **cross-fitted** errors (each row reconstructed by a PCA fitted without it: a PCA reconstructs its own
  training rows too well), so it is one more monitor of the vectorised bootstrap and shares the min-p correction
  with the per-column monitors.
* :class:`DomainClassifierMonitor` (the classifier two-sample test of alibi-detect and Deepchecks): can a model
  tell the batch's rows from reference rows? The statistic is the cross-validated ROC AUC (``folds`` stratified,
  seeded folds) of a ridge classifier (scikit-learn's ``RidgeClassifier``, solved in closed form: :func:`_ridge`) on the prepared columns plus the pairwise
  products of the numeric ones (so a change of correlation is a change of a mean it can see), between the batch
  (at most ``max_batch_rows`` rows, a seeded sample) and a seeded sample of calibration rows (at most
  ``reference_rows``). 0.5 is no difference. **monitoring.yaml holds no row of it**: only the sample's row labels
  in the reference data and the sha256 of its prepared values, so the pack stays free of row-level data;
  :meth:`DomainClassifierMonitor.attach` takes the rows from the reference data where the monitor runs (the pack's
  steps have it; ``playbook monitor --reference FILE``), refusing data whose sample does not match the fingerprint.
  Without it the domain classifier is not run, and the result says why. Its null distribution is measured
  on ``null_batches`` batches of the *other* calibration rows against that sample; a training per batch is too
  costly for the 10 000 bootstrap batches of the others, so its threshold is the normal approximation of that
  null at its own share of the budget (below).

**The budget.** The whole monitor (per-column tests, PCA and domain classifier) keeps one false-alarm budget
``alpha`` per batch. ``share`` of it (default 0.2) goes to the domain classifier, and the rest to the min-p
calibration of every other monitor, PCA included; by the union bound the whole monitor alarms on a no-drift batch
with probability at most ``alpha`` (``alert_budget.split`` of ``monitoring.yaml`` records the split).

**The explanation.** When either alarms, :func:`explain` fits the classifier on the whole batch and reference
sample and ranks the features by their share of its importance (each standardized design column's |coefficient x
its mean gap between batch and reference|, one-hot columns summed per feature, a product's importance split
between its two features).
"""

from __future__ import annotations

import base64
import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from playbook.monitoring.stats import ColumnProfile, as_numeric

PCA_NAME = "pca_reconstruction"
DOMAIN_NAME = "domain_classifier"
KINDS = (DOMAIN_NAME, PCA_NAME)  # each is an alert kind of its own
MAX_PRODUCT_COLUMNS = 15  # numeric columns whose pairwise products the classifier sees


@dataclass
class Prepared:
    """Rows as the multivariate monitors see them: standardized numerics, one-hot categoricals (profile bins)."""

    numeric: dict[str, tuple[float, float]]  # column -> (mean, sd)
    categorical: dict[str, ColumnProfile]

    @classmethod
    def build(cls, frame: pd.DataFrame, features: list[str], numeric: list[str], profiles: dict[str, ColumnProfile]
              ) -> "Prepared":
        num, cat = {}, {}
        for c in features:
            if c in numeric:
                v, _ = as_numeric(frame[c])
                v = v.to_numpy(dtype=float)
                v = v[np.isfinite(v)]
                mu = float(v.mean()) if len(v) else 0.0
                sd = float(v.std()) if len(v) > 1 else 0.0
                num[c] = (mu, sd if sd > 0 else 1.0)
            elif c in profiles:
                cat[c] = profiles[c]
        return cls(num, cat)

    @property
    def columns(self) -> list[str]:
        """The feature of each prepared column, in order."""
        out = list(self.numeric)
        for c, p in self.categorical.items():
            out += [c] * p.n_bins
        return out

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The prepared matrix of ``frame`` (rows x prepared columns); a missing column counts as all missing."""
        n = len(frame)
        parts = []
        for c, (mu, sd) in self.numeric.items():
            if c in frame.columns:
                v, _ = as_numeric(frame[c])
                x = (v.to_numpy(dtype=float) - mu) / sd
                parts.append(np.where(np.isfinite(x), x, 0.0)[:, None])
            else:
                parts.append(np.zeros((n, 1)))
        for c, p in self.categorical.items():
            codes = p.codes(frame[c]) if c in frame.columns else np.full(n, p.n_bins - 1, dtype=np.int64)
            parts.append(np.eye(p.n_bins)[codes])
        return np.hstack(parts) if parts else np.zeros((n, 0))

    def to_dict(self) -> dict:
        return {"numeric": {c: [mu, sd] for c, (mu, sd) in self.numeric.items()},
                "categorical": {c: p.to_dict() for c, p in self.categorical.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "Prepared":
        return cls({str(c): (float(v[0]), float(v[1])) for c, v in (d.get("numeric") or {}).items()},
                   {str(c): ColumnProfile.from_dict(str(c), p) for c, p in (d.get("categorical") or {}).items()})


def _pack(a: np.ndarray) -> dict:
    """An array as deterministic text (float32, zlib, base64) for monitoring.yaml."""
    a32 = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": [int(s) for s in a32.shape], "dtype": "float32",
            "data": base64.b64encode(zlib.compress(a32.tobytes(), 9)).decode("ascii")}


def _unpack(d: dict) -> np.ndarray:
    raw = zlib.decompress(base64.b64decode(d["data"]))
    return np.frombuffer(raw, dtype="<f4").reshape([int(s) for s in d["shape"]]).astype(float)


# ---------------------------------------------------------------------------------------------
# PCA reconstruction error
# ---------------------------------------------------------------------------------------------
def _fit_pca(Z: np.ndarray, variance: float, seed: int):
    from sklearn.decomposition import PCA

    full = PCA(svd_solver="full").fit(Z)
    k = int(np.searchsorted(np.cumsum(full.explained_variance_ratio_), variance - 1e-12) + 1)
    k = max(1, min(k, Z.shape[1], max(1, Z.shape[0] - 1)))
    return PCA(n_components=k, svd_solver="full", random_state=seed).fit(Z)


@dataclass
class PCAMonitor:
    """Mean reconstruction error of a batch's prepared rows under the calibration rows' PCA (larger = worse)."""

    prepared: Prepared
    scale: np.ndarray            # per prepared column: divide by it before the PCA
    mean: np.ndarray             # the PCA's centre (of scaled rows)
    components: np.ndarray       # k x columns
    variance: float = 0.65
    explained: float = 0.0
    null_errors: np.ndarray | None = field(default=None, repr=False)  # cross-fitted errors of the calibration rows
    center: float | None = None
    threshold: float | None = None
    calibrated_batch_size: int | None = None
    null_quantiles: dict[str, float] = field(default_factory=dict)
    role: str = "multivariate"
    name: str = PCA_NAME
    test: str = "pca_reconstruction_error"
    column: str = "*"

    @classmethod
    def build(cls, frame: pd.DataFrame, prepared: Prepared, *, variance: float = 0.65, folds: int = 5,
              seed: int = 0) -> "PCAMonitor | None":
        X = prepared.matrix(frame)
        if X.shape[1] < 2 or X.shape[0] < 10:
            return None
        sd = X.std(axis=0)
        scale = np.where(sd > 1e-12, sd, 1.0)
        Z = X / scale
        null = np.empty(len(Z))
        k = int(max(2, min(folds, len(Z) // 5)))
        order = np.random.default_rng(seed).permutation(len(Z))
        # BLAS on one thread: a few hundred rows are solved in milliseconds, and on a busy machine contending LAPACK
        # threads made each of these six SVDs take a second
        with _one_thread():
            pca = _fit_pca(Z, variance, seed)
            for part in np.array_split(order, k):
                rest = np.setdiff1d(order, part)
                sub = _fit_pca(Z[rest], variance, seed)
                null[part] = _errors(Z[part], sub.mean_, sub.components_)
        f32 = lambda a: np.asarray(a, dtype="<f4").astype(float)  # noqa: E731 - as monitoring.yaml stores them
        return cls(prepared, f32(scale), f32(pca.mean_), f32(pca.components_), variance=variance,
                   explained=float(pca.explained_variance_ratio_.sum()), null_errors=null)

    def row_errors(self, frame: pd.DataFrame) -> np.ndarray:
        return _errors(self.prepared.matrix(frame) / self.scale, self.mean, self.components)

    # the calibrate.py monitor protocol -----------------------------------------------------------
    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return self.row_errors(frame)

    def null_encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The calibration rows' errors as fresh rows would have them (cross-fitted) when ``frame`` is those rows."""
        if self.null_errors is not None and len(self.null_errors) == len(frame):
            return self.null_errors
        return self.encode(frame)

    def null_stats(self, enc: np.ndarray, idx: np.ndarray, rng: np.random.Generator,
                   perturb_reference: bool = True) -> np.ndarray:
        return enc[idx].mean(axis=1)

    def statistic(self, frame: pd.DataFrame) -> float:
        return self.statistic_of(self.prepared.matrix(frame))

    def statistic_of(self, X: np.ndarray) -> float:
        """:meth:`statistic` from the batch's prepared matrix."""
        e = _errors(X / self.scale, self.mean, self.components)
        return float(e.mean()) if len(e) else float("nan")

    def threshold_for(self, rows: int) -> float | None:
        """A mean's spread shrinks like 1 / sqrt(rows): the threshold's distance to the null median scales so."""
        if self.threshold is None or not self.calibrated_batch_size or rows <= 0 or self.center is None:
            return self.threshold
        return float(self.center + (self.threshold - self.center) * math.sqrt(self.calibrated_batch_size / rows))

    def to_dict(self) -> dict:
        return {"name": self.name, "role": self.role, "test": self.test, "threshold": self.threshold,
                "batch_size": self.calibrated_batch_size, "center": self.center, "null_quantiles": self.null_quantiles,
                "variance": self.variance, "explained": self.explained, "components": int(len(self.components)),
                "pca": {"scale": _pack(self.scale), "mean": _pack(self.mean), "components": _pack(self.components)}}

    @classmethod
    def from_dict(cls, d: dict, prepared: Prepared) -> "PCAMonitor":
        p = d["pca"]
        return cls(prepared, _unpack(p["scale"]), _unpack(p["mean"]), _unpack(p["components"]),
                   variance=float(d.get("variance", 0.65)), explained=float(d.get("explained", 0.0)),
                   center=None if d.get("center") is None else float(d["center"]), threshold=float(d["threshold"]),
                   calibrated_batch_size=int(d["batch_size"]), null_quantiles=d.get("null_quantiles") or {})


def _ridge(D: np.ndarray, y01: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """scikit-learn's ``RidgeClassifier(alpha, solver="cholesky")`` on two classes, in closed form: least squares on
    labels -1 / +1 with an intercept, ``(X'X + alpha I) w = X'y`` on centred data (a test checks it against
    scikit-learn's; its input validation costs more than the solve on a few hundred rows)."""
    t = 2.0 * y01 - 1.0
    xm, tm = D.mean(axis=0), t.mean()
    Xc = D - xm
    w = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(D.shape[1]), Xc.T @ (t - tm))
    return w, float(tm - xm @ w)


def _auc(y01: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties counted half): scikit-learn's ``roc_auc_score`` without its validation."""
    from scipy.stats import rankdata

    pos = y01 == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def _errors(Z: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    c = Z - mean
    rec = (c @ components.T) @ components
    return np.sqrt(((c - rec) ** 2).sum(axis=1))


# ---------------------------------------------------------------------------------------------
# domain classifier
# ---------------------------------------------------------------------------------------------
@dataclass
class DomainClassifierMonitor:
    """Cross-validated ROC AUC of a classifier telling a batch's rows from a stored reference sample."""

    prepared: Prepared
    reference: np.ndarray | None  # prepared reference sample (rows x prepared columns); None until attached
    folds: int = 2
    ridge: float = 10.0
    max_batch_rows: int = 1000
    seed: int = 0
    null_mean: float | None = None
    null_sd: float | None = None
    null_batches: int = 0
    threshold: float | None = None
    level: float | None = None
    calibrated_batch_size: int | None = None
    null_quantiles: dict[str, float] = field(default_factory=dict)
    role: str = "multivariate"
    name: str = DOMAIN_NAME
    test: str = "domain_classifier_auc"
    column: str = "*"
    sample_rows: list = field(default_factory=list)  # the sample's row labels in the reference data
    sample_fingerprint: str | None = None             # sha256 of its prepared values (float32)

    @property
    def attached(self) -> bool:
        return self.reference is not None

    def attach(self, reference: pd.DataFrame) -> str | None:
        """Take the reference sample's rows from ``reference`` (the reference data, as the pack loaded it); None when
        they match the fingerprint, else why not (the monitor then stays detached)."""
        labels = pd.Index(self.sample_rows)
        missing = labels.difference(reference.index)
        if len(missing):
            return (f"the reference data lacks {len(missing)} of the {len(labels)} sample rows the domain classifier "
                    "was calibrated on; pass the pack's reference data (data.reference of its config)")
        X = self.prepared.matrix(reference.loc[labels]).astype("<f4").astype(float)
        if _fingerprint(X) != self.sample_fingerprint:
            return ("the reference data's sample rows differ from the ones the domain classifier was calibrated on "
                    "(sha256 mismatch); pass the pack's reference data unchanged")
        self.reference = X
        return None

    @property
    def products(self) -> list[tuple[int, int]]:
        k = min(len(self.prepared.numeric), MAX_PRODUCT_COLUMNS)
        return [(i, j) for i in range(k) for j in range(i, k)]

    def design(self, X: np.ndarray) -> np.ndarray:
        pr = self.products
        if not pr:
            return X
        i, j = (np.array(a) for a in zip(*pr))
        return np.hstack([X, X[:, i] * X[:, j]])

    def design_columns(self) -> list[tuple[str, ...]]:
        """The feature(s) behind each design column."""
        cols = [(c,) for c in self.prepared.columns]
        names = list(self.prepared.numeric)
        return cols + [(names[i], names[j]) for i, j in self.products]

    def _sample(self, X: np.ndarray) -> np.ndarray:
        if len(X) <= self.max_batch_rows:
            return X
        idx = np.sort(np.random.default_rng(self.seed).choice(len(X), self.max_batch_rows, replace=False))
        return X[idx]

    def auc(self, X: np.ndarray) -> float:
        """The cross-validated ROC AUC of batch rows ``X`` (prepared) against the reference sample."""
        X = self._sample(X)
        if self.reference is None or len(X) < self.folds or len(self.reference) < self.folds:
            return float("nan")
        D, y = self._standardized(X)
        out = np.empty(len(y))
        for train, test in self._folds(y):
            w, b = _ridge(D[train], y[train], self.ridge)
            out[test] = D[test] @ w + b
        return _auc(y, out)

    def _standardized(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        D = np.vstack([self.design(X), self._reference_design()])  # the design is row by row: the same matrix
        sd = D.std(axis=0)
        D = (D - D.mean(axis=0)) / np.where(sd > 1e-12, sd, 1.0)
        return D, np.r_[np.ones(len(X)), np.zeros(len(self.reference))]

    def _reference_design(self) -> np.ndarray:
        """The reference sample's design rows, computed once per attached sample."""
        cached = self.__dict__.get("_design_cache")
        if cached is None or cached[0] is not self.reference:
            cached = (self.reference, self.design(self.reference))
            self.__dict__["_design_cache"] = cached
        return cached[1]

    def _folds(self, y: np.ndarray):
        from sklearn.model_selection import StratifiedKFold

        key = (len(y), int(y.sum()))
        cache = self.__dict__.setdefault("_fold_cache", {})
        if key not in cache:  # the folds depend on the class sizes and the seed only
            cv = StratifiedKFold(self.folds, shuffle=True, random_state=self.seed)
            cache[key] = list(cv.split(np.zeros((len(y), 1)), y))
        return cache[key]

    # the monitor protocol ---------------------------------------------------------------------
    def statistic(self, frame: pd.DataFrame) -> float:
        return self.statistic_of(self.prepared.matrix(frame))

    def statistic_of(self, X: np.ndarray) -> float:
        """:meth:`statistic` from the batch's prepared matrix."""
        return self.auc(X) if len(X) else float("nan")

    def threshold_for(self, rows: int) -> float | None:
        """The null's spread shrinks like sqrt(1/n + 1/m) (n batch rows, m reference rows, both capped)."""
        if self.threshold is None or not self.calibrated_batch_size or rows <= 0 or self.null_mean is None:
            return self.threshold
        m = max(len(self.sample_rows) if self.reference is None else len(self.reference), 1)
        n0, n = min(self.calibrated_batch_size, self.max_batch_rows), min(rows, self.max_batch_rows)
        f = math.sqrt((1.0 / n + 1.0 / m) / (1.0 / n0 + 1.0 / m))
        return float(self.null_mean + (self.threshold - self.null_mean) * f)

    def calibrate(self, pool: np.ndarray, batch_size: int, level: float, batches: int = 200) -> dict:
        """Null AUCs of ``batches`` batches of ``pool`` rows (prepared calibration rows not in the reference
        sample; without replacement when the pool is large enough) and the threshold at tail ``level``: the
        normal approximation ``mean + z(1 - level) sd`` (an extreme quantile of a few hundred values is noise)."""
        rng = np.random.default_rng(self.seed + 1)
        n = min(int(batch_size), self.max_batch_rows)
        replace = len(pool) < n
        with _one_thread():
            aucs = np.array([self.auc(pool[rng.choice(len(pool), n, replace=replace)]) for _ in range(int(batches))])
        aucs = aucs[np.isfinite(aucs)]
        self.null_mean = float(aucs.mean()) if len(aucs) else 0.5
        self.null_sd = float(aucs.std(ddof=1)) if len(aucs) > 1 else 0.0
        self.null_batches = int(len(aucs))
        self.level = float(level)
        self.threshold = float(self.null_mean + norm.isf(level) * self.null_sd)
        self.calibrated_batch_size = int(batch_size)
        if len(aucs):
            q = np.quantile(aucs, [0.5, 0.95, 0.99])
            self.null_quantiles = {"p50": float(q[0]), "p95": float(q[1]), "p99": float(q[2])}
        return {"batches": self.null_batches, "with_replacement": bool(replace), "mean": self.null_mean,
                "sd": self.null_sd, "fit_rate": float(np.mean(aucs > self.threshold)) if len(aucs) else None}

    def explain(self, frame: pd.DataFrame, top: int = 5) -> list[dict]:
        """The features that separate the batch from the reference most: each one's share of the classifier's
        importance, the classifier fitted on all rows (a standardized design column's |coefficient x its mean
        gap between batch and reference|: its part in the gap between the two classes' mean scores)."""
        X = self._sample(self.prepared.matrix(frame))
        if len(X) == 0 or self.reference is None:
            return []
        Dz, y = self._standardized(X)
        coef, _ = _ridge(Dz, y, self.ridge)
        # each design column's share of the gap between the classifier's mean score on the batch and on the reference
        gap = Dz[y == 1].mean(axis=0) - Dz[y == 0].mean(axis=0)
        coef = np.abs(coef * gap)
        imp: dict[str, float] = {}
        for w, feats in zip(coef, self.design_columns()):
            for f in feats:
                imp[f] = imp.get(f, 0.0) + float(w) / len(feats)
        total = sum(imp.values()) or 1.0
        ranked = sorted(imp.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return [{"feature": f, "importance_share": v / total} for f, v in ranked]

    def to_dict(self) -> dict:
        return {"name": self.name, "role": self.role, "test": self.test, "threshold": self.threshold,
                "batch_size": self.calibrated_batch_size, "level": self.level, "null_quantiles": self.null_quantiles,
                "null": {"mean": self.null_mean, "sd": self.null_sd, "batches": self.null_batches},
                "classifier": {"model": "RidgeClassifier", "alpha": self.ridge, "folds": self.folds,
                               "max_batch_rows": self.max_batch_rows, "seed": self.seed,
                               "pairwise_products_of": list(self.prepared.numeric)[:MAX_PRODUCT_COLUMNS]},
                # no row values: the labels of the sample's rows in the reference data and a hash of them prepared
                "reference_sample": {"rows": list(self.sample_rows), "sha256": self.sample_fingerprint,
                                     "of": "row labels of the reference data as the pack loaded it"}}

    @classmethod
    def from_dict(cls, d: dict, prepared: Prepared) -> "DomainClassifierMonitor":
        c, nl = d.get("classifier") or {}, d.get("null") or {}
        sample = d["reference_sample"]
        if not isinstance(sample.get("rows"), list) or not isinstance(sample.get("sha256"), str):
            raise ValueError("reference_sample needs rows and sha256")
        return cls(prepared, None, sample_rows=list(sample["rows"]), sample_fingerprint=sample["sha256"],
                   folds=int(c.get("folds", 2)),
                   ridge=float(c.get("alpha", 10.0)), max_batch_rows=int(c.get("max_batch_rows", 1000)),
                   seed=int(c.get("seed", 0)), null_mean=nl.get("mean"), null_sd=nl.get("sd"),
                   null_batches=int(nl.get("batches", 0)), threshold=float(d["threshold"]),
                   level=None if d.get("level") is None else float(d["level"]),
                   calibrated_batch_size=int(d["batch_size"]), null_quantiles=d.get("null_quantiles") or {})


# ---------------------------------------------------------------------------------------------
# building, (de)serialising, judging
# ---------------------------------------------------------------------------------------------
def build(frame: pd.DataFrame, features: list[str], numeric: list[str], profiles: dict[str, ColumnProfile], *,
          seed: int = 0, reference_rows: int = 500, variance: float = 0.65) -> tuple[Prepared, PCAMonitor | None,
                                                                                    DomainClassifierMonitor | None,
                                                                                    np.ndarray]:
    """The prepared view, the PCA monitor (uncalibrated), the domain classifier (uncalibrated) with its reference
    sample (half the calibration rows, at most ``reference_rows``), and the other rows' prepared matrix (the
    classifier's null pool)."""
    prepared = Prepared.build(frame, features, numeric, profiles)
    pca = PCAMonitor.build(frame, prepared, variance=variance, seed=seed)
    X = prepared.matrix(frame)
    if X.shape[1] == 0 or len(X) < 20:
        return prepared, pca, None, X[:0]
    order = np.random.default_rng(seed).permutation(len(X))
    m = int(min(reference_rows, len(X) // 2))
    ref, pool = np.sort(order[:m]), np.sort(order[m:])
    sample = X[ref].astype("<f4").astype(float)
    labels = [int(v) if isinstance(v, (int, np.integer)) else str(v) for v in frame.index[ref]]
    dc = DomainClassifierMonitor(prepared, sample, seed=int(seed), sample_rows=labels,
                                 sample_fingerprint=_fingerprint(sample))
    return prepared, pca, dc, X[pool].astype("<f4").astype(float)


def _fingerprint(X: np.ndarray) -> str:
    import hashlib

    a = np.ascontiguousarray(X, dtype="<f4")
    return hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest()


def attach_reference(monitors: list, reference: pd.DataFrame | None) -> list[str]:
    """Attach the reference sample of every domain classifier (see :meth:`DomainClassifierMonitor.attach`); the
    reasons of those that stay detached."""
    notes = []
    for m in monitors:
        if isinstance(m, DomainClassifierMonitor) and not m.attached:
            why = ("no reference data was given (playbook monitor --reference FILE)" if reference is None
                   else m.attach(reference))
            if why:
                notes.append(f"domain classifier not run: {why}.")
    return notes


def section(prepared: Prepared, monitors: list, share: float) -> dict:
    """The ``multivariate`` section of monitoring.yaml."""
    return {"share": float(share), "prepared": prepared.to_dict(), "monitors": [m.to_dict() for m in monitors]}


def from_section(d: dict | None) -> list:
    """The multivariate monitors of a ``multivariate`` section (``[]`` when absent)."""
    if not d:
        return []
    prepared = Prepared.from_dict(d.get("prepared") or {})
    out = []
    for m in d.get("monitors") or []:
        if m.get("name") == PCA_NAME:
            out.append(PCAMonitor.from_dict(m, prepared))
        elif m.get("name") == DOMAIN_NAME:
            out.append(DomainClassifierMonitor.from_dict(m, prepared))
        else:
            raise ValueError(f"unknown multivariate monitor {m.get('name')!r}; use {' or '.join(KINDS)}")
    return out


def _one_thread():
    """BLAS on one thread (:func:`playbook.modeling.single_thread`): the small solves of the domain classifier run
    many times slower when a busy machine's BLAS threads contend, and one thread keeps the arithmetic order fixed."""
    from playbook.modeling import single_thread

    return single_thread()


def judge(monitors: list, batch: pd.DataFrame, rows: int) -> tuple[list[dict], list[dict]]:
    """Each multivariate monitor on a batch: (entries for the result's ``multivariate``, alerts). An alarm carries
    the features that separate the batch most (the domain classifier's importance)."""
    with _one_thread():
        return _judge(monitors, batch, rows)


def _judge(monitors: list, batch: pd.DataFrame, rows: int) -> tuple[list[dict], list[dict]]:
    entries, alerts = [], []
    why = None
    prepared: dict[int, np.ndarray] = {}  # the prepared matrix, once per Prepared
    for m in monitors:
        if isinstance(m, DomainClassifierMonitor) and not m.attached:
            entries.append({"name": m.name, "test": m.test, "statistic": None, "threshold": m.threshold_for(rows),
                            "alert": False, "note": "not run: the reference sample is not attached (playbook monitor "
                                                    "--reference FILE)"})
            continue
        if id(m.prepared) not in prepared:
            prepared[id(m.prepared)] = m.prepared.matrix(batch)
        stat = m.statistic_of(prepared[id(m.prepared)])
        thr = m.threshold_for(rows)
        alarm = bool(thr is not None and math.isfinite(stat) and stat > thr)
        entries.append({"name": m.name, "test": m.test, "statistic": stat if math.isfinite(stat) else None,
                        "threshold": thr, "alert": alarm})
        if alarm:
            if why is None:
                dc = next((x for x in monitors if isinstance(x, DomainClassifierMonitor)), None)
                why = dc.explain(batch) if dc is not None else []
            entries[-1]["explanation"] = why
            names = ", ".join(f"{w['feature']} ({w['importance_share']:.0%})" for w in why[:3])
            what = ("a classifier tells the batch's rows from reference rows (cross-validated ROC AUC "
                    f"{stat:.3f} > {thr:.3f})" if m.name == DOMAIN_NAME else
                    f"the rows reconstruct worse from the reference's principal components (mean error {stat:.3f} > "
                    f"{thr:.3f})")
            alerts.append({"kind": m.name, "message": f"multivariate drift: {what}; the features that separate the "
                           f"batch most: {names or 'none'}. Look for a join, a recalibration or a segment change "
                           "that altered how these columns relate.", "monitor": m.name,
                           "features": [w["feature"] for w in why]})
    return entries, alerts


def alarms_many(monitors: list, frames: list[pd.DataFrame]) -> list[set[str]]:
    """The multivariate alert kinds of each frame (the rule of :func:`judge`, without the explanation)."""
    with _one_thread():
        return _alarms_many(monitors, frames)


def _alarms_many(monitors: list, frames: list[pd.DataFrame]) -> list[set[str]]:
    out: list[set[str]] = [set() for _ in frames]
    for idx, mats in _matrices(monitors, frames):
        for i, prepared in zip(idx, mats):
            rows = len(frames[i])
            for m in monitors:
                stat = m.statistic_of(prepared[id(m.prepared)])
                thr = m.threshold_for(rows)
                if thr is not None and math.isfinite(stat) and stat > thr:
                    out[i].add(m.name)
    return out


def _matrices(monitors: list, frames: list[pd.DataFrame]):
    """Each frame's prepared matrix per :class:`Prepared` (``{id(prepared): matrix}``), the frames with the same
    columns and dtypes prepared in one pass over them stacked (every prepared value depends on its row only, so
    each frame's rows of the stacked matrix are its own matrix). Yields ``(indices, [per-frame dict])``."""
    from playbook.monitoring.stats import frame_signature

    preps = {id(m.prepared): m.prepared for m in monitors}
    groups: dict[tuple, list[int]] = {}
    for i, f in enumerate(frames):
        # a categorical dtype may hold other categories in another frame (stacking would change it): on its own
        key = (i,) if any(isinstance(d, pd.CategoricalDtype) for d in f.dtypes) else frame_signature(f)
        groups.setdefault(key, []).append(i)
    for idx in groups.values():
        big = frames[idx[0]] if len(idx) == 1 else pd.concat([frames[i] for i in idx], ignore_index=True)
        bounds = np.cumsum([0] + [len(frames[i]) for i in idx])
        whole = {k: p.matrix(big) for k, p in preps.items()}
        yield idx, [{k: X[a:b] for k, X in whole.items()} for a, b in zip(bounds[:-1], bounds[1:])]


__all__ = ["DOMAIN_NAME", "DomainClassifierMonitor", "KINDS", "PCAMonitor", "PCA_NAME", "Prepared", "alarms_many",
           "attach_reference", "build", "from_section", "judge", "section"]
