"""The promotion recommendation (``policy.promotion``): promote, hold or roll back, with the reasons.

Four criteria, each ``ok``, ``worse`` (the evidence shows the new pack worse) or ``unknown`` (the evidence cannot
tell: a measurement missing from one of the packs):

1. **no new blocking failure**: no blocking gate fails in the new pack that did not fail in the old one;
2. **primary metric not worse beyond its CI**: the CI of ``new - old`` lies wholly on the worse side of
   ``-max_metric_drop`` (a tolerance in the metric's units, default 0);
3. **business value not worse beyond its CI**: the same for the value per day (``max_value_drop``, in the
   business currency per day);
4. **no fairness gap grown past its bound**: no ``model.fairness.*`` gap that fails its bound in the new pack
   and is larger than (or absent from) the old pack's.

**roll back** when any criterion is ``worse``: the new model is shown to be worse than the old one (keep the old
one, or go back to it if the new one is already deployed). **hold** when none is worse but one is ``unknown``, or
``require_improvement`` is set and the primary metric is not better beyond its CI. **promote** otherwise.
"""

from __future__ import annotations

from typing import Any

#: The documented defaults of ``policy.promotion``.
DEFAULTS: dict[str, Any] = {
    "metric": None,              # the metric the decision turns on (default: the task's primary metric)
    "max_metric_drop": 0.0,      # tolerated worsening of that metric (its units), judged on the delta's CI
    "max_value_drop": 0.0,       # tolerated worsening of the business value per day (currency per day)
    "require_improvement": False,  # also hold unless the metric is better beyond its CI
    "n_bootstrap": 1000,         # resamples of the delta CIs (paired when both packs scored the same rows)
    "confidence": 0.95,          # the CIs' confidence level
}

RECOMMENDATIONS = ("promote", "hold", "roll back")


class PromotionPolicyError(ValueError):
    """``policy.promotion`` is malformed: one sentence naming the key and the fix."""


def validate(raw: Any) -> dict:
    """``policy.promotion`` from the config: a mapping of :data:`DEFAULTS`' keys (unknown keys and wrong types are
    refused). Returns only the keys given (the defaults apply at comparison time)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PromotionPolicyError(f"policy.promotion: expected a mapping of {', '.join(DEFAULTS)}, got {raw!r}.")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"policy.promotion.{key}"
        if key not in DEFAULTS:
            raise PromotionPolicyError(f"{where}: unknown key; allowed keys in policy.promotion are: "
                                       f"{', '.join(sorted(DEFAULTS))}.")
        if key == "metric":
            if value is not None and not isinstance(value, str):
                raise PromotionPolicyError(f"{where}: expected a metric name such as roc_auc or mae, got {value!r}.")
        elif key == "require_improvement":
            if not isinstance(value, bool):
                raise PromotionPolicyError(f"{where}: expected true or false, got {value!r}.")
        elif key == "n_bootstrap":
            if isinstance(value, bool) or not isinstance(value, int) or not 10 <= value <= 100_000:
                raise PromotionPolicyError(f"{where}: expected a whole number from 10 to 100000, got {value!r}.")
        elif key == "confidence":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.5 <= value < 1:
                raise PromotionPolicyError(f"{where}: expected a number from 0.5 to below 1 (e.g. 0.95), got {value!r}.")
            value = float(value)
        else:  # the tolerances
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise PromotionPolicyError(f"{where}: expected a number of zero or more, got {value!r}.")
            value = float(value)
        out[key] = value
    return out


def settings(raw: dict | None) -> dict:
    """The policy in force: :data:`DEFAULTS` overlaid by the config's ``policy.promotion``."""
    return {**DEFAULTS, **validate(raw or {})}


def _worse_beyond(delta: dict | None, higher_is_better: bool, tolerance: float) -> str:
    """``worse`` when the delta's CI lies wholly past ``-tolerance`` on the worse side, ``unknown`` without a CI."""
    if not delta or delta.get("ci_low") is None or delta.get("ci_high") is None:
        return "unknown"
    if higher_is_better:
        return "worse" if delta["ci_high"] < -tolerance else "ok"
    return "worse" if delta["ci_low"] > tolerance else "ok"


def _better_beyond(delta: dict | None, higher_is_better: bool) -> bool:
    if not delta or delta.get("ci_low") is None:
        return False
    return delta["ci_low"] > 0 if higher_is_better else delta["ci_high"] < 0


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.4g}"


def _ci_text(d: dict) -> str:
    kind = d.get("kind", "")
    return f"{_fmt(d.get('delta'))} (CI {_fmt(d.get('ci_low'))} to {_fmt(d.get('ci_high'))}, {kind})"


def recommend(comparison: dict, pol: dict) -> dict:
    """``{recommendation, reasons: [{criterion, outcome, text}], policy}`` for a comparison built by
    :func:`playbook.compare.build` (its ``gates``, ``deltas``, ``business`` and ``fairness`` parts)."""
    from playbook.metrics import HIGHER_IS_BETTER

    reasons = []
    new_blocking = comparison["gates"]["new_blocking_failures"]
    if comparison["gates"].get("unknown"):
        reasons.append({"criterion": "no_new_blocking_failure", "outcome": "unknown",
                        "text": comparison["gates"]["unknown"]})
    elif new_blocking:
        reasons.append({"criterion": "no_new_blocking_failure", "outcome": "worse",
                        "text": "new blocking failures: " + ", ".join(new_blocking)})
    else:
        reasons.append({"criterion": "no_new_blocking_failure", "outcome": "ok",
                        "text": "no blocking gate fails in the new pack that passed in the old one"})

    metric = comparison["metric"]
    d = comparison["deltas"].get(metric)
    higher = HIGHER_IS_BETTER.get(metric, True)
    outcome = _worse_beyond(d, higher, pol["max_metric_drop"])
    if d is None:
        text = f"{metric}: not measured in both packs"
    else:
        direction = "higher" if higher else "lower"
        text = (f"{metric} new - old = {_ci_text(d)}; {direction} is better, tolerance {pol['max_metric_drop']:g}"
                + (": worse beyond its CI" if outcome == "worse" else ""))
    reasons.append({"criterion": "primary_metric_not_worse", "outcome": outcome, "text": text})

    b = comparison.get("business")
    b_out = _worse_beyond(b, True, pol["max_value_drop"])
    if b is None:
        b_text = "business value per day: not measured in both packs (binary classifiers with labels only)"
    else:
        b_text = (f"business value per day ({b.get('currency', '')}) new - old = {_ci_text(b)}, tolerance "
                  f"{pol['max_value_drop']:g}" + (": worse beyond its CI" if b_out == "worse" else ""))
    reasons.append({"criterion": "business_value_not_worse", "outcome": b_out, "text": b_text})

    grown = [f for f in comparison["fairness"] if f["grown_past_bound"]]
    reasons.append({"criterion": "no_fairness_gap_grown_past_bound", "outcome": "worse" if grown else "ok",
                    "text": ("fairness gaps grown past their bound: " + ", ".join(
                        f"{f['id']} {f['old'] if f['old'] is not None else 'absent'} -> {f['new']:.4g} (bound "
                        f"{f['bound']:g})" for f in grown)) if grown else
                    f"no fairness gap grown past its bound ({len(comparison['fairness'])} compared)"})

    if pol["require_improvement"] and d is not None and not _better_beyond(d, higher):
        reasons.append({"criterion": "improvement_required", "outcome": "unknown",
                        "text": f"{metric} is not better beyond its CI and policy.promotion.require_improvement is true"})

    outcomes = {r["outcome"] for r in reasons}
    rec = "roll back" if "worse" in outcomes else "hold" if "unknown" in outcomes else "promote"
    return {"recommendation": rec, "reasons": reasons, "policy": pol}


__all__ = ["DEFAULTS", "PromotionPolicyError", "RECOMMENDATIONS", "recommend", "settings", "validate"]
