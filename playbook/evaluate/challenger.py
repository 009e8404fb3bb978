"""Champion and challenger in one pack: a second model (``model.challenger``) judged on the same rows as the model
under review, with the paired comparison of ``playbook compare`` and its promotion recommendation.

The model under review is the **champion** (what the pack is about; its checks decide the verdict). The challenger
comes as a model file (``{path: FILE}``, loaded with skops' type check like ``model.path``), as the playbook's
baseline (``{train: baseline}``) or as its outputs in the data (``{prediction: COL, probability: COL}``). Both score
the evaluation rows; :func:`compare` gives the paired bootstrap CI of every metric's delta (challenger - champion,
:func:`playbook.compare.paired.paired_deltas`: each resample scores both on the same rows), the business value per
day of both models' decisions under the pack's costs, each fairness gap of both against its bound, and the
recommendation of :func:`playbook.compare.policy.recommend` under ``policy.promotion``: **promote** the challenger,
**hold**, or **roll back** (keep the champion). One thing a single pack cannot tell is whether the challenger would
pass its own blocking gates (drift rehearsal, serving, governance): the recommendation says so, and a pack of the
challenger answers it (then ``playbook compare``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd


class _WithModel:
    """The context with another model configuration (``get_model`` then loads the challenger); it records nothing
    as the model used (the pack's record is the champion's)."""

    use_model = None

    def __init__(self, ctx, model):
        self._ctx = ctx
        self.model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def load(ctx):
    """The challenger as a :class:`playbook.modeling.ModelAdapter` (mode ``file``, ``baseline`` or
    ``predictions``); :class:`playbook.modeling.ModelError` (one sentence) when it cannot be brought."""
    from playbook import modeling

    spec = dict(ctx.config.model.challenger or {})
    if spec.get("prediction") or spec.get("probability"):
        for col in [spec.get("prediction"), *(spec.get("probability") or [])]:
            if col and (col not in ctx.reference.columns or col not in ctx.current.columns):
                raise modeling.ModelError(f"model.challenger: column {col!r} is not in both datasets; name the "
                                          "column that holds the challenger's output.")
        return modeling.predictions_adapter(ctx, spec.get("prediction"), spec.get("probability"))
    settings = replace(ctx.config.model, path=spec.get("path"), trusted_types=list(spec.get("trusted_types") or []),
                       allow_pickle=bool(spec.get("allow_pickle")), train=spec.get("train"), endpoint=None,
                       token_env=None, challenger=None)
    try:
        return modeling.get_model(_WithModel(ctx, settings))
    except modeling.ModelError as exc:
        raise modeling.ModelError(str(exc).replace("model.path", "model.challenger.path", 1)) from None


def _fairness(ctx, frame: pd.DataFrame, champion, challenger, *, limits: dict, min_group_size: int, n_bins: int,
              n_boot: int) -> list[dict]:
    """Each fairness gap of both models against the bound in force: ``[{id, old, new, bound, grown_past_bound}]``."""
    from playbook.compare.diff import fairness_gaps
    from playbook.data import is_numeric
    from playbook.evaluate import fairness as fair

    out = []
    for col in ctx.roles.sensitive or []:
        by_model = []
        for s in (champion, challenger):
            res = fair.fairness(frame, s, col, is_numeric(ctx.reference[col]), min_group_size=min_group_size,
                                n_bins=n_bins, n_boot=n_boot, seed=ctx.seed)
            in_force = {n: ctx.limit(f"model.fairness.{fair.safe_id(col)}.{n}", "max", d) for n, d in limits.items()}
            by_model.append({c["id"]: c for c in fair.fairness_checks(res, in_force)})
        # playbook compare's rule: fails its bound now, and larger than before or new
        out += [{k: g[k] for k in ("id", "old", "new", "bound", "grown_past_bound")} for g in fairness_gaps(*by_model)]
    return out


def compare(ctx, ev, challenger, *, limits: dict, min_group_size: int = 30, n_bins: int = 4,
            n_boot: int | None = None) -> dict:
    """Champion (``ev``, the evaluation of the model under review) against ``challenger`` on the same rows: a
    comparison in ``playbook compare``'s form (``deltas``, ``pairing``, ``business``, ``fairness``,
    ``recommendation``, ``reasons``), JSON-ready and deterministic (seeded with the pack's seed)."""
    from playbook.compare import paired, policy
    from playbook.evaluate.business import costs_of
    from playbook.evaluate.metrics import score
    from playbook.metrics import primary

    pol = policy.settings(getattr(ctx.config.policy, "promotion", None) or {})
    if n_boot is not None:
        pol = {**pol, "n_bootstrap": int(n_boot)}
    frame, old, note = ev.frame, ev.scored, ""
    if challenger.mode == "baseline" and ev.evaluated_on == "reference":
        # without labelled current rows the champion is judged on the whole reference; a baseline challenger was
        # fitted on most of it: both are compared on the held-out evaluation rows only (never the fitted ones)
        from playbook import holdout

        frame = ev.frame.loc[ev.frame.index.isin(holdout.split(ctx).evaluation)]
        old = score(ev.adapter, frame, ctx.target, ev.threshold)
        note = (" (the held-out evaluation rows of the reference only: the baseline challenger was fitted on the "
                "others)")
    new = score(challenger, frame, ctx.target, ev.threshold)
    kw = {"n_boot": pol["n_bootstrap"], "seed": int(ctx.seed), "confidence": pol["confidence"]}
    deltas = paired.paired_deltas(old, new, **kw)
    business = None
    if ctx.task == "binary" and old.pred is not None and new.pred is not None:
        pos = str(ctx.positive_label)
        y = (pd.Series(old.y).astype(str) == pos).to_numpy(int)
        f_old = (pd.Series(old.pred).astype(str) == pos).to_numpy(int)
        f_new = (pd.Series(new.pred).astype(str) == pos).to_numpy(int)
        business = paired.value_deltas(y, f_old, y, f_new, costs_of(ctx.business), paired=True, **kw)
    fairness = _fairness(ctx, frame, old, new, limits=limits, min_group_size=min_group_size, n_bins=n_bins,
                         n_boot=min(200, pol["n_bootstrap"]))
    comparison = {
        "champion": {"mode": ev.adapter.mode, "sha256": ev.adapter.info.get("sha256")},
        "challenger": {"mode": challenger.mode, "sha256": challenger.info.get("sha256"),
                       "estimator": challenger.info.get("estimator")},
        "metric": pol["metric"] or primary(ctx.task),
        "pairing": {"kind": paired.PAIRED, "rows": int(len(frame)),
                    "why": f"Both models scored the same {len(frame)} evaluation rows{note}: every one of the "
                           f"{pol['n_bootstrap']} resamples scores both on the same rows."},
        "deltas": deltas, "business": business, "fairness": fairness,
        # one pack judges the challenger's metrics, not its own drift rehearsal, serving or governance gates
        "gates": {"new_blocking_failures": [], "unknown": None},
    }
    comparison.update(policy.recommend(comparison, pol))
    for r in comparison["reasons"]:
        if r["criterion"] == "no_new_blocking_failure":
            r["outcome"] = "not assessed"
            r["text"] = ("the challenger's own blocking gates (drift rehearsal, serving, governance) are not run in "
                         "this pack: build a pack of it and `playbook compare` the two before it goes live")
    return comparison


def check(comparison: dict | None, evidence=None, skip_reason: str | None = None) -> dict:
    """``model.challenger``: pass on promote, warn on hold, fail on roll back (the champion stays); a report."""
    from playbook import catalogue

    if comparison is None:
        return catalogue.skip("model.challenger", f"Not computed: {skip_reason}.", not_applicable=True)
    rec = comparison["recommendation"]
    status = {"promote": "pass", "hold": "warn", "roll back": "fail"}[rec]
    metric = comparison["metric"]
    d = comparison["deltas"].get(metric) or {}
    what = {"promote": "promote the challenger", "hold": "hold: the evidence does not decide",
            "roll back": "keep the champion: the challenger is worse"}[rec]
    title = (f"Challenger vs champion on the same {comparison['pairing']['rows']} rows: {what}"
             + (f" ({metric} {d['delta']:+.4g}, 95% CI {d['ci_low']:+.4g} to {d['ci_high']:+.4g})"
                if d.get("delta") is not None and d.get("ci_low") is not None else ""))
    why = "; ".join(f"[{r['outcome']}] {r['text']}" for r in comparison["reasons"])
    return catalogue.check("model.challenger", status, rec, title=title, evidence=evidence, why=why,
                           threshold={"policy": "policy.promotion"},
                           details=[{k: v for k, v in r.items()} for r in comparison["reasons"]])


def table(comparison: dict) -> pd.DataFrame:
    """The metric deltas as a table for the notebook."""
    rows = [{"metric": m, "champion": d.get("old"), "challenger": d.get("new"), "delta": d.get("delta"),
             "ci_low": d.get("ci_low"), "ci_high": d.get("ci_high")} for m, d in sorted(comparison["deltas"].items())]
    b = comparison.get("business")
    if b:
        rows.append({"metric": f"value per day ({b.get('currency') or ''})", "champion": b["old"],
                     "challenger": b["new"], "delta": b["delta"], "ci_low": b["ci_low"], "ci_high": b["ci_high"]})
    return pd.DataFrame(rows, columns=["metric", "champion", "challenger", "delta", "ci_low", "ci_high"])


__all__ = ["check", "compare", "load", "table"]
