"""The data contract: build_contract's format and validate's robustness."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from playbook.audit import contract as dc
from playbook.config import DataSettings
from playbook.data import resolve_roles


def frame(n=50):
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "age": rng.integers(18, 70, n),
        "income": rng.normal(3000, 500, n).round(2),
        "city": rng.choice(["Ghent", "Lyon", "Turin"], n),
        "flag": rng.choice([True, False], n),
        "when": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "cid": range(n),
        "label": rng.choice(["good", "bad"], n),
    })


def roles_of(df, **kw):
    return resolve_roles(df, df, DataSettings(reference="", current="", target="label", id=["cid"], timestamp="when", **kw))


@pytest.fixture
def ref():
    return frame()


@pytest.fixture
def contract(ref):
    return dc.build_contract(ref, roles_of(ref), missing_markers=["?", -999])


def test_contract_format(ref, contract):
    assert contract["schema_version"] == 1
    assert contract["target"] == "label" and contract["task"] == "binary"
    assert contract["reference_rows"] == 50 and len(contract["reference_fingerprint"]) == 64
    assert contract["missing_markers"] == [-999, "?"]
    cols = contract["columns"]
    assert list(cols) == list(ref.columns)
    assert {c: cols[c]["role"] for c in cols} == {
        "age": "feature", "income": "feature", "city": "feature", "flag": "feature",
        "when": "timestamp", "cid": "id", "label": "target"}
    assert {c: cols[c]["kind"] for c in cols} == {
        "age": "numeric", "income": "numeric", "city": "categorical", "flag": "boolean",
        "when": "datetime", "cid": "numeric", "label": "categorical"}
    assert cols["age"]["min"] == ref["age"].min() and cols["age"]["max"] == ref["age"].max()
    assert cols["city"]["categories"] == ["Ghent", "Lyon", "Turin"]
    assert cols["flag"]["categories"] == [False, True]
    assert cols["when"]["min"] == "2024-01-01T00:00:00" and cols["when"]["categories"] is None
    assert cols["age"]["nullable"] is False and cols["age"]["max_missing_share"] == 0.0
    for spec in cols.values():
        assert set(spec) == {"role", "kind", "dtype", "nullable", "max_missing_share", "min", "max", "categories"}
    json.dumps(contract)  # plain JSON


def test_markers_are_missing_not_categories():
    df = frame()
    df.loc[:4, "city"] = "?"
    c = dc.build_contract(df, roles_of(df), missing_markers=["?"])
    city = c["columns"]["city"]
    assert "?" not in city["categories"]
    assert city["nullable"] is True and city["max_missing_share"] == pytest.approx(0.11)  # 10 % + 1 % slack


def test_validate_clean_data_has_no_violation(ref, contract):
    assert dc.validate(ref, contract) == []
    assert dc.validate(ref.sample(frac=1, random_state=1), contract) == []


def kinds(violations):
    return sorted(((v["column"], v["kind"]) for v in violations), key=str)


def test_missing_and_extra_columns(ref, contract):
    cur = ref.drop(columns=["income", "label"]).assign(new_col=1)
    v = dc.validate(cur, contract)
    # the target may be absent (labels arrive later); a feature may not
    assert kinds(v) == [("income", "missing_column"), ("new_col", "extra_column")]
    assert kinds(dc.validate(cur, contract, required_roles=("feature", "target"))) == [
        ("income", "missing_column"), ("label", "missing_column"), ("new_col", "extra_column")]


def test_type_violations(ref, contract):
    cur = ref.copy()
    cur["age"] = cur["age"].astype(str)                      # numbers stored as text
    cur["income"] = cur["income"].astype(str)
    cur.loc[0, "income"] = "n.a."                            # a word among numbers
    cur["city"] = 1                                          # categories became numbers
    cur.loc[0, "when"] = "yesterday"                         # an unparseable timestamp
    v = {(x["column"], x["kind"]): x for x in dc.validate(cur, contract)}
    assert "stored as text" in v[("age", "type")]["detail"]
    assert v[("income", "type")]["count"] == 1
    assert ("city", "type") in v
    assert v[("when", "type")]["count"] == 1


def test_range_category_and_nulls(ref, contract):
    cur = ref.copy()
    cur.loc[:1, "age"] = 150
    cur.loc[:2, "city"] = "Oslo"
    cur.loc[:3, "income"] = np.nan                           # income never missing in the reference
    cur.loc[4, "age"] = -999                                 # a marker: missing, not out of range
    cur.loc[5:6, "when"] = "2030-01-01"
    v = {(x["column"], x["kind"]): x for x in dc.validate(cur, contract)}
    assert v[("age", "range")]["count"] == 2
    assert v[("age", "nulls")]["count"] == 1
    assert v[("city", "category")]["count"] == 3 and "'Oslo'" in v[("city", "category")]["detail"]
    assert v[("income", "nulls")]["count"] == 4 and v[("income", "nulls")]["share"] == pytest.approx(0.08)
    assert v[("when", "range")]["count"] == 2


def test_missing_share_above_allowance():
    df = frame(100)
    df.loc[:9, "income"] = np.nan                              # 10 % missing in the reference
    c = dc.build_contract(df, roles_of(df))
    cur = df.copy()
    assert dc.validate(cur, c) == []
    cur.loc[:29, "income"] = np.nan                            # 30 % now
    assert kinds(dc.validate(cur, c)) == [("income", "nulls")]


def test_validate_is_robust_to_empty_and_odd_frames(contract):
    empty = frame().iloc[:0]
    assert kinds(dc.validate(empty, contract)) == [(None, "rows")]
    nothing = pd.DataFrame()
    v = dc.validate(nothing, contract)
    assert (None, "rows") in kinds(v) and ("age", "missing_column") in kinds(v)
    all_nan = frame().assign(income=np.nan)
    assert kinds(dc.validate(all_nan, contract)) == [("income", "nulls")]
    with pytest.raises(dc.ContractError, match="DataFrame"):
        dc.validate([1, 2], contract)


def test_malformed_contracts_raise_clear_errors(tmp_path, ref):
    with pytest.raises(dc.ContractError, match="columns"):
        dc.validate(ref, {"schema_version": 1})
    with pytest.raises(dc.ContractError, match="schema_version"):
        dc.validate(ref, {"schema_version": 99, "columns": {}})
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    with pytest.raises(dc.ContractError, match="not a valid JSON"):
        dc.load(bad)
    with pytest.raises(dc.ContractError, match="not found"):
        dc.load(tmp_path / "missing.json")
    with pytest.raises(dc.ContractError, match="no rows"):
        dc.build_contract(ref.iloc[:0])


def test_save_load_roundtrip_and_validate_by_path(tmp_path, ref, contract):
    path = dc.save(contract, tmp_path / "data_contract.json")
    assert dc.load(path) == json.loads(json.dumps(contract))
    cur = ref.copy()
    cur.loc[0, "city"] = "Oslo"
    assert kinds(dc.validate(cur, path)) == [("city", "category")]
    again = dc.save(dc.build_contract(ref, roles_of(ref), missing_markers=["?", -999]), tmp_path / "again.json")
    assert again.read_bytes() == path.read_bytes()


def test_contract_without_roles_treats_every_column_as_feature():
    c = dc.build_contract(pd.DataFrame({"x": [1, 2, 3], "s": ["a", "b", None]}))
    assert c["target"] is None and {v["role"] for v in c["columns"].values()} == {"feature"}
    assert c["columns"]["s"]["nullable"] is True


def test_column_kind_text_vs_categorical():
    many = pd.Series([f"note {i}" for i in range(300)])
    assert dc.column_kind(many) == "text"
    assert dc.column_kind(pd.Series(["a", "b"] * 150)) == "categorical"
    assert dc.column_kind(pd.Series(["2024-01-01", "2024-02-03"] * 5)) == "datetime"
    assert dc.column_kind(pd.Series(["radio/television", "car (new)"] * 5)) == "categorical"


def test_saved_contract_keeps_the_reference_valid(tmp_path):
    """Floats in a saved contract are exact: rounding a min / max inward would turn the reference's own
    extreme values into range violations (seen with values like -0.0763945037500033)."""
    import numpy as np
    import pandas as pd

    from playbook.audit.contract import build_contract, load, save, validate

    rng = np.random.default_rng(0)
    vals = np.round(rng.normal(size=50), 16)
    vals[:10] = -0.0763945037500033 - 1.0  # a repeated extreme value with many significant digits
    ref = pd.DataFrame({"x": vals, "y": rng.normal(size=50) / 3.0})
    c = load(save(build_contract(ref), tmp_path / "c.json"))
    assert [v for v in validate(ref, c) if v["kind"] == "range"] == []
