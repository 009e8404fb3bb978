"""What changed between two packs: inputs, resolved config, model, package and playbook versions, checks that
flipped status, gates newly failing, fairness gaps.

A pack is read into a :class:`PackView` either from a finished pack (:func:`load`: verified first, then its
``summary.json``, ``manifest.json``, ``config.yaml``, ``preflight.json`` and the evaluation step's artifacts) or
from the pack being built (:func:`building`: the review step's checks and verdict, the environment's package
versions), so ``playbook compare`` and ``playbook run --previous`` compare the same things.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class CompareError(ValueError):
    """An input of the comparison is not usable: one sentence naming it and the fix."""


@dataclass
class PackView:
    """What a comparison reads of one pack."""

    name: str
    path: Path
    verdict: str | None
    task: str | None
    checks: dict[str, dict]                  # check id -> {status, value, ci, threshold, step}
    gates: list[dict]                        # the scorecard's gate rows {gate, check, status, block, ...}
    config_text: str                         # the resolved config.yaml
    config: dict
    inputs: dict[str, str | None]            # role -> sha256 of the input file(s)
    model_sha256: str | None
    model_mode: str | None
    packages: dict[str, str]
    playbook_version: str | None
    python: str | None
    digest: str | None
    metrics: dict[str, dict] = field(default_factory=dict)   # metrics.json's {metric: {value, ci_low, ci_high}}
    predictions: Any = None                                  # the stored per-row outputs (DataFrame) or None
    positive_label: str | None = None
    threshold: float | None = None

    def summary(self) -> dict:
        return {"name": self.name, "verdict": self.verdict, "task": self.task, "digest": self.digest,
                "model_sha256": self.model_sha256, "model_mode": self.model_mode,
                "playbook_version": self.playbook_version, "predictions_stored": self.predictions is not None}


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        raise CompareError(f"{path}: the {what} is missing or unreadable; pass the folder of a finished evidence pack.") from None


def _evaluation(root: Path, view: PackView) -> None:
    """The evaluation step's metrics, operating threshold and stored predictions, when the step ran."""
    from playbook.evaluate import predictions

    steps = sorted((root / "steps").glob("*model_evaluation"))
    if not steps:
        return
    art = steps[0] / "artifacts"
    if (art / "metrics.json").is_file():
        m = _read_json(art / "metrics.json", "evaluation's metrics.json")
        view.metrics = m.get("metrics") or {}
        view.threshold = m.get("threshold")
    if (art / "model.json").is_file():
        info = _read_json(art / "model.json", "evaluation's model.json")
        view.positive_label = info.get("positive_label")
        view.threshold = info.get("threshold", view.threshold)
    if (art / predictions.FILE).is_file():
        view.predictions = predictions.read(art / predictions.FILE)


def _checks_by_id(checks: list[dict]) -> dict[str, dict]:
    keep = ("status", "value", "ci", "threshold", "step", "title")
    return {c["id"]: {k: c.get(k) for k in keep} for c in checks if c.get("id")}


def load(path: str | Path) -> PackView:
    """A finished pack, verified first (:func:`playbook.pack.require_verified`): a folder that is not a pack, or a
    pack whose files do not match its manifest, is refused with one sentence (a :class:`CompareError`)."""
    from playbook.pack import require_verified

    root = Path(path).expanduser()
    rep = require_verified(root, purpose="compare untouched packs", error=CompareError)
    root = root.resolve()
    summary = _read_json(root / "summary.json", "summary.json")
    manifest = _read_json(root / "manifest.json", "manifest.json")
    pre = _read_json(root / "preflight.json", "preflight.json") if (root / "preflight.json").is_file() else {}
    cfg_text = (root / "config.yaml").read_text(encoding="utf-8") if (root / "config.yaml").is_file() else ""
    inputs = {role: (v or {}).get("sha256") for role, v in (manifest.get("inputs") or {}).items()
              if role in ("reference", "current", "model")}
    model = pre.get("model") or {}
    view = PackView(
        name=summary.get("pack") or root.name, path=root, verdict=summary.get("verdict"), task=summary.get("task"),
        checks=_checks_by_id(summary.get("checks") or []), gates=list(summary.get("gates") or []),
        config_text=cfg_text, config=yaml.safe_load(cfg_text) or {} if cfg_text else {}, inputs=inputs,
        model_sha256=model.get("sha256") or (manifest.get("inputs", {}).get("model") or {}).get("sha256"),
        model_mode=model.get("mode"), packages=dict(manifest.get("packages") or {}),
        playbook_version=manifest.get("playbook_version") or summary.get("playbook_version"),
        python=manifest.get("python"), digest=rep.digest)
    _evaluation(root, view)
    return view


def building(pack_dir: str | Path, ctx, checks: list[dict], verdict: dict) -> PackView:
    """The pack being built (from the review step): its steps' checks so far and the verdict the review computed;
    the environment's package versions (the manifest is written after the review)."""
    from playbook import __version__
    from playbook.pack import package_versions

    root = Path(pack_dir).resolve()
    pre = _read_json(root / "preflight.json", "preflight.json") if (root / "preflight.json").is_file() else {}
    cfg_text = (root / "config.yaml").read_text(encoding="utf-8") if (root / "config.yaml").is_file() else ""
    data = pre.get("data") or {}
    model = pre.get("model") or {}
    import platform

    view = PackView(
        name=ctx.config.name, path=root, verdict=verdict.get("verdict"), task=ctx.task,
        checks=_checks_by_id(checks), gates=list(verdict.get("gates") or []), config_text=cfg_text,
        config=yaml.safe_load(cfg_text) or {} if cfg_text else {},
        inputs={role: ((data.get(role) or {}).get("fingerprint") or {}).get("sha256") for role in ("reference", "current")}
        | ({"model": model.get("sha256")} if model.get("mode") == "file" else {}),
        model_sha256=model.get("sha256"), model_mode=model.get("mode"), packages=package_versions(),
        playbook_version=__version__, python=platform.python_version(), digest=None)
    _evaluation(root, view)
    return view


# -- what changed -------------------------------------------------------------------------------------------------

#: config keys that always differ between two runs and say nothing about the model (where the pack came from)
_VOLATILE = ("previous",)


def config_diff(old: PackView, new: PackView) -> list[str]:
    """A unified diff of the two resolved configs (``previous`` left out: it names the other pack)."""
    def text(v: PackView) -> list[str]:
        cfg = {k: val for k, val in (v.config or {}).items() if k not in _VOLATILE}
        return yaml.safe_dump(cfg, sort_keys=True, allow_unicode=True).splitlines()

    return list(difflib.unified_diff(text(old), text(new), fromfile=f"{old.name}/config.yaml",
                                     tofile=f"{new.name}/config.yaml", lineterm="", n=1))


def _changes(a: dict, b: dict) -> list[dict]:
    return [{"key": k, "old": a.get(k), "new": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def what_changed(old: PackView, new: PackView) -> dict:
    return {
        "data": _changes(old.inputs, new.inputs),
        "model": {"changed": old.model_sha256 != new.model_sha256, "old": old.model_sha256, "new": new.model_sha256,
                  "old_mode": old.model_mode, "new_mode": new.model_mode},
        "config_diff": config_diff(old, new),
        "packages": _changes(old.packages, new.packages),
        "playbook_version": {"changed": old.playbook_version != new.playbook_version, "old": old.playbook_version,
                             "new": new.playbook_version},
        "python": {"changed": old.python != new.python, "old": old.python, "new": new.python},
    }


def flips(old: PackView, new: PackView, exclude_prefix: tuple[str, ...] = ("review.",)) -> list[dict]:
    """Every check whose status differs (``absent`` when a pack lacks it), sorted by id. The review step's own
    checks are left out: they judge the other checks (their gates are in :func:`gate_changes`), and the pack being
    built has not recorded all of them when its review compares it."""
    out = []
    blocking = {g.get("check") for g in new.gates + old.gates if g.get("block") and g.get("check")}
    for cid in sorted(set(old.checks) | set(new.checks)):
        if cid.startswith(exclude_prefix):
            continue
        a = (old.checks.get(cid) or {}).get("status", "absent")
        b = (new.checks.get(cid) or {}).get("status", "absent")
        if a != b:
            out.append({"id": cid, "old": a, "new": b, "blocking": cid in blocking,
                        "direction": "worse" if b == "fail" or (a == "pass" and b in ("warn", "error")) else
                        "better" if a in ("fail", "error") or (a == "warn" and b == "pass") else "changed"})
    return out


def gate_changes(old: PackView, new: PackView) -> dict:
    """Blocking gates failing in the new pack that did not fail in the old one (a gate absent from the old pack
    counts as new), and those fixed."""
    def failing(v: PackView) -> set[str]:
        return {g.get("check") or g.get("gate") for g in v.gates if g.get("block") and g.get("status") == "fail"}

    a, b = failing(old), failing(new)
    out = {"new_blocking_failures": sorted(b - a), "fixed_blocking_failures": sorted(a - b),
           "still_failing": sorted(a & b), "old_verdict": old.verdict, "new_verdict": new.verdict}
    if new.verdict == "error":
        out["unknown"] = "the new pack's verdict is error: a step could not run, so its gates cannot all be judged"
    return out


def _number(v) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, dict) and isinstance(v.get("value"), (int, float)):
        return float(v["value"])
    return None


def fairness_gaps(old: dict[str, dict], new: dict[str, dict]) -> list[dict]:
    """The rule of "a fairness gap grew past its bound", on two sets of checks by id (two packs, or the champion and
    the challenger of one): every ``model.fairness.*`` check of ``new`` with a numeric value and a ``max`` bound,
    sorted by id, as ``{id, old, new, bound, old_status, new_status, grown_past_bound}``; it grew past its bound when
    it fails its bound in ``new`` and is larger than in ``old`` or absent there."""
    out = []
    for cid in sorted(c for c in new if c.startswith("model.fairness.")):
        c = new[cid]
        val = _number(c.get("value"))
        thr = c.get("threshold") or {}
        bound = thr.get("max") if isinstance(thr, dict) else None
        if val is None or not isinstance(bound, (int, float)):
            continue
        prev = old.get(cid)
        prev_val = _number(prev.get("value")) if prev else None
        grown = c.get("status") == "fail" and (prev_val is None or val > prev_val)
        out.append({"id": cid, "old": prev_val, "new": val, "bound": float(bound), "old_status": (prev or {}).get("status"),
                    "new_status": c.get("status"), "grown_past_bound": bool(grown)})
    return out


def fairness(old: PackView, new: PackView) -> list[dict]:
    """Every ``model.fairness.*`` gap of the new pack with its bound, the old pack's gap, and whether it grew past
    its bound (:func:`fairness_gaps`)."""
    return fairness_gaps(old.checks, new.checks)


__all__ = ["CompareError", "PackView", "building", "config_diff", "fairness", "fairness_gaps", "flips", "gate_changes", "load",
           "what_changed"]
