"""The drift simulation template's sections, one function each: the notebook narrates, these compute and record.

The template (``templates/05_drift_simulation.ipynb``) calls them in order on one :class:`DriftRun`, the state a
section hands to the next (the faults, the deployed monitor, the pool of batches, the sweep, the timelines)::

    run = sections.setup(ctx, step, shifts=shifts, example_shift=example_shift)
    sections.catalogue(run)                                          # the faults and their stories
    sections.example_fault(run, batch_size=batch_size)               # one fault up close
    sections.example_drift(run, drift_share=drift_share)             #   ... and the per-column tests
    sections.evidently_example(run, enabled=evidently_report)        #   ... in Evidently's report (second core)
    sections.build_monitors(run, metric=metric, ...)                 # the monitors under test
    sections.false_alarms(run)                                       # clean means clean
    sections.sweep(run, severities=severities, trials=trials)        # every fault, severity, trial
    sections.timelines(run, timelines=timelines, ...)                # time to detection
    sections.power(run, power_batch_sizes=..., ...)                  # rows per batch
    sections.record(run, globals()); step.save()                     # checks, artifacts, results.json

Each section prints what a reader needs to follow the lesson and returns the table the notebook shows; the figures
are saved under ``artifacts/`` and shown with ``step.figure(name)``. The order of work (and so every seeded draw) is
the order above.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from playbook.drift import simulate
from playbook.drift import shifts as faults

MATRIX_COLUMNS = ["shift", "severity", "detection_rate", "per_column_rate", "domain_classifier_rate",
                  "pca_reconstruction_rate", "default_detection_rate", "contract_rate", "metric", "metric_drop",
                  "silent_failure", "noisy_alarm"]


@dataclass
class DriftRun:
    """What the sections of the drift step share."""

    ctx: Any
    step: Any
    names: list
    example_shift: str
    catalogue: pd.DataFrame | None = None
    contract: Any = None
    contract_source: str = ""
    model: Any = None
    model_note: str = ""
    pool: pd.DataFrame | None = None
    pool_source: str = ""
    spec: Any = None
    spec_source: str = ""
    batch_size: int = 0
    false_alarms: dict = field(default_factory=dict)
    example_features: pd.DataFrame | None = None
    example_table: pd.DataFrame | None = None
    evidently_job: Any = None
    mon: Any = None
    metric_note: str | None = None
    score_reason: str | None = None
    score_not_applicable: bool = False
    false_alarm_limit: float = 0.0
    trials: pd.DataFrame | None = None
    matrix: pd.DataFrame | None = None
    skipped: dict = field(default_factory=dict)
    tl: pd.DataFrame | None = None
    pw: pd.DataFrame | None = None


def setup(ctx, step, *, shifts: list, example_shift: str, severities: list, trials: int,
          batch_size: int) -> DriftRun:
    """The faults to rehearse (``shifts``, all of them when empty); an unknown name stops here with the valid ones."""
    names = faults.check_names(shifts or list(faults.SHIFTS))
    faults.check_names([example_shift])
    pd.set_option("display.max_colwidth", 160)
    print(f"task: {ctx.task}; features: {len(ctx.numeric_features)} numeric, {len(ctx.categorical_features)} "
          "categorical")
    print(f"faults to rehearse: {len(names)}; severities: {sorted(set(severities))}; trials: {trials}; "
          f"batch: {batch_size} rows")
    return DriftRun(ctx, step, names, example_shift)


def catalogue(run: DriftRun) -> pd.DataFrame:
    """The catalogue of faults (name, production story, what severity 1 does), the rehearsed ones."""
    run.catalogue = faults.describe()
    return run.catalogue[run.catalogue["shift"].isin(run.names)]


def example_fault(run: DriftRun, *, batch_size: int) -> pd.DataFrame:
    """The inputs of the simulation (contract, model, the pool of held-out batches, the deployed monitor and its
    false-alarm measurement), then ``example_shift`` at severity 0.5 on one batch. Returns the changed columns
    before and after (redacted)."""
    from playbook.display import show

    ctx, step = run.ctx, run.step
    run.contract, run.contract_source = simulate.load_contract(ctx)
    run.model, run.model_note = simulate.load_model(ctx)
    run.pool, run.pool_source = simulate.evaluation_pool(ctx, run.model)
    run.spec, run.spec_source, clean_frame = simulate.deployed_monitor(ctx, run.model)
    run.batch_size = int(batch_size) or run.spec.batch_size
    run.false_alarms = simulate.held_out_false_alarms(ctx, run.spec, clean_frame, run.spec.batch_size)
    print(f"deployed monitor: {run.spec_source}; {len(run.spec.monitors)} monitors calibrated for batches of "
          f"{run.spec.batch_size} rows")
    batch = run.pool.sample(min(run.batch_size, len(run.pool)), random_state=ctx.seed).reset_index(drop=True)
    example, info = faults.apply(run.example_shift, batch, 0.5, roles=ctx.roles, seed=ctx.seed)
    print({k: info[k] for k in ("applied", "reason", "columns", "rows_affected")})
    changed = [c for c in info["columns"] if c in batch.columns]
    run.example_features = example[[c for c in example.columns if c in ctx.features]]
    return show(pd.concat({"before": batch[changed], "after": example[changed]}, axis=1), ctx)


def example_drift(run: DriftRun, *, drift_share: float) -> pd.DataFrame:
    """The per-column drift tests (Evidently 0.7's defaults) on the example fault; prints the dataset-level verdict
    and returns the columns, drifted first."""
    from playbook.drift import detect

    ctx = run.ctx
    run.example_table = detect.column_drift(ctx.reference[ctx.features], run.example_features,
                                            kinds=detect.kinds_from_roles(ctx.roles))
    print(detect.dataset_drift(run.example_table, drift_share))
    return run.example_table.sort_values("drifted", ascending=False).head(8)


def _evidently_report(features: pd.DataFrame, reference: pd.DataFrame, ctx, path: str) -> str:
    """Evidently's DataDriftPreset report on the example fault (rows redacted first)."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from playbook.display import redact

    common = list(features.columns)  # Evidently needs the same columns on both sides
    Report([DataDriftPreset()]).run(redact(features, ctx), redact(reference[common], ctx)).save_html(path)
    return path


def evidently_example(run: DriftRun, *, enabled: bool) -> str:
    """Evidently's own report on the example fault, ``artifacts/evidently_example.html``: built on the second core
    while the sweep runs (:mod:`playbook.parallel`; here, when there is none) and waited for by :func:`record`."""
    from playbook import parallel

    if not enabled:
        return "not requested"
    ctx, path = run.ctx, str(run.step.artifact("evidently_example.html"))
    run.evidently_job = parallel.defer(lambda f=run.example_features, r=ctx.reference: _evidently_report(f, r, ctx,
                                                                                                          path))
    return "artifacts/evidently_example.html: built while the sweep runs"


def build_monitors(run: DriftRun, *, metric: str, contract_tolerance: float, drift_share: float,
                   watch_columns: list, max_metric_drop: float, max_false_alarm_rate: float) -> None:
    """The monitors each batch is judged by (the deployed one, Evidently's defaults and the contract beside it) and
    the model's metric with the bound in force. Caps the batch at the pool's size (drawing with replacement would
    turn the held-out rows' quirks into false alarms). Prints what was chosen and why."""
    from playbook.monitoring.setup import prediction_settings, scorer

    ctx, step, model = run.ctx, run.step, run.model
    metric_name, run.metric_note = simulate.choose_metric(ctx.task, model, metric)
    threshold = float((run.spec.prediction or {}).get("decision_threshold", 0.5))
    run.mon = mon = simulate.build_monitors(
        ctx.reference, run.pool, ctx.roles, model=model, contract=run.contract, contract_tolerance=contract_tolerance,
        drift_share=drift_share, watch_columns=watch_columns, metric=metric_name, max_metric_drop=max_metric_drop,
        metric_floor=simulate.metric_bound(metric_name, ctx.policy), metric_note=run.metric_note, spec=run.spec,
        scorer=scorer(model, prediction_settings(ctx.roles, model, threshold)) if model else None)
    run.score_reason, run.score_not_applicable = simulate.scoring(mon, run.model_note)
    # the false-alarm limit in force (the policy's gate, else the parameter) also decides which batch sizes are usable
    run.false_alarm_limit = ctx.limit("drift.false_alarm_rate", "max", max_false_alarm_rate)
    print(f"contract: {run.contract_source}; batches drawn from: {run.pool_source} ({len(run.pool)} rows)")
    if run.batch_size > len(run.pool):
        step.note("batch_size_capped", {"asked": run.batch_size, "used": len(run.pool)})
        print(f"note: batch_size {run.batch_size} exceeds the {len(run.pool)} held-out rows; batches use "
              f"{len(run.pool)} rows")
        run.batch_size = len(run.pool)
    print(f"model: {run.model_note if model is not None else 'not callable'}; metric: {mon.metric}; "
          f"on the clean pool: {mon.expected_metric}; bound in force: {mon.metric_floor}"
          + (f"\nnote: {run.metric_note}" if run.metric_note else "")
          + (f"\nskipped: {run.score_reason}" if run.score_reason else ""))
    print(f"false-alarm limit: {run.false_alarm_limit:g}"
          + (" (from the policy's gate)" if run.false_alarm_limit != max_false_alarm_rate else ""))


def false_alarms(run: DriftRun) -> str:
    """The deployed monitor's false alarms on disjoint clean held-out batches, in words."""
    fa = run.false_alarms
    ci = fa.get("ci") or [None, None]
    default = fa.get("evidently_defaults") or {}
    return (f"deployed monitor: {fa['alarms']} alarms on {fa['batches']} disjoint clean batches of {fa['batch_size']} "
            "rows" + (f" ({fa['rate']:.1%}, 95% CI {ci[0]:.1%} to {ci[1]:.1%})" if fa["batches"] else "")
            + (f"; Evidently defaults: {default['alarms']} of {default['batches']}" if default else "")
            + (f"\nnot measurable: {fa['inconclusive']}" if fa.get("inconclusive") else ""))


def sweep(run: DriftRun, *, severities: list, trials: int) -> pd.DataFrame:
    """Every fault at every severity, ``trials`` times, on common batches; then the sensitivity heatmap
    (``artifacts/sensitivity_heatmap.png``). Returns the sensitivity matrix."""
    t0 = time.perf_counter()
    run.trials, run.matrix, run.skipped = simulate.sweep(run.mon, run.names, severities, trials=trials,
                                                         batch_size=run.batch_size, seed=run.ctx.seed)
    seconds = time.perf_counter() - t0
    run.step.timing("sweep_seconds", seconds)
    print(f"{len(run.trials)} simulated batches in {seconds:.1f} s; skipped: {run.skipped or 'none'}")
    simulate.heatmap(run.matrix, run.step.artifact("sensitivity_heatmap.png"))
    return run.matrix[MATRIX_COLUMNS].round(3)


def performance_view(run: DriftRun) -> pd.DataFrame:
    """Per fault and severity, the deployed monitor's detection rate beside the label-based performance monitor's."""
    shifted = run.matrix[run.matrix["shift"] != simulate.NO_SHIFT]
    view = shifted.pivot(index="shift", columns="severity", values=["detection_rate", "perf_alarm_rate"])
    return view.reindex(index=[n for n in run.names if n not in run.skipped]).round(2)


def timelines(run: DriftRun, *, timelines: list, n_batches: int, onset: int, period: int) -> pd.DataFrame | str:
    """Each fault replayed over ``n_batches`` days per timeline (sudden, gradual, recurring) from ``onset``; the
    figure ``artifacts/timelines.png``. Returns the batches from onset to alarm per fault and timeline."""
    t0 = time.perf_counter()
    run.tl = simulate.timelines(run.mon, run.names, timelines, n_batches=n_batches, batch_size=run.batch_size,
                                onset=onset, severity=1.0, period=period, seed=run.ctx.seed) if timelines else None
    run.step.timing("timelines_seconds", time.perf_counter() - t0)
    if run.tl is None:
        return "no timelines requested (timelines = [])"
    simulate.timeline_plot(run.tl, run.step.artifact("timelines.png"), n_batches=n_batches, onset=onset,
                           severity=1.0, period=period)
    table = run.tl.pivot(index="shift", columns="timeline", values="time_to_detection")
    return table.reindex(index=run.names, columns=timelines)


def power(run: DriftRun, *, power_batch_sizes: list, power_trials: int, power_severity: float) -> pd.DataFrame | str:
    """The detection rate of each fault at increasing batch sizes until it reaches 80 %, sizes too noisy on clean
    data greyed out; the figure ``artifacts/power.png``. Returns the power table."""
    t0 = time.perf_counter()
    run.pw = simulate.power(run.mon, run.names, power_severity, power_batch_sizes, trials=power_trials,
                            seed=run.ctx.seed, max_false_alarm_rate=run.false_alarm_limit) if power_batch_sizes else None
    run.step.timing("power_seconds", time.perf_counter() - t0)
    if run.pw is None:
        return "no power estimate requested (power_batch_sizes = [])"
    simulate.power_plot(run.pw, run.step.artifact("power.png"), max_false_alarm_rate=run.false_alarm_limit)
    return simulate.power_table(run.pw)


def record(run: DriftRun, params: Mapping[str, Any]):
    """Every ``drift.*`` check (each judged against the limit in force: the policy's gate, else the parameter), the
    artifacts (matrix, trials, timelines, power, the parameters as given with the batch size used) and the metrics;
    waits for Evidently's example report first. ``params``: the notebook's parameters (its ``globals()``). Returns
    the step (``step.save()`` then writes ``results.json`` / ``timings.json``)."""
    ctx, step, mon, matrix = run.ctx, run.step, run.mon, run.matrix
    p = {k: params[k] for k in simulate.PARAMETERS if k in params}
    p["batch_size"] = run.batch_size  # the size the batches had (the parameter, else the monitor's, capped)
    checks = simulate.make_checks(
        matrix, run.skipped, run.tl, run.pw, scored=mon.scores, score_reason=run.score_reason,
        score_not_applicable=run.score_not_applicable, detect_severity=p["detect_severity"],
        min_detection_rate=p["min_detection_rate"], max_false_alarm_rate=p["max_false_alarm_rate"],
        max_silent_failures=p["max_silent_failures"], max_noisy_alarm_share=p["max_noisy_alarm_share"],
        max_detection_delay=p["max_detection_delay"], volume_per_day=ctx.business.volume_per_day, limit=ctx.limit,
        false_alarms=run.false_alarms)
    step.add_checks(checks)
    if run.evidently_job is not None:  # Evidently's example report, written before the results
        from playbook import parallel

        print("saved", Path(parallel.result(run.evidently_job)).relative_to(step.dir))
    simulate.write_artifacts(step, mon, matrix, run.trials, run.skipped, run.tl, run.pw, run.catalogue,
                             run.example_table, params=p, limits={c["id"]: c["threshold"] for c in checks},
                             contract_source=run.contract_source, pool_source=run.pool_source,
                             deployed_source=run.spec_source, false_alarms=run.false_alarms)
    step.note("contract_source", run.contract_source)
    step.note("model", run.model_note if run.model is not None else run.score_reason)
    step.note("model_metric", {"metric": mon.metric if mon.scores else None, "note": run.metric_note or None})
    step.metric("sweep.batches", len(run.trials))
    step.metric("false_alarm_rate", run.false_alarms)
    step.metric("unshifted_alarm_rate", matrix.loc[matrix["shift"] == simulate.NO_SHIFT, "detection_rate"].iloc[0])
    step.metric("expected_metric", mon.expected_metric)
    return step


__all__ = ["DriftRun", "setup", "catalogue", "example_fault", "example_drift", "evidently_example", "build_monitors",
           "false_alarms", "sweep", "performance_view", "timelines", "power", "record"]
