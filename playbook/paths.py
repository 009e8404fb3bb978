"""Where the bundled templates and datasets live (source checkout or installed wheel)."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _first(*candidates: Path) -> Path:
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]


def repo_root() -> Path:
    return _PKG.parent


def templates_dir() -> Path:
    """templates/ of a source checkout, or the copy packed into the wheel."""
    return _first(_PKG.parent / "templates", _PKG / "_templates")


def dataset_dir() -> Path:
    """datasets/ of a source checkout, or the copy packed into the wheel."""
    return _first(_PKG.parent / "datasets", _PKG / "_datasets")
