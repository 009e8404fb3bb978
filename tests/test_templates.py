"""Template hygiene: the conventions every notebook of templates/ must follow."""

import json
import re

import papermill as pm
import pytest

from .conftest import TEMPLATES

NOTEBOOKS = sorted(TEMPLATES.glob("[0-9][0-9]_*.ipynb"))
WIRING = ["config", "output_dir", "pack_dir"]
MAX_CELL_LINES = 25  # about a screen: a longer cell is logic, and logic lives in playbook/ with unit tests
# what a template's code must leave to the library: file writes (step.write_json writes atomically and returns the
# evidence link; plots save their own PNG), and the matplotlib backend (MPLBACKEND decides it, the inline backend
# in JupyterLab)
FORBIDDEN = re.compile(r"\bopen\(|\bjson\.dumps?\(|matplotlib\.use|\.write_text\(|\.write_bytes\(")


def test_there_are_templates():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_template_conventions(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown"
    first = "".join(cells[0]["source"])
    assert first.lstrip().startswith("# "), "first cell starts with the title"
    assert "papermill" in first or "playbook run" in first, "first cell says how to run it headlessly"
    code = [c for c in cells if c["cell_type"] == "code"]
    for c in code:
        assert c.get("outputs", []) == [], f"outputs not cleared in {path.name}"
        assert c.get("execution_count") is None
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged parameters"
    params = pm.inspect_notebook(str(path))
    assert list(params)[:3] == WIRING
    for name, p in params.items():
        assert p["help"], f"{path.name}: parameter {name} has no '# help' comment"
        assert p["inferred_type_name"] != "None", f"{path.name}: parameter {name} has no type annotation"
    markdown = [c for c in cells if c["cell_type"] == "markdown"]
    assert len(markdown) >= len(code) // 2, "narrative between code cells"
    for c in code:  # the parameters cell is declarations, one per line (papermill reads them): no logic to move
        if c not in tagged:
            lines = len("".join(c["source"]).splitlines())
            assert lines <= MAX_CELL_LINES, f"{path.name}: a code cell of {lines} lines belongs in the library"
    assert any("step.save()" in "".join(c["source"]) for c in code)
    text = json.dumps(nb).lower()
    assert "exercise" in text, "templates end with exercises for self-study"


def test_every_parameter_line_parses():
    """papermill reads `name: type = default  # help` and skips (with a log warning) a line holding a second '=',
    e.g. in the help text: the parameter would silently vanish from `playbook templates` and validation."""
    import papermill as pm

    for nb in sorted(TEMPLATES.glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        src = "".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))["source"])
        names = [line.split(":", 1)[0].strip() for line in src.splitlines()
                 if line.strip() and not line.strip().startswith("#")]
        for line in src.splitlines():
            if line.strip() and not line.strip().startswith("#"):
                assert line.count("=") == 1, f"{nb.name}: {line}"
        assert list(pm.inspect_notebook(str(nb))) == names, nb.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_template_code_leaves_writes_and_backends_to_the_library(path):
    for i, c in enumerate(json.loads(path.read_text())["cells"]):
        if c["cell_type"] == "code":
            for line in "".join(c["source"]).splitlines():
                assert not FORBIDDEN.search(line), f"{path.name} cell {i}: {line.strip()}"


def test_the_rules_catch_what_they_forbid():
    for line in ('Path(step.artifact("a.json")).write_text(json.dumps(x))', "with open(p, 'w') as fh:",
                 "json.dump(x, fh)", 'matplotlib.use("Agg")'):
        assert FORBIDDEN.search(line), line
    for line in ('step.write_json("calibration.json", obj)', "step.figure('timeline.png')", "reopen(x)",
                 'print(step.artifact("x.prom").read_text())'):
        assert not FORBIDDEN.search(line), line
