"""Facts about the data, model settings and policy of a pack, gathered from the context as plain JSON values,
so that the model card and datasheet can be generated (and tested) without loading data again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from playbook.results import to_jsonable


def _target_distribution(s: pd.Series, task: str) -> dict:
    s = s.dropna()
    if len(s) == 0:
        return {}
    if task in ("binary", "multiclass"):
        vc = s.astype(str).value_counts(normalize=True).sort_index()
        return {"shares": {k: round(float(v), 4) for k, v in vc.items()}}
    d = s.astype(float).describe()
    return {"mean": float(d["mean"]), "std": float(d["std"]), "min": float(d["min"]), "median": float(s.median()),
            "max": float(d["max"])}


def column_profile(df: pd.DataFrame, roles, flagged: set[str]) -> list[dict]:
    """Per column: role, dtype, kind, missing share, distinct count (no values: safe to publish)."""
    role = {roles.target: "target"}
    for c in roles.features:
        role[c] = "feature"
    for c in roles.id:
        role[c] = "id"
    for key in ("prediction", "timestamp"):
        col = getattr(roles, key)
        if col:
            role[col] = key
    probs = roles.probability
    for c in ([probs] if isinstance(probs, str) else list(probs or [])):
        role[c] = "probability"
    out = []
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_bool_dtype(s):
            kind = "boolean"
        elif pd.api.types.is_numeric_dtype(s):
            kind = "numeric"
        elif pd.api.types.is_datetime64_any_dtype(s):
            kind = "datetime"
        else:
            kind = "categorical" if s.nunique(dropna=True) <= max(50, len(s) // 20) else "text"
        out.append({
            "column": str(c), "role": role.get(c, "excluded"), "dtype": str(s.dtype), "kind": kind,
            "missing_share": round(float(s.isna().mean()), 4), "distinct": int(s.nunique(dropna=True)),
            "sensitive": c in set(roles.sensitive), "personal_data": str(c) in flagged,
        })
    return out


def facts_from_context(ctx, flagged: list[str] | None = None) -> dict:
    """Plain facts for the documents: data shape and roles, model settings, business and policy."""
    cfg = ctx.config
    roles = ctx.roles
    flagged_set = set(flagged or [])
    ts = {}
    if roles.timestamp and roles.timestamp in ctx.reference.columns:
        from playbook.audit.contract import day_first, parse_datetime

        both = [df[roles.timestamp] for df in (ctx.reference, ctx.current) if roles.timestamp in df.columns]
        order = day_first(pd.Series(pd.concat(both).dropna().astype("string").unique(), dtype="string"))
        for name, df in (("reference", ctx.reference), ("current", ctx.current)):
            if roles.timestamp in df.columns:
                t = parse_datetime(df[roles.timestamp], dayfirst=order)
                if t.notna().any():
                    ts[name] = {"min": t.min().isoformat(), "max": t.max().isoformat()}
    datasheet_src = None
    try:
        src = Path(cfg.data.reference)
        cand = (src if src.is_dir() else src.parent) / "DATASHEET.md"
        if cand.exists():
            datasheet_src = {"file": cand.name, "text": cand.read_text(encoding="utf-8")}
    except OSError:
        datasheet_src = None
    facts: dict[str, Any] = {
        "pack": cfg.name,
        "seed": cfg.seed,
        "task": roles.task,
        "task_inferred": roles.task_inferred,
        "target": roles.target,
        "positive_label": roles.positive_label,
        "classes": list(roles.classes),
        "features": list(roles.features),
        "numeric": list(roles.numeric),
        "categorical": list(roles.categorical),
        "sensitive": list(roles.sensitive),
        "id": list(roles.id),
        "timestamp": roles.timestamp,
        "prediction": roles.prediction,
        "probability": roles.probability,
        "rows": {"reference": int(len(ctx.reference)), "current": int(len(ctx.current))},
        "columns": {"reference": int(ctx.reference.shape[1]), "current": int(ctx.current.shape[1])},
        "data_files": {"reference": Path(cfg.data.reference).name, "current": Path(cfg.data.current).name},
        "target_distribution": {
            "reference": _target_distribution(ctx.reference[roles.target], roles.task),
            "current": (_target_distribution(ctx.current[roles.target], roles.task)
                        if roles.target in ctx.current.columns else {}),
        },
        "time_range": ts,
        "column_profile": column_profile(ctx.reference, roles, flagged_set),
        "model": {
            "path": Path(cfg.model.path).name if cfg.model.path else None,
            "train": cfg.model.train,
            "allow_pickle": cfg.model.allow_pickle,
            "trusted_types": list(cfg.model.trusted_types),
        },
        "business": dict(vars(cfg.business)),
        "policy": {
            "allow_raw_pii": cfg.policy.allow_raw_pii,
            "gates": dict(cfg.policy.gates),
            "use_default_gates": cfg.policy.use_default_gates,
            "attestations": sorted(cfg.policy.attestations),
        },
        "datasheet_source": datasheet_src,
        "personal_data_columns": sorted(flagged_set),
    }
    return to_jsonable(facts)
