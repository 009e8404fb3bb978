"""The three ways to bring a model, the safe loading rules, the input validation and the preflight."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

import playbook
from playbook import modeling as m
from playbook.data import DataError


def make_frames(n_ref=300, n_cur=150, seed=0):
    rng = np.random.default_rng(seed)

    def one(n):
        x1 = rng.normal(size=n)
        x2 = rng.normal(size=n)
        c = rng.choice(["a", "b", "c"], size=n)
        logit = 1.5 * x1 - 0.5 * x2 + np.where(c == "a", 1.0, 0.0)
        y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
        return pd.DataFrame({"x1": x1, "x2": x2, "c": c, "label": y})

    return one(n_ref), one(n_cur)


def make_ctx(tmp_path, ref=None, cur=None, data=None, model=None, **top):
    if ref is None:
        ref, cur = make_frames()
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    cfg = {"data": {"reference": str(tmp_path / "ref.csv"), "current": str(tmp_path / "cur.csv"),
                    "target": "label", **(data or {})}, **top}
    if model is not None:
        cfg["model"] = model
    return playbook.load_context(cfg)


# ---------------------------------------------------------------------------------------------
# mode selection
# ---------------------------------------------------------------------------------------------
def test_mode_defaults_to_baseline_and_fits_on_reference(tmp_path):
    ctx = make_ctx(tmp_path)
    a = m.get_model(ctx)
    assert a.mode == "baseline" and a.callable
    assert a.classes_ == ["no", "yes"] and a.positive_label == "yes"
    assert a.info["fitted_on"] == "reference" and a.info["fitted_rows"] == 300
    P = a.predict_proba(ctx.current)
    assert P.shape == (150, 2) and np.allclose(P.sum(axis=1), 1)
    assert set(a.predict(ctx.current)) <= {"no", "yes"}
    # the baseline learns the signal: positive probability is higher where x1 is high
    p = a.positive_proba(ctx.current)
    assert p[ctx.current["x1"] > 1].mean() > p[ctx.current["x1"] < -1].mean() + 0.3


def test_mode_is_predictions_when_data_carries_them(tmp_path):
    ref, cur = make_frames()
    for df in (ref, cur):
        df["score"] = 1 / (1 + np.exp(-1.5 * df["x1"]))
        df["decision"] = np.where(df["score"] >= 0.5, "yes", "no")
    ctx = make_ctx(tmp_path, ref, cur, data={"prediction": "decision", "probability": "score"})
    a = m.get_model(ctx)
    assert a.mode == "predictions" and not a.callable and a.estimator is None
    assert "score" not in a.features and "decision" not in a.features
    P = a.predict_proba(cur)
    assert np.allclose(P[:, a.classes_.index("yes")], cur["score"])
    assert list(a.predict(cur)) == list(cur["decision"])
    assert m.preflight(ctx)["mode"] == "predictions"


def test_model_train_none_without_a_model_is_an_error(tmp_path):
    ctx = make_ctx(tmp_path, model={"train": "none"})
    with pytest.raises(DataError, match="model.train"):
        m.preflight(ctx)


# ---------------------------------------------------------------------------------------------
# model files
# ---------------------------------------------------------------------------------------------
def test_skops_file_with_default_trusted_types_loads(tmp_path):
    ref, cur = make_frames()
    est = LogisticRegression().fit(ref[["x1", "x2"]], ref["label"])
    sio.dump(est, tmp_path / "model.skops")
    ctx = make_ctx(tmp_path, ref, cur, model={"path": str(tmp_path / "model.skops")})
    a = m.get_model(ctx)
    assert a.mode == "file" and a.features == ["x1", "x2"]
    assert a.info["format"] == "skops" and a.info["allow_pickle"] is False and len(a.info["sha256"]) == 64
    assert np.allclose(a.predict_proba(cur), est.predict_proba(cur[["x1", "x2"]]))
    assert m.preflight(ctx)["format"] == "skops"


def test_untrusted_skops_types_are_refused_then_accepted_when_named(tmp_path):
    ref, cur = make_frames()
    est = HistGradientBoostingClassifier(max_iter=5).fit(ref[["x1", "x2"]], ref["label"])
    sio.dump(est, tmp_path / "hgb.skops")
    ctx = make_ctx(tmp_path, ref, cur, model={"path": str(tmp_path / "hgb.skops")})
    with pytest.raises(DataError) as exc:
        m.preflight(ctx)
    msg = str(exc.value)
    assert "hgb.skops" in msg and "TreePredictor" in msg and "model.trusted_types" in msg
    trusted = sio.get_untrusted_types(file=tmp_path / "hgb.skops")
    ctx = make_ctx(tmp_path, ref, cur, model={"path": str(tmp_path / "hgb.skops"), "trusted_types": trusted})
    a = m.get_model(ctx)
    assert a.info["untrusted_types_found"] == trusted
    assert np.allclose(a.predict_proba(cur), est.predict_proba(cur[["x1", "x2"]]))


def test_pickle_is_refused_unless_allowed_and_then_recorded(tmp_path):
    ref, cur = make_frames()
    est = LogisticRegression().fit(ref[["x1", "x2"]], ref["label"])
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(est))
    ctx = make_ctx(tmp_path, ref, cur, model={"path": str(path)})
    with pytest.raises(DataError, match=r"model.pkl is a pickle.*allow_pickle"):
        m.preflight(ctx)
    ctx = make_ctx(tmp_path, ref, cur, model={"path": str(path), "allow_pickle": True})
    a = m.get_model(ctx)
    assert a.info["format"] == "pickle" and a.info["allow_pickle"] is True
    assert np.allclose(a.predict_proba(cur), est.predict_proba(cur[["x1", "x2"]]))


def test_missing_model_file_and_unknown_format(tmp_path):
    ctx = make_ctx(tmp_path, model={"path": str(tmp_path / "nope.skops")})
    with pytest.raises(DataError, match="file not found"):
        m.preflight(ctx)
    (tmp_path / "model.onnx").write_bytes(b"xx")
    ctx = make_ctx(tmp_path, model={"path": str(tmp_path / "model.onnx")})
    with pytest.raises(DataError, match="unknown model format"):
        m.preflight(ctx)


def test_feature_names_must_match_the_data(tmp_path):
    ref, cur = make_frames()
    X = ref[["x1", "x2"]].rename(columns={"x2": "income"})
    sio.dump(LogisticRegression().fit(X, ref["label"]), tmp_path / "model.skops")
    ctx = make_ctx(tmp_path, ref, cur, model={"path": str(tmp_path / "model.skops")})
    with pytest.raises(DataError, match=r"'income'.*not in the reference data"):
        m.preflight(ctx)


def test_model_classes_must_match_the_target(tmp_path):
    ref, cur = make_frames()
    y01 = (ref["label"] == "yes").astype(int)
    sio.dump(LogisticRegression().fit(ref[["x1", "x2"]], y01), tmp_path / "model.skops")
    ctx = make_ctx(tmp_path, ref, cur, model={"path": str(tmp_path / "model.skops")})
    with pytest.raises(DataError, match="predicts classes"):
        m.preflight(ctx)


def test_regressor_file_for_a_regression_target(tmp_path):
    ref, cur = make_frames()
    for df in (ref, cur):
        df["label"] = 3 * df["x1"] + 0.1 * np.arange(len(df)) % 7 + 0.5
    est = LinearRegression().fit(ref[["x1", "x2"]], ref["label"])
    sio.dump(est, tmp_path / "reg.skops")
    ctx = make_ctx(tmp_path, ref, cur, data={"task": "regression"}, model={"path": str(tmp_path / "reg.skops")})
    a = m.get_model(ctx)
    assert a.classes_ is None and not a.has_proba
    assert np.allclose(a.predict(cur), est.predict(cur[["x1", "x2"]]))


# ---------------------------------------------------------------------------------------------
# preflight of predictions in the data
# ---------------------------------------------------------------------------------------------
def with_predictions(tmp_path, mutate=None, data=None):
    ref, cur = make_frames()
    for df in (ref, cur):
        df["score"] = 1 / (1 + np.exp(-1.5 * df["x1"]))
        df["decision"] = np.where(df["score"] >= 0.5, "yes", "no")
    if mutate:
        mutate(cur)
    return make_ctx(tmp_path, ref, cur, data=data or {"prediction": "decision", "probability": "score"})


def test_probability_outside_unit_interval_names_the_column(tmp_path):
    def bad(df):
        df.loc[3, "score"] = 1.7
    ctx = with_predictions(tmp_path, bad)
    with pytest.raises(DataError, match=r"data.probability: column 'score' holds 1.7.*outside \[0, 1\]"):
        m.preflight(ctx)


def test_predictions_with_gaps_or_foreign_labels_are_refused(tmp_path):
    def gaps(df):
        df.loc[[1, 2], "decision"] = np.nan
    with pytest.raises(DataError, match=r"'decision' lacks a prediction for 2 of 150 rows"):
        m.preflight(with_predictions(tmp_path, gaps))

    def foreign(df):
        df["decision"] = np.where(df["score"] >= 0.5, 1, 0)
    with pytest.raises(DataError, match=r"'decision'.*not one of the target's classes"):
        m.preflight(with_predictions(tmp_path, foreign))

    def text(df):
        df["score"] = df["score"].astype(str)
        df.loc[0, "score"] = "high"
    with pytest.raises(DataError, match=r"'score' must hold numbers"):
        m.preflight(with_predictions(tmp_path, text))


def test_numeric_labels_match_numeric_predictions(tmp_path):
    ref, cur = make_frames()
    for df in (ref, cur):
        df["label"] = (df["label"] == "yes").astype(int)
        df["decision"] = (df["x1"] > 0).astype(float)  # 0.0 / 1.0 for labels 0 / 1
    ctx = make_ctx(tmp_path, ref, cur, data={"prediction": "decision"})
    m.preflight(ctx)
    a = m.get_model(ctx)
    assert set(a.predict(cur)) == {0, 1} and not a.has_proba


def test_multiclass_probability_columns_must_sum_to_one(tmp_path):
    ref, cur = make_frames()
    rng = np.random.default_rng(1)
    for df in (ref, cur):
        df["label"] = rng.choice(["p", "q", "r"], size=len(df))
        P = rng.dirichlet([1, 1, 1], size=len(df))
        df["prob_r"], df["prob_p"], df["prob_q"] = P[:, 0], P[:, 1], P[:, 2]
    ctx = make_ctx(tmp_path, ref, cur, data={"task": "multiclass", "probability": ["prob_r", "prob_p", "prob_q"]})
    a = m.get_model(ctx)
    assert a.probability_columns == ["prob_p", "prob_q", "prob_r"]  # mapped to classes by name
    assert np.allclose(a.predict_proba(cur)[:, 0], cur["prob_p"])
    cur.loc[5, "prob_p"] = cur.loc[5, "prob_p"] + 0.3
    ctx = make_ctx(tmp_path, ref, cur, data={"task": "multiclass", "probability": ["prob_r", "prob_p", "prob_q"]})
    with pytest.raises(DataError, match="sum to"):
        m.preflight(ctx)


# ---------------------------------------------------------------------------------------------
# the adapter's input validation
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def baseline(tmp_path):
    ctx = make_ctx(tmp_path)
    return ctx, m.get_model(ctx)


def test_missing_column_wrong_type_and_infinity_are_clear_errors(baseline):
    ctx, a = baseline
    row = ctx.current.head(2)
    with pytest.raises(m.ModelInputError, match=r"missing feature column\(s\) \['x2'\]"):
        a.predict_proba(row.drop(columns=["x2"]))
    bad = row.copy()
    bad["x1"] = ["1.5", "lots"]
    with pytest.raises(m.ModelInputError, match=r"column 'x1' must be numeric but holds 'lots'"):
        a.predict_proba(bad)
    inf = row.copy()
    inf.loc[inf.index[0], "x2"] = np.inf
    with pytest.raises(m.ModelInputError, match="column 'x2' holds an infinite value"):
        a.predict(inf)
    with pytest.raises(m.ModelInputError, match="DataFrame"):
        a.predict(row.to_numpy())


def test_extra_columns_order_nan_and_unseen_categories_are_safe(baseline):
    ctx, a = baseline
    rows = ctx.current.head(5)
    clean = a.predict_proba(rows)
    extra = rows.assign(something_else=42)[["something_else", "c", "x2", "x1", "label"]]
    assert np.array_equal(a.predict_proba(extra), clean)
    odd = rows.copy()
    odd["c"] = ["zzz", "a", None, "b", "c"]
    odd.loc[odd.index[1], "x1"] = np.nan
    P = a.predict_proba(odd)
    assert np.all(np.isfinite(P)) and np.allclose(P.sum(axis=1), 1)
    kinds = {i["kind"] for i in a.input_issues(odd)}
    assert kinds == {"extra_column", "missing_value", "unseen_category"}
    # numeric text converts losslessly
    txt = rows.copy()
    txt["x1"] = txt["x1"].map(repr)
    assert np.allclose(a.predict_proba(txt), clean)


def _prepared_as_before(a, X):
    """The baseline's input as the adapter built it before it built frames from arrays (the reference)."""
    out = X.loc[:, list(a.features)].copy()
    for c in a.numeric:
        if not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    cols = {c: pd.to_numeric(out[c], errors="coerce").astype(float) for c in a.features if c in a.numeric}
    cols.update({c: m._as_text(out[c]) for c in a.features if c not in a.numeric})
    for c in set(a.hashed) & set(cols):
        from playbook.privacy import digest

        cols[c] = cols[c].map(lambda v: v if v is None or (isinstance(v, float) and np.isnan(v)) else digest(v))
    return pd.DataFrame(cols, index=out.index)[a.features]


@pytest.mark.parametrize("hashed", [False, True])
def test_the_prepared_baseline_frame_is_the_one_built_column_by_column(baseline, hashed):
    ctx, a = baseline
    if hashed:
        a = m.ModelAdapter(**{**a.__dict__, "hashed": ["c"]})
    rows = ctx.current.head(6).copy()
    rows.index = [5, 5, 3, 2, 1, 0]  # duplicate labels: nothing aligns on the index
    rows["c"] = ["zzz", "a", None, np.nan, "b", 7]
    rows["x1"] = pd.array([1, None, 3, 4, 5, 6], dtype="Int64")
    rows["x2"] = ["1.5", None, "2", "3e2", "-0.0", "4"]
    for X in (rows, ctx.current.head(1), ctx.current):
        got, want = a.prepare(X), _prepared_as_before(a, X)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert [type(v) for v in got["c"].tolist()] == [type(v) for v in want["c"].tolist()]
    pd.testing.assert_frame_equal(rows, rows.copy())  # the input is left as it was


def test_baseline_is_reproducible_and_its_skops_bytes_are_canonical(tmp_path):
    ctx = make_ctx(tmp_path)
    a1, a2 = m.get_model(ctx), m.get_model(ctx)
    assert np.array_equal(a1.predict_proba(ctx.current), a2.predict_proba(ctx.current))
    b1, b2 = m.dump_bytes(a1.estimator), m.dump_bytes(a2.estimator)
    assert b1 == b2
    info = m.save_baseline(a1, tmp_path / "b.skops")
    assert info["bytes"] == len(b1) and any("TreePredictor" in t for t in info["trusted_types"])
    loaded = sio.load(tmp_path / "b.skops", trusted=info["trusted_types"])
    X = a1.prepare(ctx.current)
    assert np.array_equal(loaded.predict_proba(X), a1.estimator.predict_proba(X))


def test_fit_baseline_regression_and_multiclass():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "k": rng.choice(["u", "v"], size=200)})
    y = 2 * X["a"] + (X["k"] == "u") + rng.normal(scale=0.1, size=200)
    reg = m.fit_baseline(X, y, "regression", seed=0)
    assert np.corrcoef(reg.predict(m.baseline_frame(X, ["a"], ["k"])), y)[0, 1] > 0.9
    yc = pd.Series(np.where(X["a"] > 0.5, "hi", np.where(X["a"] < -0.5, "lo", "mid")))
    clf = m.fit_baseline(X, yc, "multiclass", seed=0)
    assert list(clf.classes_) == ["hi", "lo", "mid"]
    with pytest.raises(ValueError, match="task"):
        m.fit_baseline(X, yc, "ranking")


def test_evaluation_frame_falls_back_when_current_has_no_labels(tmp_path):
    ref, cur = make_frames()
    cur = cur.drop(columns=["label"])
    ctx = make_ctx(tmp_path, ref, cur)
    a = m.get_model(ctx)
    assert a.info["fitted_on"] == "reference_without_evaluation_rows" and a.info["fitted_rows"] == 255
    frame, where = m.evaluation_frame(ctx, a)
    train, _ = m.baseline_training_frame(ctx)
    assert where == "reference_holdout" and len(frame) == 45
    assert not set(frame.index) & set(train.index)
    # calibration, clean held-out and evaluation rows never share a row, and the split is seeded
    from playbook import holdout

    s = holdout.split(ctx)
    parts = [set(s.calibration), set(s.clean), set(s.evaluation)]
    assert sum(map(len, parts)) == len(ref) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert holdout.describe(ctx) == holdout.describe(ctx) and holdout.describe(ctx)["evaluation"] == "reference split"


def test_split_with_labelled_current_keeps_all_reference_rows_for_the_model(tmp_path):
    from playbook import holdout

    ref, cur = make_frames()
    ctx = make_ctx(tmp_path, ref, cur)
    s = holdout.split(ctx)
    assert s.evaluation is None and len(s.calibration) == 210 and len(s.clean) == 90
    assert not set(s.calibration) & set(s.clean)
    train, where = m.baseline_training_frame(ctx)
    assert where == "reference" and len(train) == len(ref)
    assert m.evaluation_frame(ctx)[1] == "current"


def test_false_alarm_measurement_needs_enough_disjoint_batches():
    from playbook import holdout

    pool = pd.DataFrame({"x": range(1000)})
    batches = holdout.disjoint_batches(pool, 40, seed=1)
    assert len(batches) == 25 and len(set().union(*[set(b.index) for b in batches])) == 1000
    few = holdout.false_alarm_measurement([False] * 5, 200, 1000, budget=1 / 30)
    assert few["status"] == "warn" and "too little held-out data" in few["inconclusive"]
    quiet = holdout.false_alarm_measurement([False] * 25, 40, 1000, budget=1 / 30)
    assert quiet["status"] == "pass" and quiet["ci"][0] == 0.0 and quiet["ci"][1] > 0.1
    noisy = holdout.false_alarm_measurement([True] * 8 + [False] * 17, 40, 1000, budget=1 / 30)
    assert noisy["status"] == "fail" and noisy["ci"][0] > 1 / 30


def test_baseline_survives_dates_constant_empty_and_identifier_columns():
    """Real exports carry a sale date, a constant column, an empty one and a booking reference: the baseline
    leaves each out with its reason, scores new dates it never saw, and still learns the signal."""
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    n = 800
    frame = pd.DataFrame({
        "Nights": rng.integers(1, 10, n).astype(float),
        "Room Type": rng.choice(["single", "double", "suite"], n),
        "Arrival Date": pd.date_range("2023-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "Country": "PT", "Discount Code": np.nan,
        "Booking Ref": [f"BK-{i:06d}" for i in range(n)],
        "Level": 1,  # a single-valued numeric column used to crash histogram binning
    })
    price = 80 * frame["Nights"] + frame["Room Type"].map({"single": 0, "double": 60, "suite": 250}) \
        + rng.normal(0, 30, n)
    train, test = frame.iloc[:600], frame.iloc[600:]   # split by time: every test date is new
    plan = m.baseline_plan(train)
    assert plan["numeric"] == ["Nights"] and plan["categorical"] == ["Room Type"]
    assert set(plan["left_out"]) == {"Arrival Date", "Country", "Discount Code", "Booking Ref", "Level"}
    assert "dates" in plan["left_out"]["Arrival Date"] and "identifier" in plan["left_out"]["Booking Ref"]
    pipe = m.fit_baseline(train, price.iloc[:600], "regression", seed=0)
    numeric = [c for c in frame.columns if m.is_numeric(frame[c])]
    pred = pipe.predict(m.baseline_frame(test, numeric, [c for c in frame.columns if c not in numeric]))
    assert r2_score(price.iloc[600:], pred) > 0.8


def test_baseline_with_no_usable_column_says_so():
    frame = pd.DataFrame({"c": [1.0] * 60, "id": [f"x{i}" for i in range(60)]})
    with pytest.raises(m.ModelError, match="no column can feed the baseline"):
        m.fit_baseline(frame, pd.Series([0, 1] * 30), "binary", seed=0)
