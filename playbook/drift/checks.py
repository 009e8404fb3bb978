"""The drift step's checks (ids ``drift.*``, declared in :mod:`playbook.catalogue`) from the simulation's results.

Every check is made with :func:`playbook.catalogue.check` / :func:`playbook.catalogue.skip`. Each limit is the one
the gate in force sets for the check's id, else the step parameter: pass ``limit=ctx.limit`` (or any function
``(check_id, "min" | "max", default) -> bound``), so a policy gate such as ``drift.detects.*: {min: 0.9}`` moves the
step's own threshold as well as the verdict's.

Public API::

    row = detection_at(matrix, "unit_change_up", 0.5)       # the matrix row closest to that severity
    checks = make_checks(matrix, skipped, timeline, pw, scored=mon.scores, score_reason=reason,
                         score_not_applicable=not_applicable, limit=ctx.limit, volume_per_day=...)

=================================== ====================================================== ===================
id                                  value                                                  step's own status
=================================== ====================================================== ===================
``drift.false_alarm_rate``          alarm rate on disjoint clean held-out batches (95% CI) fail when the CI's
                                                                                           lower bound is above
                                                                                           the max; warn when
                                                                                           too few batches
``drift.silent_failures``           (fault, severity) cells degraded with no alarm         fail above the max
``drift.noisy_alarms``              share of alarmed cells that did not hurt the model     warn above the max
``drift.detects.<shift>``           alarm rate at ``detect_severity``                      fail below the min,
                                                                                           warn when only the
                                                                                           label-based monitor
                                                                                           reaches it
``drift.time_to_detection.<kind>``  median batches from onset to alarm                     warn above the max
                                                                                           or never detected
``drift.min_batch_size``            rows per batch every detectable fault needs            warn above a day's
                                                                                           volume, or when no
                                                                                           fault is detectable
=================================== ====================================================== ===================

A shift that cannot apply to the data is a ``not_applicable`` skip; so are the silent / noisy checks when the model
cannot score rows (predictions mode).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from playbook import catalogue
from playbook.drift import shifts as shifts_mod
from playbook.drift.engine import NO_SHIFT

#: ``(check_id, "min" | "max", default) -> bound``: the limit in force for a check (``ctx.limit``)
Limit = Callable[[str, str, "float | None"], "float | None"]

SENSITIVITY = "artifacts/sensitivity.json"
HEATMAP = "artifacts/sensitivity_heatmap.png"
TIMELINES = "artifacts/timelines.json"
POWER = "artifacts/power.json"


def _own(check_id: str, key: str, default):
    return default


def detection_at(matrix: pd.DataFrame, shift: str, severity: float) -> pd.Series | None:
    """The matrix row of ``shift`` at the severity closest to ``severity``."""
    g = matrix[matrix["shift"] == shift]
    if g.empty:
        return None
    return g.iloc[int(np.argmin(np.abs(g["severity"].to_numpy() - severity)))]


def _number(v) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return float(v)


def false_alarm_check(matrix: pd.DataFrame, max_rate: float, measured: dict | None = None) -> dict:
    """``drift.false_alarm_rate``: how often the rehearsed monitor alarms on clean data.

    With ``measured`` (:func:`playbook.drift.monitors.held_out_false_alarms`: the deployed monitor on disjoint clean
    held-out batches, with Evidently's default tests on the same batches) the check is that measurement: its 95% CI,
    ``warn`` when there are too few disjoint batches to measure, ``fail`` only when even the CI's lower bound exceeds
    the limit. Without it, the unshifted trials of the sweep (``matrix``'s severity-0 row) stand in.
    """
    cid = "drift.false_alarm_rate"
    if measured is not None:
        thr = {"max": max_rate, "batches": measured["batches"], "batch_size": measured["batch_size"]}
        ci = measured.get("ci")
        default = measured.get("evidently_defaults") or {}
        lesson = (f" Evidently's default tests alarm on {default['alarms']} of {default['batches']} of the same clean "
                  f"batches ({default['rate']:.0%}, 95% CI {default['ci'][0]:.0%} to {default['ci'][1]:.0%}): "
                  "monitors nobody calibrated get muted, and then they miss the real fault." if default.get("batches")
                  else " Monitors that fire on clean data get muted, and then they miss the real fault.")
        if measured.get("inconclusive"):
            return catalogue.check(cid, "warn", measured.get("rate"), threshold=thr, ci=ci,
                                   inconclusive=measured["inconclusive"], evidence=[SENSITIVITY, HEATMAP],
                                   title="False-alarm rate of the deployed monitor on clean held-out batches (not measurable here)",
                                   why=f"The rate cannot be measured: {measured['inconclusive']}.{lesson}")
        rate, k, n = measured["rate"], measured["alarms"], measured["batches"]
        status = "fail" if ci[0] > max_rate else "pass"
        return catalogue.check(
            cid, status, rate, threshold=thr, ci=ci, evidence=[SENSITIVITY, HEATMAP],
            title="False-alarm rate of the deployed monitor on clean held-out batches",
            why=(f"The deployed monitor alarms on {k} of {n} disjoint clean held-out batches ({rate:.1%}, 95% CI "
                 f"{ci[0]:.1%} to {ci[1]:.1%})" + (": even the lower bound exceeds the limit." if status == "fail" else ".")
                 + lesson))
    none = matrix[matrix["shift"] == NO_SHIFT]
    fa = float(none["detection_rate"].iloc[0]) if len(none) else None
    if fa is None:
        return catalogue.skip(cid, "The sweep ran no unshifted batch, so the false-alarm rate is unknown.",
                              threshold={"max": max_rate}, evidence=SENSITIVITY)
    n = int(none["trials"].iloc[0])
    return catalogue.check(
        cid, "pass" if fa <= max_rate else "fail", fa, threshold={"max": max_rate}, evidence=[SENSITIVITY, HEATMAP],
        why=(f"The monitors alarm on {fa:.0%} of {n} unshifted batches. Monitors that fire on clean data get muted, "
             "and then they miss the real fault."))


def model_checks(matrix: pd.DataFrame, *, scored: bool, score_reason: str, score_not_applicable: bool,
                 max_silent: float, max_noisy_share: float) -> list[dict]:
    """``drift.silent_failures`` and ``drift.noisy_alarms`` (skipped when the model metric is not measured)."""
    if not scored:
        why = score_reason or "the model metric could not be measured"
        return [catalogue.skip("drift.silent_failures", why, threshold={"max": max_silent}, evidence=SENSITIVITY,
                               not_applicable=score_not_applicable),
                catalogue.skip("drift.noisy_alarms", why, threshold={"max": max_noisy_share}, evidence=SENSITIVITY,
                               not_applicable=score_not_applicable)]
    shifted = matrix[matrix["shift"] != NO_SHIFT]
    silent = shifted[shifted["silent_failure"] == True]  # noqa: E712 - None means unscored
    cells = [f"{r.shift}@{r.severity:g}" for r in silent.itertuples()]
    listed = f": {', '.join(cells[:8])}{' ...' if len(cells) > 8 else ''}" if cells else ""
    alarmed = shifted[shifted["detection_rate"] >= 0.5]
    noisy = shifted[shifted["noisy_alarm"] == True]  # noqa: E712
    share = len(noisy) / len(alarmed) if len(alarmed) else 0.0
    names = sorted({r.shift for r in noisy.itertuples()})
    return [
        catalogue.check(
            "drift.silent_failures", "pass" if len(silent) <= max_silent else "fail", int(len(silent)),
            threshold={"max": max_silent}, evidence=[SENSITIVITY, HEATMAP],
            why=("A fault that degrades the model while every monitor stays green is found by customers, not by the "
                 f"team; {len(silent)} of {len(shifted)} (fault, severity) cells do{listed}.")),
        catalogue.check(
            "drift.noisy_alarms", "pass" if share <= max_noisy_share else "warn", share,
            threshold={"max": max_noisy_share}, evidence=[SENSITIVITY, HEATMAP],
            why=(f"{len(noisy)} of {len(alarmed)} alarmed (fault, severity) cells left the model unharmed"
                 + (f" ({', '.join(names[:8])}{' ...' if len(names) > 8 else ''})" if names else "")
                 + ". Alarms on harmless changes cost on-call time; many of them call for a triage rule, "
                   "not a rollback.")),
    ]


def detection_checks(matrix: pd.DataFrame, skipped: dict[str, str], *, detect_severity: float,
                     min_rate: float, limit: Limit) -> list[dict]:
    """``drift.detects.<shift>`` for every shift of the catalogue that this run swept (or skipped)."""
    out = []
    for name in shifts_mod.SHIFTS:
        cid = f"drift.detects.{name}"
        title = f"Monitors detect: {shifts_mod.SHIFTS[name].title}"
        low = limit(cid, "min", min_rate)
        if name in skipped:
            out.append(catalogue.skip(cid, f"Not applicable to this data: {skipped[name]}.", title=title,
                                      evidence=SENSITIVITY, not_applicable=True))
            continue
        row = detection_at(matrix, name, detect_severity)
        if row is None:
            continue  # not part of this run's shifts
        rate = float(row["detection_rate"])
        sev = float(row["severity"])
        perf = _number(row["perf_alarm_rate"])
        if rate >= low:
            status, why = "pass", f"The monitors raise an alarm in {rate:.0%} of trials at severity {sev:g}."
        elif perf is not None and perf >= low:
            status, why = "warn", (f"Only the label-based performance monitor catches it ({perf:.0%}); the data "
                                   f"monitors fire in {rate:.0%} of trials, so it shows up only once labels arrive.")
        else:
            status, why = "fail", (f"The monitors raise an alarm in only {rate:.0%} of trials at severity {sev:g}; "
                                   "this fault would go unnoticed.")
        out.append(catalogue.check(cid, status, rate, title=title, threshold={"min": low, "severity": sev},
                                   evidence=[SENSITIVITY, HEATMAP], why=why))
    return out


def timeline_checks(timeline: pd.DataFrame | None, *, limit: Limit, max_delay: float) -> list[dict]:
    """``drift.time_to_detection.<kind>`` per replayed timeline."""
    out: list[dict] = []
    if timeline is None or not len(timeline):
        return out
    for kind, g in timeline.groupby("timeline", sort=False):
        cid = f"drift.time_to_detection.{kind}"
        most = limit(cid, "max", max_delay)
        g = g[g["skipped"].isna()]
        det = g[g["detected"] == True]  # noqa: E712
        med = float(det["time_to_detection"].median()) if len(det) else None
        missed = sorted(g.loc[g["detected"] == False, "shift"])  # noqa: E712
        ok = med is not None and (most is None or med <= most)
        out.append(catalogue.check(
            cid, "pass" if ok else "warn", med, title=f"Median batches from onset to alarm ({kind} drift)",
            threshold=None if most is None else {"max": most}, evidence=TIMELINES,
            why=("The longer a fault runs before the alarm, the more decisions it spoils; "
                 f"{len(det)} of {len(g)} faults detected"
                 + (f", never: {', '.join(missed)}" if missed else "") + ".")))
    return out


def power_check(pw: pd.DataFrame | None, *, limit: Limit, volume_per_day: float | None,
                power_target: float) -> list[dict]:
    """``drift.min_batch_size``: the largest, over the detectable faults, of the smallest batch reaching the power
    target (against a day's volume when it is known)."""
    if pw is None or not len(pw):
        return []
    cid = "drift.min_batch_size"
    g = pw[(pw["shift"] != NO_SHIFT) & pw["skipped"].isna()]
    found = g.dropna(subset=["min_batch_size"])
    never = sorted(g.loc[g["min_batch_size"].isna(), "shift"])
    need = int(max(found["min_batch_size"])) if len(found) else None
    most = limit(cid, "max", volume_per_day)
    if need is None:
        status = "warn"
    elif most is not None:
        status = "pass" if need <= most else "warn"
    else:
        status = "pass"
    why = ("A monitor fed smaller batches than this misses faults it could catch with a day's traffic"
           + (f"; not detectable at any tested size: {', '.join(never)}" if never else "")
           + (f"; no fault reaches {power_target:.0%} power at any tested size" if need is None else "") + ".")
    return [catalogue.check(
        cid, status, need, title=f"Rows per batch needed to detect every detectable fault at {power_target:.0%} power",
        threshold=None if most is None else {"max": most}, evidence=POWER, why=why)]


def make_checks(matrix: pd.DataFrame, skipped: dict[str, str], timeline: pd.DataFrame | None,
                pw: pd.DataFrame | None, *, scored: bool, score_reason: str = "", score_not_applicable: bool = False,
                detect_severity: float = 0.5, min_detection_rate: float = 0.8,
                max_false_alarm_rate: float = 0.1, max_silent_failures: int = 0,
                max_noisy_alarm_share: float = 0.5, max_detection_delay: int = 3,
                volume_per_day: float | None = None, power_target: float = 0.8,
                limit: Limit | None = None, false_alarms: dict | None = None) -> list[dict]:
    """The step's checks (ids ``drift.*``) from the simulation's results.

    The ``min_*`` / ``max_*`` parameters are the step's defaults; ``limit`` (``ctx.limit``) replaces each with the
    bound the gate in force sets for the check's id. ``scored`` false skips the silent / noisy checks with
    ``score_reason``, as not applicable when ``score_not_applicable`` (the model cannot score rows at all).
    """
    lim = limit or _own
    out = [false_alarm_check(matrix, lim("drift.false_alarm_rate", "max", max_false_alarm_rate), false_alarms)]
    out += model_checks(matrix, scored=scored, score_reason=score_reason, score_not_applicable=score_not_applicable,
                        max_silent=lim("drift.silent_failures", "max", max_silent_failures),
                        max_noisy_share=lim("drift.noisy_alarms", "max", max_noisy_alarm_share))
    out += detection_checks(matrix, skipped, detect_severity=detect_severity,
                            min_rate=min_detection_rate, limit=lim)
    out += timeline_checks(timeline, limit=lim, max_delay=max_detection_delay)
    out += power_check(pw, limit=lim, volume_per_day=volume_per_day, power_target=power_target)
    return out


__all__ = ["Limit", "detection_at", "make_checks"]
