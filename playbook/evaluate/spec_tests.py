"""Unit tests of the model specification: the training procedure, run on a small seeded sample.

A clone of the model's training procedure (:class:`playbook.evaluate.refit.Trainer`) is fitted on a small seeded
sample of the training rows (stratified for classification) and put through the tests a model's code should have:

* ``trains`` - fitting does not raise;
* ``output_shape`` - one output per row (probabilities: one column per class), all finite, labels among the classes;
* ``valid_probabilities`` - classification with probabilities: every value in [0, 1], every row summing to 1;
* ``learns`` - on its own training sample the model beats a model without features (the training base rates /
  majority class, or the training median) on a proper score (Brier, accuracy or MAE): a model that cannot fit the rows
  it saw has a broken specification;
* ``row_order`` - shuffling the rows shuffles the outputs and changes nothing else;
* ``missing_values`` - a missing value in each feature in turn is either handled (valid outputs) or refused with a
  clear error (:class:`~playbook.modeling.ModelInputError`); a crash or a NaN output fails.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from playbook.evaluate.metrics import comparison_metric, dummy_scored, single
from playbook.evaluate.refit import Trainer, cap, max_difference, outputs, scored
from playbook.modeling import ModelError, ModelInputError

TESTS = ("trains", "output_shape", "valid_probabilities", "learns", "row_order", "missing_values")
TOLERANCE = 1e-6  # probabilities must sum to 1 within this; row-order outputs must agree within it


def _shape_ok(adapter, out: np.ndarray, n: int) -> tuple[bool, str]:
    if adapter.has_proba:
        k = len(adapter.classes_)
        if out.shape != (n, k):
            return False, f"predict_proba returned shape {out.shape} for {n} rows and {k} classes"
        if not np.all(np.isfinite(out)):
            return False, f"{int((~np.isfinite(out)).sum())} probabilities are NaN or infinite"
        return True, f"{n} x {k} finite probabilities"
    if len(out) != n:
        return False, f"returned {len(out)} outputs for {n} rows"
    if adapter.task == "regression":
        bad = int((~np.isfinite(out.astype(float))).sum())
        return (bad == 0), (f"{n} finite predictions" if bad == 0 else f"{bad} predictions are NaN or infinite")
    classes = {str(c) for c in adapter.classes_}
    bad = [v for v in out if str(v) not in classes]
    return (not bad), (f"{n} labels among the classes" if not bad else f"labels outside the classes: {bad[:3]}")


def _proba_ok(out: np.ndarray) -> tuple[bool, str]:
    if not np.all(np.isfinite(out)):
        return False, "probabilities are not finite"
    lo, hi = float(out.min()), float(out.max())
    sums = out.sum(axis=1)
    worst = float(np.max(np.abs(sums - 1.0))) if len(sums) else 0.0
    if lo < 0 or hi > 1:
        return False, f"probabilities range from {lo:.3g} to {hi:.3g}, outside [0, 1]"
    if worst > TOLERANCE:
        return False, f"probability rows sum to 1 only within {worst:.3g} (tolerance {TOLERANCE:g})"
    return True, "every probability in [0, 1], every row sums to 1"


def _with_missing(X: pd.DataFrame, col: str) -> pd.DataFrame:
    out = X.copy()
    if pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_bool_dtype(out[col]):
        out[col] = out[col].astype(float)
        out[col] = np.nan
    else:
        out[col] = out[col].astype(object)
        out[col] = None
    return out


def _missing_values(adapter, X: pd.DataFrame) -> tuple[bool, str, list[dict]]:
    rows = []
    for col in adapter.features:
        bad = _with_missing(X, col)
        try:
            out = outputs(adapter, bad)
        except (ModelInputError, ModelError) as exc:
            rows.append({"feature": col, "outcome": "refused", "ok": True, "detail": str(exc).splitlines()[0][:200]})
            continue
        except Exception as exc:  # noqa: BLE001 - a crash is the finding
            rows.append({"feature": col, "outcome": "crash", "ok": False,
                         "detail": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"})
            continue
        ok, detail = _shape_ok(adapter, out, len(bad))
        if ok and adapter.has_proba:
            ok, detail = _proba_ok(out)
        rows.append({"feature": col, "outcome": "handled" if ok else "invalid", "ok": ok, "detail": detail})
    failing = [r for r in rows if not r["ok"]]
    if failing:
        return False, "; ".join(f"{r['feature']}: {r['outcome']} ({r['detail']})" for r in failing[:4]), rows
    refused = sum(r["outcome"] == "refused" for r in rows)
    return True, f"{len(rows) - refused} features handle a missing value, {refused} refuse it with a clear error", rows


def spec_tests(tr: Trainer, *, sample_rows: int = 200, seed: int = 0, threshold: float = 0.5) -> dict:
    """Run the tests; ``{tests: [{test, ok (True | False | None = not applicable), detail}], failed, sample_rows,
    missing_values: [{feature, outcome, ok, detail}]}``."""
    sample = cap(tr.train.loc[tr.train[tr.target].notna()], sample_rows, seed, tr.target, tr.task != "regression")
    results: list[dict] = []
    missing_rows: list[dict] = []

    def record(name, ok, detail):
        results.append({"test": name, "ok": ok, "detail": detail})

    try:
        fitted = tr.fit(sample, seed=seed)
    except Exception as exc:  # noqa: BLE001 - a specification that cannot train is the finding
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        record("trains", False, f"fitting raised {type(exc).__name__}: {first}")
        for name in TESTS[1:]:
            record(name, False, "not run: the model did not train")
        return _summary(results, len(sample), missing_rows)
    record("trains", True, f"fitted on {len(sample)} rows")
    a = fitted.adapter
    X = sample[a.features]
    try:
        out = outputs(a, X)
        ok, detail = _shape_ok(a, out, len(X))
    except Exception as exc:  # noqa: BLE001
        out, ok, detail = None, False, f"scoring its own training rows raised {type(exc).__name__}: {str(exc)[:160]}"
    record("output_shape", ok, detail)
    if a.task == "regression" or not a.has_proba:
        record("valid_probabilities", None, "not applicable: the model gives no probabilities")
    elif out is None or out.ndim != 2:
        record("valid_probabilities", False, "no probabilities to check")
    else:
        record("valid_probabilities", *_proba_ok(out))
    try:
        s = scored(fitted, sample, tr.target, threshold)
        dummy = dummy_scored(s, sample[tr.target])
        metric = comparison_metric(s)
        mv, dv = single(s, metric), single(dummy, metric)
        better = (mv > dv) if metric == "accuracy" else (mv < dv)
        record("learns", bool(better), f"training-set {metric} {mv:.4g} vs {dv:.4g} without features")
    except Exception as exc:  # noqa: BLE001
        record("learns", False, f"could not score the training rows ({type(exc).__name__}: {str(exc)[:160]})")
    if out is None:
        record("row_order", False, "not run: the model could not score its rows")
    else:
        perm = np.random.default_rng(seed).permutation(len(X))
        try:
            shuffled = outputs(a, X.iloc[perm])
            d = max_difference(shuffled, out[perm])
            ok = d <= TOLERANCE if shuffled.dtype.kind in "fc" else d == 0
            record("row_order", bool(ok),
                   "outputs follow the rows" if ok else f"outputs change with row order (by {d:.3g})")
        except Exception as exc:  # noqa: BLE001
            record("row_order", False, f"scoring shuffled rows raised {type(exc).__name__}")
    ok, detail, missing_rows = _missing_values(a, X.head(5))
    record("missing_values", ok, detail)
    return _summary(results, len(sample), missing_rows)


def _summary(results: list[dict], n: int, missing_rows: list[dict]) -> dict:
    failed = [r["test"] for r in results if r["ok"] is False]
    return {"tests": results, "failed": failed, "sample_rows": n, "missing_values": missing_rows}


def spec_check(result: dict | None, evidence=None, skip_reason: str | None = None) -> dict:
    """``model.spec_tests``: value = the number of failed tests."""
    from playbook import catalogue

    thr = {"max": 0, "of": "failed model-specification tests"}
    if result is None:
        return catalogue.skip("model.spec_tests", f"Not computed: {skip_reason}.", threshold=thr, evidence=evidence,
                              not_applicable=True)
    run = [r for r in result["tests"] if r["ok"] is not None]
    failed = result["failed"]
    title = (f"Model-specification tests on a {result['sample_rows']}-row sample: "
             f"{len(run) - len(failed)} of {len(run)} pass")
    if failed:
        title += "; failing: " + ", ".join(failed)
    return catalogue.check(
        "model.spec_tests", "fail" if failed else "pass", len(failed), title=title, threshold=thr, evidence=evidence,
        why="A model whose code cannot train, outputs malformed or invalid values, learns nothing, depends on row "
            "order or crashes on a missing value fails in production in ways no metric shows.")


__all__ = ["TESTS", "spec_check", "spec_tests"]
