"""Calibrated monitors: thresholds chosen from the reference data so that alerts mean something.

A drift test's default p-value threshold answers the wrong question. On a batch of 50 000 rows a
Kolmogorov-Smirnov test flags differences nobody cares about; on a batch of 50 rows a fixed distance
threshold misses a real fault; and twenty columns tested at 5 % each raise an alarm on most days even
when nothing changed. What an on-call engineer needs is a **false-alarm budget**: "at most one alarm
every 30 daily batches when nothing is wrong", and the most detection power that budget allows.

How the thresholds are chosen (:func:`calibrate`):

1. Draw ``replicates`` no-drift batches of the production batch size from the reference, with
   replacement (rows, so the correlation between columns is kept), and for each a reference of the
   reference's size from the reference's own bin shares (so the sampling noise of the reference itself is
   counted: production is compared with *a* reference sample, not with the truth).
2. Compute every monitor's statistic on every bootstrap batch: the null distribution of each statistic
   at this batch size.
3. Choose one per-monitor tail level so that the share of bootstrap batches on which **any** monitor
   alarms stays within the per-batch budget ``alpha``. ``min-p`` (default) takes the level from the
   distribution of the smallest per-monitor bootstrap p-value (Westfall-Young), which accounts for
   correlated columns and is never stricter than needed; ``bonferroni`` divides ``alpha`` by the number
   of monitors. Each monitor's threshold is its statistic's quantile at that level.
4. Check the result on ``holdout`` fresh bootstrap batches that played no part in choosing the thresholds.

:func:`detection_power` then measures, for a faulty data pool (a shift from the drift step applied to the
data), the share of batches of the same size on which the calibrated monitor alarms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.stats import beta, binom

from playbook.monitoring.performance import Calibrator, expected_accuracy, expected_roc_auc
from playbook.monitoring.stats import STATISTICS, ColumnProfile

CORRECTIONS = ("min-p", "bonferroni")
_CHUNK_CELLS = 2_000_000  # rows x replicates evaluated at once


@dataclass
class DistributionMonitor:
    """Drift of one column's distribution against its reference profile (larger statistic = worse)."""

    profile: ColumnProfile
    role: str = "feature"
    threshold: float | None = None
    calibrated_batch_size: int | None = None
    null_quantiles: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.profile.column

    @property
    def column(self) -> str:
        return self.profile.column

    @property
    def test(self) -> str:
        return self.profile.test

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return self.profile.codes(frame[self.column])

    def null_stats(self, enc: np.ndarray, idx: np.ndarray, rng: np.random.Generator,
                   perturb_reference: bool = True) -> np.ndarray:
        """Statistic of each bootstrap batch ``idx`` (replicates x rows) drawn from encoded rows ``enc``."""
        b, _ = idx.shape
        nb = self.profile.n_bins
        codes = enc[idx] + (np.arange(b, dtype=np.int64)[:, None] * nb)
        counts = np.bincount(codes.ravel(), minlength=b * nb).reshape(b, nb).astype(float)
        shares = np.asarray(self.profile.reference_shares, dtype=float)
        if perturb_reference and self.profile.rows > 0:
            ref = rng.multinomial(self.profile.rows, shares / shares.sum(), size=b).astype(float)
        else:
            ref = np.broadcast_to(shares, (b, nb))
        return STATISTICS[self.profile.test](ref, counts)

    def statistic(self, frame: pd.DataFrame) -> float:
        return self.profile.statistic(frame[self.column])

    def threshold_for(self, rows: int) -> float | None:
        """The threshold at another batch size: distances shrink like sqrt(1/n + 1/n_reference)."""
        if self.threshold is None or not self.calibrated_batch_size or rows <= 0:
            return self.threshold
        m = max(self.profile.rows, 1)
        n0 = self.calibrated_batch_size
        return float(self.threshold * np.sqrt((1.0 / rows + 1.0 / m) / (1.0 / n0 + 1.0 / m)))


@dataclass
class EstimatedPerformanceMonitor:
    """Label-free estimated performance (CBPE) of a batch; alarms when it falls below ``minimum``.

    The statistic is the drop below the reference's median estimate (larger = worse), so it calibrates
    like the drift statistics; :attr:`minimum` is the alarm floor on the estimate itself.
    """

    score_column: str
    calibrator: Calibrator
    metric: str = "roc_auc"
    decision_threshold: float = 0.5
    center: float | None = None
    threshold: float | None = None
    calibrated_batch_size: int | None = None
    null_quantiles: dict[str, float] = field(default_factory=dict)
    role: str = "performance"

    @property
    def name(self) -> str:
        return f"estimated_{self.metric}"

    @property
    def column(self) -> str:
        return self.score_column

    @property
    def test(self) -> str:
        return f"cbpe_{self.metric}"

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        s = pd.to_numeric(frame[self.score_column], errors="coerce").to_numpy(dtype=float)
        s = np.where(np.isfinite(s), s, self.decision_threshold)
        return np.stack([self.calibrator(s), (s >= self.decision_threshold).astype(float)], axis=1)

    def _estimate(self, q: np.ndarray, d: np.ndarray) -> np.ndarray:
        if self.metric == "roc_auc":
            return expected_roc_auc(q)
        return expected_accuracy(q, d > 0.5)

    def null_stats(self, enc: np.ndarray, idx: np.ndarray, rng: np.random.Generator,
                   perturb_reference: bool = True) -> np.ndarray:
        est = self._estimate(enc[idx, 0], enc[idx, 1])
        center = self.center if self.center is not None else 0.0
        return np.nan_to_num(center - est, nan=0.0)

    def estimate(self, frame: pd.DataFrame) -> float:
        enc = self.encode(frame)
        return float(self._estimate(enc[:, 0], enc[:, 1])) if len(enc) else float("nan")

    def statistic(self, frame: pd.DataFrame) -> float:
        center = self.center if self.center is not None else 0.0
        return center - self.estimate(frame)

    def threshold_for(self, rows: int) -> float | None:
        if self.threshold is None or not self.calibrated_batch_size or rows <= 0:
            return self.threshold
        return float(self.threshold * np.sqrt(self.calibrated_batch_size / rows))

    @property
    def minimum(self) -> float | None:
        if self.threshold is None or self.center is None:
            return None
        return float(self.center - self.threshold)


def exceedance_survival(batch_rows: int, reference_rows: int) -> np.ndarray:
    """P(K >= k), k = 0, 1, ..., for K = the number of a fresh batch's values above the reference maximum.

    Distribution-free: when batch and reference come from the same continuous distribution, every
    ordering of the pooled values is equally likely, so the k largest are all batch values with
    probability n (n-1) ... (n-k+1) / (N (N-1) ... (N-k+1)), N = n + m. (Ties only make it rarer.)
    """
    n, m = int(batch_rows), int(reference_rows)
    if n <= 0:
        return np.array([1.0])
    k = np.arange(n)
    ratios = (n - k) / (n + m - k)
    surv = np.concatenate([[1.0], np.cumprod(ratios)])
    cut = np.searchsorted(-surv, -1e-15)  # drop the negligible tail
    return surv[: max(int(cut), 2)]


def out_of_range_pmf(batch_rows: int, reference_rows: int) -> np.ndarray:
    """Distribution of the number of batch values outside the reference range (both tails, taken as
    independent: slightly wider than the truth, so thresholds err on the quiet side)."""
    surv = exceedance_survival(batch_rows, reference_rows)
    one = surv - np.append(surv[1:], 0.0)
    return np.convolve(one, one)


@dataclass
class RangeMonitor:
    """Count of a batch's values outside the reference range [low, high] of a numeric column.

    A few rows of a batch fall outside the reference range by chance (a new maximum is common); how
    many is known exactly under no drift (:func:`exceedance_survival`), so the alarm threshold is
    calibrated without any distribution assumption. It catches what a distribution test dilutes: a
    few extreme outliers, a unit change on a small share of rows.
    """

    column: str
    low: float
    high: float
    reference_rows: int
    role: str = "feature"
    threshold: float | None = None
    calibrated_batch_size: int | None = None
    level: float | None = None
    null_quantiles: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.column}:range"

    @property
    def test(self) -> str:
        return "out_of_range"

    @classmethod
    def build(cls, series: pd.Series, role: str = "feature") -> "RangeMonitor | None":
        from playbook.monitoring.stats import as_numeric

        v, _ = as_numeric(series)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            return None
        return cls(str(series.name), float(v.min()), float(v.max()), int(len(v)), role=role)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        from playbook.monitoring.stats import as_numeric

        v, _ = as_numeric(frame[self.column])
        x = v.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            return ((x < self.low) | (x > self.high)).astype(float)

    def null_stats(self, enc: np.ndarray, idx: np.ndarray, rng: np.random.Generator,
                   perturb_reference: bool = True) -> np.ndarray:
        b, n = idx.shape
        surv = exceedance_survival(n, self.reference_rows)
        u = rng.random((b, 2))
        natural = (surv[None, None, 1:] > u[:, :, None]).sum(axis=2).sum(axis=1)
        return enc[idx].sum(axis=1) + natural

    def statistic(self, frame: pd.DataFrame) -> float:
        return float(self.encode(frame).sum())

    def threshold_for(self, rows: int) -> float | None:
        if self.threshold is None or not self.calibrated_batch_size or rows <= 0:
            return self.threshold
        if rows == self.calibrated_batch_size or self.level is None:
            return self.threshold
        pmf = out_of_range_pmf(rows, self.reference_rows)
        above = 1.0 - np.cumsum(pmf)  # P(K > k)
        ok = np.nonzero(above <= self.level + 1e-12)[0]
        return float(ok[0]) if len(ok) else float(len(pmf))


Monitor = Any  # DistributionMonitor | RangeMonitor | EstimatedPerformanceMonitor


def _null_matrix(monitors: Sequence[Monitor], encoded: list, n_rows: int, batch_size: int,
                 replicates: int, rng: np.random.Generator, perturb_reference: bool = True) -> np.ndarray:
    out = np.empty((replicates, len(monitors)))
    chunk = max(1, _CHUNK_CELLS // max(batch_size, 1))
    for start in range(0, replicates, chunk):
        stop = min(replicates, start + chunk)
        idx = rng.integers(0, n_rows, size=(stop - start, batch_size))
        for j, (m, enc) in enumerate(zip(monitors, encoded)):
            out[start:stop, j] = m.null_stats(enc, idx, rng, perturb_reference)
    return out


def bootstrap_pvalues(stats: np.ndarray) -> np.ndarray:
    """Per column, the share of bootstrap values at least as large as each value (a p-value)."""
    b = stats.shape[0]
    out = np.empty_like(stats, dtype=float)
    for j in range(stats.shape[1]):
        s = np.sort(stats[:, j])
        out[:, j] = (b - np.searchsorted(s, stats[:, j], side="left")) / b
    return out


def choose_level(stats: np.ndarray, alpha: float, correction: str = "min-p") -> float:
    """The per-monitor tail level that keeps the any-monitor alarm share within ``alpha``."""
    k = stats.shape[1]
    if correction == "bonferroni":
        return alpha / k
    if correction != "min-p":
        raise ValueError(f"correction {correction!r} must be one of {', '.join(CORRECTIONS)}.")
    minp = np.sort(bootstrap_pvalues(stats).min(axis=1))
    b = len(minp)
    # share of replicates with min-p <= c, for each candidate c (the observed min-p values)
    ok = np.searchsorted(minp, minp, side="right") / b <= alpha
    if not ok.any():
        return 0.0
    return float(max(minp[ok].max(), alpha / k))


def thresholds_at(stats: np.ndarray, level: float) -> np.ndarray:
    """Per column, the smallest bootstrap value v with share(stat > v) <= level."""
    b, k = stats.shape
    out = np.empty(k)
    for j in range(k):
        s = np.sort(stats[:, j])
        exceed = (b - np.searchsorted(s, s, side="right")) / b
        out[j] = s[int(np.argmax(exceed <= level + 1e-12))]
    return out


def binomial_bound(batches: int, alpha: float, confidence: float = 0.99) -> int:
    """The false-alarm count that ``batches`` no-drift batches stay within at ``confidence`` when the
    per-batch false-alarm probability is ``alpha``."""
    return int(binom.ppf(confidence, batches, alpha))


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    if n <= 0:
        return 1.0
    return 1.0 if k >= n else float(beta.ppf(confidence, k + 1, n - k))


@dataclass
class Calibration:
    """What :func:`calibrate` decided and measured."""

    alpha: float
    margin: float
    correction: str
    level: float
    batch_size: int
    replicates: int
    holdout: int
    false_alarm_rate_fit: float
    false_alarm_rate_holdout: float
    false_alarms_holdout: int
    false_alarm_upper_95: float
    bonferroni_level: float
    seed: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def calibrate(monitors: Sequence[Monitor], reference: pd.DataFrame, batch_size: int, alpha: float = 1 / 30,
              replicates: int = 10000, holdout: int = 5000, correction: str = "min-p", margin: float = 0.9,
              seed: int = 0) -> Calibration:
    """Set every monitor's ``threshold`` (in place) so the whole monitor keeps the false-alarm budget.

    ``alpha`` is the allowed probability that a no-drift batch raises at least one alarm (default: one
    false alarm per 30 daily batches). The thresholds are fitted to ``margin * alpha`` on the bootstrap
    batches (extreme quantiles estimated from a finite sample are slightly optimistic; the margin keeps
    the rate on fresh batches within ``alpha``), and the rate is then measured on ``holdout`` fresh ones.
    """
    if not 0 < margin <= 1:
        raise ValueError(f"margin={margin!r} must be in (0, 1]: the share of the budget the fit may use.")
    if not 0 < alpha < 1:
        raise ValueError(f"alert budget alpha={alpha!r} must be between 0 and 1 (e.g. 1/30 for one false alarm a month).")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be at least 1 row.")
    if len(reference) < 2:
        raise ValueError("the reference needs at least two rows to calibrate monitors.")
    if not monitors:
        raise ValueError("no monitors to calibrate: the reference has no monitored columns.")
    rng_fit, rng_hold = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    # a monitor fitted on these rows (the PCA) gives the errors fresh rows would have (``null_encode``: cross-fitted)
    encoded = [getattr(m, "null_encode", m.encode)(reference) for m in monitors]
    n = len(reference)
    for m in monitors:  # the performance monitor's centre: the median estimate on no-drift batches
        if isinstance(m, EstimatedPerformanceMonitor):
            m.center = 0.0
    stats = _null_matrix(monitors, encoded, n, batch_size, replicates, rng_fit)
    for j, m in enumerate(monitors):
        if isinstance(m, EstimatedPerformanceMonitor):
            centre = float(np.median(-stats[:, j]))
            m.center = centre
            stats[:, j] = centre + stats[:, j]
    level = choose_level(stats, alpha * margin, correction)
    thr = thresholds_at(stats, level)
    for j, m in enumerate(monitors):
        m.threshold = float(thr[j])
        m.calibrated_batch_size = int(batch_size)
        if isinstance(m, RangeMonitor):
            m.level = float(level)
        q = np.quantile(stats[:, j], [0.5, 0.95, 0.99])
        m.null_quantiles = {"p50": float(q[0]), "p95": float(q[1]), "p99": float(q[2])}
    fit_rate = float(np.mean((stats > thr).any(axis=1)))
    hold = _null_matrix(monitors, encoded, n, batch_size, holdout, rng_hold)
    hold_alarms = int((hold > thr).any(axis=1).sum())
    return Calibration(
        alpha=float(alpha), margin=float(margin), correction=correction, level=float(level), batch_size=int(batch_size),
        replicates=int(replicates), holdout=int(holdout), false_alarm_rate_fit=fit_rate,
        false_alarm_rate_holdout=hold_alarms / max(holdout, 1), false_alarms_holdout=hold_alarms,
        false_alarm_upper_95=clopper_pearson_upper(hold_alarms, holdout),
        bonferroni_level=float(alpha * margin / len(monitors)), seed=int(seed),
    )


def alarm_matrix(monitors: Sequence[Monitor], pool: pd.DataFrame, batch_size: int, replicates: int,
                 seed: int = 0, perturb_reference: bool = True) -> np.ndarray:
    """Alarms (replicates x monitors, booleans) of calibrated monitors on batches drawn from ``pool``."""
    rng = np.random.default_rng(seed)
    encoded = [m.encode(pool) for m in monitors]
    stats = _null_matrix(monitors, encoded, len(pool), batch_size, replicates, rng, perturb_reference)
    thr = np.array([m.threshold for m in monitors], dtype=float)
    return stats > thr


def detection_power(monitors: Sequence[Monitor], pool: pd.DataFrame, batch_size: int,
                    replicates: int = 500, seed: int = 0) -> dict:
    """Share of batches from ``pool`` (e.g. the reference with a fault injected) on which the monitor alarms,
    overall and per monitor, and the expected number of daily batches until the first alarm."""
    alarms = alarm_matrix(monitors, pool, batch_size, replicates, seed)
    power = float(alarms.any(axis=1).mean())
    per = {m.name: float(a) for m, a in zip(monitors, alarms.mean(axis=0))}
    return {
        "power": power,
        "expected_days_to_detect": (1.0 / power) if power > 0 else None,
        "per_monitor": per,
        "top_monitors": [k for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v > 0][:5],
        "replicates": int(replicates),
    }
