"""The simulation: monitors, sweep, sensitivity matrix, timelines, power, checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from playbook.audit.contract import build_contract
from playbook.data import Roles
from playbook.drift import shifts as S
from playbook.drift import simulate as sim

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

FEATURES = ["amount", "age", "purpose", "housing"]


def make(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(7, 0.5, n).round(0)
    z = (np.log(amount) - 7) / 0.5
    bad = rng.random(n) < 1 / (1 + np.exp(1.0 + 2.0 * z))  # small amounts default more often
    return pd.DataFrame({
        "amount": amount, "age": rng.integers(18, 80, n),
        "purpose": rng.choice(["car", "tv", "education", "business"], n, p=[.4, .3, .2, .1]),
        "housing": rng.choice(["own", "rent"], n), "label": np.where(bad, "bad", "good"),
    })


REF, POOL = make(700, 0), make(400, 1)
ROLES = Roles(target="label", task="binary", features=FEATURES, numeric=["amount", "age"],
              categorical=["purpose", "housing"], positive_label="bad", classes=["bad", "good"])


class AmountModel:
    """A stand-in for the model adapter: P(bad) falls with the amount."""

    mode, callable, has_predictions = "baseline", True, True
    features = FEATURES

    def positive_proba(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.features if c not in X.columns]
        if missing:
            raise ValueError(f"input is missing feature column(s) {missing}")
        amount = pd.to_numeric(X["amount"], errors="raise").to_numpy(dtype=float)
        z = (np.log(np.clip(amount, 1, None)) - 7) / 0.5
        return np.nan_to_num(1 / (1 + np.exp(1.0 + 2.0 * z)), nan=0.3)

    def predict(self, X):
        return np.where(self.positive_proba(X) > 0.5, "bad", "good")


def monitors(**kw) -> sim.Monitors:
    kw.setdefault("model", AmountModel())
    kw.setdefault("contract", build_contract(REF, ROLES))
    return sim.build_monitors(REF, POOL, ROLES, **kw)


@pytest.fixture(scope="module")
def swept():
    mon = monitors()
    names = ["unit_change_up", "dropped_column", "concept_drift", "duplicated_rows", "category_frequency"]
    trials, matrix, skipped = sim.sweep(mon, names, severities=[0.5, 1.0], trials=6, batch_size=150, seed=0)
    return mon, trials, matrix, skipped


def test_expected_metric_is_measured_on_the_pool():
    mon = monitors()
    assert mon.scores and mon.metric == "roc_auc"
    assert 0.65 < mon.expected_metric < 0.95


def test_sweep_shapes_and_false_alarm_row(swept):
    mon, trials, matrix, skipped = swept
    assert skipped == {}
    assert len(trials) == 6 + 5 * 2 * 6
    none = matrix[matrix["shift"] == sim.NO_SHIFT].iloc[0]
    assert none["severity"] == 0 and none["trials"] == 6
    assert none["metric_drop"] == 0.0 and none["degraded_rate"] == 0.0  # paired: no shift, no loss
    assert none["detection_rate"] <= 0.34
    assert set(matrix["shift"]) == {sim.NO_SHIFT, "unit_change_up", "dropped_column", "concept_drift",
                                    "duplicated_rows", "category_frequency"}


def test_matrix_tells_loud_silent_and_detected_faults_apart(swept):
    mon, trials, matrix, skipped = swept
    row = matrix.set_index(["shift", "severity"])
    # a dropped column: the contract fires every time and the model refuses the batch (loud)
    assert row.loc[("dropped_column", 1.0), "detection_rate"] == 1.0
    assert row.loc[("dropped_column", 1.0), "model_error_rate"] == 1.0
    assert row.loc[("dropped_column", 1.0), "silent_failure"] is False or not row.loc[("dropped_column", 1.0), "silent_failure"]
    # a unit change: range violations raise the alarm, and the model suffers
    assert row.loc[("unit_change_up", 1.0), "detection_rate"] == 1.0
    assert row.loc[("unit_change_up", 1.0), "contract_rate"] == 1.0
    # concept drift: inputs untouched, so no data monitor fires, while the metric collapses
    cd = row.loc[("concept_drift", 1.0)]
    assert cd["detection_rate"] == none_rate(matrix)
    assert cd["metric_drop"] > 0.2 and cd["silent_failure"] == True  # noqa: E712
    assert cd["perf_alarm_rate"] == 1.0  # only labels reveal it


def none_rate(matrix):
    return matrix.loc[matrix["shift"] == sim.NO_SHIFT, "detection_rate"].iloc[0]


def test_sweep_is_deterministic(swept):
    mon, trials, matrix, _ = swept
    again = sim.sweep(monitors(), ["unit_change_up", "dropped_column", "concept_drift", "duplicated_rows",
                                   "category_frequency"], severities=[0.5, 1.0], trials=6, batch_size=150, seed=0)
    pd.testing.assert_frame_equal(matrix, again[1])
    other = sim.sweep(monitors(), ["duplicated_rows"], severities=[1.0], trials=6, batch_size=150, seed=1)[0]
    assert not other["drift_share"].equals(trials[trials["shift"].isin(["none", "duplicated_rows"])]["drift_share"])


@pytest.mark.parametrize("name", list(S.SHIFTS))
def test_incremental_monitors_equal_a_full_run(name):
    mon = monitors()
    base = POOL.sample(120, random_state=3).reset_index(drop=True)
    shifted, _ = S.apply(name, base, 0.7, roles=ROLES, seed=4)
    fresh = monitors()
    assert mon.data_alarms(shifted, base, ("k", 1)) == fresh.data_alarms(shifted)


def test_contract_tolerance_ignores_a_stray_row_but_not_a_fault():
    mon = monitors(model=None)
    base = POOL.head(200).reset_index(drop=True)
    one = base.copy()
    one.loc[0, "amount"] = REF["amount"].max() + 1  # one row above the reference range
    assert mon.data_alarms(one)["contract_violations"] >= 1
    assert mon.data_alarms(one)["contract_alarm"] is False
    many = base.copy()
    many.loc[:9, "amount"] = REF["amount"].max() + 1  # 5 % of the rows
    assert mon.data_alarms(many)["contract_alarm"] is True
    strict = monitors(model=None, contract_tolerance=0.0)
    assert strict.data_alarms(one)["contract_alarm"] is True


def test_watch_columns_and_drift_share():
    base = POOL.head(200).reset_index(drop=True)
    shifted, _ = S.apply("category_frequency", base, 1.0, roles=ROLES, seed=0)
    plain = monitors(model=None).data_alarms(shifted)
    assert plain["drifted_columns"] == ["purpose"] and plain["dataset_drift"] is False
    watched = monitors(model=None, watch_columns=["purpose"]).data_alarms(shifted)
    assert watched["alarm"] is True and watched["watched_drift"] is True
    assert monitors(model=None, drift_share=0.25).data_alarms(shifted)["dataset_drift"] is True
    with pytest.raises(ValueError, match="watch_columns"):
        monitors(watch_columns=["label"])


def test_predictions_mode_and_regression_skips():
    mon = monitors(model=None)
    trials, matrix, skipped = sim.sweep(mon, ["outliers"], severities=[1.0], trials=3, batch_size=100)
    assert matrix["silent_failure"].isna().all() and matrix["metric"].isna().all()
    checks = {c["id"]: c for c in sim.make_checks(matrix, skipped, None, None, scored=False,
                                                  score_reason="predictions mode")}
    assert checks["drift.silent_failures"]["status"] == "skip"
    assert checks["drift.silent_failures"]["why"] == "predictions mode"
    reg_roles = Roles(target="amount", task="regression", features=["age", "purpose", "housing"], numeric=["age"],
                      categorical=["purpose", "housing"])
    reg = sim.build_monitors(REF, POOL, reg_roles)
    _, _, skipped = sim.sweep(reg, ["prior_shift", "outliers"], severities=[0.5], trials=2, batch_size=50)
    assert "regression" in skipped["prior_shift"]
    checks = {c["id"]: c for c in sim.make_checks(_, skipped, None, None, scored=False)}
    assert checks["drift.detects.prior_shift"]["status"] == "skip"
    assert "regression" in checks["drift.detects.prior_shift"]["why"]


def test_unknown_shift_names_list_the_valid_ones():
    with pytest.raises(S.ShiftError, match="valid names are: mean_shift"):
        sim.sweep(monitors(model=None), ["unit_chagne"], trials=1)


def test_checks_from_the_sweep(swept):
    mon, trials, matrix, skipped = swept
    checks = {c["id"]: c for c in sim.make_checks(matrix, skipped, None, None, scored=True, detect_severity=1.0)}
    assert checks["drift.false_alarm_rate"]["status"] == ("pass" if none_rate(matrix) <= 0.1 else "fail")
    assert checks["drift.silent_failures"]["status"] == "fail"
    assert "concept_drift@1" in checks["drift.silent_failures"]["why"]
    assert checks["drift.detects.unit_change_up"]["status"] == "pass"
    assert checks["drift.detects.concept_drift"]["status"] == "warn"  # labels only
    assert checks["drift.detects.category_frequency"]["status"] == "fail"
    assert "drift.detects.mean_shift" not in checks  # not part of this run
    lenient = {c["id"]: c for c in sim.make_checks(matrix, skipped, None, None, scored=True, max_silent_failures=10)}
    assert lenient["drift.silent_failures"]["status"] == "pass"
    for c in checks.values():
        assert c["status"] in ("pass", "warn", "fail", "skip") and c["why"]


def test_timelines_and_power():
    mon = monitors(model=None)
    tl = sim.timelines(mon, ["dropped_column", "concept_drift", "unit_change_up"], ["sudden", "gradual"],
                       n_batches=8, batch_size=100, onset=3, seed=0)
    t = tl.set_index(["timeline", "shift"])
    assert t.loc[("sudden", "dropped_column"), "time_to_detection"] == 0
    assert t.loc[("sudden", "concept_drift"), "detected"] == False  # noqa: E712
    assert t.loc[("gradual", "unit_change_up"), "time_to_detection"] >= t.loc[("sudden", "unit_change_up"), "time_to_detection"]
    pw = sim.power(mon, ["dropped_column", "concept_drift"], 0.5, [30, 100], trials=5, seed=0)
    p = pw.set_index("shift")
    assert p.loc["dropped_column", "min_batch_size"] == 30
    assert pd.isna(p.loc["concept_drift", "min_batch_size"]) and set(p.loc["concept_drift", "rates"]) == {30, 100}
    # sizes where the monitors fire on clean data do not count as detection
    noisy = sim.power(mon, ["dropped_column"], 0.5, [30], trials=5, seed=0, max_false_alarm_rate=-1)
    assert pd.isna(noisy.set_index("shift").loc["dropped_column", "min_batch_size"])
    checks = {c["id"]: c for c in sim.make_checks(sim.sensitivity_matrix(pd.DataFrame(
        sim.sweep(mon, ["dropped_column"], [1.0], trials=2, batch_size=50)[0])), {}, tl, pw, scored=False,
        volume_per_day=20)}
    assert checks["drift.min_batch_size"]["value"] == 30 and checks["drift.min_batch_size"]["status"] == "warn"
    assert "concept_drift" in checks["drift.min_batch_size"]["why"]
    assert checks["drift.time_to_detection.sudden"]["value"] == 0


def test_artifacts_are_written(tmp_path, swept):
    from playbook.results import Step

    mon, trials, matrix, skipped = swept
    step = Step("drift_simulation", tmp_path)
    sim.heatmap(matrix, step.artifact("sensitivity_heatmap.png"))
    sim.write_artifacts(step, mon, matrix, trials, skipped, None, None, S.describe(), None,
                        params={"trials": 6}, contract_source="built", pool_source="pool")
    import json

    data = json.loads((tmp_path / "artifacts" / "sensitivity.json").read_text())
    assert data["false_alarm_rate"] == pytest.approx(none_rate(matrix))
    assert len(data["matrix"]) == len(matrix)
    assert (tmp_path / "artifacts" / "sensitivity_heatmap.png").stat().st_size > 10_000
    assert (tmp_path / "artifacts" / "sensitivity_trials.csv").read_text().count("\n") == len(trials) + 1


def test_policy_bound_on_the_metric_counts_as_degradation():
    from types import SimpleNamespace

    from playbook.config import PolicySettings

    ctx = SimpleNamespace(policy=PolicySettings(gates={"model.roc_auc": {"min": 0.7, "block": True},
                                                       "model.mae": {"max": 3.0}}))
    assert sim.policy_floor(ctx, "roc_auc") == 0.7 and sim.policy_floor(ctx, "mae") == 3.0
    assert sim.policy_floor(ctx, "accuracy") is None
    mon = monitors(metric_floor=0.7)
    assert mon.crossed_floor(0.75, 0.69) is True
    assert mon.crossed_floor(0.65, 0.60) is False  # already below before the shift: not the shift's doing
    assert mon.crossed_floor(0.80, 0.75) is False
    assert mon.perf_alarm(0.69) is True
    rec = sim._record("x", 0.5, 0, {"alarm": False, "drift_share": 0, "n_drifted": 0, "dataset_drift": False,
                                    "any_column_drift": False, "watched_drift": False, "contract_violations": 0,
                                    "contract_alarm": False, "contract_kinds": []}, 0.69, None, 0.71, mon)
    assert rec["degraded"] is True and rec["silent"] is True  # a 3 % drop, but past the policy's bound


def test_bad_parameters_get_one_clear_sentence():
    with pytest.raises(ValueError, match="metric 'mae' does not fit a binary task; use one of roc_auc"):
        monitors(metric="mae")
    with pytest.raises(ValueError, match="severities must be between 0 and 1"):
        sim.sweep(monitors(model=None), ["outliers"], severities=[2], trials=1)
    with pytest.raises(ValueError, match="use one of sudden, gradual, recurring"):
        sim.timelines(monitors(model=None), ["outliers"], ["weekly"])
    with pytest.raises(ValueError, match="drift_share"):
        monitors(drift_share=0)
