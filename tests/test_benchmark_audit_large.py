"""benchmarks/audit_large.py with a few thousand rows: generated data, the audit on parquet tables with a sampled
frame, ours and Evidently's on the same slice; its last line is the JSON it promises."""

import json
import subprocess
import sys

from .conftest import ROOT


def test_audit_large_benchmark_runs_small_and_reports_every_key():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "audit_large.py"), "--rows", "3000",
                           "--current-rows", "800", "--slice", "2000"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"audit_10m_s", "audit_10m_peak_gb", "ours_1m_s", "evidently_1m_s", "ratio_1m_vs_evidently", "targets",
            "met"} <= set(res)
    assert res["rows"] == 3000 and res["current_rows"] == 800 and res["slice_rows"] == 800
    assert res["audit_10m_s"] > 0 and 0 < res["audit_10m_peak_gb"] < 2
    assert abs(res["ratio_1m_vs_evidently"] - res["ours_1m_s"] / res["evidently_1m_s"]) < 0.01
    assert set(res["targets"]) == {"audit_10m_s", "audit_10m_peak_gb", "ratio_1m_vs_evidently"}
    assert isinstance(res["met"], bool)
