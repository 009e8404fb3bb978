"""Pattern kinds of personal data in one text value: e-mail, phone, payment card, US SSN, IP address, IBAN and
a date of birth written after a birth marker ("DOB: ...", "born on ...").

==================  ==========================================================================
kind                rule
==================  ==========================================================================
``email``           ``local@domain.tld``
``phone``           international (``+49 30 1234567``), North American (``(555) 123-4567``),
                    national with trunk prefix (``030 1234567``); bare digit strings only when
                    the column name says phone/tel/mobile/fax
``payment_card``    13-19 digits (spaces/dashes allowed), plausible issuer prefix, Luhn checksum
``us_ssn``          ``AAA-GG-SSSS`` with valid area/group/serial; bare 9 digits only when the
                    column name says ssn / social security
``ip_address``      IPv4 and IPv6 addresses (validated with :mod:`ipaddress`)
``iban``            country code + check digits + BBAN, with the ISO 13616 mod-97 checksum and
                    the country's length
``date_of_birth``   a date after "DOB:", "born on", "geb." ... (whole birth-date columns are judged in
                    :mod:`playbook.privacy.detect` from the column name)
==================  ==========================================================================

Look-alikes are not matched: a 16-digit number failing Luhn, an IBAN-shaped string failing its checksum,
``000-12-3456`` (invalid SSN area), a version number ``10.300.1.2``.

Why our own patterns and not a library's recognizers: presidio-analyzer's pattern recognizers are the same kind of
regular expressions plus checksums, but the package requires spaCy (and imports it when
``presidio_analyzer`` is imported), and its analyzer engine loads a spaCy language model that has to be
downloaded; that is too heavy for a scan that runs on every pack. The validators here are small and tested
against the look-alikes above, and ``benchmarks/pii_detection.py`` measures presidio's recognizers (used directly,
without the engine or a model) on the same columns as the reference: on 8 Faker locales both reach precision and
recall 1.0 on e-mail, card, IBAN, IP and SSN columns; presidio's phone recognizer finds 14 of 16 phone columns
(its default regions), ours 16; ours is about 9x faster.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

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
    return _spans(str(text), hints=pattern_hints(column))[0]



# --- column-name hints -----------------------------------------------------------------------------
def fold(text: str) -> str:
    """Lower case without accents ("Prénom" -> "prenom", "Łukasz" -> "lukasz")."""
    t = unicodedata.normalize("NFKD", str(text).replace("ł", "l").replace("Ł", "L").replace("ß", "ss"))
    return "".join(c for c in t if not unicodedata.combining(c)).lower()


def words(name: str) -> str:
    """A column name as lower-case words joined by ``_`` ("DateOfBirth" -> "date_of_birth", "Prénom" -> "prenom")."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    s = re.sub(r"[^a-z0-9]+", "_", fold(s)).strip("_")
    return s




def pattern_hints(column: str) -> frozenset[str]:
    """What a column's name says about its values: ``phone``, ``ssn``, ``dob`` (hints only: values decide)."""
    w = words(column)
    out = set()
    if _PHONE_HINT.search(w):
        out.add("phone")
    if _SSN_HINT.search(w):
        out.add("ssn")
    if _DOB_HINT.search(w):
        out.add("dob")
    return frozenset(out)
