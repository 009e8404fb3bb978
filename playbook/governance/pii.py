"""Personal data (PII) detection, masking and leak scanning.

What is detected, per column (values are scanned as text; integer columns too):

==================  ==========================================================================
kind                rule
==================  ==========================================================================
``email``           ``local@domain.tld``
``phone``           international (``+49 30 1234567``), North American (``(555) 123-4567``),
                    national with trunk prefix (``030 1234567``); bare digit strings only when
                    the column name says phone/tel/mobile/fax
``payment_card``    13-19 digits (spaces/dashes allowed) passing the Luhn checksum
``us_ssn``          ``AAA-GG-SSSS`` with valid area/group/serial; bare 9 digits only when the
                    column name says ssn / social security
``ip_address``      IPv4 and IPv6 addresses (validated with :mod:`ipaddress`)
``iban``            country code + check digits + BBAN, with the ISO 13616 mod-97 checksum and
                    the country's length
``date_of_birth``   a date in a column named like dob/birth/born, or after "DOB:", "born on"...
``person_name``     a column named like a person's name whose values look like names; or, without
                    a name hint, values that look like "Given Family" names, are mostly distinct
                    and start with common given names
==================  ==========================================================================

Look-alikes are not flagged: a 16-digit number failing Luhn, an IBAN-shaped string failing its
checksum, ``000-12-3456`` (invalid SSN area), a version number ``10.300.1.2``, a date in a column
with no birth hint, a categorical column of title-cased labels.

A column is *flagged* when the share of its scanned values holding a validated match exceeds
the kind's threshold (:data:`DEFAULT_THRESHOLDS`), and, for checksum kinds, most candidates of
that shape pass the checksum (a column of random 16-digit ids passes Luhn only ~10% of the time).

Masking keeps just enough to recognise the kind (``j***@***.com``, ``**** **** **** 1111``,
``***-**-6789``); flagged columns are masked entirely by :func:`mask_series`, which
:func:`playbook.display.redact` applies to every row that reaches a notebook or an artifact.
"""

from __future__ import annotations

import hashlib
import html
import ipaddress
import re
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

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
}

#: A column is flagged for a kind when the share of matching values is *above* this (0.0 means
#: one validated match is enough: these kinds are checksum- or format-validated).
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

#: For checksum/format-validated kinds: the share of same-shaped candidates that must be valid.
MIN_VALID_RATIO = 0.5

DEFAULT_MAX_VALUES = 5000

# --- patterns -------------------------------------------------------------------------------------
_EMAIL = re.compile(r"(?<![\w.+%-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])")
_CARD = re.compile(r"(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d.,]?\d)")
_SSN = re.compile(r"(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])")
_SSN_BARE = re.compile(r"^\s*(\d{3})(\d{2})(\d{4})\s*$")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:){1,7}(?::|(?::[0-9A-Fa-f]{1,4}){1,7}|[0-9A-Fa-f]{1,4})(?![\w:])|(?<![\w:])::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4}(?![\w:])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){2,6}(?![\w])")
_PHONE_NANP = re.compile(r"(?<![\w(+-])(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-])")
_PHONE_NATIONAL = re.compile(r"(?<![\w.+/-])0\d{2,4}[ /-]\d{3,8}(?:[ -]\d{2,5})?(?![\w./-])")
_PHONE_BARE = re.compile(r"^\s*\+?\d{7,15}\s*$")
_DATE = r"(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{1,2} [A-Za-z]{3,9}\.? \d{4}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4})"
_DOB_TEXT = re.compile(r"(?i)\b(?:d\.?o\.?b\.?|date of birth|birth ?date|born(?: on)?|geb\.|geboren(?: am)?)\s*[:=-]?\s*(" + _DATE + r")")
_DATE_FULL = re.compile(r"^\s*" + _DATE + r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*$")

# ISO 13616 IBAN lengths by country (the common registry entries).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

# Column-name hints (matched against the lower-cased name split into words).
_PHONE_HINT = re.compile(r"(^|_)(phone|phones|telephone|tel|mobile|cell|cellphone|fax|msisdn|handy|telefon|phone_?number)(_|$)")
_SSN_HINT = re.compile(r"(^|_)(ssn|social_?security(_?(no|number|num))?|sozialversicherungsnummer|nino)(_|$)")
_DOB_HINT = re.compile(r"(^|_)(dob|birth|birthday|birthdate|date_?of_?birth|birth_?date|born|born_?on|geburtsdatum|geburtstag|geb_?datum)(_|$)")
_NAME_HINT = re.compile(
    r"(^|_)((first|last|given|family|middle|maiden|full|sur|fore|nick|display|customer|client|patient|"
    r"employee|applicant|holder|account_?holder|card_?holder|contact|person|member|owner|user)_?)?"
    r"names?(_|$)|(^|_)(surname|forename|nachname|vorname|prenom|apellido|fullname|firstname|lastname)(_|$)"
)
_NOT_PERSON = {
    "file", "host", "hostname", "product", "company", "brand", "model", "feature", "column", "field", "table",
    "street", "city", "country", "state", "bank", "item", "category", "event", "app", "device", "branch",
    "store", "project", "team", "job", "class", "type", "domain", "server", "service", "school", "org",
    "organisation", "organization", "business", "merchant", "shop", "vendor", "dataset", "step", "metric",
    "region", "campaign", "channel", "plan", "package", "variable", "attribute", "sheet", "tag", "label",
}

# Common given names (several languages), lower case: the value-shape test without a name hint
# asks that a good share of values start with one of these.
GIVEN_NAMES = frozenset("""
aaron abdul adam adrian ahmed aisha alan albert alejandro alex alexander alexandra ali alice alicia amanda
amelia amir amy ana andrea andreas andrew angela anna anne anthony antonio arthur ashley barbara ben benjamin
bernd betty brian carlos carmen carol caroline catherine charles charlotte chen chris christian christina
christine christopher claire claudia daniel david deborah dennis diana diego dieter dmitri donald donna
dorothy edward elena elizabeth emily emma eric erik eva fatima felix fernando francesco frank fritz gabriel
gary george giulia giuseppe grace gregory hannah hans harry heinz helen helga henry hiroshi hugo ian ingrid
isabel isabella ivan jack jacob james jan jane janet jason javier jean jeffrey jennifer jens jessica joan
joe johann johannes john jonas jonathan jorge jose joseph joshua juan judith julia julian jurgen karen karin
karl katharina kathleen kenji kevin klaus kumar larry laura lea leon li lisa lucas lucia luis lukas maria
marie mark markus martha martin mary matthew max maria mia michael michelle mohammed muhammad nancy natalia
nicholas nicole nina noah olga oliver olivia pablo patricia patrick paul peter petra philipp pierre rachel
rahul raj ralf rebecca richard robert roberto ronald rosa ruth ryan sabine sandra sarah sara scott sean
sebastian sergei sharon sofia sophia sophie stefan stephanie stephen steven susan thomas timothy tobias
tom ursula victoria vincent walter wei william wolfgang xavier yuki yusuf zoe
""".split())

_NAME_PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "le", "la", "bin",
                   "al", "dos", "das", "ter", "ten", "y", "zu", "st.", "mc", "o'"}


# --- validators ----------------------------------------------------------------------------------
def luhn_valid(number: str) -> bool:
    """True when the digits of ``number`` pass the Luhn checksum (payment cards)."""
    digits = [int(c) for c in str(number) if c.isdigit()]
    if len(digits) < 2:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_valid(candidate: str) -> bool:
    """A payment card number: 13-19 digits, plausible issuer prefix, not one repeated digit, Luhn-valid."""
    digits = "".join(c for c in candidate if c.isdigit())
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1 or digits[0] not in "23456":
        return False
    return luhn_valid(digits)


def iban_valid(candidate: str) -> bool:
    """ISO 13616: known country length and mod-97 remainder 1."""
    s = re.sub(r"\s+", "", str(candidate)).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", s):
        return False
    want = IBAN_LENGTHS.get(s[:2])
    if want is None or len(s) != want:
        return False
    rearranged = s[4:] + s[:4]
    numeric = "".join(str(int(c, 36)) for c in rearranged)
    return int(numeric) % 97 == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """US SSN rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


def ip_valid(candidate: str) -> bool:
    try:
        addr = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        return candidate.count(":") >= 2
    return True


def _phone_valid(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if not 7 <= len(digits) <= 15 or len(set(digits)) == 1:
        return False
    if re.fullmatch(r"\s*\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\s*", candidate) or re.fullmatch(r"\s*\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\s*", candidate):
        return False  # a date, not a phone number
    return True


# --- span finding on one string --------------------------------------------------------------------
@dataclass(frozen=True)
class Span:
    kind: str
    start: int
    end: int
    text: str


def _spans(text: str, *, hints: frozenset[str] = frozenset()) -> tuple[list[Span], dict[str, int]]:
    """Validated PII spans in ``text`` and, per checksum kind, the number of same-shaped candidates."""
    spans: list[Span] = []
    candidates: dict[str, int] = {}
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    def add(kind: str, m: re.Match, group: int = 0) -> None:
        a, b = m.span(group)
        if free(a, b):
            spans.append(Span(kind, a, b, m.group(group)))
            taken.append((a, b))

    if "@" in text:
        for m in _EMAIL.finditer(text):
            add("email", m)
    has_digit = any(c.isdigit() for c in text)
    if not has_digit:
        return spans, candidates
    for m in _IBAN.finditer(text):
        candidates["iban"] = candidates.get("iban", 0) + 1
        if iban_valid(m.group(0)):
            add("iban", m)
    for m in _DOB_TEXT.finditer(text):
        add("date_of_birth", m, 1)
    for m in _SSN.finditer(text):
        candidates["us_ssn"] = candidates.get("us_ssn", 0) + 1
        if ssn_valid(*m.groups()):
            add("us_ssn", m)
    if "ssn" in hints:
        m = _SSN_BARE.match(text)
        if m:
            candidates["us_ssn"] = candidates.get("us_ssn", 0) + 1
            if ssn_valid(*m.groups()):
                add("us_ssn", m)
    for m in _CARD.finditer(text):
        if not free(*m.span()):
            continue
        candidates["payment_card"] = candidates.get("payment_card", 0) + 1
        if card_valid(m.group(0)):
            add("payment_card", m)
    if "." in text:
        for m in _IPV4.finditer(text):
            candidates["ip_address"] = candidates.get("ip_address", 0) + 1
            if ip_valid(m.group(0)):
                add("ip_address", m)
    if ":" in text:
        for m in _IPV6.finditer(text):
            if ip_valid(m.group(0)):
                add("ip_address", m)
    for rx in (_PHONE_INTL, _PHONE_NANP, _PHONE_NATIONAL):
        for m in rx.finditer(text):
            if free(*m.span()) and _phone_valid(m.group(0)):
                add("phone", m)
    if "phone" in hints and not any(s.kind == "phone" for s in spans):
        m = _PHONE_BARE.match(text)
        if m and _phone_valid(m.group(0)) and free(*m.span()):
            add("phone", m)
    return spans, candidates


def find_pii(text: Any, column: str = "") -> list[Span]:
    """Validated PII spans in one value (``column`` enables name-hinted shapes such as bare digits)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    return _spans(str(text), hints=_hints(column))[0]


# --- column-name hints -----------------------------------------------------------------------------
def _words(name: str) -> str:
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()
    return s


def _hints(column: str) -> frozenset[str]:
    w = _words(column)
    out = set()
    if _PHONE_HINT.search(w):
        out.add("phone")
    if _SSN_HINT.search(w):
        out.add("ssn")
    if _DOB_HINT.search(w):
        out.add("dob")
    if _NAME_HINT.search(w) and not (set(w.split("_")) & _NOT_PERSON):
        out.add("name")
    return frozenset(out)


def name_hints(column: str) -> list[str]:
    """The PII kinds a column's *name* suggests (a hint only: values decide)."""
    mapping = {"phone": "phone", "ssn": "us_ssn", "dob": "date_of_birth", "name": "person_name"}
    return sorted(mapping[h] for h in _hints(column))


# --- person-name shape ----------------------------------------------------------------------------
_WORD_SPLIT = re.compile(r"[\s,]+")


def _name_token(tok: str) -> bool:
    if tok.lower() in _NAME_PARTICLES:
        return True
    if len(tok) == 2 and tok[0].isalpha() and tok[0].isupper() and tok[1] == ".":
        return True  # an initial
    parts = re.split(r"[-'’]", tok)
    for p in parts:
        if not p:
            return False
        if not p.isalpha() or not p[0].isupper():
            return False
        if len(p) > 1 and not (p[1:].islower() or (p[:2] in ("Mc", "Ma") and p[2:3].isupper())):
            return False
    return len(tok) >= 2


def looks_like_name(value: str) -> bool:
    """"Ada Lovelace", "van der Berg, Jan", "José García-Pérez"; not "Credit Card 2", not "male : single"."""
    v = str(value).strip()
    if not 2 <= len(v) <= 60 or any(c.isdigit() for c in v) or v.count(",") > 1:
        return False
    toks = [t for t in _WORD_SPLIT.split(v) if t]
    if not 1 <= len(toks) <= 5:
        return False
    real = [t for t in toks if t.lower() not in _NAME_PARTICLES]
    return bool(real) and all(_name_token(t) for t in toks)


def _first_given(value: str) -> bool:
    v = str(value).strip()
    if "," in v:  # "Family, Given"
        v = v.split(",", 1)[1]
    toks = [t for t in _WORD_SPLIT.split(v) if t]
    return bool(toks) and toks[0].lower().strip(".") in GIVEN_NAMES


# --- column scan -----------------------------------------------------------------------------------
@dataclass
class Finding:
    """One PII kind found in one column."""

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


def _sample(s: pd.Series, max_values: int) -> pd.Series:
    """Up to ``max_values`` non-null values, evenly spread over the column (deterministic and cheap)."""
    if len(s) > 2 * max_values:
        s = _even(s, 2 * max_values)
    s = s.dropna()
    if len(s) > max_values:
        s = _even(s, max_values)
    return s


def _as_text(s: pd.Series) -> pd.Series | None:
    """The column as strings, or None when no PII kind can live in it (floats, booleans)."""
    if pd.api.types.is_bool_dtype(s):
        return None
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.strftime("%Y-%m-%d")
    if pd.api.types.is_float_dtype(s):
        vals = s.to_numpy()
        if len(vals) and np.all(np.isfinite(vals)) and np.all(vals == np.round(vals)) and np.nanmax(np.abs(vals)) >= 1e6:
            return pd.Series(vals.astype("int64"), index=s.index).astype(str)
        return None
    if pd.api.types.is_integer_dtype(s):
        return s.astype(str)
    return s.astype(str)


def scan_column(s: pd.Series, column: str | None = None, *, max_values: int = DEFAULT_MAX_VALUES,
                thresholds: dict[str, float] | None = None) -> list[Finding]:
    """Every PII kind found in one column (flagged or not), most matching first."""
    name = str(column if column is not None else s.name)
    th = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    hints = _hints(name)
    sample = _sample(s, max_values)
    text = _as_text(sample)
    if text is None or len(text) == 0:
        return []
    n = len(text)
    counts: dict[str, int] = {}
    cand: dict[str, int] = {}
    valid_in_cand: dict[str, int] = {}
    example: dict[str, str] = {}
    values = text.tolist()
    # fast pre-filter: only values with a digit or an '@' can hold the pattern kinds
    for v in values:
        if "@" not in v and not any(c.isdigit() for c in v):
            continue
        spans, c = _spans(v, hints=hints)
        kinds = {sp.kind for sp in spans}
        for k in kinds:
            counts[k] = counts.get(k, 0) + 1
            example.setdefault(k, mask_value(v, column=name))
        for k, nc in c.items():
            cand[k] = cand.get(k, 0) + nc
            valid_in_cand[k] = valid_in_cand.get(k, 0) + sum(1 for sp in spans if sp.kind == k)
    findings: list[Finding] = []
    for k, m in counts.items():
        share = m / n
        ratio = None
        if k in cand and cand[k]:
            ratio = valid_in_cand.get(k, 0) / cand[k]
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

    # person names: by name hint and value shape, or by shape + given-name lexicon
    if not pd.api.types.is_numeric_dtype(s):
        uniq = pd.Series(pd.unique(text))
        shape = uniq.map(looks_like_name)
        if shape.any():
            shaped_vals = set(uniq[shape])
            is_shaped = text.isin(shaped_vals)
            m = int(is_shaped.sum())
            share = m / n
            ex = mask_value(text[is_shaped].iloc[0], column=name, kind="person_name")
            if "name" in hints:
                findings.append(Finding(name, "person_name", share, m, n, share > th["person_name"], "name+value", ex))
            else:
                distinct = len(uniq) / n
                given = uniq[shape].map(_first_given).mean()
                multi = uniq[shape].map(lambda v: len([t for t in _WORD_SPLIT.split(v) if t]) >= 2).mean()
                flagged = share >= max(0.8, th["person_name"]) and distinct >= 0.5 and given >= 0.2 and multi >= 0.5 and len(uniq) >= 5
                if flagged or (share >= 0.5 and given >= 0.2):
                    note = "" if flagged else "name-shaped values without a name hint in the column name: review"
                    findings.append(Finding(name, "person_name", share, m, n, flagged, "value", ex, None, note))
    findings.sort(key=lambda f: (-f.flagged, -f.share, f.kind))
    return findings


def scan_column_name(column: str) -> list[Finding]:
    """PII inside a column *name* itself (e.g. a pivot that turned e-mail addresses into columns)."""
    spans = find_pii(column)
    return [Finding(str(column), sp.kind, 1.0, 1, 1, True, "column name", mask_value(column)) for sp in spans[:1]]


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
    rows = [f.as_dict() for f in findings]
    return pd.DataFrame(rows, columns=cols)


def merge_findings(*groups: Iterable[Finding]) -> list[Finding]:
    """Combine scans of several frames (e.g. reference and current): per (column, kind), keep the
    strongest evidence and flag when any frame flags."""
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


# --- masking -----------------------------------------------------------------------------------------
def _mask_generic(text: str) -> str:
    """Each run of letters keeps its first letter; digits are masked but for the value's last two (when it
    holds six or more digits)."""
    def letters(m: re.Match) -> str:
        w = m.group(0)
        return w[0] + "*" * (len(w) - 1)

    text = re.sub(r"[^\W\d_]+", letters, text)
    total = sum(c.isdigit() for c in text)
    keep_from = total - 2 if total >= 6 else total
    out, seen = [], 0
    for c in text:
        if c.isdigit():
            out.append(c if seen >= keep_from else "*")
            seen += 1
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
        digits_seen = 0
        total = sum(c.isdigit() for c in t)
        out = []
        for c in t:
            if c.isdigit():
                digits_seen += 1
                out.append(c if digits_seen > total - 4 else "*")
            else:
                out.append(c)
        return "".join(out)
    if sp.kind == "phone":
        total = sum(c.isdigit() for c in t)
        seen = 0
        out = []
        for c in t:
            if c.isdigit():
                seen += 1
                out.append(c if seen > total - 2 else "*")
            else:
                out.append(c)
        return "".join(out)
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
    if kind == "person_name":
        return _mask_generic(text)
    spans = sorted(_spans(text, hints=_hints(column))[0], key=lambda s: s.start)
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


def mask_series(s: pd.Series) -> pd.Series:
    """Mask every non-null value of a flagged column (the result is text; nulls stay null)."""
    name = str(s.name) if s.name is not None else ""
    hints = _hints(name)
    kind = "date_of_birth" if "dob" in hints else ("person_name" if "name" in hints else None)

    def one(v: Any) -> Any:
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
            return v
        return mask_value(v, column=name, kind=kind)

    if pd.api.types.is_datetime64_any_dtype(s):
        s = s.dt.strftime("%Y-%m-%d")
    uniq = pd.unique(s.dropna())
    if len(uniq) < len(s) // 2:  # many repeats: mask each distinct value once
        mapping = {v: one(v) for v in uniq}
        return s.map(lambda v: mapping.get(v, v) if v is not None and not (isinstance(v, float) and np.isnan(v)) else v).astype(object)
    return s.map(one).astype(object)


# --- flagging with a cache (what display.redact calls) ----------------------------------------------
_COLUMN_CACHE: "OrderedDict[tuple, bool]" = OrderedDict()
_COLUMN_CACHE_MAX = 4096
_CTX_ATTR = "_pii_scan"


def _column_key(s: pd.Series, name: str, max_values: int) -> tuple:
    sample = _sample(s, max_values)
    try:
        h = pd.util.hash_pandas_object(sample, index=False).to_numpy()
        digest = hashlib.sha1(h.tobytes()).hexdigest()
    except TypeError:  # unhashable cells (lists, dicts)
        digest = hashlib.sha1(repr(sample.tolist()).encode()).hexdigest()
    return (name, str(s.dtype), len(sample), digest)


def column_flagged(s: pd.Series, name: str | None = None, *, max_values: int = DEFAULT_MAX_VALUES,
                   thresholds: dict[str, float] | None = None) -> bool:
    """Whether one column is flagged as PII (cached by content, so repeated calls are cheap)."""
    name = str(name if name is not None else s.name)
    key = _column_key(s, name, max_values) + (tuple(sorted((thresholds or {}).items())),)
    hit = _COLUMN_CACHE.get(key)
    if hit is not None:
        _COLUMN_CACHE.move_to_end(key)
        return hit
    flagged = any(f.flagged for f in scan_column(s, name, max_values=max_values, thresholds=thresholds))
    flagged = flagged or bool(scan_column_name(name))
    _COLUMN_CACHE[key] = flagged
    if len(_COLUMN_CACHE) > _COLUMN_CACHE_MAX:
        _COLUMN_CACHE.popitem(last=False)
    return flagged


@dataclass
class ContextScan:
    """The PII scan of a context's reference and current data (computed once per context)."""

    findings: list[Finding] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def flagged_columns(self) -> list[str]:
        return sorted({f.column for f in self.findings if f.flagged})

    def table(self) -> pd.DataFrame:
        return findings_table(self.findings)


def scan_context(ctx, *, thresholds: dict[str, float] | None = None, max_values: int = DEFAULT_MAX_VALUES,
                 refresh: bool = False) -> ContextScan:
    """Scan ``ctx.reference`` and ``ctx.current`` (cached on the context)."""
    th = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    cached = getattr(ctx, _CTX_ATTR, None)
    if cached is not None and not refresh and cached.thresholds == th:
        return cached
    groups = []
    for attr in ("reference", "current"):
        df = getattr(ctx, attr, None)
        if isinstance(df, pd.DataFrame):
            groups.append(scan_frame(df, max_values=max_values, thresholds=th))
    result = ContextScan(merge_findings(*groups), th)
    try:
        setattr(ctx, _CTX_ATTR, result)
    except (AttributeError, TypeError):  # pragma: no cover - a frozen context object
        pass
    return result


def context_flagged(ctx) -> set[str]:
    """Names of the columns flagged in the context's data (empty without a context)."""
    if ctx is None:
        return set()
    scan = getattr(ctx, _CTX_ATTR, None) or scan_context(ctx)
    return set(scan.flagged_columns)


def flag_columns(df: pd.DataFrame, ctx=None) -> list[str]:
    """Columns of ``df`` to mask: flagged in the context's data scan, or flagged by scanning ``df``
    itself (so derived frames - shifted, swapped, renamed columns - are covered too). Cached."""
    known: set[str] = set()
    if ctx is not None:
        scan = getattr(ctx, _CTX_ATTR, None) or scan_context(ctx)
        known = set(scan.flagged_columns)
        th = scan.thresholds
    else:
        th = None
    out = []
    for col in df.columns:
        name = str(col)
        levels = {str(x) for x in col} if isinstance(col, tuple) else {name}
        if levels & known:  # e.g. ("after", "card_number") in a before/after comparison
            out.append(col)
            continue
        if column_flagged(df[col], name, thresholds=th):
            out.append(col)
    return out


def masked_column_name(column: str) -> str:
    """The display name of a column whose *name* holds PII (others are returned unchanged)."""
    return str(mask_value(column)) if scan_column_name(str(column)) else str(column)


# --- leak scan: do raw values of flagged columns appear in files? -----------------------------------
def raw_needles(frames: Iterable[pd.DataFrame], columns: Iterable[str], *, per_column: int = 5000,
                min_length: int = 5) -> dict[str, list[str]]:
    """Distinct raw values of the flagged columns to search files for: all of them up to ``per_column``,
    else a seeded sample that always keeps the values most likely to leak (the most frequent ones and,
    for numbers, the minimum and maximum, which end up in ranges and contracts)."""
    out: dict[str, list[str]] = {}
    frames = [f for f in frames if isinstance(f, pd.DataFrame)]
    for col in columns:
        parts = [f[col].dropna() for f in frames if col in f.columns]
        if not parts:
            continue
        s = pd.concat(parts, ignore_index=True)
        if pd.api.types.is_datetime64_any_dtype(s):
            s = s.dt.strftime("%Y-%m-%d")
        keep: list[str] = []
        if pd.api.types.is_numeric_dtype(s) and len(s):
            keep += [str(s.min()), str(s.max())]
        keep += [str(v) for v in s.value_counts().index[:20]]
        uniq = sorted({str(v).strip() for v in pd.unique(s)} | {k.strip() for k in keep})
        uniq = [v for v in uniq if len(v) >= min_length]
        if len(uniq) > per_column:
            must = sorted({k.strip() for k in keep if len(k.strip()) >= min_length})
            rest = sorted(set(uniq) - set(must))
            rng = np.random.default_rng(0)
            take = max(per_column - len(must), 0)
            uniq = sorted(set(must) | set(rng.choice(rest, size=min(take, len(rest)), replace=False).tolist()))
        if uniq:
            out[str(col)] = uniq
    return out


_TOKEN = re.compile(r"[A-Za-z0-9]+")


def _normal_forms(needle: str) -> set[str]:
    """The spellings a raw value takes in files: as is, HTML- and JSON-escaped and, for a long number, as
    the float a numeric column turns it into (``4111111111111111.0``, ``4.111111111111111e+15``)."""
    forms = {needle, html.escape(needle, quote=True), html.escape(needle, quote=False)}
    forms.add(needle.replace("/", "\\/"))  # JSON-escaped slashes
    forms.add(needle.replace("'", "\\'").replace('"', '\\"'))
    if needle.isdigit() and len(needle) >= 9:
        as_float = float(int(needle))
        forms |= {repr(as_float), f"{needle}.0", f"{as_float:.{len(needle) - 1}e}", f"{as_float:.17g}"}
    return {f for f in forms if f}


def scan_files(root: str | Path, needles: dict[str, list[str]], *, exclude: Iterable[str | Path] = (),
               max_bytes: int = 200_000_000) -> list[dict]:
    """Search every file under ``root`` for the raw values in ``needles`` (column -> values).

    Also finds digit-only renderings of card / phone / SSN values (``4111111111111111`` for
    ``4111 1111 1111 1111``). Returns ``[{file, column, count, example}]`` with masked examples only.
    """
    root = Path(root)
    excl = {Path(e).resolve() for e in exclude}
    digit_index: dict[str, str] = {}
    prepared: list[tuple[str, str, str, str]] = []  # column, needle, one spelling of it, that spelling's key token
    for col, vals in needles.items():
        for v in vals:
            for form in sorted(_normal_forms(v)):
                toks = _TOKEN.findall(form)
                prepared.append((col, v, form, max(toks, key=len) if toks else form))
            digits = re.sub(r"\D", "", v)
            if len(digits) >= 9 and len(digits) >= 0.6 * len(re.sub(r"\s", "", v)):
                digit_index[digits] = col
    hits: dict[tuple[str, str], dict] = {}
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        rp = path.resolve()
        if rp in excl or any(e in rp.parents for e in excl):
            continue
        try:
            if path.stat().st_size > max_bytes:
                continue
            text = path.read_bytes().decode("utf-8", errors="ignore")
        except OSError:
            continue
        tokens = set(_TOKEN.findall(text))
        rel = path.relative_to(root).as_posix()
        for col, v, form, key in prepared:
            if key not in tokens:
                continue
            count = text.count(form)
            if count:
                h = hits.setdefault((rel, col), {"file": rel, "column": col, "count": 0, "example": mask_value(v, column=col)})
                h["count"] += count
        if digit_index:
            for run in re.findall(r"\d{9,19}", text):
                col = digit_index.get(run)
                if col is not None:
                    h = hits.setdefault((rel, col), {"file": rel, "column": col, "count": 0, "example": mask_value(run, column=col)})
                    h["count"] += 1
    return sorted(hits.values(), key=lambda h: (h["file"], h["column"]))


# --- checks ------------------------------------------------------------------------------------------
def pii_checks(scan: ContextScan, *, features: Iterable[str] = (), excluded: Iterable[str] = (),
               evidence: str | None = None) -> list[dict]:
    """What was found (``governance.pii.scan``) and whether personal data feeds the model
    (``governance.pii.features``). Whether raw values reach the pack is ``governance.pii.redacted``
    (:func:`playbook.governance.documents.leak_check`)."""
    flagged = scan.flagged_columns
    by_col: dict[str, list[str]] = {}
    for f in scan.findings:
        if f.flagged:
            by_col.setdefault(f.column, []).append(f.kind)
    summary = {c: sorted(set(k)) for c, k in sorted(by_col.items())}
    from playbook import catalogue

    checks = [catalogue.check(
        "governance.pii.scan", "warn" if flagged else "pass", {"flagged_columns": len(flagged), "columns": summary},
        title="Personal data found in the data",
        threshold={"kinds": list(KINDS), "flag_above_share": scan.thresholds}, evidence=evidence,
        why=("Personal data in training or scoring data needs a lawful basis, minimisation and protection; "
             "every flagged column is masked wherever this pack shows data."
             if flagged else
             "No e-mail, phone, card, SSN, IP, IBAN, birth date or person-name column was found, so the "
             "pack can show data rows without masking."))]
    feats = [c for c in features if c in set(flagged)]
    left_out = sorted(str(c) for c in excluded)
    if feats:
        why = ("Identifiers such as e-mails or card numbers as features let a model memorise individuals, leak "
               "them through its parameters and fail on unseen people; exclude them (data.exclude) unless justified.")
    elif left_out:
        why = (f"The flagged columns {', '.join(left_out)} were left out of the model features automatically "
               "(a model fitted on them would store them in its encoders); list them in data.features to use them "
               "on purpose.")
    else:
        why = "No flagged personal-data column is a model feature."
    checks.append(catalogue.check(
        "governance.pii.features", "warn" if feats else "pass", {"used": feats, "excluded_automatically": left_out},
        title="Personal identifiers used as model features", threshold={"max": 0, "of": "flagged columns used"},
        evidence=evidence, why=why))
    return checks


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
