"""The whole pack on growing data: wall time, peak memory and how time grows with the rows.

    python benchmarks/pack_scaling.py [--rows 10000,100000,1000000,2000000] [--features 10] [--keep DIR]

For each size, a seeded binary-classification dataset is generated as parquet, in chunks (bounded memory): a
reference of N rows and a current of N/5 rows with ``--features`` columns (numeric with missing values, a
categorical, a timestamp, an id; the current slightly drifted), and ``playbook run`` builds the default pack on it
(every step, the templates' default parameters, ``data.max_rows`` at its default) in a child process. Peak memory
is the largest total resident memory of the run's process tree (the CLI and its kernels), sampled every 0.2 s.

The growth exponent between two sizes is ``log(t2 / t1) / log(n2 / n1)``: 1 means time proportional to the rows,
0 means time independent of them. Prints one line per size, then, as its last line, one JSON object:
``{"runs": [{"rows", "seconds", "peak_gb", "verdict", "exit_code"}], "exponent_100k_2m", "targets", "met"}``.
Targets: the 2,000,000-row pack in under 300 s and 4 GB on 2 cores, exponent below 0.6 between 100k and 2M rows.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TARGETS = {"pack_2m_s": 300.0, "pack_2m_peak_gb": 4.0, "exponent_100k_2m": 0.6}
CHUNK = 250_000


def generate(folder: Path, rows: int, features: int = 10, seed: int = 0) -> Path:
    """Write reference.parquet, current.parquet and pack.yaml into ``folder``; return the config path."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    n_num = max(features - 3, 1)

    def chunk(start: int, n: int, drift: float, rng) -> pa.Table:
        x = rng.normal(0, 1, (n, n_num))
        x[:, 0] += drift
        logit = 1.2 * x[:, 0] - 0.8 * x[:, 1 % n_num] + 0.5 * np.sin(x[:, 2 % n_num])
        region = rng.choice(np.array(["north", "south", "east", "west", "centre"]), n, p=[.3, .25, .2, .15, .1])
        logit += np.where(region == "north", 0.6, 0.0)
        y = rng.random(n) < 1 / (1 + np.exp(-logit))
        cols = {f"x{i}": np.where(rng.random(n) < 0.02, np.nan, x[:, i]) for i in range(n_num)}
        cols["region"] = region
        cols["opened"] = (np.datetime64("2024-01-01") + (np.arange(start, start + n) * 86400 // max(rows, 1))
                          .astype("timedelta64[s]")).astype("datetime64[s]").astype(str)
        cols["account_id"] = np.char.add("A", np.arange(start, start + n).astype(str))
        cols["churned"] = np.where(y, "yes", "no")
        return pa.table(cols)

    for name, n, drift, s in (("reference", rows, 0.0, seed), ("current", max(rows // 5, 1000), 0.15, seed + 1)):
        rng = np.random.default_rng(s)
        writer = None
        for start in range(0, n, CHUNK):
            t = chunk(start, min(CHUNK, n - start), drift, rng)
            writer = writer or pq.ParquetWriter(folder / f"{name}.parquet", t.schema)
            writer.write_table(t, row_group_size=100_000)
        writer.close()
    cfg = {"name": f"scaling-{rows}", "seed": seed,
           "data": {"reference": "reference.parquet", "current": "current.parquet", "target": "churned",
                    "positive_label": "yes", "id": ["account_id"], "timestamp": "opened"},
           "business": {"cost_false_positive": 1.0, "cost_false_negative": 5.0}}
    path = folder / "pack.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_pack(config: Path, out: Path) -> dict:
    """``playbook run`` in a child process; wall seconds, peak tree memory, verdict."""
    cmd = [sys.executable, "-m", "playbook", "run", str(config), "--out", str(out), "--force", "-q"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    th.join(timeout=1)
    verdict = next((ln.split()[1] for ln in stdout.splitlines() if ln.startswith("verdict:")), None)
    return {"seconds": round(seconds, 1), "peak_gb": round(peak[0] / 2 ** 30, 3), "verdict": verdict,
            "exit_code": proc.returncode, "error": None if proc.returncode in (0, 1) else stderr.strip()[-600:]}


def exponent(runs: list[dict], a: int, b: int) -> float | None:
    by = {r["rows"]: r["seconds"] for r in runs}
    if a not in by or b not in by or by[a] <= 0:
        return None
    return round(math.log(by[b] / by[a]) / math.log(b / a), 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="10000,100000,1000000,2000000", help="reference sizes, comma-separated")
    ap.add_argument("--features", type=int, default=10, help="columns besides the label (default 10)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", default=None, help="keep the data and packs in this folder (default: a temp folder)")
    a = ap.parse_args(argv)
    sizes = [int(x) for x in a.rows.split(",") if x.strip()]
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="pack-scaling-"))
    runs = []
    for n in sizes:
        cfg = generate(tmp / f"data-{n}", n, a.features, a.seed)
        r = {"rows": n, **run_pack(cfg, tmp / "evidence")}
        runs.append(r)
        print(f"{n:>9} rows: {r['seconds']:7.1f} s, peak {r['peak_gb']:.2f} GB, verdict {r['verdict']} "
              f"(exit {r['exit_code']})" + (f" ERROR {r['error']}" if r["error"] else ""), flush=True)
    expo = exponent(runs, 100_000, 2_000_000)
    big = next((r for r in runs if r["rows"] == 2_000_000), None)
    met = None
    if big is not None and expo is not None:
        met = (big["seconds"] < TARGETS["pack_2m_s"] and big["peak_gb"] < TARGETS["pack_2m_peak_gb"]
               and expo < TARGETS["exponent_100k_2m"] and big["exit_code"] in (0, 1))
    if not a.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"runs": runs, "exponent_100k_2m": expo, "targets": TARGETS, "met": met}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
