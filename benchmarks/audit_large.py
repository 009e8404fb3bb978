"""The data audit on 10 million rows in bounded memory, and on 1 million rows against Evidently's data summary.

    python benchmarks/audit_large.py [--rows 10000000] [--current-rows 2000000] [--slice 1000000] [--seed 0]

What is measured, in one run:

1. **Generated data.** Seeded and chunked (one chunk of rows in memory at a time, written with pyarrow's
   ``ParquetWriter``) into a temporary folder: ``--rows`` rows x 20 columns of reference data and ``--current-rows``
   rows of current data (an id, an event timestamp, ISO dates as text, integers and floats with missing values,
   ``-999`` sentinels and a few infinities, text categories with ``'?'`` placeholders, a boolean, a constant
   column, a binary label), a few exact duplicate rows (and so repeated ids), current rows copied from the
   reference, and some drift (a shifted mean, a new category, another region mix). Its memory does not count.
2. **The audit on the full data** (``audit_10m_*``), in a child process: ``playbook.audit.run_audit`` with the
   parquet files as ``tables`` (every full-data statistic scanned by DuckDB) and, as the frames, the seeded sample
   of ``AuditParams.sample_rows`` rows a pack holds in pandas (``sampling`` records it), no Evidently report.
   Wall time covers reading the sample and the audit; the peak memory is the child's peak resident set size
   (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` in the parent, after the child ended). Imports happen
   before the clock starts, for every measurement.
3. **1 million rows against Evidently** (``ours_1m_s``, ``evidently_1m_s``), each in its own child process on
   the same frames: the first ``--slice`` rows of each dataset read into pandas (not timed), then our audit with
   only the frames (``tables`` built from them, ``report=False``) against Evidently 0.7's
   ``Report([DataSummaryPreset()])`` on the same two frames with a ``DataDefinition`` giving every column's kind
   (``Dataset.from_pandas`` and the run are timed; rendering HTML is not).

With ``--repeat N`` the two 1M-row measurements run N times, interleaved, and the fastest of each is kept (wall
time on a shared machine varies with what else runs; CPU seconds, reported too, vary much less).

Prints one line per measurement, then, as its last line, one JSON object: ``{"rows", "current_rows", "columns",
"slice_rows", "sample_rows", "audit_10m_s", "audit_10m_peak_gb", "ours_1m_s", "evidently_1m_s",
"ratio_1m_vs_evidently", "targets": {...}, "met", "cpu_s": {...}, "load_average", "cores"}`` where the ratio is ours /
Evidently's and ``met`` says whether every target holds (the 10M-row audit in under 60 s and 2 GB; ours at most a
tenth of Evidently's time). ``--rows`` below 10 million runs the same pipeline smaller (the targets are then judged
as given).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {"audit_10m_s": {"max": 60.0}, "audit_10m_peak_gb": {"max": 2.0}, "ratio_1m_vs_evidently": {"max": 0.1}}
CHUNK = 500_000
TARGET = "churned"
REGIONS = ["Flanders", "Wallonia", "Brussels", "Limburg", "Antwerp", "Ghent"]
CHANNELS = ["web", "branch", "phone", "partner"]
PRODUCTS = [f"product {k:02d}" for k in range(30)]
CITIES = [f"city {k:03d}" for k in range(500)]
OCCUPATIONS = [f"occupation {k:02d}" for k in range(40)]


# -- data ------------------------------------------------------------------------------------------------------
def _chunk(rng, start: int, n: int, current: bool):
    """One chunk of rows as a pyarrow table (the current data drifts: income up 10 %, another region mix, a new
    product)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    def pick(values, idx, null=None):
        arr = pc.take(pa.array(values), pa.array(idx))
        return arr if null is None else pc.if_else(pa.array(null), pa.nulls(len(idx), pa.string()), arr)

    day0 = np.datetime64("2024-01-01" if current else "2023-01-01", "s")
    span = (90 if current else 365) * 86400
    event = day0 + rng.integers(0, span, n).astype("timedelta64[s]")
    signup = np.datetime64("2015-01-01", "D") + rng.integers(0, 3000, n).astype("timedelta64[D]")
    age = rng.integers(18, 90, n)
    age[rng.random(n) < 0.001] = -999
    income = rng.lognormal(10.3, 0.5, n) * (1.1 if current else 1.0)
    income[rng.random(n) < 0.03] = np.nan
    balance = rng.normal(2500, 900, n)
    balance[rng.random(n) < 2e-6] = np.inf
    last_payment = rng.exponential(300, n)
    last_payment[rng.random(n) < 0.01] = np.nan
    region_p = np.array([0.2, 0.3, 0.1, 0.15, 0.15, 0.1] if current else [0.35, 0.25, 0.15, 0.1, 0.1, 0.05])
    product = rng.integers(0, len(PRODUCTS), n)
    products = PRODUCTS + ["product new"]
    if current:
        product[rng.random(n) < 0.005] = len(PRODUCTS)
    channel = rng.choice(len(CHANNELS) + 2, n, p=[0.45, 0.25, 0.15, 0.129, 0.02, 0.001])
    score = rng.random(n)
    churn_p = 0.08 + 0.15 * score
    label = np.where(rng.random(n) < churn_p, "yes", "no").astype(object)
    return pa.table({
        "customer_id": pa.array(np.arange(start, start + n) + (50_000_000 if current else 0)),
        "event_time": pa.array(event.astype("datetime64[us]")),
        "signup_date": pa.array(np.datetime_as_string(signup, unit="D").astype(object)),
        "age": pa.array(age),
        "income": pa.array(income, from_pandas=True),
        "balance": pa.array(balance),
        "score": pa.array(score),
        "tenure_months": pa.array(rng.integers(0, 240, n)),
        "n_products": pa.array(rng.integers(1, 7, n)),
        "utilization": pa.array(rng.beta(2, 5, n)),
        "last_payment": pa.array(last_payment, from_pandas=True),
        "rate": pa.array(rng.normal(0.05, 0.01, n)),
        "region": pick(REGIONS, rng.choice(len(REGIONS), n, p=region_p)),
        "product": pick(products, product),
        "channel": pick(CHANNELS + ["?", " NA "], channel),
        "city": pick(CITIES, rng.integers(0, len(CITIES), n)),
        "occupation": pick(OCCUPATIONS, rng.integers(0, len(OCCUPATIONS), n), null=rng.random(n) < 0.05),
        "is_member": pa.array(rng.random(n) < 0.4),
        "country": pick(["BE"], np.zeros(n, dtype=np.int64)),
        TARGET: pa.array(label, pa.string()),
    })


def _with_copies(table, rng, share: float, source=None):
    """``table`` with about ``share`` of its rows replaced by copies of earlier rows (or of rows of ``source``)."""
    import numpy as np
    import pyarrow as pa

    n = table.num_rows
    if n < 2:
        return table
    k = max(1, int(n * share))
    at = rng.choice(np.arange(1, n), size=k, replace=False)
    take = np.arange(n)
    if source is None:
        take[at] = (rng.random(k) * at).astype(np.int64)  # an earlier row of the same chunk
        return table.take(pa.array(take))
    both = pa.concat_tables([table, source.take(pa.array(rng.integers(0, source.num_rows, k)))])
    take[at] = n + np.arange(k)
    return both.take(pa.array(take))


def generate(folder: Path, rows: int, current_rows: int, seed: int = 0) -> dict[str, Path]:
    """Write ``reference.parquet`` and ``current.parquet`` chunk by chunk; return their paths."""
    import numpy as np
    import pyarrow.parquet as pq

    paths = {"reference": folder / "reference.parquet", "current": folder / "current.parquet"}
    first_ref = None
    for ds, total in (("reference", rows), ("current", current_rows)):
        writer = None
        for k, start in enumerate(range(0, total, CHUNK)):
            n = min(CHUNK, total - start)
            rng = np.random.default_rng([seed, 0 if ds == "reference" else 1, k])
            tb = _with_copies(_chunk(rng, start, n, ds == "current"), rng, 1e-4)
            if ds == "reference" and k == 0:
                first_ref = tb
            if ds == "current" and first_ref is not None:
                tb = _with_copies(tb, rng, 1e-3, source=first_ref)  # contamination: rows also in the reference
            if writer is None:
                writer = pq.ParquetWriter(paths[ds], tb.schema)
            writer.write_table(tb, row_group_size=min(CHUNK, 250_000))
        writer.close()
    return paths


def read_slice(path: Path, rows: int):
    """The first ``rows`` rows of a parquet file as a pandas frame (row groups read one at a time)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    parts, have = [], 0
    for g in range(pf.num_row_groups):
        if have >= rows:
            break
        tb = pf.read_row_group(g)
        parts.append(tb.slice(0, rows - have))
        have += parts[-1].num_rows
    return pa.concat_tables(parts).to_pandas()


# -- measurements (each in a child process) ------------------------------------------------------------------
def _roles(ref, cur):
    from playbook.config import DataSettings
    from playbook.data import resolve_roles

    settings = DataSettings(reference="", current="", target=TARGET, id=["customer_id"], timestamp="event_time")
    return resolve_roles(ref, cur, settings)


def _warm_imports() -> None:
    """Import what the audit uses before the clock starts (Evidently is imported before its clock too)."""
    import sklearn.metrics  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import sklearn.preprocessing  # noqa: F401
    import sklearn.tree  # noqa: F401

    import playbook.audit  # noqa: F401
    import playbook.privacy  # noqa: F401


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child_audit_full(paths: dict[str, str], seed: int) -> dict:
    from playbook import audit
    from playbook.tables import Table

    _warm_imports()
    t0, c0 = time.perf_counter(), _cpu()
    p = audit.AuditParams(seed=seed, run_date="2024-06-30")
    tables = {ds: Table.from_parquet(path, ds) for ds, path in paths.items()}
    frames = {ds: t.sample(p.sample_rows, seed=seed) for ds, t in tables.items()}
    sampling = {ds: {"rows": tables[ds].rows, "sample": len(frames[ds]), "seed": seed} for ds in tables}
    roles = _roles(frames["reference"], frames["current"])
    checks, _ = audit.run_audit(frames["reference"], frames["current"], roles, p, report=False,
                                tables=tables, sampling=sampling)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": _cpu() - c0, "checks": len(checks),
            "status": {c["id"]: c["status"] for c in checks}}


def child_ours_slice(paths: dict[str, str], rows: int, seed: int) -> dict:
    from playbook import audit

    ref, cur = read_slice(Path(paths["reference"]), rows), read_slice(Path(paths["current"]), rows)
    roles = _roles(ref, cur)
    _warm_imports()
    t0, c0 = time.perf_counter(), _cpu()
    checks, _ = audit.run_audit(ref, cur, roles, audit.AuditParams(seed=seed, run_date="2024-06-30"), report=False)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": _cpu() - c0, "checks": len(checks)}


def child_evidently_slice(paths: dict[str, str], rows: int) -> dict:
    import warnings

    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataSummaryPreset

    ref, cur = read_slice(Path(paths["reference"]), rows), read_slice(Path(paths["current"]), rows)
    numeric = [c for c in ref.columns
               if pd.api.types.is_numeric_dtype(ref[c]) and not pd.api.types.is_bool_dtype(ref[c])]
    dates = [c for c in ref.columns if pd.api.types.is_datetime64_any_dtype(ref[c])]
    categorical = [c for c in ref.columns if c not in numeric and c not in dates]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical, datetime_columns=dates)
    t0, c0 = time.perf_counter(), _cpu()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataSummaryPreset()]).run(Dataset.from_pandas(cur, data_definition=definition),
                                                      Dataset.from_pandas(ref, data_definition=definition))
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "metrics": len(snapshot.dict().get("metrics", []))}


def run_child(kind: str, paths: dict[str, Path], rows: int, seed: int) -> tuple[dict, float]:
    """Run one measurement in a fresh interpreter; return its JSON and the children's peak RSS in GB so far."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--rows", str(rows), "--seed", str(seed),
           "--paths", json.dumps({k: str(v) for k, v in paths.items()})]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{proc.stderr[-4000:]}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kilobytes on Linux
    return json.loads(proc.stdout.strip().splitlines()[-1]), peak_kb / 1024**2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="reference rows (default 10 million)")
    ap.add_argument("--current-rows", type=int, default=None, help="current rows (default: a fifth of --rows)")
    ap.add_argument("--slice", type=int, default=1_000_000, help="rows of each dataset for the Evidently comparison")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each 1M-row measurement this many times, each in a fresh process, and keep the fastest "
                         "(the same for ours and Evidently's)")
    ap.add_argument("--keep", default="", help="write the data to this folder and keep it (default: a temp folder)")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--paths", default="", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        paths = json.loads(a.paths)
        if a.child == "audit":
            out = child_audit_full(paths, a.seed)
        elif a.child == "ours":
            out = child_ours_slice(paths, a.rows, a.seed)
        else:
            out = child_evidently_slice(paths, a.rows)
        print(json.dumps(out, sort_keys=True))
        return 0

    from playbook.audit import AuditParams

    current_rows = a.current_rows if a.current_rows is not None else max(1, a.rows // 5)
    slice_rows = min(a.slice, a.rows, current_rows)
    with tempfile.TemporaryDirectory(prefix="audit-large-") as tmp:
        folder = Path(a.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        paths = generate(folder, a.rows, current_rows, a.seed)
        print(f"generated {a.rows:,} + {current_rows:,} rows x 20 columns in {time.perf_counter() - t0:.1f} s "
              f"({sum(p.stat().st_size for p in paths.values()) / 1e6:.0f} MB of parquet)", flush=True)
        full, peak_gb = run_child("audit", paths, a.rows, a.seed)
        print(f"audit of {a.rows:,} rows (tables: parquet, frames: a sample): {full['seconds']:.1f} s "
              f"({full['cpu_seconds']:.1f} s of CPU), peak {peak_gb:.2f} GB", flush=True)
        ours = evid = None
        for _ in range(max(1, a.repeat)):  # interleaved, so both meet the same load on the machine
            o, _ = run_child("ours", paths, slice_rows, a.seed)
            print(f"audit of {slice_rows:,} rows (frames only): {o['seconds']:.2f} s ({o['cpu_seconds']:.1f} s of CPU)",
                  flush=True)
            e, _ = run_child("evidently", paths, slice_rows, a.seed)
            print(f"Evidently DataSummaryPreset on the same {slice_rows:,} rows: {e['seconds']:.2f} s "
                  f"({e['cpu_seconds']:.1f} s of CPU)", flush=True)
            ours = o if ours is None or o["seconds"] < ours["seconds"] else ours
            evid = e if evid is None or e["seconds"] < evid["seconds"] else evid
    ratio = ours["seconds"] / evid["seconds"] if evid["seconds"] else None
    result = {"rows": a.rows, "current_rows": current_rows, "columns": 20, "slice_rows": slice_rows,
              "sample_rows": AuditParams().sample_rows, "audit_10m_s": round(full["seconds"], 2),
              "audit_10m_peak_gb": round(peak_gb, 3), "ours_1m_s": round(ours["seconds"], 3),
              "evidently_1m_s": round(evid["seconds"], 3),
              "ratio_1m_vs_evidently": None if ratio is None else round(ratio, 4), "targets": TARGETS,
              "cpu_s": {"audit_10m": round(full["cpu_seconds"], 2), "ours_1m": round(ours["cpu_seconds"], 2),
                        "evidently_1m": round(evid["cpu_seconds"], 2)},
              "load_average": round(os.getloadavg()[0], 2), "cores": os.cpu_count()}
    values = {k: result[k] for k in TARGETS}
    result["met"] = all(values[k] is not None and values[k] <= t["max"] for k, t in TARGETS.items())
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
