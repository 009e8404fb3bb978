"""The model evaluation step in a pack: staleness with a timestamp, the regression against a previous pack, and the
refit evidence in predictions mode; the ML Test Score tests they automate."""

from __future__ import annotations

import json

import numpy as np
import yaml

from playbook.governance import mltestscore
from tests.conftest import run_cli
from tests.test_evaluate_evidence import timed
from tests.test_evaluate_template import SMALL

STEP = "steps/02_model_evaluation"


def _pack(folder, name, data, previous=None, **params):
    cfg = {"name": name, "data": {"reference": "ref.csv", "current": "cur.csv", "target": "label", **data},
           "steps": {"model_evaluation": {"params": {**SMALL, "evidently_report": False, **params}}}}
    if previous:
        cfg["previous"] = str(previous)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_cli("run", str(folder / f"{name}.yaml"), "--out", str(folder / "out"), "--steps", "model_evaluation",
                   "-q")
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    step = folder / "out" / name / STEP
    res = json.loads((step / "results.json").read_text())
    return step, res, {c["id"]: c for c in res["checks"]}


def test_a_timestamped_pack_measures_staleness_and_a_second_pack_compares_with_the_first(tmp_path):
    timed(1000, 1, drift=True).to_csv(tmp_path / "ref.csv", index=False)
    timed(300, 2, drift=True, start="2024-05-15").to_csv(tmp_path / "cur.csv", index=False)
    data = {"timestamp": "Event Time"}
    step1, res1, c = _pack(tmp_path, "first", data, staleness_windows=4)
    st = c["model.staleness"]
    assert st["status"] in ("pass", "warn") and st["value"] > 0 and st["ci"][0] > 0  # the world drifts: quality decays
    assert "artifacts/staleness.png" in res1["artifacts"] and "artifacts/staleness.json" in res1["artifacts"]
    stale = json.loads((step1 / "artifacts" / "staleness.json").read_text())
    assert stale["max_model_age_days"] is not None and stale["bound"] == 0.7 and len(stale["windows"]) == 4
    assert res1["metrics"]["model.staleness.max_model_age_days"] == stale["max_model_age_days"]
    assert c["model.serving.performance_regression"]["not_applicable"]
    notebook = json.loads((step1 / "notebook.ipynb").read_text())
    cells = [cell for cell in notebook["cells"] if 'step.figure("staleness.png"' in "".join(cell["source"])]
    assert any(o.get("data", {}).get("image/png") for cell in cells for o in cell.get("outputs", [])), \
        "the staleness figure is displayed in the notebook"

    step2, res2, c2 = _pack(tmp_path, "second", data, previous=tmp_path / "out" / "first", staleness_windows=4,
                            max_latency_ratio=100.0)
    reg = c2["model.serving.performance_regression"]
    assert reg["status"] == "pass" and reg["value"] == 0 and "compared with the previous pack" in reg["title"]
    perf = json.loads((step2 / "artifacts" / "performance_regression.json").read_text())
    assert perf["previous"] == "first/steps/02_model_evaluation/timings.json"
    judged = {r["measure"] for r in perf["measures"] if r["worse_by"] is not None}
    assert {"serving.single_row_ms_p50", "serving.batch_ms_p50", "training.fit_seconds", "model.size_mb"} <= judged
    timings = json.loads((step2 / "timings.json").read_text())["timings"]
    assert "performance_regression.serving.single_row_ms_p95.worse_by" in timings
    # staleness is deterministic; the regression check is the one declared non-deterministic
    assert c2["model.staleness"] == {**c["model.staleness"]}
    score = {t["id"]: t for t in mltestscore.score(res2["checks"])["tests"]}
    for tid in ("model_4", "monitor_6", "data_3", "infra_1", "infra_2", "model_3", "infra_5", "monitor_5"):
        assert score[tid]["status"] == "automated", (tid, score[tid])


def test_in_predictions_mode_the_refit_evidence_is_not_applicable(tmp_path):
    rng = np.random.default_rng(0)
    for name, df in (("ref", timed(400, 1, drift=False)), ("cur", timed(200, 2, drift=False, start="2024-01-01"))):
        df["p_bad"] = np.clip(0.5 + 0.3 * df["x1"] + rng.normal(0, 0.1, len(df)), 0, 1)
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    _, _, c = _pack(tmp_path, "preds", {"timestamp": "Event Time", "probability": "p_bad", "positive_label": "bad"})
    for cid in ("model.features.cost", "model.training_reproducible", "model.spec_tests", "model.tuning",
                "model.debug.examples", "model.numerical_stability", "model.staleness",
                "model.serving.performance_regression"):
        assert c[cid]["status"] == "skip" and c[cid]["not_applicable"], cid
        assert "predictions mode" in c[cid]["why"], cid
