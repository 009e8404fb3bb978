"""Shared fixtures: run a template with papermill on small parameters, build a pack once per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    """``run_template("02_drift_simulation.ipynb", trials=3)`` -> results.json as a dict."""

    def _run(template: str, **kw):
        name = Path(template).stem
        return execute(template, tmp_path / "steps" / name, **kw)

    return _run


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ``python -m playbook ARGS`` and capture its output."""
    return subprocess.run([sys.executable, "-m", "playbook", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def bundled_pack(tmp_path_factory):
    """One full `playbook run` on the bundled data with small parameters, shared by the pack tests."""
    out = tmp_path_factory.mktemp("evidence")
    cfg = ROOT / "tests" / "data" / "small.yaml"
    proc = run_cli("run", str(cfg), "--out", str(out), "--name", "bundled", timeout=1800)
    return {"proc": proc, "pack": out / "bundled", "out": out}
