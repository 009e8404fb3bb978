"""playbook.tables: DuckDB scans of parquet files and frames, seeded samples in original order."""

import numpy as np
import pandas as pd
import pytest

from playbook.tables import Table, ident, read_rows


@pytest.fixture()
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=5000), "Name \"q\"": [f"n{i % 7}" for i in range(5000)],
                         "k": np.arange(5000)})


def test_file_and_frame_give_the_same_answers(tmp_path, frame):
    p = tmp_path / "t.parquet"
    frame.to_parquet(p, row_group_size=700)
    for t in (Table.from_parquet(p, "reference"), Table.from_frame(frame, "reference")):
        assert t.rows == 5000
        assert t.columns == ["x", 'Name "q"', "k"]
        col = ident('Name "q"')
        q = t.query(f"SELECT count(DISTINCT {col}) AS d, max(__row) AS last FROM {{t}}")
        assert q["d"].iloc[0] == 7 and q["last"].iloc[0] == 4999
        t.close()


def test_sample_is_seeded_ordered_and_the_same_from_file_and_frame(tmp_path, frame):
    p = tmp_path / "t.parquet"
    frame.to_parquet(p, row_group_size=700)
    a = Table.from_parquet(p).sample(300, seed=3)
    b = Table.from_frame(frame).sample(300, seed=3)
    c = Table.from_parquet(p).sample(300, seed=4)
    assert len(a) == 300 and a["k"].is_monotonic_increasing
    pd.testing.assert_frame_equal(a, b)
    assert not a["k"].equals(c["k"])
    assert len(Table.from_parquet(p).sample(10_000)) == 5000


def test_read_rows_keeps_only_the_positions(tmp_path, frame):
    p = tmp_path / "t.parquet"
    frame.to_parquet(p, row_group_size=999)
    got = read_rows(p, [0, 998, 999, 4999], columns=["k"])
    assert got["k"].tolist() == [0, 998, 999, 4999]
    assert read_rows(p, [], columns=["k"]).empty
