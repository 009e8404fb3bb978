"""Shift injectors: the ways production data goes wrong, as pure, seeded functions.

Every injector takes a frame and a severity in [0, 1] and returns a new frame (the input is never
modified). Severity 0 returns the data unchanged; severity 1 is the strongest version of the fault
that still makes sense. The same (frame, severity, seed) always gives the same output.

    from playbook.drift.shifts import SHIFTS, apply, describe

    shifted, info = apply("unit_change_up", df, 0.5, roles=ctx.roles, seed=0)
    info   # {"shift", "severity", "applied", "reason", "columns", "rows_affected", "effect"}
    describe()  # one row per shift: name, title, severity meaning, production story

``apply`` never raises for a fault that cannot apply to this data (a unit change with no numeric
column, a prior shift on a regression task, concept drift without labels): it returns the frame
unchanged with ``info["applied"] = False`` and the reason. An unknown shift name or a severity
outside [0, 1] raises :class:`ShiftError` (a ``ValueError``) whose message lists the valid names.

Which columns a fault hits by default (override with ``columns=[...]``):

* "the main numeric feature": the numeric feature with the most distinct values (the most
  continuous one, e.g. an amount);
* "the main categorical feature": the categorical feature with the most categories;
* mean and scale shifts hit every numeric feature; schema faults pick columns at random (seeded).

Integer columns stay integers where the fault allows it (values are rounded), so that a change
of dtype is itself a fault (``type_change``, missing values, ``unit_change_down``) rather than a
side effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd


class ShiftError(ValueError):
    """Bad input to a shift: unknown name, severity outside [0, 1], unknown column."""


class NotApplicable(Exception):
    """Raised inside an injector when the fault cannot apply to this data (the reason is the message)."""


@dataclass
class ShiftRoles:
    """The column roles an injector needs (a subset of :class:`playbook.data.Roles`)."""

    features: list[str]
    numeric: list[str]
    categorical: list[str]
    target: str | None = None
    task: str | None = None
    classes: list[Any] = field(default_factory=list)
    positive_label: Any = None

    @classmethod
    def from_any(cls, roles: Any, df: pd.DataFrame) -> "ShiftRoles":
        if isinstance(roles, ShiftRoles):
            return roles
        if roles is None:
            from playbook.data import is_numeric

            feats = list(df.columns)
            num = [c for c in feats if is_numeric(df[c])]
            return cls(feats, num, [c for c in feats if c not in num])
        return cls(list(roles.features), list(roles.numeric), list(roles.categorical),
                   getattr(roles, "target", None), getattr(roles, "task", None),
                   list(getattr(roles, "classes", []) or []), getattr(roles, "positive_label", None))


@dataclass(frozen=True)
class ShiftSpec:
    name: str
    title: str
    severity: str      # what severity 1 means
    targets: str       # which columns or rows it hits by default
    fn: Callable
    needs_target: bool = False
    changes_schema: bool = False

    @property
    def story(self) -> str:
        """The production story (the first paragraph of the injector's docstring)."""
        doc = (self.fn.__doc__ or "").strip()
        return " ".join(doc.split("\n\n")[0].split())


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _present(cols: Iterable[str], df: pd.DataFrame) -> list[str]:
    return [c for c in cols if c in df.columns]


def _numeric(df: pd.DataFrame, roles: ShiftRoles) -> list[str]:
    from playbook.data import is_numeric

    return [c for c in _present(roles.numeric, df) if is_numeric(df[c])]


def _categorical(df: pd.DataFrame, roles: ShiftRoles) -> list[str]:
    return _present(roles.categorical, df)


def _main(cols: list[str], df: pd.DataFrame) -> str:
    """The column with the most distinct values (first on ties)."""
    return max(cols, key=lambda c: (df[c].nunique(), -cols.index(c)))


def _pick_numeric(df, roles, columns, n=1, what="this fault") -> list[str]:
    if columns:
        return list(columns)
    num = _numeric(df, roles)
    if len(num) < n:
        raise NotApplicable(f"{what} needs {n} numeric feature{'s' if n > 1 else ''}; the data has {len(num)}")
    if n == 1:
        return [_main(num, df)]
    return sorted(num, key=lambda c: (-df[c].nunique(), num.index(c)))[:n]


def _pick_categorical(df, roles, columns, what="this fault") -> list[str]:
    if columns:
        return list(columns)
    cat = _categorical(df, roles)
    if not cat:
        raise NotApplicable(f"{what} needs a categorical feature; the data has none")
    return [_main(cat, df)]


def _rows(n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """A random set of round(share * n) row positions (sorted)."""
    k = int(round(share * n))
    if k <= 0:
        return np.array([], dtype=int)
    return np.sort(rng.choice(n, size=min(k, n), replace=False))


def _set_values(out: pd.DataFrame, col: str, values: np.ndarray) -> None:
    """Assign a whole column, keeping integer dtype when the values are whole numbers."""
    if pd.api.types.is_integer_dtype(out[col].dtype) and np.all(np.isfinite(values)):
        out[col] = np.rint(values).astype(out[col].dtype)
    else:
        out[col] = values


def _std(s: pd.Series) -> float:
    v = float(s.std())
    return v if np.isfinite(v) and v > 0 else 1.0


# ---------------------------------------------------------------------------------------------
# the injectors: fn(df, severity, rng, roles, columns) -> (frame, effect)
# ---------------------------------------------------------------------------------------------
def mean_shift(df, severity, rng, roles, columns):
    """A new customer population arrives: a marketing campaign or a new market moves the typical values of the numeric features (older applicants, larger amounts) while the model still expects the old population.

    Every numeric feature moves up by 2 x severity of its standard deviation (integers rounded).
    """
    cols = columns or _numeric(df, roles)
    if not cols:
        raise NotApplicable("a mean shift needs numeric features; the data has none")
    out = df.copy()
    effect = {}
    for c in cols:
        delta = 2.0 * severity * _std(df[c])
        _set_values(out, c, df[c].to_numpy(dtype=float) + delta)
        effect[c] = {"mean_delta": delta}
    return out, cols, len(df), effect


def scale_change(df, severity, rng, roles, columns):
    """The spread of the numeric features widens: a new data source, appraisal process or sensor model is noisier, or a wider customer mix arrives, while the centre stays put.

    Each numeric feature is stretched around its mean by a factor 1 + 2 x severity (3x at severity 1).
    """
    cols = columns or _numeric(df, roles)
    if not cols:
        raise NotApplicable("a scale change needs numeric features; the data has none")
    out = df.copy()
    factor = 1.0 + 2.0 * severity
    effect = {}
    for c in cols:
        x = df[c].to_numpy(dtype=float)
        mu = float(np.nanmean(x)) if np.isfinite(x).any() else 0.0
        _set_values(out, c, mu + (x - mu) * factor)
        effect[c] = {"std_factor": factor}
    return out, cols, len(df), effect


def _unit_change(df, severity, rng, roles, columns, factor):
    cols = _pick_numeric(df, roles, columns, what="a unit change")
    out = df.copy()
    rows = _rows(len(df), severity, rng)
    for c in cols:
        x = df[c].to_numpy(dtype=float).copy()
        x[rows] = x[rows] * factor
        _set_values(out, c, x)
    return out, cols, len(rows), {"factor": factor, "share_of_rows": len(rows) / max(len(df), 1)}


def unit_change_up(df, severity, rng, roles, columns):
    """An upstream system changes units: an amount arrives in cents instead of euros, a weight in grams instead of kilograms, so values are 1000 times larger, first for the rows of the services already upgraded.

    The main numeric feature is multiplied by 1000 in a share of rows equal to severity (the rollout).
    """
    return _unit_change(df, severity, rng, roles, columns, 1000.0)


def unit_change_down(df, severity, rng, roles, columns):
    """A percentage starts arriving as a fraction, or euros as hundreds of euros: values become 100 times smaller (and integers become decimals) in the rows served by the changed system.

    The main numeric feature is multiplied by 0.01 in a share of rows equal to severity.
    """
    return _unit_change(df, severity, rng, roles, columns, 0.01)


def category_frequency(df, severity, rng, roles, columns):
    """The mix of a categorical feature changes: a campaign targets one segment, a partner channel closes, a product is discontinued, so one category that used to be rare becomes common.

    In the main categorical feature, each row is reassigned to its rarest category with probability severity.
    """
    cols = _pick_categorical(df, roles, columns, "a category frequency shift")
    out = df.copy()
    effect = {}
    affected = 0
    for c in cols:
        counts = df[c].value_counts()
        if counts.empty:
            raise NotApplicable(f"column {c!r} has no values to reweight")
        target = counts.index[-1]
        before = float((df[c] == target).mean())
        mask = rng.random(len(df)) < severity
        s = out[c].astype(object)
        s[mask] = target
        out[c] = s.astype(df[c].dtype) if isinstance(df[c].dtype, pd.CategoricalDtype) else s
        affected += int(mask.sum())
        effect[c] = {"category": target, "share_before": before, "share_after": float((out[c] == target).mean())}
    return out, cols, affected, effect


def new_category(df, severity, rng, roles, columns):
    """A category the model never saw appears: a new branch code, product type or country is launched upstream without telling the model team, and the encoder maps it to nothing or to an error.

    A share of rows equal to severity gets the unseen label "<column>__new" in the main categorical feature.
    """
    cols = _pick_categorical(df, roles, columns, "an unseen category")
    out = df.copy()
    rows = _rows(len(df), severity, rng)
    for c in cols:
        s = out[c].astype(object).copy()
        s.iloc[rows] = f"{c}__new"
        out[c] = s
    return out, cols, len(rows), {"label": [f"{c}__new" for c in cols], "share_of_rows": len(rows) / max(len(df), 1)}


def missing_mcar(df, severity, rng, roles, columns):
    """A missing-value surge: a join with an upstream source starts failing for some records (a timeout, a partner outage), so several fields go empty together, at random.

    The main numeric and main categorical features are emptied in the same random rows, a share equal to severity.
    """
    if columns:
        cols = list(columns)
    else:
        cols = []
        if _numeric(df, roles):
            cols.append(_main(_numeric(df, roles), df))
        if _categorical(df, roles):
            cols.append(_main(_categorical(df, roles), df))
        if not cols:
            raise NotApplicable("a missing-value surge needs feature columns; there are none")
    out = df.copy()
    rows = _rows(len(df), severity, rng)
    for c in cols:
        s = out[c]
        if pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            s = s.astype(float if pd.api.types.is_integer_dtype(s.dtype) else object)
        s = s.copy()
        s.iloc[rows] = np.nan
        out[c] = s
    return out, cols, len(rows), {"missing_share": len(rows) / max(len(df), 1)}


def missing_mnar(df, severity, rng, roles, columns):
    """Values go missing because of what they are: applicants with large loans leave the income field blank, a sensor reports nothing above its range. The remaining values are biased low, and imputation hides it.

    The largest values of the main numeric feature (the top share equal to severity) become missing.
    """
    cols = _pick_numeric(df, roles, columns, what="value-dependent missingness")
    out = df.copy()
    k = int(round(severity * len(df)))
    effect = {}
    for c in cols:
        x = df[c].to_numpy(dtype=float)
        order = np.lexsort((rng.random(len(x)), -np.nan_to_num(x, nan=-np.inf)))  # largest first, ties at random
        rows = order[:k]
        y = x.copy()
        y[rows] = np.nan
        out[c] = y
        effect[c] = {"missing_share": k / max(len(df), 1),
                     "mean_before": float(np.nanmean(x)) if len(x) else None,
                     "mean_after": float(np.nanmean(y)) if np.isfinite(y).any() else None}
    return out, cols, k, effect


def outliers(df, severity, rng, roles, columns):
    """Outliers appear: a data-entry slip adds zeros, a sensor spikes, a currency is booked unconverted. A few extreme values drag averages and push tree models into leaves they never saw.

    Up to 10% of rows (share = 0.1 x severity) of the main numeric feature get values 5 to 10 standard deviations above its maximum.
    """
    cols = _pick_numeric(df, roles, columns, what="outlier injection")
    out = df.copy()
    rows = _rows(len(df), 0.1 * severity, rng)
    effect = {}
    for c in cols:
        x = df[c].to_numpy(dtype=float).copy()
        top = float(np.nanmax(x)) if np.isfinite(x).any() else 0.0
        x[rows] = top + rng.uniform(5.0, 10.0, len(rows)) * _std(df[c])
        _set_values(out, c, x)
        effect[c] = {"outlier_share": len(rows) / max(len(df), 1), "min_outlier": float(x[rows].min()) if len(rows) else None}
    return out, cols, len(rows), effect


def stuck_values(df, severity, rng, roles, columns):
    """A frozen sensor or a stale cache: the feature stops updating and repeats its last value, so a share of records carries the same number while everything else moves on.

    The last rows of the batch (a share equal to severity) repeat the value of the row before them, in the main numeric feature.
    """
    cols = _pick_numeric(df, roles, columns, what="a stuck value")
    out = df.copy()
    n = len(df)
    k = int(round(severity * n))
    start = max(n - k, 1) if k else n
    effect = {}
    for c in cols:
        x = df[c].to_numpy(dtype=float).copy()
        if k:
            stuck = x[start - 1]
            x[start:] = stuck
            effect[c] = {"stuck_value": float(stuck), "stuck_share": (n - start) / max(n, 1)}
        _set_values(out, c, x)
    return out, cols, max(n - start, 0), effect


def swapped_columns(df, severity, rng, roles, columns):
    """An integration bug swaps two fields: a new API version reorders its fields and the mapping is positional, so duration lands in amount and amount in duration, for the traffic on the new version.

    The two numeric features with the most distinct values swap their values in a share of rows equal to severity.
    """
    if columns:
        cols = list(columns)[:2]
        if len(cols) < 2:
            raise ShiftError("swapped_columns needs two columns")
    else:
        num = _numeric(df, roles)
        if len(num) >= 2:
            cols = _pick_numeric(df, roles, None, n=2, what="swapping columns")
        else:
            cat = _categorical(df, roles)
            if len(cat) < 2:
                raise NotApplicable("swapping columns needs two numeric or two categorical features")
            cols = sorted(cat, key=lambda c: -df[c].nunique())[:2]
    a, b = cols
    out = df.copy()
    rows = _rows(len(df), severity, rng)
    if len(rows):
        same = df[a].dtype == df[b].dtype
        va = df[a].to_numpy(dtype=None if same else object).copy()
        vb = df[b].to_numpy(dtype=None if same else object).copy()
        va[rows], vb[rows] = df[b].to_numpy()[rows], df[a].to_numpy()[rows]
        if not same and pd.api.types.is_numeric_dtype(df[a]) and pd.api.types.is_numeric_dtype(df[b]):
            va, vb = va.astype(float), vb.astype(float)
        out[a], out[b] = va, vb
    return out, cols, len(rows), {"swapped": cols, "share_of_rows": len(rows) / max(len(df), 1)}


def _schema_columns(df, severity, rng, roles, columns, what):
    if columns:
        return list(columns)
    feats = _present(roles.features, df)
    if not feats:
        raise NotApplicable(f"{what} needs feature columns; there are none")
    k = max(1, int(round(severity * 0.25 * len(feats))))
    return [feats[i] for i in sorted(rng.choice(len(feats), size=min(k, len(feats)), replace=False))]


def dropped_column(df, severity, rng, roles, columns):
    """A schema change drops a column: an upstream team removes a field they think nobody uses, or a privacy review deletes it, and the scoring service receives records without it.

    Drops max(1, round(severity x 25% of the features)) features chosen at random (seeded).
    """
    cols = _schema_columns(df, severity, rng, roles, columns, "dropping a column")
    return df.drop(columns=cols), cols, len(df), {"dropped": cols}


def renamed_column(df, severity, rng, roles, columns):
    """A schema change renames a column: a database migration or a new API version renames a field (credit_amount -> credit_amount_v2), so the old name is missing and an unknown one appears.

    Renames max(1, round(severity x 25% of the features)) features chosen at random (seeded) to "<name>_v2".
    """
    cols = _schema_columns(df, severity, rng, roles, columns, "renaming a column")
    mapping = {c: f"{c}_v2" for c in cols}
    return df.rename(columns=mapping), cols, len(df), {"renamed": mapping}


def type_change(df, severity, rng, roles, columns):
    """Numbers arrive as strings: a CSV export starts quoting numbers, a JSON producer serialises them as text, and the column becomes an object column whose values only look like numbers.

    In a share of rows equal to severity, the main numeric feature's values become strings (the column becomes text).
    """
    cols = _pick_numeric(df, roles, columns, what="a type change")
    out = df.copy()
    rows = _rows(len(df), severity, rng)
    for c in cols:
        s = df[c].astype(object).copy()
        is_int = pd.api.types.is_integer_dtype(df[c].dtype)
        s.iloc[rows] = [str(int(v)) if is_int else repr(float(v)) for v in df[c].to_numpy()[rows]]
        out[c] = s
    return out, cols, len(rows), {"share_as_text": len(rows) / max(len(df), 1)}


def duplicated_rows(df, severity, rng, roles, columns):
    """Duplicated records: at-least-once delivery replays messages after a retry storm, or a backfill runs twice, so some events are counted two or more times.

    Up to half the rows (share = 0.5 x severity) are replaced by copies of other rows of the batch; the row count stays the same.
    """
    n = len(df)
    if n < 2:
        raise NotApplicable("duplicating rows needs at least two rows")
    rows = _rows(n, 0.5 * severity, rng)
    keep = np.setdiff1d(np.arange(n), rows)
    src = rng.choice(keep, size=len(rows), replace=True) if len(rows) else np.array([], dtype=int)
    idx = np.arange(n)
    idx[rows] = src
    out = df.iloc[idx].reset_index(drop=True)
    return out, list(df.columns), len(rows), {"duplicate_share": len(rows) / n}


def _target_checks(df, roles, what, classification=True):
    if not roles.target or roles.target not in df.columns:
        raise NotApplicable(f"{what} changes the labels; the data has no target column")
    if classification and roles.task not in ("binary", "multiclass"):
        raise NotApplicable(f"{what} resamples classes; the task is {roles.task or 'unknown'}, not classification")


def _focus_class(df, roles):
    y = df[roles.target]
    if roles.task == "binary" and roles.positive_label is not None:
        return roles.positive_label
    counts = y.value_counts()
    return counts.index[-1]


def prior_shift(df, severity, rng, roles, columns):
    """The base rate changes: a recession doubles the default rate, a fraud wave multiplies the fraud rate, and a model calibrated on the old base rate mis-ranks nothing but mis-prices everything.

    Rows are resampled so that the share of the positive (binary) or rarest class moves from p to p + severity x (0.8 - p).
    """
    _target_checks(df, roles, "a prior shift")
    y = df[roles.target]
    focus = _focus_class(df, roles)
    is_focus = (y == focus).to_numpy()
    n = len(df)
    p0 = float(is_focus.mean())
    if is_focus.sum() == 0 or (~is_focus).sum() == 0:
        raise NotApplicable("a prior shift needs both the focus class and the others in the data")
    p1 = p0 + severity * max(0.8 - p0, 0.0)
    k = int(round(p1 * n))
    pos_idx = np.flatnonzero(is_focus)
    neg_idx = np.flatnonzero(~is_focus)
    take_pos = rng.choice(pos_idx, size=k, replace=k > len(pos_idx))
    take_neg = rng.choice(neg_idx, size=n - k, replace=(n - k) > len(neg_idx))
    idx = np.concatenate([take_pos, take_neg])
    idx = idx[rng.permutation(n)]
    out = df.iloc[idx].reset_index(drop=True)
    return out, [roles.target], n, {"class": focus, "share_before": p0, "share_after": k / n}


def concept_drift(df, severity, rng, roles, columns):
    """The relation between inputs and outcome changes while the inputs look the same: after a policy or market change, large loans that used to be repaid now default. Every input monitor stays green; only labels reveal it.

    Classification: among rows where the main numeric feature is above its median, labels switch to the positive (binary) or rarest class with probability severity. Regression: the target gains 2 x severity x std(y) times the standardized main numeric feature. The features are untouched.
    """
    _target_checks(df, roles, "concept drift", classification=False)
    num = _numeric(df, roles)
    col = columns[0] if columns else (_main(num, df) if num else None)
    if col is None:
        raise NotApplicable("concept drift is injected along a numeric feature; the data has none")
    out = df.copy()
    x = df[col].to_numpy(dtype=float)
    y = df[roles.target]
    if roles.task in ("binary", "multiclass"):
        focus = _focus_class(df, roles)
        region = np.nan_to_num(x, nan=-np.inf) > np.nanmedian(x)
        flip = region & (rng.random(len(df)) < severity)
        ynew = y.astype(object).copy()
        changed = int((flip & (y != focus).to_numpy()).sum())
        ynew[flip] = focus
        out[roles.target] = ynew.astype(y.dtype) if not pd.api.types.is_object_dtype(y.dtype) else ynew
        return out, [roles.target], changed, {"feature": col, "region": f"{col} > median", "class": focus,
                                               "relabel_probability": severity}
    if not pd.api.types.is_numeric_dtype(y.dtype):
        raise NotApplicable("concept drift on a regression task needs a numeric target")
    z = (x - np.nanmean(x)) / _std(df[col])
    delta = 2.0 * severity * _std(y) * np.nan_to_num(z)
    out[roles.target] = y.to_numpy(dtype=float) + delta
    return out, [roles.target], len(df), {"feature": col, "added_slope_in_target_sd": 2.0 * severity}


SHIFTS: dict[str, ShiftSpec] = {s.name: s for s in [
    ShiftSpec("mean_shift", "Covariate mean shift", "every numeric feature moves by 2 SD",
              "all numeric features", mean_shift),
    ShiftSpec("scale_change", "Scale change", "the spread of every numeric feature triples",
              "all numeric features", scale_change),
    ShiftSpec("unit_change_up", "Unit change x1000", "every row of the feature is 1000x larger",
              "main numeric feature, share of rows", unit_change_up),
    ShiftSpec("unit_change_down", "Unit change x0.01", "every row of the feature is 100x smaller",
              "main numeric feature, share of rows", unit_change_down),
    ShiftSpec("category_frequency", "Category frequency shift", "every row takes the rarest category",
              "main categorical feature", category_frequency),
    ShiftSpec("new_category", "Unseen new category", "every row carries an unseen category",
              "main categorical feature, share of rows", new_category),
    ShiftSpec("missing_mcar", "Missing-value surge (at random)", "the fields are empty in every row",
              "main numeric + main categorical features, same rows", missing_mcar),
    ShiftSpec("missing_mnar", "Missing values conditional on value", "every value is missing, largest first",
              "main numeric feature, largest values", missing_mnar),
    ShiftSpec("outliers", "Outlier injection", "10% of rows are extreme (5-10 SD above the max)",
              "main numeric feature, share of rows", outliers),
    ShiftSpec("stuck_values", "Stuck / frozen values", "the feature is frozen in every row",
              "main numeric feature, last rows", stuck_values),
    ShiftSpec("swapped_columns", "Swapped columns", "the two features are swapped in every row",
              "two most continuous numeric features", swapped_columns),
    ShiftSpec("dropped_column", "Dropped column", "a quarter of the features are dropped",
              "random features (at least one)", dropped_column, changes_schema=True),
    ShiftSpec("renamed_column", "Renamed column", "a quarter of the features are renamed",
              "random features (at least one)", renamed_column, changes_schema=True),
    ShiftSpec("type_change", "Numbers arriving as strings", "every value of the feature is a string",
              "main numeric feature, share of rows", type_change),
    ShiftSpec("duplicated_rows", "Duplicated rows", "half the rows are copies of others",
              "whole rows", duplicated_rows),
    ShiftSpec("prior_shift", "Prior (label) shift", "the focus class makes up 80% of rows",
              "target (classification)", prior_shift, needs_target=True),
    ShiftSpec("concept_drift", "Concept drift (P(y|x) changes)",
              "labels above the median of a feature all switch to the focus class",
              "target, along the main numeric feature", concept_drift, needs_target=True),
]}


def names() -> list[str]:
    return list(SHIFTS)


def check_names(requested: Iterable[str]) -> list[str]:
    """Validate shift names (e.g. from the config); raise ShiftError listing the valid ones."""
    requested = list(requested)
    unknown = [n for n in requested if n not in SHIFTS]
    if unknown:
        raise ShiftError(
            f"unknown shift{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"valid names are: {', '.join(SHIFTS)}."
        )
    return requested


def describe() -> pd.DataFrame:
    """One row per shift: name, title, what severity 1 means, default targets, production story."""
    return pd.DataFrame([{"shift": s.name, "title": s.title, "severity_1": s.severity, "targets": s.targets,
                          "story": s.story} for s in SHIFTS.values()])


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def apply(name: str, df: pd.DataFrame, severity: float, *, roles: Any = None,
          seed: int | np.random.Generator | None = 0, columns: Iterable[str] | None = None
          ) -> tuple[pd.DataFrame, dict]:
    """Inject shift ``name`` at ``severity`` into ``df``; return ``(new_frame, info)``.

    ``roles``: a :class:`playbook.data.Roles` (or :class:`ShiftRoles`); None treats every column as
    a feature (numeric by dtype) with no target. ``columns`` overrides the default target columns.
    ``info``: shift, severity, applied, reason (when not applied), columns, rows_affected, effect.
    """
    if name not in SHIFTS:
        check_names([name])
    try:
        severity = float(severity)
    except (TypeError, ValueError):
        raise ShiftError(f"severity {severity!r} for shift {name!r} must be a number between 0 and 1") from None
    if not 0.0 <= severity <= 1.0:
        raise ShiftError(f"severity {severity} for shift {name!r} must be between 0 and 1")
    cols = list(columns) if columns is not None else None
    if cols:
        absent = [c for c in cols if c not in df.columns]
        if absent:
            raise ShiftError(f"shift {name!r}: columns {absent} are not in the data; use existing columns")
    spec = SHIFTS[name]
    r = ShiftRoles.from_any(roles, df)
    info = {"shift": name, "severity": severity, "applied": False, "reason": None, "columns": [],
            "rows_affected": 0, "effect": {}}
    rng = _rng(seed)
    try:
        out, hit, rows, effect = spec.fn(df, severity, rng, r, cols)
    except NotApplicable as exc:
        info["reason"] = str(exc)
        return df.copy(), info
    info.update(applied=True, columns=list(hit))
    if severity == 0.0:
        return df.copy(), info
    info.update(rows_affected=int(rows), effect=effect)
    return out, info
