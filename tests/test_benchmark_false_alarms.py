"""benchmarks/false_alarms.py on the bundled data: its last line is the JSON it promises, and the calibrated monitor
alarms on fewer clean held-out batches than Evidently's default tests do on the same batches."""

import json
import subprocess
import sys

from .conftest import ROOT


def test_false_alarm_benchmark_compares_with_evidently_defaults_on_the_same_batches():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "false_alarms.py"), "--batch", "10"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    (r,) = res["results"]
    assert r["batch_rows"] == 10 and r["batches"] >= 20 and r["verdict"] == "pass"
    assert r["evidently_defaults"]["alarms"] > r["calibrated"]["alarms"]
    assert r["calibrated"]["ci"][0] <= res["budget"] and r["ratio_vs_reference"] < 0.5
