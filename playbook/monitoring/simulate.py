"""What the calibrated monitor buys: detection power against the drift step's faults, and simulated days.

:func:`shift_power` injects each fault of :mod:`playbook.drift.shifts` into the reference (scored as
production would score it) and measures, on many batches of the production size, how often the monitor
alarms: by a contract alert (a missing column, a wrong type, nulls) or by a drift monitor. With a
per-day detection probability ``p``, the chance to catch the fault within ``D`` days is
``1 - (1 - p) ** D``: the figure behind ``monitoring.detects_within_days.<shift>``. A no-drift control
row shows the same machinery stays quiet when nothing changed.

:func:`production_days` builds a sequence of daily batches from held-out data in which a fault arrives
on a given day (sudden), ramps up (gradual) or comes and goes (recurring), each batch scored by the deployed model: the days the
Evidently dashboard shows and the monitor is replayed on.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from playbook.monitoring.calibrate import alarm_matrix
from playbook.monitoring.check import _schema
from playbook.monitoring.performance import batch_roc_auc

PATTERNS = ("sudden", "gradual", "recurring")


def days_to_detect(power: float, probability: float = 0.9) -> int | None:
    """Days of batches needed to alarm at least once with ``probability``, at per-day detection ``power``."""
    if power >= 1.0:
        return 1
    if power <= 0.0:
        return None
    return int(math.ceil(math.log(1.0 - probability) / math.log(1.0 - power)))


def _schema_power(spec, pool: pd.DataFrame, batch_size: int, batches: int, rng: np.random.Generator) -> float:
    """Share of bootstrap batches of ``pool`` with a contract alert (the batches judged at once)."""
    from playbook.monitoring.check import alert_kinds_many

    if len(pool) == 0:
        return 1.0
    drawn = [pool.iloc[rng.integers(0, len(pool), batch_size)] for _ in range(batches)]
    return sum(bool(k) for k in alert_kinds_many(spec, drawn, monitors=False)) / batches


def _labeled_power(spec, pool: pd.DataFrame, target: str, batch_size: int, replicates: int,
                   rng: np.random.Generator) -> float | None:
    floors = (spec.performance or {}).get("labeled") or {}
    col = (spec.prediction or {}).get("column")
    if not floors or not col or col not in pool.columns or target not in pool.columns:
        return None
    pos = spec.positive_label
    y = np.array([np.nan if pd.isna(v) else float(v == pos or str(v) == str(pos)) for v in pool[target]])
    s = pd.to_numeric(pool[col], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(y) & np.isfinite(s)
    y, s = y[keep], s[keep]
    if len(y) == 0:
        return None
    thr = float(spec.prediction.get("decision_threshold", 0.5))
    idx = rng.integers(0, len(y), size=(replicates, batch_size))
    yb, sb = y[idx], s[idx]
    alarm = np.zeros(replicates, dtype=bool)
    if "roc_auc" in floors:
        auc = batch_roc_auc(yb, sb)
        alarm |= np.nan_to_num(auc, nan=1.0) < floors["roc_auc"]["min"]
    if "accuracy" in floors:
        alarm |= np.mean(yb == (sb >= thr), axis=1) < floors["accuracy"]["min"]
    return float(alarm.mean())


def shift_power(spec, source, base: pd.DataFrame, roles, shifts: Sequence[str], severity: float,
                batch_size: int, replicates: int = 400, schema_batches: int = 40, seed: int = 0,
                max_days: int = 3, probability: float = 0.9) -> pd.DataFrame:
    """One row per fault (plus a ``no_drift`` control): detection power per daily batch and what it means
    in days. ``base`` is the reference (features and target); ``source`` a
    :class:`playbook.monitoring.setup.ScoreSource` that scores each shifted part with a model that did not
    train on it."""
    from playbook.drift.shifts import SHIFTS, apply

    rows = []
    target = spec.target
    names = ["no_drift", *shifts]
    infos: dict[str, list] = {name: [] for name in names}

    def transform_for(name):
        def transform(part, k):
            out, inf = apply(name, part, severity, roles=roles, seed=seed * 1000 + k)
            infos[name].append(inf)
            return out
        return None if name == "no_drift" else transform

    # every fault's pool scored with one model call per cross-fitted part (ScoreSource.apply_many)
    unique = list(dict.fromkeys(names))
    pools = dict(zip(unique, source.apply_many(base, [transform_for(n) for n in unique])))
    for i, name in enumerate(names):
        rng = np.random.default_rng([seed, i])
        info: dict[str, Any] = {"applied": True, "reason": None}
        pool = pools[name]
        if name != "no_drift":
            info = infos[name][0] if infos[name] else info
            if not any(inf.get("applied") for inf in infos[name]):
                rows.append({"shift": name, "applied": False, "reason": info.get("reason"), "severity": severity,
                             "power": None, "power_schema": None, "power_drift": None, "power_labeled": None,
                             "days_to_detect_90": None, "p_detect_within": None, "top_monitors": [],
                             "needs_labels": bool(SHIFTS[name].needs_target)})
                continue
        schema_report, schema_alerts, unusable = _schema(spec, pool)
        p_schema = 0.0
        if schema_alerts:
            p_schema = _schema_power(spec, pool, batch_size, schema_batches, rng)
        usable = [m for m in spec.monitors if m.column in pool.columns and m.column not in unusable]
        p_drift, top = 0.0, []
        if usable:
            alarms = alarm_matrix(usable, pool, batch_size, replicates, seed=int(rng.integers(2**31)))
            p_drift = float(alarms.any(axis=1).mean())
            per = alarms.mean(axis=0)
            top = [usable[j].name for j in np.argsort(-per) if per[j] > 0][:3]
        power = 1.0 - (1.0 - p_schema) * (1.0 - p_drift)
        p_lab = _labeled_power(spec, pool, target, batch_size, replicates, rng) if target else None
        needs = name != "no_drift" and bool(SHIFTS[name].needs_target)
        rows.append({
            "shift": name, "applied": True, "reason": None, "severity": 0.0 if name == "no_drift" else severity,
            "power": power, "power_schema": p_schema, "power_drift": p_drift, "power_labeled": p_lab,
            "days_to_detect_90": days_to_detect(power, probability),
            "p_detect_within": 1.0 - (1.0 - power) ** max_days,
            "top_monitors": ([f"contract: {a['kind']}" for a in schema_alerts][:2] + top)[:3],
            "needs_labels": needs,
        })
    return pd.DataFrame(rows)


def detection_checks(power: pd.DataFrame, max_days: int, probability: float = 0.9,
                     evidence: str | None = None) -> list[dict]:
    """``monitoring.detects_within_days.<shift>`` checks from a :func:`shift_power` table."""
    from playbook import catalogue

    out = []
    for r in power.to_dict("records"):
        if r["shift"] == "no_drift":
            continue
        cid = f"monitoring.detects_within_days.{r['shift']}"
        title = f"Monitor catches {r['shift'].replace('_', ' ')} within {max_days} days"
        if not r["applied"]:
            out.append(catalogue.skip(cid, f"The fault does not apply to this data: {r['reason']}.", title=title,
                                      evidence=evidence, not_applicable=True))
            continue
        p = float(r["p_detect_within"])
        lab = r.get("power_labeled")
        status = "pass" if p >= probability else "warn"
        why = (f"Per daily batch the monitor alarms with probability {r['power']:.2f} on this fault, so it "
               f"catches it within {max_days} days with probability {p:.2f} (target {probability:.0%}).")
        if status != "pass" and r["needs_labels"] and lab is not None:
            p_lab = 1.0 - (1.0 - lab) ** max_days
            why += (f" It changes the labels, which unlabeled monitors cannot see: the labeled-batch performance "
                    f"floors catch it with probability {p_lab:.2f} within {max_days} labeled batches, once labels arrive.")
        elif status != "pass":
            why += " A blind spot at this severity: add a dedicated check (e.g. a duplicate-row count) or accept the risk."
        out.append(catalogue.check(cid, status, round(p, 4), title=title,
                                   threshold={"min": probability, "days": max_days}, evidence=evidence, why=why))
    return out


def production_days(base: pd.DataFrame, *, days: int, onset: int, shift: str | None, severity: float,
                    pattern: str, batch_size: int, roles, score, seed: int = 0,
                    start: dt.date = dt.date(2025, 1, 6), label_delay: int = 0, target: str | None = None):
    """Daily batches from the drift step's timelines (:func:`playbook.drift.timeline.batches`): drawn from
    ``base`` (held-out rows), clean before day ``onset`` (1-based), then the fault ``sudden``-ly, ``gradual``-ly
    or ``recurring``. ``score`` adds the model output to a frame; the last ``label_delay`` days have no
    labels yet (the realistic case). Returns :class:`playbook.monitoring.dashboard.Day` objects."""
    from playbook.drift.timeline import batches
    from playbook.monitoring.dashboard import Day

    if days < 1:
        raise ValueError("the timeline needs at least one day.")
    onset0 = min(max(int(onset) - 1, 0), days - 1)
    if shift:
        frames, infos = batches(base, shift, pattern, n_batches=days, batch_size=batch_size, onset=onset0,
                                severity=severity, roles=roles, seed=seed, with_info=True)
    else:
        from playbook.drift.timeline import day_seed, sample_batch

        frames = [sample_batch(base, batch_size, np.random.default_rng(day_seed(seed, d, "sample")))
                  for d in range(days)]
        infos = [{"severity": 0.0, "applied": False} for _ in range(days)]
    out = []
    many = getattr(score, "many", None)  # a Scorer scores every day in one model call
    scored = many(frames) if many is not None else [score(f) for f in frames]
    for d, (batch, info) in enumerate(zip(scored, infos), start=1):
        sev = float(info.get("severity") or 0.0)
        drifted = bool(shift) and sev > 0 and bool(info.get("applied"))
        scenario = f"{shift} (severity {sev:.2f})" if drifted else "no drift"
        if target and target in batch.columns and d > days - label_delay:
            batch = batch.assign(**{target: None})
        tags = ["drift", f"shift:{shift}"] if drifted else ["no drift"]
        out.append(Day(start + dt.timedelta(days=d - 1), batch.reset_index(drop=True), scenario, tags))
    return out


def sample_batches(pool: pd.DataFrame, batch_size: int, count: int, seed: int = 0) -> list[pd.DataFrame]:
    """``count`` batches of ``batch_size`` rows of ``pool`` (without replacement inside a batch when possible),
    seeded like the drift step's timeline days."""
    from playbook.drift.timeline import day_seed, sample_batch

    return [sample_batch(pool, batch_size, np.random.default_rng(day_seed(seed, i, "replay"))) for i in range(count)]


def replay(spec, days, target: str | None = None) -> pd.DataFrame:
    """Run the monitor on each simulated day (or plain frames, which get no date): alerts, drift share, label-free
    estimate vs realized."""
    from playbook.monitoring.check import check_batch
    from playbook.monitoring.dashboard import Day

    rows = []
    for i, day in enumerate(days, start=1):
        # a plain frame (a held-out batch) is no calendar day: it gets no date, since a made-up one could be
        # anybody's date of birth and read as a leak of it
        day = day if isinstance(day, Day) else Day(None, day)
        frame = day.frame
        labels = frame[target] if target and target in frame.columns and frame[target].notna().any() else None
        batch = frame.drop(columns=[target]) if target and target in frame.columns else frame
        res = check_batch(spec, batch, labels)
        perf = res.get("performance") or {}
        est, real = perf.get("estimated") or {}, perf.get("realized") or {}
        rows.append({
            "day": i, "date": day.date.isoformat() if day.date else None, "scenario": day.scenario,
            "status": res["status"],
            "alerts": len(res["alerts"]), "alert_kinds": sorted({a["kind"] for a in res["alerts"]}),
            "drifted_columns": res.get("drifted_columns", []), "drift_share": res.get("drift_share"),
            "estimated_roc_auc": est.get("roc_auc"), "realized_roc_auc": real.get("roc_auc"),
            "estimated_accuracy": est.get("accuracy"), "realized_accuracy": real.get("accuracy"),
        })
    return pd.DataFrame(rows)


def first_alert_after(replayed: pd.DataFrame, onset: int) -> int | None:
    """Days from the fault's onset to the first alert (0 = the onset day itself); None if never."""
    hit = replayed[(replayed["day"] >= onset) & (replayed["status"] == "alert")]
    return None if hit.empty else int(hit["day"].iloc[0] - onset)


def command_examples(config_path, batch: pd.DataFrame, roles, folder, seed: int = 0, target: str | None = None,
                     score=None, shift: str = "unit_change_up") -> dict:
    """Run ``playbook monitor`` (in process, same code path as the CLI) on a clean batch and on the same batch
    with ``shift`` at full severity; the JSON and Prometheus outputs go to ``folder``. The batches themselves
    are written to a temporary folder only (they hold data rows)."""
    import contextlib
    import io
    import tempfile
    from pathlib import Path

    from playbook.drift.shifts import apply
    from playbook.monitoring.command import main

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    score = score or (lambda f: f)
    faulty, _ = apply(shift, batch, 1.0, roles=roles, seed=seed)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, frame in (("clean", batch), (shift.replace("_up", "").replace("_down", ""), faulty)):
            frame = score(frame)
            path = Path(tmp) / f"{name}.parquet"
            frame.drop(columns=[c for c in [target] if c and c in frame.columns]).to_parquet(path, index=False)
            args = ["--config", str(config_path), "--current", str(path), "--out", str(folder / f"{name}.json")]
            if target and target in frame.columns and frame[target].notna().any():
                lab = Path(tmp) / f"{name}_labels.csv"
                frame[[target]].to_csv(lab, index=False)
                args += ["--labels", str(lab)]
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                code = main(args)
            text = buf.getvalue().replace(str(folder), "examples").replace(tmp, ".")
            out[name] = {"exit_code": int(code), "stdout": text}
    return out
