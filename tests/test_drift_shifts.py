"""Shift injectors and timelines: identity at severity 0, schema, determinism, the stated effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from playbook.drift import shifts as S
from playbook.drift import timeline as T
from playbook.drift.shifts import ShiftRoles


def make_frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, ShiftRoles]:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(7, 0.6, n).round(2)
    df = pd.DataFrame({
        "amount": amount,                                     # main numeric (most distinct values)
        "age": rng.integers(18, 80, n),                       # integer feature
        "rate": rng.integers(1, 5, n),
        "purpose": rng.choice(["car", "tv", "education", "repairs", "business"], n, p=[.4, .3, .15, .1, .05]),
        "housing": rng.choice(["own", "rent"], n),
    })
    y = np.where(rng.random(n) < 0.3, "bad", "good")
    df["label"] = y
    # the rate follows the amount's quartile in half the rows (the correlated pair a correlation break unpairs)
    df["rate"] = np.where(df["rate"] <= 2, pd.qcut(df["amount"], 4, labels=False) + 1, df["rate"])
    # the event time (not a feature), in no particular row order: "newest rows" are not the last ones
    df["applied_at"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.permutation(n), unit="h")
    roles = ShiftRoles(features=["amount", "age", "rate", "purpose", "housing"], numeric=["amount", "age", "rate"],
                       categorical=["purpose", "housing"], target="label", task="binary",
                       classes=["bad", "good"], positive_label="bad", timestamp="applied_at")
    return df, roles


DF, ROLES = make_frame()


@pytest.mark.parametrize("name", list(S.SHIFTS))
def test_severity_zero_is_identity_and_input_untouched(name):
    before = DF.copy()
    out, info = S.apply(name, DF, 0.0, roles=ROLES, seed=3)
    assert out.equals(DF)
    assert out is not DF
    assert info["applied"] is True and info["rows_affected"] == 0
    shifted, _ = S.apply(name, DF, 0.7, roles=ROLES, seed=3)
    assert DF.equals(before)  # pure: the input frame is never modified
    assert not shifted.equals(DF)  # and severity > 0 changes something


@pytest.mark.parametrize("name", list(S.SHIFTS))
def test_seeded_determinism_and_schema(name):
    a, ia = S.apply(name, DF, 0.6, roles=ROLES, seed=11)
    b, ib = S.apply(name, DF, 0.6, roles=ROLES, seed=11)
    pd.testing.assert_frame_equal(a, b)
    assert ia == ib
    assert len(a) == len(DF)  # every injector keeps the row count
    spec = S.SHIFTS[name]
    if spec.changes_schema:
        assert list(a.columns) != list(DF.columns)
    else:
        assert list(a.columns) == list(DF.columns)
    assert spec.story and len(spec.story) > 60, "every shift documents its production story"


def test_random_shifts_depend_on_the_seed():
    a, _ = S.apply("missing_mcar", DF, 0.3, roles=ROLES, seed=1)
    b, _ = S.apply("missing_mcar", DF, 0.3, roles=ROLES, seed=2)
    assert not a["amount"].isna().equals(b["amount"].isna())


def test_mean_shift_moves_the_mean_by_the_stated_amount():
    out, info = S.apply("mean_shift", DF, 0.5, roles=ROLES, seed=0)
    sd = DF["amount"].std()
    assert out["amount"].mean() - DF["amount"].mean() == pytest.approx(2 * 0.5 * sd, rel=1e-9)
    assert info["effect"]["amount"]["mean_delta"] == pytest.approx(sd)
    # integers stay integers, the mean moves by the rounded amount
    assert out["age"].dtype == DF["age"].dtype
    assert abs(out["age"].mean() - DF["age"].mean() - DF["age"].std()) <= 0.5


def test_scale_change_multiplies_the_spread():
    out, _ = S.apply("scale_change", DF, 1.0, roles=ROLES, seed=0)
    assert out["amount"].std() == pytest.approx(3 * DF["amount"].std(), rel=1e-9)
    assert out["amount"].mean() == pytest.approx(DF["amount"].mean(), rel=1e-9)


@pytest.mark.parametrize("name,factor", [("unit_change_up", 1000.0), ("unit_change_down", 0.01)])
def test_unit_change_scales_a_share_of_rows(name, factor):
    out, info = S.apply(name, DF, 0.25, roles=ROLES, seed=0)
    assert info["columns"] == ["amount"]
    ratio = out["amount"] / DF["amount"]
    changed = ~np.isclose(ratio, 1.0)
    assert changed.sum() == round(0.25 * len(DF)) == info["rows_affected"]
    assert np.allclose(ratio[changed], factor)


def test_category_frequency_moves_mass_to_the_rarest_category():
    out, info = S.apply("category_frequency", DF, 0.5, roles=ROLES, seed=0)
    eff = info["effect"]["purpose"]
    assert eff["category"] == "business"
    expected = eff["share_before"] + 0.5 * (1 - eff["share_before"])
    assert eff["share_after"] == pytest.approx(expected, abs=0.06)
    assert set(out["purpose"]) <= set(DF["purpose"])


def test_new_category_introduces_an_unseen_label():
    out, info = S.apply("new_category", DF, 0.2, roles=ROLES, seed=0)
    new = ~out["purpose"].isin(DF["purpose"].unique())
    assert new.sum() == round(0.2 * len(DF))
    assert set(out.loc[new, "purpose"]) == {"purpose__new"}


def test_missing_mcar_empties_the_same_rows_in_two_columns():
    out, info = S.apply("missing_mcar", DF, 0.3, roles=ROLES, seed=0)
    assert info["columns"] == ["amount", "purpose"]
    assert out["amount"].isna().sum() == round(0.3 * len(DF))
    assert out["amount"].isna().equals(out["purpose"].isna())


def test_missing_mnar_removes_the_largest_values():
    out, _ = S.apply("missing_mnar", DF, 0.2, roles=ROLES, seed=0)
    gone = out["amount"].isna()
    assert gone.sum() == round(0.2 * len(DF))
    assert DF.loc[gone, "amount"].min() >= DF.loc[~gone, "amount"].max()
    assert out["amount"].mean() < DF["amount"].mean()


def test_outliers_are_far_above_the_maximum():
    out, info = S.apply("outliers", DF, 0.5, roles=ROLES, seed=0)
    changed = out["amount"] != DF["amount"]
    assert changed.sum() == round(0.1 * 0.5 * len(DF))
    assert (out.loc[changed, "amount"] >= DF["amount"].max() + 5 * DF["amount"].std()).all()


def test_stuck_values_repeat_one_value_at_the_end():
    out, info = S.apply("stuck_values", DF, 0.25, roles=ROLES, seed=0)
    k = round(0.25 * len(DF))
    tail = out["amount"].iloc[-k:]
    assert tail.nunique() == 1 and tail.iloc[0] == DF["amount"].iloc[len(DF) - k - 1]
    assert out["amount"].iloc[:-k].equals(DF["amount"].iloc[:-k])


def test_swapped_columns_exchange_values():
    out, info = S.apply("swapped_columns", DF, 1.0, roles=ROLES, seed=0)
    a, b = info["columns"]
    assert (a, b) == ("amount", "age")
    assert np.allclose(out[a], DF[b]) and np.allclose(out[b], DF[a])


def test_dropped_and_renamed_columns():
    out, info = S.apply("dropped_column", DF, 1.0, roles=ROLES, seed=0)
    assert len(info["columns"]) == max(1, round(0.25 * 5)) and not set(info["columns"]) & set(out.columns)
    out, info = S.apply("renamed_column", DF, 0.1, roles=ROLES, seed=0)
    (old,) = info["columns"]
    assert old not in out.columns and f"{old}_v2" in out.columns


def test_type_change_turns_numbers_into_text():
    out, _ = S.apply("type_change", DF, 0.5, roles=ROLES, seed=0)
    is_text = out["amount"].map(lambda v: isinstance(v, str))
    assert is_text.sum() == round(0.5 * len(DF))
    assert np.allclose(out["amount"].astype(float), DF["amount"])  # the text still holds the numbers


def test_duplicated_rows_keep_the_row_count():
    out, info = S.apply("duplicated_rows", DF, 1.0, roles=ROLES, seed=0)
    assert len(out) == len(DF)
    assert out.duplicated().sum() >= 0.45 * len(DF)
    assert DF.duplicated().sum() == 0


def test_prior_shift_sets_the_class_share():
    out, info = S.apply("prior_shift", DF, 0.5, roles=ROLES, seed=0)
    p0 = (DF["label"] == "bad").mean()
    assert (out["label"] == "bad").mean() == pytest.approx(p0 + 0.5 * (0.8 - p0), abs=1 / len(DF))


def test_concept_drift_changes_labels_not_features():
    out, info = S.apply("concept_drift", DF, 1.0, roles=ROLES, seed=0)
    feats = ROLES.features
    pd.testing.assert_frame_equal(out[feats], DF[feats])  # P(x) untouched
    region = DF["amount"] > DF["amount"].median()
    assert (out.loc[region, "label"] == "bad").all()
    assert out.loc[~region, "label"].equals(DF.loc[~region, "label"])


def test_concept_drift_for_regression_changes_the_slope():
    df = DF.drop(columns="label").assign(y=np.arange(len(DF), dtype=float))
    roles = ShiftRoles(ROLES.features, ROLES.numeric, ROLES.categorical, target="y", task="regression")
    out, _ = S.apply("concept_drift", df, 0.5, roles=roles, seed=0)
    z = (df["amount"] - df["amount"].mean()) / df["amount"].std()
    assert np.allclose(out["y"] - df["y"], 2 * 0.5 * df["y"].std() * z)


def test_shifts_that_cannot_apply_are_skipped_with_a_reason():
    cats = DF[["purpose", "housing"]]
    out, info = S.apply("unit_change_up", cats, 0.5, seed=0)
    assert info["applied"] is False and "numeric" in info["reason"] and out.equals(cats)
    reg = ShiftRoles(ROLES.features, ROLES.numeric, ROLES.categorical, target="label", task="regression")
    _, info = S.apply("prior_shift", DF, 0.5, roles=reg, seed=0)
    assert info["applied"] is False and "regression" in info["reason"]
    _, info = S.apply("concept_drift", DF.drop(columns="label"), 0.5, roles=ROLES, seed=0)
    assert info["applied"] is False and "target" in info["reason"]


def test_bad_input_messages():
    with pytest.raises(S.ShiftError, match="valid names are: mean_shift, scale_change"):
        S.apply("mean_shfit", DF, 0.5)
    with pytest.raises(S.ShiftError, match="unknown shifts 'a', 'b'"):
        S.check_names(["a", "mean_shift", "b"])
    with pytest.raises(S.ShiftError, match="between 0 and 1"):
        S.apply("mean_shift", DF, 1.5)
    with pytest.raises(S.ShiftError, match="not in the data"):
        S.apply("outliers", DF, 0.5, columns=["nope"])


def test_roles_from_playbook_roles_and_none():
    from playbook.data import Roles

    r = Roles(target="label", task="binary", features=ROLES.features, numeric=ROLES.numeric,
              categorical=ROLES.categorical, positive_label="bad", classes=["bad", "good"])
    a, _ = S.apply("prior_shift", DF, 0.5, roles=r, seed=0)
    b, _ = S.apply("prior_shift", DF, 0.5, roles=ROLES, seed=0)
    pd.testing.assert_frame_equal(a, b)
    out, info = S.apply("mean_shift", DF[["amount", "purpose"]], 0.5, seed=0)  # roles inferred
    assert info["columns"] == ["amount"]


def test_describe_lists_every_shift():
    d = S.describe()
    assert list(d["shift"]) == list(S.SHIFTS) and len(d) == 25
    assert d["story"].str.len().min() > 60


# -- timelines ---------------------------------------------------------------------------------
def test_schedules():
    sudden = T.schedule("sudden", 10, onset=4, severity=0.8)
    assert sudden == [0.0] * 4 + [0.8] * 6
    gradual = T.schedule("gradual", 10, onset=4, severity=1.0)
    assert gradual[:4] == [0.0] * 4 and gradual[-1] == 1.0
    assert all(b >= a for a, b in zip(gradual, gradual[1:]))
    rec = T.schedule("recurring", 20, onset=2, severity=1.0, period=6)
    assert rec[2] == 0.0 and rec[8] == 0.0 and rec[5] == pytest.approx(1.0)
    assert max(rec) == pytest.approx(1.0) and min(rec[2:]) == 0.0
    with pytest.raises(T.TimelineError, match="use one of sudden, gradual, recurring"):
        T.schedule("weekly", 10)
    with pytest.raises(T.TimelineError, match="onset"):
        T.schedule("sudden", 10, onset=12)


def test_batches_share_the_clean_days_and_are_deterministic():
    a = T.batches(DF, "unit_change_up", "sudden", n_batches=6, batch_size=50, onset=3, roles=ROLES, seed=5)
    b = T.batches(DF, "missing_mcar", "gradual", n_batches=6, batch_size=50, onset=3, roles=ROLES, seed=5)
    assert len(a) == 6 and all(len(f) == 50 for f in a)
    for d in range(3):
        pd.testing.assert_frame_equal(a[d], b[d])  # clean days do not depend on the shift
    assert (a[3]["amount"] > DF["amount"].max()).all()  # sudden: full strength at the onset
    again = T.batches(DF, "unit_change_up", "sudden", n_batches=6, batch_size=50, onset=3, roles=ROLES, seed=5)
    for x, y in zip(a, again):
        pd.testing.assert_frame_equal(x, y)
    frames, infos = T.batches(DF, "outliers", "recurring", n_batches=6, batch_size=800, onset=1, period=4,
                              roles=ROLES, seed=0, with_info=True)
    assert len(frames[0]) == 800  # larger than the pool: drawn with replacement
    assert [i["severity"] for i in infos] == T.schedule("recurring", 6, 1, 1.0, 4)


def test_time_to_detection():
    assert T.time_to_detection([True, False, False, True], onset=1) == 2
    assert T.time_to_detection([True, False, False], onset=1) is None
    assert T.time_to_detection([False, True], onset=1) == 0
