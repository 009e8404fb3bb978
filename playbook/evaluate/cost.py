"""What each feature costs, against what it brings: leave one feature out.

The training procedure (:class:`playbook.evaluate.refit.Trainer`) is run once with every feature and once without
each examined feature, with the same seed and rows. Per feature:

* **benefit** - the primary metric on the evaluation rows with the feature minus without it (positive = the feature
  helps), with a paired bootstrap 95% interval (the same resampled rows for both models): a benefit whose interval
  reaches zero is not above noise;
* **size** - the serialized bytes the feature adds to the model (pickled; deterministic), and its share of the full
  model's size;
* **training time and latency** it adds (single-row and batch scoring): wall-clock, so they go to ``timings.json``
  and ``feature_cost_timings.json``, never into ``results.json``, and never decide the status.

``model.features.cost`` warns when a feature's benefit is not above noise while it holds at least ``max_size_share``
of the model's size: it costs storage, memory and scoring time (and its upstream pipeline) for nothing measurable.

Which features: all of them up to ``max_features``; beyond that the ones with the lowest permutation importance
(those whose benefit is most likely not to pay for their cost), and the rest are listed as not examined. A model
file's clone that cannot be fitted without a column (its preprocessing names every column) has the column replaced
by its training median / most frequent value instead (``method: constant``).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from playbook.evaluate.metrics import bootstrap_indices
from playbook.parallel import map_ordered
from playbook.evaluate.refit import MetricOn, Trainer, model_bytes, outputs, paired_difference, primary_metric, scored


def candidates(features: list[str], importance: pd.DataFrame | None = None,
               max_features: int = 20) -> tuple[list[str], list[str]]:
    """``(examined, not_examined)``: every feature up to ``max_features``, else the least important first."""
    feats = list(features)
    if len(feats) <= max_features:
        return feats, []
    if importance is not None and len(importance):
        imp = dict(zip(importance["feature"].astype(str), importance["importance_mean"].astype(float)))
        order = sorted(feats, key=lambda f: (imp.get(str(f), -np.inf), str(f)))
    else:
        order = feats
    chosen = set(order[:max_features])
    return [f for f in feats if f in chosen], [f for f in feats if f not in chosen]


def _latency(adapter, X: pd.DataFrame, calls: int) -> float:
    """Median wall-clock milliseconds of single-row scoring over ``calls`` rows."""
    times = []
    for i in range(min(calls, len(X))):
        one = X.iloc[[i]]
        t0 = time.perf_counter()
        outputs(adapter, one)
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times)) if times else float("nan")


def feature_cost(tr: Trainer, *, importance: pd.DataFrame | None = None, max_features: int = 20, n_boot: int = 200,
                 seed: int = 0, threshold: float = 0.5, latency_calls: int = 5, max_size_share: float = 0.1,
                 alpha: float = 0.05) -> dict:
    """``{metric, full: {...}, table (deterministic, one row per examined feature), timings (wall-clock), examined,
    not_examined, max_size_share, where}``."""
    metric = primary_metric(tr.adapter)
    test = tr.test
    examined, skipped = candidates(tr.features, importance, max_features)

    def run(features):
        f = tr.fit(seed=seed, features=features)
        t0 = time.perf_counter()
        s = scored(f, test, tr.target, threshold)
        batch_ms = (time.perf_counter() - t0) * 1000.0
        single_ms = _latency(f.adapter, test, latency_calls)
        return f, MetricOn(metric, s), model_bytes(f.estimator), batch_ms, single_ms

    full, full_m, full_size, full_batch, full_single = run(None)
    idx = bootstrap_indices(len(test), n_boot, seed)
    rows, times = [], []
    rank = {}
    if importance is not None and len(importance):
        rank = {str(f): i + 1 for i, f in enumerate(importance["feature"])}
    def without(feat):
        f, m, size, batch_ms, single_ms = run([c for c in tr.features if c != feat])
        return f.method, f.seconds, m, size, batch_ms, single_ms

    # one training per feature left out, shared with a second core when there is one (each is seeded the same)
    for feat, (method, seconds, m, size, batch_ms, single_ms) in zip(examined, map_ordered(without, examined)):
        b = paired_difference(full_m, m, n_boot, seed, alpha=alpha, indices=idx)
        added = full_size - size
        share = added / full_size if full_size else 0.0
        above = bool(np.isfinite(b["ci_low"]) and b["ci_low"] > 0) if b["n_boot"] else bool(b["value"] > 0)
        rows.append({"feature": feat, "importance_rank": rank.get(str(feat)), "method": method, "metric": metric,
                     "with": full_m(), "without": m(), "benefit": b["value"], "ci_low": b["ci_low"],
                     "ci_high": b["ci_high"], "benefit_above_noise": above, "size_bytes_added": int(added),
                     "size_share": float(share), "flagged": bool(not above and share >= max_size_share)})
        times.append({"feature": feat, "fit_seconds": seconds, "fit_seconds_added": full.seconds - seconds,
                      "single_row_ms": single_ms, "single_row_ms_added": full_single - single_ms,
                      "batch_ms": batch_ms, "batch_ms_added": full_batch - batch_ms})
    table = pd.DataFrame(rows, columns=["feature", "importance_rank", "method", "metric", "with", "without", "benefit",
                                        "ci_low", "ci_high", "benefit_above_noise", "size_bytes_added", "size_share",
                                        "flagged"])
    return {"metric": metric, "where": tr.where, "max_size_share": max_size_share, "examined": examined,
            "not_examined": skipped, "size_format": "pickle protocol 4",
            "full": {"metric": metric, "value": full_m(), "size_bytes": int(full_size), "features": len(tr.features)},
            "full_timings": {"fit_seconds": full.seconds, "single_row_ms": full_single, "batch_ms": full_batch,
                             "batch_rows": len(test)},
            "table": table, "timings": pd.DataFrame(times)}


def artifact(result: dict) -> dict:
    """The deterministic part, for ``feature_cost.json``."""
    out = {k: v for k, v in result.items() if k not in ("table", "timings", "full_timings")}
    out["features"] = result["table"].to_dict("records")
    return out


def timings_artifact(result: dict) -> dict:
    """The wall-clock part, for ``feature_cost_timings.json`` (and ``timings.json``)."""
    return {"full": result["full_timings"], "features": result["timings"].to_dict("records")}


def timing_entries(result: dict) -> dict:
    """``timings.json`` entries: ``feature_cost.<feature>.{fit_seconds,single_row_ms,batch_ms}_added``."""
    out = {f"feature_cost.full.{k}": v for k, v in result["full_timings"].items() if k != "batch_rows"}
    for r in result["timings"].to_dict("records"):
        for k in ("fit_seconds_added", "single_row_ms_added", "batch_ms_added"):
            out[f"feature_cost.{r['feature']}.{k}"] = r[k]
    return out


def cost_check(result: dict | None, evidence=None, skip_reason: str | None = None) -> dict:
    """``model.features.cost``: value = the number of features whose benefit is not above noise while they hold at
    least ``max_size_share`` of the model's size."""
    from playbook import catalogue

    share = result["max_size_share"] if result else None
    thr = {"max": 0, "of": "features without a benefit above noise holding a large share of the model size",
           "size_share": share}
    if result is None:
        return catalogue.skip("model.features.cost", f"Not computed: {skip_reason}.", threshold=thr, evidence=evidence,
                              not_applicable=True)
    t = result["table"]
    flagged = t.loc[t["flagged"], "feature"].tolist()
    noise = int((~t["benefit_above_noise"]).sum())
    hurt = t.loc[t["ci_high"] < 0, "feature"].tolist()
    title = (f"Leave-one-feature-out on {len(t)} of {result['full']['features']} features ({result['metric']}): "
             f"{noise} add no benefit above noise" + (f" ({len(hurt)} make it worse beyond noise)" if hurt else ""))
    if flagged:
        title += (f"; {len(flagged)} of them hold at least {share:.0%} of the model size: "
                  + ", ".join(map(str, flagged[:6])))
    elif len(t):
        top = t.sort_values(["size_share", "feature"], ascending=[False, True]).iloc[0]
        title += f"; the largest size share is {top['size_share']:.1%} ({top['feature']})"
    if result["not_examined"]:
        title += f"; {len(result['not_examined'])} most important features not examined"
    return catalogue.check(
        "model.features.cost", "warn" if flagged else "pass", len(flagged), title=title, threshold=thr,
        evidence=evidence,
        why="Every feature costs model size, training time, scoring latency and an upstream pipeline to keep alive; a "
            "feature whose benefit is within noise while it makes the model much bigger should be dropped.")


__all__ = ["artifact", "candidates", "cost_check", "feature_cost", "timing_entries", "timings_artifact"]
