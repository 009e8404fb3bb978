"""Serving readiness: model size, latency, throughput, and behaviour on malformed rows.

Latency and throughput are wall-clock measurements: they go to ``timings.json`` (never into the
deterministic ``results.json``). The input-validation probes feed the wrapped model rows that production
will eventually send: a missing column, a wrong type, a missing value, an unseen category, an extra
column, shuffled column order. Each must give either a clear error (:class:`ModelInputError` naming the
column) or a *documented safe prediction*: a valid probability / label / finite number, and for the extra
column and the column order exactly the prediction of the clean row. Anything else - another exception
(a crash) or a changed or invalid answer (silent wrong answer) - fails the check.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from playbook.modeling import ModelError, ModelInputError

UNSEEN = "__unseen_category__"
EXPECTED = {
    "missing_column": "clear error",
    "wrong_type": "clear error",
    "missing_value": "clear error or valid prediction",
    "unseen_category": "clear error or valid prediction",
    "extra_column": "prediction identical to the clean row",
    "column_order": "prediction identical to the clean row",
}


def _predict(adapter, X: pd.DataFrame) -> np.ndarray:
    if adapter.has_proba:
        return np.asarray(adapter.predict_proba(X), dtype=float)
    out = adapter.predict(X)
    return np.asarray(out, dtype=float) if adapter.task == "regression" else np.asarray(out, dtype=object)


def _valid(adapter, out: np.ndarray, n: int) -> tuple[bool, str]:
    if len(out) != n:
        return False, f"returned {len(out)} outputs for {n} rows"
    if adapter.has_proba:
        if not np.all(np.isfinite(out)):
            return False, "probabilities are not finite"
        if out.min() < 0 or out.max() > 1 or not np.allclose(out.sum(axis=1), 1.0, atol=1e-6):
            return False, "probabilities outside [0, 1] or not summing to 1"
        return True, "valid probabilities"
    if adapter.task == "regression":
        return (bool(np.all(np.isfinite(out.astype(float)))), "finite prediction" if np.all(np.isfinite(out.astype(float))) else "non-finite prediction")
    ok = all(str(v) in {str(c) for c in adapter.classes_} for v in out)
    return ok, "valid label" if ok else "label outside the target's classes"


def probe_inputs(adapter, row: pd.DataFrame) -> pd.DataFrame:
    """Run the malformed-row probes on one clean row; one result row per probe:
    ``probe, column, expected, outcome (error | safe | crash | silent_wrong | skipped), ok, detail``."""
    if len(row) != 1:
        row = row.head(1)
    row = row[list(adapter.features)].copy()
    clean = _predict(adapter, row)
    numeric = [c for c in adapter.features if c in adapter.numeric]
    categorical = [c for c in adapter.features if c not in adapter.numeric]
    probes = []
    probes.append(("missing_column", adapter.features[0], row.drop(columns=[adapter.features[0]])))
    if numeric:
        bad = row.copy()
        bad[numeric[0]] = bad[numeric[0]].astype(object)
        bad.iloc[0, bad.columns.get_loc(numeric[0])] = "not-a-number"
        probes.append(("wrong_type", numeric[0], bad))
    else:
        probes.append(("wrong_type", None, None))
    nan_col = numeric[0] if numeric else categorical[0]
    nanrow = row.copy()
    nanrow[nan_col] = nanrow[nan_col].astype(object) if nan_col in categorical else nanrow[nan_col].astype(float)
    nanrow.iloc[0, nanrow.columns.get_loc(nan_col)] = np.nan
    probes.append(("missing_value", nan_col, nanrow))
    if categorical:
        un = row.copy()
        un[categorical[0]] = un[categorical[0]].astype(object)
        un.iloc[0, un.columns.get_loc(categorical[0])] = UNSEEN
        probes.append(("unseen_category", categorical[0], un))
    else:
        probes.append(("unseen_category", None, None))
    extra = row.copy()
    extra["__extra_column__"] = 12345.0
    probes.append(("extra_column", "__extra_column__", extra))
    probes.append(("column_order", None, row[list(reversed(row.columns))]))

    results = []
    for name, col, X in probes:
        rec = {"probe": name, "column": col, "expected": EXPECTED[name]}
        if X is None:
            rec.update(outcome="skipped", ok=True, detail="no column of that kind in the model's features")
            results.append(rec)
            continue
        try:
            out = _predict(adapter, X)
        except (ModelInputError, ModelError) as exc:
            ok = name in ("missing_column", "wrong_type", "missing_value", "unseen_category")
            rec.update(outcome="error", ok=ok, detail=str(exc))
            results.append(rec)
            continue
        except Exception as exc:  # noqa: BLE001 - an uncontrolled failure is exactly what we look for
            rec.update(outcome="crash", ok=False, detail=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            results.append(rec)
            continue
        valid, why = _valid(adapter, out, 1)
        if name in ("missing_column", "wrong_type"):
            rec.update(outcome="silent_wrong", ok=False, detail=f"the model scored a malformed row ({why}) instead of refusing it")
        elif name in ("extra_column", "column_order"):
            same = np.array_equal(out, clean) if out.dtype == object else np.allclose(out, clean, rtol=0, atol=0)
            rec.update(outcome="safe" if (same and valid) else "silent_wrong", ok=bool(same and valid),
                       detail="identical to the clean row's prediction" if same else "the prediction changed")
        else:
            rec.update(outcome="safe" if valid else "silent_wrong", ok=valid, detail=why)
        results.append(rec)
    return pd.DataFrame(results, columns=["probe", "column", "expected", "outcome", "ok", "detail"])


def input_validation_check(table: pd.DataFrame, evidence=None) -> dict:
    from playbook import catalogue

    bad = table[~table["ok"]]
    title = (f"Malformed-row probes: {int(table['ok'].sum())} of {len(table)} handled "
             f"(clear error or documented safe prediction)")
    if len(bad):
        title += "; failing: " + ", ".join(f"{p} ({o})" for p, o in zip(bad["probe"], bad["outcome"]))
    return catalogue.check(
        "model.serving.input_validation", "pass" if bad.empty else "fail", int(len(bad)), title=title,
        threshold={"max": 0}, evidence=evidence,
        why="Production sends malformed rows sooner or later; a crash takes the service down and a silent "
            "wrong answer takes a wrong decision - the model must refuse clearly or answer safely.")


def latency(adapter, frame: pd.DataFrame, *, n_single: int = 50, batch_size: int = 1000, n_batches: int = 5,
            seed: int = 0) -> dict:
    """Wall-clock latency of single-row and batch scoring (milliseconds) and batch throughput (rows/s)."""
    X = frame[list(adapter.features)]
    rng = np.random.default_rng(seed)
    singles = []
    rows = rng.integers(0, len(X), size=n_single)
    _predict(adapter, X.iloc[[0]])  # warm-up
    for i in rows:
        one = X.iloc[[int(i)]]
        t0 = time.perf_counter()
        _predict(adapter, one)
        singles.append((time.perf_counter() - t0) * 1000.0)
    batch = X.iloc[rng.integers(0, len(X), size=batch_size)]
    batches = []
    for _ in range(n_batches):
        t0 = time.perf_counter()
        _predict(adapter, batch)
        batches.append((time.perf_counter() - t0) * 1000.0)
    s = np.asarray(singles)
    b = np.asarray(batches)
    return {
        "single_row_ms_p50": float(np.percentile(s, 50)), "single_row_ms_p95": float(np.percentile(s, 95)),
        "single_row_ms_p99": float(np.percentile(s, 99)), "single_row_calls": int(n_single),
        "batch_rows": int(batch_size), "batch_ms_p50": float(np.percentile(b, 50)),
        "batch_ms_p95": float(np.percentile(b, 95)), "batch_ms_p99": float(np.percentile(b, 99)),
        "batch_rows_per_second": float(batch_size / (np.median(b) / 1000.0)) if np.median(b) > 0 else float("inf"),
        "single_rows_per_second": float(1000.0 / np.median(s)) if np.median(s) > 0 else float("inf"),
    }


def size_check(size_bytes: int | None, max_mb: float, evidence=None) -> dict:
    from playbook import catalogue

    if size_bytes is None:
        return catalogue.skip("model.serving.size", "Not computed: predictions mode has no model object to measure.",
                              threshold={"max": max_mb, "unit": "MB"}, evidence=evidence, not_applicable=True)
    mb = size_bytes / 1e6
    return catalogue.check("model.serving.size", "pass" if mb <= max_mb else "warn", mb,
                           title=f"Serialized model size: {mb:.2f} MB", threshold={"max": max_mb, "unit": "MB"},
                           evidence=evidence,
                           why="Model size drives container image size, cold-start time and memory per replica.")
