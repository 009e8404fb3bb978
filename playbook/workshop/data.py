"""The workshop's data: the bundled German credit data, a messy copy of it with seeded faults, batches.

``messy_credit(seed)`` plants six faults that the audit and the privacy scan must find (exercise 1):

==================  ==========================================================================================
``duplicates``      about 5 % of the reference rows appear twice (an export that was appended twice)
``constant``        ``branch``: one value in every row (a field an upstream job stopped filling)
``unit_change``     ``credit_amount`` of the current data in thousands of DM instead of DM
``missing``         ``present_employment_since``: over a third of the values left empty
``leak``            ``days_in_arrears``: recorded after the credit went bad, so it gives the label away
``person_name``     ``applicant_name``: the applicant's name, personal data that must never be a feature
==================  ==========================================================================================

The faults are planted, not answers: the checkers of :mod:`playbook.workshop.checks` read the right answer from
the audit's and the scan's findings on the frames they are given, so a change in the data or in a check is seen
by the checker too (a unit test asserts that every planted fault is found).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TARGET = "creditability"
POSITIVE = "bad"

#: the faults :func:`messy_credit` plants, in the order the exercise lists them
PROBLEMS = ("duplicates", "constant", "unit_change", "missing", "leak", "person_name")

# a small, ordinary set of given names and surnames (the privacy scan recognises given names from its dictionary)
_FIRST = ("anna", "peter", "maria", "thomas", "julia", "michael", "laura", "daniel", "sofia", "lukas", "emma",
          "jonas", "lena", "felix", "clara", "paul", "mia", "david", "nina", "jan", "sarah", "tobias", "hannah",
          "simon", "lea", "martin", "eva", "stefan", "ines", "georg")
_LAST = ("schmidt", "mueller", "schneider", "fischer", "weber", "meyer", "wagner", "becker", "hoffmann", "koch",
         "richter", "klein", "wolf", "neumann", "schwarz", "braun", "zimmermann", "krueger", "hartmann", "lange",
         "werner", "krause", "lehmann", "koehler", "frank", "berger", "kaiser", "fuchs", "vogel", "jung")


def bundled() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bundled German credit reference and current data (``datasets/german_credit``), as the templates read it."""
    from playbook.data import load_table
    from playbook.paths import dataset_dir

    folder = dataset_dir() / "german_credit"
    return load_table(folder / "reference.csv", "reference"), load_table(folder / "current.csv", "current")


def _names(n: int, rng: np.random.Generator) -> list[str]:
    first = rng.integers(0, len(_FIRST), n)
    last = rng.integers(0, len(_LAST), n)
    return [f"{_FIRST[i].title()} {_LAST[j].title()}" for i, j in zip(first, last)]


def _dirty(df: pd.DataFrame, rng: np.random.Generator, missing_share: float) -> pd.DataFrame:
    out = df.copy()
    out.insert(0, "applicant_name", _names(len(out), rng))
    out["branch"] = "head office"
    bad = (out[TARGET] == POSITIVE).to_numpy()
    out["days_in_arrears"] = np.where(bad, rng.integers(30, 200, len(out)), rng.integers(0, 3, len(out)))
    gaps = rng.random(len(out)) < missing_share
    out.loc[gaps, "present_employment_since"] = np.nan
    return out


def messy_credit(seed: int = 0, duplicate_share: float = 0.05, missing_share: float = 0.35,
                 unit_factor: float = 1000.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bundled data with the six faults of :data:`PROBLEMS` planted (seeded): ``(reference, current)``."""
    if not 0 < duplicate_share < 1 or not 0 < missing_share < 1:
        raise ValueError("duplicate_share and missing_share must be between 0 and 1 (e.g. 0.05 and 0.35).")
    if unit_factor <= 1:
        raise ValueError(f"unit_factor={unit_factor!r} must be above 1 (1000: DM became thousands of DM).")
    rng = np.random.default_rng(seed)
    ref, cur = bundled()
    ref, cur = _dirty(ref, rng, missing_share), _dirty(cur, rng, missing_share)
    again = ref.sample(frac=duplicate_share, random_state=int(rng.integers(0, 2**31 - 1)))
    ref = pd.concat([ref, again], ignore_index=True)
    cur["credit_amount"] = (cur["credit_amount"] / unit_factor).round(3)
    return ref, cur


def roles_for(reference: pd.DataFrame, current: pd.DataFrame, target: str = TARGET, positive_label=POSITIVE):
    """The column roles of two frames (:func:`playbook.data.resolve_roles` with only the target stated)."""
    from playbook.config import DataSettings
    from playbook.data import resolve_roles

    return resolve_roles(reference, current, DataSettings(reference="", current="", target=target,
                                                          positive_label=positive_label))


def batches(frame: pd.DataFrame, size: int, count: int, seed: int = 0) -> list[pd.DataFrame]:
    """``count`` seeded batches of ``size`` rows of ``frame``, each without repeated rows."""
    if not 1 <= size <= len(frame):
        raise ValueError(f"batch size {size!r} must be between 1 and the {len(frame)} rows of the data.")
    rng = np.random.default_rng(seed)
    return [frame.iloc[np.sort(rng.choice(len(frame), size, replace=False))] for _ in range(count)]


def with_fault(batches_: list[pd.DataFrame], fault: str, severity: float, roles=None, seed: int = 0,
               columns=None) -> tuple[list[pd.DataFrame], dict]:
    """Each batch with ``fault`` injected by :func:`playbook.drift.shifts.apply` (batch ``i`` with seed
    ``seed + i``); returns the faulty batches and the first batch's ``info`` (the columns hit, the effect)."""
    from playbook.drift import shifts

    out, first = [], None
    for i, b in enumerate(batches_):
        faulty, info = shifts.apply(fault, b, severity, roles=roles, seed=seed + i, columns=columns)
        out.append(faulty)
        first = first or info
    return out, first or {}
