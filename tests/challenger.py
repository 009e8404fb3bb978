"""A second model for the bundled data (a scaled logistic regression saved with skops) and the config of a small
pack that judges it: the challenger the comparison tests set against the shared baseline pack."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.params import SMALL_CONFIG


def logistic_model(path: Path) -> Path:
    """Fit a one-hot + standardised logistic regression on the bundled reference data; save it with skops."""
    import pandas as pd
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cfg = yaml.safe_load(SMALL_CONFIG.read_text(encoding="utf-8"))
    ref = pd.read_csv((SMALL_CONFIG.parent / cfg["data"]["reference"]).resolve())
    target = cfg["data"]["target"]
    X = ref.drop(columns=[target])
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    categorical = [c for c in X.columns if c not in numeric]
    pipe = Pipeline([("prep", ColumnTransformer([("num", StandardScaler(), numeric),
                                                 ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])),
                     ("model", LogisticRegression(C=0.05, max_iter=2000))])
    pipe.fit(X, ref[target])
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(pipe, path)
    return path


def challenger_config(folder: Path, name: str = "challenger") -> Path:
    """``tests/data/small.yaml`` with absolute data paths and ``model.path`` set to :func:`logistic_model`'s file."""
    cfg = yaml.safe_load(SMALL_CONFIG.read_text(encoding="utf-8"))
    for role in ("reference", "current"):
        cfg["data"][role] = str((SMALL_CONFIG.parent / cfg["data"][role]).resolve())
    cfg["name"] = name
    cfg["model"] = {"path": str(logistic_model(folder / "challenger.skops"))}
    out = folder / f"{name}.yaml"
    out.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return out
