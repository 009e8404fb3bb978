"""How `playbook batch` scales with local workers: the same packs built one at a time and then N at a time.

    python benchmarks/batch_scaling.py [--packs 8] [--workers 2] [--steps data_audit] [--keep DIR]

What is measured: the wall time of ``playbook.batch.run_batch`` (what ``playbook batch`` runs) over the same matrix
of ``--packs`` entries with ``workers=1`` (serial) and with ``--workers`` worker processes, each into a fresh output
folder; the speed-up is serial / parallel time. The entries are built in two halves in the order serial, parallel,
parallel, serial (each mode's time is the sum of its two halves), so that a load on the machine that rises or falls
while the script runs weighs on both modes alike. Before all of it, one pack is built and thrown away, so that no
timed run pays for cold file caches or for compiling the bytecode of a first import.

The entries: the bundled German credit data with ``seed`` 0, 1, ... (a grid over ``seed``: every pack is a real,
distinct pack, none reuses another's results), run with ``--steps data_audit`` by default. One data-audit pack
costs what every pack pays whatever its steps: a Python process, the playbook's imports, reading and profiling the
data (the privacy scan), a kernel started by papermill, the notebook executed and rendered to HTML, the manifest
hashed: about 12 s of CPU, nearly all of it on one core, so the whole script takes 3 minutes on an idle 2-core
machine and about 6 when other work loads it (the six steps take about a minute of CPU per pack even with the small
parameters of ``tests/conftest.py``, too long for 17 packs in 10 minutes; pass ``--steps all`` to measure them
anyway). ``--steps`` takes what ``playbook batch --steps`` takes.

Each pack process gets ``OMP_NUM_THREADS`` = cores // workers (the batch sets it unless the environment does), so
the serial run may use every core for BLAS / OpenMP work and the parallel run does not oversubscribe them.

Prints one line per run, then, as its last line, one JSON object: ``{"packs", "serial_s", "parallel_s",
"workers", "speedup", "target", "met"}``; ``met`` is whether the speed-up reaches ``target`` (1.7 for 2 workers:
85 % of linear). The load average of the machine is printed before and after: other processes competing for the
cores make both times longer and the ratio noisier. Each run's line also gives the CPU seconds its pack processes
and kernels used and the cores they kept busy on average (CPU / wall): about 1 for the serial run and about the
number of workers for the parallel one on an idle machine; fewer when other work takes the cores (then a speed-up
above the number of workers only says the serial run got less of the machine than the parallel one).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed_batch(matrix, out: Path, workers: int, steps) -> tuple[float, float, list]:
    """Wall seconds, CPU seconds of the pack processes and their kernels (children waited for), and the rows."""
    import resource

    from playbook import batch

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    res = batch.run_batch(matrix, out=out, workers=workers, steps=steps)
    return time.perf_counter() - t0, cpu() - c0, res.rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packs", type=int, default=8, help="entries in the matrix (default 8)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the parallel run (default 2)")
    ap.add_argument("--steps", nargs="+", default=["data_audit"],
                    help="steps of every pack (default: data_audit; 'all' for the six)")
    ap.add_argument("--target", type=float, default=1.7, help="speed-up to reach (default 1.7)")
    ap.add_argument("--keep", default=None, metavar="DIR", help="write the packs here and keep them")
    a = ap.parse_args(argv)
    from playbook import batch

    steps = None if a.steps == ["all"] else a.steps
    root = Path(a.keep).resolve() if a.keep else Path(tempfile.mkdtemp(prefix="batch-scaling-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        (root / "matrix.yaml").write_text(f"grid:\n  seed: {list(range(a.packs))}\n", encoding="utf-8")
        matrix = batch.load_matrix(root / "matrix.yaml")
        warm = batch.Matrix(matrix.path, matrix.entries[:1])
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {batch.default_workers()} "
              "cores", flush=True)
        timed_batch(warm, root / "warm-up", 1, steps)
        # ABBA: serial and parallel each build half the entries, then the other half in the reverse order, so that
        # a machine load that rises or falls during the script weighs on both alike
        half = (a.packs + 1) // 2
        halves = [batch.Matrix(matrix.path, matrix.entries[:half]), batch.Matrix(matrix.path, matrix.entries[half:])]
        order = [("serial", 1, 0), ("parallel", a.workers, 0), ("parallel", a.workers, 1), ("serial", 1, 1)]
        totals = {"serial": [0.0, 0.0, []], "parallel": [0.0, 0.0, []]}
        for label, workers, h in order:
            if not halves[h].entries:
                continue
            seconds, cpu, rows = timed_batch(halves[h], root / f"{label}-{h}", workers, steps)
            bad = [r for r in rows if r.verdict == "error"]
            if bad:
                print(f"{label}: {bad[0].entry} failed: {bad[0].error}", file=sys.stderr)
                return 2
            t = totals[label]
            t[0], t[1] = t[0] + seconds, t[1] + cpu
            t[2].extend(r.seconds for r in rows)
            print(f"{label:>8} half {h + 1}: {len(rows)} packs with {workers} worker(s) in {seconds:.1f} s "
                  f"(load average {os.getloadavg()[0]:.2f})", flush=True)
        results = {}
        for label in ("serial", "parallel"):
            seconds, cpu, per_pack = totals[label]
            per_pack = sorted(per_pack)
            workers = 1 if label == "serial" else a.workers
            print(f"{label:>8}: {a.packs} packs with {workers} worker(s) in {seconds:.1f} s (a pack: median "
                  f"{per_pack[len(per_pack) // 2]:.1f} s; {cpu:.0f} s of CPU, {cpu / seconds:.2f} cores busy on "
                  "average)", flush=True)
            results[label] = seconds
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    speedup = round(results["serial"] / results["parallel"], 2)
    print(json.dumps({"packs": a.packs, "serial_s": round(results["serial"], 1),
                      "parallel_s": round(results["parallel"], 1), "workers": a.workers,
                      "speedup": speedup, "target": a.target, "met": bool(speedup >= a.target)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
