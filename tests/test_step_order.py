"""The pack's results do not depend on how its steps were scheduled: side by side with kernels started ahead (the
default), or one at a time, each kernel started at its turn."""

import json
import os

from playbook import catalogue

from .conftest import SMALL_CONFIG, run_cli


def _checks(pack):
    out = {}
    for f in sorted(pack.glob("steps/*/results.json")):
        res = json.loads(f.read_text())
        for c in res["checks"]:
            spec = catalogue.spec(c["id"])
            if spec is not None and not spec.deterministic:
                continue  # a wall-clock measurement: its value is the machine's, not the data's
            out[(res["step"], c["id"])] = (c["status"], json.dumps(c.get("value"), sort_keys=True))
    return out


def test_one_step_at_a_time_gives_the_same_results_as_side_by_side(bundled_pack, tmp_path):
    env = {**os.environ, "PLAYBOOK_STEP_JOBS": "1", "PLAYBOOK_WARM_KERNELS": "0"}
    proc = run_cli("run", str(SMALL_CONFIG), "--out", str(tmp_path), "--name", "bundled", timeout=1800, env=env)
    assert proc.returncode == bundled_pack["proc"].returncode, proc.stderr
    a, b = _checks(bundled_pack["pack"]), _checks(tmp_path / "bundled")
    assert a.keys() == b.keys()
    assert {k: (a[k], b[k]) for k in a if a[k] != b[k]} == {}
    sa = json.loads((bundled_pack["pack"] / "summary.json").read_text())
    sb = json.loads((tmp_path / "bundled" / "summary.json").read_text())
    assert sa["verdict"] == sb["verdict"] and sa["counts"] == sb["counts"]
