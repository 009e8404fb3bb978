"""Computing-performance regression: is this run slower, or its model bigger, than the previous pack's?

Given a previous pack (config key ``previous``, ``playbook run --previous PACK``), its model evaluation step's
``timings.json`` (and ``results.json``, for the model size) is compared with this run's:

* serving latency p50 / p95 / p99, single row and batch (the batch figures only when both used the same batch size);
* throughput (rows per second);
* training time (the median wall-clock time of one training of the model, when both packs measured it);
* the serialized model size (memory), from ``model.serving.size``.

A measurement is *worse by* ``current / previous`` (latency, time, size) or ``previous / current`` (throughput).
The median (p50) latencies, the training time and the size are judged: worse by more than ``max_ratio``, and
by more than the measure's noise floor in absolute terms (:data:`NOISE_FLOOR`: half a millisecond of latency, a tenth
of a second of training), is a regression and ``model.serving.performance_regression`` fails. The p95 / p99 tails
and the throughputs are shown only: the tail of a few dozen calls moves with whatever else the machine is doing
(measured: p95 1.98x and p99 6.8x slower between two runs of the same model on a busy 2-core machine, p50 1.35x),
and the throughputs restate the medians. Wall-clock numbers are only comparable between packs run on the same kind of machine; they go
to ``timings.json`` and ``performance_regression.json``, never into ``results.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

#: (key, what, better: "lower" | "higher", judged)
MEASURES = (
    ("serving.single_row_ms_p50", "single-row latency p50 (ms)", "lower", True),
    ("serving.single_row_ms_p95", "single-row latency p95 (ms)", "lower", False),
    ("serving.single_row_ms_p99", "single-row latency p99 (ms)", "lower", False),
    ("serving.batch_ms_p50", "batch latency p50 (ms)", "lower", True),
    ("serving.batch_ms_p95", "batch latency p95 (ms)", "lower", False),
    ("serving.batch_ms_p99", "batch latency p99 (ms)", "lower", False),
    ("serving.batch_rows_per_second", "batch throughput (rows/s)", "higher", False),
    ("serving.single_rows_per_second", "single-row throughput (rows/s)", "higher", False),
    ("training.fit_seconds", "training time (s)", "lower", True),
    ("model.size_mb", "serialized model size (MB)", "lower", True),
)
#: absolute differences below which a slower measurement is noise, not a regression (units of the measure)
NOISE_FLOOR = {"serving.single_row_ms_p50": 0.5, "serving.batch_ms_p50": 0.5, "training.fit_seconds": 0.1,
               "model.size_mb": 0.0}
_BATCH = {"serving.batch_ms_p50", "serving.batch_ms_p95", "serving.batch_ms_p99", "serving.batch_rows_per_second"}


class PreviousPackError(ValueError):
    """The previous pack cannot be read: the message names the path and the fix."""


def _size_mb(results_path: Path) -> float | None:
    if not results_path.is_file():
        return None
    try:
        res = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for c in res.get("checks", []):
        if c.get("id") == "model.serving.size" and isinstance(c.get("value"), (int, float)):
            return float(c["value"])
    return None


def load_previous(path: str | Path) -> dict:
    """``{timings, size_mb, source}`` of a previous pack's model evaluation step. ``path`` is a pack folder (with
    ``steps/NN_model_evaluation/``), a step folder, or its ``timings.json``. Raises :class:`PreviousPackError`."""
    p = Path(path)
    if p.is_file() and p.name == "timings.json":
        timings_path = p
    elif (p / "timings.json").is_file():
        timings_path = p / "timings.json"
    else:
        found = sorted((p / "steps").glob("*model_evaluation/timings.json")) if p.is_dir() else []
        if not found:
            raise PreviousPackError(
                f"previous: no model evaluation timings under {p} (looked for steps/*model_evaluation/timings.json); "
                "point it at an earlier evidence pack folder.")
        timings_path = found[-1]
    try:
        data = json.loads(timings_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PreviousPackError(f"previous: {timings_path} is not readable JSON ({type(exc).__name__}); "
                                "point it at an intact evidence pack.") from None
    timings = data.get("timings", data) if isinstance(data, dict) else {}
    if not isinstance(timings, dict):
        raise PreviousPackError(f"previous: {timings_path} holds no timings; point it at an evidence pack.")
    parts = timings_path.resolve().parts
    source = "/".join(parts[-4:]) if len(parts) >= 4 and parts[-3] == "steps" else timings_path.name
    return {"timings": timings, "size_mb": _size_mb(timings_path.parent / "results.json"), "source": source}


def _num(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if np.isfinite(v) and v > 0 else None


def compare(current: dict, previous: dict, *, max_ratio: float = 1.5, current_size_mb: float | None = None,
            previous_size_mb: float | None = None) -> pd.DataFrame:
    """One row per measurement: ``measure, what, judged, previous, current, worse_by, regressed, note``."""
    cur = dict(current)
    prev = dict(previous)
    if current_size_mb is not None:
        cur["model.size_mb"] = current_size_mb
    if previous_size_mb is not None:
        prev["model.size_mb"] = previous_size_mb
    same_batch = cur.get("serving.batch_rows") == prev.get("serving.batch_rows")
    rows = []
    for key, what, better, judged in MEASURES:
        a, b = _num(prev.get(key)), _num(cur.get(key))
        row = {"measure": key, "what": what, "judged": judged, "previous": a, "current": b, "worse_by": None,
               "regressed": False, "note": ""}
        if a is None or b is None:
            row["note"] = "not measured in " + ("both packs" if a is None and b is None else
                                                 "the previous pack" if a is None else "this run")
        elif key in _BATCH and not same_batch:
            row["note"] = (f"not comparable: batches of {prev.get('serving.batch_rows')} rows before, "
                           f"{cur.get('serving.batch_rows')} now")
        else:
            ratio = b / a if better == "lower" else a / b
            beyond_noise = abs(b - a) > NOISE_FLOOR.get(key, 0.0)
            row.update(worse_by=float(ratio), regressed=bool(judged and ratio > max_ratio and beyond_noise))
            if judged and ratio > max_ratio and not beyond_noise:
                row["note"] = f"within the noise floor ({NOISE_FLOOR[key]:g} {what.rsplit('(', 1)[-1].rstrip(')')})"
        rows.append(row)
    table = pd.DataFrame(rows, columns=["measure", "what", "judged", "previous", "current", "worse_by", "regressed",
                                        "note"])
    table.attrs["max_ratio"] = max_ratio
    return table


def against_previous(previous: str | Path | None, timings: dict, size_bytes: int | None, *,
                     max_ratio: float = 1.5) -> tuple[pd.DataFrame | None, dict]:
    """Compare this run's timings (and model size) with the previous pack's. Returns ``(table, info)``; without a
    usable previous pack the table is None and ``info`` holds ``reason`` and ``not_applicable``."""
    if not previous:
        return None, {"reason": "no previous pack is given (`playbook run --previous PACK`)", "not_applicable": True}
    try:
        prev = load_previous(previous)
    except PreviousPackError as exc:
        return None, {"reason": str(exc).rstrip("."), "not_applicable": False}
    table = compare(timings, prev["timings"], max_ratio=max_ratio,
                    current_size_mb=None if size_bytes is None else size_bytes / 1e6, previous_size_mb=prev["size_mb"])
    return table, {"previous": prev["source"], "max_ratio": max_ratio, "measures": table.to_dict("records")}


def regression_check(table: pd.DataFrame | None, max_ratio: float = 1.5, evidence=None,
                     skip_reason: str | None = None, not_applicable: bool = True) -> dict:
    """``model.serving.performance_regression``: value = the number of judged measurements worse than the previous
    pack's by more than ``max_ratio``."""
    from playbook import catalogue

    thr = {"max": 0, "of": "measurements worse than the previous pack's by more than the ratio", "ratio": max_ratio}
    if table is None:
        return catalogue.skip("model.serving.performance_regression", f"Not computed: {skip_reason}.", threshold=thr,
                              evidence=evidence, not_applicable=not_applicable)
    judged = table[table["judged"] & table["worse_by"].notna()]
    if judged.empty:
        return catalogue.skip("model.serving.performance_regression",
                              "Not computed: no latency, throughput, training time or size was measured in both packs.",
                              threshold=thr, evidence=evidence)
    bad = judged[judged["regressed"]]
    worst = judged.sort_values(["worse_by", "measure"], ascending=[False, True]).iloc[0]
    title = (f"{len(judged)} measurements compared with the previous pack (tolerance {max_ratio:g}x): "
             + (f"{len(bad)} regressed: " + ", ".join(f"{w} {r:.2f}x" for w, r in zip(bad["what"], bad["worse_by"]))
                if len(bad) else f"none regressed (worst: {worst['what']} {worst['worse_by']:.2f}x)"))
    return catalogue.check(
        "model.serving.performance_regression", "fail" if len(bad) else "pass", int(len(bad)), title=title,
        threshold=thr, evidence=evidence,
        why="A release that is slower or heavier than the one before breaks latency budgets and capacity plans "
            "without any quality metric moving; wall-clock figures compare only between runs on the same machine.")


__all__ = ["MEASURES", "NOISE_FLOOR", "PreviousPackError", "against_previous", "compare", "load_previous", "regression_check"]
