"""Single-example debugging: take the worst predictions apart, one by one.

For the ``k`` evaluation rows with the largest errors (binary: distance of P(positive) from the truth; multiclass:
1 - P(true class); regression: absolute error; labels only: the wrong decisions first):

* the prediction is **recomputed from the artifact** - the saved skops file of the baseline, or the model file loaded
  again - on that single row, and must equal the one reported in the evaluation (within ``1e-9``);
* a **per-feature local attribution by occlusion**: each feature in turn is replaced by the reference's median
  (numbers) or most frequent value (categories) and the change of the prediction recorded (binary: P(positive);
  multiclass: the probability of the predicted class; regression: the prediction; labels only: 1 when the decision
  changes) - how much this row's own value of the feature moved its prediction;
* for a scikit-learn ``Pipeline``, the **output of each stage** on that row (the encoded features the final estimator
  sees, then its output).

Feature values are shown through :func:`playbook.display.redact` (personal data masked), and stage outputs of a
flagged column are masked too. An example is *explained* when the recomputed prediction equals the reported one and
every attribution and stage could be computed; ``model.debug.examples`` fails when one is not.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from playbook.evaluate.metrics import Scored
from playbook.evaluate.refit import constant_of, max_difference, outputs
from playbook.modeling import ModelAdapter

TOLERANCE = 1e-9
MAX_STAGE_OUTPUTS = 60  # outputs shown per pipeline stage (the count is always given)


def reload(ctx, adapter: ModelAdapter, artifact: str | Path | None = None) -> tuple[ModelAdapter, str]:
    """The model as loaded back from its artifact: the baseline's skops file (``artifact``, else its skops bytes), or
    the configured model file loaded again. Returns ``(adapter, where it came from)``."""
    if adapter.mode == "baseline":
        import skops.io as sio

        from playbook.modeling import dump_bytes

        if artifact is not None and Path(artifact).is_file():
            data, source = Path(artifact).read_bytes(), f"artifacts/{Path(artifact).name}"
        else:
            data, source = dump_bytes(adapter.estimator), "the baseline serialised with skops"
        loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
        return replace(adapter, estimator=loaded), source
    if adapter.mode == "file":
        from playbook.modeling import load_model_file

        est, info = load_model_file(ctx.model.path, ctx.model.trusted_types, ctx.model.allow_pickle)
        return replace(adapter, estimator=est), f"the model file {info['file']} loaded again"
    raise ValueError("predictions mode has no model artifact to reload")


def errors(s: Scored) -> np.ndarray:
    """How wrong each evaluated row is (larger = worse), on the model's own scale."""
    if s.task == "regression":
        return np.abs(np.asarray(s.pred, dtype=float) - np.asarray(s.y, dtype=float))
    if s.proba is not None:
        if s.task == "binary":
            return np.abs(s.y_bin - s.p_pos)
        return 1.0 - s.proba[np.arange(len(s)), s.y_index]
    return np.array([str(p) != str(y) for p, y in zip(s.pred, s.y)], dtype=float)


def _quantity(adapter: ModelAdapter, out: np.ndarray, reference_row: np.ndarray) -> np.ndarray:
    """The number an attribution explains, for each output row (see the module docstring)."""
    if adapter.task == "regression":
        return np.asarray(out, dtype=float)
    if adapter.has_proba:
        if adapter.task == "binary":
            return out[:, [str(c) for c in adapter.classes_].index(str(adapter.positive_label))]
        return out[:, int(np.argmax(reference_row))]
    return (np.asarray(out) != reference_row).astype(float)


def _what(adapter: ModelAdapter) -> str:
    if adapter.task == "regression":
        return "prediction"
    if adapter.has_proba:
        return f"P({adapter.positive_label})" if adapter.task == "binary" else "probability of the predicted class"
    return "decision changed (1) or not (0)"


def _masked_names(flagged: set[str]):
    def hit(name: str) -> str | None:
        for c in flagged:
            if name == c or name.startswith(f"{c}_"):
                return c
        return None
    return hit


def stages(adapter: ModelAdapter, row: pd.DataFrame, flagged: set[str] = frozenset()) -> list[dict] | None:
    """The output of each step of a scikit-learn Pipeline on one row (None when the model is not a Pipeline)."""
    from sklearn.pipeline import Pipeline

    from playbook.modeling import single_thread

    pipe = adapter.estimator
    if not isinstance(pipe, Pipeline):
        return None
    hit = _masked_names(set(flagged))
    Xp = adapter.prepare(row)
    out = []
    with single_thread():
        for i in range(1, len(pipe.steps)):
            name, step = pipe.steps[i - 1]
            Xt = pipe[:i].transform(Xp)
            if hasattr(Xt, "toarray"):
                Xt = Xt.toarray()
            if isinstance(Xt, pd.DataFrame):
                names, values = [str(c) for c in Xt.columns], Xt.iloc[0].tolist()
            else:
                arr = np.asarray(Xt)
                values = arr[0].tolist() if arr.ndim == 2 else arr.tolist()
                try:
                    names = [str(n) for n in pipe[:i].get_feature_names_out()]
                except Exception:  # noqa: BLE001 - a step without feature names
                    names = [f"x{j}" for j in range(len(values))]
            shown = {}
            for n, v in list(zip(names, values))[:MAX_STAGE_OUTPUTS]:
                col = hit(n)
                shown[f"{col}_***" if col and n != col else n] = "***" if col else v
            out.append({"stage": name, "step": type(step).__name__, "outputs": len(values), "values": shown})
    last_name, last = pipe.steps[-1]
    out.append({"stage": last_name, "step": type(last).__name__, "outputs": None, "values": None})
    return out


def debug_examples(adapter: ModelAdapter, reloaded: ModelAdapter, frame: pd.DataFrame, s: Scored,
                   reference: pd.DataFrame, *, k: int = 5, ctx=None, source: str = "the artifact") -> dict:
    """``{examples: [...], explained, k, quantity, source}``; each example: ``{position, error, truth, reported,
    recomputed, identical, max_abs_difference, features (redacted), attribution: [{feature, value, reference,
    change}], stages, explained, problems}``."""
    from playbook.display import pii_columns, redact

    feats = list(adapter.features)
    X = frame[feats]
    err = errors(s)
    order = [int(i) for i in np.argsort(-err, kind="stable")[:k]]
    fill = {c: constant_of(reference[c]) for c in feats if c in reference.columns}
    allow = bool(getattr(getattr(ctx, "policy", None), "allow_raw_pii", False))
    flagged = set() if allow else set(pii_columns(reference[[c for c in feats if c in reference.columns]], ctx))
    ref_shown = redact(pd.DataFrame([fill], columns=list(fill)), ctx).iloc[0].to_dict() if fill else {}
    examples = []
    for pos in order:
        row = X.iloc[[pos]]
        problems = []
        numeric = s.proba is not None or s.task == "regression"
        if s.proba is not None:
            reported = np.asarray(s.proba[pos], dtype=float)
        elif numeric:
            reported = np.asarray([s.pred[pos]], dtype=float)
        else:
            reported = np.asarray([str(s.pred[pos])], dtype=object)
        try:
            rec = outputs(reloaded, row)[0]
            rec = np.atleast_1d(np.asarray(rec, dtype=float) if numeric else np.asarray([str(rec)], dtype=object))
            d = max_difference(rec, reported)
            identical = bool(d <= TOLERANCE) if reported.dtype.kind in "fc" else bool(d == 0)
            if not identical:
                problems.append(f"recomputed from {source} it differs from the reported prediction by {d:.3g}")
        except Exception as exc:  # noqa: BLE001 - the finding
            rec, d, identical = None, float("inf"), False
            problems.append(f"recomputing from {source} raised {type(exc).__name__}: {str(exc)[:160]}")
        attribution = []
        try:
            own = outputs(adapter, row)
            variants = pd.concat([row] * len(feats), ignore_index=True)
            for j, c in enumerate(feats):
                if c in fill:
                    if isinstance(variants[c].dtype, pd.CategoricalDtype):
                        variants[c] = variants[c].astype(object)
                    if variants[c].dtype.kind in "iub" and isinstance(fill[c], float):
                        variants[c] = variants[c].astype(float)
                    variants.iloc[j, variants.columns.get_loc(c)] = fill[c]
            q0 = _quantity(adapter, own, own[0])[0]
            q = _quantity(adapter, outputs(adapter, variants), own[0])
            shown = redact(row, ctx).iloc[0].to_dict()
            for j, c in enumerate(feats):
                change = float(q0 - q[j]) if c in fill else float("nan")
                attribution.append({"feature": c, "value": shown.get(c), "reference": ref_shown.get(c),
                                    "change": change})
            if not all(np.isfinite(a["change"]) for a in attribution if a["feature"] in fill):
                problems.append("an occlusion gave a non-finite prediction")
            attribution.sort(key=lambda a: (-abs(a["change"]) if np.isfinite(a["change"]) else 0.0, a["feature"]))
        except Exception as exc:  # noqa: BLE001
            problems.append(f"occlusion failed: {type(exc).__name__}: {str(exc)[:160]}")
        try:
            st = stages(adapter, row, flagged)
            if st is not None:
                st[-1]["values"] = {"output": None if rec is None else np.asarray(rec).tolist()}
        except Exception as exc:  # noqa: BLE001
            st = None
            problems.append(f"a pipeline stage failed: {type(exc).__name__}: {str(exc)[:160]}")
        examples.append({
            "position": pos, "error": float(err[pos]),
            "truth": str(s.y[pos]) if s.task != "regression" else float(s.y[pos]),
            "reported": reported.tolist(), "recomputed": None if rec is None else np.asarray(rec).tolist(),
            "identical": identical, "max_abs_difference": d, "attribution": attribution, "stages": st,
            "explained": not problems, "problems": problems})
    return {"k": len(examples), "quantity": _what(adapter), "source": source, "tolerance": TOLERANCE,
            "occlusion_values": "median (numbers) or most frequent value (categories) of the reference data",
            "explained": sum(e["explained"] for e in examples), "examples": examples}


def debug_check(result: dict | None, evidence=None, skip_reason: str | None = None) -> dict:
    """``model.debug.examples``: value = the number of examples that could not be explained."""
    from playbook import catalogue

    thr = {"max": 0, "of": "worst examples that could not be explained"}
    if result is None:
        return catalogue.skip("model.debug.examples", f"Not computed: {skip_reason}.", threshold=thr,
                              evidence=evidence, not_applicable=True)
    bad = [e for e in result["examples"] if not e["explained"]]
    n = result["k"]
    stages_n = next((len(e["stages"]) for e in result["examples"] if e.get("stages")), 0)
    title = (f"{n - len(bad)} of {n} largest-error examples explained: prediction recomputed from {result['source']}, "
             f"occlusion attribution per feature" + (f", {stages_n} pipeline stages" if stages_n else ""))
    if bad:
        title += "; not explained: " + "; ".join(f"row {e['position']}: {e['problems'][0]}" for e in bad[:3])
    return catalogue.check(
        "model.debug.examples", "fail" if bad or not n else "pass", len(bad), title=title, threshold=thr,
        evidence=evidence,
        why="When a prediction is wrong someone must be able to recompute it from the saved model and see which "
            "feature and which pipeline stage drove it; a prediction that cannot be reproduced from the artifact "
            "cannot be debugged at all.")


__all__ = ["debug_check", "debug_examples", "errors", "reload", "stages"]
