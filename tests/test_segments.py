"""Weak-segment discovery (playbook.evaluate.segments): a planted weak segment is found, a model equally good
everywhere is not flagged, personal data never defines or shows in a segment, the cost is bounded, and the check
and the model card carry the result."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from playbook import catalogue, privacy
from playbook.evaluate import segments as sg
from playbook.evaluate.metrics import Scored
from playbook.results import to_jsonable


def frame(n: int, rng) -> pd.DataFrame:
    return pd.DataFrame({"income": rng.lognormal(10, 0.5, n), "region": rng.choice(["north", "south", "east", "west"], n),
                         "channel": rng.choice(["web", "branch", "phone"], n, p=[0.5, 0.3, 0.2]),
                         "tenure": rng.integers(0, 30, n)})


def binary(df: pd.DataFrame, rng, *, error: float = 0.15, weak=None, weak_error: float = 0.6) -> Scored:
    """Labels and a model's decisions that are wrong with probability ``error`` on every row, ``weak_error`` where
    ``weak`` (a boolean mask) holds."""
    n = len(df)
    y = rng.integers(0, 2, n)
    p_wrong = np.full(n, error) if weak is None else np.where(weak, weak_error, error)
    wrong = rng.random(n) < p_wrong
    pred = np.where(wrong, 1 - y, y)
    p = np.clip(np.where(pred == 1, 0.7, 0.3) + rng.normal(0, 0.1, n), 0, 1)
    lab = np.array(["good", "bad"], dtype=object)
    return Scored(task="binary", y=lab[y], pred=lab[pred], proba=np.c_[1 - p, p],
                  classes=["good", "bad"], positive="bad", index=df.index)


def regression(df: pd.DataFrame, rng, *, weak=None, factor: float = 2.5) -> Scored:
    n = len(df)
    y = rng.normal(100, 20, n)
    scale = np.full(n, 5.0) if weak is None else np.where(weak, 5.0 * factor, 5.0)
    return Scored(task="regression", y=y, pred=y + rng.normal(0, 1, n) * scale, index=df.index)


def search(df, s, **kw):
    numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
    categorical = [c for c in df.columns if c not in numeric]
    return sg.search(df, s, numeric, categorical, **{"n_boot": 100, **kw})


# -- found when planted, quiet when absent ----------------------------------------------------------------------------
def test_a_planted_two_feature_segment_is_found_and_ranked_worst():
    rng = np.random.default_rng(1)
    df = frame(3000, rng)
    weak = (df["region"] == "east") & (df["channel"] == "phone")  # about 150 rows; fine on each feature alone
    res = search(df, binary(df, rng, weak=weak))
    worst = res.flagged.iloc[0]
    assert set(worst["segment"].split(" and ")) == {"channel = phone", "region = east"}, res.flagged["segment"][:5]
    assert worst["n"] == int(weak.sum()) and worst["loss"] > 0.45 and worst["rest_loss"] < 0.2
    assert worst["q_value"] <= 0.05 and worst["loss_ci"][0] > worst["rest_loss"]
    assert worst["metric"] == "roc_auc" and worst["metric_ci"][0] <= worst["metric_value"] <= worst["metric_ci"][1]
    # the flagged segments are the planted one and groups that contain most of it
    for seg in res.flagged["segment"]:
        assert "east" in seg or "phone" in seg, seg
    check = sg.weak_segments_check(res, evidence="artifacts/segments.json")
    assert check["status"] == "warn" and check["value"] == len(res.flagged)
    assert worst["segment"] in check["title"]


def test_a_planted_numeric_segment_is_found_for_a_regression():
    rng = np.random.default_rng(2)
    df = frame(2000, rng)
    weak = (df["income"] > df["income"].quantile(0.75)) & (df["channel"] == "web")
    res = search(df, regression(df, rng, weak=weak))
    assert res.loss == "mae" and res.metric == "mae"
    top = res.flagged.iloc[0]
    assert top["segment"].startswith("channel = web and income >= "), res.flagged["segment"].tolist()[:5]
    assert top["gap"] > 1.0 and top["metric_value"] == pytest.approx(top["loss"])


def test_a_planted_segment_is_found_for_a_multiclass_model():
    rng = np.random.default_rng(3)
    df = frame(2400, rng)
    n = len(df)
    classes = ["a", "b", "c"]
    y = rng.integers(0, 3, n)
    weak = (df["tenure"] < 8).to_numpy()
    wrong = rng.random(n) < np.where(weak, 0.6, 0.15)
    pred = np.where(wrong, (y + rng.integers(1, 3, n)) % 3, y)
    proba = np.full((n, 3), 0.15)
    proba[np.arange(n), pred] = 0.7
    s = Scored(task="multiclass", y=np.array(classes, dtype=object)[y], pred=np.array(classes, dtype=object)[pred],
               proba=proba, classes=classes, index=df.index)
    res = search(df, s)
    assert res.metric == "roc_auc_macro" and res.loss == "error_rate"
    assert res.flagged.iloc[0]["segment"] in ("tenure < 8", "tenure < 7", "tenure < 9"), res.flagged["segment"].tolist()
    assert res.flagged.iloc[0]["metric_ci"] is not None


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_model_equally_good_everywhere_is_not_flagged_in_most_seeds(task):
    flagged = []
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        df = frame(1500, rng)
        s = binary(df, rng) if task == "binary" else regression(df, rng)
        res = search(df, s, seed=seed, n_boot=0)
        assert len(res.table) > 50  # one- and two-feature segments were searched
        flagged.append(len(res.flagged))
        if not len(res.flagged):
            assert sg.weak_segments_check(res)["status"] == "pass"
    assert sum(f == 0 for f in flagged) >= 8, flagged


# -- any columns, any dtypes; roles and personal data -----------------------------------------------------------------
def test_odd_names_dtypes_constant_and_empty_columns():
    rng = np.random.default_rng(4)
    n = 1200
    df = pd.DataFrame({
        "Montant (€) = brut": rng.normal(50, 10, n),
        "flag": rng.random(n) < 0.4,
        "kind": pd.Categorical(rng.choice(["x", "y"], n)),
        "signed": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        "few": rng.choice([1.0, 2.0, 3.0], n),
        "mixed": rng.choice(["1", 2, "three"], n).astype(object),
        "constant": "same", "empty": np.nan, 3: rng.choice(["p", "q"], n),
    })
    df.loc[df.sample(100, random_state=0).index, "Montant (€) = brut"] = np.nan
    weak = (df["flag"] & (df["kind"] == "x")).to_numpy()
    s = binary(df, rng, weak=weak, weak_error=0.7)
    res = sg.search(df, s, ["Montant (€) = brut", "few", "signed", "empty"], ["flag", "kind", "mixed", "constant", 3],
                    n_boot=50)
    assert res.excluded == {"constant": "constant (a single value)", "empty": "without a value"}
    assert set(res.columns) == {"Montant (€) = brut", "few", "signed", "flag", "kind", "mixed", "3"}
    segs = set(res.table["segment"])
    assert "Montant (€) = brut is missing" in segs and "few = 2" in segs and "3 = p" in segs
    assert any(x.startswith("signed < 2024-") for x in segs)
    assert res.flagged.iloc[0]["segment"] == "flag = True and kind = x"
    json.dumps(to_jsonable(res.to_dict()))  # serialisable as it is


def test_rare_categories_are_pooled_and_small_segments_not_searched():
    rng = np.random.default_rng(5)
    n = 800
    df = pd.DataFrame({"city": np.r_[rng.choice(["paris", "lyon"], n - 40), [f"village{i}" for i in range(40)]]})
    res = sg.search(df, binary(df, rng), [], ["city"], min_support=30, n_boot=0, pairs=False)
    assert set(res.table["segment"]) == {"city = paris", "city = lyon", "city: another value"}
    assert (res.table["n"] >= 30).all()


def _ctx(df: pd.DataFrame, **roles):
    scan = privacy.scan_data(df, None)
    r = SimpleNamespace(id=[], target=None, timestamp=None, prediction=None, probability=None, sensitive=[])
    for k, v in roles.items():
        setattr(r, k, v)
    return SimpleNamespace(roles=r, privacy=scan, policy=SimpleNamespace(allow_raw_pii=False))


def test_identifiers_person_names_and_free_text_never_define_or_show_in_a_segment():
    rng = np.random.default_rng(6)
    n = 900
    first = ["Alice", "Maria", "John", "Peter", "Laura", "David", "Sarah", "Thomas", "Emma", "James"]
    last = ["Smith", "Garcia", "Müller", "Rossi", "Dubois", "Novak", "Jones", "Brown", "Silva", "Kowalski"]
    names = [f"{rng.choice(first)} {rng.choice(last)}" for _ in range(n)]
    df = pd.DataFrame({
        "customer_no": [f"C{100000 + i}" for i in range(n)],
        "holder": names,
        "note": [f"called on day {i} about order {rng.integers(1e6)}" for i in range(n)],
        "contact": rng.choice(["ops@example.com", "desk@example.com", "none"], n),
        "region": rng.choice(["north", "south"], n),
    })
    # the model is bad for one person's name; the name column must still never be searched nor shown
    weak = (df["holder"].str.startswith("Alice")).to_numpy()
    s = binary(df, rng, weak=weak, weak_error=0.9)
    ctx = _ctx(df, id=["customer_no"])
    res = sg.search(df, s, [], ["customer_no", "holder", "note", "contact", "region"], ctx=ctx, n_boot=20)
    assert res.excluded["customer_no"] == "an identifier"
    assert "never searched" in res.excluded["holder"] and "never searched" in res.excluded["note"]
    assert "holder" not in res.columns and "note" not in res.columns
    text = json.dumps(to_jsonable(res.to_dict()), ensure_ascii=False)
    for raw in first + last + ["ops@example.com", "desk@example.com", "C100001", "called on day"]:
        assert raw not in text, raw
    assert "never searched" in res.excluded["contact"] and res.columns == ["region"]


def test_a_value_holding_personal_data_is_masked_in_a_description():
    """A column with a few phone numbers among its values (below the scan's share for the column) is searched, but
    the value is masked wherever the segment is described; a column with any e-mail address is not searched."""
    rng = np.random.default_rng(12)
    n = 2000
    df = pd.DataFrame({"desk": np.r_[rng.choice(["retail", "wholesale"], n - 35), ["+44 20 7946 0958"] * 35],
                       "mail": np.r_[rng.choice(["retail", "wholesale"], n - 35), ["orders@shop.example.com"] * 35]})
    res = sg.search(df, binary(df, rng), [], ["desk", "mail"], n_boot=0)
    text = json.dumps(to_jsonable(res.to_dict()))
    assert "7946" not in text and "orders@" not in text and "shop.example" not in text
    assert "desk = +** ** **** **58" in set(res.table["segment"]) and "never searched" in res.excluded["mail"]


# -- bounded, deterministic ---------------------------------------------------------------------------------------
def test_the_search_is_deterministic_and_its_cost_is_bounded():
    rng = np.random.default_rng(7)
    n = 3000
    df = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(12)}
                      | {f"c{i}": rng.choice(list("abcdefgh"), n) for i in range(8)})
    s = binary(df, rng)
    a = search(df, s, max_segments=120, max_rows=1000, n_boot=5000, seed=3)
    b = search(df, s, max_segments=120, max_rows=1000, n_boot=5000, seed=3)
    assert json.dumps(to_jsonable(a.to_dict())) == json.dumps(to_jsonable(b.to_dict()))
    assert len(a.table) == 120 and a.candidates > 120 and a.rows == 1000 and a.of_rows == n
    assert a.settings["bootstrap"] == sg.MAX_BOOTSTRAP
    one = a.table[a.table["size"] == 1]
    assert len(one) == 12 * 4 + 8 * 8  # every one-feature segment first, then the largest two-feature cells
    two = a.table[a.table["size"] == 2]
    assert two["n"].min() >= 30


def test_too_few_rows_is_a_not_applicable_skip():
    rng = np.random.default_rng(8)
    df = frame(40, rng)
    res = search(df, binary(df, rng))
    assert res.reason and not len(res.table)
    c = sg.weak_segments_check(res)
    assert c["status"] == "skip" and c["not_applicable"] and "rows" in c["why"]


def test_resampled_auc_equals_the_direct_computation():
    from playbook.metrics import roc_auc

    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, 200)
    score = np.round(rng.random(200), 2)  # ties
    idx = np.vstack([np.arange(200), rng.integers(0, 200, (5, 200))])
    got = sg._auc_resampled(y, score, idx)
    for r in range(len(idx)):
        assert got[r] == pytest.approx(roc_auc(y[idx[r]], score[idx[r]]))
    assert np.isnan(sg._auc_resampled(np.zeros(5), score[:5], np.arange(5)[None]))[0]


# -- the check under a gate, the figure, the model card ---------------------------------------------------------------
def test_a_gate_max_zero_makes_a_flagged_segment_fail_and_a_clean_search_pass():
    from playbook.config import PolicySettings

    rng = np.random.default_rng(10)
    df = frame(2000, rng)
    bad = sg.weak_segments_check(search(df, binary(df, rng, weak=(df["region"] == "west").to_numpy())))
    good = sg.weak_segments_check(search(df, binary(df, rng), n_boot=0))
    policy = PolicySettings(gates={"model.weak_segments": {"max": 0, "block": True}})
    assert catalogue.settle(bad, policy)["status"] == "fail"
    assert catalogue.settle(good, policy)["status"] == "pass"
    assert catalogue.settle(bad, None)["status"] == "warn"  # the default gate reports, never blocks


def test_the_figure_and_the_model_card(tmp_path):
    from playbook.governance import modelcard
    from playbook.governance.evidence import Evidence

    rng = np.random.default_rng(11)
    df = frame(1500, rng)
    res = search(df, binary(df, rng, weak=((df["region"] == "north") & (df["tenure"] > 20)).to_numpy()))
    shown = sg.shown_table(res)
    assert list(shown.columns[:3]) == ["segment", "rows", "error rate"] and len(shown) == sg.TOP
    assert shown["error rate 95% CI"].iloc[0].count(" to ") == 1
    png = sg.plot(res, tmp_path / "segments.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    check = sg.weak_segments_check(res, evidence="artifacts/segments.json")
    info = {"weak_segments": to_jsonable({"searched": len(res.table), "flagged": len(res.flagged), "loss": res.loss,
                                          "metric": res.metric, "margin": 0.2, "fdr": 0.05, "worst": res.worst(5)})}
    ev = Evidence(steps={"model_evaluation": {"checks": [to_jsonable(check)], "info": info}},
                  dirs={"model_evaluation": "steps/02_model_evaluation"})
    md = modelcard.build(ev, {"pack": "p", "task": "binary", "target": "y"}).markdown()
    assert "### Weak segments" in md and "`model.weak_segments`" in md
    assert res.worst(1)[0]["segment"].replace("<", "&lt;").replace(">", "&gt;") in md or \
        res.worst(1)[0]["segment"] in md
    assert "Benjamini-Hochberg" in md and "by more than 20% of the rest's error rate" in md


def test_a_bad_search_parameter_is_refused_before_anything_runs(tmp_path):
    from playbook.params import ParamError, validate
    from tests.conftest import SMALL_CONFIG, run_cli

    for name, value in (("segment_min_support", 0), ("segment_bins", 1), ("segment_margin", -0.1)):
        with pytest.raises(ParamError, match=f"steps.model_evaluation.params.{name}"):
            validate("model_evaluation", {name: value}, {})
    proc = run_cli("run", str(SMALL_CONFIG), "--out", str(tmp_path / "out"), "-p",
                   "steps.model_evaluation.params.segment_fdr=0", timeout=120)
    assert proc.returncode == 2, proc.stderr[-500:]
    assert proc.stderr.strip() == ("playbook: error: steps.model_evaluation.params.segment_fdr: 0 is out of range; set "
                                   "it to a number above 0 and at most 1.")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
