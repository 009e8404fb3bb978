"""Detection power of the multivariate monitors against the per-column monitor, at the deployed false-alarm budget.

    python benchmarks/multivariate_drift.py [--trials 100] [--severity 0.5] [--seed 0]

For each data set (the bundled German credit reference, batches of 200; a synthetic frame of correlated sensor
readings, batches of 500): a seeded 70 / 30 split, the deployed monitor calibrated on the 70 % as the monitoring step
does it (``playbook.monitoring.setup.spec_from_frame``: per-column tests, PCA reconstruction error and the domain
classifier under one budget of 1 false alarm per 30 batches), then ``trials`` batches drawn from the 30 % it never
saw, clean and with each fault injected at ``severity``. Each batch is judged by ``playbook monitor``'s rules
(``check_batch``) and every part of the monitor is counted on its own: its false-alarm rate on the clean batches
(the fixed budget it was calibrated to) and its detection power on the faulty ones. Then the time one 10 000-row
batch takes per part, as ``playbook monitor`` runs it (the rows prepared, then the statistic, on one BLAS thread; the
domain classifier judges a seeded sample of at most 1 000 rows of a batch).

The two faults are the fault catalogue's ``correlation_break`` and ``subpopulation_shift`` injectors
(``playbook.drift.shifts``), seeded per trial.

The last line is one JSON object: ``{"severity", "trials", "seed", "results": [{"data", "batch_rows", "budget",
"false_alarm_rate": {part: rate}, "power": {fault: {part: rate}}, "seconds_per_10k_rows": {part: s}}]}``, the parts
being ``per_column``, ``pca_reconstruction``, ``domain_classifier`` and ``any`` (the whole monitor).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PARTS = ("per_column", "pca_reconstruction", "domain_classifier", "any")


def _most_correlated_pair(df: pd.DataFrame, numeric: list[str]) -> tuple[str, str] | None:
    """The pair the catalogue's correlation_break breaks (its info names it)."""
    from playbook.drift import shifts

    _, info = shifts.apply("correlation_break", df, 1.0, roles=_roles(df, numeric), seed=0)
    return tuple(info["columns"]) if info.get("applied") else None


def _roles(df: pd.DataFrame, numeric: list[str]):
    from playbook.drift.shifts import ShiftRoles

    features = list(df.columns)
    return ShiftRoles(features, [c for c in numeric if c in features], [c for c in features if c not in numeric])


def _fault(name: str, df: pd.DataFrame, severity: float, numeric: list[str], seed: int) -> pd.DataFrame:
    """The fault catalogue's injector (playbook.drift.shifts), seeded per trial."""
    from playbook.drift import shifts

    out, _ = shifts.apply(name, df, severity, roles=_roles(df, numeric), seed=seed)
    return out


# -- data -----------------------------------------------------------------------------------------------------------
def german_credit() -> tuple[pd.DataFrame, list[str], list[str]]:
    root = Path(__file__).resolve().parents[1]
    df = pd.read_csv(root / "datasets" / "german_credit" / "reference.csv").drop(columns=["creditability"])
    numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
    return df, list(df.columns), numeric


def sensors(n: int = 6000, seed: int = 0) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Two groups of correlated readings (a temperature read by three sensors, a pressure by two), and a site."""
    rng = np.random.default_rng(seed)
    t, p = rng.normal(20, 5, n), rng.normal(100, 10, n)
    df = pd.DataFrame({f"temp_{k}": t + rng.normal(0, 1.5, n) for k in "abc"}
                      | {f"pressure_{k}": p + rng.normal(0, 3, n) for k in "ab"}
                      | {"flow": rng.gamma(2.0, 3.0, n), "site": rng.choice(["north", "south", "east"], n)})
    return df, list(df.columns), [c for c in df.columns if c != "site"]


def parts_of(result: dict) -> set[str]:
    kinds = {a["kind"] for a in result["alerts"]}
    out = {k for k in ("pca_reconstruction", "domain_classifier") if k in kinds}
    if "drift" in kinds:
        out.add("per_column")
    if result["status"] == "alert":
        out.add("any")
    return out


def measure(name: str, df: pd.DataFrame, features: list[str], numeric: list[str], batch: int, trials: int,
            severity: float, seed: int) -> dict:
    from playbook.monitoring.check import check_batch
    from playbook.monitoring.multivariate import DOMAIN_NAME, PCA_NAME, alarms_many
    from playbook.monitoring.setup import spec_from_frame

    order = np.random.default_rng(seed).permutation(len(df))
    cut = int(0.7 * len(df))
    cal, held = df.iloc[np.sort(order[:cut])].reset_index(drop=True), df.iloc[np.sort(order[cut:])].reset_index(drop=True)
    spec = spec_from_frame(cal, features, numeric, batch, seed=seed, name=name)
    faults = {
        "correlation_break": lambda b, s: _fault("correlation_break", b, severity, numeric, s),
        "subpopulation": lambda b, s: _fault("subpopulation_shift", b, severity, numeric, s),
    }
    rng = np.random.default_rng(seed + 1)
    counts = {k: dict.fromkeys(PARTS, 0) for k in ["clean", *faults]}
    for t in range(trials):
        base = held.iloc[rng.choice(len(held), batch, replace=len(held) < batch)].reset_index(drop=True)
        for k in ["clean", *faults]:
            b = base if k == "clean" else faults[k](base, seed * 100_000 + t)
            for part in parts_of(check_batch(spec, b)):
                counts[k][part] += 1
    big = held.iloc[np.random.default_rng(seed + 2).choice(len(held), 10_000, replace=True)].reset_index(drop=True)
    pca = next(m for m in spec.multivariate if m.name == PCA_NAME)
    dc = next(m for m in spec.multivariate if m.name == DOMAIN_NAME)
    from playbook.monitoring.spec import MonitoringSpec

    per_column = MonitoringSpec(raw=spec.raw, monitors=spec.monitors, calibrator=spec.calibrator, multivariate=[])

    def seconds(fn, repeat: int = 3) -> float:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return round(best, 4)

    timing = {"per_column": seconds(lambda: check_batch(per_column, big)),
              "pca_reconstruction": seconds(lambda: alarms_many([pca], [big])),
              "domain_classifier": seconds(lambda: alarms_many([dc], [big])),
              "any": seconds(lambda: check_batch(spec, big))}
    rate = {k: {p: counts[k][p] / trials for p in PARTS} for k in counts}
    return {"data": name, "batch_rows": batch, "budget": spec.alpha, "false_alarm_rate": rate["clean"],
            "power": {k: rate[k] for k in faults}, "seconds_per_10k_rows": timing,
            "domain_classifier_threshold": dc.threshold, "pca_components": int(len(pca.components))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--severity", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.trials < 1 or not 0 < a.severity <= 1:
        print("multivariate_drift.py: error: --trials must be at least 1 and --severity in (0, 1]; fix the "
              "arguments.", file=sys.stderr)
        return 2
    results = []
    for name, (df, feats, num), batch in (("german-credit", german_credit(), 200), ("sensors", sensors(), 500)):
        r = measure(name, df, feats, num, batch, a.trials, a.severity, a.seed)
        results.append(r)
        fa = ", ".join(f"{p} {v:.0%}" for p, v in r["false_alarm_rate"].items())
        print(f"{name} (batches of {batch}, budget {r['budget']:.1%}): false alarms {fa}")
        for fault, pw in r["power"].items():
            print(f"  {fault} at {a.severity:g}: " + ", ".join(f"{p} {v:.0%}" for p, v in pw.items()))
        print("  seconds per 10k-row batch: " + ", ".join(f"{p} {v:.3f}" for p, v in r["seconds_per_10k_rows"].items()))
    print(json.dumps({"severity": a.severity, "trials": a.trials, "seed": a.seed, "results": results}, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
