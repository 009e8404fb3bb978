"""Which columns hold personal data: the kinds found in each column's values, identifiers by shape, and
high-cardinality text.

* **Kinds** (:data:`KINDS`): the pattern kinds of :mod:`playbook.privacy.patterns` found in the values, a date of
  birth (dates in a birth-named column), person names (:mod:`playbook.privacy.names`). A column is *flagged* for a
  kind when the share of its scanned values holding a validated match exceeds the kind's threshold
  (:data:`DEFAULT_THRESHOLDS`) and, for checksum kinds, most same-shaped candidates pass the checksum (a column of
  random 16-digit ids passes Luhn only ~10% of the time).
* **Identifiers by shape**: a text column (not numeric, boolean or datetime) whose values are nearly all distinct
  (at least ``identifier_min_distinct_share``, default 90%, of at least ``identifier_min_rows``, default 50,
  non-null values) identifies rows whatever it holds: customer codes, free-text notes, names no detector knows.
* **High-cardinality text**: a text column with at least ``high_cardinality_min_distinct`` distinct values making
  up at least ``high_cardinality_min_distinct_share`` of its values; not masked, but its values that occur once
  are searched for in the pack like the protected columns' values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from playbook.privacy import names as names_mod
from playbook.privacy.mask import mask_value
from playbook.privacy.patterns import (_DATE_FULL, DEFAULT_MAX_VALUES, MIN_VALID_RATIO, _spans, find_pii,
                                       pattern_hints)

KINDS = ("email", "phone", "payment_card", "us_ssn", "ip_address", "iban", "date_of_birth", "person_name")

KIND_TITLES = {
    "email": "e-mail address",
    "phone": "phone number",
    "payment_card": "payment card number (Luhn-valid)",
    "us_ssn": "US social security number",
    "ip_address": "IP address",
    "iban": "IBAN (checksum-valid)",
    "date_of_birth": "date of birth",
    "person_name": "person name",
    "identifier": "identifier (nearly unique text)",
}

#: A column is flagged for a kind when the share of matching values is *above* this (0.0 means one validated match
#: is enough: these kinds are checksum- or format-validated).
DEFAULT_THRESHOLDS: dict[str, float] = {
    "email": 0.0,
    "payment_card": 0.0,
    "us_ssn": 0.0,
    "ip_address": 0.0,
    "iban": 0.0,
    "phone": 0.02,
    "date_of_birth": 0.5,
    "person_name": 0.5,
}

IDENTIFIER_MIN_DISTINCT_SHARE = 0.9
IDENTIFIER_MIN_ROWS = 50
HIGH_CARDINALITY_MIN_DISTINCT_SHARE = 0.5
HIGH_CARDINALITY_MIN_DISTINCT = 20


@dataclass
class Finding:
    """One personal-data kind found in one column."""

    column: str
    kind: str
    share: float            # share of scanned (non-null) values holding a validated match
    matches: int            # scanned values holding a validated match
    scanned: int            # non-null values scanned
    flagged: bool           # share above the kind's threshold (and, for checksum kinds, valid ratio)
    basis: str              # "value" | "name+value" | "column name"
    example: str = ""       # a masked example (never a raw value)
    valid_ratio: float | None = None   # checksum kinds: valid / same-shaped candidates
    note: str = ""

    def as_dict(self) -> dict:
        d = asdict(self)
        d["share"] = round(float(self.share), 6)
        if self.valid_ratio is not None:
            d["valid_ratio"] = round(float(self.valid_ratio), 6)
        return d


def _even(s: pd.Series, k: int) -> pd.Series:
    return s.iloc[np.unique(np.linspace(0, len(s) - 1, num=k).astype(np.int64))]


def sample(s: pd.Series, max_values: int) -> pd.Series:
    """Up to ``max_values`` non-null values, evenly spread over the column (deterministic and cheap)."""
    if len(s) > 2 * max_values:
        s = _even(s, 2 * max_values)
    s = s.dropna()
    if len(s) > max_values:
        s = _even(s, max_values)
    return s


def as_text(s: pd.Series) -> pd.Series | None:
    """The column as strings, or None when no personal-data kind can live in it (floats, booleans)."""
    if pd.api.types.is_bool_dtype(s):
        return None
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.strftime("%Y-%m-%d")
    if pd.api.types.is_float_dtype(s):
        vals = s.to_numpy()
        if len(vals) and np.all(np.isfinite(vals)) and np.all(vals == np.round(vals)) and np.nanmax(np.abs(vals)) >= 1e6:
            return pd.Series(vals.astype("int64"), index=s.index).astype(str)
        return None
    return s.astype(str)


def is_text(s: pd.Series) -> bool:
    """A column of text (object, string or category dtype): not numbers, booleans or datetimes."""
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
                or pd.api.types.is_datetime64_any_dtype(s))


def scan_column(s: pd.Series, column: str | None = None, *, max_values: int = DEFAULT_MAX_VALUES,
                thresholds: dict[str, float] | None = None) -> list[Finding]:
    """Every personal-data kind found in one column (flagged or not), most matching first."""
    name = str(column if column is not None else s.name)
    th = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    hints = pattern_hints(name)
    text = as_text(sample(s, max_values))
    if text is None or len(text) == 0:
        return []
    n = len(text)
    counts: dict[str, int] = {}
    cand: dict[str, int] = {}
    valid_in_cand: dict[str, int] = {}
    example: dict[str, str] = {}
    values = text.tolist()
    # each distinct value once (in order of first appearance), weighted by how often it occurs: the spans of a value
    # depend on the value alone, so the counts are those of a pass over every value
    for v, w in Counter(values).items():
        if "@" not in v and not any(c.isdigit() for c in v):
            continue  # only values with a digit or an '@' can hold the pattern kinds
        spans, c = _spans(v, hints=hints)
        for k in {sp.kind for sp in spans}:
            counts[k] = counts.get(k, 0) + w
            example.setdefault(k, mask_value(v, column=name))
        for k, nc in c.items():
            cand[k] = cand.get(k, 0) + nc * w
            valid_in_cand[k] = valid_in_cand.get(k, 0) + w * sum(1 for sp in spans if sp.kind == k)
    findings: list[Finding] = []
    for k, m in counts.items():
        share = m / n
        ratio = valid_in_cand.get(k, 0) / cand[k] if cand.get(k) else None
        flagged = share > th.get(k, 0.0) and (ratio is None or ratio >= MIN_VALID_RATIO)
        note = ""
        if ratio is not None and ratio < MIN_VALID_RATIO:
            note = f"only {ratio:.0%} of same-shaped values pass the checksum: treated as look-alikes"
        basis = "name+value" if (k == "phone" and "phone" in hints) or (k == "us_ssn" and "ssn" in hints) else "value"
        findings.append(Finding(name, k, share, m, n, flagged, basis, example[k], ratio, note))

    # date of birth: a birth-hinted column of dates
    if "dob" in hints and "date_of_birth" not in counts:
        is_date = text.str.match(_DATE_FULL)
        m = int(is_date.sum())
        if m:
            share = m / n
            ex = mask_value(text[is_date].iloc[0], column=name, kind="date_of_birth")
            findings.append(Finding(name, "date_of_birth", share, m, n, share > th["date_of_birth"], "name+value", ex))

    # person names: a name-like header and name-shaped values, or names by value shape and the lexicon
    if is_text(s):
        a = names_mod.assess(values, name, min_share=th["person_name"])
        if a is not None:
            shaped = next((v for v in values if names_mod.looks_like_name(v)), values[0])
            ex = mask_value(shaped, column=name, kind="person_name")
            findings.append(Finding(name, "person_name", a.share, int(round(a.share * n)), n, a.flagged, a.basis,
                                    ex, None, a.note))
    findings.sort(key=lambda f: (-f.flagged, -f.share, f.kind))
    return findings


def scan_column_name(column: str) -> list[Finding]:
    """Personal data inside a column *name* itself (e.g. a pivot that turned e-mail addresses into columns)."""
    spans = find_pii(column)
    return [Finding(str(mask_value(column)), sp.kind, 1.0, 1, 1, True, "column name", str(mask_value(column)))
            for sp in spans[:1]]


def scan_frame(df: pd.DataFrame, *, max_values: int = DEFAULT_MAX_VALUES,
               thresholds: dict[str, float] | None = None) -> list[Finding]:
    """Scan every column (values and name) of a frame."""
    out: list[Finding] = []
    for col in df.columns:
        out.extend(scan_column_name(str(col)))
        out.extend(scan_column(df[col], str(col), max_values=max_values, thresholds=thresholds))
    return out


def findings_table(findings: Iterable[Finding]) -> pd.DataFrame:
    """Findings as a DataFrame (column, kind, share, matches, scanned, flagged, basis, example, note)."""
    cols = ["column", "kind", "share", "matches", "scanned", "flagged", "basis", "example", "valid_ratio", "note"]
    return pd.DataFrame([f.as_dict() for f in findings], columns=cols)


def merge_findings(*groups: Iterable[Finding]) -> list[Finding]:
    """Combine scans of several frames (e.g. reference and current): per (column, kind), keep the strongest
    evidence and flag when any frame flags."""
    best: dict[tuple[str, str], Finding] = {}
    for g in groups:
        for f in g:
            key = (f.column, f.kind)
            old = best.get(key)
            if old is None:
                best[key] = Finding(**asdict(f))
                continue
            merged = old if (old.flagged, old.share) >= (f.flagged, f.share) else Finding(**asdict(f))
            merged.flagged = old.flagged or f.flagged
            best[key] = merged
    return sorted(best.values(), key=lambda f: (f.column, -f.flagged, -f.share, f.kind))


# --- identifiers and high-cardinality text -----------------------------------------------------------------------
def distinct_stats(s: pd.Series) -> dict | None:
    """``{rows, distinct, distinct_share}`` of a text column's non-null values (None for other columns)."""
    if not is_text(s):
        return None
    v = s.dropna()
    if pd.api.types.is_object_dtype(v):
        v = v.astype(str)
    rows = int(len(v))
    if rows == 0:
        return None
    d = int(v.nunique())
    return {"rows": rows, "distinct": d, "distinct_share": round(d / rows, 6)}


def is_identifier(stats: dict | None, *, min_distinct_share: float = IDENTIFIER_MIN_DISTINCT_SHARE,
                  min_rows: int = IDENTIFIER_MIN_ROWS) -> bool:
    return bool(stats) and stats["rows"] >= min_rows and stats["distinct_share"] >= min_distinct_share


def is_high_cardinality(stats: dict | None, *, min_distinct_share: float = HIGH_CARDINALITY_MIN_DISTINCT_SHARE,
                        min_distinct: int = HIGH_CARDINALITY_MIN_DISTINCT) -> bool:
    return bool(stats) and stats["distinct"] >= min_distinct and stats["distinct_share"] >= min_distinct_share
