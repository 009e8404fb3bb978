"""Masking: just enough of a value to recognise its kind, never the value itself.

``j***@***.com``, ``**** **** **** 1111``, ``***-**-6789``, ``DE**************3000``, ``192.*.*.*``; names and
identifiers keep the first letter of each word (``A** L*******``) and, for long numbers, the last two digits.
A column that is protected (flagged as personal data, or an identifier by shape) is masked entirely by
:func:`mask_series`, which :func:`playbook.display.redact` applies to every row that reaches a notebook or an
artifact.
"""

from __future__ import annotations

import html
import re
from typing import Any, Iterable

import numpy as np
import pandas as pd

from playbook.privacy.patterns import Span, _spans, pattern_hints

_TOKEN = re.compile(r"\w+")


def _mask_generic(text: str) -> str:
    """Each run of letters keeps its first letter; digits are masked but for the value's last two (when it
    holds six or more digits)."""
    def letters(m: re.Match) -> str:
        w = m.group(0)
        return w[0] + "*" * (len(w) - 1)

    text = re.sub(r"[^\W\d_]+", letters, text)
    return _keep_last_digits(text, 2 if sum(c.isdigit() for c in text) >= 6 else 0)


def _keep_last_digits(text: str, keep: int) -> str:
    """Every digit but the last ``keep`` replaced by ``*``; separators stay (``**** **** **** 1111``)."""
    total = sum(c.isdigit() for c in text)
    out, seen = [], 0
    for c in text:
        if c.isdigit():
            seen += 1
            out.append(c if seen > total - keep else "*")
        else:
            out.append(c)
    return "".join(out)


def _mask_span(sp: Span) -> str:
    t = sp.text
    if sp.kind == "email":
        local, _, domain = t.partition("@")
        tld = domain.rsplit(".", 1)[-1]
        return f"{local[:1]}***@***.{tld}"
    if sp.kind in ("payment_card", "us_ssn"):
        return _keep_last_digits(t, 4)
    if sp.kind == "phone":
        return _keep_last_digits(t, 2)
    if sp.kind == "iban":
        s = re.sub(r"\s+", "", t)
        return s[:2] + "*" * (len(s) - 6) + s[-4:]
    if sp.kind == "ip_address":
        if "." in t and ":" not in t:
            first = t.split(".")[0]
            return f"{first}.*.*.*"
        return t.split(":")[0] + ":*:*"
    if sp.kind == "date_of_birth":
        return re.sub(r"[0-9A-Za-z]", "*", t)
    return _mask_generic(t)


def mask_value(value: Any, column: str = "", kind: str | None = None) -> Any:
    """A masked form of one value: PII spans get a kind-specific mask, anything else a generic one.

    ``None``/NaN stay as they are. The result never contains the raw value (values of one
    character aside).
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return value
    text = str(value)
    if kind == "date_of_birth":
        return re.sub(r"[0-9A-Za-z]", "*", text)
    if kind in ("person_name", "identifier"):
        return _mask_generic(text)
    spans = sorted(_spans(text, hints=pattern_hints(column))[0], key=lambda s: s.start)
    if not spans:
        return _mask_generic(text)
    out, pos = [], 0
    for sp in spans:
        out.append(_mask_generic(text[pos:sp.start]))  # surrounding text of a flagged value: masked too
        out.append(_mask_span(sp))
        pos = sp.end
    out.append(_mask_generic(text[pos:]))
    masked = "".join(out)
    if masked == text:  # nothing changed (should not happen): be safe
        return _mask_generic(text)
    return masked


def mask_series(s: pd.Series, kind: str | None = None) -> pd.Series:
    """Mask every non-null value of a protected column (the result is text; nulls stay null). ``kind`` is the
    column's kind when known (``person_name``, ``identifier`` and ``date_of_birth`` are masked whole; the pattern
    kinds keep their recognisable part); without it the column name's hints decide."""
    name = str(s.name) if s.name is not None else ""
    if kind is None:
        from playbook.privacy.names import name_hint

        hints = pattern_hints(name)
        kind = "date_of_birth" if "dob" in hints else ("person_name" if name_hint(name) else None)
    whole = kind if kind in ("date_of_birth", "person_name", "identifier") else None

    def one(v: Any) -> Any:
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
            return v
        return mask_value(v, column=name, kind=whole)

    if pd.api.types.is_datetime64_any_dtype(s):
        s = s.dt.strftime("%Y-%m-%d")
    uniq = pd.unique(s.dropna())
    if len(uniq) < len(s) // 2:  # many repeats: mask each distinct value once
        mapping = {v: one(v) for v in uniq}
        return s.map(lambda v: mapping.get(v, v) if v is not None and not (isinstance(v, float) and np.isnan(v)) else v).astype(object)
    return s.map(one).astype(object)


def scrub_text(text: str, needles: dict[str, list[str]] | None = None,
               kinds: Iterable[str] = ("email", "payment_card", "us_ssn", "iban")) -> str:
    """Mask raw values of flagged columns (``needles``) and validated strong-kind PII spans in a document."""
    tokens = set(_TOKEN.findall(text)) | set(_TOKEN.findall(html.unescape(text)))
    for col, vals in (needles or {}).items():
        for v in sorted(vals, key=len, reverse=True):
            toks = _TOKEN.findall(v)
            if toks and max(toks, key=len) not in tokens:
                continue
            if v and v in text:
                text = text.replace(v, str(mask_value(v, column=col)))
            ev = html.escape(v, quote=True)
            if ev != v and ev in text:
                text = text.replace(ev, html.escape(str(mask_value(v, column=col)), quote=True))
    wanted = set(kinds)
    spans = [sp for sp in _spans(text)[0] if sp.kind in wanted]
    for sp in sorted(spans, key=lambda s: s.start, reverse=True):
        text = text[:sp.start] + _mask_span(sp) + text[sp.end:]
    return text


def digest(value: Any) -> str:
    """A stable pseudonym of a value (the first 16 hex digits of its sha256): what a model or a monitor stores in
    place of a protected column's raw values. A pseudonym, not anonymity: a guessable value (a name, a birth date)
    can be found again by hashing guesses."""
    import hashlib

    return hashlib.sha256(str(value).encode("utf-8")).hexdigest()[:16]


def masked_column_name(column: str) -> str:
    """The display name of a column whose *name* holds personal data (others are returned unchanged)."""
    from playbook.privacy.patterns import find_pii

    return str(mask_value(column)) if find_pii(str(column)) else str(column)
