"""Artifacts and presentation of the audit: the Evidently data summary report, the findings file, tables.

:func:`data_summary` runs Evidently 0.7's ``DataSummaryPreset`` on the current data against the
reference and writes ``data_summary.html`` and ``data_summary.json``, on the audit's seeded pandas sample when the
data is larger than ``AuditParams.sample_rows`` (the check records ``sample_rows`` / ``of_rows``). Rows go through
:func:`playbook.display.redact` first (PII masking), and the disguised missing values found by the audit
are passed as real missing values, so the report's missing counts agree with the audit.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from playbook import catalogue
from playbook.audit.prepare import AuditData
from playbook.audit.contract import column_kind, parse_datetime
from playbook.display import redact
from playbook.results import to_jsonable, write_json_atomic


def _as_text(s: pd.Series) -> pd.Series:
    """Values as str, missing as NaN (never pd.NA, which Evidently cannot test for truth)."""
    out = pd.Series(np.nan, index=s.index, dtype=object)
    present = s.notna().to_numpy()
    out[present] = s[present].astype(str).to_numpy()
    return out


def evidently_frames(data: AuditData, ctx=None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(reference, current, column groups) ready for Evidently: redacted, shared columns only,
    missing markers as NaN, infinities as NaN, timestamps parsed."""
    ref, cur = redact(data.clean["reference"], ctx), redact(data.clean["current"], ctx)
    cols = [c for c in ref.columns if c in cur.columns]
    ref, cur = ref[cols].copy(), cur[cols].copy()
    groups: dict[str, list[str]] = {"numerical": [], "categorical": [], "datetime": [], "text": []}
    for c in cols:
        role = "timestamp" if c == data.roles.timestamp else None
        kind = column_kind(ref[c], role)
        if kind == "numeric" and pd.api.types.is_numeric_dtype(cur[c]):
            for df in (ref, cur):
                df[c] = df[c].astype("Float64").astype(float).replace([np.inf, -np.inf], np.nan)
            groups["numerical"].append(c)
        elif kind == "datetime":
            for df in (ref, cur):
                df[c] = parse_datetime(df[c])
            groups["datetime"].append(c)
        elif kind == "text":
            for df in (ref, cur):
                df[c] = _as_text(df[c])
            groups["text"].append(c)
        else:
            for df in (ref, cur):
                df[c] = _as_text(df[c])
            groups["categorical"].append(c)
    return ref, cur, groups


def data_summary(data: AuditData, html_path: str | Path, json_path: str | Path, ctx=None) -> dict:
    """Write the Evidently data summary (HTML and JSON); return ``{rows, columns, groups}``."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataSummaryPreset

    ref, cur, groups = evidently_frames(data, ctx)
    definition = DataDefinition(
        numerical_columns=groups["numerical"], categorical_columns=groups["categorical"],
        datetime_columns=groups["datetime"], text_columns=groups["text"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # Evidently divides by zero on all-missing columns
        snapshot = Report([DataSummaryPreset()]).run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )
    html_path, json_path = Path(html_path), Path(json_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(html_path))
    write_json_atomic(json_path, json.loads(snapshot.json()))
    return {"rows": {"reference": len(ref), "current": len(cur)}, "columns": len(ref.columns), "groups": groups}


def summary_check(data: AuditData, html_rel: str, json_rel: str, html_path: str | Path, json_path: str | Path,
                  ctx=None) -> dict:
    """``data.summary_report``: the Evidently report was written (``error`` with the reason if not)."""
    cid = "data.summary_report"
    empty = [ds for ds in data.clean if data.rows.get(ds, len(data.clean[ds])) == 0]
    if empty:
        return catalogue.skip(cid, f"The {' and '.join(empty)} data has no rows, so there is nothing to summarise.")
    try:
        info = data_summary(data, html_path, json_path, ctx)
    except Exception as exc:  # the report is evidence, not logic: record why it is missing
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return catalogue.check(cid, "error", None,
                               why=f"Evidently could not build the data summary ({type(exc).__name__}: {msg}); the "
                                   "audit's own checks stand, but the browsable per-column statistics are missing.")
    g = info["groups"]
    why = (f"Per-column statistics of current vs reference ({len(g['numerical'])} numerical, "
           f"{len(g['categorical'])} categorical, {len(g['datetime'])} datetime, {len(g['text'])} text columns) "
           "for a reviewer to browse; PII columns are masked and placeholders counted as missing."
           + data.sample_why("reference", "current"))
    sampled = data.sampled("reference", "current")
    return catalogue.check(cid, "pass", info["columns"], why=why, evidence=[html_rel, json_rel],
                           threshold=sampled or None)


def table(checks: Iterable[dict], policy=None) -> pd.DataFrame:
    """Checks as a compact table for a notebook (id, status, value, threshold, why), each under the gate in
    force (``policy``: the pack's), so the status shown is the one the step records."""
    settled = [catalogue.settle(c, policy) for c in checks]
    rows = [{"id": c["id"], "status": c["status"], "value": to_jsonable(c.get("value")),
             "threshold": to_jsonable(c.get("threshold")), "why": c.get("why", "")} for c in settled]
    return pd.DataFrame(rows, columns=["id", "status", "value", "threshold", "why"])


def details(checks: Iterable[dict], id: str) -> pd.DataFrame:
    """The details rows of one check as a table (empty when it has none)."""
    checks = list(checks)
    for c in checks:
        if c["id"] == id:
            d = c.get("details") or []
            return pd.DataFrame(d if isinstance(d, list) else [d])
    raise KeyError(f"no check {id!r}; recorded ids: {', '.join(c['id'] for c in checks)}")


def findings(checks: Iterable[dict]) -> dict:
    """``{check id: details}`` for the findings artifact (checks without details are left out)."""
    return {c["id"]: c.get("details") for c in checks if c.get("details") not in (None, [], {})}


def write_findings(checks: Iterable[dict], path: str | Path) -> Path:
    """Write ``{check id: details}`` (the evidence behind each check) as deterministic JSON."""
    path = Path(path)
    write_json_atomic(path, findings(checks))
    return path


__all__ = ["data_summary", "details", "evidently_frames", "findings", "summary_check", "table", "write_findings"]
