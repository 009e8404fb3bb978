"""Bring your own model: three ways, one adapter.

The pack config's ``model:`` section decides how the model under review is obtained:

1. **predictions** - the model's outputs are already columns of the data (``data.prediction`` and/or
   ``data.probability``). Model-agnostic (any framework, an external service); the adapter only reads
   those columns, so it is not *callable* on new rows.
2. **file** - ``model.path`` points at a scikit-learn-compatible model. ``.skops`` files are loaded
   with skops' trusted-type check: types skops does not trust by default are refused with a message
   listing them, unless the config names them in ``model.trusted_types``. Pickle / joblib files
   (``.pkl``, ``.pickle``, ``.joblib``, ``.sav``) can run arbitrary code when loaded and are refused
   unless ``model.allow_pickle: true``; the adapter's :attr:`ModelAdapter.info` records that it was.
3. **baseline** - ``model.train: baseline`` (and the default when the data carries no predictions and no
   model file is named): the documented baseline of :func:`fit_baseline`, fitted on the reference data
   with the pack's seed.

Whatever the mode, :func:`get_model` returns a :class:`ModelAdapter` with ``predict``,
``predict_proba`` (classification, columns in ``classes_`` order), ``classes_``, ``mode``,
``callable`` and ``features``. A callable adapter validates every input frame before the model sees it
(see :meth:`ModelAdapter.prepare`): a missing column, a wrong type or an infinite value raises
:class:`ModelInputError` with one sentence naming the column; extra columns are ignored; missing values
and unseen categories are passed to the model, which handles them (the baseline natively: an unseen
category is treated like a missing value).

:func:`preflight` validates the model inputs cheaply before any step runs, so that bad input ends the
run with exit code 2 and a one-sentence message instead of a failure deep inside a notebook.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from playbook.data import DataError, is_numeric

MODES = ("predictions", "file", "baseline")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav")
SKOPS_SUFFIXES = (".skops",)
PROBABILITY_TOLERANCE = 1e-3  # multiclass probability rows must sum to 1 within this

BASELINE_DESCRIPTION = (
    "scikit-learn Pipeline: categorical features (cast to text) -> OrdinalEncoder (unseen and missing "
    "categories become missing values); numeric features passed through (missing values kept); "
    "HistGradientBoosting{Classifier,Regressor} with native categorical support, default "
    "hyper-parameters and random_state = the pack seed. Columns that would break it on real data are left "
    "out, each with its reason: empty or constant in the training rows, dates (as categories every new date "
    "is unseen), and near-unique text (identifiers, free text)."
)
#: a text column with at least this share of distinct values over at least ID_MIN_ROWS rows is an identifier
ID_UNIQUE_SHARE = 0.9
ID_MIN_ROWS = 50


def _val(v: Any) -> str:
    """A data value for a message: numpy scalars shown as plain Python values."""
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    return repr(v)


class ModelError(DataError):
    """The model (file, predictions or configuration) cannot be used: the message names it and the fix."""


class ModelInputError(ValueError):
    """A frame given to the model is malformed: the message names the column and the fix."""


# --------------------------------------------------------------------------------------------------
# the baseline
# --------------------------------------------------------------------------------------------------
_CONTROLLER = None


def single_thread():
    """Run native (OpenMP / BLAS) code on one thread: the way a serving worker scores a request, immune to
    thread oversubscription on a busy machine, and the same arithmetic order on every run."""
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    import sklearn.ensemble  # noqa: F401 - load scikit-learn's OpenMP runtime before the controller scans

    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1)


def _text_values(s: pd.Series) -> np.ndarray:
    vals = s.to_numpy(dtype=object)
    missing = pd.isna(vals)
    out = np.empty(len(vals), dtype=object)
    out[missing] = np.nan
    out[~missing] = [str(v) for v in vals[~missing]]
    return out


def _as_text(s: pd.Series) -> pd.Series:
    """Categorical values as text, missing values kept missing (the form the baseline is fitted on)."""
    return pd.Series(_text_values(s), index=s.index, name=s.name, dtype=object)


def frame_of_arrays(cols: dict, index=None, columns: list | None = None) -> pd.DataFrame:
    """``pd.DataFrame(cols)`` from one array per column, object arrays kept as object (pandas' string inference,
    when switched on, would turn text into another dtype than the model saw)."""
    if pd.get_option("future.infer_string"):
        cols = {c: pd.Series(v, dtype=object, index=index) if isinstance(v, np.ndarray) and v.dtype == object else v
                for c, v in cols.items()}
    return pd.DataFrame(cols, index=index, columns=columns)


def _float_values(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(s, errors="coerce").astype(float).to_numpy()


def baseline_frame(X: pd.DataFrame, numeric: list[str], categorical: list[str],
                   hashed: list[str] | tuple = (), order: list[str] | None = None) -> pd.DataFrame:
    """The frame the baseline pipeline expects: numeric as float, categorical as text, in that column order (or in
    ``order``, the model's). ``hashed`` categorical columns (protected columns used as features on purpose) become
    pseudonyms (:func:`playbook.privacy.digest`), so the fitted encoder stores no raw value of them.

    Built from one array per column (no intermediate Series): a served request is often one row, for which building
    frames costs more than scoring."""
    cols = {c: _float_values(X[c]) for c in numeric}
    cols.update({c: _text_values(X[c]) for c in categorical})
    protected = set(hashed) & set(categorical)
    if protected:
        from playbook.privacy import digest

        for c in protected:
            cols[c] = np.array([v if v is None or (isinstance(v, float) and np.isnan(v)) else digest(v)
                                for v in cols[c]], dtype=object)
    return frame_of_arrays(cols, X.index, list(order) if order is not None else list(cols))


def baseline_plan(X: pd.DataFrame) -> dict:
    """Which columns the baseline uses and why the others are left out: ``{numeric, categorical, left_out}``.

    Decided on the training rows: a column with no value, or a single value, carries no signal (and a
    single-valued numeric column breaks histogram binning); a column of dates used as a category makes every new
    date an unseen value (so the model degrades on exactly the data it will serve); near-unique text
    (identifiers, free text) is memorised rather than learned. Deterministic.
    """
    from playbook.audit.contract import looks_like_datetime

    numeric, categorical, left_out = [], [], {}
    for c in X.columns:
        s = X[c]
        present = s.dropna()
        if present.empty:
            left_out[c] = "it has no value in the training rows"
            continue
        if present.nunique() <= 1:
            left_out[c] = f"it holds a single value ({_val(present.iloc[0])}) in the training rows: no signal to learn"
            continue
        if pd.api.types.is_datetime64_any_dtype(s) or (not is_numeric(s) and looks_like_datetime(s)):
            left_out[c] = ("it holds dates: as a category every new date is unseen; derive calendar features "
                           "(month, day of week) upstream if they matter")
            continue
        if is_numeric(s):
            numeric.append(c)
            continue
        if len(present) >= ID_MIN_ROWS and present.astype(str).nunique() >= ID_UNIQUE_SHARE * len(present):
            left_out[c] = (f"{present.astype(str).nunique()} distinct values in {len(present)} rows: an identifier or "
                           "free text, which a model memorises instead of learning from")
            continue
        categorical.append(c)
    return {"numeric": numeric, "categorical": categorical, "left_out": left_out}


def fit_baseline(X: pd.DataFrame, y: pd.Series, task: str, seed: int = 0, params: dict | None = None,
                 hashed: list[str] | tuple = ()):
    """Fit the documented baseline (see :data:`BASELINE_DESCRIPTION`) and return the sklearn Pipeline.

    ``params`` overrides hyper-parameters of the HistGradientBoosting estimator (``learning_rate``,
    ``max_leaf_nodes``, ...): the tuning section searches them; the baseline itself uses the defaults.

    ``X`` holds the feature columns only; numeric columns (by dtype) are used as numbers, every other
    column as a category. Rows with a missing target are dropped. Deterministic for a given seed.
    The pipeline expects categorical values as text: score it through a :class:`ModelAdapter` (which
    validates and converts the input) or with ``pipe.predict(baseline_frame(X, numeric, categorical))``.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    if task not in ("binary", "multiclass", "regression"):
        raise ValueError(f"task {task!r} is not one of binary, multiclass, regression.")
    y = pd.Series(y, index=X.index)
    keep = y.notna().to_numpy()
    X, y = X.loc[keep], y.loc[keep]
    plan = baseline_plan(X)
    numeric, categorical = plan["numeric"], plan["categorical"]
    if not numeric and not categorical:
        raise ModelError("data.features: no column can feed the baseline (" + "; ".join(
            f"{c}: {r}" for c, r in list(plan["left_out"].items())[:3]) + "); list usable columns in data.features.")
    all_numeric = [c for c in X.columns if is_numeric(X[c])]
    Xb = baseline_frame(X, all_numeric, [c for c in X.columns if c not in all_numeric], hashed)
    transformers = []
    if categorical:
        transformers.append((
            "categorical",
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                           encoded_missing_value=np.nan, max_categories=250),
            categorical,
        ))
    if numeric:
        transformers.append(("numeric", "passthrough", numeric))
    prep = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    cat_mask = [True] * len(categorical) + [False] * len(numeric)
    hyper = dict(params or {})
    hyper.update(categorical_features=cat_mask if categorical else None, random_state=seed)
    if task == "regression":
        est = HistGradientBoostingRegressor(**hyper)
        y_fit = pd.to_numeric(y).astype(float)
    else:
        est = HistGradientBoostingClassifier(**hyper)
        y_fit = y
    pipe = Pipeline([("prepare", prep), ("model", est)])
    with single_thread():
        pipe.fit(Xb, y_fit)
    return pipe


# --------------------------------------------------------------------------------------------------
# the adapter
# --------------------------------------------------------------------------------------------------
@dataclass
class ModelAdapter:
    """One interface over the four ways to bring a model.

    Attributes: ``mode`` ("predictions" | "file" | "endpoint" | "baseline"), ``task``, ``features`` (the columns the
    model consumes, in its order), ``classes_`` (classification: the target classes, sorted as in
    :class:`playbook.data.Roles`), ``positive_label`` (binary), ``callable`` (False in predictions mode:
    the model cannot score new rows), ``estimator`` (the fitted object, None in predictions mode) and
    ``info`` (provenance for the pack: file, sha256, format, pickle allowed, trusted types, ...).
    """

    mode: str
    task: str
    features: list[str]
    classes_: list[Any] | None = None
    positive_label: Any = None
    estimator: Any = None
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    categories: dict[str, set] = field(default_factory=dict)
    prediction_column: str | None = None
    probability_columns: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    hashed: list[str] = field(default_factory=list)  # baseline: protected text features seen as pseudonyms only
    skops_bytes: bytes | None = field(default=None, repr=False, compare=False)  # baseline fitted here: its skops file

    # -- description ---------------------------------------------------------------------------
    @property
    def callable(self) -> bool:
        return self.mode != "predictions"

    @property
    def is_classifier(self) -> bool:
        return self.task in ("binary", "multiclass")

    @property
    def has_proba(self) -> bool:
        if not self.is_classifier:
            return False
        if self.mode == "predictions":
            return bool(self.probability_columns)
        if self.mode == "endpoint":
            return bool(self.estimator.has_proba)
        return hasattr(self.estimator, "predict_proba")

    @property
    def has_predictions(self) -> bool:
        """True when the adapter can give a prediction per row (always, except a regression without one)."""
        if self.mode != "predictions":
            return True
        return bool(self.prediction_column) or (self.is_classifier and bool(self.probability_columns))

    def size_bytes(self) -> int | None:
        """Serialized size of the model (the file, or the skops bytes of the baseline); None without one."""
        if self.mode in ("predictions", "endpoint"):
            return None
        if self.info.get("bytes") is not None:
            return int(self.info["bytes"])
        return len(dump_bytes(self.estimator))

    # -- input validation ----------------------------------------------------------------------
    def input_issues(self, X: pd.DataFrame) -> list[dict]:
        """Describe what is unusual about ``X`` without raising: extra columns, missing values, unseen
        categories. Each item is ``{column, kind, detail, handling}``."""
        issues = []
        extra = [c for c in X.columns if c not in self.features]
        if extra:
            issues.append({"column": ", ".join(map(str, extra)), "kind": "extra_column",
                           "detail": f"{len(extra)} column(s) the model does not use",
                           "handling": "ignored: the adapter selects the model's features by name"})
        for c in self.features:
            if c not in X.columns:
                continue
            n_nan = int(X[c].isna().sum())
            if n_nan:
                issues.append({"column": c, "kind": "missing_value", "detail": f"{n_nan} missing value(s)",
                               "handling": "passed to the model as missing (the baseline handles missing values natively)"})
            if c in self.categories:
                seen = self.categories[c]
                vals = set(_as_text(X[c]).dropna().unique())
                unseen = sorted(vals - seen)
                if unseen:
                    issues.append({"column": c, "kind": "unseen_category", "detail": f"unseen value(s) {unseen[:5]}",
                                   "handling": "passed to the model (the baseline treats an unseen category as missing)"})
        return issues

    def prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        """Validate ``X`` and return the model's feature columns in its order.

        Raises :class:`ModelInputError` for a missing column, a non-numeric value in a numeric column, or
        an infinite value. Extra columns are dropped; missing values and unseen categories pass through.
        """
        if not isinstance(X, pd.DataFrame):
            raise ModelInputError(
                f"model input must be a pandas DataFrame with named columns, got {type(X).__name__}; "
                "build a DataFrame with the feature columns."
            )
        missing = [c for c in self.features if c not in X.columns]
        if missing:
            raise ModelInputError(
                f"input is missing feature column(s) {missing}; send every column the model was trained on."
            )
        baseline = self.mode == "baseline"
        # the baseline's frame is rebuilt from arrays below, so the selection is copied only for the other modes
        out = X.loc[:, list(self.features)]
        if not baseline:
            out = out.copy()
        converted = {}
        for c in self.numeric:
            if c not in out.columns:
                continue
            s = out[c]
            if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
                conv = pd.to_numeric(s, errors="coerce")
                bad = s[conv.isna() & s.notna()]
                if pd.api.types.is_bool_dtype(s) or len(bad):
                    example = bad.iloc[0] if len(bad) else s.iloc[0]
                    raise ModelInputError(
                        f"column {c!r} must be numeric but holds {_val(example)}; fix the type upstream before scoring."
                    )
                converted[c] = conv.astype(float)
                if not baseline:
                    out[c] = converted[c]
            vals = (converted[c] if c in converted else s).to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(vals).any():
                raise ModelInputError(f"column {c!r} holds an infinite value; replace it with a finite number or a missing value.")
        if baseline:
            if converted:
                out = out.assign(**converted)
            out = baseline_frame(out, [c for c in self.features if c in self.numeric],
                                 [c for c in self.features if c not in self.numeric], self.hashed,
                                 order=self.features)
        return out

    def _call(self, method: str, X: pd.DataFrame) -> np.ndarray:
        Xp = self.prepare(X)
        try:
            with single_thread():
                return np.asarray(getattr(self.estimator, method)(Xp))
        except (ValueError, TypeError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            suspects = [i for i in self.input_issues(X) if i["kind"] != "extra_column"]
            hint = (f"; column {suspects[0]['column']!r} has {suspects[0]['detail']}, which this model does not accept"
                    if suspects else "; check the columns and types sent to it")
            raise ModelInputError(f"the model could not score the input ({first[:200]}){hint}.") from exc

    # -- predictions ---------------------------------------------------------------------------
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Labels (classification, values of ``classes_``) or numbers (regression), one per row."""
        if self.mode == "predictions":
            if self.prediction_column:
                col = X[self.prediction_column]
                if self.is_classifier:
                    return np.asarray(_map_labels(col, self.classes_, self.prediction_column), dtype=object)
                return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            if self.is_classifier and self.probability_columns:
                proba = self.predict_proba(X)
                if self.task == "binary":
                    pos = self.classes_.index(self.positive_label)
                    neg = 1 - pos
                    return np.where(proba[:, pos] >= 0.5, self.classes_[pos], self.classes_[neg]).astype(object)
                return np.asarray(self.classes_, dtype=object)[proba.argmax(axis=1)]
            raise ModelInputError("no prediction column is configured; set data.prediction to the model's output column.")
        pred = self._call("predict", X)
        if self.is_classifier:
            return np.asarray(_map_labels(pd.Series(pred), self.classes_, "model output"), dtype=object)
        return pred.astype(float)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, one column per class in ``classes_`` order."""
        if not self.is_classifier:
            raise ModelInputError("predict_proba is only defined for classification; use predict for regression.")
        if self.mode == "predictions":
            if not self.probability_columns:
                raise ModelInputError("no probability column is configured; set data.probability to evaluate ranking and calibration.")
            P = X[self.probability_columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
            if self.task == "binary":
                p = P[:, 0]
                pos = self.classes_.index(self.positive_label)
                out = np.empty((len(p), 2))
                out[:, pos] = p
                out[:, 1 - pos] = 1 - p
                return out
            return P
        if not hasattr(self.estimator, "predict_proba"):
            raise ModelInputError(f"the model ({type(self.estimator).__name__}) has no predict_proba; ranking and calibration metrics need probabilities.")
        P = self._call("predict_proba", X).astype(float)
        est_classes = [str(c) for c in getattr(self.estimator, "classes_", self.classes_)]
        order = [est_classes.index(str(c)) for c in self.classes_]
        return P[:, order]

    def positive_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Binary: the probability of the positive label."""
        return self.predict_proba(X)[:, self.classes_.index(self.positive_label)]


def _map_labels(values: pd.Series, classes: list[Any], what: str) -> list[Any]:
    """Map values to the target's classes (by equality, then as text, then numerically); raise if any fails."""
    exact = {c: c for c in classes}
    as_text = {str(c): c for c in classes}
    as_num = {}
    for c in classes:
        try:
            as_num[float(c)] = c
        except (TypeError, ValueError):
            pass
    out = []
    for v in values.tolist():
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
            continue
        try:
            if v in exact:
                out.append(exact[v])
                continue
        except TypeError:
            pass
        if str(v) in as_text:
            out.append(as_text[str(v)])
            continue
        try:
            fv = float(v)
        except (TypeError, ValueError):
            fv = None
        if fv is not None and fv in as_num:
            out.append(as_num[fv])
            continue
        raise ModelError(f"{what}: value {_val(v)} is not one of the target's classes {classes}; the predictions must use the target's labels.")
    return out


# --------------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------------
def select_mode(ctx) -> str:
    """The model mode the config asks for (see the module docstring)."""
    m = ctx.model
    if getattr(m, "endpoint", None):
        return "endpoint"
    if m.path:
        return "file"
    if m.train == "baseline":
        return "baseline"
    if ctx.roles.prediction or ctx.roles.probability:
        return "predictions"
    if m.train == "none":
        raise ModelError(
            "model.train: 'none' asks for no baseline, but there is no model.path and no data.prediction / "
            "data.probability; name the model file or the prediction columns, or set model.train: baseline."
        )
    return "baseline"


def dump_bytes(estimator) -> bytes:
    """The estimator serialised with skops, made byte-reproducible (see :func:`canonical_skops`)."""
    import skops.io as sio

    return canonical_skops(sio.dumps(estimator))


def canonical_skops(data: bytes) -> bytes:
    """Rewrite a skops archive so that the same model always gives the same bytes.

    skops names the array files inside its zip after Python object ids (memory addresses) and stamps
    them with the current time, and numbers shared objects by ``id()`` too; here files and object numbers
    are renumbered in order of appearance (references in ``schema.json`` updated) and dated 1980-01-01. The content is untouched, so ``skops.io.loads`` reads
    the result exactly like the original.
    """
    import json
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    names = [n for n in src.namelist() if n != "schema.json"]
    mapping = {n: f"{i:06d}{Path(n).suffix}" for i, n in enumerate(names)}
    schema = src.read("schema.json").decode("utf-8")

    ids: dict[int, int] = {}

    def rename(node):
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "__id__" and isinstance(v, int):
                    out[k] = ids.setdefault(v, len(ids) + 1)
                else:
                    out[k] = mapping.get(v, v) if isinstance(v, str) else rename(v)
            return out
        if isinstance(node, list):
            return [rename(v) for v in node]
        return node

    schema = json.dumps(rename(json.loads(schema)), indent=2)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as dst:
        for n in names:
            info = zipfile.ZipInfo(mapping[n], date_time=(1980, 1, 1, 0, 0, 0))
            dst.writestr(info, src.read(n))
        dst.writestr(zipfile.ZipInfo("schema.json", date_time=(1980, 1, 1, 0, 0, 0)), schema)
    return out.getvalue()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_model_file(path: str | Path, trusted_types: list[str] | None = None, allow_pickle: bool = False) -> tuple[Any, dict]:
    """Load a model file safely. Returns ``(estimator, info)``; raises :class:`ModelError`.

    ``.skops``: refused when it holds types neither skops' defaults nor ``trusted_types`` trust (the
    message lists them). Pickle/joblib: refused unless ``allow_pickle``.
    """
    p = Path(path)
    name = p.name.lower()
    if not p.exists():
        raise ModelError(f"model.path: file not found: {p}; check the path (relative paths are relative to the config file).")
    if p.is_dir():
        raise ModelError(f"model.path: {p} is a folder; point it to the model file (.skops).")
    info = {"path": str(p), "file": p.name, "bytes": p.stat().st_size, "sha256": sha256_file(p),
            "allow_pickle": bool(allow_pickle), "trusted_types": sorted(trusted_types or [])}
    if name.endswith(SKOPS_SUFFIXES):
        import skops.io as sio

        info["format"] = "skops"
        try:
            untrusted = sio.get_untrusted_types(file=p)
        except Exception as exc:  # noqa: BLE001 - any failure to parse the archive
            raise ModelError(f"model.path: {p.name} is not a readable skops file ({type(exc).__name__}); re-save the model with skops.io.dump.") from None
        not_allowed = [t for t in untrusted if t not in set(trusted_types or [])]
        info["untrusted_types_found"] = untrusted
        if not_allowed:
            raise ModelError(
                f"model.path: {p.name} contains types skops does not trust: {', '.join(not_allowed)}; review them and, "
                "if you trust their source, list them under model.trusted_types."
            )
        try:
            est = sio.load(p, trusted=list(untrusted))
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"model.path: {p.name} could not be loaded by skops ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); re-save it with the installed scikit-learn.") from None
        return est, info
    if name.endswith(PICKLE_SUFFIXES):
        info["format"] = "pickle"
        if not allow_pickle:
            raise ModelError(
                f"model.path: {p.name} is a pickle/joblib file, which can run arbitrary code when loaded; "
                "re-save the model with skops (skops.io.dump) or set model.allow_pickle: true if you trust its source."
            )
        import joblib

        try:
            est = joblib.load(p)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"model.path: {p.name} could not be unpickled ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); check the file and the library versions.") from None
        return est, info
    raise ModelError(f"model.path: {p.name} has an unknown model format; save the model with skops as a .skops file.")


def _schema(ctx, features: list[str]) -> tuple[list[str], list[str], dict[str, set]]:
    ref = ctx.reference
    numeric = [c for c in features if c in ref.columns and is_numeric(ref[c])]
    categorical = [c for c in features if c not in numeric]
    cats = {c: set(_as_text(ref[c]).dropna().unique()) for c in categorical if c in ref.columns}
    return numeric, categorical, cats


def _probability_columns(probs: str | list[str] | None, task: str, classes: list[Any] | None) -> list[str]:
    """The probability columns in the order of ``classes`` (none for a regression)."""
    if task not in ("binary", "multiclass"):
        return []
    cols = [probs] if isinstance(probs, str) else list(probs or [])
    if task == "multiclass" and cols and len(cols) == len(classes):
        # map columns to classes by name suffix when every column ends with a distinct class label
        by_class = {}
        for c in cols:
            hits = [k for k in classes if str(c).endswith(str(k))]
            if len(hits) >= 1:
                best = max(hits, key=lambda k: len(str(k)))
                by_class.setdefault(best, c)
        if len(by_class) == len(classes):
            cols = [by_class[k] for k in classes]
    return cols


def _check_feature_names(ctx, est, path_name: str) -> list[str]:
    names = getattr(est, "feature_names_in_", None)
    if names is None:
        n = getattr(est, "n_features_in_", None)
        if n is not None and int(n) != len(ctx.features):
            raise ModelError(
                f"model.path: {path_name} expects {int(n)} features without names but the data has {len(ctx.features)} feature columns; "
                "fit the model on a DataFrame (so it records feature names) or set data.features."
            )
        return list(ctx.features)
    names = [str(n) for n in names]
    for frame_name, df in (("reference", ctx.reference), ("current", ctx.current)):
        missing = [n for n in names if n not in df.columns]
        if missing:
            raise ModelError(
                f"model.path: {path_name} expects feature column(s) {missing[:5]} that are not in the {frame_name} data; "
                "the model's feature names must match the data's columns."
            )
    target_like = [n for n in names if n == ctx.target]
    if target_like:
        raise ModelError(f"model.path: {path_name} uses the target column {ctx.target!r} as a feature; re-fit the model without it.")
    return names


def _check_classes(ctx, est, path_name: str) -> None:
    if ctx.task not in ("binary", "multiclass"):
        if hasattr(est, "predict_proba") and hasattr(est, "classes_"):
            raise ModelError(f"model.path: {path_name} is a classifier but data.task is regression; check the model or the target.")
        return
    est_classes = getattr(est, "classes_", None)
    if est_classes is None:
        raise ModelError(f"model.path: {path_name} has no classes_ but the task is {ctx.task}; pass a fitted classifier.")
    if sorted(map(str, est_classes)) != sorted(map(str, ctx.roles.classes)):
        raise ModelError(
            f"model.path: {path_name} predicts classes {list(map(str, est_classes))} but the target {ctx.target!r} has "
            f"{list(map(str, ctx.roles.classes))}; the model's labels must match the target's."
        )


def labelled(df: pd.DataFrame, target: str) -> pd.DataFrame:
    """Rows of ``df`` with a known target (all rows when the column is absent: none)."""
    if target not in df.columns:
        return df.iloc[0:0]
    return df.loc[df[target].notna()]


def baseline_training_frame(ctx) -> tuple[pd.DataFrame, str]:
    """The rows the baseline is fitted on: the labelled reference data, or, when the current data carries no labels,
    the labelled reference rows outside the evaluation part of the seeded split (:mod:`playbook.holdout`)."""
    from playbook import holdout

    ref = _finite_rows(labelled(ctx.reference, ctx.target), ctx.roles.numeric)  # the audit reports the others
    s = holdout.split(ctx)
    if s.evaluation is None:
        return ref, "reference"
    return ref.loc[ref.index.isin(s.fit)], "reference_without_evaluation_rows"


def evaluation_frame(ctx, adapter: ModelAdapter | None = None) -> tuple[pd.DataFrame, str]:
    """The held-out rows the model is evaluated on and where they come from.

    The labelled current data when there is any. Otherwise: for the baseline, the evaluation part of the seeded
    split of the reference (:mod:`playbook.holdout`), which it was not fitted on; for the other modes, the reference
    data (flagged: the model may have seen it).

    At most :data:`playbook.holdout.MAX_PART_ROWS` rows: a seeded sample of more (``frame.attrs["of_rows"]``).
    Rows holding +/- infinity in a numeric feature are left out: a model refuses them (see
    :meth:`ModelAdapter.prepare`) and the audit reports them (``data.validity.infinite.*``); their count per
    dataset is in ``ctx.roles.infinite_rows``.
    """
    cur = _finite_rows(labelled(ctx.current, ctx.target), ctx.roles.numeric)
    if len(cur):
        return _served(_bounded(cur, ctx.seed), adapter), "current"
    ref = _finite_rows(labelled(ctx.reference, ctx.target), ctx.roles.numeric)
    mode = adapter.mode if adapter is not None else select_mode(ctx)
    if mode == "baseline":
        from playbook import holdout

        s = holdout.split(ctx)
        return _bounded(ref.loc[ref.index.isin(s.evaluation)], ctx.seed), "reference_holdout"
    return _served(_bounded(ref, ctx.seed), adapter), "reference"


def _served(df: pd.DataFrame, adapter: ModelAdapter | None) -> pd.DataFrame:
    """Behind ``model.endpoint``: the rows its server scores (a server holding requests to a data contract refuses
    out-of-range values, unseen categories ...); ``attrs["endpoint_refused"]`` counts the others by rule."""
    if adapter is None or adapter.mode != "endpoint" or not len(df):
        return df
    keep, refused = adapter.estimator.admitted(adapter.prepare(df))
    if keep.all():
        return df
    attrs = dict(df.attrs)
    out = df.loc[keep]
    out.attrs.update(attrs, endpoint_refused={"rows": int((~keep).sum()), "by_rule": refused})
    return out


def _bounded(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """At most :data:`playbook.holdout.MAX_PART_ROWS` evaluation rows (a seeded sample, in order; its CI is that
    of the sample, so it stays honest); ``attrs["of_rows"]`` holds the rows it was drawn from."""
    from playbook.holdout import bounded

    keep = bounded(df.index, seed=seed)
    if len(keep) == len(df):
        return df
    out = df.loc[keep]
    out.attrs["of_rows"] = int(len(df))
    return out


def _finite_rows(df: pd.DataFrame, numeric: list[str]) -> pd.DataFrame:
    from playbook.data import infinite_mask

    bad = infinite_mask(df, numeric)
    return df.loc[~bad] if bad.any() else df


def get_model(ctx, *, fit: bool = True) -> ModelAdapter:
    """The model under review as a :class:`ModelAdapter` (see the module docstring for the modes).

    In baseline mode the baseline is fitted on the reference data (``fit=False`` skips the fit, for cheap
    validation). Raises :class:`ModelError` with a one-sentence message on bad input.
    """
    mode = select_mode(ctx)
    task = ctx.task
    classes = list(ctx.roles.classes) if task in ("binary", "multiclass") else None
    common = dict(task=task, classes_=classes, positive_label=ctx.positive_label)
    if mode == "predictions":
        _record_use(ctx, {"mode": mode, "sha256": None, "prediction": ctx.roles.prediction})
        return predictions_adapter(ctx, ctx.roles.prediction, ctx.roles.probability)
    if mode == "endpoint":
        from playbook.serving.client import EndpointModel

        features = list(ctx.features)
        numeric, categorical, cats = _schema(ctx, features)
        est = EndpointModel(ctx.model.endpoint, features, classes, token_env=ctx.model.token_env)
        learnt = _stored_endpoint(ctx)
        if learnt is not None:  # a step of a run: the preflight asked the server already
            est.use_discovered(learnt)
        else:
            est.discover(ctx.reference[[c for c in features if c in ctx.reference.columns]])
        info = {"mode": mode, "endpoint": ctx.model.endpoint, "sha256": est.sha256, "estimator": "HTTP endpoint"}
        _record_use(ctx, {"mode": mode, "sha256": est.sha256, "endpoint": ctx.model.endpoint})
        return ModelAdapter(mode=mode, features=features, estimator=est, numeric=numeric, categorical=categorical,
                            categories=cats, info=info, **common)
    if mode == "file":
        est, info = load_model_file(ctx.model.path, ctx.model.trusted_types, ctx.model.allow_pickle)
        name = Path(ctx.model.path).name
        _check_classes(ctx, est, name)
        features = _check_feature_names(ctx, est, name)
        numeric, categorical, cats = _schema(ctx, features)
        info.update(mode=mode, estimator=type(est).__name__)
        _record_use(ctx, {"mode": mode, "sha256": info.get("sha256") or sha256_file(ctx.model.path), "file": name})
        return ModelAdapter(mode=mode, features=features, estimator=est, numeric=numeric,
                            categorical=categorical, categories=cats, info=info, **common)
    features = list(ctx.features)
    numeric, categorical, cats = _schema(ctx, features)
    # the baseline's column order: categorical first, then numeric (as in fit_baseline's frame)
    info = {"mode": mode, "description": BASELINE_DESCRIPTION, "seed": ctx.seed}
    # protected columns that data.features lists on purpose: the baseline learns from pseudonyms of their values
    hashed = [] if ctx.policy.allow_raw_pii else [c for c in ctx.roles.pii_used if c in features and c not in numeric]
    if hashed:
        info["hashed_columns"] = hashed
    est = skops_bytes = None
    if fit:
        stored = _stored_baseline(ctx)
        if stored is not None:
            est, rec = stored
            info.update({k: rec[k] for k in ("fitted_on", "fitted_rows", "estimator", "left_out", "sha256") if k in rec})
        else:
            train, where = baseline_training_frame(ctx)
            est = fit_baseline(train[features], train[ctx.target], task, ctx.seed, hashed=hashed)
            plan = baseline_plan(train.loc[train[ctx.target].notna(), features])
            skops_bytes = dump_bytes(est)
            info.update(fitted_on=where, fitted_rows=len(train), estimator=type(est[-1]).__name__,
                        left_out=plan["left_out"], sha256=hashlib.sha256(skops_bytes).hexdigest())
        _record_use(ctx, {"mode": mode, "sha256": info["sha256"],
                          "source": "preflight" if stored is not None else "fitted here"})
    return ModelAdapter(mode=mode, features=features, estimator=est, numeric=numeric, categorical=categorical,
                        categories=cats, info=info, hashed=hashed, skops_bytes=skops_bytes, **common)


def predictions_adapter(ctx, prediction: str | None, probability: str | list[str] | None) -> ModelAdapter:
    """The adapter of a model whose outputs are already columns of the data: ``prediction`` (labels, or numbers for
    a regression) and / or ``probability`` (one column for a binary task, one per class for a multiclass one, mapped
    to the classes by name suffix); the features and their schema are the context's. The model under review in
    predictions mode (``data.prediction`` / ``data.probability``) and a challenger brought as its outputs
    (:func:`playbook.evaluate.challenger.load`) are both this."""
    task = ctx.task
    classes = list(ctx.roles.classes) if task in ("binary", "multiclass") else None
    features = list(ctx.features)
    numeric, categorical, cats = _schema(ctx, features)
    prob_cols = _probability_columns(probability, task, classes)
    return ModelAdapter(mode="predictions", task=task, features=features, classes_=classes,
                        positive_label=ctx.positive_label, numeric=numeric, categorical=categorical,
                        categories=cats, prediction_column=prediction, probability_columns=prob_cols,
                        info={"mode": "predictions", "prediction": prediction, "probability": prob_cols or None})


def _stored_baseline(ctx):
    """The baseline the pack's preflight fitted (``model.skops`` in the pack), when this context belongs to a run."""
    if getattr(ctx, "facts", None) is None or ctx.pack_dir is None:
        return None
    from playbook import preflight

    return preflight.stored_model(ctx.pack_dir)


def _stored_endpoint(ctx) -> dict | None:
    """What the preflight learnt from the model server (``preflight.json``: :meth:`EndpointModel.discovered`), when
    this context belongs to a run of the same ``model.endpoint``."""
    rec = (getattr(ctx, "facts", None) or {}).get("model") or {}
    if rec.get("mode") != "endpoint" or rec.get("endpoint") != ctx.model.endpoint:
        return None
    learnt = rec.get("discovered")
    return learnt if isinstance(learnt, dict) else None


def _record_use(ctx, record: dict) -> None:
    use = getattr(ctx, "use_model", None)
    if use is not None:
        use(record)


def save_baseline(adapter: ModelAdapter, path: str | Path) -> dict:
    """Save a fitted baseline with skops; return ``{path, bytes, sha256, trusted_types}`` where
    ``trusted_types`` is what ``skops.io.load(path, trusted=...)`` needs to load it back."""
    import skops.io as sio

    data = dump_bytes(adapter.estimator)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return {"path": str(p), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "trusted_types": sio.get_untrusted_types(data=data)}


# --------------------------------------------------------------------------------------------------
# preflight
# --------------------------------------------------------------------------------------------------
def _check_prediction_columns(ctx, adapter: ModelAdapter) -> None:
    frames = (("current", ctx.current), ("reference", ctx.reference))
    task = ctx.task
    if adapter.prediction_column:
        col = adapter.prediction_column
        for fname, df in frames:
            s = df[col]
            n_missing = int(s.isna().sum())
            if n_missing:
                raise ModelError(
                    f"data.prediction: column {col!r} lacks a prediction for {n_missing} of {len(df)} rows of the {fname} data; "
                    "the predictions must have one value per row."
                )
            if task == "regression":
                conv = pd.to_numeric(s, errors="coerce")
                if pd.api.types.is_bool_dtype(s) or conv.isna().any():
                    bad = s[conv.isna()].iloc[0] if conv.isna().any() else s.iloc[0]
                    raise ModelError(f"data.prediction: column {col!r} must hold numbers for a regression target but holds {_val(bad)}; fix the column.")
            else:
                _map_labels(s, adapter.classes_, f"data.prediction: column {col!r}")
    if adapter.probability_columns:
        cols = adapter.probability_columns
        if task == "regression":
            raise ModelError("data.probability: probability columns are set but the task is regression; remove data.probability or fix data.task.")
        if task == "binary" and len(cols) != 1:
            raise ModelError(f"data.probability: a binary task takes one column (the probability of {ctx.positive_label!r}), got {len(cols)}; keep only that column.")
        if task == "multiclass" and len(cols) != len(adapter.classes_):
            raise ModelError(
                f"data.probability: {len(cols)} columns for {len(adapter.classes_)} classes {adapter.classes_}; give one column per class."
            )
        for fname, df in frames:
            for c in cols:
                s = df[c]
                conv = pd.to_numeric(s, errors="coerce")
                if pd.api.types.is_bool_dtype(s) or (conv.isna() & s.notna()).any():
                    bad = s[conv.isna() & s.notna()]
                    raise ModelError(f"data.probability: column {c!r} must hold numbers between 0 and 1 but holds {_val(bad.iloc[0] if len(bad) else s.iloc[0])}; fix the column.")
                if conv.isna().any():
                    raise ModelError(
                        f"data.probability: column {c!r} lacks a probability for {int(conv.isna().sum())} rows of the {fname} data; every row needs one."
                    )
                out = conv[(conv < 0) | (conv > 1)]
                if len(out):
                    raise ModelError(
                        f"data.probability: column {c!r} holds {_val(out.iloc[0])} in the {fname} data, outside [0, 1]; "
                        "pass probabilities, not scores or logits."
                    )
            if task == "multiclass":
                sums = df[cols].apply(pd.to_numeric, errors="coerce").sum(axis=1)
                off = sums[(sums - 1).abs() > PROBABILITY_TOLERANCE]
                if len(off):
                    raise ModelError(
                        f"data.probability: columns {cols} sum to {off.iloc[0]:.4g} (not 1) in row {off.index[0]} of the {fname} data; "
                        "pass one probability per class."
                    )


def preflight(ctx) -> dict:
    """Cheap validation of the model inputs, run by ``playbook run`` before any step.

    Raises :class:`ModelError` (a :class:`playbook.data.DataError`) with one sentence naming the column or
    file and the fix. Returns a small description ``{mode, ...}`` when everything is usable.
    """
    mode = select_mode(ctx)
    if mode != "baseline":
        _preflight_challenger(ctx)
    if mode == "predictions":
        adapter = get_model(ctx)
        _check_prediction_columns(ctx, adapter)
        return {"mode": mode, "prediction": adapter.prediction_column, "probability": adapter.probability_columns,
                "probabilities": adapter.has_proba, "refittable": False}
    if mode in ("file", "endpoint"):
        adapter = get_model(ctx)
        key = "model.path" if mode == "file" else "model.endpoint"
        name = Path(ctx.model.path).name if mode == "file" else ctx.model.endpoint
        sample = labelled(ctx.current, ctx.target)
        sample = (sample if len(sample) else ctx.reference).head(5)
        try:
            pred = adapter.predict(sample)
        except ModelInputError as exc:
            raise ModelError(f"{key}: {name} cannot score the data: {exc}") from None
        if len(pred) != len(sample):
            raise ModelError(
                f"{key}: {name} returned {len(pred)} predictions for {len(sample)} rows; "
                "the model must return one prediction per row."
            )
        if adapter.has_proba:
            P = adapter.predict_proba(sample)
            if P.shape != (len(sample), len(adapter.classes_)) or np.nanmin(P) < 0 or np.nanmax(P) > 1:
                raise ModelError(
                    f"{key}: {name} predict_proba returned shape {P.shape} or values outside [0, 1]; "
                    "it must return one probability per class."
                )
        if mode == "endpoint":
            return {"mode": mode, "endpoint": ctx.model.endpoint, "probabilities": adapter.has_proba,
                    "refittable": False}
        return {"mode": mode, "file": adapter.info.get("file"), "format": adapter.info.get("format"),
                "allow_pickle": adapter.info.get("allow_pickle"), "probabilities": adapter.has_proba,
                "refittable": refittable(adapter)}
    # baseline: nothing to load; the features must be usable and there must be rows to fit on
    _preflight_challenger(ctx)
    train, _ = baseline_training_frame(ctx)
    if ctx.task in ("binary", "multiclass") and train[ctx.target].nunique() < 2:
        raise ModelError(f"data.target: column {ctx.target!r} has a single class in the rows the baseline is fitted on; it needs at least two.")
    if len(train) < 10:
        raise ModelError(f"data.reference: only {len(train)} labelled rows to fit the baseline on; provide at least 10 (ideally hundreds).")
    return {"mode": mode, "probabilities": ctx.task != "regression", "refittable": True}


def _preflight_challenger(ctx) -> None:
    """``model.challenger`` can be brought (its file loads, its columns exist): a ModelError, exit 2, before any step."""
    if getattr(getattr(ctx, "config", None), "model", None) is None or not ctx.config.model.challenger:
        return
    if ctx.config.model.challenger.get("train") == "baseline":
        return  # the baseline is fitted in the evaluation step; the champion's preflight checked the rows
    from playbook.evaluate.challenger import load

    load(ctx)


def facts(ctx, info: dict | None = None) -> dict:
    """What decides which checks apply to a pack (:data:`playbook.catalogue.FACTS`), from the config and, when
    given, the preflight's model description; cheap (no model is loaded or fitted). Unknown facts are True."""
    info = dict(info or {})
    r = ctx.roles
    mode = info.get("mode") or select_mode(ctx)
    if "probabilities" in info:
        proba = bool(info["probabilities"])
    elif mode == "predictions":
        proba = bool(r.probability)
    else:
        proba = r.task != "regression"
    return {
        "task": r.task,
        "timestamp": bool(r.timestamp),
        "id": bool(r.id),
        "sensitive": bool(r.sensitive),
        "callable": mode != "predictions",
        "probabilities": proba,
        "refittable": bool(info.get("refittable", mode != "predictions")),
        "previous": bool(getattr(ctx.config, "previous", None)),
        "challenger": bool(getattr(getattr(ctx.config, "model", None), "challenger", None)),
        "latency_slo": bool(getattr(getattr(ctx.config, "serving", None), "max_p99_ms", None)),
        "throughput_slo": bool(getattr(getattr(ctx.config, "serving", None), "min_rps", None)),
    }


def refittable(adapter: ModelAdapter) -> bool:
    """Whether the model can be trained again here: the baseline, or a scikit-learn estimator that clones."""
    if adapter.mode == "baseline":
        return True
    if adapter.mode in ("predictions", "endpoint"):
        return False
    est = getattr(adapter, "estimator", None)
    if est is None or not hasattr(est, "fit"):
        return False
    try:
        from sklearn.base import clone

        clone(est)
    except Exception:  # noqa: BLE001 - not a scikit-learn estimator
        return False
    return True


__all__ = [
    "BASELINE_DESCRIPTION", "MODES", "ModelAdapter", "ModelError", "ModelInputError", "baseline_frame", "baseline_plan",
    "baseline_training_frame", "evaluation_frame", "fit_baseline", "get_model", "labelled", "load_model_file",
    "facts", "predictions_adapter", "preflight", "refittable", "save_baseline", "select_mode",
]
