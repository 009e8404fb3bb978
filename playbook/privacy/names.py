"""Person names in any shape: "ann smith", "SMITH, ANN", "Ann-Marie O'Neil", "Dr. Jan van der Berg", first names
alone under a name-like header.

Two kinds of evidence, combined per column by :func:`assess`:

* the **header**: words for a person's name in several languages (``first_name``, ``surname``, ``Vorname``,
  ``Nachname``, ``prénom``, ``nombre``, ``apellido``, ``cognome``, ``sobrenome``, ``voornaam``, ``nazwisko``,
  ``förnamn``, ``soyadı``, ...), unless the header names a thing (``product_name``, ``city_name``, ``file_name``);
* the **values**: the share of values shaped like a name (letters, hyphens, apostrophes, initials, particles; any
  case; "Family, Given" order) and the share holding a known given name. Given names come from the name
  dictionary shipped with the ``gender-guesser`` package (Jörg Michael's ``nam_dict.txt``: about 48,000 given names
  from 54 countries and regions), not from a hand-written list.

Without a name-like header a column is a name column only when most values are name-shaped, have two or more
words, hold a known given name, are mostly distinct, and no single other word dominates (a column of "Lake
Jennifer", "Port Michael" city names, or "Smith Ltd", "Jones Group" company names, repeats its other word;
real names rarely share a surname). Category labels ("high risk") have too few distinct values.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from playbook.privacy.patterns import fold, words

# --- the given-name lexicon --------------------------------------------------------------------------------------
LEXICON_SOURCE = "gender-guesser (nam_dict.txt by Jörg Michael, given names of 54 countries and regions)"


@lru_cache(maxsize=1)
def given_names() -> frozenset[str]:
    """Every given name of the ``gender-guesser`` dictionary, accent-folded and lower case (read once per process)."""
    from importlib import resources

    try:
        data = (resources.files("gender_guesser") / "data" / "nam_dict.txt").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:  # pragma: no cover - a broken install
        raise RuntimeError("the gender-guesser package (the given-name dictionary) is not installed; "
                           "run pip install -r requirements.txt") from exc
    out: set[str] = set()
    for line in data.splitlines():
        if not line or line[0] in "#=":
            continue
        name = line[3:29].strip()  # fixed columns: gender code, then the name from column 4 to 29
        if not name:
            continue
        variants = [name.replace("+", r) for r in ("", "-", " ")] if "+" in name else [name]
        for v in variants:
            f = v.lower() if v.isascii() else fold(v)
            out.add(f)
            if "-" in f or " " in f:
                out.update(p for p in re.split(r"[-\s]", f) if len(p) > 1)
    return frozenset(out)


def is_given_name(token: str) -> bool:
    return fold(token).strip(".'’") in given_names()


# --- headers -----------------------------------------------------------------------------------------------------
#: Header words (accent-folded) that mean "a person's name" on their own.
NAME_WORDS = {
    # English
    "name", "names", "surname", "surnames", "forename", "forenames", "firstname", "lastname", "fullname",
    "givenname", "familyname", "middlename", "maidenname", "nickname",
    # German
    "vorname", "vornamen", "nachname", "familienname", "rufname", "geburtsname", "kundenname", "mitarbeitername",
    # French, Spanish, Italian, Portuguese
    "prenom", "prenoms", "nom", "nombre", "nombres", "apellido", "apellidos", "nome", "cognome", "sobrenome",
    # Dutch, Polish, Czech, Finnish
    "naam", "voornaam", "achternaam", "familienaam", "imie", "nazwisko", "jmeno", "prijmeni", "nimi", "etunimi",
    "sukunimi",
    # Scandinavian, Turkish
    "namn", "fornamn", "efternamn", "navn", "fornavn", "etternavn", "efternavn", "isim", "soyad", "soyadi", "soyisim",
}
#: Words before "name" that make a person's name ("first name", "customer name", "nom de famille").
_PERSON_QUALIFIERS = {
    "first", "last", "given", "family", "middle", "maiden", "full", "sur", "fore", "nick", "display", "customer",
    "client", "patient", "employee", "applicant", "holder", "account", "card", "contact", "person", "member",
    "owner", "user", "de", "famille", "complet", "completo", "legal", "birth", "father", "mother", "spouse",
}
#: Words that make a name header about a thing, not a person.
NOT_PERSON = {
    "file", "host", "hostname", "product", "company", "brand", "model", "feature", "column", "field", "table",
    "street", "city", "country", "state", "bank", "item", "category", "event", "app", "device", "branch",
    "store", "project", "team", "job", "class", "type", "domain", "server", "service", "school", "org",
    "organisation", "organization", "business", "merchant", "shop", "vendor", "dataset", "step", "metric",
    "region", "campaign", "channel", "plan", "package", "variable", "attribute", "sheet", "tag", "label",
    "stadt", "ort", "firma", "produkt", "ville", "produit", "ciudad", "producto", "empresa", "citta", "prodotto",
    "datei", "fichier", "archivo", "town", "village", "place", "location", "street", "road", "hotel", "venue",
    "group", "segment", "course", "drug", "species", "color", "colour", "font", "sensor", "machine", "queue",
    "address", "addr", "strasse", "str", "calle", "rue", "straat", "ulica", "avenue", "building", "site", "employer",
}


def name_hint(column: str) -> bool:
    """Whether a column's header says it holds a person's name."""
    toks = [t for t in words(column).split("_") if t]
    if not toks or set(toks) & NOT_PERSON:
        return False
    return any(t in NAME_WORDS for t in toks)


def thing_hint(column: str) -> bool:
    """Whether a column's header names a thing (a street, a city, a product): evidence against person names."""
    return bool(set(words(column).split("_")) & NOT_PERSON)


# --- values ------------------------------------------------------------------------------------------------------
#: Honorifics and suffixes (folded, without dots) that may stand around a name.
HONORIFICS = {
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lady", "lord", "rev", "fr", "herr", "frau",
    "mme", "mlle", "m", "sr", "sra", "srta", "don", "dona", "sig", "sigra", "dott", "dottssa", "ing", "dipl",
    "univ", "mag", "pan", "pani", "bay", "bayan", "jr", "ii", "iii", "iv", "phd", "md", "dds", "dvm", "msc",
    "bsc", "ba", "ma", "mba", "esq", "ir", "drs", "mgr", "inz", "hr", "fru",
}
#: Family-name particles ("van der Berg", "de la Cruz", "O'Neil" needs none).
PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "le", "la", "bin", "ibn", "al",
             "el", "dos", "das", "do", "ter", "ten", "y", "zu", "st", "mc", "e", "i", "af", "av", "zum", "zur"}
_ALLOWED = re.compile(r"^[^\W\d_][^\W\d_'’`.\-]*(?:[-'’`.][^\W\d_]*)*\.?$")


@dataclass(frozen=True)
class NameShape:
    tokens: tuple[str, ...]   # the name's words (honorifics dropped, "Family, Given" put in reading order)
    given: str | None         # the first word that is a known given name (folded), if any


def parse(value: str) -> NameShape | None:
    """The words of a name-shaped value, or None when the value is not shaped like a person's name."""
    v = " ".join(str(value).split())
    if not 2 <= len(v) <= 80 or v.count(",") > 1 or any(c.isdigit() for c in v):
        return None
    if "," in v:
        family, given = (p.strip() for p in v.split(",", 1))
        if not family or not given:
            return None
        v = f"{given} {family}"
    raw = v.split(" ")
    if not 1 <= len(raw) <= 7:
        return None
    toks: list[str] = []
    for t in raw:
        if not _ALLOWED.match(t):
            return None
        if "." in t or fold(t) in HONORIFICS:
            continue  # "Dr.", "Univ.Prof.", "Dipl.-Ing.", initials ("J."), "Herr", "PhD"
        toks.append(t)
    real = [t for t in toks if fold(t) not in PARTICLES]
    if not 1 <= len(real) <= 5 or any(len(t) < 2 for t in real):
        return None
    given = next((fold(p) for t in real for p in re.split(r"[-'’`]", t) if len(p) > 1 and is_given_name(p)), None)
    return NameShape(tuple(toks), given)


def looks_like_name(value: str) -> bool:
    """Shaped like a person's name, in any case ("Ada Lovelace", "SMITH, ANN", "josé garcía-pérez", "J. Smith")."""
    return parse(value) is not None


def _first_real_is_given(s: NameShape) -> bool:
    real = [t for t in s.tokens if fold(t) not in PARTICLES]
    return bool(real) and any(is_given_name(p) for p in re.split(r"[-'’`]", real[0]) if len(p) > 1)


# --- columns -----------------------------------------------------------------------------------------------------
@dataclass
class NameAssessment:
    share: float            # share of (sampled, non-null) rows whose value is name-shaped
    given_share: float      # share of distinct name-shaped values holding a known given name
    multi_share: float      # share of distinct name-shaped values with two or more words
    distinct: int           # distinct values
    flagged: bool
    basis: str              # "name+value" (a name-like header) or "value"
    note: str = ""


#: Without a name-like header: at least this share of rows name-shaped, of distinct values holding a given name,
#: starting with one (in reading order: "Family, Given" counts as "Given Family") and having two or more words; at
#: least this many distinct values, this distinct share; no other word in more than ``MAX_OTHER_WORD_SHARE`` of the
#: values. (Streets named after people, "Via Ovidio Marín", do not start with the given name.)
MIN_SHAPE_SHARE = 0.8
MIN_GIVEN_SHARE = 0.5
MIN_FIRST_GIVEN_SHARE = 0.6
MIN_MULTI_SHARE = 0.5
MIN_DISTINCT = 10
MIN_DISTINCT_SHARE = 0.3
MAX_OTHER_WORD_SHARE = 0.15


def assess(values: list[str], column: str, *, min_share: float = 0.5) -> NameAssessment | None:
    """Whether a column's values (strings, nulls dropped) are person names. None when no value is name-shaped."""
    n = len(values)
    if n == 0:
        return None
    counts = Counter(values)
    shapes = {v: parse(v) for v in counts}
    shaped = {v: s for v, s in shapes.items() if s is not None}
    if not shaped:
        return None
    share = sum(counts[v] for v in shaped) / n
    given_share = sum(1 for s in shaped.values() if s.given) / len(shaped)
    multi_share = sum(1 for s in shaped.values() if len([t for t in s.tokens if fold(t) not in PARTICLES]) >= 2) / len(shaped)
    if name_hint(column):
        return NameAssessment(share, given_share, multi_share, len(counts), share > min_share, "name+value")
    others: Counter = Counter()
    givens: Counter = Counter()
    for s in shaped.values():
        seen = set()
        for t in s.tokens:
            f = fold(t)
            if f in PARTICLES:
                continue
            if s.given and f == s.given and "given" not in seen:
                seen.add("given")
                givens[f] += 1
                continue
            others[f] += 1
    top_other = max(others.values()) / len(shaped) if others else 0.0
    top_given = max(givens.values()) / len(shaped) if givens else 0.0
    first_given = sum(1 for s in shaped.values() if _first_real_is_given(s)) / len(shaped)
    flagged = (not thing_hint(column) and share >= max(MIN_SHAPE_SHARE, min_share) and given_share >= MIN_GIVEN_SHARE
               and first_given >= MIN_FIRST_GIVEN_SHARE
               and multi_share >= MIN_MULTI_SHARE and len(counts) >= MIN_DISTINCT
               and len(counts) / n >= MIN_DISTINCT_SHARE and top_other <= MAX_OTHER_WORD_SHARE and top_given <= 0.3)
    note = ""
    if not flagged and share >= 0.5 and given_share >= 0.3 and len(counts) >= MIN_DISTINCT:
        note = "name-shaped values without a name hint in the column name: review"
    elif not flagged:
        return None
    return NameAssessment(share, given_share, multi_share, len(counts), flagged, "value", note)
