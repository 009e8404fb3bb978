"""Benchmark: our per-column drift detector against Evidently's DataDriftPreset, same data, same run.

    python benchmarks/drift_vs_evidently.py [--rows 1000000] [--seed 0]

Builds a reference and a current frame of ``--rows`` rows x 15 columns (10 numeric: floats and
wide-range integers; 5 categorical strings; a few missing values; some columns drifted, some
not, one close to the Wasserstein threshold), then runs in two fresh subprocesses (so neither
inherits the other's memory):

* ours: ``playbook.drift.detect.column_drift(reference, current)``
* Evidently 0.7: ``Report([DataDriftPreset()]).run(current, reference)`` and its per-column
  decisions (``playbook.drift.detect.evidently_column_drift``).

Each worker builds the same data from the seed, then times only the detector call. Peak memory
is the highest resident set size sampled every 5 ms during the call minus the resident size just
before it (the memory the detector needed on top of the loaded data).

Prints both times, the ratio, peak memory, the per-column decisions that differ, and as its last
line one JSON object: ``ours_s, evidently_s, ratio, differing_decisions, ours_peak_gb,
evidently_peak_gb``. Target: ours <= 1/20 of Evidently's time with zero differing decisions.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pandas as pd

CATEGORIES = np.array(["retail", "wholesale", "online", "partner", "branch", "phone", "other"], dtype=object)


def build(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames: 10 numeric + 5 categorical columns, some drifted."""
    rng = np.random.default_rng(seed)

    def frame(n: int, current: bool) -> pd.DataFrame:
        d: dict[str, np.ndarray] = {}
        # (mean shift in reference SDs, scale factor) for the current frame; reference has none
        numeric = [(0.0, 1.0), (0.3, 1.0), (0.05, 1.0), (0.0, 1.5), (0.1, 1.0),
                   (0.0, 1.0), (0.2, 1.0)]
        for i, (shift, scale) in enumerate(numeric):
            mu, sd = (shift, scale) if current else (0.0, 1.0)
            d[f"num_{i}"] = rng.normal(mu, sd, n)
        d["amount"] = rng.lognormal(7.0 + (0.15 if current else 0.0), 1.0, n)
        d["age"] = rng.integers(18, 91 if not current else 96, n)            # wide-range integers
        d["tenure_days"] = rng.integers(0, 3650, n)
        for j in range(5):
            p = np.array([0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05])
            if current and j in (1, 3):
                p = p[::-1].copy()
            if current and j == 4:
                p = np.array([0.29, 0.21, 0.15, 0.12, 0.1, 0.08, 0.05])   # tiny change: no drift
            d[f"cat_{j}"] = rng.choice(CATEGORIES, n, p=p / p.sum())
        df = pd.DataFrame(d)
        for col in ("num_0", "amount", "cat_2"):
            df.loc[rng.random(n) < 0.01, col] = np.nan
        return df

    return frame(rows, False), frame(rows, True)


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: fall back to the peak so far
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """Sample the resident set size in a thread; ``peak`` is the maximum above the start."""

    def __init__(self, every: float = 0.005):
        self.every = every
        self.base = 0
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        gc.collect()
        self.base = _rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss() - self.base)
            time.sleep(self.every)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss() - self.base)


def worker(which: str, rows: int, seed: int) -> dict:
    warnings.filterwarnings("ignore")
    from playbook.drift.detect import column_drift, evidently_column_drift

    ref, cur = build(rows, seed)
    if which == "evidently":
        import evidently  # noqa: F401  (import time is not part of the measurement)
        fn = evidently_column_drift
    else:
        fn = column_drift
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        table = fn(ref, cur)
        seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "peak_gb": mem.peak / 1e9,
        "decisions": {r["column"]: bool(r["drifted"]) for r in table.to_dict("records")},
        "tests": {r["column"]: r["test"] for r in table.to_dict("records")},
        "statistics": {r["column"]: r["statistic"] for r in table.to_dict("records")},
    }


def run_worker(which: str, rows: int, seed: int) -> dict:
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", which,
                           "--rows", str(rows), "--seed", str(seed)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"the {which} worker failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", choices=["ours", "evidently"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.rows, args.seed)))
        return

    print(f"reference and current: {args.rows:,} rows x 15 columns (10 numeric, 5 categorical)")
    ours = run_worker("ours", args.rows, args.seed)
    print(f"ours:      {ours['seconds']:8.2f} s   peak +{ours['peak_gb']:.3f} GB")
    evid = run_worker("evidently", args.rows, args.seed)
    print(f"evidently: {evid['seconds']:8.2f} s   peak +{evid['peak_gb']:.3f} GB")
    ratio = evid["seconds"] / ours["seconds"] if ours["seconds"] > 0 else float("inf")
    print(f"ratio (evidently / ours): {ratio:.1f}x  (target >= 20x)")
    cols = list(evid["decisions"])
    differing = [c for c in cols if ours["decisions"].get(c) != evid["decisions"][c]]
    print(f"{'column':<12} {'test':<14} {'ours':>12} {'evidently':>12}  drift ours/evidently")
    for c in cols:
        so, se = ours["statistics"].get(c), evid["statistics"][c]
        fo = f"{so:12.6g}" if isinstance(so, (int, float)) else f"{str(so):>12}"
        print(f"{c:<12} {str(ours['tests'].get(c)):<14} {fo} {se:12.6g}  "
              f"{ours['decisions'].get(c)!s:>5}/{evid['decisions'][c]!s:<5}{'  DIFFERENT' if c in differing else ''}")
    print(f"differing decisions: {len(differing)} {differing if differing else ''}")
    print(json.dumps({
        "ours_s": round(ours["seconds"], 3),
        "evidently_s": round(evid["seconds"], 3),
        "ratio": round(ratio, 2),
        "differing_decisions": len(differing),
        "ours_peak_gb": round(ours["peak_gb"], 3),
        "evidently_peak_gb": round(evid["peak_gb"], 3),
    }))


if __name__ == "__main__":
    main()
