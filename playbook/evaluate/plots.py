"""The step's figures as PNG files (matplotlib, closed once saved, no timestamps in the files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from playbook.evaluate.metrics import Scored

_META = {"Software": None}


def _plt():
    """pyplot, with the backend ``MPLBACKEND`` (or matplotlib) chose: every figure is saved and closed by ``_save``,
    and the template shows the saved PNG, so no backend needs to display anything."""
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=_META)
    _plt().close(fig)
    return path


def roc_pr(s: Scored, roc_path, pr_path) -> list[Path]:
    """ROC and precision-recall curves (one-vs-rest per class for multiclass)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    plt = _plt()
    if s.task == "binary":
        curves = [(str(s.positive), s.y_bin, s.p_pos)]
    else:
        yi = s.y_index
        curves = [(str(c), (yi == k).astype(int), s.proba[:, k]) for k, c in enumerate(s.classes)]
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for name, y, p in curves:
        if len(np.unique(y)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
    ax.legend(loc="lower right", fontsize=8)
    out = [_save(fig, roc_path)]
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for name, y, p in curves:
        if len(np.unique(y)) < 2:
            continue
        prec, rec, _ = precision_recall_curve(y, p)
        ax.plot(rec, prec, label=f"{name} (AP {average_precision_score(y, p):.3f})")
        ax.axhline(y.mean(), linestyle=":", color="grey")
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve (dotted: base rate)")
    ax.legend(loc="upper right", fontsize=8)
    out.append(_save(fig, pr_path))
    return out


def calibration(table: pd.DataFrame, kind: str, path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot(table["mean_predicted"], table["observed"], "o-", label="model")
    for _, r in table.iterrows():
        ax.annotate(str(int(r["count"])), (r["mean_predicted"], r["observed"]), fontsize=7,
                    textcoords="offset points", xytext=(3, -9))
    ax.set(xlabel=f"Mean predicted ({kind})", ylabel="Observed frequency", xlim=(0, 1), ylim=(0, 1),
           title="Reliability curve (labels: rows per bin)")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def slices(table: pd.DataFrame, path, top: int = 15) -> Path:
    plt = _plt()
    t = table[np.isfinite(table["value"])].head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.35 * len(t) + 1)))
    colors = ["#c0392b" if f else ("#bbbbbb" if sm else "#2e86c1") for f, sm in zip(t["flagged"], t["small"])]

    def short(text: str, n: int = 55) -> str:
        return text if len(text) <= n else text[: n - 3] + "..."

    labels = [f"{short(f'{c} = {s}')} (n={n}){' small' if sm else ''}"
              for c, s, n, sm in zip(t["column"], t["slice"], t["n"], t["small"])]
    ax.barh(range(len(t)), t["value"], color=colors)
    if len(t):
        ax.axvline(t["overall"].iloc[0], color="black", linestyle="--", label="overall")
        ax.set_xlabel(t["metric"].iloc[0])
    ax.set_yticks(range(len(t)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_title("Worst slices\nred: flagged, grey: small (noisy), blue: fine", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def importance(table: pd.DataFrame, path, top: int = 20) -> Path:
    plt = _plt()
    t = table.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.3 * len(t) + 1)))
    ax.barh(range(len(t)), t["importance_mean"], xerr=t["importance_std"],
            color=["#bbbbbb" if z else "#2e86c1" for z in t["near_zero"]])
    ax.set_yticks(range(len(t)))
    ax.set_yticklabels(t["feature"], fontsize=7)
    ax.set_xlabel(f"Drop in {t['metric'].iloc[0] if len(t) else ''} when shuffled")
    ax.set_title("Permutation importance (grey: near zero)")
    return _save(fig, path)


def business(view: dict, path) -> Path:
    plt = _plt()
    curve = view["curve"]
    c = curve[np.isfinite(curve["threshold"])]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(c["threshold"], c["value_per_decision"], label="model")
    ax.axhline(view["flag_none_value_per_decision"], color="green", linestyle=":", label="flag nobody")
    ax.axhline(view["flag_all_value_per_decision"], color="red", linestyle=":", label="flag everybody")
    if np.isfinite(view["optimal_threshold"]):
        ax.axvline(view["optimal_threshold"], color="black", linestyle="--", label="best threshold")
    ax.axvline(view["cost_implied_threshold"], color="grey", linestyle="-.", label="cost-implied threshold")
    ax.set(xlabel="Threshold on P(positive)", ylabel=f"Value per decision ({view['currency']})",
           title="Expected value per decision", xlim=(0, 1))
    ax.legend(fontsize=8)
    return _save(fig, path)


def regression(s: Scored, path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    y, p = np.asarray(s.y, float), np.asarray(s.pred, float)
    axes[0].scatter(y, p, s=8, alpha=0.5)
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    axes[0].plot([lo, hi], [lo, hi], "--", color="grey")
    axes[0].set(xlabel="Actual", ylabel="Predicted", title="Predicted vs actual")
    axes[1].hist(p - y, bins=40)
    axes[1].set(xlabel="Prediction error (predicted - actual)", ylabel="Rows", title="Error distribution")
    return _save(fig, path)


def performance(s: Scored, step) -> list[str]:
    """The task's performance figures into the step's artifacts; returns their evidence links.

    Classification with probabilities: ``roc.png`` and ``pr.png``; regression: ``regression.png``;
    classification with labels only: nothing (no curve without scores).
    """
    if s.task == "regression":
        regression(s, step.artifact("regression.png"))
        return ["artifacts/regression.png"]
    if s.proba is None:
        return []
    roc_pr(s, step.artifact("roc.png"), step.artifact("pr.png"))
    return ["artifacts/roc.png", "artifacts/pr.png"]
