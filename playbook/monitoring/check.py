"""Judge one production batch against a monitoring config: contract, drift, performance.

:func:`check_batch` never raises on a malformed batch: missing columns, extra columns, values of the
wrong type, unexpected nulls or an empty batch are **alerts** with a sentence saying what is wrong and
where to look. Only input that cannot be read at all (a file that is not a table, labels that do not line
up with the batch) is a :class:`BatchInputError` (exit code 2 in ``playbook monitor``).

The result (a plain dict, written as JSON by the command) holds no raw data values: statistics,
thresholds, counts and bin labels only.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from playbook.monitoring.calibrate import DistributionMonitor, EstimatedPerformanceMonitor, RangeMonitor
from playbook.monitoring.performance import realized
from playbook.monitoring.spec import MonitoringSpec
from playbook.monitoring.stats import STATISTICS, as_numeric, frame_signature

RESULT_SCHEMA_VERSION = 1
NUMERIC_KINDS = ("numeric",)
TEXT_DTYPES = ("object", "string", "category", "str")


class BatchInputError(ValueError):
    """A batch or labels file that cannot be used at all: the message names the input and the fix."""


# -- reading --------------------------------------------------------------------------------------
def read_batch(path: str | Path, what: str = "--current") -> pd.DataFrame:
    """Read a CSV or parquet batch. A file with a header and no rows gives an empty frame (an alert later);
    a missing or unreadable file raises :class:`BatchInputError`."""
    p = Path(path)
    if not p.exists():
        raise BatchInputError(f"{what} {path}: file not found; pass the batch as a CSV or parquet file.")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")
                       and _kind(f) is not None)
        if not files:
            raise BatchInputError(f"{what} {path}: the folder holds no CSV or parquet file; pass a file or a folder of them.")
        frames = [read_batch(f, what) for f in files]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    kind = _kind(p)
    if kind is None:
        raise BatchInputError(f"{what} {path}: is neither CSV nor parquet; export the batch as .csv or .parquet.")
    try:
        if kind == "parquet":
            df = pd.read_parquet(p)
        else:
            sep = "\t" if p.name.lower().endswith(".tsv") else ","
            df = pd.read_csv(p, sep=sep, low_memory=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except pd.errors.ParserError as exc:
        raise BatchInputError(f"{what} {path}: could not be parsed as CSV ({str(exc).splitlines()[0]}); check the delimiter and quoting.") from None
    except UnicodeDecodeError:
        raise BatchInputError(f"{what} {path}: is not UTF-8 text; export the batch as UTF-8 CSV or parquet.") from None
    except (OSError, ValueError) as exc:
        raise BatchInputError(f"{what} {path}: could not be read as {kind} ({str(exc).splitlines()[0]}); check the file.") from None
    df.columns = [str(c) for c in df.columns]
    return df


def _kind(p: Path) -> str | None:
    name = p.name.lower()
    if name.endswith((".parquet", ".pq", ".parq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".tsv", ".txt")):
        return "csv"
    return None


def align_labels(spec: MonitoringSpec, batch: pd.DataFrame, labels: pd.DataFrame | None) -> pd.Series | None:
    """The label of every batch row: from the batch's target column, or from a labels table matched on the
    id columns (when both have them) or by row order. Raises :class:`BatchInputError` when they do not line up."""
    target = spec.target
    if labels is None:
        if target and target in batch.columns:
            return batch[target]
        return None
    if labels.shape[1] == 0:
        raise BatchInputError("--labels: the file has no columns; it needs the label column "
                              f"{target!r} (and optionally the id columns).")
    col = target if target in labels.columns else (labels.columns[0] if labels.shape[1] == 1 else None)
    if col is None:
        raise BatchInputError(f"--labels: no column {target!r}; name the label column {target!r} "
                              "or pass a file with a single column.")
    ids = [c for c, r in spec.contract_columns.items() if (r or {}).get("role") == "id"]
    ids = [c for c in ids if c in labels.columns and c in batch.columns]
    if ids:
        if labels.duplicated(ids).any():
            raise BatchInputError(f"--labels: the id columns {ids} repeat; give one label per id.")
        merged = batch[ids].merge(labels[ids + [col]], on=ids, how="left")
        return merged[col].set_axis(batch.index)
    if len(labels) != len(batch):
        raise BatchInputError(
            f"--labels: {len(labels)} labels for {len(batch)} batch rows; give one label per row in batch order, "
            "or include the id columns in both files.")
    return pd.Series(labels[col].to_numpy(), index=batch.index, name=col)


# -- checking -------------------------------------------------------------------------------------
def _alert(kind: str, message: str, **extra: Any) -> dict:
    return {"kind": kind, "message": message, **extra}


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _column_schema(rule: dict, s: pd.Series) -> tuple[str | None, int]:
    """One contract column's findings: (type error or None, count of missing values breaking ``nullable: false``)."""
    kind = rule.get("kind")
    type_error = None
    if kind in NUMERIC_KINDS:
        if pd.api.types.is_bool_dtype(s):
            type_error = "expected numbers, got true/false values"
        elif not pd.api.types.is_numeric_dtype(s):
            _, bad = as_numeric(s)
            if bad:
                type_error = f"expected numbers, got {bad} value(s) that are not numbers"
            elif s.notna().any():
                type_error = f"expected numbers, got numbers stored as text ({s.dtype})"
    elif kind in ("categorical", "text", "boolean") and str(rule.get("dtype", "")) in TEXT_DTYPES:
        cats = [str(c) for c in (rule.get("categories") or [])]
        numeric_like = cats and all(re.fullmatch(r"-?\d+(\.\d+)?", c) for c in cats)
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) and not numeric_like and s.notna().any():
            type_error = f"expected text categories, got numbers ({s.dtype})"
    n_null = 0
    if rule.get("nullable") is False and rule.get("role", "feature") in ("feature", "id"):
        n_null = int(s.isna().sum())
    return type_error, n_null


def _schema(spec: MonitoringSpec, batch: pd.DataFrame) -> tuple[dict, list[dict], set[str]]:
    """Contract checks. Returns (schema report, alerts, columns unusable for drift)."""
    contract = spec.contract_columns
    pred_col = spec.prediction.get("column")
    monitored = {m.column for m in spec.monitors if isinstance(m, DistributionMonitor) and m.role == "feature"}
    required = [c for c, r in contract.items() if (r or {}).get("role", "feature") == "feature"] or sorted(monitored)
    known = set(contract) | monitored | set(spec.ignore) | {spec.target} | ({pred_col} if pred_col else set())
    present = set(batch.columns)
    missing = [c for c in required if c not in present]
    extra = [c for c in batch.columns if c not in known]
    alerts = []
    if missing:
        alerts.append(_alert("missing_columns", f"{len(missing)} expected column(s) are missing from the batch: "
                             f"{', '.join(missing)}; the upstream export or feature pipeline dropped or renamed them.",
                             columns=missing))
    if extra and not spec.allow_extra:
        alerts.append(_alert("extra_columns", f"{len(extra)} column(s) the model was not built with: {', '.join(extra)}; "
                             "a schema change upstream (or a renamed column) - update the pipeline or regenerate the monitor.",
                             columns=extra))
    type_errors: dict[str, str] = {}
    null_errors: dict[str, int] = {}
    for col, rule in contract.items():
        if col not in present:
            continue
        type_error, n_null = _column_schema(rule or {}, batch[col])
        if type_error is not None:
            type_errors[col] = type_error
        if n_null:
            null_errors[col] = n_null
    if type_errors:
        alerts.append(_alert("types", f"{len(type_errors)} column(s) hold values of the wrong type: "
                             + "; ".join(f"{c}: {m}" for c, m in type_errors.items())
                             + ". Check the upstream parsing or units.", columns=sorted(type_errors)))
    if null_errors:
        alerts.append(_alert("nulls", "column(s) that were never empty in the reference now have missing values: "
                             + ", ".join(f"{c} ({n} rows)" for c, n in null_errors.items())
                             + "; find the upstream join or source that stopped filling them.",
                             columns=sorted(null_errors)))
    report = {"missing_columns": missing, "extra_columns": extra, "type_errors": type_errors,
              "null_violations": null_errors, "ok": not alerts}
    return report, alerts, set(missing) | set(type_errors)


def _binary_labels(spec: MonitoringSpec, y: pd.Series) -> np.ndarray:
    pos = spec.positive_label
    vals = y.to_numpy()
    out = np.array([np.nan if pd.isna(v) else (1.0 if (v == pos or str(v) == str(pos)) else 0.0) for v in vals],
                   dtype=float)
    return out


def check_batch(spec: MonitoringSpec, batch: pd.DataFrame, labels: pd.Series | None = None) -> dict:
    """Check one batch. Returns the result dict: ``status`` healthy | alert, ``exit_code`` 0 | 1, ``alerts``
    (kind + message), the schema report, every monitor's statistic and threshold, and performance.
    :func:`alert_kinds_many` gives the alert kinds of many batches at once with the same rules: a rule changed
    here is changed there too (``tests/test_drift_batched.py`` compares the two on every fault)."""
    rows = int(len(batch))
    result: dict[str, Any] = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "model": spec.name,
        "reference_fingerprint": (spec.raw.get("reference") or {}).get("fingerprint"),
        "rows": rows,
        "batch_size": {"rows": rows, "calibrated": spec.batch_size, "range": list(spec.size_range),
                       "in_range": spec.size_range[0] <= rows <= spec.size_range[1]},
        "alerts": [], "notes": [], "monitors": [], "performance": {},
    }
    alerts: list[dict] = []
    notes: list[str] = []
    if batch.shape[1] == 0 or rows == 0:
        alerts.append(_alert("empty_batch", "the batch has no rows" + (" and no columns" if batch.shape[1] == 0 else "")
                             + "; the upstream export produced nothing - check the job that writes the batch."))
        result["schema"] = {"ok": False}
        return _finish(result, alerts, notes)
    schema, schema_alerts, unusable = _schema(spec, batch)
    result["schema"] = schema
    alerts += schema_alerts
    if not result["batch_size"]["in_range"]:
        notes.append(f"the batch has {rows} rows, far from the {spec.batch_size} the thresholds were calibrated for; "
                     "thresholds were rescaled for the size, but the false-alarm budget is only approximate.")
    drift_alerts = []
    feature_columns: set[str] = set()
    drifted_features: set[str] = set()
    for m in spec.monitors:
        entry, alert, note = _monitor_part(m, batch, rows, unusable)
        if note:
            notes.append(note)
        if alert is not None:
            drift_alerts.append(alert)
        if m.role == "feature" and entry["status"] != "not_checked":
            feature_columns.add(m.column)
            if entry["alert"]:
                drifted_features.add(m.column)
        result["monitors"].append(entry)
    alerts += drift_alerts
    if spec.multivariate:  # whole-row monitors (playbook.monitoring.multivariate): each alarm names its features
        from playbook.monitoring.multivariate import judge

        entries, mv_alerts = judge(spec.multivariate, batch, rows)
        result["multivariate"] = entries
        notes += [f"{e['name']}: {e['note']}." for e in entries if e.get("note")]
        alerts += mv_alerts
    result["drift_share"] = (len(drifted_features) / len(feature_columns)) if feature_columns else None
    result["drifted_columns"] = sorted({a["column"] for a in drift_alerts if a["kind"] == "drift"})
    result["performance"] = _performance(spec, batch, labels, unusable, alerts, notes)
    result["model_age"] = _model_age(spec, batch, alerts, notes)
    return _finish(result, alerts, notes)


def _monitor_part(m, batch: pd.DataFrame, rows: int, unusable: set[str]) -> tuple[dict, dict | None, str | None]:
    """One monitor on one batch: (its entry in the result, its alert or None, a note or None)."""
    entry = {"name": m.name, "column": m.column, "role": m.role, "test": m.test}
    if m.column not in batch.columns or m.column in unusable:
        entry.update(statistic=None, threshold=m.threshold, alert=None, status="not_checked")
        note = None
        if m.column not in batch.columns and m.role != "feature":
            note = (f"{m.name}: column {m.column!r} is not in the batch, so this monitor was not checked; "
                    "log the model's output with the batch to monitor it.")
        return entry, None, note
    thr = m.threshold_for(rows)
    if isinstance(m, DistributionMonitor):
        col = batch[m.column]
        counts = m.profile.counts(col)  # once, for the statistic and the largest changes
        stat = m.profile.statistic_of_counts(counts) if len(col) else float("nan")
    else:
        stat = m.statistic(batch)
    alarm = bool(stat is not None and math.isfinite(stat) and stat > thr)
    entry.update(statistic=_finite(float(stat)), threshold=thr, alert=alarm, status="alert" if alarm else "ok")
    alert = None
    if isinstance(m, RangeMonitor):
        entry.update(low=m.low, high=m.high)
        if alarm:
            what = "the model's output" if m.role == "prediction" else f"column {m.column!r}"
            alert = _alert(
                "drift", f"{what} has {int(stat)} of {rows} values outside the reference range "
                f"[{m.low:g}, {m.high:g}] (at most {thr:g} expected by chance): outliers or a unit change upstream.",
                monitor=m.name, column=m.column)
    elif isinstance(m, DistributionMonitor):
        shares = m.profile.shares_of_counts(counts)
        ref = dict(zip(m.profile.labels, m.profile.reference_shares))
        gaps = sorted(((lab, shares[lab] - ref.get(lab, 0.0)) for lab in shares), key=lambda kv: -abs(kv[1]))[:3]
        entry["largest_changes"] = [{"bin": lab, "batch_share": shares[lab], "reference_share": ref.get(lab, 0.0)}
                                    for lab, _ in gaps]
        entry["missing_share"] = float(col.isna().mean())
        if alarm:
            what = "the model's output" if m.role == "prediction" else f"column {m.column!r}"
            top = entry["largest_changes"][0]
            alert = _alert(
                "drift", f"{what} drifted: {m.test} = {stat:.3f} > threshold {thr:.3f} "
                f"(largest change: bin {top['bin']} {top['reference_share']:.1%} -> {top['batch_share']:.1%}).",
                monitor=m.name, column=m.column)
    elif isinstance(m, EstimatedPerformanceMonitor):
        est = m.estimate(batch)
        floor = (m.center - thr) if (m.center is not None and thr is not None) else None
        entry.update(estimate=_finite(est), minimum=floor)
        if alarm:
            alert = _alert(
                "estimated_performance", f"the label-free estimate of {m.metric} is {est:.3f}, below its floor "
                f"{floor:.3f}: the model is likely performing worse on this batch; check which inputs drifted.",
                monitor=m.name, column=m.column)
    return entry, alert, None


def alert_kinds_many(spec: MonitoringSpec, batches: Sequence[pd.DataFrame], monitors: bool = True, *,
                     known: Sequence[tuple[set, dict] | None] | None = None) -> list[list[str]]:
    """The kinds of alert :func:`check_batch` raises on each batch (sorted, ``[]`` when healthy), labels not given:
    ``[sorted({a["kind"] for a in check_batch(spec, b)["alerts"]}) for b in batches]``, computed on all the batches
    at once.

    Batches with the same columns and dtypes are stacked, and every monitor's statistic is computed for all of
    them in one vectorised pass (the statistics are vectorised over batches, as for calibration); the rules are
    :func:`check_batch`'s, the statistics the same numbers. For simulations that judge thousands of batches (the
    drift step); a test checks it against :func:`check_batch` on every fault of the drift catalogue. With
    ``monitors=False`` only the contract is judged (the schema alerts: missing or extra columns, types, nulls).

    ``known[i]``, when given, is ``(unchanged, parts)``: the columns of batch ``i`` that hold the same values as in
    another batch, and that batch's :func:`alert_parts` (each column's contract findings, each monitor's alarm):
    those are taken from it, and only the other columns are judged.
    """
    out: list[list[str] | None] = [None] * len(batches)
    groups: dict[tuple, list[int]] = {}
    for i, b in enumerate(batches):
        if b.shape[1] == 0 or len(b) == 0:
            out[i] = ["empty_batch"]
            continue
        groups.setdefault(frame_signature(b), []).append(i)
    for idx in groups.values():
        given = [known[i] if known is not None else None for i in idx]
        if any(isinstance(d, pd.CategoricalDtype) for d in batches[idx[0]].dtypes):  # categories may differ
            found = [_group(spec, [batches[i]], monitors, [g])[0][0] for i, g in zip(idx, given)]
        else:
            found = _group(spec, [batches[i] for i in idx], monitors, given)[0]
        for i, kinds in zip(idx, found):
            out[i] = kinds
    return out


def alert_parts(spec: MonitoringSpec, batch: pd.DataFrame) -> dict:
    """One non-empty batch's findings column by column, for :func:`alert_kinds_many`'s ``known``:
    ``{"type_error": {column: bool}, "nulls": {column: bool}, "alarm": {monitor index: bool}, "stale_model": bool}``
    (the last when the monitor checks the model's age)."""
    return _group(spec, [batch], True, [None])[1][0]


def _group(spec: MonitoringSpec, frames: list[pd.DataFrame], monitors: bool,
           given: list[tuple[set, dict] | None]) -> tuple[list[list[str]], list[dict]]:
    """:func:`alert_kinds_many` for non-empty frames with the same columns and dtypes, and each frame's parts."""
    k = len(frames)
    rows = np.array([len(f) for f in frames], dtype=np.int64)
    fid = np.repeat(np.arange(k), rows)
    first = frames[0]
    # a column is judged here unless every frame has it from a known batch
    reuse = set.intersection(*[set(g[0]) for g in given]) if all(g is not None for g in given) else set()
    judged = [c for c in first.columns if c not in reuse]
    if k == 1:
        big = first
    else:
        big = pd.concat([f[judged] for f in frames], ignore_index=True) if judged else first.iloc[:0]
    kinds: list[set[str]] = [set() for _ in range(k)]
    parts: list[dict] = [{"type_error": {}, "nulls": {}, "alarm": {}} for _ in range(k)]

    def per_frame(mask: np.ndarray) -> np.ndarray:
        """Count of True rows per frame."""
        return np.bincount(fid, weights=mask.astype(float), minlength=k)

    def from_known(what: str, key) -> np.ndarray:
        return np.array([bool(g[1][what].get(key, False)) for g in given], dtype=bool)

    # -- the contract (as _schema) --------------------------------------------------------------
    contract = spec.contract_columns
    pred_col = spec.prediction.get("column")
    monitored = {m.column for m in spec.monitors if isinstance(m, DistributionMonitor) and m.role == "feature"}
    required = [c for c, r in contract.items() if (r or {}).get("role", "feature") == "feature"] or sorted(monitored)
    known = set(contract) | monitored | set(spec.ignore) | {spec.target} | ({pred_col} if pred_col else set())
    present = set(first.columns)
    missing = [c for c in required if c not in present]
    extra = [c for c in first.columns if c not in known]
    for s in kinds:
        if missing:
            s.add("missing_columns")
        if extra and not spec.allow_extra:
            s.add("extra_columns")
    type_error: dict[str, np.ndarray] = {}
    any_nulls = np.zeros(k, dtype=bool)
    for col, rule in contract.items():
        if col not in present:
            continue
        rule = rule or {}
        nullable_rule = rule.get("nullable") is False and rule.get("role", "feature") in ("feature", "id")
        if col in reuse:
            err, nulls = from_known("type_error", col), from_known("nulls", col)
        else:
            s = big[col]
            kind = rule.get("kind")
            err = np.zeros(k, dtype=bool)
            if kind in NUMERIC_KINDS:
                if pd.api.types.is_bool_dtype(s):
                    err = np.ones(k, dtype=bool)
                elif not pd.api.types.is_numeric_dtype(s):
                    conv, _ = as_numeric(s)
                    notna = s.notna().to_numpy()
                    bad = per_frame(conv.isna().to_numpy() & notna)
                    err = (bad > 0) | (per_frame(notna) > 0)
            elif kind in ("categorical", "text", "boolean") and str(rule.get("dtype", "")) in TEXT_DTYPES:
                cats = [str(c) for c in (rule.get("categories") or [])]
                numeric_like = cats and all(re.fullmatch(r"-?\d+(\.\d+)?", c) for c in cats)
                if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) and not numeric_like:
                    err = per_frame(s.notna().to_numpy()) > 0
            nulls = (per_frame(s.isna().to_numpy()) > 0) if nullable_rule else np.zeros(k, dtype=bool)
        for i in range(k):
            parts[i]["type_error"][col] = bool(err[i])
            parts[i]["nulls"][col] = bool(nulls[i])
        if err.any():
            type_error[col] = err
        any_nulls |= nulls
    any_type = np.zeros(k, dtype=bool)
    for err in type_error.values():
        any_type |= err
    for i in np.flatnonzero(any_type):
        kinds[i].add("types")
    for i in np.flatnonzero(any_nulls):
        kinds[i].add("nulls")
    # -- the monitors (as check_batch) ------------------------------------------------------------
    thresholds: dict[tuple[int, int], float | None] = {}

    def thr_of(j: int, m) -> np.ndarray:
        vals = []
        for r in rows:
            key = (j, int(r))
            if key not in thresholds:
                thresholds[key] = m.threshold_for(int(r))
            vals.append(np.nan if thresholds[key] is None else thresholds[key])
        return np.asarray(vals, dtype=float)

    for j, m in enumerate(spec.monitors if monitors else []):
        if m.column not in present:
            continue
        kind = "estimated_performance" if isinstance(m, EstimatedPerformanceMonitor) else "drift"
        if m.column in reuse:
            alarm = from_known("alarm", j)
        else:
            usable = ~type_error.get(m.column, np.zeros(k, dtype=bool))
            if isinstance(m, DistributionMonitor):
                nb = m.profile.n_bins
                codes = m.profile.codes(big[m.column])
                counts = np.bincount(codes + fid * nb, minlength=k * nb).reshape(k, nb).astype(float)
                stat = np.asarray(STATISTICS[m.profile.test](np.asarray(m.profile.reference_shares), counts),
                                  dtype=float)
            elif isinstance(m, RangeMonitor):
                stat = per_frame(m.encode(big) > 0)
            elif isinstance(m, EstimatedPerformanceMonitor) and (rows == rows[0]).all():
                enc = m.encode(big).reshape(k, int(rows[0]), 2)  # equal sizes: every frame's estimate at once
                center = m.center if m.center is not None else 0.0
                stat = center - np.asarray(m._estimate(enc[..., 0], enc[..., 1]), dtype=float)
            else:
                stat = np.array([m.statistic(f) for f in frames], dtype=float)
            thr = thr_of(j, m)
            with np.errstate(invalid="ignore"):
                alarm = usable & np.isfinite(stat) & (stat > thr)
        for i in range(k):
            parts[i]["alarm"][j] = bool(alarm[i])
        for i in np.flatnonzero(alarm):
            kinds[i].add(kind)
    if spec.multivariate and monitors:
        from playbook.monitoring.multivariate import alarms_many

        for i, found_mv in enumerate(alarms_many(spec.multivariate, frames)):
            kinds[i].update(found_mv)
    if spec.model_age and monitors:
        col = spec.model_age["timestamp_column"]
        for i, f in enumerate(frames):
            g = given[i]
            if g is not None and col in g[0] and "stale_model" in g[1]:  # the same timestamps as the known batch
                stale = bool(g[1]["stale_model"])
            else:
                found: list[dict] = []
                _model_age(spec, f, found, [])
                stale = any(a["kind"] == "stale_model" for a in found)
            parts[i]["stale_model"] = stale
            if stale:
                kinds[i].add("stale_model")
    return [sorted(s) for s in kinds], parts


def _model_age(spec: MonitoringSpec, batch: pd.DataFrame, alerts: list[dict], notes: list[str]) -> dict | None:
    """The model's age at this batch (its newest timestamp minus the training data's newest one), against the age at
    which the pack measured its quality to fall below the gate (``model_age`` of the config)."""
    cfg = spec.model_age
    if not cfg:
        return None
    col = cfg["timestamp_column"]
    if col not in batch.columns:
        notes.append(f"model age not checked: the batch has no timestamp column {col!r}.")
        return None
    from playbook.audit.contract import utc_timestamps

    # numeric dates (06/07/2024) in the order the reference showed: a batch of early-month days cannot tell
    ts = utc_timestamps(batch[col], dayfirst=cfg.get("day_first"))
    if ts.notna().sum() == 0:
        notes.append(f"model age not checked: no value of {col!r} parses as a date.")
        return None
    trained = pd.Timestamp(str(cfg["trained_until"]))
    trained = trained.tz_localize("UTC") if trained.tz is None else trained.tz_convert("UTC")
    age = float((ts.max() - trained) / pd.Timedelta(days=1))
    limit = cfg.get("max_age_days")
    stale = limit is not None and age > float(limit)
    if stale:
        alerts.append(_alert("stale_model", f"the model was trained on data up to {trained.date()}; this batch reaches "
                             f"{ts.max().date()}, so the model is {age:.0f} days old, past the {float(limit):.0f} days "
                             f"after which its measured decay takes it below its quality gate ({cfg.get('basis', '')}); "
                             "retrain it on recent data.", column=col))
    return {"age_days": round(age, 3), "max_age_days": limit, "stale": stale}


def _performance(spec: MonitoringSpec, batch, labels, unusable, alerts, notes) -> dict:
    out: dict[str, Any] = {}
    pred = spec.prediction
    col = pred.get("column")
    if spec.task != "binary" or not col or col not in batch.columns or col in unusable or spec.calibrator is None:
        return out
    from playbook.monitoring.performance import estimate

    scores = pd.to_numeric(batch[col], errors="coerce").to_numpy(dtype=float)
    thr = float(pred.get("decision_threshold", 0.5))
    out["estimated"] = {k: _finite(v) for k, v in estimate(spec.calibrator, scores, thr).items()}
    if labels is None:
        return out
    y = _binary_labels(spec, labels)
    if np.isfinite(y).sum() == 0:
        notes.append("labels were given but none is usable (all missing); performance was not checked.")
        return out
    real = {k: _finite(v) for k, v in realized(y, scores, thr).items()}
    out["realized"] = real
    out["estimation_error"] = {m: (None if real.get(m) is None or out["estimated"].get(m) is None
                                   else out["estimated"][m] - real[m]) for m in ("roc_auc", "accuracy")}
    floors = (spec.performance.get("labeled") or {})
    for metric, rule in floors.items():
        v = real.get(metric)
        lo = (rule or {}).get("min")
        if v is None or lo is None:
            continue
        if v < lo:
            alerts.append(_alert("performance", f"realized {metric} on the labeled batch is {v:.3f}, below its floor "
                                 f"{lo:.3f} (expected about {rule.get('expected', float('nan')):.3f}); the model "
                                 "needs attention: look at drifted inputs, then consider retraining.", metric=metric))
    return out


def _finish(result: dict, alerts: list[dict], notes: list[str]) -> dict:
    result["alerts"] = alerts
    result["notes"] = notes
    result["status"] = "alert" if alerts else "healthy"
    result["exit_code"] = 1 if alerts else 0
    return result


# -- Prometheus text format -----------------------------------------------------------------------
def _esc(v: Any) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(d: dict) -> str:
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in d.items()) + "}"


def _num(v: Any) -> str:
    if v is None:
        return "NaN"
    if isinstance(v, bool):
        return "1" if v else "0"
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v) if v != int(v) or abs(v) > 1e15 else str(int(v))


def prometheus_text(result: dict, prefix: str = "playbook_monitor") -> str:
    """The result as Prometheus text exposition format (for node_exporter's textfile collector)."""
    base = {"model": result.get("model", "model")}
    series: dict[str, tuple[str, list[tuple[dict, Any]]]] = {}

    def add(name: str, help_: str, labels: dict, value: Any) -> None:
        series.setdefault(name, (help_, []))[1].append(({**base, **labels}, value))

    add("alert", "1 when the last batch raised at least one alert, else 0.", {}, result.get("status") == "alert")
    add("alerts", "Number of alerts the last batch raised.", {}, len(result.get("alerts", [])))
    kinds: dict[str, int] = {}
    for a in result.get("alerts", []):
        kinds[a["kind"]] = kinds.get(a["kind"], 0) + 1
    for k in ("empty_batch", "missing_columns", "extra_columns", "types", "nulls", "drift",
              "domain_classifier", "pca_reconstruction", "estimated_performance", "performance", "stale_model"):
        add("alerts_by_kind", "Number of alerts of each kind in the last batch.", {"kind": k}, kinds.get(k, 0))
    add("batch_rows", "Rows in the last batch.", {}, result.get("rows", 0))
    add("drift_share", "Share of monitored feature columns whose drift monitor alarmed.", {}, result.get("drift_share"))
    for m in result.get("monitors", []):
        lab = {"monitor": m["name"], "column": m["column"], "role": m["role"], "test": m["test"]}
        add("statistic", "Monitor statistic of the last batch (higher = further from the reference).", lab, m.get("statistic"))
        add("threshold", "Calibrated alarm threshold of the monitor at this batch size.", lab, m.get("threshold"))
        add("monitor_alert", "1 when the monitor alarmed on the last batch.", lab, m.get("alert"))
    for m in result.get("multivariate", []):
        lab = {"monitor": m["name"], "column": "*", "role": "multivariate", "test": m["test"]}
        add("statistic", "Monitor statistic of the last batch (higher = further from the reference).", lab, m.get("statistic"))
        add("threshold", "Calibrated alarm threshold of the monitor at this batch size.", lab, m.get("threshold"))
        add("monitor_alert", "1 when the monitor alarmed on the last batch.", lab, m.get("alert"))
    if result.get("model_age"):
        add("model_age_days", "Age of the model at the newest timestamp of the last batch (days).", {},
            result["model_age"]["age_days"])
    perf = result.get("performance") or {}
    for kind in ("estimated", "realized"):
        for metric in ("roc_auc", "accuracy"):
            v = (perf.get(kind) or {}).get(metric)
            if v is not None:
                add(f"{kind}_{metric}", f"{kind.capitalize()} {metric} of the last batch.", {}, v)
    lines = []
    for name, (help_, samples) in series.items():
        full = f"{prefix}_{name}"
        lines.append(f"# HELP {full} {help_}")
        lines.append(f"# TYPE {full} gauge")
        for labels, value in samples:
            lines.append(f"{full}{_labels(labels)} {_num(value)}")
    return "\n".join(lines) + "\n"
