"""Reproducibility: the same inputs and seed give the same model and the same predictions.

Baseline: the baseline is fitted a second time from scratch (same rows, same seed) and both fits must give
bit-identical predictions on the evaluation rows; the saved skops artifact, loaded back, must too. Model
file: scoring the same rows twice must give identical outputs (no hidden randomness at inference).
Predictions mode: there is nothing to re-run, so the check is skipped with that reason.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from playbook.modeling import ModelAdapter, baseline_training_frame, fit_baseline


def _outputs(adapter: ModelAdapter, X: pd.DataFrame) -> np.ndarray:
    if adapter.has_proba:
        return np.asarray(adapter.predict_proba(X), dtype=float)
    out = adapter.predict(X)
    return np.asarray(out, dtype=float) if adapter.task == "regression" else np.asarray([str(v) for v in out])


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("inf")
    if a.dtype.kind in "fc":
        return float(np.max(np.abs(a - b))) if a.size else 0.0
    return float(np.sum(a != b))


def reproducibility(ctx, adapter: ModelAdapter, frame: pd.DataFrame, saved: bytes | None = None) -> dict:
    """``{status, runs: [{name, identical, max_abs_difference}], reason}``; status pass | fail | skip."""
    if adapter.mode == "predictions":
        return {"status": "skip", "runs": [], "reason": "predictions mode: the outputs were computed elsewhere, nothing to re-run"}
    X = frame[adapter.features]
    first = _outputs(adapter, X)
    runs = []
    if adapter.mode == "baseline":
        train, _ = baseline_training_frame(ctx)
        refit = fit_baseline(train[adapter.features], train[ctx.target], ctx.task, ctx.seed, hashed=adapter.hashed)
        twin = replace(adapter, estimator=refit)
        second = _outputs(twin, X)
        d = _max_diff(first, second)
        runs.append({"name": "refit with the same seed", "identical": bool(d == 0), "max_abs_difference": d})
        if saved is not None:
            import skops.io as sio

            loaded = sio.loads(saved, trusted=sio.get_untrusted_types(data=saved))
            twin = replace(adapter, estimator=loaded)
            d = _max_diff(first, _outputs(twin, X))
            runs.append({"name": "saved skops artifact loaded back", "identical": bool(d == 0), "max_abs_difference": d})
    else:
        d = _max_diff(first, _outputs(adapter, X))
        runs.append({"name": "same rows scored twice", "identical": bool(d == 0), "max_abs_difference": d})
    ok = all(r["identical"] for r in runs)
    return {"status": "pass" if ok else "fail", "runs": runs, "reason": None}


def reproducible_check(result: dict, evidence=None) -> dict:
    from playbook import catalogue

    why = ("A model that cannot be rebuilt identically cannot be audited, rolled back or debugged: "
           "the evidence in this pack would describe a model nobody can produce again.")
    if result["status"] == "skip":
        return catalogue.skip("model.reproducible", f"Not computed: {result['reason']}.", evidence=evidence,
                              not_applicable=True)
    names = "; ".join(f"{r['name']}: {'identical' if r['identical'] else 'differs by ' + format(r['max_abs_difference'], '.3g')}"
                      for r in result["runs"])
    differing = sum(1 for r in result["runs"] if not r["identical"])
    return catalogue.check("model.reproducible", result["status"], differing, title=f"Reproducible predictions ({names})",
                           threshold={"max": 0, "of": "runs whose predictions differ"}, evidence=evidence, why=why)
