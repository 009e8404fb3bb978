"""What the governance step does, as library calls a notebook cell can make one line at a time:
scan for personal data, search the pack for raw values, and write the model card and datasheet."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from playbook import catalogue, privacy
from playbook.governance import datasheet, modelcard, pii
from playbook.governance.evidence import STEP_ORDER, Evidence
from playbook.governance.facts import facts_from_context
from playbook.results import write_json_atomic, write_text_atomic


@dataclass
class Place:
    """Where the running step sits: the root the evidence is read from and the step folder relative to it."""

    root: Path
    dirname: str

    @property
    def artifacts_base(self) -> str:
        return f"{self.dirname}/artifacts"


def place_of(step, ctx) -> Place:
    """The pack root (``pack_dir``) or, interactively, the ``evidence/_interactive`` folder."""
    d = Path(step.dir).resolve()
    if getattr(ctx, "pack_dir", None):
        root = Path(ctx.pack_dir).resolve()
        try:
            return Place(root, d.relative_to(root).as_posix())
        except ValueError:
            pass
    return Place(d.parent, d.name)


def gather(ctx, step, *, exclude: tuple[str, ...] = ("readiness_review",)) -> Evidence:
    """Earlier steps' results plus the running step's checks so far."""
    pl = place_of(step, ctx)
    if getattr(ctx, "pack_dir", None):
        ev = Evidence.from_folder(pl.root, exclude=(step.name, *exclude))
    else:
        ev = Evidence.from_context(ctx, names=[n for n in STEP_ORDER if n != step.name], exclude=exclude)
        ev.root = pl.root
    ev.root = pl.root
    ev.add_step(step.name, step.as_dict(), pl.dirname)
    return ev


def leak_check(ctx, root: Path, **kw) -> tuple[dict, list[dict]]:
    """The leak search (:func:`playbook.governance.pii.leak_check`)."""
    return pii.leak_check(ctx, root, **kw)


def write_documents(step, ctx, ev: Evidence, scan: privacy.PrivacyScan, *, needles: dict | None = None) -> dict:
    """Write the model card and datasheet (Markdown + HTML) into the step's artifacts; return their checks
    and stats. ``needles`` are raw values to scrub from the documents as a last safety net."""
    pl = place_of(step, ctx)
    base = pl.artifacts_base
    findings = [f.as_dict() for f in scan.findings]
    facts = facts_from_context(ctx, scan.protected)
    allow = bool(getattr(ctx.policy, "allow_raw_pii", False))
    scrub_needles = None if allow else needles

    def scrub(t: str) -> str:
        return t if allow else privacy.scrub_text(t, scrub_needles)

    card_md, card_html, card_stats = modelcard.render(ev, facts, base=base, pii_findings=findings,
                                                      datasheet_link="datasheet.html")
    ds_md, ds_html, ds_stats = datasheet.render(ev, facts, base=base, pii_findings=findings)
    write_text_atomic(step.artifact("model_card.md"), scrub(card_md))
    write_text_atomic(step.artifact("model_card.html"), scrub(card_html))
    write_text_atomic(step.artifact("datasheet.md"), scrub(ds_md))
    write_text_atomic(step.artifact("datasheet.html"), scrub(ds_html))
    write_json_atomic(step.artifact("facts.json"), {k: v for k, v in facts.items() if k != "datasheet_source"})

    eval_present = ev.present("model_evaluation")
    audit_present = ev.present("data_audit")
    checks = [
        catalogue.check(
            "governance.model_card", "pass" if eval_present else "warn", card_stats,
            title="Model card generated from the evidence", threshold={"sections": len(modelcard.SECTIONS)},
            evidence=["artifacts/model_card.html", "artifacts/model_card.md"],
            why=("A model card tells deployers and reviewers what the model is for, how well it works and for whom; "
                 f"{card_stats['human_prompts']} questions in it are left for a person to answer."
                 if eval_present else
                 "The model evaluation did not run, so the card has no measured performance: run that step before release.")),
        catalogue.check(
            "governance.datasheet", "pass" if audit_present else "warn", ds_stats,
            title="Datasheet for the data generated from the evidence", threshold={"sections": len(datasheet.SECTIONS)},
            evidence=["artifacts/datasheet.html", "artifacts/datasheet.md"],
            why=("A datasheet records what the data is, where it came from and what it must not be used for; "
                 f"{ds_stats['human_prompts']} questions in it are left for the data's owners."
                 if audit_present else
                 "The data audit did not run, so the datasheet has no quality findings: run that step before release.")),
    ]
    return {"checks": checks, "model_card": card_stats, "datasheet": ds_stats, "facts": facts}


def write_findings(step, scan: privacy.PrivacyScan, k_anonymity: dict | None = None) -> str:
    """The privacy findings (masked examples only) as ``artifacts/pii_findings.json``; returns its link."""
    write_json_atomic(step.artifact("pii_findings.json"), {
        "kinds": list(privacy.KINDS),
        "thresholds": scan.thresholds,
        "flagged_columns": scan.flagged_columns,
        "identifiers": scan.identifiers,
        "high_cardinality": scan.high_cardinality,
        "protected_columns": scan.by_column(),
        "findings": [f.as_dict() for f in scan.findings],
        "k_anonymity": k_anonymity,
    })
    return "artifacts/pii_findings.json"


def load_findings(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
