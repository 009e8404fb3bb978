"""The door of the model server: request bodies in the MLflow protocol held to a data contract (no HTTP here)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from playbook.serving.door import RULES, Rejected, admit, parse_body

CONTRACT = {
    "schema_version": 1, "target": "churned", "task": "binary", "missing_markers": [],
    "columns": {
        "Tenure Months": {"role": "feature", "kind": "numeric", "dtype": "int64", "nullable": False,
                          "min": 0.0, "max": 72.0, "categories": None},
        "monthly_charge": {"role": "feature", "kind": "numeric", "dtype": "float64", "nullable": True,
                           "min": 18.25, "max": 118.75, "categories": None},
        "contract": {"role": "feature", "kind": "categorical", "dtype": "object", "nullable": False,
                     "min": None, "max": None, "categories": ["month-to-month", "one year", "two year"]},
        "paperless": {"role": "feature", "kind": "boolean", "dtype": "bool", "nullable": False,
                      "min": None, "max": None, "categories": [False, True]},
        "signed_up": {"role": "feature", "kind": "datetime", "dtype": "datetime64[ns]", "nullable": True,
                      "min": "2019-01-01T00:00:00", "max": "2024-06-30T00:00:00", "categories": None},
        "region_code": {"role": "feature", "kind": "categorical", "dtype": "int64", "nullable": False,
                        "min": None, "max": None, "categories": [1, 2, 3]},
        "customer_id": {"role": "id", "kind": "text", "dtype": "object", "nullable": False,
                        "min": None, "max": None, "categories": None},
        "churned": {"role": "target", "kind": "categorical", "dtype": "object", "nullable": False,
                    "min": None, "max": None, "categories": ["no", "yes"]},
    },
}
FEATURES = ["Tenure Months", "monthly_charge", "contract", "paperless", "signed_up", "region_code"]
GOOD = {"Tenure Months": 12, "monthly_charge": 70.5, "contract": "one year", "paperless": True,
        "signed_up": "2021-03-04T10:00:00", "region_code": 2}


def body(records=None, **kw) -> bytes:
    return json.dumps({"dataframe_records": records if records is not None else [GOOD], **kw}).encode()


def rejected(raw: bytes, max_rows: int = 100) -> Rejected:
    with pytest.raises(Rejected) as err:
        columns, rows = parse_body(raw, max_rows)
        admit(columns, rows, CONTRACT, FEATURES)
    return err.value


def test_a_good_batch_becomes_the_reference_dtypes_in_the_model_order():
    split = {"columns": list(reversed(FEATURES)) + ["customer_id"],
             "data": [[GOOD[f] for f in reversed(FEATURES)] + ["c-1"], [GOOD[f] for f in reversed(FEATURES)] + ["c-2"]]}
    columns, rows = parse_body(json.dumps({"dataframe_split": split}).encode(), 10)
    frame = admit(columns, rows, CONTRACT, FEATURES)
    assert list(frame.columns) == FEATURES and len(frame) == 2
    assert frame["Tenure Months"].dtype == "int64" and frame["monthly_charge"].dtype == "float64"
    assert frame["paperless"].dtype == bool and pd.api.types.is_datetime64_any_dtype(frame["signed_up"])
    assert frame["region_code"].dtype == "int64" and frame["contract"].tolist() == ["one year", "one year"]


def test_nullable_columns_take_null_and_records_may_leave_them_out():
    rec = {k: v for k, v in GOOD.items() if k != "signed_up"}
    columns, rows = parse_body(body([GOOD, {**rec, "monthly_charge": None}]), 10)
    frame = admit(columns, rows, CONTRACT, FEATURES)
    assert frame["monthly_charge"].isna().tolist() == [False, True]
    assert frame["signed_up"].isna().tolist() == [False, True]


@pytest.mark.parametrize("change, rule, column", [
    ({"Tenure Months": "12"}, "wrong_type", "Tenure Months"),          # a number sent as text
    ({"paperless": 1}, "wrong_type", "paperless"),                      # a boolean sent as 0 / 1
    ({"contract": 3}, "wrong_type", "contract"),                        # a number where text belongs
    ({"region_code": "2"}, "wrong_type", "region_code"),                # text where the categories are numbers
    ({"signed_up": "last tuesday"}, "wrong_type", "signed_up"),
    ({"contract": "three year"}, "unseen_category", "contract"),
    ({"region_code": 9}, "unseen_category", "region_code"),
    ({"Tenure Months": 500}, "out_of_range", "Tenure Months"),
    ({"monthly_charge": -1.0}, "out_of_range", "monthly_charge"),
    ({"signed_up": "2031-01-01"}, "out_of_range", "signed_up"),
    ({"Tenure Months": None}, "missing_value", "Tenure Months"),
    ({"paperless": None}, "missing_value", "paperless"),
    ({"churned": "no"}, "extra_column", "churned"),                    # the target is not an input
    ({"surprise": 1}, "extra_column", "surprise"),
])
def test_each_broken_rule_is_named_with_its_column_and_row(change, rule, column):
    bad = {**GOOD, **change}
    r = rejected(body([GOOD, bad]))
    assert (r.rule, r.column) == (rule, column)
    assert r.status == RULES[rule] and 400 <= r.status < 500
    if rule not in ("extra_column",):
        assert r.row == 1
    assert column in r.message and r.body()["rule"] == rule


def test_a_missing_feature_is_named():
    r = rejected(body([{k: v for k, v in GOOD.items() if k != "contract"}]))
    assert (r.rule, r.column, r.status) == ("missing_column", "contract", 422)


@pytest.mark.parametrize("raw, rule", [
    (b"{not json", "not_json"),
    (b'\xff\xfe{"a": 1}', "not_json"),
    (b'{"dataframe_records": [{"Tenure Months": NaN}]}', "not_json"),
    (b'{"dataframe_records": [{"Tenure Months": Infinity}]}', "not_json"),
    (b'[1, 2, 3]', "bad_format"),
    (b'{"instances": [[1, 2]]}', "bad_format"),
    (b'{"dataframe_split": {"columns": ["a"]}}', "bad_format"),
    (b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}', "bad_format"),
    (b'{"dataframe_records": [1, 2]}', "bad_format"),
    (b'{"dataframe_records": [], "dataframe_split": {}}', "bad_format"),
    (b'{"dataframe_records": []}', "empty_batch"),
    (b'{"dataframe_split": {"columns": [], "data": []}}', "empty_batch"),
])
def test_malformed_bodies_get_a_4xx_rule(raw, rule):
    r = rejected(raw)
    assert r.rule == rule and r.status in (400, 413, 415, 422)
    assert r.message.endswith(".")


def test_a_batch_over_the_limit_is_refused_before_any_value_is_read():
    r = rejected(body([GOOD] * 11), max_rows=10)
    assert (r.rule, r.status) == ("oversized_batch", 413) and "10" in r.message


# -- the frame the door builds: the column-wise fast path equals pandas' inference of the rows, then the reference
# dtypes (the way the door built every frame before; kept here as the reference)
def _frame_by_rows(rows, contract, features):
    from playbook.serving.door import _as_reference_dtype

    frame = pd.DataFrame([list(r) for r in rows], columns=features)
    for f in features:
        frame[f] = _as_reference_dtype(frame[f], contract["columns"].get(f) or {})
    return frame


LOOSE = {"columns": {
    "i": {"kind": "numeric", "dtype": "int64"}, "u8": {"kind": "numeric", "dtype": "uint8"},
    "f": {"kind": "numeric", "dtype": "float64"}, "n": {"kind": "numeric", "dtype": "Int64"},
    "t": {"kind": "categorical", "dtype": "object"}, "ci": {"kind": "categorical", "dtype": "int64"},
    "cf": {"kind": "categorical", "dtype": "float64"}, "co": {"kind": "categorical", "dtype": "object"},
    "b": {"kind": "boolean", "dtype": "bool"}, "d": {"kind": "datetime", "dtype": "datetime64[ns]"},
    "x": {"kind": "text", "dtype": "object"}, "pa": {"kind": "numeric", "dtype": "int64[pyarrow]"}}}


@pytest.mark.parametrize("values", [
    {"i": [1, 2], "u8": [3, 4], "f": [1.5, 2], "n": [1, None], "t": ["a", None], "ci": [1, 2], "cf": [1.0, 2.5],
     "co": [1, 2], "b": [True, False], "d": ["2021-01-01", None], "x": ["a", "b"], "pa": [1, 2]},
    {"i": [1.0, 3.0], "u8": [None, 4], "f": [None, None], "n": [None, None], "t": [None, None], "ci": [1, None],
     "cf": [None, 2], "co": ["a", 1], "b": [True, None], "d": [None, None], "x": [1.5, "b"], "pa": [1, None]},
    {"i": [2 ** 70, 1], "u8": [300, 1], "f": [2 ** 70, 0], "n": [0.5, 1], "t": ["x", "y"], "ci": [1.5, 2],
     "cf": [True, 1], "co": [None, None], "b": [False, False], "d": ["2021-01-01T10:00:00", "2022-02-02"],
     "x": [None, "z"], "pa": [1.0, 2.0]},
])
def test_the_door_frame_equals_the_frame_of_the_rows_converted_column_by_column(values):
    from playbook.serving.door import _frame

    features = list(values)
    rows = [[values[f][k] for f in features] for k in range(2)]
    plan = [(f, i, LOOSE["columns"][f]) for i, f in enumerate(features)]
    for i, f in enumerate(features):  # each column on its own, so that one column's failure does not hide another's
        one, spec = [[r[i]] for r in rows], [(f, 0, LOOSE["columns"][f])]
        try:
            want = _frame_by_rows(one, LOOSE, [f])
        except Exception as exc:  # noqa: BLE001 - the fast path must fail where the reference fails
            with pytest.raises(type(exc)):
                _frame(one, spec)
            continue
        got = _frame(one, spec)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert [type(v) for v in got[f].tolist()] == [type(v) for v in want[f].tolist()], f
    assert list(_frame(rows, [p for p in plan if p[0] not in ("u8", "i", "pa")]).columns) == [
        f for f in features if f not in ("u8", "i", "pa")]
