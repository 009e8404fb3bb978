"""Exercise notebooks are made from the solution notebooks, so the two cannot drift apart.

A solution notebook (``workshop/solutions/NN_name.ipynb``) marks each answer cell with the tag ``answer`` and keeps
the exercise's version of that cell (``answer = ...``) in the cell's metadata (``workshop.exercise``).
:func:`make_exercise` replaces every answer cell's source by that version and drops the key; every other cell is
copied as it is. ``workshop/NN_name.ipynb`` must equal ``make_exercise`` of its solution (a test holds them to it).
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

ANSWER_TAG = "answer"
META_KEY = "workshop"


def workshop_dir() -> Path:
    from playbook.paths import repo_root

    return repo_root() / "workshop"


def solution_paths() -> list[Path]:
    return sorted((workshop_dir() / "solutions").glob("[0-9][0-9]_*.ipynb"))


def answer_cells(nb) -> list:
    return [c for c in nb.cells if ANSWER_TAG in c.get("metadata", {}).get("tags", [])]


def make_exercise(solution) -> nbformat.NotebookNode:
    """The exercise notebook of a solution notebook (a new object; the solution is not changed)."""
    nb = copy.deepcopy(solution)
    for cell in answer_cells(nb):
        meta = cell.metadata.pop(META_KEY, None) or {}
        if "exercise" not in meta:
            raise ValueError(f"an answer cell has no metadata {META_KEY}.exercise: {cell.source[:60]!r}")
        cell.source = meta["exercise"]
    return nb


def strip_outputs(nb) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    return nb


def write_exercises(check: bool = False) -> list[Path]:
    """Write each exercise notebook from its solution; with ``check``, only list those that differ."""
    changed = []
    for sol in solution_paths():
        target = workshop_dir() / sol.name
        text = nbformat.writes(make_exercise(nbformat.read(sol, as_version=4))) + "\n"
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            changed.append(target)
            if not check:
                target.write_text(text, encoding="utf-8")
    return changed
