"""What a checker tells the learner: right or not, why, and where to look.

Every ``check_*`` function of :mod:`playbook.workshop` returns a :class:`Feedback`, shows it in the notebook
(it renders as Markdown) and keeps it in :data:`RECORD`, so the last cell of an exercise notebook can write them
all to ``feedback.json`` (:func:`save_feedback`); the tests read that file to prove every checker of a solution
notebook said "right".
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from numbers import Real
from pathlib import Path
from typing import Any

#: every feedback given in this process, in order (the notebook's kernel: one notebook)
RECORD: list["Feedback"] = []

FEEDBACK_FILE = "feedback.json"


@dataclass
class Feedback:
    """A checker's answer. ``ok``: the answer is right; ``message``: why (or what is wrong); ``hint``: the evidence
    to look at when it is not right (None when it is)."""

    exercise: str
    ok: bool
    message: str
    hint: str | None = None

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        head = "RIGHT" if self.ok else "NOT YET"
        text = f"[{self.exercise}] {head}: {self.message}"
        return text + (f"\nHint: {self.hint}" if self.hint else "")

    def _repr_markdown_(self) -> str:
        head = "✅ **Right.**" if self.ok else "❌ **Not yet.**"
        text = f"{head} {self.message}"
        return text + (f"\n\n**Look at:** {self.hint}" if self.hint else "")

    def as_dict(self) -> dict:
        return asdict(self)


def give(exercise: str, ok: bool, message: str, hint: str | None = None) -> Feedback:
    """Make a feedback and keep it in :data:`RECORD`."""
    fb = Feedback(exercise, bool(ok), message, None if ok else (hint or "re-read the cell above and its output."))
    RECORD.append(fb)
    return fb


def save_feedback(output_dir: str | Path = "") -> Path | None:
    """Write every feedback of this kernel to ``output_dir/feedback.json`` (nothing when ``output_dir`` is empty)."""
    if not output_dir:
        return None
    path = Path(output_dir) / FEEDBACK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([f.as_dict() for f in RECORD], indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def summary() -> str:
    """One line: how many answers were right."""
    right = sum(f.ok for f in RECORD)
    return f"{right} of {len(RECORD)} answers right" + ("." if right == len(RECORD) else ": look at the hints above.")


# -- the shape of an answer ----------------------------------------------------------------------------------------
def unanswered(answer: Any) -> bool:
    """True when ``answer`` still holds the placeholder ``...`` (itself, or as a value of a dict / list)."""
    if answer is Ellipsis:
        return True
    if isinstance(answer, dict):
        return any(v is Ellipsis for v in answer.values())
    if isinstance(answer, (list, tuple, set)):
        return any(v is Ellipsis for v in answer)
    return False


def placeholder(exercise: str, what: str) -> Feedback:
    return give(exercise, False, f"the answer still holds the placeholder `...`: replace it with {what}.",
                "the exercise cell: every `...` is a value for you to fill in.")


def as_number(value: Any) -> float | None:
    """A real, finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def keys_problem(exercise: str, answer: Any, keys: list[str], example: str) -> Feedback | None:
    """A feedback when ``answer`` is not a dict with exactly ``keys``; None when it is."""
    if not isinstance(answer, dict):
        return give(exercise, False, f"the answer must be a dict, like {example}; got a {type(answer).__name__}.",
                    "the exercise cell shows the shape of the answer.")
    missing = [k for k in keys if k not in answer]
    extra = sorted(str(k) for k in answer if k not in keys)
    if missing or extra:
        parts = ([f"missing key(s) {', '.join(map(repr, missing))}"] if missing else []) + (
            [f"unknown key(s) {', '.join(map(repr, extra))}"] if extra else [])
        return give(exercise, False, f"the answer's keys are not right: {'; '.join(parts)}. The keys are "
                    f"{', '.join(map(repr, keys))}.", "the exercise cell lists the keys to fill in.")
    return None
