import pandas as pd
import pytest

from playbook.config import DataSettings
from playbook.data import DataError, infer_task, load_table, resolve_roles


def test_load_csv_parquet_and_folder(tmp_path):
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet", index=False)
    (tmp_path / "parts").mkdir()
    df.iloc[:2].to_csv(tmp_path / "parts" / "1.csv", index=False)
    df.iloc[2:].to_csv(tmp_path / "parts" / "2.csv", index=False)
    pd.testing.assert_frame_equal(load_table(tmp_path / "t.csv"), df)
    pd.testing.assert_frame_equal(load_table(tmp_path / "t.parquet"), df)
    pd.testing.assert_frame_equal(load_table(tmp_path / "parts"), df)


@pytest.mark.parametrize("content, fragment", [
    ("", "the file is empty"),
    ("a,b\n", "has a header but no rows"),
])
def test_empty_files_are_named(tmp_path, content, fragment):
    p = tmp_path / "e.csv"
    p.write_text(content)
    with pytest.raises(DataError, match=fragment) as e:
        load_table(p, "current")
    assert "data.current" in str(e.value) or str(p) in str(e.value)


def test_missing_file_and_wrong_format(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_table(tmp_path / "none.csv", "reference")
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(DataError, match="neither CSV nor parquet"):
        load_table(tmp_path / "x.xlsx")


@pytest.mark.parametrize("values, task", [
    (["good", "bad", "good"], "binary"),
    ([0, 1, 1, 0], "binary"),
    (["a", "b", "c"] * 10, "multiclass"),
    ([1, 2, 3] * 100, "multiclass"),
    ([0.5, 1.25, 3.75, 2.0] * 10, "regression"),
    (list(range(500)), "regression"),
])
def test_infer_task(values, task):
    assert infer_task(pd.Series(values)) == task


def frame():
    return pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": list("abab"), "y": ["n", "p", "n", "p"], "id": [1, 2, 3, 4]})


def test_roles_and_positive_label():
    df = frame()
    r = resolve_roles(df, df, DataSettings(reference="", current="", target="y", id=["id"], positive_label="p"))
    assert r.task == "binary" and r.task_inferred and r.positive_label == "p"
    assert r.features == ["x", "c"] and r.numeric == ["x"] and r.categorical == ["c"]


def test_wrong_target_is_named_with_suggestion():
    df = frame()
    with pytest.raises(DataError) as e:
        resolve_roles(df, df, DataSettings(reference="", current="", target="Y"))
    assert "data.target: column 'Y' is not in the reference data (did you mean 'y'?)" in str(e.value)


def test_single_class_target_is_refused():
    df = frame().assign(y="n")
    with pytest.raises(DataError, match="single class"):
        resolve_roles(df, df, DataSettings(reference="", current="", target="y"))


def test_unknown_positive_label():
    df = frame()
    with pytest.raises(DataError, match="data.positive_label"):
        resolve_roles(df, df, DataSettings(reference="", current="", target="y", positive_label="maybe"))


# -- the bad-input matrix of the loader ------------------------------------------------------------------------
import gzip  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402

from playbook.data import (  # noqa: E402
    MAX_COLUMN_NAME, infinite_mask, neutralise_cell, neutralise_csv_file, write_csv,
)


@pytest.mark.parametrize("name, content, fragment", [
    ("garbage.csv", bytes(range(256)) * 64, "holds binary data, not CSV text"),
    ("garbage.csv.gz", b"not gzip at all", "could not be decompressed"),
    ("garbage.parquet", b"PAR1 this is not parquet", "could not be read as parquet"),
    ("semi.csv", "a;b;c\n1;2;3\n4;5;6\n".encode(), "so the file looks semicolon-separated; re-export it comma-separated"),
    ("tabs.csv", "a\tb\tc\n1\t2\t3\n".encode(), "looks tab-separated"),
    ("dupes.csv", b"a,b,a\n1,2,3\n", "duplicate column names ['a']"),
    ("unnamed.csv", b",a,b\n0,1,2\n1,3,4\n", "column 1 has an empty name"),
    ("blank.csv", b"a,  ,b\n1,2,3\n", "column 2 has a name of only blanks"),
    ("long.csv", (("x" * 10_000) + ",b\n1,2\n").encode(), "a name of 10000 characters"),
    ("quote.csv", b'a,b\n"1,2\n3,4\n', "could not be parsed as CSV"),
])
def test_unreadable_files_are_named_with_the_fix(tmp_path, name, content, fragment):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(DataError) as e:
        load_table(p, "reference")
    msg = str(e.value)
    assert fragment in msg and msg.startswith("data.reference") and "\n" not in msg


def test_latin1_is_read_with_a_stated_fallback(tmp_path):
    df = pd.DataFrame({"city": ["Köln", "Málaga", "Zürich"], "y": [1, 0, 1]})
    df.to_csv(tmp_path / "l1.csv", index=False, encoding="latin-1")
    info: dict = {}
    got = load_table(tmp_path / "l1.csv", "current", info)
    assert got["city"].tolist() == ["Köln", "Málaga", "Zürich"]
    assert info["files"][0]["encoding"] == "cp1252" and "not UTF-8" in info["encoding_fallback"]
    df.to_csv(tmp_path / "u8.csv", index=False)
    info = {}
    load_table(tmp_path / "u8.csv", "current", info)
    assert "encoding_fallback" not in info and info["files"][0]["encoding"] == "utf-8-sig"
    with gzip.open(tmp_path / "l1.csv.gz", "wt", encoding="latin-1") as fh:  # compressed too
        df.to_csv(fh, index=False)
    assert load_table(tmp_path / "l1.csv.gz")["city"].tolist() == ["Köln", "Málaga", "Zürich"]


def test_long_but_acceptable_names_and_many_columns_load(tmp_path):
    cols = {f"c{i}": [i, i + 1] for i in range(5000)}
    cols["n" * MAX_COLUMN_NAME] = [1, 2]
    pd.DataFrame(cols).to_csv(tmp_path / "wide.csv", index=False)
    df = load_table(tmp_path / "wide.csv")
    assert df.shape == (2, 5001)


def test_folder_with_mixed_schemas_or_an_outside_symlink_is_refused(tmp_path):
    d = tmp_path / "parts"
    d.mkdir()
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(d / "1.csv", index=False)
    pd.DataFrame({"b": [3], "a": [4]}).to_csv(d / "2.csv", index=False)  # same columns, other order: fine
    assert load_table(d)["a"].tolist() == [1, 4]
    pd.DataFrame({"a": [5], "c": [6]}).to_csv(d / "3.csv", index=False)
    with pytest.raises(DataError, match=r"3.csv has different columns from .*1.csv \(lacks \['b'\]; adds \['c'\]\)"):
        load_table(d, "reference")
    (d / "3.csv").unlink()
    secret = tmp_path / "elsewhere.csv"
    pd.DataFrame({"a": [7], "b": [8]}).to_csv(secret, index=False)
    os.symlink(secret, d / "4.csv")
    with pytest.raises(DataError, match="is a symbolic link to .*elsewhere.csv, outside the folder"):
        load_table(d, "current")
    (d / "4.csv").unlink()
    os.symlink(d / "1.csv", d / "5.csv")  # a link inside the folder is fine
    assert len(load_table(d)) == 3


def test_schema_break_and_empty_feature_are_left_out_with_their_reason():
    ref = pd.DataFrame({"x": [1.0, 2.0, np.inf, 4.0], "gone": [1, 2, 3, 4], "empty": [np.nan] * 4,
                        "c": list("abab"), "y": ["n", "p", "n", "p"]})
    cur = ref.drop(columns=["gone"])[["y", "c", "empty", "x"]]  # another column order
    r = resolve_roles(ref, cur, DataSettings(reference="", current="", target="y"))
    assert r.features == ["x", "c"] and r.numeric == ["x"]
    assert r.missing_in_current == ["gone"] and r.empty_in_reference == ["empty"]
    assert "schema break" in r.excluded_reasons["gone"] and "data.contract.current_valid" in r.excluded_reasons["gone"]
    assert "no value in the reference" in r.excluded_reasons["empty"]
    assert r.infinite_rows == {"reference": 1, "current": 1}
    assert infinite_mask(ref, ["x", "c"]).tolist() == [False, False, True, False]
    with pytest.raises(DataError, match="none of the reference's 4 feature column"):
        resolve_roles(ref, cur[["y"]], DataSettings(reference="", current="", target="y"))


def test_target_absent_or_all_missing_is_refused():
    df = frame()
    with pytest.raises(DataError, match="data.target: column 'label' is not in the reference data"):
        resolve_roles(df, df, DataSettings(reference="", current="", target="label"))
    with pytest.raises(DataError, match="has no values in the reference data"):
        resolve_roles(df.assign(y=np.nan), df, DataSettings(reference="", current="", target="y"))


# -- spreadsheet formula injection -----------------------------------------------------------------------------
@pytest.mark.parametrize("value, safe", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1+1", "'+1+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("-1.5", "-1.5"), ("+3e5", "+3e5"), ("-inf", "-inf"),
    ("a=b", "a=b"), ("", ""), (-2, -2), (None, None),
])
def test_neutralise_cell(value, safe):
    assert neutralise_cell(value) == safe


def test_write_csv_and_the_file_pass_neutralise_text_but_keep_numbers(tmp_path):
    df = pd.DataFrame({"=cmd": ["=1+2", "ok", "-x"], "n": [-1.5, 2.0, -3.0]})
    p = write_csv(df, tmp_path / "a.csv")
    back = pd.read_csv(p)
    assert list(back.columns) == ["'=cmd", "n"]
    assert back["'=cmd"].tolist() == ["'=1+2", "ok", "'-x"] and back["n"].tolist() == [-1.5, 2.0, -3.0]
    raw = tmp_path / "b.csv"
    df.to_csv(raw, index=False)
    assert neutralise_csv_file(raw) is True
    assert pd.read_csv(raw)["'=cmd"].tolist() == ["'=1+2", "ok", "'-x"]
    assert neutralise_csv_file(raw) is False  # already safe: untouched


def test_truncated_compressed_file(tmp_path):
    data = gzip.compress(b"a,b\n" + b"1,2\n" * 100_000)
    (tmp_path / "t.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="could not be read to the end .*truncated"):
        load_table(tmp_path / "t.csv.gz", "current")


def test_too_many_features_without_an_explicit_list_are_refused():
    from playbook.data import MAX_FEATURES

    wide = pd.DataFrame(np.zeros((4, MAX_FEATURES + 1)), columns=[f"f{i}" for i in range(MAX_FEATURES + 1)])
    wide["y"] = ["a", "b", "a", "b"]
    with pytest.raises(DataError, match=f"has {MAX_FEATURES + 1} feature columns, more than the {MAX_FEATURES}"):
        resolve_roles(wide, wide, DataSettings(reference="", current="", target="y"))
    chosen = DataSettings(reference="", current="", target="y", features=[f"f{i}" for i in range(10)])
    assert len(resolve_roles(wide, wide, chosen).features) == 10
