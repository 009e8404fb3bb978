"""benchmarks/batch_scaling.py: its last line is the JSON it promises (run on the toy template, so it takes seconds)."""

import json
import os
import subprocess
import sys

from .conftest import ROOT
from .toys import GOOD, make


def test_batch_scaling_benchmark_prints_its_json(tmp_path):
    make(tmp_path / "01_toy.ipynb", "toy", GOOD)
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "batch_scaling.py"), "--packs", "2", "--steps", "toy"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "PLAYBOOK_TEMPLATES": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    res = json.loads(lines[-1])
    assert proc.stdout.count("half") == 4, proc.stdout  # serial, parallel, parallel, serial
    assert set(res) == {"packs", "serial_s", "parallel_s", "workers", "speedup", "target", "met"}
    assert res["packs"] == 2 and res["workers"] == 2 and res["target"] == 1.7
    assert res["serial_s"] > 0 and res["parallel_s"] > 0 and res["met"] == (res["speedup"] >= 1.7), res
    assert any(ln.lstrip().startswith("serial: 2 packs with 1 worker(s)") for ln in lines), proc.stdout
