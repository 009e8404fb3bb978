"""The later faults of the catalogue (correlation break, subpopulation shift, category encoding change, precision
loss, stale feed, delayed join, label delay, upstream default): each does what its story says, and every fault of
the catalogue runs on data it has never seen (any names and dtypes, no timestamp, no categoricals, constant and
all-missing columns) without raising.

Severity 0, pureness, determinism and the row count of every fault are tested in ``tests/test_drift_shifts.py``
(parametrized over the whole catalogue, on the frame imported here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from playbook.drift import detect
from playbook.drift import shifts as S
from playbook.drift.shifts import ShiftRoles
from tests.test_drift_shifts import DF, ROLES

LATER = ["correlation_break", "subpopulation_shift", "category_encoding", "precision_loss", "stale_feed",
         "delayed_join", "label_delay", "upstream_default"]


def same_multiset(a: pd.Series, b: pd.Series) -> bool:
    """The same values, each as often (missing values included), whatever the rows."""
    return a.value_counts(dropna=False).sort_index().equals(b.value_counts(dropna=False).sort_index())


def newest(df: pd.DataFrame, share: float, col: str = "applied_at") -> pd.Series:
    """True for the newest round(share * n) rows by ``col``."""
    k = int(round(share * len(df)))
    return df[col].rank(method="first") > len(df) - k


def test_the_catalogue_holds_25_faults_with_the_later_ones_last():
    assert len(S.SHIFTS) == 25 and list(S.SHIFTS)[17:] == LATER
    assert S.SHIFTS["label_delay"].needs_target and not S.SHIFTS["correlation_break"].needs_target


# -- correlation break --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("severity", [0.5, 1.0])
def test_correlation_break_keeps_every_marginal_and_breaks_the_pair(severity):
    out, info = S.apply("correlation_break", DF, severity, roles=ROLES, seed=0)
    assert info["columns"] == ["amount", "rate"]  # the most correlated numeric pair
    for c in DF.columns:
        assert same_multiset(out[c], DF[c]), c
    assert not out["rate"].equals(DF["rate"]) and out["amount"].equals(DF["amount"])
    before = DF["amount"].corr(DF["rate"], method="spearman")
    after = out["amount"].corr(out["rate"], method="spearman")
    assert before > 0.4 and after < before * (1 - severity) + 0.15
    assert info["effect"]["spearman_before"] == pytest.approx(before)
    assert info["effect"]["spearman_after"] == pytest.approx(after)
    assert info["rows_affected"] == round(severity * len(DF))


def test_correlation_break_on_a_declared_pair_with_missing_values():
    df = DF.copy()
    df.loc[::7, "age"] = np.nan
    out, info = S.apply("correlation_break", df, 1.0, roles=ROLES, seed=1, columns=["amount", "age"])
    assert info["columns"] == ["amount", "age"] and same_multiset(out["age"], df["age"])


def test_correlation_break_needs_a_correlated_pair():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500), "c": 1.0, "d": np.nan})
    out, info = S.apply("correlation_break", df, 0.5, seed=0)
    assert info["applied"] is False and "strongest pair, a and b" in info["reason"] and out.equals(df)


def correlation_break_trials(trials: int = 20, batch: int = 200, severity: float = 0.5, seed: int = 0):
    """A reference and ``trials`` clean batches of the same distribution (a correlated pair, an independent numeric
    and a categorical feature), each with its correlation-broken copy: ``(reference, [(clean, broken)], roles)``.
    The per-column monitors judge them here; the multivariate monitors can judge the same pairs."""
    rng = np.random.default_rng(seed)

    def draw(n):
        x = rng.normal(size=n)
        return pd.DataFrame({"income": 3000 + 800 * x, "amount": 5000 + 2000 * (0.8 * x + 0.6 * rng.normal(size=n)),
                             "age": rng.normal(40, 10, n).round(), "channel": rng.choice(["web", "branch", "phone"], n)})

    roles = ShiftRoles(["income", "amount", "age", "channel"], ["income", "amount", "age"], ["channel"])
    reference = draw(1000)  # Evidently's defaults: a KS or chi-squared test at p < 0.05 per column up to 1000 rows
    pairs = []
    for t in range(trials):
        clean = draw(batch)
        broken, info = S.apply("correlation_break", clean, severity, roles=roles, seed=[seed, t])
        assert info["columns"] == ["income", "amount"]
        pairs.append((clean, broken))
    return reference, pairs, roles


def test_correlation_break_at_half_severity_passes_every_per_column_test_in_most_trials():
    reference, pairs, roles = correlation_break_trials()
    detector = detect.DriftDetector(reference, detect.kinds_from_roles(roles))
    quiet = 0
    for clean, broken in pairs:
        a, b = pd.DataFrame(detector.run(clean)), pd.DataFrame(detector.run(broken))
        # each column holds the same values as in the clean batch: every per-column statistic is the same
        pd.testing.assert_frame_equal(a, b)
        assert broken["income"].corr(broken["amount"]) < clean["income"].corr(clean["amount"]) - 0.15
        quiet += not bool(b["drifted"].any())
    assert quiet > len(pairs) / 2  # no per-column test alarms in most trials


# -- subpopulation shift --------------------------------------------------------------------------------------------
def test_subpopulation_shift_keeps_whole_rows_of_one_segment():
    out, info = S.apply("subpopulation_shift", DF, 1.0, roles=ROLES, seed=0)
    assert info["columns"] == ["purpose"] and info["effect"]["segment"] == "purpose == 'car'"
    assert (out["purpose"] == "car").all() and len(out) == len(DF)
    rows = set(map(tuple, DF[DF["purpose"] == "car"].astype(str).to_numpy()))
    assert set(map(tuple, out.astype(str).to_numpy())) <= rows  # real rows of the segment, not edited values
    half, info = S.apply("subpopulation_shift", DF, 0.5, roles=ROLES, seed=0)
    p0 = (DF["purpose"] == "car").mean()
    assert (half["purpose"] == "car").mean() == pytest.approx(p0 + 0.5 * (1 - p0), abs=1 / len(DF))
    assert info["effect"]["share_before"] == pytest.approx(p0)


def test_subpopulation_shift_without_categoricals_keeps_the_upper_half():
    num = DF[["amount", "age"]]
    out, info = S.apply("subpopulation_shift", num, 1.0, seed=0)
    assert info["columns"] == ["amount"] and (out["amount"] > num["amount"].median()).all()


# -- category encoding change ---------------------------------------------------------------------------------------
def test_category_encoding_respells_each_category_one_way():
    out, info = S.apply("category_encoding", DF, 1.0, roles=ROLES, seed=0)
    assert info["columns"] == ["purpose"]
    assert not out["purpose"].isin(DF["purpose"].unique()).any()  # every value is now unseen
    pairs = pd.DataFrame({"old": DF["purpose"], "new": out["purpose"]})
    assert (pairs.groupby("old")["new"].nunique() == 1).all() and pairs.groupby("new")["old"].nunique().max() == 1
    assert (out["purpose"].str.strip().str.lower() == DF["purpose"]).all()  # a person reads the same value
    part, info = S.apply("category_encoding", DF, 0.3, roles=ROLES, seed=0)
    assert (part["purpose"] != DF["purpose"]).sum() == round(0.3 * len(DF)) == info["rows_affected"]


def test_category_encoding_case_space_and_synonym_with_missing_values():
    df = pd.DataFrame({"answer": ["Yes", "No", "Maybe", None] * 25, "x": np.arange(100.0)})
    out, info = S.apply("category_encoding", df, 1.0, seed=0)
    assert info["effect"]["answer"]["mapping"] == {"Maybe": "maybe", "No": "No ", "Yes": "Y"}
    assert out["answer"].isna().equals(df["answer"].isna())


# -- precision loss -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("severity,step", [(1.0, 100.0), (0.1, 10.0)])
def test_precision_loss_truncates_to_fewer_digits(severity, step):
    sd = DF["amount"].std()
    assert 10 ** np.floor(np.log10(severity * sd)) == step  # the power of ten at or below severity x SD
    out, info = S.apply("precision_loss", DF, severity, roles=ROLES, seed=0)
    assert info["effect"]["amount"]["step"] == step and info["effect"]["amount"]["mode"] == "truncate"
    lost = DF["amount"] - out["amount"]
    assert np.allclose(np.mod(out["amount"], step), 0) or np.allclose(np.mod(out["amount"], step), step)
    assert (lost >= -1e-9).all() and (lost < step).all() and lost.mean() > 0  # truncation biases down
    assert info["rows_affected"] == int((lost != 0).sum())


def test_precision_loss_keeps_integers_integers():
    out, info = S.apply("precision_loss", DF, 1.0, roles=ROLES, seed=0, columns=["age"])
    assert out["age"].dtype == DF["age"].dtype and (out["age"] % 10 == 0).all()


# -- stale feed -----------------------------------------------------------------------------------------------------
def stale_frame(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, ShiftRoles]:
    rng = np.random.default_rng(seed)
    when = pd.Timestamp("2025-03-01") + pd.to_timedelta(np.sort(rng.uniform(0, 90, n)), unit="D")
    df = pd.DataFrame({"event_time": when, "amount": rng.lognormal(7, 0.5, n)})
    df["days_since_launch"] = (df["event_time"] - pd.Timestamp("2024-01-01")).dt.days  # derived from the time
    df = df.sample(frac=1, random_state=seed).reset_index(drop=True)  # rows not in time order
    roles = ShiftRoles(["amount", "days_since_launch"], ["amount", "days_since_launch"], [], timestamp="event_time")
    return df, roles


def test_stale_feed_freezes_the_time_and_what_moves_with_it():
    df, roles = stale_frame()
    out, info = S.apply("stale_feed", df, 0.25, roles=roles, seed=0)
    assert info["columns"] == ["event_time", "days_since_launch"]
    frozen = newest(df, 0.25, "event_time")
    last = df.loc[~frozen, "event_time"].idxmax()  # the last row before the freeze
    assert frozen.sum() == round(0.25 * len(df)) == info["rows_affected"]
    assert (out.loc[frozen, "event_time"] == df.loc[last, "event_time"]).all()
    assert (out.loc[frozen, "days_since_launch"] == df.loc[last, "days_since_launch"]).all()
    pd.testing.assert_frame_equal(out[~frozen], df[~frozen])
    assert out["amount"].equals(df["amount"])  # not derived from the time: untouched
    # a date column is the event time when no timestamp is declared
    _, info = S.apply("stale_feed", df, 0.5, seed=0)
    assert info["applied"] is True and info["effect"]["timestamp"] == "event_time"


def test_stale_feed_without_a_timestamp_is_not_applicable():
    out, info = S.apply("stale_feed", DF.drop(columns="applied_at"), 0.5, roles=ROLES, seed=0)
    assert info["applied"] is False and "no timestamp column" in info["reason"] and "data.timestamp" in info["reason"]


# -- delayed join ---------------------------------------------------------------------------------------------------
def test_delayed_join_empties_the_joined_features_of_the_newest_rows():
    out, info = S.apply("delayed_join", DF, 0.3, roles=ROLES, seed=0)
    assert info["columns"] == ["purpose", "housing"]  # the last third of the features
    late = newest(DF, 0.3)
    assert out.loc[late, ["purpose", "housing"]].isna().all().all()
    assert out.loc[~late, ["purpose", "housing"]].equals(DF.loc[~late, ["purpose", "housing"]])
    assert out[["amount", "age", "rate", "label"]].equals(DF[["amount", "age", "rate", "label"]])
    # without a timestamp, the last rows of the batch are the newest
    plain = DF.drop(columns="applied_at")
    out, info = S.apply("delayed_join", plain, 0.3, roles=ROLES, seed=0, columns=["age"])
    k = round(0.3 * len(plain))
    assert out["age"].iloc[-k:].isna().all() and out["age"].iloc[:-k].notna().all()
    assert info["effect"]["newest_by"] == "row order" and out["age"].dtype == float


# -- label delay ----------------------------------------------------------------------------------------------------
def test_label_delay_keeps_labels_of_the_oldest_rows_only():
    out, info = S.apply("label_delay", DF, 1.0, roles=ROLES, seed=0)
    unlabeled = newest(DF, 0.9)
    assert out.loc[unlabeled, "label"].isna().all()
    assert out.loc[~unlabeled, "label"].equals(DF.loc[~unlabeled, "label"]) and (~unlabeled).sum() == 40
    assert info["effect"]["labeled_share"] == pytest.approx(0.1)
    feats = ROLES.features + ["applied_at"]
    pd.testing.assert_frame_equal(out[feats], DF[feats])  # the inputs are untouched
    reg = DF.assign(y=np.arange(len(DF)))
    roles = ShiftRoles(ROLES.features, ROLES.numeric, ROLES.categorical, target="y", task="regression",
                       timestamp="applied_at")
    out, _ = S.apply("label_delay", reg, 0.5, roles=roles, seed=0)
    assert out["y"].isna().sum() == round(0.45 * len(DF))


def test_label_delay_needs_a_target():
    _, info = S.apply("label_delay", DF.drop(columns="label"), 0.5, roles=ROLES, seed=0)
    assert info["applied"] is False and "target" in info["reason"]


# -- upstream default -----------------------------------------------------------------------------------------------
def test_upstream_default_writes_zero_and_empty_text_in_the_same_rows():
    out, info = S.apply("upstream_default", DF, 0.2, roles=ROLES, seed=0)
    assert info["columns"] == ["amount", "purpose"]
    hit = out["amount"] == 0
    assert hit.sum() == round(0.2 * len(DF)) == info["rows_affected"]
    assert (out.loc[hit, "purpose"] == "").all() and (out["purpose"] == "").sum() == hit.sum()
    assert out["amount"].notna().all()  # nothing is missing: the default looks like a value
    ints, _ = S.apply("upstream_default", DF, 0.5, roles=ROLES, seed=0, columns=["age"])
    assert ints["age"].dtype == DF["age"].dtype and (ints["age"] == 0).sum() == round(0.5 * len(DF))


def test_upstream_default_writes_1900_in_a_date_feature_and_keeps_categories():
    when = pd.Series(pd.date_range("2024-01-01", periods=50, freq="D"))
    df = pd.DataFrame({"opened": when, "kind": pd.Categorical(["a", "b"] * 25)})
    roles = ShiftRoles(["opened"], [], [])
    out, info = S.apply("upstream_default", df, 1.0, roles=roles, seed=0)
    assert info["columns"] == ["opened"] and (out["opened"] == pd.Timestamp("1900-01-01")).all()
    out, _ = S.apply("upstream_default", df, 1.0, seed=0, columns=["kind"])
    assert (out["kind"] == "").all()


# -- every fault on data it has never seen -------------------------------------------------------------------------
def unseen_frames() -> dict[str, tuple[pd.DataFrame, object]]:
    rng = np.random.default_rng(7)
    n = 120
    odd = pd.DataFrame({
        "Betrag (€)": rng.lognormal(5, 1, n), "n kids": rng.integers(0, 4, n), "flat": 3.0, "void": np.nan,
        "ok?": rng.random(n) < 0.5, "tier": pd.Categorical(rng.choice(["Gold", "Silver"], n)),
        "seen": pd.date_range("2024-05-01", periods=n, freq="6h", tz="Europe/Berlin"),
        "score": pd.array(rng.integers(0, 9, n), dtype="Int64"), "note": rng.choice(["a b", "", None], n),
    }, index=[f"r{i}" for i in range(n)])
    odd["score2"] = odd["Betrag (€)"] * 2 + rng.normal(0, 1, n)
    return {
        "odd dtypes, no roles": (odd, None),
        "numbers only": (pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n) * 1e9}), None),
        "categories only": (pd.DataFrame({"x": rng.choice(list("pq"), n), "y": rng.choice(["1", "2", "3"], n)}), None),
        "constant": (pd.DataFrame({"a": np.ones(n), "b": ["same"] * n, "c": np.zeros(n, dtype=int)}), None),
        "all missing": (pd.DataFrame({"a": np.full(n, np.nan), "b": pd.Series([None] * n, dtype=object)}), None),
        "two rows": (pd.DataFrame({"a": [1.5, 2.5], "b": ["u", "v"], "t": [0, 1]}),
                     ShiftRoles(["a", "b"], ["a"], ["b"], target="t", task="binary", classes=[0, 1],
                                positive_label=1)),
        "one row": (pd.DataFrame({"a": [1.0], "b": ["u"]}), None),
    }


UNSEEN = unseen_frames()


@pytest.mark.parametrize("frame", list(UNSEEN))
@pytest.mark.parametrize("name", list(S.SHIFTS))
def test_every_fault_runs_on_data_it_has_never_seen(name, frame):
    df, roles = UNSEEN[frame]
    before = df.copy()
    for severity in (0.0, 0.4, 1.0):
        out, info = S.apply(name, df, severity, roles=roles, seed=5)
        again, info2 = S.apply(name, df, severity, roles=roles, seed=5)
        pd.testing.assert_frame_equal(out, again)
        assert repr(info) == repr(info2)  # (repr: a NaN in an effect is not equal to itself)
        pd.testing.assert_frame_equal(df, before)  # pure
        assert isinstance(out, pd.DataFrame) and len(out) == len(df)
        if not info["applied"]:
            assert isinstance(info["reason"], str) and info["reason"] and out.equals(df)
        if severity == 0.0:
            assert out.equals(df)


def test_docs_faults_md_is_generated_from_the_catalogue():
    from pathlib import Path

    doc = Path(__file__).resolve().parent.parent / "docs" / "faults.md"
    assert doc.read_text(encoding="utf-8") == S.to_markdown(), \
        "docs/faults.md is stale: run python -m playbook.drift.shifts > docs/faults.md"
    assert all(f"`{name}`" in doc.read_text(encoding="utf-8") for name in S.SHIFTS)
