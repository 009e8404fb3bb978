"""Model evaluation: is this model good enough, for everyone, at the cost the business accepts?

Modules (each usable on its own, each returning tables and check dicts for :meth:`playbook.results.Step.add_checks`):

* :mod:`~playbook.evaluate.metrics` - held-out metrics with bootstrap CIs; the dummy comparison
  (``model.<metric>``, ``model.beats_baseline``)
* :mod:`~playbook.evaluate.calibration` - reliability curve and ECE (``model.calibration_ece``)
* :mod:`~playbook.evaluate.slices` - metric per feature value / bin (``model.slices.worst_gap``)
* :mod:`~playbook.evaluate.segments` - one- and two-feature segments significantly worse than the rest
  (``model.weak_segments``)
* :mod:`~playbook.evaluate.fairness` - fairlearn per sensitive column (``model.fairness.<column>.<metric>``)
* :mod:`~playbook.evaluate.business` - value per decision and per day, best threshold (``model.business.value_per_day``)
* :mod:`~playbook.evaluate.robustness` - metric under the drift step's shifts (``model.robustness.<shift>``)
* :mod:`~playbook.evaluate.importance` - permutation importance (``model.importance.*``)
* :mod:`~playbook.evaluate.reproducibility` - refit / reload gives identical predictions (``model.reproducible``)
* :mod:`~playbook.evaluate.serving` - size, latency, malformed-row probes (``model.serving.*``)
* :mod:`~playbook.evaluate.refit` - training the model again (the baseline, or a clone of a model file's estimator)
* :mod:`~playbook.evaluate.training` - same seed, same model; spread over seeds (``model.training_reproducible``)
* :mod:`~playbook.evaluate.spec_tests` - unit tests of the model specification (``model.spec_tests``)
* :mod:`~playbook.evaluate.tuning` - seeded search of the baseline's hyper-parameters (``model.tuning``)
* :mod:`~playbook.evaluate.cost` - leave one feature out: benefit against size, time, latency (``model.features.cost``)
* :mod:`~playbook.evaluate.staleness` - quality against model age (``model.staleness``)
* :mod:`~playbook.evaluate.debug` - the worst predictions taken apart one by one (``model.debug.examples``)
* :mod:`~playbook.evaluate.stability` - NaN / infinite / implausible outputs (``model.numerical_stability``)
* :mod:`~playbook.evaluate.regression` - latency and size against a previous pack
  (``model.serving.performance_regression``)
* :mod:`~playbook.evaluate.report` - the Evidently classification / regression report
* :mod:`~playbook.evaluate.plots` - ROC / PR / calibration / slice / importance / business figures

:func:`setup` gathers what every section needs: the model adapter, the evaluation rows and their scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from playbook.evaluate.metrics import PRIMARY, Scored, score


@dataclass
class Evaluation:
    """The model under review, the rows it is evaluated on and its outputs on them."""

    adapter: Any
    frame: pd.DataFrame
    scored: Scored
    evaluated_on: str  # "current" | "reference_holdout" | "reference"
    threshold: float
    threshold_source: str  # "parameter" | "cost-implied" | "recorded decisions"
    y_train: pd.Series

    @property
    def task(self) -> str:
        return self.adapter.task


def setup(ctx, threshold: float = 0.5, use_business_threshold: bool = False) -> Evaluation:
    """Load (or fit) the model, pick the held-out rows and score them.

    The operating threshold (binary) is ``threshold``, or with ``use_business_threshold`` the cost-implied
    threshold of the config's business costs (chosen without looking at the evaluation rows).
    """
    from playbook.evaluate.business import cost_implied_threshold, costs_of
    from playbook.modeling import baseline_training_frame, evaluation_frame, get_model, labelled

    adapter = get_model(ctx)
    frame, where = evaluation_frame(ctx, adapter)
    source = "parameter"
    if use_business_threshold and ctx.task == "binary":
        threshold = cost_implied_threshold(costs_of(ctx.business))
        source = "cost-implied"
    s = score(adapter, frame, ctx.target, threshold)
    if s.notes:
        source = "recorded decisions"
    if adapter.mode == "baseline":
        train, _ = baseline_training_frame(ctx)
        y_train = train[ctx.target]
    else:
        y_train = labelled(ctx.reference, ctx.target)[ctx.target]
    return Evaluation(adapter=adapter, frame=frame, scored=s, evaluated_on=where, threshold=float(threshold),
                      threshold_source=source, y_train=y_train)


def provenance(ctx, ev: Evaluation) -> dict:
    """What the pack records about where the model came from (mode, file hash, pickle, trusted types)."""
    info = dict(ev.adapter.info)
    info.update(task=ev.task, features=len(ev.adapter.features), evaluated_on=ev.evaluated_on,
                evaluation_rows=len(ev.frame), **({"evaluation_sampled_from": ev.frame.attrs["of_rows"]}
                                                  if ev.frame.attrs.get("of_rows") else {}), threshold=ev.threshold if ev.task == "binary" else None,
                threshold_source=ev.threshold_source if ev.task == "binary" else None,
                classes=[str(c) for c in ev.adapter.classes_] if ev.adapter.classes_ else None,
                positive_label=None if ev.adapter.positive_label is None else str(ev.adapter.positive_label))
    info.pop("path", None)  # absolute paths differ between machines; the file name and sha256 identify it
    if ev.frame.attrs.get("endpoint_refused"):
        info["evaluation_rows_refused_by_endpoint"] = ev.frame.attrs["endpoint_refused"]
    return info


def provenance_checks(ev: Evaluation, evidence=None) -> list[dict]:
    """``model.evaluation_set`` (held-out rows?) and ``model.loaded_safely`` (no pickle?)."""
    from playbook import catalogue

    where = ev.evaluated_on
    held_out = where in ("current", "reference_holdout")
    refused = ev.frame.attrs.get("endpoint_refused") or {}
    why = ("Metrics on rows the model was trained on are optimistic; the current data is held out by construction."
           if held_out else
           "The current data carries no labels, so the model is evaluated on the reference data it may have been "
           "trained on: every metric here may be optimistic.")
    if refused:
        why += (f" The endpoint refused {refused['rows']} of the rows ("
                + ", ".join(f"{k} {v}" for k, v in refused["by_rule"].items())
                + "): they are left out, so the metrics cover only the rows it scores; production would refuse them too.")
    ev_check = catalogue.check(
        "model.evaluation_set", "pass" if held_out and not refused else "warn", where,
        title=(f"Evaluated on {len(ev.frame)} labelled rows of the {where.replace('_', ' ')} data"
               + (f" (a seeded sample of {ev.frame.attrs['of_rows']})" if ev.frame.attrs.get("of_rows") else "")
               + (f"; {refused['rows']} refused by the endpoint" if refused else "")),
        evidence=evidence, why=why)
    info = ev.adapter.info
    if info.get("format") == "pickle":
        status, title, why = ("warn", f"Model loaded from a pickle file ({info.get('file')}) because model.allow_pickle is true",
                              "Loading a pickle runs whatever code it contains; the pack records that this was allowed. "
                              "Re-save the model with skops.")
    elif info.get("format") == "skops":
        trusted = info.get("untrusted_types_found") or []
        status = "pass"
        title = (f"Model loaded from {info.get('file')} with skops' type check"
                 + (f"; {len(trusted)} type(s) trusted by config: {', '.join(trusted)}" if trusted else ""))
        why = "skops refuses types it does not know unless the config names them, so loading cannot run arbitrary code."
    elif ev.adapter.mode == "baseline":
        status, title, why = ("pass", "Baseline fitted in this run (no file from outside the run was loaded)",
                              "The model was built here from the reference data with a fixed seed, once, by the run's "
                              "preflight; every step loads that file back from the pack with skops' type check, its "
                              "sha256 checked.")
    elif ev.adapter.mode == "endpoint":
        status, title, why = ("pass", "Model called over HTTP at model.endpoint (nothing loaded into this process)",
                              "The rows are sent to the server in the MLflow scoring protocol; no model object is "
                              "deserialised here. The server's own loading is its operators' to evidence"
                              + (f" (it reports model sha256 {info['sha256'][:12]}...)." if info.get("sha256") else
                                 " (it reports no model hash)."))
    else:
        status, title, why = ("pass", "Predictions read from the data (no model file loaded)",
                              "Predictions mode loads no model object, so nothing is deserialised.")
    safe = catalogue.check("model.loaded_safely", status, info.get("format") or ev.adapter.mode, title=title,
                           evidence=evidence, why=why)
    return [ev_check, safe]


def save_model_artifact(ev: Evaluation, step) -> dict | None:
    """Baseline mode: save the fitted baseline with skops into the pack (``artifacts/baseline_model.skops``)
    with a JSON card next to it (description, seed, sha256, the types ``skops.io.load`` must trust)."""
    if ev.adapter.mode != "baseline":
        return None
    from playbook.modeling import BASELINE_DESCRIPTION, save_baseline
    from playbook.results import write_json_atomic

    saved = save_baseline(ev.adapter, step.artifact("baseline_model.skops"))
    card = {"description": BASELINE_DESCRIPTION, "file": "baseline_model.skops", "sha256": saved["sha256"],
            "bytes": saved["bytes"], "seed": ev.adapter.info.get("seed"), "fitted_on": ev.adapter.info.get("fitted_on"),
            "fitted_rows": ev.adapter.info.get("fitted_rows"), "features": ev.adapter.features,
            "categorical_features_as_text": [c for c in ev.adapter.features if c not in ev.adapter.numeric],
            "left_out": ev.adapter.info.get("left_out") or {},
            "load_with": "skops.io.load(path, trusted=trusted_types)", "trusted_types": saved["trusted_types"]}
    write_json_atomic(step.artifact("baseline_model.json"), card)
    return card


__all__ = ["Evaluation", "PRIMARY", "Scored", "provenance", "provenance_checks",
           "save_model_artifact", "score", "setup"]
