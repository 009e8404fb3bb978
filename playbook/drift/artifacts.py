"""The drift step's JSON / CSV artifacts: aggregates only, never a row of data, deterministic.

Public API::

    write_artifacts(step, mon, matrix, trials, skipped, tl, pw, shift_catalogue, example_table, params=...,
                    contract_source=..., pool_source=...)
    # -> artifacts/sensitivity.json (parameters, the monitors and the metric they were scored with, the matrix),
    #    sensitivity_trials.csv, shifts.json, example_column_drift.json, timelines.json, power.json
    matrix_records(matrix)                       # the matrix as JSON-ready records (NaN -> None)
    PARAMETERS                                   # the template parameters recorded with the matrix
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from playbook.drift.engine import NO_SHIFT
from playbook.drift.monitors import Monitors


def matrix_records(matrix: pd.DataFrame) -> list[dict]:
    """The matrix as JSON-ready records (NaN -> None)."""
    return _records(matrix)


#: the template parameters recorded with the sensitivity matrix
PARAMETERS = (
    "shifts", "severities", "trials", "batch_size", "drift_share", "watch_columns", "contract_tolerance",
    "max_metric_drop", "metric", "detect_severity", "min_detection_rate", "max_false_alarm_rate",
    "max_silent_failures", "max_noisy_alarm_share", "timelines", "n_batches", "onset", "period",
    "max_detection_delay", "power_batch_sizes", "power_trials", "power_severity", "example_shift",
)


_INT_KEYS = {"min_batch_size", "time_to_detection", "trials", "n_reference", "n_current", "trial"}


def clean_value(key: str, v: Any) -> Any:
    """A table cell as JSON: NaN -> None, whole floats of count columns -> int."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if key in _INT_KEYS and isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _records(df: pd.DataFrame | None) -> list[dict]:
    if df is None:
        return []
    return [{k: clean_value(k, v) for k, v in r.items()} for r in df.to_dict("records")]


def write_artifacts(step, mon: Monitors, matrix: pd.DataFrame, trials: pd.DataFrame, skipped: dict,
                    timeline: pd.DataFrame | None, pw: pd.DataFrame | None, shift_catalogue: pd.DataFrame,
                    example_table: pd.DataFrame | None, *, params: dict, contract_source: str,
                    pool_source: str, limits: dict | None = None, deployed_source: str | None = None,
                    false_alarms: dict | None = None) -> None:
    """Write the step's JSON / CSV artifacts (deterministic; no row of data, only aggregates).

    ``params`` are the step's parameters as given, ``limits`` the bounds in force after the policy's gates
    (``ctx.limit``); ``sensitivity.json`` records both, and which metric the model was scored with and why
    (``monitors.model_metric``, ``monitors.primary_metric``, ``monitors.metric_note``)."""
    from playbook.metrics import primary
    from playbook.results import write_json_atomic

    none = matrix[matrix["shift"] == NO_SHIFT]
    deployed = None
    if mon.spec is not None:
        deployed = {"source": deployed_source, "name": mon.spec.name, "batch_size": mon.spec.batch_size,
                    "alpha": mon.spec.alpha,
                    "thresholds": {m.name: m.threshold for m in [*mon.spec.monitors, *mon.spec.multivariate]}}
    write_json_atomic(step.artifact("sensitivity.json"), {
        "params": params,
        "limits": limits or {},
        "deployed_monitor": deployed,
        "held_out_false_alarms": false_alarms,
        "monitors": {
            "alarm": ("the deployed calibrated monitor (playbook monitor on monitoring.yaml, contract included)"
                      if deployed else "the default monitors below"),
            "drift": f"comparison: dataset drift when >= {mon.drift_share:g} of {len(mon.detector.columns)} features "
                     "drift (Evidently 0.7 default tests and thresholds per column)"
                     + (f", or any of {mon.watch_columns} drifts" if mon.watch_columns else ""),
            "contract": (f"data contract ({contract_source}); range/category violations by at most "
                         f"{mon.contract_tolerance:g} of rows ignored") if mon.contract is not None else None,
            "model_metric": mon.metric if mon.scores else None,
            "primary_metric": primary(mon.roles.task),
            "metric_note": mon.notes.get("metric") or mon.notes.get("model"),
            "expected_metric": mon.expected_metric,
            "max_metric_drop": mon.max_metric_drop,
            "metric_floor": mon.metric_floor,
            "batches_from": pool_source,
        },
        "false_alarm_rate": (false_alarms or {}).get("rate") if false_alarms else (
            float(none["detection_rate"].iloc[0]) if len(none) else None),
        "unshifted_alarm_rate": {"deployed": float(none["detection_rate"].iloc[0]) if len(none) else None,
                                 "evidently_defaults": float(none["default_detection_rate"].iloc[0]) if len(none) else None,
                                 "batches_from": pool_source},
        "skipped": skipped,
        "matrix": matrix_records(matrix),
    })
    from playbook.data import write_csv

    write_csv(trials.drop(columns=["error"], errors="ignore"), step.artifact("sensitivity_trials.csv"),
              float_format="%.10g")
    write_json_atomic(step.artifact("shifts.json"), _records(shift_catalogue))
    if example_table is not None:
        write_json_atomic(step.artifact("example_column_drift.json"), _records(example_table))
    if timeline is not None:
        write_json_atomic(step.artifact("timelines.json"), _records(timeline))
    if pw is not None:
        rows = _records(pw)
        for r in rows:
            r["rates"] = {str(k): v for k, v in (r.get("rates") or {}).items()}
        write_json_atomic(step.artifact("power.json"), rows)


__all__ = ["PARAMETERS", "clean_value", "matrix_records", "write_artifacts"]
