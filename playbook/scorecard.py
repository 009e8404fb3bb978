"""Gates and the verdict: which checks block a release, and at what threshold.

A gate maps a check id (or a glob like ``drift.detects.*``) to ``{min, max, status, block}``:

* ``min`` / ``max``: the check's numeric ``value`` must lie within the bounds, else the gate fails;
* neither: the gate fails when the check's own status is ``fail`` (``status: warn`` makes warnings fail too);
* ``block: true`` (default) makes a failing gate turn the verdict to ``no-go``; ``block: false`` only reports it.

Verdict: ``error`` when any step could not run (or a gated check is in error), else ``no-go`` when a blocking
gate fails, else ``go``. The policy's gates are merged over :data:`DEFAULT_GATES` unless
``policy.use_default_gates`` is false.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any, Iterable

# Sensible defaults: the checks that, when they fail, mean a model should not ship.
DEFAULT_GATES: dict[str, dict] = {
    # data: a broken label, a leaking feature or a broken contract makes every later number meaningless
    "data.target.missing": {"block": True},
    "data.leakage.single_feature": {"block": True},
    "data.contract.written": {"block": True},
    "data.contract.current_valid": {"block": True},
    "data.contamination": {"block": False},
    "data.target.unseen_labels": {"block": False},
    "data.validity.infinite.*": {"block": False},
    # drift: monitors that cry wolf get switched off; schema-breaking faults must never pass unseen
    "drift.false_alarm_rate": {"max": 0.1, "block": True},
    "drift.detects.dropped_column": {"block": True},
    "drift.detects.renamed_column": {"block": True},
    "drift.detects.type_change": {"block": True},
    "drift.detects.unit_change_up": {"block": True},
    "drift.silent_failures": {"block": False},
    # model: better than no model, reproducible, safe on malformed input, good enough to rank
    "model.beats_baseline": {"block": True},
    "model.reproducible": {"block": True},
    "model.serving.input_validation": {"block": True},
    "model.roc_auc": {"min": 0.7, "block": True},
    "model.r2": {"min": 0.0, "block": True},
    "model.fairness.*": {"block": False},
    "model.calibration_ece": {"block": False},
    "model.loaded_safely": {"status": "warn", "block": False},
    # monitoring: the deployable monitor must respect its alert budget and cover every feature
    "monitoring.false_alarm_budget_met": {"block": True},
    "monitoring.contract_covers_all_features": {"block": True},
    "monitoring.config_roundtrip": {"block": True},
    "monitoring.detects_within_days.*": {"block": False},
    # governance: no raw personal data anywhere in the pack
    "governance.pii.redacted": {"block": True},
    "review.pii.redacted": {"block": True},
}


def merged_gates(policy) -> dict[str, dict]:
    """The gates in force: defaults (unless switched off) overlaid with the policy's own."""
    gates: dict[str, dict] = {}
    if policy is None or getattr(policy, "use_default_gates", True):
        gates.update({k: dict(v) for k, v in DEFAULT_GATES.items()})
    for k, v in (getattr(policy, "gates", None) or {}).items():
        gates[k] = {**gates.get(k, {}), **v}
    return gates


def collect(pack_dir: str | Path) -> list[dict]:
    """Every check of every step in a pack (or an evidence/_interactive folder), each with its ``step``
    and ``step_dir`` (e.g. ``steps/01_data_audit``)."""
    root = Path(pack_dir)
    steps_root = root / "steps" if (root / "steps").is_dir() else root
    out = []
    for d in sorted(p for p in steps_root.iterdir() if p.is_dir()) if steps_root.is_dir() else []:
        res_path = d / "results.json"
        if not res_path.exists():
            continue
        res = json.loads(res_path.read_text(encoding="utf-8"))
        rel = d.relative_to(root).as_posix()
        for c in res.get("checks", []):
            out.append({**c, "step": res.get("step", d.name), "step_dir": rel})
    return out


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        for k in ("value", "estimate", "point"):
            if k in value and isinstance(value[k], (int, float)) and not isinstance(value[k], bool):
                return float(value[k])
    return None


def _judge(check: dict, gate: dict) -> tuple[str, str]:
    """(gate status, reason) for one check under one gate: pass | fail | error | skip."""
    status = check.get("status")
    if status == "error":
        return "error", f"{check['id']} could not be computed"
    if status == "skip":
        return "skip", f"{check['id']} was skipped: {check.get('why', '')}".strip()
    lo, hi = gate.get("min"), gate.get("max")
    if lo is not None or hi is not None:
        v = _as_number(check.get("value"))
        if v is None:
            return "fail", f"{check['id']} has no numeric value to compare with the gate"
        if lo is not None and v < lo:
            return "fail", f"{check['id']} = {v:g} is below the minimum {lo:g}"
        if hi is not None and v > hi:
            return "fail", f"{check['id']} = {v:g} is above the maximum {hi:g}"
        return "pass", f"{check['id']} = {v:g} is within the gate"
    bad = {"fail", "warn"} if gate.get("status") == "warn" else {"fail"}
    if status in bad:
        return "fail", f"{check['id']} {status}ed: {check.get('title', '')}".strip()
    return "pass", f"{check['id']} {status}"


def evaluate(checks: Iterable[dict], policy=None, step_statuses: dict[str, str] | None = None) -> dict:
    """Apply the gates to the checks. Returns ``{verdict, gates, reasons, counts}``.

    ``step_statuses`` maps step name to ``ok`` / ``error`` / ``skipped``: a step in error makes the verdict
    ``error`` whatever the gates say.
    """
    checks = list(checks)
    gates_cfg = merged_gates(policy)
    results = []
    for pattern, gate in sorted(gates_cfg.items()):
        matched = [c for c in checks if fnmatch.fnmatchcase(c["id"], pattern)]
        block = bool(gate.get("block", True))
        threshold = {k: gate[k] for k in ("min", "max", "status") if k in gate} or {"status": "fail"}
        if not matched:
            results.append({"gate": pattern, "check": None, "status": "missing", "block": block,
                            "threshold": threshold, "reason": f"no check {pattern} in this pack",
                            "evidence": None, "step": None, "value": None})
            continue
        for c in matched:
            st, reason = _judge(c, gate)
            results.append({"gate": pattern, "check": c["id"], "status": st, "block": block,
                            "threshold": threshold, "reason": reason, "value": c.get("value"),
                            "evidence": c.get("evidence"), "step": c.get("step"),
                            "step_dir": c.get("step_dir")})
    errored_steps = sorted(s for s, st in (step_statuses or {}).items() if st == "error")
    blocking_fail = [g for g in results if g["block"] and g["status"] == "fail"]
    blocking_error = [g for g in results if g["block"] and g["status"] == "error"]
    reasons = []
    for s in errored_steps:
        reasons.append({"kind": "step_error", "step": s, "text": f"step {s} could not run to the end"})
    for g in blocking_error + blocking_fail:
        reasons.append({"kind": "gate_" + g["status"], "check": g["check"], "step": g.get("step"),
                        "step_dir": g.get("step_dir"), "evidence": g.get("evidence"), "text": g["reason"]})
    if errored_steps or blocking_error:
        verdict = "error"
    elif blocking_fail:
        verdict = "no-go"
    else:
        verdict = "go"
    counts: dict[str, int] = {}
    for c in checks:
        counts[c.get("status", "?")] = counts.get(c.get("status", "?"), 0) + 1
    return {"verdict": verdict, "gates": results, "reasons": reasons, "counts": dict(sorted(counts.items()))}


EXIT_CODES = {"go": 0, "no-go": 1, "error": 2}
