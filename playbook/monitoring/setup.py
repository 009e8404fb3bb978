"""From a pack context to a calibrated, deployable monitor.

:func:`prediction_settings` decides which model output the monitor watches; :func:`monitored_frame` builds
the reference frame it is calibrated on (features plus **out-of-sample** model scores: a model scores its
own training rows more confidently than production rows, so the baseline's reference scores come from
cross-fitting); :func:`build_monitors` makes one monitor per column; :func:`labeled_floors` sets the
performance floors for labeled batches; :func:`make_config` runs the whole calibration and returns the
``monitoring.yaml`` mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from playbook.monitoring.calibrate import (
    Calibration, DistributionMonitor, EstimatedPerformanceMonitor, RangeMonitor, calibrate, clopper_pearson_upper,
)
from playbook.monitoring.performance import Calibrator, batch_roc_auc, fit_calibrator
from playbook.monitoring.stats import ColumnProfile, frame_signature

SCORE_COLUMN = "score"
PREDICTION_COLUMN = "prediction"


@dataclass
class PredictionSettings:
    """Which model output the monitor watches and how to read it."""

    column: str
    kind: str  # probability | label | value
    source: str  # model | data
    positive_label: Any = None
    decision_threshold: float = 0.5

    def as_dict(self) -> dict:
        return {"column": self.column, "kind": self.kind, "source": self.source,
                "positive_label": self.positive_label, "decision_threshold": self.decision_threshold}


def prediction_settings(roles, model=None, decision_threshold: float = 0.5) -> PredictionSettings | None:
    """The monitored model output: the positive-class probability for binary classifiers that have one,
    the predicted label for other classifiers, the predicted value for regression. The column is the data's
    own (``data.probability`` / ``data.prediction``) in predictions mode, else ``score`` / ``prediction``:
    the name the serving log must use."""
    task = roles.task
    in_data = model is not None and getattr(model, "mode", None) == "predictions"
    if task == "binary":
        probs = roles.probability
        if isinstance(probs, str) or (isinstance(probs, list) and len(probs) == 1):
            col = probs if isinstance(probs, str) else probs[0]
            return PredictionSettings(col, "probability", "data", roles.positive_label, decision_threshold)
        if model is not None and getattr(model, "has_proba", False) and not in_data:
            return PredictionSettings(SCORE_COLUMN, "probability", "model", roles.positive_label, decision_threshold)
    if roles.prediction:
        kind = "value" if task == "regression" else "label"
        return PredictionSettings(roles.prediction, kind, "data", roles.positive_label, decision_threshold)
    if model is not None and getattr(model, "callable", False):
        kind = "value" if task == "regression" else "label"
        return PredictionSettings(PREDICTION_COLUMN, kind, "model", roles.positive_label, decision_threshold)
    return None


def model_output(model, frame: pd.DataFrame, pred: PredictionSettings) -> pd.Series:
    """The monitored output of ``model`` on ``frame`` (a column named ``pred.column``)."""
    if pred.source == "data":
        return frame[pred.column]
    from playbook.data import infinite_mask

    refused = infinite_mask(frame, getattr(model, "numeric", []))  # rows the model refuses get no output,
    rows = frame.loc[~refused] if refused.any() else frame     # as in a serving log
    if pred.kind == "probability":
        values = model.positive_proba(rows)
    else:
        values = model.predict(rows)
        if pred.kind == "label":
            values = pd.Series(values).map(str).to_numpy()
    if not refused.any():
        return pd.Series(values, index=frame.index, name=pred.column)
    out = pd.Series(np.nan if pred.kind != "label" else None, index=frame.index, name=pred.column,
                    dtype=float if pred.kind != "label" else object)
    out.loc[rows.index] = values
    return out


@dataclass
class ScoreSource:
    """Scores frames the way production would, without scoring a row with a model that trained on it.

    ``parts`` pairs row labels of the reference with the model that scores them: for the baseline, the
    model of each cross-fitting fold (fitted without those rows); otherwise one part with the model itself.
    :meth:`apply` transforms each part (e.g. injects a shift) and scores the result with its part's model.
    """

    pred: PredictionSettings | None
    parts: list = field(default_factory=list)  # [(row labels, ModelAdapter | None)]
    how: str = ""

    def apply(self, base: pd.DataFrame, transform=None) -> pd.DataFrame:
        """``transform(frame, part_number) -> frame`` on each part, then the monitored output added."""
        from playbook.modeling import ModelInputError

        frames = []
        for k, (rows, adapter) in enumerate(self.parts):
            sub = base.loc[base.index.intersection(rows)]
            out = transform(sub, k) if transform is not None else sub.copy()
            p = self.pred
            if p is not None and p.source == "model" and adapter is not None:
                try:
                    out[p.column] = model_output(adapter, out, p).to_numpy()
                except (ModelInputError, KeyError, ValueError, TypeError):
                    pass  # the model cannot score this data (e.g. a dropped column): no output column
            frames.append(out)
        return pd.concat(frames, ignore_index=False) if frames else base.iloc[0:0]

    def apply_many(self, base: pd.DataFrame, transforms: list) -> list[pd.DataFrame]:
        """``[self.apply(base, t) for t in transforms]`` with one model call per part's model for all of them
        (:meth:`Scorer.many`): the same frames."""
        parts = [(base.loc[base.index.intersection(rows)], adapter) for rows, adapter in self.parts]
        outs = [[t(sub, k) if t is not None else sub.copy() for k, (sub, _) in enumerate(parts)] for t in transforms]
        p = self.pred
        if p is not None and p.source == "model":
            for k, (_, adapter) in enumerate(parts):
                if adapter is None:
                    continue
                for o, scored in zip(outs, Scorer(adapter, p).many([o[k] for o in outs])):
                    o[k] = scored
        return [pd.concat(o, ignore_index=False) if o else base.iloc[0:0] for o in outs]


class Scorer:
    """Adds the deployed model's monitored output to a frame (as the serving log would hold it): ``scorer(frame)``.
    When the model cannot score the frame (a dropped column, numbers as text) the column is left out: the monitor
    then reports the contract problem instead.

    ``column`` is the output column the scorer adds (None when it adds none: no monitored output, or the data's own
    column); ``output(frame)`` the output values (raises when the model refuses the frame); ``many(frames)`` is
    ``[scorer(f) for f in frames]`` in as few model calls as possible."""

    def __init__(self, model, pred: PredictionSettings | None):
        self.model = model
        self.pred = pred

    @property
    def column(self) -> str | None:
        p = self.pred
        return None if p is None or p.source == "data" else p.column

    def output(self, frame: pd.DataFrame) -> np.ndarray:
        return model_output(self.model, frame, self.pred).to_numpy()

    def add(self, frame: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
        return frame.assign(**{self.column: values})

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        from playbook.modeling import ModelInputError

        if self.column is None:
            return frame
        try:
            return self.add(frame, self.output(frame))
        except (ModelInputError, KeyError, ValueError, TypeError):
            return frame

    def refuses_all(self, frame: pd.DataFrame) -> bool:
        """Every row holds +/- infinity in a numeric feature (the model gives no output at all)."""
        from playbook.data import infinite_mask

        return len(frame) == 0 or bool(infinite_mask(frame, getattr(self.model, "numeric", [])).all())

    def many(self, frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
        """``[self(f) for f in frames]`` in as few model calls as possible: frames with the same columns and dtypes
        are scored as one frame (a row's output does not depend on the other rows). A group the model refuses, and
        a frame whose every row it refuses, are scored one by one, so every frame gets what ``self(f)`` gives it."""
        from playbook.modeling import ModelInputError

        if self.column is None:
            return list(frames)
        out: list[pd.DataFrame | None] = [None] * len(frames)
        groups: dict[tuple, list[int]] = {}
        for i, f in enumerate(frames):
            groups.setdefault(frame_signature(f), []).append(i)
        for idx in groups.values():
            batch = [i for i in idx if not self.refuses_all(frames[i])]
            for i in idx:
                if i not in batch:
                    out[i] = self(frames[i])
            if len(batch) < 2:
                for i in batch:
                    out[i] = self(frames[i])
                continue
            try:
                values = self.output(pd.concat([frames[i] for i in batch], ignore_index=True))
            except (ModelInputError, KeyError, ValueError, TypeError):
                for i in batch:
                    out[i] = self(frames[i])
                continue
            start = 0
            for i in batch:
                n = len(frames[i])
                out[i] = self.add(frames[i], values[start:start + n])
                start += n
        return out


def scorer(model, pred: PredictionSettings | None) -> Scorer:
    """The :class:`Scorer` of ``model``'s monitored output ``pred``."""
    return Scorer(model, pred)


def score_source(ctx, model, pred: PredictionSettings | None, folds: int = 5, rows: pd.Index | None = None) -> ScoreSource:
    """How reference rows get their model output: cross-fitted baseline folds (so the reference scores look
    like production scores, not like training scores), the model file, or the data's own column. ``rows``: only
    these reference rows (default: all)."""
    import dataclasses

    ref = ctx.reference if rows is None else ctx.reference.loc[rows]
    if pred is None or pred.source == "data":
        return ScoreSource(pred, [(ref.index, None)], "the data's own prediction column" if pred else "none")
    if getattr(model, "mode", None) != "baseline" or ctx.target not in ref.columns:
        return ScoreSource(pred, [(ref.index, model)],
                           "the model file's outputs on the reference (assumed not to be its training data)")
    from sklearn.model_selection import KFold, StratifiedKFold

    from playbook.modeling import fit_baseline

    y = ref[ctx.target]
    rows = ref.index[y.notna()]
    X = ref.loc[rows, list(model.features)]
    yy = y.loc[rows]
    classifier = ctx.task in ("binary", "multiclass")
    k = int(max(2, min(folds, yy.value_counts().min() if classifier else len(yy))))
    splitter = (StratifiedKFold(k, shuffle=True, random_state=ctx.seed) if classifier
                else KFold(k, shuffle=True, random_state=ctx.seed))
    parts = []
    for train, test in splitter.split(X, yy.astype(str) if classifier else yy):
        est = fit_baseline(X.iloc[train], yy.iloc[train], ctx.task, ctx.seed, hashed=model.hashed)
        parts.append((X.index[test], dataclasses.replace(model, estimator=est)))
    return ScoreSource(pred, parts, f"cross-fitted baseline ({k} folds: each row scored by a model fitted without it)")


def monitored_frame(ctx, source: ScoreSource, rows: pd.Index | None = None) -> tuple[pd.DataFrame, dict]:
    """The reference features (of ``rows``, default all) plus the monitored model output, and where the output came
    from."""
    pred = source.pred
    cols = list(ctx.features) + ([pred.column] if pred is not None and pred.source == "data" else [])
    ref = ctx.reference if rows is None else ctx.reference.loc[rows]
    frame = source.apply(ref[cols]).reindex(columns=cols + (
        [pred.column] if pred is not None and pred.source == "model" else []))
    frame = frame.loc[ref.index[ref.index.isin(frame.index)]]
    if pred is not None and pred.source == "model":  # rows the model refuses (+/- infinity) have no output
        from playbook.data import infinite_mask

        frame = frame.loc[~infinite_mask(frame, ctx.roles.numeric)]
    info: dict[str, Any] = {"rows": int(len(frame)), "prediction": source.how}
    return frame, info


def build_monitors(frame: pd.DataFrame, features: list[str], numeric: list[str], pred: PredictionSettings | None,
                   *, bins: int = 50, max_categories: int = 50, hashed: list[str] | None = None,
                   calibrator: Calibrator | None = None, estimate_metric: str | None = "roc_auc",
                   range_monitors: bool = True) -> list:
    """One drift monitor per feature (numeric: binned KS; categorical: Jensen-Shannon), one out-of-range
    count per numeric feature, one on the model output, and (binary classifiers with a calibrator) one on
    the label-free performance estimate."""
    hashed = set(hashed or [])
    monitors: list = []
    for c in features:
        kind = "numeric" if c in numeric else "categorical"
        prof = ColumnProfile.build(frame[c], kind, bins=bins, max_categories=max_categories, hashed=c in hashed)
        monitors.append(DistributionMonitor(prof, role="feature"))
    if range_monitors:
        for c in features:
            if c in numeric:
                rm = RangeMonitor.build(frame[c])
                if rm is not None:
                    monitors.append(rm)
    if pred is not None and pred.column in frame.columns:
        kind = "categorical" if pred.kind == "label" else "numeric"
        prof = ColumnProfile.build(frame[pred.column], kind, bins=bins, max_categories=max_categories)
        monitors.append(DistributionMonitor(prof, role="prediction"))
        if pred.kind == "probability" and calibrator is not None and estimate_metric:
            monitors.append(EstimatedPerformanceMonitor(pred.column, calibrator, metric=estimate_metric,
                                                        decision_threshold=pred.decision_threshold))
    return monitors


def labeled_floors(y01, scores, batch_size: int, alpha: float, replicates: int = 4000, seed: int = 0,
                   decision_threshold: float = 0.5) -> dict:
    """Floors for ROC AUC and accuracy on a labeled batch of ``batch_size`` rows: the level a healthy model
    falls below with probability ``alpha`` (shared by the two metrics), from bootstrap batches of the
    out-of-sample labelled reference."""
    y = np.asarray(y01, dtype=float)
    s = np.asarray(scores, dtype=float)
    keep = np.isfinite(y) & np.isfinite(s)
    y, s = y[keep], s[keep]
    if len(y) < 10 or len(np.unique(y)) < 2:
        return {}
    rng = np.random.default_rng(seed)
    aucs, accs = [], []
    chunk = max(1, 2_000_000 // max(batch_size, 1))
    for start in range(0, replicates, chunk):
        b = min(chunk, replicates - start)
        idx = rng.integers(0, len(y), size=(b, batch_size))
        yb, sb = y[idx], s[idx]
        aucs.append(batch_roc_auc(yb, sb))
        accs.append(np.mean(yb == (sb >= decision_threshold), axis=1))
    auc = np.concatenate(aucs)
    acc = np.concatenate(accs)
    level = alpha / 2.0
    out = {}
    for name, v in (("roc_auc", auc), ("accuracy", acc)):
        v = v[np.isfinite(v)]
        if len(v):
            out[name] = {"min": float(np.quantile(v, level)), "expected": float(np.median(v)),
                         "level": float(level), "batch_size": int(batch_size)}
    return out


@dataclass
class MonitorSetup:
    """Everything :func:`make_config` produced."""

    spec: dict
    monitors: list
    calibration: Calibration
    frame: pd.DataFrame
    prediction: PredictionSettings | None
    calibrator: Calibrator | None
    source: ScoreSource | None = None
    info: dict = field(default_factory=dict)
    clean: pd.DataFrame | None = None  # clean held-out reference rows (with the monitored output) never calibrated on
    multivariate: list = field(default_factory=list)  # the PCA and domain-classifier monitors (whole rows)


def _y01(y: pd.Series, positive) -> np.ndarray:
    return np.array([np.nan if pd.isna(v) else float(v == positive or str(v) == str(positive)) for v in y], dtype=float)


def _template_defaults() -> dict:
    """The monitoring template's ``parameters`` cell (``templates/04_monitoring_setup.ipynb``): the one place the
    calibration defaults are written; :func:`make_config` takes them, so the drift step, calibrating the same monitor
    when it runs alone, uses exactly the monitoring step's defaults."""
    from playbook.audit.params import template_defaults

    return template_defaults("04_monitoring_setup.ipynb")


_D = _template_defaults()


def calibrate_all(monitors: list, frame: pd.DataFrame, features: list[str], numeric: list[str], batch_size: int,
                  alpha: float, *, replicates: int = _D["replicates"], holdout: int = _D["holdout"],
                  correction: str = _D["correction"], margin: float = _D["margin"], seed: int = 0,
                  multivariate: bool = _D["multivariate"], multivariate_share: float = _D["multivariate_share"],
                  domain_null_batches: int = _D["domain_null_batches"]):
    """Calibrate the per-column ``monitors`` (in place) and, with ``multivariate``, build and calibrate the PCA and
    domain-classifier monitors (:mod:`playbook.monitoring.multivariate`) under the same whole-monitor budget
    ``alpha``: ``multivariate_share`` of it to the domain classifier (its own null, a normal tail), the rest to the
    min-p calibration of every other monitor, PCA included (union bound: the whole monitor stays within alpha).
    Returns ``(calibration, multivariate monitors, prepared view or None, info, domain classifier's share)``."""
    mv, info, prepared, pool = [], {}, None, None
    if multivariate:
        from playbook.monitoring import multivariate as mv_mod

        profiles = {m.column: m.profile for m in monitors if isinstance(m, DistributionMonitor) and m.role == "feature"}
        prepared, pca, dc, pool = mv_mod.build(frame, features, numeric, profiles, seed=seed)
        mv = [m for m in (pca, dc) if m is not None]
    dc_share = float(multivariate_share) if any(m.name == "domain_classifier" for m in mv) else 0.0
    pca_mon = [m for m in mv if m.name == "pca_reconstruction"]
    cal = calibrate(monitors + pca_mon, frame, batch_size, alpha * (1.0 - dc_share), replicates=replicates,
                    holdout=holdout, correction=correction, margin=margin, seed=seed)
    for m in pca_mon:
        m.center = float(m.null_quantiles.get("p50", 0.0))
    for m in mv:
        if m.name == "domain_classifier":
            info["domain_classifier"] = m.calibrate(pool, batch_size, alpha * dc_share * margin,
                                                     batches=domain_null_batches)
    return cal, mv, prepared, info, dc_share


def budget_split(alpha: float, share: float) -> dict:
    """``alert_budget``'s whole-monitor ``alpha`` and its ``split`` (see :func:`calibrate_all`)."""
    return {"alpha": float(alpha), "split": {
        "min_p": float(alpha * (1.0 - share)), "domain_classifier": float(alpha * share),
        "rule": "union bound: the per-column and PCA monitors share the min-p part, the domain classifier has its "
                "own normal-tail threshold"}}


def spec_from_frame(frame: pd.DataFrame, features: list[str], numeric: list[str], batch_size: int, *,
                    alpha: float = 1 / 30, seed: int = 0, name: str = "frame", **calibration):
    """A deployed monitor (:class:`playbook.monitoring.spec.MonitoringSpec`, as ``playbook monitor`` reads it) for
    the features of a plain frame, without a pack, a model or a contract: per-column monitors and, unless
    ``multivariate=False``, the multivariate ones, calibrated as :func:`make_config` does (benchmarks and tests)."""
    from playbook.monitoring.spec import build_spec, spec_from_dict

    monitors = build_monitors(frame, features, numeric, None)
    cal, mv, prepared, _, share = calibrate_all(monitors, frame, features, numeric, batch_size, alpha, seed=seed,
                                                **calibration)
    raw = build_spec(name=name, task="", target=None, positive_label=None, classes=[], reference_rows=len(frame),
                     reference_fingerprint="", batch_size=batch_size, false_alarms=alpha, per_batches=1.0,
                     calibration=cal, contract={"columns": {}}, monitors=monitors)
    raw["alert_budget"].update(budget_split(alpha, share))
    if mv:
        from playbook.monitoring.multivariate import section

        raw["multivariate"] = section(prepared, mv, share)
    spec = spec_from_dict(raw)
    spec.attach_reference(frame)
    return spec


def make_config(ctx, model, contract: dict, *, batch_size: int, false_alarms: float = _D["false_alarms"],
                per_batches: float = _D["per_batches"], correction: str = _D["correction"],
                replicates: int = _D["replicates"], holdout: int = _D["holdout"], margin: float = _D["margin"],
                bins: int = _D["bins"], max_categories: int = _D["max_categories"], folds: int = _D["cv_folds"],
                decision_threshold: float = _D["decision_threshold"],
                calibration_method: str = _D["calibration_method"],
                multivariate: bool = _D["multivariate"], multivariate_share: float = _D["multivariate_share"],
                domain_null_batches: int = _D["domain_null_batches"],
                pii_columns: list[str] | None = None) -> MonitorSetup:
    """Calibrate the monitors for ``ctx`` and assemble ``monitoring.yaml`` (as a mapping). The defaults are the
    monitoring template's (:func:`_template_defaults`)."""
    from playbook.data import fingerprint_frame
    from playbook.monitoring.spec import build_spec

    from playbook import holdout as holdout_mod

    alpha = float(false_alarms) / float(per_batches)
    pred = prediction_settings(ctx.roles, model, decision_threshold)
    # the monitors are profiled and calibrated on the calibration rows only; the clean held-out rows are kept for
    # measuring their false alarms (playbook.holdout); each part bounded by a seeded sample (holdout.MAX_PART_ROWS)
    split = holdout_mod.split(ctx)
    cal_rows = holdout_mod.bounded(split.calibration, seed=ctx.seed)
    clean_rows = holdout_mod.bounded(split.clean, seed=ctx.seed + 1)
    used = ctx.reference.index[ctx.reference.index.isin(cal_rows.append(clean_rows))]
    source = score_source(ctx, model, pred, folds, rows=used)
    everything, finfo = monitored_frame(ctx, source, rows=used)
    frame = everything.loc[everything.index.isin(cal_rows)]
    clean = everything.loc[everything.index.isin(clean_rows)]
    finfo = {**finfo, "rows": int(len(frame)), "clean_holdout_rows": int(len(clean))}
    if len(cal_rows) < len(split.calibration) or len(clean_rows) < len(split.clean):
        finfo["bounded"] = {"max_part_rows": holdout_mod.MAX_PART_ROWS, "calibration_rows": int(len(split.calibration)),
                            "clean_holdout_rows": int(len(split.clean))}
    calibrator = None
    perf: dict[str, Any] = {}
    y01 = None
    if pred is not None and pred.kind == "probability" and ctx.target in ctx.reference.columns:
        # the label-free estimator is a property of the model, not a monitor threshold: fitted on every reference
        # row's out-of-sample score (the false-alarm measurement does not use it)
        y01 = _y01(ctx.reference.loc[everything.index, ctx.target], ctx.positive_label)
        scores = pd.to_numeric(everything[pred.column], errors="coerce").to_numpy(dtype=float)
        calibrator = fit_calibrator(scores, y01, calibration_method)
        perf["calibrator"] = calibrator.to_dict()
        perf["label_column"] = ctx.target
        perf["fitted_on"] = finfo.get("prediction")
    monitors = build_monitors(frame, list(ctx.features), list(ctx.numeric_features), pred, bins=bins,
                              max_categories=max_categories, hashed=pii_columns, calibrator=calibrator)
    cal, mv, prepared, mv_info, dc_share = calibrate_all(
        monitors, frame, list(ctx.features), list(ctx.numeric_features), batch_size, alpha, replicates=replicates,
        holdout=holdout, correction=correction, margin=margin, seed=ctx.seed, multivariate=multivariate,
        multivariate_share=multivariate_share, domain_null_batches=domain_null_batches)
    if y01 is not None:
        perf["labeled"] = labeled_floors(y01, everything[pred.column].to_numpy(dtype=float), batch_size, alpha,
                                         seed=ctx.seed + 1, decision_threshold=pred.decision_threshold)
        gate = (getattr(ctx.policy, "gates", {}) or {}).get("model.roc_auc") or {}
        if "min" in gate and "roc_auc" in perf["labeled"]:
            perf["labeled"]["roc_auc"]["release_gate_min"] = float(gate["min"])
    ignore = [c for c, r in (contract.get("columns") or {}).items()
              if (r or {}).get("role") in ("id", "timestamp", "excluded", "target", "prediction", "probability")]
    spec = build_spec(
        name=ctx.config.name, task=ctx.task, target=ctx.target, positive_label=ctx.positive_label,
        classes=list(ctx.roles.classes or []), reference_rows=len(frame),
        reference_fingerprint=contract.get("reference_fingerprint") or fingerprint_frame(ctx.reference),
        batch_size=batch_size, false_alarms=false_alarms, per_batches=per_batches, calibration=cal,
        contract=contract, monitors=monitors, prediction=pred.as_dict() if pred else {}, performance=perf,
        ignore=ignore,
    )
    spec["alert_budget"].update(budget_split(alpha, dc_share))  # the whole monitor's budget (calibrate saw min-p's)
    if (ctx.sampling or {}).get("reference"):  # the rows the monitors learned from: a seeded sample of data.reference
        spec["reference"]["sampling"] = dict(ctx.sampling["reference"])
    if mv:
        from playbook.monitoring.multivariate import section

        spec["multivariate"] = section(prepared, mv, dc_share)
    from playbook.monitoring.alerts import serving_section

    # the serving alerts' gates (alerts.rules.yml reads them here), and the serving step's folder when it ran
    spec["serving"] = serving_section(ctx.config, ctx.step_dir("serving") if ctx.pack_dir else None,
                                      model_sha256=(getattr(model, "info", None) or {}).get("sha256"))
    info = {"frame": finfo, "alpha": alpha, "monitors": len(monitors), "multivariate": mv_info,
            "multivariate_requested": bool(multivariate),
            "false_alarm_upper_95": clopper_pearson_upper(cal.false_alarms_holdout, cal.holdout)}
    info["split"] = holdout_mod.describe(ctx, split)
    return MonitorSetup(spec=spec, monitors=monitors, calibration=cal, frame=frame, prediction=pred,
                        calibrator=calibrator, source=source, info=info, clean=clean,
                        multivariate=mv)


def held_out_false_alarms(spec, clean: pd.DataFrame, batch_size: int, *, seed: int = 0,
                          min_batches: int | None = None, default_kinds: dict | None = None,
                          reference: pd.DataFrame | None = None) -> dict:
    """The deployed monitor (``monitoring.yaml`` as read back) on *disjoint* batches of the clean held-out rows it
    was never calibrated on: its false-alarm rate with a 95% CI (:func:`playbook.holdout.false_alarm_measurement`),
    and, for comparison, how often Evidently's default per-column tests flag a column on the same batches."""
    from playbook import holdout
    from playbook.monitoring.check import check_batch

    batches = holdout.disjoint_batches(clean, batch_size, seed=seed)
    alarms = [check_batch(spec, b)["status"] == "alert" for b in batches]
    kw = {} if min_batches is None else {"min_batches": min_batches}
    out = holdout.false_alarm_measurement(alarms, batch_size, len(clean), spec.alpha, **kw)
    if default_kinds and reference is not None and batches:
        from playbook.monitoring.checks import default_tests_alarms

        cols = [c for c in default_kinds if c in reference.columns]
        d = default_tests_alarms(reference, batches, cols, {c: default_kinds[c] for c in cols})
        lo, hi = holdout.clopper_pearson(sum(d), len(d))
        out["evidently_defaults"] = {"alarms": int(sum(d)), "batches": len(d), "rate": sum(d) / len(d),
                                     "ci": [lo, hi]}
    return out


def model_age(ctx, staleness_path=None) -> dict | None:
    """The ``model_age`` section of ``monitoring.yaml``: the timestamp column, the newest timestamp of the data the
    model learned from, and the age (days) at which the model evaluation's staleness measurement
    (``staleness.json``: ``max_model_age_days``) puts its quality below its gate. None without ``data.timestamp``;
    ``max_age_days`` is None when the measured decay does not reach the gate (the age is then recorded, not limited)."""
    import json

    col = ctx.roles.timestamp
    if not col or col not in ctx.reference.columns:
        return None
    from playbook.audit.contract import day_first, utc_timestamps

    order = day_first(pd.Series(ctx.reference[col].dropna().astype("string").unique(), dtype="string")) \
        if not pd.api.types.is_datetime64_any_dtype(ctx.reference[col]) else None
    ts = utc_timestamps(ctx.reference[col], dayfirst=order)
    if ts.notna().sum() == 0:
        return None
    measured = {}
    if staleness_path is not None:
        try:
            measured = json.loads(open(staleness_path, encoding="utf-8").read())
        except (OSError, ValueError):
            measured = {}
    limit = measured.get("max_model_age_days")
    basis = (f"model evaluation: {measured.get('metric')} falls below its gate after about {limit:.0f} days"
             if limit is not None else "the model evaluation measured no age at which quality crosses its gate")
    return {"timestamp_column": col, "trained_until": ts.max().isoformat(), "day_first": order,
            "max_age_days": None if limit is None else float(limit), "basis": basis}
