"""benchmarks/pack_time.py: its options and the JSON object it promises as its last line (not its timings)."""

import json
import subprocess
import sys

import pytest

from .conftest import ROOT


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "pack_time.py"), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_floor_only_prints_the_floor_and_the_promised_json_shape():
    proc = run("--floor-only", "--steps", "governance", "07")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("floor: 2 trivial notebooks in ")
    res = json.loads(lines[-1])
    assert {"pack_s", "floor_s", "ratio", "target", "met", "steps"} <= set(res)
    assert res["target"] == 4 and res["pack_s"] is None and res["ratio"] is None and res["met"] is False
    assert res["steps"] == {} and len(res["floor_runs"]) == 2 and res["floor_s"] > 0


@pytest.mark.parametrize("args, message", [(("--steps", "nope"), "is not a step"),
                                           (("--bogus",), "unrecognized arguments")])
def test_bad_arguments_are_refused(args, message):
    proc = run(*args)
    assert proc.returncode != 0 and message in proc.stderr + proc.stdout
