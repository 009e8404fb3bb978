"""The deployable monitoring config (``monitoring.yaml``): schema, writing, loading and validation.

The file is everything ``playbook monitor`` needs to judge a production batch, with no access to the
reference data or the model:

```yaml
schema: playbook.monitoring        # what this file is
schema_version: 1                  # bumped on incompatible changes; older readers refuse newer files
name: german-credit                # the model / pack it was made for (a label on every metric)
task: binary
target: creditability              # the label column, when labels arrive
positive_label: bad
reference: {rows: 700, fingerprint: <sha256 of the reference frame>, columns: 20}
batch: {size: 200, period: day, size_range: [50, 800]}
alert_budget:                      # at most 1 false alarm per 30 batches for the whole monitor
  false_alarms: 1
  per_batches: 30
  alpha: 0.0333                    # = false_alarms / per_batches: per-batch false-alarm probability
  correction: min-p                # how the budget is shared across monitors (or bonferroni)
  level: 0.0018                    # resulting per-monitor tail level
  estimated_false_alarm_rate: ...  # measured on fresh no-drift bootstrap batches
contract: {...}                    # the data contract (columns, kinds, dtypes, nullability)
columns: {allow_extra: false, ignore: [..]}
prediction: {column: score, kind: probability, decision_threshold: 0.5}
monitors:                          # one per monitored column (and the prediction, and the estimate)
  - {name: duration_in_month, column: duration_in_month, role: feature, test: binned_ks,
     threshold: 0.14, batch_size: 200, null_quantiles: {...}, profile: {...}}
  - {name: "duration_in_month:range", column: duration_in_month, role: feature, test: out_of_range,
     threshold: 5, level: 0.0014, profile: {low: 4, high: 72, rows: 700}}
  - {name: estimated_roc_auc, column: score, role: performance, test: cbpe_roc_auc, ...}
multivariate:                      # whole-row monitors (playbook/monitoring/multivariate.py); absent: none
  share: 0.2                       # share of alpha given to the domain classifier (alert_budget.split)
  prepared: {numeric: {col: [mean, sd]}, categorical: {col: <profile>}}
  monitors:
    - {name: pca_reconstruction, role: multivariate, test: pca_reconstruction_error, threshold: 2.9, center: 2.7,
       pca: {scale: <packed>, mean: <packed>, components: <packed>}, ...}
    - {name: domain_classifier, role: multivariate, test: domain_classifier_auc, threshold: 0.62, level: 0.0067,
       null: {mean: 0.52, sd: 0.03, batches: 200}, classifier: {...}, reference_sample: {rows: <row labels>, sha256: ...}}
performance:                       # for labeled batches and the label-free estimate
  calibrator: {method: sigmoid, a: 1.1, b: -0.2}
  labeled: {roc_auc: {min: 0.61, expected: 0.75}, accuracy: {min: 0.62, expected: 0.74}}
serving:                           # the gates of the serving alerts (playbook.monitoring.alerts.serving_section)
  max_p99_ms: 250.0                # the pack config's serving.max_p99_ms, else the documented default
  max_5xx_share: 0.01
```
"""

from __future__ import annotations

import binascii
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from playbook.monitoring.calibrate import DistributionMonitor, EstimatedPerformanceMonitor, RangeMonitor
from playbook.monitoring.performance import Calibrator
from playbook.monitoring.stats import ColumnProfile
from playbook.results import write_text_atomic

SCHEMA = "playbook.monitoring"
SCHEMA_VERSION = 1
ROLES = ("feature", "prediction", "performance")


class MonitoringConfigError(ValueError):
    """The monitoring config is missing, unreadable or invalid: the message names the key and the fix."""


def _plain(value: Any) -> Any:
    """Plain Python values (YAML-safe) from numpy scalars and containers. Floats keep full precision (YAML
    writes their shortest exact repr), so the file reproduces the calibrated monitors bit for bit."""
    import math

    import numpy as np

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return None if math.isnan(v) else v
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if hasattr(value, "item"):
        return _plain(value.item())
    return str(value)


@dataclass
class MonitoringSpec:
    """A loaded ``monitoring.yaml``: its settings and its monitor objects."""

    raw: dict
    monitors: list = field(default_factory=list)
    calibrator: Calibrator | None = None
    multivariate: list = field(default_factory=list)  # playbook.monitoring.multivariate monitors (whole rows)

    def attach_reference(self, reference) -> list[str]:
        """Give the domain classifier its reference sample from the reference data (a frame, or None: then it is not
        run); the reasons of the monitors left detached. monitoring.yaml holds only the sample's row labels and hash."""
        from playbook.monitoring.multivariate import attach_reference

        return attach_reference(self.multivariate, reference)

    @property
    def name(self) -> str:
        return str(self.raw.get("name", "model"))

    @property
    def task(self) -> str:
        return str(self.raw.get("task", ""))

    @property
    def target(self) -> str | None:
        return self.raw.get("target")

    @property
    def positive_label(self) -> Any:
        return self.raw.get("positive_label")

    @property
    def batch_size(self) -> int:
        return int(self.raw["batch"]["size"])

    @property
    def model_age(self) -> dict | None:
        """``{timestamp_column, trained_until, max_age_days, basis}`` when the pack measured how the model ages."""
        return self.raw.get("model_age") or None

    @property
    def size_range(self) -> tuple[int, int]:
        lo, hi = self.raw["batch"].get("size_range", [1, 10**12])
        return int(lo), int(hi)

    @property
    def contract(self) -> dict:
        return self.raw.get("contract") or {}

    @property
    def contract_columns(self) -> dict:
        return (self.contract.get("columns") or {})

    @property
    def prediction(self) -> dict:
        return self.raw.get("prediction") or {}

    @property
    def performance(self) -> dict:
        return self.raw.get("performance") or {}

    @property
    def allow_extra(self) -> bool:
        return bool((self.raw.get("columns") or {}).get("allow_extra", False))

    @property
    def ignore(self) -> list[str]:
        return list((self.raw.get("columns") or {}).get("ignore", []))

    @property
    def alpha(self) -> float:
        return float(self.raw["alert_budget"]["alpha"])

    def to_dict(self) -> dict:
        return self.raw


def monitor_to_dict(m) -> dict:
    if isinstance(m, DistributionMonitor):
        return _plain({
            "name": m.name, "column": m.column, "role": m.role, "test": m.test,
            "threshold": m.threshold, "batch_size": m.calibrated_batch_size,
            "null_quantiles": m.null_quantiles, "profile": m.profile.to_dict(),
        })
    if isinstance(m, RangeMonitor):
        return _plain({
            "name": m.name, "column": m.column, "role": m.role, "test": m.test,
            "threshold": m.threshold, "batch_size": m.calibrated_batch_size, "level": m.level,
            "null_quantiles": m.null_quantiles,
            "profile": {"low": m.low, "high": m.high, "rows": m.reference_rows},
        })
    if isinstance(m, EstimatedPerformanceMonitor):
        return _plain({
            "name": m.name, "column": m.column, "role": "performance", "test": m.test, "metric": m.metric,
            "threshold": m.threshold, "batch_size": m.calibrated_batch_size, "center": m.center,
            "minimum": m.minimum, "decision_threshold": m.decision_threshold,
            "null_quantiles": m.null_quantiles,
        })
    raise TypeError(f"not a monitor: {m!r}")


def build_spec(*, name: str, task: str, target: str | None, positive_label: Any, classes: list,
               reference_rows: int, reference_fingerprint: str, batch_size: int, false_alarms: float,
               per_batches: float, calibration, contract: dict, monitors: list,
               prediction: dict | None = None, performance: dict | None = None,
               ignore: list[str] | None = None, allow_extra: bool = False, period: str = "day",
               generated_by: str | None = None, model_age: dict | None = None) -> dict:
    """Assemble the monitoring config mapping (see the module docstring for the schema)."""
    cal = calibration.as_dict() if hasattr(calibration, "as_dict") else dict(calibration)
    lo = max(1, batch_size // 4)
    spec = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "generated_by": generated_by or _generated_by(),
        "task": task,
        "target": target,
        "positive_label": positive_label,
        "classes": list(classes or []),
        "reference": {"rows": int(reference_rows), "fingerprint": reference_fingerprint,
                      "columns": len({m.column for m in monitors if getattr(m, "role", "") == "feature"})},
        "batch": {"size": int(batch_size), "period": period, "size_range": [int(lo), int(batch_size * 4)]},
        "alert_budget": {
            "false_alarms": false_alarms, "per_batches": per_batches, "alpha": cal["alpha"],
            "margin": cal.get("margin", 1.0), "correction": cal["correction"], "level": cal["level"],
            "bonferroni_level": cal.get("bonferroni_level"),
            "estimated_false_alarm_rate": cal["false_alarm_rate_holdout"],
            "estimated_false_alarm_upper_95": cal["false_alarm_upper_95"],
            "replicates": cal["replicates"], "holdout": cal["holdout"], "seed": cal["seed"],
        },
        "contract": contract,
        "columns": {"allow_extra": bool(allow_extra), "ignore": list(ignore or [])},
        "prediction": prediction or {},
        "monitors": [monitor_to_dict(m) for m in monitors],
        "performance": performance or {},
    }
    if model_age:
        spec["model_age"] = dict(model_age)
    return _plain(spec)


def _generated_by() -> str:
    from playbook import __version__

    return f"playbook {__version__}"


HEADER = """\
# Monitoring config written by the readiness playbook's monitoring step.
# Check a production batch with:
#   playbook monitor --config monitoring.yaml --current batch.parquet [--labels labels.csv] --out monitor/
# Exit code 0 = healthy, 1 = alert, 2 = bad input. Schema: see playbook/monitoring/spec.py.
"""


def save_spec(spec: dict, path: str | Path) -> Path:
    """Write the config as YAML (atomic rename), keys in schema order. Written into the artifacts folder of a step
    being recorded, the alerting rules and the Grafana dashboard are written beside it and their checks recorded
    on that step (:mod:`playbook.monitoring.handoff`)."""
    text = HEADER + yaml.safe_dump(_plain(spec), sort_keys=False, allow_unicode=True, width=120)
    out = write_text_atomic(path, text)
    from playbook.monitoring.handoff import on_spec_saved

    on_spec_saved(_plain(spec), out)
    return out


def _need(d: dict, key: str, where: str, types=None) -> Any:
    if not isinstance(d, dict) or key not in d or d[key] is None:
        raise MonitoringConfigError(f"{where}.{key} is missing; regenerate the config with the monitoring step.")
    v = d[key]
    if types is not None and not isinstance(v, types):
        raise MonitoringConfigError(f"{where}.{key} has the wrong type ({type(v).__name__}); regenerate the config.")
    return v


def spec_from_dict(raw: Any, source: str = "monitoring config") -> MonitoringSpec:
    """Validate a parsed config mapping and build its monitors."""
    if not isinstance(raw, dict):
        raise MonitoringConfigError(f"{source}: expected a YAML mapping; pass the monitoring.yaml written by the monitoring step.")
    if raw.get("schema") != SCHEMA:
        raise MonitoringConfigError(
            f"{source}: schema is {raw.get('schema')!r}, not {SCHEMA!r}; pass the monitoring.yaml from the "
            "monitoring step's artifacts (not the pack config).")
    version = raw.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise MonitoringConfigError(f"{source}: schema_version must be a positive whole number.")
    if version > SCHEMA_VERSION:
        raise MonitoringConfigError(
            f"{source}: schema_version {version} is newer than this playbook understands ({SCHEMA_VERSION}); "
            "upgrade the playbook package.")
    batch = _need(raw, "batch", source, dict)
    size = _need(batch, "size", f"{source}: batch", int)
    if size < 1:
        raise MonitoringConfigError(f"{source}: batch.size must be at least 1.")
    budget = _need(raw, "alert_budget", source, dict)
    alpha = _need(budget, "alpha", f"{source}: alert_budget", (int, float))
    if not 0 < float(alpha) < 1:
        raise MonitoringConfigError(f"{source}: alert_budget.alpha must be between 0 and 1.")
    contract = raw.get("contract") or {}
    if not isinstance(contract, dict) or not isinstance(contract.get("columns", {}), dict):
        raise MonitoringConfigError(f"{source}: contract.columns must be a mapping of column name to its rules.")
    age = raw.get("model_age")
    if age is not None:
        if not isinstance(age, dict) or not isinstance(age.get("timestamp_column"), str):
            raise MonitoringConfigError(f"{source}: model_age needs a timestamp_column; regenerate the config.")
        try:
            pd.Timestamp(str(_need(age, "trained_until", f"{source}: model_age")))
        except (ValueError, TypeError):
            raise MonitoringConfigError(f"{source}: model_age.trained_until is not a date; regenerate the config.") from None
        if age.get("max_age_days") is not None and not isinstance(age["max_age_days"], (int, float)):
            raise MonitoringConfigError(f"{source}: model_age.max_age_days must be a number of days.")
    perf = raw.get("performance") or {}
    calibrator = None
    if perf.get("calibrator"):
        try:
            calibrator = Calibrator.from_dict(perf["calibrator"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MonitoringConfigError(f"{source}: performance.calibrator is invalid ({exc}); regenerate the config.") from None
    items = _need(raw, "monitors", source, list)
    monitors = []
    seen = set()
    for i, m in enumerate(items):
        where = f"{source}: monitors[{i}]"
        if not isinstance(m, dict):
            raise MonitoringConfigError(f"{where} must be a mapping.")
        name = str(_need(m, "name", where))
        if name in seen:
            raise MonitoringConfigError(f"{where}: monitor name {name!r} appears twice; each monitor needs a unique name.")
        seen.add(name)
        role = m.get("role", "feature")
        if role not in ROLES:
            raise MonitoringConfigError(f"{where}.role {role!r} must be one of {', '.join(ROLES)}.")
        threshold = _need(m, "threshold", where, (int, float))
        if role == "performance":
            if calibrator is None:
                raise MonitoringConfigError(f"{where}: a performance monitor needs performance.calibrator.")
            mon = EstimatedPerformanceMonitor(
                score_column=str(_need(m, "column", where)), calibrator=calibrator,
                metric=str(m.get("metric", "roc_auc")), decision_threshold=float(m.get("decision_threshold", 0.5)),
                center=float(_need(m, "center", where, (int, float))), threshold=float(threshold),
                calibrated_batch_size=int(m.get("batch_size") or size), null_quantiles=m.get("null_quantiles") or {},
            )
        elif m.get("test") == "out_of_range":
            prof = _need(m, "profile", where, dict)
            try:
                mon = RangeMonitor(str(_need(m, "column", where)), float(prof["low"]), float(prof["high"]),
                                   int(prof["rows"]), role=role, threshold=float(threshold),
                                   calibrated_batch_size=int(m.get("batch_size") or size),
                                   level=None if m.get("level") is None else float(m["level"]),
                                   null_quantiles=m.get("null_quantiles") or {})
            except (KeyError, TypeError, ValueError) as exc:
                raise MonitoringConfigError(f"{where}.profile needs low, high and rows ({exc}); regenerate the config.") from None
        else:
            try:
                prof = ColumnProfile.from_dict(str(_need(m, "column", where)), _need(m, "profile", where, dict))
            except (KeyError, TypeError, ValueError) as exc:
                raise MonitoringConfigError(f"{where}.profile is invalid: {exc}") from None
            mon = DistributionMonitor(prof, role=role, threshold=float(threshold),
                                      calibrated_batch_size=int(m.get("batch_size") or size),
                                      null_quantiles=m.get("null_quantiles") or {})
        monitors.append(mon)
    try:
        from playbook.monitoring.multivariate import from_section

        multivariate = from_section(raw.get("multivariate"))
    except (KeyError, TypeError, ValueError, zlib.error, binascii.Error) as exc:
        raise MonitoringConfigError(f"{source}: multivariate is invalid ({exc}); regenerate the config.") from None
    return MonitoringSpec(raw=raw, monitors=monitors, calibrator=calibrator, multivariate=multivariate)


def load_spec(path: str | Path, reference=None) -> MonitoringSpec:
    """Read and validate ``monitoring.yaml``; every problem is a :class:`MonitoringConfigError`. ``reference`` (the
    reference data as a frame) attaches the domain classifier's sample (:meth:`MonitoringSpec.attach_reference`)."""
    p = Path(path)
    if not p.exists():
        raise MonitoringConfigError(
            f"--config {path}: file not found; pass the monitoring.yaml from the pack "
            "(steps/NN_monitoring_setup/artifacts/monitoring.yaml).")
    if p.is_dir():
        cand = p / "monitoring.yaml"
        if cand.exists():
            p = cand
        else:
            raise MonitoringConfigError(f"--config {path}: is a folder without a monitoring.yaml; pass the file itself.")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise MonitoringConfigError(f"--config {path}: not valid YAML{where}; restore the file written by the monitoring step.") from None
    except UnicodeDecodeError:
        raise MonitoringConfigError(f"--config {path}: not a text file; pass the monitoring.yaml.") from None
    spec = spec_from_dict(raw, source=f"--config {path}")
    if reference is not None:
        spec.attach_reference(reference)
    return spec
