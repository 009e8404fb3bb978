"""An Evidently workspace that shows what the monitor will look like in production.

:func:`build_workspace` writes a local Evidently 0.7 workspace (a folder) with one project for the model,
a dashboard (drift share, per-column drift, missing values, model quality: realized and label-free
estimate) and one snapshot per simulated production day. Open it with::

    evidently ui --workspace <pack>/steps/NN_monitoring_setup/artifacts/evidently_workspace --port 8000

The per-column drift in these snapshots is ``playbook monitor``'s own decision, not Evidently's default
tests: the monitors are registered as an Evidently stat test (:data:`STATTEST_NAME`); each day gets the
threshold ``playbook monitor`` uses for that day's row count (:meth:`threshold_for`), and the statistic and
alarm of each column are the monitor's on the day's whole batch (missing values included, which Evidently
would otherwise drop before its test). So the dashboard's drift share is the share of columns on which
``playbook monitor`` alarms on that day; a test replays the snapshot days through ``playbook monitor`` and
compares every column's threshold, statistic and the drifted-column count.

Project, snapshot and dashboard identifiers are derived from the model name and the seed, so the
workspace's file names are the same on every run.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from playbook.monitoring.calibrate import DistributionMonitor
from playbook.monitoring.stats import ColumnProfile

STATTEST_NAME = "playbook_calibrated"
EXPECTED_CORRECT = "expected_correct"
PREDICTED_LABEL = "predicted_label"
_NAMESPACE = uuid.UUID("0f5b3c1e-6a43-4f7e-9a59-6f1f6c0b7c21")
_PROFILES: dict[str, ColumnProfile] = {}
_REGISTERED = False


_DAY_DECISIONS: dict[str, tuple[float, bool]] = {}


def _calibrated_stattest(reference: pd.Series, current: pd.Series, feature_type, threshold: float):
    """Evidently stat-test function: the calibrated monitor's statistic and its alarm decision.

    While a day's snapshot is built, the decisions are the ones ``playbook monitor`` takes on that day's batch
    (computed beforehand on the whole column, missing values included, with the threshold for the day's row
    count), so the dashboard shows the monitor's own results; Evidently drops missing values before calling a
    stat test, which would otherwise change the statistic."""
    name = str(reference.name)
    if name in _DAY_DECISIONS:
        return _DAY_DECISIONS[name]
    prof = _PROFILES.get(name)
    if prof is None:  # a column without a monitor: profile it from the reference on the fly
        prof = ColumnProfile.build(reference)
    stat = float(prof.statistic(current))
    return stat, bool(np.isfinite(stat) and stat > threshold)


def day_decisions(monitors: Sequence, frame: pd.DataFrame) -> dict[str, dict]:
    """What ``playbook monitor`` decides for each distribution monitor on one batch: ``{column: {statistic,
    threshold, alert}}``, with the threshold for the batch's row count (:meth:`threshold_for`)."""
    out = {}
    rows = len(frame)
    for m in monitors:
        if not isinstance(m, DistributionMonitor) or m.threshold is None or m.column not in frame.columns:
            continue
        thr = m.threshold_for(rows)
        stat = float(m.statistic(frame))
        out[m.column] = {"statistic": stat, "threshold": float(thr), "alert": bool(math.isfinite(stat) and stat > thr)}
    return out


def register_monitors(monitors: Sequence) -> None:
    """Make the calibrated statistics available to Evidently as the stat test :data:`STATTEST_NAME`."""
    global _REGISTERED
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    for m in monitors:
        if isinstance(m, DistributionMonitor):
            _PROFILES[m.column] = m.profile
    if not _REGISTERED:
        register_stattest(
            StatTest(name=STATTEST_NAME, display_name="calibrated playbook monitor",
                     allowed_feature_types=[ColumnType.Numerical, ColumnType.Categorical], default_threshold=0.1),
            default_impl=_calibrated_stattest,
        )
        _REGISTERED = True


@dataclass
class Day:
    """One simulated production day: its date (None for a batch that is no calendar day), its batch (features,
    model output, optional labels)."""

    date: dt.date | None
    frame: pd.DataFrame
    scenario: str = "no drift"
    tags: list[str] = field(default_factory=list)


def stable_id(*parts: Any) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in parts))


def _panels(features: list[str], score: str | None, has_labels: bool, has_estimate: bool) -> list[tuple[str, Any]]:
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import counter_panel, line_plot_panel, text_panel

    drift_cols = features + ([score] if score else [])
    panels: list[tuple[str, Any]] = [
        ("Overview", text_panel(
            "Production monitor (simulated days)",
            "Each point is one daily batch. Drift uses the calibrated thresholds of monitoring.yaml: "
            "a column counts as drifted when its statistic exceeds its threshold.")),
        ("Overview", counter_panel(
            "Share of drifted columns (last day)", size="half", aggregation="last",
            values=[PanelMetric(legend="share", metric="DriftedColumnsCount", metric_labels={"value_type": "share"})])),
        ("Overview", counter_panel(
            "Rows in the last batch", size="half", aggregation="last",
            values=[PanelMetric(legend="rows", metric="RowCount")])),
        ("Overview", line_plot_panel(
            "Drift share per day", size="full",
            values=[PanelMetric(legend="share of drifted columns", metric="DriftedColumnsCount",
                                metric_labels={"value_type": "share"})])),
        ("Overview", line_plot_panel(
            "Missing values per day (share of all cells)", size="half",
            values=[PanelMetric(legend="missing share", metric="DatasetMissingValueCount",
                                metric_labels={"value_type": "share"})])),
    ]
    if score:
        panels.append(("Overview", line_plot_panel(
            "Model output drift", size="half",
            values=[PanelMetric(legend=score, metric="ValueDrift", metric_labels={"column": score})])))
    panels.append(("Columns", line_plot_panel(
        "Per-column drift statistic (calibrated monitors)", size="full",
        values=[PanelMetric(legend=c, metric="ValueDrift", metric_labels={"column": c}) for c in drift_cols])))
    panels.append(("Columns", line_plot_panel(
        "Missing values per column (share)", size="full",
        values=[PanelMetric(legend=c, metric="MissingValueCount", metric_labels={"column": c, "value_type": "share"})
                for c in features])))
    if has_labels or has_estimate:
        vals = []
        if has_labels:
            vals.append(PanelMetric(legend="realized accuracy", metric="Accuracy"))
        if has_estimate:
            vals.append(PanelMetric(legend="estimated accuracy (label-free)", metric="MeanValue",
                                    metric_labels={"column": EXPECTED_CORRECT}))
        panels.append(("Model quality", line_plot_panel("Accuracy: realized vs label-free estimate", size="full",
                                                        values=vals)))
    if has_labels and score:
        panels.append(("Model quality", line_plot_panel(
            "ROC AUC (realized, once labels arrive)", size="half",
            values=[PanelMetric(legend="ROC AUC", metric="RocAuc")])))
    return panels


def _dedupe_tabs(ws, project_id, name: str, seed: int) -> None:
    """Evidently 0.7's add_panel lists a panel twice when its tab already exists: keep one entry (and give
    the tabs stable ids)."""
    model = ws.get_dashboard(project_id)
    for tab in model.tabs:
        tab.id = stable_id("tab", name, seed, tab.title)
        seen, keep = set(), []
        for pid in tab.panels:
            if pid not in seen:
                seen.add(pid)
                keep.append(pid)
        tab.panels = keep
    ws.save_dashboard(project_id, model)


#: rows of the reference each day's report compares with (a seeded sample of larger references): the reports'
#: plots only; the drift decisions drawn are ``playbook monitor``'s own
REFERENCE_ROWS = 20_000


def reference_sample(frame: pd.DataFrame, seed: int = 0, rows: int = REFERENCE_ROWS) -> pd.DataFrame:
    """The dashboard's reference: the frame, or a seeded sample of ``rows`` of its rows in their order (labels
    kept), so each day's report costs the same whatever the size of the reference."""
    if len(frame) <= rows:
        return frame
    return frame.sample(n=rows, random_state=seed).sort_index()


def build_workspace(path: str | Path, *, name: str, monitors: Sequence, reference: pd.DataFrame,
                    days: Sequence[Day], features: list[str], numeric: list[str], score: str | None = None,
                    target: str | None = None, positive_label: Any = None, calibrator=None,
                    decision_threshold: float = 0.5, seed: int = 0, description: str = "") -> dict:
    """Write the workspace: project, dashboard panels and one snapshot per day. Returns a summary
    ``{path, project_id, project_name, snapshots, panels}``.

    ``reference`` and each day's frame hold the features, the model output ``score`` (a probability for
    binary classifiers) and, when labels are known, ``target``. Pass them through
    :func:`playbook.display.redact` first. Columns whose monitors are not distribution monitors are ignored.
    """
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.metrics import (
        Accuracy, DatasetMissingValueCount, DriftedColumnsCount, MeanValue, MissingValueCount, RocAuc, RowCount,
        ValueDrift,
    )
    from evidently.sdk.models import ProjectModel
    from evidently.ui.workspace import Workspace

    register_monitors(monitors)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    thresholds = {m.column: float(m.threshold) for m in monitors
                  if isinstance(m, DistributionMonitor) and m.threshold is not None}
    # columns profiled by hashed values (personal data) reach Evidently redacted: monitored by
    # `playbook monitor` only, not drawn in the dashboard
    hashed = {m.column for m in monitors if isinstance(m, DistributionMonitor) and m.profile.hashed}
    features = [c for c in features if c in thresholds and c not in hashed]
    score = score if (score and score in thresholds) else None
    drift_cols = features + ([score] if score else [])
    kinds = {m.column: m.profile.kind for m in monitors if isinstance(m, DistributionMonitor)}
    has_estimate = calibrator is not None and score is not None and kinds.get(score) == "numeric"
    has_labels = bool(target) and any(target in d.frame.columns and d.frame[target].notna().any() for d in days)
    has_labels = has_labels and has_estimate  # quality panels need the binary classifier's probabilities

    num_cols = [c for c in drift_cols if kinds.get(c) == "numeric"]

    def prepare(frame: pd.DataFrame) -> pd.DataFrame:
        """The columns Evidently gets: monitored columns present in the frame (numbers coerced: text that
        is not a number becomes missing), expected correctness, predicted and true label."""
        out = frame[[c for c in drift_cols if c in frame.columns]].copy()
        for c in out.columns:
            if c in num_cols:
                out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
        if has_estimate and score in out.columns:
            s = out[score].to_numpy(dtype=float)
            if has_estimate:
                q = calibrator(np.nan_to_num(s, nan=decision_threshold))
                out[EXPECTED_CORRECT] = np.where(s >= decision_threshold, q, 1 - q)
            if has_estimate and has_labels and target in frame.columns and frame[target].notna().any():
                y = frame[target]
                pos = (y == positive_label) | (y.astype(str) == str(positive_label))
                out[PREDICTED_LABEL] = np.where(s >= decision_threshold, "positive", "negative")
                out[target] = np.where(y.isna(), None, np.where(pos, "positive", "negative"))
        return out

    def definition_for(frame: pd.DataFrame):
        cols = [c for c in drift_cols if c in frame.columns]
        labelled = target in frame.columns and PREDICTED_LABEL in frame.columns
        classification = ([BinaryClassification(target=target, prediction_labels=PREDICTED_LABEL,
                                                prediction_probas=score, pos_label="positive")]
                          if labelled else None)
        return DataDefinition(
            numerical_columns=[c for c in cols if c in num_cols] + ([EXPECTED_CORRECT] if EXPECTED_CORRECT in frame else []),
            categorical_columns=[c for c in cols if c not in num_cols] + ([target, PREDICTED_LABEL] if labelled else []),
            classification=classification)

    ws = Workspace(str(path))
    project_id = stable_id("project", name, seed)
    project_name = f"{name}: production monitor"
    if ws.get_project(project_id) is not None:
        ws.delete_project(project_id)
    project = ws.add_project(ProjectModel(id=project_id, name=project_name,
                                          description=description or "Calibrated drift monitors on simulated production days."))
    panels = _panels(features, score, has_labels, has_estimate)
    for i, (tab, panel) in enumerate(panels):
        panel.id = stable_id("panel", name, seed, i)
        project.dashboard.add_panel(panel, tab=tab)
    _dedupe_tabs(ws, project.id, name, seed)

    ref_full = prepare(reference)

    def snapshot(item: tuple[int, Day]) -> dict:
        """One day's report, written as its snapshot file (the days are independent: shared with a second core)."""
        i, day = item
        cur = prepare(day.frame)
        # a column the day lacks (dropped upstream) or with no value left cannot be tested: skip it that day
        cols = [c for c in drift_cols if c in cur.columns and cur[c].notna().any()]
        # the thresholds `playbook monitor` uses for this day's row count, and its decisions on the raw batch
        decided = day_decisions(monitors, day.frame)
        _DAY_DECISIONS.clear()
        _DAY_DECISIONS.update({c: (d["statistic"], d["alert"]) for c, d in decided.items() if c in cols})
        metrics = [RowCount(), DatasetMissingValueCount()]
        if cols:
            # the metrics of Evidently's DataDriftPreset (the drifted-column count and each column's drift), as the
            # preset generates them, without its data-drift table: the dashboard's panels read these metrics only,
            # and the table re-rendered every column's plots (over a third of a day's report)
            thr = {c: decided[c]["threshold"] if c in decided else thresholds[c] for c in cols}
            metrics.append(DriftedColumnsCount(columns=cols, drift_share=0.5,
                                               per_column_method={c: STATTEST_NAME for c in cols},
                                               per_column_threshold=thr))
            metrics += [ValueDrift(column=c, method=STATTEST_NAME, threshold=thr[c]) for c in cols]
        metrics += [MissingValueCount(column=c) for c in features if c in cur.columns]
        if EXPECTED_CORRECT in cur.columns:
            metrics.append(MeanValue(column=EXPECTED_CORRECT))
        if PREDICTED_LABEL in cur.columns:
            metrics += [Accuracy(), RocAuc()]
        ref = ref_full[[c for c in cur.columns if c in ref_full.columns]]
        report = Report(metrics, metadata={"day": str(i + 1), "scenario": day.scenario},
                        tags=list(day.tags) or [day.scenario])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            snap = report.run(Dataset.from_pandas(cur, data_definition=definition_for(cur)),
                              Dataset.from_pandas(ref, data_definition=definition_for(ref)),
                              name=f"day {i + 1}: {day.scenario}",
                              timestamp=dt.datetime.combine(day.date, dt.time(23, 0)))
        _DAY_DECISIONS.clear()
        sid = stable_id("snapshot", name, seed, i)
        _write_snapshot(ws.state, project.id, sid, snap.to_snapshot_model())
        return {"id": str(sid), "day": i + 1, "date": day.date.isoformat(), "scenario": day.scenario}

    from playbook.parallel import map_ordered

    snapshots = map_ordered(snapshot, list(enumerate(days)))
    return {"path": str(path), "project_id": str(project.id), "project_name": project_name,
            "snapshots": snapshots, "panels": [p.title for _, p in panels], "reference_rows": int(len(reference))}


def _write_snapshot(state, project_id, snapshot_id, model) -> None:
    """``state.write_snapshot`` (Evidently's local storage), the same bytes written in one piece: its
    ``json.dump`` streams a day's 900 kB snapshot to the file in over a hundred thousand small writes, where
    ``json.dumps`` encodes it at once."""
    import json

    from evidently.legacy.utils import NumpyEncoder

    try:
        folder, path = state._snapshot_dir(project_id), state._snapshot_path(project_id, snapshot_id)
    except AttributeError:  # another storage layout: its own writer
        state.write_snapshot(project_id, snapshot_id, model)
        return
    text = json.dumps(model.dict(), cls=NumpyEncoder)
    state.location.makedirs(folder)
    with state.location.open(path, "w") as f:
        f.write(text)


def list_projects(path: str | Path) -> list[dict]:
    """Projects of a local workspace (for checks and tests)."""
    from evidently.ui.workspace import Workspace

    ws = Workspace(str(path))
    return [{"id": str(p.id), "name": p.name, "snapshots": len(ws.list_runs(p.id))} for p in ws.list_projects()]
