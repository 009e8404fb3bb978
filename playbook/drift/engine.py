"""The drift simulation's engine: inject each fault into clean batches, run the monitors, score the model.

Everything here calls the monitors through one :class:`playbook.drift.monitors.Monitors` object (built by
:func:`playbook.drift.monitors.build_monitors`): ``data_alarms`` on each batch, ``score`` for the model metric,
``perf_alarm`` / ``crossed_floor`` for the label-based side. Replacing the monitors means building another object
with those methods; the sweep, the timelines and the power estimate stay as they are.

The **drop** is the relative loss of the model metric against the *same* batch before the shift (paired, so
sampling noise cancels), and the batch is **degraded** when the drop exceeds ``max_metric_drop`` or the shift pushes
the metric past the bound of the gate ``model.<metric>`` in force. A trial is a **silent failure** when the model
degraded and no alarm fired; a **noisy alarm** when an alarm fired and the model did not degrade. A scoring error
(the model refuses the batch) is a loud failure, counted apart.

Public API (all deterministic given the seed)::

    trials, matrix, skipped = sweep(mon, shifts, severities=[.1, .25, .5, .75, 1], trials=20, batch_size=200)
    matrix = sensitivity_matrix(trials, scored=mon.scores)      # the aggregation sweep already returns
    tl = timelines(mon, shifts, kinds=("sudden", "gradual", "recurring"))
    pw = power(mon, shifts, severity=0.5, batch_sizes=[50, 100, 200, 400, 800])

``NO_SHIFT`` ("none") is the shift name of the unshifted batches (severity 0, the false-alarm baseline).
"""

from __future__ import annotations

import zlib
from typing import Any, Iterable

import numpy as np
import pandas as pd

from playbook.drift import shifts as shifts_mod
from playbook.drift.monitors import Monitors
from playbook.parallel import map_ordered
from playbook.drift.timeline import KINDS as TIMELINE_KINDS
from playbook.drift.timeline import day_seed, sample_batch, schedule, time_to_detection
from playbook.metrics import relative_drop

NO_SHIFT = "none"


def _seed(*parts: Any) -> list[int]:
    out = []
    for p in parts:
        out.append(zlib.crc32(p.encode()) if isinstance(p, str) else int(p) & 0xFFFFFFFF)
    return out


# ---------------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------------
def _applicability(mon: Monitors, names: list[str]) -> dict[str, str]:
    """Shifts that cannot apply to this data -> the reason."""
    skipped = {}
    probe = mon.pool.head(max(2, min(len(mon.pool), 50)))
    for name in names:
        _, info = shifts_mod.apply(name, probe, 0.5, roles=mon.roles, seed=0)
        if not info["applied"]:
            skipped[name] = info["reason"]
    return skipped


def _trial_batches(mon: Monitors, trials: int, batch_size: int, seed: int) -> list[pd.DataFrame]:
    return [sample_batch(mon.pool, batch_size, np.random.default_rng(_seed(seed, t, "trial")))
            for t in range(trials)]


def _record(shift: str, severity: float, trial: int, alarms: dict, metric: float | None,
            error: str | None, clean_metric: float | None, mon: Monitors) -> dict:
    drop = relative_drop(mon.metric, clean_metric, metric) if error is None else None
    degraded = None if drop is None else bool(drop > mon.max_metric_drop or mon.crossed_floor(clean_metric, metric))
    alarm = alarms["alarm"]
    return {
        "shift": shift, "severity": severity, "trial": trial,
        "drift_share": alarms["drift_share"], "n_drifted": alarms["n_drifted"],
        "dataset_drift": alarms["dataset_drift"], "any_column_drift": alarms["any_column_drift"],
        "watched_drift": alarms["watched_drift"],
        "contract_violations": alarms["contract_violations"], "contract_alarm": alarms["contract_alarm"],
        "contract_kinds": ",".join(alarms["contract_kinds"]),
        "alarm": alarm, "default_alarm": alarms.get("default_alarm", alarm),
        "deployed_kinds": ",".join(alarms.get("deployed_kinds") or []),
        "metric": metric, "clean_metric": clean_metric, "drop": drop,
        "model_error": error is not None, "error": error, "degraded": degraded,
        "perf_alarm": mon.perf_alarm(metric),
        "silent": _silent(mon, error, degraded, alarm),
        "noisy": _noisy(mon, error, degraded, alarm),
    }


def _silent(mon: Monitors, error, degraded, alarm) -> bool | None:
    if not mon.scores:
        return None
    if error is not None:
        return False  # the model refused the batch: a loud failure
    return None if degraded is None else bool(degraded and not alarm)


def _noisy(mon: Monitors, error, degraded, alarm) -> bool | None:
    if not mon.scores:
        return None
    if error is not None:
        return False
    return None if degraded is None else bool(alarm and not degraded)


def sweep(mon: Monitors, shifts: Iterable[str] | None = None,
          severities: Iterable[float] = (0.1, 0.25, 0.5, 0.75, 1.0), trials: int = 20,
          batch_size: int = 200, seed: int = 0, progress=None
          ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Every shift x severity x trial: inject, run the monitors, score the model.

    Trial ``t`` draws the same clean batch for every shift and severity (common random numbers,
    so differences between cells are the shift's, not the sampling's); severity 0 is run once as
    the false-alarm baseline (shift ``"none"``). Returns ``(trials, matrix, skipped)``: one record
    per trial, the aggregated sensitivity matrix, and {shift: reason} for shifts that cannot apply.
    """
    names = shifts_mod.check_names(list(shifts) if shifts else list(shifts_mod.SHIFTS))
    sev = sorted({float(s) for s in severities if float(s) > 0})
    for s in sev:
        if s > 1:
            raise ValueError(f"severities must be between 0 and 1, got {s}")
    if trials < 1 or batch_size < 2:
        raise ValueError("trials must be at least 1 and batch_size at least 2")
    skipped = _applicability(mon, names)
    clean = _trial_batches(mon, trials, batch_size, seed)
    keys = [("trial", seed, batch_size, t) for t in range(trials)]
    clean_alarms, clean_scores = mon.run_many(clean, clean, keys, scores=True)
    records = []
    for t, alarms in enumerate(clean_alarms):
        metric, err = clean_scores[t]
        records.append(_record(NO_SHIFT, 0.0, t, alarms, metric, err, metric, mon))

    def one(name: str) -> list[dict]:
        """Every severity x trial of one shift (its records depend on the shift, the seeds and the clean batches)."""
        frames, keys = [], []
        for s in sev:
            for t in range(trials):
                f, _ = shifts_mod.apply(name, clean[t], s, roles=mon.roles, seed=_seed(seed, name, int(s * 1e6), t))
                frames.append(f)
                keys.append((s, t))
        bases = [clean[t] for _, t in keys]
        base_keys = [("trial", seed, batch_size, t) for _, t in keys]
        many, scores = mon.run_many(frames, bases, base_keys, scores=True)
        return [_record(name, s, t, alarms, metric, err, clean_scores[t][0], mon)
                for (s, t), alarms, (metric, err) in zip(keys, many, scores)]

    todo = [name for name in names if name not in skipped]
    for name, recs in zip(todo, map_ordered(one, todo)):
        records.extend(recs)
        if progress is not None:
            progress(name)
    trials_df = pd.DataFrame(records)
    return trials_df, sensitivity_matrix(trials_df, mon.scores, mon.deployed), skipped


def _mean(s: pd.Series) -> float | None:
    s = s.dropna()
    return float(s.astype(float).mean()) if len(s) else None


#: the deployed monitor's parts, each a column of the sensitivity matrix: ``<part>_rate`` is the share of trials on
#: which that part raised an alert (``per_column``: the per-column drift tests, ranges and the model output;
#: the two multivariate monitors of :mod:`playbook.monitoring.multivariate`)
MONITOR_PARTS = {"per_column": "drift", "domain_classifier": "domain_classifier",
                 "pca_reconstruction": "pca_reconstruction"}


def _part_rate(g: pd.DataFrame, kind: str, deployed: bool) -> float | None:
    """Share of the trials whose deployed-monitor alert kinds include ``kind`` (None without a deployed monitor)."""
    if not deployed or "deployed_kinds" not in g:
        return None
    return float(g["deployed_kinds"].fillna("").map(lambda k: kind in k.split(",")).mean())


def sensitivity_matrix(trials: pd.DataFrame, scored: bool = True, deployed: bool = True) -> pd.DataFrame:
    """Aggregate trial records per (shift, severity); the deployed monitor's parts each get a column of their own
    (:data:`MONITOR_PARTS`)."""
    rows = []
    for (shift, sev), g in trials.groupby(["shift", "severity"], sort=False):
        silent_rate = _mean(g["silent"]) if scored else None
        noisy_rate = _mean(g["noisy"]) if scored else None
        degraded_rate = _mean(g["degraded"]) if scored else None
        rows.append({
            "shift": shift, "severity": float(sev), "trials": int(len(g)),
            "detection_rate": float(g["alarm"].mean()),
            "default_detection_rate": float(g["default_alarm"].mean()),
            **{f"{part}_rate": _part_rate(g, kind, deployed) for part, kind in MONITOR_PARTS.items()},
            "dataset_drift_rate": float(g["dataset_drift"].mean()),
            "any_column_drift_rate": float(g["any_column_drift"].mean()),
            "watched_drift_rate": float(g["watched_drift"].mean()),
            "contract_rate": float(g["contract_alarm"].mean()),
            "contract_any_rate": float((g["contract_violations"] > 0).mean()),
            "mean_drift_share": float(g["drift_share"].mean()),
            "perf_alarm_rate": _mean(g["perf_alarm"]),
            "model_error_rate": float(g["model_error"].mean()),
            "metric": _mean(g["metric"]), "clean_metric": _mean(g["clean_metric"]),
            "metric_drop": _mean(g["drop"]), "degraded_rate": degraded_rate,
            "silent_rate": silent_rate, "noisy_rate": noisy_rate,
            "silent_failure": None if silent_rate is None else bool(silent_rate >= 0.5),
            "noisy_alarm": None if noisy_rate is None or sev == 0 else bool(noisy_rate >= 0.5),
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# timelines and power
# ---------------------------------------------------------------------------------------------
def timelines(mon: Monitors, shifts: Iterable[str], kinds: Iterable[str] = TIMELINE_KINDS, *,
              n_batches: int = 30, batch_size: int = 200, onset: int = 10, severity: float = 1.0,
              period: int = 7, seed: int = 0) -> pd.DataFrame:
    """Time to detection (in batches after the onset) of each shift on each timeline.

    The monitors run day by day; a shift stops at its first alarm after the onset. The clean days
    before the onset are shared by all shifts (their false alarms are reported per timeline).
    Returns one row per (timeline, shift): time_to_detection (None: never), detected,
    false_alarms_before_onset, severity_at_detection.
    """
    names = shifts_mod.check_names(list(shifts))
    kinds = list(kinds)
    for k in kinds:
        if k not in TIMELINE_KINDS:
            raise ValueError(f"timeline {k!r} is unknown; use one of {', '.join(TIMELINE_KINDS)}")
    skipped = _applicability(mon, names)

    days: dict[int, pd.DataFrame] = {}

    def clean_day(day):
        if day not in days:
            days[day] = sample_batch(mon.pool, batch_size, np.random.default_rng(day_seed(seed, day, "sample")))
        return days[day]

    def key(day):
        return ("day", seed, batch_size, day)

    clean = [clean_day(d) for d in range(onset)]
    pre = [bool(a["alarm"]) for a in mon.run_many(clean, clean, [key(d) for d in range(onset)], alarm_only=True)[0]]
    rows = []
    for kind in kinds:
        sev = schedule(kind, n_batches, onset, severity, period)
        # day by day, every shift not yet detected on the same clean batch at once (each day's batch and fault
        # depend on the day only, so this is the shift-by-shift replay, stopping at each shift's first alarm)
        active = list(dict.fromkeys(name for name in names if name not in skipped))
        alarms = {name: list(pre) for name in active}
        found: dict[str, int] = {}
        for day in range(onset, n_batches):
            if not active:
                break
            base = clean_day(day)
            frames = [shifts_mod.apply(name, base, sev[day], roles=mon.roles,
                                       seed=day_seed(seed, day, f"{kind}:{name}"))[0] if sev[day] > 0 else base
                      for name in active]
            hits = [bool(a["alarm"]) for a in mon.run_many(frames, [base] * len(frames), [key(day)] * len(frames),
                                                            alarm_only=True)[0]]
            for name, hit in zip(active, hits):
                alarms[name].append(hit)
                if hit:
                    found[name] = day
            active = [name for name in active if name not in found]
        for name in names:
            if name in skipped:
                rows.append({"timeline": kind, "shift": name, "time_to_detection": None, "detected": None,
                             "false_alarms_before_onset": int(sum(pre)), "severity_at_detection": None,
                             "skipped": skipped[name]})
                continue
            ttd = time_to_detection(alarms[name], onset)
            rows.append({"timeline": kind, "shift": name, "time_to_detection": ttd, "detected": ttd is not None,
                         "false_alarms_before_onset": int(sum(pre)),
                         "severity_at_detection": sev[found[name]] if name in found else None, "skipped": None})
    return pd.DataFrame(rows)


def power(mon: Monitors, shifts: Iterable[str], severity: float = 0.5,
          batch_sizes: Iterable[int] = (50, 100, 200, 400, 800), trials: int = 20,
          target: float = 0.8, seed: int = 0, max_false_alarm_rate: float = 0.1) -> pd.DataFrame:
    """Detection rate by batch size at one severity, and the smallest batch reaching ``target`` power.

    Row ``"none"`` gives the false-alarm rate per size. A size only counts when the monitors are
    usable there, i.e. their false-alarm rate at that size is at most ``max_false_alarm_rate``
    (an alarm that fires on clean data too detects nothing). Sizes are tried in increasing order
    and a shift stops at the first usable size reaching the target. Batches larger than the pool
    are drawn with replacement (``bootstrap`` lists those sizes): they magnify the pool's own
    differences from the reference, which usually shows up as false alarms.
    """
    names = shifts_mod.check_names(list(shifts))
    sizes = sorted({int(b) for b in batch_sizes})
    if not sizes or sizes[0] < 2:
        raise ValueError("batch_sizes must be whole numbers of at least 2")
    skipped = _applicability(mon, names)
    usable: dict[int, bool] = {}
    boot = [s for s in sizes if s > len(mon.pool)]

    def one(name: str) -> dict:
        """One shift's detection rate by size (the unshifted rates, which decide the usable sizes, come first)."""
        if name in skipped:
            return {"shift": name, "min_batch_size": None, "rates": {}, "skipped": skipped[name], "bootstrap": boot}
        rates: dict[int, float] = {}
        found = None
        for size in sizes:
            if name != NO_SHIFT and not usable.get(size, False):
                continue
            bases, frames = [], []
            for t in range(trials):
                base = frame = sample_batch(mon.pool, size, np.random.default_rng(_seed(seed, size, t, "power")))
                if name != NO_SHIFT:
                    frame, _ = shifts_mod.apply(name, base, severity, roles=mon.roles,
                                                seed=_seed(seed, name, size, t, "power"))
                bases.append(base)
                frames.append(frame)
            alarms = mon.run_many(frames, bases, [("power", seed, size, t) for t in range(trials)], alarm_only=True)[0]
            hits = sum(bool(a["alarm"]) for a in alarms)
            rates[size] = hits / trials
            if name == NO_SHIFT:
                usable[size] = rates[size] <= max_false_alarm_rate
            elif rates[size] >= target:
                found = size
                break
        return {"shift": name, "min_batch_size": found, "rates": rates, "skipped": None, "bootstrap": boot}

    rows = [one(NO_SHIFT)]
    rows += map_ordered(one, names)
    return pd.DataFrame(rows)


__all__ = ["MONITOR_PARTS", "NO_SHIFT", "power", "sensitivity_matrix", "sweep", "timelines"]
