"""A realistic people dataset with planted personal data of every kind (Faker, seeded), for the privacy tests.

Columns: names in several shapes (``name`` "ann smith", ``customer`` "SMITH, ANN", ``contact_person``
"Ann-Marie O'Neil" with titles and particles, ``first_name`` alone), ``email``, ``phone``, ``card_number``,
``ssn``, ``iban``, ``client_ip``, ``date_of_birth``, ``record_ref`` (a unique free-text id no detector knows),
demographics (``age``, ``sex``, ``race``, ``zip``) and ordinary features (``income``, ``tenure_months``,
``product``, ``region``), with a binary target ``default`` that depends on the features.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

#: the columns whose every raw value must stay out of a pack
PROTECTED = ["name", "customer", "contact_person", "first_name", "email", "phone", "card_number", "ssn", "iban",
             "client_ip", "date_of_birth", "record_ref"]


def people(n: int = 600, seed: int = 0) -> pd.DataFrame:
    from faker import Faker

    fake = Faker(["en_US", "de_DE", "fr_FR", "es_ES", "it_IT"])
    Faker.seed(seed)
    fake.seed_instance(seed)
    us = Faker("en_US")
    us.seed_instance(seed + 1)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        first, last = fake.first_name(), fake.last_name()
        f2, l2 = fake.first_name(), fake.last_name()
        f3, l3 = fake.first_name(), fake.last_name()
        age = int(rng.integers(18, 80))
        income = float(np.round(rng.lognormal(10.5, 0.4), 2))
        tenure = int(rng.integers(1, 120))
        product = str(rng.choice(["standard", "gold", "platinum", "student"]))
        risk = -2.0 + 0.8 * (income < 30000) + 0.02 * (60 - tenure) / 10 + 0.5 * (product == "student")
        rows.append({
            "name": f"{first} {last}".lower(),
            "customer": f"{l2}, {f2}".upper(),
            "contact_person": (rng.choice(["", "Dr. ", "Mr. ", "Ms. "]) + f"{f3}-{fake.first_name()} "
                               + rng.choice(["", "van der ", "O'", "de la "]) + l3).strip(),
            "first_name": fake.first_name(),
            "email": fake.email(),
            "phone": us.phone_number(),
            "card_number": us.credit_card_number(),
            "ssn": us.ssn(),
            "iban": fake.iban(),
            "client_ip": fake.ipv4_public(),
            "date_of_birth": fake.date_between_dates(dt.date(1946, 1, 1), dt.date(2008, 12, 31)).isoformat(),
            "record_ref": f"case {fake.bothify('??-####-???').lower()} {fake.word()}",
            "age": age,
            "sex": str(rng.choice(["female", "male"])),
            "race": str(rng.choice(["a", "b", "c", "d"], p=[0.6, 0.2, 0.15, 0.05])),
            "zip": us.zipcode(),
            "income": income,
            "tenure_months": tenure,
            "product": product,
            "region": str(rng.choice(["north", "south", "east", "west"])),
            "default": "yes" if rng.random() < 1 / (1 + np.exp(-risk)) else "no",
        })
    return pd.DataFrame(rows)


def write(folder, n: int = 600, seed: int = 0, current_share: float = 0.3) -> tuple[pd.DataFrame, dict]:
    """Write ``reference.csv`` / ``current.csv`` and a pack config into ``folder``; returns the frame and config."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    df = people(n, seed)
    cut = int(n * (1 - current_share))
    df.iloc[:cut].to_csv(folder / "reference.csv", index=False)
    df.iloc[cut:].to_csv(folder / "current.csv", index=False)
    cfg = {"name": "people", "data": {"reference": "reference.csv", "current": "current.csv", "target": "default",
                                      "positive_label": "yes", "sensitive": ["sex", "age"]}}
    return df, cfg
