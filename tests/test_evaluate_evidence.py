"""The evidence that trains the model again or takes it apart: feature cost, training reproducibility, spec tests,
tuning, single-example debugging, numerical stability, staleness and the computing-performance regression.

Every check is made to fail (or warn) by a model or a dataset built to have the defect, and to pass on a sound one,
for each task it supports."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from playbook import evaluate
from playbook import modeling as m
from playbook.evaluate import cost, debug, refit, regression, spec_tests, stability, staleness, training, tuning
from tests.test_modeling import make_ctx


# ---------------------------------------------------------------------------------------------------------------------
# data and models
# ---------------------------------------------------------------------------------------------------------------------
def frame(n, seed, task="binary"):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    c = rng.choice(["north", "south", "east"], size=n)
    signal = 1.5 * x1 - 0.7 * x2 + np.where(c == "north", 0.8, 0.0)
    if task == "binary":
        y = np.where(rng.random(n) < 1 / (1 + np.exp(-signal)), "bad", "good")
    elif task == "multiclass":
        y = np.where(signal > 0.7, "high", np.where(signal < -0.7, "low", "mid"))
    else:
        y = np.round(50_000 + 20_000 * signal + rng.normal(0, 5_000, n), -2)  # a price in large units
    return pd.DataFrame({"Amount EUR": x1 * 1000 + 5000, "score 2": x2, "region": c, "label": y})


def setup_ctx(tmp_path, task="binary", n_ref=400, n_cur=200, ref=None, cur=None, **kw):
    ref = frame(n_ref, 1, task) if ref is None else ref
    cur = frame(n_cur, 2, task) if cur is None else cur
    data = dict(kw.pop("data", {}))
    if task == "regression":
        data.setdefault("task", "regression")
    ctx = make_ctx(tmp_path, ref, cur, data=data, **kw)
    ev = evaluate.setup(ctx)
    return ctx, ev


def file_adapter(ctx, est, features=None):
    """A model-file adapter around an estimator fitted here on the labelled reference (as get_model would wrap it)."""
    features = list(features or ctx.features)
    a = m.ModelAdapter(mode="file", task=ctx.task, features=features,
                       classes_=list(ctx.roles.classes) if ctx.task != "regression" else None,
                       positive_label=ctx.positive_label, estimator=est,
                       numeric=[c for c in features if c in ctx.roles.numeric],
                       categorical=[c for c in features if c not in ctx.roles.numeric],
                       info={"mode": "file", "format": "skops", "file": "model.skops"})
    ref = m.labelled(ctx.reference, ctx.target)
    with m.single_thread():
        est.fit(a.prepare(ref), ref[ctx.target])
    return a


def trainer_for(ctx, adapter, ev=None, max_rows=5000):
    frame_, where = m.evaluation_frame(ctx, adapter)
    s = evaluate.score(adapter, frame_, ctx.target)
    ev = evaluate.Evaluation(adapter=adapter, frame=frame_, scored=s, evaluated_on=where, threshold=0.5,
                             threshold_source="parameter", y_train=m.labelled(ctx.reference, ctx.target)[ctx.target])
    return refit.trainer(ctx, ev, max_rows=max_rows), ev


def numeric_logit():
    return Pipeline([("prep", ColumnTransformer([("num", StandardScaler(), ["Amount EUR", "score 2"])])),
                     ("model", LogisticRegression())])


class _Wrapped(BaseEstimator, ClassifierMixin):
    """A classifier around a logistic regression on the numeric columns (subclasses add one defect each)."""

    def fit(self, X, y):
        self.inner_ = LogisticRegression().fit(np.asarray(X[["Amount EUR", "score 2"]], dtype=float), y)
        self.classes_ = self.inner_.classes_
        return self

    def _X(self, X):
        return np.asarray(X[["Amount EUR", "score 2"]], dtype=float)

    def predict_proba(self, X):
        return self.inner_.predict_proba(self._X(X))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class NotSummingToOne(_Wrapped):
    def predict_proba(self, X):
        return 0.9 * super().predict_proba(X)


class CrashesOnMissing(_Wrapped):
    def predict_proba(self, X):
        if pd.isna(np.asarray(X["score 2"], dtype=float)).any():
            raise RuntimeError("segmentation fault in the scoring library")
        return super().predict_proba(X)


class RowOrderDependent(_Wrapped):
    def predict_proba(self, X):
        p = super().predict_proba(X)
        ramp = np.linspace(0.0, 0.2, len(p))[:, None]  # a "batch normalisation" bug: the output depends on position
        q = np.clip(p + ramp * np.array([[-1.0, 1.0]]), 0, 1)
        return q / q.sum(axis=1, keepdims=True)


class LearnsNothing(_Wrapped):
    def fit(self, X, y):
        super().fit(X, y)
        values, counts = np.unique(np.asarray(y).astype(str), return_counts=True)
        self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))


class Unseeded(_Wrapped):
    """Training noise from the global random state, with no random_state parameter to control it."""

    def fit(self, X, y):
        super().fit(X, y)
        self.jitter_ = np.random.default_rng().normal(0, 0.05, 2)
        return self

    def predict_proba(self, X):
        p = np.clip(super().predict_proba(X)[:, 1] + self.jitter_[0], 0, 1)
        return np.c_[1 - p, p]


class NaNForLarge(_Wrapped):
    """Overflows to NaN on large amounts (an exp() without clipping)."""

    def predict_proba(self, X):
        p = super().predict_proba(X)
        big = np.asarray(X["Amount EUR"], dtype=float) > 1e7
        p[big] = np.nan
        return p


class Jittery(_Wrapped):
    """Hidden randomness at inference: every call gives different probabilities."""

    def predict_proba(self, X):
        p = np.clip(super().predict_proba(X)[:, 1] + np.random.default_rng().normal(0, 0.01, len(X)), 0, 1)
        return np.c_[1 - p, p]


# ---------------------------------------------------------------------------------------------------------------------
# training reproducibility
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_training_of_the_baseline_is_reproducible(tmp_path, task):
    ctx, ev = setup_ctx(tmp_path, task)
    tr = refit.trainer(ctx, ev)
    res = training.training_reproducibility(tr, n_seeds=2)
    assert res["identical"] and res["max_abs_difference"] == 0 and len(res["seeds"]) == 3
    assert res["metric"] == {"binary": "roc_auc", "multiclass": "roc_auc_macro", "regression": "mae"}[task]
    assert np.isfinite(res["spread_sd"]) and len(res["fit_seconds"]) == 4
    c = training.training_check(res)
    assert c["status"] == "pass" and c["value"] == 0


def test_unseeded_training_fails_and_names_the_parameter_to_set(tmp_path):
    ctx, _ = setup_ctx(tmp_path)
    forest = Pipeline([("prep", ColumnTransformer([("num", "passthrough", ["Amount EUR", "score 2"])])),
                       ("model", RandomForestClassifier(n_estimators=5, random_state=None))])
    tr, _ = trainer_for(ctx, file_adapter(ctx, forest))
    res = training.training_reproducibility(tr, n_seeds=2)
    assert not res["identical"] and res["seed_parameters"] == ["model__random_state"]
    c = training.training_check(res)
    assert c["status"] == "fail" and c["value"] == 1 and "model__random_state" in c["why"]
    # with a seed the same procedure is reproducible: the spread over other seeds is measured
    forest.set_params(model__random_state=7)
    tr, _ = trainer_for(ctx, file_adapter(ctx, forest))
    res = training.training_reproducibility(tr, n_seeds=2)
    assert res["identical"] and res["spread_range"] > 0
    assert training.training_check(res)["status"] == "pass"


def test_randomness_no_seed_controls_fails(tmp_path):
    ctx, _ = setup_ctx(tmp_path)
    tr, _ = trainer_for(ctx, file_adapter(ctx, Unseeded()))
    res = training.training_reproducibility(tr, n_seeds=1)
    c = training.training_check(res)
    assert c["status"] == "fail" and "no seed controls" in c["why"]


def test_refit_checks_are_not_applicable_in_predictions_mode(tmp_path):
    ref, cur = frame(300, 1), frame(100, 2)
    for df in (ref, cur):
        df["p"] = np.linspace(0.01, 0.99, len(df))
    ctx, ev = setup_ctx(tmp_path, ref=ref, cur=cur, data={"probability": "p"})
    assert refit.trainer(ctx, ev) is None
    reason = refit.why_not(ev.adapter)
    for c in (training.training_check(None, skip_reason=reason), spec_tests.spec_check(None, skip_reason=reason),
              tuning.tuning_check(None, skip_reason=reason), cost.cost_check(None, skip_reason=reason),
              staleness.staleness_check(None, skip_reason=reason), debug.debug_check(None, skip_reason=reason),
              stability.stability_check(None, skip_reason=reason),
              regression.regression_check(None, skip_reason=reason)):
        assert c["status"] == "skip" and c["not_applicable"] and "predictions mode" in c["why"], c["id"]


# ---------------------------------------------------------------------------------------------------------------------
# model-specification tests
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_spec_tests_pass_for_the_baseline(tmp_path, task):
    ctx, ev = setup_ctx(tmp_path, task)
    res = spec_tests.spec_tests(refit.trainer(ctx, ev), sample_rows=120, seed=0)
    by = {t["test"]: t["ok"] for t in res["tests"]}
    assert set(by) == set(spec_tests.TESTS)
    assert by["valid_probabilities"] is (None if task == "regression" else True)
    assert res["failed"] == [] and res["sample_rows"] == 120
    assert {r["outcome"] for r in res["missing_values"]} == {"handled"}  # the baseline handles missing values natively
    assert spec_tests.spec_check(res)["status"] == "pass"


def test_a_model_refusing_missing_values_with_a_clear_error_passes(tmp_path):
    ctx, _ = setup_ctx(tmp_path, "regression")
    lin = Pipeline([("prep", ColumnTransformer([("num", "passthrough", ["Amount EUR", "score 2"])])),
                    ("model", LinearRegression())])
    res = spec_tests.spec_tests(trainer_for(ctx, file_adapter(ctx, lin))[0], sample_rows=100)
    outcomes = {r["feature"]: r["outcome"] for r in res["missing_values"]}
    assert outcomes["Amount EUR"] == "refused" and outcomes["region"] == "handled"  # region is not used
    assert res["failed"] == []


@pytest.mark.parametrize("model, failing", [
    (NotSummingToOne(), "valid_probabilities"),
    (CrashesOnMissing(), "missing_values"),
    (RowOrderDependent(), "row_order"),
    (LearnsNothing(), "learns"),
])
def test_spec_tests_fail_on_a_defective_model(tmp_path, model, failing):
    ctx, _ = setup_ctx(tmp_path)
    tr, _ = trainer_for(ctx, file_adapter(ctx, model))
    res = spec_tests.spec_tests(tr, sample_rows=150, seed=0)
    assert failing in res["failed"], res["tests"]
    c = spec_tests.spec_check(res)
    assert c["status"] == "fail" and failing in c["title"] and c["value"] == len(res["failed"])


def test_a_model_that_cannot_train_fails_every_test(tmp_path):
    class Broken(_Wrapped):
        def __init__(self, broken=False):
            self.broken = broken

        def fit(self, X, y):
            if self.broken:
                raise ValueError("the solver did not converge")
            return super().fit(X, y)

    ctx, _ = setup_ctx(tmp_path)
    a = file_adapter(ctx, Broken())
    a.estimator.set_params(broken=True)  # the shipped model was fitted once; its code no longer trains
    tr, _ = trainer_for(ctx, a)
    res = spec_tests.spec_tests(tr, sample_rows=100)
    assert res["failed"] == list(spec_tests.TESTS)
    assert "did not converge" in res["tests"][0]["detail"]


# ---------------------------------------------------------------------------------------------------------------------
# tuning
# ---------------------------------------------------------------------------------------------------------------------
def test_tuning_search_is_seeded_and_includes_the_baseline(tmp_path):
    ctx, ev = setup_ctx(tmp_path)
    tr = refit.trainer(ctx, ev)
    current = tuning.current_configuration(tr)
    assert current == {"l2_regularization": 0.0, "learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31,
                       "min_samples_leaf": 20}
    a = tuning.configurations(current, 6, seed=3)
    assert a == tuning.configurations(current, 6, seed=3) and a[0] == current and len(a) == 6
    assert len({json.dumps(c, sort_keys=True) for c in a}) == 6


def test_a_tuned_baseline_is_within_noise_of_the_search(tmp_path):
    ctx, ev = setup_ctx(tmp_path, n_ref=500)
    first = tuning.tuning(refit.trainer(ctx, ev), n_configs=5, folds=3, n_boot=200, seed=0)
    assert len(first["configurations"]) == 5 and sorted(c["rank"] for c in first["configurations"]) == [1, 2, 3, 4, 5]
    assert first["corrected_alpha"] == pytest.approx(0.05 / 4)
    # a baseline that uses the best configuration found is within noise of a new search
    train = m.baseline_training_frame(ctx)[0]
    tuned = m.fit_baseline(train[ctx.features], train[ctx.target], ctx.task, ctx.seed, params=first["best"]["params"])
    tr, _ = trainer_for(ctx, m.ModelAdapter(**{**ev.adapter.__dict__, "estimator": tuned}))
    res = tuning.tuning(tr, n_configs=5, folds=3, n_boot=200, seed=1)
    assert res["current"] == first["best"]["params"] and not res["beyond_noise"]
    c = tuning.tuning_check(res)
    assert c["status"] == "pass" and c["value"] <= 0


def test_a_deliberately_bad_setting_is_beaten_beyond_noise_and_named(tmp_path):
    ctx, ev = setup_ctx(tmp_path, n_ref=500)
    train = m.baseline_training_frame(ctx)[0]
    bad = m.fit_baseline(train[ctx.features], train[ctx.target], ctx.task, ctx.seed,
                         params={"max_iter": 5, "learning_rate": 0.01, "max_leaf_nodes": 2})
    a = m.ModelAdapter(**{**ev.adapter.__dict__, "estimator": bad})
    tr, _ = trainer_for(ctx, a)
    res = tuning.tuning(tr, n_configs=5, folds=3, n_boot=200, seed=0)
    assert res["current"]["max_iter"] == 5 and res["beyond_noise"]
    c = tuning.tuning_check(res)
    assert c["status"] == "warn" and c["value"] > 0 and "beyond noise" in c["title"]
    assert "max_iter=" in c["title"] and "learning_rate=" in c["title"]  # the better configuration is named


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_tuning_runs_for_other_tasks(tmp_path, task):
    ctx, ev = setup_ctx(tmp_path, task)
    res = tuning.tuning(refit.trainer(ctx, ev), n_configs=3, folds=2, n_boot=50, seed=0)
    assert res["metric"] == {"multiclass": "roc_auc_macro", "regression": "mae"}[task]
    assert tuning.tuning_check(res)["status"] in ("pass", "warn")


# ---------------------------------------------------------------------------------------------------------------------
# feature cost
# ---------------------------------------------------------------------------------------------------------------------
def with_free_text(df, seed):
    """A pure-noise high-cardinality text column (one of 150 long random notes per row; not near-unique, so the
    baseline keeps it as a category): it bloats the model's encoder and predicts nothing."""
    vocab_rng = np.random.default_rng(99)  # the same 150 notes in reference and current
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz "))
    vocab = ["".join(vocab_rng.choice(alphabet, 200)) for _ in range(150)]
    rng = np.random.default_rng(seed)
    out = df.copy()
    out["Note"] = [vocab[i] for i in rng.integers(0, len(vocab), len(df))]
    return out


def test_a_pure_noise_feature_that_bloats_the_model_warns(tmp_path):
    ctx, ev = setup_ctx(tmp_path, ref=with_free_text(frame(400, 1), 1), cur=with_free_text(frame(200, 2), 2))
    res = cost.feature_cost(refit.trainer(ctx, ev), n_boot=100, seed=0, max_size_share=0.1)
    t = res["table"].set_index("feature")
    assert t.loc["Note", "flagged"] and not t.loc["Note", "benefit_above_noise"]
    assert t.loc["Note", "size_share"] > 0.1 and t.loc["Note", "method"] == "dropped"
    assert t.loc["Amount EUR", "benefit_above_noise"] and not t.loc["Amount EUR", "flagged"]
    c = cost.cost_check(res)
    assert c["status"] == "warn" and c["value"] == 1 and "Note" in c["title"]
    # the wall-clock part is kept apart from the deterministic part
    assert set(res["timings"].columns) >= {"fit_seconds_added", "single_row_ms_added", "batch_ms_added"}
    art = cost.artifact(res)
    assert "timings" not in art and all("fit_seconds" not in r for r in art["features"])
    keys = cost.timing_entries(res)
    assert "feature_cost.Note.fit_seconds_added" in keys and "feature_cost.full.fit_seconds" in keys


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_useful_features_pass_and_the_result_is_deterministic(tmp_path, task):
    ctx, ev = setup_ctx(tmp_path, task)
    tr = refit.trainer(ctx, ev)
    a = cost.feature_cost(tr, n_boot=50, seed=0)
    b = cost.feature_cost(tr, n_boot=50, seed=0)
    assert json.dumps(cost.artifact(a), sort_keys=True, default=str) == json.dumps(cost.artifact(b), sort_keys=True,
                                                                                   default=str)
    assert cost.cost_check(a)["status"] == "pass" and len(a["table"]) == 3
    assert a["table"].set_index("feature").loc["Amount EUR", "benefit"] > 0


def test_cost_caps_the_features_by_lowest_importance():
    imp = pd.DataFrame({"feature": ["a", "b", "c", "d"], "importance_mean": [0.3, 0.0, 0.1, -0.01]})
    assert cost.candidates(["a", "b", "c", "d"], imp, max_features=2) == (["b", "d"], ["a", "c"])
    assert cost.candidates(["a", "b"], imp, max_features=5) == (["a", "b"], [])


def test_a_model_file_whose_preprocessing_names_every_column_gets_constants(tmp_path):
    ctx, _ = setup_ctx(tmp_path)
    pipe = Pipeline([("prep", ColumnTransformer([("num", StandardScaler(), ["Amount EUR", "score 2"]),
                                                 ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"])])),
                     ("model", LogisticRegression())])
    tr, _ = trainer_for(ctx, file_adapter(ctx, pipe))
    res = cost.feature_cost(tr, n_boot=50, seed=0)
    t = res["table"].set_index("feature")
    assert set(t["method"]) == {"constant"}
    assert t.loc["Amount EUR", "benefit"] > 0.05 and t.loc["Amount EUR", "benefit_above_noise"]


# ---------------------------------------------------------------------------------------------------------------------
# single-example debugging
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_worst_examples_are_explained(tmp_path, task):
    ctx, ev = setup_ctx(tmp_path, task)
    reloaded, source = debug.reload(ctx, ev.adapter)
    res = debug.debug_examples(ev.adapter, reloaded, ev.frame, ev.scored, ctx.reference, k=4, ctx=ctx, source=source)
    assert res["k"] == 4 and res["explained"] == 4
    errs = [e["error"] for e in res["examples"]]
    assert errs == sorted(errs, reverse=True) and errs[0] == pytest.approx(debug.errors(ev.scored).max())
    ex = res["examples"][0]
    assert ex["identical"] and {a["feature"] for a in ex["attribution"]} == set(ctx.features)
    assert [s["stage"] for s in ex["stages"]] == ["prepare", "model"]
    assert ex["stages"][0]["outputs"] == 3 and ex["stages"][-1]["values"]["output"] == ex["recomputed"]
    c = debug.debug_check(res)
    assert c["status"] == "pass" and c["value"] == 0 and "2 pipeline stages" in c["title"]


def test_occlusion_finds_the_feature_that_drove_the_prediction(tmp_path):
    ctx, ev = setup_ctx(tmp_path)
    mode = ctx.reference["region"].mode().iloc[0]
    row = pd.DataFrame({"Amount EUR": [8000.0], "score 2": [float(ctx.reference["score 2"].median())],
                        "region": [mode], "label": ["good"]})  # a very large amount says "bad": confidently wrong
    s = evaluate.score(ev.adapter, row, ctx.target)
    res = debug.debug_examples(ev.adapter, ev.adapter, row, s, ctx.reference, k=1, ctx=ctx)
    att = {a["feature"]: a["change"] for a in res["examples"][0]["attribution"]}
    assert res["examples"][0]["attribution"][0]["feature"] == "Amount EUR" and abs(att["Amount EUR"]) > 0.2
    assert att["region"] == 0.0 and abs(att["score 2"]) < 1e-12  # values equal to the reference's change nothing


def test_a_model_file_is_loaded_again_and_its_pipeline_stages_shown(tmp_path):
    import skops.io as sio

    ctx, _ = setup_ctx(tmp_path)
    pipe = Pipeline([("prep", ColumnTransformer([("num", StandardScaler(), ["Amount EUR", "score 2"]),
                                                 ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"])])),
                     ("model", LogisticRegression())])
    ref = ctx.reference
    pipe.fit(ref[ctx.features], ref["label"])
    sio.dump(pipe, tmp_path / "model.skops")
    ctx = make_ctx(tmp_path, ref, ctx.current, model={"path": str(tmp_path / "model.skops")})
    ev = evaluate.setup(ctx)
    reloaded, source = debug.reload(ctx, ev.adapter)
    assert source == "the model file model.skops loaded again" and reloaded.estimator is not ev.adapter.estimator
    res = debug.debug_examples(ev.adapter, reloaded, ev.frame, ev.scored, ctx.reference, k=2, ctx=ctx, source=source)
    assert res["explained"] == 2
    prep = res["examples"][0]["stages"][0]
    assert prep["step"] == "ColumnTransformer" and prep["outputs"] == 5  # 2 scaled numbers, 3 one-hot regions
    assert any(k.startswith("cat__region_") for k in prep["values"])


def test_a_prediction_that_the_artifact_does_not_reproduce_fails(tmp_path):
    ctx, _ = setup_ctx(tmp_path)
    a = file_adapter(ctx, Jittery())
    frame_, _ = m.evaluation_frame(ctx, a)
    s = evaluate.score(a, frame_, ctx.target)
    res = debug.debug_examples(a, a, frame_, s, ctx.reference, k=3, ctx=ctx)
    assert res["explained"] == 0 and all(e["stages"] is None for e in res["examples"])
    c = debug.debug_check(res)
    assert c["status"] == "fail" and c["value"] == 3 and "differs from the reported prediction" in c["title"]


def test_debug_examples_mask_personal_data(tmp_path):
    ref, cur = frame(300, 1), frame(150, 2)
    rng = np.random.default_rng(0)
    for df in (ref, cur):
        df["Contact"] = [f"user{i}.{rng.integers(1e6)}@example.com" for i in range(len(df))]
    ctx, ev = setup_ctx(tmp_path, ref=ref, cur=cur,
                        data={"features": ["Amount EUR", "score 2", "region", "Contact"]})
    assert "Contact" in ev.adapter.features
    reloaded, source = debug.reload(ctx, ev.adapter)
    res = debug.debug_examples(ev.adapter, reloaded, ev.frame, ev.scored, ctx.reference, k=3, ctx=ctx, source=source)
    text = json.dumps(res, default=str)
    assert "@example.com" not in text
    shown = {a["feature"]: a["value"] for a in res["examples"][0]["attribution"]}
    assert shown["Contact"] != ev.frame["Contact"].iloc[res["examples"][0]["position"]]


# ---------------------------------------------------------------------------------------------------------------------
# numerical stability
# ---------------------------------------------------------------------------------------------------------------------
def _shifts():
    from playbook.drift import shifts

    return shifts


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_baseline_is_numerically_stable_on_every_shift_and_probe(tmp_path, task):
    ctx, ev = setup_ctx(tmp_path, task)
    sets = stability.input_sets(ev.adapter, ctx.reference, ev.frame, ctx.roles, module=_shifts(), seed=0, probe_rows=10)
    kinds = pd.Series([k for _, k, _ in sets]).value_counts()
    assert kinds["data"] == 2 and kinds["shift"] >= 10 and kinds["probe"] == 3 * (2 + 1)
    tab = stability.numerical_stability(ev.adapter, sets, y_train=ev.y_train)
    assert tab["ok"].all() and set(tab["outcome"]) <= {"ok", "refused"}
    assert (tab.loc[tab["source"] == "shift:dropped_column", "outcome"] == "refused").all()
    assert stability.stability_check(tab)["status"] == "pass"


def test_nan_outputs_on_extreme_inputs_fail(tmp_path):
    ctx, _ = setup_ctx(tmp_path)
    a = file_adapter(ctx, NaNForLarge())
    frame_, _ = m.evaluation_frame(ctx, a)
    tab = stability.numerical_stability(a, stability.input_sets(a, ctx.reference, frame_, ctx.roles, probe_rows=10))
    bad = tab[~tab["ok"]]
    assert set(bad["outcome"]) == {"nan_inf"}
    assert set(bad["source"]) == {"probe:Amount EUR=large", "probe:all_numeric=large"}
    c = stability.stability_check(tab)
    assert c["status"] == "fail" and c["value"] == 2 and "probe:Amount EUR=large (nan_inf)" in c["title"]


def test_invalid_probabilities_fail_and_implausible_regression_outputs_warn(tmp_path):
    ctx, _ = setup_ctx(tmp_path)
    a = file_adapter(ctx, NotSummingToOne())
    frame_, _ = m.evaluation_frame(ctx, a)
    tab = stability.numerical_stability(a, [("evaluation", "data", frame_)])
    assert tab["outcome"].tolist() == ["invalid_probabilities"]
    assert stability.stability_check(tab)["status"] == "fail"

    (tmp_path / "r").mkdir()
    ctx, _ = setup_ctx(tmp_path / "r", "regression")
    lin = Pipeline([("prep", ColumnTransformer([("num", "passthrough", ["Amount EUR", "score 2"])])),
                    ("model", LinearRegression())])
    a = file_adapter(ctx, lin)
    frame_, _ = m.evaluation_frame(ctx, a)
    tab = stability.numerical_stability(a, stability.input_sets(a, ctx.reference, frame_, ctx.roles, probe_rows=5),
                                        y_train=ctx.reference["label"])
    assert tab.loc[tab["source"] == "evaluation", "outcome"].item() == "ok"
    assert (tab.loc[tab["source"].str.endswith("=large"), "outcome"] == "implausible").all()
    c = stability.stability_check(tab)
    assert c["status"] == "warn" and c["value"] == 0 and "implausibly extreme" in c["title"]


# ---------------------------------------------------------------------------------------------------------------------
# staleness
# ---------------------------------------------------------------------------------------------------------------------
def timed(n, seed, drift, task="binary", start="2023-01-01"):
    """Two rows a day; with ``drift`` the weight of x1 turns from +2 to -2 over the period (the world changes)."""
    rng = np.random.default_rng(seed)
    t = pd.date_range(start, periods=n, freq="12h")
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    w = np.linspace(2.0, -2.0, n) if drift else np.full(n, 2.0)
    signal = w * x1 + 0.5 * x2
    if task == "binary":
        y = np.where(rng.random(n) < 1 / (1 + np.exp(-signal)), "bad", "good")
    else:
        y = np.round(10_000 * signal + rng.normal(0, 2_000, n) + 100_000, -1)
    return pd.DataFrame({"Event Time": t.strftime("%Y-%m-%d %H:%M"), "x1": x1, "x2": x2, "label": y})


def staleness_ctx(tmp_path, drift, task="binary"):
    ref = timed(1000, 1, drift, task)
    cur = timed(200, 2, drift, task, start="2024-05-15")
    data = {"timestamp": "Event Time"}
    if task == "regression":
        data["task"] = "regression"
    ctx = make_ctx(tmp_path, ref, cur, data=data)
    ev = evaluate.setup(ctx)
    return ctx, ev, refit.trainer(ctx, ev)


def test_a_world_that_drifts_makes_quality_decay_with_age(tmp_path):
    ctx, ev, tr = staleness_ctx(tmp_path, drift=True)
    res = staleness.staleness(tr, ctx.reference, "Event Time", windows=4, n_boot=100, seed=0, bound=0.7)
    ages = [w["age_days"] for w in res["windows"]]
    assert ages == sorted(ages, reverse=True) and min(ages) > 0 and len(ages) == 4
    assert res["decay_per_30_days"] > 0 and res["ci_low"] > 0
    assert res["max_model_age_days"] is not None and 0 <= res["max_model_age_days"] < 400
    c = staleness.staleness_check(res, min_age_days=365)
    assert c["status"] == "warn" and c["ci"][0] > 0 and "crosses the gate bound 0.7" in c["title"]
    assert staleness.staleness_check(res, min_age_days=0)["status"] == "pass"
    staleness.plot(res, tmp_path / "staleness.png")
    assert (tmp_path / "staleness.png").stat().st_size > 1000


def test_a_stationary_world_shows_no_decay(tmp_path):
    ctx, ev, tr = staleness_ctx(tmp_path, drift=False)
    res = staleness.staleness(tr, ctx.reference, "Event Time", windows=4, n_boot=100, seed=0, bound=0.7)
    assert res["ci_low"] <= 0 <= res["ci_high"] or res["decay_per_30_days"] <= 0
    c = staleness.staleness_check(res, min_age_days=365)
    assert c["status"] == "pass"
    again = staleness.staleness(tr, ctx.reference, "Event Time", windows=4, n_boot=100, seed=0, bound=0.7)
    assert json.dumps(again, sort_keys=True) == json.dumps(res, sort_keys=True)


def test_staleness_for_regression_and_without_enough_rows(tmp_path):
    ctx, ev, tr = staleness_ctx(tmp_path, drift=True, task="regression")
    res = staleness.staleness(tr, ctx.reference, "Event Time", windows=3, n_boot=50, seed=0, bound=None)
    assert res["metric"] == "mae" and res["decay_per_30_days"] > 0 and res["max_model_age_days"] is None
    assert "no gate bound" in staleness.staleness_check(res)["title"]
    few = staleness.staleness(tr, ctx.reference.head(60), "Event Time", windows=3)
    c = staleness.staleness_check(few)
    assert few["reason"] and c["status"] == "skip" and not c.get("not_applicable")


# ---------------------------------------------------------------------------------------------------------------------
# computing-performance regression
# ---------------------------------------------------------------------------------------------------------------------
NOW = {"serving.single_row_ms_p50": 10.0, "serving.single_row_ms_p95": 14.0, "serving.single_row_ms_p99": 20.0,
       "serving.batch_rows": 1000, "serving.batch_ms_p50": 40.0, "serving.batch_ms_p95": 45.0,
       "serving.batch_ms_p99": 50.0, "serving.batch_rows_per_second": 25_000.0, "serving.single_rows_per_second": 100.0,
       "training.fit_seconds": 0.2}


def previous_pack(tmp_path, timings, size_mb=1.0):
    step = tmp_path / "prev" / "steps" / "02_model_evaluation"
    step.mkdir(parents=True)
    (step / "timings.json").write_text(json.dumps({"step": "model_evaluation", "timings": timings}))
    (step / "results.json").write_text(json.dumps({"checks": [{"id": "model.serving.size", "value": size_mb}]}))
    return tmp_path / "prev"


def test_a_previous_pack_twice_as_fast_makes_the_regression_fail(tmp_path):
    fast = {k: (v / 3 if "ms" in k or "seconds" in k else v * 3 if "per_second" in k else v) for k, v in NOW.items()}
    table, info = regression.against_previous(previous_pack(tmp_path, fast), NOW, 1_000_000, max_ratio=1.5)
    assert info["previous"] == "prev/steps/02_model_evaluation/timings.json"
    bad = set(table.loc[table["regressed"], "measure"])
    assert bad == {"serving.single_row_ms_p50", "serving.batch_ms_p50", "training.fit_seconds"}
    for shown in ("serving.single_row_ms_p95", "serving.single_row_ms_p99", "serving.batch_rows_per_second"):
        assert not table.loc[table["measure"] == shown, "regressed"].item()  # shown, not judged
    c = regression.regression_check(table, 1.5)
    assert c["status"] == "fail" and c["value"] == 3 and "3.00x" in c["title"]


def test_a_slower_tail_or_a_slower_median_within_the_noise_floor_is_not_a_regression(tmp_path):
    # the busy-machine case: the same model, its p95/p99 twice as slow, its median a touch slower
    noisy = {**NOW, "serving.single_row_ms_p95": 28.0, "serving.single_row_ms_p99": 130.0,
             "serving.batch_ms_p95": 90.0, "training.fit_seconds": 0.25}
    table, _ = regression.against_previous(previous_pack(tmp_path, NOW), noisy, 1_000_000)
    assert not table["regressed"].any() and regression.regression_check(table)["status"] == "pass"
    # a tiny model: 0.2 ms -> 0.6 ms per call is 3x but under the half-millisecond floor
    tiny_prev = {**NOW, "serving.single_row_ms_p50": 0.2}
    table, _ = regression.against_previous(previous_pack(tmp_path / "t", tiny_prev), NOW | {"serving.single_row_ms_p50": 0.6},
                                           1_000_000)
    row = table.set_index("measure").loc["serving.single_row_ms_p50"]
    assert row["worse_by"] == pytest.approx(3.0) and not row["regressed"] and "noise floor" in row["note"]


def test_equal_timings_pass_and_a_bigger_model_fails(tmp_path):
    table, _ = regression.against_previous(previous_pack(tmp_path, NOW, size_mb=1.0), NOW, 1_000_000)
    assert not table["regressed"].any() and regression.regression_check(table)["status"] == "pass"
    table, _ = regression.against_previous(tmp_path / "prev", NOW, 2_000_000)
    assert table.loc[table["regressed"], "measure"].tolist() == ["model.size_mb"]


def test_batches_of_other_sizes_are_not_compared(tmp_path):
    other = {**NOW, "serving.batch_rows": 200, "serving.batch_ms_p95": 1.0}
    table, _ = regression.against_previous(previous_pack(tmp_path, other), NOW, None)
    row = table.set_index("measure").loc["serving.batch_ms_p95"]
    assert pd.isna(row["worse_by"]) and "not comparable" in row["note"]


def test_without_a_usable_previous_pack_the_check_is_skipped(tmp_path):
    table, info = regression.against_previous(None, NOW, None)
    c = regression.regression_check(table, skip_reason=info["reason"], not_applicable=info["not_applicable"])
    assert c["status"] == "skip" and c["not_applicable"] and "--previous" in c["why"]
    table, info = regression.against_previous(tmp_path, NOW, None)  # a folder that is no pack
    c = regression.regression_check(table, skip_reason=info["reason"], not_applicable=info["not_applicable"])
    assert c["status"] == "skip" and not c.get("not_applicable") and str(tmp_path) in c["why"]
    assert "steps/*model_evaluation/timings.json" in c["why"]


def test_staleness_of_more_rows_than_it_trains_on_draws_a_sample_over_the_whole_time_range(tmp_path):
    ctx, ev, tr = staleness_ctx(tmp_path, drift=True)
    res = staleness.staleness(tr, ctx.reference, "Event Time", windows=4, n_boot=50, seed=0, bound=0.7, max_rows=400)
    assert res["sampled_from"] == 1000 and res["evaluation"]["rows"] == 80
    assert all(w["rows"] == 160 for w in res["windows"])
    assert res["decay_per_30_days"] > 0  # the decay is still found on the sample
    full = staleness.staleness(tr, ctx.reference, "Event Time", windows=4, n_boot=50, seed=0, bound=0.7)
    assert full["sampled_from"] is None and all(w["rows"] > 160 for w in full["windows"])


def test_the_evaluation_of_more_rows_than_a_part_holds_is_a_recorded_seeded_sample(tmp_path, monkeypatch):
    from playbook import holdout
    from playbook.modeling import evaluation_frame

    ctx, ev, tr = staleness_ctx(tmp_path, drift=False)
    monkeypatch.setattr(holdout.bounded, "__defaults__", (50, 0))
    frame, where = evaluation_frame(ctx, ev.adapter)
    assert where == "current" and len(frame) == 50 and frame.attrs["of_rows"] == 200
    assert frame.index.is_monotonic_increasing
    again, _ = evaluation_frame(ctx, ev.adapter)
    assert list(again.index) == list(frame.index)
    evs = evaluate.setup(ctx)
    assert evaluate.provenance(ctx, evs)["evaluation_sampled_from"] == 200
    assert "a seeded sample of 200" in evaluate.provenance_checks(evs)[0]["title"]
