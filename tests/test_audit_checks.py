"""Unit tests of the data audit checks: each on small frames built to trip it and not to trip it."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from playbook import audit, catalogue
from playbook.audit import completeness, contamination, freshness, schema, target, uniqueness, validity
from playbook.audit import leakage as lk
from playbook.config import DataSettings
from playbook.data import resolve_roles


def roles_for(ref, cur=None, target="y", **kw):
    settings = DataSettings(reference="", current="", target=target, **kw)
    return resolve_roles(ref, ref if cur is None else cur, settings)


def prep(ref, cur=None, roles=None, target="y", role_kw=None, **params):
    cur = ref.copy() if cur is None else cur
    roles = roles or roles_for(ref, cur, target=target, **(role_kw or {}))
    return audit.prepare(ref, cur, roles, audit.AuditParams(**params))


def by_id(checks, cid):
    found = [c for c in checks if c["id"] == cid]
    assert found, f"no check {cid}; got {[c['id'] for c in checks]}"
    return found[0]


def base_frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "a": rng.normal(50, 10, n).round(3),
        "b": rng.choice(["x", "y", "z"], n),
        "c": rng.integers(0, 100, n),
        "y": rng.choice(["no", "yes"], n, p=[0.7, 0.3]),
    })


# -- parameters ---------------------------------------------------------------------------------
def test_params_validate_shares_and_run_date():
    with pytest.raises(ValueError, match="max_missing_share"):
        audit.AuditParams(max_missing_share=1.5)
    with pytest.raises(ValueError, match="run_date"):
        audit.AuditParams(run_date="not a date")
    with pytest.raises(ValueError, match="leakage_folds"):
        audit.AuditParams(leakage_folds=1)
    with pytest.raises(ValueError, match="max_categories"):
        audit.AuditParams(max_categories="many")
    p = audit.AuditParams.from_mapping({"max_categories": 30.0, "config": "x.yaml", "run_date": "2024-06-30"}, seed=3)
    assert p.max_categories == 30 and isinstance(p.max_categories, int)
    assert p.run_day == pd.Timestamp("2024-06-30") and p.seed == 3
    import datetime
    assert audit.AuditParams(run_date=datetime.date(2024, 6, 30)).run_date == "2024-06-30"  # unquoted YAML date
    with pytest.raises(ValueError, match="quote the date"):
        audit.AuditParams(run_date=1988)


# -- schema ---------------------------------------------------------------------------------------
def test_schema_types_flags_kind_change_only_when_kinds_differ():
    ref = base_frame()
    same = by_id(schema.schema_checks(prep(ref)), "data.schema.types")
    assert same["status"] == "pass" and same["value"] == 0 and same["threshold"] == {"max": 0}
    assert {d["column"]: d["kind_reference"] for d in same["details"]} == {
        "a": "numeric", "b": "categorical", "c": "numeric", "y": "categorical"}
    cur = ref.copy()
    cur["a"] = cur["a"].astype(str).where(cur.index % 7 != 0, "abc")
    changed = by_id(schema.schema_checks(prep(ref, cur)), "data.schema.types")
    assert changed["status"] == "warn" and changed["value"] == 1 and "a" in changed["why"]
    assert [d["column"] for d in changed["details"] if d["changed"]] == ["a"]


def test_mixed_types_trips_on_numbers_and_words_and_python_types():
    ref = base_frame()
    words = ["red", "green", "blue"] * 40
    nums = [str(i) for i in range(80)]
    ref["m"] = words + nums
    ref["obj"] = pd.Series([1, 2, 3, "x", "y"] * 40, dtype=object)
    res = schema.mixed_types(prep(ref), "reference")
    cols = {r["column"] for r in res["details"]}
    assert res["status"] == "warn" and cols == {"m", "obj"}
    assert res["id"] == "data.schema.mixed_types.reference"
    clean = base_frame()
    assert schema.mixed_types(prep(clean), "reference")["status"] == "pass"


def test_numeric_as_text_trips_and_reports_the_stray_values():
    ref = base_frame()
    ref["amount"] = [f"{i},000" if i % 50 == 0 else str(i) for i in range(199)] + ["oops"]
    res = schema.numeric_as_text(prep(ref), "current")
    assert res["status"] == "warn" and res["value"] == 1
    assert res["details"][0]["column"] == "amount" and res["details"][0]["non_numeric_examples"] == ["oops"]
    assert schema.numeric_as_text(prep(base_frame()), "current")["status"] == "pass"


def test_examples_of_pii_columns_are_masked():
    ref = base_frame()
    ref["amount"] = [str(i) for i in range(199)] + ["secret"]
    data = audit.prepare(ref, ref, roles_for(ref), audit.AuditParams(), pii=["amount"])
    assert schema.numeric_as_text(data, "reference")["details"][0]["non_numeric_examples"] == ["<redacted>"]


# -- completeness ---------------------------------------------------------------------------------
def test_disguised_missing_found_in_text_and_numbers_and_cleaned():
    ref = base_frame()
    ref.loc[:9, "b"] = "?"
    ref.loc[10:14, "b"] = " NA "
    ref.loc[:3, "c"] = -999
    data = prep(ref)
    res = completeness.disguised_missing(data, "reference")
    found = {(d["column"], d["marker"]): d["count"] for d in res["details"]}
    assert found == {("b", "?"): 10, ("b", "NA"): 5, ("c", -999): 4}
    assert res["status"] == "warn" and res["value"] == pytest.approx(19 / ref.size)
    clean = data.clean["reference"]
    assert clean["b"].isna().sum() == 15 and clean["c"].isna().sum() == 4
    assert "?" not in set(clean["b"].dropna())
    ok = completeness.disguised_missing(prep(base_frame()), "reference")
    assert ok["status"] == "pass" and ok["value"] == 0


def test_disguised_missing_respects_custom_markers():
    ref = base_frame()
    ref.loc[:9, "b"] = "unknown"
    assert completeness.disguised_missing(prep(ref), "reference")["status"] == "pass"
    assert completeness.disguised_missing(prep(ref, missing_markers=["unknown"]), "reference")["status"] == "warn"


def test_missing_share_counts_nulls_and_placeholders_but_not_the_target():
    ref = base_frame(100)
    ref.loc[:29, "a"] = np.nan            # 30 cells
    ref.loc[:9, "b"] = "?"                # 10 cells
    ref.loc[:49, "y"] = np.nan            # target: excluded here
    res = completeness.missing_share(prep(ref, roles=roles_for(base_frame(100))), "reference")
    assert res["value"] == pytest.approx(40 / 300) and res["status"] == "warn"
    assert completeness.missing_share(prep(base_frame()), "reference")["status"] == "pass"


def test_column_missing_trips_on_a_mostly_empty_column():
    ref = base_frame(100)
    ref.loc[:59, "a"] = np.nan
    res = completeness.column_missing(prep(ref), "current")
    assert res["status"] == "warn" and res["value"] == pytest.approx(0.6)
    assert res["details"][0]["column"] == "a"
    ref2 = base_frame(100)
    ref2.loc[:9, "a"] = np.nan
    assert completeness.column_missing(prep(ref2), "current")["status"] == "pass"


# -- uniqueness -------------------------------------------------------------------------------------
def test_duplicate_rows():
    ref = base_frame(100)
    dup = pd.concat([ref, ref.iloc[:5]], ignore_index=True)
    res = uniqueness.duplicate_rows(prep(dup), "reference")
    assert res["status"] == "warn" and res["value"] == pytest.approx(5 / 105)
    assert uniqueness.duplicate_rows(prep(ref), "reference")["status"] == "pass"


def test_duplicate_ids_fail_and_skip_without_ids():
    ref = base_frame(50)
    ref["cid"] = range(50)
    ok = uniqueness.duplicate_ids(prep(ref, role_kw={"id": ["cid"]}), "reference")
    assert ok["status"] == "pass" and ok["value"] == 0
    ref.loc[1, "cid"] = 0
    bad = uniqueness.duplicate_ids(prep(ref, role_kw={"id": ["cid"]}), "reference")
    assert bad["status"] == "fail" and bad["details"][0]["duplicate_rows"] == 1
    skipped = uniqueness.duplicate_ids(prep(base_frame()), "reference")
    assert skipped["status"] == "skip" and skipped["not_applicable"] is True


def test_conflicting_labels():
    ref = base_frame(100)
    twin = ref.iloc[:10].copy()
    twin["y"] = np.where(twin["y"] == "yes", "no", "yes")
    res = uniqueness.conflicting_labels(prep(pd.concat([ref, twin], ignore_index=True)), "reference")
    assert res["status"] == "warn" and res["value"] == pytest.approx(20 / 110)
    assert uniqueness.conflicting_labels(prep(ref), "reference")["status"] == "pass"
    reg = base_frame(100)
    reg["y"] = np.random.default_rng(1).normal(size=100)
    na = uniqueness.conflicting_labels(prep(reg), "reference")
    assert na["status"] == "skip" and na["not_applicable"] is True
    unlabelled = ref.assign(y=np.nan)
    no_labels = uniqueness.conflicting_labels(prep(ref, unlabelled, roles=roles_for(ref)), "current")
    assert no_labels["status"] == "skip" and "not_applicable" not in no_labels      # evidence missing, not n/a


# -- validity ------------------------------------------------------------------------------------------
def test_constant_and_near_constant():
    ref = base_frame(1000)
    ref["k"] = 7
    ref["nk"] = ["a"] * 995 + ["b"] * 5
    data = prep(ref)
    const = validity.constant_columns(data, "reference")
    near = validity.near_constant_columns(data, "reference")
    assert const["status"] == "warn" and [d["column"] for d in const["details"]] == ["k"]
    assert near["status"] == "warn" and [d["column"] for d in near["details"]] == ["nk"]
    data = prep(base_frame(1000))
    assert validity.constant_columns(data, "current")["status"] == "pass"
    assert validity.near_constant_columns(data, "current")["status"] == "pass"


def test_high_cardinality():
    ref = base_frame(500)
    ref["city"] = [f"city{i % 120}" for i in range(500)]
    res = validity.high_cardinality(prep(ref), "reference")
    assert res["status"] == "warn" and res["details"] == [{"column": "city", "distinct": 120}]
    assert validity.high_cardinality(prep(ref, max_categories=200), "reference")["status"] == "pass"


def test_outliers_use_reference_fences_so_a_unit_change_trips_current():
    ref = base_frame(500)
    cur = ref.copy()
    cur.loc[:49, "a"] = cur.loc[:49, "a"] * 1000  # grams instead of kilograms for 10 % of rows
    data = prep(ref, cur)
    assert validity.outliers(data, "reference")["status"] == "pass"
    res = validity.outliers(data, "current")
    assert res["status"] == "warn" and res["value"] == pytest.approx(0.1)    # the worst column's share
    row = [d for d in res["details"] if d["column"] == "a"][0]
    assert row["outliers"] == 50 and row["high_fence"] < 200


def test_outlier_fences_are_robust_and_handle_degenerate_columns():
    s = pd.Series(list(range(100)) + [10_000])
    lo, hi = validity.outlier_fences(s)
    assert hi < 10_000 and lo < 0
    assert validity.outlier_fences(pd.Series([1.0] * 50)) is None


def test_infinite_values_fail():
    ref = base_frame(100)
    ref.loc[3, "a"] = np.inf
    ref.loc[4, "a"] = -np.inf
    res = validity.infinite_values(prep(ref), "reference")
    assert res["status"] == "fail" and res["value"] == 2
    assert validity.infinite_values(prep(base_frame()), "reference")["status"] == "pass"


def _timed(n=100, start="2024-01-01"):
    df = base_frame(n)
    df["ts"] = pd.date_range(start, periods=n, freq="D").strftime("%Y-%m-%d")
    return df


def test_timestamp_validity_unparseable_and_future():
    ref = _timed()
    cur = _timed(start="2024-05-01")
    cur.loc[:4, "ts"] = "not a date"
    data = prep(ref, cur, role_kw={"timestamp": "ts"}, run_date="2024-06-30")
    res = {c["id"]: c for c in validity.timestamp_validity(data, "current")}
    unp, fut = res["data.validity.unparseable_timestamps.current"], res["data.validity.future_timestamps.current"]
    assert unp["status"] == "warn" and unp["details"][0]["unparseable"] == 5
    # 2024-05-01 + 99 days = 2024-08-08: 39 days after the run date
    assert fut["status"] == "warn" and fut["details"][0]["future"] == 39
    assert fut["threshold"]["after"] == "run_date 2024-06-30"
    ok = {c["id"]: c for c in validity.timestamp_validity(prep(ref, role_kw={"timestamp": "ts"}, run_date="2025-01-01"), "reference")}
    assert {c["status"] for c in ok.values()} == {"pass"}
    skipped = validity.timestamp_validity(prep(base_frame()), "reference")
    assert {c["status"] for c in skipped} == {"skip"} and all(c["not_applicable"] for c in skipped)


def test_datetime_looking_columns_are_checked_without_a_timestamp_role():
    ref = _timed()
    ref.loc[0, "ts"] = "2999-01-01"
    res = {c["id"]: c for c in validity.timestamp_validity(prep(ref, run_date="2025-01-01"), "reference")}
    assert res["data.validity.future_timestamps.reference"]["status"] == "warn"


# -- target -------------------------------------------------------------------------------------------------
def test_target_missing_fail_warn_pass():
    ref = base_frame(200)
    roles = roles_for(ref)
    cur = ref.copy()
    cur.loc[:9, "y"] = np.nan      # 5 %
    res = target.target_missing(prep(ref, cur, roles=roles))
    assert res["status"] == "fail" and res["value"] == pytest.approx(0.05)
    cur2 = ref.copy()
    cur2.loc[0, "y"] = "?"         # a placeholder label counts as missing: 0.5 %, under the threshold
    res2 = target.target_missing(prep(ref, cur2, roles=roles))
    assert res2["status"] == "warn" and res2["value"] == pytest.approx(0.005)
    assert target.target_missing(prep(ref))["status"] == "pass"


def test_target_missing_ignores_a_current_without_target():
    ref = base_frame()
    res = target.target_missing(prep(ref, ref.drop(columns="y"), roles=roles_for(ref)))
    assert res["status"] == "pass" and res["details"][1]["note"] == "no target column"


def test_class_balance_and_unseen_labels():
    ref = base_frame(1000)
    ref["y"] = ["rare"] * 20 + ["common"] * 980
    cur = ref.copy()
    cur.loc[:4, "y"] = "brand_new"
    data = prep(ref, cur, roles=roles_for(ref))
    bal = target.target_balance(data, "reference")
    assert bal["status"] == "warn" and bal["value"] == pytest.approx(0.02) and "rare" in bal["why"]
    unseen = target.unseen_labels(data)
    assert unseen["status"] == "fail" and unseen["value"] == 1
    data_ok = prep(base_frame(1000))
    assert target.target_balance(data_ok, "reference")["status"] == "pass"
    assert target.unseen_labels(data_ok)["status"] == "pass"


def test_target_distribution_for_regression():
    rng = np.random.default_rng(0)
    ref = base_frame(500)
    ref["y"] = rng.lognormal(0, 1.5, 500)
    checks = target.target_checks(prep(ref))
    ids = {c["id"] for c in checks}
    assert "data.target.distribution.reference" in ids and "data.target.balance.reference" not in ids
    assert by_id(checks, "data.target.distribution.reference")["status"] == "warn"
    ref["y"] = rng.normal(0, 1, 500)
    assert by_id(target.target_checks(prep(ref)), "data.target.distribution.reference")["status"] == "pass"


# -- leakage ---------------------------------------------------------------------------------------------------
def test_single_feature_leak_fails_and_is_named():
    ref = base_frame(400)
    rng = np.random.default_rng(5)
    ref["outcome_code"] = np.where(ref["y"] == "yes", "D", "C")          # a categorical copy of the label
    flip = rng.random(400) < 0.01
    ref.loc[flip, "outcome_code"] = "C"
    res = lk.single_feature(prep(ref))
    assert res["status"] == "fail" and res["value"] > 0.95
    assert res["details"][0]["feature"] == "outcome_code" and "outcome_code" in res["why"]
    honest = lk.single_feature(prep(base_frame(400)))
    assert honest["status"] == "pass" and honest["value"] < 0.75


def test_single_feature_numeric_leak_and_regression():
    ref = base_frame(400)
    rng = np.random.default_rng(2)
    ref["y"] = rng.normal(size=400)
    ref["y_copy"] = ref["y"] * 3 + rng.normal(scale=0.01, size=400)
    res = lk.single_feature(prep(ref))
    assert res["status"] == "fail" and res["threshold"]["metric"] == "r2"


def test_single_feature_regression_honest_driver_passes_leaked_copy_fails():
    # a price driven by floor area (R^2 about 0.96 from the area alone) is strong but honest; the same price in
    # another currency is the target itself
    rng = np.random.default_rng(7)
    ref = base_frame(1500)
    area = rng.gamma(4, 30, 1500)
    ref["Living Area (sqm)"] = area.round(1)
    ref["y"] = (area * 4200 + rng.integers(1, 7, 1500) * 15000 + rng.normal(0, 40000, 1500)).round(0)
    honest = lk.single_feature(prep(ref))
    assert honest["details"][0]["feature"] == "Living Area (sqm)"
    assert 0.9 < honest["value"] < 0.99 and honest["status"] == "pass"
    assert honest["threshold"]["max"] == 0.99
    ref["price_usd"] = (ref["y"] * 1.08).round(0)
    leaked = lk.single_feature(prep(ref))
    assert leaked["status"] == "fail" and leaked["details"][0]["feature"] == "price_usd"
    strict = lk.single_feature(prep(ref.drop(columns="price_usd"), leakage_max_r2=0.9))
    assert strict["status"] == "fail"                    # the bound is the parameter's


def test_single_feature_skips_when_a_class_is_too_small():
    ref = base_frame(100)
    ref["y"] = ["no"] * 99 + ["yes"]
    res = lk.single_feature(prep(ref))
    assert res["status"] == "skip" and "not_applicable" not in res     # the evidence could not be produced


def test_id_correlation_sorted_ids_trip_random_ids_pass():
    ref = base_frame(300).sort_values("y", kind="stable").reset_index(drop=True)
    ref["customer_id"] = np.arange(1000, 1300)           # numbered after sorting by outcome
    res = lk.id_correlation(prep(ref))
    assert res["status"] == "fail"                       # the id is a model feature
    names = {d["column"] for d in res["details"]}
    assert {"customer_id", lk.ROW_ORDER} <= names
    res_declared = lk.id_correlation(prep(ref, role_kw={"id": ["customer_id"]}))
    assert res_declared["status"] == "warn"              # not a feature, still a sorted file
    shuffled = ref.sample(frac=1, random_state=0).reset_index(drop=True)
    shuffled["customer_id"] = np.random.default_rng(0).permutation(300) + 1000
    assert lk.id_correlation(prep(shuffled))["status"] == "pass"


def test_id_like_columns():
    ref = base_frame(100)
    ref["row_key"] = np.arange(100) * 7                   # named like an id
    ref["seq"] = np.arange(100)                           # dense integer sequence
    ref["uuid_text"] = [f"u-{i:05d}" for i in range(100)]
    ref["measure"] = np.random.default_rng(0).normal(size=100)   # continuous: not an id
    found = {d["column"] for d in lk.id_like_columns(ref, roles_for(ref))}
    assert found == {"row_key", "seq", "uuid_text"}


# -- contamination ----------------------------------------------------------------------------------------------
def test_contamination_rows_and_ids():
    ref = base_frame(200)
    ref["cid"] = range(200)
    cur = base_frame(100, seed=9)
    cur["cid"] = range(1000, 1100)
    data = prep(ref, cur, role_kw={"id": ["cid"]})
    assert by_id(contamination.contamination_checks(data), "data.contamination")["status"] == "pass"
    assert by_id(contamination.contamination_checks(data), "data.contamination.ids")["status"] == "pass"
    cur2 = pd.concat([cur.iloc[:80], ref.iloc[:20]], ignore_index=True)
    cur2["c"] = cur2["c"].astype(float)                   # dtype differences must not hide copies
    res = contamination.contamination_checks(prep(ref, cur2, role_kw={"id": ["cid"]}))
    assert by_id(res, "data.contamination")["status"] == "fail"
    assert by_id(res, "data.contamination")["value"] == pytest.approx(0.2)
    assert by_id(res, "data.contamination.ids")["value"] == pytest.approx(0.2)
    assert by_id(res, "data.contamination.ids")["status"] == "warn"


# -- freshness ----------------------------------------------------------------------------------------------------
def test_freshness_skips_without_timestamp():
    res = freshness.freshness_checks(prep(base_frame()))
    assert {c["status"] for c in res} == {"skip"} and len(res) == 4
    assert all(c["not_applicable"] for c in res)
    assert by_id(res, "data.freshness.staleness")["threshold"] == {"max": 180.0, "unit": "days"}


def test_freshness_overlap_gap_and_staleness():
    ref = _timed(100, "2024-01-01")
    cur = _timed(60, "2024-03-01")                        # starts before the reference ends (2024-04-09)
    cur = cur[(cur.index < 10) | (cur.index > 40)]        # a 31-day hole
    data = prep(ref, cur, role_kw={"timestamp": "ts"}, run_date="2025-01-01")
    res = {c["id"]: c for c in freshness.freshness_checks(data)}
    assert res["data.freshness.coverage"]["status"] == "warn"
    assert res["data.freshness.coverage"]["value"] == pytest.approx(39.0)
    assert res["data.freshness.gaps.current"]["status"] == "warn"
    assert res["data.freshness.gaps.reference"]["status"] == "pass"
    stale = res["data.freshness.staleness"]
    assert stale["status"] == "warn" and stale["value"] == pytest.approx(267.0) and "run_date 2025-01-01" in stale["why"]


def test_staleness_without_run_date_is_relative_to_the_data_and_deterministic():
    ref = _timed(100, "2024-01-01")
    cur = _timed(30, "2024-05-01")
    data = prep(ref, cur, role_kw={"timestamp": "ts"})
    res = {c["id"]: c for c in freshness.freshness_checks(data)}
    stale = res["data.freshness.staleness"]
    assert stale["value"] == pytest.approx(51.0) and stale["status"] == "pass"
    assert "latest timestamp in the data" in stale["why"] and stale["threshold"]["as_of"] == "2024-05-30T00:00:00"
    assert res["data.freshness.coverage"]["status"] == "pass"


# -- whole audit ---------------------------------------------------------------------------------------------------
def test_run_audit_is_deterministic_and_ids_are_unique(tmp_path):
    ref = base_frame(300)
    ref.loc[:5, "b"] = "?"
    cur = base_frame(120, seed=3)
    roles = roles_for(ref, cur)
    a, contract_a = audit.run_audit(ref, cur, roles, out_dir=tmp_path / "a", report=False)
    b, contract_b = audit.run_audit(ref, cur, roles, out_dir=tmp_path / "b", report=False)
    ids = [c["id"] for c in a]
    assert len(ids) == len(set(ids))
    from playbook.results import to_jsonable
    assert json.dumps(to_jsonable(a), sort_keys=True) == json.dumps(to_jsonable(b), sort_keys=True)
    assert (tmp_path / "a/artifacts/audit_findings.json").read_bytes() == (tmp_path / "b/artifacts/audit_findings.json").read_bytes()
    assert contract_a == contract_b
    for c in a:
        assert c["status"] in ("pass", "warn", "fail", "skip") and c["why"]


def test_table_details_and_findings():
    checks = completeness.completeness_checks(prep(base_frame()))
    tab = audit.table(checks)
    assert list(tab.columns) == ["id", "status", "value", "threshold", "why"] and len(tab) == len(checks)
    with pytest.raises(KeyError, match="no check"):
        audit.details(checks, "data.nope")
    assert all(v for v in audit.findings(checks).values())


def test_whole_audit_survives_odd_dtypes_missing_columns_and_multiclass(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    ref = pd.DataFrame({
        "i": pd.array(rng.integers(0, 50, n), dtype="Int64"),
        "f": pd.array(rng.normal(size=n), dtype="Float64"),
        "s": pd.array(rng.choice(["a", "b", "?"], n), dtype="string"),
        "cat": pd.Categorical(rng.choice(["u", "v"], n)),
        "b": rng.choice([True, False], n),
        "ts": pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Brussels"),
        "empty": np.nan,
        "gone": rng.normal(size=n),
        "y": rng.choice(["p", "q", "r"], n),
    })
    ref.loc[3, "i"] = pd.NA
    ref.loc[4, "f"] = pd.NA
    cur = ref.drop(columns=["gone"]).assign(extra=1)
    cur["ts"] = cur["ts"] + pd.Timedelta(days=30)
    cur["y"] = rng.choice(["p", "q", "r", "s"], n)
    roles = roles_for(ref, cur, timestamp="ts")
    assert roles.task == "multiclass"
    checks, contract = audit.run_audit(ref, cur, roles, out_dir=tmp_path)
    res = {c["id"]: c for c in checks}
    assert res["data.summary_report"]["status"] == "pass"
    assert (tmp_path / "artifacts" / "data_summary.html").stat().st_size > 1000
    assert res["data.completeness.disguised_missing.reference"]["details"][0]["column"] == "s"
    # an all-empty column is left out of the features (roles.excluded_reasons); the completeness check names it
    assert res["data.validity.constant.reference"]["details"] == [] and "empty" in roles.excluded_reasons
    assert "empty" in {d["column"] for d in res["data.completeness.column_missing.reference"]["details"]}
    assert res["data.target.unseen_labels"]["status"] == "fail"
    violations = {(v["column"], v["kind"]) for v in res["data.contract.current_valid"]["details"]}
    assert {("gone", "missing_column"), ("extra", "extra_column")} <= violations
    assert res["data.contract.current_valid"]["status"] == "fail"
    # a 12.5-day reference period, the current one starts 30 days later: no overlap
    assert res["data.freshness.coverage"]["status"] == "pass" and res["data.freshness.coverage"]["value"] == 0
    assert res["data.leakage.single_feature"]["status"] == "pass"


# -- data as it arrives: dates, names, ids, constant and empty columns, large units ----------------------------
FIRST = ["Ana", "Bram", "Chloé", "Dries", "Eva", "Farid", "Greet", "Hugo", "Ines", "Jonas"]
LAST = ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens"]
TARGETS = {"binary": "defaulted", "multiclass": "segment", "regression": "loan_amount_eur"}


def realistic(task, n=400, seed=0, start="2023-01-01"):
    """A frame shaped like a real export: text ids, names, ISO dates, incomes in euros, a constant country and
    branch code, an empty notes column, and a target per task (a regression target in large units)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "customer_id": [f"C{100_000 + seed * 10_000 + i}" for i in range(n)],
        "full_name": [f"{FIRST[i % len(FIRST)]} {LAST[(i * 7 + seed) % len(LAST)]}" for i in range(n)],
        "signup_date": pd.date_range(start, periods=n, freq="D").strftime("%Y-%m-%d"),
        "annual_income_eur": (rng.lognormal(10.5, 0.5, n) * 100).round(2),
        "age": rng.integers(18, 90, n),
        "region": rng.choice(["Flanders", "Wallonia", "Brussels"], n, p=[0.55, 0.3, 0.15]),
        "country": "BE",
        "branch_code": 42,
        "notes": np.nan,
    })
    if task == "binary":
        df["defaulted"] = rng.choice(["no", "yes"], n, p=[0.8, 0.2])
    elif task == "multiclass":
        df["segment"] = rng.choice(["retail", "sme", "corporate"], n, p=[0.6, 0.3, 0.1])
    else:
        df["loan_amount_eur"] = (rng.lognormal(11, 0.4, n) * 100).round(0)
    return df


def realistic_pair(task, timestamp=False, ids=False):
    ref, cur = realistic(task, 400, 0, "2022-01-01"), realistic(task, 200, 1, "2023-03-01")
    settings = DataSettings(reference="", current="", target=TARGETS[task], task=task,
                            timestamp="signup_date" if timestamp else None, id=["customer_id"] if ids else [],
                            exclude=["full_name"])
    return ref, cur, resolve_roles(ref, cur, settings)


AUDIT_SPECS = {s.id: s for s in catalogue.all_specs() if s.step == "data_audit"}
CONFIGS = [(task, ts, ids) for task in ("binary", "multiclass", "regression") for ts in (False, True)
           for ids in (False, True)]
BOUND_KEY = re.compile(r"^(min|max)_|_(min|max)$")


@pytest.fixture(scope="module")
def audits():
    """run_audit on every task, with and without data.timestamp and data.id."""
    out = {}
    for task, ts, ids in CONFIGS:
        ref, cur, roles = realistic_pair(task, ts, ids)
        out[(task, ts, ids)] = audit.run_audit(ref, cur, roles, report=False)[0]
    return out


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c[0]}-{'ts' if c[1] else 'nots'}-{'id' if c[2] else 'noid'}")
def test_every_emitted_id_is_declared_and_applies_as_the_catalogue_says(audits, config):
    task, ts, ids = config
    checks = audits[config]
    assert len({c["id"] for c in checks}) == len(checks)
    facts = {"task": task, "timestamp": ts, "id": ids}
    for c in checks:
        s = catalogue.spec(c["id"])
        assert s is not None and s.step == "data_audit", c["id"]
        assert c["title"].startswith(s.title), c["id"]
        if not catalogue.applicable(s, facts):
            assert c["status"] == "skip" and c.get("not_applicable") is True, (c["id"], c["status"], c["why"])
        elif c["status"] == "skip":
            assert s.when, f"{c['id']} skipped on {config} but its catalogue entry names no condition: {c['why']}"
    emitted = {catalogue.spec(c["id"]).id for c in checks}
    expected = {i for i, s in AUDIT_SPECS.items() if task in s.tasks} - {"data.summary_report"}
    assert expected - emitted == set(), f"declared for {task} but not emitted"
    if task == "regression":
        assert "data.target.balance.<dataset>" not in emitted and "data.target.unseen_labels" not in emitted


def test_every_audit_catalogue_entry_produces_evidence_somewhere(audits, tmp_path):
    seen = {catalogue.spec(c["id"]).id for checks in audits.values() for c in checks if c["status"] != "skip"}
    ref, cur, roles = realistic_pair("binary")
    report = by_id(audit.run_audit(ref, cur, roles, out_dir=tmp_path)[0], "data.summary_report")
    assert report["status"] == "pass"
    seen.add("data.summary_report")
    assert set(AUDIT_SPECS) - seen == set()


@pytest.mark.parametrize("config", CONFIGS[::3], ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_thresholds_are_min_max_and_agree_with_the_status(audits, config):
    """Every bound is ``min`` / ``max``, the value is a number judged by it, and the status recorded by the step
    (``catalogue.settle``) is the audit's own."""
    for c in audits[config]:
        th = c["threshold"]
        assert th is None or isinstance(th, dict), c["id"]
        for key in th or {}:
            assert not BOUND_KEY.search(key), f"{c['id']}: threshold key {key!r}; bounds are min / max"
        assert catalogue.settle(dict(c))["status"] == c["status"], c["id"]
        if c["status"] in ("skip", "error") or not th or not ({"min", "max"} & set(th)):
            continue
        v = catalogue.number(c["value"])
        assert v is not None, f"{c['id']}: value {c['value']!r} is not a number its bound can judge"
        beyond = ("max" in th and v > th["max"]) or ("min" in th and v < th["min"])
        assert not (beyond and c["status"] == "pass"), f"{c['id']}: {v} beyond {th} but pass"


def test_the_policy_bound_is_the_bound_the_audit_judges_with():
    ref = base_frame(500)
    cur = ref.copy()
    cur.loc[:49, "a"] = cur.loc[:49, "a"] * 1000
    roles = roles_for(ref, cur)
    policy = {"gates": {"data.validity.outliers.*": {"max": 0.5},
                        "data.completeness.missing_share.current": {"max": 0.0001}}}
    cur.loc[:1, "b"] = np.nan
    data = audit.prepare(ref, cur, roles, audit.AuditParams(), policy=policy)
    out = validity.outliers(data, "current")
    assert out["threshold"]["max"] == 0.5 and out["status"] == "pass" and out["value"] == pytest.approx(0.1)
    miss = completeness.missing_share(data, "current")
    assert miss["threshold"] == {"max": 0.0001} and miss["status"] == "warn"
    # past a gate's bound is a failure of that gate: the table shows the status the step records
    assert audit.table([out, miss], policy)["status"].tolist() == ["pass", "fail"]
    assert catalogue.settle(miss, policy)["status"] == "fail"


def test_findings_keep_the_details_and_the_step_drops_them(tmp_path):
    from playbook.results import Step

    ref, cur, roles = realistic_pair("binary", timestamp=True, ids=True)
    checks, _ = audit.run_audit(ref, cur, roles, out_dir=tmp_path, report=False)
    findings = json.loads((tmp_path / "artifacts" / "audit_findings.json").read_text())
    # the all-empty `notes` is not a feature (roles.excluded_reasons): the completeness check names it instead
    assert findings["data.validity.constant.reference"] == [
        {"column": "country", "value": "BE", "empty": False}, {"column": "branch_code", "value": 42, "empty": False}]
    assert "notes" in roles.excluded_reasons
    assert "notes" in {d["column"] for d in findings["data.completeness.column_missing.reference"]}
    assert findings["data.freshness.coverage"][0]["first"] == "2022-01-01T00:00:00"
    step = Step("data_audit", tmp_path / "step")
    step.add_checks(checks)
    step.save()
    saved = json.loads((tmp_path / "step" / "results.json").read_text())["checks"]
    assert sorted(c["id"] for c in saved) == sorted(c["id"] for c in checks)
    assert all("details" not in c for c in saved)
    na = {c["id"] for c in saved if c.get("not_applicable")}
    assert na == set()      # timestamp and ids configured, binary task: every check applies


def test_realistic_frames_trip_what_they_should():
    ref, cur, roles = realistic_pair("regression", timestamp=True)
    res = {c["id"]: c for c in audit.run_audit(ref, cur, roles, report=False)[0]}
    const = res["data.validity.constant.current"]
    assert const["status"] == "warn" and const["value"] == 2 and "notes" not in const["why"]  # not a feature
    assert "notes" in roles.excluded_reasons
    assert res["data.completeness.column_missing.reference"]["value"] == 1.0
    # a target in large units: skew is a shape, not a size
    assert res["data.target.distribution.reference"]["status"] == "pass"
    assert 0 < res["data.target.distribution.reference"]["value"] < 3
    # the reference ends 2023-02-04, the current starts 2023-03-01: in order, no overlap
    assert res["data.freshness.coverage"]["status"] == "pass" and res["data.freshness.coverage"]["value"] == 0
    assert res["data.uniqueness.conflicting_labels.reference"]["not_applicable"] is True


# -- more ways to leave pass ------------------------------------------------------------------------------------
def test_contract_current_valid_fails_warns_and_passes_with_minor_violations(tmp_path):
    ref = base_frame(400)
    ok = audit.contract_checks(prep(ref, ref.copy()), tmp_path / "a.json")[1][1]
    assert ok["status"] == "pass" and ok["value"] == 0 and "details" not in audit.findings([ok])
    minor = ref.copy()
    minor.loc[0, "a"] = 1e6                                   # one row out of range: 0.25 % of rows
    small = audit.contract_checks(prep(ref, minor), tmp_path / "b.json")[1][1]
    assert small["status"] == "pass" and small["value"] == 0 and small["details"][0]["kind"] == "range"
    new_cat = ref.copy()
    new_cat.loc[:19, "b"] = "w"                               # a new category on 5 % of rows
    warn = audit.contract_checks(prep(ref, new_cat), tmp_path / "c.json")[1][1]
    assert warn["status"] == "warn" and warn["value"] == 0 and warn["threshold"] == {"max": 0, "warn_above_share": 0.01}
    broken = ref.drop(columns=["c"])
    fail = audit.contract_checks(prep(ref, broken, roles=roles_for(ref)), tmp_path / "d.json")[1][1]
    assert fail["status"] == "fail" and fail["value"] == 1


def test_contract_written_is_an_error_when_it_cannot_be_written(tmp_path):
    blocker = tmp_path / "artifacts"
    blocker.write_text("a file where the folder should be")
    contract, (written, valid) = audit.contract_checks(prep(base_frame()), blocker / "data_contract.json")
    assert written["status"] == "error" and "could not be written" in written["why"]
    assert valid["status"] == "skip" and "not_applicable" not in valid
    assert contract["columns"]


def test_summary_report_skips_an_empty_dataset_and_records_why_evidently_failed(tmp_path, monkeypatch):
    from playbook.audit import report

    ref = realistic("binary")
    data = prep(ref, ref.iloc[:0], roles=roles_for(ref, target="defaulted"), target="defaulted")
    empty = report.summary_check(data, "a.html", "a.json", tmp_path / "a.html", tmp_path / "a.json")
    assert empty["status"] == "skip" and "current data has no rows" in empty["why"]

    def broken(*a, **k):
        raise RuntimeError("no column to summarise")

    monkeypatch.setattr(report, "data_summary", broken)
    err = report.summary_check(prep(ref, target="defaulted"), "a.html", "a.json", tmp_path / "a.html", tmp_path / "a.json")
    assert err["status"] == "error" and "RuntimeError: no column to summarise" in err["why"] and err["evidence"] is None


def test_near_constant_is_the_largest_top_share_and_counts_missing_as_a_value():
    ref = base_frame(1000)
    ref["rare_code"] = [np.nan] * 995 + ["A", "B", "A", "B", "A"]    # 99.5 % missing, two values
    res = validity.near_constant_columns(prep(ref), "reference")
    assert res["status"] == "warn" and res["value"] == pytest.approx(0.995)
    assert res["details"] == [{"column": "rare_code", "top_share": 0.995, "top_value": None}]
    assert validity.near_constant_columns(prep(ref, near_constant_share=0.999), "reference")["status"] == "pass"
    only_constant = pd.DataFrame({"k": [1] * 50, "y": ["a", "b"] * 25})
    na = validity.near_constant_columns(prep(only_constant), "reference")
    assert na["status"] == "skip" and na["not_applicable"] is True


def test_high_cardinality_value_is_the_most_distinct_values():
    ref = base_frame(500)
    res = validity.high_cardinality(prep(ref), "reference")
    assert res["status"] == "pass" and res["value"] == 3 and res["threshold"] == {"max": 50}


def test_labels_read_as_int_and_float_are_the_same_label():
    ref = base_frame(200)
    ref["y"] = np.random.default_rng(0).choice([0, 1], 200)
    cur = ref.copy().astype({"y": float})
    cur.loc[:3, "y"] = np.nan                                 # a missing label turns the column into floats
    data = prep(ref, cur, roles=roles_for(ref))
    assert target.unseen_labels(data)["status"] == "pass"
    assert {r["class"] for r in target.target_balance(data, "current")["details"]} == {"0", "1"}
    cur.loc[10:14, "y"] = 2.0
    new = target.unseen_labels(prep(ref, cur, roles=roles_for(ref)))
    assert new["status"] == "fail" and new["details"][0]["label"] == "2"


def test_skew_of_a_target_in_small_units_is_not_lost():
    rng = np.random.default_rng(0)
    ref = base_frame(500)
    ref["y"] = rng.lognormal(0, 1.5, 500) * 1e-9             # a rate per second, say
    res = target.target_distribution(prep(ref), "reference")
    assert res["status"] == "warn" and res["value"] > 3 and res["threshold"] == {"max": 3.0}


def test_timestamps_in_mixed_formats_epochs_and_yyyymmdd():
    from playbook.audit.prepare import timestamps

    mixed = pd.Series(["2024-01-05", "05/01/2024", "Jan 5, 2024", "2024-01-05T10:00:00+02:00", "garbage"])
    parsed = timestamps(mixed)
    assert parsed.isna().tolist() == [False, False, False, False, True]
    assert parsed[3] == pd.Timestamp("2024-01-05 08:00")       # time zones become UTC
    assert timestamps(pd.Series([20240131, 20240201])).tolist() == [pd.Timestamp("2024-01-31"), pd.Timestamp("2024-02-01")]
    epoch = pd.Series([1_704_067_200, 1_704_153_600])          # seconds
    assert timestamps(epoch).tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]
    assert timestamps(epoch * 1000).tolist() == timestamps(epoch).tolist()
    assert timestamps(pd.Series([3, 4, 5])).isna().all()      # small numbers are not dates

    ref = _timed(100)
    ref["ts"] = [d if i % 10 else d.replace("-", "/") for i, d in enumerate(ref["ts"])]   # 2024/01/11 among ISO
    ref.loc[5, "ts"] = "31st of never"
    res = {c["id"]: c for c in validity.timestamp_validity(prep(ref, role_kw={"timestamp": "ts"}, run_date="2025-01-01"), "reference")}
    unp = res["data.validity.unparseable_timestamps.reference"]
    assert unp["status"] == "warn" and unp["value"] == pytest.approx(0.01) and unp["details"][0]["examples"] == ["31st of never"]
    epochs = _timed(100)
    epochs["ts"] = pd.to_datetime(epochs["ts"]).astype("int64") // 10**9
    fresh = {c["id"]: c for c in freshness.freshness_checks(prep(epochs, role_kw={"timestamp": "ts"}, run_date="2024-04-30"))}
    assert fresh["data.freshness.staleness"]["value"] == pytest.approx(21.0)


def test_nested_values_do_not_break_the_audit():
    ref = base_frame(100)
    ref["tags"] = [["vip", "web"] if i % 3 else ["shop"] for i in range(100)]
    ref["meta"] = [{"source": "crm", "score": i % 4} for i in range(100)]
    roles = roles_for(ref)
    checks, contract = audit.run_audit(ref, ref.copy(), roles, report=False)
    res = {c["id"]: c for c in checks}
    assert "tags" in contract["columns"] and res["data.contamination"]["value"] == 1.0
    assert all(c["status"] != "error" for c in checks)


def test_seed_must_be_a_valid_random_seed():
    with pytest.raises(ValueError, match="parameter seed"):
        audit.AuditParams(seed=-1)
