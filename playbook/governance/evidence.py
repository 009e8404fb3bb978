"""Read what the pack's steps recorded: their results.json, checks and artifacts.

Works on a pack folder (``steps/NN_<name>/results.json``), on an ``evidence/_interactive`` folder
(``<name>/results.json``), or from a context (``ctx.previous(name)`` for each step), plus steps still
being recorded in memory (the governance step's own checks).
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

#: The playbook's steps in run order (a pack may hold any subset).
STEP_ORDER = ("data_audit", "model_evaluation", "serving", "monitoring_setup", "drift_simulation", "governance",
              "readiness_review")

#: Check statuses that show a test was actually carried out (skip and error do not).
EVIDENCE_STATUSES = ("pass", "warn", "fail")


def _step_name(dirname: str) -> str:
    m = re.match(r"^\d+_(.+)$", dirname)
    return m.group(1) if m else dirname


@dataclass
class Evidence:
    """The results of the steps of one pack (or interactive run)."""

    steps: dict[str, dict] = field(default_factory=dict)   # step name -> results.json content
    dirs: dict[str, str] = field(default_factory=dict)     # step name -> folder relative to root
    root: Path | None = None                               # pack root (or the interactive folder)

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_folder(cls, root: str | Path, *, exclude: Iterable[str] = ()) -> "Evidence":
        """Read every ``results.json`` under ``root/steps/*`` (a pack) or ``root/*`` (interactive)."""
        root = Path(root).resolve()
        base = root / "steps" if (root / "steps").is_dir() else root
        ev = cls(root=root)
        excl = set(exclude)
        if not base.is_dir():
            return ev
        for d in sorted(p for p in base.iterdir() if p.is_dir()):
            res = d / "results.json"
            if not res.exists():
                continue
            try:
                data = json.loads(res.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            name = data.get("step") or _step_name(d.name)
            if name in excl or _step_name(d.name) in excl:
                continue
            ev.steps[name] = data
            ev.dirs[name] = d.relative_to(root).as_posix()
        return ev

    @classmethod
    def from_context(cls, ctx, *, names: Iterable[str] = STEP_ORDER, exclude: Iterable[str] = ()) -> "Evidence":
        """Earlier steps through ``ctx.previous`` (pack run or interactive)."""
        ev = cls()
        excl = set(exclude)
        root = getattr(ctx, "pack_dir", None)
        for name in names:
            if name in excl:
                continue
            res = ctx.previous(name)
            if res is None:
                continue
            ev.steps[name] = res
            d = ctx.step_dir(name)
            if d is not None:
                d = Path(d).resolve()
                if root is None:
                    root = d.parent.parent if d.parent.name == "steps" else d.parent
                try:
                    ev.dirs[name] = d.relative_to(Path(root).resolve()).as_posix()
                except ValueError:
                    ev.dirs[name] = d.name
        ev.root = Path(root).resolve() if root is not None else None
        return ev

    def add_step(self, name: str, results: dict, dirname: str | None = None) -> None:
        """Add (or replace) a step's results, e.g. the running step's ``step.as_dict()``."""
        self.steps[name] = results
        if dirname is not None:
            self.dirs[name] = dirname
        elif name not in self.dirs:
            self.dirs[name] = name

    # -- queries --------------------------------------------------------------------------------------
    def present(self, name: str) -> bool:
        return name in self.steps

    def checks(self) -> list[dict]:
        """Every check with its ``step`` and ``step_dir``, in step order then id order."""
        out = []
        order = {n: i for i, n in enumerate(STEP_ORDER)}
        for name in sorted(self.steps, key=lambda n: (order.get(n, 99), n)):
            for c in self.steps[name].get("checks", []):
                out.append({**c, "step": name, "step_dir": self.dirs.get(name, name)})
        return out

    def check(self, check_id: str) -> dict | None:
        for c in self.checks():
            if c["id"] == check_id:
                return c
        return None

    def match(self, patterns: str | Iterable[str], statuses: Iterable[str] | None = EVIDENCE_STATUSES) -> list[dict]:
        """Checks whose id matches any glob in ``patterns`` (and whose status is in ``statuses``)."""
        pats = [patterns] if isinstance(patterns, str) else list(patterns)
        allowed = None if statuses is None else set(statuses)
        return [c for c in self.checks()
                if any(fnmatch.fnmatchcase(c["id"], p) for p in pats) and (allowed is None or c.get("status") in allowed)]

    def metrics(self, name: str) -> dict:
        return dict((self.steps.get(name) or {}).get("metrics") or {})

    def info(self, name: str) -> dict:
        return dict((self.steps.get(name) or {}).get("info") or {})

    def summary(self, name: str) -> dict:
        return dict((self.steps.get(name) or {}).get("summary") or {})

    def artifacts(self, name: str) -> list[str]:
        """A step's artifacts, relative to its folder (``artifacts/...``)."""
        return list((self.steps.get(name) or {}).get("artifacts") or [])

    def artifact_path(self, name: str, pattern: str) -> str | None:
        """Root-relative path of the first artifact of ``name`` whose path matches the glob ``pattern``."""
        for a in self.artifacts(name):
            if fnmatch.fnmatchcase(a, pattern) or fnmatch.fnmatchcase(a, f"artifacts/{pattern}"):
                return f"{self.dirs.get(name, name)}/{a}"
        return None

    def artifact_file(self, name: str, pattern: str) -> Path | None:
        rel = self.artifact_path(name, pattern)
        if rel is None or self.root is None:
            return None
        p = self.root / rel
        return p if p.exists() else None

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.checks():
            counts[c.get("status", "?")] = counts.get(c.get("status", "?"), 0) + 1
        return dict(sorted(counts.items()))


def evidence_link(check: dict) -> list[str]:
    """Root-relative evidence paths of a check (its ``evidence`` is relative to its step folder)."""
    ev = check.get("evidence")
    items = ev if isinstance(ev, list) else ([ev] if ev else [])
    base = check.get("step_dir") or check.get("step") or ""
    out = []
    for e in items:
        if not isinstance(e, str) or not e:
            continue
        if re.match(r"^[a-z]+://", e) or e.startswith("/"):
            out.append(e)
        else:
            out.append(f"{base}/{e}" if base else e)
    return out


def fmt_value(value: Any, digits: int = 4) -> str:
    """A short human-readable rendering of a check value or metric."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, dict):
        parts = [f"{k}: {fmt_value(v, digits)}" for k, v in list(value.items())[:6]]
        return ", ".join(parts) + (", …" if len(value) > 6 else "")
    if isinstance(value, list):
        return ", ".join(fmt_value(v, digits) for v in value[:8]) + (", …" if len(value) > 8 else "")
    return str(value)
