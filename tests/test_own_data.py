"""A newcomer's own CSV with only data.reference, data.current and data.target set: the whole playbook runs."""

import json

import pytest

from .conftest import run_cli

pytestmark = pytest.mark.slow

SMALL = [  # command-line overrides only: the config itself keeps just the three required keys
    "steps.drift_simulation.params.trials=3", "steps.drift_simulation.params.severities=[0.5, 1.0]",
    "steps.drift_simulation.params.timelines=[sudden]", "steps.drift_simulation.params.power_batch_sizes=[]",
    "steps.model_evaluation.params.n_bootstrap=30", "steps.model_evaluation.params.importance_repeats=2",
    "steps.monitoring_setup.params.replicates=2000", "steps.monitoring_setup.params.holdout=500",
    "steps.monitoring_setup.params.power_replicates=50", "steps.monitoring_setup.params.current_batches=5",
    "steps.monitoring_setup.params.timeline_days=4", "steps.monitoring_setup.params.timeline_onset=2",
]


def test_minimal_config_on_own_multiclass_csv(tmp_path):
    from sklearn.datasets import load_wine

    df = load_wine(as_frame=True).frame.sample(frac=1, random_state=0)
    df = df.rename(columns={"target": "Cultivar Name"})
    df["Cultivar Name"] = df["Cultivar Name"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    (tmp_path / "data").mkdir()
    df.iloc[:120].to_csv(tmp_path / "data" / "train.csv", index=False)
    df.iloc[120:].to_csv(tmp_path / "data" / "last_week.csv", index=False)
    cfg = tmp_path / "wine.yaml"
    cfg.write_text("data:\n  reference: data/train.csv\n  current: data/last_week.csv\n  target: Cultivar Name\n")
    out = tmp_path / "evidence"
    args = ["run", str(cfg), "--out", str(out), "-q"]
    for p in SMALL:
        args += ["-p", p]
    proc = run_cli(*args, timeout=1800)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    pack = out / "wine"
    summary = json.loads((pack / "summary.json").read_text())
    assert summary["task"] == "multiclass" and summary["task_inferred"] is True
    assert [s["status"] for s in summary["steps"] if s["status"] == "error"] == []
    assert summary["verdict"] in ("go", "no-go")
    ids = {c["id"] for c in summary["checks"]}
    assert {"data.contract.written", "model.accuracy", "monitoring.false_alarm_budget_met"} <= ids
    assert run_cli("verify", str(pack)).returncode == 0
