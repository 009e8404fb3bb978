"""The model evaluation template's sections, one function each: the notebook narrates, these compute and record.

``templates/02_model_evaluation.ipynb`` calls them in order on one :class:`EvaluationRun` (the context, the step,
the :class:`~playbook.evaluate.Evaluation` and what a section hands to a later one: the baseline's artifact card,
the permutation importance, the trainer of the refit sections)::

    run = sections.start(ctx, step, threshold=threshold, use_business_threshold=use_business_threshold)
    evidently_job = sections.defer_evidently(run) if evidently_report else None
    sections.held_out_metrics(run, n_bootstrap=n_bootstrap)          # 2. metrics with 95% CIs
    sections.beats_dummy(run, n_bootstrap=n_bootstrap)               #    ... against a model without features
    sections.calibration(run, ...); sections.slices(run, ...); sections.weak_segments(run, ...); ...

Each section records its checks (a skip with its reason when it does not apply: a regression has no calibration,
predictions mode no model to call), writes its evidence under ``artifacts/`` through ``step.write_json`` and its
figure as a PNG (shown by the template with ``step.figure(name)``), and returns the table the notebook shows, or
the reason it did not run. The order of work (and so every seeded draw) is the template's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

PREDICTIONS_MODE = "Not computed: predictions mode, "


@dataclass
class EvaluationRun:
    """What the sections of the model evaluation share."""

    ctx: Any
    step: Any
    ev: Any
    info: dict
    card: dict | None
    importance: pd.DataFrame | None = None
    trainer: Any = None
    no_refit: str | None = None
    fairness_limits: dict | None = None  # the fairness bounds of section 5, for the challenger's gaps


def start(ctx, step, *, threshold: float, use_business_threshold: bool) -> EvaluationRun:
    """Section 1: the model under review (loaded, or the baseline fitted), the held-out rows it is judged on and
    their scores; ``artifacts/model.json`` (with the baseline's skops artifact, in baseline mode), the step's
    ``info.model`` and the provenance checks (``model.loaded_safely``, ``model.evaluation_set``)."""
    from playbook import evaluate

    ev = evaluate.setup(ctx, threshold=threshold, use_business_threshold=use_business_threshold)
    info = evaluate.provenance(ctx, ev)
    card = evaluate.save_model_artifact(ev, step)
    link = step.write_json("model.json", {**info, "baseline_artifact": card})
    _store_predictions(ctx, step, ev)
    step.note("model", info)
    step.add_checks(evaluate.provenance_checks(ev, evidence=link))
    return EvaluationRun(ctx, step, ev, info, card)


def _store_predictions(ctx, step, ev) -> None:
    """``artifacts/predictions.parquet``: per evaluation row a fingerprint, the truth and the model's outputs (no raw
    value), what ``playbook compare`` pairs two packs on (:mod:`playbook.evaluate.predictions`)."""
    from playbook.evaluate import predictions

    roles = ctx.roles
    own = [roles.prediction] if roles.prediction else []
    own += ([roles.probability] if isinstance(roles.probability, str) else list(roles.probability or []))
    ch = ctx.config.model.challenger or {}  # a challenger's outputs are no part of the row either
    own += [c for c in [ch.get("prediction"), *(ch.get("probability") or [])] if c]
    predictions.write(ev, step.artifact(predictions.FILE), leave_out=own)


def model_table(run: EvaluationRun) -> pd.DataFrame:
    """The provenance's plain values as a one-column table."""
    return pd.Series({k: v for k, v in run.info.items() if not isinstance(v, (list, dict))},
                     dtype=object).to_frame("model")


def defer_evidently(run: EvaluationRun):
    """Evidently's classification / regression report (``evidently_report.html`` / ``.json``), built on the second
    core while the sections run (:mod:`playbook.parallel`; here, when there is none); see :func:`evidently`."""
    from playbook import parallel
    from playbook.evaluate import report

    s, step, ctx = run.ev.scored, run.step, run.ctx
    html, js = step.artifact("evidently_report.html"), step.artifact("evidently_report.json")
    return parallel.defer(lambda: report.evidently_report(s, html, js, ctx))


def held_out_metrics(run: EvaluationRun, *, n_bootstrap: int) -> pd.DataFrame:
    """Section 2: every metric of the task with its bootstrap 95% CI (``metrics.json``, ``model.<metric>``)."""
    from playbook.evaluate import metrics

    ctx, step, ev = run.ctx, run.step, run.ev
    s = ev.scored
    results = metrics.bootstrap(s, n_boot=n_bootstrap, seed=ctx.seed)
    link = step.write_json("metrics.json", {
        "task": ev.task, "evaluated_on": ev.evaluated_on, "rows": len(s), "n_bootstrap": n_bootstrap,
        "confidence": 0.95, "threshold": ev.threshold if ev.task == "binary" else None, "metrics": results})
    for name, r in results.items():
        step.metric(f"model.{name}", r)
    step.add_checks(metrics.metric_checks(results, ev.task, ctx.policy, evidence=link))
    return pd.DataFrame(results).T[["value", "ci_low", "ci_high", "n_boot"]].round(4)


def beats_dummy(run: EvaluationRun, *, n_bootstrap: int) -> pd.DataFrame:
    """The paired bootstrap of the improvement over a model without features (``model.beats_baseline``)."""
    from playbook.evaluate import metrics

    ctx, step, ev = run.ctx, run.step, run.ev
    dummy = metrics.beats_dummy(ev.scored, ev.y_train, n_boot=n_bootstrap, seed=ctx.seed)
    link = step.write_json("beats_baseline.json", dummy)
    step.add_checks([metrics.beats_check(dummy, evidence=link)])
    step.metric("model.beats_baseline", dummy)
    return pd.Series(dummy).to_frame("comparison with the dummy")


def curves(run: EvaluationRun) -> list:
    """ROC and precision-recall curves (or predicted-vs-actual and the errors for regression), as image outputs."""
    from playbook.evaluate import plots

    links = plots.performance(run.ev.scored, run.step)
    return [run.step.figure(link.removeprefix("artifacts/")) for link in links]


def calibration(run: EvaluationRun, *, calibration_bins: int, max_ece: float) -> str | None:
    """Section 3: the reliability curve and the expected calibration error (``model.calibration_ece``;
    ``calibration.png``, ``calibration.json``). Returns why it was not computed, or None."""
    from playbook.evaluate import calibration as cal_mod
    from playbook.evaluate import plots

    ctx, step, ev = run.ctx, run.step, run.ev
    s = ev.scored
    if ev.task == "regression":  # a regression has no calibration check at all (the catalogue declares it so)
        return "Not computed: a regression model has no probabilities to calibrate."
    if s.proba is None:
        step.check("model.calibration_ece", "Expected calibration error", "skip", not_applicable=True,
                   why="Not computed: the model gives labels only, no probabilities.")
        return "Not computed: the model gives labels only, no probabilities."
    cal = cal_mod.calibration(s, n_bins=calibration_bins)
    plots.calibration(cal["table"], cal["kind"], step.artifact("calibration.png"))
    link = step.write_json("calibration.json", {k: v for k, v in cal.items() if k != "table"}
                           | {"bins": cal["table"].to_dict("records")})
    limit = ctx.limit("model.calibration_ece", "max", max_ece)
    step.add_checks([cal_mod.calibration_check(cal, limit, evidence=[step.link("calibration.png"), link])])
    step.metric("model.calibration_ece", cal["ece"])
    return None


def slices(run: EvaluationRun, *, slice_bins: int, min_slice_size: int, max_slice_gap: float) -> pd.DataFrame:
    """Section 4: the metric per value of each categorical feature and per quantile bin of each numeric one
    (personal-data columns are not sliced); ``slices.json``, ``slices.png``, ``model.slices.worst_gap``."""
    from playbook.display import pii_columns
    from playbook.evaluate import plots
    from playbook.evaluate import slices as slices_mod

    ctx, step, ev = run.ctx, run.step, run.ev
    hidden = set() if ctx.policy.allow_raw_pii else set(pii_columns(ctx.reference, ctx))
    tab = slices_mod.slice_table(ev.frame, ev.scored, [c for c in ev.adapter.numeric if c not in hidden],
                                 [c for c in ev.adapter.categorical if c not in hidden],
                                 n_bins=slice_bins, min_size=min_slice_size, max_gap=max_slice_gap)
    evidence = [step.write_json("slices.json", {"min_size": min_slice_size, "max_gap": max_slice_gap,
                                                "not_sliced_pii": sorted(hidden), "slices": tab.to_dict("records")})]
    if len(tab):
        plots.slices(tab, step.artifact("slices.png"))
        evidence.append(step.link("slices.png"))
    step.add_checks([slices_mod.slices_check(tab, max_slice_gap, min_slice_size, evidence=evidence)])
    return tab.head(10).round(3)


def weak_segments(run: EvaluationRun, *, segment_min_support: int, segment_bins: int, segment_margin: float,
                  segment_fdr: float, max_segments: int, n_bootstrap: int) -> pd.DataFrame | str:
    """Section 4 (continued): the one- and two-feature segments searched for those significantly worse than the rest
    by more than ``segment_margin`` (Benjamini-Hochberg over every searched segment; identifiers, personal-data and
    free-text columns never searched); ``segments.json``, ``segments.png``, ``model.weak_segments`` and the step's
    ``info.weak_segments`` (the worst five, for the model card). Returns the reported segments, or why none."""
    from playbook.data import is_numeric
    from playbook.evaluate import segments as seg_mod

    ctx, step, ev = run.ctx, run.step, run.ev
    numeric = [c for c in ev.adapter.numeric]
    categorical = [c for c in ev.adapter.features if c not in numeric]
    for c in ctx.roles.sensitive:  # a sensitive column the model does not use still defines segments
        if c in ev.frame.columns and c not in numeric and c not in categorical:
            (numeric if is_numeric(ev.frame[c]) else categorical).append(c)
    result = seg_mod.search(ev.frame, ev.scored, numeric, categorical, ctx=ctx, min_support=segment_min_support,
                            bins=segment_bins, margin=segment_margin, fdr=segment_fdr, max_segments=max_segments,
                            n_boot=n_bootstrap, seed=ctx.seed)
    evidence = [step.write_json("segments.json", result.to_dict())]
    if len(result.reported()):
        seg_mod.plot(result, step.artifact("segments.png"))
        evidence.append(step.link("segments.png"))
    step.note("weak_segments", {"searched": int(len(result.table)), "flagged": int(len(result.flagged)),
                                "loss": result.loss, "metric": result.metric, "overall_loss": result.overall_loss,
                                "margin": segment_margin, "fdr": segment_fdr, "worst": result.worst(5)})
    step.add_checks([seg_mod.weak_segments_check(result, evidence=evidence)])
    if not len(result.reported()):
        return f"Not searched: {result.reason or 'no segment'}."
    return seg_mod.shown_table(result)


def fairness(run: EvaluationRun, *, slice_bins: int, min_slice_size: int, n_bootstrap: int,
             limits: dict[str, float]) -> tuple[list, pd.DataFrame]:
    """Section 5: per sensitive column (``data.sensitive``), fairlearn's per-group rates with within-group bootstrap
    intervals and the disparity checks, each judged against the limit in force (the policy's gate, else
    ``limits[measure]``); ``fairness.json``. Returns the per-group tables (escaped: groups are data) and the checks."""
    from playbook.data import is_numeric
    from playbook.evaluate import fairness as fair
    from playbook.report import styled

    ctx, step, ev = run.ctx, run.step, run.ev
    run.fairness_limits = dict(limits)  # the challenger's gaps are judged against the same bounds
    tables, checks = {}, []
    if not ctx.roles.sensitive:
        step.check("model.fairness.configured", "Fairness across sensitive groups", "skip", not_applicable=True,
                   why="Not computed: no sensitive columns are configured (data.sensitive); name them to assess "
                       "fairness.")
    link = step.link("fairness.json")
    for col in ctx.roles.sensitive:
        res = fair.fairness(ev.frame, ev.scored, col, is_numeric(ctx.reference[col]), min_group_size=min_slice_size,
                            n_bins=slice_bins, n_boot=n_bootstrap, seed=ctx.seed)
        in_force = {n: ctx.limit(f"model.fairness.{fair.safe_id(col)}.{n}", "max", d) for n, d in limits.items()}
        tables[col] = res["by_group"]
        checks += fair.fairness_checks(res, in_force, evidence=link)
    step.write_json("fairness.json", {c: t.to_dict("records") for c, t in tables.items()})
    step.add_checks(checks)
    shown = [styled(tab.round(3), caption=col) for col, tab in tables.items()]
    return shown, pd.DataFrame(checks, columns=["id", "status", "value", "threshold"])


def challenger(run: EvaluationRun, *, n_bootstrap: int, min_slice_size: int, slice_bins: int) -> pd.DataFrame | str:
    """Section 6b (with ``model.challenger``): the second model on the same rows against the model under review,
    paired (``playbook.evaluate.challenger``); ``challenger.json`` and the check ``model.challenger``. Returns the
    metric deltas (challenger - champion) with their CIs, or why nothing was compared."""
    from playbook.evaluate import challenger as ch

    ctx, step, ev = run.ctx, run.step, run.ev
    if not ctx.config.model.challenger:
        step.add_checks([ch.check(None, skip_reason="no model.challenger in the config")])
        return "No challenger: name a second model under model.challenger to compare it with this one on the same rows."
    adapter = ch.load(ctx)
    comparison = ch.compare(ctx, ev, adapter, limits=run.fairness_limits or {},
                            min_group_size=min_slice_size, n_bins=slice_bins, n_boot=n_bootstrap)
    link = step.write_json("challenger.json", comparison)
    step.add_checks([ch.check(comparison, evidence=link)])
    for m, d in sorted(comparison["deltas"].items()):
        step.metric(f"challenger.{m}.delta", {k: d.get(k) for k in ("delta", "ci_low", "ci_high")})
    print(f"recommendation: {comparison['recommendation']}")
    for r in comparison["reasons"]:
        print(f"  [{r['outcome']}] {r['text']}")
    return ch.table(comparison)


def business_value(run: EvaluationRun, *, n_bootstrap: int) -> pd.DataFrame | str:
    """Section 6 (binary classifiers with probabilities): value per decision and per day by threshold, judged at the
    cost-implied and a cross-fitted threshold against the best trivial policy (``model.business.value_per_day``;
    ``business.json``, ``business.png``). Returns the business view, or why it was not computed."""
    from playbook.evaluate import business, plots

    ctx, step, ev = run.ctx, run.step, run.ev
    s = ev.scored
    if ev.task != "binary":  # costs per decision apply to binary decisions only (the catalogue declares it so)
        return "Not computed: costs per decision apply to binary decisions."
    if s.proba is None:
        why = "Not computed: the model gives labels only, no probabilities to set a threshold on."
        step.check("model.business.value_per_day", "Value per day at the best threshold", "skip",
                   not_applicable=True, why=why)
        return why
    view = business.business_view(s.y_bin, s.p_pos, ctx.business, operating_threshold=ev.threshold)
    value = business.business_value(s.y_bin, s.p_pos, ctx.business, n_boot=n_bootstrap, seed=ctx.seed)
    plots.business(view, step.artifact("business.png"))
    link = step.write_json("business.json", {**{k: v for k, v in view.items() if k != "curve"}, "judged": value})
    step.add_checks([business.value_check(value, evidence=[link, step.link("business.png")])])
    for k in ("optimal_threshold", "cost_implied_threshold", "value_per_decision", "value_per_day_at_operating"):
        step.metric(f"model.business.{k}", view[k])
    step.metric("model.business.uplift_per_day", value["policies"][value["chosen"]]["uplift_per_day"])
    return pd.Series({k: v for k, v in view.items() if k != "curve"}, dtype=object).to_frame("business view")


def robustness(run: EvaluationRun, *, robustness_severity: float, max_robustness_drop: float) -> pd.DataFrame | str:
    """Section 7: the primary metric under each shift of the drift step (``model.robustness.<shift>``;
    ``robustness.json``). Returns the table, or why it was skipped."""
    from playbook.evaluate import robustness as rob

    ctx, step, ev = run.ctx, run.step, run.ev
    if not ev.adapter.callable:
        step.add_checks(rob.robustness_checks(None, max_robustness_drop,
                                              skip_reason="predictions mode: the model cannot score shifted rows"))
        return "skipped"
    module, why_not = rob.available_shifts()
    if module is None:
        step.add_checks(rob.robustness_checks(None, max_robustness_drop, skip_reason=why_not))
        return "skipped"
    tab = rob.robustness(ev.adapter, ev.frame, ev.scored, ctx.target, ctx.roles, severity=robustness_severity,
                         seed=ctx.seed, threshold=ev.threshold, max_drop=max_robustness_drop, module=module)
    link = step.write_json("robustness.json", tab.to_dict("records"))
    step.add_checks(rob.robustness_checks(tab, max_robustness_drop, evidence=link))
    return tab.round(4)


def importance(run: EvaluationRun, *, importance_repeats: int, importance_max_rows: int, near_zero_importance: float,
               max_importance_share: float) -> pd.DataFrame | str:
    """Section 8: permutation importance (``model.importance.*``; ``importance.json``, ``importance.png``); kept on
    the run for the feature-cost section. Returns the ten most important features, or why it was skipped."""
    from playbook.evaluate import importance as imp_mod
    from playbook.evaluate import plots

    ctx, step, ev = run.ctx, run.step, run.ev
    if not ev.adapter.callable:
        for cid in ("model.importance.near_zero", "model.importance.dominant_feature"):
            step.check(cid, "Permutation importance", "skip", not_applicable=True,
                       why=PREDICTIONS_MODE + "the model cannot score shuffled rows.")
        return "skipped"
    imp = imp_mod.permutation(ev.adapter, ev.frame, ev.scored, n_repeats=importance_repeats, seed=ctx.seed,
                              max_rows=importance_max_rows, near_zero=near_zero_importance)
    link = step.write_json("importance.json", imp.to_dict("records"))
    plots.importance(imp, step.artifact("importance.png"))
    step.add_checks(imp_mod.importance_checks(imp, near_zero_importance, max_importance_share,
                                              evidence=[link, step.link("importance.png")]))
    run.importance = imp
    return imp.round(4).head(10)


def reproducible(run: EvaluationRun) -> pd.DataFrame | str:
    """Section 9: the model scored again (the baseline refitted with the same seed and reloaded from its skops bytes;
    a model file scored twice) must give bit-identical outputs (``model.reproducible``)."""
    from playbook.evaluate import reproducibility
    from playbook.modeling import dump_bytes

    ctx, step, ev = run.ctx, run.step, run.ev
    saved = dump_bytes(ev.adapter.estimator) if ev.adapter.mode == "baseline" else None
    repro = reproducibility.reproducibility(ctx, ev.adapter, ev.frame, saved=saved)
    link = step.write_json("reproducibility.json", repro)
    step.add_checks([reproducibility.reproducible_check(repro, evidence=link)])
    return pd.DataFrame(repro["runs"]) if repro["runs"] else repro["reason"]


def serving(run: EvaluationRun, *, max_model_mb: float, latency_single_calls: int,
            latency_batch_size: int) -> tuple[pd.DataFrame | str, pd.DataFrame | None]:
    """Section 10: the serialized size, the malformed-row probes (``model.serving.*``; ``input_validation.json``)
    and the measured latencies (``timings.json`` only). Returns the timings and the probes (in predictions mode, why
    there are none, and None)."""
    from playbook.evaluate import serving as srv

    ctx, step, ev = run.ctx, run.step, run.ev
    step.add_checks([srv.size_check(ev.adapter.size_bytes(), max_model_mb, evidence=step.link("model.json"))])
    if not ev.adapter.callable:
        step.check("model.serving.input_validation", "Malformed-row probes", "skip", not_applicable=True,
                   why=PREDICTIONS_MODE + "there is no model to feed malformed rows to.")
        return "predictions mode: no latency to measure", None
    probes = srv.probe_inputs(ev.adapter, ev.frame.head(1))
    link = step.write_json("input_validation.json", probes.to_dict("records"))
    step.add_checks([srv.input_validation_check(probes, evidence=link)])
    for k, v in srv.latency(ev.adapter, ev.frame, n_single=latency_single_calls, batch_size=latency_batch_size,
                            seed=ctx.seed).items():
        step.timing(f"serving.{k}", v)
    return pd.Series(step.timings).round(2).to_frame("timing"), probes


def training(run: EvaluationRun, *, refit_max_rows: int, training_seeds: int) -> pd.DataFrame | str:
    """Section 11: the training procedure run twice with the same seed, then with ``training_seeds`` other seeds
    (``model.training_reproducible``); sets up the trainer the later refit sections use."""
    from playbook.evaluate import refit
    from playbook.evaluate import training as train_mod

    ctx, step, ev = run.ctx, run.step, run.ev
    run.trainer = tr = refit.trainer(ctx, ev, max_rows=refit_max_rows)
    run.no_refit = refit.why_not(ev.adapter)
    rep = None
    if tr is not None:
        rep = train_mod.training_reproducibility(tr, n_seeds=training_seeds, threshold=ev.threshold)
        step.timing("training.fit_seconds", float(np.median(rep.pop("fit_seconds"))))
        step.write_json("training_reproducibility.json", rep)
    step.add_checks([train_mod.training_check(rep, evidence=step.link("training_reproducibility.json") if rep else None,
                                              skip_reason=run.no_refit)])
    return pd.DataFrame(rep["seeds"]) if rep else run.no_refit


def spec_tests(run: EvaluationRun, *, spec_sample_rows: int) -> pd.DataFrame | str:
    """The unit tests of the model specification on a small seeded sample (``model.spec_tests``)."""
    from playbook.evaluate import spec_tests as spec_mod

    ctx, step, ev, tr = run.ctx, run.step, run.ev, run.trainer
    spec = None
    if tr is not None:
        spec = spec_mod.spec_tests(tr, sample_rows=spec_sample_rows, seed=ctx.seed, threshold=ev.threshold)
        step.write_json("spec_tests.json", spec)
    step.add_checks([spec_mod.spec_check(spec, evidence=step.link("spec_tests.json") if spec else None,
                                         skip_reason=run.no_refit)])
    return pd.DataFrame(spec["tests"]) if spec else run.no_refit


def tuning(run: EvaluationRun, *, tuning_configurations: int, tuning_folds: int, n_bootstrap: int) -> pd.DataFrame | str:
    """The baseline's seeded hyper-parameter search against its own setting (``model.tuning``)."""
    from playbook.evaluate import tuning as tune_mod

    ctx, step, ev, tr = run.ctx, run.step, run.ev, run.trainer
    tuned = None
    if tr is not None and tr.is_baseline:
        tuned = tune_mod.tuning(tr, n_configs=tuning_configurations, folds=tuning_folds, n_boot=n_bootstrap,
                                seed=ctx.seed, threshold=ev.threshold)
        step.write_json("tuning.json", tuned)
    why = run.no_refit or ("the model is a model file: its search space is not known here (attest the tuning "
                           "study, model_3)")
    step.add_checks([tune_mod.tuning_check(tuned, evidence=step.link("tuning.json") if tuned else None,
                                           skip_reason=why)])
    if not tuned:
        return why
    table = pd.DataFrame(tuned["configurations"]).sort_values("rank", na_position="last")
    return table[["rank", "value", "params"]]


def feature_cost(run: EvaluationRun, *, cost_max_features: int, n_bootstrap: int,
                 cost_max_size_share: float) -> pd.DataFrame | str:
    """Leave one feature out: each feature's benefit with its paired CI against the size and time it adds
    (``model.features.cost``; the times in ``timings.json`` and ``feature_cost_timings.json``)."""
    from playbook.evaluate import cost

    ctx, step, ev, tr = run.ctx, run.step, run.ev, run.trainer
    costs = None
    if tr is not None:
        costs = cost.feature_cost(tr, importance=run.importance, max_features=cost_max_features, n_boot=n_bootstrap,
                                  seed=ctx.seed, threshold=ev.threshold, max_size_share=cost_max_size_share)
        step.write_json("feature_cost.json", cost.artifact(costs))
        step.write_json("feature_cost_timings.json", cost.timings_artifact(costs))
        for k, v in cost.timing_entries(costs).items():
            step.timing(k, v)
    evidence = [step.link("feature_cost.json"), step.link("feature_cost_timings.json")] if costs else None
    step.add_checks([cost.cost_check(costs, evidence=evidence, skip_reason=run.no_refit)])
    return costs["table"].drop(columns=["metric"]).round(4) if costs else run.no_refit


def staleness(run: EvaluationRun, *, staleness_windows: int, n_bootstrap: int,
              staleness_min_age_days: float) -> pd.DataFrame | str:
    """Quality against model age (needs ``data.timestamp``): ``model.staleness``, ``staleness.json`` (read by the
    monitoring step for the model's shelf life) and ``staleness.png``."""
    from playbook.evaluate import metrics, refit
    from playbook.evaluate import staleness as stale_mod

    ctx, step, ev, tr = run.ctx, run.step, run.ev, run.trainer
    stale = None
    primary_name = refit.primary_metric(ev.adapter)
    bound = ctx.limit(f"model.{primary_name}", "min" if metrics.HIGHER_IS_BETTER[primary_name] else "max", None)
    why = run.no_refit or ("no timestamp column is configured (data.timestamp); name it to measure quality against "
                           "model age")
    if tr is not None and ctx.roles.timestamp:
        stale = stale_mod.staleness(tr, ctx.reference, ctx.roles.timestamp, windows=staleness_windows,
                                    n_boot=n_bootstrap, seed=ctx.seed, threshold=ev.threshold, bound=bound)
        step.write_json("staleness.json", stale)
        step.metric("model.staleness.max_model_age_days", stale["max_model_age_days"])
        if stale["reason"] is None:
            stale_mod.plot(stale, step.artifact("staleness.png"))
    links = [step.link("staleness.json")] + ([step.link("staleness.png")] if stale and stale["reason"] is None else [])
    step.add_checks([stale_mod.staleness_check(stale, staleness_min_age_days, evidence=links if stale else None,
                                               skip_reason=why)])
    return pd.DataFrame(stale["windows"]) if stale else why


def debug_examples(run: EvaluationRun, *, debug_rows: int) -> pd.DataFrame | None:
    """Section 12: the largest-error rows recomputed from the artifact and taken apart feature by feature
    (``model.debug.examples``; ``debug_examples.json``, values redacted). Returns the worst row's attribution."""
    from playbook.evaluate import debug

    ctx, step, ev = run.ctx, run.step, run.ev
    if not ev.adapter.callable or ev.adapter.mode == "endpoint":
        why = ("predictions mode: there is no model to recompute a prediction with" if not ev.adapter.callable else
               "the model is behind model.endpoint: there is no artifact here to reload and take apart")
        step.add_checks([debug.debug_check(None, skip_reason=why)])
        return None
    reloaded, source = debug.reload(ctx, ev.adapter, step.artifact("baseline_model.skops") if run.card else None)
    dbg = debug.debug_examples(ev.adapter, reloaded, ev.frame, ev.scored, ctx.reference, k=debug_rows, ctx=ctx,
                               source=source)
    link = step.write_json("debug_examples.json", dbg)
    step.add_checks([debug.debug_check(dbg, evidence=link)])
    return pd.DataFrame(dbg["examples"][0]["attribution"]).head(8) if dbg["examples"] else None


def numerical_stability(run: EvaluationRun, *, stability_probe_rows: int, refit_max_rows: int,
                        plausible_range_factor: float) -> pd.DataFrame | str:
    """Section 13: the model on every shifted batch of the drift catalogue and on extreme-value probes
    (``model.numerical_stability``; ``numerical_stability.json``)."""
    from playbook.evaluate import robustness, stability

    ctx, step, ev = run.ctx, run.step, run.ev
    stab = None
    if ev.adapter.callable:
        module, _ = robustness.available_shifts()
        sets = stability.input_sets(ev.adapter, ctx.reference, ev.frame, ctx.roles, module=module, seed=ctx.seed,
                                    probe_rows=stability_probe_rows, max_rows=refit_max_rows)
        stab = stability.numerical_stability(ev.adapter, sets, y_train=ev.y_train, range_factor=plausible_range_factor)
        step.write_json("numerical_stability.json",
                        {"plausible_range": stab.attrs["plausible_range"], "sets": stab.to_dict("records")})
    step.add_checks([stability.stability_check(
        stab, evidence=step.link("numerical_stability.json") if stab is not None else None,
        skip_reason="predictions mode: there is no model to feed extreme inputs to")])
    return stab["outcome"].value_counts().to_frame("input sets") if stab is not None else "skipped"


def performance_regression(run: EvaluationRun, *, max_latency_ratio: float) -> pd.DataFrame | str:
    """Section 14 (with a previous pack): latency, training time and size against the previous pack's
    (``model.serving.performance_regression``; ``performance_regression.json``)."""
    from playbook.evaluate import regression

    ctx, step, ev = run.ctx, run.step, run.ev
    perf, perf_info = None, {"reason": "predictions mode: no serving latency is measured", "not_applicable": True}
    if ev.adapter.callable:
        perf, perf_info = regression.against_previous(ctx.config.previous, step.timings, ev.adapter.size_bytes(),
                                                      max_ratio=max_latency_ratio)
    if perf is not None:
        step.write_json("performance_regression.json", perf_info)
        for r in perf.dropna(subset=["worse_by"]).itertuples():
            step.timing(f"performance_regression.{r.measure}.worse_by", r.worse_by)
    step.add_checks([regression.regression_check(
        perf, max_latency_ratio, evidence=step.link("performance_regression.json") if perf is not None else None,
        skip_reason=perf_info.get("reason"), not_applicable=perf_info.get("not_applicable", True))])
    return perf if perf is not None else perf_info["reason"]


def evidently(run: EvaluationRun, job) -> pd.DataFrame | str:
    """Section 15: the headline values of Evidently's report (``evidently.*`` metrics), waited for here."""
    from playbook import parallel

    if job is None:
        return "not requested (evidently_report = False)"
    values = parallel.result(job)  # started with the first section
    for k, v in values.items():
        run.step.metric(f"evidently.{k}", v)
    return pd.Series(values).round(4).to_frame("evidently")


__all__ = ["EvaluationRun", "beats_dummy", "calibration", "curves", "debug_examples", "defer_evidently", "evidently",
           "fairness", "feature_cost", "held_out_metrics", "importance", "model_table", "numerical_stability",
           "performance_regression", "reproducible", "robustness", "serving", "slices", "spec_tests", "staleness",
           "start", "training", "tuning", "business_value", "weak_segments"]
