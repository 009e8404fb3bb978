"""Artifacts and presentation of the audit: the data summary, the findings file, tables.

:func:`summary_check` writes ``data_summary.html`` and ``data_summary.json``: the per-column summary of the current
data against the reference built from the audit's own statistics over every row (:mod:`playbook.audit.summary`; a
few DuckDB scans, no Evidently). With ``evidently=True`` (the template's ``evidently_report``) it also writes
Evidently 0.7's ``DataSummaryPreset`` report (:func:`evidently_summary`: ``evidently_summary.html`` and
``evidently_summary.json``, interactive plots; about 4 s more on the bundled data, mostly Evidently's import and its
plotly figures), on the audit's seeded pandas sample when the data is larger than ``AuditParams.sample_rows``. Rows go
through :func:`playbook.display.redact` first (PII masking), and the disguised missing values found by the audit are
passed as real missing values, so the report's missing counts agree with the audit.
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


def evidently_summary(data: AuditData, html_path: str | Path, json_path: str | Path, ctx=None) -> dict:
    """Write Evidently's data summary (HTML and JSON); return ``{rows, columns, groups}``."""
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


def data_summary(data: AuditData, html_path: str | Path, json_path: str | Path, ctx=None,
                 protected: Iterable[str] = ()) -> dict:
    """Write the audit's data summary (HTML and JSON, :mod:`playbook.audit.summary`) and return it. Protected
    columns: ``data.pii``, ``protected`` and the context's (:func:`playbook.display.protected_columns`)."""
    from playbook.audit.summary import render_html, summarise
    from playbook.display import protected_columns
    from playbook.results import write_text_atomic

    summary = summarise(data, set(protected) | set(protected_columns(ctx) if ctx is not None else []))
    html_path, json_path = Path(html_path), Path(json_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(json_path, summary)
    write_text_atomic(html_path, render_html(summary))
    return summary


def summary_check(data: AuditData, html_rel: str, json_rel: str, html_path: str | Path, json_path: str | Path,
                  ctx=None, *, evidently: bool = False, protected: Iterable[str] = ()) -> dict:
    """``data.summary_report``: the data summary was written (``error`` with the reason if not); with
    ``evidently`` Evidently's report too, beside it (``evidently_summary.html`` / ``.json``)."""
    cid = "data.summary_report"
    empty = [ds for ds in data.clean if data.rows.get(ds, len(data.clean[ds])) == 0]
    if empty:
        return catalogue.skip(cid, f"The {' and '.join(empty)} data has no rows, so there is nothing to summarise.")
    try:
        summary = data_summary(data, html_path, json_path, ctx, protected)
    except Exception as exc:  # the report is evidence, not logic: record why it is missing
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return catalogue.check(cid, "error", None,
                               why=f"The data summary could not be built ({type(exc).__name__}: {msg}); the "
                                   "audit's own checks stand, but the browsable per-column statistics are missing.")
    kinds: dict[str, int] = {}
    for col in summary["columns"]:
        k = (col.get("current") or col.get("reference"))["kind"]
        kinds[k] = kinds.get(k, 0) + 1
    why = (f"Per-column statistics of current vs reference over every row ("
           + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + " columns) for a reviewer to browse; "
           "protected columns show counts only and placeholders count as missing.")
    evidence = [html_rel, json_rel]
    threshold = None
    if evidently:
        ev_html = str(Path(html_rel).with_name("evidently_summary.html"))
        ev_json = str(Path(json_rel).with_name("evidently_summary.json"))
        try:
            evidently_summary(data, Path(html_path).with_name("evidently_summary.html"),
                              Path(json_path).with_name("evidently_summary.json"), ctx)
            evidence += [ev_html, ev_json]
            why += (" Evidently's DataSummaryPreset report is beside it (evidently_summary.html)."
                    + data.sample_why("reference", "current").replace(" Computed on", " Evidently's report is on"))
            threshold = data.sampled("reference", "current") or None
        except Exception as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return catalogue.check(cid, "error", len(summary["columns"]), evidence=evidence,
                                   why=f"{why} Evidently could not build its report ({type(exc).__name__}: {msg}), "
                                       "which was asked for (evidently_report).")
    return catalogue.check(cid, "pass", len(summary["columns"]), why=why, evidence=evidence, threshold=threshold)


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


__all__ = ["data_summary", "details", "evidently_frames", "evidently_summary", "findings", "summary_check", "table", "write_findings"]
