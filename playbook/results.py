"""The small results API every template uses to record its step.

A step writes two files into its folder:

* ``results.json`` - checks, metrics and artifact list. Deterministic: the same inputs give
  the same bytes (keys sorted, floats rounded, no wall-clock values).
* ``timings.json`` - measured durations and latencies (the non-deterministic part).

and puts its reports and plots under ``artifacts/``.

A check is ``{id, title, status, value, threshold, evidence, why}`` (plus ``ci``, ``inconclusive``,
``not_applicable`` when set) with a stable dotted id declared in :mod:`playbook.catalogue`.

Usage from a notebook::

    from playbook.results import Step
    step = Step("data_audit", output_dir)      # output_dir "" -> evidence/_interactive/<name>
    step.check("data.completeness.missing_share.reference", "Overall missing share", "pass", value=0.01,
               threshold={"max": 0.05}, evidence="artifacts/missing.json",
               why="Models trained on gaps fail silently when serving fills them differently.")
    step.metric("rows.reference", 700)
    step.timing("audit_seconds", 1.2)
    path = step.artifact("data_contract.json")   # -> <step dir>/artifacts/data_contract.json
    link = step.write_json("calibration.json", {...})   # atomic; -> "artifacts/calibration.json" (an evidence link)
    step.figure("timeline.png")                  # the saved PNG as an image output (JupyterLab and notebook.html)
    step.save()
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

STATUSES = ("pass", "warn", "fail", "error", "skip")
RESULTS_FILE = "results.json"
TIMINGS_FILE = "timings.json"
SCHEMA_VERSION = 1
_FLOAT_DIGITS = 10


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def interactive_dir(name: str) -> Path:
    """Where a step writes when it runs outside ``playbook run`` (JupyterLab, a script)."""
    base = os.environ.get("PLAYBOOK_INTERACTIVE_DIR")
    root = Path(base) if base else Path.cwd().resolve() / "evidence" / "_interactive"
    if not base and Path.cwd().resolve().name == "templates":
        root = Path.cwd().resolve().parent / "evidence" / "_interactive"
    return root / name


def to_jsonable(value: Any, round_floats: bool = True) -> Any:
    """Convert numpy / pandas scalars and containers to plain, deterministic JSON values.

    Floats are rounded to 10 significant digits so that results do not depend on the last bits
    of floating point summation order; NaN and infinities become ``None`` / strings.
    ``round_floats=False`` keeps floats exact: for values that are compared against data later
    (a contract's min / max must not move inward by rounding).
    """
    return _convert(value, _FLOAT_DIGITS if round_floats else None)


def _convert(value: Any, digits: int | None) -> Any:
    try:  # numpy is always present in practice, but keep this module importable without it
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None  # type: ignore[assignment]
    if value is None or isinstance(value, (bool, str)):
        return value
    if np is not None:
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            value = float(value)
        elif isinstance(value, np.ndarray):
            return [_convert(v, digits) for v in value.tolist()]
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value == 0:
            return 0.0
        return value if digits is None else float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {str(k): _convert(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_convert(v, digits) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, Path):
        return value.as_posix()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return _convert(value.item(), digits)
    return str(value)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write a text file via a temp file in the same folder + rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; pack files are meant to be read by others
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json_atomic(path: Path, data: Any, round_floats: bool = True) -> None:
    """Write JSON deterministically (sorted keys, 2-space indent) via a temp file + rename."""
    text = json.dumps(to_jsonable(data, round_floats), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    write_text_atomic(path, text)


def figure_png(fig, dpi: int = 100) -> bytes:
    """A matplotlib figure as PNG bytes (no timestamp in the file); the figure is closed, so an inline backend does
    not show it a second time."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    try:
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception:  # noqa: BLE001  (a figure made without pyplot has nothing to close)
        pass
    return buf.getvalue()


@dataclass
class Check:
    id: str
    title: str
    status: str
    value: Any = None
    threshold: Any = None
    evidence: Any = None
    why: str = ""
    ci: Any = None
    inconclusive: str | None = None
    not_applicable: bool = False

    @classmethod
    def from_dict(cls, c: dict) -> "Check":
        return cls(c["id"], c.get("title") or c["id"], c["status"], c.get("value"), c.get("threshold"),
                   c.get("evidence"), c.get("why", ""), c.get("ci"), c.get("inconclusive"),
                   bool(c.get("not_applicable", False)))

    def as_dict(self) -> dict:
        out = {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "value": to_jsonable(self.value),
            "threshold": to_jsonable(self.threshold),
            "evidence": to_jsonable(self.evidence),
            "why": self.why,
        }
        if self.ci is not None:
            out["ci"] = to_jsonable(list(self.ci))
        if self.inconclusive:
            out["inconclusive"] = self.inconclusive
        if self.not_applicable:
            out["not_applicable"] = True
        return out


#: The Step recording into each artifacts folder (the latest made for it), for :func:`step_owning`.
_LIVE_STEPS: "weakref.WeakValueDictionary[Path, Step]" = weakref.WeakValueDictionary()


@dataclass
class Step:
    """Records one step's checks, metrics, artifacts and timings."""

    name: str
    output_dir: str | Path | None = None
    checks: list[Check] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    policy: Any = None  # the pack's policy: the gate in force decides each check's status (playbook.catalogue)

    def __post_init__(self) -> None:
        if not self.name or not str(self.name).replace("_", "").isalnum():
            raise ValueError(f"step name {self.name!r} must be letters, digits and underscores")
        self.dir = Path(self.output_dir) if self.output_dir else interactive_dir(self.name)
        self.dir = self.dir.resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.artifacts_dir = self.dir / "artifacts"
        _LIVE_STEPS[self.artifacts_dir] = self

    # -- recording -------------------------------------------------------------------------
    def check(
        self,
        id: str,
        title: str,
        status: str,
        value: Any = None,
        threshold: Any = None,
        evidence: Any = None,
        why: str = "",
        *,
        ci: Any = None,
        inconclusive: str | None = None,
        not_applicable: bool = False,
    ) -> dict:
        """Record a check. ``status`` is one of pass, warn, fail, error, skip.

        The id must be declared in :mod:`playbook.catalogue`; the gate in force for it (the policy's, else the
        catalogue's default) decides the recorded status, exactly as the verdict will. Re-recording an id replaces
        the earlier record (so re-running a notebook cell is safe).
        """
        from playbook import catalogue

        c = catalogue.check(id, status, value, title=title or None, threshold=threshold, evidence=evidence, why=why,
                            ci=ci, inconclusive=inconclusive, not_applicable=not_applicable)
        c = catalogue.settle(c, self.policy)
        check = Check.from_dict(c)
        self.checks = [x for x in self.checks if x.id != id] + [check]
        return check.as_dict()

    def add_checks(self, checks: Iterable[dict]) -> None:
        """Record checks given as dicts (as made by :func:`playbook.catalogue.check`)."""
        for c in checks:
            self.check(
                c["id"], c.get("title", c["id"]), c["status"], c.get("value"),
                c.get("threshold"), c.get("evidence"), c.get("why", ""), ci=c.get("ci"),
                inconclusive=c.get("inconclusive"), not_applicable=bool(c.get("not_applicable", False)),
            )

    def metric(self, name: str, value: Any) -> None:
        """Record a deterministic metric (goes to results.json)."""
        self.metrics[name] = to_jsonable(value)

    def timing(self, name: str, value: Any) -> None:
        """Record a measured duration or latency (goes to timings.json, not results.json)."""
        self.timings[name] = to_jsonable(value)

    def note(self, key: str, value: Any) -> None:
        """Record descriptive information (e.g. the inferred task) in results.json ``info``."""
        self.info[key] = to_jsonable(value)

    def summary(self, key: str, value: Any) -> None:
        """Contribute a top-level entry to the pack's summary.json (e.g. ``ml_test_score``)."""
        self.extra[key] = to_jsonable(value)

    def artifact(self, relpath: str) -> Path:
        """Return the path of an artifact file (parents created). Link it as ``artifacts/<relpath>``."""
        rel = Path(relpath)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"artifact path {relpath!r} must be relative and stay inside artifacts/")
        path = self.artifacts_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def link(self, relpath: str) -> str:
        """The evidence link of an artifact (``artifacts/<relpath>``), as checks and the pack's pages cite it."""
        self.artifact(relpath)  # validates the path
        return (Path("artifacts") / relpath).as_posix()

    def write_json(self, relpath: str, obj: Any, *, round_floats: bool = True) -> str:
        """Write ``obj`` as ``artifacts/<relpath>``, atomically (a temp file in the same folder, then a rename) and
        deterministically (sorted keys, 2-space indent, numpy / pandas values made plain, floats rounded to 10
        significant digits unless ``round_floats=False``). Returns the evidence link ``artifacts/<relpath>``."""
        write_json_atomic(self.artifact(relpath), obj, round_floats=round_floats)
        return self.link(relpath)

    def figure(self, figure: Any, *, width: int | None = None, missing: str | None = None):
        """A figure as an image output: ``IPython.display.Image`` (``image/png``) of the artifact ``figure`` (a
        PNG saved by a plotting function, e.g. ``"timeline.png"``) or of a matplotlib figure, rendered in memory
        and closed (not written to the pack). Make it the last expression of a cell, or pass it to ``display``:
        it shows in JupyterLab and in ``notebook.html`` whatever the matplotlib backend (``MPLBACKEND=Agg``
        under ``playbook run``). ``missing``: the text to show instead when the artifact was not made (a section
        the parameters turned off); without it a missing artifact raises ``FileNotFoundError``."""
        from IPython.display import Image

        if isinstance(figure, (str, Path)):
            path = self.artifact(str(figure))
            if not path.is_file():
                if missing is not None:
                    return missing
                raise FileNotFoundError(f"artifacts/{figure} was not written; run the section that plots it first")
            return Image(data=path.read_bytes(), format="png", width=width)
        return Image(data=figure_png(figure), format="png", width=width)

    # -- output ----------------------------------------------------------------------------
    def as_dict(self) -> dict:
        artifacts = []
        if self.artifacts_dir.exists():
            artifacts = sorted(
                p.relative_to(self.dir).as_posix()
                for p in self.artifacts_dir.rglob("*")
                if p.is_file()
            )
        return {
            "schema_version": SCHEMA_VERSION,
            "step": self.name,
            "status": self.status(),
            "checks": [c.as_dict() for c in sorted(self.checks, key=lambda c: c.id)],
            "metrics": dict(sorted(self.metrics.items())),
            "info": dict(sorted(self.info.items())),
            "summary": dict(sorted(self.extra.items())),
            "artifacts": artifacts,
        }

    def status(self) -> str:
        statuses = {c.status for c in self.checks}
        for s in ("error", "fail", "warn"):
            if s in statuses:
                return s
        return "pass" if statuses - {"skip"} else ("skip" if statuses else "pass")

    def save(self) -> Path:
        """Write results.json and timings.json. Returns the results.json path."""
        path = self.dir / RESULTS_FILE
        write_json_atomic(path, self.as_dict())
        write_json_atomic(self.dir / TIMINGS_FILE, {"step": self.name, "timings": self.timings})
        from playbook.parallel import release_helpers

        release_helpers()  # a model's joblib pool would hold the kernel at its shutdown (see there)
        return path

    def table(self):
        """The recorded checks as a DataFrame, for display in a notebook."""
        import pandas as pd

        rows = [c.as_dict() for c in self.checks]
        cols = ["id", "status", "value", "threshold", "title", "why"]
        return pd.DataFrame(rows, columns=cols + ["evidence"])[cols]


def step_owning(path: str | Path) -> "Step | None":
    """The step (still referenced) whose artifacts folder holds ``path``, or None. A library function that writes
    an artifact may record the checks that judge it on that step (the monitoring hand-off does,
    :mod:`playbook.monitoring.handoff`), so a notebook gets them without a cell of its own."""
    p = Path(path).resolve()
    for folder in p.parents:
        step = _LIVE_STEPS.get(folder)
        if step is not None:
            return step
    return None


def load_results(step_dir: str | Path) -> dict | None:
    """Read a step folder's results.json; None when the step has not run."""
    path = Path(step_dir) / RESULTS_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
