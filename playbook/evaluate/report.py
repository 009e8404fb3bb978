"""Evidently classification / regression report (HTML for readers, JSON for machines).

Built with Evidently 0.7's ``Report`` and ``ClassificationPreset`` / ``RegressionPreset`` on the evaluation
rows: only the target, the prediction and the probabilities are handed over (no feature values), and the
frame still goes through :func:`playbook.display.redact` like every frame that reaches an artifact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from playbook.evaluate.metrics import Scored

TARGET, PREDICTION, PROBA = "target", "prediction", "probability"


def report_frame(s: Scored) -> tuple[pd.DataFrame, list[str]]:
    """The frame handed to Evidently and the probability column names."""
    if s.task == "regression":
        return pd.DataFrame({TARGET: np.asarray(s.y, float), PREDICTION: np.asarray(s.pred, float)}), []
    df = pd.DataFrame({TARGET: [str(v) for v in s.y], PREDICTION: [str(v) for v in s.pred]})
    cols: list[str] = []
    if s.proba is not None:
        if s.task == "binary":
            df[PROBA] = s.p_pos
            cols = [PROBA]
        else:
            cols = [str(c) for c in s.classes]
            for k, c in enumerate(cols):
                df[c] = s.proba[:, k]
    return df, cols


def evidently_report(s: Scored, html_path, json_path, ctx=None) -> dict:
    """Run the preset, save HTML and JSON, return ``{metric name: value}`` for the single-value metrics
    (for metrics Evidently reports as ``{mean, std}``, the mean; note that its MAPE is in percent)."""
    from evidently import BinaryClassification, DataDefinition, Dataset, MulticlassClassification, Regression, Report
    from evidently.presets import ClassificationPreset, RegressionPreset

    from playbook.display import redact

    df, proba_cols = report_frame(s)
    df = redact(df, ctx)
    if s.task == "regression":
        dd = DataDefinition(regression=[Regression(target=TARGET, prediction=PREDICTION)],
                            numerical_columns=[TARGET, PREDICTION])
        preset = RegressionPreset()
    elif s.task == "binary":
        dd = DataDefinition(
            classification=[BinaryClassification(target=TARGET, prediction_labels=PREDICTION,
                                                 prediction_probas=proba_cols[0] if proba_cols else None,
                                                 pos_label=str(s.positive))],
            categorical_columns=[TARGET, PREDICTION], numerical_columns=proba_cols)
        preset = ClassificationPreset()
    else:
        dd = DataDefinition(
            classification=[MulticlassClassification(target=TARGET, prediction_labels=PREDICTION,
                                                     prediction_probas=proba_cols or None)],
            categorical_columns=[TARGET, PREDICTION], numerical_columns=proba_cols)
        preset = ClassificationPreset()
    snap = Report([preset]).run(Dataset.from_pandas(df, data_definition=dd), None)
    Path(html_path).parent.mkdir(parents=True, exist_ok=True)
    snap.save_html(str(html_path))
    snap.save_json(str(json_path))
    values = {}
    for m in snap.dict().get("metrics", []):
        v = m.get("value")
        if isinstance(v, dict) and isinstance(v.get("mean"), (int, float)):
            v = v["mean"]  # MAE, MAPE, mean error: Evidently reports {mean, std}
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            values[m["metric_name"].split("(")[0]] = float(v)
    return values
