"""Robustness: the model's metric on the evaluation rows after each shift the drift step simulates.

The shifts come from :mod:`playbook.drift.shifts` (``SHIFTS`` and ``apply``), so this step and the drift
simulation speak of the same failures. It needs a callable model (a file or the baseline); in predictions
mode there is nothing to re-score and the check is skipped with that reason. A shift that breaks the input
schema should be *rejected* by the adapter's input validation with a clear message: that counts as the
desired behaviour, not as a degradation.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from playbook.evaluate.fairness import safe_id
from playbook.evaluate.metrics import PRIMARY, compute, score
from playbook.metrics import relative_drop
from playbook.modeling import ModelError, ModelInputError


def shift_seed(seed: int, name: str) -> list[int]:
    """The seed of one shift: the step's seed and the shift's name, not its place in the catalogue, so adding a fault
    to the catalogue changes no other fault's result."""
    return [int(seed) & 0xFFFFFFFF, zlib.crc32(str(name).encode())]


def available_shifts():
    """``(SHIFTS, apply)`` from the drift module, or ``(None, reason)`` when it is not installed."""
    try:
        from playbook.drift import shifts as mod
    except ImportError as exc:
        return None, f"the shift library (playbook.drift.shifts) is not available ({exc})"
    if not hasattr(mod, "SHIFTS") or not hasattr(mod, "apply"):
        return None, "playbook.drift.shifts does not provide SHIFTS and apply"
    return mod, None


def primary_metric(s) -> str:
    if s.task == "binary" and s.proba is None:
        return "accuracy"
    if s.task == "multiclass" and s.proba is None:
        return "accuracy"
    return PRIMARY[s.task]


def robustness(adapter, frame: pd.DataFrame, clean, target: str, roles, *, shifts: list[str] | None = None,
               severity: float = 0.5, seed: int = 0, threshold: float = 0.5, max_drop: float = 0.05,
               module=None) -> pd.DataFrame:
    """One row per shift: ``shift, outcome (scored | rejected | not_applicable), metric, clean, shifted, drop,
    degraded, detail``. ``drop`` is how much worse the metric got *relative to its clean value*
    (:func:`playbook.metrics.relative_drop`, positive = worse; 0.05 = 5% worse), the one definition the drift
    simulation uses too, so a regression target in large units (prices, durations) is judged like a ROC AUC."""
    mod = module
    if mod is None:
        mod, reason = available_shifts()
        if mod is None:
            raise ImportError(reason)
    names = list(shifts) if shifts else sorted(mod.SHIFTS)
    metric = primary_metric(clean)
    base = compute(clean).get(metric, float("nan"))
    rows = []
    for name in names:
        row = {"shift": name, "metric": metric, "clean": base, "shifted": float("nan"), "drop": float("nan"),
               "degraded": False, "outcome": "scored", "detail": ""}
        try:
            shifted, info = mod.apply(name, frame.copy(), severity, roles=roles, seed=shift_seed(seed, name))
        except (ValueError, KeyError, TypeError) as exc:
            row.update(outcome="not_applicable", detail=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            rows.append(row)
            continue
        if isinstance(info, dict) and info.get("applied") is False:
            row.update(outcome="not_applicable", detail=str(info.get("reason") or "the shift does not apply to this data"))
            rows.append(row)
            continue
        if target not in shifted.columns:
            row.update(outcome="not_applicable", detail="the shift removed the target column")
            rows.append(row)
            continue
        shifted = shifted.loc[shifted[target].notna()]
        try:
            s = score(adapter, shifted, target, threshold)
        except (ModelInputError, ModelError) as exc:
            row.update(outcome="rejected", detail=str(exc))
            rows.append(row)
            continue
        v = compute(s).get(metric, float("nan"))
        drop = relative_drop(metric, base, v)
        drop = float("nan") if drop is None else float(drop)
        row.update(shifted=v, drop=drop, degraded=bool(np.isfinite(drop) and drop > max_drop),
                   detail=_describe(info))
        rows.append(row)
    return pd.DataFrame(rows)


def _describe(info) -> str:
    if isinstance(info, dict):
        cols = info.get("columns") or []
        parts = []
        if cols:
            parts.append("columns " + ", ".join(map(str, cols[:3])) + (" ..." if len(cols) > 3 else ""))
        if info.get("rows_affected") is not None:
            parts.append(f"{info['rows_affected']} rows affected")
        return "; ".join(parts)
    return str(info)[:120] if info is not None else ""


def robustness_checks(table: pd.DataFrame | None, max_drop: float, evidence=None, skip_reason: str | None = None) -> list[dict]:
    """``model.robustness.<shift>``: how much worse the primary metric gets under each shift (value: the drop)."""
    from playbook import catalogue

    why = ("Production data drifts; knowing how much the metric falls under each plausible shift tells "
           "monitoring what to watch and tells the owner which shift would break the model first.")
    thr = {"max": max_drop, "of": "relative drop of the primary metric"}
    if table is None:
        return [catalogue.skip("model.robustness", f"Not computed: {skip_reason}.", threshold=thr,
                               not_applicable=True)]
    out = []
    for _, r in table.iterrows():
        cid = f"model.robustness.{safe_id(r['shift'])}"
        if r["outcome"] == "not_applicable":
            out.append(catalogue.skip(cid, f"Not computed: {r['detail']}.", title=f"Under shift {r['shift']}: not applicable",
                                      threshold=thr, evidence=evidence, not_applicable=True))
        elif r["outcome"] == "rejected":
            out.append(catalogue.check(
                cid, "pass", None, title=f"Under shift {r['shift']}: input rejected with a clear message",
                threshold=thr, evidence=evidence,
                why="The model refuses data whose schema broke instead of scoring it silently: " + r["detail"]))
        else:
            out.append(catalogue.check(
                cid, "warn" if r["degraded"] else "pass", r["drop"],
                title=(f"{r['metric']} under shift {r['shift']}: {r['shifted']:.4g} (clean {r['clean']:.4g}, "
                       f"{abs(r['drop']):.1%} {'worse' if r['drop'] >= 0 else 'better'})"),
                threshold=thr, evidence=evidence, why=why))
    return out
