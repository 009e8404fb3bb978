"""Weak segments: a search over one- and two-feature segments for the groups of rows the model serves worst.

The slices (:mod:`playbook.evaluate.slices`) show the metric per value of one column at a time. A model can be
fine on every value of ``a`` and every value of ``b`` and bad where they meet, and among hundreds of groups the
worst one is always somewhat worse than the rest by chance. This module searches both kinds of groups and keeps
only those that are *evidence*:

* **Segments.** Every feature the model uses (and every sensitive column) is cut into groups: a numeric column
  with more than ``bins`` distinct values into quantile bins (``bins`` equally frequent ranges), other columns by
  value, the values with fewer than ``min_support`` rows pooled into ``(other)``, missing values as a group of
  their own. A **segment** is one group, or the rows where a group of one column meets a group of another. Only
  segments with at least ``min_support`` rows, and at least as many outside them, are searched; a pair cell that
  holds the same rows as one of its groups is not searched twice.
* **Columns never searched**: identifiers, the target, predictions and the timestamp; every column the privacy
  scan protects (personal data, identifiers by shape) or finds name-shaped values in (flagged or "review"), and
  free text (high-cardinality text); a column flagged by content when the scan has not seen it; constant columns and
  columns without a value. They are listed with the reason in ``segments.json`` (names through the privacy layer).
* **Per-row loss.** A classifier's wrong decision at the operating threshold (the segment's *error rate*), a
  regression's absolute error (its *MAE*): losses add up over rows, so a segment and the rest of the rows compare on
  the same scale for every task.
* **The test.** For each segment, a one-sided Welch test of ``H0: loss(segment) <= (1 + margin) * loss(rest)``
  (``z = (m_s - (1 + margin) m_r) / sqrt(v_s / n_s + (1 + margin)^2 v_r / n_r)``, normal p-value). Its p-values
  are corrected over **every searched segment** with the Benjamini-Hochberg procedure
  (``scipy.stats.false_discovery_control``); a segment is **flagged** when its adjusted p-value (``q``) is at or
  below ``fdr``: it is worse than the rest *by more than the margin* at a false-discovery rate of ``fdr``. Why not
  a permutation test: a permutation test can only test "no difference" (exchangeability), not "worse by more than
  a margin", and its Monte Carlo p-values stop at ``1 / (reps + 1)``, which Benjamini-Hochberg over hundreds of
  segments cannot reject. Benjamini-Hochberg rather than Holm: it bounds the share of false flags rather than the
  chance of any, so several overlapping segments that share one weakness are all found; it is proven under
  independence and positive regression dependence, which overlapping segments tested in the same direction
  plausibly have. With no weak segment at all the false-discovery rate is the chance of flagging anything, so a
  model that is equally good everywhere is flagged in about ``fdr`` of datasets at most (the tests check it over
  ten seeds). For right-skewed losses (absolute errors, rare errors) the one-sided test of a *larger* mean tends
  to be conservative.
* **Each reported segment's metric** (the first ``top`` of the table, the flagged ones first): the task's primary
  metric in the segment (:func:`segment_metric_for`: ROC AUC, macro ROC AUC over the classes present, accuracy for
  a classifier without probabilities, MAE) and its loss, each with a seeded percentile bootstrap 95% CI over the
  segment's rows.
* **Bounded cost.** At most ``max_rows`` rows (a seeded sample), at most ``max_segments`` segments (every
  one-feature segment first, then the pair cells with the most rows: chosen without looking at the loss, so the
  correction counts every segment that was looked at), ``MAX_CATEGORIES`` groups per column, at most
  ``MAX_BOOTSTRAP`` bootstrap resamples. The counts go into sums by group (``numpy.bincount``), so a search costs a
  few passes over the rows. Deterministic: the same rows and seed give the same table.
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Iterable

import numpy as np
import pandas as pd

from playbook.evaluate.metrics import Scored

DEFAULT_MIN_SUPPORT = 30    # rows a segment (and the rest) must hold to be searched
DEFAULT_BINS = 4            # quantile bins per numeric column
DEFAULT_MARGIN = 0.2        # relative excess loss over the rest that a flagged segment must significantly exceed
DEFAULT_FDR = 0.05          # Benjamini-Hochberg false-discovery rate over every searched segment
DEFAULT_MAX_SEGMENTS = 500  # segments searched at most
MAX_ROWS = 20_000           # rows searched at most (a seeded sample of more)
MAX_CATEGORIES = 20         # groups per column at most (the most frequent; the rest pooled as "(other)")
MAX_BOOTSTRAP = 500         # bootstrap resamples per reported segment at most
TOP = 10                    # segments reported with their metric and CIs (flagged ones first)

MISSING = "(missing)"
OTHER = "(other)"
_TEXT_MAX = 60              # characters of a value shown in a description


@dataclass
class Column:
    """One searched column: a group code per row (0..k-1) and each group's label."""

    name: str
    numeric: bool
    codes: np.ndarray
    labels: list[str]


@dataclass
class SegmentSearch:
    """What :func:`search` found. ``table``: one row per searched segment, the flagged ones first (worst gap first),
    then the others by the strength of the evidence against them."""

    table: pd.DataFrame
    task: str
    loss: str                 # "error_rate" | "mae"
    metric: str               # the primary metric reported per segment
    overall_loss: float
    rows: int                 # rows searched
    of_rows: int              # rows given (more than ``rows`` when sampled)
    columns: list[str]        # columns searched (names as shown)
    excluded: dict[str, str]  # column (as shown) -> why it was not searched
    candidates: int           # segments with enough rows, before the ``max_segments`` cap
    settings: dict = field(default_factory=dict)
    reason: str | None = None  # why nothing could be searched

    @property
    def flagged(self) -> pd.DataFrame:
        return self.table[self.table["flagged"]] if len(self.table) else self.table

    def reported(self) -> pd.DataFrame:
        """The segments reported with their metric and CIs: the first ``top`` of the table."""
        if not len(self.table):
            return self.table
        return self.table[self.table["reported"]]

    def to_dict(self) -> dict:
        """``segments.json``: the settings, what was searched and excluded, and every searched segment."""
        return {"task": self.task, "loss": self.loss, "metric": self.metric, "overall_loss": self.overall_loss,
                "rows": self.rows, "of_rows": self.of_rows, "columns_searched": self.columns,
                "columns_not_searched": self.excluded, "candidates": self.candidates,
                "searched": int(len(self.table)), "flagged": int(len(self.flagged)), "settings": self.settings,
                "test": ("one-sided Welch z-test of H0: loss(segment) <= (1 + margin) * loss(rest) on the per-row "
                         "loss; p-values adjusted with Benjamini-Hochberg over every searched segment"),
                "reason": self.reason, "segments": self.table.to_dict("records")}

    def worst(self, k: int = 5) -> list[dict]:
        """The ``k`` worst reported segments as plain dicts (what the model card shows)."""
        keep = ["segment", "n", "loss", "loss_ci", "rest_loss", "gap", "metric_value", "metric_ci", "q_value",
                "flagged"]
        rows = self.reported().head(k)
        return [{c: r[c] for c in keep} for r in rows.to_dict("records")]


# -- per-row loss ---------------------------------------------------------------------------------------------------
def row_loss(s: Scored) -> tuple[str, np.ndarray]:
    """``("error_rate", 1.0 where the decision is wrong)`` for a classifier, ``("mae", |y - prediction|)`` for a
    regression (NaN where it cannot be computed)."""
    if s.task == "regression":
        return "mae", np.abs(np.asarray(s.y, dtype=float) - np.asarray(s.pred, dtype=float))
    if s.pred is not None:
        truth = s._codes("y")
        pred = s._codes("pred")
        wrong = (truth != pred).astype(float)
        wrong[truth < 0] = np.nan
        return "error_rate", wrong
    if s.proba is None:
        raise ValueError("a classifier's segments need its labels or its probabilities")
    truth = s._codes("y")
    wrong = (np.argmax(s.proba, axis=1) != truth).astype(float)
    wrong[truth < 0] = np.nan
    return "error_rate", wrong


def segment_metric_for(s: Scored) -> str:
    """The task's primary metric (:data:`playbook.metrics.PRIMARY`: ROC AUC, macro ROC AUC, MAE) when the model
    gives what it needs, else accuracy (a classifier without probabilities)."""
    from playbook.metrics import primary

    if s.task == "regression" or s.proba is not None:
        return primary(s.task)
    return "accuracy"


def segment_metric(s: Scored, metric: str) -> float:
    """The primary metric on a set of rows (NaN when undefined there, e.g. ROC AUC on rows of one class)."""
    from playbook import metrics as pm

    try:
        if metric == "roc_auc":
            y = s.y_bin
            return float(pm.roc_auc(y, s.p_pos)) if 0 < y.sum() < len(y) else float("nan")
        if metric == "roc_auc_macro":
            v = pm.roc_auc_macro_present(s.y, s.proba, s.classes)
            return float("nan") if v is None else float(v)
        if metric == "accuracy":
            truth, pred = s._codes("y"), s._codes("pred")
            return float(np.mean(truth == pred)) if len(truth) else float("nan")
        if metric == "mae":
            return float(np.mean(np.abs(np.asarray(s.y, dtype=float) - np.asarray(s.pred, dtype=float))))
    except (ValueError, KeyError, TypeError):
        return float("nan")
    raise ValueError(f"unknown segment metric {metric!r}")


# -- groups of a column ---------------------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    """Four significant digits, without an exponent for ordinary magnitudes (27760, not 2.776e+04)."""
    r = float(f"{v:.4g}")
    return f"{r:.0f}" if 1e4 <= abs(r) < 1e15 else f"{r:.4g}"


def _value_text(v: Any) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    text = str(v)
    return text if len(text) <= _TEXT_MAX else text[:_TEXT_MAX - 3] + "..."


def column_groups(col: pd.Series, numeric: bool, *, bins: int = DEFAULT_BINS, min_support: int = DEFAULT_MIN_SUPPORT,
                  max_categories: int = MAX_CATEGORIES) -> Column | None:
    """The groups of one column, or None when it has fewer than two (a constant column, one without values).

    Numeric with more than ``bins`` distinct values: quantile bins labelled ``< a``, ``[a, b)``, ``>= c``; otherwise
    one group per value (the ``max_categories`` most frequent with at least ``min_support`` rows; the others pooled
    as ``(other)``). Missing values are the group ``(missing)``."""
    name = str(col.name)
    n = len(col)
    if n == 0:
        return None
    if pd.api.types.is_datetime64_any_dtype(col):
        stamps = pd.to_datetime(col, errors="coerce")
        vals = pd.Series(np.where(stamps.notna(), stamps.astype("int64"), np.nan), index=col.index, dtype=float)
        fmt = (lambda v: pd.Timestamp(int(v)).isoformat())  # noqa: E731
        numeric = True
    else:
        vals = None
        fmt = _fmt
    if numeric and not pd.api.types.is_bool_dtype(col):
        if vals is None:
            vals = pd.to_numeric(col, errors="coerce").astype(float)
            vals = vals.where(np.isfinite(vals))
        present = vals.dropna()
        if present.nunique() > bins:
            edges = np.unique(np.quantile(present.to_numpy(), np.linspace(0, 1, bins + 1))[1:-1])
            codes = np.searchsorted(edges, vals.to_numpy(), side="right")
            labels = ([f"< {fmt(edges[0])}"] + [f"[{fmt(a)}, {fmt(b)})" for a, b in zip(edges[:-1], edges[1:])]
                      + [f">= {fmt(edges[-1])}"])
            missing = vals.isna().to_numpy()
            if missing.any():
                codes = np.where(missing, len(labels), codes)
                labels.append(MISSING)
            used = np.unique(codes)
            if len(used) < 2:
                return None
            remap = np.full(len(labels), -1)
            remap[used] = np.arange(len(used))
            return Column(name, True, remap[codes].astype(np.int64), [labels[i] for i in used])
    text = col.astype(object).where(col.notna(), None).map(lambda v: MISSING if v is None else _value_text(v))
    counts = text.value_counts(sort=False)
    counts = counts.iloc[np.lexsort((counts.index.astype(str), -counts.to_numpy()))]  # by count, then by text
    keep = [v for v, c in counts.items() if c >= min_support and v != OTHER][:max_categories]
    if MISSING in counts.index and MISSING not in keep and counts[MISSING] >= min_support:
        keep.append(MISSING)
    labels = sorted(keep, key=lambda v: (v == MISSING, str(v)))
    pooled = ~text.isin(labels)
    if pooled.any():
        labels.append(OTHER)
    if len(text.unique()) < 2 or len(labels) < 2:
        return None
    lookup = {v: i for i, v in enumerate(labels)}
    codes = text.map(lambda v: lookup.get(v, lookup.get(OTHER, -1))).to_numpy(dtype=np.int64)
    return Column(name, False, codes, labels)


def describe(col: str, label: str, numeric: bool) -> str:
    """``col = value``, ``col < 3``, ``col in [3, 7)``, ``col is missing``, ``col: another value``."""
    if label == MISSING:
        return f"{col} is missing"
    if label == OTHER:
        return f"{col}: another value"
    if numeric and label.startswith(("<", ">=")):
        return f"{col} {label}"
    if numeric and label.startswith("["):
        return f"{col} in {label}"
    return f"{col} = {label}"


# -- which columns ------------------------------------------------------------------------------------------------
def eligible_columns(frame: pd.DataFrame, ctx=None, *, candidates: Iterable[str], exclude: Iterable[str] = (),
                     scan=None) -> tuple[list[str], dict[str, str]]:
    """The columns to search and, for the others among ``candidates``, why not (raw names)."""
    from playbook import privacy

    scan = scan if scan is not None else privacy.privacy_of(ctx)
    protected = set(scan.protected) if scan is not None else set()
    free_text = set(scan.high_cardinality) if scan is not None else set()
    # name-shaped values the scan did not flag but asks a person to review are treated as names here
    names = {f.column for f in scan.findings if f.kind == "person_name"} if scan is not None else set()
    roles = getattr(ctx, "roles", None)
    fixed: dict[str, str] = {}
    if roles is not None:
        for c in list(roles.id or []):
            fixed[str(c)] = "an identifier"
        for c in [roles.target, roles.timestamp, roles.prediction,
                  *(roles.probability if isinstance(roles.probability, list) else [roles.probability])]:
            if c:
                fixed[str(c)] = "the target, a model output or the timestamp"
    for c in exclude:
        fixed.setdefault(str(c), "excluded")
    keep, why = [], {}
    for c in dict.fromkeys(candidates):
        if c not in frame.columns:
            continue
        name = str(c)
        if name in fixed:
            why[name] = fixed[name]
        elif name in protected:
            why[name] = "personal data or an identifier (privacy scan): never searched"
        elif name in names:
            why[name] = "possibly person names (privacy scan): never searched"
        elif name in free_text:
            why[name] = "free text (many distinct values): never searched"
        elif privacy.column_flagged(frame[c], name, thresholds=scan.thresholds if scan is not None else None):
            why[name] = "personal data by content: never searched"
        else:
            keep.append(c)
    return keep, why


# -- the search -----------------------------------------------------------------------------------------------------
def _sums(codes: np.ndarray, k: int, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.bincount(codes, minlength=k).astype(float), np.bincount(codes, weights=loss, minlength=k),
            np.bincount(codes, weights=loss * loss, minlength=k))


def _test(n, s1, s2, total_n, total_s1, total_s2, margin):
    """One-sided Welch z and p of ``loss(segment) <= (1 + margin) loss(rest)`` for arrays of segment sums."""
    from scipy import stats

    nr = total_n - n
    ms, mr = s1 / n, (total_s1 - s1) / nr
    vs = np.maximum(s2 - n * ms * ms, 0.0) / np.maximum(n - 1, 1)
    vr = np.maximum((total_s2 - s2) - nr * mr * mr, 0.0) / np.maximum(nr - 1, 1)
    k = 1.0 + margin
    d = ms - k * mr
    se = np.sqrt(vs / n + k * k * vr / nr)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, d / np.where(se > 0, se, 1.0), np.where(d > 0, np.inf, np.where(d < 0, -np.inf, 0.0)))
    return ms, mr, z, stats.norm.sf(z)


def _auc_resampled(y: np.ndarray, score: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """ROC AUC (ties count one half) of every resample ``idx[r]`` of the rows at once: the rows' weights per
    distinct score, then the positives' weight above the negatives' cumulative weight. NaN where a resample holds
    one class only."""
    reps = idx.shape[0]
    uniq, inv = np.unique(score, return_inverse=True)
    k = len(uniq)
    flat = (np.arange(reps)[:, None] * k + inv[idx]).ravel()
    pos = y.astype(bool)[idx].ravel()
    wp = np.bincount(flat[pos], minlength=reps * k).reshape(reps, k).astype(float)
    wn = np.bincount(flat[~pos], minlength=reps * k).reshape(reps, k).astype(float)
    below = np.cumsum(wn, axis=1) - wn
    n_pos, n_neg = wp.sum(axis=1), wn.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (wp * (below + 0.5 * wn)).sum(axis=1) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def _metric_resampled(s: Scored, metric: str, loss: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The segment metric on every resample ``idx[r]`` of its rows (vectorised; NaN where undefined)."""
    if metric == "roc_auc":
        return _auc_resampled(s.y_bin, s.p_pos, idx)
    if metric == "roc_auc_macro":
        truth = s._codes("y")
        P = np.asarray(s.proba, dtype=float)
        P = P / np.clip(P.sum(axis=1, keepdims=True), 1e-12, None)
        per_class = np.vstack([_auc_resampled(truth == c, P[:, c], idx) for c in range(P.shape[1])])
        present = np.isfinite(per_class).sum(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample with one class: NaN, as intended
            mean = np.nanmean(per_class, axis=0)
        return np.where(present >= 1, mean, np.nan)
    if metric == "accuracy":
        return 1.0 - loss[idx].mean(axis=1)
    if metric == "mae":
        return loss[idx].mean(axis=1)
    raise ValueError(f"unknown segment metric {metric!r}")


def _ci(values: np.ndarray) -> list[float] | None:
    v = values[np.isfinite(values)]
    if len(v) < max(2, len(values) // 2):
        return None
    lo, hi = np.percentile(v, [2.5, 97.5])
    return [float(lo), float(hi)]


def search(frame: pd.DataFrame, s: Scored, numeric: Iterable[str], categorical: Iterable[str], *, ctx=None,
           exclude: Iterable[str] = (), scan=None, min_support: int = DEFAULT_MIN_SUPPORT, bins: int = DEFAULT_BINS,
           margin: float = DEFAULT_MARGIN, fdr: float = DEFAULT_FDR, max_segments: int = DEFAULT_MAX_SEGMENTS,
           max_rows: int = MAX_ROWS, n_boot: int = 200, seed: int = 0, top: int = TOP,
           pairs: bool = True) -> SegmentSearch:
    """Search the one- and two-feature segments of ``frame`` (the rows ``s`` scored) for those where the model is
    significantly worse than on the rest by more than ``margin`` (see the module docstring). ``numeric`` and
    ``categorical``: the candidate columns (the model's features, the sensitive columns); identifiers, the target,
    model outputs and personal-data columns are left out whatever the lists say."""
    from scipy import stats

    numeric, categorical = [c for c in numeric], [c for c in categorical]
    frame = frame.loc[s.index] if s.index is not None else frame
    loss_name, loss = row_loss(s)
    metric = segment_metric_for(s)
    settings = {"min_support": int(min_support), "bins": int(bins), "margin": float(margin), "fdr": float(fdr),
                "max_segments": int(max_segments), "max_rows": int(max_rows), "max_categories": MAX_CATEGORIES,
                "bootstrap": int(min(max(n_boot, 0), MAX_BOOTSTRAP)), "seed": int(seed), "pairs": bool(pairs),
                "correction": "benjamini-hochberg"}
    of_rows = len(frame)
    ok = np.flatnonzero(np.isfinite(loss))
    if len(ok) > max_rows:
        ok = np.sort(np.random.default_rng([int(seed), 0x5E6]).choice(ok, size=int(max_rows), replace=False))
    sub = s.take(ok) if len(ok) < len(loss) else s
    rows = frame.iloc[ok]
    loss = loss[ok]
    n_total = len(loss)

    cols, excluded = eligible_columns(rows, ctx, candidates=categorical + numeric, exclude=exclude, scan=scan)
    groups: list[Column] = []
    for c in cols:
        g = column_groups(rows[c].reset_index(drop=True), c in numeric, bins=bins, min_support=min_support)
        if g is None:
            distinct = rows[c].astype(object).map(str).where(rows[c].notna(), None).nunique(dropna=False)
            excluded[str(c)] = ("without a value" if rows[c].isna().all() else "constant (a single value)"
                                if distinct < 2 else f"no group of at least {min_support} rows")
        else:
            groups.append(g)
    shown_name, shown_label = _shown(groups, ctx)

    def empty(reason):
        overall = float(np.mean(loss)) if n_total else float("nan")
        return SegmentSearch(_empty_table(), s.task, loss_name, metric, overall, n_total, of_rows,
                             [shown_name[g.name] for g in groups], shown_excluded(excluded), 0, settings, reason)

    if n_total < 2 * min_support:
        return empty(f"{n_total} rows with a loss: a segment and the rest need {min_support} rows each")
    if not groups:
        return empty("no column to search (every candidate is excluded, constant or empty)")

    tot_n, tot_1, tot_2 = float(n_total), float(loss.sum()), float((loss * loss).sum())
    cand = []  # (order, n, cols tuple, codes tuple)
    for gi, g in enumerate(groups):
        n, _, _ = _sums(g.codes, len(g.labels), loss)
        for k in range(len(g.labels)):
            if min_support <= n[k] <= n_total - min_support:
                cand.append((0, -n[k], gi, k, -1, -1))
    n_one = len(cand)
    if pairs:
        for gi, gj in combinations(range(len(groups)), 2):
            a, b = groups[gi], groups[gj]
            kb = len(b.labels)
            combo = a.codes * kb + b.codes
            n = np.bincount(combo, minlength=len(a.labels) * kb)
            na = np.bincount(a.codes, minlength=len(a.labels))
            nb = np.bincount(b.codes, minlength=kb)
            for cell in np.flatnonzero((n >= min_support) & (n <= n_total - min_support)):
                i, j = divmod(int(cell), kb)
                if n[cell] == na[i] or n[cell] == nb[j]:
                    continue  # the same rows as one of its groups
                cand.append((1, -float(n[cell]), gi, i, gj, j))
    candidates = len(cand)
    if not cand:
        return empty(f"no segment holds at least {min_support} rows with as many outside it")
    one = sorted(cand[:n_one], key=lambda t: (t[1], t[2], t[3]))[:max_segments]
    two = sorted(cand[n_one:], key=lambda t: (t[1], t[2], t[3], t[4], t[5]))[:max(0, max_segments - len(one))]
    chosen = one + two

    seg_n = np.empty(len(chosen))
    seg_1 = np.empty(len(chosen))
    seg_2 = np.empty(len(chosen))
    sums_one = [_sums(g.codes, len(g.labels), loss) for g in groups]
    pair_sums: dict[tuple[int, int], tuple] = {}
    for idx, (_, _, gi, i, gj, j) in enumerate(chosen):
        if gj < 0:
            n, s1, s2 = sums_one[gi]
            seg_n[idx], seg_1[idx], seg_2[idx] = n[i], s1[i], s2[i]
        else:
            key = (gi, gj)
            kb = len(groups[gj].labels)
            if key not in pair_sums:
                pair_sums[key] = _sums(groups[gi].codes * kb + groups[gj].codes, len(groups[gi].labels) * kb, loss)
            n, s1, s2 = pair_sums[key]
            seg_n[idx], seg_1[idx], seg_2[idx] = n[i * kb + j], s1[i * kb + j], s2[i * kb + j]
    ms, mr, z, p = _test(seg_n, seg_1, seg_2, tot_n, tot_1, tot_2, margin)
    q = stats.false_discovery_control(np.clip(p, 0.0, 1.0), method="bh")
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(mr > 0, ms / mr - 1.0, np.where(ms > 0, np.inf, 0.0))

    records = []
    for idx, (order, _, gi, i, gj, j) in enumerate(chosen):
        a = groups[gi]
        parts = [describe(shown_name[a.name], shown_label[a.name][i], a.numeric)]
        features = [shown_name[a.name]]
        if gj >= 0:
            b = groups[gj]
            parts.append(describe(shown_name[b.name], shown_label[b.name][j], b.numeric))
            features.append(shown_name[b.name])
        records.append({"segment": " and ".join(parts), "features": features, "size": 1 if gj < 0 else 2,
                        "n": int(seg_n[idx]), "share": float(seg_n[idx] / n_total), "loss": float(ms[idx]),
                        "rest_loss": float(mr[idx]), "gap": float(gap[idx]), "z": float(z[idx]),
                        "p_value": float(p[idx]), "q_value": float(q[idx]), "flagged": bool(q[idx] <= fdr),
                        "seg_key": (gi, i, gj, j)})
    table = pd.DataFrame(records)
    table["sort_rank"] = np.where(table["flagged"], -table["gap"], np.inf)
    table = table.sort_values(["flagged", "sort_rank", "z", "segment"], ascending=[False, True, False, True],
                              kind="mergesort").reset_index(drop=True)
    table["reported"] = table.index < top  # the flagged ones come first
    reps = settings["bootstrap"]
    cis = {"loss_ci": [], "metric_value": [], "metric_ci": []}
    for r in table.itertuples():
        if not r.reported:
            cis["loss_ci"].append(None)
            cis["metric_value"].append(float("nan"))
            cis["metric_ci"].append(None)
            continue
        gi, i, gj, j = r.seg_key
        mask = groups[gi].codes == i
        if gj >= 0:
            mask &= groups[gj].codes == j
        pos = np.flatnonzero(mask)
        seg = sub.take(pos)
        rng = np.random.default_rng([int(seed), zlib.crc32(repr(r.seg_key).encode())])
        seg_loss = loss[pos]
        cis["metric_value"].append(segment_metric(seg, metric))
        if reps < 2:
            cis["loss_ci"].append(None)
            cis["metric_ci"].append(None)
            continue
        idx = rng.integers(0, len(pos), (reps, len(pos)))
        cis["loss_ci"].append(_ci(seg_loss[idx].mean(axis=1)))
        cis["metric_ci"].append(_ci(_metric_resampled(seg, metric, seg_loss, idx)))
    for k, v in cis.items():
        table[k] = v
    table["metric"] = metric
    table = table.drop(columns=["seg_key", "sort_rank"])
    return SegmentSearch(table, s.task, loss_name, metric, float(tot_1 / tot_n), n_total, of_rows,
                         [shown_name[g.name] for g in groups], shown_excluded(excluded), candidates, settings)


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame(columns=["segment", "features", "size", "n", "share", "loss", "rest_loss", "gap", "z",
                                 "p_value", "q_value", "flagged", "reported", "loss_ci", "metric_value", "metric_ci",
                                 "metric"])


def _shown(groups: list[Column], ctx) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Column names and group labels as the pack may show them: through :func:`playbook.display.redact` (a column
    whose labels hold personal data is masked), and any label holding a pattern of personal data masked on its own."""
    from playbook import privacy
    from playbook.display import redact

    names, labels = {}, {}
    for g in groups:
        frame = redact(pd.DataFrame({g.name: pd.Series(g.labels, dtype=object)}), ctx)
        names[g.name] = str(frame.columns[0])
        shown = []
        for raw, val in zip(g.labels, frame.iloc[:, 0].tolist()):
            val = str(val)
            if raw not in (MISSING, OTHER) and val == raw and privacy.find_pii(raw, g.name):
                val = str(privacy.mask_value(raw, g.name))
            shown.append(val if raw not in (MISSING, OTHER) else raw)
        labels[g.name] = shown
    return names, labels


def shown_excluded(excluded: dict[str, str]) -> dict[str, str]:
    """Why each column was not searched, the names through :func:`playbook.privacy.masked_column_name`."""
    from playbook import privacy

    return {privacy.masked_column_name(str(c)): why for c, why in sorted(excluded.items(), key=lambda kv: str(kv[0]))}


def shown_table(result: SegmentSearch) -> pd.DataFrame:
    """The reported segments as the notebook shows them: loss and metric with their 95% CIs as text, rounded."""
    def ci(v) -> str:
        return f"{v[0]:.3g} to {v[1]:.3g}" if isinstance(v, (list, tuple)) and len(v) == 2 else "-"

    t = result.reported()
    unit = "error rate" if result.loss == "error_rate" else "MAE"
    return pd.DataFrame({"segment": t["segment"], "rows": t["n"], unit: t["loss"].round(3),
                         f"{unit} 95% CI": t["loss_ci"].map(ci), f"{unit} on the rest": t["rest_loss"].round(3),
                         result.metric: t["metric_value"].round(3), f"{result.metric} 95% CI": t["metric_ci"].map(ci),
                         "q": t["q_value"].map(lambda v: f"{v:.2g}"), "flagged": t["flagged"]})


# -- the check, the figure ------------------------------------------------------------------------------------------
CHECK_ID = "model.weak_segments"
WHY = ("An average hides the group the model fails, and the worst of hundreds of groups always looks bad by chance: "
       "a flagged segment is worse than the rest of the rows by more than the margin at a controlled false-discovery "
       "rate, so it is evidence, not noise. Collect data for it, add a feature that describes it, or route it to a "
       "human.")


def weak_segments_check(result: SegmentSearch, evidence=None) -> dict:
    """``model.weak_segments``: ``warn`` when a segment is flagged (its value is how many are), ``pass`` when every
    searched segment is within the margin, skipped when nothing could be searched."""
    from playbook import catalogue

    st = result.settings
    threshold = {"max": 0, "of": "flagged segments", "margin": st.get("margin"), "fdr": st.get("fdr"),
                 "min_support": st.get("min_support")}
    if result.reason is not None or not len(result.table):
        return catalogue.skip(CHECK_ID, f"Not computed: {result.reason or 'no segment was searched'}.",
                              evidence=evidence, not_applicable=True, threshold=threshold)
    flagged = result.flagged
    n = len(result.table)
    unit = "error rate" if result.loss == "error_rate" else "MAE"
    if len(flagged):
        w = flagged.iloc[0]
        title = (f"{len(flagged)} of {n} segments significantly worse than the rest by more than "
                 f"{st['margin']:.0%} (FDR {st['fdr']:g}); worst: {w['segment']} (n={int(w['n'])}), {unit} "
                 f"{w['loss']:.3g} vs {w['rest_loss']:.3g} on the rest")
        status = "warn"
    else:
        w = result.table.iloc[0]
        title = (f"No segment of {n} searched is significantly worse than the rest by more than {st['margin']:.0%} "
                 f"(FDR {st['fdr']:g}); the closest: {w['segment']} (n={int(w['n'])}), {unit} {w['loss']:.3g} vs "
                 f"{w['rest_loss']:.3g}, q = {w['q_value']:.2g}")
        status = "pass"
    return catalogue.check(CHECK_ID, status, int(len(flagged)), title=title, threshold=threshold, evidence=evidence,
                           why=WHY)


def plot(result: SegmentSearch, path, top: int = 10):
    """The worst reported segments' loss with its bootstrap CI against the rest of the rows (red: flagged)."""
    from playbook.evaluate.plots import _plt, _save

    plt = _plt()
    t = result.reported().head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.38 * len(t) + 1.2)))

    def short(text: str, n: int = 70) -> str:
        return text if len(text) <= n else text[: n - 3] + "..."

    y = np.arange(len(t))
    lo = [r["loss"] - r["loss_ci"][0] if r["loss_ci"] else 0.0 for r in t.to_dict("records")]
    hi = [r["loss_ci"][1] - r["loss"] if r["loss_ci"] else 0.0 for r in t.to_dict("records")]
    ax.barh(y, t["loss"], xerr=[np.maximum(lo, 0), np.maximum(hi, 0)],
            color=["#c0392b" if f else "#2e86c1" for f in t["flagged"]], capsize=2)
    ax.scatter(t["rest_loss"], y, marker="|", color="black", s=120, zorder=3, label="the rest of the rows")
    ax.axvline(result.overall_loss, color="grey", linestyle="--", label="overall")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{short(sg)} (n={n})" for sg, n in zip(t["segment"], t["n"])], fontsize=7)
    ax.set_xlabel("error rate" if result.loss == "error_rate" else "mean absolute error")
    ax.set_title("Worst segments (95% bootstrap CI)\nred: significantly worse than the rest by more than the margin",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14 if len(t) > 3 else -0.3), ncol=2)
    return _save(fig, path)


__all__ = ["CHECK_ID", "Column", "DEFAULT_BINS", "DEFAULT_FDR", "DEFAULT_MARGIN", "DEFAULT_MAX_SEGMENTS",
           "DEFAULT_MIN_SUPPORT", "MAX_BOOTSTRAP", "MAX_CATEGORIES", "MAX_ROWS", "SegmentSearch", "column_groups",
           "describe", "eligible_columns", "plot", "row_loss", "search", "segment_metric", "segment_metric_for",
           "shown_table", "weak_segments_check"]
