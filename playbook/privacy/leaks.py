"""The leak search: do raw values of protected columns appear anywhere in the pack?

Needles (:func:`needles`): every distinct value of every protected column (flagged as personal data, or an
identifier by shape) and the values of high-cardinality text columns that occur in one row only (a value shared by
many rows identifies no one). Each needle is searched in the spellings files give it: as is, HTML- and
JSON-escaped (``\\u00e9``), in other letter case for names, and a long number as the float a numeric column turns it
into (``4111111111111111.0``, ``4.111111111111111e+15``), plus digit-only renderings of card / phone / SSN values.

Values that the pack's own text holds whatever the data (a one-word value or a date found in the templates, the
library's source or the script bundle Evidently embeds in its reports: "August", "2000-01-05") are not searched
(:func:`searchable`), and their number is reported: they cannot be told apart from that text.

Haystacks (:func:`search`): every file under the root, read as what it is: text as UTF-8; zip archives (a skops
model file, ``.npz``) member by member; gzip streams unpacked; Parquet files through their values (their pages are
compressed, so raw bytes would hide them); any other binary file as UTF-8 and as UTF-16 / UTF-32 text at each byte
alignment (NumPy stores strings as UTF-32, values abutting). Images are searched as bytes only (their text chunks):
text drawn into pixels is not found.
"""

from __future__ import annotations

import gzip
import html
import io
import json
import re
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from playbook.privacy.mask import mask_value

_TOKEN = re.compile(r"\w+")
MIN_LENGTH = 4


def _strings(s: pd.Series) -> pd.Series:
    s = s.dropna()
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.strftime("%Y-%m-%d")
    if pd.api.types.is_float_dtype(s):
        vals = s.to_numpy()
        whole = np.isfinite(vals) & (vals == np.round(vals))
        return pd.Series([str(int(v)) if w else repr(float(v)) for v, w in zip(vals, whole)], dtype=object)
    return s.astype(str)


def needles(frames: Iterable[pd.DataFrame], protected: Iterable[str], high_cardinality: Iterable[str] = (), *,
            min_length: int = MIN_LENGTH, per_column: int | None = None) -> dict[str, list[str]]:
    """Raw values to search for, per column: every distinct value of the ``protected`` columns and the values of
    the ``high_cardinality`` columns that occur once; values shorter than ``min_length`` characters are left out
    (they occur everywhere by chance). ``per_column`` caps the count (a seeded sample); None searches all."""
    frames = [f for f in frames if isinstance(f, pd.DataFrame)]
    out: dict[str, list[str]] = {}
    hc = {str(c) for c in high_cardinality}
    for col in list(dict.fromkeys([*map(str, protected), *hc])):
        parts = [f[col] for f in frames if col in f.columns]
        if not parts:
            continue
        s = _strings(pd.concat(parts, ignore_index=True)).str.strip()
        if col in hc and col not in set(map(str, protected)):
            counts = s.value_counts()
            vals = counts.index[counts.to_numpy() == 1]
        else:
            vals = pd.unique(s)
        uniq = sorted({v for v in vals if len(v) >= min_length})
        if per_column is not None and len(uniq) > per_column:
            rng = np.random.default_rng(0)
            uniq = sorted(rng.choice(uniq, size=per_column, replace=False).tolist())
        if uniq:
            out[col] = uniq
    return out


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{4}")


def own_text_files() -> list[Path]:
    """The text every pack carries whatever the data: the templates, the library's source, and the script bundle
    Evidently embeds in each of its HTML reports."""
    from playbook.paths import templates_dir

    files = sorted(Path(templates_dir()).rglob("*.ipynb")) + sorted(Path(__file__).resolve().parents[1].rglob("*.py"))
    import importlib.util

    spec = importlib.util.find_spec("evidently")  # located, not imported
    if spec is not None and spec.origin:
        bundle = Path(spec.origin).parent / "nbextension" / "static" / "index.js"
        if bundle.is_file():
            files.append(bundle)
    return files


@lru_cache(maxsize=1)
def own_words() -> frozenset[str]:
    """Every word and date of the pack's own text (:func:`own_text_files`): a one-word value found among them
    ("August" of a month list, "Mitchell" of a citation) or a date found among them cannot be told apart from it."""
    out: set[str] = set()
    for p in own_text_files():
        try:
            text = p.read_text(encoding="utf-8", errors="ignore")
        except OSError:
            continue
        out.update(_TOKEN.findall(text))
        out.update(_DATE.findall(text))
    return frozenset(out)


def ambiguous(value: str) -> bool:
    """A one-word value or a date that the pack's own text holds anyway."""
    return bool(_TOKEN.fullmatch(value) or _DATE.fullmatch(value)) and value in own_words()


def searchable(values: dict[str, list[str]]) -> tuple[dict[str, list[str]], int]:
    """The needles without the :func:`ambiguous` ones; and how many were left out."""
    out: dict[str, list[str]] = {}
    dropped = 0
    for col, vals in values.items():
        keep = [v for v in vals if not ambiguous(v)]
        dropped += len(vals) - len(keep)
        if keep:
            out[col] = keep
    return out, dropped


def spellings(needle: str, *, names: bool = False) -> set[str]:
    """The spellings a raw value takes in files (other letter cases for names of two or more words)."""
    forms = {needle, html.escape(needle, quote=True), html.escape(needle, quote=False)}
    forms.add(json.dumps(needle)[1:-1])                          # JSON with ASCII escapes
    forms.add(json.dumps(needle, ensure_ascii=False)[1:-1])
    forms.add(needle.replace("/", "\\/"))
    forms.add(needle.replace("'", "\\'"))
    if names and " " in needle.strip():
        for v in (needle.lower(), needle.upper(), needle.title()):
            forms |= {v, html.escape(v, quote=True), json.dumps(v)[1:-1]}
    if needle.isdigit() and len(needle) >= 9:
        as_float = float(int(needle))
        forms |= {repr(as_float), f"{needle}.0", f"{as_float:.{len(needle) - 1}e}", f"{as_float:.17g}"}
    return {f for f in forms if len(f) >= 2}


# --- reading files -----------------------------------------------------------------------------------------------
def _parquet_text(data: bytes) -> str | None:
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
    except Exception:  # not a readable parquet file: searched as bytes
        return None
    parts = [" ".join(map(str, table.column_names))]
    for col in table.columns:
        parts.append("\n".join(str(v) for v in pd.unique(col.to_pandas().dropna().astype(str))))
    return "\n".join(parts)


def _npy_text(data: bytes) -> str | None:
    """A NumPy array file's text: its strings one per line (numbers hold no text; None when it does not load)."""
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception:  # object arrays (pickled) or a broken file: searched as bytes
        return None
    if arr.dtype.kind in "US":
        return "\n".join(str(v.decode("utf-8", "ignore") if isinstance(v, bytes) else v) for v in arr.ravel())
    return ""


def _binary_texts(data: bytes) -> list[str]:
    texts = [data.decode("utf-8", errors="ignore")]
    for enc, width in (("utf-16-le", 2), ("utf-32-le", 4)):
        for off in range(width):
            chunk = data[off:]
            chunk = chunk[: len(chunk) - len(chunk) % width]
            texts.append(chunk.decode(enc, errors="ignore"))
    return texts


def texts_of(name: str, data: bytes, depth: int = 0) -> list[tuple[str, str, bool]]:
    """``(where, text, binary)`` for one file's content: its members for archives, its values for Parquet.
    ``binary``: text decoded from binary data, where values may abut (fixed-width NumPy strings), so matches need
    no word boundary."""
    low = name.lower()
    if depth < 3 and data[:4] == b"PK\x03\x04":
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            zf = None
        if zf is not None:
            out = []
            for info in zf.infolist():
                if info.is_dir() or info.file_size > 200_000_000:
                    continue
                for where, text, binary in texts_of(info.filename, zf.read(info), depth + 1):
                    out.append((f"!{info.filename}{where}", text, binary))
            return out
    if depth < 3 and data[:2] == b"\x1f\x8b":
        try:
            return texts_of(name[:-3] if low.endswith(".gz") else name, gzip.decompress(data), depth + 1)
        except (OSError, EOFError):
            pass
    if data[:4] == b"PAR1" or low.endswith(".parquet"):
        t = _parquet_text(data)
        if t is not None:
            return [("", t, False)]
    if data[:6] == b"\x93NUMPY":
        t = _npy_text(data)
        if t is not None:
            return [("", t, False)]
    if low.endswith((".png", ".jpg", ".jpeg", ".gif", ".webp")):   # compressed pixels; text chunks are plain
        return [("", data.decode("latin-1"), False)]
    if b"\x00" in data[:8192] or low.endswith((".npy", ".pkl", ".skops", ".bin")):
        return [("", "\n".join(_binary_texts(data)), True)]
    return [("", data.decode("utf-8", errors="ignore"), False)]


# --- the search --------------------------------------------------------------------------------------------------
def search(root: str | Path, needles: dict[str, list[str]], *, exclude: Iterable[str | Path] = (),
           name_columns: Iterable[str] = (), max_bytes: int = 500_000_000) -> tuple[list[dict], int]:
    """Search every file under ``root`` (but ``exclude``) for the raw values in ``needles`` (column -> values).

    Returns ``(hits, files_searched)``; hits are ``[{file, column, count, example}]`` with masked examples only
    (``file`` names a zip member as ``archive.zip!member``)."""
    root = Path(root)
    excl = {Path(e).resolve() for e in exclude}
    names = {str(c) for c in name_columns}
    by_token: dict[str, list[tuple[str, str, str, frozenset, int]]] = {}
    digit_index: dict[str, tuple[str, str]] = {}
    for col, vals in needles.items():
        for v in vals:
            for form in spellings(v, names=col in names):
                ms = list(_TOKEN.finditer(form))
                if not ms:
                    continue
                key = max(ms, key=lambda m: len(m.group()))
                by_token.setdefault(key.group(), []).append((col, v, form, frozenset(m.group() for m in ms),
                                                             key.start()))
            digits = re.sub(r"\D", "", v)
            if len(digits) >= 9 and len(digits) >= 0.6 * len(re.sub(r"\s", "", v)):
                digit_index[digits] = (col, v)
    hits: dict[tuple[str, str], dict] = {}
    searched = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rp = path.resolve()
        if rp in excl or any(e in rp.parents for e in excl):
            continue
        try:
            if path.stat().st_size > max_bytes:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        searched += 1
        rel = path.relative_to(root).as_posix()
        for where, text, binary in texts_of(path.name, data):
            label = rel + where
            found: dict[tuple[str, str], int] = {}
            if binary:  # abutting values: the needles are looked up as substrings
                for tok in [k for k in by_token if k in text]:
                    for col, v, form, _toks, _off in by_token[tok]:
                        c = text.count(form)
                        if c:
                            found[(col, v)] = max(found.get((col, v), 0), c)
            else:  # where each needle's key word occurs, then whether the whole spelling stands there
                positions: dict[str, list[int]] = {}
                tokens = set()
                for m in _TOKEN.finditer(text):
                    t = m.group()
                    tokens.add(t)
                    if t in by_token:
                        positions.setdefault(t, []).append(m.start())
                n = len(text)
                for tok, starts in positions.items():
                    for col, v, form, toks, off in by_token[tok]:
                        if not toks <= tokens:
                            continue
                        c = 0
                        for p in starts:
                            a = p - off
                            b = a + len(form)
                            if a < 0 or not text.startswith(form, a):
                                continue
                            if (a > 0 and text[a - 1].isalnum() and form[0].isalnum()) or \
                                    (b < n and text[b].isalnum() and form[-1].isalnum()):
                                continue
                            c += 1
                        if c:
                            found[(col, v)] = max(found.get((col, v), 0), c)
            if digit_index:
                for run in re.findall(r"\d{9,19}", text):
                    cv = digit_index.get(run)
                    if cv is not None and cv not in found:
                        found[cv] = found.get(cv, 0) + 1
            for (col, v), c in found.items():
                h = hits.setdefault((label, col), {"file": label, "column": col, "count": 0,
                                                   "example": str(mask_value(v, column=col))})
                h["count"] += c
    return sorted(hits.values(), key=lambda h: (h["file"], h["column"])), searched
