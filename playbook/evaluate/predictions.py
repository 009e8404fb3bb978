"""The model's per-row outputs on the evaluation rows, stored in the pack so that two packs can be compared row by row.

``artifacts/predictions.parquet`` of the model evaluation step holds, per evaluation row and in the order scored:

* ``row``: a fingerprint of the row (16 hex digits of a 64-bit hash of every data column's value, the model's own
  prediction / probability columns left out), so two packs can tell whether they scored *the same rows* without
  either holding a raw value or an identifier;
* ``y``: the true label (as text for a classifier) or value;
* ``pred``: the model's label (as text) or predicted value;
* ``p::<class>``: the probability of each class, when the model gives probabilities.

No feature value and no identifier is written: the fingerprint cannot be read back into a row without the data
itself (a dictionary attack needs every column's value of the row). :func:`scored` rebuilds a
:class:`~playbook.evaluate.metrics.Scored` from the file, so every metric of the evaluation can be recomputed on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FILE = "predictions.parquet"
PROBA_PREFIX = "p::"


def row_fingerprints(frame: pd.DataFrame, leave_out: list[str] | tuple[str, ...] = ()) -> np.ndarray:
    """One 16-hex-digit fingerprint per row of ``frame``: :func:`pandas.util.hash_pandas_object` of every column's
    value as text (columns sorted by name, so their order in the file does not matter), ``leave_out`` excluded. The
    same data read the same way gives the same fingerprints, whichever model scores it."""
    cols = sorted(c for c in frame.columns if c not in set(leave_out))
    if not cols:
        return np.array([format(0, "016x")] * len(frame), dtype=object)
    as_text = frame[cols].astype("string").fillna("\x00<NA>")
    as_text.columns = [str(c) for c in cols]
    hashes = pd.util.hash_pandas_object(as_text, index=False).to_numpy(dtype=np.uint64)
    return np.array([format(int(h), "016x") for h in hashes], dtype=object)


def table(ev, leave_out: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """The per-row outputs of an :class:`~playbook.evaluate.Evaluation` as stored (see the module docstring)."""
    s = ev.scored
    out = {"row": row_fingerprints(ev.frame, leave_out)}
    classification = s.task in ("binary", "multiclass")
    out["y"] = pd.Series(s.y).astype(str).to_numpy() if classification else np.asarray(s.y, dtype=float)
    if s.pred is not None:
        out["pred"] = pd.Series(s.pred).astype(str).to_numpy() if classification else np.asarray(s.pred, dtype=float)
    if s.proba is not None and s.classes:
        for i, c in enumerate(s.classes):
            out[f"{PROBA_PREFIX}{c}"] = np.asarray(s.proba[:, i], dtype=float)
    return pd.DataFrame(out)


def write(ev, path: str | Path, leave_out: list[str] | tuple[str, ...] = ()) -> Path:
    """Write :func:`table` to ``path`` (parquet, no index; the same outputs give the same bytes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    table(ev, leave_out).to_parquet(tmp, index=False, compression="zstd")
    tmp.replace(path)
    return path


def read(path: str | Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def scored(df: pd.DataFrame, task: str, positive=None, threshold: float = 0.5):
    """A :class:`~playbook.evaluate.metrics.Scored` over a stored table (labels and classes as text)."""
    from playbook.evaluate.metrics import Scored

    pcols = [c for c in df.columns if c.startswith(PROBA_PREFIX)]
    classes = [c.removeprefix(PROBA_PREFIX) for c in pcols] or None
    if classes is None and task in ("binary", "multiclass"):
        classes = sorted(set(df["y"].astype(str)) | set(df["pred"].astype(str) if "pred" in df else ()))
    classification = task in ("binary", "multiclass")
    y = df["y"].astype(str).to_numpy(dtype=object) if classification else df["y"].to_numpy(dtype=float)
    pred = None
    if "pred" in df:
        pred = df["pred"].astype(str).to_numpy(dtype=object) if classification else df["pred"].to_numpy(dtype=float)
    proba = df[pcols].to_numpy(dtype=float) if pcols else None
    return Scored(task=task, y=y, pred=pred, proba=proba, classes=classes,
                  positive=None if positive is None else str(positive), threshold=threshold)


__all__ = ["FILE", "PROBA_PREFIX", "read", "row_fingerprints", "scored", "table", "write"]
