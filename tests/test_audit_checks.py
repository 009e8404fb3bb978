"""Unit tests of the data audit checks: each on small frames built to trip it and not to trip it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from playbook import audit
from playbook.audit import checks as ck
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
    same = by_id(ck.schema_checks(prep(ref)), "data.schema.types")
    assert same["status"] == "pass" and same["value"] == {"categorical": 2, "numeric": 2}
    cur = ref.copy()
    cur["a"] = cur["a"].astype(str).where(cur.index % 7 != 0, "abc")
    changed = by_id(ck.schema_checks(prep(ref, cur)), "data.schema.types")
    assert changed["status"] == "warn" and "a" in changed["why"]


def test_mixed_types_trips_on_numbers_and_words_and_python_types():
    ref = base_frame()
    words = ["red", "green", "blue"] * 40
    nums = [str(i) for i in range(80)]
    ref["m"] = words + nums
    ref["obj"] = pd.Series([1, 2, 3, "x", "y"] * 40, dtype=object)
    res = ck.mixed_types(prep(ref), "reference")
    cols = {r["column"] for r in res["details"]}
    assert res["status"] == "warn" and cols == {"m", "obj"}
    assert res["id"] == "data.schema.mixed_types.reference"
    clean = base_frame()
    assert ck.mixed_types(prep(clean), "reference")["status"] == "pass"


def test_numeric_as_text_trips_and_reports_the_stray_values():
    ref = base_frame()
    ref["amount"] = [f"{i},000" if i % 50 == 0 else str(i) for i in range(199)] + ["oops"]
    res = ck.numeric_as_text(prep(ref), "current")
    assert res["status"] == "warn" and res["value"] == 1
    assert res["details"][0]["column"] == "amount" and res["details"][0]["non_numeric_examples"] == ["oops"]
    assert ck.numeric_as_text(prep(base_frame()), "current")["status"] == "pass"


def test_examples_of_pii_columns_are_masked():
    ref = base_frame()
    ref["amount"] = [str(i) for i in range(199)] + ["secret"]
    data = audit.prepare(ref, ref, roles_for(ref), audit.AuditParams(), pii=["amount"])
    assert ck.numeric_as_text(data, "reference")["details"][0]["non_numeric_examples"] == ["<redacted>"]


# -- completeness ---------------------------------------------------------------------------------
def test_disguised_missing_found_in_text_and_numbers_and_cleaned():
    ref = base_frame()
    ref.loc[:9, "b"] = "?"
    ref.loc[10:14, "b"] = " NA "
    ref.loc[:3, "c"] = -999
    data = prep(ref)
    res = ck.disguised_missing(data, "reference")
    found = {(d["column"], d["marker"]): d["count"] for d in res["details"]}
    assert found == {("b", "?"): 10, ("b", "NA"): 5, ("c", -999): 4}
    assert res["status"] == "warn" and res["value"] == pytest.approx(19 / ref.size)
    clean = data.clean["reference"]
    assert clean["b"].isna().sum() == 15 and clean["c"].isna().sum() == 4
    assert "?" not in set(clean["b"].dropna())
    ok = ck.disguised_missing(prep(base_frame()), "reference")
    assert ok["status"] == "pass" and ok["value"] == 0


def test_disguised_missing_respects_custom_markers():
    ref = base_frame()
    ref.loc[:9, "b"] = "unknown"
    assert ck.disguised_missing(prep(ref), "reference")["status"] == "pass"
    assert ck.disguised_missing(prep(ref, missing_markers=["unknown"]), "reference")["status"] == "warn"


def test_missing_share_counts_nulls_and_placeholders_but_not_the_target():
    ref = base_frame(100)
    ref.loc[:29, "a"] = np.nan            # 30 cells
    ref.loc[:9, "b"] = "?"                # 10 cells
    ref.loc[:49, "y"] = np.nan            # target: excluded here
    res = ck.missing_share(prep(ref, roles=roles_for(base_frame(100))), "reference")
    assert res["value"] == pytest.approx(40 / 300) and res["status"] == "warn"
    assert ck.missing_share(prep(base_frame()), "reference")["status"] == "pass"


def test_column_missing_trips_on_a_mostly_empty_column():
    ref = base_frame(100)
    ref.loc[:59, "a"] = np.nan
    res = ck.column_missing(prep(ref), "current")
    assert res["status"] == "warn" and res["value"] == pytest.approx(0.6)
    assert res["details"][0]["column"] == "a"
    ref2 = base_frame(100)
    ref2.loc[:9, "a"] = np.nan
    assert ck.column_missing(prep(ref2), "current")["status"] == "pass"


# -- uniqueness -------------------------------------------------------------------------------------
def test_duplicate_rows():
    ref = base_frame(100)
    dup = pd.concat([ref, ref.iloc[:5]], ignore_index=True)
    res = ck.duplicate_rows(prep(dup), "reference")
    assert res["status"] == "warn" and res["value"] == pytest.approx(5 / 105)
    assert ck.duplicate_rows(prep(ref), "reference")["status"] == "pass"


def test_duplicate_ids_fail_and_skip_without_ids():
    ref = base_frame(50)
    ref["cid"] = range(50)
    ok = ck.duplicate_ids(prep(ref, role_kw={"id": ["cid"]}), "reference")
    assert ok["status"] == "pass" and ok["value"] == 0
    ref.loc[1, "cid"] = 0
    bad = ck.duplicate_ids(prep(ref, role_kw={"id": ["cid"]}), "reference")
    assert bad["status"] == "fail" and bad["details"][0]["duplicate_rows"] == 1
    assert ck.duplicate_ids(prep(base_frame()), "reference")["status"] == "skip"


def test_conflicting_labels():
    ref = base_frame(100)
    twin = ref.iloc[:10].copy()
    twin["y"] = np.where(twin["y"] == "yes", "no", "yes")
    res = ck.conflicting_labels(prep(pd.concat([ref, twin], ignore_index=True)), "reference")
    assert res["status"] == "warn" and res["value"] == pytest.approx(20 / 110)
    assert ck.conflicting_labels(prep(ref), "reference")["status"] == "pass"
    reg = base_frame(100)
    reg["y"] = np.random.default_rng(1).normal(size=100)
    assert ck.conflicting_labels(prep(reg), "reference")["status"] == "skip"


# -- validity ------------------------------------------------------------------------------------------
def test_constant_and_near_constant():
    ref = base_frame(1000)
    ref["k"] = 7
    ref["nk"] = ["a"] * 995 + ["b"] * 5
    data = prep(ref)
    const = ck.constant_columns(data, "reference")
    near = ck.near_constant_columns(data, "reference")
    assert const["status"] == "warn" and [d["column"] for d in const["details"]] == ["k"]
    assert near["status"] == "warn" and [d["column"] for d in near["details"]] == ["nk"]
    data = prep(base_frame(1000))
    assert ck.constant_columns(data, "current")["status"] == "pass"
    assert ck.near_constant_columns(data, "current")["status"] == "pass"


def test_high_cardinality():
    ref = base_frame(500)
    ref["city"] = [f"city{i % 120}" for i in range(500)]
    res = ck.high_cardinality(prep(ref), "reference")
    assert res["status"] == "warn" and res["details"] == [{"column": "city", "distinct": 120}]
    assert ck.high_cardinality(prep(ref, max_categories=200), "reference")["status"] == "pass"


def test_outliers_use_reference_fences_so_a_unit_change_trips_current():
    ref = base_frame(500)
    cur = ref.copy()
    cur.loc[:49, "a"] = cur.loc[:49, "a"] * 1000  # grams instead of kilograms for 10 % of rows
    data = prep(ref, cur)
    assert ck.outliers(data, "reference")["status"] == "pass"
    res = ck.outliers(data, "current")
    assert res["status"] == "warn" and res["value"] == 1
    row = [d for d in res["details"] if d["column"] == "a"][0]
    assert row["outliers"] == 50 and row["high_fence"] < 200


def test_outlier_fences_are_robust_and_handle_degenerate_columns():
    s = pd.Series(list(range(100)) + [10_000])
    lo, hi = ck.outlier_fences(s)
    assert hi < 10_000 and lo < 0
    assert ck.outlier_fences(pd.Series([1.0] * 50)) is None


def test_infinite_values_fail():
    ref = base_frame(100)
    ref.loc[3, "a"] = np.inf
    ref.loc[4, "a"] = -np.inf
    res = ck.infinite_values(prep(ref), "reference")
    assert res["status"] == "fail" and res["value"] == 2
    assert ck.infinite_values(prep(base_frame()), "reference")["status"] == "pass"


def _timed(n=100, start="2024-01-01"):
    df = base_frame(n)
    df["ts"] = pd.date_range(start, periods=n, freq="D").strftime("%Y-%m-%d")
    return df


def test_timestamp_validity_unparseable_and_future():
    ref = _timed()
    cur = _timed(start="2024-05-01")
    cur.loc[:4, "ts"] = "not a date"
    data = prep(ref, cur, role_kw={"timestamp": "ts"}, run_date="2024-06-30")
    res = {c["id"]: c for c in ck.timestamp_validity(data, "current")}
    unp, fut = res["data.validity.unparseable_timestamps.current"], res["data.validity.future_timestamps.current"]
    assert unp["status"] == "warn" and unp["details"][0]["unparseable"] == 5
    # 2024-05-01 + 99 days = 2024-08-08: 39 days after the run date
    assert fut["status"] == "warn" and fut["details"][0]["future"] == 39
    assert fut["threshold"]["after"] == "run_date 2024-06-30"
    ok = {c["id"]: c for c in ck.timestamp_validity(prep(ref, role_kw={"timestamp": "ts"}, run_date="2025-01-01"), "reference")}
    assert {c["status"] for c in ok.values()} == {"pass"}
    skipped = ck.timestamp_validity(prep(base_frame()), "reference")
    assert {c["status"] for c in skipped} == {"skip"}


def test_datetime_looking_columns_are_checked_without_a_timestamp_role():
    ref = _timed()
    ref.loc[0, "ts"] = "2999-01-01"
    res = {c["id"]: c for c in ck.timestamp_validity(prep(ref, run_date="2025-01-01"), "reference")}
    assert res["data.validity.future_timestamps.reference"]["status"] == "warn"


# -- target -------------------------------------------------------------------------------------------------
def test_target_missing_fail_warn_pass():
    ref = base_frame(200)
    roles = roles_for(ref)
    cur = ref.copy()
    cur.loc[:9, "y"] = np.nan      # 5 %
    res = ck.target_missing(prep(ref, cur, roles=roles))
    assert res["status"] == "fail" and res["value"] == pytest.approx(0.05)
    cur2 = ref.copy()
    cur2.loc[0, "y"] = "?"         # a placeholder label counts as missing: 0.5 %, under the threshold
    res2 = ck.target_missing(prep(ref, cur2, roles=roles))
    assert res2["status"] == "warn" and res2["value"] == pytest.approx(0.005)
    assert ck.target_missing(prep(ref))["status"] == "pass"


def test_target_missing_ignores_a_current_without_target():
    ref = base_frame()
    res = ck.target_missing(prep(ref, ref.drop(columns="y"), roles=roles_for(ref)))
    assert res["status"] == "pass" and res["details"][1]["note"] == "no target column"


def test_class_balance_and_unseen_labels():
    ref = base_frame(1000)
    ref["y"] = ["rare"] * 20 + ["common"] * 980
    cur = ref.copy()
    cur.loc[:4, "y"] = "brand_new"
    data = prep(ref, cur, roles=roles_for(ref))
    bal = ck.target_balance(data, "reference")
    assert bal["status"] == "warn" and bal["value"] == pytest.approx(0.02) and "rare" in bal["why"]
    unseen = ck.unseen_labels(data)
    assert unseen["status"] == "fail" and unseen["value"] == 1
    data_ok = prep(base_frame(1000))
    assert ck.target_balance(data_ok, "reference")["status"] == "pass"
    assert ck.unseen_labels(data_ok)["status"] == "pass"


def test_target_distribution_for_regression():
    rng = np.random.default_rng(0)
    ref = base_frame(500)
    ref["y"] = rng.lognormal(0, 1.5, 500)
    checks = ck.target_checks(prep(ref))
    ids = {c["id"] for c in checks}
    assert "data.target.distribution.reference" in ids and "data.target.balance.reference" not in ids
    assert by_id(checks, "data.target.distribution.reference")["status"] == "warn"
    ref["y"] = rng.normal(0, 1, 500)
    assert by_id(ck.target_checks(prep(ref)), "data.target.distribution.reference")["status"] == "pass"


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


def test_single_feature_skips_when_a_class_is_too_small():
    ref = base_frame(100)
    ref["y"] = ["no"] * 99 + ["yes"]
    assert lk.single_feature(prep(ref))["status"] == "skip"


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
    assert by_id(ck.contamination_checks(data), "data.contamination")["status"] == "pass"
    assert by_id(ck.contamination_checks(data), "data.contamination.ids")["status"] == "pass"
    cur2 = pd.concat([cur.iloc[:80], ref.iloc[:20]], ignore_index=True)
    cur2["c"] = cur2["c"].astype(float)                   # dtype differences must not hide copies
    res = ck.contamination_checks(prep(ref, cur2, role_kw={"id": ["cid"]}))
    assert by_id(res, "data.contamination")["status"] == "fail"
    assert by_id(res, "data.contamination")["value"] == pytest.approx(0.2)
    assert by_id(res, "data.contamination.ids")["value"] == pytest.approx(0.2)


# -- freshness ----------------------------------------------------------------------------------------------------
def test_freshness_skips_without_timestamp():
    res = ck.freshness_checks(prep(base_frame()))
    assert {c["status"] for c in res} == {"skip"} and len(res) == 4


def test_freshness_overlap_gap_and_staleness():
    ref = _timed(100, "2024-01-01")
    cur = _timed(60, "2024-03-01")                        # starts before the reference ends (2024-04-09)
    cur = cur[(cur.index < 10) | (cur.index > 40)]        # a 31-day hole
    data = prep(ref, cur, role_kw={"timestamp": "ts"}, run_date="2025-01-01")
    res = {c["id"]: c for c in ck.freshness_checks(data)}
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
    res = {c["id"]: c for c in ck.freshness_checks(data)}
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
    checks = ck.completeness_checks(prep(base_frame()))
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
