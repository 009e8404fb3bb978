"""Drift detectors: Evidently 0.7's default test choice, statistics and decisions, fast paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from playbook.drift import detect as D

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def frames(n_ref: int, n_cur: int, seed: int, shift: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a current frame covering every default test and the awkward cases."""
    rng = np.random.default_rng(seed)

    def mk(n: int, s: float) -> pd.DataFrame:
        df = pd.DataFrame({
            "x": rng.normal(s, 1, n),                                            # ks / wasserstein
            "wide_int": rng.integers(0, 50, n) + (s > 0) * rng.integers(0, 3, n),  # numeric integers
            "few": rng.integers(0, 3, n).astype(float) + (rng.random(n) < s * 0.2),  # 3-4 values: chisquare / js
            "binary": rng.choice([0.0, 1.0], n, p=[0.7 - s * 0.2, 0.3 + s * 0.2]),  # z-test
            "int7": rng.integers(0, 7, n),                                       # <= 10 ints: categorical
            "cat": rng.choice(list("abcde"), n, p=[0.3, 0.3, 0.2, 0.1, 0.1]),
            "yesno": rng.choice(["yes", "no"], n),
            "lognormal": rng.lognormal(s * 0.2, 1, n),
        })
        df.loc[rng.random(n) < 0.05, "x"] = np.nan
        df.loc[rng.random(n) < 0.01, "lognormal"] = np.inf
        if s > 0:
            df.loc[rng.random(n) < 0.1 * s, "cat"] = "new"
        return df

    return mk(n_ref, 0.0), mk(n_cur, shift)


# -- Evidently's rules ---------------------------------------------------------------------------
def test_infer_kind_matches_evidently():
    from evidently.core.datasets import infer_column_type

    names = {"num": "numeric", "cat": "categorical", "text": "text", "datetime": "datetime"}
    rng = np.random.default_rng(0)
    cases = [
        pd.Series(rng.normal(size=50)), pd.Series(rng.integers(0, 5, 50)), pd.Series(rng.integers(0, 500, 50)),
        pd.Series(rng.choice(["a", "b"], 50)), pd.Series([f"id{i}" for i in range(50)]),
        pd.Series([True, False] * 25), pd.Series(pd.Categorical(["x", "y"] * 25)),
        pd.Series(pd.date_range("2024-01-01", periods=50)), pd.Series([None] * 50, dtype=object),
        pd.Series([1, "a"] * 25, dtype=object), pd.Series(["a", None] * 25, dtype=object),
    ]
    for s in cases:
        expected = names.get(infer_column_type(s).value, "unknown")
        assert D.infer_kind(s) == expected, s.dtype


@pytest.mark.parametrize("kind,n_ref,n_values,test", [
    ("numeric", 1000, 2, "z"), ("numeric", 1000, 3, "chisquare"), ("numeric", 1000, 5, "chisquare"),
    ("numeric", 1000, 6, "ks"), ("numeric", 1001, 5, "jensenshannon"), ("numeric", 1001, 6, "wasserstein"),
    ("categorical", 10, 1, "z"), ("categorical", 1000, 2, "z"), ("categorical", 1000, 3, "chisquare"),
    ("categorical", 1001, 2, "jensenshannon"), ("text", 1000, 0, "perc_text_content_drift"),
    ("text", 1001, 0, "abs_text_content_drift"),
])
def test_select_test_matches_evidentlys_registry(kind, n_ref, n_values, test):
    from evidently.legacy.calculations.stattests.registry import _get_default_stattest
    from evidently.legacy.core import ColumnType

    assert D.select_test(kind, n_ref, n_values) == test
    if kind != "text":  # build series with exactly these sizes and value counts, ask Evidently
        ref = pd.Series(np.arange(n_ref) % max(n_values, 1), dtype=float)
        cur = pd.Series(np.arange(10) % max(n_values, 1), dtype=float)
        ctype = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
        assert _get_default_stattest(ref, cur, ctype).name == test


@pytest.mark.parametrize("test,kind", [("ks", "numeric"), ("wasserstein", "numeric"), ("z", "categorical"),
                                       ("chisquare", "categorical"), ("jensenshannon", "categorical"),
                                       ("jensenshannon", "numeric")])
def test_column_statistic_equals_evidentlys_stattest(test, kind):
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    ctype = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    rng = np.random.default_rng(1)
    for i in range(4):
        if kind == "numeric":
            ref, cur = pd.Series(rng.normal(0, 1, 300)), pd.Series(rng.normal(0.1 * i, 1, 200))
        elif test == "z":
            ref, cur = pd.Series(rng.choice(["a", "b"], 300)), pd.Series(rng.choice(["a", "b"], 200, p=[.5 + .1 * i, .5 - .1 * i]))
        else:
            ref = pd.Series(rng.choice(list("abcd"), 300))
            cur = pd.Series(rng.choice(list("abcde"), 200, p=[.25, .25, .25, .25 - .05 * i, .05 * i]))
        res = get_registered_stattest(test, ctype)(ref, cur, ctype, None)
        ours = D.column_statistic(test, ref, cur, kind)
        assert ours == pytest.approx(res.drift_score, rel=1e-9, abs=1e-12)
        assert D.is_drift(test, ours) == bool(res.drifted)


def test_ks_pvalue_fast_path_equals_scipy():
    rng = np.random.default_rng(2)
    for n1, n2, shift in [(700, 200, 0.0), (700, 200, 0.2), (300, 300, 0.1), (1000, 13, 0.5), (50, 20000, 0.05),
                          (999, 37, 0.0)]:
        a = rng.normal(0, 1, n1).round(1)  # ties included
        b = rng.normal(shift, 1, n2).round(1)
        assert D._ks_p_sorted(np.sort(a), b) == pytest.approx(stats.ks_2samp(a, b).pvalue, rel=1e-12, abs=1e-300)


def test_wasserstein_bracket_contains_the_exact_value():
    rng = np.random.default_rng(3)
    for u, v in [(rng.normal(0, 1, 20000), rng.normal(0.02, 1, 15000)),
                 (rng.lognormal(0, 1.5, 20000), rng.lognormal(0.3, 1.5, 20000)),
                 (rng.integers(0, 40, 20000).astype(float), rng.integers(0, 42, 10000).astype(float))]:
        exact = stats.wasserstein_distance(u, v)
        est, lo, hi = D.wasserstein_bracket(u, v)
        assert lo - 1e-12 <= exact <= hi + 1e-12
        assert est == pytest.approx(exact, rel=0.05)
        value, lo2, hi2 = D.wasserstein_bracket(u, v, exact=True)
        assert value == lo2 == hi2 and value == pytest.approx(exact, rel=1e-9)
        # a threshold inside the bracket forces the exact computation
        if hi > lo:
            v3, lo3, hi3 = D.wasserstein_bracket(u, v, threshold=(lo + hi) / 2)
            assert lo3 == hi3 == pytest.approx(exact, rel=1e-9)


# -- agreement with Evidently's own report ------------------------------------------------------
CASES = [(500, 300, 0.0, 0), (500, 300, 0.3, 1), (800, 200, 1.0, 2), (3000, 2000, 0.0, 3),
         (3000, 2000, 0.15, 4), (3000, 1500, 0.5, 5), (1001, 999, 0.05, 6)]


@pytest.mark.parametrize("n_ref,n_cur,shift,seed", CASES)
def test_decisions_agree_with_evidently_data_drift_preset(n_ref, n_cur, shift, seed):
    ref, cur = frames(n_ref, n_cur, seed, shift)
    # fast_min_rows below the frame size so the large frames exercise the histogram fast path
    ours = D.column_drift(ref, cur, fast_min_rows=1000).set_index("column")
    theirs = D.evidently_column_drift(ref, cur).set_index("column")
    assert sorted(ours.index) == sorted(theirs.index) == sorted(ref.columns)
    both = ours.join(theirs, rsuffix="_ev")
    assert (both["test"] == both["test_ev"]).all(), both[["test", "test_ev"]]
    assert (both["drifted"] == both["drifted_ev"]).all(), both[["statistic", "drifted", "statistic_ev", "drifted_ev"]]
    exact = both["note"] == ""
    assert np.allclose(both.loc[exact, "statistic"], both.loc[exact, "statistic_ev"], rtol=1e-9, atol=1e-12)
    assert np.allclose(both["statistic"], both["statistic_ev"], rtol=1e-3)  # fast-path estimates too
    if shift >= 0.3:
        assert both["drifted"].sum() >= 2  # the frames do trip the detector
    if shift == 0:
        assert both["drifted"].sum() <= 2


def test_agreement_with_a_data_definition():
    ref, cur = frames(600, 300, 7, 0.4)
    kinds = {"x": "numeric", "wide_int": "numeric", "few": "numeric", "binary": "categorical",
             "int7": "numeric", "cat": "categorical", "yesno": "categorical", "lognormal": "numeric"}
    ours = D.column_drift(ref, cur, kinds=kinds).set_index("column")
    theirs = D.evidently_column_drift(ref, cur, kinds=kinds).set_index("column")
    assert ours.loc["int7", "test"] == "ks"  # declared numeric: a 7-valued integer gets K-S
    assert (ours["drifted"] == theirs.loc[ours.index, "drifted"]).all()
    assert (ours["test"] == theirs.loc[ours.index, "test"]).all()


# -- situations Evidently refuses -----------------------------------------------------------------
def test_missing_empty_and_mistyped_columns_count_as_drift():
    ref, cur = frames(400, 200, 8)
    cur = cur.drop(columns=["cat"]).assign(x=np.nan, wide_int=cur["wide_int"].astype(str))
    t = D.column_drift(ref, cur).set_index("column")
    assert t.loc["cat", "test"] == "missing_column" and t.loc["cat", "drifted"]
    assert t.loc["x", "test"] == "empty" and t.loc["x", "drifted"]
    # kinds come from the current frame by default (strings: categorical); fixed kinds flag the type
    t2 = D.column_drift(ref, cur, kinds={"wide_int": "numeric"}).set_index("column")
    assert t2.loc["wide_int", "test"] == "type_mismatch" and t2.loc["wide_int", "drifted"]
    summary = D.dataset_drift(t2, drift_share=0.5)
    assert summary["n_columns"] == len(ref.columns) and summary["n_drifted"] >= 3
    assert summary["share"] == pytest.approx(summary["n_drifted"] / summary["n_columns"])


def test_dataset_drift_share_rule():
    rows = [{"column": c, "test": "ks", "drifted": d} for c, d in zip("abcd", [True, True, False, False])]
    assert D.dataset_drift(rows, 0.5)["drifted"] is True
    assert D.dataset_drift(rows, 0.51)["drifted"] is False
    rows.append({"column": "e", "test": "unsupported", "drifted": False})
    assert D.dataset_drift(rows)["n_columns"] == 4


def test_detector_prepared_once_gives_the_same_rows():
    ref, cur = frames(700, 200, 9, 0.3)
    kinds = {c: ("numeric" if c in ("x", "wide_int", "lognormal") else "categorical") for c in ref.columns}
    det = D.DriftDetector(ref, kinds)
    a = pd.DataFrame(det.run(cur), columns=D.TABLE_COLUMNS)
    b = D.column_drift(ref, cur, kinds=kinds)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError, match="not in the reference"):
        D.DriftDetector(ref, columns=["nope"])
    with pytest.raises(ValueError, match="unknown drift test"):
        D.column_statistic("psi2", ref["x"], cur["x"])


def test_large_batches_use_threads_and_the_fast_path():
    rng = np.random.default_rng(10)
    n = 60_000
    ref = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(0, 1, n), "c": rng.choice(list("xyz"), n)})
    cur = pd.DataFrame({"a": rng.normal(0.3, 1, n), "b": rng.normal(0.01, 1, n), "c": rng.choice(list("xyz"), n)})
    t = D.column_drift(ref, cur).set_index("column")
    assert list(t["test"]) == ["wasserstein", "wasserstein", "jensenshannon"]
    assert list(t["drifted"]) == [True, False, False]
    exact = stats.wasserstein_distance(ref["b"], cur["b"]) / np.std(ref["b"])
    assert t.loc["b", "statistic"] == pytest.approx(exact, rel=0.05)


def awkward_frames(n_ref: int, n_cur: int, seed: int, shift: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Columns real exports carry: booleans, pandas categories, the string dtype, mixed objects, a numeric column
    whose current values cross from 5 to 6 distinct values, and a near-threshold shift."""
    rng = np.random.default_rng(seed)

    def mk(n: int, s: float, current: bool) -> pd.DataFrame:
        five = rng.integers(0, 5, n).astype(float)
        if current and s > 0:
            five[rng.random(n) < 0.05 * s] = 5.0  # a sixth value appears
        return pd.DataFrame({
            "flag": rng.random(n) < (0.3 + 0.1 * s),                                    # bool dtype
            "segment": pd.Categorical(rng.choice(["gold", "silver", "bronze"], n, p=[0.2, 0.3, 0.5])),
            "channel": pd.array(rng.choice(["web", "app", "branch", "phone"], n), dtype="string"),
            "five_to_six": five,
            "near": rng.normal(0.1 * s, 1, n),                                          # close to the threshold
        })

    return mk(n_ref, 0.0, False), mk(n_cur, shift, True)


AWKWARD = [(400, 300, 0.0, 11), (600, 400, 1.0, 12), (1200, 900, 0.5, 13), (2500, 2500, 1.0, 14), (1500, 1600, 0.0, 15)]


@pytest.mark.parametrize("n_ref,n_cur,shift,seed", AWKWARD)
def test_decisions_agree_with_evidently_on_awkward_dtypes(n_ref, n_cur, shift, seed):
    ref, cur = awkward_frames(n_ref, n_cur, seed, shift)
    ours = D.column_drift(ref, cur, fast_min_rows=1000).set_index("column")
    theirs = D.evidently_column_drift(ref, cur).set_index("column")
    assert sorted(ours.index) == sorted(theirs.index)
    both = ours.join(theirs, rsuffix="_ev")
    assert (both["test"] == both["test_ev"]).all(), both[["test", "test_ev"]]
    assert (both["drifted"] == both["drifted_ev"]).all(), both[["statistic", "drifted", "statistic_ev", "drifted_ev"]]
    assert np.allclose(both["statistic"], both["statistic_ev"], rtol=1e-3)


def test_mixed_object_column_agrees_with_evidently():
    rng = np.random.default_rng(16)
    vals = np.array([1, 2, "a", "b", 3.5], dtype=object)
    ref = pd.DataFrame({"mixed": rng.choice(vals, 500), "x": rng.normal(0, 1, 500)})
    cur = pd.DataFrame({"mixed": rng.choice(vals, 300, p=[0.1, 0.1, 0.4, 0.3, 0.1]), "x": rng.normal(0, 1, 300)})
    ours = D.column_drift(ref, cur).set_index("column")
    theirs = D.evidently_column_drift(ref, cur).set_index("column")
    common = sorted(set(ours.index) & set(theirs.index))
    assert common == sorted(theirs.index)
    assert (ours.loc[common, "drifted"] == theirs.loc[common, "drifted"]).all()


def test_large_near_threshold_cases_on_the_fast_path():
    """Wasserstein distances just below and just above Evidently's 0.1 on 200k rows: the fast path decides as the
    exact computation does."""
    rng = np.random.default_rng(17)
    n = 200_000
    ref = pd.DataFrame({"a": rng.normal(0, 1, n)})
    for mu in (0.095, 0.098, 0.102, 0.105):
        cur = pd.DataFrame({"a": rng.normal(mu, 1, n)})
        fast = D.column_drift(ref, cur).iloc[0]
        exact = stats.wasserstein_distance(ref["a"], cur["a"]) / np.std(ref["a"])
        assert fast["test"] == "wasserstein"
        assert bool(fast["drifted"]) == (exact >= 0.1), (mu, exact, fast["statistic"])


def test_a_bool_or_text_column_declared_numeric_is_refused():
    ref = pd.DataFrame({"b": [True, False] * 50, "t": ["x", "y"] * 50, "n": np.arange(100.0)})
    with pytest.raises(ValueError, match="'b' is declared numeric but holds bool"):
        D.DriftDetector(ref, kinds={"b": "numeric"})
    with pytest.raises(ValueError, match="'t' is declared numeric but holds"):
        D.DriftDetector(ref, kinds={"t": "numeric"})
    D.DriftDetector(ref, kinds={"n": "numeric"})


@pytest.mark.parametrize("case", ["normal", "ties", "large_units", "constant", "one_value"])
def test_wasserstein_against_a_sorted_reference_is_scipys_distance(case):
    """The batch distance against a reference sorted once (O(batch log reference)) is scipy's, to rounding."""
    from scipy import stats

    from playbook.drift.detect import wasserstein_sorted

    rng = np.random.default_rng(7)
    ref, cur = {
        "normal": (rng.normal(0, 1, 5000), rng.normal(0.3, 2, 700)),
        "ties": (rng.integers(0, 5, 4000).astype(float), rng.integers(0, 8, 300).astype(float)),
        "large_units": (rng.lognormal(13, 1, 3000).round(-2), rng.lognormal(13.3, 1, 900).round(-2)),
        "constant": (np.full(1000, 3.0), rng.choice([3.0, 4.0], 200)),
        "one_value": (rng.normal(0, 1, 50), np.array([10.0])),
    }[case]
    r = np.sort(ref)
    shift = float(r.mean())
    prefix = np.concatenate([[0.0], np.cumsum(r - shift)])
    assert wasserstein_sorted(r, prefix, shift, cur) == pytest.approx(stats.wasserstein_distance(ref, cur), rel=1e-9,
                                                                     abs=1e-9)
    assert wasserstein_sorted(r, prefix, shift, ref) == pytest.approx(0.0, abs=1e-9 * max(1.0, float(np.std(ref))))
