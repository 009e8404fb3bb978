"""Data loading, task inference and column roles.

``load_table`` reads CSV (optionally compressed) or parquet, from a file or a folder of such files.
Every failure is a :class:`DataError` whose message names the file or column and the fix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


class DataError(ValueError):
    """Bad input data: the message names the file or column and the fix."""


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def _read_one(path: Path, kind: str, role: str = "data") -> pd.DataFrame:
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        sep = "\t" if path.name.lower().endswith(".tsv") else ","
        return pd.read_csv(path, sep=sep, low_memory=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"data.{role}: {path}: the file is empty; export the data with a header row and at least one row.") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"data.{role}: {path}: could not be parsed as CSV ({str(exc).splitlines()[0]}); check the delimiter and quoting.") from None
    except UnicodeDecodeError:
        raise DataError(f"data.{role}: {path}: is not UTF-8 text; re-export it as UTF-8 CSV or parquet.") from None
    except (OSError, ValueError) as exc:  # pyarrow errors derive from these
        raise DataError(f"data.{role}: {path}: could not be read as {kind} ({str(exc).splitlines()[0]}); check the file.") from None


def load_table(path: str | Path, role: str = "data") -> pd.DataFrame:
    """Read a CSV or parquet file, or a folder of them (concatenated in name order)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"data.{role}: file not found: {p}; check the path (relative paths are relative to the config file).")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and _kind(f) and not f.name.startswith("."))
        if not files:
            raise DataError(f"data.{role}: folder {p} holds no CSV or parquet files; point to a file or a folder of them.")
        frames = [_read_one(f, _kind(f), role) for f in files]  # type: ignore[arg-type]
        cols = list(frames[0].columns)
        for f, fr in zip(files, frames):
            if list(fr.columns) != cols:
                raise DataError(f"data.{role}: {f} has different columns from {files[0]}; all files in the folder must share one header.")
        df = pd.concat(frames, ignore_index=True)
    else:
        kind = _kind(p)
        if kind is None:
            raise DataError(f"data.{role}: {p.name} is neither CSV nor parquet; use a .csv(.gz) or .parquet file.")
        df = _read_one(p, kind, role)
    if df.shape[1] == 0:
        raise DataError(f"data.{role}: {p} has no columns; export the data with a header row.")
    if len(df) == 0:
        raise DataError(f"data.{role}: {p} has a header but no rows; it needs at least one row of data.")
    df.columns = [str(c) for c in df.columns]
    dupes = df.columns[df.columns.duplicated()].tolist()
    if dupes:
        raise DataError(f"data.{role}: {p} has duplicate column names {dupes}; rename them so each column is unique.")
    return df


def fingerprint_file(path: str | Path) -> dict:
    """sha256 and size of a file, or of every file in a folder (sorted)."""
    p = Path(path)
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    h = hashlib.sha256()
    size = 0
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        size += f.stat().st_size
    return {"path": str(p), "sha256": h.hexdigest(), "bytes": size, "files": len(files)}


def fingerprint_frame(df: pd.DataFrame) -> str:
    """A content hash of a DataFrame (values, column names and dtypes), order-sensitive."""
    h = hashlib.sha256()
    h.update(repr([(c, str(t)) for c, t in df.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).values.tobytes())
    return h.hexdigest()


def infer_task(y: pd.Series) -> str:
    """binary when two distinct labels, multiclass for few discrete labels, else regression."""
    y = y.dropna()
    n = y.nunique()
    if n <= 2:
        return "binary"
    if pd.api.types.is_bool_dtype(y) or not pd.api.types.is_numeric_dtype(y):
        return "multiclass"
    if pd.api.types.is_float_dtype(y) and not np.allclose(y, np.round(y)):
        return "regression"
    return "multiclass" if n <= min(20, max(3, len(y) // 50)) else "regression"


def default_positive_label(y: pd.Series) -> Any:
    """For a binary target: 1 / True when present, else the minority class (ties: the last sorted)."""
    vals = list(pd.unique(y.dropna()))
    for cand in (1, True, "1", "yes", "Yes", "true", "True"):
        if cand in vals:
            return cand
    counts = y.value_counts()
    smallest = counts[counts == counts.min()].index.tolist()
    return sorted(smallest, key=str)[-1]


def is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


@dataclass
class Roles:
    """Which column plays which part."""

    target: str
    task: str
    features: list[str]
    numeric: list[str]
    categorical: list[str]
    positive_label: Any = None
    classes: list[Any] = field(default_factory=list)
    prediction: str | None = None
    probability: str | list[str] | None = None
    timestamp: str | None = None
    id: list[str] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    task_inferred: bool = False
    pii_excluded: list[str] = field(default_factory=list)
    pii_used: list[str] = field(default_factory=list)  # protected columns used as features on purpose

    def as_dict(self) -> dict:
        from playbook.results import to_jsonable

        return to_jsonable(self.__dict__)


def resolve_roles(reference: pd.DataFrame, current: pd.DataFrame, settings) -> Roles:
    """Check the configured columns exist and work out task, features and column kinds.

    ``settings`` is a :class:`playbook.config.DataSettings`.
    """
    cols = list(reference.columns)

    def need(key: str, col: str | None, frames=("reference", "current")) -> None:
        if col is None:
            return
        for name in frames:
            df = reference if name == "reference" else current
            if col not in df.columns:
                close = [c for c in df.columns if c.lower() == col.lower()]
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise DataError(
                    f"data.{key}: column {col!r} is not in the {name} data{hint}; "
                    f"set data.{key} to one of its columns: {', '.join(map(str, list(df.columns)[:12]))}{', ...' if df.shape[1] > 12 else ''}."
                )

    need("target", settings.target, ("reference",))
    for key in ("prediction", "timestamp"):
        need(key, getattr(settings, key))
    probs = settings.probability
    prob_list = [probs] if isinstance(probs, str) else list(probs or [])
    for c in prob_list:
        need("probability", c)
    for c in settings.id:
        need("id", c)
    for c in settings.sensitive:
        need("sensitive", c, ("reference",))
    for c in settings.exclude:
        need("exclude", c, ("reference",))
    missing_cur = [c for c in cols if c not in current.columns and c != settings.target]
    if settings.features is not None:
        for c in settings.features:
            need("features", c, ("reference",))

    y = reference[settings.target]
    if y.notna().sum() == 0:
        raise DataError(f"data.target: column {settings.target!r} has no values in the reference data; choose the label column.")
    task = settings.task or infer_task(y)
    inferred = settings.task is None
    nclass = y.dropna().nunique()
    if task in ("binary", "multiclass") and nclass < 2:
        raise DataError(
            f"data.target: column {settings.target!r} has a single class ({y.dropna().iloc[0]!r}) in the reference data; "
            "a classifier needs at least two, so check the export or the target column."
        )
    if task == "binary" and nclass > 2:
        raise DataError(f"data.task: binary was set but {settings.target!r} has {nclass} classes; use task: multiclass.")
    if task == "regression" and not is_numeric(y):
        raise DataError(f"data.task: regression needs a numeric target but {settings.target!r} holds text; use a classification task or fix the column.")

    positive = None
    classes: list[Any] = []
    if task in ("binary", "multiclass"):
        classes = sorted(pd.unique(y.dropna()).tolist(), key=str)
        if task == "binary":
            positive = settings.positive_label
            if positive is None:
                positive = default_positive_label(y)
            elif positive not in classes:
                as_str = {str(c): c for c in classes}
                if str(positive) in as_str:
                    positive = as_str[str(positive)]
                else:
                    raise DataError(
                        f"data.positive_label: {positive!r} is not a value of {settings.target!r}; use one of {classes}."
                    )

    non_features = {settings.target, settings.prediction, settings.timestamp, *prob_list, *settings.id, *settings.exclude}
    if settings.features is not None:
        features = [c for c in settings.features if c not in non_features]
    else:
        features = [c for c in cols if c not in non_features]
    if not features:
        raise DataError("data.features: no feature columns are left after removing target, id, prediction and excluded columns; check the data.")
    if missing_cur and settings.features is None:
        # current lacking a feature column is a finding for the audit, not a load error;
        # but the column roles must be computable from the reference.
        pass
    numeric = [c for c in features if is_numeric(reference[c])]
    categorical = [c for c in features if c not in numeric]
    return Roles(
        target=settings.target, task=task, features=features, numeric=numeric, categorical=categorical,
        positive_label=positive, classes=classes, prediction=settings.prediction, probability=probs,
        timestamp=settings.timestamp, id=list(settings.id), sensitive=list(settings.sensitive),
        task_inferred=inferred,
    )


def encode_binary_target(y: pd.Series, positive: Any) -> pd.Series:
    """1 for the positive label, 0 otherwise (NaN stays NaN)."""
    out = (y == positive).astype(float)
    out[y.isna()] = np.nan
    return out
