"""The drift simulation: inject each fault, run the monitors, score the model, tabulate.

The monitors are what a production deployment would run on each batch *without labels*:

* **drift**: per-column tests with Evidently's defaults (:mod:`playbook.drift.detect`) and the
  dataset-level rule "share of drifted feature columns >= ``drift_share``";
* **contract**: any violation of the audit step's data contract
  (``playbook.audit.contract.validate``; a contract built from the reference when the audit did not run).

Both see a batch as it arrives for scoring, without its labels (the target column is dropped).

An **alarm** is either of them. The model is scored on each shifted batch (when it is callable and
the batch is labeled); the **drop** is the relative loss of the metric against the *same* batch
before the shift (paired, so sampling noise cancels), and the batch is **degraded** when the drop
exceeds ``max_metric_drop`` or the shift pushes the metric past the policy's bound on it (the gate
``model.<metric>``, when the policy sets one). A trial is a **silent failure** when the model degraded and no alarm
fired; a **noisy alarm** when an alarm fired and the model did not degrade. A scoring error (the
model refuses the batch) is a loud failure, counted apart. The **performance monitor** (labels
needed, so it lags in production) alarms when a batch's metric falls more than ``max_metric_drop``
below the model's metric on the whole clean pool; it is reported beside the early monitors.

Main entry points (all deterministic given the seed)::

    mon = build_monitors(reference, pool, roles, model=adapter, contract=contract)
    trials, matrix, skipped = sweep(mon, shifts, severities=[.1, .25, .5, .75, 1], trials=20, batch_size=200)
    tl = timelines(mon, shifts, kinds=("sudden", "gradual", "recurring"))
    pw = power(mon, shifts, severity=0.5, batch_sizes=[50, 100, 200, 400, 800])
    checks = make_checks(matrix, skipped, tl, pw, ...)
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from playbook.drift import shifts as shifts_mod
from playbook.drift.detect import (
    DriftDetector,
    dataset_drift,
    default_metric,
    kinds_from_roles,
    metric_value,
    relative_drop,
)
from playbook.drift.timeline import KINDS as TIMELINE_KINDS
from playbook.drift.timeline import day_seed, sample_batch, schedule, time_to_detection

NO_SHIFT = "none"


def _seed(*parts: Any) -> list[int]:
    out = []
    for p in parts:
        out.append(zlib.crc32(p.encode()) if isinstance(p, str) else int(p) & 0xFFFFFFFF)
    return out


# ---------------------------------------------------------------------------------------------
# inputs: contract and model
# ---------------------------------------------------------------------------------------------
def load_contract(ctx) -> tuple[dict, str]:
    """The audit step's data contract, or one built from the reference when the audit did not run.

    Returns ``(contract, source)`` with source "data_audit" or "built from the reference".
    """
    from playbook.audit import contract as contract_mod

    path = ctx.previous_artifact("data_audit", "data_contract.json")
    if path is not None:
        return contract_mod.load(path), "data_audit"
    return contract_mod.build_contract(ctx.reference, ctx.roles), "built from the reference"


def load_model(ctx) -> tuple[Any | None, str]:
    """The model under review when it can score new rows: ``(adapter, note)`` or ``(None, reason)``."""
    from playbook import modeling

    adapter = modeling.get_model(ctx)
    if not adapter.callable:
        return None, ("the model is given as predictions in the data (predictions mode), so it cannot score "
                      "shifted rows; the model-metric part of the simulation is skipped")
    if not adapter.has_predictions:
        return None, "the model gives no predictions; the model-metric part of the simulation is skipped"
    return adapter, f"{adapter.mode} model"


def policy_floor(ctx, metric: str) -> float | None:
    """The policy's bound on the model metric, from the gate ``model.<metric>`` (min, or max for
    lower-is-better metrics), or None when the policy sets none."""
    from playbook.drift.detect import LOWER_IS_BETTER

    try:
        from playbook.scorecard import merged_gates

        gates = merged_gates(ctx.policy)
    except ImportError:  # pragma: no cover - the scorecard is part of the package
        gates = dict(getattr(ctx.policy, "gates", {}) or {})
    gate = gates.get(f"model.{metric}") or {}
    bound = gate.get("max" if metric in LOWER_IS_BETTER else "min")
    return None if bound is None else float(bound)


def evaluation_pool(ctx, model=None) -> tuple[pd.DataFrame, str]:
    """The clean production-like rows batches are drawn from: held-out labeled rows when there are any."""
    try:
        from playbook import modeling

        frame, where = modeling.evaluation_frame(ctx, model)
        if len(frame):
            return frame.reset_index(drop=True), where
    except (ImportError, AttributeError):  # pragma: no cover - modeling is part of the package
        pass
    return ctx.current.reset_index(drop=True), "current"


# ---------------------------------------------------------------------------------------------
# the monitors
# ---------------------------------------------------------------------------------------------
@dataclass
class Monitors:
    """What runs on each batch: drift tests, the contract, and the model (when callable)."""

    reference: pd.DataFrame
    pool: pd.DataFrame
    roles: Any
    detector: DriftDetector
    contract: dict | None = None
    contract_kinds: list[str] | None = None
    contract_tolerance: float = 0.01
    drift_share: float = 0.5
    watch_columns: list[str] = field(default_factory=list)
    model: Any = None
    metric: str | None = None
    max_metric_drop: float = 0.05
    metric_floor: float | None = None
    expected_metric: float | None = None
    notes: dict = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def labeled(self) -> bool:
        t = self.roles.target
        return bool(t and t in self.pool.columns and self.pool[t].notna().any())

    @property
    def scores(self) -> bool:
        """True when the model metric can be measured (callable model and labeled batches)."""
        return self.model is not None and self.labeled

    # -- data monitors ----------------------------------------------------------------------------
    def _columns_state(self, frame: pd.DataFrame, cols: list[str] | None = None) -> tuple[dict, dict]:
        """Per-column drift rows and contract violations of ``frame`` (all columns, or ``cols``)."""
        det = self.detector
        names = det.columns if cols is None else [c for c in det.columns if c in cols]
        drift = {c: det._test(det._ref[c], frame) for c in names}
        viol: dict = {}
        if self.contract is not None:
            from playbook.drift.detect import contract_violations

            if cols is None:
                found = contract_violations(frame, self.contract)
            elif cols:
                found = contract_violations(frame[cols], self.contract, required_roles=())
            else:
                found = []
            for v in found:
                viol.setdefault(v["column"], []).append(v)
        return drift, viol

    def data_alarms(self, frame: pd.DataFrame, base: pd.DataFrame | None = None, base_key: Any = None) -> dict:
        """Run the data monitors on a batch.

        With ``base`` (the same batch before a shift) and a ``base_key`` to cache it under, only the
        columns the shift changed are re-tested: both monitors work column by column, so the other
        columns' results are the base's. The target column is dropped first: labels are not there
        when a batch is scored, so the data monitors never see them.
        """
        t = self.roles.target
        if t and t in frame.columns:
            frame = frame.drop(columns=[t])
            if base is not None and t in base.columns:
                base = base.drop(columns=[t])
        if base is not None and base_key is not None and list(frame.columns) == list(base.columns) \
                and len(frame) == len(base):
            if base_key not in self._cache:
                self._cache[base_key] = self._columns_state(base)
            drift0, viol0 = self._cache[base_key]
            changed = [c for c in frame.columns if not frame[c].equals(base[c])]
            drift1, viol1 = self._columns_state(frame, changed)
            drift = {c: drift1.get(c, drift0.get(c)) for c in self.detector.columns}
            viol = {k: v for k, v in viol0.items() if k not in changed}
            viol.update(viol1)
        else:
            drift, viol = self._columns_state(frame)
        return self._summarize([drift[c] for c in self.detector.columns], [v for vs in viol.values() for v in vs],
                               len(frame))

    def _summarize(self, rows: list[dict], violations: list[dict], n_rows: int) -> dict:
        ds = dataset_drift(rows, self.drift_share)
        alarming = [v for v in violations if self._alarming(v, n_rows)]
        watched = [c for c in ds["drifted_columns"] if c in self.watch_columns]
        return {
            "drift_share": ds["share"], "n_drifted": ds["n_drifted"], "dataset_drift": ds["drifted"],
            "any_column_drift": ds["n_drifted"] > 0, "drifted_columns": ds["drifted_columns"],
            "watched_drift": bool(watched),
            "contract_violations": len(violations),
            "contract_kinds": sorted({v["kind"] for v in alarming}),
            "contract_alarm": bool(alarming),
            "alarm": bool(ds["drifted"] or watched or alarming),
        }

    def _alarming(self, v: dict, n_rows: int) -> bool:
        """Does a contract violation raise the alarm? Range and category violations by at most
        ``ceil(contract_tolerance * rows)`` rows do not (a continuous feature's reference min / max
        is exceeded by a row or two of almost any new sample). For range violations the allowance is
        also at least the 99.9 % binomial quantile of what clean data gives: a new value of an
        exchangeable sample falls outside the min-max of ``n`` reference values with probability
        ``2 / (n + 1)``, which matters for small references (300 rows: 0.7 % of every batch).
        ``contract_tolerance = 0`` is strict: any violation raises the alarm."""
        if self.contract_kinds is not None and v.get("kind") not in self.contract_kinds:
            return False
        if v.get("kind") in ("range", "category") and v.get("count") is not None:
            allowed = math.ceil(self.contract_tolerance * n_rows - 1e-9)
            if v.get("kind") == "range" and len(self.reference) and self.contract_tolerance > 0:
                from scipy.stats import binom

                allowed = max(allowed, int(binom.ppf(0.999, n_rows, 2.0 / (len(self.reference) + 1))))
            return int(v["count"]) > allowed
        return True

    # -- the model ----------------------------------------------------------------------------------
    def _metric_of(self, frame: pd.DataFrame, out: np.ndarray) -> float | None:
        y = frame[self.roles.target]
        ok = y.notna().to_numpy()
        if not ok.any():
            return None
        if self.metric == "roc_auc":
            return metric_value("roc_auc", (y[ok] == self.roles.positive_label).astype(int), y_score=out[ok])
        return metric_value(self.metric, y[ok].to_numpy(), y_pred=out[ok])

    def _raw_scores(self, X: pd.DataFrame) -> np.ndarray:
        if self.metric == "roc_auc":
            return self.model.positive_proba(X)
        return self.model.predict(X)

    def score(self, frames: list[pd.DataFrame]) -> list[tuple[float | None, str | None]]:
        """(metric, error) per frame; frames with the same columns are scored in one call."""
        if not self.scores:
            return [(None, None)] * len(frames)
        out: list[tuple[float | None, str | None]] = [(None, None)] * len(frames)
        groups: dict[tuple, list[int]] = {}
        for i, f in enumerate(frames):
            groups.setdefault(tuple(f.columns), []).append(i)
        for idx in groups.values():
            try:
                big = pd.concat([frames[i] for i in idx], ignore_index=True)
                raw = self._raw_scores(big)
            except Exception:  # noqa: BLE001 - some frame is refused: score them one by one
                for i in idx:
                    try:
                        out[i] = (self._metric_of(frames[i], self._raw_scores(frames[i])), None)
                    except Exception as exc:  # noqa: BLE001 - a refusal is a finding, not a crash
                        out[i] = (None, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
                continue
            start = 0
            for i in idx:
                n = len(frames[i])
                out[i] = (self._metric_of(frames[i], raw[start:start + n]), None)
                start += n
        return out

    def _worse(self, value: float, bound: float) -> bool:
        from playbook.drift.detect import LOWER_IS_BETTER

        return value > bound if self.metric in LOWER_IS_BETTER else value < bound

    def crossed_floor(self, clean: float | None, value: float | None) -> bool:
        """The shift pushed the metric past the policy's bound (it was within it before)."""
        if self.metric_floor is None or clean is None or value is None:
            return False
        return self._worse(value, self.metric_floor) and not self._worse(clean, self.metric_floor)

    def perf_alarm(self, value: float | None) -> bool | None:
        """The (label-based) performance monitor: the batch metric is worse than the expectation
        by more than ``max_metric_drop`` (relative)."""
        if value is None or self.expected_metric is None:
            return None
        drop = relative_drop(self.metric, self.expected_metric, value)
        below = self.metric_floor is not None and self._worse(value, self.metric_floor)
        return bool((drop is not None and drop > self.max_metric_drop) or below)


def build_monitors(reference: pd.DataFrame, pool: pd.DataFrame, roles, *, model=None,
                   contract: dict | None = None, contract_kinds: Iterable[str] | None = None,
                   contract_tolerance: float = 0.01, drift_share: float = 0.5,
                   watch_columns: Iterable[str] = (), metric: str | None = None,
                   max_metric_drop: float = 0.05, metric_floor: float | None = None) -> Monitors:
    """Prepare the monitors once: the drift detector on the reference features, the contract, and
    the model's metric on the whole clean pool (the performance monitor's expectation).

    ``metric_floor`` is the policy's bound on the metric (e.g. the gate ``model.roc_auc: {min: 0.7}``,
    see :func:`policy_floor`): a shift that pushes a batch's metric past it counts as degrading the
    model even when the relative drop is below ``max_metric_drop``.
    """
    if not 0.0 < float(drift_share) <= 1.0:
        raise ValueError(f"drift_share must be in (0, 1], got {drift_share}")
    if max_metric_drop < 0:
        raise ValueError(f"max_metric_drop must be zero or more, got {max_metric_drop}")
    metric = metric or default_metric(roles.task)
    allowed = {"binary": ("roc_auc", "accuracy", "f1_macro"), "multiclass": ("accuracy", "f1_macro"),
               "regression": ("mae", "rmse", "r2")}.get(roles.task, ())
    if metric not in allowed:
        raise ValueError(f"metric {metric!r} does not fit a {roles.task} task; use one of {', '.join(allowed)}")
    feats = [c for c in roles.features if c in reference.columns]
    unknown = [c for c in watch_columns if c not in feats]
    if unknown:
        raise ValueError(f"watch_columns {unknown} are not feature columns; pick from: {', '.join(feats)}")
    if not 0.0 <= float(contract_tolerance) < 1.0:
        raise ValueError(f"contract_tolerance must be in [0, 1), got {contract_tolerance}")
    detector = DriftDetector(reference[feats], kinds_from_roles(roles), feats)
    mon = Monitors(reference=reference, pool=pool.reset_index(drop=True), roles=roles, detector=detector,
                   contract=contract, contract_kinds=list(contract_kinds) if contract_kinds else None,
                   contract_tolerance=float(contract_tolerance), watch_columns=list(watch_columns),
                   drift_share=float(drift_share), model=model,
                   metric=metric, max_metric_drop=float(max_metric_drop),
                   metric_floor=None if metric_floor is None else float(metric_floor))
    if mon.scores:
        mon.expected_metric, err = mon.score([mon.pool])[0]
        if err:
            mon.notes["model"] = f"the model could not score the clean pool ({err}); model metrics skipped"
            mon.model = None
    return mon


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
        "alarm": alarm, "metric": metric, "clean_metric": clean_metric, "drop": drop,
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
    clean_scores = mon.score(clean)
    records = []
    for t, frame in enumerate(clean):
        metric, err = clean_scores[t]
        records.append(_record(NO_SHIFT, 0.0, t, mon.data_alarms(frame, frame, ("trial", seed, batch_size, t)),
                               metric, err, metric, mon))
    for name in names:
        if name in skipped:
            continue
        frames, keys = [], []
        for s in sev:
            for t in range(trials):
                f, _ = shifts_mod.apply(name, clean[t], s, roles=mon.roles, seed=_seed(seed, name, int(s * 1e6), t))
                frames.append(f)
                keys.append((s, t))
        scores = mon.score(frames)
        for (s, t), f, (metric, err) in zip(keys, frames, scores):
            alarms = mon.data_alarms(f, clean[t], ("trial", seed, batch_size, t))
            records.append(_record(name, s, t, alarms, metric, err, clean_scores[t][0], mon))
        if progress is not None:
            progress(name)
    trials_df = pd.DataFrame(records)
    return trials_df, sensitivity_matrix(trials_df, mon.scores), skipped


def _mean(s: pd.Series) -> float | None:
    s = s.dropna()
    return float(s.astype(float).mean()) if len(s) else None


def sensitivity_matrix(trials: pd.DataFrame, scored: bool = True) -> pd.DataFrame:
    """Aggregate trial records per (shift, severity)."""
    rows = []
    for (shift, sev), g in trials.groupby(["shift", "severity"], sort=False):
        silent_rate = _mean(g["silent"]) if scored else None
        noisy_rate = _mean(g["noisy"]) if scored else None
        degraded_rate = _mean(g["degraded"]) if scored else None
        rows.append({
            "shift": shift, "severity": float(sev), "trials": int(len(g)),
            "detection_rate": float(g["alarm"].mean()),
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

    def clean_day(day):
        return sample_batch(mon.pool, batch_size, np.random.default_rng(day_seed(seed, day, "sample")))

    def alarm(frame, day, base):
        return mon.data_alarms(frame, base, ("day", seed, batch_size, day))["alarm"]

    pre = []
    for d in range(onset):
        f = clean_day(d)
        pre.append(alarm(f, d, f))
    rows = []
    for kind in kinds:
        sev = schedule(kind, n_batches, onset, severity, period)
        for name in names:
            if name in skipped:
                rows.append({"timeline": kind, "shift": name, "time_to_detection": None, "detected": None,
                             "false_alarms_before_onset": int(sum(pre)), "severity_at_detection": None,
                             "skipped": skipped[name]})
                continue
            alarms = list(pre)
            found = None
            for day in range(onset, n_batches):
                base = frame = clean_day(day)
                if sev[day] > 0:
                    frame, _ = shifts_mod.apply(name, base, sev[day], roles=mon.roles,
                                                seed=day_seed(seed, day, f"{kind}:{name}"))
                hit = alarm(frame, day, base)
                alarms.append(hit)
                if hit:
                    found = day
                    break
            ttd = time_to_detection(alarms, onset)
            rows.append({"timeline": kind, "shift": name, "time_to_detection": ttd, "detected": ttd is not None,
                         "false_alarms_before_onset": int(sum(pre)),
                         "severity_at_detection": sev[found] if found is not None else None, "skipped": None})
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
    rows = []
    usable: dict[int, bool] = {}
    boot = [s for s in sizes if s > len(mon.pool)]
    for name in [NO_SHIFT] + names:
        if name in skipped:
            rows.append({"shift": name, "min_batch_size": None, "rates": {}, "skipped": skipped[name],
                         "bootstrap": boot})
            continue
        rates: dict[int, float] = {}
        found = None
        for size in sizes:
            if name != NO_SHIFT and not usable.get(size, False):
                continue
            hits = 0
            for t in range(trials):
                base = frame = sample_batch(mon.pool, size, np.random.default_rng(_seed(seed, size, t, "power")))
                if name != NO_SHIFT:
                    frame, _ = shifts_mod.apply(name, base, severity, roles=mon.roles,
                                                seed=_seed(seed, name, size, t, "power"))
                hits += bool(mon.data_alarms(frame, base, ("power", seed, size, t))["alarm"])
            rates[size] = hits / trials
            if name == NO_SHIFT:
                usable[size] = rates[size] <= max_false_alarm_rate
            elif rates[size] >= target:
                found = size
                break
        rows.append({"shift": name, "min_batch_size": found, "rates": rates, "skipped": None, "bootstrap": boot})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------
def detection_at(matrix: pd.DataFrame, shift: str, severity: float) -> pd.Series | None:
    """The matrix row of ``shift`` at the severity closest to ``severity``."""
    g = matrix[matrix["shift"] == shift]
    if g.empty:
        return None
    return g.iloc[int(np.argmin(np.abs(g["severity"].to_numpy() - severity)))]


def make_checks(matrix: pd.DataFrame, skipped: dict[str, str], timeline: pd.DataFrame | None,
                pw: pd.DataFrame | None, *, scored: bool, score_reason: str = "",
                detect_severity: float = 0.5, min_detection_rate: float = 0.8,
                max_false_alarm_rate: float = 0.1, max_silent_failures: int = 0,
                max_noisy_alarm_share: float = 0.5, max_detection_delay: int = 3,
                volume_per_day: float | None = None, power_target: float = 0.8) -> list[dict]:
    """The step's checks (ids ``drift.*``) from the simulation's results."""
    sens = "artifacts/sensitivity.json"
    heat = "artifacts/sensitivity_heatmap.png"
    out: list[dict] = []
    none = matrix[matrix["shift"] == NO_SHIFT]
    fa = float(none["detection_rate"].iloc[0]) if len(none) else None
    out.append({
        "id": "drift.false_alarm_rate", "title": "False-alarm rate of the monitors on unshifted batches",
        "status": "pass" if fa is not None and fa <= max_false_alarm_rate else "fail",
        "value": fa, "threshold": {"max": max_false_alarm_rate}, "evidence": [sens, heat],
        "why": "Monitors that fire on clean data get muted, and then they miss the real fault.",
    })
    shifted = matrix[matrix["shift"] != NO_SHIFT]
    if scored:
        silent = shifted[shifted["silent_failure"] == True]  # noqa: E712 - None means unscored
        cells = [f"{r.shift}@{r.severity:g}" for r in silent.itertuples()]
        out.append({
            "id": "drift.silent_failures", "title": "Faults that degrade the model with no alarm",
            "status": "pass" if len(silent) <= max_silent_failures else "fail",
            "value": int(len(silent)), "threshold": {"max": max_silent_failures}, "evidence": [sens, heat],
            "why": ("A fault that degrades the model while every monitor stays green is found by customers, "
                    f"not by the team{': ' + ', '.join(cells[:8]) + (' ...' if len(cells) > 8 else '') if cells else ''}."),
        })
        alarmed = shifted[shifted["detection_rate"] >= 0.5]
        noisy = shifted[shifted["noisy_alarm"] == True]  # noqa: E712
        share = len(noisy) / len(alarmed) if len(alarmed) else 0.0
        out.append({
            "id": "drift.noisy_alarms", "title": "Share of alarmed faults that did not hurt the model",
            "status": "pass" if share <= max_noisy_alarm_share else "warn",
            "value": share, "threshold": {"max": max_noisy_alarm_share}, "evidence": [sens, heat],
            "why": "Alarms on harmless changes cost on-call time; many of them call for a triage rule, not a rollback.",
        })
    else:
        for cid, title in (("drift.silent_failures", "Faults that degrade the model with no alarm"),
                           ("drift.noisy_alarms", "Share of alarmed faults that did not hurt the model")):
            out.append({"id": cid, "title": title, "status": "skip", "value": None, "threshold": None,
                        "evidence": sens, "why": score_reason or "the model metric could not be measured"})
    for name in list(shifts_mod.SHIFTS):
        cid = f"drift.detects.{name}"
        title = f"Monitors detect: {shifts_mod.SHIFTS[name].title}"
        if name in skipped:
            out.append({"id": cid, "title": title, "status": "skip", "value": None, "threshold": None,
                        "evidence": sens, "why": f"Not applicable to this data: {skipped[name]}."})
            continue
        row = detection_at(matrix, name, detect_severity)
        if row is None:
            continue  # not part of this run's shifts
        rate = float(row["detection_rate"])
        perf = row["perf_alarm_rate"]
        if rate >= min_detection_rate:
            status, why = "pass", f"The monitors raise an alarm in {rate:.0%} of trials at severity {row['severity']:g}."
        elif perf is not None and not (isinstance(perf, float) and math.isnan(perf)) and perf >= min_detection_rate:
            status, why = "warn", (f"Only the label-based performance monitor catches it ({perf:.0%}); "
                                   f"the data monitors fire in {rate:.0%} of trials, so it shows up only once labels arrive.")
        else:
            status, why = "fail", (f"The monitors raise an alarm in only {rate:.0%} of trials at severity "
                                   f"{row['severity']:g}; this fault would go unnoticed.")
        out.append({"id": cid, "title": title, "status": status, "value": rate,
                    "threshold": {"min": min_detection_rate, "severity": float(row["severity"])},
                    "evidence": [sens, heat], "why": why})
    if timeline is not None and len(timeline):
        for kind, g in timeline.groupby("timeline", sort=False):
            g = g[g["skipped"].isna()]
            det = g[g["detected"] == True]  # noqa: E712
            med = float(det["time_to_detection"].median()) if len(det) else None
            missed = sorted(g.loc[g["detected"] == False, "shift"])  # noqa: E712
            ok = med is not None and med <= max_detection_delay
            out.append({
                "id": f"drift.time_to_detection.{kind}",
                "title": f"Median batches from onset to alarm ({kind} drift)",
                "status": "pass" if ok else "warn", "value": med,
                "threshold": {"max": max_detection_delay}, "evidence": "artifacts/timelines.json",
                "why": (f"The longer a fault runs before the alarm, the more decisions it spoils; "
                        f"{len(det)} of {len(g)} faults detected" + (f", never: {', '.join(missed)}" if missed else "") + "."),
            })
    if pw is not None and len(pw):
        g = pw[(pw["shift"] != NO_SHIFT) & pw["skipped"].isna()]
        found = g.dropna(subset=["min_batch_size"])
        never = sorted(g.loc[g["min_batch_size"].isna(), "shift"])
        need = int(max(found["min_batch_size"])) if len(found) else None
        if volume_per_day and need is not None:
            status = "pass" if volume_per_day >= need else "warn"
            thr = {"max": volume_per_day}
        else:
            status, thr = ("pass" if need is not None else "warn"), None
        out.append({
            "id": "drift.min_batch_size",
            "title": f"Rows per batch needed to detect every detectable fault at {power_target:.0%} power",
            "status": status, "value": need, "threshold": thr, "evidence": "artifacts/power.json",
            "why": ("A monitor fed smaller batches than this misses faults it could catch with a day's traffic"
                    + (f"; not detectable at any tested size: {', '.join(never)}" if never else "") + "."),
        })
    return out


# ---------------------------------------------------------------------------------------------
# plots and tables
# ---------------------------------------------------------------------------------------------
def heatmap(matrix: pd.DataFrame, path, title: str = "Detection rate by fault and severity"):
    """Detection-rate heatmap (and relative metric drop when measured); S = silent failure,
    N = noisy alarm. Saves a PNG at ``path`` and returns the figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    shifted = matrix[matrix["shift"] != NO_SHIFT]
    names = list(dict.fromkeys(shifted["shift"]))
    sevs = sorted(shifted["severity"].unique())
    fa = matrix.loc[matrix["shift"] == NO_SHIFT, "detection_rate"]
    det = np.full((len(names), len(sevs)), np.nan)
    drop = np.full_like(det, np.nan)
    marks = [["" for _ in sevs] for _ in names]
    refused = np.zeros_like(det, dtype=bool)
    for r in shifted.itertuples():
        i, j = names.index(r.shift), sevs.index(r.severity)
        det[i, j] = r.detection_rate
        drop[i, j] = r.metric_drop if r.metric_drop is not None else np.nan
        refused[i, j] = bool(r.model_error_rate >= 0.5)
        marks[i][j] = "S" if r.silent_failure is True else ("N" if r.noisy_alarm is True else "")
    has_drop = np.isfinite(drop).any() or refused.any()
    fig, axes = plt.subplots(1, 2 if has_drop else 1, figsize=(12 if has_drop else 7, 0.42 * len(names) + 2),
                             squeeze=False)
    ax = axes[0][0]
    im = ax.imshow(det, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    for i in range(len(names)):
        for j in range(len(sevs)):
            if np.isfinite(det[i, j]):
                ax.text(j, i, f"{det[i, j]:.0%}{' ' + marks[i][j] if marks[i][j] else ''}", ha="center",
                        va="center", fontsize=8, fontweight="bold" if marks[i][j] else "normal")
    ax.set_xticks(range(len(sevs)), [f"{s:g}" for s in sevs])
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("severity")
    fa_txt = f" (false alarms at severity 0: {float(fa.iloc[0]):.0%})" if len(fa) else ""
    ax.set_title(f"{title}{fa_txt}\nS = silent failure, N = noisy alarm", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.04)
    if has_drop:
        ax2 = axes[0][1]
        lim = max(0.05, float(np.nanmax(np.abs(drop)))) if np.isfinite(drop).any() else 0.05
        im2 = ax2.imshow(drop, vmin=-lim, vmax=lim, cmap="RdBu_r", aspect="auto")
        for i in range(len(names)):
            for j in range(len(sevs)):
                if np.isfinite(drop[i, j]):
                    ax2.text(j, i, f"{drop[i, j]:+.0%}", ha="center", va="center", fontsize=8)
                elif refused[i, j]:
                    ax2.text(j, i, "refused", ha="center", va="center", fontsize=7, color="dimgrey")
        ax2.set_xticks(range(len(sevs)), [f"{s:g}" for s in sevs])
        ax2.set_yticks(range(len(names)), [])
        ax2.set_xlabel("severity")
        ax2.set_title("Relative loss of the model metric (refused: the model rejects the batch)", fontsize=10)
        fig.colorbar(im2, ax=ax2, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return fig


def timeline_plot(timeline: pd.DataFrame, path, *, n_batches: int, onset: int,
                  severity: float, period: int):
    """The three severity schedules with the detection day of each fault marked."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(timeline["timeline"]))
    fig, axes = plt.subplots(len(kinds), 1, figsize=(9, 2.2 * len(kinds)), sharex=True, squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds):
        sev = schedule(kind, n_batches, onset, severity, period)
        ax.step(range(n_batches), sev, where="mid", color="grey", label="severity")
        g = timeline[(timeline["timeline"] == kind) & (timeline["detected"] == True)]  # noqa: E712
        days = (g["time_to_detection"] + onset).astype(int)
        counts = days.value_counts().sort_index()
        ax.bar(counts.index, counts.to_numpy() / max(len(timeline[timeline["timeline"] == kind]), 1),
               color="tab:red", alpha=0.6, label="share of faults first detected that day")
        ax.axvline(onset - 0.5, color="black", lw=0.8, ls="--")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(kind)
    axes[-1, 0].set_xlabel("batch (day)")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return fig


def matrix_records(matrix: pd.DataFrame) -> list[dict]:
    """The matrix as JSON-ready records (NaN -> None)."""
    return _records(matrix)


def power_plot(pw: pd.DataFrame, path, target: float = 0.8, max_false_alarm_rate: float = 0.1):
    """Detection rate by fault and batch size as a grid; the first size reaching ``target`` is boxed.

    Sizes at which the monitors are too noisy on clean data (the "none" row) are greyed out;
    sizes after the minimum were not needed and are left blank.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    rows = [r for r in pw.itertuples() if r.rates or r.skipped]
    sizes = sorted({int(k) for r in rows for k in r.rates})
    grid = np.full((len(rows), len(sizes)), np.nan)
    for i, r in enumerate(rows):
        for k, v in r.rates.items():
            grid[i, sizes.index(int(k))] = v
    fig, ax = plt.subplots(figsize=(1.1 * len(sizes) + 3.5, 0.36 * len(rows) + 1.6))
    is_none = np.array([r.shift == NO_SHIFT for r in rows])
    faults_grid = np.where(is_none[:, None], np.nan, grid)
    none_grid = np.where(is_none[:, None], grid, np.nan)
    ax.imshow(faults_grid, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    ax.imshow(none_grid, vmin=0, vmax=1, cmap="RdYlGn_r", aspect="auto")  # false alarms: high is bad
    none = next((r for r in rows if r.shift == NO_SHIFT), None)
    for i, r in enumerate(rows):
        for j, size in enumerate(sizes):
            v = grid[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=8)
            elif r.skipped:
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="grey")
        mb = _clean_value("min_batch_size", r.min_batch_size)
        if mb is not None:
            j = sizes.index(int(mb))
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2, color="black"))
    if none is not None:
        for j, size in enumerate(sizes):
            if none.rates.get(size, 0) > max_false_alarm_rate:
                ax.axvspan(j - 0.5, j + 0.5, color="grey", alpha=0.25)
    ax.set_xticks(range(len(sizes)), [str(s) for s in sizes])
    ax.set_yticks(range(len(rows)), ["no fault (false alarms)" if r.shift == NO_SHIFT else r.shift for r in rows])
    ax.set_xlabel("rows per batch")
    ax.set_title(f"Detection rate by batch size; boxed: smallest batch reaching {target:.0%}\n"
                 "grey: the monitors are too noisy on clean data at that size", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return fig


def power_table(pw: pd.DataFrame) -> pd.DataFrame:
    """One row per fault: the detection rate at each tried batch size and the minimum batch size."""
    sizes = sorted({int(k) for r in pw["rates"] for k in r})
    rows = []
    for r in pw.itertuples():
        row = {"shift": r.shift, "min_batch_size": _clean_value("min_batch_size", r.min_batch_size)}
        for s in sizes:
            row[f"n={s}"] = r.rates.get(s)
        rows.append(row)
    out = pd.DataFrame(rows)
    out["min_batch_size"] = out["min_batch_size"].astype("Int64")
    return out


#: the template parameters recorded with the sensitivity matrix
PARAMETERS = (
    "shifts", "severities", "trials", "batch_size", "drift_share", "watch_columns", "contract_tolerance",
    "max_metric_drop", "metric", "detect_severity", "min_detection_rate", "max_false_alarm_rate",
    "max_silent_failures", "max_noisy_alarm_share", "timelines", "n_batches", "onset", "period",
    "max_detection_delay", "power_batch_sizes", "power_trials", "power_severity", "example_shift",
)


_INT_KEYS = {"min_batch_size", "time_to_detection", "trials", "n_reference", "n_current", "trial"}


def _clean_value(key: str, v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if key in _INT_KEYS and isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _records(df: pd.DataFrame | None) -> list[dict]:
    if df is None:
        return []
    return [{k: _clean_value(k, v) for k, v in r.items()} for r in df.to_dict("records")]


def write_artifacts(step, mon: Monitors, matrix: pd.DataFrame, trials: pd.DataFrame, skipped: dict,
                    timeline: pd.DataFrame | None, pw: pd.DataFrame | None, catalogue: pd.DataFrame,
                    example_table: pd.DataFrame | None, *, params: dict, contract_source: str,
                    pool_source: str) -> None:
    """Write the step's JSON / CSV artifacts (deterministic; no row of data, only aggregates)."""
    from playbook.results import write_json_atomic

    none = matrix[matrix["shift"] == NO_SHIFT]
    write_json_atomic(step.artifact("sensitivity.json"), {
        "params": params,
        "monitors": {
            "drift": f"dataset drift when >= {mon.drift_share:g} of {len(mon.detector.columns)} features drift "
                     "(Evidently 0.7 default tests and thresholds per column)"
                     + (f", or any of {mon.watch_columns} drifts" if mon.watch_columns else ""),
            "contract": (f"data contract ({contract_source}); range/category violations by at most "
                         f"{mon.contract_tolerance:g} of rows ignored") if mon.contract is not None else None,
            "model_metric": mon.metric if mon.scores else None,
            "expected_metric": mon.expected_metric,
            "max_metric_drop": mon.max_metric_drop,
            "metric_floor": mon.metric_floor,
            "batches_from": pool_source,
        },
        "false_alarm_rate": float(none["detection_rate"].iloc[0]) if len(none) else None,
        "skipped": skipped,
        "matrix": matrix_records(matrix),
    })
    trials.drop(columns=["error"], errors="ignore").to_csv(step.artifact("sensitivity_trials.csv"), index=False,
                                                           float_format="%.10g", lineterminator="\n")
    write_json_atomic(step.artifact("shifts.json"), _records(catalogue))
    if example_table is not None:
        write_json_atomic(step.artifact("example_column_drift.json"), _records(example_table))
    if timeline is not None:
        write_json_atomic(step.artifact("timelines.json"), _records(timeline))
    if pw is not None:
        rows = _records(pw)
        for r in rows:
            r["rates"] = {str(k): v for k, v in (r.get("rates") or {}).items()}
        write_json_atomic(step.artifact("power.json"), rows)
