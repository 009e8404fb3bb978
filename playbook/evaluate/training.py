"""Training reproducibility: training twice with the same seed gives the same model, and other seeds give a
measured spread.

The training procedure (:class:`playbook.evaluate.refit.Trainer`: the baseline, or a clone of a model file's
estimator) is run twice as it is configured, on the same rows; both models must give identical outputs (class
probabilities, or predictions) on the evaluation rows, to the last bit. Then it is trained with a few other seeds and
the spread of the primary metric over seeds is recorded: how much of a metric difference between two models is
only the luck of the seed. A model file whose estimator leaves ``random_state`` unset is not reproducible: set it.

This is what the ML Test Score's "training is reproducible" asks; ``model.reproducible`` (same rows scored twice,
and the saved artifact loaded back) is inference determinism.
"""

from __future__ import annotations

import numpy as np

from playbook.evaluate.refit import MetricOn, Trainer, max_difference, outputs, primary_metric, scored


def training_reproducibility(tr: Trainer, *, n_seeds: int = 3, threshold: float = 0.5) -> dict:
    """``{identical, max_abs_difference, metric, value, seeds: [{seed, value}], spread_sd, spread_range,
    seed_parameters, configured_seed, where}`` and ``fit_seconds`` (wall-clock, for timings.json only)."""
    X = tr.test
    first = tr.fit()
    second = tr.fit()
    d = max_difference(outputs(first.adapter, X), outputs(second.adapter, X))
    metric = primary_metric(tr.adapter)
    value = MetricOn(metric, scored(first, X, tr.target, threshold))()
    keys = tr.seed_parameters()
    if tr.is_baseline:
        configured = tr.seed
    else:
        params = tr.adapter.estimator.get_params(deep=True)
        configured = {k: params[k] for k in keys} or None
    seeds = [{"seed": "as configured", "value": value}]
    seconds = [first.seconds, second.seconds]
    for i in range(1, int(n_seeds) + 1):
        s = tr.seed + 1000 * i
        f = tr.fit(seed=s)
        seconds.append(f.seconds)
        seeds.append({"seed": s, "value": MetricOn(metric, scored(f, X, tr.target, threshold))()})
    vals = np.array([r["value"] for r in seeds], dtype=float)
    vals = vals[np.isfinite(vals)]
    return {
        "identical": bool(d == 0), "max_abs_difference": d, "metric": metric, "value": value, "seeds": seeds,
        "spread_sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan"),
        "spread_range": float(vals.max() - vals.min()) if len(vals) else float("nan"),
        "seed_parameters": keys, "configured_seed": configured, "where": tr.where, "fit_seconds": seconds,
    }


def training_check(result: dict | None, evidence=None, skip_reason: str | None = None) -> dict:
    """``model.training_reproducible``: value 1 when two trainings with the same seed give different outputs."""
    from playbook import catalogue

    thr = {"max": 0, "of": "same-seed trainings whose outputs differ"}
    if result is None:
        return catalogue.skip("model.training_reproducible", f"Not computed: {skip_reason}.", threshold=thr,
                              evidence=evidence, not_applicable=True)
    metric = result["metric"]
    n = len(result["seeds"])
    if n < 2:
        spread = ""
    elif result["spread_range"] == 0:
        spread = f"; {n} seeds give the same {metric} (the seed changes nothing in this training)"
    else:
        spread = f"; over {n} seeds {metric} spans {result['spread_range']:.3g} (sd {result['spread_sd']:.3g})"
    if result["identical"]:
        title = "Training twice with the same seed gives identical outputs" + spread
        why = ("Training can be repeated to the last bit, so this model can be rebuilt, audited and rolled back; the "
               "spread over seeds is how much of a metric difference between two trainings is only the seed's luck.")
        if not result["seed_parameters"]:
            why += " The model has no random_state parameter: a seed controls nothing in its training."
    else:
        title = (f"Training twice with the same seed gives different outputs (by up to "
                 f"{result['max_abs_difference']:.3g})" + spread)
        cfg = result["configured_seed"]
        unset = [k for k, v in cfg.items() if v is None] if isinstance(cfg, dict) else []
        fix = (f"set {', '.join(unset)} to a fixed number" if unset
               else "find the randomness that no seed controls in the training code")
        why = f"Two trainings of the same procedure on the same rows disagree, so nobody can rebuild this model: {fix}."
    return catalogue.check("model.training_reproducible", "pass" if result["identical"] else "fail",
                           0 if result["identical"] else 1, title=title, threshold=thr, evidence=evidence, why=why)


__all__ = ["training_check", "training_reproducibility"]
