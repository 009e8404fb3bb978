"""templates/02_model_evaluation.ipynb on the bundled binary data and on a regression dataset; bad input exits 2."""

from __future__ import annotations

import json
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, run_cli
from tests.params import small

TEMPLATE = "02_model_evaluation.ipynb"
SMALL = small("model_evaluation")


def checks_of(res: dict) -> dict:
    return {c["id"]: c for c in res["checks"]}


def test_template_on_the_bundled_binary_data(run_template, tmp_path):
    res = run_template(TEMPLATE, config=str(ROOT / "tests" / "data" / "small.yaml"), **SMALL)
    c = checks_of(res)
    assert res["step"] == "model_evaluation" and res["info"]["model"]["mode"] == "baseline"
    assert res["info"]["model"]["evaluated_on"] == "current" and res["info"]["model"]["evaluation_rows"] == 300
    for cid in ("model.roc_auc", "model.pr_auc", "model.log_loss", "model.brier", "model.f1", "model.accuracy"):
        assert c[cid]["status"] == "pass" and "95% CI" in c[cid]["title"]
    assert 0.7 < c["model.roc_auc"]["value"] < 0.95
    lo, hi = res["metrics"]["model.roc_auc"]["ci_low"], res["metrics"]["model.roc_auc"]["ci_high"]
    assert lo < c["model.roc_auc"]["value"] < hi
    assert c["model.beats_baseline"]["status"] == "pass"
    assert c["model.reproducible"]["status"] == "pass"
    assert c["model.serving.input_validation"]["status"] == "pass"
    for cid in ("model.training_reproducible", "model.spec_tests", "model.debug.examples", "model.numerical_stability",
                "model.features.cost", "model.tuning"):
        assert c[cid]["status"] == "pass", (cid, c[cid]["title"])
    for cid in ("model.staleness", "model.serving.performance_regression"):  # no timestamp, no previous pack
        assert c[cid]["status"] == "skip" and c[cid]["not_applicable"], cid
    assert c["model.calibration_ece"]["value"] < 0.2
    assert c["model.business.value_per_day"]["status"] == "pass"
    for col in ("personal_status_and_sex", "age_in_years"):
        for metric in ("demographic_parity_difference", "equalized_odds_difference"):
            f = c[f"model.fairness.{col}.{metric}"]
            assert f["status"] in ("pass", "warn", "fail") and f["ci"][0] <= f["ci"][1]
    assert c["model.slices.worst_gap"]["status"] in ("pass", "warn")
    seg = c["model.weak_segments"]
    assert seg["status"] in ("pass", "warn") and seg["evidence"] == ["artifacts/segments.json", "artifacts/segments.png"]
    searched = json.loads((tmp_path / "steps" / "02_model_evaluation" / "artifacts" / "segments.json").read_text())
    assert searched["searched"] > 20 and seg["value"] == searched["flagged"] == res["info"]["weak_segments"]["flagged"]
    assert any(" and " in s["segment"] for s in searched["segments"])  # two-feature segments were searched
    assert res["info"]["weak_segments"]["worst"] and searched["settings"]["bootstrap"] == SMALL["n_bootstrap"]
    assert c["model.importance.near_zero"]["status"] in ("pass", "warn")
    assert any(k.startswith("model.robustness") for k in c)
    for a in ("artifacts/metrics.json", "artifacts/roc.png", "artifacts/pr.png", "artifacts/calibration.png",
              "artifacts/slices.png", "artifacts/evidently_report.html", "artifacts/evidently_report.json",
              "artifacts/baseline_model.skops", "artifacts/baseline_model.json", "artifacts/business.png",
              "artifacts/training_reproducibility.json", "artifacts/spec_tests.json", "artifacts/tuning.json",
              "artifacts/feature_cost.json", "artifacts/feature_cost_timings.json", "artifacts/debug_examples.json",
              "artifacts/numerical_stability.json", "artifacts/segments.json", "artifacts/segments.png"):
        assert a in res["artifacts"], a
    # every evidence link resolves inside the step folder
    step_dir = tmp_path / "steps" / "02_model_evaluation"
    for check in res["checks"]:
        links = check["evidence"] if isinstance(check["evidence"], list) else [check["evidence"]]
        for link in filter(None, links):
            assert (step_dir / link).is_file(), (check["id"], link)
    # Evidently and our computation agree
    assert res["metrics"]["evidently.RocAuc"] == pytest.approx(c["model.roc_auc"]["value"], abs=1e-6)


@pytest.fixture
def diabetes(tmp_path):
    from sklearn.datasets import load_diabetes

    df = load_diabetes(as_frame=True).frame
    df["sex"] = np.where(df["sex"] > 0, "m", "f")
    ref, cur = df.iloc[:300], df.iloc[300:]
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    cfg = {"name": "diabetes", "data": {"reference": "ref.csv", "current": "cur.csv", "target": "target",
                                         "task": "regression", "sensitive": ["sex"]},
           "steps": {"model_evaluation": {"params": dict(SMALL)}}}
    (tmp_path / "pack.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def test_template_in_a_pack_run_on_a_regression_dataset_is_deterministic(diabetes):
    def pack(name):
        proc = run_cli("run", str(diabetes / "pack.yaml"), "--out", str(diabetes / "out"), "--name", name,
                       "--steps", "model_evaluation", "-q")
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
        step = diabetes / "out" / name / "steps" / "02_model_evaluation"
        return step, json.loads((step / "results.json").read_text())

    step1, first = pack("r1")
    c = checks_of(first)
    for cid in ("model.mae", "model.rmse", "model.r2", "model.mape"):
        assert c[cid]["status"] == "pass", cid
    assert 30 < c["model.mae"]["value"] < 70 and c["model.r2"]["value"] > 0.2
    assert c["model.beats_baseline"]["status"] == "pass" and "Mean absolute error" in c["model.beats_baseline"]["title"]
    assert "model.calibration_ece" not in c and "model.business.value_per_day" not in c  # declared for classifiers
    assert c["model.fairness.sex.mae_ratio"]["status"] in ("pass", "warn", "fail")
    assert c["model.reproducible"]["status"] == "pass"
    assert c["model.serving.input_validation"]["status"] == "pass"
    for cid in ("model.training_reproducible", "model.spec_tests", "model.debug.examples"):
        assert c[cid]["status"] == "pass", (cid, c[cid]["title"])
    assert c["model.numerical_stability"]["status"] in ("pass", "warn")
    assert c["model.features.cost"]["status"] in ("pass", "warn") and c["model.tuning"]["status"] in ("pass", "warn")
    assert "artifacts/regression.png" in first["artifacts"] and "artifacts/evidently_report.html" in first["artifacts"]
    assert first["metrics"]["evidently.MAE"] == pytest.approx(c["model.mae"]["value"], rel=1e-6)
    timings = json.loads((step1 / "timings.json").read_text())["timings"]
    assert timings["serving.single_row_ms_p50"] > 0 and "serving.batch_rows_per_second" in timings
    assert timings["training.fit_seconds"] > 0 and timings["feature_cost.full.fit_seconds"] > 0
    assert not any(k.startswith(("feature_cost", "training")) for k in first["metrics"])  # wall-clock stays out
    step2, second = pack("r2")
    assert (step1 / "results.json").read_bytes() == (step2 / "results.json").read_bytes()
    assert (step1 / "artifacts" / "baseline_model.skops").read_bytes() == \
        (step2 / "artifacts" / "baseline_model.skops").read_bytes()


def test_bad_probabilities_stop_the_run_with_exit_2(tmp_path):
    ref = pd.read_csv(ROOT / "datasets" / "german_credit" / "reference.csv")
    cur = pd.read_csv(ROOT / "datasets" / "german_credit" / "current.csv")
    for df in (ref, cur):
        df["score"] = np.linspace(0, 1, len(df))
    cur.loc[7, "score"] = 3.5
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    cfg = {"data": {"reference": "ref.csv", "current": "cur.csv", "target": "creditability",
                    "positive_label": "bad", "probability": "score"}}
    (tmp_path / "pack.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_cli("run", str(tmp_path / "pack.yaml"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    assert "data.probability: column 'score' holds 3.5" in proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
