"""Wall time of a default pack against the floor: papermill running as many trivial notebooks, in the same run.

    python benchmarks/pack_time.py [--config CONFIG] [--steps STEP ...] [--floor-only] [--out DIR]

What is measured, in one run on the same machine:

* **the pack**: ``playbook run`` (the CLI, in its own process, as a user runs it) with the default parameters on the
  bundled German credit data (or ``--config``) into a temporary folder: the wall time of the whole command, and the
  seconds of each step as the pack's ``manifest.json`` records them;
* **the floor**: papermill executing, in sequence, as many notebooks as the pack has steps, each holding one code
  cell ``x = 1``, with the kernel and the kernel manager ``playbook run`` uses (``playbook.runner.KERNEL``, its
  IPC kernel manager): what running that many notebooks costs before any of them does work (kernel start,
  execution, shutdown). ``floor_s`` is their number times the median run: now and then one kernel takes 5 s more to
  stop (jupyter_client terminates it after half its shutdown wait), an outlier that would flatter the ratio; every
  run is listed in ``floor_runs``.

``ratio`` is pack / floor; the target is a ratio of at most 4. Timings vary with the machine's load: the two
measurements are taken in the same run so that they see the same machine. ``--floor-only`` measures the floor
alone (``pack_s``, ``ratio`` null, ``met`` false); ``--steps`` runs only those steps (names or numbers, as
``playbook run --steps``) and as many trivial notebooks. A pack exit code of 0 (go) or 1 (no-go / incomplete) is a
measurement; 2 (error) fails the benchmark.

Prints one line per step, then, as its last line, one JSON object:
``{"pack_s", "floor_s", "ratio", "target": 4, "met", "steps": {step: seconds}, "floor_runs": [seconds],
"config", "verdict"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = 4.0


def trivial_notebook(path: Path) -> Path:
    """A notebook with one code cell ``x = 1`` on the kernel ``playbook run`` uses."""
    import nbformat

    from playbook.runner import KERNEL

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def floor(n: int, folder: Path) -> list[float]:
    """Seconds of each of ``n`` papermill runs of the trivial notebook, in sequence, as ``playbook run`` starts its
    kernels (same kernel name, same kernel manager; the kernel's own log kept off the terminal)."""
    import papermill as pm

    from playbook import runner

    nb = trivial_notebook(folder / "trivial.ipynb")
    times = []
    os.environ.setdefault("MPLBACKEND", "Agg")
    for i in range(n):
        log = folder / f"kernel-{i}.log"
        t0 = time.perf_counter()
        pm.execute_notebook(str(nb), str(folder / f"trivial-{i}.ipynb"), kernel_name=runner.KERNEL, cwd=str(folder),
                            progress_bar=False, log_output=False, request_save_on_cell_execute=True,
                            kernel_manager_class=runner._kernel_manager_class(log, {}))
        times.append(time.perf_counter() - t0)
    return times


def step_names(steps: list[str] | None) -> list[str]:
    """The steps ``playbook run`` would run: all templates, or those named (names or numbers)."""
    from playbook.runner import discover

    names = [t.name for t in discover()]
    if not steps:
        return names
    chosen = []
    for s in steps:
        for t in discover():
            if s in (t.name, t.dirname, t.dirname.split("_", 1)[0], t.dirname.split("_", 1)[0].lstrip("0")):
                chosen.append(t.name)
                break
        else:
            raise SystemExit(f"--steps: {s!r} is not a step; the steps are: {', '.join(names)}")
    return [n for n in names if n in chosen]


def run_pack(config: str | None, out: Path, steps: list[str] | None) -> tuple[float, dict, str]:
    """Wall seconds of ``playbook run`` (its own process), per-step seconds from the manifest, and the verdict."""
    cmd = [sys.executable, "-m", "playbook", "run", *([config] if config else []), "--out", str(out), "--force", "-q"]
    if steps:
        cmd += ["--steps", *steps]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=str(out), capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"playbook run failed with exit code {proc.returncode}")
    packs = sorted((m for m in out.glob("*/manifest.json") if not m.parent.name.startswith(".")),
                   key=lambda m: m.stat().st_mtime)
    if not packs:
        raise SystemExit(f"playbook run wrote no pack into {out}")
    manifest = json.loads(packs[-1].read_text(encoding="utf-8"))  # the one just written
    per_step = {name: round(float(s["seconds"]), 2) for name, s in manifest.get("steps", {}).items()}
    return seconds, per_step, manifest.get("verdict", "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="", help="a pack config (default: the bundled German credit data)")
    ap.add_argument("--steps", nargs="+", default=None, metavar="STEP",
                    help="only these steps (names or numbers, as playbook run --steps), and as many trivial notebooks")
    ap.add_argument("--floor-only", action="store_true", help="measure the floor only (no pack)")
    ap.add_argument("--out", default="", help="folder for the pack and the trivial notebooks (default: a temporary one)")
    a = ap.parse_args(argv)
    names = step_names(a.steps)
    with tempfile.TemporaryDirectory(prefix="pack-time-") as tmp:
        work = Path(a.out).resolve() if a.out else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        (work / "floor").mkdir(exist_ok=True)
        floor_runs = floor(len(names), work / "floor")
        # the typical trivial notebook times their number: now and then one kernel takes 5 s more to stop
        # (jupyter_client terminates it after half its shutdown wait), which would flatter the ratio
        floor_s = len(floor_runs) * statistics.median(floor_runs)
        print(f"floor: {len(names)} trivial notebooks in {floor_s:.1f} s "
              f"({', '.join(f'{t:.2f}' for t in floor_runs)})")
        pack_s, per_step, verdict = None, {}, None
        if not a.floor_only:
            (work / "pack").mkdir(exist_ok=True)
            pack_s, per_step, verdict = run_pack(str(Path(a.config).resolve()) if a.config else None, work / "pack",
                                                 a.steps)
            for name, s in per_step.items():
                print(f"  {name:<20} {s:7.2f} s")
            print(f"pack: {pack_s:.1f} s wall (verdict {verdict}); ratio {pack_s / floor_s:.2f} (target <= {TARGET:g})")
    ratio = None if pack_s is None else round(pack_s / floor_s, 3)
    print(json.dumps({"pack_s": None if pack_s is None else round(pack_s, 2), "floor_s": round(floor_s, 2),
                      "ratio": ratio, "target": int(TARGET), "met": bool(ratio is not None and ratio <= TARGET),
                      "steps": per_step, "floor_runs": [round(t, 3) for t in floor_runs],
                      "config": a.config or "bundled german-credit", "verdict": verdict}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
