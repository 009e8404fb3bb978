"""Gates and the verdict: which checks block a release, and at what threshold.

The gate in force for a check comes from :func:`playbook.catalogue.gate_for` (the catalogue's default, overlaid by
``policy.gates``: globs, then the exact id); its judgement is :func:`playbook.catalogue.judge`, the same function
the results API applied when the step recorded the check, so a check's status is the same in its step, in the gates
table, on the page and in ``summary.json``.

Verdict, in this order:

* ``error``: a step could not run to the end;
* ``no-go``: a blocking gate failed;
* ``incomplete``: a blocking gate has no evidence (its check is missing, skipped while applicable, or in error), or
  the run was partial (some steps did not run): the evidence cannot support a release;
* ``go``: every blocking gate passed (or warned) on complete evidence.

Exit codes: 0 go, 1 no-go or incomplete, 2 error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping

from playbook import catalogue

VERDICTS = ("go", "no-go", "incomplete", "error")
EXIT_CODES = {"go": 0, "no-go": 1, "incomplete": 1, "error": 2}


def merged_gates(policy) -> dict[str, dict]:
    """Every gate key in force: the catalogue's defaults (unless switched off) overlaid with the policy's own."""
    return catalogue.gate_keys(policy)


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


def _missing_row(key: str, gate: dict, facts: Mapping | None, steps_run: set[str] | None) -> dict:
    """A gate that matched no check: ``missing`` (evidence absent) or ``n/a`` (it does not apply to this pack)."""
    specs = catalogue.specs_matching(key)
    block = bool(gate.get("block", True))
    row = {"gate": key, "check": None, "block": block, "threshold": catalogue.gate_threshold(gate) or {"status": "fail"},
           "value": None, "evidence": None, "step": None, "step_dir": None}
    if specs and not any(catalogue.applicable(s, facts) for s in specs):
        return {**row, "status": "n/a", "step": specs[0].step,
                "reason": f"{key} does not apply to this pack ({specs[0].conditional})"}
    step = specs[0].step if specs else None
    if steps_run is not None and step is not None and step not in steps_run and step != "runner":
        reason = f"no check {key}: step {step} did not run"
    else:
        reason = f"no check {key} in this pack" + (f" (step {step} ran but did not record it)" if step else "")
    return {**row, "status": "missing", "step": step, "reason": reason}


def evaluate(checks: Iterable[dict], policy=None, step_statuses: dict[str, str] | None = None,
             facts: Mapping | None = None, steps_not_run: Iterable[str] = ()) -> dict:
    """Apply the gates to the checks. Returns ``{verdict, gates, reasons, counts}``.

    ``step_statuses`` maps step name to ``ok`` / ``error``: a step in error makes the verdict ``error``.
    ``facts`` (task, and the facts of :data:`playbook.catalogue.FACTS`) decide which missing gates do not apply.
    ``steps_not_run`` lists the playbook's steps that this run left out: a partial run is never ``go``.
    """
    checks = list(checks)
    statuses = dict(step_statuses or {})
    steps_run = set(statuses) if statuses else None
    rows = []
    matched_keys: set[str] = set()
    keys = catalogue.gate_keys(policy)
    import fnmatch

    for c in checks:
        gate = catalogue.gate_for(c["id"], policy)
        if gate is None:
            continue
        for k in keys:
            if fnmatch.fnmatchcase(c["id"], k):
                matched_keys.add(k)
        st, reason = catalogue.judge(c, gate)
        if st == "skip" and c.get("not_applicable"):
            st = "n/a"
        best = max((k for k in keys if fnmatch.fnmatchcase(c["id"], k)),
                   key=lambda k: (k == c["id"], len(k.replace("*", ""))), default=c["id"])
        rows.append({"gate": best, "check": c["id"], "status": st, "block": bool(gate.get("block", True)),
                     "threshold": catalogue.gate_threshold(gate) or {"status": "fail"}, "reason": reason,
                     "value": c.get("value"), "ci": c.get("ci"), "evidence": c.get("evidence"),
                     "step": c.get("step"), "step_dir": c.get("step_dir")})
    for k in sorted(set(keys) - matched_keys):
        rows.append(_missing_row(k, keys[k], facts, steps_run))
    errored_steps = sorted(s for s, st in statuses.items() if st == "error")
    blocking = [g for g in rows if g["block"]]
    failed = [g for g in blocking if g["status"] == "fail"]
    unevidenced = [g for g in blocking if g["status"] in ("missing", "skip", "error")]
    not_run = sorted(set(steps_not_run))
    reasons = []
    for s in errored_steps:
        reasons.append({"kind": "step_error", "step": s, "text": f"step {s} could not run to the end"})
    if not_run:
        reasons.append({"kind": "partial_run", "step": None, "check": None,
                        "text": f"partial run: {len(not_run)} step(s) did not run ({', '.join(not_run)})"})
    for g in unevidenced:
        reasons.append({"kind": "gate_" + g["status"], "check": g["check"] or g["gate"], "step": g.get("step"),
                        "step_dir": g.get("step_dir"), "evidence": g.get("evidence"),
                        "text": "no evidence for a blocking gate: " + g["reason"]})
    for g in failed:
        reasons.append({"kind": "gate_fail", "check": g["check"], "step": g.get("step"),
                        "step_dir": g.get("step_dir"), "evidence": g.get("evidence"), "text": g["reason"]})
    if errored_steps:
        verdict = "error"
    elif failed:
        verdict = "no-go"
    elif unevidenced or not_run:
        verdict = "incomplete"
    else:
        verdict = "go"
    counts: dict[str, int] = {}
    for c in checks:
        counts[c.get("status", "?")] = counts.get(c.get("status", "?"), 0) + 1
    return {"verdict": verdict, "gates": rows, "reasons": reasons, "counts": dict(sorted(counts.items())),
            "steps_not_run": not_run}


__all__ = ["EXIT_CODES", "VERDICTS", "collect", "evaluate", "merged_gates"]
