"""Each evaluation family against hand-computed values on tiny data."""

from __future__ import annotations

import math
import types

import numpy as np
import pandas as pd
import pytest

from playbook import modeling as m
from playbook.evaluate import business, calibration, fairness, importance, metrics, reproducibility, robustness, serving, slices
from playbook.evaluate.metrics import Scored


def binary(y, p, threshold=0.5, labels=("no", "yes")):
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    classes = list(labels)
    proba = np.c_[1 - p, p]
    ylab = np.array([classes[v] for v in y], dtype=object)
    pred = metrics.labels_at_threshold(proba, classes, classes[1], threshold)
    return Scored("binary", ylab, pred, proba, classes, classes[1], threshold, pd.RangeIndex(len(y)))


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------
def test_binary_metrics_by_hand():
    s = binary([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    r = metrics.compute(s)
    assert r["roc_auc"] == pytest.approx(0.75)  # 3 of 4 positive/negative pairs ordered right
    assert r["pr_auc"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)  # AP: precision 1 at recall .5, 2/3 at recall 1
    assert r["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.6, 0.35, 0.8])))
    assert r["brier"] == pytest.approx(np.mean([0.01, 0.16, 0.4225, 0.04]))
    # at 0.5 only the 0.8 row is flagged: TP 1, FN 1, FP 0, TN 2
    assert r["accuracy"] == pytest.approx(0.75)
    assert r["precision"] == pytest.approx(1.0) and r["recall"] == pytest.approx(0.5)
    assert r["f1"] == pytest.approx(2 / 3)
    # at 0.3 three rows are flagged: TP 2, FP 1
    r3 = metrics.compute(binary([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], threshold=0.3))
    assert r3["f1"] == pytest.approx(0.8) and r3["accuracy"] == pytest.approx(0.75)


def test_multiclass_metrics_by_hand():
    classes = ["a", "b", "c"]
    P = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
    y = np.array(["a", "b", "c", "b"], dtype=object)
    pred = np.array(["a", "b", "c", "a"], dtype=object)
    s = Scored("multiclass", y, pred, P, classes, None, 0.5, pd.RangeIndex(4))
    r = metrics.compute(s)
    assert r["accuracy"] == pytest.approx(0.75)
    # per class F1: a: P .5 R 1 -> 2/3; b: P 1 R .5 -> 2/3; c: 1 -> macro 7/9; weighted (1,2,1)/4 -> 0.75... by hand:
    assert r["f1_macro"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert r["f1_weighted"] == pytest.approx((2 / 3 * 1 + 2 / 3 * 2 + 1 * 1) / 4)
    onehot = np.eye(3)[[0, 1, 2, 1]]
    assert r["brier"] == pytest.approx(np.mean(((P - onehot) ** 2).sum(axis=1)))
    assert r["log_loss"] == pytest.approx(-np.mean(np.log([0.7, 0.5, 0.6, 0.4])))
    assert 0.5 < r["roc_auc_macro"] <= 1 and 0.5 < r["roc_auc_weighted"] <= 1


def test_regression_metrics_by_hand_and_mape_only_where_defined():
    s = Scored("regression", np.array([1.0, 2, 3, 4]), np.array([1.0, 2, 3, 5]))
    r = metrics.compute(s)
    assert r["mae"] == pytest.approx(0.25)
    assert r["rmse"] == pytest.approx(0.5)
    assert r["r2"] == pytest.approx(1 - 1 / 5)
    assert r["mape"] == pytest.approx(0.0625)
    z = metrics.compute(Scored("regression", np.array([0.0, 2, 3, 4]), np.array([1.0, 2, 3, 5])))
    assert math.isnan(z["mape"])
    checks = {c["id"]: c for c in metrics.metric_checks(metrics.bootstrap(Scored("regression", np.array([0.0, 2, 3, 4]), np.array([1.0, 2, 3, 5])), n_boot=20), "regression")}
    assert checks["model.mape"]["status"] == "skip" and checks["model.mae"]["status"] == "pass"


def test_bootstrap_interval_contains_the_estimate_and_is_seeded():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 400), 0, 1)
    s = binary(y, p)
    a = metrics.bootstrap(s, n_boot=100, seed=3)
    b = metrics.bootstrap(s, n_boot=100, seed=3)
    assert a == b
    for k, r in a.items():
        assert r["ci_low"] <= r["value"] <= r["ci_high"], k
    assert 0 < a["roc_auc"]["ci_high"] - a["roc_auc"]["ci_low"] < 0.2
    perfect = metrics.bootstrap(binary([0, 0, 1, 1] * 10, [0.1, 0.2, 0.8, 0.9] * 10), n_boot=50)
    assert perfect["roc_auc"]["ci_low"] == perfect["roc_auc"]["ci_high"] == 1.0


def test_metric_checks_use_policy_gates_and_show_the_interval():
    s = binary([0, 0, 1, 1] * 10, [0.1, 0.6, 0.4, 0.9] * 10)
    res = metrics.bootstrap(s, n_boot=50)
    checks = {c["id"]: c for c in metrics.metric_checks(res, "binary", {"model.roc_auc": {"min": 0.9}})}
    assert checks["model.roc_auc"]["status"] == "fail" and checks["model.roc_auc"]["value"] == pytest.approx(0.75)
    assert "95% CI" in checks["model.roc_auc"]["title"]
    assert checks["model.brier"]["status"] == "pass" and checks["model.brier"]["threshold"] is None


def test_beats_dummy_passes_for_signal_and_fails_for_noise():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    good = binary(y, np.clip(0.5 * y + rng.uniform(0, 0.5, 500), 0, 1))
    ytrain = pd.Series(np.where(rng.integers(0, 2, 500) == 1, "yes", "no"))
    res = metrics.beats_dummy(good, ytrain, n_boot=100)
    assert res["metric"] == "brier" and res["beats"] and res["ci_low"] > 0
    noise = binary(y, rng.uniform(0, 1, 500))
    res = metrics.beats_dummy(noise, ytrain, n_boot=100)
    assert not res["beats"] and metrics.beats_check(res)["status"] == "fail"
    reg = Scored("regression", np.arange(10.0), np.arange(10.0) + 0.1)
    r = metrics.beats_dummy(reg, pd.Series(np.arange(10.0)), n_boot=50)
    assert r["metric"] == "mae" and r["dummy"] == pytest.approx(2.5) and r["beats"]


# ---------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------
def test_ece_by_hand():
    conf = np.array([0.2, 0.2, 0.8, 0.8])
    outcome = np.array([0, 1, 1, 1])
    # bin of 0.2: observed .5, gap .3; bin of 0.8: observed 1, gap .2; each half the rows
    assert calibration.ece(conf, outcome, n_bins=10) == pytest.approx(0.25)
    tab = calibration.reliability(conf, outcome, 10)
    assert list(tab["count"]) == [2, 2] and list(tab["observed"]) == [0.5, 1.0]
    res = calibration.calibration(binary([0, 1, 1, 1], [0.2, 0.2, 0.8, 0.8]))
    assert res["ece"] == pytest.approx(0.25)
    assert calibration.calibration_check(res, 0.1)["status"] == "warn"
    assert calibration.calibration_check(res, 0.3)["status"] == "pass"


def test_well_calibrated_scores_have_small_ece():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20000)
    y = (rng.uniform(0, 1, 20000) < p).astype(int)
    assert calibration.ece(p, y) < 0.02
    assert calibration.ece(np.clip(p * 0.5, 0, 1), y) > 0.2


# ---------------------------------------------------------------------------------------------
# slices
# ---------------------------------------------------------------------------------------------
def test_slices_flag_the_bad_segment_and_mark_small_ones():
    rng = np.random.default_rng(0)
    n = 400
    seg = np.array(["good"] * 200 + ["bad"] * 180 + ["tiny"] * 20)
    y = rng.integers(0, 2, n)
    p = np.where(seg == "bad", rng.uniform(0, 1, n), np.clip(0.6 * y + rng.uniform(0, 0.4, n), 0, 1))
    frame = pd.DataFrame({"segment": seg, "amount": rng.permutation(np.arange(n, dtype=float))})
    s = binary(y, p)
    tab = slices.slice_table(frame, s, ["amount"], ["segment"], n_bins=4, min_size=30, max_gap=0.1)
    seg_rows = tab[tab["column"] == "segment"].set_index("slice")
    assert seg_rows.loc["bad", "flagged"] and not seg_rows.loc["good", "flagged"]
    assert seg_rows.loc["tiny", "small"] and not seg_rows.loc["tiny", "flagged"]
    assert seg_rows.loc["bad", "n"] == 180
    assert len(tab[tab["column"] == "amount"]) == 4
    check = slices.slices_check(tab, 0.1, 30)
    assert check["status"] == "warn" and "segment = bad (n=180)" in check["title"]


def test_numeric_slice_labels_bin_by_quantile():
    lab = slices.slice_labels(pd.Series([1.0, 2, 3, 4, 5, 6, 7, 8, np.nan]), numeric=True, n_bins=4)
    assert lab.iloc[-1] == slices.MISSING and lab.nunique() == 5
    few = slices.slice_labels(pd.Series([1, 2, 1, 2]), numeric=True, n_bins=4)
    assert set(few) == {"1", "2"}


# ---------------------------------------------------------------------------------------------
# fairness
# ---------------------------------------------------------------------------------------------
def test_fairness_differences_by_hand():
    #            group a (4 rows)            group b (4 rows)
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    flag = np.array([1, 0, 1, 0, 1, 0, 0, 0])  # selection: a 2/4, b 1/4
    s = binary(y, np.where(flag == 1, 0.9, 0.1))
    frame = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4})
    res = fairness.fairness(frame, s, "g", numeric=False, min_group_size=2, n_boot=0)
    assert res["metrics"]["demographic_parity_difference"] == pytest.approx(0.25)
    # TPR: a 1/2, b 1/2 -> 0; FPR: a 1/2, b 0 -> .5; equalized odds = max = .5
    assert res["metrics"]["equalized_odds_difference"] == pytest.approx(0.5)
    tab = res["by_group"].set_index("group")
    assert tab.loc["a", "selection_rate"] == pytest.approx(0.5) and tab.loc["b", "false_positive_rate"] == 0
    checks = {c["id"]: c for c in fairness.fairness_checks(res, {"demographic_parity_difference": 0.3})}
    assert checks["model.fairness.g.demographic_parity_difference"]["status"] == "pass"
    assert checks["model.fairness.g.equalized_odds_difference"]["status"] == "fail"


def test_fairness_leaves_out_small_groups_and_skips_when_too_few():
    y = np.array([1, 0] * 20 + [1, 1])
    p = np.array([0.9, 0.1] * 20 + [0.1, 0.1])
    frame = pd.DataFrame({"g": ["a"] * 20 + ["b"] * 20 + ["c"] * 2})
    res = fairness.fairness(frame, binary(y, p), "g", numeric=False, min_group_size=10)
    assert res["excluded"] == ["c"] and res["metrics"]["demographic_parity_difference"] == pytest.approx(0.0)
    res = fairness.fairness(frame, binary(y, p), "g", numeric=False, min_group_size=25)
    checks = fairness.fairness_checks(res)
    assert {c["status"] for c in checks} == {"skip"} and "fewer than two groups" in checks[0]["why"]


def test_fairness_for_regression_reports_the_mae_ratio():
    s = Scored("regression", np.array([1.0, 1, 1, 1]), np.array([2.0, 2, 1.5, 1.5]), index=pd.RangeIndex(4))
    res = fairness.fairness(pd.DataFrame({"g": ["a", "a", "b", "b"]}), s, "g", numeric=False, min_group_size=1)
    assert res["metrics"]["mae_ratio"] == pytest.approx(2.0)
    assert fairness.fairness_checks(res)[0]["id"] == "model.fairness.g.mae_ratio"


def _two_groups(n: int, rate_a: float, rate_b: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 2 * n)
    flag = np.r_[rng.random(n) < rate_a, rng.random(n) < rate_b].astype(int)
    return binary(y, np.where(flag == 1, 0.9, 0.1)), pd.DataFrame({"g": ["a"] * n + ["b"] * n})


def test_fairness_gap_is_judged_on_its_within_group_bootstrap_interval():
    # a real gap on large groups: even the lower bound exceeds the limit
    s, frame = _two_groups(2000, 0.5, 0.2)
    res = fairness.fairness(frame, s, "g", numeric=False, min_group_size=30, n_boot=200, seed=1)
    lo, hi = res["ci"]["demographic_parity_difference"]
    assert lo <= res["metrics"]["demographic_parity_difference"] <= hi and lo > 0.1
    dpd = {c["id"]: c for c in fairness.fairness_checks(res)}["model.fairness.g.demographic_parity_difference"]
    assert dpd["status"] == "fail" and dpd["ci"] == [lo, hi] and dpd["threshold"] == {"max": 0.1, "on": "interval"}
    # no gap on large groups: the upper bound is within the limit
    s, frame = _two_groups(2000, 0.3, 0.3)
    res = fairness.fairness(frame, s, "g", numeric=False, min_group_size=30, n_boot=200, seed=1)
    assert {c["status"] for c in fairness.fairness_checks(res)} == {"pass"}
    # a moderate gap on groups of 40: the interval straddles the limit, so the data cannot tell
    s, frame = _two_groups(40, 0.45, 0.3, seed=3)
    res = fairness.fairness(frame, s, "g", numeric=False, min_group_size=30, n_boot=200, seed=1)
    statuses = {c["id"].rsplit(".", 1)[1]: c["status"] for c in fairness.fairness_checks(res)}
    assert statuses["demographic_parity_difference"] == "warn"
    # per-group rates carry their intervals, and the point estimates are fairlearn's
    tab = res["by_group"].set_index("group")
    assert (tab["selection_rate_ci_low"] <= tab["selection_rate"]).all()
    assert (tab["selection_rate"] <= tab["selection_rate_ci_high"]).all()


def test_fairness_bootstrap_is_seeded():
    s, frame = _two_groups(100, 0.5, 0.3)
    a = fairness.fairness(frame, s, "g", numeric=False, n_boot=50, seed=7)["ci"]
    b = fairness.fairness(frame, s, "g", numeric=False, n_boot=50, seed=7)["ci"]
    assert a == b


# ---------------------------------------------------------------------------------------------
# business
# ---------------------------------------------------------------------------------------------
COSTS = {"cost_false_positive": 1.0, "cost_false_negative": 2.0, "value_true_positive": 0.0,
         "value_true_negative": 0.0, "volume_per_day": 600.0, "compute_cost_per_1k": 0.0, "currency": "EUR"}


def test_business_threshold_known_optimum():
    # ranks: .9(1) .8(1) .7(0) .3(1) .2(0) .1(0); flagging the top k costs (FP + 2 FN) / 6:
    # k=0: 6, k=1: 4, k=2: 2, k=3: 3, k=4: 1 (best: FP 1, FN 0), k=5: 2, k=6: 3
    y = np.array([1, 1, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    v = business.business_view(y, p, COSTS, operating_threshold=0.5)
    assert v["optimal_threshold"] == pytest.approx(0.3)
    assert v["value_per_decision"] == pytest.approx(-1 / 6)
    assert v["value_per_day"] == pytest.approx(-100.0)
    assert v["flag_none_value_per_day"] == pytest.approx(-600.0) and v["flag_all_value_per_day"] == pytest.approx(-300.0)
    assert v["best_trivial_policy"] == "flag_all" and v["uplift_per_day"] == pytest.approx(200.0)
    assert v["value_per_decision_at_operating"] == pytest.approx(-3 / 6)  # k=3 at 0.5
    assert v["cost_implied_threshold"] == pytest.approx(1 / 3)
    curve = v["curve"]
    assert list(curve["flagged"]) == [0, 1, 2, 3, 4, 5, 6] and math.isinf(curve["threshold"].iloc[0])


def test_business_optimum_approaches_cost_implied_threshold_for_calibrated_scores():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20000)
    y = (rng.uniform(0, 1, 20000) < p).astype(int)
    v = business.business_view(y, p, COSTS)
    assert abs(v["optimal_threshold"] - 1 / 3) < 0.05


def test_business_fails_when_the_model_loses_to_a_trivial_policy():
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.3).astype(int)
    p = np.where(y == 1, rng.uniform(0, 0.5, 400), rng.uniform(0.5, 1, 400))  # anti-correlated scores
    bv = business.business_value(y, p, {**COSTS, "cost_false_negative": 10.0}, n_boot=200, seed=0)
    assert not bv["adds_value"] and business.value_check(bv)["status"] == "fail"
    # the same model at costs nobody stated: reported (warn), never a pass and not a gate
    bv = business.business_value(y, p, {**COSTS, "cost_false_negative": 10.0, "placeholder": True}, n_boot=200, seed=0)
    c = business.value_check(bv)
    assert c["status"] == "warn" and "placeholder costs" in c["why"]


def test_business_value_of_a_real_signal_passes_with_its_interval():
    rng = np.random.default_rng(1)
    y = (rng.random(600) < 0.3).astype(int)
    p = np.clip(0.3 + 0.35 * (y - 0.3) + rng.normal(0, 0.15, 600), 0, 1)
    bv = business.business_value(y, p, {**COSTS, "cost_false_negative": 5.0}, n_boot=200, seed=0)
    check = business.value_check(bv)
    assert bv["adds_value"] and check["status"] == "pass"
    lo, hi = check["ci"]
    assert 0 < lo <= check["value"] <= hi
    assert set(bv["policies"]) == {"cost_implied", "cross_fitted"} and len(bv["cross_fitted_thresholds"]) == 5


def test_random_scores_fail_the_business_check_in_at_least_95_of_100_seeded_trials():
    costs = {"cost_false_positive": 1.0, "cost_false_negative": 5.0, "value_true_positive": 0.0,
             "value_true_negative": 1.0, "volume_per_day": 200.0, "compute_cost_per_1k": 0.0, "currency": "EUR"}
    passed = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        y = (rng.random(300) < 0.3).astype(int)
        p = rng.random(300)
        passed += business.business_value(y, p, costs, n_boot=200, seed=seed)["adds_value"]
    # the in-sample optimum, by contrast, "beats" the trivial policies on most of them
    assert passed <= 5, f"random scores added value in {passed} of 100 trials"


# ---------------------------------------------------------------------------------------------
# model-dependent sections: importance, probes, reproducibility, robustness
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from tests.test_modeling import make_ctx

    rng = np.random.default_rng(0)

    def frame(n):
        x1 = rng.normal(size=n)
        return pd.DataFrame({"x1": x1, "noise": rng.normal(size=n), "c": rng.choice(["a", "b"], size=n),
                             "label": np.where(x1 + 0.3 * rng.normal(size=n) > 0, "yes", "no")})

    ctx = make_ctx(tmp_path_factory.mktemp("fit"), frame(400), frame(200))
    a = m.get_model(ctx)
    s = metrics.score(a, ctx.current, "label", 0.5)
    return ctx, a, s


def test_permutation_importance_finds_the_signal_and_flags_noise(fitted):
    ctx, a, s = fitted
    tab = importance.permutation(a, ctx.current, s, n_repeats=3, seed=0, near_zero=0.01)
    assert tab.iloc[0]["feature"] == "x1" and tab.iloc[0]["importance_mean"] > 0.2
    flags = dict(zip(tab["feature"], tab["near_zero"]))
    assert not flags["x1"] and flags["c"]
    checks = {c["id"]: c for c in importance.importance_checks(tab, 0.01, max_share=0.5)}
    assert checks["model.importance.near_zero"]["status"] == "warn"
    assert checks["model.importance.dominant_feature"]["status"] == "warn"  # x1 carries the model


def test_probes_pass_for_the_wrapped_baseline(fitted):
    ctx, a, s = fitted
    tab = serving.probe_inputs(a, ctx.current.head(1))
    out = dict(zip(tab["probe"], tab["outcome"]))
    assert out == {"missing_column": "error", "wrong_type": "error", "missing_value": "safe",
                   "unseen_category": "safe", "extra_column": "safe", "column_order": "safe"}
    assert serving.input_validation_check(tab)["status"] == "pass"


class PositionalModel:
    """A model that ignores column names (like a raw numpy model): what our wrapper protects against."""

    classes_ = np.array(["no", "yes"])

    def predict_proba(self, X):
        v = np.asarray(X, dtype=float)[:, 0]
        p = 1 / (1 + np.exp(-v))
        return np.c_[1 - p, p]

    def predict(self, X):
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


class Unwrapped(m.ModelAdapter):
    def prepare(self, X):  # no validation at all
        return X


def test_probes_catch_a_silent_wrong_answer_and_a_crash():
    a = Unwrapped(mode="file", task="binary", features=["x1", "x2"], classes_=["no", "yes"], positive_label="yes",
                  estimator=PositionalModel(), numeric=["x1", "x2"])
    row = pd.DataFrame({"x1": [2.0], "x2": [-3.0]})
    tab = serving.probe_inputs(a, row).set_index("probe")
    assert tab.loc["column_order", "outcome"] == "silent_wrong"
    assert tab.loc["wrong_type", "outcome"] in ("error", "crash", "silent_wrong")
    assert serving.input_validation_check(tab.reset_index())["status"] == "fail"

    class Crashing(PositionalModel):
        def predict_proba(self, X):
            if np.asarray(X).shape[1] != 2:
                raise RuntimeError("segfault-ish")
            return super().predict_proba(X)

    b = Unwrapped(mode="file", task="binary", features=["x1", "x2"], classes_=["no", "yes"], positive_label="yes",
                  estimator=Crashing(), numeric=["x1", "x2"])
    tab = serving.probe_inputs(b, row).set_index("probe")
    assert tab.loc["extra_column", "outcome"] == "crash"


def test_latency_reports_percentiles(fitted):
    ctx, a, _ = fitted
    t = serving.latency(a, ctx.current, n_single=5, batch_size=50, n_batches=2)
    assert t["single_row_ms_p50"] <= t["single_row_ms_p99"] and t["batch_rows"] == 50 and t["batch_rows_per_second"] > 0


def test_reproducibility_of_the_baseline_and_of_a_random_model(fitted):
    ctx, a, _ = fitted
    res = reproducibility.reproducibility(ctx, a, ctx.current, saved=m.dump_bytes(a.estimator))
    assert res["status"] == "pass" and len(res["runs"]) == 2
    assert reproducibility.reproducible_check(res)["value"] == 0  # runs whose predictions differ

    class Jittery(PositionalModel):
        def predict_proba(self, X):
            p = np.random.default_rng().uniform(0, 1, len(X))
            return np.c_[1 - p, p]

    j = m.ModelAdapter(mode="file", task="binary", features=["x1"], classes_=["no", "yes"], positive_label="yes",
                       estimator=Jittery(), numeric=["x1"])
    res = reproducibility.reproducibility(ctx, j, ctx.current)
    assert res["status"] == "fail" and reproducibility.reproducible_check(res)["status"] == "fail"
    pm = m.ModelAdapter(mode="predictions", task="binary", features=["x1"], classes_=["no", "yes"])
    assert reproducibility.reproducible_check(reproducibility.reproducibility(ctx, pm, ctx.current))["status"] == "skip"


def test_robustness_scores_rejects_and_skips_shifts(fitted):
    ctx, a, s = fitted

    def apply(name, df, severity, *, roles, seed):
        if name == "scramble_x1":
            out = df.copy()
            out["x1"] = np.random.default_rng(seed).permutation(out["x1"].to_numpy())
            return out, {"columns": ["x1"], "rows_affected": len(df)}
        if name == "drop_c":
            return df.drop(columns=["c"]), {"columns": ["c"]}
        return df, {"applied": False, "reason": "no text column"}

    fake = types.SimpleNamespace(SHIFTS={"scramble_x1": {}, "drop_c": {}, "text_noise": {}}, apply=apply)
    tab = robustness.robustness(a, ctx.current, s, "label", ctx.roles, module=fake, max_drop=0.05).set_index("shift")
    assert tab.loc["scramble_x1", "outcome"] == "scored" and tab.loc["scramble_x1", "degraded"]
    assert tab.loc["drop_c", "outcome"] == "rejected" and "'c'" in tab.loc["drop_c", "detail"]
    assert tab.loc["text_noise", "outcome"] == "not_applicable"
    checks = {c["id"]: c["status"] for c in robustness.robustness_checks(tab.reset_index(), 0.05)}
    assert checks == {"model.robustness.scramble_x1": "warn", "model.robustness.drop_c": "pass",
                      "model.robustness.text_noise": "skip"}


def test_a_shift_s_robustness_does_not_depend_on_the_other_faults_of_the_catalogue(fitted):
    ctx, a, s = fitted

    def apply(name, df, severity, *, roles, seed):
        out = df.copy()
        out["x1"] = np.random.default_rng(seed).permutation(out["x1"].to_numpy())
        return out, {"columns": ["x1"], "rows_affected": len(df)}

    alone = types.SimpleNamespace(SHIFTS={"scramble_x1": {}}, apply=apply)
    more = types.SimpleNamespace(SHIFTS={"a_new_fault": {}, "scramble_x1": {}}, apply=apply)  # sorts first
    one = robustness.robustness(a, ctx.current, s, "label", ctx.roles, module=alone).set_index("shift")
    two = robustness.robustness(a, ctx.current, s, "label", ctx.roles, module=more).set_index("shift")
    assert one.loc["scramble_x1", "shifted"] == two.loc["scramble_x1", "shifted"]
    assert two.loc["a_new_fault", "shifted"] != two.loc["scramble_x1", "shifted"]  # each shift its own seed


def test_robustness_with_the_drift_library(fitted):
    ctx, a, s = fitted
    mod, reason = robustness.available_shifts()
    if mod is None:
        pytest.skip(reason)
    tab = robustness.robustness(a, ctx.current, s, "label", ctx.roles, shifts=["unit_change_up", "dropped_column"], module=mod)
    assert set(tab["outcome"]) <= {"scored", "rejected", "not_applicable"} and len(tab) == 2


def test_evidently_agrees_with_our_metrics(fitted, tmp_path):
    from playbook.evaluate import report

    ctx, a, s = fitted
    vals = report.evidently_report(s, tmp_path / "r.html", tmp_path / "r.json", ctx)
    ours = metrics.compute(s)
    assert vals["RocAuc"] == pytest.approx(ours["roc_auc"], abs=1e-9)
    assert vals["Accuracy"] == pytest.approx(ours["accuracy"], abs=1e-9)
    assert (tmp_path / "r.html").stat().st_size > 1000 and (tmp_path / "r.json").exists()


# ---------------------------------------------------------------------------------------------
# setup, provenance and policy limits
# ---------------------------------------------------------------------------------------------
def test_setup_in_predictions_mode_uses_the_recorded_decisions(tmp_path):
    from playbook import evaluate
    from tests.test_modeling import with_predictions

    ctx = with_predictions(tmp_path)
    ev = evaluate.setup(ctx, threshold=0.9)
    assert ev.adapter.mode == "predictions" and ev.threshold_source == "recorded decisions"
    assert list(ev.scored.pred) == list(ctx.current["decision"])  # not re-thresholded at 0.9
    checks = {c["id"]: c for c in evaluate.provenance_checks(ev)}
    assert checks["model.evaluation_set"]["status"] == "pass" and checks["model.loaded_safely"]["status"] == "pass"
    info = evaluate.provenance(ctx, ev)
    assert info["mode"] == "predictions" and info["evaluation_rows"] == 150 and "path" not in info


def test_setup_with_the_cost_implied_threshold_and_pickle_provenance(tmp_path):
    import pickle

    from sklearn.linear_model import LogisticRegression

    from playbook import evaluate
    from tests.test_modeling import make_ctx, make_frames

    ref, cur = make_frames()
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(LogisticRegression().fit(ref[["x1", "x2"]], ref["label"])))
    ctx = make_ctx(tmp_path, ref, cur, model={"path": str(tmp_path / "m.pkl"), "allow_pickle": True},
                   business={"cost_false_positive": 1.0, "cost_false_negative": 3.0})
    ev = evaluate.setup(ctx, use_business_threshold=True)
    assert ev.threshold == pytest.approx(0.25) and ev.threshold_source == "cost-implied"
    checks = {c["id"]: c for c in evaluate.provenance_checks(ev)}
    assert checks["model.loaded_safely"]["status"] == "warn" and "allow_pickle" in checks["model.loaded_safely"]["title"]


def test_multiclass_sections_run_end_to_end(tmp_path):
    from playbook import evaluate
    from tests.test_modeling import make_ctx

    rng = np.random.default_rng(0)

    def frame(n):
        x = rng.normal(size=n)
        return pd.DataFrame({"x": x, "g": rng.choice(["u", "v"], size=n),
                             "label": np.where(x > 0.5, "hi", np.where(x < -0.5, "lo", "mid"))})

    ctx = make_ctx(tmp_path, frame(300), frame(200))
    ev = evaluate.setup(ctx)
    s = ev.scored
    assert ev.task == "multiclass" and s.proba.shape == (200, 3)
    res = metrics.bootstrap(s, n_boot=20)
    ids = {c["id"] for c in metrics.metric_checks(res, "multiclass")}
    assert {"model.roc_auc_macro", "model.f1_macro", "model.f1_weighted", "model.accuracy"} <= ids
    assert res["accuracy"]["value"] > 0.8
    assert calibration.calibration(s)["kind"] == "top-label confidence"
    fr = fairness.fairness(ev.frame, s, "g", numeric=False, min_group_size=10)
    assert "accuracy_difference" in fr["metrics"]
    assert metrics.beats_dummy(s, ev.y_train, n_boot=30)["beats"]


def test_policy_limits_override_parameters():
    from playbook import catalogue
    from playbook.config import PolicySettings

    p = PolicySettings(gates={"model.fairness.*": {"max": 0.2, "block": False},
                              "model.fairness.sex.demographic_parity_difference": {"max": 0.05}})
    assert catalogue.limit("model.fairness.sex.demographic_parity_difference", "max", 0.1, p) == 0.05
    assert catalogue.limit("model.fairness.age.equalized_odds_difference", "max", 0.1, p) == 0.2
    assert catalogue.limit("model.calibration_ece", "max", 0.1, p) == 0.1


# ---------------------------------------------------------------------------------------------
# units: regression limits are relative, whatever the target's units
# ---------------------------------------------------------------------------------------------
def test_slice_gap_and_robustness_drop_are_relative_for_targets_in_large_units():
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    n = 2000
    price = rng.normal(300_000, 80_000, n)
    region = np.where(np.arange(n) < n // 2, "north", "south")
    err = np.where(region == "north", 20_000, 24_000) * rng.choice([-1, 1], n)  # south: MAE 20% worse
    frame = pd.DataFrame({"region": region, "sqft": rng.normal(1800, 400, n), "price": price})
    s = Scored("regression", price, price + err, index=frame.index)
    tab = slices.slice_table(frame, s, [], ["region"], min_size=30, max_gap=0.1)
    south = tab.set_index("slice").loc["south"]
    assert south["gap"] == pytest.approx(24_000 / 22_000 - 1, rel=1e-6)  # relative to the overall MAE, not 2,000 euros
    check = slices.slices_check(tab, 0.1, 30)
    assert check["status"] == "pass" and check["value"] < 0.1

    class Adapter:  # predicts price from sqft; a unit change of sqft doubles the error
        task, classes_, positive_label, mode, prediction_column, has_proba = "regression", None, None, "file", None, False

        def predict(self, X):
            return X["price"].to_numpy() + 10_000 * (X["sqft"].to_numpy() / 1800)

    def apply(name, df, severity, roles=None, seed=0):
        out = df.copy()
        out["sqft"] = out["sqft"] * 2
        return out, {"applied": True, "columns": ["sqft"]}

    shifts = SimpleNamespace(SHIFTS={"unit_change_up": None}, apply=apply)
    clean = metrics.score(Adapter(), frame, "price")
    tab = robustness.robustness(Adapter(), frame, clean, "price", None, module=shifts, max_drop=0.05)
    row = tab.iloc[0]
    assert row["drop"] == pytest.approx(1.0, rel=0.05)  # the MAE doubles: 100% worse, not "10,000 worse"
    assert bool(row["degraded"]) and robustness.robustness_checks(tab, 0.05)[0]["status"] == "warn"


def test_fast_binary_metrics_are_scikit_learns():
    """The bootstrap's numpy metrics equal scikit-learn's on data with ties, one class, no positive label."""
    import numpy as np

    from playbook.evaluate.metrics import Scored, binary_metrics, fast_binary_metrics

    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(2, 300))
        p = np.round(rng.random(n), int(rng.integers(1, 4)))
        y = (rng.random(n) < p).astype(int) if trial % 7 else np.full(n, trial % 2)
        yp = (p >= 0.5).astype(int) if trial % 5 else np.zeros(n, int)
        s = Scored(task="binary", y=np.where(y == 1, "a", "b").astype(object),
                   pred=np.where(yp == 1, "a", "b").astype(object), proba=np.c_[p, 1 - p], classes=["a", "b"],
                   positive="a")
        want, got = binary_metrics(s), fast_binary_metrics(y, p, yp)
        assert set(want) == set(got)
        for k, v in want.items():
            assert (np.isnan(v) and np.isnan(got[k])) or abs(v - got[k]) < 1e-12, (trial, k, v, got[k])


def test_scored_subsets_slice_the_parents_label_codes():
    import numpy as np

    from playbook.evaluate.metrics import Scored

    s = Scored(task="binary", y=np.array(["x", "y", "y", 1], dtype=object), pred=np.array(["y"] * 4, dtype=object),
               classes=["x", "y"], positive="y")
    assert s.y_bin.tolist() == [0, 1, 1, 0] and s.take([1, 3, 3]).y_bin.tolist() == [1, 0, 0]
    import pytest

    with pytest.raises(KeyError):
        s.y_index  # noqa: B018 - 1 is not a class
