"""Freshness and coverage in time (not applicable without ``data.timestamp``).

* ``data.freshness.coverage``: days the current data starts before the reference ends (it should follow it,
  as production data will);
* ``data.freshness.gaps.<dataset>``: the largest gap between consecutive timestamps, as a multiple of the
  median gap (holes reveal outages or filters);
* ``data.freshness.staleness``: age in days of the newest reference row at the *as-of* date: ``run_date``
  when given, otherwise the latest timestamp in the data (so results stay deterministic).

Over every row: the timestamps are read as :meth:`playbook.audit.prepare.AuditData.times` reads them (in SQL for
dates and numbers, once per distinct value for text, on the sample, recorded, for text with more distinct values than
the scan parses), and the gaps between distinct timestamps are computed by DuckDB.
"""

from __future__ import annotations

import pandas as pd

from playbook import catalogue
from playbook.audit.prepare import DATASETS, FINDINGS, AuditData, title
from playbook.audit.scan import Times

NO_TIMESTAMP = "No timestamp column is configured (data.timestamp); set it to check freshness, gaps and time order."
DAY = pd.Timedelta(days=1)


def times(data: AuditData, dataset: str) -> Times | None:
    """The timestamps of a dataset read as times (None when it has no timestamp column)."""
    t = data.roles.timestamp
    if t is None or t not in data.clean[dataset].columns:
        return None
    return data.times(dataset, t)


def _ranges(data: AuditData) -> tuple[dict, list[dict]]:
    ts = {ds: times(data, ds) for ds in DATASETS}
    ranges = {ds: (t.first, t.last) if t is not None and t.parsed else None for ds, t in ts.items()}
    rows = [{"dataset": ds, "first": r[0].isoformat() if r else None, "last": r[1].isoformat() if r else None,
             "rows_with_time": int(ts[ds].parsed) if ts[ds] is not None else 0,
             **({"sample": ts[ds].sample} if ts[ds] is not None and ts[ds].sample else {})}
            for ds, r in ranges.items()]
    return ranges, rows


def _note(data: AuditData, *datasets: str) -> tuple[str, dict]:
    """Why-sentence and threshold keys when a dataset's timestamps were read on the sample."""
    found = {ds: t.sample for ds in datasets if (t := times(data, ds)) is not None and t.sample}
    if not found:
        return "", {}
    return data.sample_why(*found), data.sampled(*found)


def coverage(data: AuditData) -> dict:
    """``data.freshness.coverage``: days of overlap between the end of the reference and the start of the current."""
    p = data.params
    cid = "data.freshness.coverage"
    threshold = {"max": data.limit(cid, "max", p.max_overlap_days), "unit": "days"}
    if data.roles.timestamp is None:
        return catalogue.skip(cid, NO_TIMESTAMP, title=title(cid), threshold=threshold, not_applicable=True)
    ranges, rows = _ranges(data)
    if not (ranges["reference"] and ranges["current"]):
        missing = [ds for ds in DATASETS if not ranges[ds]]
        return catalogue.skip(cid, f"The {' and '.join(missing)} data has no parseable timestamp in "
                              f"{data.roles.timestamp!r}.", title=title(cid), threshold=threshold)
    overlap = (min(ranges["reference"][1], ranges["current"][1]) - ranges["current"][0]) / DAY
    overlap = max(0.0, float(overlap))
    bad = overlap > threshold["max"]
    why = (f"The current data starts {overlap:.1f} day(s) before the reference ends; a model is judged on "
           "the future it will face, so evaluate on data strictly after the training period." if bad else
           "The current data starts after the reference ends, as it will in production; overlapping periods "
           "make evaluation optimistic.")
    note, extra = _note(data, *DATASETS)
    why, threshold = why + note, {**threshold, **extra}
    return catalogue.check(cid, "warn" if bad else "pass", overlap, title=title(cid), threshold=threshold, why=why,
                           details=rows, evidence=FINDINGS)


def gaps(data: AuditData, dataset: str) -> dict:
    """``data.freshness.gaps.<dataset>``: the largest gap between distinct timestamps over the median gap."""
    p = data.params
    cid = f"data.freshness.gaps.{dataset}"
    threshold = {"max": data.limit(cid, "max", p.max_gap_factor), "unit": "median gaps"}
    if data.roles.timestamp is None:
        return catalogue.skip(cid, NO_TIMESTAMP, title=title(cid), threshold=threshold, not_applicable=True)
    t = times(data, dataset)
    g = data.scan.gaps(t) if t is not None and t.parsed else None
    if g is None or g["distinct"] < 3:
        return catalogue.skip(cid, f"The {dataset} data has fewer than 3 distinct timestamps.", title=title(cid),
                              threshold=threshold)
    median = g["median_days"]
    factor = float(g["days"] / median) if median > 0 else 0.0
    bad = factor > threshold["max"]
    gap = {"from": g["from"].isoformat(), "to": g["to"].isoformat(),
           "days": round(g["days"], 6), "median_gap_days": round(median, 6)}
    why = (f"The {dataset} data has a hole of {gap['days']:.1f} days ({gap['from']} to {gap['to']}), "
           f"{factor:.0f}x the usual spacing; a pipeline outage or a filter removed a period the model "
           "then never learns about." if bad else
           f"The largest gap between timestamps is {factor:.1f}x the usual spacing; holes reveal outages or "
           "filters that remove whole periods.")
    note, extra = _note(data, dataset)
    why, threshold = why + note, {**threshold, **extra}
    return catalogue.check(cid, "warn" if bad else "pass", factor, title=title(cid), threshold=threshold, why=why,
                           details=[gap], evidence=FINDINGS)


def staleness(data: AuditData) -> dict:
    """``data.freshness.staleness``: age in days of the newest reference row at the as-of date."""
    p = data.params
    cid = "data.freshness.staleness"
    threshold = {"max": data.limit(cid, "max", p.max_staleness_days), "unit": "days"}
    if data.roles.timestamp is None:
        return catalogue.skip(cid, NO_TIMESTAMP, title=title(cid), threshold=threshold, not_applicable=True)
    ranges, rows = _ranges(data)
    if not ranges["reference"]:
        return catalogue.skip(cid, f"The reference data has no parseable timestamp in {data.roles.timestamp!r}.",
                              title=title(cid), threshold=threshold)
    if p.run_day is not None:
        as_of, basis = p.run_day, f"run_date {p.run_date}"
    else:
        as_of = max(r[1] for r in ranges.values() if r)
        basis = f"the latest timestamp in the data ({as_of.isoformat()}), as no run_date was given"
    age = float((as_of - ranges["reference"][1]) / DAY)
    bad = age > threshold["max"]
    why = (f"The newest reference row is {age:.0f} days old relative to {basis}; the world the model learns "
           "from has moved on, so refresh the training data." if bad else
           f"The newest reference row is {age:.0f} days old relative to {basis}; stale training data "
           "misses recent behaviour.")
    note, extra = _note(data, *DATASETS)
    why, threshold = why + note, {**threshold, **extra}
    return catalogue.check(cid, "warn" if bad else "pass", age, title=title(cid),
                           threshold={**threshold, "as_of": as_of.isoformat()}, why=why, details=rows,
                           evidence=FINDINGS)


def freshness_checks(data: AuditData) -> list[dict]:
    """Freshness and coverage: coverage, gaps per dataset, staleness."""
    return [coverage(data)] + [gaps(data, ds) for ds in DATASETS] + [staleness(data)]


__all__ = ["coverage", "freshness_checks", "gaps", "staleness", "times"]
