"""Hyper-parameter tuning: are the baseline's hyper-parameters within noise of the best a systematic search finds?

A seeded random search (:class:`sklearn.model_selection.ParameterSampler`) draws ``n_configs - 1`` configurations of
the baseline's gradient boosting (:data:`SPACE`: learning rate, leaf count, minimum leaf size, L2 regularisation,
number of iterations) and puts them, with the baseline's own configuration, through the same k-fold cross-validation
of the training rows (stratified for classification; the same folds for every configuration). Each configuration is
judged on the primary metric of its out-of-fold predictions, pooled over the folds.

The best configuration is compared with the baseline's on the same rows with a paired bootstrap; the interval is
one-sided at ``alpha / (n_configs - 1)`` (Bonferroni), because the best of several configurations looks better than
the baseline by chance alone. ``model.tuning`` warns, naming the better configuration, when that interval's lower
bound is above zero: the search beats the baseline beyond noise. It applies to the baseline only: the search space
of a model file is not known here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from playbook.evaluate.metrics import Scored
from playbook.evaluate.refit import (MetricOn, Trainer, baseline_params, better_by, paired_difference, primary_metric,
                                     scored)
from playbook.parallel import map_ordered

SPACE = {
    "learning_rate": [0.03, 0.05, 0.1, 0.2],
    "max_leaf_nodes": [7, 15, 31, 63],
    "min_samples_leaf": [5, 10, 20, 40],
    "l2_regularization": [0.0, 0.1, 1.0, 10.0],
    "max_iter": [50, 100, 200],
}


def current_configuration(tr: Trainer) -> dict:
    """The baseline's values of the searched hyper-parameters."""
    p = baseline_params(tr.adapter.estimator)
    return {k: p[k] for k in sorted(SPACE) if k in p}


def configurations(current: dict, n: int, seed: int) -> list[dict]:
    """The baseline's configuration followed by ``n - 1`` distinct seeded draws from :data:`SPACE`."""
    from sklearn.model_selection import ParameterSampler

    total = int(np.prod([len(v) for v in SPACE.values()]))
    draws = ParameterSampler(SPACE, n_iter=min(total, 4 * n), random_state=seed)
    out = [dict(current)]
    for d in draws:
        d = {k: (v.item() if hasattr(v, "item") else v) for k, v in sorted(d.items())}
        if all(d != o for o in out):
            out.append(d)
        if len(out) >= n:
            break
    return out


def _folds(tr: Trainer, rows: pd.DataFrame, k: int, seed: int):
    from sklearn.model_selection import KFold, StratifiedKFold

    y = rows[tr.target]
    if tr.task != "regression":
        counts = y.astype(str).value_counts()
        if counts.min() >= k:
            return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(rows, y.astype(str)))
    return list(KFold(k, shuffle=True, random_state=seed).split(rows))


def _pooled(parts: list[tuple[np.ndarray, Scored]], n: int) -> Scored:
    """Out-of-fold Scored bundles put back in row order."""
    first = parts[0][1]
    order = np.concatenate([p for p, _ in parts])
    inv = np.empty(n, dtype=int)
    inv[order] = np.arange(n)

    def cat(attr):
        vals = [getattr(s, attr) for _, s in parts]
        if any(v is None for v in vals):
            return None
        return np.concatenate(vals)[inv]

    return Scored(task=first.task, y=cat("y"), pred=cat("pred"), proba=cat("proba"), classes=first.classes,
                  positive=first.positive, threshold=first.threshold)


def tuning(tr: Trainer, *, n_configs: int = 8, folds: int = 3, n_boot: int = 200, seed: int = 0,
           threshold: float = 0.5, alpha: float = 0.05) -> dict:
    """``{metric, folds, rows, configurations: [{rank, params, value, fold_values, is_current}], current, best,
    improvement: {value, ci_low, ci_high}, alpha, beyond_noise, where}``."""
    rows = tr.train.loc[tr.train[tr.target].notna()]
    metric = primary_metric(tr.adapter)
    splits = _folds(tr, rows, folds, seed)
    current = current_configuration(tr)
    configs = configurations(current, n_configs, seed)
    def evaluate(item):
        i, cfg = item
        parts, fold_values, error = [], [], None
        for train_idx, test_idx in splits:
            try:
                f = tr.fit(rows.iloc[train_idx], seed=seed, params=cfg)
                s = scored(f, rows.iloc[test_idx], tr.target, threshold)
            except Exception as exc:  # noqa: BLE001 - a configuration that cannot train is left out
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
                break
            parts.append((test_idx, s))
            fold_values.append(MetricOn(metric, s)())
        if error:
            return {"params": cfg, "is_current": i == 0, "value": float("nan"), "fold_values": [],
                    "error": error, "_m": None}
        m = MetricOn(metric, _pooled(parts, len(rows)))
        return {"params": cfg, "is_current": i == 0, "value": m(), "fold_values": fold_values, "error": None,
                "_m": m}

    # every configuration cross-validated on its own (shared with a second core when there is one)
    results = map_ordered(evaluate, list(enumerate(configs)))
    ok = [r for r in results if r["_m"] is not None and np.isfinite(r["value"])]
    cur = results[0]
    out = {"metric": metric, "folds": len(splits), "rows": len(rows), "where": tr.where, "space": SPACE,
           "alpha": alpha, "current": current}
    if cur["_m"] is None or len(ok) < 2:
        for r in results:
            r["rank"] = None
        out.update(configurations=[{k: v for k, v in r.items() if k != "_m"} for r in results], best=None,
                   improvement=None, beyond_noise=False,
                   error=cur["error"] or "fewer than two configurations could be cross-validated")
        return out
    best = max(ok, key=lambda r: (better_by(metric, r["value"], cur["value"]), r["is_current"]))
    corrected = alpha / max(1, len(ok) - 1)
    if best is cur:
        imp = {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n_boot": 0}
    else:
        imp = paired_difference(best["_m"], cur["_m"], n_boot, seed, alpha=2 * corrected)
    ranked = sorted(results, key=lambda r: (-better_by(metric, r["value"], cur["value"])
                                            if np.isfinite(r["value"]) else np.inf, not r["is_current"]))
    for rank, r in enumerate(ranked, 1):
        r["rank"] = rank
    out.update(configurations=[{k: v for k, v in r.items() if k != "_m"} for r in results],
               best={"params": best["params"], "value": best["value"], "is_current": best is cur},
               improvement=imp, corrected_alpha=corrected,
               beyond_noise=bool(best is not cur and np.isfinite(imp["ci_low"]) and imp["ci_low"] > 0))
    return out


def _params_text(p: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())


def tuning_check(result: dict | None, evidence=None, skip_reason: str | None = None) -> dict:
    """``model.tuning``: value = the lower bound of the (corrected) interval of how much better the best
    configuration is than the baseline's on the primary metric; above zero is beyond noise."""
    from playbook import catalogue

    thr = {"max": 0, "of": "lower bound of the improvement of the best configuration (Bonferroni-corrected)"}
    if result is None:
        return catalogue.skip("model.tuning", f"Not computed: {skip_reason}.", threshold=thr, evidence=evidence,
                              not_applicable=True)
    if result.get("best") is None:
        return catalogue.skip("model.tuning", f"Not computed: {result.get('error')}.", threshold=thr, evidence=evidence)
    n = len([c for c in result["configurations"] if c.get("error") is None])
    imp = result["improvement"]
    metric = result["metric"]
    head = f"Search of {n} configurations ({result['folds']}-fold, {metric} out of fold)"
    if result["best"]["is_current"]:
        title = f"{head}: the baseline's hyper-parameters are the best found"
    elif result["beyond_noise"]:
        title = (f"{head}: {_params_text(result['best']['params'])} beats the baseline's by {imp['value']:.3g} "
                 f"(lower bound {imp['ci_low']:.3g}), beyond noise")
    else:
        title = (f"{head}: the best found beats the baseline's by {imp['value']:.3g}, within noise "
                 f"(lower bound {imp['ci_low']:.3g})")
    return catalogue.check(
        "model.tuning", "warn" if result["beyond_noise"] else "pass", imp["ci_low"], title=title, threshold=thr,
        evidence=evidence,
        why="Untuned hyper-parameters leave quality on the table, or hide that a simpler setting does as well; the "
            "interval is corrected for picking the best of several configurations.")


__all__ = ["SPACE", "configurations", "current_configuration", "tuning", "tuning_check"]
