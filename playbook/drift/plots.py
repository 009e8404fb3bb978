"""The drift step's figures and tables: the sensitivity heatmap, the timelines, the power grid.

Public API (each plot saves a PNG at ``path``, without a timestamp in its metadata, and returns the figure, closed:
the template displays the saved PNG with ``step.figure(name)``; the backend is whatever ``MPLBACKEND`` says)::

    heatmap(matrix, path)                        # detection rate (and metric drop) by fault and severity
    timeline_plot(tl, path, n_batches=30, onset=10, severity=1.0, period=7)
    power_plot(pw, path, target=0.8, max_false_alarm_rate=0.1)
    power_table(pw)                              # one row per fault: detection rate per batch size
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from playbook.drift.artifacts import clean_value
from playbook.drift.engine import NO_SHIFT
from playbook.drift.timeline import schedule


def _save(fig, path):
    """Save the PNG (no timestamp in it) and close the figure: the template shows the saved file
    (``step.figure(name)``), so an inline backend must not show it a second time."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return fig


def heatmap(matrix: pd.DataFrame, path, title: str = "Detection rate by fault and severity"):
    """Detection-rate heatmap (and relative metric drop when measured); S = silent failure,
    N = noisy alarm. Saves a PNG at ``path`` and returns the figure."""
    import matplotlib.pyplot as plt

    shifted = matrix[matrix["shift"] != NO_SHIFT]
    names = list(dict.fromkeys(shifted["shift"]))
    sevs = sorted(shifted["severity"].unique())
    fa = matrix.loc[matrix["shift"] == NO_SHIFT, "detection_rate"]
    det = np.full((len(names), len(sevs)), np.nan)
    drop = np.full_like(det, np.nan)
    marks = [["" for _ in sevs] for _ in names]
    refused = np.zeros_like(det, dtype=bool)
    for r in shifted.itertuples():
        i, j = names.index(r.shift), sevs.index(r.severity)
        det[i, j] = r.detection_rate
        drop[i, j] = r.metric_drop if r.metric_drop is not None else np.nan
        refused[i, j] = bool(r.model_error_rate >= 0.5)
        marks[i][j] = "S" if r.silent_failure is True else ("N" if r.noisy_alarm is True else "")
    has_drop = np.isfinite(drop).any() or refused.any()
    fig, axes = plt.subplots(1, 2 if has_drop else 1, figsize=(12 if has_drop else 7, 0.42 * len(names) + 2),
                             squeeze=False)
    ax = axes[0][0]
    im = ax.imshow(det, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    for i in range(len(names)):
        for j in range(len(sevs)):
            if np.isfinite(det[i, j]):
                ax.text(j, i, f"{det[i, j]:.0%}{' ' + marks[i][j] if marks[i][j] else ''}", ha="center",
                        va="center", fontsize=8, fontweight="bold" if marks[i][j] else "normal")
    ax.set_xticks(range(len(sevs)), [f"{s:g}" for s in sevs])
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("severity")
    fa_txt = f" (false alarms at severity 0: {float(fa.iloc[0]):.0%})" if len(fa) else ""
    ax.set_title(f"{title}{fa_txt}\nS = silent failure, N = noisy alarm", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.04)
    if has_drop:
        ax2 = axes[0][1]
        lim = max(0.05, float(np.nanmax(np.abs(drop)))) if np.isfinite(drop).any() else 0.05
        im2 = ax2.imshow(drop, vmin=-lim, vmax=lim, cmap="RdBu_r", aspect="auto")
        for i in range(len(names)):
            for j in range(len(sevs)):
                if np.isfinite(drop[i, j]):
                    ax2.text(j, i, f"{drop[i, j]:+.0%}", ha="center", va="center", fontsize=8)
                elif refused[i, j]:
                    ax2.text(j, i, "refused", ha="center", va="center", fontsize=7, color="dimgrey")
        ax2.set_xticks(range(len(sevs)), [f"{s:g}" for s in sevs])
        ax2.set_yticks(range(len(names)), [])
        ax2.set_xlabel("severity")
        ax2.set_title("Relative loss of the model metric (refused: the model rejects the batch)", fontsize=10)
        fig.colorbar(im2, ax=ax2, fraction=0.04)
    fig.tight_layout()
    return _save(fig, path)


def timeline_plot(timeline: pd.DataFrame, path, *, n_batches: int, onset: int,
                  severity: float, period: int):
    """The three severity schedules with the detection day of each fault marked."""
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(timeline["timeline"]))
    fig, axes = plt.subplots(len(kinds), 1, figsize=(9, 2.2 * len(kinds)), sharex=True, squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds):
        sev = schedule(kind, n_batches, onset, severity, period)
        ax.step(range(n_batches), sev, where="mid", color="grey", label="severity")
        g = timeline[(timeline["timeline"] == kind) & (timeline["detected"] == True)]  # noqa: E712
        days = (g["time_to_detection"] + onset).astype(int)
        counts = days.value_counts().sort_index()
        ax.bar(counts.index, counts.to_numpy() / max(len(timeline[timeline["timeline"] == kind]), 1),
               color="tab:red", alpha=0.6, label="share of faults first detected that day")
        ax.axvline(onset - 0.5, color="black", lw=0.8, ls="--")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(kind)
    axes[-1, 0].set_xlabel("batch (day)")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def power_plot(pw: pd.DataFrame, path, target: float = 0.8, max_false_alarm_rate: float = 0.1):
    """Detection rate by fault and batch size as a grid; the first size reaching ``target`` is boxed.

    Sizes at which the monitors are too noisy on clean data (the "none" row) are greyed out;
    sizes after the minimum were not needed and are left blank.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    rows = [r for r in pw.itertuples() if r.rates or r.skipped]
    sizes = sorted({int(k) for r in rows for k in r.rates})
    grid = np.full((len(rows), len(sizes)), np.nan)
    for i, r in enumerate(rows):
        for k, v in r.rates.items():
            grid[i, sizes.index(int(k))] = v
    fig, ax = plt.subplots(figsize=(1.1 * len(sizes) + 3.5, 0.36 * len(rows) + 1.6))
    is_none = np.array([r.shift == NO_SHIFT for r in rows])
    faults_grid = np.where(is_none[:, None], np.nan, grid)
    none_grid = np.where(is_none[:, None], grid, np.nan)
    ax.imshow(faults_grid, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    ax.imshow(none_grid, vmin=0, vmax=1, cmap="RdYlGn_r", aspect="auto")  # false alarms: high is bad
    none = next((r for r in rows if r.shift == NO_SHIFT), None)
    for i, r in enumerate(rows):
        for j, size in enumerate(sizes):
            v = grid[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=8)
            elif r.skipped:
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="grey")
        mb = clean_value("min_batch_size", r.min_batch_size)
        if mb is not None:
            j = sizes.index(int(mb))
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2, color="black"))
    if none is not None:
        for j, size in enumerate(sizes):
            if none.rates.get(size, 0) > max_false_alarm_rate:
                ax.axvspan(j - 0.5, j + 0.5, color="grey", alpha=0.25)
    ax.set_xticks(range(len(sizes)), [str(s) for s in sizes])
    ax.set_yticks(range(len(rows)), ["no fault (false alarms)" if r.shift == NO_SHIFT else r.shift for r in rows])
    ax.set_xlabel("rows per batch")
    ax.set_title(f"Detection rate by batch size; boxed: smallest batch reaching {target:.0%}\n"
                 "grey: the monitors are too noisy on clean data at that size", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def power_table(pw: pd.DataFrame) -> pd.DataFrame:
    """One row per fault: the detection rate at each tried batch size and the minimum batch size."""
    sizes = sorted({int(k) for r in pw["rates"] for k in r})
    rows = []
    for r in pw.itertuples():
        row = {"shift": r.shift, "min_batch_size": clean_value("min_batch_size", r.min_batch_size)}
        for s in sizes:
            row[f"n={s}"] = r.rates.get(s)
        rows.append(row)
    out = pd.DataFrame(rows)
    out["min_batch_size"] = out["min_batch_size"].astype("Int64")
    return out


__all__ = ["heatmap", "power_plot", "power_table", "timeline_plot"]
