"""Calibration: do the probabilities mean what they say?

The reliability curve bins the predicted probability and compares, per bin, the mean prediction
(confidence) with the observed frequency. The expected calibration error (ECE) is the average gap,
weighted by the share of rows in each bin. Binary: the probability of the positive label; multiclass:
the top-label confidence against the top-label accuracy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from playbook.evaluate.metrics import Scored


def reliability(confidence: np.ndarray, outcome: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """One row per non-empty equal-width bin of ``confidence`` in [0, 1]:
    ``bin, lower, upper, count, share, mean_predicted, observed, gap``."""
    confidence = np.asarray(confidence, dtype=float)
    outcome = np.asarray(outcome, dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin i holds (edges[i], edges[i+1]]; 0 goes into the first bin
    idx = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    rows = []
    n = len(confidence)
    for b in range(n_bins):
        m = idx == b
        c = int(m.sum())
        if not c:
            continue
        mp = float(confidence[m].mean())
        ob = float(outcome[m].mean())
        rows.append({"bin": b, "lower": float(edges[b]), "upper": float(edges[b + 1]), "count": c,
                     "share": c / n, "mean_predicted": mp, "observed": ob, "gap": ob - mp})
    return pd.DataFrame(rows, columns=["bin", "lower", "upper", "count", "share", "mean_predicted", "observed", "gap"])


def ece(confidence: np.ndarray, outcome: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error: sum over bins of share * |observed - mean predicted|."""
    table = reliability(confidence, outcome, n_bins)
    if table.empty:
        return float("nan")
    return float((table["share"] * table["gap"].abs()).sum())


def calibration(s: Scored, n_bins: int = 10) -> dict:
    """``{kind, ece, max_gap, table}`` for a classification :class:`Scored` with probabilities."""
    if s.proba is None:
        raise ValueError("calibration needs probabilities; the model gives labels only.")
    if s.task == "binary":
        conf, outcome, kind = s.p_pos, s.y_bin, "positive-class probability"
    else:
        conf = s.proba.max(axis=1)
        outcome = (s.proba.argmax(axis=1) == s.y_index).astype(float)
        kind = "top-label confidence"
    table = reliability(conf, outcome, n_bins)
    e = float((table["share"] * table["gap"].abs()).sum()) if len(table) else float("nan")
    return {"kind": kind, "ece": e, "max_gap": float(table["gap"].abs().max()) if len(table) else float("nan"),
            "n_bins": n_bins, "table": table}


def calibration_check(result: dict, max_ece: float, evidence=None) -> dict:
    from playbook import catalogue

    e = result["ece"]
    return catalogue.check(
        "model.calibration_ece", "pass" if e <= max_ece else "warn", e,
        title=f"Expected calibration error of the {result['kind']}: {e:.3g} ({result['n_bins']} bins)",
        threshold={"max": max_ece}, evidence=evidence,
        why="Decisions, prices and limits built on the probabilities go wrong when a predicted 30% is "
            "really 50%; recalibrate (isotonic or Platt) on recent data when this is high.")
