"""The drift simulation template, executed with papermill on small parameters."""

from __future__ import annotations

import json

import pytest

from playbook.audit.contract import build_contract, save
from playbook.drift.shifts import SHIFTS
from tests.params import small

# the recurring timeline too; fewer trials, severities and batch sizes than the shared pack: these tests check the
# step's wiring and determinism, not its rates
SMALL = small("drift_simulation", trials=2, severities=[0.5], timelines=["sudden", "recurring"], period=4,
              power_batch_sizes=[50])


@pytest.fixture
def audit_pack(tmp_path):
    """A pack folder in which the data audit already wrote its contract."""
    import playbook

    ctx = playbook.load_context("")
    pack = tmp_path / "pack"
    save(build_contract(ctx.reference, ctx.roles), pack / "steps" / "01_data_audit" / "artifacts" / "data_contract.json")
    return pack


def test_template_runs_and_records_the_checks(run_template, audit_pack, tmp_path):
    res = run_template("05_drift_simulation.ipynb", pack_dir=str(audit_pack), **SMALL)
    assert res["step"] == "drift_simulation"
    checks = {c["id"]: c for c in res["checks"]}
    for cid in ("drift.false_alarm_rate", "drift.silent_failures", "drift.noisy_alarms", "drift.min_batch_size",
                "drift.time_to_detection.sudden", "drift.time_to_detection.recurring"):
        assert cid in checks, cid
    detects = [c for c in checks if c.startswith("drift.detects.")]
    assert len(detects) == len(SHIFTS) == 25
    # the bundled data has no timestamp: the stale feed is not applicable, every other fault is swept
    assert checks["drift.detects.stale_feed"]["status"] == "skip" and checks["drift.detects.stale_feed"]["not_applicable"]
    swept = len(SHIFTS) - 1
    # schema faults are always caught by the contract; concept drift never by a data monitor
    assert checks["drift.detects.dropped_column"]["status"] == "pass"
    assert checks["drift.detects.renamed_column"]["value"] == 1.0
    assert checks["drift.detects.concept_drift"]["status"] in ("warn", "fail")
    # measured on disjoint clean held-out batches of the deployed batch size: 210 rows hold one, too few to measure
    fa = checks["drift.false_alarm_rate"]
    assert fa["threshold"] == {"max": 0.1, "batches": 1, "batch_size": 200}  # the step parameter (no default bound)
    assert fa["status"] == "warn" and "too little held-out data" in fa["inconclusive"]
    assert checks["drift.detects.concept_drift"]["threshold"]["min"] == 0.8  # the step parameter: no bound in force
    assert res["info"]["contract_source"] == "data_audit"
    assert res["info"]["model"] == "baseline model"
    assert res["metrics"]["sweep.batches"] == 2 + swept * 2
    for c in res["checks"]:
        ev = c["evidence"] if isinstance(c["evidence"], list) else [c["evidence"]]
        for e in ev:
            assert e in res["artifacts"], (c["id"], e)
    for name in ("sensitivity.json", "sensitivity_heatmap.png", "sensitivity_trials.csv", "timelines.json",
                 "timelines.png", "power.json", "power.png", "shifts.json", "evidently_example.html"):
        assert f"artifacts/{name}" in res["artifacts"]
    step_dir = tmp_path / "steps" / "05_drift_simulation"
    matrix = json.loads((step_dir / "artifacts" / "sensitivity.json").read_text())
    assert matrix["params"]["trials"] == 2 and len(matrix["matrix"]) == 1 + swept
    timings = json.loads((step_dir / "timings.json").read_text())["timings"]
    assert timings["sweep_seconds"] > 0
    assert "seconds" not in json.dumps(res["metrics"])  # wall-clock values stay out of results.json

    # same inputs, same bytes
    first = (step_dir / "results.json").read_bytes()
    again = tmp_path / "again"
    from tests.conftest import execute

    execute("05_drift_simulation.ipynb", again, pack_dir=str(audit_pack), **SMALL)
    assert (again / "results.json").read_bytes() == first


def test_template_on_multiclass_data_with_policy_limits(run_template, tmp_path):
    """Multiclass data (sklearn's wine): batches are scored with the macro ROC AUC, and a policy bound on a drift
    check is the step's own threshold."""
    from sklearn.datasets import load_wine

    from playbook import catalogue

    df = load_wine(as_frame=True).frame.sample(frac=1, random_state=0)
    df["target"] = df["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    data = tmp_path / "data"
    data.mkdir()
    df.iloc[:120].to_csv(data / "reference.csv", index=False)
    df.iloc[120:].to_csv(data / "current.csv", index=False)
    cfg = tmp_path / "wine.yaml"
    cfg.write_text("data:\n  reference: data/reference.csv\n  current: data/current.csv\n  target: target\n"
                   "policy:\n  gates:\n    drift.false_alarm_rate: {max: 0.25, block: true}\n"
                   "    drift.detects.*: {min: 0.6}\n")
    res = run_template("05_drift_simulation.ipynb", config=str(cfg), **SMALL)
    checks = {c["id"]: c for c in res["checks"]}
    assert all(catalogue.spec(cid).step == "drift_simulation" for cid in checks)
    assert res["info"]["model_metric"] == {"metric": "roc_auc_macro", "note": None}
    assert checks["drift.silent_failures"]["status"] != "skip"
    assert checks["drift.false_alarm_rate"]["threshold"]["max"] == 0.25
    assert checks["drift.detects.dropped_column"]["threshold"]["min"] == 0.6
    step_dir = tmp_path / "steps" / "05_drift_simulation"
    sens = json.loads((step_dir / "artifacts" / "sensitivity.json").read_text())
    assert sens["monitors"]["model_metric"] == "roc_auc_macro" and sens["monitors"]["metric_floor"] == 0.7
    assert sens["limits"]["drift.false_alarm_rate"]["max"] == 0.25
    assert sens["params"]["max_false_alarm_rate"] == 0.1  # the parameter as given, beside the limit in force


def test_unknown_shift_name_lists_the_valid_names(run_template):
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as err:
        run_template("05_drift_simulation.ipynb", shifts=["unit_change", "mean_shift"], trials=1)
    assert "unknown shift 'unit_change'" in str(err.value)
    assert "valid names are: mean_shift, scale_change, unit_change_up" in str(err.value)
