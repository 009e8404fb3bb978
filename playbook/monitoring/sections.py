"""The monitoring template's sections, one function each: the notebook narrates, these compute and record.

The template (``templates/04_monitoring_setup.ipynb``) calls them in order on one :class:`MonitoringRun`, the state a
section hands to the next (the model, the split, the deployed spec, the replays, the checks so far)::

    run = sections.setup(ctx, step, batch_size=batch_size, decision_threshold=decision_threshold)
    sections.default_tests_experiment(run, current_batches=current_batches)      # 1. why default thresholds fail
    sections.calibrate(run, false_alarms=..., ...)                              # 2. calibrated monitors
    sections.deploy(run)                                                        #    monitoring.yaml, false alarms
    sections.current_data(run, current_batches=current_batches)                #    the current data replayed
    sections.detection_power(run, shifts, severity, ...)                       # 3. what the budget buys
    sections.command_examples(run)                                              # 4. `playbook monitor`
    sections.production_days(run, ...)                                          # 5. simulated days
    sections.estimation(run, max_estimation_error)                              # 6. label-free estimation
    sections.workspace(run, write_workspace, timeline_days)                     # 7. the Evidently dashboard
    sections.record(run); step.save()                                            # results.json, timings.json

Each section appends its checks to ``run.checks``, prints what a reader needs to follow the lesson and returns
the table or figure the notebook shows. The order of work (and so every seeded draw) is the order above.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from playbook.monitoring import checks as mchecks
from playbook.monitoring import simulate

POWER_COLUMNS = ["shift", "applied", "power", "power_schema", "power_drift", "power_labeled", "days_to_detect_90",
                 "p_detect_within", "top_monitors"]


@dataclass
class MonitoringRun:
    """What the sections of the monitoring step share."""

    ctx: Any
    step: Any
    model: Any
    batch: int
    contract: dict
    contract_source: str
    pii: list
    decision_threshold: float
    t0: float
    checks: list = field(default_factory=list)
    # filled in by the sections, in order
    split: Any = None
    clean_rows: pd.DataFrame | None = None
    calibration_rows: pd.DataFrame | None = None
    held_out: pd.DataFrame | None = None
    score: Any = None
    sim_batch: int = 0
    kinds: dict = field(default_factory=dict)
    clean_batches: list = field(default_factory=list)
    default_alarms: list = field(default_factory=list)
    ms: Any = None
    spec: Any = None
    config_path: Any = None
    calibrated_alarms: int = 0
    measured: dict = field(default_factory=dict)
    raw_batches: list = field(default_factory=list)
    replay_batches: list = field(default_factory=list)
    replayed_current: pd.DataFrame | None = None
    current_alerts: int = 0
    current_default: int = 0
    power: pd.DataFrame | None = None
    examples: dict = field(default_factory=dict)
    days: list = field(default_factory=list)
    timeline: pd.DataFrame | None = None

    @property
    def calibration(self):
        return self.ms.calibration


def setup(ctx, step, *, batch_size: int = 0, decision_threshold: float = 0.5) -> MonitoringRun:
    """The model under review, the production batch size (``batch_size``, else ``business.volume_per_day``), the data
    contract (the audit step's, else built from the reference) and the personal-data columns profiled by hash."""
    from playbook.audit import contract as contract_mod
    from playbook.display import pii_columns
    from playbook.modeling import get_model

    t0 = time.perf_counter()
    model = get_model(ctx)
    batch = int(batch_size) or max(1, int(round(ctx.business.volume_per_day)))
    audit_contract = ctx.previous_artifact("data_audit", "data_contract.json")
    contract = contract_mod.load(audit_contract) if audit_contract else contract_mod.build_contract(ctx.reference,
                                                                                                   ctx.roles)
    pii = [] if ctx.policy.allow_raw_pii else [c for c in pii_columns(ctx.reference, ctx) if c in ctx.features]
    source = "data_audit step" if audit_contract else "built from the reference"
    step.note("batch_size", batch)
    step.note("contract_source", source)
    print(f"model: {model.mode}; task: {ctx.task}; {len(ctx.features)} features; production batch: {batch} rows/day")
    print(f"contract: {'from the audit step' if audit_contract else 'built here'}; hashed (PII) columns: {pii or 'none'}")
    return MonitoringRun(ctx, step, model, batch, contract, source, pii, float(decision_threshold), t0)


def default_tests_experiment(run: MonitoringRun, *, current_batches: int) -> list[bool]:
    """Section 1: Evidently's default per-column tests on ``current_batches`` clean held-out batches (nothing
    injected). Returns, per batch, whether any column was flagged."""
    from playbook import holdout as splits
    from playbook.drift.detect import kinds_from_roles
    from playbook.modeling import evaluation_frame
    from playbook.monitoring import setup as msetup

    ctx, step, batch = run.ctx, run.step, run.batch
    run.split = splits.split(ctx)
    run.clean_rows = ctx.reference.loc[run.split.clean]
    run.held_out, _ = evaluation_frame(ctx, run.model)  # labelled rows the model did not train on (section 5)
    run.score = msetup.scorer(run.model, msetup.prediction_settings(ctx.roles, run.model, run.decision_threshold))
    # batches are drawn without replacement: with fewer held-out rows than a batch, use half of them per batch
    run.sim_batch = batch if batch <= len(run.clean_rows) else max(1, len(run.clean_rows) // 2)
    step.note("simulation_batch_size", run.sim_batch)
    step.note("split", splits.describe(ctx, run.split))
    run.clean_batches = simulate.sample_batches(run.clean_rows, run.sim_batch, current_batches, seed=ctx.seed)
    run.kinds = kinds_from_roles(ctx.roles)
    run.calibration_rows = ctx.reference.loc[run.split.calibration]
    run.default_alarms = mchecks.default_tests_alarms(run.calibration_rows, run.clean_batches, list(ctx.features),
                                                      run.kinds)
    rescaled = " (fewer held-out rows than a production batch: thresholds are rescaled to this size)"
    print(f"reference: {len(run.calibration_rows)} calibration rows, {len(run.clean_rows)} clean held-out rows "
          f"(seed {ctx.seed}); illustration batches of {run.sim_batch} rows" + ("" if run.sim_batch == batch else rescaled))
    print(f"Evidently's default tests flag at least one column on {sum(run.default_alarms)} of "
          f"{len(run.default_alarms)} clean batches")
    return run.default_alarms


def calibrate(run: MonitoringRun, **params) -> pd.DataFrame:
    """Section 2: profile and calibrate the monitors on the calibration rows (``params``: the step's calibration
    parameters, as :func:`playbook.monitoring.setup.make_config` names them). Returns the monitors' table."""
    from playbook.monitoring import setup as msetup

    t_cal = time.perf_counter()
    run.ms = msetup.make_config(run.ctx, run.model, run.contract, batch_size=run.batch,
                                decision_threshold=run.decision_threshold, pii_columns=run.pii, **params)
    cal = run.ms.calibration
    run.step.timing("calibration_seconds", time.perf_counter() - t_cal)
    print(f"{len(run.ms.monitors)} monitors; reference output: {run.ms.info['frame']['prediction']}")
    print(f"per-monitor tail level {cal.level:.5f} ({cal.correction}; Bonferroni: {cal.bonferroni_level:.5f})")
    print(f"false-alarm rate: {cal.false_alarm_rate_fit:.2%} on the fitting batches, {cal.false_alarm_rate_holdout:.2%} "
          f"on {cal.holdout} fresh ones (budget {cal.alpha:.2%})")
    return mchecks.monitors_table(run.ms.monitors).round(4)


def deploy(run: MonitoringRun, *, current_batches: int) -> dict:
    """Write ``monitoring.yaml`` (with the model's shelf life when the evaluation measured one) and read it back; the
    deployed monitor on the illustration batches, then its false-alarm rate measured on disjoint clean held-out
    batches (``calibration.json``). Returns that measurement."""
    from playbook.monitoring import setup as msetup
    from playbook.monitoring.spec import load_spec, save_spec

    ctx, step, ms = run.ctx, run.step, run.ms
    age = msetup.model_age(ctx, ctx.previous_artifact("model_evaluation", "staleness.json"))
    if age:
        ms.spec["model_age"] = age
    run.config_path = save_spec(ms.spec, step.artifact("monitoring.yaml"))
    run.spec = load_spec(run.config_path, reference=ctx.reference)
    illustration = simulate.replay(run.spec, simulate.sample_batches(ms.clean, run.sim_batch, current_batches,
                                                                     seed=ctx.seed))
    run.calibrated_alarms = int((illustration["status"] == "alert").sum())
    run.measured = m = msetup.held_out_false_alarms(run.spec, ms.clean, run.batch, seed=ctx.seed,
                                                    default_kinds=run.kinds, reference=ms.frame)
    step.write_json("calibration.json", {
        "calibration": ms.calibration.as_dict(), "held_out_false_alarms": m, "split": ms.info["split"],
        "monitors": mchecks.monitors_table(ms.monitors).to_dict("records")}, round_floats=False)
    print(f"illustration: the calibrated monitor alerts on {run.calibrated_alarms} of {len(illustration)} clean "
          f"batches (Evidently defaults: {sum(run.default_alarms)})")
    ci = m["ci"]
    print(f"measured on {m['batches']} disjoint clean held-out batches of {run.batch} rows: "
          + (f"{m['alarms']} false alarms ({m['rate']:.2%}, 95% CI {ci[0]:.2%} to {ci[1]:.2%})" if ci else "none")
          + (f"; {m['inconclusive']}" if m.get("inconclusive") else ""))
    return m


def current_data(run: MonitoringRun, *, false_alarms: float, per_batches: float, current_batches: int) -> pd.DataFrame:
    """The budget and coverage checks, and the current data replayed through the deployed monitor: a finding about
    the data (judged on disjoint batches, independent as the binomial bound assumes), not a false alarm; overlapping
    batches serve the label-free estimate of section 6. Returns the checks so far as a table."""
    from playbook import holdout as splits
    from playbook.data import write_csv

    ctx, step, spec, ms = run.ctx, run.step, run.spec, run.ms
    cur_batch = run.batch if run.batch <= len(ctx.current) else max(1, len(ctx.current) // 2)
    run.raw_batches = simulate.sample_batches(ctx.current, cur_batch, current_batches, seed=ctx.seed)
    run.replay_batches = run.score.many(run.raw_batches)  # = [score(b) for b in raw_batches], in one model call
    run.replayed_current = simulate.replay(spec, run.replay_batches, ctx.target)
    finding_batches = run.score.many(splits.disjoint_batches(ctx.current, cur_batch, seed=ctx.seed,
                                                             limit=current_batches))
    replayed_disjoint = simulate.replay(spec, finding_batches, ctx.target)
    run.current_alerts = int((replayed_disjoint["status"] == "alert").sum())
    run.current_default = sum(mchecks.default_tests_alarms(run.calibration_rows, finding_batches,
                                                           list(ctx.features), run.kinds))
    new = [
        mchecks.budget_check(run.measured, false_alarms, per_batches, step.link("calibration.json"), ms.calibration),
        mchecks.coverage_check(ms.spec, list(ctx.features), step.link("monitoring.yaml")),
        mchecks.multivariate_check(spec, ms.info.get("multivariate_requested", True), step.link("monitoring.yaml")),
        mchecks.current_alert_check(replayed_disjoint, ms.calibration.alpha, run.current_default,
                                    step.link("current_replay.csv"), "current",
                                    ms.prediction.column if ms.prediction else None),
    ]
    run.checks += new
    write_csv(replayed_disjoint, step.artifact("current_replay.csv"))
    return pd.DataFrame(new)[["id", "status", "value", "why"]]


def detection_power(run: MonitoringRun, *, shifts: list, severity: float, max_detection_days: int,
                    detection_probability: float, power_replicates: int) -> pd.DataFrame:
    """Section 3: each fault of the drift step injected at ``severity`` into the clean held-out rows (the
    calibration rows when those are too few for batches that do not overlap heavily) and judged by the deployed
    monitor. Returns the power table (also ``detection_power.csv``)."""
    from playbook import holdout as splits
    from playbook.data import write_csv
    from playbook.drift.shifts import SHIFTS

    ctx, step = run.ctx, run.step
    fault_names = list(shifts) if shifts else list(SHIFTS)
    t_power = time.perf_counter()
    enough = len(run.clean_rows) >= splits.MIN_DISJOINT_BATCHES * run.batch
    base, base_name = ((run.clean_rows, "clean held-out rows") if enough
                       else (run.calibration_rows, "calibration rows (too few clean held-out rows)"))
    step.note("detection_power_base", base_name)
    run.power = simulate.shift_power(run.spec, run.ms.source, base, ctx.roles, fault_names, severity, run.batch,
                                     replicates=power_replicates, seed=ctx.seed, max_days=max_detection_days,
                                     probability=detection_probability)
    step.timing("detection_power_seconds", time.perf_counter() - t_power)
    write_csv(run.power, step.artifact("detection_power.csv"))
    run.checks += simulate.detection_checks(run.power, max_detection_days, detection_probability,
                                            step.link("detection_power.csv"))
    return run.power[POWER_COLUMNS].round(3)


def power_figure(power: pd.DataFrame, *, max_detection_days: int, detection_probability: float):
    """The detection power as a figure (shown inline; the numbers are ``detection_power.csv``): per fault, the chance
    one daily batch alerts and the chance of an alert within ``max_detection_days`` days, against the target."""
    import matplotlib.pyplot as plt

    rows = power.iloc[::-1]
    y = range(len(rows))
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(rows) + 1.4))
    ax.barh([i + 0.2 for i in y], rows["power"].astype(float), height=0.4, color="#7f8c8d", label="one daily batch")
    ax.barh([i - 0.2 for i in y], rows["p_detect_within"].astype(float), height=0.4, color="#2e86c1",
            label=f"within {max_detection_days} days")
    ax.axvline(detection_probability, color="#c0392b", ls="--", lw=1, label=f"target {detection_probability:.0%}")
    ax.set_yticks(list(y), [str(s) for s in rows["shift"]])
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability that the deployed monitor alerts")
    ax.set_title("Detection power at the false-alarm budget (no_drift: the false-alarm rate)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def command_examples(run: MonitoringRun) -> str:
    """Section 4: ``playbook monitor`` on one batch of the current data and on the same batch after a unit change;
    the round-trip and model-age checks. Prints each command's output; returns the unit change's Prometheus text."""
    ctx, step, spec = run.ctx, run.step, run.spec
    run.examples = simulate.command_examples(run.config_path, run.raw_batches[0], ctx.roles, step.artifact("examples"),
                                             ctx.seed, ctx.target, run.score)
    run.checks.append(mchecks.model_age_check(spec, run.raw_batches[0], step.link("monitoring.yaml"),
                                              ctx.roles.timestamp))
    run.checks.append(mchecks.roundtrip_check(run.ms.monitors + run.ms.multivariate, spec, run.replay_batches[0],
                                              run.examples["clean"]["exit_code"],
                                              [step.link("monitoring.yaml"), step.link("examples/clean.json")]))
    for name, ex in run.examples.items():
        print(f"$ playbook monitor --config monitoring.yaml --current {name}.parquet --out examples/{name}.json")
        print(ex["stdout"].rstrip(), f"\n(exit code {ex['exit_code']})\n")
    return step.artifact("examples/unit_change.prom").read_text()[:1200]


def production_days(run: MonitoringRun, *, timeline_days: int, timeline_onset: int, timeline_shift: str,
                    timeline_severity: float, timeline_pattern: str, label_delay_days: int, start_date: str,
                    max_detection_days: int) -> pd.DataFrame:
    """Section 5: simulated production days (clean until the onset, then the fault), scored by the deployed model
    and judged by the monitor; ``timeline.csv`` and ``timeline.png``. Returns the replayed days."""
    from playbook.data import write_csv

    ctx, step = run.ctx, run.step
    day_batch = run.batch if run.batch <= len(run.held_out) else max(1, len(run.held_out) // 2)
    run.days = simulate.production_days(run.held_out, days=timeline_days, onset=timeline_onset, shift=timeline_shift,
                                        severity=timeline_severity, pattern=timeline_pattern, batch_size=day_batch,
                                        roles=ctx.roles, score=run.score, seed=ctx.seed,
                                        start=dt.date.fromisoformat(start_date), label_delay=label_delay_days,
                                        target=ctx.target)
    run.timeline = simulate.replay(run.spec, run.days, ctx.target)
    write_csv(run.timeline, step.artifact("timeline.csv"))
    mchecks.plot_timeline(run.timeline, timeline_onset, step.artifact("timeline.png"),
                          f"{timeline_shift} ({timeline_pattern}) from day {timeline_onset}")
    run.checks.append(mchecks.timeline_check(run.timeline, timeline_onset, max_detection_days, timeline_shift,
                                             [step.link("timeline.csv"), step.link("timeline.png")]))
    return run.timeline.drop(columns=["date"]).round(3)


def estimation(run: MonitoringRun, *, max_estimation_error: float) -> pd.DataFrame | None:
    """Section 6: the label-free estimates against the realized metrics on the held-out batches and the labelled
    days (``current_estimates.csv``). Returns their means per source (binary tasks), else None."""
    from playbook.data import write_csv

    ctx, step = run.ctx, run.step
    estimates = pd.concat([run.replayed_current.assign(source="held-out batches"),
                           run.timeline.assign(source="timeline")])
    write_csv(run.replayed_current, step.artifact("current_estimates.csv"))
    run.checks.append(mchecks.estimation_check(run.replayed_current, max_estimation_error,
                                               step.link("current_estimates.csv"), ctx.task))
    cols = ["estimated_roc_auc", "realized_roc_auc", "estimated_accuracy", "realized_accuracy"]
    return estimates.groupby("source")[cols].mean() if ctx.task == "binary" else None


def workspace(run: MonitoringRun, *, write_workspace: bool, timeline_days: int) -> str | None:
    """Section 7: the Evidently workspace (one snapshot per simulated day, rows redacted first) when
    ``write_workspace``; the dashboard check either way. Returns a one-line description, or None."""
    from playbook.display import redact

    ctx, step, spec, ms = run.ctx, run.step, run.spec, run.ms
    ws, t_ws = None, time.perf_counter()
    if write_workspace:
        from playbook.monitoring.dashboard import build_workspace, reference_sample

        frame = reference_sample(ms.frame, ctx.seed)
        ws = build_workspace(
            step.artifact("evidently_workspace"), name=ctx.config.name, monitors=spec.monitors,
            reference=redact(frame.assign(**{ctx.target: ctx.reference.loc[frame.index, ctx.target]}), ctx),
            days=[dataclasses.replace(d, frame=redact(d.frame, ctx)) for d in run.days],
            features=list(ctx.features), numeric=list(ctx.numeric_features),
            score=(ms.prediction.column if ms.prediction else None), target=ctx.target,
            positive_label=ctx.positive_label, calibrator=spec.calibrator, decision_threshold=run.decision_threshold,
            seed=ctx.seed)
    step.timing("workspace_seconds", time.perf_counter() - t_ws)
    run.checks.append(mchecks.workspace_check(ws, timeline_days, step.link("evidently_workspace")))
    return ws and f"{ws['project_name']}: {len(ws['snapshots'])} snapshots, panels: {ws['panels']}"


def record(run: MonitoringRun):
    """Every check, the step's metrics and its duration, recorded on the step (``step.save()`` then writes
    ``results.json`` / ``timings.json``). Returns the step."""
    step, cal = run.step, run.ms.calibration
    step.add_checks(run.checks)
    for name, value in {
        "batch_size": run.batch, "monitors": len(run.spec.monitors), "alpha": cal.alpha,
        "false_alarm_rate.held_out": run.measured,
        "false_alarm_rate.bootstrap_of_calibration_rows": cal.false_alarm_rate_holdout,
        "false_alarm_rate.fit": cal.false_alarm_rate_fit, "tail_level": cal.level,
        "clean_batch_alerts.calibrated": run.calibrated_alarms,
        "clean_batch_alerts.evidently_defaults": sum(run.default_alarms), "clean_batches": len(run.clean_batches),
        "current_batch_alerts.calibrated": run.current_alerts,
        "current_batch_alerts.evidently_defaults": run.current_default,
    }.items():
        step.metric(name, value)
    for r in run.power.to_dict("records"):
        step.metric(f"detection_power.{r['shift']}", r["power"])
    step.timing("monitoring_setup_seconds", time.perf_counter() - run.t0)
    return step


__all__ = ["MonitoringRun", "setup", "default_tests_experiment", "calibrate", "deploy", "current_data",
           "detection_power", "power_figure", "command_examples", "production_days", "estimation", "workspace",
           "record"]
