"""Compare two evidence packs: what changed, which checks flipped, metric deltas with paired (or unpaired)
bootstrap CIs, and the promotion recommendation (promote / hold / roll back) under ``policy.promotion``.

``playbook compare OLD NEW`` (:func:`compare_packs`, then :func:`write`) verifies both packs first; ``playbook run
--previous PACK`` makes the review step compare the pack being built with PACK (:func:`build` over
:func:`diff.load` and :func:`diff.building`) and files ``compare.json`` / ``compare.html`` in the new pack.

* :mod:`playbook.compare.diff`: reading a pack (:class:`PackView`), what changed, flips, gates, fairness;
* :mod:`playbook.compare.paired`: the bootstrap CIs of the deltas;
* :mod:`playbook.compare.policy`: the recommendation;
* :mod:`playbook.compare.page`: compare.html.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from playbook.compare import diff, paired, policy
from playbook.compare.diff import CompareError, PackView, building, load

JSON, HTML = "compare.json", "compare.html"
SCHEMA_VERSION = 1
EXIT = {"promote": 0, "hold": 1, "roll back": 1}


def _scored(v: PackView, df=None):
    from playbook.evaluate import predictions

    return predictions.scored(v.predictions if df is None else df, v.task, v.positive_label, v.threshold or 0.5)


def _business(v_old: PackView, v_new: PackView, old_df, new_df, pair: bool, pol: dict, seed: int) -> dict | None:
    """Value per day of both models' decisions under the new pack's costs (binary, labels stored)."""
    from playbook.evaluate.business import costs_of

    if v_new.task != "binary" or old_df is None or "pred" not in old_df or "pred" not in new_df:
        return None
    pos_old, pos_new = str(v_old.positive_label), str(v_new.positive_label)
    costs = costs_of((v_new.config or {}).get("business") or {})
    y_o = (old_df["y"].astype(str) == pos_old).to_numpy(int)
    y_n = (new_df["y"].astype(str) == pos_new).to_numpy(int)
    f_o = (old_df["pred"].astype(str) == pos_old).to_numpy(int)
    f_n = (new_df["pred"].astype(str) == pos_new).to_numpy(int)
    return paired.value_deltas(y_o, f_o, y_n, f_n, costs, paired=pair, n_boot=pol["n_bootstrap"], seed=seed,
                               confidence=pol["confidence"])


def deltas(old: PackView, new: PackView, pol: dict, seed: int = 0) -> tuple[dict, dict, dict | None]:
    """``(deltas, pairing, business)``: paired when both packs stored predictions on the same rows, unpaired when
    they stored predictions on different rows, else approximated from the packs' own CIs."""
    if old.task != new.task:
        return {}, {"kind": "none", "why": f"the packs have different tasks ({old.task}, {new.task}): their metrics "
                                           "do not compare"}, None
    kw = {"n_boot": pol["n_bootstrap"], "seed": seed, "confidence": pol["confidence"]}
    if old.predictions is not None and new.predictions is not None:
        aligned = paired.align(old.predictions, new.predictions)
        if aligned is not None:
            a, b = aligned
            same_truth = bool(np.array_equal(a["y"].astype(str).to_numpy(), b["y"].astype(str).to_numpy()))
            if same_truth:
                out = paired.paired_deltas(_scored(old, a), _scored(new, b), **kw)
                why = (f"Both packs scored the same {len(a)} rows (the same row fingerprints): every resample scores "
                       f"both models on the same rows ({pol['n_bootstrap']} paired bootstrap resamples).")
                return out, {"kind": paired.PAIRED, "rows": len(a), "why": why}, _business(old, new, a, b, True, pol, seed)
        out = paired.unpaired_deltas(_scored(old), _scored(new), **kw)
        why = (f"The packs scored different rows ({len(old.predictions)} and {len(new.predictions)}; their row "
               "fingerprints differ): each pack's rows are resampled on their own, an unpaired interval, wider than "
               "a paired one.")
        return out, {"kind": paired.UNPAIRED, "rows": {"old": len(old.predictions), "new": len(new.predictions)},
                     "why": why}, _business(old, new, old.predictions, new.predictions, False, pol, seed)
    missing = [v.name for v in (old, new) if v.predictions is None]
    out = paired.approximate_deltas(old.metrics, new.metrics)
    why = (f"{' and '.join(missing)} stored no per-row predictions (an older playbook, or no evaluation step): the "
           "delta's interval is approximated from the two packs' own CIs (unpaired).")
    return out, {"kind": paired.APPROXIMATE, "why": why}, None


def build(old: PackView, new: PackView, promotion: dict | None = None) -> dict:
    """The comparison as one JSON-ready dict (see README "Compare two packs"); ``promotion`` overrides the new pack's
    ``policy.promotion``. Deterministic: the same packs give the same dict (seeded with the new pack's seed)."""
    from playbook.metrics import primary

    cfg_policy = ((new.config or {}).get("policy") or {}).get("promotion") or {}
    pol = policy.settings({**cfg_policy, **(promotion or {})})
    seed = int((new.config or {}).get("seed") or 0)
    metric = pol["metric"] or primary(new.task or "binary")
    d, pairing, business = deltas(old, new, pol, seed)
    comparison = {
        "schema_version": SCHEMA_VERSION, "old": old.summary(), "new": new.summary(),
        "changed": diff.what_changed(old, new), "flips": diff.flips(old, new), "gates": diff.gate_changes(old, new),
        "metric": metric, "pairing": pairing, "deltas": d, "business": business,
        "fairness": diff.fairness(old, new),
    }
    comparison.update(policy.recommend(comparison, pol))
    comparison["exit_code"] = EXIT[comparison["recommendation"]]
    return comparison


def compare_packs(old: str | Path, new: str | Path, promotion: dict | None = None) -> dict:
    """Verify and read both packs, then :func:`build`. Raises :class:`CompareError` on bad input."""
    return build(load(old), load(new), promotion)


def write(comparison: dict, folder: str | Path) -> tuple[Path, Path]:
    """``compare.json`` (deterministic: sorted keys, rounded floats) and ``compare.html`` into ``folder``."""
    from playbook.compare import page
    from playbook.results import to_jsonable, write_json_atomic, write_text_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = to_jsonable(comparison)
    write_json_atomic(folder / JSON, data)
    write_text_atomic(folder / HTML, page.render(data))
    return folder / JSON, folder / HTML


def check(comparison: dict, evidence=None) -> dict:
    """``review.compare.previous``: pass on promote, warn on hold, fail on roll back."""
    from playbook import catalogue

    rec = comparison["recommendation"]
    status = {"promote": "pass", "hold": "warn", "roll back": "fail"}[rec]
    worse = [r["text"] for r in comparison["reasons"] if r["outcome"] != "ok"]
    d = comparison["deltas"].get(comparison["metric"]) or {}
    return catalogue.check(
        "review.compare.previous", status,
        {"recommendation": rec, "metric": comparison["metric"], "delta": d.get("delta"),
         "delta_ci": [d.get("ci_low"), d.get("ci_high")], "pairing": comparison["pairing"]["kind"], "flips": len(comparison["flips"]),
         "new_blocking_failures": len(comparison["gates"]["new_blocking_failures"])},
        title=f"Compared with the previous pack {comparison['old']['name']}: {rec}",
        threshold={"recommendation": "promote"}, evidence=evidence,
        why=("; ".join(worse) if worse else "No new blocking failure, the primary metric and the business value are "
             "not worse beyond their CIs, and no fairness gap grew past its bound (policy.promotion).") + ".")


__all__ = ["CompareError", "EXIT", "HTML", "JSON", "PackView", "build", "building", "check", "compare_packs",
           "deltas", "load", "write"]


def against_previous(ctx, step, checks: list[dict], verdict: dict):
    """The review step's comparison with ``ctx.config.previous`` (``playbook run --previous PACK``): writes
    ``compare.json`` and ``compare.html`` into the step's artifacts and records ``review.compare.previous``.
    Returns the reasons as a table, or why nothing was compared."""
    import pandas as pd

    from playbook import catalogue

    prev = getattr(ctx.config, "previous", None)
    if not prev:
        why = "no previous pack is given (`playbook run --previous PACK`)"
        step.add_checks([catalogue.skip("review.compare.previous", why.capitalize() + ".", not_applicable=True)])
        return why
    if not ctx.pack_dir:
        why = "the comparison with the previous pack runs inside `playbook run` (it reads the pack being built)"
        step.add_checks([catalogue.skip("review.compare.previous", why.capitalize() + ".")])
        return why
    try:
        comparison = build(load(prev), building(ctx.pack_dir, ctx, checks, verdict))
    except CompareError as exc:
        step.add_checks([catalogue.skip("review.compare.previous", f"The previous pack could not be read: {exc}")])
        return str(exc)
    write(comparison, step.artifacts_dir)
    step.add_checks([check(comparison, evidence=[step.link(HTML), step.link(JSON)])])
    step.summary("comparison", {"previous": comparison["old"]["name"], "recommendation": comparison["recommendation"],
                                "pairing": comparison["pairing"]["kind"], "html": step.link(HTML)})
    print(f"compared with {comparison['old']['name']}: {comparison['recommendation'].upper()} "
          f"({comparison['pairing']['kind']})")
    return pd.DataFrame(comparison["reasons"], columns=["criterion", "outcome", "text"])
