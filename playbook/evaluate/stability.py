"""Numerical stability: no NaN, no infinity, no invalid probability, no implausible extreme, whatever the input.

The model scores several input sets (:func:`input_sets`):

* the reference rows and the evaluation rows;
* every shifted batch of the drift catalogue (:mod:`playbook.drift.shifts`, each fault at ``severity``) applied to
  the evaluation rows;
* extreme-value probes: for every numeric feature in turn (up to ``max_probe_features``), and for all of them at once,
  a few evaluation rows with the value set to a very large number (a million times the largest magnitude in the
  reference), its negative, and zero.

On each set the outputs must be finite; probabilities must lie in [0, 1] and sum to 1 per row (either failure is
``fail``). A regression output outside the training target's range widened by ``range_factor`` ranges on each side
is implausible (``warn``). A set the model *refuses* with a clear error (:class:`~playbook.modeling.ModelInputError`,
e.g. a dropped column) is handled; any other exception is a crash (``fail``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from playbook.evaluate.refit import cap
from playbook.modeling import ModelAdapter, ModelError, ModelInputError

TOLERANCE = 1e-6  # probability rows must sum to 1 within this


def input_sets(adapter: ModelAdapter, reference: pd.DataFrame, evaluation: pd.DataFrame, roles=None, *,
               module=None, severity: float = 1.0, seed: int = 0, probe_rows: int = 20,
               max_rows: int = 5000, max_probe_features: int = 20) -> list[tuple[str, str, pd.DataFrame]]:
    """``[(name, kind, frame)]`` with kind ``data`` | ``shift`` | ``probe``. Numeric features are probed one at a
    time up to ``max_probe_features`` (in the model's order); the all-at-once probes cover every one."""
    out = [("reference", "data", cap(reference, max_rows, seed)),
           ("evaluation", "data", cap(evaluation, max_rows, seed))]
    if module is not None:
        from playbook.evaluate.robustness import shift_seed

        for name in sorted(module.SHIFTS):
            try:
                shifted, info = module.apply(name, evaluation.copy(), severity, roles=roles, seed=shift_seed(seed, name))
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(info, dict) and info.get("applied") is False:
                continue
            out.append((f"shift:{name}", "shift", shifted))
    base = evaluation.head(probe_rows)
    numeric = [c for c in adapter.features if c in adapter.numeric and c in base.columns]
    big = {}
    for c in numeric:
        vals = pd.to_numeric(reference[c], errors="coerce").to_numpy(dtype=float) if c in reference.columns else []
        vals = np.abs(vals[np.isfinite(vals)]) if len(vals) else np.array([])
        big[c] = 1e6 * max(1.0, float(vals.max()) if len(vals) else 1.0)
    for label, sign in (("large", 1.0), ("large_negative", -1.0), ("zero", 0.0)):
        for c in numeric[:max_probe_features]:
            probe = base.copy()
            probe[c] = sign * big[c]
            out.append((f"probe:{c}={label}", "probe", probe))
        if len(numeric) > 1:
            probe = base.copy()
            for c in numeric:
                probe[c] = sign * big[c]
            out.append((f"probe:all_numeric={label}", "probe", probe))
    return out


def plausible_range(y_train, factor: float = 1.0) -> tuple[float, float] | None:
    """Regression: the training target's range widened by ``factor`` ranges on each side."""
    y = pd.to_numeric(pd.Series(y_train), errors="coerce").to_numpy(dtype=float)
    y = y[np.isfinite(y)]
    if not len(y):
        return None
    lo, hi = float(y.min()), float(y.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return lo - factor * span, hi + factor * span


def _judge(adapter: ModelAdapter, frame: pd.DataFrame, bounds) -> dict:
    try:
        if adapter.has_proba:
            out = np.asarray(adapter.predict_proba(frame), dtype=float)
        else:
            out = adapter.predict(frame)
    except (ModelInputError, ModelError) as exc:
        return {"outcome": "refused", "ok": True, "detail": str(exc).splitlines()[0][:200]}
    except Exception as exc:  # noqa: BLE001 - a crash is the finding
        return {"outcome": "crash", "ok": False, "detail": f"{type(exc).__name__}: {str(exc)[:160]}"}
    if adapter.task != "regression" and not adapter.has_proba:
        classes = {str(c) for c in adapter.classes_}
        bad = [v for v in out if str(v) not in classes]
        return ({"outcome": "invalid_labels", "ok": False, "detail": f"{len(bad)} labels outside the classes"} if bad
                else {"outcome": "ok", "ok": True, "detail": f"{len(out)} valid labels"})
    out = np.asarray(out, dtype=float)
    n_bad = int((~np.isfinite(out)).sum())
    rec = {"min": float(np.nanmin(out)) if np.isfinite(out).any() else None,
           "max": float(np.nanmax(out)) if np.isfinite(out).any() else None}
    if n_bad:
        return {**rec, "outcome": "nan_inf", "ok": False, "detail": f"{n_bad} outputs are NaN or infinite"}
    if adapter.has_proba:
        worst = float(np.max(np.abs(out.sum(axis=1) - 1.0))) if len(out) else 0.0
        if out.min() < 0 or out.max() > 1 or worst > TOLERANCE:
            return {**rec, "outcome": "invalid_probabilities", "ok": False,
                    "detail": f"probabilities from {out.min():.3g} to {out.max():.3g}, rows sum to 1 within "
                              f"{worst:.3g}"}
        return {**rec, "outcome": "ok", "ok": True, "detail": f"{len(out)} rows of valid probabilities"}
    if bounds is not None and (out.min() < bounds[0] or out.max() > bounds[1]):
        return {**rec, "outcome": "implausible", "ok": True,
                "detail": f"predictions from {out.min():.4g} to {out.max():.4g}, outside the plausible "
                          f"{bounds[0]:.4g} to {bounds[1]:.4g}"}
    return {**rec, "outcome": "ok", "ok": True, "detail": f"{len(out)} finite predictions"}


def numerical_stability(adapter: ModelAdapter, sets: list[tuple[str, str, pd.DataFrame]], *, y_train=None,
                        range_factor: float = 1.0) -> pd.DataFrame:
    """One row per input set: ``source, kind, rows, outcome (ok | refused | implausible | nan_inf |
    invalid_probabilities | invalid_labels | crash), ok, detail, min, max``."""
    bounds = plausible_range(y_train, range_factor) if adapter.task == "regression" and y_train is not None else None
    rows = []
    for name, kind, frame in sets:
        r = _judge(adapter, frame, bounds)
        rows.append({"source": name, "kind": kind, "rows": len(frame), "outcome": r["outcome"], "ok": r["ok"],
                     "detail": r["detail"], "min": r.get("min"), "max": r.get("max")})
    table = pd.DataFrame(rows, columns=["source", "kind", "rows", "outcome", "ok", "detail", "min", "max"])
    table.attrs["plausible_range"] = list(bounds) if bounds else None
    return table


def stability_check(table: pd.DataFrame | None, evidence=None, skip_reason: str | None = None) -> dict:
    """``model.numerical_stability``: value = the number of input sets with NaN / infinite / invalid outputs or a
    crash; implausible regression extremes warn."""
    from playbook import catalogue

    thr = {"max": 0, "of": "input sets with NaN, infinite or invalid outputs"}
    if table is None:
        return catalogue.skip("model.numerical_stability", f"Not computed: {skip_reason}.", threshold=thr,
                              evidence=evidence, not_applicable=True)
    bad = table[~table["ok"]]
    odd = table[table["outcome"] == "implausible"]
    kinds = table["kind"].value_counts().to_dict()
    title = (f"Outputs on {len(table)} input sets ({kinds.get('data', 0)} data, {kinds.get('shift', 0)} shifted "
             f"batches, {kinds.get('probe', 0)} extreme-value probes): ")
    if len(bad):
        title += f"{len(bad)} invalid: " + ", ".join(
            f"{s} ({o})" for s, o in zip(bad["source"][:5], bad["outcome"][:5]))
    elif len(odd):
        title += f"finite, {len(odd)} implausibly extreme: " + ", ".join(odd["source"][:5])
    else:
        title += "all finite and valid"
    refused = int((table["outcome"] == "refused").sum())
    if refused:
        title += f" ({refused} refused with a clear error)"
    status = "fail" if len(bad) else ("warn" if len(odd) else "pass")
    return catalogue.check(
        "model.numerical_stability", status, int(len(bad)), title=title, threshold=thr, evidence=evidence,
        why="A NaN or infinite score flows silently into decisions, prices and monitors; extreme inputs arrive in "
            "production (unit errors, sentinels, overflows) and the model must stay within what it can mean.")


__all__ = ["input_sets", "numerical_stability", "plausible_range", "stability_check"]
