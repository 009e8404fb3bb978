"""The declared type and range of every template parameter, in one place, checked before a run writes anything.

A template declares each parameter in its ``parameters`` cell with a type annotation (``trials: int = 20``, read
by papermill's ``inspect_notebook`` as ``inferred_type_name``). This module adds what an annotation cannot say:
the range (``min`` / ``max``, inclusive unless ``min_open`` / ``max_open``), the allowed choices, the kind of the
items of a list, and dates. ``playbook run`` calls :func:`validate` on every ``steps.<step>.params`` value of
the config before any folder is created; a value that does not fit is a :class:`ParamError` whose message is
one sentence naming ``steps.<step>.params.<name>`` and the fix (exit code 2).

``tests/test_params.py`` keeps this registry and the templates in sync: every entry names a declared parameter
of the right type, every numeric or list parameter of a template has an entry, and every template default
satisfies its own constraint.

Rules by type (``inferred_type_name``):

* ``int``: a whole number (not ``true`` / ``false``, not ``"50"``, not ``5.0``);
* ``float``: a finite number (``1e400``, ``.inf`` and ``.nan`` are refused; whole numbers are accepted);
* ``bool``: ``true`` or ``false``;
* ``str``: text; with ``date`` an ISO date ``YYYY-MM-DD`` (a YAML date is accepted), ``""`` only when
  ``empty_ok``; with ``choices`` one of them;
* ``list``: a list whose items follow ``items`` (a :class:`P` of their own).
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from playbook.config import ConfigError


class ParamError(ConfigError):
    """A step parameter of the wrong type or outside its declared range (a config error: exit code 2)."""


@dataclass(frozen=True)
class P:
    """The constraint on one parameter (or on the items of a list parameter)."""

    type: str                                   # int | float | bool | str | list (as papermill infers it)
    min: float | None = None
    max: float | None = None
    min_open: bool = False                      # min itself is not allowed
    max_open: bool = False
    choices: tuple | Callable[[], Iterable] | None = None
    items: "P | None" = None                    # list items
    date: bool = False                          # str: an ISO date
    empty_ok: bool = True                       # str date / choice: "" allowed (the template's "not set")
    unit: str = ""                              # for messages: "share", "seconds", ...

    def choice_list(self) -> list:
        c = self.choices() if callable(self.choices) else self.choices
        return list(c or [])

    def describe(self) -> str:
        """The constraint in words (used in messages and ``playbook templates``)."""
        if self.type == "list":
            return f"a list, each item {self.items.describe()}" if self.items else "a list"
        if self.choices is not None:
            opts = self.choice_list()
            shown = ", ".join(map(repr, opts[:20])) + (", ..." if len(opts) > 20 else "")
            return f"one of {shown}" + (" (or \"\" for the default)" if self.empty_ok and "" not in opts else "")
        if self.date:
            return "a date YYYY-MM-DD" + (' (or "" for none)' if self.empty_ok else "")
        base = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text",
                "any": "text or a number"}[self.type]
        lo = None if self.min is None else f"{'above' if self.min_open else 'at least'} {self.min:g}"
        hi = None if self.max is None else f"{'below' if self.max_open else 'at most'} {self.max:g}"
        rng = " and ".join(x for x in (lo, hi) if x)
        return f"{base} {rng}".strip() if rng else base


def _shifts() -> list[str]:
    from playbook.drift.shifts import SHIFTS

    return list(SHIFTS)


def _timelines() -> list[str]:
    from playbook.drift.timeline import KINDS

    return list(KINDS)


def _metrics() -> list[str]:
    from playbook.metrics import HIGHER_IS_BETTER

    return list(HIGHER_IS_BETTER)


SHARE = P("float", 0.0, 1.0, unit="share")
OPEN_SHARE = P("float", 0.0, 1.0, min_open=True, unit="share")    # (0, 1]
NONNEG = P("float", 0.0)
POSITIVE = P("float", 0.0, min_open=True)
COUNT = P("int", 1)
COUNT0 = P("int", 0)
SEVERITY = P("float", 0.0, 1.0, min_open=True)

#: ``{step: {parameter: P}}``: the one declaration of every template parameter's constraint.
REGISTRY: dict[str, dict[str, P]] = {
    "data_audit": {
        "run_date": P("str", date=True),
        "missing_markers": P("list", items=P("any")),
        "numeric_missing_markers": P("list", items=P("float")),
        "max_missing_share": SHARE, "max_column_missing_share": SHARE, "max_disguised_share": SHARE,
        "mixed_types_min_share": SHARE, "numeric_text_share": OPEN_SHARE, "max_duplicate_share": SHARE,
        "max_duplicate_id_share": SHARE, "max_conflicting_share": SHARE, "near_constant_share": OPEN_SHARE,
        "max_categories": COUNT, "outlier_quantile": P("float", 0.0, 0.5, min_open=True, max_open=True),
        "outlier_k": NONNEG, "outlier_min_distinct": COUNT, "max_outlier_share": SHARE, "min_class_share": SHARE,
        "max_target_missing_share": SHARE, "max_target_skew": NONNEG, "leakage_max_score": OPEN_SHARE,
        "leakage_max_r2": OPEN_SHARE,
        "leakage_max_rows": P("int", 10), "leakage_folds": P("int", 2), "id_unique_share": OPEN_SHARE,
        "id_max_abs_corr": SHARE, "max_contamination_share": SHARE, "max_overlap_days": NONNEG,
        "max_gap_factor": P("float", 1.0), "max_staleness_days": NONNEG, "max_future_share": SHARE,
        "max_unparseable_share": SHARE, "max_violation_share": SHARE, "contract_missing_slack": SHARE,
        "sample_rows": P("int", 100), "evidently_report": P("bool"),
    },
    "drift_simulation": {
        "shifts": P("list", items=P("str", choices=_shifts, empty_ok=False)),
        "severities": P("list", items=SEVERITY),
        "trials": COUNT, "batch_size": COUNT0, "drift_share": OPEN_SHARE,
        "watch_columns": P("list", items=P("str")),
        "contract_tolerance": SHARE, "max_metric_drop": SHARE,
        "metric": P("str", choices=_metrics),
        "detect_severity": SEVERITY, "min_detection_rate": SHARE, "max_false_alarm_rate": SHARE,
        "max_silent_failures": COUNT0, "max_noisy_alarm_share": SHARE,
        "timelines": P("list", items=P("str", choices=_timelines, empty_ok=False)),
        "n_batches": P("int", 2), "onset": COUNT0, "period": COUNT, "max_detection_delay": COUNT0,
        "power_batch_sizes": P("list", items=COUNT), "power_trials": COUNT, "power_severity": SEVERITY,
        "example_shift": P("str", choices=_shifts),
        "evidently_report": P("bool"),
    },
    "model_evaluation": {
        "threshold": SHARE, "use_business_threshold": P("bool"), "n_bootstrap": COUNT0,
        "calibration_bins": P("int", 2), "max_ece": SHARE, "slice_bins": P("int", 2), "min_slice_size": COUNT,
        "max_slice_gap": NONNEG, "segment_min_support": COUNT, "segment_bins": P("int", 2),
        "segment_margin": NONNEG, "segment_fdr": OPEN_SHARE, "max_segments": COUNT,
        "max_demographic_parity_difference": SHARE,
        "max_equalized_odds_difference": SHARE, "max_accuracy_difference": SHARE,
        "max_mae_ratio": P("float", 1.0), "robustness_severity": SHARE, "max_robustness_drop": NONNEG,
        "importance_repeats": COUNT, "importance_max_rows": P("int", 10), "near_zero_importance": NONNEG,
        "max_importance_share": OPEN_SHARE, "latency_single_calls": COUNT, "latency_batch_size": COUNT,
        "max_model_mb": POSITIVE, "evidently_report": P("bool"),
        "refit_max_rows": P("int", 20), "training_seeds": COUNT0, "spec_sample_rows": P("int", 20),
        "tuning_configurations": COUNT0, "tuning_folds": P("int", 2), "cost_max_features": COUNT0,
        "cost_max_size_share": SHARE, "staleness_windows": P("int", 2), "staleness_min_age_days": NONNEG,
        "debug_rows": COUNT0, "stability_probe_rows": COUNT, "plausible_range_factor": NONNEG,
        "max_latency_ratio": P("float", 1.0),
    },
    "monitoring_setup": {
        "batch_size": COUNT0, "false_alarms": POSITIVE, "per_batches": P("float", 1.0),
        "correction": P("str", choices=("min-p", "bonferroni"), empty_ok=False),
        "replicates": P("int", 100), "holdout": P("int", 100), "margin": OPEN_SHARE, "bins": P("int", 2),
        "max_categories": COUNT, "cv_folds": P("int", 2), "decision_threshold": SHARE,
        "calibration_method": P("str", choices=("auto", "sigmoid", "isotonic"), empty_ok=False),
        "shifts": P("list", items=P("str", choices=_shifts, empty_ok=False)),
        "severity": SEVERITY, "max_detection_days": COUNT, "detection_probability": OPEN_SHARE,
        "power_replicates": P("int", 10), "current_batches": COUNT, "timeline_days": COUNT,
        "timeline_onset": COUNT, "timeline_shift": P("str", choices=_shifts, empty_ok=False),
        "timeline_severity": SEVERITY, "timeline_pattern": P("str", choices=_timelines, empty_ok=False),
        "label_delay_days": COUNT0, "start_date": P("str", date=True, empty_ok=False),
        "max_estimation_error": NONNEG, "write_workspace": P("bool"),
        "multivariate": P("bool"), "multivariate_share": P("float", 0.0, 0.5, unit="share"),
        "domain_null_batches": P("int", 20, 100_000),
    },
    "governance": {
        "leak_values_per_column": COUNT0,
    },
    "readiness_review": {
        "min_ml_test_score": NONNEG, "leak_values_per_column": COUNT0,
    },
    "serving": {
        "concurrency": P("list", items=P("int", 1, 256)), "batch_sizes": P("list", items=P("int", 1, 100_000)),
        "requests": P("int", 1, 100_000), "skew_rows": P("int", 1, 1_000_000), "skew_one_row": P("int", 0, 1_000_000),
        "tolerance": P("float", 0.0, 1.0),
        "burst": P("int", 1, 10_000), "max_concurrency": P("int", 1, 256), "max_queue": P("int", 0, 100_000),
        "storm_rounds": P("int", 1, 100),
    },
}

#: Rules between parameters of one step: ``(step, [parameters], predicate(values), message)``; checked with the
#: template defaults filled in for parameters the config leaves out.
RELATIONS: list[tuple[str, tuple[str, ...], Callable[..., bool], str]] = [
    ("drift_simulation", ("onset", "n_batches"), lambda onset, n: onset < n,
     "onset: the fault must start before the last batch; set it below n_batches ({n_batches})"),
    ("monitoring_setup", ("timeline_onset", "timeline_days"), lambda onset, days: onset <= days,
     "timeline_onset: the fault must arrive within the timeline; set it to at most timeline_days ({timeline_days})"),
    ("monitoring_setup", ("false_alarms", "per_batches"), lambda fa, per: fa <= per,
     "false_alarms: the budget allows at most one alarm per batch; set it to at most per_batches ({per_batches})"),
]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check(value: Any, spec: P, key: str) -> Any:
    """The value as the notebook should receive it, or :class:`ParamError`."""
    def bad(what: str) -> ParamError:
        return ParamError(f"{key}: {what}; set it to {spec.describe()}.")

    t = spec.type
    if t == "any":
        if value is None or isinstance(value, (str, int, float, bool)):
            if isinstance(value, float) and not math.isfinite(value):
                raise bad(f"{value!r} is not a finite number")
            return value
        raise bad(f"expected a single value, got {type(value).__name__} {value!r}")
    if t == "bool":
        if not isinstance(value, bool):
            raise bad(f"expected true or false, got {_shown(value)}")
        return value
    if t in ("int", "float"):
        if isinstance(value, str):
            raise bad(f"expected {'a whole number' if t == 'int' else 'a number'}, got the text {value!r} "
                      "(numbers are written without quotes)")
        if not _is_number(value):
            raise bad(f"expected {'a whole number' if t == 'int' else 'a number'}, got {_shown(value)}")
        if t == "int" and not isinstance(value, int):
            raise bad(f"expected a whole number, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise bad(f"{value!r} is not a finite number")
        v = float(value)
        if spec.min is not None and (v < spec.min or (spec.min_open and v == spec.min)):
            raise bad(f"{value!r} is out of range")
        if spec.max is not None and (v > spec.max or (spec.max_open and v == spec.max)):
            raise bad(f"{value!r} is out of range")
        return value
    if t == "str":
        if isinstance(value, (_dt.date, _dt.datetime)) and spec.date:
            value = value.isoformat()[:10]
        if not isinstance(value, str):
            raise bad(f"expected text, got {_shown(value)}")
        if value == "" and spec.empty_ok:
            return value
        if spec.date:
            try:
                _dt.date.fromisoformat(value)
            except ValueError:
                raise bad(f"{value!r} is not a valid date") from None
            if len(value) != 10:
                raise bad(f"{value!r} is not a date YYYY-MM-DD")
        if spec.choices is not None and value not in spec.choice_list():
            raise bad(f"{value!r} is not a known value")
        return value
    if t == "list":
        if not isinstance(value, list):
            raise bad(f"expected a list such as [a, b], got {_shown(value)}")
        if spec.items is None:
            return value
        return [_check(v, spec.items, f"{key}[{i}]") for i, v in enumerate(value)]
    raise ValueError(f"unknown parameter type {t!r} in the registry")  # pragma: no cover - a registry bug


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def constraint(step: str, name: str, declared_type: str | None = None) -> P | None:
    """The registry's constraint, else one made from the template's declared type (None when untyped)."""
    spec = REGISTRY.get(step, {}).get(name)
    if spec is not None:
        return spec
    if declared_type in ("int", "float", "bool", "str", "list"):
        return P(declared_type)
    return None


def validate(step: str, given: dict, declared: dict[str, dict]) -> dict:
    """Check every given parameter of a step against its declared type and range; return the values as the
    notebook receives them (a YAML date becomes its ISO string). ``declared`` is papermill's
    ``inspect_notebook`` result for the template."""
    import ast

    out = {}
    for name, value in given.items():
        key = f"steps.{step}.params.{name}"
        declared_type = (declared.get(name) or {}).get("inferred_type_name")
        spec = constraint(step, name, declared_type)
        if spec is not None and declared_type in ("int", "float", "bool", "str", "list") and spec.type != declared_type:
            spec = P(declared_type)  # the template is the authority on its type (tests/test_params.py keeps them in sync)
        out[name] = _check(value, spec, key) if spec is not None else value
    values = {}
    for name, p in declared.items():
        if name in out:
            values[name] = out[name]
            continue
        try:
            values[name] = ast.literal_eval(p.get("default", "None"))
        except (ValueError, SyntaxError):
            values[name] = None
    for rstep, names, pred, message in RELATIONS:
        if rstep != step or not any(n in given for n in names):
            continue
        args = [values.get(n) for n in names]
        if all(_is_number(a) for a in args) and not pred(*args):
            raise ParamError(f"steps.{step}.params.{message.format(**{n: values.get(n) for n in names})}.")
    return out


__all__ = ["P", "ParamError", "REGISTRY", "RELATIONS", "constraint", "validate"]
