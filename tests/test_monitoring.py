"""Unit tests of the monitoring library: profiles, statistics, calibration, performance estimation, config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from playbook.monitoring.calibrate import (
    DistributionMonitor, EstimatedPerformanceMonitor, alarm_matrix, binomial_bound, calibrate, choose_level,
    detection_power, thresholds_at,
)
from playbook.monitoring.performance import (
    Calibrator, batch_roc_auc, estimate, estimation_error, expected_accuracy, expected_roc_auc, fit_calibrator,
    realized_roc_auc,
)
from playbook.monitoring.spec import MonitoringConfigError, build_spec, load_spec, save_spec, spec_from_dict
from playbook.monitoring.stats import ColumnProfile, binned_ks, jensen_shannon

ALPHA = 1 / 30


def population(n: int, seed: int) -> pd.DataFrame:
    """A synthetic 'truth' to draw references and fresh production batches from."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(50, 10, n)
    return pd.DataFrame({
        "amount": np.round(np.exp(rng.normal(7, 0.8, n)), 2),
        "age": rng.integers(18, 80, n),
        "score_x": x1 + rng.normal(0, 5, n),          # correlated with x1
        "x1": x1,
        "rate": rng.choice([1, 2, 3, 4], n, p=[0.1, 0.2, 0.3, 0.4]),
        "city": rng.choice(["north", "south", "east", "west", "centre"], n, p=[0.3, 0.25, 0.2, 0.15, 0.1]),
        "flag": rng.choice(["yes", "no"], n, p=[0.9, 0.1]),
    })


NUMERIC = ["amount", "age", "score_x", "x1", "rate"]


def monitors_for(ref: pd.DataFrame) -> list[DistributionMonitor]:
    return [DistributionMonitor(ColumnProfile.build(ref[c], "numeric" if c in NUMERIC else "categorical"))
            for c in ref.columns]


# -- statistics and profiles ------------------------------------------------------------------------
def test_numeric_bins_place_values_below_inside_above_and_missing():
    prof = ColumnProfile.build(pd.Series([1.0, 2.0, 3.0, 4.0], name="x"), bins=3)
    codes = prof.codes(pd.Series([0.5, 1.0, 2.5, 4.0, 9.0, np.nan]))
    nb = prof.n_bins
    assert codes[0] == 0                        # below the reference minimum
    assert 1 <= codes[1] <= nb - 3 and 1 <= codes[2] <= nb - 3 and 1 <= codes[3] <= nb - 3
    assert codes[3] == nb - 3                   # the maximum stays in the last interior bin
    assert codes[4] == nb - 2                   # above the maximum
    assert codes[5] == nb - 1                   # missing
    assert sum(prof.reference_shares) == pytest.approx(1.0)
    assert prof.reference_shares[0] == 0 and prof.reference_shares[-1] == 0


def test_constant_column_profile_has_one_interior_bin():
    prof = ColumnProfile.build(pd.Series([5, 5, 5], name="c"), "numeric")
    assert prof.n_bins == 4
    assert prof.statistic(pd.Series([5, 5])) == 0.0
    assert prof.statistic(pd.Series([6, 6])) == pytest.approx(1.0)


def test_binned_ks_and_jensen_shannon_bounds():
    p = np.array([0.5, 0.5, 0.0])
    assert binned_ks(p, p) == 0.0
    assert binned_ks(np.array([1.0, 0, 0]), np.array([0, 0, 1.0])) == pytest.approx(1.0)
    assert jensen_shannon(p, p) == pytest.approx(0.0, abs=1e-12)
    assert jensen_shannon(np.array([1.0, 0]), np.array([0, 1.0])) == pytest.approx(1.0)
    # vectorised over a leading axis
    many = binned_ks(np.tile(p, (4, 1)), np.array([[1, 1, 0], [2, 0, 0], [0, 2, 0], [0, 0, 2]]))
    assert many.shape == (4,) and many[0] == 0.0 and many[3] == pytest.approx(1.0)


def test_categorical_profile_sends_unseen_values_to_other_and_counts_missing():
    prof = ColumnProfile.build(pd.Series(["a", "a", "b", None], name="c"))
    assert prof.kind == "categorical" and prof.categories == ["a", "b"]
    codes = prof.codes(pd.Series(["b", "zzz", None]))
    assert list(codes) == [1, 2, 3]
    assert prof.statistic(pd.Series(["a", "a", "b", None])) == pytest.approx(0.0, abs=1e-12)
    assert prof.statistic(pd.Series(["zzz"] * 4)) == pytest.approx(1.0)


def test_hashed_profile_keeps_no_raw_values_but_still_detects_change():
    names = pd.Series(["Alice Smith", "Bob Jones", "Alice Smith"], name="customer_name")
    prof = ColumnProfile.build(names, "categorical", hashed=True)
    assert "Alice Smith" not in yaml.safe_dump(prof.to_dict())
    assert prof.statistic(names) == pytest.approx(0.0, abs=1e-12)
    assert prof.statistic(pd.Series(["Carol White"] * 3)) == pytest.approx(1.0)


def test_profile_round_trip_gives_the_same_statistic():
    ref = population(500, 1)
    batch = population(80, 2)
    for c in ref.columns:
        prof = ColumnProfile.build(ref[c], "numeric" if c in NUMERIC else "categorical")
        back = ColumnProfile.from_dict(c, yaml.safe_load(yaml.safe_dump(prof.to_dict())))
        assert back.statistic(batch[c]) == pytest.approx(prof.statistic(batch[c]))


def test_profile_from_dict_rejects_inconsistent_shares():
    with pytest.raises(ValueError, match="reference_shares"):
        ColumnProfile.from_dict("x", {"kind": "numeric", "edges": [1.0, 2.0], "reference_shares": [1.0]})


# -- calibration ------------------------------------------------------------------------------------
def test_thresholds_keep_in_sample_family_rate_within_alpha():
    rng = np.random.default_rng(0)
    stats = rng.random((4000, 6))
    level = choose_level(stats, 0.05, "min-p")
    thr = thresholds_at(stats, level)
    assert (stats > thr).any(axis=1).mean() <= 0.05
    assert level >= 0.05 / 6 - 1e-12            # min-p is never stricter than Bonferroni
    assert choose_level(stats, 0.05, "bonferroni") == pytest.approx(0.05 / 6)


def test_min_p_uses_correlation_to_loosen_thresholds():
    rng = np.random.default_rng(1)
    base = rng.random(4000)
    correlated = np.stack([base + 1e-6 * rng.random(4000) for _ in range(5)], axis=1)
    level = choose_level(correlated, 0.05, "min-p")
    assert level > 3 * (0.05 / 5)               # nearly identical columns: close to alpha, not alpha / k


def test_false_alarms_on_200_fresh_no_drift_batches_stay_within_the_binomial_bound():
    """Calibrate on a reference sample, then judge 200 fresh batches from the same population."""
    truth = population(60_000, 7)
    ref = truth.iloc[:3000].reset_index(drop=True)
    fresh = truth.iloc[3000:].reset_index(drop=True)
    mons = monitors_for(ref)
    cal = calibrate(mons, ref, batch_size=150, alpha=ALPHA, replicates=4000, holdout=2000, seed=3)
    assert cal.false_alarm_rate_fit <= ALPHA
    rng = np.random.default_rng(11)
    alarms = 0
    for _ in range(200):
        batch = fresh.iloc[rng.choice(len(fresh), 150, replace=False)]
        alarms += any(m.statistic(batch) > m.threshold for m in mons)
    bound = binomial_bound(200, ALPHA)
    assert alarms <= bound, f"{alarms} false alarms in 200 no-drift batches, bound {bound}"


def test_false_alarms_on_200_disjoint_batches_never_seen_by_the_calibration():
    """Not bootstrap batches of the calibration sample (that rate nearly cannot fail): 200 disjoint batches of rows
    the thresholds never saw, and an interval that must hold the budget."""
    from playbook.holdout import clopper_pearson

    truth = population(22_000, 5)
    ref, fresh = truth.iloc[:2000].reset_index(drop=True), truth.iloc[2000:].reset_index(drop=True)
    mons = monitors_for(ref)
    calibrate(mons, ref, batch_size=100, alpha=ALPHA, replicates=4000, holdout=1000, seed=0)
    alarms = sum(any(m.statistic(fresh.iloc[i * 100:(i + 1) * 100]) > m.threshold for m in mons) for i in range(200))
    lo, hi = clopper_pearson(alarms, 200)
    assert lo <= ALPHA, f"{alarms} false alarms in 200 disjoint fresh batches: the budget is exceeded (CI {lo:.3f}-{hi:.3f})"
    assert alarms <= binomial_bound(200, ALPHA)


def test_uncalibrated_five_percent_tests_would_blow_the_budget():
    """The reason for calibration: seven columns tested at 5 % each alarm far more often than 1 in 30."""
    ref = population(2000, 5)
    mons = monitors_for(ref)
    calibrate(mons, ref, batch_size=100, alpha=0.05 * len(mons), replicates=3000, holdout=500,
              correction="bonferroni", margin=1.0, seed=0)   # per-column 5 %
    rate = alarm_matrix(mons, ref, 100, 1000, seed=4).any(axis=1).mean()
    assert rate > 3 * ALPHA


def test_a_unit_change_batch_alerts_and_names_the_column():
    ref = population(2000, 5)
    mons = monitors_for(ref)
    calibrate(mons, ref, batch_size=100, alpha=ALPHA, replicates=3000, holdout=500, seed=0)
    batch = population(100, 6)
    batch["amount"] = batch["amount"] * 100      # euros to cents
    fired = [m.name for m in mons if m.statistic(batch) > m.threshold]
    assert fired == ["amount"]


def test_detection_power_grows_with_the_size_of_the_shift():
    ref = population(3000, 5)
    mons = monitors_for(ref)
    calibrate(mons, ref, batch_size=100, alpha=ALPHA, replicates=3000, holdout=500, seed=0)
    powers = []
    for delta in (0.0, 2.0, 6.0):
        pool = ref.copy()
        pool["x1"] = pool["x1"] + delta
        powers.append(detection_power(mons, pool, 100, replicates=300, seed=1)["power"])
    assert powers[0] < 0.1 < powers[2]
    assert powers[0] <= powers[1] <= powers[2]
    res = detection_power(mons, pool, 100, replicates=300, seed=1)
    assert res["top_monitors"][0] in ("x1", "score_x")


def test_calibration_is_deterministic_and_validates_its_inputs():
    ref = population(800, 5)
    a, b = monitors_for(ref), monitors_for(ref)
    calibrate(a, ref, 50, ALPHA, replicates=1000, holdout=200, seed=4)
    calibrate(b, ref, 50, ALPHA, replicates=1000, holdout=200, seed=4)
    assert [m.threshold for m in a] == [m.threshold for m in b]
    with pytest.raises(ValueError, match="alpha"):
        calibrate(a, ref, 50, 1.5)
    with pytest.raises(ValueError, match="batch_size"):
        calibrate(a, ref, 0, ALPHA)


def test_threshold_rescales_with_batch_size():
    ref = population(800, 5)
    m = monitors_for(ref)[0]
    calibrate([m], ref, 100, ALPHA, replicates=1000, holdout=100, seed=0)
    assert m.threshold_for(100) == pytest.approx(m.threshold)
    assert m.threshold_for(25) > m.threshold > m.threshold_for(400)


# -- label-free performance estimation ----------------------------------------------------------------
def test_expected_roc_auc_matches_realized_auc_on_labels_drawn_from_the_probabilities():
    rng = np.random.default_rng(0)
    q = rng.beta(2, 5, 4000)
    y = (rng.random((200, 4000)) < q).astype(float)
    realized = batch_roc_auc(y, np.tile(q, (200, 1)))
    assert float(expected_roc_auc(q)) == pytest.approx(float(np.mean(realized)), abs=0.005)
    assert float(expected_roc_auc(np.array([0.0, 0.0, 1.0, 1.0]))) == pytest.approx(1.0)
    assert float(expected_roc_auc(np.full(10, 0.3))) == pytest.approx(0.5)
    acc = expected_accuracy(q, q >= 0.5)
    assert float(acc) == pytest.approx(float(np.mean(y == (q >= 0.5))), abs=0.005)


def test_batch_roc_auc_agrees_with_scikit_learn():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, (3, 50)).astype(float)
    s = np.round(rng.random((3, 50)), 1)          # with ties
    got = batch_roc_auc(y, s)
    for i in range(3):
        assert got[i] == pytest.approx(realized_roc_auc(y[i], s[i]))


def test_calibrator_corrects_overconfident_scores():
    rng = np.random.default_rng(3)
    true_p = rng.uniform(0.05, 0.95, 5000)
    y = (rng.random(5000) < true_p).astype(float)
    overconfident = 1 / (1 + np.exp(-3 * np.log(true_p / (1 - true_p))))
    for method in ("sigmoid", "isotonic"):
        cal = fit_calibrator(overconfident, y, method)
        back = Calibrator.from_dict(yaml.safe_load(yaml.safe_dump(cal.to_dict())))
        err = np.mean(np.abs(back(overconfident) - true_p))
        assert err < 0.05, method
    raw = estimate(Calibrator("identity"), overconfident)["roc_auc"]
    fixed = estimate(fit_calibrator(overconfident, y, "sigmoid"), overconfident)["roc_auc"]
    real = realized_roc_auc(y, overconfident)
    assert abs(fixed - real) < abs(raw - real)


def test_estimation_error_summary():
    err = estimation_error([{"roc_auc": 0.8}, {"roc_auc": 0.7}, {"roc_auc": None}],
                           [{"roc_auc": 0.75}, {"roc_auc": 0.8}, {"roc_auc": 0.7}])
    assert err["batches"] == 2 and err["mae"] == pytest.approx(0.075) and err["bias"] == pytest.approx(-0.025)


def test_performance_monitor_alarms_when_the_estimate_drops():
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"score": rng.beta(2, 4, 3000)})
    mon = EstimatedPerformanceMonitor("score", Calibrator("identity"))
    calibrate([mon], ref, 200, ALPHA, replicates=2000, holdout=500, seed=0)
    assert mon.minimum is not None and mon.minimum < mon.center
    flat = pd.DataFrame({"score": np.full(200, 0.35) + rng.normal(0, 0.01, 200)})
    assert mon.statistic(flat) > mon.threshold       # uninformative scores: estimated AUC near 0.5
    assert mon.statistic(ref.sample(200, random_state=1)) <= mon.threshold


# -- monitoring.yaml ----------------------------------------------------------------------------------
def _spec(tmp_path, ref=None):
    ref = population(1000, 5) if ref is None else ref
    mons = monitors_for(ref)
    cal = calibrate(mons, ref, 100, ALPHA, replicates=2000, holdout=500, seed=0)
    spec = build_spec(name="toy", task="binary", target="label", positive_label=1, classes=[0, 1],
                      reference_rows=len(ref), reference_fingerprint="abc", batch_size=100, false_alarms=1,
                      per_batches=30, calibration=cal, contract={"columns": {}}, monitors=mons)
    return save_spec(spec, tmp_path / "monitoring.yaml"), mons


def test_spec_round_trip(tmp_path):
    path, mons = _spec(tmp_path)
    text = path.read_text()
    assert text.startswith("# Monitoring config")
    spec = load_spec(path)
    assert spec.batch_size == 100 and spec.alpha == pytest.approx(ALPHA)
    assert [m.name for m in spec.monitors] == [m.name for m in mons]
    assert [m.threshold for m in spec.monitors] == pytest.approx([m.threshold for m in mons])
    raw = yaml.safe_load(text)
    assert raw["schema"] == "playbook.monitoring" and raw["schema_version"] == 1
    assert raw["alert_budget"]["false_alarms"] == 1 and raw["alert_budget"]["per_batches"] == 30


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.update(schema="something-else"), "schema"),
    (lambda r: r.update(schema_version=99), "newer"),
    (lambda r: r["batch"].update(size=0), "batch.size"),
    (lambda r: r["alert_budget"].update(alpha=2), "alpha"),
    (lambda r: r["monitors"][0].pop("threshold"), "threshold"),
    (lambda r: r["monitors"][1].update(name=r["monitors"][0]["name"]), "twice"),
])
def test_spec_validation_names_the_problem(tmp_path, mutate, message):
    path, _ = _spec(tmp_path)
    raw = yaml.safe_load(path.read_text())
    mutate(raw)
    with pytest.raises(MonitoringConfigError, match=message):
        spec_from_dict(raw)


def test_load_spec_reports_missing_and_broken_files(tmp_path):
    with pytest.raises(MonitoringConfigError, match="not found"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(MonitoringConfigError, match="not valid YAML"):
        load_spec(bad)


# -- out-of-range counts --------------------------------------------------------------------------------
def test_out_of_range_null_distribution_matches_simulation():
    from playbook.monitoring.calibrate import out_of_range_pmf

    rng = np.random.default_rng(0)
    m, n = 300, 100
    counts = []
    for _ in range(6000):
        r, b = rng.random(m), rng.random(n)
        counts.append(int(((b > r.max()) | (b < r.min())).sum()))
    counts = np.array(counts)
    pmf = out_of_range_pmf(n, m)
    for k in range(4):
        assert (counts == k).mean() == pytest.approx(pmf[k], abs=0.02)


def test_range_monitor_catches_a_few_outliers_the_distribution_test_misses():
    from playbook.monitoring.calibrate import RangeMonitor

    ref = population(3000, 5)
    mons = monitors_for(ref) + [RangeMonitor.build(ref[c]) for c in NUMERIC]
    calibrate(mons, ref, batch_size=200, alpha=ALPHA, replicates=3000, holdout=500, seed=0)
    batch = population(200, 9)
    batch.loc[batch.index[:8], "amount"] = batch["amount"].max() * 50      # 4 % extreme values
    fired = {m.name for m in mons if m.statistic(batch) > m.threshold}
    assert fired == {"amount:range"}
    rm = next(m for m in mons if m.name == "amount:range")
    assert rm.threshold_for(50) <= rm.threshold <= rm.threshold_for(1000)


# -- power and detection ----------------------------------------------------------------------------------
def test_days_to_detect():
    from playbook.monitoring.simulate import days_to_detect

    assert days_to_detect(1.0) == 1 and days_to_detect(0.0) is None
    assert days_to_detect(0.5) == 4                      # 1 - 0.5**4 = 0.94 >= 0.9 > 1 - 0.5**3
    assert days_to_detect(0.9) == 1


def test_detection_checks_statuses():
    from playbook.monitoring.simulate import detection_checks

    table = pd.DataFrame([
        {"shift": "no_drift", "applied": True, "power": 0.02, "p_detect_within": 0.06, "needs_labels": False,
         "power_labeled": None, "reason": None},
        {"shift": "mean_shift", "applied": True, "power": 0.9, "p_detect_within": 0.999, "needs_labels": False,
         "power_labeled": None, "reason": None},
        {"shift": "concept_drift", "applied": True, "power": 0.04, "p_detect_within": 0.11, "needs_labels": True,
         "power_labeled": 0.8, "reason": None},
        {"shift": "prior_shift", "applied": False, "power": None, "p_detect_within": None, "needs_labels": True,
         "power_labeled": None, "reason": "no target"},
    ])
    got = {c["id"].rsplit(".", 1)[1]: c for c in detection_checks(table, 3, 0.9, "artifacts/p.csv")}
    assert set(got) == {"mean_shift", "concept_drift", "prior_shift"}
    assert got["mean_shift"]["status"] == "pass"
    assert got["concept_drift"]["status"] == "warn" and "labeled-batch" in got["concept_drift"]["why"]
    assert got["prior_shift"]["status"] == "skip" and "no target" in got["prior_shift"]["why"]


@pytest.fixture(scope="module")
def bundled():
    import playbook
    from playbook.audit.contract import build_contract
    from playbook.modeling import get_model

    ctx = playbook.load_context("")
    return ctx, get_model(ctx), build_contract(ctx.reference, ctx.roles)


def test_make_config_cross_fits_the_reference_scores_and_is_deterministic(bundled, tmp_path):
    from playbook.monitoring.setup import make_config

    ctx, model, contract = bundled
    kw = dict(batch_size=200, replicates=800, holdout=200, folds=3)
    a = make_config(ctx, model, contract, **kw)
    b = make_config(ctx, model, contract, **kw)
    ta = save_spec(a.spec, tmp_path / "a.yaml").read_text()
    tb = save_spec(b.spec, tmp_path / "b.yaml").read_text()
    assert ta == tb
    oof = a.frame["score"].to_numpy()
    in_sample = model.positive_proba(ctx.reference.loc[a.frame.index])
    # a model is more confident on its own training rows: that is why the reference scores are cross-fitted
    assert np.mean(np.abs(in_sample - 0.5)) > np.mean(np.abs(oof - 0.5)) + 0.02
    names = [m.name for m in a.monitors]
    assert "score" in names and "estimated_roc_auc" in names and "credit_amount:range" in names
    assert set(ctx.features) <= set(names)
    raw = yaml.safe_load(ta)
    assert raw["performance"]["labeled"]["roc_auc"]["min"] < raw["performance"]["labeled"]["roc_auc"]["expected"]


def test_shift_power_control_is_quiet_on_held_out_rows_and_faults_are_found():
    """The no-drift control of the power table measured on clean held-out rows the monitor was not calibrated on
    (not on its calibration sample), on a reference large enough to hold them."""
    import numpy as np
    import pandas as pd

    from playbook.audit.contract import build_contract
    from playbook.config import from_dict
    from playbook.context import Context
    from playbook.holdout import split
    from playbook.monitoring.setup import make_config
    from playbook.monitoring.simulate import shift_power

    rng = np.random.default_rng(3)
    n = 12_000
    ref = pd.DataFrame({"amount": rng.lognormal(7, 0.5, n), "age": rng.integers(18, 80, n).astype(float),
                        "segment": rng.choice(list("abcd"), n), "y": rng.integers(0, 2, n)})
    ctx = Context.build(from_dict({"data": {"reference": "r.csv", "current": "c.csv", "target": "y"}}), ref,
                        ref.sample(frac=0.1, random_state=0))
    ms = make_config(ctx, None, build_contract(ref, ctx.roles), batch_size=150, replicates=3000, holdout=300)
    spec = spec_from_dict(ms.spec)
    clean = ctx.reference.loc[split(ctx).clean]
    table = shift_power(spec, ms.source, clean, ctx.roles, ["unit_change_up", "renamed_column"], 0.5, 150,
                        replicates=300, schema_batches=10, seed=0).set_index("shift")
    assert table.loc["no_drift", "power"] < 0.1
    assert table.loc["unit_change_up", "power"] > 0.95
    assert table.loc["renamed_column", "power_schema"] == 1.0


def test_false_alarms_are_measured_on_disjoint_held_out_batches_and_can_fail(tmp_path):
    """A monitor calibrated on 70% of a large reference, measured on disjoint batches of the other 30%: within the
    budget when nothing changed; failing, with the interval's lower bound above the budget, when its thresholds are
    made too tight (what a wrongly calibrated monitor looks like on data it never saw)."""
    import copy

    import numpy as np
    import pandas as pd

    from playbook.context import Context
    from playbook.config import from_dict
    from playbook.monitoring import setup as msetup
    from playbook.monitoring.checks import budget_check
    from playbook.monitoring.spec import load_spec, save_spec
    from playbook.audit.contract import build_contract

    rng = np.random.default_rng(0)
    n = 9000
    ref = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(list("xyz"), n), "c": rng.exponential(size=n),
                        "y": rng.integers(0, 2, n)})
    cur = ref.sample(frac=0.2, random_state=1)
    cfg = from_dict({"data": {"reference": "r.csv", "current": "c.csv", "target": "y"}})
    ctx = Context.build(cfg, ref, cur)
    ms = msetup.make_config(ctx, None, build_contract(ref, ctx.roles), batch_size=100, replicates=4000, holdout=1000)
    spec = load_spec(save_spec(ms.spec, tmp_path / "monitoring.yaml"))
    m = msetup.held_out_false_alarms(spec, ms.clean, 100, seed=0)
    assert m["batches"] == 27 and m["status"] == "pass" and m["ci"][0] <= 1 / 30
    good = budget_check(m, 1, 30, "artifacts/calibration.json")
    assert good["status"] == "pass" and good["ci"] == m["ci"]
    tight = copy.deepcopy(ms.spec)
    for mon in tight["monitors"]:
        if mon.get("threshold") is not None:
            mon["threshold"] = mon["threshold"] * 0.4
    bad = msetup.held_out_false_alarms(load_spec(save_spec(tight, tmp_path / "tight.yaml")), ms.clean, 100, seed=0)
    assert bad["status"] == "fail" and bad["ci"][0] > 1 / 30
    assert budget_check(bad, 1, 30, "x")["status"] == "fail"


def test_model_age_alert_after_the_measured_shelf_life(tmp_path, monkeypatch):
    """With a timestamp and a measured shelf life, monitoring.yaml carries the training cutoff and playbook monitor
    alerts `stale_model` on a batch dated past it; the rehearsal check passes, and fails on a config that never
    alerts (no limit recorded is a warning)."""
    import json

    import numpy as np
    import pandas as pd

    from playbook.audit.contract import build_contract
    from playbook.config import from_dict
    from playbook.context import Context
    from playbook.monitoring import setup as msetup
    from playbook.monitoring.check import check_batch
    from playbook.monitoring.checks import model_age_check
    from playbook.monitoring.spec import load_spec, save_spec

    rng = np.random.default_rng(5)
    n = 3000
    ref = pd.DataFrame({"amount": rng.lognormal(6, 0.4, n), "channel": rng.choice(list("abc"), n),
                        "booked_at": pd.date_range("2023-01-01", periods=n, freq="h").astype(str), "y": rng.integers(0, 2, n)})
    cfg = from_dict({"data": {"reference": "r.csv", "current": "c.csv", "target": "y", "timestamp": "booked_at"}})
    ctx = Context.build(cfg, ref, ref.tail(300))
    ms = msetup.make_config(ctx, None, build_contract(ref, ctx.roles), batch_size=100, replicates=2000, holdout=200)
    (tmp_path / "staleness.json").write_text(json.dumps({"metric": "roc_auc", "max_model_age_days": 90.0}))
    age = msetup.model_age(ctx, tmp_path / "staleness.json")
    assert age["timestamp_column"] == "booked_at" and age["trained_until"].startswith("2023-05-05T23")
    ms.spec["model_age"] = age
    spec = load_spec(save_spec(ms.spec, tmp_path / "monitoring.yaml"))
    batch = ref.tail(100).drop(columns=["y"])
    late = batch.assign(booked_at="2023-12-01T00:00:00")
    res = check_batch(spec, late)
    assert res["model_age"]["stale"] and any(a["kind"] == "stale_model" for a in res["alerts"])
    assert not check_batch(spec, batch)["model_age"]["stale"]
    # judged many at once with a known base batch (the drift step's way): the same kinds, the age taken from the
    # base when the timestamps are the base's and judged anew when they are not
    from playbook.monitoring.check import alert_kinds_many, alert_parts

    other = batch.assign(amount=batch["amount"] * 2)
    parts = alert_parts(spec, batch)
    known = [(set(batch.columns) - {"amount"}, parts), (set(batch.columns) - {"booked_at"}, parts)]
    expected = [sorted({a["kind"] for a in check_batch(spec, b)["alerts"]}) for b in (other, late)]
    assert "stale_model" in expected[1] and "stale_model" not in expected[0]
    assert alert_kinds_many(spec, [other, late], known=known) == expected
    assert model_age_check(spec, batch, "x", "booked_at")["status"] == "pass"
    none = dict(ms.spec, model_age={**age, "max_age_days": None})
    assert model_age_check(load_spec(save_spec(none, tmp_path / "n.yaml")), batch, "x", "booked_at")["status"] == "warn"
    assert model_age_check(spec, batch, "x", None)["status"] == "skip"
    # a monitor that never looks at the age fails the rehearsal
    import playbook.monitoring.check as check_mod

    monkeypatch.setattr(check_mod, "_model_age", lambda *a, **k: None)
    bad = model_age_check(spec, batch, "x", "booked_at")
    assert bad["status"] == "fail" and "does NOT alert" in bad["why"]


def test_monitor_calibration_draws_a_bounded_sample_of_a_large_reference(bundled, monkeypatch):
    """Work that scales with the batch size draws from a bounded, seeded sample of each part of the split."""
    from playbook import holdout
    from playbook.monitoring.setup import make_config

    ctx, model, contract = bundled
    monkeypatch.setattr(holdout, "MAX_PART_ROWS", 150)
    monkeypatch.setattr(holdout.bounded, "__defaults__", (150, 0))
    s = holdout.split(ctx)
    a = make_config(ctx, model, contract, batch_size=50, replicates=300, holdout=100, folds=3)
    b = make_config(ctx, model, contract, batch_size=50, replicates=300, holdout=100, folds=3)
    assert len(a.frame) == 150 and len(a.clean) == 150 and set(a.frame.index) <= set(s.calibration)
    assert a.info["frame"]["bounded"]["calibration_rows"] == len(s.calibration)
    assert list(a.frame.index) == list(b.frame.index) and not set(a.frame.index) & set(a.clean.index)
    picked = holdout.bounded(s.calibration, 150, seed=0)
    assert picked.is_monotonic_increasing and len(picked) == 150 and holdout.bounded(picked, 500).equals(picked)


def test_replayed_batches_that_are_no_calendar_day_carry_no_made_up_date(tmp_path):
    """A held-out batch has no date; a made-up one (2000-01-06) could be somebody's date of birth, and the leak
    search would read it as leaked."""
    import datetime as dt

    from playbook.monitoring.dashboard import Day
    from playbook.monitoring.simulate import replay

    path, _ = _spec(tmp_path)
    spec = load_spec(path)
    batches = [population(100, 11 + i) for i in range(2)]
    plain = replay(spec, batches)
    assert plain["date"].isna().all() and list(plain["day"]) == [1, 2]
    dated = replay(spec, [Day(dt.date(2025, 1, 6), batches[0])])
    assert list(dated["date"]) == ["2025-01-06"]


def test_the_dashboard_compares_each_day_with_a_bounded_sample_of_the_reference():
    from playbook.monitoring.dashboard import REFERENCE_ROWS, reference_sample

    big = pd.DataFrame({"x": np.arange(REFERENCE_ROWS * 3)}, index=np.arange(REFERENCE_ROWS * 3) * 2)
    s = reference_sample(big, seed=4)
    assert len(s) == REFERENCE_ROWS and s.index.is_monotonic_increasing and set(s.index) <= set(big.index)
    assert s.equals(reference_sample(big, seed=4)) and not s.equals(reference_sample(big, seed=5))
    small = big.head(100)
    assert reference_sample(small) is small
