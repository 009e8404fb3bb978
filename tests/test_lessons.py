"""Templates that stay lessons: their key figures inline (in the executed notebook and its HTML), writes through the
results API, one place for each default, one place for the tests' small parameters."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from playbook.results import Step
from tests.conftest import ROOT, TEMPLATES
from tests.params import QUICK, SMALL_STEPS, overrides, small

# The least number of figures each template shows inline when it runs on the bundled data with the small
# parameters of tests/data/small.yaml (the `bundled_pack`):
MIN_FIGURES = {
    # the audit's findings are counts and shares per column, read best as tables; its browsable per-column views
    # are Evidently's data summary (artifacts/data_summary.html), not figures of the notebook
    "01_data_audit": 0,
    # ROC and precision-recall curves, the reliability curve, the slices, the weak segments, the business value by
    # threshold and the permutation importance (the staleness figure needs data.timestamp, which the bundled data has
    # not)
    "02_model_evaluation": 7,
    # the latency through the API by concurrency and batch size
    "03_serving": 1,
    # the detection power per fault at the budget, and the simulated production days
    "04_monitoring_setup": 2,
    # the sensitivity heatmap, the timelines and the power by batch size (small.yaml asks for both)
    "05_drift_simulation": 3,
    # documents for people who sign off: PII findings, the model card and the datasheet as text and tables
    "06_governance": 0,
    # the gates, the verdict and the ML Test Score are tables; the pack's index.html shows them again
    "07_readiness_review": 0,
}


def _png_outputs(notebook: Path) -> int:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return sum("image/png" in out.get("data", {}) for c in nb["cells"] if c["cell_type"] == "code"
               for out in c.get("outputs", []))


def _img_tags(page: Path) -> list[str]:
    return re.findall(r"<img\b[^>]*>", page.read_text(encoding="utf-8"))


def test_every_template_declares_its_figures():
    assert set(MIN_FIGURES) == {p.stem for p in TEMPLATES.glob("[0-9][0-9]_*.ipynb")}


def test_every_template_shows_its_key_figures_inline(bundled_pack):
    """The executed notebooks of the shared pack (run with MPLBACKEND=Agg, as `playbook run` runs them) hold their
    figures as image/png outputs, and notebook.html shows each as an <img> with the image embedded."""
    steps = bundled_pack["pack"] / "steps"
    assert bundled_pack["proc"].returncode in (0, 1), bundled_pack["proc"].stderr[-2000:]
    for name, least in MIN_FIGURES.items():
        pngs = _png_outputs(steps / name / "notebook.ipynb")
        imgs = _img_tags(steps / name / "notebook.html")
        assert pngs >= least, f"{name}: {pngs} figures in notebook.ipynb, at least {least} expected"
        assert len(imgs) == pngs, f"{name}: {len(imgs)} <img> in notebook.html for {pngs} image outputs"
        assert all('src="data:image/png;base64,' in tag for tag in imgs), name


def test_the_inline_figures_are_the_saved_evidence(bundled_pack):
    """A figure the drift step shows is the PNG it saved under artifacts/ (byte for byte), not a second drawing."""
    import base64

    step = bundled_pack["pack"] / "steps" / "05_drift_simulation"
    nb = json.loads((step / "notebook.ipynb").read_text(encoding="utf-8"))
    shown = {base64.b64decode(out["data"]["image/png"]) for c in nb["cells"] if c["cell_type"] == "code"
             for out in c.get("outputs", []) if "image/png" in out.get("data", {})}
    for name in ("sensitivity_heatmap.png", "timelines.png", "power.png"):
        assert (step / "artifacts" / name).read_bytes() in shown, name


# -- the results API -----------------------------------------------------------------------------------------------

def test_write_json_writes_atomically_into_the_artifacts_and_returns_the_link(tmp_path):
    import numpy as np

    step = Step("lesson", tmp_path / "step")
    link = step.write_json("sub/calibration.json", {"b": np.float64(1 / 3), "a": np.int64(2), "c": float("nan")})
    assert link == "artifacts/sub/calibration.json"
    path = step.dir / link
    assert json.loads(path.read_text()) == {"a": 2, "b": 0.3333333333, "c": None}
    assert path.read_text().index('"a"') < path.read_text().index('"b"')  # sorted keys: deterministic bytes
    step.write_json("exact.json", {"x": 1 / 3}, round_floats=False)
    assert json.loads((step.artifacts_dir / "exact.json").read_text())["x"] == 1 / 3
    assert sorted(p.name for p in path.parent.iterdir()) == ["calibration.json"]  # no temporary file left
    assert step.as_dict()["artifacts"] == ["artifacts/exact.json", "artifacts/sub/calibration.json"]
    with pytest.raises(ValueError, match="inside artifacts"):
        step.write_json("../escape.json", {})


def test_write_json_never_leaves_half_a_file(tmp_path, monkeypatch):
    step = Step("lesson", tmp_path / "step")
    step.write_json("a.json", {"v": 1})

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        step.write_json("a.json", {"v": 2})
    assert json.loads((step.artifacts_dir / "a.json").read_text()) == {"v": 1}
    assert [p.name for p in step.artifacts_dir.iterdir()] == ["a.json"]


def test_figure_shows_a_saved_png_or_a_figure_as_an_image_output(tmp_path):
    import matplotlib

    matplotlib.use("Agg")  # this test process only (the library never chooses a backend)
    import matplotlib.pyplot as plt

    step = Step("lesson", tmp_path / "step")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    fig.savefig(step.artifact("line.png"))
    saved = step.figure("line.png")
    assert saved.format == "png" and saved.data == step.artifact("line.png").read_bytes()
    assert saved._repr_png_() is not None  # what IPython puts into the notebook as image/png
    drawn = step.figure(fig)
    assert drawn.data.startswith(b"\x89PNG") and fig.number not in plt.get_fignums()  # closed: not shown twice
    assert step.as_dict()["artifacts"] == ["artifacts/line.png"]  # a drawn figure is not written to the pack
    with pytest.raises(FileNotFoundError, match="artifacts/none.png was not written"):
        step.figure("none.png")
    assert step.figure("none.png", missing="no power estimate requested") == "no power estimate requested"


def test_the_plots_leave_the_backend_to_mplbackend(tmp_path):
    """Every figure of the drift, monitoring and evaluation steps is drawn with the backend MPLBACKEND names (the
    inline backend in JupyterLab), saved and closed; none switches to Agg behind the user's back."""
    script = f"""
import matplotlib, numpy as np, pandas as pd
from playbook.drift import plots
from playbook.evaluate import plots as eplots
from playbook.monitoring.checks import plot_timeline
from playbook.monitoring.sections import power_figure
import matplotlib.pyplot as plt
out = {str(tmp_path)!r}
m = pd.DataFrame({{"shift": ["none", "a", "a"], "severity": [0.0, 0.5, 1.0], "detection_rate": [0.0, 0.5, 1.0],
                  "metric_drop": [None, 0.01, 0.2], "model_error_rate": [0.0, 0.0, 0.0],
                  "silent_failure": [None, False, True], "noisy_alarm": [None, False, False]}})
plots.heatmap(m, out + "/h.png")
tl = pd.DataFrame({{"shift": ["a"], "timeline": ["sudden"], "detected": [True], "time_to_detection": [1]}})
plots.timeline_plot(tl, out + "/t.png", n_batches=6, onset=2, severity=1.0, period=3)
plot_timeline(pd.DataFrame({{"day": [1, 2], "drift_share": [0.0, 0.5], "status": ["ok", "alert"]}}), 2, out + "/m.png")
eplots.importance(pd.DataFrame({{"feature": ["x", "y"], "importance_mean": [0.2, 0.0], "importance_std": [0.01, 0.0],
                                "near_zero": [False, True], "metric": ["roc_auc", "roc_auc"]}}), out + "/i.png")
pw = pd.DataFrame({{"shift": ["no_drift", "a"], "power": [0.03, 0.9], "p_detect_within": [0.09, 1.0]}})
power_figure(pw, max_detection_days=3, detection_probability=0.9)
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert plt.get_fignums() == [1], plt.get_fignums()  # only the figure returned to be shown; the saved ones are closed
"""
    env = {**os.environ, "MPLBACKEND": "svg", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {p.name for p in tmp_path.iterdir()} == {"h.png", "t.png", "m.png", "i.png"}


def test_no_library_module_chooses_the_matplotlib_backend():
    for path in sorted((ROOT / "playbook").rglob("*.py")):
        assert "matplotlib.use(" not in path.read_text(encoding="utf-8"), path.relative_to(ROOT)


# -- one place for each default, one place for the small parameters -------------------------------------------------

def test_the_audit_defaults_come_from_the_template(tmp_path):
    """AuditParams reads its defaults from the template's parameters cell: change the cell and the class follows."""
    import nbformat

    from playbook.audit import params as ap

    own = {k: v for k, v in ap.template_defaults().items() if k not in ("config", "output_dir", "pack_dir")}
    assert own == {k: getattr(ap.AuditParams(), k) for k in own}
    nb = nbformat.read(TEMPLATES / ap.TEMPLATE, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert "max_categories: int = 50  #" in cell.source
    cell.source = cell.source.replace("max_categories: int = 50  #", "max_categories: int = 7  #")
    nbformat.write(nb, tmp_path / ap.TEMPLATE)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = ("import playbook.paths as p, pathlib; p.templates_dir = lambda: pathlib.Path(%r)\n"
            "from playbook.audit import AuditParams; print(AuditParams().max_categories)" % str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "7"


def test_the_small_parameters_name_declared_parameters():
    """A misspelt small parameter would silently run the template's default (papermill only warns)."""
    from playbook.runner import discover, template_parameters

    declared = {t.name: template_parameters(t.path) for t in discover()}
    for group in (SMALL_STEPS, QUICK):
        for step, params in group.items():
            assert step in declared, step
            unknown = set(params) - set(declared[step])
            assert not unknown, f"{step}: {sorted(unknown)} are not parameters of the template"


def test_small_and_overrides():
    assert small("drift_simulation", trials=1)["trials"] == 1
    assert small("drift_simulation")["trials"] == SMALL_STEPS["drift_simulation"]["trials"]
    assert overrides({"drift_simulation": {"timelines": ["sudden"], "trials": 3}}) == [
        'steps.drift_simulation.params.timelines=["sudden"]', "steps.drift_simulation.params.trials=3"]


def test_the_monitor_calibration_defaults_are_the_monitoring_templates():
    import inspect

    from playbook.audit.params import template_defaults
    from playbook.monitoring import setup as msetup

    cell = template_defaults("04_monitoring_setup.ipynb")
    sig = inspect.signature(msetup.make_config).parameters
    names = {"folds": "cv_folds"}
    for name in ("false_alarms", "per_batches", "correction", "replicates", "holdout", "margin", "bins",
                 "max_categories", "folds", "decision_threshold", "calibration_method"):
        assert sig[name].default == cell[names.get(name, name)], name
