"""Staleness: how fast the model's quality decays as it ages.

The labelled reference rows with a valid timestamp are put in time order. The newest ``eval_share`` of them is the
evaluation slice; from the older rows, ``windows`` training windows of the same size (``window_share`` of the older
rows) are cut, ending at evenly spaced cutoffs from the oldest possible to the newest. The training procedure
(:class:`playbook.evaluate.refit.Trainer`) is run on each window with the pack seed and scored on the evaluation
slice: its **model age** is the number of days between the window's training cutoff (its newest row) and the
evaluation slice's median timestamp. Windows of one size keep the amount of training data out of the comparison.

A straight line of the primary metric against age gives the **decay per 30 days** (positive = worse with age); its
95% interval comes from a bootstrap of the evaluation rows (the same resampled rows for every window). Where the
line crosses the bound of the metric's gate (``ctx.limit``, e.g. ROC AUC >= 0.7) is the **maximum model age**: how
old a model trained this way may get before it falls below the gate. ``staleness.json`` records it
(``max_model_age_days``) for the monitoring step. ``model.staleness`` warns when the decay is beyond noise and the
maximum age is below ``min_age_days``: this model would need retraining more often than that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from playbook.evaluate.metrics import HIGHER_IS_BETTER, bootstrap_indices
from playbook.evaluate.refit import MetricOn, Trainer, primary_metric, scored

DAY = pd.Timedelta(days=1)
#: Labelled rows the staleness measurement trains and scores on at most (a seeded sample of more).
MAX_ROWS = 20_000


def timestamps(df: pd.DataFrame, column: str) -> pd.Series:
    """The column as UTC datetimes (unparseable values become NaT)."""
    s = df[column]
    if pd.api.types.is_datetime64_any_dtype(s):
        out = pd.to_datetime(s, errors="coerce")
        return out.dt.tz_localize("UTC") if out.dt.tz is None else out.dt.tz_convert("UTC")
    if pd.api.types.is_numeric_dtype(s):
        raise ValueError(f"data.timestamp: column {column!r} holds numbers, not dates")
    from playbook.audit.contract import utc_timestamps

    return utc_timestamps(s)   # numeric dates (06/07/2024) in one order for the whole column


def staleness(tr: Trainer, rows: pd.DataFrame, timestamp: str, *, windows: int = 5, eval_share: float = 0.2,
              window_share: float = 0.5, n_boot: int = 200, seed: int = 0, threshold: float = 0.5,
              bound: float | None = None, min_rows: int = 30, max_rows: int = MAX_ROWS) -> dict:
    """``{metric, windows: [...], evaluation: {...}, decay_per_30_days, ci_low, ci_high, slope, intercept, bound,
    max_model_age_days, extrapolated, reason}``; ``reason`` is set (and the rest None) when it cannot be measured.

    More than ``max_rows`` labelled rows: a seeded sample of that many, drawn evenly over time (``sampled_from``
    holds the rows it was drawn from), so the training windows and the evaluation slice stay the size a refit takes
    whatever the data's size."""
    metric = primary_metric(tr.adapter)
    higher = HIGHER_IS_BETTER[metric]
    base = {"metric": metric, "bound": bound, "timestamp": timestamp, "windows": [], "evaluation": None,
            "decay_per_30_days": None, "ci_low": None, "ci_high": None, "slope": None, "intercept": None,
            "max_model_age_days": None, "extrapolated": None, "reason": None}
    df = rows.loc[rows[tr.target].notna()]
    sampled_from = None
    if len(df) > max_rows:
        from playbook.holdout import bounded

        sampled_from = int(len(df))
        df = df.loc[bounded(df.index, max_rows, seed)]
    df = df.copy()
    base["sampled_from"] = sampled_from
    try:
        t = timestamps(df, timestamp)
    except ValueError as exc:
        return {**base, "reason": str(exc)}
    df = df.assign(__t=t.to_numpy()).loc[t.notna().to_numpy()]
    df = df.iloc[np.argsort(df["__t"].to_numpy(), kind="stable")]
    n = len(df)
    n_eval = int(round(eval_share * n))
    pool = df.iloc[: n - n_eval]
    w = int(round(window_share * len(pool)))
    if n_eval < min_rows or w < min_rows or windows < 2:
        return {**base, "reason": f"{n} labelled rows with a valid timestamp are too few for {windows} training "
                                  f"windows of at least {min_rows} rows and an evaluation slice of at least {min_rows}"}
    ev = df.iloc[n - n_eval:]
    ev_median = ev["__t"].iloc[len(ev) // 2]
    if pool["__t"].iloc[0] == pool["__t"].iloc[-1]:
        return {**base, "reason": "every training row has the same timestamp: there is no age to vary"}
    ends = np.unique(np.round(np.linspace(w, len(pool), int(windows))).astype(int))
    idx = bootstrap_indices(len(ev), n_boot, seed)
    out_windows, draws = [], {}
    for end in ends:
        win = pool.iloc[end - w:end]
        cutoff = win["__t"].iloc[-1]
        rec = {"start": win["__t"].iloc[0].isoformat(), "cutoff": cutoff.isoformat(), "rows": len(win),
               "age_days": float((ev_median - cutoff) / DAY), "value": None, "error": None}
        try:
            f = tr.fit(win.drop(columns="__t"), seed=seed)
            m = MetricOn(metric, scored(f, ev.drop(columns="__t"), tr.target, threshold))
        except Exception as exc:  # noqa: BLE001 - e.g. a window with a single class
            rec["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
            out_windows.append(rec)
            continue
        rec["value"] = m()
        draws[len(out_windows)] = np.array([m(r) for r in idx], dtype=float)
        out_windows.append(rec)
    keep = [i for i, r in enumerate(out_windows) if r["value"] is not None and np.isfinite(r["value"])]
    good = [out_windows[i] for i in keep]
    evaluation = {"start": ev["__t"].iloc[0].isoformat(), "end": ev["__t"].iloc[-1].isoformat(),
                  "median": ev_median.isoformat(), "rows": len(ev)}
    if len(good) < 2 or len({r["age_days"] for r in good}) < 2:
        return {**base, "windows": out_windows, "evaluation": evaluation,
                "reason": "fewer than two training windows of different ages could be trained and scored"}
    ages = np.array([r["age_days"] for r in good])
    vals = np.array([r["value"] for r in good])
    slope, intercept = np.polyfit(ages, vals, 1)
    sign = -1.0 if higher else 1.0  # decay: positive = worse with age
    decay = sign * slope * 30.0
    lo = hi = np.nan
    if n_boot:
        D = np.vstack([draws[i] for i in keep])  # windows x resamples
        slopes = [np.polyfit(ages, D[:, b], 1)[0] for b in range(D.shape[1]) if np.all(np.isfinite(D[:, b]))]
        if slopes:
            lo, hi = np.percentile(sign * np.asarray(slopes) * 30.0, [2.5, 97.5])
    max_age, extrapolated = None, None
    if bound is not None and decay > 0:
        age = (float(bound) - intercept) / slope
        max_age = max(0.0, float(age))
        extrapolated = bool(max_age > ages.max() or max_age < ages.min())
    return {**base, "windows": out_windows, "evaluation": evaluation, "decay_per_30_days": float(decay),
            "ci_low": float(lo), "ci_high": float(hi), "slope": float(slope), "intercept": float(intercept),
            "max_model_age_days": max_age, "extrapolated": extrapolated,
            "measured_ages_days": [float(ages.min()), float(ages.max())]}


def plot(result: dict, path) -> None:
    """``staleness.png``: the metric of each training window against its age, the fitted line and the bound."""
    from playbook.evaluate.plots import _plt, _save

    plt = _plt()
    good = [r for r in result["windows"] if r["value"] is not None]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ages = np.array([r["age_days"] for r in good])
    ax.plot(ages, [r["value"] for r in good], "o", color="#1f77b4", label="model trained on a window")
    if result.get("slope") is not None:
        right = max(ages.max(), result["max_model_age_days"] or 0.0) if len(ages) else 1.0
        xs = np.linspace(0.0, right * 1.05, 50)
        ax.plot(xs, result["intercept"] + result["slope"] * xs, "-", color="#555555",
                label=f"decay {result['decay_per_30_days']:.3g} per 30 days")
    if result.get("bound") is not None:
        ax.axhline(result["bound"], color="#d62728", ls="--", label=f"gate bound {result['bound']:g}")
    if result.get("max_model_age_days") is not None:
        ax.axvline(result["max_model_age_days"], color="#d62728", ls=":",
                   label=f"max model age {result['max_model_age_days']:.0f} days")
    ax.set_xlabel("model age: days from training cutoff to evaluation")
    ax.set_ylabel(result["metric"])
    ax.set_title("Quality against model age")
    ax.legend(fontsize=8)
    _save(fig, path)


def staleness_check(result: dict | None, min_age_days: float = 30.0, evidence=None,
                    skip_reason: str | None = None, not_applicable: bool = True) -> dict:
    """``model.staleness``: value = decay of the primary metric per 30 days of model age (positive = worse), with
    its 95% CI; warns when the decay is beyond noise and the maximum model age is below ``min_age_days``."""
    from playbook import catalogue

    thr = {"of": "decay of the primary metric per 30 days of model age", "min_age_days": min_age_days}
    if result is None:
        return catalogue.skip("model.staleness", f"Not computed: {skip_reason}.", threshold=thr, evidence=evidence,
                              not_applicable=not_applicable)
    if result.get("reason"):
        return catalogue.skip("model.staleness", f"Not computed: {result['reason']}.", threshold=thr,
                              evidence=evidence)
    decay, lo, hi = result["decay_per_30_days"], result["ci_low"], result["ci_high"]
    significant = bool(np.isfinite(lo) and lo > 0)
    age = result["max_model_age_days"]
    title = (f"{result['metric']} against model age ({len([w for w in result['windows'] if w['value'] is not None])} "
             f"training windows): decay {decay:.3g} per 30 days (95% CI {lo:.3g} to {hi:.3g})")
    if age is not None:
        title += (f"; crosses the gate bound {result['bound']:g} at {age:.0f} days"
                  + (" (extrapolated)" if result["extrapolated"] else ""))
    elif result["bound"] is None:
        title += "; no gate bound for this metric, so no maximum age"
    else:
        title += "; no decay measured, so no maximum age"
    short = bool(significant and age is not None and age < min_age_days)
    ci = [lo, hi] if np.isfinite(lo) and np.isfinite(hi) else None
    return catalogue.check(
        "model.staleness", "warn" if short else "pass", decay, title=title, threshold=thr, evidence=evidence, ci=ci,
        why="A model is trained once and then ages while the world moves; knowing how fast its quality decays says "
            "how often to retrain and how old a model monitoring should tolerate.")


__all__ = ["plot", "staleness", "staleness_check", "timestamps"]
