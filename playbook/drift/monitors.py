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
from playbook.drift.rows import changed_columns, rowwise, same_rows

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
def _distinct(values: np.ndarray):
    """The distinct values of an array: a sorted array for numbers, a set of (type, value) pairs otherwise."""
    if values.dtype.kind in "iufb":
        return np.unique(values)
    return {(type(v), v) for v in values.tolist()}


def _within(values: np.ndarray, known) -> bool:
    """Every value is one of ``known`` (from :func:`_distinct` of an array of the same dtype)."""
    if isinstance(known, np.ndarray):
        return bool(np.isin(values, known).all()) if values.dtype.kind in "iufb" else False
    try:
        return all((type(v), v) in known for v in values.tolist())
    except TypeError:  # unhashable values: not provably known
        return False


def _surely_breaks(values: pd.Series, rule: dict) -> bool:
    """A quick look that spares :meth:`Monitors._clean_columns` a validation bound to find something: numbers
    beyond the contract's range, or text outside its categories. Only ever skips the shortcut (the batches are
    then validated one by one), never decides a violation."""
    kind = (rule or {}).get("kind")
    if kind == "numeric" and pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        v = values.to_numpy(dtype=float)
        lo, hi = rule.get("min"), rule.get("max")
        return bool(len(v) and ((lo is not None and v.min() < lo) or (hi is not None and v.max() > hi)))
    cats = (rule or {}).get("categories")
    if kind == "categorical" and cats is not None and values.dtype == object:
        allowed = {str(c) for c in cats}
        return any(not isinstance(u, str) or u not in allowed for u in pd.unique(values.to_numpy()))
    return False


@dataclass
class _Item:
    """One frame of :meth:`Monitors.run_many`: as given, without its labels, its base key, the columns that differ
    from its base, the rows equal to the base's in the model's columns, and the model's raw output once known."""

    frame: pd.DataFrame
    x: pd.DataFrame
    key: Any = None
    changed: list | None = None
    same: np.ndarray | None = None
    raw: np.ndarray | None = None


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
        return self._drift_rows(frame, cols), self._violations(frame, cols)

    def _drift_rows(self, frame: pd.DataFrame, cols: list[str] | None = None) -> dict:
        det = self.detector
        names = det.columns if cols is None else [c for c in det.columns if c in cols]
        return {c: det._test(det._ref[c], frame) for c in names}

    def _violations(self, frame: pd.DataFrame, cols: list[str] | None = None) -> dict:
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
        return viol

    def _clean_columns(self, items: list["_Item"]) -> list[set]:
        """Per frame, the changed columns that provably break no contract rule, without validating each batch.

        Every rule of the contract but one judges values one at a time (a missing value, a value of the wrong
        type, out of range, an unseen category); the exception is the largest allowed missing share. So a column
        without missing values breaks no rule when

        * all its values (same dtype) are values of its base batch's column, which breaks none and has no
          missing value: faults that reorder, repeat or copy clean rows (a prior shift, duplicated rows, stuck
          values, a shifted category mix) change columns without breaking the contract;
        * or the changed columns of all the frames, stacked into one column, break none: a value breaking a rule
          in one batch would break it in the stack.

        Columns neither clears are validated batch by batch, as before."""
        out = [set() for _ in items]
        if self.contract is None:
            return out
        from playbook.audit.contract import missing_mask

        markers = self.contract.get("missing_markers") or []
        rules = self.contract.get("columns") or {}
        groups: dict[tuple, list[int]] = {}
        for i, it in enumerate(items):
            if it.key is None:
                continue
            entry = self._cache[it.key]
            for c in it.changed or []:
                if c not in it.x.columns or c not in rules or not isinstance(it.x[c].dtype, np.dtype):
                    continue
                col = it.x[c]
                if c in entry["x"].columns and col.dtype == entry["x"][c].dtype:
                    known = self._clean_values(entry, c, markers)
                    if known is not None and _within(col.to_numpy(), known):
                        out[i].add(c)
                        continue
                groups.setdefault((c, col.dtype.str), []).append(i)
        for (c, _), idx in groups.items():
            if len(idx) < 2:
                continue
            stacked = pd.concat([items[i].x[c] for i in idx], ignore_index=True)
            if stacked.isna().any() or _surely_breaks(stacked, rules[c]) or missing_mask(stacked, markers).any():
                continue
            if contract_violations(stacked.to_frame(c), self.contract, required_roles=()):
                continue
            for i in idx:
                out[i].add(c)
        return out

    def _clean_values(self, entry: dict, column: str, markers: list):
        """The distinct values of a base column that breaks no contract rule and has no missing value (None
        otherwise), cached with the base."""
        cache = entry.setdefault("clean_values", {})
        if column not in cache:
            from playbook.audit.contract import missing_mask

            s = entry["x"][column]
            _, viol0 = entry["state"]
            ok = column not in viol0 and not s.isna().any() and not missing_mask(s, markers).any()
            cache[column] = _distinct(s.to_numpy()) if ok else None
        return cache[column]

    def data_alarms(self, frame: pd.DataFrame, base: pd.DataFrame | None = None, base_key: Any = None) -> dict:
        """Run the data monitors on a batch.

        With ``base`` (the same batch before a shift) and a ``base_key`` to cache it under, only the
        columns the shift changed are re-tested: every monitor works column by column (the deployed one through
        :class:`playbook.monitoring.check.CheckMemo`), so the other columns' results are the base's. The target
        column is dropped first: labels are not there when a batch is scored, so the data monitors never see them.
        """
        return self.run_many([frame], [base], [base_key])[0][0]

    def data_alarms_many(self, frames: list[pd.DataFrame], bases: list[pd.DataFrame | None] | None = None,
                         base_keys: list[Any] | None = None) -> list[dict]:
        """:meth:`data_alarms` of each frame (with its base and base key); see :meth:`run_many`."""
        return self.run_many(frames, bases, base_keys)[0]

    def run_many(self, frames: list[pd.DataFrame], bases: list[pd.DataFrame | None] | None = None,
                 base_keys: list[Any] | None = None, *, scores: bool = False, alarms: bool = True,
                 alarm_only: bool = False) -> tuple[list[dict] | None, list[tuple[float | None, str | None]] | None]:
        """The data monitors' results on each frame (:meth:`data_alarms`) and, with ``scores``, its model metric
        (``(metric, error)`` as :meth:`score` gives it), for many frames at once. The same results as one call per
        frame, for a fraction of the work: a frame with a base (the same batch before a shift) and a base key to
        cache the base's results under is judged on the columns the shift changed only, and the model scores
        only the rows the shift changed (:mod:`playbook.drift.rows`), in one call for all frames; the model's
        output is computed once for the metric and the deployed monitor.

        ``alarm_only``: each result is ``{"alarm", "deployed_kinds"}`` only, and with a deployed monitor the
        Evidently-default rule and the contract (which then only feed the comparison) are not run at all: what
        the timelines and the power estimate need."""
        n = len(frames)
        bases = list(bases) if bases is not None else [None] * n
        base_keys = list(base_keys) if base_keys is not None else [None] * n
        t = self.roles.target
        cols = self._model_columns(self.model) or self._model_columns(getattr(self.scorer, "model", None))
        items = []
        for frame, base, key in zip(frames, bases, base_keys):
            x = frame.drop(columns=[t]) if t and t in frame.columns else frame
            item = _Item(frame, x)
            if base is not None and key is not None and len(frame) == len(base):
                entry = self._entry(key, base, state=not (alarm_only and self.spec is not None))
                bx = entry["x"]
                changed = changed_columns(x, bx)  # with the dropped ones last: tested as missing
                item.key, item.changed = key, changed
                item.same = same_rows(x, bx, cols or list(x.columns), changed)
            items.append(item)
        metric_scores = self._metric_scores(items) if scores else None
        if not alarms:
            return None, metric_scores
        scored = self._scored(items)
        deployed = self._deployed_kinds(items, scored)
        if alarm_only and self.spec is not None:
            return [{"alarm": bool(k), "deployed_kinds": list(k)} for k in deployed], metric_scores
        clean = self._clean_columns(items)
        out = [self._alarms(it.x, it.key, it.changed, kinds, ok) for it, kinds, ok in zip(items, deployed, clean)]
        if alarm_only:
            out = [{"alarm": a["alarm"], "deployed_kinds": a.get("deployed_kinds")} for a in out]
        return out, metric_scores

    def _deployed_kinds(self, items: list["_Item"], scored: list[pd.DataFrame | None]) -> list[list[str] | None]:
        """The kinds of alert ``playbook monitor`` raises on each scored frame (None without a deployed monitor),
        all frames judged at once (:func:`playbook.monitoring.check.alert_kinds_many`); a frame equal to its base
        in every column takes the base's."""
        if self.spec is None:
            return [None] * len(items)
        from playbook.monitoring.check import alert_kinds_many, alert_parts

        out: list[list[str] | None] = [None] * len(items)
        todo, known = [], []
        added = getattr(self.scorer, "column", None)
        for i, it in enumerate(items):
            if it.key is not None and it.changed == [] and "kinds" in self._cache[it.key]:
                out[i] = self._cache[it.key]["kinds"]
                continue
            todo.append(i)
            entry = self._cache[it.key] if it.key is not None else None
            base = entry.get("scored") if entry is not None else None
            sc = scored[i]
            if base is None or sc is None or len(sc) == 0 or len(base) == 0 or len(sc) != len(base):
                known.append(None)
                continue
            if "parts" not in entry:
                entry["parts"] = alert_parts(self.spec, base)
            # the columns equal to the scored base's: the features the fault left alone, and the model's output
            # when it is the same
            same = {c for c in sc.columns if c in base.columns and c not in it.changed and c != added}
            if added in sc.columns and added in base.columns and sc[added].equals(base[added]):
                same.add(added)
            known.append((same, entry["parts"]))
        for i, kinds in zip(todo, alert_kinds_many(self.spec, [scored[i] for i in todo], known=known)):
            out[i] = kinds
            it = items[i]
            if it.key is not None and it.changed == []:
                self._cache[it.key]["kinds"] = kinds
        return out

    def _entry(self, key: Any, base: pd.DataFrame, state: bool = True) -> dict:
        """The cached state of a base batch: the batch, without its labels, and (``state``) its per-column
        results."""
        entry = self._cache.setdefault(key, {})
        if "x" not in entry:
            t = self.roles.target
            entry.update(base=base, x=base.drop(columns=[t]) if t and t in base.columns else base)
        if state and "state" not in entry:
            entry["state"] = self._columns_state(entry["x"])
        return entry

    @staticmethod
    def _model_columns(model) -> list[str] | None:
        feats = getattr(model, "features", None)
        return list(feats) if feats else None

    def _shares_output(self) -> bool:
        """The deployed monitor watches the positive-class probability of the model whose ROC AUC the simulation
        measures: one model call gives both."""
        pred = getattr(self.scorer, "pred", None)
        return (self.metric == "roc_auc" and pred is not None and pred.kind == "probability"
                and pred.source == "model" and getattr(self.scorer, "model", None) is self.model)

    def _scored(self, items: list["_Item"]) -> list[pd.DataFrame | None]:
        """Each frame with the deployed model's monitored output (as the serving log holds it); None without a
        deployed monitor. With a base, the rows equal to the base's take the base's output."""
        if self.spec is None:
            return [None] * len(items)
        if self.scorer is None:
            return [it.x for it in items]
        sc = self.scorer
        col = getattr(sc, "column", None)
        reusable = col is not None and hasattr(sc, "output") and hasattr(sc, "add")
        share = reusable and self._shares_output()
        need = [k for k in dict.fromkeys(it.key for it in items if it.key is not None) if "scored" not in self._cache[k]]
        todo_keys = []
        for k in need:
            entry = self._cache[k]
            if share and entry.get("raw") is not None:
                entry["out"] = entry["raw"]
                entry["scored"] = sc.add(entry["x"], entry["raw"])
            else:
                todo_keys.append(k)
        for k, d in zip(todo_keys, self._score_frames([self._cache[k]["x"] for k in todo_keys])):
            entry = self._cache[k]
            entry["scored"] = d
            entry["out"] = d[col].to_numpy() if reusable and d is not entry["x"] and col in d.columns else None
        out: list[pd.DataFrame | None] = [None] * len(items)
        same, base_out = [None] * len(items), [None] * len(items)
        for i, it in enumerate(items):
            if it.key is None:
                continue
            entry = self._cache[it.key]
            if it.changed == []:  # the base itself (every column equal): its output
                out[i] = entry["scored"]
                continue
            if share and it.raw is not None:
                out[i] = sc.add(it.x, it.raw)
                continue
            bv = entry["out"]
            if not reusable or bv is None or col in it.x.columns or it.same is None:
                continue
            if not (it.same.any() and not pd.isna(bv).any()) and sc.refuses_all(it.x):
                continue  # no output at all: scored on its own (the column is left out)
            same[i], base_out[i] = it.same, bv
        values = rowwise(sc.output, [it.x for it in items], same, base_out) if reusable else [None] * len(items)
        todo = []
        for i, v in enumerate(values):
            if out[i] is not None:
                continue
            if v is not None:
                out[i] = sc.add(items[i].x, v)
            else:
                todo.append(i)
        for i, d in zip(todo, self._score_frames([items[i].x for i in todo])):
            out[i] = d
        return out

    def _score_frames(self, frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
        many = getattr(self.scorer, "many", None)
        return many(frames) if many is not None else [self.scorer(f) for f in frames]

    def _alarms(self, frame: pd.DataFrame, key: Any, changed: list[str] | None, deployed: list[str] | None,
                clean: set = frozenset()) -> dict:
        if key is not None:
            drift0, viol0 = self._cache[key]["state"]
            drift = dict(drift0)
            drift.update(self._drift_rows(frame, changed))
            viol = {k: v for k, v in viol0.items() if k not in changed}
            present = [c for c in changed if c in frame.columns and c not in clean]
            viol.update(self._violations(frame, present))
            dropped = [c for c in changed if c not in frame.columns]
            if dropped and self.contract is not None:  # a column the fault removed: missing, as validate says
                for v in contract_violations(frame.iloc[:0], self.contract):
                    if v["kind"] == "missing_column" and v["column"] in dropped:
                        viol.setdefault(v["column"], []).append(v)
        else:
            drift, viol = self._columns_state(frame)
        out = self._summarize([drift[c] for c in self.detector.columns], [v for vs in viol.values() for v in vs],
                              len(frame))
        out["default_alarm"] = out["alarm"]
        if deployed is not None:
            out["alarm"] = bool(deployed)
            out["deployed_kinds"] = list(deployed)
        return out

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
        y = frame[self.roles.target].to_numpy()  # numpy, not pandas: thousands of small batches per sweep
        ok = ~pd.isna(y)
        if not ok.any():
            return None
        if self.metric == "roc_auc":
            return metrics_mod.metric_value("roc_auc", (y[ok] == self.roles.positive_label).astype(int),
                                            y_score=out[ok])
        if self.metric == "roc_auc_macro":  # over the classes the batch holds: a fault may empty one
            return metrics_mod.roc_auc_macro_present(y[ok], out[ok], self.classes)
        return metrics_mod.metric_value(self.metric, y[ok], y_pred=out[ok])

    def _raw_scores(self, X: pd.DataFrame) -> np.ndarray:
        if self.metric == "roc_auc":
            return self.model.positive_proba(X)
        if self.metric == "roc_auc_macro":
            return np.asarray(self.model.predict_proba(X), dtype=float)
        return self.model.predict(X)

    def score(self, frames: list[pd.DataFrame], bases: list[pd.DataFrame] | None = None,
              base_keys: list[Any] | None = None) -> list[tuple[float | None, str | None]]:
        """(metric, error) per frame; frames with the same columns are scored in one call. With ``bases`` (each
        frame's batch before the shift) and ``base_keys`` to cache their outputs under, only the rows that differ
        from the base's are scored again (:meth:`run_many`): the same metrics, a fraction of the work."""
        if not self.scores:
            return [(None, None)] * len(frames)
        if bases is None or base_keys is None:
            return self._score_full(frames)
        return self.run_many(frames, bases, base_keys, scores=True, alarms=False)[1]

    def _metric_scores(self, items: list["_Item"]) -> list[tuple[float | None, str | None]]:
        if not self.scores:
            return [(None, None)] * len(items)
        need = [k for k in dict.fromkeys(it.key for it in items if it.key is not None) if "raw" not in self._cache[k]]
        for k, raw in zip(need, self._raw_full([self._cache[k]["base"] for k in need])):
            self._cache[k]["raw"] = raw
        same = [it.same if it.key is not None and self._cache[it.key]["raw"] is not None else None for it in items]
        base_raw = [self._cache[it.key]["raw"] if s is not None else None for it, s in zip(items, same)]
        raws = rowwise(self._raw_scores, [it.frame for it in items], same, base_raw)
        out: list[tuple[float | None, str | None]] = [(None, None)] * len(items)
        todo = []
        for i, (it, raw) in enumerate(zip(items, raws)):
            if raw is None:
                todo.append(i)
                continue
            it.raw = raw
            try:
                out[i] = (self._metric_of(it.frame, raw), None)
            except Exception as exc:  # noqa: BLE001 - as when the frame is scored on its own
                out[i] = (None, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        for i, r in zip(todo, self._score_full([items[i].frame for i in todo])):
            out[i] = r
        return out

    def _raw_full(self, frames: list[pd.DataFrame]) -> list[np.ndarray | None]:
        """The model's raw output on each whole frame (None when the model refuses it), in one call per column set."""
        out: list[np.ndarray | None] = [None] * len(frames)
        groups: dict[tuple, list[int]] = {}
        for i, f in enumerate(frames):
            groups.setdefault(tuple(f.columns), []).append(i)
        for idx in groups.values():
            try:
                raw = np.asarray(self._raw_scores(pd.concat([frames[i] for i in idx], ignore_index=True)))
            except Exception:  # noqa: BLE001 - some frame is refused: one by one
                for i in idx:
                    try:
                        out[i] = np.asarray(self._raw_scores(frames[i]))
                    except Exception:  # noqa: BLE001 - no output to reuse
                        out[i] = None
                continue
            start = 0
            for i in idx:
                n = len(frames[i])
                out[i] = raw[start:start + n]
                start += n
        return out

    def _score_full(self, frames: list[pd.DataFrame]) -> list[tuple[float | None, str | None]]:
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
        return load_spec(path, reference=ctx.reference), "the monitoring step's monitoring.yaml", None
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
        spec = load_spec(save_spec(ms.spec, Path(tmp) / "monitoring.yaml"), reference=ctx.reference)
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
