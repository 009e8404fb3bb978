"""The multivariate monitors (playbook.monitoring.multivariate): PCA reconstruction error and a domain classifier,
calibrated under the whole monitor's false-alarm budget, in monitoring.yaml, judged by ``playbook monitor``'s rules
and counted in the drift simulation's sensitivity matrix as columns of their own.

The correlation-break fault is the fault catalogue's injector (playbook.drift.shifts), as the benchmark
(benchmarks/multivariate_drift.py) applies it."""

import importlib.util
import math

import numpy as np
import pandas as pd
import pytest

from playbook.monitoring import checks as mchecks
from playbook.monitoring import multivariate as mv
from playbook.monitoring.check import alert_kinds_many, check_batch, prometheus_text
from playbook.monitoring.setup import spec_from_frame
from playbook.monitoring.spec import MonitoringSpec, load_spec, save_spec, spec_from_dict

from .conftest import ROOT

_spec = importlib.util.spec_from_file_location("multivariate_drift", ROOT / "benchmarks" / "multivariate_drift.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

BATCH = 400
CHEAP = {"replicates": 2000, "holdout": 500, "domain_null_batches": 60}


@pytest.fixture(scope="module")
def sensors():
    df, features, numeric = bench.sensors(n=4000, seed=1)
    cal, held = df.iloc[:2800].reset_index(drop=True), df.iloc[2800:].reset_index(drop=True)
    spec = spec_from_frame(cal, features, numeric, BATCH, seed=0, **CHEAP)
    return spec, held, features, numeric


def _batch(held, t):
    return held.sample(BATCH, random_state=t).reset_index(drop=True)


def test_correlation_break_is_caught_by_the_multivariate_monitor_while_no_per_column_test_alarms(sensors):
    spec, held, _, numeric = sensors
    trials, caught, per_column = 12, 0, 0
    for t in range(trials):
        broken = bench._fault("correlation_break", _batch(held, t), 0.5, numeric, t)
        kinds = {a["kind"] for a in check_batch(spec, broken)["alerts"]}
        caught += bool(kinds & set(mv.KINDS))
        per_column += "drift" in kinds
    assert caught >= 0.8 * trials, f"multivariate monitor caught {caught}/{trials}"
    assert per_column <= trials // 4, f"per-column tests alarmed on {per_column}/{trials}"


def test_an_alarm_names_the_features_that_separate_the_batch(sensors):
    spec, held, _, numeric = sensors
    clean = _batch(held, 0)
    pair = bench._most_correlated_pair(clean, numeric)  # the pair the injector breaks
    broken = bench._fault("correlation_break", clean, 1.0, numeric, 0)
    res = check_batch(spec, broken)
    mv_alerts = [a for a in res["alerts"] if a["kind"] in mv.KINDS]
    assert mv_alerts, res["multivariate"]
    assert set(pair) & set(mv_alerts[0]["features"][:2]), (pair, mv_alerts[0]["features"])
    assert "multivariate drift" in mv_alerts[0]["message"]
    text = prometheus_text(res)
    assert 'kind="domain_classifier"' in text and 'role="multivariate"' in text


def test_clean_batches_stay_within_the_budget_and_the_batched_rule_agrees(sensors):
    spec, held, _, _ = sensors
    frames = [_batch(held, 100 + t) for t in range(20)]
    results = [check_batch(spec, f) for f in frames]
    alarms = sum(any(a["kind"] in mv.KINDS for a in r["alerts"]) for r in results)
    assert alarms <= 2, [r["multivariate"] for r in results]
    many = alert_kinds_many(spec, frames)
    assert many == [sorted({a["kind"] for a in r["alerts"]}) for r in results]
    assert spec.raw["alert_budget"]["split"]["min_p"] + spec.raw["alert_budget"]["split"]["domain_classifier"] \
        == pytest.approx(spec.alpha)


def test_monitoring_yaml_round_trip_and_determinism(sensors, tmp_path):
    spec, held, features, numeric = sensors
    back = load_spec(save_spec(spec.raw, tmp_path / "monitoring.yaml"), reference=sensors_frame())
    batch = _batch(held, 7)
    for a, b in zip(spec.multivariate, back.multivariate):
        assert a.name == b.name and a.threshold == b.threshold
        assert a.statistic(batch) == pytest.approx(b.statistic(batch), abs=1e-9)
    assert mchecks.roundtrip_check(list(spec.monitors) + list(spec.multivariate), back, batch, 0, "x")["status"] == "pass"
    again = spec_from_frame(sensors_frame(), features, numeric, BATCH, seed=0, **CHEAP)
    assert again.raw["multivariate"] == spec.raw["multivariate"]


def sensors_frame():
    df, _, _ = bench.sensors(n=4000, seed=1)
    return df.iloc[:2800].reset_index(drop=True)


def test_a_broken_multivariate_section_is_refused_with_the_key():
    raw = {"schema": "playbook.monitoring", "schema_version": 1, "batch": {"size": 10}, "alert_budget": {"alpha": 0.1},
           "monitors": [], "multivariate": {"monitors": [{"name": "pca_reconstruction", "pca": {"data": "%%"}}]}}
    with pytest.raises(ValueError, match="multivariate is invalid"):
        spec_from_dict(raw)


def test_multivariate_check_fails_when_a_monitor_is_missing(sensors):
    spec, *_ = sensors
    ok = mchecks.multivariate_check(spec, True, "artifacts/monitoring.yaml")
    assert ok["status"] == "pass" and ok["value"] == 2
    only_pca = MonitoringSpec(raw=spec.raw, monitors=spec.monitors,
                              multivariate=[m for m in spec.multivariate if m.name == mv.PCA_NAME])
    bad = mchecks.multivariate_check(only_pca, True, "artifacts/monitoring.yaml")
    assert bad["status"] == "fail" and "domain_classifier" in bad["why"]
    off = mchecks.multivariate_check(spec, False, "artifacts/monitoring.yaml")
    assert off["status"] == "skip" and off["not_applicable"]


def test_sensitivity_matrix_gives_each_monitor_part_a_column():
    from playbook.drift.engine import sensitivity_matrix

    rec = {"drift_share": 0.0, "n_drifted": 0, "dataset_drift": False, "any_column_drift": False,
           "watched_drift": False, "contract_violations": 0, "contract_alarm": False, "default_alarm": False,
           "perf_alarm": None, "model_error": False, "metric": None, "clean_metric": None, "drop": None,
           "degraded": None, "silent": None, "noisy": None}
    kinds = ["domain_classifier", "domain_classifier,pca_reconstruction", "drift", ""]
    trials = pd.DataFrame([{**rec, "shift": "x", "severity": 0.5, "trial": i, "alarm": bool(k), "deployed_kinds": k}
                           for i, k in enumerate(kinds)])
    row = sensitivity_matrix(trials, scored=False).iloc[0]
    assert (row["domain_classifier_rate"], row["pca_reconstruction_rate"], row["per_column_rate"]) == (0.5, 0.25, 0.25)
    assert sensitivity_matrix(trials, scored=False, deployed=False).iloc[0]["domain_classifier_rate"] is None


def test_domain_classifier_null_is_near_chance_and_threshold_scales_with_batch_size(sensors):
    spec, *_ = sensors
    dc = next(m for m in spec.multivariate if m.name == mv.DOMAIN_NAME)
    assert 0.4 < dc.null_mean < 0.6 and dc.null_sd > 0 and dc.threshold > dc.null_mean
    assert dc.threshold_for(BATCH // 4) > dc.threshold > dc.threshold_for(BATCH * 2)
    pca = next(m for m in spec.multivariate if m.name == mv.PCA_NAME)
    assert math.isfinite(pca.threshold) and pca.threshold > pca.center


def test_closed_form_ridge_and_auc_equal_scikit_learns():
    from sklearn.linear_model import RidgeClassifier
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    D = rng.normal(size=(120, 6))
    y = (D[:, 0] + rng.normal(size=120) > 0).astype(float)
    w, b = mv._ridge(D, y, 10.0)
    clf = RidgeClassifier(alpha=10.0, solver="cholesky").fit(D, y)
    assert np.allclose(D @ w + b, clf.decision_function(D), atol=1e-9)
    s = np.round(D @ w, 1)  # with ties
    assert mv._auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_monitoring_yaml_holds_no_row_of_the_reference_sample(sensors, tmp_path):
    import json

    import yaml

    spec, held, features, numeric = sensors
    dc = next(m for m in spec.raw["multivariate"]["monitors"] if m["name"] == mv.DOMAIN_NAME)
    sample = dc["reference_sample"]
    assert set(sample) == {"rows", "sha256", "of"} and len(sample["rows"]) == 500
    assert all(isinstance(r, int) for r in sample["rows"])
    # no value of any reference row is written: search the file for the sample's values as the yaml prints them
    path = save_spec(spec.raw, tmp_path / "monitoring.yaml")
    text = path.read_text()
    ref = sensors_frame()
    leaked = [c for c in numeric if sum(repr(float(v)) in text for v in ref.loc[sample["rows"][:50], c]) > 2]
    assert leaked == [], leaked
    assert json.dumps(yaml.safe_load(text)["multivariate"]).count("\"data\":") == 3   # PCA: scale, mean, components
    # without the reference the domain classifier is not run, and the result says so
    bare = load_spec(path)
    res = check_batch(bare, _batch(held, 3))
    entry = next(e for e in res["multivariate"] if e["name"] == mv.DOMAIN_NAME)
    assert entry["statistic"] is None and not entry["alert"] and "--reference" in entry["note"]
    assert any("--reference" in n for n in res["notes"])
    # another reference (one value changed in a sample row) is refused, and the monitor stays detached
    other = ref.copy()
    other.loc[sample["rows"][0], numeric[0]] += 1.0
    why = load_spec(path).attach_reference(other)
    assert why and "sha256 mismatch" in why[0]
    short = ref.drop(index=sample["rows"][:3])
    assert "lacks 3 of the 500" in load_spec(path).attach_reference(short)[0]


def test_playbook_monitor_takes_the_reference_and_refuses_a_wrong_one(sensors, tmp_path):
    from tests.conftest import run_cli

    spec, held, features, numeric = sensors
    path = save_spec(spec.raw, tmp_path / "monitoring.yaml")
    sensors_frame().to_csv(tmp_path / "reference.csv", index=False)
    held.head(BATCH).to_csv(tmp_path / "batch.csv", index=False)
    ok = run_cli("monitor", "--config", str(path), "--current", str(tmp_path / "batch.csv"), "--reference",
                 str(tmp_path / "reference.csv"), "--json", timeout=300)
    assert ok.returncode in (0, 1), ok.stderr
    import json

    entry = next(e for e in json.loads(ok.stdout)["multivariate"] if e["name"] == mv.DOMAIN_NAME)
    assert entry["statistic"] is not None
    sensors_frame().iloc[::-1].to_csv(tmp_path / "shuffled.csv", index=False)
    bad = run_cli("monitor", "--config", str(path), "--current", str(tmp_path / "batch.csv"), "--reference",
                  str(tmp_path / "shuffled.csv"), timeout=300)
    assert bad.returncode == 2 and "--reference" in bad.stderr and "Traceback" not in bad.stderr


def test_a_reference_larger_than_max_rows_is_read_back_as_the_sample_the_pack_held(tmp_path):
    """A pack holds a seeded sample of a reference past data.max_rows, with fresh row labels; the domain
    classifier's sample rows are labels of that sample. `playbook monitor --reference` reads the file the same way
    (monitoring.yaml records the sampling), so the rows match; the whole file, labelled 0..N-1, would not."""
    from playbook.data import load_table
    from playbook.monitoring.command import read_reference
    from playbook.preflight import read_dataset

    df, features, numeric = bench.sensors(n=4000, seed=1)
    df.to_csv(tmp_path / "reference.csv", index=False)
    (tmp_path / "work").mkdir()
    held = read_dataset(tmp_path / "reference.csv", "reference", 1500, 7, tmp_path / "work")
    assert held["sampling"] == {"rows": 4000, "sample": 1500, "seed": 7}
    spec = spec_from_frame(held["frame"], features, numeric, BATCH, seed=0, **CHEAP)
    raw = {**spec.raw, "reference": {**spec.raw["reference"], "sampling": held["sampling"]}}
    path = save_spec(raw, tmp_path / "monitoring.yaml")
    sampling = load_spec(path).raw["reference"]["sampling"]
    assert load_spec(path).attach_reference(read_reference(str(tmp_path / "reference.csv"), sampling)) == []
    whole = load_spec(path).attach_reference(load_table(tmp_path / "reference.csv", role="reference"))
    assert whole and "sha256 mismatch" in whole[0]
    # another file (other row count) is one sentence naming the rows
    df.head(3000).to_csv(tmp_path / "short.csv", index=False)
    from playbook.data import DataError

    with pytest.raises(DataError, match="3,000 rows where the pack's reference had 4,000"):
        read_reference(str(tmp_path / "short.csv"), sampling)
