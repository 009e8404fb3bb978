"""Shared fixtures: run a template with papermill on small parameters, build a pack once per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.params import SMALL_CONFIG, SMALL_PARAMS, SMALL_STEPS, small  # noqa: F401  (the small parameters, once)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def execute(template: str, step_dir: Path, config: str = "", pack_dir: str = "", timeout: int = 600, **params) -> dict:
    """Execute ``templates/<template>`` with papermill into ``step_dir``; return its results.json."""
    import papermill as pm

    step_dir = Path(step_dir)
    step_dir.mkdir(parents=True, exist_ok=True)
    parameters = {"config": str(config), "output_dir": str(step_dir), "pack_dir": str(pack_dir), **params}
    pm.execute_notebook(
        str(TEMPLATES / template), str(step_dir / "notebook.ipynb"), parameters=parameters,
        kernel_name="python3", cwd=str(step_dir), progress_bar=False, execution_timeout=timeout,
    )
    return json.loads((step_dir / "results.json").read_text())


@pytest.fixture
def run_template(tmp_path):
    """``run_template("05_drift_simulation.ipynb", trials=3)`` -> results.json as a dict."""

    def _run(template: str, **kw):
        name = Path(template).stem
        return execute(template, tmp_path / "steps" / name, **kw)

    return _run


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m playbook ARGS`` (in ``env``, default this process's environment) and capture its output."""
    return subprocess.run([sys.executable, "-m", "playbook", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


def _encode(value):
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if isinstance(value, subprocess.CompletedProcess):
        return {"__proc__": [value.args, value.returncode, value.stdout, value.stderr]}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value):
    if isinstance(value, dict) and "__path__" in value:
        return Path(value["__path__"])
    if isinstance(value, dict) and "__proc__" in value:
        return subprocess.CompletedProcess(*value["__proc__"])
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    return value


def shared(tmp_path_factory, name: str, build):
    """``build(folder)`` once per test run, whichever xdist worker asks first; the others wait for it and read
    its result back (paths, completed processes, plain values), so a pack shared by many test files is built
    once rather than once per worker. Tests only read what it made."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / f"shared-{name}"
    with FileLock(str(folder) + ".lock"):
        done = folder / "fixture.json"
        if done.exists():
            return _decode(json.loads(done.read_text()))
        folder.mkdir(parents=True, exist_ok=True)
        value = build(folder)
        done.write_text(json.dumps(_encode(value)))
        return value


@pytest.fixture(scope="session")
def bundled_pack(tmp_path_factory):
    """One full `playbook run` on the bundled data with small parameters, shared by the pack tests."""

    def build(out):
        proc = run_cli("run", str(SMALL_CONFIG), "--out", str(out), "--name", "bundled", timeout=1800)
        return {"proc": proc, "pack": out / "bundled", "out": out}

    return shared(tmp_path_factory, "bundled", build)


def own_pack(folder: Path, name: str, reference, current, data: dict, params=SMALL_PARAMS) -> dict:
    """Write two frames as CSV, a config with ``data`` (plus the file paths), run the whole playbook."""
    import yaml

    (folder / "data").mkdir(parents=True, exist_ok=True)
    reference.to_csv(folder / "data" / "reference.csv", index=False)
    current.to_csv(folder / "data" / "current.csv", index=False)
    cfg = folder / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"reference": "data/reference.csv", "current": "data/current.csv", **data}}))
    out = folder / "evidence"
    args = ["run", str(cfg), "--out", str(out), "-q"]
    for p in params:
        args += ["-p", p]
    proc = run_cli(*args, timeout=1800)
    return {"proc": proc, "pack": out / name, "out": out, "config": cfg}


@pytest.fixture(scope="session")
def multiclass_pack(tmp_path_factory):
    """A newcomer's own multiclass CSV (wine cultivars) with only the three required keys."""
    from sklearn.datasets import load_wine

    df = load_wine(as_frame=True).frame.sample(frac=1, random_state=0)
    df = df.rename(columns={"target": "Cultivar Name"})
    df["Cultivar Name"] = df["Cultivar Name"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    return shared(tmp_path_factory, "wine",
                  lambda folder: own_pack(folder, "wine", df.iloc[:120], df.iloc[120:], {"target": "Cultivar Name"}))


def house_prices(n: int = 900, seed: int = 0):
    """A regression frame that looks like a real housing export: prices in large units, a sale date, a constant
    column, an id column, categorical neighbourhoods."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sqft = rng.normal(1800, 500, n).clip(400, 6000).round()
    beds = rng.integers(1, 6, n)
    hood = rng.choice(["Old Town", "Riverside", "Hillcrest", "Northgate"], n, p=[0.3, 0.3, 0.2, 0.2])
    built = rng.integers(1920, 2020, n)
    premium = pd.Series(hood).map({"Old Town": 40_000, "Riverside": 25_000, "Hillcrest": 60_000, "Northgate": 0})
    price = 30_000 + 140 * sqft + 9_000 * beds + 800 * (built - 1920) + premium.to_numpy() + rng.normal(0, 25_000, n)
    return pd.DataFrame({
        "Parcel ID": [f"P-{100000 + i}" for i in range(n)], "SqFt Living": sqft, "Bedrooms": beds,
        "Neighborhood": hood, "Year Built": built, "Country": "US",
        "Sale Price": price.round(-2),
    })


@pytest.fixture(scope="session")
def regression_pack(tmp_path_factory):
    """A regression pack on a housing-like frame (target in large units), split at random: no drift."""
    df = house_prices()
    return shared(tmp_path_factory, "houses", lambda folder: own_pack(folder, "houses", df.iloc[:600], df.iloc[600:],
                                                                       {"target": "Sale Price", "id": ["Parcel ID"]}))
