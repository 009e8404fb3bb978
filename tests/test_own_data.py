"""A newcomer's own CSV with only data.reference, data.current and data.target set: the whole playbook runs."""

import json

import pytest

from .conftest import run_cli

pytestmark = pytest.mark.slow

def test_minimal_config_on_own_multiclass_csv(multiclass_pack):
    proc, pack = multiclass_pack["proc"], multiclass_pack["pack"]
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    summary = json.loads((pack / "summary.json").read_text())
    assert summary["task"] == "multiclass" and summary["task_inferred"] is True
    assert [s["status"] for s in summary["steps"] if s["status"] == "error"] == []
    assert summary["verdict"] in ("go", "no-go")
    ids = {c["id"] for c in summary["checks"]}
    assert {"data.contract.written", "model.accuracy", "model.roc_auc_macro", "monitoring.false_alarm_budget_met"} <= ids
    assert run_cli("verify", str(pack)).returncode == 0


def test_regression_in_large_units_runs_end_to_end(regression_pack):
    proc, pack = regression_pack["proc"], regression_pack["pack"]
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    summary = json.loads((pack / "summary.json").read_text())
    assert summary["task"] == "regression"
    assert [s["name"] for s in summary["steps"] if s["status"] == "error"] == []
    checks = {c["id"]: c for c in summary["checks"]}
    r2 = checks["model.r2"]
    assert r2["ci"][0] <= r2["value"] <= r2["ci"][1]
    # the step's status is the gate's status (min 0 on the CI's lower bound by default)
    gate = next(g for g in summary["gates"] if g["check"] == "model.r2")
    assert gate["status"] == r2["status"] and gate["threshold"] == {"min": 0.0, "on": "ci"}
