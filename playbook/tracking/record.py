"""What an MLflow run of a pack holds, read from the finished pack alone: pure functions, no MLflow import.

- :func:`params_from_config`: the resolved ``config.yaml`` flattened to dotted keys (``data.target``,
  ``steps.drift_simulation.params.trials``), each value as text (a list or an empty mapping as compact JSON).
- :func:`metrics_from_pack`: every numeric check value under its check id (``model.roc_auc``), its 95 % interval as
  ``<id>.ci_low`` / ``<id>.ci_high``, and every numeric step metric under ``<step>/<name>`` (nested values by their
  path, an interval the same way). Text, ``None`` and the structured values of checks stay in the pack's JSON.
- :func:`tags_from_pack`: the verdict, the ML Test Score, the pack digest (and signature key id), the model's mode
  and sha256, the playbook version.
- :func:`signature_columns`: the model's input columns with the MLflow type each one takes, from the pack's data
  contract, and the output's type from the contract's target column.

Keys are made valid MLflow names (letters, digits, ``_ - . : /`` and spaces, at most 250 characters): any other
character becomes ``_``, and a key that would then collide with another gets ``_2``, ``_3``, ... (deterministic:
keys are taken in sorted order). Values longer than MLflow allows are cut, with a marker.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, Iterable

MAX_KEY = 250          # mlflow.utils.validation.MAX_ENTITY_KEY_LENGTH
MAX_PARAM_VALUE = 6000  # MAX_PARAM_VAL_LENGTH
MAX_TAG_VALUE = 8000    # MAX_TAG_VAL_LENGTH
CUT = " ... (cut; the whole value is in the pack's artifacts)"
TAG = "playbook."      # prefix of every tag the playbook sets

_BAD = re.compile(r"[^\w.\- :]")


def clean_key(key: str) -> str:
    """``key`` as a valid MLflow param / metric / tag name (no slash: callers join parts with ``/`` themselves)."""
    k = _BAD.sub("_", str(key)).strip() or "_"
    if len(k) > MAX_KEY:
        k = k[: MAX_KEY - 9] + "_" + hashlib.sha256(str(key).encode()).hexdigest()[:8]
    return k


def unique_keys(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """``{key: value}`` in sorted order of the original keys; a key met twice after cleaning gets ``_2``, ..."""
    out: dict[str, Any] = {}
    for key, value in sorted(pairs, key=lambda kv: kv[0]):
        k, n = key, 2
        while k in out:
            k = f"{key[: MAX_KEY - 4]}_{n}"
            n += 1
        out[k] = value
    return out


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(CUT)] + CUT


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Leaves of nested mappings as ``(dotted.key, value)``; lists and empty mappings are leaves."""
    if isinstance(obj, dict) and obj:
        out = []
        for k, v in obj.items():
            out += flatten(v, f"{prefix}.{clean_key(k)}" if prefix else clean_key(k))
        return out
    return [(prefix, obj)]


def params_from_config(config: dict) -> dict[str, str]:
    """The resolved config as MLflow params (see the module docstring)."""
    return unique_keys((k, _cut(_text(v), MAX_PARAM_VALUE)) for k, v in flatten(config) if k)


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and math.isfinite(float(v)):
        return float(v)
    return None


def _ci(ci: Any) -> tuple[float, float] | None:
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        lo, hi = _number(ci[0]), _number(ci[1])
        if lo is not None and hi is not None:
            return lo, hi
    return None


def _numeric_leaves(obj: Any, prefix: str) -> list[tuple[str, float]]:
    """Numbers of a step metric: the value itself, nested numbers by path, an interval as ``ci_low`` / ``ci_high``."""
    n = _number(obj)
    if n is not None:
        return [(prefix, n)]
    out: list[tuple[str, float]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = f"{prefix}.{clean_key(k)}"
            bounds = _ci(v) if k == "ci" else None
            if bounds is not None:
                out += [(f"{prefix}.ci_low", bounds[0]), (f"{prefix}.ci_high", bounds[1])]
            elif isinstance(v, (dict, bool, int, float)):
                out += _numeric_leaves(v, key)
    return out


def metrics_from_pack(checks: list[dict], step_metrics: dict[str, dict]) -> dict[str, float]:
    """MLflow metrics of a pack: ``checks`` as summary.json lists them, ``step_metrics`` {step name: results.json
    ``metrics``} (see the module docstring)."""
    pairs: list[tuple[str, float]] = []
    for c in checks:
        cid = clean_key(c.get("id", ""))
        value = _number(c.get("value"))
        if value is not None:
            pairs.append((cid, value))
        bounds = _ci(c.get("ci"))
        if bounds is not None:
            pairs += [(f"{cid}.ci_low", bounds[0]), (f"{cid}.ci_high", bounds[1])]
    for step, metrics in sorted(step_metrics.items()):
        for name, value in sorted((metrics or {}).items()):
            pairs += _numeric_leaves(value, f"{clean_key(step)}/{clean_key(name)}")
    return unique_keys(pairs)


def tags_from_pack(summary: dict, manifest: dict, preflight: dict) -> dict[str, str]:
    """The run's ``playbook.*`` tags."""
    mts = summary.get("ml_test_score") or {}
    counts = mts.get("counts") or {}
    digest = (manifest.get("digest") or {}).get("value") if isinstance(manifest.get("digest"), dict) else manifest.get("digest")
    model = preflight.get("model") or {}
    tags = {
        "verdict": summary.get("verdict"),
        "exit_code": summary.get("exit_code"),
        "pack_name": summary.get("pack"),
        "pack_digest": digest,
        "ml_test_score": mts.get("final"),
        "ml_test_score.automated": counts.get("automated"),
        "ml_test_score.manual": counts.get("manual"),
        "ml_test_score.missing": counts.get("missing"),
        "partial": summary.get("partial"),
        "task": summary.get("task"),
        "target": summary.get("target"),
        "playbook_version": summary.get("playbook_version"),
        "model.mode": model.get("mode"),
        "model.sha256": model.get("sha256"),
        "model.estimator": model.get("estimator"),
        "signature_key_id": (manifest.get("signature") or {}).get("key_id"),
    }
    for reason in summary.get("reasons") or []:
        tags.setdefault("reasons", "")
        tags["reasons"] += ("; " if tags["reasons"] else "") + str(reason.get("text", reason))
    return {TAG + k: _cut(_text(v), MAX_TAG_VALUE) for k, v in tags.items() if v is not None and v != ""}


def digest_of(manifest: dict) -> str | None:
    d = manifest.get("digest")
    return d.get("value") if isinstance(d, dict) else d


_TARGET_TYPES = {"bool": "boolean", "int": "long", "uint": "long", "float": "double"}


def _dtype_type(dtype: str) -> str:
    return next((t for p, t in _TARGET_TYPES.items() if dtype.startswith(p)), "string")


def signature_columns(contract: dict, features: list[str], numeric: Iterable[str], *, baseline: bool = True
                      ) -> tuple[list[tuple[str, str]], str | None]:
    """``([(column, mlflow type), ...] in the model's feature order, output type)`` from the data contract.

    ``numeric`` features (the column roles' numeric ones) are ``long`` when the contract records an integer column
    without missing values (MLflow refuses int64 data for a ``double`` column), else ``double``. Other features: for the
    baseline ``string`` (its pipeline casts categories to text, ``modeling.baseline_frame``), for a model file of
    the user's the type of the column in the data (``long``, ``double``, ``boolean``, else ``string``). The output
    is ``double`` for regression, else the type of the target column's labels. A feature the contract lacks is
    refused (``ValueError``): the signature would describe a column nobody checked.
    """
    cols = contract.get("columns") or {}
    numeric = set(numeric)
    inputs = []
    for f in features:
        spec = cols.get(f)
        if spec is None:
            raise ValueError(f"the data contract lacks the model's feature {f!r}")
        kind = spec.get("kind")
        if f in numeric:  # integers stay long (MLflow will not turn int64 into double), unless nulls are allowed
            dtype = str(spec.get("dtype") or "")
            t = "long" if dtype.startswith(("int", "uint")) and not spec.get("nullable") else "double"
        elif baseline:
            t = "string"
        else:
            t = "boolean" if kind == "boolean" else _dtype_type(str(spec.get("dtype") or ""))
        inputs.append((f, t))
    target = cols.get(contract.get("target") or "") or {}
    out = None
    if contract.get("task") == "regression":
        out = "double"
    elif target:
        out = _dtype_type(str(target.get("dtype") or ""))
    return inputs, out


__all__ = ["CUT", "MAX_KEY", "MAX_PARAM_VALUE", "MAX_TAG_VALUE", "TAG", "clean_key", "digest_of", "flatten",
           "metrics_from_pack", "params_from_config", "signature_columns", "tags_from_pack", "unique_keys"]
