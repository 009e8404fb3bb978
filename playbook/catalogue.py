"""The check catalogue: every check id the playbook can record, declared once.

A readiness verdict is only worth the evidence under it, so every check has one declaration here:

* its id, or an id family with placeholders (``drift.detects.<shift>``, ``data.validity.constant.<dataset>``);
* its default title, the step that records it and what its value measures;
* its default gate (``{block, min, max, status, on}``, or none: a finding for people to weigh);
* the ML Test Score tests it evidences, fully or partially, with one sentence why;
* when it applies (tasks, and the facts it needs such as a timestamp or a callable model);
* what to do next when it fails (``next_step``: one plain sentence, shown in index.html's executive summary).

One constructor (:func:`check`, :func:`skip`) makes every check dict; one function (:func:`gate_for`) returns the
gate in force for an id (catalogue default, then the policy's globs, then its exact id); one function
(:func:`judge`) decides a check's status under that gate. The results API applies it when a step records a check
(:meth:`playbook.results.Step.check`), and the scorecard applies the same function to compute the verdict, so a
check's status in its step is the status the verdict uses. ``docs/checks.md`` is generated from this module
(``python -m playbook.catalogue > docs/checks.md``); a test fails when it is stale.

Gates on uncertainty: a ``min`` / ``max`` gate on a check that carries a confidence interval (``ci``) is judged on
the bound of the interval that the gate protects (a ``min`` on the lower bound, a ``max`` on the upper bound):
``on: ci`` (the default), ``on: estimate`` (the point estimate), or ``on: interval`` (fail only when the whole
interval is past the bound, pass only when it is all within it, warn when it straddles the bound).
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

STATUSES = ("pass", "warn", "fail", "error", "skip")
TASKS = ("binary", "multiclass", "regression")
GATE_KEYS = ("min", "max", "block", "status", "on")
GATE_ON = ("ci", "estimate", "interval")

#: the facts a check may need to apply (see :func:`applicable`)
FACTS = {
    "timestamp": "a timestamp column is configured (data.timestamp)",
    "id": "identifier columns are configured (data.id)",
    "sensitive": "sensitive columns are configured (data.sensitive)",
    "callable": "the model can score new rows (a model file or the baseline, not predictions in the data)",
    "probabilities": "the model gives class probabilities",
    "refittable": "the model can be trained again here (the baseline, or a scikit-learn model file that can be cloned)",
    "previous": "a previous pack is given (`playbook run --previous PACK`)",
    "challenger": "the config names a second model (model.challenger)",
    "latency_slo": "the config sets a latency objective (serving.max_p99_ms)",
    "throughput_slo": "the config sets a throughput objective (serving.min_rps)",
}

# -- declarations ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidences:
    """A link from a check to an ML Test Score test (Breck et al. 2017).

    ``strength`` is ``full`` (the check measures what the rubric item asks) or ``partial`` (it measures something
    weaker; shown, never counted). A test counts as automated when every ``group`` of its full links has a check
    that passed or warned. ``members`` restricts a family's link to some of its members (e.g. three shifts).
    """

    test: str
    strength: str
    why: str
    group: str = "main"
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    step: str
    measures: str
    gate: Mapping[str, Any] | None = None
    member_gates: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    mts: tuple[Evidences, ...] = ()
    tasks: tuple[str, ...] = TASKS
    needs: tuple[str, ...] = ()
    when: str = ""
    meta: bool = False          # about the verdict itself (never a gate, never a finding)
    deterministic: bool = True  # False: the value depends on wall-clock measurements
    gate_on: str = "ci"         # how a min / max gate without ``on`` judges this check's CI
    next_step: str = ""         # what to do when it fails, in one plain sentence (index.html's summary shows it)

    @property
    def is_family(self) -> bool:
        return "<" in self.id

    @property
    def pattern(self) -> str:
        """The id as a glob (placeholders become ``*``)."""
        return re.sub(r"<[a-z_]+>", "*", self.id)

    @property
    def conditional(self) -> str:
        """When this check is recorded ("" = whenever its step runs)."""
        parts = []
        if tuple(self.tasks) != TASKS:
            parts.append("task " + " or ".join(self.tasks))
        parts += [FACTS[n] for n in self.needs]
        if self.when:
            parts.append(self.when)
        return "; ".join(parts)


def _mts(test, strength, why, group="main", members=()):
    return Evidences(test, strength, why, group, tuple(members))


def _c(id, title, step, measures, gate=None, *, mts=(), tasks=TASKS, needs=(), when="", member_gates=None,
       meta=False, deterministic=True, gate_on="ci", next_step="") -> CheckSpec:
    return CheckSpec(id, title, step, measures, None if gate is None else dict(gate), dict(member_gates or {}),
                     tuple(mts), tuple(tasks), tuple(needs), when, meta, deterministic, gate_on, next_step)


BLOCK = {"block": True}
REPORT = {"block": False}
CLASSIFICATION = ("binary", "multiclass")
DS = "<dataset>"  # reference | current

_AUDIT = "data_audit"
_DRIFT = "drift_simulation"
_EVAL = "model_evaluation"
_MON = "monitoring_setup"
_GOV = "governance"
_REV = "readiness_review"
_SERVE = "serving"

CATALOGUE: tuple[CheckSpec, ...] = (
    # ---- 01 data audit -------------------------------------------------------------------------------------------
    _c("data.schema.types", "Inferred column types agree between datasets", _AUDIT,
       "Number of columns whose inferred kind (numeric, categorical, boolean, datetime, text) differs between "
       "reference and current; every column's kinds are in the findings.",
       mts=[_mts("data_1", "partial", "Column kinds are one part of a schema; the contract holds the rest.")],
       next_step="Find the columns whose kind changed in audit_findings.json and fix the export that writes them (a "
                 "number written as text, a date as a number) before trusting the current data."),
    _c(f"data.schema.mixed_types.{DS}", "Mixed value types in one column", _AUDIT,
       "Number of text columns mixing kinds of values (numbers and words, objects of several types), each kind "
       "making up at least mixed_types_min_share of the values (on the audit's seeded sample of at most sample_rows "
       "rows; the threshold records sample_rows / of_rows when it is one).",
       next_step="Clean the named columns at the source so each holds one kind of value, or convert them explicitly in "
                 "the pipeline."),
    _c(f"data.schema.numeric_as_text.{DS}", "Numbers stored as text", _AUDIT,
       "Number of text columns in which at least numeric_text_share of the values parse as numbers (on the audit's "
       "seeded sample, recorded as sample_rows / of_rows when it is one).",
       next_step="Convert the named columns to numbers where the data is exported, and find the values that stop them "
                 "parsing."),
    _c(f"data.completeness.missing_share.{DS}", "Missing cells overall", _AUDIT,
       "Share of missing cells (nulls and disguised placeholders) over every column but the target, counted over "
       "every row.",
       next_step="Find which columns are empty in audit_findings.json and fix the upstream feed, or decide on record "
                 "how the model should treat the missing values."),
    _c(f"data.completeness.column_missing.{DS}", "Worst column missing share", _AUDIT,
       "The emptiest column's share of missing values (nulls and placeholders; the target excluded).",
       next_step="Fix the feed of the emptiest column, or leave it out of the features (data.exclude) if it cannot be "
                 "filled."),
    _c(f"data.completeness.disguised_missing.{DS}", "Disguised missing values", _AUDIT,
       "Share of all cells holding a missing marker such as '?', 'NA' or -999.",
       next_step="Replace the placeholder markers ('?', 'NA', -999) with real missing values where the data is "
                 "produced."),
    _c(f"data.uniqueness.duplicate_rows.{DS}", "Exact duplicate rows", _AUDIT,
       "Share of rows that repeat an earlier row exactly (over every row, rows compared by a hash of their "
       "cells).",
       next_step="Remove the repeated rows at the source or explain why they are real repeats; duplicates inflate the "
                 "evaluation."),
    _c(f"data.uniqueness.duplicate_ids.{DS}", "Duplicate ids", _AUDIT,
       "Share of rows whose configured id repeats an earlier row's (fails above the limit, warns on any repeat).",
       needs=("id",),
       next_step="Find the repeated ids in audit_findings.json and fix the join or export that repeats them."),
    _c(f"data.uniqueness.conflicting_labels.{DS}", "Identical features with conflicting labels", _AUDIT,
       "Share of labelled rows whose features equal another row's while the label differs (rows compared by a "
       "hash of their cells, over every row).", tasks=CLASSIFICATION,
       when="the dataset has labels",
       next_step="Review the rows whose features are identical but labels differ: fix the labelling or add the feature "
                 "that tells them apart."),
    _c("data.privacy.identifiers", "Text columns that identify rows by shape", _AUDIT,
       "The text columns whose values are nearly all distinct (at least policy.privacy.identifier_min_distinct_share, "
       "default 90%, of at least identifier_min_rows, default 50, values): masked in every output and not model "
       "features unless data.features lists them.",
       mts=[_mts("data_5", "partial", "Identifiers no detector knows are found by shape, masked and kept out of the "
                 "model; the access controls around the data are people's.")],
       next_step="Confirm the named columns are identifiers; if one is a real feature, list it in data.features on "
                 "purpose."),
    _c(f"data.validity.constant.{DS}", "Constant features", _AUDIT,
       "Number of features with at most one distinct value (features without any value included).",
       next_step="Drop the constant columns from the features (data.exclude) or fix the export that leaves them empty."),
    _c(f"data.validity.near_constant.{DS}", "Near-constant features", _AUDIT,
       "Largest share of rows covered by the most frequent value (missing counted as a value) of a feature that "
       "takes at least two values, counted over every row (for a number or date column whose sample holds more "
       "than 10,000 distinct values, the most frequent of the sample's values).",
       when="a feature takes at least two values",
       next_step="Check whether the nearly constant column is worth keeping; if it carries no signal, exclude it."),
    _c(f"data.validity.high_cardinality.{DS}", "High-cardinality categoricals", _AUDIT,
       "Most distinct values of a categorical feature (0 without categorical features).",
       next_step="Group the rare categories of the named column, or treat it as an identifier rather than a feature."),
    _c(f"data.validity.outliers.{DS}", "Out-of-range numeric values", _AUDIT,
       "Largest share of a numeric feature's values beyond robust quantile fences computed on the reference "
       "(features with fewer than outlier_min_distinct values are not fenced).",
       next_step="Look at the out-of-range values in audit_findings.json: fix unit or entry errors at the source, or "
                 "confirm they are real."),
    _c(f"data.validity.infinite.{DS}", "Infinite values", _AUDIT,
       "Number of cells holding +/- infinity (fail).", REPORT,
       mts=[_mts("monitor_5", "partial", "Infinite inputs are caught, but numerical stability concerns the model's "
                 "outputs too.")],
       next_step="Find the calculation that produces infinite values (a division by zero) and fix it upstream."),
    _c(f"data.validity.unparseable_timestamps.{DS}", "Unparseable timestamps", _AUDIT,
       "Worst share, over the date columns, of values that do not parse as dates (text in any format, YYYYMMDD "
       "integers or Unix epochs parse), over every row (text dates with more than a million distinct values: on the "
       "seeded sample, recorded).", when="a timestamp column is configured or a column holds dates",
       next_step="Fix the date format at the source so every value parses as a date."),
    _c(f"data.validity.future_timestamps.{DS}", "Timestamps in the future", _AUDIT,
       "Worst share, over the date columns, of values after the run date (or today), over every row (text dates "
       "with more than a million distinct values: on the seeded sample, recorded).",
       when="a timestamp column is configured or a column holds dates",
       next_step="Check the clock or time zone of the system that writes the dates; future dates usually mean a wrong "
                 "clock or format."),
    _c("data.target.missing", "Missing target values", _AUDIT,
       "The larger share of rows without a label in the reference or the current data (fails above the limit, "
       "warns on any).", BLOCK,
       next_step="Fill in the missing labels or remove the unlabelled rows before evaluating, then run the pack again."),
    _c(f"data.target.balance.{DS}", "Class balance", _AUDIT,
       "Share of the rarest class among labelled rows (a reference class absent from the dataset counts as 0).",
       tasks=CLASSIFICATION, when="the dataset has labels",
       next_step="Collect more examples of the rare class, or make sure the metrics and thresholds account for the "
                 "imbalance."),
    _c(f"data.target.distribution.{DS}", "Target distribution", _AUDIT,
       "Absolute skewness of the target.", tasks=("regression",), when="the dataset has at least 3 labels",
       next_step="Consider transforming the target (for example a logarithm) or judging the model with a metric that "
                 "suits a skewed target."),
    _c("data.target.unseen_labels", "Current labels all seen in the reference", _AUDIT,
       "Number of labels of the current data absent from the reference (fail).", REPORT, tasks=CLASSIFICATION,
       when="the current data has labels",
       next_step="Decide with the data owner what the new labels mean; retrain with them or map them to known labels."),
    _c("data.leakage.single_feature", "No feature alone predicts the target", _AUDIT,
       "Best out-of-fold score, on the reference, of a one-feature model (ROC AUC, one-vs-rest macro for "
       "multiclass, R squared for regression; bounded by leakage_max_score, leakage_max_r2 for regression), on at most leakage_max_rows rows of the audit's seeded sample "
       "(recorded as sample_rows / of_rows when the reference is larger than sample_rows).", BLOCK,
       mts=[_mts("data_4", "full", "Leaked target information is one of the meta-level rules features must "
                 "respect; every feature is tested against it.", group="leakage")],
       next_step="Remove the feature that alone predicts the target (it usually encodes the outcome itself) and run "
                 "the pack again."),
    _c("data.leakage.id_correlation", "Id-like columns and row order unrelated to the target", _AUDIT,
       "Largest absolute rank correlation, on the reference, of an id-like column or of the row order with the "
       "target (fails when the column is a model feature, warns otherwise), on the audit's seeded sample (recorded "
       "as sample_rows / of_rows when it is one).",
       next_step="Make sure the id-like column or the row order is not a model feature, and shuffle or re-sample the "
                 "data if its order follows the target."),
    _c("data.contamination", "Current rows also in the reference", _AUDIT,
       "Share of current rows identical to a reference row on every shared column, label included (fails above "
       "the limit, warns on any).", REPORT,
       next_step="Take the shared rows out of the current data (or the reference) so the evaluation is on unseen rows."),
    _c("data.contamination.ids", "Current ids also in the reference", _AUDIT,
       "Share of current rows whose id occurs in the reference.", needs=("id",),
       next_step="Split the data by id so no customer appears in both the reference and the current data."),
    _c("data.freshness.coverage", "Current data follows the reference in time", _AUDIT,
       "Days the current data starts before the reference ends (0 when it follows it).", needs=("timestamp",),
       next_step="Use current data that starts after the reference ends, so the evaluation looks forward in time."),
    _c(f"data.freshness.gaps.{DS}", "Gaps in time", _AUDIT,
       "Largest gap between consecutive distinct timestamps, as a multiple of the median gap.", needs=("timestamp",),
       next_step="Find out why data is missing for that period (a failed load, an outage) and backfill it if possible."),
    _c("data.freshness.staleness", "Reference data is recent", _AUDIT,
       "Age in days of the newest reference row at the as-of date (run_date, else the latest timestamp in the "
       "data).", needs=("timestamp",),
       next_step="Retrain on more recent data, or confirm on record that the old data still represents today."),
    _c("data.contract.written", "Data contract written", _AUDIT,
       "Number of columns the data contract (names, kinds, ranges, categories, nullability) describes.", BLOCK,
       mts=[_mts("data_1", "full", "The contract is the written schema of every feature's expectations.",
                 group="schema")],
       next_step="Look at the data audit step's error: the contract could not be written from the reference data."),
    _c("data.contract.current_valid", "Current data honours the data contract", _AUDIT,
       "Number of breaking violations of the contract by the current data (missing columns, type changes, no "
       "rows), which fail; extra columns and range, category or missing-value violations on more than "
       "max_violation_share of the rows warn. Every violation is in the findings. The contract describes the full "
       "reference; the current data is validated on the audit's seeded sample of it (recorded as sample_rows / "
       "of_rows when it is one).", BLOCK,
       mts=[_mts("data_1", "full", "The data is checked against the schema, not only described by it.",
                 group="validated"),
            _mts("monitor_2", "full", "The schema's invariants are checked on the most recent, serving-like data.",
                 group="holds")],
       next_step="Fix the current data so it honours the contract (restore missing columns and types), or update the "
                 "contract on purpose and run the pack again."),
    _c("data.summary_report", "Data summary report", _AUDIT,
       "Number of columns in the per-column data summary of current vs reference, built from the audit's own "
       "statistics over every row (artifacts/data_summary.html / .json; error when it cannot be built). With "
       "evidently_report, Evidently's DataSummaryPreset report is written beside it, on the audit's seeded sample "
       "when the data is larger than sample_rows (the threshold then records sample_rows / of_rows; error when "
       "Evidently fails).",
       next_step="Open the data audit notebook to see why the data summary (or Evidently's report) failed."),
    # ---- 05 drift simulation -------------------------------------------------------------------------------------
    _c("drift.false_alarm_rate", "False-alarm rate of the monitors on unshifted batches", _DRIFT,
       "Share of unshifted batches (severity 0) of the clean held-out rows on which the rehearsed data monitors "
       "(drift tests, data contract) raise an alarm.", BLOCK,
       next_step="Recalibrate the monitors (a stricter threshold per batch size) so they stay quiet on clean data, "
                 "then run the pack again."),
    _c("drift.silent_failures", "Faults that degrade the model with no alarm", _DRIFT,
       "Number of (fault, severity) cells in which, in most trials, the model metric (the task's primary metric; "
       "accuracy for a classifier without probabilities) drops by more than max_metric_drop against the same batch "
       "unshifted, or crosses the model.<metric> gate, while no data monitor fires.", REPORT, needs=("callable",), when="the held-out rows are labelled",
       mts=[_mts("model_4", "partial", "Quality under simulated faults, not decay with the model's age.")],
       next_step="Add or tune a monitor for the faults that hurt the model without an alarm (see the sensitivity "
                 "heatmap)."),
    _c("drift.noisy_alarms", "Share of alarmed faults that did not hurt the model", _DRIFT,
       "Share of the alarmed (fault, severity) cells (alarm in at least half of the trials) in which, in most "
       "trials, the model did not degrade.", needs=("callable",), when="the held-out rows are labelled",
       next_step="Review which alarms fire on harmless changes and relax those monitors so people keep trusting the "
                 "alerts."),
    _c("drift.detects.<shift>", "Monitors detect a simulated fault", _DRIFT,
       "Share of trials in which the data monitors raise an alarm at the detection severity (warn: only the "
       "label-based performance monitor reaches the minimum).",
       member_gates={"dropped_column": BLOCK, "renamed_column": BLOCK, "type_change": BLOCK,
                     "unit_change_up": BLOCK},
       when="the fault is in the step's shifts (all 25 of docs/faults.md by default); a fault that cannot apply to the data is a "
            "not-applicable skip",
       mts=[_mts("monitor_1", "partial", "Rehearses upstream schema changes against the simulation's monitors; the "
                 "deployed monitor's own test is monitoring.detects_within_days.",
                 members=("dropped_column", "renamed_column", "type_change"))],
       next_step="Add a monitor that catches this fault (a schema or range check for structural faults) and rehearse "
                 "it again."),
    _c("drift.time_to_detection.<timeline>", "Median batches from onset to alarm", _DRIFT,
       "Median number of batches between a fault's onset and the first alarm on a sudden, gradual or recurring "
       "timeline, over the faults detected (warn when none is).",
       when="the timeline is in the step's timelines (all three by default)",
       mts=[_mts("model_4", "partial", "Detection delay under drift, not the quality decay with model age.")],
       next_step="Use larger or more frequent monitoring batches, or more sensitive tests, so faults are caught "
                 "sooner."),
    _c("drift.min_batch_size", "Rows per batch needed to detect every detectable fault", _DRIFT,
       "Largest, over the faults detectable at some tried batch size, of the smallest batch at which the monitors "
       "reach the power target (80 %) within the false-alarm limit; its max is business.volume_per_day when set.",
       when="power_batch_sizes is not empty (the default tries five sizes)",
       next_step="Plan monitoring batches of at least this many rows, or accept that some faults will be caught later."),
    # ---- 03 model evaluation -------------------------------------------------------------------------------------
    _c("model.evaluation_set", "The rows the model is evaluated on", _EVAL,
       "Where the evaluation rows come from: current (held out) or a held-out split of the reference.",
       next_step="Check that the evaluation rows are the ones you intended; provide labelled current data for an "
                 "out-of-time evaluation."),
    _c("model.loaded_safely", "Model loaded without running untrusted code", _EVAL,
       "How the model was loaded (skops with its type check, baseline, predictions, or pickle).",
       {"status": "warn", "block": False},
       next_step="Save the model with skops (trusted types reviewed) instead of pickle before deploying it."),
    _c("model.roc_auc", "ROC AUC", _EVAL, "ROC AUC of the positive class, with its 95% bootstrap CI.",
       {"min": 0.7, "block": True}, tasks=("binary",), needs=("probabilities",),
       mts=[_mts("model_6", "partial", "The overall metric; slices are model.slices.worst_gap.")],
       next_step="Improve the model (better features, more data, tuning) or collect more evaluation rows to narrow the "
                 "interval, then run the pack again."),
    _c("model.pr_auc", "PR AUC (average precision)", _EVAL, "Average precision, with its 95% CI.",
       tasks=("binary",), needs=("probabilities",),
       next_step="Improve how the model ranks the rare class (features, more positive examples)."),
    _c("model.log_loss", "Log loss", _EVAL, "Log loss of the probabilities, with its 95% CI.",
       tasks=CLASSIFICATION, needs=("probabilities",),
       next_step="Improve or calibrate the model's probabilities."),
    _c("model.brier", "Brier score", _EVAL, "Mean squared error of the probabilities, with its 95% CI.",
       tasks=CLASSIFICATION, needs=("probabilities",),
       next_step="Improve or calibrate the model's probabilities."),
    _c("model.f1", "F1 at the operating threshold", _EVAL, "F1 of the positive class, with its 95% CI.",
       tasks=("binary",),
       next_step="Revisit the operating threshold and the model's recall and precision on the positive class."),
    _c("model.accuracy", "Accuracy at the operating threshold", _EVAL, "Share of correct decisions, with its 95% CI.",
       tasks=CLASSIFICATION,
       next_step="Improve the model or revisit the operating threshold."),
    _c("model.roc_auc_macro", "ROC AUC (one-vs-rest, macro)", _EVAL,
       "Macro one-vs-rest ROC AUC, with its 95% CI.", {"min": 0.7, "block": True}, tasks=("multiclass",),
       needs=("probabilities",),
       next_step="Improve the model for the classes it separates worst, or collect more evaluation rows, then run the "
                 "pack again."),
    _c("model.roc_auc_weighted", "ROC AUC (one-vs-rest, weighted)", _EVAL,
       "Weighted one-vs-rest ROC AUC, with its 95% CI.", tasks=("multiclass",), needs=("probabilities",),
       next_step="Improve the model for the most frequent classes it confuses."),
    _c("model.f1_macro", "F1 (macro)", _EVAL, "Macro F1, with its 95% CI.", tasks=("multiclass",),
       next_step="Improve the model for the classes with the lowest F1."),
    _c("model.f1_weighted", "F1 (weighted)", _EVAL, "Weighted F1, with its 95% CI.", tasks=("multiclass",),
       next_step="Improve the model for the frequent classes with the lowest F1."),
    _c("model.mae", "Mean absolute error", _EVAL, "Mean absolute error in the target's units, with its 95% CI.",
       tasks=("regression",),
       next_step="Improve the model's features or try a stronger model; check the largest errors first."),
    _c("model.rmse", "Root mean squared error", _EVAL, "RMSE in the target's units, with its 95% CI.",
       tasks=("regression",),
       next_step="Look at the largest errors: RMSE is driven by them."),
    _c("model.r2", "R squared", _EVAL, "Share of the target's variance explained, with its 95% CI.",
       {"min": 0.0, "block": True}, tasks=("regression",),
       next_step="The model explains less than a constant would: improve the features or the model before anything "
                 "else."),
    _c("model.mape", "Mean absolute percentage error", _EVAL, "MAPE, with its 95% CI (skipped when a true value is 0).",
       tasks=("regression",),
       next_step="Check the errors on small true values, which dominate MAPE."),
    _c("model.beats_baseline", "Beats a model without features beyond the 95% CI", _EVAL,
       "Improvement over a model without features on a proper score (Brier, accuracy or MAE), with its paired "
       "bootstrap CI.", BLOCK,
       mts=[_mts("model_5", "full", "The model is compared with the simplest baseline (no features) and must beat "
                 "it beyond the interval.")],
       next_step="The model is not clearly better than guessing without features: improve the features or the model, "
                 "or collect more evaluation rows."),
    _c("model.calibration_ece", "Expected calibration error", _EVAL,
       "Expected calibration error of the probabilities (reliability curve).", REPORT, tasks=CLASSIFICATION,
       needs=("probabilities",),
       next_step="Calibrate the probabilities (isotonic or Platt scaling) before they are used as risk scores."),
    _c("model.slices.worst_gap", "Worst slice", _EVAL,
       "How much worse the primary metric is on the worst large-enough slice than overall, relative to the "
       "overall value (0.1 = 10% worse; unit-free for every task).",
       mts=[_mts("model_6", "full", "Quality is computed per value of every categorical and binned numeric feature, "
                 "with the slice sizes.")],
       next_step="Look at the worst slice in slices.json: collect more data for it or add features that describe it."),
    _c("model.challenger", "Challenger vs champion on the same rows: promote, hold or roll back", _EVAL,
       "The promotion recommendation for the second model of the config (model.challenger) against the model under "
       "review, both scored on the same evaluation rows: paired bootstrap CIs of every metric's delta, the business "
       "value per day of both under the pack's costs, each fairness gap of both against its bound (policy.promotion, "
       "as playbook compare): pass on promote, warn on hold, fail on roll back (keep the champion). The challenger's "
       "own blocking gates are not run in one pack.", REPORT, needs=("challenger",),
       mts=[_mts("infra_7", "partial", "A candidate is compared with the model in production on paired evidence "
                 "before it replaces it; the rollback itself is a deployment procedure to attest.")],
       next_step="Read challenger.json: keep the champion, or fix what makes the challenger worse; before it goes "
                 "live, build a pack of the challenger and playbook compare the two."),
    _c("model.weak_segments", "Weak segments (one- and two-feature search)", _EVAL,
       "Number of segments (a group of one feature, or where groups of two features meet; numeric features in "
       "quantile bins, rare categories pooled, at least min_support rows) whose per-row loss (error rate, or absolute "
       "error for a regression) is significantly worse than on the rest of the rows by more than the margin: a "
       "one-sided Welch test against the margin, Benjamini-Hochberg adjusted over every searched segment (the step "
       "warns when one is flagged). Identifiers, personal-data and free-text columns are never searched.",
       REPORT,
       mts=[_mts("model_6", "full", "The one- and two-feature segments are searched for the worst quality, each "
                 "with its size and bootstrap CI, and a segment is flagged only beyond a multiple-comparisons "
                 "correction.")],
       next_step="Look at the flagged segments in segments.json: collect more labelled data for them, add a feature "
                 "that describes them, or route them to a human; a gate {max: 0} makes any flagged segment fail."),
    _c("model.fairness.configured", "Fairness across sensitive groups", _EVAL,
       "Recorded as skipped when no sensitive column is configured.", when="no sensitive column is configured",
       next_step="Set data.sensitive to the columns the model must treat fairly, so fairness is measured."),
    _c("model.fairness.<column>.<measure>", "Fairness across a sensitive column", _EVAL,
       "A fairness measure (demographic parity or equalized odds difference, accuracy difference, MAE ratio) "
       "across the groups of one sensitive column, with its within-group bootstrap CI; a bound is judged on the "
       "whole interval (exceeded only when the lower bound is past it, within only when the upper bound is).",
       REPORT, needs=("sensitive",), gate_on="interval",
       mts=[_mts("model_7", "full", "Outcomes and error rates are compared across the groups of every sensitive "
                 "column.")],
       next_step="Review the gap with the people accountable for fairness: rebalance or reweight the training data, "
                 "adjust thresholds per group, or document why the gap is acceptable."),
    _c("model.business.value_per_day", "Value per day at the best threshold", _EVAL,
       "Uplift per day over the best trivial policy (flag everything or nothing) at the cost-implied or a "
       "cross-fitted threshold, judged on its bootstrap CI; warns instead of failing at the placeholder costs "
       "(no cost or value under `business:`).", BLOCK, tasks=("binary",),
       needs=("probabilities",),
       mts=[_mts("model_2", "partial", "Offline metrics translated into business value, not correlated with an "
                 "online metric.")],
       next_step="State the real costs and values of decisions in the business section, then improve the model or the "
                 "threshold until the value is positive."),
    _c("model.robustness", "Metric under simulated shifts", _EVAL,
       "Recorded as skipped when the model cannot score shifted rows.", when="the model cannot score new rows",
       next_step="Harden the model or the pipeline against the shifts that hurt it most."),
    _c("model.robustness.<shift>", "Metric under a simulated shift", _EVAL,
       "Relative drop of the primary metric on the evaluation rows after the shift (0.05 = 5% worse than on the "
       "clean rows; unit-free for every task).", needs=("callable",),
       mts=[_mts("model_4", "partial", "Quality under simulated shifts, not decay with the model's age.")],
       next_step="Harden the model or the input pipeline against this shift, and make sure a monitor catches it."),
    _c("model.importance.near_zero", "Features that add nothing", _EVAL,
       "Number of features whose permutation importance (with its spread) is near zero.", needs=("callable",),
       mts=[_mts("data_2", "full", "Every feature's contribution is measured (permutation importance with its "
                 "spread) and features that add nothing are flagged.")],
       next_step="Consider removing the features that add nothing; they cost upkeep without benefit."),
    _c("model.importance.dominant_feature", "One feature dominates", _EVAL,
       "Largest share of the total permutation importance held by one feature.", needs=("callable",),
       next_step="Check that the dominant feature is legitimate and stable; the model depends on it alone."),
    _c("model.reproducible", "Reproducible predictions", _EVAL,
       "Whether scoring the same rows again, and from the saved artifact, gives identical predictions.", BLOCK,
       needs=("callable",),
       mts=[_mts("infra_1", "partial", "Scoring twice is inference determinism, not training reproducibility.")],
       next_step="Fix the source of randomness at prediction time so the same input always gives the same output."),
    _c("model.serving.input_validation", "Malformed-row probes", _EVAL,
       "Number of malformed inputs (missing column, wrong type, NaN, unseen category, extra column) the model "
       "handles badly.", BLOCK, needs=("callable",),
       mts=[_mts("data_7", "partial", "Probes the model's own preprocessing, not the code that computes the features "
                 "upstream."),
            _mts("infra_2", "partial", "Malformed rows at prediction time are one edge case of a model spec's tests."),
            _mts("monitor_5", "partial", "NaN inputs are probed; numerical stability of the outputs is wider.")],
       next_step="Make the serving code refuse or handle malformed rows (missing columns, wrong types) instead of "
                 "crashing or guessing."),
    _c("model.serving.size", "Serialized model size", _EVAL, "Size of the serialized model in MB.",
       needs=("callable",),
       next_step="Shrink the model (fewer trees or features) if it does not fit the serving environment."),
    _c("model.features.cost", "No feature costs more than it brings", _EVAL,
       "Leave one feature out: number of features whose benefit (primary metric with vs without it, paired "
       "bootstrap CI) is not above noise while they hold a large share of the serialized model size; the training "
       "time and latency each adds are measured into timings.json.", REPORT, needs=("refittable",),
       mts=[_mts("data_3", "full", "Each feature's benefit is weighed against the model size, training time and "
                 "latency it adds, by training the model without it.")],
       next_step="Consider dropping the features that cost more than they bring (see feature_cost.json)."),
    _c("model.training_reproducible", "Training twice with the same seed gives the same model", _EVAL,
       "1 when two trainings of the model's procedure on the same rows with the same seed give different outputs; "
       "the spread of the primary metric over other seeds is recorded.", REPORT, needs=("refittable",),
       mts=[_mts("infra_1", "full", "The training procedure itself is run twice and its outputs compared bit for "
                 "bit, and the seed-to-seed spread is measured.")],
       next_step="Fix the seeds of the training code so two trainings on the same data give the same model."),
    _c("model.spec_tests", "Unit tests of the model specification", _EVAL,
       "Number of failed tests of a clone trained on a small sample: it trains, outputs are well-shaped and finite, "
       "probabilities are valid, it learns, outputs follow row order, a missing value is handled or refused.",
       REPORT, needs=("refittable",),
       mts=[_mts("infra_2", "full", "The model's training code is unit tested: it trains, outputs sane values, "
                 "learns, and handles edge cases (row order, a missing value in every feature).")],
       next_step="Fix the model specification so it passes the failed tests listed in spec_tests.json."),
    _c("model.tuning", "Hyper-parameters within noise of a systematic search", _EVAL,
       "Lower bound of how much better the best configuration of a seeded search of the baseline's "
       "hyper-parameters is than the baseline's own (primary metric out of fold; paired bootstrap, one-sided, "
       "Bonferroni-corrected for the number of configurations); above zero is beyond noise.", REPORT,
       needs=("refittable",),
       when="the model is the baseline (the search space of a model file is not known)",
       mts=[_mts("model_3", "full", "A seeded systematic search over the hyper-parameters, cross-validated, shows "
                 "whether the ones in use are within noise of the best found.")],
       next_step="Adopt the better hyper-parameters found by the search (see tuning.json), then run the pack again."),
    _c("model.debug.examples", "The worst predictions can be explained one by one", _EVAL,
       "Number of the largest-error examples that cannot be explained: the prediction recomputed from the artifact "
       "differs from the reported one, or the per-feature occlusion attribution or a pipeline stage fails.",
       REPORT, needs=("callable",),
       mts=[_mts("infra_5", "full", "Single predictions are recomputed from the saved model and taken apart per "
                 "feature and per pipeline stage (debug_examples.json).")],
       next_step="Look at the examples in debug_examples.json that could not be explained and fix the saved model or "
                 "pipeline."),
    _c("model.numerical_stability", "No NaN, infinite or implausible outputs", _EVAL,
       "Number of input sets (reference, evaluation rows, every shifted batch of the drift catalogue, extreme-value "
       "probes) on which the model outputs NaN, infinity or invalid probabilities; implausible regression outputs "
       "warn.", REPORT, needs=("callable",),
       mts=[_mts("monitor_5", "full", "The model's outputs are checked for NaN, infinity and implausible extremes on "
                 "clean, shifted and extreme inputs.")],
       next_step="Find the inputs that give NaN or infinite outputs (numerical_stability.json) and guard against them."),
    _c("model.staleness", "Quality decay with the model's age", _EVAL,
       "Decay of the primary metric per 30 days of model age (training on older time windows of the reference, "
       "evaluating on the newest slice), with its bootstrap CI; warns when the metric would cross its gate within "
       "the minimum model age.", REPORT, needs=("refittable", "timestamp"),
       mts=[_mts("model_4", "full", "The model is trained on older time windows and evaluated on the newest data: "
                 "quality is measured against the model's age.")],
       next_step="Plan to retrain the model before it reaches the age at which its quality falls below the gate."),
    _c("model.serving.performance_regression", "Serving speed has not regressed since the previous pack", _EVAL,
       "Number of median-latency, training-time and model-size measurements worse than the previous pack's by more "
       "than the tolerance and the noise floor (wall-clock: compare packs from the same machine).", REPORT,
       needs=("callable", "previous"), deterministic=False,
       mts=[_mts("monitor_6", "full", "Latency, throughput, training time and model size are compared with a "
                 "previous pack's, with a tolerance.")],
       next_step="Find what made serving slower or the model larger than in the previous pack."),
    # ---- 04 monitoring setup -------------------------------------------------------------------------------------
    _c("monitoring.false_alarm_budget_met", "Calibrated monitor keeps the false-alarm budget", _MON,
       "Share of fresh no-drift batches on which the calibrated whole monitor alarms.", BLOCK,
       next_step="Recalibrate the monitor with more clean batches or a stricter threshold so it keeps the false-alarm "
                 "budget."),
    _c("monitoring.contract_covers_all_features", "Contract and monitors cover every model feature", _MON,
       "Share of model features that are in the contract and have a calibrated monitor.", BLOCK,
       mts=[_mts("monitor_2", "full", "The deployed monitor checks every serving batch against the contract's "
                 "invariants and alerts.", group="monitor")],
       next_step="Add the missing features to the data contract and the monitor, then run the pack again."),
    _c("monitoring.multivariate_monitors", "Multivariate monitors deployed and calibrated", _MON,
       "Number of multivariate monitors (PCA reconstruction error, domain classifier) in monitoring.yaml with a "
       "calibrated threshold.", REPORT,
       next_step="Give the monitor more calibration rows (or more than one feature) so both multivariate monitors "
                 "can be fitted, then run the pack again."),
    _c("monitoring.config_roundtrip", "monitoring.yaml is deployable as written", _MON,
       "Number of differences between the written monitoring.yaml and the in-memory monitors.", BLOCK,
       next_step="Fix monitoring.yaml so it reloads to the same monitors, then run the pack again."),
    _c("monitoring.detects_within_days.<shift>", "Monitor catches a fault within days", _MON,
       "Probability that the deployed monitor alerts on the fault within the target number of daily batches.",
       REPORT,
       mts=[_mts("monitor_1", "full", "Upstream changes that drop, rename or retype a column make the deployed "
                 "monitor alert the owners within days.",
                 members=("dropped_column", "renamed_column", "type_change"))],
       next_step="Use larger daily batches or add a check aimed at this fault so it is caught within the target days."),
    _c("monitoring.current_batches_alert_rate", "Monitor is quiet on batches of the recent data", _MON,
       "Share of batches of the recent data on which the monitor alerts.",
       mts=[_mts("monitor_3", "partial", "Compares recent data with the training data, not the features the serving "
                 "path computes with those the training pipeline computes.")],
       next_step="Investigate the alerts on recent data: the data may already have drifted from the training data."),
    _c("monitoring.timeline_detection", "Simulated production days: the fault is flagged in time", _MON,
       "Days from the simulated fault's onset to the first alert.",
       next_step="Make the monitor more sensitive or run it more often so the simulated fault is flagged sooner."),
    _c("monitoring.performance_estimation_error", "Label-free performance estimate tracks the realized one", _MON,
       "Mean absolute error of the label-free ROC AUC estimate against the realized one.", tasks=("binary",),
       needs=("probabilities",),
       mts=[_mts("monitor_7", "full", "Until labels arrive, live prediction quality is estimated and compared with "
                 "the realized quality.")],
       next_step="Treat the label-free estimate with caution and shorten the delay until real labels arrive."),
    _c("monitoring.model_age_alert", "The monitor alerts when the model is older than its measured shelf life", _MON,
       "The age (days) after which the measured staleness takes the model below its quality gate; the deployed monitor "
       "alerts past it (rehearsed on a batch dated past it, and quiet on one dated just after training).",
       needs=("timestamp",),
       mts=[_mts("monitor_4", "full", "The model's age in production is monitored against the measured impact of "
                 "staleness: monitoring.yaml carries the training cutoff and the shelf life, playbook monitor alerts "
                 "past it.")],
       next_step="Make sure the deployed monitor carries the training date and the shelf life, then run the pack "
                 "again."),
    _c("monitoring.dashboard_written", "Evidently workspace with the monitoring dashboard", _MON,
       "Number of daily snapshots in the Evidently workspace.",
       next_step="Open the monitoring notebook to see why the dashboard was not written."),
    _c("monitoring.alert_rules", "Prometheus alerting rules generated from monitoring.yaml", _MON,
       "Number of problems in the alerting rules written beside monitoring.yaml (alerts.rules.yml: drift, contract "
       "violations, missing batches, latency p99, 5xx rate, estimated performance): a threshold monitoring.yaml "
       "does not hold, a rule without severity, summary, description or runbook link, a metric neither playbook "
       "serve nor playbook monitor exports.",
       next_step="Read the problems the check names, fix the monitoring.yaml section they point to (or the pack "
                 "config's serving.max_p99_ms), then run the pack again."),
    _c("monitoring.grafana_dashboard", "Grafana dashboard for the serving and monitor metrics", _MON,
       "Number of problems in the Grafana dashboard written beside monitoring.yaml (grafana_dashboard.json): "
       "fields its JSON schema requires, overlapping panels, a query on a metric nobody exports.",
       next_step="Read the problems the check names and regenerate the dashboard before importing it."),
    # ---- 06 governance -------------------------------------------------------------------------------------------
    _c("governance.pii.scan", "Personal data found by value", _GOV,
       "Number of columns flagged as personal data by their values (e-mail, phone, card, SSN, IP, IBAN, birth date, "
       "person name) and of identifier-like text columns; the scan runs once per pack (privacy.json).",
       mts=[_mts("data_5", "full", "Every column is scanned for personal data by value.", group="scan")],
       next_step="Review the flagged columns: remove personal data you do not need, mask the rest."),
    _c("governance.pii.features", "No personal data used as a model feature", _GOV,
       "Protected columns (flagged or identifier-like) used as model features: only when data.features lists them "
       "(or policy.allow_raw_pii is true); the check warns and names them.",
       mts=[_mts("data_4", "full", "Personal data is a meta-level rule every feature is checked against.",
                 group="pii")],
       next_step="Remove the personal data from the model's features, or record why it must be used."),
    _c("governance.pii.redacted", "No raw personal data in the evidence pack", _GOV,
       "Number of files of the pack holding raw values of protected columns (every value searched, inside zip "
       "and binary files too); once-only values of high-cardinality text columns found in files warn.", BLOCK,
       mts=[_mts("data_5", "full", "Flagged values are masked and every file is searched for raw values.",
                 group="redacted")],
       next_step="Find the files listed in pii_findings.json that hold raw personal data and make the step that wrote "
                 "them mask it, then run the pack again."),
    _c("governance.privacy.k_anonymity", "Quasi-identifiers single no one out (k-anonymity)", _GOV,
       "The smallest number of reference rows sharing one combination of the quasi-identifiers (the sensitive "
       "columns and demographic-looking ones: age, sex, race, postcode, birth date), with the share of rows in "
       "groups below the gate's min (the required k).", {"min": 5, "block": False},
       needs=(), when="a sensitive or demographic-looking column exists",
       mts=[_mts("data_5", "partial", "Re-identification risk through combined attributes is measured; reducing it "
                 "(coarsening, access control) is people's work.")],
       next_step="Coarsen the quasi-identifiers (age bands, shorter postcodes) or restrict access to the data."),
    _c("governance.model_card", "Model card written", _GOV,
       "Sections of the model card filled from the evidence.",
       mts=[_mts("model_1", "partial", "A card generated from the evidence is input to a review, not the review.")],
       next_step="Complete the model card's sections marked for people."),
    _c("governance.datasheet", "Datasheet written", _GOV, "Sections of the datasheet filled from the evidence.",
       next_step="Complete the datasheet's sections marked for people."),
    # ---- 07 readiness review -------------------------------------------------------------------------------------
    _c("review.pipeline_integration", "Every step of the playbook ran end to end", _REV,
       "Steps that ran, were missing or errored.",
       mts=[_mts("infra_3", "partial", "The playbook's own steps ran end to end; the production pipeline is not "
                 "exercised.")],
       next_step="Run every step of the playbook to the end."),
    _c("review.gates", "Release gates judged on complete evidence", _REV,
       "The verdict and the number of gates judged, failed and missing.", meta=True,
       next_step="Address the blocking reasons listed at the top of this page."),
    _c("review.quality_gate", "Model quality validated by a blocking gate before release", _REV,
       "The blocking gates on model quality that were judged before the verdict.",
       mts=[_mts("infra_4", "full", "A blocking gate on model quality decides the verdict, and the exit code stops "
                 "the release pipeline.")],
       next_step="Keep a blocking gate on model quality in policy.gates."),
    _c("review.pii.redacted", "No raw personal data in the evidence pack (final search)", _REV,
       "Number of files of the finished pack holding raw values of protected columns (the same search as "
       "governance.pii.redacted).", BLOCK,
       mts=[_mts("data_5", "full", "The final search covers every file of the finished pack.", group="redacted")],
       next_step="Find the files that hold raw personal data (see the governance step's pii_findings.json) and mask "
                 "them at their source, then run the pack again."),
    # ---- 03 serving -------------------------------------------------------------------------------------------------
    _c("serving.skew", "Online answers equal offline answers", _SERVE,
       "Number of evaluation rows whose prediction or class probabilities through the HTTP API differ from the "
       "in-process scoring of the same model (beyond the stated tolerance), plus failed answers.", BLOCK,
       needs=("callable",),
       mts=[_mts("monitor_3", "partial", "The serving path is compared with offline scoring on the same rows before "
                 "launch, not on live traffic."),
            _mts("infra_3", "partial", "The model is exercised end to end through its HTTP service, not through the "
                 "whole data pipeline.")],
       next_step="Find the rows that differ in skew.json and make the service prepare inputs exactly as the evaluation did (same encoding, same column order, same dtypes)."),
    _c("serving.door.evaluation_rows_refused", "Evaluation rows the data contract turns away", _SERVE,
       "Share of the evaluation rows that the server's data contract refuses (values out of the reference range, "
       "unseen categories, missing values where the reference had none): requests production would reject.",
       REPORT, needs=("callable",),
       next_step="Read which rules refused the rows in skew.json; widen the data contract where production data is legitimately new, or fix the data upstream."),
    _c("serving.contract.malformed", "Malformed requests refused with their 4xx", _SERVE,
       "Number of malformed requests of the catalogue (not JSON, wrong format, empty or oversized batch, missing "
       "or extra column, wrong type, number as text, boolean as 0/1, unseen category, out of range, null) that "
       "did not get their expected 4xx: a 5xx, a silent acceptance, another status or no answer.", BLOCK,
       needs=("callable",),
       mts=[_mts("monitor_2", "full", "The server holds every input it scores to the data contract and refuses a "
                 "violation with a 4xx naming the column and the rule.")],
       next_step="Read malformed_requests.json: a 5xx or an accepted bad request means the service lacks input validation; enforce the data contract before scoring."),
    _c("serving.latency.p99", "p99 latency of one-row requests", _SERVE,
       "Worst p99 latency in milliseconds of one-row requests over the concurrencies measured (loopback; "
       "wall-clock), against serving.max_p99_ms.", BLOCK,
       needs=("callable", "latency_slo"), deterministic=False,
       mts=[_mts("monitor_6", "partial", "Latency is measured against its objective before launch; a regression "
                 "across versions needs --previous.")],
       next_step="Reduce the per-request work (a smaller model, fewer features, batching) or add replicas, then measure again; check serving.max_p99_ms is the callers' real timeout."),
    _c("serving.throughput.rps", "One-row requests per second", _SERVE,
       "Best throughput in requests per second of one-row requests over the concurrencies measured (loopback; "
       "wall-clock), against serving.min_rps.", BLOCK,
       needs=("callable", "throughput_slo"), deterministic=False,
       next_step="Add workers or replicas, or batch requests, until the measured throughput covers the expected traffic."),
    _c("serving.resilience.burst", "A burst past capacity is queued or shed", _SERVE,
       "Number of answers to a burst of requests beyond the server's capacity that were neither a 200 nor a 503 "
       "with Retry-After (5xx, dropped connections, timeouts).", BLOCK, needs=("callable",),
       next_step="Bound the requests in flight and shed the rest with 503 and Retry-After instead of failing or dropping connections."),
    _c("serving.resilience.after_storm", "A valid request succeeds after a malformed-request storm", _SERVE,
       "1 when the first valid request after a storm of malformed requests does not get a 200, else 0.", BLOCK,
       needs=("callable",),
       next_step="Find which malformed request left the server broken (its log) and make it refuse that request without changing state."),
    _c("serving.shutdown.graceful", "The server stops cleanly on SIGTERM", _SERVE,
       "1 when the server did not exit with code 0 after SIGTERM (the requests in flight finished first), else 0.",
       BLOCK, needs=("callable",), when="the step starts its own server",
       next_step="Let the server finish its requests in flight on SIGTERM before it exits (a graceful shutdown timeout)."),
    _c("review.computing_performance", "Serving latency and throughput measured", _REV,
       "Which latency and throughput measurements the evaluation recorded.", needs=("callable",),
       mts=[_mts("monitor_6", "partial", "Measured on every run, but not compared with a previous run.")],
       next_step="Make sure the model evaluation step measures serving latency and throughput."),
    _c("review.compare.previous", "Compared with the previous pack: promote, hold or roll back", _REV,
       "The promotion recommendation of the comparison with the previous pack (`playbook run --previous PACK`, "
       "the same as `playbook compare PACK NEW`): pass on promote, warn on hold (some evidence missing), fail on "
       "roll back (a new blocking failure, the primary metric or the business value worse beyond its CI, or a "
       "fairness gap grown past its bound; policy.promotion).", REPORT, needs=("previous",),
       mts=[_mts("infra_7", "partial", "The pack says whether to keep the previous model, on paired evidence; the "
                 "rollback itself is a deployment procedure to attest."),
            _mts("monitor_7", "partial", "Prediction quality is compared with the previous model's on the same rows, "
                 "offline, not on live data.")],
       next_step="Open compare.html in the review step's artifacts: fix what made the new model worse, or keep the "
                 "previous one."),
    _c("review.ml_test_score", "ML Test Score", _REV, "The final ML Test Score (the lowest section).", meta=True,
       next_step="Automate the tests the ML Test Score lists as missing, or attest the manual ones in "
                 "policy.attestations."),
    _c("review.attestations", "Manual tests attested with an owner and a link", _REV,
       "The ML Test Score tests attested by people.", meta=True,
       next_step="Give every manual test an owner and a link in policy.attestations."),
    _c("review.compliance_map", "Compliance evidence map written", _REV,
       "Coverage of the EU AI Act / NIST AI RMF evidence map.", meta=True,
       next_step="Have the people accountable complete the items the compliance map leaves to them."),
    # ---- the runner ----------------------------------------------------------------------------------------------
    _c("<step>.executed", "Step ran to the end", "runner",
       "The error of a step that could not run (recorded by the runner, status error).",
       when="a step could not run to the end",
       next_step="Open the step's notebook to read the error, fix its cause, and run the pack again."),
)

# -- look-up --------------------------------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(r"<([a-z_]+)>")
_VALUE = {"dataset": "(?:reference|current)"}


def _regex(spec_id: str) -> re.Pattern:
    parts, pos = [], 0
    for m in _PLACEHOLDER.finditer(spec_id):
        parts.append(re.escape(spec_id[pos:m.start()]))
        parts.append(f"(?P<{m.group(1)}>{_VALUE.get(m.group(1), '[A-Za-z0-9_]+')})")
        pos = m.end()
    parts.append(re.escape(spec_id[pos:]))
    return re.compile("".join(parts))


_EXACT: dict[str, CheckSpec] = {}
_FAMILIES: list[tuple[re.Pattern, CheckSpec]] = []


def _index(specs: Iterable[CheckSpec]) -> None:
    for s in specs:
        if s.id in _EXACT or any(f.id == s.id for _, f in _FAMILIES):
            raise ValueError(f"check id {s.id!r} is declared twice")
        if s.is_family:
            _FAMILIES.append((_regex(s.id), s))
        else:
            _EXACT[s.id] = s


_index(CATALOGUE)
_EXTRA: list[CheckSpec] = []


def register(spec: CheckSpec) -> CheckSpec:
    """Declare a check of an extension template (ids under ``custom.*`` need no declaration)."""
    _index([spec])
    _EXTRA.append(spec)
    return spec


def all_specs() -> list[CheckSpec]:
    return list(CATALOGUE) + list(_EXTRA)


def spec(check_id: str) -> CheckSpec | None:
    """The declaration of an id (an exact entry first, then the families)."""
    s = _EXACT.get(check_id)
    if s is not None:
        return s
    for rx, fam in _FAMILIES:
        if rx.fullmatch(check_id):
            return fam
    return None


def member(check_id: str) -> dict[str, str]:
    """The placeholder values of an id in a family (``drift.detects.mean_shift`` -> ``{"shift": "mean_shift"}``)."""
    for rx, _ in _FAMILIES:
        m = rx.fullmatch(check_id)
        if m:
            return m.groupdict()
    return {}


def is_declared(check_id: str) -> bool:
    return check_id.startswith("custom.") or spec(check_id) is not None


def specs_matching(pattern: str) -> list[CheckSpec]:
    """Declarations a gate key (exact id or glob) can apply to."""
    out = []
    for s in all_specs():
        rep = _PLACEHOLDER.sub("x", s.id)
        if fnmatch.fnmatchcase(rep, pattern) or fnmatch.fnmatchcase(s.pattern, pattern) or \
                (s.is_family and _regex(s.id).fullmatch(pattern)) or s.id == pattern:
            out.append(s)
    return out


def _suggest(check_id: str) -> str:
    import difflib

    names = sorted({s.id for s in all_specs()})
    close = difflib.get_close_matches(check_id, names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class CatalogueError(ValueError):
    """A check id that the catalogue does not declare."""


def require(check_id: str) -> CheckSpec | None:
    if not check_id or " " in check_id:
        raise CatalogueError(f"check id {check_id!r} must be a dotted identifier without spaces")
    s = spec(check_id)
    if s is None and not check_id.startswith("custom."):
        raise CatalogueError(f"check id {check_id!r} is not declared in playbook/catalogue.py{_suggest(check_id)}; "
                             "declare it there (or use an id under custom.* in an extension template)")
    return s


# -- the constructor ------------------------------------------------------------------------------------------------
def check(id: str, status: str, value: Any = None, *, title: str | None = None, threshold: Any = None,
          evidence: Any = None, why: str = "", ci: Any = None, details: Any = None, inconclusive: str | None = None,
          not_applicable: bool = False) -> dict:
    """Make a check dict: ``{id, title, status, value, threshold, evidence, why}`` plus, when given, ``ci``
    (``[low, high]`` of a 95% interval around ``value``), ``inconclusive`` (why the data cannot decide: the check
    stays ``warn`` whatever its gate), ``not_applicable`` (a skip because the check has no meaning here, not because
    evidence is missing) and ``details`` (rows for an artifact; the results API does not store them).

    ``title`` defaults to the catalogue's title. Raises :class:`CatalogueError` for an undeclared id.
    """
    s = require(id)
    if status not in STATUSES:
        raise ValueError(f"check {id!r}: status {status!r} is not one of {', '.join(STATUSES)}")
    out = {"id": id, "title": title or (s.title if s else id), "status": status, "value": value,
           "threshold": threshold, "evidence": evidence, "why": why}
    if ci is not None:
        lo, hi = ci
        out["ci"] = [lo, hi]
    if inconclusive:
        out["inconclusive"] = str(inconclusive)
    if not_applicable:
        out["not_applicable"] = True
    if details is not None:
        out["details"] = details
    return out


def skip(id: str, why: str, *, title: str | None = None, threshold: Any = None, evidence: Any = None,
         not_applicable: bool = False) -> dict:
    """A skipped check: ``not_applicable`` when it has no meaning for this data or model (a blocking gate then does
    not count it as missing evidence), otherwise evidence that could not be produced."""
    return check(id, "skip", None, title=title, threshold=threshold, evidence=evidence, why=why,
                 not_applicable=not_applicable)


# -- gates ----------------------------------------------------------------------------------------------------------
def default_gate(check_id: str) -> dict | None:
    """The catalogue's default gate for an id (a family member's own gate first)."""
    s = spec(check_id)
    if s is None:
        return None
    if s.member_gates:
        vals = list(member(check_id).values())
        for v in vals:
            if v in s.member_gates:
                return dict(s.member_gates[v])
    return None if s.gate is None or s.meta else dict(s.gate)


def default_gates() -> dict[str, dict]:
    """Every default gate keyed by the id or glob it covers (what ``policy.use_default_gates`` switches on)."""
    out: dict[str, dict] = {}
    for s in all_specs():
        if s.meta:
            continue
        if s.gate is not None:
            out[s.pattern] = dict(s.gate)
        for v, g in s.member_gates.items():
            out[_PLACEHOLDER.sub(v, s.id, count=1)] = dict(g)
    return out


def _specificity(pattern: str, check_id: str) -> tuple:
    return (pattern == check_id, len(pattern.replace("*", "").replace("?", "")), pattern)


def _policy_gates(policy) -> dict[str, dict]:
    if policy is None:
        return {}
    if isinstance(policy, Mapping):
        return dict(policy.get("gates") or {})
    return dict(getattr(policy, "gates", None) or {})


def _use_defaults(policy) -> bool:
    if policy is None:
        return True
    if isinstance(policy, Mapping):
        return bool(policy.get("use_default_gates", True))
    return bool(getattr(policy, "use_default_gates", True))


def gate_for(check_id: str, policy=None) -> dict | None:
    """The gate in force for a check id: the catalogue default (unless ``policy.use_default_gates`` is false),
    overlaid by the policy's matching globs (least specific first) and its exact id. None: no gate."""
    s = spec(check_id)
    if s is not None and s.meta:
        return None
    gate: dict = {}
    found = False
    if _use_defaults(policy):
        d = default_gate(check_id)
        if d is not None:
            gate.update(d)
            found = True
    pol = _policy_gates(policy)
    for pattern in sorted((p for p in pol if fnmatch.fnmatchcase(check_id, p)), key=lambda p: _specificity(p, check_id)):
        gate.update(pol[pattern])
        found = True
    if found and ("min" in gate or "max" in gate) and "on" not in gate and s is not None and s.gate_on != "ci":
        gate["on"] = s.gate_on
    return gate if found else None


def gate_keys(policy=None) -> dict[str, dict]:
    """Every gate key in force (defaults and the policy's own), for the gates that match no check."""
    keys = default_gates() if _use_defaults(policy) else {}
    for k, v in _policy_gates(policy).items():
        keys[k] = {**keys.get(k, {}), **v}
    return keys


def limit(check_id: str, key: str, default: float | None, policy=None) -> float | None:
    """The bound ``key`` (``min`` / ``max``) the gate in force sets for an id, else ``default`` (the step's
    parameter): the policy decides the limit, the step parameter is the fallback."""
    g = gate_for(check_id, policy) or {}
    v = g.get(key)
    return default if v is None else float(v)


def validate_gate(key: str, gate: Mapping[str, Any]) -> str | None:
    """A problem with a gate (for the config's message), or None."""
    for k in gate:
        if k not in GATE_KEYS:
            return f"unknown key {k!r}; a gate takes {', '.join(GATE_KEYS)}"
    for b in ("min", "max"):
        if b in gate:
            v = gate[b]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                return f"{b} must be a finite number, got {v!r}"
    if "min" in gate and "max" in gate and float(gate["min"]) > float(gate["max"]):
        return f"min {gate['min']!r} is above max {gate['max']!r}"
    if "block" in gate and not isinstance(gate["block"], bool):
        return f"block must be true or false, got {gate['block']!r}"
    if "status" in gate and gate["status"] not in ("fail", "warn"):
        return f"status must be fail or warn, got {gate['status']!r}"
    if "on" in gate and gate["on"] not in GATE_ON:
        return f"on must be one of {', '.join(GATE_ON)}, got {gate['on']!r}"
    if not specs_matching(str(key)) and not str(key).startswith("custom."):
        return f"no check has this id{_suggest(str(key))}; see docs/checks.md for the ids"
    return None


# -- judging --------------------------------------------------------------------------------------------------------
def number(value: Any) -> float | None:
    """A check value as a number (booleans count 0 / 1; a dict's ``value`` / ``estimate`` entry)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, dict):
        for k in ("value", "estimate", "point"):
            if k in value and isinstance(value[k], (int, float)) and not isinstance(value[k], bool):
                return number(value[k])
    return None


def _interval(check: Mapping[str, Any]) -> tuple[float, float] | None:
    ci = check.get("ci")
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        lo, hi = number(ci[0]), number(ci[1])
        if lo is not None and hi is not None:
            return (min(lo, hi), max(lo, hi))
    return None


def _g(v: float) -> str:
    return f"{v:.4g}"


def judge(check: Mapping[str, Any], gate: Mapping[str, Any] | None) -> tuple[str, str]:
    """``(status, reason)`` of a check under a gate.

    * ``error`` / ``skip`` stay as they are (evidence that could not be produced);
    * a gate with ``min`` / ``max`` decides by the bound (on the CI by default, see the module docstring): past the
      bound is ``fail``, undecided (``on: interval``) or ``inconclusive`` is ``warn``, within keeps the step's own
      pass or warn (a warn is never turned into a pass);
    * a gate without bounds fails a check whose status is ``fail`` (with ``status: warn``, ``warn`` too).
    """
    cid = check.get("id", "?")
    st = check.get("status")
    if st == "error":
        return "error", f"{cid} could not be computed"
    if st == "skip":
        na = " (not applicable)" if check.get("not_applicable") else ""
        return "skip", f"{cid} was skipped{na}: {check.get('why', '')}".strip()
    if gate is None:
        return st, f"{cid} {st}"
    lo_b, hi_b = gate.get("min"), gate.get("max")
    if lo_b is not None or hi_b is not None:
        if check.get("inconclusive"):
            return "warn", f"{cid} is inconclusive: {check['inconclusive']}"
        est = number(check.get("value"))
        if est is None:
            return "fail", f"{cid} has no numeric value to compare with the gate"
        on = gate.get("on", "ci")
        iv = _interval(check) if on != "estimate" else None
        lo, hi = iv if iv else (est, est)
        shown = f"{_g(est)}" + (f" (95% CI {_g(lo)} to {_g(hi)})" if iv else "")
        if lo_b is not None:
            lo_b = float(lo_b)
            judged = hi if on == "interval" else lo
            if judged < lo_b:
                what = "the whole CI is" if (iv and on == "interval") else ("its lower CI bound is" if iv else "it is")
                return "fail", f"{cid} = {shown}: {what} below the minimum {_g(lo_b)}"
            if on == "interval" and iv and lo < lo_b:
                return "warn", f"{cid} = {shown}: the CI straddles the minimum {_g(lo_b)}; more data would decide"
        if hi_b is not None:
            hi_b = float(hi_b)
            judged = lo if on == "interval" else hi
            if judged > hi_b:
                what = "the whole CI is" if (iv and on == "interval") else ("its upper CI bound is" if iv else "it is")
                return "fail", f"{cid} = {shown}: {what} above the maximum {_g(hi_b)}"
            if on == "interval" and iv and hi > hi_b:
                return "warn", f"{cid} = {shown}: the CI straddles the maximum {_g(hi_b)}; more data would decide"
        own = "warn" if st == "warn" else "pass"
        return own, f"{cid} = {shown} is within the gate" + (" (the step warns: see why)" if own == "warn" else "")
    bad = {"fail", "warn"} if gate.get("status") == "warn" else {"fail"}
    if st in bad:
        extra = " (warnings fail this gate)" if st == "warn" else ""
        return "fail", f"{cid} {'failed' if st == 'fail' else 'warned'}{extra}: {check.get('title', '')}".strip()
    return st, f"{cid} {st}"


def gate_threshold(gate: Mapping[str, Any] | None) -> dict | None:
    """The part of a gate a check records as its threshold."""
    if not gate:
        return None
    out = {k: gate[k] for k in ("min", "max") if k in gate}
    if out:
        out["on"] = gate.get("on", "ci")
    elif gate.get("status") == "warn":
        out["status"] = "warn"
    return out or None


def settle(check: dict, policy=None) -> dict:
    """Apply the gate in force to a check: its status becomes the gate's judgement, and a bound gate's limits are
    recorded as its threshold (context keys of the step's own threshold are kept)."""
    gate = gate_for(check["id"], policy)
    if gate is None:
        return check
    status, _ = judge(check, gate)
    out = dict(check)
    out["status"] = status
    bounds = gate_threshold(gate)
    if bounds and ("min" in bounds or "max" in bounds):
        own = check.get("threshold")
        ctx = {k: v for k, v in own.items() if k not in ("min", "max", "on")} if isinstance(own, dict) else {}
        out["threshold"] = {**ctx, **bounds}
    return out


# -- applicability --------------------------------------------------------------------------------------------------
def applicable(s: CheckSpec, facts: Mapping[str, Any] | None) -> bool:
    """Whether a declared check applies to a pack with these facts (``task`` and the :data:`FACTS` as booleans).
    Unknown facts count as present."""
    if not facts:
        return True
    task = facts.get("task")
    if task and task not in s.tasks:
        return False
    return all(facts.get(n, True) for n in s.needs)


# -- documentation --------------------------------------------------------------------------------------------------
_STEP_TITLES = {
    _AUDIT: "01 data audit", _EVAL: "02 model evaluation", _SERVE: "03 serving", _MON: "04 monitoring setup",
    _DRIFT: "05 drift simulation", _GOV: "06 governance", _REV: "07 readiness review",
    "runner": "the runner",
}


def _gate_text(s: CheckSpec) -> str:
    parts = []
    if s.meta:
        return "never a gate (about the verdict itself)"
    for g, label in [(s.gate, "")] + [(g, f"`{v}`: ") for v, g in s.member_gates.items()]:
        if not g:
            continue
        bits = []
        if "min" in g:
            bits.append(f"min {g['min']:g}")
        if "max" in g:
            bits.append(f"max {g['max']:g}")
        if "min" in g or "max" in g:
            bits.append(f"on {g.get('on', 'ci')}")
        if g.get("status") == "warn":
            bits.append("warn fails")
        bits.append("blocks" if g.get("block", True) else "reported")
        parts.append(label + ", ".join(bits))
    return "; ".join(parts) or "none (a finding)"


def to_markdown() -> str:
    """``docs/checks.md``: every check id, grouped by step."""
    lines = ["# Check catalogue", "",
             "Generated from `playbook/catalogue.py` by `python -m playbook.catalogue > docs/checks.md`; do not edit by "
             "hand (a test fails when this file is stale).", "",
             "A check is `{id, title, status, value, threshold, evidence, why}` (plus `ci`, `inconclusive`, "
             "`not_applicable` where they apply). Placeholders: `<dataset>` is `reference` or `current`, `<shift>` a "
             "fault of the drift catalogue, `<column>` a column name made id-safe, `<timeline>` sudden, gradual or "
             "recurring, `<step>` a step name.", "",
             "**Default gate**: the gate in force unless `policy.use_default_gates: false`; `policy.gates` overlays it "
             "(globs, then the exact id). A `min` / `max` gate judges the CI's bound (`on: ci`), the point estimate "
             "(`on: estimate`), or the whole interval (`on: interval`). A blocking gate whose check is missing, "
             "skipped (and applicable) or in error makes the verdict `incomplete`.", ""]
    for step, title in _STEP_TITLES.items():
        specs = [s for s in all_specs() if s.step == step]
        if not specs:
            continue
        lines += [f"## {title}", "", "| id | what it measures (and what to do when it fails) | default gate | ML Test Score | recorded when |",
                  "|---|---|---|---|---|"]
        for s in specs:
            mts = "; ".join(f"{e.test} ({e.strength}" + (f": {', '.join(e.members)}" if e.members else "") + f"): {e.why}"
                            for e in s.mts) or ""
            nxt = f" *When it fails:* {s.next_step}" if s.next_step else ""
            lines.append(f"| `{s.id}` | **{s.title}.** {s.measures}{nxt} | {_gate_text(s)} | {mts} | "
                         f"{s.conditional or 'always'} |")
        lines.append("")
    return "\n".join(lines)


__all__ = [
    "CATALOGUE", "CatalogueError", "CheckSpec", "Evidences", "FACTS", "GATE_KEYS", "STATUSES", "all_specs",
    "applicable", "check", "default_gate", "default_gates", "gate_for", "gate_keys", "gate_threshold", "is_declared",
    "judge", "limit", "member", "number", "register", "require", "settle", "skip", "spec", "specs_matching",
    "to_markdown", "validate_gate",
]


if __name__ == "__main__":  # pragma: no cover
    print(to_markdown(), end="")
