"""Reproduce the bundled reference / current split of the German credit data.

    python datasets/german_credit/make_split.py

Stratified on the target, 70 % reference (700 rows) and 30 % current (300 rows), seed 0
(scikit-learn's train_test_split). Row order within each part follows the shuffled order.
"""

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    df = pd.read_csv(HERE / "germancredit.csv")
    ref, cur = train_test_split(df, test_size=0.3, random_state=0, stratify=df["creditability"])
    ref.to_csv(HERE / "reference.csv", index=False)
    cur.to_csv(HERE / "current.csv", index=False)
    print(f"reference: {len(ref)} rows, current: {len(cur)} rows")
