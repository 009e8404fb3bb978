"""The small pack exercise 5 reads, and the CSV split the tutorial starts from.

``faulty_pack_config(folder)`` writes the bundled data with one integration fault (the current export lost a
column the model was trained with), and a pack config with small step parameters, so a whole pack builds in about a
minute; ``build_pack`` runs it through :func:`playbook.runner.run`. ``split_csv`` turns one CSV into the
``reference.csv`` / ``current.csv`` pair a pack config names (``python -m playbook.workshop split``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: step parameters that keep a whole pack small (the values of the test suite's SMALL_PARAMS and tests/data/small.yaml)
SMALL_STEPS = {
    "drift_simulation": {"params": {"trials": 3, "severities": [0.5, 1.0], "timelines": ["sudden"],
                                    "power_batch_sizes": []}},
    "model_evaluation": {"params": {"n_bootstrap": 30, "importance_repeats": 2, "importance_max_rows": 300,
                                    "latency_single_calls": 10, "latency_batch_size": 200, "training_seeds": 1,
                                    "spec_sample_rows": 100, "tuning_configurations": 4, "tuning_folds": 2,
                                    "cost_max_features": 6}},
    "monitoring_setup": {"params": {"replicates": 2000, "holdout": 500, "power_replicates": 50, "current_batches": 5,
                                    "timeline_days": 4, "timeline_onset": 2}},
}

#: the column the faulty current export lost
DROPPED = "telephone"


def faulty_pack_config(folder: str | Path, name: str = "workshop-credit", dropped: str = DROPPED) -> Path:
    """Write ``folder/data/{reference,current}.csv`` (the bundled data, the current export without ``dropped``) and
    ``folder/<name>.yaml`` with small step parameters; return the config's path."""
    import yaml

    from playbook.data import write_csv
    from playbook.workshop.data import POSITIVE, TARGET, bundled

    folder = Path(folder)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    ref, cur = bundled()
    if dropped not in cur.columns:
        raise ValueError(f"dropped={dropped!r} is not a column of the bundled data; choose one of {list(cur.columns)}.")
    write_csv(ref, folder / "data" / "reference.csv", index=False)
    write_csv(cur.drop(columns=[dropped]), folder / "data" / "current.csv", index=False)
    cfg = {"name": name, "seed": 0,
           "data": {"reference": "data/reference.csv", "current": "data/current.csv", "target": TARGET,
                    "positive_label": POSITIVE},
           "steps": SMALL_STEPS}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def build_pack(config: str | Path, out: str | Path) -> Path:
    """Build the pack of ``config`` under ``out`` (replacing an earlier one of its name); return its folder."""
    from playbook.runner import run

    res = run(str(config), out=out, force=True, progress=False, log=lambda msg: None)
    return Path(res.pack)


def split_csv(source: str | Path, folder: str | Path, current_share: float = 0.3, by: str | None = None,
              seed: int = 0) -> tuple[Path, Path]:
    """Split one CSV into ``folder/reference.csv`` and ``folder/current.csv``: the last ``current_share`` of the rows
    ordered by column ``by`` (time order: the current data is the most recent), else a seeded random share."""
    from playbook.data import load_table, write_csv

    if not 0 < current_share < 1:
        raise ValueError(f"--current-share {current_share}: give a share between 0 and 1, e.g. 0.3.")
    df = load_table(source, "data")
    if len(df) < 4:
        raise ValueError(f"{source}: {len(df)} rows is too few to split; the playbook needs a few hundred.")
    if by is not None:
        if by not in df.columns:
            raise ValueError(f"--by {by}: not a column of {source}; use one of {', '.join(map(str, df.columns))}.")
        order = np.argsort(pd.to_datetime(df[by], errors="coerce").fillna(pd.Timestamp.min).to_numpy()
                           if df[by].dtype == object else df[by].to_numpy(), kind="stable")
    else:
        order = np.random.default_rng(seed).permutation(len(df))
    n_cur = max(1, int(round(current_share * len(df))))
    ref_rows, cur_rows = np.sort(order[:-n_cur]), np.sort(order[-n_cur:])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ref_path, cur_path = folder / "reference.csv", folder / "current.csv"
    write_csv(df.iloc[ref_rows], ref_path, index=False)
    write_csv(df.iloc[cur_rows], cur_path, index=False)
    return ref_path, cur_path
