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
