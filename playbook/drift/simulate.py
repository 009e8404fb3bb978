"""The drift simulation: inject each fault, run the monitors, score the model, tabulate.

This module is the façade the drift template uses; the work is split by concern:

* :mod:`playbook.drift.monitors` - the inputs (contract, model, clean pool, the metric and its bound) and the
  :class:`Monitors` that run on each batch, built once by :func:`build_monitors` (the replaceable part);
* :mod:`playbook.drift.engine` - the sweep (every fault x severity x trial), the sensitivity matrix, the
  timelines (time to detection) and the power estimate (rows per batch);
* :mod:`playbook.drift.checks` - the step's ``drift.*`` checks, made with :func:`playbook.catalogue.check`;
* :mod:`playbook.drift.plots` - the heatmap, timeline and power figures, and the power table;
* :mod:`playbook.drift.artifacts` - the JSON / CSV artifacts.

Main entry points (all deterministic given the seed)::

    contract, source = load_contract(ctx)
    model, note = load_model(ctx)
    pool, where = evaluation_pool(ctx, model)
    metric, metric_note = choose_metric(ctx.task, model)          # the task's primary metric, or accuracy
    mon = build_monitors(ctx.reference, pool, ctx.roles, model=model, contract=contract, metric=metric,
                         metric_floor=metric_bound(metric, ctx.policy), metric_note=metric_note)
    trials, matrix, skipped = sweep(mon, shifts, severities=[.1, .25, .5, .75, 1], trials=20, batch_size=200)
    tl = timelines(mon, shifts, kinds=("sudden", "gradual", "recurring"))
    pw = power(mon, shifts, severity=0.5, batch_sizes=[50, 100, 200, 400, 800])
    reason, not_applicable = scoring(mon, note)
    checks = make_checks(matrix, skipped, tl, pw, scored=mon.scores, score_reason=reason,
                         score_not_applicable=not_applicable, limit=ctx.limit)
"""

from __future__ import annotations

from playbook.drift.artifacts import PARAMETERS, matrix_records, write_artifacts
from playbook.drift.checks import detection_at, make_checks
from playbook.drift.engine import NO_SHIFT, power, sensitivity_matrix, sweep, timelines
from playbook.drift.monitors import (
    METRICS,
    Monitors,
    build_monitors,
    choose_metric,
    deployed_monitor,
    evaluation_pool,
    held_out_false_alarms,
    load_contract,
    load_model,
    metric_bound,
    scoring,
)
from playbook.drift.plots import heatmap, power_plot, power_table, timeline_plot

__all__ = [
    "METRICS", "Monitors", "NO_SHIFT", "PARAMETERS", "build_monitors", "choose_metric", "deployed_monitor", "detection_at",
    "evaluation_pool", "heatmap", "held_out_false_alarms", "load_contract", "load_model", "make_checks", "matrix_records", "metric_bound",
    "power", "power_plot", "power_table", "scoring", "sensitivity_matrix", "sweep", "timeline_plot", "timelines",
    "write_artifacts",
]
