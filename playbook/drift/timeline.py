"""Timelines: a fault unfolding over a sequence of simulated daily batches.

Production drift rarely arrives as one shifted table. It starts on a given day and then

* ``sudden``: stays at full strength (a deploy, a schema change, a new partner);
* ``gradual``: grows linearly to full strength over ``ramp`` batches (a slowly changing population,
  a sensor ageing);
* ``recurring``: comes and goes with a period (a weekly or seasonal pattern:
  ``severity * sin^2(pi * (day - onset) / period)``, so it peaks mid-period and vanishes at its ends).

API (also used by the monitoring module)::

    from playbook.drift.timeline import batches, schedule, time_to_detection

    sev = schedule("gradual", n_batches=30, onset=10, severity=1.0)       # list of 30 severities
    days = batches(pool, "missing_mcar", "gradual", n_batches=30, batch_size=200,
                   onset=10, severity=1.0, roles=ctx.roles, seed=0)       # list of 30 DataFrames
    time_to_detection([False] * 12 + [True] * 18, onset=10)               # -> 2 (batches after onset)

Each batch is drawn from ``pool`` (without replacement when ``batch_size <= len(pool)``, else with
replacement) with its own seed, and the shift is applied at that day's severity; the clean days
before the onset depend only on ``seed`` and the day, not on the shift, so every shift's timeline
shares them. ``batches(..., with_info=True)`` also returns the per-day shift ``info``.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
import pandas as pd

from playbook.drift import shifts as shifts_mod

KINDS = ("sudden", "gradual", "recurring")


class TimelineError(ValueError):
    """Bad timeline parameters: the message names the parameter and the fix."""


def _check(kind: str, n_batches: int, onset: int, severity: float, period: int, ramp: int | None) -> None:
    if kind not in KINDS:
        raise TimelineError(f"timeline {kind!r} is unknown; use one of {', '.join(KINDS)}.")
    if int(n_batches) < 1:
        raise TimelineError(f"n_batches must be at least 1, got {n_batches}.")
    if not 0 <= int(onset) < int(n_batches):
        raise TimelineError(f"onset must be a batch index between 0 and n_batches - 1 ({n_batches - 1}), got {onset}.")
    if not 0.0 <= float(severity) <= 1.0:
        raise TimelineError(f"severity must be between 0 and 1, got {severity}.")
    if int(period) < 2:
        raise TimelineError(f"period must be at least 2 batches, got {period}.")
    if ramp is not None and int(ramp) < 1:
        raise TimelineError(f"ramp must be at least 1 batch, got {ramp}.")


def schedule(kind: str, n_batches: int = 30, onset: int = 10, severity: float = 1.0,
             period: int = 7, ramp: int | None = None) -> list[float]:
    """The severity of each batch (0 before ``onset``).

    ``ramp`` (gradual only) is the number of batches to reach ``severity``; default: until the end.
    """
    _check(kind, n_batches, onset, severity, period, ramp)
    out = []
    r = int(ramp) if ramp is not None else max(int(n_batches) - int(onset), 1)
    for day in range(int(n_batches)):
        k = day - int(onset)
        if k < 0:
            s = 0.0
        elif kind == "sudden":
            s = float(severity)
        elif kind == "gradual":
            s = float(severity) * min(1.0, (k + 1) / r)
        else:
            s = float(severity) * math.sin(math.pi * k / int(period)) ** 2
        out.append(round(s, 12))
    return out


def sample_batch(pool: pd.DataFrame, size: int, rng: np.random.Generator) -> pd.DataFrame:
    """``size`` rows of ``pool``: without replacement when possible, else with replacement."""
    n = len(pool)
    if n == 0:
        raise TimelineError("the pool of clean rows is empty; batches need at least one row to draw from.")
    idx = rng.choice(n, size=int(size), replace=int(size) > n)
    return pool.iloc[np.sort(idx)].reset_index(drop=True)


def day_seed(seed: int, day: int, salt: str = "") -> list[int]:
    """A stable seed sequence for one batch (independent of the other days and of dict order)."""
    return [int(seed) & 0xFFFFFFFF, int(day), zlib.crc32(salt.encode())]


def batches(pool: pd.DataFrame, shift: str, kind: str = "sudden", *, n_batches: int = 30,
            batch_size: int = 200, onset: int = 10, severity: float = 1.0, period: int = 7,
            ramp: int | None = None, roles: Any = None, seed: int = 0, columns=None,
            with_info: bool = False):
    """The daily batches of a timeline: a list of ``n_batches`` DataFrames.

    Day ``d`` is a sample of ``batch_size`` rows from ``pool`` (seeded by ``seed`` and ``d``) with
    ``shift`` applied at ``schedule(...)[d]``. With ``with_info=True`` returns
    ``(frames, infos)`` where each info is the shift's ``info`` plus ``day`` and ``severity``.
    """
    shifts_mod.check_names([shift])
    sev = schedule(kind, n_batches, onset, severity, period, ramp)
    frames, infos = [], []
    for day, s in enumerate(sev):
        clean = sample_batch(pool, batch_size, np.random.default_rng(day_seed(seed, day, "sample")))
        if s > 0:
            frame, info = shifts_mod.apply(shift, clean, s, roles=roles, columns=columns,
                                           seed=day_seed(seed, day, f"{kind}:{shift}"))
        else:
            frame, info = clean, {"shift": shift, "severity": 0.0, "applied": False, "reason": "before onset",
                                  "columns": [], "rows_affected": 0, "effect": {}}
        frames.append(frame)
        infos.append({**info, "day": day, "severity": s})
    return (frames, infos) if with_info else frames


def time_to_detection(alarms: list[bool], onset: int) -> int | None:
    """Batches from the onset to the first alarm at or after it (0 = the onset day); None if never."""
    for day in range(int(onset), len(alarms)):
        if alarms[day]:
            return day - int(onset)
    return None
