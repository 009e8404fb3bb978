"""The monitoring step's checks (as dicts for :meth:`playbook.results.Step.add_checks`) and its figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from playbook import catalogue
from playbook.monitoring.calibrate import Calibration, binomial_bound


def _check(id: str, title: str, status: str, value: Any = None, threshold: Any = None, evidence: Any = None,
           why: str = "", not_applicable: bool = False) -> dict:
    """The step's checks through the one constructor (:func:`playbook.catalogue.check`), in this module's argument
    order."""
    return catalogue.check(id, status, value, title=title, threshold=threshold, evidence=evidence, why=why,
                           not_applicable=not_applicable)


def budget_check(measured: dict, false_alarms: float, per_batches: float, evidence: str,
                 cal: Calibration | None = None) -> dict:
    """``monitoring.false_alarm_budget_met``: the deployed monitor's false-alarm rate on disjoint batches of clean
    held-out rows it was never calibrated on (:func:`playbook.monitoring.setup.held_out_false_alarms`), with its
    95% CI. Fails only when even the lower bound exceeds the budget; too few batches to measure is a warning."""
    alpha = float(measured["budget"])
    n, k = measured["batches"], measured["alarms"]
    thr = {"max": alpha, "batches": n, "batch_size": measured["batch_size"], "min_batches": measured["min_batches"]}
    ci = measured.get("ci")
    base = (f"The budget is {false_alarms:g} false alarm per {per_batches:g} batches ({alpha:.2%} of batches). "
            "A monitor that cries wolf gets muted, and then it misses the real fault.")
    fit = (f" On the calibration rows' own bootstrap batches the rate was {cal.false_alarm_rate_holdout:.2%}."
           if cal is not None else "")
    if measured.get("inconclusive"):
        why = (f"The false-alarm rate cannot be measured here: {measured['inconclusive']}. {base}{fit} Supply more "
               "reference rows, or a smaller batch size, to measure it; until then the budget is assumed, not shown.")
        return catalogue.check("monitoring.false_alarm_budget_met", "warn",
                               None if measured["rate"] is None else round(measured["rate"], 6),
                               title="Calibrated monitor keeps the false-alarm budget (not measurable here)",
                               threshold=thr, ci=ci, evidence=evidence, why=why, inconclusive=measured["inconclusive"])
    rate = measured["rate"]
    shown = f"{k} of {n} clean held-out batches ({rate:.2%}, 95% CI {ci[0]:.2%} to {ci[1]:.2%})"
    if measured["status"] == "fail":
        why = (f"The deployed monitor alarmed on {shown}: even the interval's lower bound exceeds the budget. {base}"
               f"{fit} Raise `replicates`, check for duplicated rows or a time trend in the reference.")
    else:
        why = f"The deployed monitor alarmed on {shown}, consistent with the budget. {base}{fit}"
    return catalogue.check("monitoring.false_alarm_budget_met", measured["status"], round(rate, 6),
                           title="Calibrated monitor keeps the false-alarm budget on clean held-out batches",
                           threshold=thr, ci=ci, evidence=evidence, why=why)


def coverage_check(spec: dict, features: Sequence[str], evidence: str) -> dict:
    """``monitoring.contract_covers_all_features``: every model feature is in the contract and monitored."""
    contract_cols = (spec.get("contract") or {}).get("columns") or {}
    monitored = {m["column"] for m in spec.get("monitors", []) if m.get("role") == "feature"}
    not_in_contract = [c for c in features if c not in contract_cols]
    wrong_role = [c for c in features if c in contract_cols and (contract_cols[c] or {}).get("role", "feature") != "feature"]
    unmonitored = [c for c in features if c not in monitored]
    bad = sorted(set(not_in_contract) | set(wrong_role) | set(unmonitored))
    share = 1.0 - len(bad) / max(len(features), 1)
    why = ("Every feature the model reads is in the data contract (so a missing column or a type change is "
           "caught at the door) and has a calibrated drift monitor.") if not bad else (
        f"{len(bad)} feature(s) would reach the model unwatched: not in the contract {not_in_contract}, "
        f"not a feature there {wrong_role}, without a monitor {unmonitored}; rebuild the contract from the "
        "reference the model was trained on.")
    return _check("monitoring.contract_covers_all_features", "Contract and monitors cover every model feature",
                  "pass" if not bad else "fail", round(share, 6), {"min": 1.0}, evidence, why)


def roundtrip_check(original: Sequence, reloaded, batch: pd.DataFrame, exit_code: int | None,
                    evidence: Any) -> dict:
    """``monitoring.config_roundtrip``: the written monitoring.yaml reproduces the in-memory monitors and
    ``playbook monitor`` runs on it."""
    diffs = []
    read = list(reloaded.monitors) + list(getattr(reloaded, "multivariate", []) or [])
    for a, b in zip(original, read):
        if a.name != b.name:
            diffs.append(f"{a.name} != {b.name}")
            continue
        sa, sb = a.statistic(batch), b.statistic(batch)
        if not (abs(sa - sb) <= 1e-9 or (math.isnan(sa) and math.isnan(sb))):
            diffs.append(f"{a.name}: statistic {sa:.6g} vs {sb:.6g}")
        if abs(float(a.threshold) - float(b.threshold)) > 1e-6 * max(1.0, abs(float(a.threshold))):
            diffs.append(f"{a.name}: threshold {a.threshold:.6g} vs {b.threshold:.6g}")
    if len(original) != len(read):
        diffs.append(f"{len(original)} monitors written, {len(read)} read back")
    ok = not diffs and exit_code in (0, 1)
    why = ("monitoring.yaml read back gives the same monitors, statistics and thresholds, and `playbook monitor` "
           f"ran on it (exit code {exit_code}): the file is deployable as it stands.") if ok else (
        f"The written config does not reproduce the monitor ({'; '.join(diffs[:3]) or f'exit code {exit_code}'}); "
        "do not deploy it.")
    return _check("monitoring.config_roundtrip", "monitoring.yaml is deployable as written", "pass" if ok else "fail",
                  len(diffs), {"max": 0}, evidence, why)


def multivariate_check(spec, requested: bool, evidence: Any) -> dict:
    """``monitoring.multivariate_monitors``: the deployed monitor (``monitoring.yaml`` read back) holds both
    multivariate monitors (PCA reconstruction error, domain classifier) with a calibrated threshold."""
    from playbook.monitoring.multivariate import KINDS

    title = "Multivariate monitors deployed and calibrated"
    if not requested:
        return catalogue.skip("monitoring.multivariate_monitors", "the step ran with multivariate=false: only the "
                              "per-column monitors are deployed", title=title, evidence=evidence, not_applicable=True)
    mv = list(getattr(spec, "multivariate", []) or [])
    ok = sorted(m.name for m in mv if m.threshold is not None and math.isfinite(float(m.threshold)))
    missing = [k for k in KINDS if k not in ok]
    why = ("monitoring.yaml holds the PCA reconstruction-error and domain-classifier monitors, each with a threshold "
           "calibrated under the whole monitor's false-alarm budget: a fault that changes how columns relate while "
           "every column keeps its distribution raises an alert.") if not missing else (
        f"monitoring.yaml lacks {', '.join(missing)} (too few calibration rows or prepared columns to fit them): "
        "a correlation break passes every per-column test unnoticed.")
    return _check("monitoring.multivariate_monitors", title, "pass" if not missing else "fail", len(ok),
                  {"min": len(KINDS)}, evidence, why)


def current_alert_check(replayed: pd.DataFrame, alpha: float, default_alerts: int | None, evidence: str,
                        source: str, prediction_column: str | None = None) -> dict:
    """``monitoring.current_batches_alert_rate``: how often the monitor alerts on batches of the current data
    (``replayed``: :func:`playbook.monitoring.simulate.replay` of those batches). More alerts than the budget allows
    is a finding about the *data* (it drifted), reported as a warning with the columns behind it, never counted as
    a false alarm of the monitor."""
    batches = len(replayed)
    alerts = int((replayed["status"] == "alert").sum())
    # more alerts than the budget makes likely (one-sided binomial test at 5%): the data drifted
    bound = binomial_bound(batches, alpha, confidence=0.95)
    rate = alerts / max(batches, 1)
    status = "pass" if alerts <= bound else "warn"
    why = (f"{alerts} of {batches} disjoint batches drawn from the {source} data raised an alert "
           f"(at most {bound} expected with 95% probability from the budget if that data has not drifted).")
    if default_alerts is not None:
        why += (f" Evidently's default drift tests, applied to the same batches, flagged at least one column on "
                f"{default_alerts} of them.")
    if status == "warn":
        counts: dict[str, int] = {}
        for cols, kinds in zip(replayed["drifted_columns"], replayed["alert_kinds"]):
            for c in list(cols) + [k for k in kinds if k not in ("drift",)]:
                counts[c] = counts.get(c, 0) + 1
        top = [k for k, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:3]]
        why += (f" The current data has drifted from the reference (most often: {', '.join(top)}): a finding about "
                "the data, not a false alarm. Check whether the change is real before trusting metrics measured on "
                "the reference, and retrain or recalibrate if it is.")
        if prediction_column and (prediction_column in top or "estimated_performance" in top):
            why += (" The model's output is among them: if the reference's model outputs were computed on the "
                    "model's own training rows, they are more confident than production's; use out-of-sample outputs.")
    return _check("monitoring.current_batches_alert_rate",
                  "Current data matches the reference" if status == "pass" else "Current data has drifted from the reference",
                  status, round(rate, 6), {"max": bound / max(batches, 1), "max_alerts": bound, "batches": batches},
                  evidence, why)


def timeline_check(replayed: pd.DataFrame, onset: int, max_days: int, shift: str, evidence: Any) -> dict:
    """``monitoring.timeline_detection``: days from the simulated fault's onset to the first alert."""
    from playbook.monitoring.simulate import first_alert_after

    before = replayed[replayed["day"] < onset]
    false_alerts = int((before["status"] == "alert").sum())
    delay = first_alert_after(replayed, onset)
    if delay is None:
        status, why = "warn", (f"In the simulated timeline {shift} started on day {onset} and was never flagged; "
                               "the dashboard would stay green through the fault.")
    else:
        status = "pass" if delay <= max_days else "warn"
        why = (f"In the simulated timeline {shift} started on day {onset}; the first alert came {delay} day(s) later "
               f"(target: within {max_days}). {false_alerts} alert(s) on the {len(before)} clean days before it.")
    return _check("monitoring.timeline_detection", f"Simulated production days: {shift} is flagged in time", status,
                  delay, {"max": max_days, "unit": "days"}, evidence, why)


def estimation_check(replayed: pd.DataFrame, max_error: float, evidence: Any, task: str) -> dict:
    """``monitoring.performance_estimation_error``: label-free ROC AUC estimate vs the realized one."""
    cid, title = "monitoring.performance_estimation_error", "Label-free performance estimate tracks the realized one"
    if task != "binary" or "estimated_roc_auc" not in replayed:
        return _check(cid, title, "skip", None, None, evidence,
                      "Label-free (confidence-based) estimation needs a binary classifier with probabilities.",
                      not_applicable=True)
    both = replayed.dropna(subset=["estimated_roc_auc", "realized_roc_auc"])
    if both.empty:
        return _check(cid, title, "skip", None, None, evidence,
                      "No simulated day had both an estimate and labels to compare it with.")
    err = (both["estimated_roc_auc"] - both["realized_roc_auc"]).to_numpy(dtype=float)
    mae = float(np.mean(np.abs(err)))
    status = "pass" if mae <= max_error else "warn"
    why = (f"On {len(both)} labeled days the label-free ROC AUC estimate was off by {mae:.3f} on average "
           f"(bias {np.mean(err):+.3f}); until labels arrive this is how far the estimate can be trusted.")
    if status == "warn":
        why += " Larger than the tolerance: recalibrate on more recent labeled data, or rely on labels only."
    return _check(cid, title, status, round(mae, 6), {"max": max_error}, evidence, why)


def workspace_check(summary: dict | None, days: int, evidence: str, reason: str | None = None) -> dict:
    cid, title = "monitoring.dashboard_written", "Evidently workspace with the monitoring dashboard"
    if summary is None:
        return _check(cid, title, "skip", None, None, evidence, reason or "The workspace was not requested.",
                      not_applicable=reason is None)
    from playbook.monitoring.dashboard import list_projects

    projects = list_projects(summary["path"])
    ok = any(p["name"] == summary["project_name"] and p["snapshots"] == days for p in projects)
    rows = summary.get("reference_rows")
    against = f", each against {rows:,} reference rows" if rows else ""
    why = (f"Project {summary['project_name']!r} with {len(summary['panels'])} panels and {days} daily "
           f"snapshots{against}; open it with `evidently ui --workspace <this step>/artifacts/evidently_workspace`."
           ) if ok else (
        "The workspace does not list the project with one snapshot per simulated day.")
    return _check(cid, title, "pass" if ok else "fail", days if ok else 0, {"min": days, "unit": "daily snapshots"},
                  evidence, why)


def monitors_table(monitors: Sequence) -> pd.DataFrame:
    """One row per monitor: what it watches, its test, threshold and the no-drift spread of its statistic."""
    rows = []
    for m in monitors:
        q = getattr(m, "null_quantiles", {}) or {}
        rows.append({"monitor": m.name, "column": m.column, "role": m.role, "test": m.test,
                     "threshold": m.threshold, "no_drift_median": q.get("p50"), "no_drift_p99": q.get("p99")})
    return pd.DataFrame(rows)


def default_tests_alarms(reference: pd.DataFrame, batches: Sequence[pd.DataFrame], columns: list[str],
                         kinds: dict[str, str]) -> list[bool]:
    """Whether Evidently's default per-column tests (via :mod:`playbook.drift.detect`) flag any column. A reference
    of more than :data:`playbook.holdout.MAX_PART_ROWS` rows is a seeded sample of that many."""
    from playbook.drift.detect import DriftDetector
    from playbook.holdout import bounded

    det = DriftDetector(reference.loc[bounded(reference.index)][columns], kinds, columns)
    return [any(bool(r["drifted"]) for r in det.run(b[columns])) for b in batches]


def plot_timeline(replayed: pd.DataFrame, onset: int, path: str | Path, title: str = "") -> Path:
    """Drift share and estimated vs realized accuracy per simulated day (PNG)."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    days = replayed["day"]
    ax1.bar(days, replayed["drift_share"].fillna(0), color=["#c0392b" if s == "alert" else "#7f8c8d"
                                                              for s in replayed["status"]])
    ax1.axvline(onset - 0.5, color="k", ls="--", lw=1)
    ax1.set_ylabel("share of drifted features")
    ax1.set_title(title or "Simulated production days (red = alert)")
    for col, label, style in (("estimated_accuracy", "estimated accuracy (no labels)", "-o"),
                              ("realized_accuracy", "realized accuracy (labels)", "-s"),
                              ("estimated_roc_auc", "estimated ROC AUC", "--o"),
                              ("realized_roc_auc", "realized ROC AUC", "--s")):
        if col in replayed and replayed[col].notna().any():
            ax2.plot(days, replayed[col], style, label=label, ms=4)
    ax2.axvline(onset - 0.5, color="k", ls="--", lw=1)
    ax2.set_xlabel("day")
    ax2.set_ylabel("model quality")
    if ax2.lines:
        ax2.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def model_age_check(spec, batch: pd.DataFrame, evidence: Any, timestamp: str | None) -> dict:
    """``monitoring.model_age_alert``: the deployed monitor alerts when a batch shows the model older than the age at
    which its measured decay crosses the quality gate, and stays quiet on a batch just after training (rehearsed on
    one batch of real rows with its timestamps moved)."""
    from playbook.monitoring.check import check_batch

    cid, title = "monitoring.model_age_alert", "The monitor alerts when the model is older than its measured shelf life"
    cfg = spec.model_age
    if not timestamp:
        return catalogue.skip(cid, "No timestamp column is configured (data.timestamp), so the model's age cannot be "
                              "known in production.", title=title, evidence=evidence, not_applicable=True)
    if not cfg:
        return catalogue.skip(cid, "The reference's timestamps do not parse as dates.", title=title, evidence=evidence)
    if cfg.get("max_age_days") is None:
        return catalogue.check(cid, "warn", None, title=title, evidence=evidence,
                               why=("The model's age is recorded on every batch, but the model evaluation measured no "
                                    "age at which its quality crosses the gate (no decay beyond noise, or no staleness "
                                    "measurement): the monitor cannot say when the model is too old."))
    trained = pd.Timestamp(str(cfg["trained_until"]))
    limit = float(cfg["max_age_days"])

    def at(days: float) -> dict:
        b = batch.copy()
        b[cfg["timestamp_column"]] = (trained + pd.Timedelta(days=days)).isoformat()
        return check_batch(spec, b)

    fresh, old = at(1.0), at(limit + 30.0)
    fresh_stale = any(a["kind"] == "stale_model" for a in fresh["alerts"])
    old_stale = any(a["kind"] == "stale_model" for a in old["alerts"])
    ok = old_stale and not fresh_stale
    why = (f"The monitor knows the model learned from data up to {trained.date()} and that its measured decay takes it "
           f"below its quality gate after about {limit:.0f} days ({cfg.get('basis', '')}). Rehearsed: a batch dated "
           f"{limit + 30:.0f} days after training {'alerts' if old_stale else 'does NOT alert'} as stale, one dated a day "
           f"after training {'alerts (wrongly)' if fresh_stale else 'does not'}.")
    return catalogue.check(cid, "pass" if ok else "fail", limit, title=title, threshold={"max": limit, "unit": "days"},
                           evidence=evidence, why=why)
