"""Data loading, task inference and column roles.

``load_table`` reads CSV (optionally compressed) or parquet, from a file or a folder of such files.
Every failure is a :class:`DataError` whose message names the file or column and the fix.

Text encoding: UTF-8 (with or without a byte-order mark) first; a file that is not valid UTF-8 is read as
Windows-1252 (the superset of Latin-1 that spreadsheet exports on Windows use), and when that fails too, as
ISO-8859-1 (Latin-1, which decodes any byte). The encoding used is reported in ``info`` and recorded by
``playbook run`` in the pack (``manifest.json`` ``inputs.<role>.read``, and a warning on the terminal), so
a fallback is never silent. A file holding binary data (NUL bytes or control characters) is refused.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
#: Encodings tried in order for text files (see the module docstring).
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
#: Most feature columns taken without an explicit ``data.features`` list: every step checks each feature (the audit
#: of 500 features on 300 rows takes about 1.5 minutes on 2 cores), so a pack of 5,000 would take hours.
MAX_FEATURES = 1000
#: Longest column name accepted (longer names are export accidents, and break file names and reports).
MAX_COLUMN_NAME = 255
#: Delimiters recognised in a header that was read as one column (a file exported with another separator).
_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
_SNIFF_BYTES = 1 << 16


class DataError(ValueError):
    """Bad input data: the message names the file or column and the fix."""


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def _open_binary(path: Path):
    """A binary reader of a (possibly compressed) file, decompressing as pandas does."""
    import bz2
    import gzip
    import lzma
    import zipfile

    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith(".xz"):
        return lzma.open(path, "rb")
    if name.endswith(".zip"):
        zf = zipfile.ZipFile(path)
        names = zf.namelist()
        return zf.open(names[0]) if names else io.BytesIO(b"")
    return open(path, "rb")  # noqa: SIM115 - closed by the caller


def _head_bytes(path: Path, where: str) -> bytes:
    """The first bytes of a (possibly compressed) text file, decompressed."""
    try:
        with _open_binary(path) as fh:
            return fh.read(_SNIFF_BYTES)
    except Exception as exc:  # noqa: BLE001 - gzip / bz2 / lzma / zipfile each raise their own errors
        raise DataError(f"{where}: could not be decompressed ({type(exc).__name__}); check the file or its "
                        "extension.") from None


def _is_binary(head: bytes) -> bool:
    """NUL bytes, or more than 1 % control characters other than tab / newline / carriage return."""
    if not head:
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13, 12))
    return controls / len(head) > 0.01


def _encoding(path: Path) -> str:
    """The first of :data:`ENCODINGS` that decodes the whole file."""
    for enc in ENCODINGS[:-1]:
        try:
            with _open_binary(path) as raw, io.TextIOWrapper(raw, encoding=enc, errors="strict") as fh:
                while fh.read(1 << 20):
                    pass
            return enc
        except UnicodeDecodeError:
            continue
    return ENCODINGS[-1]


_ENCODING_NAMES = {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252 (Latin-1 superset)", "latin-1": "ISO-8859-1 (Latin-1)"}


def _read_one(path: Path, kind: str, role: str = "data", info: dict | None = None) -> pd.DataFrame:
    where = f"data.{role}: {path}"
    if kind == "parquet":
        try:
            df = pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # pyarrow errors derive from these
            raise DataError(f"{where}: could not be read as parquet ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                            "check the file (a truncated or non-parquet file cannot be read).") from None
        except Exception as exc:  # noqa: BLE001 - pyarrow raises its own types on garbage
            raise DataError(f"{where}: could not be read as parquet ({type(exc).__name__}); check the file.") from None
        if info is not None:
            info.setdefault("files", []).append({"file": path.name, "format": "parquet"})
        return df
    head = _head_bytes(path, where)
    if _is_binary(head):
        raise DataError(f"{where}: holds binary data, not CSV text; export the data as UTF-8 CSV or parquet "
                        "(or fix the file extension).")
    try:
        enc = _encoding(path)
    except Exception as exc:  # noqa: BLE001 - a truncated archive fails in gzip / bz2 / lzma / zipfile
        raise DataError(f"{where}: could not be read to the end ({type(exc).__name__}); the file may be truncated, "
                        "export it again.") from None
    sep = "\t" if path.name.lower().endswith(".tsv") else ","
    try:
        header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False,
                             encoding=enc, skip_blank_lines=True)
        df = pd.read_csv(path, sep=sep, low_memory=False, encoding=enc)
    except pd.errors.EmptyDataError:
        raise DataError(f"{where}: the file is empty; export the data with a header row and at least one row.") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{where}: could not be parsed as CSV ({str(exc).splitlines()[0]}); check the delimiter "
                        "(comma expected) and the quoting.") from None
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
        raise DataError(f"{where}: is not text in a known encoding; re-export it as UTF-8 CSV or parquet.") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{where}: could not be read as CSV ({str(exc).splitlines()[0]}); check the file.") from None
    names = [] if header.empty else ["" if v is None else str(v) for v in header.iloc[0].tolist()]
    if len(names) == 1:
        found = [(d, label) for d, label in _OTHER_DELIMITERS.items() if d in names[0] and d != sep]
        if found:
            d, label = found[0]
            raise DataError(f"{where}: the header is a single column holding {label} characters ({d!r}), so the file "
                            f"looks {label}-separated; re-export it comma-separated (or as parquet).")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"{where}: has duplicate column names {dupes[:5]}; rename them so each column is unique.")
    if len(names) == df.shape[1]:
        df.columns = names  # pandas renames empty names to 'Unnamed: N'; keep the header as written
    if info is not None:
        info.setdefault("files", []).append({"file": path.name, "format": "csv", "encoding": enc})
    return df


def _folder_files(p: Path, role: str) -> list[Path]:
    """Data files below a folder, in name order. A symbolic link that leads outside the folder is refused."""
    root = p.resolve()
    files = []
    for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in list(dirnames) + filenames:
            f = Path(dirpath) / name
            if f.is_symlink():
                target = f.resolve()
                if not target.is_relative_to(root):
                    raise DataError(
                        f"data.{role}: {f} is a symbolic link to {target}, outside the folder {p}; copy the file "
                        "into the folder or point data.{role} at it directly.".replace("{role}", role))
        for name in filenames:
            f = Path(dirpath) / name
            if not name.startswith(".") and f.is_file() and _kind(f):
                files.append(f)
    return sorted(files, key=lambda f: f.relative_to(p).as_posix())


def load_table(path: str | Path, role: str = "data", info: dict | None = None) -> pd.DataFrame:
    """Read a CSV or parquet file, or a folder of them (concatenated in name order).

    ``info`` (optional dict) receives how the data was read: ``files`` with each file's format and text
    encoding, and ``encoding_fallback`` when a file was not UTF-8."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"data.{role}: file not found: {p}; check the path (relative paths are relative to the config file).")
    if p.is_dir():
        files = _folder_files(p, role)
        if not files:
            raise DataError(f"data.{role}: folder {p} holds no CSV or parquet files; point to a file or a folder of them.")
        frames = [_read_one(f, _kind(f), role, info) for f in files]  # type: ignore[arg-type]
        cols = list(frames[0].columns)
        for f, fr in zip(files, frames):
            if set(fr.columns) != set(cols) or fr.shape[1] != len(cols):
                lacks = [c for c in cols if c not in fr.columns]
                adds = [c for c in fr.columns if c not in cols]
                diff = "; ".join(x for x in (f"lacks {lacks[:5]}" if lacks else "", f"adds {adds[:5]}" if adds else "") if x)
                raise DataError(f"data.{role}: {f} has different columns from {files[0]} ({diff}); all files in the "
                                "folder must share one header.")
        df = pd.concat([fr[cols] for fr in frames], ignore_index=True)
    else:
        kind = _kind(p)
        if kind is None:
            raise DataError(f"data.{role}: {p.name} is neither CSV nor parquet; use a .csv(.gz) or .parquet file.")
        df = _read_one(p, kind, role, info)
    if df.shape[1] == 0:
        raise DataError(f"data.{role}: {p} has no columns; export the data with a header row.")
    if len(df) == 0:
        raise DataError(f"data.{role}: {p} has a header but no rows; it needs at least one row of data.")
    df.columns = [str(c) for c in df.columns]
    dupes = df.columns[df.columns.duplicated()].tolist()
    if dupes:
        raise DataError(f"data.{role}: {p} has duplicate column names {dupes}; rename them so each column is unique.")
    for i, c in enumerate(df.columns, 1):
        if not c.strip():
            what = "an empty name" if c == "" else "a name of only blanks"
            raise DataError(f"data.{role}: {p}: column {i} has {what}; give every column a name in the header "
                            "(an unnamed first column is usually a saved row index: export with index=False).")
        if len(c) > MAX_COLUMN_NAME:
            raise DataError(f"data.{role}: {p}: column {i} has a name of {len(c)} characters ({c[:20]!r}...); "
                            f"rename it to at most {MAX_COLUMN_NAME} characters.")
    if info is not None:
        encs = sorted({f.get("encoding") for f in info.get("files", []) if f.get("encoding") not in (None, "utf-8-sig")})
        if encs:
            info["encoding_fallback"] = (f"not UTF-8: read as {', '.join(_ENCODING_NAMES[e] for e in encs)}; "
                                         "check accented characters, or re-export as UTF-8")
    return df


# -- writing CSV safely --------------------------------------------------------------------------------------
#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE)


def neutralise_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab or carriage return first)
    gets a leading apostrophe; plain numbers such as ``-1.5`` and every non-text value pass unchanged."""
    if isinstance(value, str) and value and value[0] in FORMULA_PREFIXES and not _PLAIN_NUMBER.fullmatch(value.strip()):
        return "'" + value
    return value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names are :func:`neutralise_cell`-safe (numbers untouched)."""
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s.astype(object).map(neutralise_cell)
    out.columns = [neutralise_cell(str(c)) if isinstance(c, str) else c for c in out.columns]
    if out.index.dtype == object:
        out.index = out.index.map(neutralise_cell)
    return out


def write_csv(df: pd.DataFrame, path: str | Path, **to_csv: Any) -> Path:
    """The one way the playbook writes a CSV into a pack: formula-like text neutralised (see
    :func:`neutralise_cell`), ``index=False`` and ``\n`` line ends unless given, written atomically."""
    from playbook.results import write_text_atomic

    to_csv.setdefault("index", False)
    to_csv.setdefault("lineterminator", "\n")
    return write_text_atomic(path, neutralise_frame(df).to_csv(None, **to_csv))


def neutralise_csv_file(path: str | Path) -> bool:
    """Rewrite a CSV file in place with :func:`neutralise_cell` applied to every cell (header too); untouched when
    nothing needs it. Returns True when the file changed."""
    import csv

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    delimiter = "\t" if p.suffix.lower() == ".tsv" else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    safe = [[neutralise_cell(v) for v in row] for row in rows]
    if safe == rows:
        return False
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(safe)
    from playbook.results import write_text_atomic

    write_text_atomic(p, buf.getvalue())
    return True


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
    #: feature candidates left out of ``features`` and why (column -> one sentence); see :func:`resolve_roles`
    excluded_reasons: dict[str, str] = field(default_factory=dict)
    #: reference feature columns the current data lacks (a schema break: the data contract check fails on them)
    missing_in_current: list[str] = field(default_factory=list)
    #: feature columns without a single value in the reference data
    empty_in_reference: list[str] = field(default_factory=list)
    #: rows per dataset holding +/- infinity in a numeric feature (left out of model scoring; the audit reports them)
    infinite_rows: dict[str, int] = field(default_factory=dict)
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
        candidates = [c for c in settings.features if c not in non_features]
    else:
        candidates = [c for c in cols if c not in non_features]
    # Every step works on the columns both datasets share: a reference feature the current data lacks is left
    # out here, once, with its reason (the audit's data contract check fails on it, so the verdict is no-go);
    # a feature with no value at all in the reference carries nothing to learn or monitor.
    reasons: dict[str, str] = {}
    missing_in_current = [c for c in candidates if c not in current.columns]
    for c in missing_in_current:
        reasons[c] = ("not in the current data (schema break): left out of the features so every step runs on the "
                      "columns both datasets share; data.contract.current_valid fails on it")
    empty = [c for c in candidates if c in reference.columns and c not in reasons and reference[c].notna().sum() == 0]
    for c in empty:
        reasons[c] = "has no value in the reference data: nothing to learn from or to monitor"
    features = [c for c in candidates if c not in reasons]
    if settings.features is None and len(features) > MAX_FEATURES:
        raise DataError(
            f"data.features: the data has {len(features)} feature columns, more than the {MAX_FEATURES} the playbook "
            "checks in reasonable time (every step examines each feature); list the features the model uses in "
            "data.features, or leave columns out with data.exclude.")
    if not features:
        if missing_in_current and len(missing_in_current) == len(candidates):
            raise DataError(
                f"data.current: none of the reference's {len(candidates)} feature column(s) is in the current data "
                f"(it lacks {', '.join(map(repr, missing_in_current[:5]))}{', ...' if len(missing_in_current) > 5 else ''}); "
                "check that data.current is an export of the same table.")
        raise DataError("data.features: no feature columns are left after removing target, id, prediction, excluded, "
                        "empty and missing columns; check the data.")
    numeric = [c for c in features if is_numeric(reference[c])]
    categorical = [c for c in features if c not in numeric]
    return Roles(
        target=settings.target, task=task, features=features, numeric=numeric, categorical=categorical,
        positive_label=positive, classes=classes, prediction=settings.prediction, probability=probs,
        timestamp=settings.timestamp, id=list(settings.id), sensitive=list(settings.sensitive),
        task_inferred=inferred, excluded_reasons=reasons, missing_in_current=missing_in_current,
        empty_in_reference=empty,
        infinite_rows={name: int(infinite_mask(df, numeric).sum()) for name, df in (("reference", reference), ("current", current))},
    )


def infinite_mask(df: pd.DataFrame, columns) -> pd.Series:
    """Rows of ``df`` holding +/- infinity in any of ``columns`` (numeric columns only; others are ignored)."""
    bad = np.zeros(len(df), dtype=bool)
    for c in columns:
        if c in df.columns and is_numeric(df[c]):
            bad |= np.isinf(df[c].to_numpy(dtype=float, na_value=np.nan))
    return pd.Series(bad, index=df.index)


def encode_binary_target(y: pd.Series, positive: Any) -> pd.Series:
    """1 for the positive label, 0 otherwise (NaN stays NaN)."""
    out = (y == positive).astype(float)
    out[y.isna()] = np.nan
    return out
