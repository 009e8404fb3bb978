"""Leakage checks on the reference data: features that give the answer away.

* ``data.leakage.single_feature``: for every feature, a small model (target encoding for text, then a
  depth-limited decision tree) is trained on that feature alone and scored out of fold (ROC AUC for
  classification, one-vs-rest macro for multiclass; R^2 for regression). A score above
  ``leakage_max_score`` (``leakage_max_r2`` for regression) means one column nearly *is* the label: usually it was recorded after the
  outcome (a "days overdue" for a default label), so it will not exist at prediction time.
* ``data.leakage.id_correlation``: id-like columns (configured ids, near-unique integer sequences or
  names like ``*_id``, near-unique text) and the row order itself, rank-correlated with the target.
  An id that predicts the label means the data was sorted or numbered by outcome; a model that
  can see it learns the numbering, and an unshuffled split is biased.

Both need rows in pandas: they run on the audit's seeded sample of the reference (the whole reference when it fits in
``sample_rows``), recorded in the threshold as ``sample_rows`` / ``of_rows`` when it is a sample.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from playbook import catalogue
from playbook.audit.prepare import FINDINGS, AuditData, jsonable, listing, title
from playbook.data import is_numeric

ROW_ORDER = "<row order>"
_ID_NAME = re.compile(r"(^|[_\W])(id|key|uuid|guid|uid|ident)([_\W]|$)", re.I)
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Key|Uuid)$")


class NotEnoughData(ValueError):
    """The data cannot support the check (too few labelled rows, a single class ...): the message says why."""


def _labelled(df: pd.DataFrame, roles) -> pd.DataFrame:
    if roles.target not in df.columns:
        raise NotEnoughData(f"the data has no target column {roles.target!r}")
    y = df[roles.target]
    if roles.task == "regression":
        y = pd.to_numeric(y, errors="coerce").astype("Float64").astype(float)
        out = df[np.isfinite(y).to_numpy()]
    else:
        out = df[y.notna().to_numpy()]
    if len(out) < 20:
        raise NotEnoughData(f"only {len(out)} labelled rows; at least 20 are needed")
    return out


def _encoded_target(y: pd.Series, roles) -> np.ndarray:
    if roles.task == "regression":
        return y.astype(float).to_numpy()
    if roles.task == "binary":
        pos = roles.positive_label
        return np.asarray(y.astype(str) == str(pos), dtype=int)
    return pd.Categorical(y.astype(str)).codes.astype(int)


def _feature_matrix(s: pd.Series) -> tuple[pd.DataFrame, bool]:
    """(one-column frame, is_numeric). Text becomes a category per distinct string, with an explicit missing
    category, as integer codes: the target encoder encodes each category from its labels alone, so the codes give
    the encodings the strings would, without comparing strings from Python."""
    if is_numeric(s):
        v = s.astype(float).replace([np.inf, -np.inf], np.nan)
        return v.to_frame(), True
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float).to_frame(), True
    text = s.astype(object).where(s.notna(), "__missing__").astype(str)
    return pd.DataFrame({s.name: pd.factorize(text)[0].astype(np.int64)}, index=s.index), False


def _out_of_fold(model, X: pd.DataFrame, y: np.ndarray, splits, n_classes: int | None) -> np.ndarray:
    """Out-of-fold predictions (``n_classes``: class probabilities, columns by class code; None: values), as
    :func:`sklearn.model_selection.cross_val_predict` makes them on these folds, without its per-call overhead (a
    worker pool, validation, a label encoder) for each of the many one-feature models."""
    from sklearn.base import clone

    values = X.to_numpy()  # a plain array: the estimators' input checks are cheaper than on a frame
    out = np.zeros(len(y) if n_classes is None else (len(y), n_classes))
    for train, test in splits:
        m = clone(model).fit(values[train], y[train])
        if n_classes is None:
            out[test] = m.predict(values[test])
        else:
            out[np.ix_(test, np.asarray(m.classes_, dtype=int))] = m.predict_proba(values[test])
    return out


def single_feature_scores(df: pd.DataFrame, roles, *, folds: int = 3, max_rows: int = 10000, seed: int = 0) -> pd.DataFrame:
    """Out-of-fold score of a one-feature model for every feature: columns feature, kind, score, metric.

    Raises :class:`NotEnoughData` (a ``ValueError``; the message says why) when the data cannot support the
    cross-validation.
    """
    from sklearn.metrics import r2_score, roc_auc_score
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import TargetEncoder
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    data = _labelled(df, roles)
    if len(data) > max_rows:
        data = data.sample(n=max_rows, random_state=seed)
    y = _encoded_target(data[roles.target], roles)
    regression = roles.task == "regression"
    if not regression:
        counts = np.bincount(y)
        counts = counts[counts > 0]
        if len(counts) < 2:
            raise NotEnoughData("the labelled rows hold a single class")
        if counts.min() < folds:
            raise NotEnoughData(f"a class has only {counts.min()} labelled rows, fewer than the {folds} folds")
    cv = (KFold(folds, shuffle=True, random_state=seed) if regression
          else StratifiedKFold(folds, shuffle=True, random_state=seed))
    inner = (KFold(5, shuffle=True, random_state=seed) if regression
             else StratifiedKFold(5, shuffle=True, random_state=seed))
    # the folds depend on the labels only: split once, the same folds for every feature (as cross_val_predict
    # would draw them for each)
    splits = list(cv.split(np.zeros((len(y), 1)), y))
    n_classes = None if regression else int(y.max()) + 1
    leaf = max(5, len(data) // 1000)
    target_type = "continuous" if regression else ("binary" if roles.task == "binary" else "multiclass")
    metric = "r2" if regression else ("roc_auc" if roles.task == "binary" else "roc_auc_ovr")
    rows = []
    for f in [c for c in roles.features if c in data.columns]:
        X, numeric = _feature_matrix(data[f])
        tree = (DecisionTreeRegressor(max_depth=8, min_samples_leaf=leaf, random_state=seed) if regression
                else DecisionTreeClassifier(max_depth=8, min_samples_leaf=leaf, random_state=seed))
        if numeric and X.iloc[:, 0].notna().sum() == 0:
            rows.append({"feature": f, "kind": "numeric", "score": None, "metric": metric})
            continue
        model = tree if numeric else make_pipeline(TargetEncoder(target_type=target_type, cv=inner), tree)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if regression:
                pred = _out_of_fold(model, X, y, splits, None)
                score = float(r2_score(y, pred))
            else:
                proba = _out_of_fold(model, X, y, splits, n_classes)
                if roles.task == "binary":
                    score = float(roc_auc_score(y, proba[:, 1]))
                else:
                    score = float(roc_auc_score(y, proba, multi_class="ovr", average="macro"))
        rows.append({"feature": f, "kind": "numeric" if numeric else "categorical", "score": round(score, 6), "metric": metric})
    out = pd.DataFrame(rows, columns=["feature", "kind", "score", "metric"])
    return out.sort_values(["score", "feature"], ascending=[False, True], na_position="last").reset_index(drop=True)


def single_feature(data: AuditData) -> dict:
    """``data.leakage.single_feature``: the best single-feature score on the reference."""
    p = data.params
    roles = data.roles
    cid = "data.leakage.single_feature"
    regression = roles.task == "regression"
    metric = "r2" if regression else "roc_auc"
    # R^2 has its own bound: an honest driver (floor area for a price) explains 95 % of a target's variance, a leaked
    # copy of the target (another currency, a total that contains it) explains all of it
    mx = data.limit(cid, "max", p.leakage_max_r2 if regression else p.leakage_max_score)
    threshold = {"max": mx, "metric": metric, **data.sampled("reference")}
    try:
        scores = single_feature_scores(data.clean["reference"], roles, folds=p.leakage_folds,
                                       max_rows=p.leakage_max_rows, seed=p.seed)
    except ValueError as exc:  # NotEnoughData, or scikit-learn refusing the data
        return catalogue.skip(cid, f"Single-feature models cannot be cross-validated: {exc}.", title=title(cid),
                              threshold=threshold)
    scored = scores.dropna(subset=["score"])
    if scored.empty:
        why = "There is no feature to score." if scores.empty else "No feature has values to score."
        return catalogue.skip(cid, why, title=title(cid), threshold=threshold)
    best = scored.iloc[0]
    leaks = scored[scored["score"] > mx]
    if len(leaks):
        why = (f"{len(leaks)} feature(s) alone predict the target almost perfectly ({listing(leaks['feature'])}; "
               f"best {best['feature']} {metric} {best['score']:.3f}); such a column is usually recorded after the "
               "outcome and will not exist when predicting: confirm when it is known, or drop it.")
    else:
        why = (f"The strongest single feature ({best['feature']}, {metric} {best['score']:.3f}) is below "
               f"{mx:g}; a near-perfect single feature usually means the label leaked into the inputs.")
    why += data.sample_why("reference")
    details = [{k: jsonable(v) for k, v in r.items()} for r in scores.to_dict("records")]
    return catalogue.check(cid, "fail" if len(leaks) else "pass", float(best["score"]), title=title(cid),
                           threshold=threshold, why=why, details=details, evidence=FINDINGS)


def id_like_columns(df: pd.DataFrame, roles, unique_share: float = 0.95) -> list[dict]:
    """Configured ids, plus features that look like identifiers: ``[{column, reason}]``.

    A feature is id-like when at least ``unique_share`` of its values are distinct and it is text, or
    integers named like an id (``customer_id``, ``accountId``) or forming a dense sequence.
    """
    out = [{"column": c, "reason": "configured id"} for c in (roles.id or []) if c in df.columns]
    for c in roles.features:
        if c not in df.columns:
            continue
        s = df[c].dropna()
        if len(s) < 20 or s.nunique() < unique_share * len(s):
            continue
        if not is_numeric(s):
            out.append({"column": c, "reason": "near-unique text"})
            continue
        v = s.astype(float)
        if not np.all(np.isfinite(v)) or not np.allclose(v, np.round(v)):
            continue  # continuous measurements are near-unique too, and not ids
        named = bool(_ID_NAME.search(c) or _CAMEL_ID.search(c))
        dense = (v.max() - v.min() + 1) <= 2 * len(v)
        if named or dense:
            out.append({"column": c, "reason": "near-unique integers " + ("named like an id" if named else "in a dense sequence")})
    return out


def _id_values(s: pd.Series) -> pd.Series:
    """A sortable number for each id value: the number itself, the digits inside text ids, else the text's rank."""
    if is_numeric(s):
        return s.astype(float)
    text = s.astype("string")
    digits = text.str.extract(r"(\d+)", expand=False)
    if digits.notna().mean() >= 0.95:
        return pd.to_numeric(digits, errors="coerce").astype(float)
    return text.rank(method="average").astype(float)


def _abs_spearman(x: pd.Series, y: np.ndarray) -> float:
    ok = x.notna().to_numpy()
    if ok.sum() < 3:
        return float("nan")
    xr = x[ok].rank().to_numpy()
    yr = pd.Series(y[ok]).rank().to_numpy()
    if xr.std() == 0 or yr.std() == 0:
        return 0.0
    return float(abs(np.corrcoef(xr, yr)[0, 1]))


def id_correlations(df: pd.DataFrame, roles, columns: list[dict]) -> pd.DataFrame:
    """|Spearman| between each id-like column (and the row order) and the target; multiclass takes the
    largest one-vs-rest correlation."""
    data = _labelled(df, roles)
    y = _encoded_target(data[roles.target], roles)
    targets = [y] if roles.task != "multiclass" else [(y == k).astype(int) for k in np.unique(y)]
    rows = []
    cols = columns + [{"column": ROW_ORDER, "reason": "order of the rows in the file"}]
    for item in cols:
        c = item["column"]
        x = pd.Series(np.arange(len(df), dtype=float), index=df.index).loc[data.index] if c == ROW_ORDER else _id_values(data[c])
        corr = max((_abs_spearman(x, t) for t in targets), default=float("nan"))
        rows.append({"column": c, "reason": item["reason"], "is_feature": c in roles.features,
                     "abs_corr": None if np.isnan(corr) else round(corr, 6)})
    return pd.DataFrame(rows, columns=["column", "reason", "is_feature", "abs_corr"])


def id_correlation(data: AuditData) -> dict:
    """``data.leakage.id_correlation``: the largest |rank correlation| of an id-like column (or the row
    order) with the target; fails when the column is a model feature, warns otherwise."""
    p = data.params
    cid = "data.leakage.id_correlation"
    threshold = {"max": data.limit(cid, "max", p.id_max_abs_corr), **data.sampled("reference")}
    ref = data.clean["reference"]
    try:
        cols = id_like_columns(ref, data.roles, p.id_unique_share)
        corr = id_correlations(ref, data.roles, cols)
    except NotEnoughData as exc:
        return catalogue.skip(cid, f"Cannot correlate ids with the target: {exc}.", title=title(cid),
                              threshold=threshold)
    scored = corr.dropna(subset=["abs_corr"])
    worst = float(scored["abs_corr"].max()) if len(scored) else 0.0
    bad = scored[scored["abs_corr"] > threshold["max"]]
    if len(bad):
        in_model = bad[bad["is_feature"]]
        status = "fail" if len(in_model) else "warn"
        why = (f"{listing(bad['column'])} track(s) the target (|rank correlation| up to {worst:.2f}); ids or row "
               "order that predict the label mean the data was sorted or numbered by outcome: "
               + ("drop the id-like feature(s) from the model and shuffle before splitting." if len(in_model)
                  else "shuffle before any split and make sure no id reaches the model."))
    else:
        status = "pass"
        why = (f"No id-like column ({len(cols)} found) nor the row order tracks the target (|rank correlation| "
               f"at most {worst:.2f}); ids that predict the label betray data sorted or numbered by outcome.")
    why += data.sample_why("reference")
    details = [{k: jsonable(v) for k, v in r.items()} for r in corr.to_dict("records")]
    return catalogue.check(cid, status, worst, title=title(cid), threshold=threshold, why=why, details=details,
                           evidence=FINDINGS)


def leakage_checks(data: AuditData) -> list[dict]:
    """Leakage on the reference: single-feature scores and id / row-order correlation with the target."""
    return [single_feature(data), id_correlation(data)]
