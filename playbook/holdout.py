"""Which rows each measurement may use: clean means clean, held out means held out.

One seeded split of the reference rows, shared by every step (the same seed gives the same rows in every kernel):

* **calibration** rows: the monitors' reference profile, and the bootstrap batches their thresholds are fitted on;
* **clean held-out** rows: the batches on which the monitors' false-alarm rate is measured and into which faults
  are injected for the rehearsal. They are reference rows the monitors never saw, so they are clean by
  construction; the current data is not used for that, because it may really have drifted (drift found there is
  reported as a finding about the data, never as a false alarm);
* **evaluation** rows: labelled rows the model was not trained on: the labelled current data when there is any;
  otherwise a third part of the reference (and then the baseline is fitted without it).

With labels in the current data the reference splits 70 / 30 (calibration / clean held-out) and the model is
evaluated on the current data; without them it splits 70 / 15 / 15 (calibration / clean held-out / evaluation).
Calibration, false-alarm measurement and evaluation never share a row. :func:`describe` is what the pack records.

A false-alarm rate is only measurable on enough *independent* batches: the clean held-out rows are cut into
disjoint batches (:func:`disjoint_batches`); overlapping bootstrap batches of a small pool repeat the same rows
and would make a binomial interval lie.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

HOLDOUT_SHARE = 0.3
#: the fewest disjoint clean batches on which a false-alarm rate is measured at all (below: "too little data")
MIN_DISJOINT_BATCHES = 20


#: Rows of a part that a measurement scaling with the batch size, not with the data, draws on (the monitors'
#: reference profile and calibration, their cross-fitted scores, the clean held-out batches, the default tests'
#: reference): a seeded sample of the part above it. 200,000 rows profile a batch of a few hundred as well as
#: millions would, and keep the monitoring step's time independent of the reference's size.
MAX_PART_ROWS = 200_000


def bounded(idx: pd.Index, n: int = MAX_PART_ROWS, seed: int = 0) -> pd.Index:
    """At most ``n`` of the rows ``idx`` (a seeded sample, in their order); all of them when there are fewer."""
    if len(idx) <= n:
        return idx
    pos = np.sort(np.random.default_rng([int(seed), 0xB0B]).choice(len(idx), size=int(n), replace=False))
    return idx[pos]


@dataclass(frozen=True)
class Split:
    calibration: pd.Index      # reference rows: the monitors' profile and threshold fitting
    clean: pd.Index            # reference rows the monitors never saw: false alarms and fault rehearsal
    evaluation: pd.Index | None  # reference rows held out for evaluation (None: the current data is labelled)
    seed: int

    @property
    def fit(self) -> pd.Index:
        """Reference rows the baseline may be fitted on: all but the evaluation rows."""
        return self.calibration.append(self.clean).sort_values()


def _labelled_current(ctx) -> bool:
    t = ctx.target
    return bool(t in ctx.current.columns and ctx.current[t].notna().any())


def split(ctx) -> Split:
    """The seeded split of ``ctx.reference`` (see the module docstring)."""
    ref = ctx.reference
    n = len(ref)
    perm = np.random.default_rng(ctx.seed).permutation(n)
    cut = int(round((1.0 - HOLDOUT_SHARE) * n))
    calibration = ref.index[np.sort(perm[:cut])]
    rest = perm[cut:]
    if _labelled_current(ctx):
        return Split(calibration, ref.index[np.sort(rest)], None, int(ctx.seed))
    half = len(rest) // 2
    return Split(calibration, ref.index[np.sort(rest[:half])], ref.index[np.sort(rest[half:])], int(ctx.seed))


def disjoint_batches(frame: pd.DataFrame, batch_size: int, seed: int = 0, limit: int | None = None) -> list[pd.DataFrame]:
    """The rows of ``frame`` shuffled (seeded) and cut into disjoint batches of ``batch_size`` (the remainder is
    left out): independent batches, as a binomial interval assumes."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    perm = np.random.default_rng(seed).permutation(len(frame))
    k = len(frame) // batch_size
    if limit is not None:
        k = min(k, int(limit))
    return [frame.iloc[np.sort(perm[i * batch_size:(i + 1) * batch_size])] for i in range(k)]


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of a rate ``k / n``."""
    from scipy.stats import beta

    a = (1 - confidence) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def false_alarm_measurement(alarms: list[bool], batch_size: int, pool_rows: int, budget: float,
                            min_batches: int = MIN_DISJOINT_BATCHES) -> dict:
    """A false-alarm rate on disjoint clean batches with its 95% CI, and what it shows against a budget.

    ``status``: ``warn`` when there are fewer than ``min_batches`` disjoint batches (too little held-out data to
    measure: reported as inconclusive, never pass or fail); ``fail`` when even the CI's lower bound is above the
    budget (the data shows the monitor alarms too often); ``pass`` otherwise. A monitor is not blocked by its own
    noise: only evidence of excess fails it.
    """
    k = int(sum(bool(a) for a in alarms))
    n = len(alarms)
    rate = k / n if n else None
    lo, hi = clopper_pearson(k, n) if n else (None, None)
    out = {"alarms": k, "batches": n, "rate": rate, "ci": [lo, hi] if n else None, "batch_size": int(batch_size),
           "pool_rows": int(pool_rows), "budget": float(budget), "min_batches": int(min_batches)}
    if n < min_batches:
        out["status"] = "warn"
        out["inconclusive"] = (f"too little held-out data to measure: {pool_rows} clean held-out rows hold {n} disjoint "
                               f"batch(es) of {batch_size} rows, and at least {min_batches} are needed "
                               f"({min_batches * batch_size} rows)")
    elif lo > budget:
        out["status"] = "fail"
    else:
        out["status"] = "pass"
    return out


def describe(ctx, s: Split | None = None) -> dict:
    """What the pack records about the split: sizes, seed, where evaluation rows come from, and a fingerprint of
    each part's row positions (so two packs can tell whether they used the same rows)."""
    s = s or split(ctx)
    pos = pd.Series(np.arange(len(ctx.reference)), index=ctx.reference.index)

    def fp(idx: pd.Index | None) -> str | None:
        if idx is None:
            return None
        return hashlib.sha256(np.sort(pos.loc[idx].to_numpy()).astype(np.int64).tobytes()).hexdigest()[:16]

    return {
        "seed": s.seed, "reference_rows": int(len(ctx.reference)), "holdout_share": HOLDOUT_SHARE,
        "calibration_rows": int(len(s.calibration)), "clean_holdout_rows": int(len(s.clean)),
        "evaluation": "current" if s.evaluation is None else "reference split",
        "evaluation_rows": int(len(s.evaluation)) if s.evaluation is not None else None,
        "fingerprints": {"calibration": fp(s.calibration), "clean_holdout": fp(s.clean),
                         "evaluation": fp(s.evaluation)},
    }


__all__ = ["HOLDOUT_SHARE", "MAX_PART_ROWS", "MIN_DISJOINT_BATCHES", "Split", "bounded", "clopper_pearson", "describe", "disjoint_batches",
           "false_alarm_measurement", "split"]
