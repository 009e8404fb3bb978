"""Quasi-identifier risk: k-anonymity of the columns that, combined, can single a person out.

Age, sex, race, a postcode and a date are each harmless; together they identify most people (Sweeney 2000: 87% of
the US population by ZIP code, sex and date of birth). The quasi-identifiers are the declared sensitive columns plus
the demographic-looking ones (by header, in several languages) that have few distinct values; protected columns
(flagged personal data, identifiers) are masked anyway and are not counted. The result is the smallest group of
rows sharing one combination of values (the data is *k*-anonymous for that *k*) and the share of rows in groups
smaller than the required *k* (default 5).
"""

from __future__ import annotations

import re
from typing import Iterable

import pandas as pd

from playbook.privacy.patterns import words

DEFAULT_K = 5
#: Header words of demographic columns (accent-folded, matched as whole words of the column name).
DEMOGRAPHIC_WORDS = {
    "age", "ages", "sex", "gender", "race", "ethnicity", "ethnic", "zip", "zipcode", "postcode", "postal", "plz",
    "postleitzahl", "dob", "birth", "birthdate", "birthday", "born", "marital", "nationality", "citizenship",
    "religion", "alter", "geschlecht", "familienstand", "sexe", "genre", "edad", "sexo", "genero", "eta", "sesso",
    "idade", "leeftijd", "geslacht", "wiek", "plec", "yas", "cinsiyet",
}
#: A demographic-looking column counts only with at most this many distinct values (a postcode or an age has
#: hundreds at most; a column with more is an identifier, handled by masking).
MAX_DISTINCT = 1000


def demographic(column: str) -> bool:
    toks = set(words(column).split("_"))
    if toks & DEMOGRAPHIC_WORDS:
        return True
    return bool(re.search(r"(^|_)(date_of_birth|birth_date|zip_code|post_code|postal_code)(_|$)", words(column)))


def quasi_identifiers(df: pd.DataFrame, sensitive: Iterable[str] = (), protected: Iterable[str] = (),
                      exclude: Iterable[str] = ()) -> list[str]:
    """The declared sensitive columns and the demographic-looking columns with few distinct values, in frame order."""
    sens = {str(c) for c in sensitive}
    skip = {str(c) for c in protected} | {str(c) for c in exclude}
    out = []
    for col in df.columns:
        name = str(col)
        if name in skip:
            continue
        if name in sens or (demographic(name) and df[col].nunique(dropna=True) <= MAX_DISTINCT):
            out.append(name)
    return out


def k_anonymity(df: pd.DataFrame, columns: list[str], k: int = DEFAULT_K) -> dict:
    """``{k, rows, groups, share_below_k, rows_below_k, columns}``: ``k`` is the smallest group size over the
    combinations of ``columns`` (missing values form their own group)."""
    if not columns or len(df) == 0:
        return {"k": None, "rows": int(len(df)), "groups": 0, "share_below_k": 0.0, "rows_below_k": 0,
                "columns": list(columns), "required_k": int(k)}
    frame = df[columns].copy()
    for c in columns:
        if pd.api.types.is_datetime64_any_dtype(frame[c]):
            frame[c] = frame[c].dt.strftime("%Y-%m-%d")
    sizes = frame.astype(object).where(frame.notna(), "<missing>").astype(str).value_counts(dropna=False)
    below = int(sizes[sizes < k].sum())
    return {"k": int(sizes.min()), "rows": int(len(df)), "groups": int(len(sizes)),
            "share_below_k": round(below / len(df), 6), "rows_below_k": below, "columns": list(columns),
            "required_k": int(k)}
