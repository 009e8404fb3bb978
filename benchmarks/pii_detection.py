"""Column-level precision and recall of the privacy scan, on labeled columns generated with Faker.

Positives, per Faker locale: person names in several shapes ("Ann Smith", "ann smith", "SMITH, ANN",
"Dr. Ann-Marie van Smith"), under a neutral header and under the locale's own word for "name"; first names and
family names alone under a name-like header; e-mails, phone numbers, payment cards, IBANs, IP addresses, dates
of birth (under a birth header), US SSNs (en_US); and nearly unique free-text ids (the identifier rule).
Negatives ("clean" columns): city, street, company, country and job names, product names made of colour names
and nouns ("Rose Lamp"), category labels ("high risk"), repeated free-text codes, words, order numbers that fail
Luhn, version strings, transaction dates, amounts.

The detector's given-name lexicon is the ``gender-guesser`` package's dictionary (nam_dict.txt by Jörg Michael),
not Faker's name lists, so the names measured here are not the lexicon's own entries by construction; recall per
locale is printed so a locale whose names the dictionary covers poorly shows.

    python benchmarks/pii_detection.py [--rows 200] [--locales en_US,de_DE,...] [--small] [--no-reference]

Reference tool, measured in the same run on the same columns: presidio-analyzer's pattern recognizers (e-mail,
phone, credit card, IBAN, IP, US SSN; ``pip install -e ".[bench]"``), applied per value, a column flagged for a
kind when at least half its sampled values are recognized as that kind. Presidio's person names come from a spaCy
or transformer NER model, which this benchmark does not download, so names (and dates of birth, which presidio
reports as any date) have no reference figure. Without presidio installed the reference is reported as absent.

Prints a table per kind and, as its last line, one JSON object:
``{"kinds": {kind: {precision, recall, tp, fp, fn}}, "clean_columns", "clean_false_positives", "targets": {...},
"targets_met", "reference": {"tool", "kinds", "clean_false_positives", "seconds"}, "seconds",
"speed_ratio_vs_reference"}``. Targets: recall >= 0.95 per kind, at most 1 false positive per 50 clean columns.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playbook.privacy import detect  # noqa: E402

LOCALES = ["en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL", "pl_PL"]
NAME_HEADER = {"en_US": "full_name", "de_DE": "Name", "fr_FR": "nom_complet", "es_ES": "nombre_completo",
               "it_IT": "nome", "pt_BR": "nome", "nl_NL": "naam", "pl_PL": "imie_nazwisko"}
FIRST_HEADER = {"en_US": "first_name", "de_DE": "Vorname", "fr_FR": "prénom", "es_ES": "nombre",
                "it_IT": "nome", "pt_BR": "nome", "nl_NL": "voornaam", "pl_PL": "imię"}
LAST_HEADER = {"en_US": "last_name", "de_DE": "Nachname", "fr_FR": "nom_de_famille", "es_ES": "apellidos",
               "it_IT": "cognome", "pt_BR": "sobrenome", "nl_NL": "achternaam", "pl_PL": "nazwisko"}
DOB_HEADER = {"en_US": "date_of_birth", "de_DE": "Geburtsdatum", "fr_FR": "date_of_birth", "es_ES": "birth_date",
              "it_IT": "dob", "pt_BR": "birthdate", "nl_NL": "date_of_birth", "pl_PL": "dob"}
KINDS = ["person_name", "email", "phone", "payment_card", "iban", "ip_address", "date_of_birth", "us_ssn",
         "identifier"]
TARGET_RECALL = 0.95
MAX_FP_PER_50 = 1


def _faker(locale: str, seed: int):
    from faker import Faker

    f = Faker(locale)
    f.seed_instance(seed)
    return f


def positives(locale: str, rows: int, seed: int) -> list[tuple[str, str, list]]:
    """``(kind, header, values)`` for one locale."""
    f = _faker(locale, seed)
    rng = np.random.default_rng(seed)
    full = [(f.first_name(), f.last_name()) for _ in range(rows)]
    out = [
        ("person_name", "col_a", [f"{a} {b}" for a, b in full]),
        ("person_name", "holder", [f"{a} {b}".lower() for a, b in full]),
        ("person_name", "col_b", [f"{b}, {a}".upper() for a, b in full]),
        ("person_name", "contact", [f.name() for _ in range(rows)]),
        ("person_name", "col_c", [f"{a}-{f.first_name()} {b}" for a, b in full]),
        ("person_name", NAME_HEADER[locale], [f"{a} {b}" for a, b in full]),
        ("person_name", FIRST_HEADER[locale], [f.first_name() for _ in range(rows)]),
        ("person_name", LAST_HEADER[locale], [f.last_name() for _ in range(rows)]),
        ("email", "col_d", [f.email() for _ in range(rows)]),
        ("phone", "phone", [f.phone_number() for _ in range(rows)]),
        ("phone", "col_e", [f.phone_number() for _ in range(rows)]),
        ("payment_card", "col_f", [f.credit_card_number() for _ in range(rows)]),
        ("iban", "col_g", [f.iban() for _ in range(rows)]),
        ("ip_address", "col_h", [f.ipv4() if i % 2 else f.ipv6() for i in range(rows)]),
        ("date_of_birth", DOB_HEADER[locale],
         [f.date_of_birth(minimum_age=18, maximum_age=90).isoformat() for _ in range(rows)]),
        ("identifier", "col_i", [f"{f.bothify('??-#####')}-{i}" for i in range(rows)]),
        ("identifier", "remarks", [f"{f.sentence(nb_words=6)} #{int(rng.integers(1e6))}" for _ in range(rows)]),
    ]
    if locale == "en_US":
        out.append(("us_ssn", "col_j", [f.ssn() for _ in range(rows)]))
    return out


def negatives(locale: str, rows: int, seed: int) -> list[tuple[str, list]]:
    """``(header, values)`` of clean columns for one locale (each a look-alike of some kind)."""
    f = _faker(locale, seed + 1000)
    rng = np.random.default_rng(seed + 1000)
    pick = lambda pool: [pool[i] for i in rng.integers(0, len(pool), rows)]  # noqa: E731
    colors = [f.color_name() for _ in range(40)]
    nouns = ["Lamp", "Chair", "Watch", "Bag", "Phone Case", "Jacket", "Mug", "Sofa", "Kettle", "Desk", "Scarf",
             "Pillow", "Backpack", "Helmet", "Bottle"]
    cities = [f.city() for _ in range(60)]
    companies = [f.company() for _ in range(80)]
    return [
        ("city", pick(cities)),
        ("col_k", pick(cities)),
        ("branch_town", [f.city() for _ in range(rows)]),
        ("street", pick([f.street_name() for _ in range(60)])),
        ("col_o", [f.street_name() for _ in range(rows)]),
        ("col_p", [f.city() for _ in range(rows)]),
        ("col_q", [f.company() for _ in range(rows)]),
        ("col_r", [f"{f.last_name()} {f.company_suffix()}" for _ in range(rows)]),
        ("col_s", [f"{f.city()} {f.street_suffix()}" if hasattr(f, "street_suffix") else f.city()
                   for _ in range(rows)]),
        ("title", pick([f.catch_phrase() if hasattr(f, "catch_phrase") else f.sentence(nb_words=3)
                        for _ in range(40)])),
        ("col_l", pick(companies)),
        ("employer", [f.company() for _ in range(rows)]),
        ("country", pick([f.country() for _ in range(40)])),
        ("job", pick([f.job() for _ in range(60)])),
        ("product", pick([f"{c} {n}" for c in colors for n in nouns])),
        ("col_m", pick([f"{c} {n}" for c in colors for n in nouns])),
        ("risk", pick(["high risk", "low risk", "medium risk", "very high risk", "unknown"])),
        ("segment", pick(["Gold Member", "Silver Plan", "New Customer", "Returning Customer", "Premium Plus"])),
        ("col_n", pick([f.bothify("??-##").upper() for _ in range(30)])),
        ("tag", pick([f.word() for _ in range(50)])),
        ("order_no", [str(int(v)) for v in rng.integers(10**15, 10**16 - 1, rows)]),
        ("version", [f"{rng.integers(256, 999)}.{rng.integers(0, 9)}.{rng.integers(0, 9)}.{rng.integers(0, 9)}"
                     for _ in range(rows)]),
        ("booked_at", [f.date_between("-2y").isoformat() for _ in range(rows)]),
        ("amount", list(np.round(rng.lognormal(5, 1, rows), 2))),
    ]


def judge(values: list, header: str) -> set[str]:
    s = pd.Series(values, name=header)
    kinds = {f.kind for f in detect.scan_column(s, header) if f.flagged}
    if detect.is_identifier(detect.distinct_stats(s)) and not kinds:
        kinds.add("identifier")  # an identifier by shape that no kind explains
    return kinds


#: playbook kind -> (presidio recognizer class, presidio entity)
PRESIDIO = {"email": ("EmailRecognizer", "EMAIL_ADDRESS"), "phone": ("PhoneRecognizer", "PHONE_NUMBER"),
            "payment_card": ("CreditCardRecognizer", "CREDIT_CARD"), "iban": ("IbanRecognizer", "IBAN_CODE"),
            "ip_address": ("IpRecognizer", "IP_ADDRESS"), "us_ssn": ("UsSsnRecognizer", "US_SSN")}
REFERENCE_MIN_SHARE = 0.5


def presidio_judge():
    """A column judge built from presidio-analyzer's pattern recognizers, or None when it is not installed."""
    try:
        from presidio_analyzer import predefined_recognizers as pr
    except ImportError:
        return None
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # no network here: it falls back to its snapshot
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    recognizers = {k: (getattr(pr, cls)(), ent) for k, (cls, ent) in PRESIDIO.items()}

    def judge_ref(values: list, header: str) -> set[str]:
        vals = [str(v) for v in values if v is not None and str(v) != ""][:200]
        got = set()
        for kind, (rec, ent) in recognizers.items():
            hits = sum(1 for v in vals if any(r.entity_type == ent for r in rec.analyze(v, [ent], None)))
            if vals and hits / len(vals) >= REFERENCE_MIN_SHARE:
                got.add(kind)
        return got

    return judge_ref


def _score(stats: dict) -> dict:
    kinds = {}
    for k, s in stats.items():
        n_pos = s["tp"] + s["fn"]
        if n_pos == 0:
            continue
        kinds[k] = {"precision": round(s["tp"] / max(1, s["tp"] + s["fp"]), 4), "recall": round(s["tp"] / n_pos, 4),
                    **s}
    return kinds


def reference(locales: list[str], rows: int, seed: int = 0) -> dict:
    """The same positives and negatives through presidio's recognizers, restricted to the kinds it has patterns for."""
    judge_ref = presidio_judge()
    if judge_ref is None:
        return {"tool": "presidio-analyzer", "available": False,
                "reason": "not installed: pip install -e \".[bench]\""}
    from importlib.metadata import version

    stats = {k: {"tp": 0, "fp": 0, "fn": 0} for k in PRESIDIO}
    clean_fp = 0
    seconds = 0.0
    for i, loc in enumerate(locales):
        for kind, header, values in positives(loc, rows, seed + i):
            t0 = time.perf_counter()
            got = judge_ref(values, header)
            seconds += time.perf_counter() - t0
            if kind in stats:
                stats[kind]["tp" if kind in got else "fn"] += 1
            for k in got - {kind}:
                stats[k]["fp"] += 1
        for header, values in negatives(loc, rows, seed + i):
            t0 = time.perf_counter()
            got = judge_ref(values, header)
            seconds += time.perf_counter() - t0
            clean_fp += bool(got)
            for k in got:
                stats[k]["fp"] += 1
    return {"tool": f"presidio-analyzer {version('presidio-analyzer')} pattern recognizers", "available": True,
            "kinds": _score(stats), "clean_false_positives": clean_fp, "seconds": round(seconds, 3),
            "not_measured": {"person_name": "presidio finds names with an NER model (spaCy / transformers), not "
                                            "downloadable here", "date_of_birth": "presidio reports any date",
                             "identifier": "no presidio counterpart"}}


def run(locales: list[str], rows: int, seed: int = 0) -> dict:
    stats = {k: {"tp": 0, "fp": 0, "fn": 0} for k in KINDS}
    per_locale: dict[str, dict] = {}
    misses: list[str] = []
    clean = 0
    clean_fp: list[str] = []
    seconds = 0.0
    for i, loc in enumerate(locales):
        loc_name = {"tp": 0, "fn": 0}
        for kind, header, values in positives(loc, rows, seed + i):
            t0 = time.perf_counter()
            got = judge(values, header)
            seconds += time.perf_counter() - t0
            ok = kind in got or (kind == "identifier" and got)
            stats[kind]["tp" if ok else "fn"] += 1
            if kind == "person_name":
                loc_name["tp" if ok else "fn"] += 1
            if not ok:
                misses.append(f"{loc} {kind} {header!r}: got {sorted(got) or 'nothing'} e.g. {values[0]!r}")
            for k in got - {kind, "identifier"}:
                stats[k]["fp"] += 1
        per_locale[loc] = {"person_name_recall": round(loc_name["tp"] / max(1, loc_name["tp"] + loc_name["fn"]), 3)}
        for header, values in negatives(loc, rows, seed + i):
            clean += 1
            t0 = time.perf_counter()
            got = judge(values, header) - {"identifier"}
            seconds += time.perf_counter() - t0
            if got:
                clean_fp.append(f"{loc} {header!r}: {sorted(got)} e.g. {values[0]!r}")
                for k in got:
                    stats[k]["fp"] += 1
    kinds = _score(stats)
    fp_budget = MAX_FP_PER_50 * clean / 50
    met = all(v["recall"] >= TARGET_RECALL for v in kinds.values()) and len(clean_fp) <= fp_budget
    return {"locales": locales, "rows_per_column": rows, "kinds": kinds, "per_locale": per_locale,
            "clean_columns": clean, "clean_false_positives": len(clean_fp), "false_positive_examples": clean_fp,
            "misses": misses, "seconds": round(seconds, 3),
            "targets": {"recall": TARGET_RECALL, "max_false_positives": fp_budget}, "targets_met": met,
            "lexicon": "gender-guesser nam_dict.txt (not Faker's lists)"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--locales", default=",".join(LOCALES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--small", action="store_true", help="5 locales, 60 rows per column (the test suite's version)")
    ap.add_argument("--no-reference", action="store_true", help="skip the presidio reference run")
    a = ap.parse_args(argv)
    locales = LOCALES[:5] if a.small else [x for x in a.locales.split(",") if x]
    rows = 60 if a.small else a.rows
    res = run(locales, rows, a.seed)
    ref = ({"tool": "presidio-analyzer", "available": False, "reason": "--no-reference"} if a.no_reference
           else reference(locales, rows, a.seed))
    res["reference"] = ref
    res["speed_ratio_vs_reference"] = (round(ref["seconds"] / res["seconds"], 2)
                                       if ref.get("available") and res["seconds"] > 0 else None)
    print(f"{'kind':<14} {'precision':>9} {'recall':>7} {'tp':>4} {'fp':>4} {'fn':>4}")
    for k, v in res["kinds"].items():
        print(f"{k:<14} {v['precision']:>9.3f} {v['recall']:>7.3f} {v['tp']:>4} {v['fp']:>4} {v['fn']:>4}")
    print(f"clean columns: {res['clean_columns']}, false positives: {res['clean_false_positives']} "
          f"(target at most {res['targets']['max_false_positives']:g})")
    for m in res["misses"]:
        print("missed:", m)
    for m in res["false_positive_examples"]:
        print("false positive:", m)
    if ref.get("available"):
        print(f"\nreference: {ref['tool']} ({ref['seconds']:.2f} s; ours {res['seconds']:.2f} s, "
              f"{res['speed_ratio_vs_reference']}x faster)")
        print(f"{'kind':<14} {'ours P/R':>11} {'presidio P/R':>13}")
        for k, v in ref["kinds"].items():
            o = res["kinds"].get(k, {})
            print(f"{k:<14} {o.get('precision', 0):>5.3f}/{o.get('recall', 0):.3f} "
                  f"{v['precision']:>7.3f}/{v['recall']:.3f}")
        print(f"clean columns flagged by presidio: {ref['clean_false_positives']}")
    else:
        print(f"reference: {ref['tool']} not run ({ref['reason']})")
    print(json.dumps({k: v for k, v in res.items() if k not in ("misses", "false_positive_examples")}, sort_keys=True))
    return 0 if res["targets_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
