"""The monitors the drift simulation rehearses, and the inputs they are built from.

What runs on each batch, built once by :func:`build_monitors` into one :class:`Monitors` object (the only thing
the sweep, the timelines and the power estimate of :mod:`playbook.drift.engine` call, so the monitors are one
replaceable part):

* **drift**: per-column tests with Evidently's defaults (:mod:`playbook.drift.detect`) and the dataset-level rule
  "share of drifted feature columns >= ``drift_share``", or any of ``watch_columns`` drifting;
* **contract**: any violation of the audit step's data contract (``playbook.audit.contract.validate``; a contract
  built from the reference when the audit did not run), range and category breaches by at most
  ``contract_tolerance`` of a batch's rows excepted.

Both see a batch as it arrives for scoring, without its labels (the target column is dropped). An **alarm** is
either of them.

The **model** is scored on each batch when it is callable and the batch is labeled, with the task's primary metric
(:data:`playbook.metrics.PRIMARY`: ROC AUC for binary, macro one-vs-rest ROC AUC from ``predict_proba`` for
multiclass, MAE for regression); a classifier that gives labels only is scored on accuracy instead, and
:func:`choose_metric` says so. The macro ROC AUC of a batch averages over the classes the batch holds
(:func:`playbook.metrics.roc_auc_macro_present`), so a fault that relabels every row of a class away still gets a
metric to compare with the same batch before the shift. The **performance monitor** (labels needed, so it lags in
production) alarms when a batch's metric is worse than the model's metric on the whole clean pool by more than
``max_metric_drop`` (relative), or past the metric's bound (the gate ``model.<metric>`` in force, see
:func:`metric_bound`).

Public API::

    contract, source = load_contract(ctx)            # the audit step's contract, or one built from the reference
    model, note = load_model(ctx)                    # (adapter, note) or (None, why it cannot score)
    pool, where = evaluation_pool(ctx, model)        # clean held-out rows batches are drawn from
    metric, metric_note = choose_metric(ctx.task, model, metric="")
    mon = build_monitors(ctx.reference, pool, ctx.roles, model=model, contract=contract, metric=metric,
                         metric_floor=metric_bound(metric, ctx.policy), metric_note=metric_note)
    reason, not_applicable = scoring(mon, note)      # why the model metric is not measured ("" when it is)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from playbook import metrics as metrics_mod
from playbook.drift.detect import DriftDetector, contract_violations, dataset_drift, kinds_from_roles

#: the metrics the simulation can track per task (the first is the task's primary metric)
METRICS = {
    "binary": ("roc_auc", "accuracy", "f1_macro"),
    "multiclass": ("roc_auc_macro", "accuracy", "f1_macro"),
    "regression": ("mae", "rmse", "r2"),
}
#: metrics computed from class probabilities (the others from predicted labels or values)
PROBABILITY_METRICS = ("roc_auc", "roc_auc_macro")


# ---------------------------------------------------------------------------------------------
# inputs: contract, model, metric and the clean pool
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


def _has_proba(model) -> bool:
    return model is None or bool(getattr(model, "has_proba", True))


def choose_metric(task: str, model=None, metric: str | None = None) -> tuple[str, str]:
    """The metric the simulation scores batches with: ``(metric, note)``.

    By default the task's primary metric (:func:`playbook.metrics.primary`); a classifier without probabilities
    (``model.has_proba`` false) is scored on accuracy instead, and ``note`` says so (it goes to the artifacts).
    An explicit ``metric`` must fit the task (:data:`METRICS`) and, for a ranking metric, the model must give
    probabilities; otherwise ``ValueError`` with the choices.
    """
    allowed = METRICS.get(task, ())
    if metric:
        if metric not in allowed:
            raise ValueError(f"metric {metric!r} does not fit a {task} task; use one of {', '.join(allowed)}")
        if metric in PROBABILITY_METRICS and not _has_proba(model):
            labels = [m for m in allowed if m not in PROBABILITY_METRICS]
            raise ValueError(f"metric {metric!r} needs class probabilities and the model gives labels only; "
                             f"use one of {', '.join(labels)}")
        return metric, ""
    name = metrics_mod.primary(task)
    if name in PROBABILITY_METRICS and not _has_proba(model):
        return "accuracy", (f"the model gives labels only (no predict_proba), so the simulation scores batches on "
                            f"accuracy instead of the {task} primary metric {name}")
    return name, ""


def metric_bound(metric: str, policy=None) -> float | None:
    """The bound the gate in force sets on the model metric: ``model.<metric>``'s ``min`` (``max`` for a
    lower-is-better metric) from :func:`playbook.catalogue.limit` (the catalogue default overlaid by the policy's
    gates), or None when no gate bounds it. The same look-up as ``ctx.limit(f"model.{metric}", ...)``."""
    from playbook import catalogue

    key = "max" if metric in metrics_mod.LOWER_IS_BETTER else "min"
    return catalogue.limit(f"model.{metric}", key, None, policy)


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
    spec: Any = None            # the deployed monitor (monitoring.yaml as read back): what the alarm is
    scorer: Any = None          # adds the model's monitored output to a batch, as the serving log would hold it
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def deployed(self) -> bool:
        """True when the alarm is the deployed calibrated monitor's (``playbook monitor`` on each batch); the
        Evidently-default tests are then the comparison (``default_alarm``)."""
        return self.spec is not None

    @property
    def labeled(self) -> bool:
        t = self.roles.target
        return bool(t and t in self.pool.columns and self.pool[t].notna().any())

    @property
    def scores(self) -> bool:
        """True when the model metric can be measured (callable model and labeled batches)."""
        return self.model is not None and self.labeled

    @property
    def classes(self) -> list:
        """The classes in the column order of the model's ``predict_proba``."""
        return list(getattr(self.model, "classes_", None) or self.roles.classes or [])

    # -- data monitors ----------------------------------------------------------------------------
    def _columns_state(self, frame: pd.DataFrame, cols: list[str] | None = None) -> tuple[dict, dict]:
        """Per-column drift rows and contract violations of ``frame`` (all columns, or ``cols``)."""
        det = self.detector
        names = det.columns if cols is None else [c for c in det.columns if c in cols]
        drift = {c: det._test(det._ref[c], frame) for c in names}
        viol: dict = {}
        if self.contract is not None:
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
        columns the shift changed are re-tested: every monitor works column by column (the deployed one through
        :class:`playbook.monitoring.check.CheckMemo`), so the other columns' results are the base's. The target
        column is dropped first: labels are not there when a batch is scored, so the data monitors never see them.
        """
        return self.data_alarms_many([frame], [base], [base_key])[0]

    def data_alarms_many(self, frames: list[pd.DataFrame], bases: list[pd.DataFrame | None] | None = None,
                         base_keys: list[Any] | None = None) -> list[dict]:
        """:meth:`data_alarms` of each frame (with its base and base key), the model's monitored output of all of
        them computed in as few model calls as possible. The same results as one call per frame."""
        n = len(frames)
        bases = list(bases) if bases is not None else [None] * n
        base_keys = list(base_keys) if base_keys is not None else [None] * n
        t = self.roles.target
        prepared = []
        for frame, base, key in zip(frames, bases, base_keys):
            if t and t in frame.columns:
                frame = frame.drop(columns=[t])
                if base is not None and t in base.columns:
                    base = base.drop(columns=[t])
            incremental = (base is not None and key is not None and list(frame.columns) == list(base.columns)
                           and len(frame) == len(base))
            if incremental and key not in self._cache:
                self._cache[key] = {"state": self._columns_state(base), "base": base}
            changed = [c for c in frame.columns if not frame[c].equals(base[c])] if incremental else None
            prepared.append((frame, key if incremental else None, changed))
        scored = self._scored([p[0] for p in prepared], [p[1] for p in prepared], [p[2] for p in prepared])
        return [self._alarms(frame, key, changed, sc) for (frame, key, changed), sc in zip(prepared, scored)]

    def _scored(self, frames: list[pd.DataFrame], keys: list, changed: list) -> list[pd.DataFrame | None]:
        """Each frame with the deployed model's monitored output (as the serving log holds it); None without a
        deployed monitor. A frame whose every column equals its base's gets the base's output."""
        if self.spec is None:
            return [None] * len(frames)
        if self.scorer is None:
            return list(frames)
        out: list[pd.DataFrame | None] = [None] * len(frames)
        todo = []
        for i, (f, key, ch) in enumerate(zip(frames, keys, changed)):
            if key is not None and ch == [] and "scored" in self._cache[key]:
                out[i] = self._cache[key]["scored"]
            else:
                todo.append(i)
        many = getattr(self.scorer, "many", None)
        done = many([frames[i] for i in todo]) if many is not None else [self.scorer(frames[i]) for i in todo]
        for i, sc in zip(todo, done):
            out[i] = sc
        return out

    def _alarms(self, frame: pd.DataFrame, key: Any, changed: list[str] | None, scored: pd.DataFrame | None) -> dict:
        if key is not None:
            drift0, viol0 = self._cache[key]["state"]
            drift1, viol1 = self._columns_state(frame, changed)
            drift = {c: drift1.get(c, drift0.get(c)) for c in self.detector.columns}
            viol = {k: v for k, v in viol0.items() if k not in changed}
            viol.update(viol1)
        else:
            drift, viol = self._columns_state(frame)
        out = self._summarize([drift[c] for c in self.detector.columns], [v for vs in viol.values() for v in vs],
                              len(frame))
        out["default_alarm"] = out["alarm"]
        if self.spec is not None:
            res = self._check(scored, key, changed)
            out["alarm"] = res["status"] == "alert"
            out["deployed_kinds"] = sorted({a["kind"] for a in res["alerts"]})
        return out

    def _check(self, scored: pd.DataFrame, key: Any, changed: list[str] | None) -> dict:
        """``playbook monitor``'s check of the scored batch; with a base, the columns equal to the scored base's
        are taken from its :class:`~playbook.monitoring.check.CheckMemo` (the same result, a fraction of the work)."""
        from playbook.monitoring.check import CheckMemo, check_batch

        if key is None:
            return check_batch(self.spec, scored)
        entry = self._cache[key]
        if "memo" not in entry:
            base = entry["base"]
            base_scored = scored if changed == [] else self._scored([base], [None], [None])[0]
            entry["scored"] = base_scored
            entry["memo"] = CheckMemo()
            entry["result"] = check_batch(self.spec, base_scored, memo=entry["memo"])
            if changed == []:
                return entry["result"]
        base_scored = entry["scored"]
        same = [c for c in scored.columns if c in base_scored.columns and scored[c].equals(base_scored[c])]
        return check_batch(self.spec, scored, memo=entry["memo"], unchanged=same)

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
            return metrics_mod.metric_value("roc_auc", (y[ok] == self.roles.positive_label).astype(int),
                                            y_score=out[ok])
        if self.metric == "roc_auc_macro":  # over the classes the batch holds: a fault may empty one
            return metrics_mod.roc_auc_macro_present(y[ok].to_numpy(), out[ok], self.classes)
        return metrics_mod.metric_value(self.metric, y[ok].to_numpy(), y_pred=out[ok])

    def _raw_scores(self, X: pd.DataFrame) -> np.ndarray:
        if self.metric == "roc_auc":
            return self.model.positive_proba(X)
        if self.metric == "roc_auc_macro":
            return np.asarray(self.model.predict_proba(X), dtype=float)
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

    def crossed_floor(self, clean: float | None, value: float | None) -> bool:
        """The shift pushed the metric past the policy's bound (it was within it before)."""
        if self.metric_floor is None or clean is None or value is None:
            return False
        worse = metrics_mod.worse
        return worse(self.metric, value, self.metric_floor) and not worse(self.metric, clean, self.metric_floor)

    def perf_alarm(self, value: float | None) -> bool | None:
        """The (label-based) performance monitor: the batch metric is worse than the expectation
        by more than ``max_metric_drop`` (relative), or past the metric's bound."""
        if value is None or self.expected_metric is None:
            return None
        drop = metrics_mod.relative_drop(self.metric, self.expected_metric, value)
        below = self.metric_floor is not None and metrics_mod.worse(self.metric, value, self.metric_floor)
        return bool((drop is not None and drop > self.max_metric_drop) or below)


def deployed_monitor(ctx, model=None, *, batch_size: int | None = None):
    """The monitor the pack deploys: the monitoring step's ``monitoring.yaml`` read back, or, when that step did not
    run (this notebook on its own), one calibrated here with the monitoring step's defaults (the same function and
    seed, so the same monitor). Returns ``(spec, source, clean)``: ``clean`` is the clean held-out frame with the
    model's out-of-sample output when calibrated here, else None (the false-alarm measurement is then read from the
    monitoring step's ``calibration.json``)."""
    from playbook.monitoring.spec import load_spec

    path = ctx.previous_artifact("monitoring_setup", "monitoring.yaml")
    if path is not None:
        return load_spec(path), "the monitoring step's monitoring.yaml", None
    import tempfile
    from pathlib import Path

    from playbook.display import pii_columns
    from playbook.monitoring import setup as msetup
    from playbook.monitoring.spec import save_spec

    contract, _ = load_contract(ctx)
    batch = int(batch_size or max(1, int(round(ctx.business.volume_per_day))))
    pii = [] if ctx.policy.allow_raw_pii else [c for c in pii_columns(ctx.reference, ctx) if c in ctx.features]
    ms = msetup.make_config(ctx, model, contract, batch_size=batch, pii_columns=pii)
    with tempfile.TemporaryDirectory() as tmp:  # written and read back, exactly as the monitoring step does
        spec = load_spec(save_spec(ms.spec, Path(tmp) / "monitoring.yaml"))
    return spec, "calibrated here with the monitoring step's defaults (the monitoring step did not run)", ms.clean


def held_out_false_alarms(ctx, spec, clean: pd.DataFrame | None, batch_size: int) -> dict:
    """The deployed monitor's false-alarm rate on disjoint clean held-out batches (with Evidently's defaults on the
    same batches): the monitoring step's measurement when it ran (computed once per pack), else measured here."""
    import json

    path = ctx.previous_artifact("monitoring_setup", "calibration.json")
    if path is not None and clean is None:
        measured = json.loads(path.read_text(encoding="utf-8")).get("held_out_false_alarms")
        if measured:
            return {**measured, "source": "the monitoring step"}
    from playbook import holdout
    from playbook.drift.detect import kinds_from_roles
    from playbook.monitoring import setup as msetup

    if clean is None:  # a spec without its clean frame: score the clean rows with the model as it stands
        s = holdout.split(ctx)
        clean = ctx.reference.loc[s.clean]
    ref = ctx.reference.loc[holdout.split(ctx).calibration]
    kinds = {c: k for c, k in kinds_from_roles(ctx.roles).items() if c in ctx.features}
    out = msetup.held_out_false_alarms(spec, clean, batch_size, seed=ctx.seed, default_kinds=kinds, reference=ref)
    return {**out, "source": "measured in this step"}


def build_monitors(reference: pd.DataFrame, pool: pd.DataFrame, roles, *, model=None,
                   contract: dict | None = None, contract_kinds: Iterable[str] | None = None,
                   contract_tolerance: float = 0.01, drift_share: float = 0.5,
                   watch_columns: Iterable[str] = (), metric: str | None = None,
                   max_metric_drop: float = 0.05, metric_floor: float | None = None,
                   metric_note: str = "", spec=None, scorer=None) -> Monitors:
    """Prepare the monitors once: the drift detector on the reference features, the contract, and
    the model's metric on the whole clean pool (the performance monitor's expectation).

    ``metric`` defaults to :func:`choose_metric`'s choice for the task and model. ``metric_floor`` is the bound
    the gate in force sets on the metric (e.g. ``model.roc_auc: {min: 0.7}``, see :func:`metric_bound`): a shift
    that pushes a batch's metric past it counts as degrading the model even when the relative drop is below
    ``max_metric_drop``. ``metric_note`` (why the metric is not the primary one) is kept in ``notes["metric"]``.
    """
    if not 0.0 < float(drift_share) <= 1.0:
        raise ValueError(f"drift_share must be in (0, 1], got {drift_share}")
    if max_metric_drop < 0:
        raise ValueError(f"max_metric_drop must be zero or more, got {max_metric_drop}")
    chosen, note = choose_metric(roles.task, model, metric)
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
                   metric=chosen, max_metric_drop=float(max_metric_drop),
                   metric_floor=None if metric_floor is None else float(metric_floor), spec=spec, scorer=scorer)
    if metric_note or note:
        mon.notes["metric"] = metric_note or note
    if mon.scores:
        mon.expected_metric, err = mon.score([mon.pool])[0]
        if err:
            mon.notes["model"] = f"the model could not score the clean pool ({err}); model metrics skipped"
            mon.model = None
        elif mon.expected_metric is None:
            mon.notes["model"] = (f"{chosen} is undefined on the clean pool (a class without rows, or no labels); "
                                  "model metrics skipped")
            mon.model = None
    return mon


def scoring(mon: Monitors, model_note: str = "") -> tuple[str, bool]:
    """Why the model metric is not measured (``""`` when it is), and whether the checks that need it are
    *not applicable* (the model cannot score rows at all: predictions mode) rather than missing evidence (the
    model refused the clean rows, or the held-out rows have no labels)."""
    if mon.scores:
        return "", False
    if mon.notes.get("model"):
        return mon.notes["model"], False
    if mon.model is None:
        return model_note or "no model that can score new rows was given", True
    return "the held-out data has no labels, so the model metric cannot be measured", False


__all__ = ["METRICS", "Monitors", "PROBABILITY_METRICS", "build_monitors", "choose_metric", "evaluation_pool",
           "load_contract", "load_model", "metric_bound", "scoring"]
