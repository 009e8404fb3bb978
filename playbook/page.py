"""index.html: the evidence pack's page for reviewers.

The page opens with an executive summary a non-engineer reads in one screen: the verdict, each blocking reason in a
plain sentence with what to do next (the check catalogue's ``next_step``), the handful of numbers that decide a
launch (model quality, business value per day, worst fairness gap, the monitor's false-alarm rate and fault
coverage, the data issues found; "not measured" and why when one is missing) and the key figures inline. Below come
the release gates, the checks grouped by step (collapsible), the ML Test Score and the documents.

Everything shown is derived from ``summary.json`` and the steps' artifacts: :func:`executive` and :func:`view` build
plain dicts (unit-tested), the Jinja template only lays them out. The page is self-contained (inline CSS, figures as
``data:`` URIs, no script, no network) and autoescaped: data reaches it in column names and values.
"""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path
from typing import Any, Mapping

import jinja2

from playbook import catalogue

# -- formatting -----------------------------------------------------------------------------------------------------
MISSING = "not measured"
_MAX_ITEMS = 6


def number(x: Any) -> str:
    """A number for people: thousands separated, about three significant digits, no exponent for everyday sizes."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if not isinstance(x, float):
        return str(x)
    if math.isnan(x):
        return "not a number"
    if math.isinf(x):
        return "infinite" if x > 0 else "minus infinite"
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1000 or float(x).is_integer():
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.1f}".rstrip("0").rstrip(".")
    if a >= 0.001:
        return f"{x:.3g}"
    return f"{x:.2e}"


def share(x: Any) -> str:
    """A share in [0, 1] as a percentage (``0.029`` -> ``2.9%``)."""
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(float(x)):
        return number(x)
    p = float(x) * 100
    if p == 0 or p == 100 or p.is_integer():
        return f"{p:.0f}%"
    return (f"{p:.1f}" if abs(p) >= 10 else f"{p:.2g}") + "%"


def humanize(key: Any) -> str:
    """An identifier as words (``files_searched`` -> ``files searched``)."""
    return str(key).replace("_", " ").replace(".", " ")


def _scalar(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, (int, float)):
        return number(v)
    return str(v)


def _list_text(items: list, limit: int = _MAX_ITEMS) -> str:
    if not items:
        return "none"
    shown = ", ".join(_scalar(v) if not isinstance(v, (dict, list)) else text(v) for v in items[:limit])
    more = len(items) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def text(value: Any) -> str:
    """Any check value as one short line of text (never JSON): dicts become ``key: value; ...``, lists a
    comma-separated list ending "and N more"."""
    if value is None:
        return "no value"
    if isinstance(value, (bool, int, float)):
        return number(value)
    if isinstance(value, list):
        return _list_text(value)
    if isinstance(value, dict):
        if not value:
            return "none"
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        parts = []
        for k, v in items[:_MAX_ITEMS]:
            if isinstance(v, dict):
                v_text = f"{len(v)} entries" if v else "none"
            elif isinstance(v, list):
                v_text = _list_text(v, 3)
            else:
                v_text = _scalar(v)
            parts.append(f"{humanize(k)}: {v_text}")
        more = len(items) - _MAX_ITEMS
        return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
    s = str(value)
    return s if len(s) <= 200 else s[:197] + "..."


def value_view(value: Any) -> dict:
    """How a check value is shown: ``{"text": ...}`` for a scalar, a list or a small flat dict, ``{"rows": [(key,
    text), ...], "more": n}`` (a small table) for a dict with nested values or many keys."""
    if isinstance(value, dict) and value and (len(value) > 4 or any(isinstance(v, (dict, list)) for v in value.values())):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        rows = [(humanize(k), text(v)) for k, v in items[:8]]
        return {"rows": rows, "more": max(0, len(items) - 8)}
    return {"text": text(value)}


def ci_text(ci: Any, fmt=number) -> str:
    """``" (95% CI a to b)"`` for a two-number interval, else ""."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                               for v in ci):
        return f" (95% CI {fmt(ci[0])} to {fmt(ci[1])})"
    return ""


def rule(gate_threshold: Any, check_threshold: Any, fmt=number, context: bool = True) -> str:
    """The limit a gated check is held to: the gate's bounds, else the check's own bounds (a gate without bounds
    fails the check when the check fails), else the gate's status rule."""
    for t in (gate_threshold, check_threshold):
        if isinstance(t, dict) and ("min" in t or "max" in t):
            return threshold(t, fmt, context)
    return threshold(gate_threshold if gate_threshold else check_threshold, fmt, context)


def threshold(t: Any, fmt=number, context: bool = True) -> str:
    """A gate's or a check's threshold in words: ``{"min": 0.7, "on": "ci"}`` -> ``at least 0.7 on the CI bound``;
    ``{"status": "fail"}`` -> ``must not fail``; other keys are context (``severity 0.5``)."""
    if t in (None, {}, []):
        return "none"
    if not isinstance(t, dict):
        return text(t)
    on = t.get("on")
    parts = []
    unit = t.get("unit")
    u = f" {unit}" if isinstance(unit, str) and unit else ""
    of = t.get("of") if ("min" in t or "max" in t) and isinstance(t.get("of"), str) else ""
    u += f" {of}" if of else ""
    if "min" in t:
        where = {"ci": " on the lower CI bound", "interval": " on the whole CI"}.get(on, "")
        parts.append(f"{'above' if t.get('exclusive') else 'at least'} {fmt(t['min'])}{u}{where}")
    if "max" in t:
        where = {"ci": " on the upper CI bound", "interval": " on the whole CI"}.get(on, "")
        parts.append(f"{'below' if t.get('exclusive') else 'at most'} {fmt(t['max'])}{u}{where}")
    if "status" in t:
        parts.append("must pass (a warning fails)" if t["status"] == "warn" else "must not fail")
    rest = {k: v for k, v in t.items() if k not in ("min", "max", "status", "on", "unit", "exclusive")
            and not (k == "of" and of)}
    for k, v in sorted(rest.items()) if context or not parts else ():
        parts.append(f"{humanize(k)} {text(v)}")
    return ", ".join(parts)


_STATUS_WORDS = {
    "pass": ("pass", "passed", "passes"), "warn": ("warn", "warned", "warns", "warning"),
    "fail": ("fail", "failed", "fails"), "error": ("error",), "skip": ("skip", "skipped"),
}
_WORD = re.compile(r"\b(pass|passed|passes|warn|warned|warns|warning|fail|failed|fails|error|skip|skipped)\b", re.I)


def reason(status: str, raw: Any, check_id: str | None = None) -> str:
    """A gate's reason for people: without the check id it repeats, empty when it only restates the status, and
    never naming a status other than ``status`` (such a text is dropped rather than contradict the badge)."""
    r = str(raw or "").strip()
    if check_id and r.startswith(check_id):
        r = r[len(check_id):].lstrip()
        if r.startswith("="):
            r = r[1:].lstrip()
    r = r.strip(" :")
    if not r or r.lower() in _STATUS_WORDS.get(status, ()) or r.lower() == status:
        return ""
    allowed = set(_STATUS_WORDS.get(status, ()))
    if status == "n/a":
        allowed |= set(_STATUS_WORDS["skip"])
    if status == "missing":
        allowed = set()
    for m in _WORD.finditer(r):
        if m.group(1).lower() not in allowed:
            return ""
    return r[:1].upper() + r[1:]


# -- what the page derives from the summary -------------------------------------------------------------------------
VERDICT_HEADLINE = {
    "go": "Ready to release",
    "no-go": "Do not release",
    "incomplete": "Not enough evidence to decide",
    "error": "The run failed: no decision",
}
VERDICT_TEXT = {
    "go": "No blocking gate failed: the evidence supports releasing this model, subject to the human reviews listed "
          "in the model card and compliance map.",
    "no-go": "At least one blocking gate failed: do not release until the reasons below are addressed or the policy "
             "is changed on record.",
    "error": "At least one step could not run to the end, so the evidence is incomplete: fix the error shown for that "
             "step and run the pack again.",
    "incomplete": "The evidence is incomplete: a blocking gate has no check to judge (its step did not run, or the "
                  "check was skipped or could not be computed), so the pack cannot support a release. Run the missing "
                  "steps or fix the reasons below; do not read this as a go.",
}
PARTIAL_NEXT = ("Run the pack again with every step enabled (without --steps) so every gate has evidence.")
MISSING_NEXT = "Make sure the {step} step runs and records this check, then run the pack again."

#: the figures of the executive summary: (step, artifact file name, caption, alt text)
FIGURES = (
    ("drift_simulation", "sensitivity_heatmap.png", "Which simulated faults the monitors catch",
     "Heatmap of the drift rehearsal: one row per simulated fault, one column per severity; each cell is the share "
     "of trials in which the monitors raised an alarm."),
    ("model_evaluation", "calibration.png", "Calibration: predicted against observed risk",
     "Calibration curve: the model's predicted probability against the observed share of positive outcomes, with "
     "the diagonal of perfect calibration."),
    ("model_evaluation", "business.png", "Business value against the decision threshold",
     "Expected business value per decision at each decision threshold, against deciding for nobody or for "
     "everybody, with the best and the cost-implied thresholds marked."),
    ("drift_simulation", "timelines.png", "Drift timeline: from a fault's onset to the alarm",
     "Drift timeline: batch by batch on sudden and gradual drift, the share of faults the monitors have flagged, "
     "with the batches after the fault's onset shaded."),
)

QUALITY_IDS = ("model.roc_auc", "model.roc_auc_macro", "model.r2")
_ORDER = {"fail": 0, "error": 1, "missing": 1, "warn": 2, "skip": 3, "n/a": 4, "pass": 5}


def _title(cid: str | None, fallback: str = "") -> str:
    s = catalogue.spec(cid) if cid else None
    return s.title if s else (fallback or (cid or ""))


def _next_step(cid: str | None) -> str:
    s = catalogue.spec(cid) if cid else None
    return s.next_step if s and s.next_step else ""


def _step_label(name: str | None) -> str:
    return humanize(name or "a")


class _Pack:
    """Look-ups over one summary."""

    def __init__(self, summary: Mapping[str, Any]):
        self.s = summary
        self.checks = {c["id"]: c for c in summary.get("checks", []) if isinstance(c, dict) and "id" in c}
        self.gates = {g["check"]: g for g in summary.get("gates", []) if g.get("check")}
        self.steps = {st["name"]: st for st in summary.get("steps", []) if "name" in st}

    def step_dir(self, step: str | None) -> str | None:
        st = self.steps.get(step or "")
        return st.get("dir") if st else None

    def why_missing(self, step: str, what: str) -> str:
        """Why a number of ``step`` is missing, in a sentence (never blank)."""
        st = self.steps.get(step)
        if st is None or st.get("status") == "skipped" or step in (self.s.get("steps_not_run") or []):
            return f"the {_step_label(step)} step did not run"
        if st.get("status") == "error":
            return f"the {_step_label(step)} step could not run to the end"
        return f"this pack has no {what}"

    def family(self, prefix: str) -> list[dict]:
        return [c for cid, c in sorted(self.checks.items()) if cid.startswith(prefix)]


def _metric(p: _Pack, label: str, step: str, cid: str | None, fmt=number, what: str = "") -> dict:
    """One headline number from one check: its value with the CI, the gate's bound, the status."""
    c = p.checks.get(cid) if cid else None
    if c is None:
        return {"label": label, "text": MISSING, "status": "missing",
                "note": p.why_missing(step, what or f"{label.lower()} check")}
    if c.get("status") in ("skip", "error") or catalogue.number(c.get("value")) is None:
        why = c.get("why") or ("it could not be computed" if c.get("status") == "error" else "it was skipped")
        return {"label": label, "text": MISSING, "status": c.get("status") or "skip", "note": why, "check": cid}
    unit = (c.get("threshold") or {}).get("unit") if isinstance(c.get("threshold"), dict) else None
    u = f" {unit}" if isinstance(unit, str) and unit else ""
    shown = fmt(catalogue.number(c["value"])) + u + ci_text(c.get("ci"), fmt)
    gate = p.gates.get(cid)
    bound = rule(gate.get("threshold") if gate else None, c.get("threshold"), fmt, context=False)
    out = {"label": label, "text": shown, "status": c.get("status"), "check": cid,
           "bound": "" if bound == "none" else ("required: " if gate and gate.get("block") else "target: ") + bound}
    if c.get("inconclusive"):
        out["note"] = f"Inconclusive: {c['inconclusive']}."
    return out


def key_numbers(summary: Mapping[str, Any]) -> list[dict]:
    """The numbers that decide a launch, each ``{label, text, status, bound?, note?, check?}``; a missing one says
    "not measured" with the reason in ``note``."""
    p = _Pack(summary)
    out = []
    q = next((cid for cid in QUALITY_IDS if cid in p.checks), None)
    out.append(_metric(p, "Model quality", "model_evaluation", q, what="model quality check"))
    if q:
        out[-1]["label"] = f"Model quality ({_title(q)})"
    out.append(_metric(p, "Business value per day", "model_evaluation", "model.business.value_per_day"
                       if "model.business.value_per_day" in p.checks else None, what="business value check"))
    # fairness: the largest gap over every sensitive column and measure
    fair = [c for c in p.family("model.fairness.") if c["id"] != "model.fairness.configured"
            and c.get("status") not in ("skip", "error") and catalogue.number(c.get("value")) is not None]
    if fair:
        worst = max(fair, key=lambda c: (catalogue.number(c["value"]), c["id"]))
        m = catalogue.member(worst["id"])
        item = _metric(p, "Worst fairness gap", "model_evaluation", worst["id"])
        item["text"] = (f"{item['text']}: {humanize(m.get('measure', 'gap'))} across {m.get('column', '?')}")
        item["note"] = f"The largest of {len(fair)} fairness measures."
        out.append(item)
    else:
        conf = p.checks.get("model.fairness.configured")
        note = (conf.get("why") if conf else "") or p.why_missing("model_evaluation", "fairness measure")
        out.append({"label": "Worst fairness gap", "text": MISSING, "status": "missing" if not conf else "skip",
                    "note": note})
    fa = "monitoring.false_alarm_budget_met" if "monitoring.false_alarm_budget_met" in p.checks else \
        ("drift.false_alarm_rate" if "drift.false_alarm_rate" in p.checks else None)
    item = _metric(p, "Monitor false-alarm rate", "monitoring_setup", fa, fmt=share, what="false-alarm measurement")
    if fa and item["text"] != MISSING:
        item["text"] += " of clean batches raise an alert"
    out.append(item)
    out.append(_coverage(p))
    out.append(_data_issues(p))
    return out


def _coverage(p: _Pack) -> dict:
    label = "Fault coverage"
    for prefix, step, how in (("monitoring.detects_within_days.", "monitoring_setup", "deployed monitor"),
                              ("drift.detects.", "drift_simulation", "rehearsed monitors")):
        cs = [c for c in p.family(prefix) if c.get("status") in ("pass", "warn", "fail")]
        if not cs:
            continue
        caught = [c for c in cs if c["status"] == "pass"]
        missed = [catalogue.member(c["id"]).get("shift", c["id"]) for c in cs if c["status"] != "pass"]
        t = cs[0].get("threshold") or {}
        days = t.get("days") if isinstance(t, dict) else None
        within = f" within {number(days)} days" if days is not None else ""
        item = {"label": label, "status": "pass" if not missed else "warn",
                "text": f"{len(caught)} of {len(cs)} simulated faults caught by the {how}{within}",
                "note": ("Missed: " + _list_text([humanize(m) for m in missed]) + ".") if missed else
                "Every simulated fault is caught.", "check": cs[0]["id"]}
        return item
    return {"label": label, "text": MISSING, "status": "missing",
            "note": p.why_missing("monitoring_setup", "fault-detection measurement")}


def _data_issues(p: _Pack) -> dict:
    label = "Data issues found"
    cs = [c for c in p.family("data.") if c.get("step", "data_audit") == "data_audit"]
    if not cs:
        return {"label": label, "text": MISSING, "status": "missing", "note": p.why_missing("data_audit", "data audit")}
    bad = [c for c in cs if c.get("status") in ("fail", "warn", "error")]
    excluded = p.s.get("excluded_from_features") or {}
    names = []
    for c in sorted(bad, key=lambda c: (_ORDER.get(c["status"], 9), c["id"])):
        ds = catalogue.member(c["id"]).get("dataset")
        names.append((c.get("title") or _title(c["id"])) + (f" ({ds})" if ds else ""))
    notes = []
    if names:
        notes.append(_list_text(names) + ".")
    if excluded:
        notes.append("Left out of the features: " + "; ".join(f"{k} ({v})" for k, v in sorted(excluded.items())) + ".")
    n_fail = sum(c["status"] in ("fail", "error") for c in bad)
    ran = [c for c in cs if c.get("status") != "skip"]
    if not bad:
        skipped = len(cs) - len(ran)
        notes.append(f"{skipped} more did not apply to this data." if skipped else "")
        return {"label": label, "text": f"none: all {len(ran)} data checks that ran passed", "status": "pass",
                "note": " ".join(n for n in notes if n)}
    return {"label": label, "status": "fail" if n_fail else "warn",
            "text": f"{len(bad)} of {len(ran)} data checks flag an issue ({n_fail} failed, {len(bad) - n_fail} warned)",
            "note": " ".join(notes)}


def blocking_reasons(summary: Mapping[str, Any]) -> list[dict]:
    """Each of the verdict's reasons as ``{title, sentence, next_step, check?, step?, anchor?}`` in plain words."""
    p = _Pack(summary)
    out = []
    for r in summary.get("reasons", []):
        kind = r.get("kind", "")
        cid = r.get("check")
        step = r.get("step")
        if kind == "step_error":
            st = p.steps.get(step or "", {})
            err = st.get("error") or "see its notebook"
            out.append({"title": f"The {_step_label(step)} step could not run",
                        "sentence": f"It stopped with: {err}.".replace("..", "."),
                        "next_step": _next_step(f"{step}.executed"), "step": step, "anchor": f"step-{step}"})
            continue
        if kind == "partial_run":
            out.append({"title": "Only part of the playbook ran",
                        "sentence": f"{str(r.get('text', '')).replace('partial run: ', '').capitalize()}.",
                        "next_step": PARTIAL_NEXT})
            continue
        c = p.checks.get(cid or "")
        g = p.gates.get(cid or "")
        sp = catalogue.spec(cid) if cid else None
        # the catalogue's plain title (a step's own title may repeat the value); a family member's names the member
        title = sp.title if sp and not sp.is_family else ((c or {}).get("title") or _title(cid))
        if kind == "gate_fail" and c is not None:
            sentence = _fail_sentence(c, g)
        elif kind == "gate_missing":
            where = step or next((s.step for s in catalogue.specs_matching(cid or "")), None)
            said = reason("missing", str(r.get("text", "")).replace("no evidence for a blocking gate: ", ""))
            sentence = _sentence(f"There is no evidence for this blocking gate: {said or 'its check is missing'}")
            out.append({"title": title, "sentence": sentence, "check": cid,
                        "next_step": MISSING_NEXT.format(step=_step_label(where))})
            continue
        elif kind == "gate_skip":
            sentence = f"The check was skipped, so this blocking gate has no evidence: {(c or {}).get('why') or 'no reason given'}"
        elif kind == "gate_error":
            sentence = "The check could not be computed, so this blocking gate has no evidence."
        else:
            sentence = reason("fail", r.get("text", ""), cid) or "This blocking gate failed."
        out.append({"title": title, "sentence": _sentence(sentence), "next_step": _next_step(cid), "check": cid,
                    "step": step, "anchor": f"check-{cid}" if c is not None else None})
    return out


def _sentence(s: str) -> str:
    s = " ".join(str(s).split())
    if len(s) > 320:
        s = s[:317].rstrip() + "..."
    return s if s.endswith((".", "!", "?")) else s + "."


def _fail_sentence(c: Mapping[str, Any], g: Mapping[str, Any] | None) -> str:
    t = (g or {}).get("threshold") or {}
    v = catalogue.number(c.get("value"))
    if isinstance(t, dict) and ("min" in t or "max" in t) and v is not None:
        shown = number(v) + ci_text(c.get("ci"))
        return f"Measured {shown}; the gate requires {threshold(t)}."
    why = c.get("why") or ""
    return f"The check failed: {why}" if why else "The check failed."


def executive(summary: Mapping[str, Any]) -> dict:
    """The executive summary: ``{verdict, headline, text, reasons, numbers, findings}``."""
    verdict = summary.get("verdict") or "error"
    findings = _findings(summary)
    return {"verdict": verdict, "headline": VERDICT_HEADLINE.get(verdict, verdict),
            "text": VERDICT_TEXT.get(verdict, ""), "reasons": blocking_reasons(summary),
            "numbers": key_numbers(summary), "findings": len(findings)}


def _findings(summary: Mapping[str, Any]) -> list[dict]:
    blocking = {g["check"] for g in summary.get("gates", []) if g.get("block") and g.get("status") == "fail"}
    out = []
    for c in summary.get("checks", []):
        sp = catalogue.spec(c["id"])
        if c.get("status") == "fail" and c["id"] not in blocking and not (sp and sp.meta):
            out.append(c)
    return out


def figures(pack: Path, summary: Mapping[str, Any]) -> tuple[list[dict], list[str]]:
    """The key figures the pack has, as ``data:`` URIs, and one sentence for each it does not have."""
    p = _Pack(summary)
    shown, absent = [], []
    for step, name, caption, alt in FIGURES:
        d = p.step_dir(step)
        f = Path(pack) / d / "artifacts" / name if d else None
        if f is not None and f.is_file() and f.stat().st_size > 0:
            data = base64.b64encode(f.read_bytes()).decode("ascii")
            shown.append({"caption": caption, "alt": alt, "src": f"data:image/png;base64,{data}",
                          "href": f"{d}/artifacts/{name}"})
        else:
            why = p.why_missing(step, "such figure") if d is None or p.steps.get(step, {}).get("status") == "error" \
                else f"the {_step_label(step)} step did not write {name}"
            absent.append(f"{caption}: not in this pack ({why}).")
    return shown, absent


def evidence_links(pack: Path, step_dir: str | None, evidence: Any) -> list[dict]:
    """Evidence entries as links relative to the pack root; those that do not resolve are marked."""
    if evidence in (None, "", []):
        return []
    items = evidence if isinstance(evidence, list) else [evidence]
    out = []
    for e in items:
        if not isinstance(e, str):
            continue
        if e.startswith(("http://", "https://")):
            out.append({"href": e, "label": e, "ok": True})
            continue
        rel = f"{step_dir}/{e}" if step_dir and not e.startswith("steps/") else e
        ok = (Path(pack) / rel.split("#")[0]).exists()
        out.append({"href": rel, "label": Path(e.split("#")[0]).name or e, "ok": ok})
    return out


def is_share(check_id: str) -> bool:
    """Whether the catalogue says this check's value is a share or a probability (shown as a percentage)."""
    s = catalogue.spec(check_id)
    return bool(s and s.measures.startswith(("Share", "Probability", "Worst share", "Largest share")))


def _check_row(pack: Path, c: Mapping[str, Any], gate: Mapping[str, Any] | None, step_dir: str | None) -> dict:
    status = c.get("status", "skip")
    numeric = isinstance(c.get("value"), (int, float)) and not isinstance(c.get("value"), bool)
    fmt = share if is_share(c["id"]) and numeric else None   # the value's CI and threshold alike
    vfmt = fmt
    unit = (c.get("threshold") or {}).get("unit") if isinstance(c.get("threshold"), dict) else None
    if fmt is None and isinstance(unit, str) and unit and numeric:
        vfmt = lambda x, _u=unit: f"{number(x)} {_u}"  # noqa: E731  (the threshold names the unit itself)
    row = {"id": c["id"], "title": c.get("title") or _title(c["id"]), "status": status,
           "value": ({"text": vfmt(c["value"])} if vfmt else value_view(c.get("value")))
           if status not in ("skip",) or c.get("value") is not None
           else {"text": "not applicable" if c.get("not_applicable") else MISSING},
           "ci": ci_text(c.get("ci"), fmt or number), "why": c.get("why") or "",
           "threshold": rule((gate or {}).get("threshold"), c.get("threshold"), fmt or number),
           "gate": ("blocks the release" if gate.get("block") else "reported, does not block") if gate else
           "no gate (a finding)",
           "links": evidence_links(pack, c.get("step_dir") or step_dir, c.get("evidence")),
           "next_step": _next_step(c["id"]) if status in ("fail", "error") else ""}
    if c.get("inconclusive"):
        row["why"] = (f"Inconclusive: {c['inconclusive']}. " + row["why"]).strip()
    return row


def view(pack: Path, summary: Mapping[str, Any], verify_path: str | None = None) -> dict:
    """Everything the template lays out."""
    pack = Path(pack)
    p = _Pack(summary)
    steps = []
    for st in summary.get("steps", []):
        cs = [c for c in summary.get("checks", []) if c.get("step") == st.get("name")]
        cs.sort(key=lambda c: (_ORDER.get(c.get("status"), 9), c["id"]))
        rows = [_check_row(pack, c, p.gates.get(c["id"]), st.get("dir")) for c in cs]
        counts: dict[str, int] = {}
        for c in cs:
            counts[c.get("status")] = counts.get(c.get("status"), 0) + 1
        steps.append({**st, "label": (st.get("dir") or st["name"]).split("/")[-1].replace("_", " "),
                      "rows": rows, "counts": sorted(counts.items(), key=lambda kv: _ORDER.get(kv[0], 9)),
                      "open": st.get("status") in ("error", "fail") and len(rows) <= 40})
    gates = []
    for g in summary.get("gates", []):
        if g.get("status") == "n/a":
            continue
        cid = g.get("check")
        c = p.checks.get(cid or "")
        status = g["status"]
        gates.append({"id": cid or g["gate"], "via": g["gate"] if cid and cid != g["gate"] else "",
                      "title": (c or {}).get("title") or _title(cid or g["gate"], g["gate"]), "status": status,
                      "block": bool(g.get("block")), "threshold": rule(g.get("threshold"), (c or {}).get("threshold")),
                      "value": (text(g.get("value")) + ci_text(g.get("ci"))) if c is not None else MISSING,
                      "reason": reason(status, g.get("reason"), cid or g["gate"]),
                      "anchor": f"check-{cid}" if c is not None else ""})
    gates.sort(key=lambda g: (not g["block"], _ORDER.get(g["status"], 9), g["id"]))
    na_gates = sorted(g["gate"] for g in summary.get("gates", []) if g.get("status") == "n/a")
    findings = [{"id": c["id"], "title": c.get("title") or _title(c["id"]), "step": c.get("step"),
                 "value": text(c.get("value")), "why": c.get("why") or "", "next_step": _next_step(c["id"])}
                for c in _findings(summary)]
    shown, absent = figures(pack, summary)
    documents = []
    labels = {"model_card.html": "Model card (Mitchell et al.): filled from this pack's evidence, with the parts "
                                 "only people can write marked as prompts",
              "datasheet.html": "Datasheet for the data (Gebru et al.)", "scorecard.html": "Readiness scorecard",
              "ml_test_score.html": "ML Test Score, all 28 tests", "compliance_map.html": "Compliance evidence map"}
    for name, label in labels.items():
        for f in sorted(pack.glob(f"steps/*/artifacts/{name}")):
            documents.append({"href": f.relative_to(pack).as_posix(), "label": label})
    mc = summary.get("model_card")
    if isinstance(mc, str) and mc and not any(d["href"] == mc for d in documents) and (pack / mc).is_file():
        documents.insert(0, {"href": mc, "label": labels["model_card.html"]})
    return {"s": summary, "ex": executive(summary), "figures": shown, "absent_figures": absent, "steps": steps,
            "gates": gates, "na_gates": na_gates, "findings": findings, "mts": summary.get("ml_test_score"),
            "documents": documents, "cmap": _compliance_rows(summary.get("compliance_map")),
            "verify": verify_path or summary.get("pack") or "PACK"}


def _compliance_rows(cmap: Any) -> dict | None:
    if not cmap:
        return None
    rows = []
    items = cmap.get("items") if isinstance(cmap, dict) else cmap
    for it in items or []:
        if not isinstance(it, dict):
            continue
        ev = it.get("evidence") or it.get("checks") or []
        arts = it.get("artifacts") or []
        manual = it.get("left_to_people") or it.get("manual") or ""
        rows.append({
            "framework": it.get("framework", ""),
            "item": " ".join(str(x) for x in (it.get("id", ""), it.get("title", "")) if x),
            "evidence": _list_text([str(x) for x in list(ev) + list(arts)], 12) if isinstance(ev, list) else str(ev),
            "manual": [str(m) for m in manual] if isinstance(manual, list) else str(manual),
        })
    disclaimer = cmap.get("disclaimer", "") if isinstance(cmap, dict) else ""
    return {"rows": rows, "disclaimer": disclaimer or "A reviewer aid, not legal advice."}


def verify_path(pack: Path, summary: Mapping[str, Any]) -> str:
    """The pack as the user types it where they ran ``playbook run``: the out folder's name and the pack's
    (``evidence/german-credit``). ``pack`` may be the hidden build folder: it sits in the out folder too."""
    name = summary.get("pack") or Path(pack).name
    out = Path(pack).resolve().parent.name
    return f"{out}/{name}" if out else str(name)


# -- the page -------------------------------------------------------------------------------------------------------
CSS = """
:root{--ink:#1b2129;--muted:#4a5360;--line:#d5dae1;--bg:#f5f6f8}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:var(--ink);background:var(--bg);line-height:1.45}
header,main,footer{max-width:1180px;margin:0 auto;padding:0 20px}
header{padding-top:16px}
h1{margin:0;font-size:22px} h2{margin:28px 0 8px;font-size:20px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:16px;margin:14px 0 6px}
.meta{color:var(--muted);font-size:13px;margin:4px 0 0}
a{color:#0a58a8} .broken{color:#8c1c10;text-decoration:line-through}
code{background:#e9ecf0;padding:1px 4px;border-radius:3px;font-size:.92em;overflow-wrap:anywhere}
#summary{background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px 18px;margin-top:12px}
.verdict{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 14px;padding:10px 14px;border-radius:8px;margin:0 0 8px}
.verdict strong{font-size:24px} .verdict span{font-size:17px;font-weight:600}
.v-go{background:#dff5e3;color:#0d5322;border:2px solid #2e9d4c}
.v-no-go{background:#fde4e1;color:#7d180d;border:2px solid #d0402f}
.v-error,.v-incomplete{background:#fff1d6;color:#6a4100;border:2px solid #c98f00}
.lead{margin:4px 0 10px}
ol.reasons{margin:6px 0 10px;padding-left:22px} ol.reasons li{margin:0 0 8px}
.next{display:block;margin-top:2px} .next b{color:#0d5322}
dl.numbers{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:8px;margin:8px 0}
dl.numbers div{border:1px solid var(--line);border-radius:8px;padding:8px 12px;background:#fbfcfd}
dl.numbers dt{font-size:13px;color:var(--muted);font-weight:600}
dl.numbers dd{margin:2px 0 0} dl.numbers dd.n{font-size:17px;font-weight:600}
dl.numbers dd.note{font-size:13px;color:var(--muted)}
.s{display:inline-block;font-weight:700;text-transform:uppercase;font-size:12px;padding:1px 6px;border-radius:4px;white-space:nowrap;vertical-align:1px}
.s-pass,.s-go,.s-automated{background:#dff5e3;color:#0d5322}.s-warn,.s-manual{background:#fff1d6;color:#6a4100}
.s-fail,.s-no-go,.s-missing{background:#fde4e1;color:#7d180d}.s-error{background:#f3d6ff;color:#4e1066}
.s-skip,.s-skipped,.s-na,.s-incomplete{background:#e6e8eb;color:#3d434b}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:10px;margin:8px 0}
figure{margin:0;background:#fff;border:1px solid var(--line);border-radius:8px;padding:6px}
figure img{width:100%;height:auto;display:block} figcaption{font-size:13px;margin-top:4px}
.why{color:var(--muted);font-size:13px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:14px;margin:6px 0}
th,td{border:1px solid #e0e3e8;padding:5px 7px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#eceff3}
td.ev{min-width:9em} table.kv{margin:0;font-size:13px} table.kv th{background:#f4f5f7;font-weight:600;width:45%}
details{background:#fff;border:1px solid var(--line);border-radius:8px;margin:8px 0;padding:4px 10px}
summary{cursor:pointer;padding:4px 0;font-weight:600}
summary h3{display:inline;font-size:16px;margin:0}
.cards{display:flex;gap:10px;flex-wrap:wrap;margin:6px 0}.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 14px}
.card b{display:block;font-size:20px}
footer{padding-bottom:24px}
@media (max-width:640px){
 header,main,footer{padding:0 10px} h1{font-size:19px} .verdict strong{font-size:20px}
 dl.numbers{grid-template-columns:1fr} table{font-size:13px}
 table.rows,table.rows>tbody,table.rows>tbody>tr,table.rows>tbody>tr>td{display:block;width:100%}
 table.rows>thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
 table.rows>tbody>tr{border:1px solid #e0e3e8;border-radius:6px;margin:0 0 8px;padding:4px 0;background:#fff}
 table.rows>tbody>tr>td{border:none;padding:2px 8px}
 table.rows>tbody>tr>td[data-label]::before{content:attr(data-label) ": ";font-weight:600;color:var(--muted)}
 td.ev{min-width:0}
}
"""

_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)

TEMPLATE = _ENV.from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evidence pack {{ s.pack }}: {{ s.verdict }}</title><style>{{ css | safe }}</style></head>
<body>
<header>
<h1>Readiness evidence pack: {{ s.pack }}</h1>
<p class="meta">Task: {{ s.task or "unknown" }}{% if s.task_inferred %} (inferred from the target){% endif %}
 &middot; target <code>{{ s.target }}</code>{% if s.rows %} &middot; rows: reference {{ "{:,}".format(s.rows.reference) }}, current {{ "{:,}".format(s.rows.current) }}{% endif %} &middot; playbook {{ s.playbook_version }}
 &middot; <a href="summary.json">summary.json</a> &middot; <a href="manifest.json">manifest.json</a> &middot; <a href="config.yaml">config.yaml</a>
{% if s.data_sample %}<br>Larger than <code>data.max_rows</code>: {% for role, smp in s.data_sample.items() %}the {{ role }} data's {{ "{:,}".format(smp.rows) }} rows were sampled to {{ "{:,}".format(smp.sample) }} (seed {{ smp.seed }}){% if not loop.last %}; {% endif %}{% endfor %} for the steps; the audit's statistics cover every row.{% endif %}</p>
</header>
<main>
<section id="summary" aria-labelledby="summary-title">
<h2 id="summary-title" style="margin-top:0">Executive summary</h2>
<div id="verdict" class="verdict v-{{ ex.verdict }}"><strong>Verdict: {{ ex.verdict | upper }}</strong><span>{{ ex.headline }}{% if s.partial %} (partial run){% endif %}</span></div>
<p class="lead">{{ ex.text }}</p>
{% if ex.reasons %}
<h3 id="reasons">What blocks the release</h3>
<ol class="reasons">
{% for r in ex.reasons %}<li><b>{{ r.title }}</b>{% if r.check %} (<code>{{ r.check }}</code>){% endif %}: {{ r.sentence }}{% if r.anchor %} <a href="#{{ r.anchor }}">Details</a>{% endif %}
{% if r.next_step %}<span class="next"><b>What to do next:</b> {{ r.next_step }}</span>{% endif %}</li>
{% endfor %}
</ol>
{% elif ex.findings %}
<p>Nothing blocks the release. {{ ex.findings }} check{{ "s" if ex.findings != 1 }} failed without blocking: <a href="#findings">review them</a> before you decide.</p>
{% endif %}
<h3>The numbers that decide a launch</h3>
<dl class="numbers">
{% for n in ex.numbers %}<div><dt>{{ n.label }}</dt><dd class="n"><span class="s s-{{ n.status | replace('/', '') }}">{{ n.status }}</span> {{ n.text }}</dd>
{% if n.bound %}<dd>{{ n.bound }}</dd>{% endif %}{% if n.note %}<dd class="note">{% if n.text == "not measured" %}Why: {% endif %}{{ n.note }}</dd>{% endif %}</div>
{% endfor %}
</dl>
<h3>Key figures</h3>
{% if figures %}<div class="figs">
{% for f in figures %}<figure><img src="{{ f.src }}" alt="{{ f.alt }}"><figcaption><a href="{{ f.href }}">{{ f.caption }}</a></figcaption></figure>
{% endfor %}</div>{% endif %}
{% for a in absent_figures %}<p class="why">{{ a }}</p>
{% endfor %}
</section>

{% if findings %}
<h2 id="findings">Failed checks that do not block</h2>
<p class="why">These checks failed but no blocking gate covers them: read each one and decide, or make it a gate in policy.gates.</p>
<table class="rows"><thead><tr><th scope="col">check</th><th scope="col">value</th><th scope="col">why it matters, and what to do</th></tr></thead><tbody>
{% for c in findings %}<tr><td><a href="#check-{{ c.id }}">{{ c.title }}</a><br><code>{{ c.id }}</code></td><td data-label="value">{{ c.value }}</td><td class="why">{{ c.why }}{% if c.next_step %} <b>Next:</b> {{ c.next_step }}{% endif %}</td></tr>
{% endfor %}</tbody></table>
{% endif %}

<h2 id="gates">Release gates</h2>
<p class="why">The policy's gates decide the verdict: a blocking gate that fails makes it no-go. {{ gates | selectattr("block") | list | length }} gates block, {{ gates | rejectattr("block") | list | length }} are reported.</p>
<details{% if ex.reasons %} open{% endif %}><summary>All {{ gates | length }} gates</summary>
<table class="rows"><thead><tr><th scope="col">status</th><th scope="col">check</th><th scope="col">blocks</th><th scope="col">rule</th><th scope="col">value</th><th scope="col">note</th></tr></thead><tbody>
{% for g in gates %}<tr><td><span class="s s-{{ g.status }}">{{ g.status }}</span></td><td>{% if g.anchor %}<a href="#{{ g.anchor }}">{{ g.title }}</a>{% else %}{{ g.title }}{% endif %}<br><code>{{ g.id }}</code>{% if g.via %} <span class="why">via <code>{{ g.via }}</code></span>{% endif %}</td><td data-label="blocks">{{ "yes" if g.block else "no" }}</td><td data-label="rule">{{ g.threshold }}</td><td data-label="value">{{ g.value }}</td><td class="why"{% if g.reason %} data-label="note"{% endif %}>{{ g.reason }}</td></tr>
{% endfor %}</tbody></table>
{% if na_gates %}<p class="why">Gates that do not apply to this pack: {% for m in na_gates %}<code>{{ m }}</code> {% endfor %}</p>{% endif %}
</details>

<h2 id="steps">Checks by step</h2>
{% for st in steps %}
<section class="step" id="step-{{ st.name }}" aria-label="{{ st.label }}">
<details{% if st.open %} open{% endif %}><summary><h3>{{ st.label }}</h3> <span class="s s-{{ st.status }}">{{ st.status }}</span> <span class="why">{{ st.rows | length }} checks{% for k, v in st.counts %}{{ ":" if loop.first else "," }} {{ v }} {{ k }}{% endfor %}</span></summary>
<p class="meta">{% if st.html %}<a href="{{ st.html }}">read the notebook</a> &middot; {% endif %}{% if st.notebook %}<a href="{{ st.notebook }}">notebook.ipynb</a> &middot; {% endif %}{% if st.results %}<a href="{{ st.results }}">results.json</a>{% endif %}{% if st.error %} &middot; <b>error:</b> {{ st.error }}{% endif %}</p>
{% if st.rows %}<table class="rows"><thead><tr><th scope="col">status</th><th scope="col">check</th><th scope="col">value</th><th scope="col">threshold</th><th scope="col">evidence</th></tr></thead><tbody>
{% for c in st.rows %}<tr id="check-{{ c.id }}"><td><span class="s s-{{ c.status }}">{{ c.status }}</span></td><td><b>{{ c.title }}</b><br><code>{{ c.id }}</code>{% if c.why %}<div class="why">{{ c.why }}</div>{% endif %}{% if c.next_step %}<div class="why"><b>Next:</b> {{ c.next_step }}</div>{% endif %}</td>
<td data-label="value">{% if c.value.rows %}<table class="kv"><tbody>{% for k, v in c.value.rows %}<tr><th scope="row">{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</tbody></table>{% if c.value.more %}<span class="why">and {{ c.value.more }} more in the evidence</span>{% endif %}{% else %}{{ c.value.text }}{% endif %}{{ c.ci }}</td>
<td data-label="threshold">{{ c.threshold }}<div class="why">{{ c.gate }}</div></td><td class="ev"{% if c.links %} data-label="evidence"{% endif %}>{% for l in c.links %}<a href="{{ l.href }}"{% if not l.ok %} class="broken"{% endif %}>{{ l.label }}</a><br>{% endfor %}</td></tr>
{% endfor %}</tbody></table>{% endif %}
</details>
</section>
{% endfor %}

{% if mts %}
<h2 id="ml-test-score">ML Test Score (Breck et al., 2017): final {{ mts.final }}</h2>
<div class="cards">{% for sec, val in mts.sections.items() %}<div class="card">{{ sec }}<b>{{ val }}</b>of 7</div>{% endfor %}</div>
<details><summary>All {{ mts.tests | length }} tests</summary><table class="rows"><thead><tr><th scope="col">section</th><th scope="col">test</th><th scope="col">status</th><th scope="col">points</th><th scope="col">evidence</th></tr></thead><tbody>
{% for t in mts.tests %}<tr><td data-label="section">{{ t.section }}</td><td>{{ t.id }}: {{ t.title }}</td><td><span class="s s-{{ t.status }}">{{ t.status }}</span></td><td data-label="points">{{ t.points }}</td><td data-label="evidence">{{ (t.evidence or []) | join(", ") or "none" }}</td></tr>
{% endfor %}</tbody></table></details>
{% endif %}

{% if documents %}
<h2 id="model-card">Model card and documents</h2>
<ul>{% for d in documents %}<li><a href="{{ d.href }}">{{ d.label }}</a></li>{% endfor %}</ul>
{% endif %}
{% if cmap %}
<h2 id="compliance">Compliance evidence map</h2><p class="why">{{ cmap.disclaimer }}</p>
<details><summary>{{ cmap.rows | length }} items</summary>
<table class="rows"><thead><tr><th scope="col">framework</th><th scope="col">item</th><th scope="col">evidence in this pack</th><th scope="col">left to people</th></tr></thead><tbody>
{% for it in cmap.rows %}<tr><td data-label="framework">{{ it.framework }}</td><td>{{ it.item }}</td><td class="why" data-label="evidence">{{ it.evidence }}</td><td class="why" data-label="left to people">{% if it.manual is string %}{{ it.manual }}{% else %}<ul>{% for m in it.manual %}<li>{{ m }}</li>{% endfor %}</ul>{% endif %}</td></tr>
{% endfor %}</tbody></table></details>
{% endif %}
</main>
<footer><p class="meta">Integrity: from the folder you ran <code>playbook run</code> in, run <code>playbook verify {{ verify }}</code> to recompute every file hash in manifest.json.</p></footer>
</body></html>
""")


def render(pack: Path, summary: Mapping[str, Any]) -> str:
    """index.html for the pack at ``pack`` (the final folder or its hidden build folder)."""
    return TEMPLATE.render(css=CSS, **view(pack, summary, verify_path(pack, summary)))


__all__ = ["FIGURES", "MISSING", "blocking_reasons", "ci_text", "executive", "figures", "humanize", "key_numbers",
           "number", "reason", "render", "share", "text", "threshold", "value_view", "verify_path", "view"]
