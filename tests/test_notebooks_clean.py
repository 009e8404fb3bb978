"""Committed notebooks stay reviewable: no outputs, no execution counts, valid nbformat 4, and every template keeps
exactly one `parameters` cell. The pre-commit hook (.pre-commit-config.yaml, nbstripout) keeps them so; this test
fails on any that slips by (a commit without the hook installed)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from .conftest import ROOT

TEMPLATES = sorted((ROOT / "templates").glob("*.ipynb"))
WORKSHOP = sorted((ROOT / "workshop").glob("**/*.ipynb"))  # none yet: covered as soon as there are
EXECUTED_KEYS = ("papermill", "execution", "ExecuteTime")  # metadata an executed notebook carries


def problems(path: Path) -> list[str]:
    """What keeps a notebook from being committed: outputs, execution counts, execution metadata, bad nbformat."""
    nb = nbformat.read(str(path), as_version=nbformat.NO_CONVERT)
    found = []
    if nb.nbformat != 4:
        found.append(f"nbformat {nb.nbformat}, not 4")
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        found.append(f"not valid nbformat: {str(exc).splitlines()[0]}")
    if "papermill" in nb.metadata:
        found.append("notebook metadata.papermill (an executed copy)")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {i}: {len(cell.outputs)} output(s)")
        if cell.get("execution_count") is not None:
            found.append(f"cell {i}: execution count {cell.execution_count}")
        for key in EXECUTED_KEYS:
            if key in cell.metadata:
                found.append(f"cell {i}: metadata.{key}")
    return found


def parameter_cells(path: Path) -> int:
    nb = nbformat.read(str(path), as_version=4)
    return sum("parameters" in (c.metadata.get("tags") or []) for c in nb.cells)


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.mark.parametrize("path", TEMPLATES + WORKSHOP, ids=_rel)
def test_committed_notebook_has_no_outputs(path):
    assert problems(path) == [], f"{_rel(path)}: run `pre-commit run nbstripout --files {_rel(path)}`"


@pytest.mark.parametrize("path", TEMPLATES, ids=_rel)
def test_template_keeps_exactly_one_parameters_cell(path):
    assert parameter_cells(path) == 1, f"{_rel(path)}: papermill injects parameters after the one `parameters` cell"


def test_there_are_templates():
    assert len(TEMPLATES) >= 6


def test_the_checks_catch_an_executed_notebook(tmp_path):
    """An executed copy (outputs, counts, papermill metadata, a second parameters cell) fails both checks."""
    nb = nbformat.read(str(TEMPLATES[0]), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    code[2].execution_count = 7
    code[3].metadata["papermill"] = {"duration": 1.0}
    nb.metadata["papermill"] = {"parameters": {}}
    extra = nbformat.v4.new_code_cell("x = 1")
    extra.metadata["tags"] = ["parameters"]
    nb.cells.append(extra)
    path = tmp_path / "dirty.ipynb"
    nbformat.write(nb, str(path))
    found = problems(path)
    assert any("output(s)" in f for f in found) and any("execution count 7" in f for f in found)
    assert any("metadata.papermill" in f and f.startswith("cell") for f in found)
    assert "notebook metadata.papermill (an executed copy)" in found
    assert parameter_cells(path) == 2


def test_pre_commit_strips_notebooks_and_keeps_their_tags_and_ids():
    cfg = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [h for repo in cfg["repos"] if repo["repo"].endswith("/nbstripout") for h in repo["hooks"]]
    assert [h["id"] for h in hooks] == ["nbstripout"]
    hook = hooks[0]
    args = " ".join(hook.get("args", []))
    assert "--keep-id" in args
    assert "tags" not in args and "--keep-output" not in args and "--keep-count" not in args
    pattern = re.compile(hook["files"])
    for path in TEMPLATES + [ROOT / "workshop" / "01_intro" / "exercise.ipynb"]:
        assert pattern.search(_rel(path)), _rel(path)
