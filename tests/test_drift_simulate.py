"""The simulation: monitors, sweep, sensitivity matrix, timelines, power, checks (binary, multiclass, regression)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from playbook import catalogue
from playbook import metrics as M
from playbook.audit.contract import build_contract
from playbook.config import PolicySettings
from playbook.data import Roles
from playbook.drift import engine
from playbook.drift import shifts as S
from playbook.drift import simulate as sim

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

FEATURES = ["amount", "age", "purpose", "housing"]
SWEPT = ["unit_change_up", "dropped_column", "concept_drift", "duplicated_rows", "category_frequency"]


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

    mode, callable, has_predictions, has_proba = "baseline", True, True, True
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


# -- multiclass and regression data ----------------------------------------------------------------------------------
TIERS = ["low", "mid", "high"]


def make_multi(n: int, seed: int) -> pd.DataFrame:
    """Three classes by the amount's tertile, with label noise; class names that do not sort in tier order."""
    rng = np.random.default_rng(seed)
    df = make(n, seed).drop(columns=["label"])
    z = (np.log(df["amount"]) - 7) / 0.5 + rng.normal(0, 0.6, n)
    df["tier"] = np.select([z < -0.43, z < 0.43], ["low", "mid"], "high")
    return df


MREF, MPOOL = make_multi(700, 2), make_multi(400, 3)
MROLES = Roles(target="tier", task="multiclass", features=FEATURES, numeric=["amount", "age"],
               categorical=["purpose", "housing"], classes=sorted(TIERS))


class TierModel:
    """A multiclass stand-in: class probabilities from the amount, columns in ``classes_`` order (not sorted)."""

    mode, callable, has_predictions, has_proba = "baseline", True, True, True
    features = FEATURES
    classes_ = ["mid", "high", "low"]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        z = (np.log(np.clip(pd.to_numeric(X["amount"], errors="raise").to_numpy(dtype=float), 1, None)) - 7) / 0.5
        logits = {"low": -2.0 * z, "mid": 1.0 - 2.0 * np.abs(z), "high": 2.0 * z}
        L = np.column_stack([logits[c] for c in self.classes_])
        P = np.exp(L - L.max(axis=1, keepdims=True))
        return P / P.sum(axis=1, keepdims=True)

    def predict(self, X):
        return np.asarray(self.classes_, dtype=object)[self.predict_proba(X).argmax(axis=1)]


class TierLabelsOnly(TierModel):
    """The same classifier without probabilities (e.g. an SVM without probability=True)."""

    has_proba = False

    def predict_proba(self, X):  # pragma: no cover - must never be called
        raise AssertionError("a labels-only model has no predict_proba")

    def predict(self, X):
        return np.asarray(self.classes_, dtype=object)[TierModel.predict_proba(self, X).argmax(axis=1)]


def make_reg(n: int, seed: int) -> pd.DataFrame:
    """A regression target in large units (cents), driven by the amount."""
    rng = np.random.default_rng(seed)
    df = make(n, seed).drop(columns=["label"])
    df["loss_cents"] = 150_000.0 * np.log(df["amount"]) + rng.normal(0, 20_000, n)
    return df


RREF, RPOOL = make_reg(700, 4), make_reg(400, 5)
RROLES = Roles(target="loss_cents", task="regression", features=FEATURES, numeric=["amount", "age"],
               categorical=["purpose", "housing"])


class LossModel:
    mode, callable, has_predictions, has_proba = "baseline", True, True, False
    features = FEATURES

    def predict(self, X):
        return 150_000.0 * np.log(np.clip(pd.to_numeric(X["amount"], errors="raise").to_numpy(dtype=float), 1, None))


def monitors(**kw) -> sim.Monitors:
    kw.setdefault("model", AmountModel())
    kw.setdefault("contract", build_contract(REF, ROLES))
    return sim.build_monitors(REF, POOL, ROLES, **kw)


def none_rate(matrix):
    return matrix.loc[matrix["shift"] == sim.NO_SHIFT, "detection_rate"].iloc[0]


@pytest.fixture(scope="module")
def swept():
    mon = monitors()
    trials, matrix, skipped = sim.sweep(mon, SWEPT, severities=[0.5, 1.0], trials=20, batch_size=150, seed=0)
    return mon, trials, matrix, skipped


# -- the metric ------------------------------------------------------------------------------------------------------
def test_expected_metric_is_measured_on_the_pool():
    mon = monitors()
    assert mon.scores and mon.metric == "roc_auc"
    y = (POOL["label"] == "bad").astype(int)
    assert mon.expected_metric == pytest.approx(M.roc_auc(y, AmountModel().positive_proba(POOL)), rel=1e-12)
    assert 0.65 < mon.expected_metric < 0.95


def test_shared_metric_vocabulary():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    s = (y + rng.normal(0, 1, 300)).round(1)  # ties
    assert M.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), rel=1e-12)
    assert M.metric_value("roc_auc", np.ones(5), y_score=np.arange(5)) is None  # one class only
    assert M.relative_drop("roc_auc", 0.8, 0.72) == pytest.approx(0.1)
    assert M.relative_drop("mae", 10.0, 12.0) == pytest.approx(0.2)
    assert M.relative_drop("mae", 10.0, None) is None
    # macro ROC AUC over the classes a batch holds: sklearn's value when all occur, still defined without one
    labels = rng.choice(["b", "a", "c"], 300)
    P = rng.dirichlet([1, 1, 1], 300)
    P[np.arange(300), pd.Series(labels).map({"c": 0, "a": 1, "b": 2})] += 0.5  # columns in ("c", "a", "b") order
    full = M.metric_value("roc_auc_macro", labels, y_score=P, classes=["c", "a", "b"])
    assert M.roc_auc_macro_present(labels, P, ["c", "a", "b"]) == pytest.approx(full, rel=1e-12)
    two = labels != "a"
    assert M.metric_value("roc_auc_macro", labels[two], y_score=P[two], classes=["c", "a", "b"]) is None
    Pn = P[two] / P[two].sum(axis=1, keepdims=True)
    want = np.mean([roc_auc_score(labels[two] == k, Pn[:, j]) for j, k in ((0, "c"), (2, "b"))])
    assert M.roc_auc_macro_present(labels[two], P[two], ["c", "a", "b"]) == pytest.approx(want, rel=1e-12)
    assert M.roc_auc_macro_present(np.array(["c"] * 5), P[:5], ["c", "a", "b"]) is None
    # the drift package keeps no copy of the vocabulary
    from playbook.drift import detect

    for name in ("LOWER_IS_BETTER", "metric_value", "relative_drop", "roc_auc", "default_metric"):
        assert not hasattr(detect, name) and not hasattr(sim, name), name


@pytest.mark.parametrize("task, model, expected", [
    ("binary", AmountModel(), "roc_auc"), ("multiclass", TierModel(), "roc_auc_macro"),
    ("regression", LossModel(), "mae"), ("multiclass", TierLabelsOnly(), "accuracy"),
])
def test_one_primary_metric_per_task(task, model, expected):
    metric, note = sim.choose_metric(task, model)
    assert metric == expected
    assert (note == "") == (expected == M.PRIMARY[task])
    if expected != M.PRIMARY[task]:
        assert "labels only" in note and M.PRIMARY[task] in note


def test_choose_metric_refuses_what_cannot_be_measured():
    with pytest.raises(ValueError, match="metric 'mae' does not fit a binary task; use one of roc_auc"):
        sim.choose_metric("binary", AmountModel(), "mae")
    with pytest.raises(ValueError, match="needs class probabilities .* use one of accuracy, f1_macro"):
        sim.choose_metric("multiclass", TierLabelsOnly(), "roc_auc_macro")
    assert sim.choose_metric("multiclass", TierModel(), "f1_macro") == ("f1_macro", "")


def test_multiclass_batches_are_scored_with_the_macro_roc_auc():
    from sklearn.metrics import roc_auc_score

    mon = sim.build_monitors(MREF, MPOOL, MROLES, model=TierModel(), contract=build_contract(MREF, MROLES))
    assert mon.scores and mon.metric == "roc_auc_macro" and "metric" not in mon.notes
    P = pd.DataFrame(TierModel().predict_proba(MPOOL), columns=TierModel.classes_)[sorted(TIERS)].to_numpy()
    want = roc_auc_score(MPOOL["tier"], P, multi_class="ovr", average="macro")
    assert mon.expected_metric == pytest.approx(want, rel=1e-12)
    trials, matrix, skipped = sim.sweep(mon, ["concept_drift", "mean_shift"], severities=[1.0], trials=4,
                                        batch_size=120, seed=0)
    assert skipped == {}
    row = matrix.set_index("shift")
    assert row.loc["none", "metric_drop"] == 0.0  # paired: the same batch unshifted
    assert row.loc["concept_drift", "metric_drop"] > 0.1
    assert row.loc["concept_drift", "silent_failure"] == True  # noqa: E712
    assert row.loc["concept_drift", "detection_rate"] == row.loc["none", "detection_rate"]  # inputs untouched
    assert trials["metric"].notna().all()


def test_labels_only_multiclass_falls_back_to_accuracy_and_says_so(tmp_path):
    from playbook.results import Step

    mon = sim.build_monitors(MREF, MPOOL, MROLES, model=TierLabelsOnly(), contract=build_contract(MREF, MROLES))
    assert mon.scores and mon.metric == "accuracy"
    assert "instead of the multiclass primary metric roc_auc_macro" in mon.notes["metric"]
    pred = TierLabelsOnly().predict(MPOOL)
    assert mon.expected_metric == pytest.approx(float(np.mean(pred == MPOOL["tier"].to_numpy())))
    trials, matrix, skipped = sim.sweep(mon, ["mean_shift"], severities=[1.0], trials=2, batch_size=100)
    step = Step("drift_simulation", tmp_path)
    sim.write_artifacts(step, mon, matrix, trials, skipped, None, None, S.describe(), None, params={},
                        contract_source="built", pool_source="pool")
    data = json.loads((tmp_path / "artifacts" / "sensitivity.json").read_text())["monitors"]
    assert data["model_metric"] == "accuracy" and data["primary_metric"] == "roc_auc_macro"
    assert "labels only" in data["metric_note"]


def test_metric_bound_is_the_gate_in_force():
    policy = PolicySettings(gates={"model.roc_auc": {"min": 0.75, "block": True}, "model.mae": {"max": 3.0}})
    assert sim.metric_bound("roc_auc", policy) == 0.75 and sim.metric_bound("mae", policy) == 3.0
    assert sim.metric_bound("accuracy", policy) is None
    # no policy: the catalogue's default gates
    assert sim.metric_bound("roc_auc") == 0.7 and sim.metric_bound("roc_auc_macro") == 0.7
    assert sim.metric_bound("r2") == 0.0
    assert sim.metric_bound("roc_auc", PolicySettings(use_default_gates=False)) is None


def test_policy_bound_on_the_metric_counts_as_degradation():
    mon = monitors(metric_floor=0.7)
    assert mon.crossed_floor(0.75, 0.69) is True
    assert mon.crossed_floor(0.65, 0.60) is False  # already below before the shift: not the shift's doing
    assert mon.crossed_floor(0.80, 0.75) is False
    assert mon.perf_alarm(0.69) is True
    rec = engine._record("x", 0.5, 0, {"alarm": False, "drift_share": 0, "n_drifted": 0, "dataset_drift": False,
                                       "any_column_drift": False, "watched_drift": False, "contract_violations": 0,
                                       "contract_kinds": [], "contract_alarm": False}, 0.69, None, 0.71, mon)
    assert rec["degraded"] is True and rec["silent"] is True  # a 3 % drop, but past the policy's bound
    # lower is better: a bound on MAE is a maximum
    reg = sim.build_monitors(RREF, RPOOL, RROLES, model=LossModel(), metric_floor=30_000.0)
    assert reg.crossed_floor(25_000.0, 31_000.0) is True and reg.crossed_floor(25_000.0, 29_000.0) is False


# -- the sweep -------------------------------------------------------------------------------------------------------
def test_sweep_shapes_and_false_alarm_row(swept):
    mon, trials, matrix, skipped = swept
    assert skipped == {}
    assert len(trials) == 20 + 5 * 2 * 20
    none = matrix[matrix["shift"] == sim.NO_SHIFT].iloc[0]
    assert none["severity"] == 0 and none["trials"] == 20
    assert none["metric_drop"] == 0.0 and none["degraded_rate"] == 0.0  # paired: no shift, no loss
    clean = trials[trials["shift"] == sim.NO_SHIFT]
    assert none["detection_rate"] == clean["alarm"].mean()
    # the pool comes from the reference's distribution: the monitors keep the default 0.1 gate
    assert none["detection_rate"] <= 0.1
    assert set(matrix["shift"]) == {sim.NO_SHIFT, *SWEPT}


def test_matrix_tells_loud_silent_and_detected_faults_apart(swept):
    mon, trials, matrix, skipped = swept
    row = matrix.set_index(["shift", "severity"])
    # a dropped column: the contract fires every time and the model refuses the batch (loud, never silent)
    dc = row.loc[("dropped_column", 1.0)]
    assert dc["detection_rate"] == 1.0 and dc["model_error_rate"] == 1.0
    assert dc["silent_rate"] == 0.0 and dc["silent_failure"] is not None and not dc["silent_failure"]
    # a unit change: range violations raise the alarm
    assert row.loc[("unit_change_up", 1.0), "detection_rate"] == 1.0
    assert row.loc[("unit_change_up", 1.0), "contract_rate"] == 1.0
    # concept drift: inputs untouched, so no data monitor fires, while the metric collapses
    cd = row.loc[("concept_drift", 1.0)]
    assert cd["detection_rate"] == none_rate(matrix)
    assert cd["metric_drop"] > 0.2 and cd["silent_failure"] == True  # noqa: E712
    assert cd["perf_alarm_rate"] == 1.0  # only labels reveal it


def test_sweep_is_deterministic(swept):
    mon, trials, matrix, _ = swept
    again = sim.sweep(monitors(), SWEPT, severities=[0.5, 1.0], trials=20, batch_size=150, seed=0)
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


def test_unknown_shift_names_list_the_valid_ones():
    with pytest.raises(S.ShiftError, match="valid names are: mean_shift"):
        sim.sweep(monitors(model=None), ["unit_chagne"], trials=1)


# -- the checks: each one made to pass and to fail or warn -----------------------------------------------------------
def by_id(checks):
    return {c["id"]: c for c in checks}


def test_checks_from_the_sweep(swept):
    mon, trials, matrix, skipped = swept
    checks = by_id(sim.make_checks(matrix, skipped, None, None, scored=True, detect_severity=1.0))
    want = {"drift.false_alarm_rate": "pass", "drift.silent_failures": "fail",
            "drift.detects.unit_change_up": "pass", "drift.detects.dropped_column": "pass",
            "drift.detects.concept_drift": "warn",  # only the label-based monitor catches it
            "drift.detects.category_frequency": "fail", "drift.detects.duplicated_rows": "fail"}
    assert {k: checks[k]["status"] for k in want} == want
    assert set(checks) == set(want) | {"drift.noisy_alarms"}  # mean_shift etc. were not part of this run
    assert "concept_drift@1" in checks["drift.silent_failures"]["why"]
    assert checks["drift.silent_failures"]["value"] == int((matrix["silent_failure"] == True).sum())  # noqa: E712
    assert checks["drift.detects.concept_drift"]["threshold"] == {"min": 0.8, "severity": 1.0}
    lenient = by_id(sim.make_checks(matrix, skipped, None, None, scored=True, max_silent_failures=10))
    assert lenient["drift.silent_failures"]["status"] == "pass"
    for c in checks.values():
        assert catalogue.spec(c["id"]).step == "drift_simulation" and c["why"]


def test_false_alarm_rate_fails_when_the_monitors_fire_on_clean_data():
    # the held-out rows already differ from the reference (amounts 60 % higher): every unshifted batch alarms
    drifted_pool = POOL.assign(amount=POOL["amount"] * 1.6)
    mon = sim.build_monitors(REF, drifted_pool, ROLES, model=AmountModel(), contract=build_contract(REF, ROLES),
                             drift_share=0.25)
    _, matrix, skipped = sim.sweep(mon, ["mean_shift"], severities=[0.5], trials=5, batch_size=150)
    fa = by_id(sim.make_checks(matrix, skipped, None, None, scored=True))["drift.false_alarm_rate"]
    assert fa["value"] == 1.0 and fa["status"] == "fail" and fa["threshold"] == {"max": 0.1}


def test_noisy_alarms_warn_when_alarms_fire_on_harmless_faults():
    # the model reads only the amount; watched categorical columns alarm on faults that do not touch it
    mon = monitors(watch_columns=["purpose"])
    _, matrix, skipped = sim.sweep(mon, ["category_frequency", "new_category"], severities=[1.0], trials=6,
                                   batch_size=150, seed=0)
    checks = by_id(sim.make_checks(matrix, skipped, None, None, scored=True, detect_severity=1.0))
    noisy = checks["drift.noisy_alarms"]
    assert noisy["value"] == 1.0 and noisy["status"] == "warn"
    assert "category_frequency" in noisy["why"]
    assert checks["drift.silent_failures"]["status"] == "pass" and checks["drift.silent_failures"]["value"] == 0
    quiet = by_id(sim.make_checks(matrix, skipped, None, None, scored=True, max_noisy_alarm_share=1.0))
    assert quiet["drift.noisy_alarms"]["status"] == "pass"


def test_model_checks_are_not_applicable_when_the_model_cannot_score():
    mon = monitors(model=None)
    reason, na = sim.scoring(mon, "predictions mode")
    assert (reason, na) == ("predictions mode", True)
    trials, matrix, skipped = sim.sweep(mon, ["outliers"], severities=[1.0], trials=3, batch_size=100)
    assert matrix["silent_failure"].isna().all() and matrix["metric"].isna().all()
    checks = by_id(sim.make_checks(matrix, skipped, None, None, scored=False, score_reason=reason,
                                   score_not_applicable=na))
    for cid in ("drift.silent_failures", "drift.noisy_alarms"):
        assert checks[cid]["status"] == "skip" and checks[cid]["why"] == "predictions mode"
        assert checks[cid]["not_applicable"] is True
    # an unlabeled pool is missing evidence, not an inapplicable check
    unlabeled = sim.build_monitors(REF, POOL.assign(label=None), ROLES, model=AmountModel())
    reason, na = sim.scoring(unlabeled)
    assert "no labels" in reason and na is False
    skipped_checks = by_id(sim.make_checks(matrix, {}, None, None, scored=False, score_reason=reason))
    assert "not_applicable" not in skipped_checks["drift.silent_failures"]


def test_a_shift_that_cannot_apply_is_a_not_applicable_skip():
    reg = sim.build_monitors(RREF, RPOOL, RROLES, model=LossModel())
    _, matrix, skipped = sim.sweep(reg, ["prior_shift", "outliers"], severities=[0.5], trials=2, batch_size=50)
    assert "regression" in skipped["prior_shift"]
    checks = by_id(sim.make_checks(matrix, skipped, None, None, scored=reg.scores))
    assert checks["drift.detects.prior_shift"]["status"] == "skip"
    assert checks["drift.detects.prior_shift"]["not_applicable"] is True
    assert "regression" in checks["drift.detects.prior_shift"]["why"]
    assert checks["drift.detects.outliers"]["status"] in ("pass", "fail", "warn")
    assert checks["drift.detects.outliers"]["value"] is not None


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
    matrix = sim.sweep(mon, ["dropped_column"], [1.0], trials=2, batch_size=50)[1]
    checks = by_id(sim.make_checks(matrix, {}, tl, pw, scored=False, volume_per_day=20))
    assert checks["drift.min_batch_size"]["value"] == 30 and checks["drift.min_batch_size"]["status"] == "warn"
    assert checks["drift.min_batch_size"]["threshold"] == {"max": 20}
    assert "concept_drift" in checks["drift.min_batch_size"]["why"]
    enough = by_id(sim.make_checks(matrix, {}, tl, pw, scored=False, volume_per_day=500))
    assert enough["drift.min_batch_size"]["status"] == "pass"
    nothing = by_id(sim.make_checks(matrix, {}, tl, noisy, scored=False, volume_per_day=500))
    assert nothing["drift.min_batch_size"]["value"] is None and nothing["drift.min_batch_size"]["status"] == "warn"
    # time to detection: the sudden timeline's median is 0 batches; a limit of -1 batch cannot be met
    assert checks["drift.time_to_detection.sudden"]["value"] == 0
    assert checks["drift.time_to_detection.sudden"]["status"] == "pass"
    slow = by_id(sim.make_checks(matrix, {}, tl, pw, scored=False, max_detection_delay=-1))
    assert slow["drift.time_to_detection.sudden"]["status"] == "warn"
    assert "never: concept_drift" in slow["drift.time_to_detection.sudden"]["why"]


def test_time_to_detection_warns_when_no_fault_is_ever_caught():
    mon = monitors(model=None)
    tl = sim.timelines(mon, ["concept_drift"], ["sudden"], n_batches=6, batch_size=100, onset=2, seed=0)
    matrix = sim.sweep(mon, ["concept_drift"], [1.0], trials=2, batch_size=50)[1]
    c = by_id(sim.make_checks(matrix, {}, tl, None, scored=False))["drift.time_to_detection.sudden"]
    assert c["value"] is None and c["status"] == "warn" and "0 of 1 faults detected" in c["why"]


def test_policy_gates_set_the_steps_own_limits(swept, tmp_path):
    """A bound in policy.gates replaces the step parameter, and the step records the status the verdict uses."""
    from playbook.results import Step

    mon, trials, matrix, skipped = swept
    policy = PolicySettings(gates={"drift.false_alarm_rate": {"max": 0.0}, "drift.detects.*": {"min": 1.0},
                                   "drift.detects.unit_change_up": {"min": 0.5}})

    def limit(cid, key, default):
        return catalogue.limit(cid, key, default, policy)

    own = by_id(sim.make_checks(matrix, skipped, None, None, scored=True, detect_severity=0.5, limit=limit))
    assert own["drift.false_alarm_rate"]["threshold"] == {"max": 0.0}
    assert own["drift.false_alarm_rate"]["status"] == ("pass" if none_rate(matrix) == 0 else "fail")
    assert own["drift.detects.dropped_column"]["threshold"]["min"] == 1.0
    assert own["drift.detects.unit_change_up"]["threshold"]["min"] == 0.5  # the exact id beats the glob
    step = Step("drift_simulation", tmp_path, policy=policy)
    step.add_checks(own.values())
    recorded = {c.id: c.as_dict() for c in step.checks}
    for cid in ("drift.false_alarm_rate", "drift.detects.dropped_column", "drift.detects.unit_change_up",
                "drift.detects.category_frequency", "drift.silent_failures"):
        assert recorded[cid]["status"] == own[cid]["status"], cid
        gate = catalogue.gate_for(cid, policy)
        assert catalogue.judge(own[cid], gate)[0] == own[cid]["status"], cid


# -- every id the step emits, on binary, multiclass and regression data ----------------------------------------------
CASES = {
    "binary": (REF, POOL, ROLES, AmountModel),
    "multiclass": (MREF, MPOOL, MROLES, TierModel),
    "regression": (RREF, RPOOL, RROLES, LossModel),
}


@pytest.mark.parametrize("task", list(CASES))
def test_every_emitted_id_is_declared_in_the_catalogue(task):
    ref, pool, roles, model = CASES[task]
    metric, note = sim.choose_metric(roles.task, model())
    mon = sim.build_monitors(ref, pool, roles, model=model(), contract=build_contract(ref, roles), metric=metric,
                             metric_floor=sim.metric_bound(metric), metric_note=note)
    assert mon.metric == M.PRIMARY[task] and mon.scores and mon.expected_metric is not None
    names = list(S.SHIFTS)
    trials, matrix, skipped = sim.sweep(mon, names, severities=[0.5], trials=2, batch_size=60, seed=0)
    tl = sim.timelines(mon, names, n_batches=4, batch_size=60, onset=2, seed=0)
    pw = sim.power(mon, names, 0.5, [60], trials=2, seed=0)
    checks = sim.make_checks(matrix, skipped, tl, pw, scored=mon.scores, detect_severity=0.5,
                             limit=lambda cid, key, default: catalogue.limit(cid, key, default))
    ids = [c["id"] for c in checks]
    assert len(ids) == len(set(ids))
    assert set(ids) == {"drift.false_alarm_rate", "drift.silent_failures", "drift.noisy_alarms", "drift.min_batch_size",
                        *(f"drift.detects.{n}" for n in names),
                        *(f"drift.time_to_detection.{k}" for k in ("sudden", "gradual", "recurring"))}
    for c in checks:
        s = catalogue.spec(c["id"])
        assert s is not None and s.step == "drift_simulation", c["id"]
        assert task in s.tasks
        assert catalogue.check(**{k: v for k, v in c.items() if k != "id"}, id=c["id"]) == c  # one constructor
    by = by_id(checks)
    assert by["drift.silent_failures"]["status"] != "skip"  # the model is scored on every task
    if task == "regression":
        assert by["drift.detects.prior_shift"]["status"] == "skip"
        assert by["drift.detects.prior_shift"]["not_applicable"] is True
    else:
        assert "prior_shift" not in skipped


def test_artifacts_are_written(tmp_path, swept):
    from playbook.results import Step

    mon, trials, matrix, skipped = swept
    step = Step("drift_simulation", tmp_path)
    sim.heatmap(matrix, step.artifact("sensitivity_heatmap.png"))
    sim.write_artifacts(step, mon, matrix, trials, skipped, None, None, S.describe(), None,
                        params={"trials": 20}, limits={"drift.false_alarm_rate": {"max": 0.1}},
                        contract_source="built", pool_source="pool")
    data = json.loads((tmp_path / "artifacts" / "sensitivity.json").read_text())
    assert data["false_alarm_rate"] == pytest.approx(none_rate(matrix))
    assert len(data["matrix"]) == len(matrix)
    assert data["monitors"]["model_metric"] == "roc_auc" and data["monitors"]["metric_note"] is None
    assert data["limits"] == {"drift.false_alarm_rate": {"max": 0.1}}
    assert (tmp_path / "artifacts" / "sensitivity_heatmap.png").stat().st_size > 10_000
    assert (tmp_path / "artifacts" / "sensitivity_trials.csv").read_text().count("\n") == len(trials) + 1


def test_bad_parameters_get_one_clear_sentence():
    with pytest.raises(ValueError, match="metric 'mae' does not fit a binary task; use one of roc_auc"):
        monitors(metric="mae")
    with pytest.raises(ValueError, match="severities must be between 0 and 1"):
        sim.sweep(monitors(model=None), ["outliers"], severities=[2], trials=1)
    with pytest.raises(ValueError, match="use one of sudden, gradual, recurring"):
        sim.timelines(monitors(model=None), ["outliers"], ["weekly"])
    with pytest.raises(ValueError, match="drift_share"):
        monitors(drift_share=0)
