"""The compliance evidence map: for each obligation of the EU AI Act's high-risk requirements (Articles 9 to 15)
and each function of the NIST AI Risk Management Framework 1.0 (Govern, Map, Measure, Manage), which checks and
artifacts of this pack speak to it, and what is left to people.

It is an aid for reviewers. It is not legal advice, it does not establish conformity with any law or standard,
and it does not decide whether a system is high-risk.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Iterable

from playbook.governance.evidence import Evidence
from playbook.governance.render import Doc, esc, link, markdown_to_html, relpath, table

DISCLAIMER = (
    "This map is an aid for reviewers: it points to the checks and artifacts of this evidence pack that speak to "
    "each item. It is not legal advice, it does not establish conformity with the EU AI Act, the NIST AI RMF or "
    "any other law or standard, and it does not decide whether the system is high-risk. The people accountable "
    "for the system must review every item, complete what is listed as left to people, and take legal advice "
    "where needed."
)

FRAMEWORKS = {
    "EU AI Act": "Regulation (EU) 2024/1689, Chapter III Section 2: requirements for high-risk AI systems (Articles 9-15).",
    "NIST AI RMF": "NIST AI 100-1, Artificial Intelligence Risk Management Framework 1.0 (2023): core functions.",
}

# Pack-level files (written when the pack is assembled) that serve as evidence.
PACK_FILES = ("config.yaml", "manifest.json", "summary.json", "index.html")


@dataclass(frozen=True)
class Item:
    framework: str
    id: str
    title: str
    asks: str
    checks: tuple[str, ...]                 # check-id globs
    artifacts: tuple[tuple[str, str], ...]  # (step, artifact glob) or ("pack", file)
    left_to_people: tuple[str, ...]


ITEMS: tuple[Item, ...] = (
    Item("EU AI Act", "Art. 9", "Risk management system",
         "A risk management system runs through the whole lifecycle: known and foreseeable risks are identified, "
         "estimated and evaluated (including reasonably foreseeable misuse), mitigated, and the system is tested "
         "against prior defined metrics and thresholds.",
         ("drift.*", "model.robustness*", "review.gates", "monitoring.false_alarm_budget_met",
          "monitoring.detects_within_days.*", "monitoring.timeline_detection", "model.business*"),
         (("drift_simulation", "*sensitivity*"), ("readiness_review", "scorecard.*"), ("pack", "summary.json")),
         ("Establish, document and maintain the risk management process across the lifecycle (not one pack run).",
          "Identify risks to health, safety and fundamental rights beyond what the data shows; decide on residual "
          "risk acceptance and record it.",
          "Consider impacts on persons under 18 and other vulnerable groups.")),
    Item("EU AI Act", "Art. 10", "Data and data governance",
         "Training, validation and testing data meet quality criteria: design choices, collection and origin, "
         "preparation, assumptions, examination for possible biases, identification of gaps; data are relevant, "
         "sufficiently representative and as free of errors as possible.",
         ("data.*", "governance.pii.*", "model.fairness*", "governance.datasheet"),
         (("data_audit", "*contract*"), ("data_audit", "*.html"), ("governance", "datasheet.*"),
          ("governance", "pii_findings.*")),
         ("Document the data's origin, the original purpose of collection and the legal basis for processing "
          "personal data (the datasheet's prompts).",
          "Judge whether the data is representative of the people and settings where the system will be used.",
          "Decide and record bias mitigation measures and the justification for processing special categories "
          "of personal data, if any.")),
    Item("EU AI Act", "Art. 11", "Technical documentation",
         "Technical documentation (Annex IV) is drawn up before the system is placed on the market and kept up "
         "to date: general description, development process, monitoring, performance, risk management.",
         ("governance.model_card", "governance.datasheet", "review.pipeline_integration"),
         (("governance", "model_card.*"), ("governance", "datasheet.*"), ("pack", "config.yaml"),
          ("pack", "index.html")),
         ("Complete the human prompts in the model card and datasheet (intended purpose, provider, versions, "
          "hardware, user instructions).",
          "Assemble the Annex IV documentation set and keep it current with each model version.")),
    Item("EU AI Act", "Art. 12", "Record-keeping",
         "The system technically allows the automatic recording of events (logs) over its lifetime, to identify "
         "risks, support post-market monitoring and monitor operation.",
         ("monitoring.config_roundtrip", "monitoring.dashboard_written", "monitoring.logging*"),
         (("monitoring_setup", "monitoring.yaml"), ("pack", "manifest.json")),
         ("Enable event logging in the deployed system (inputs, outputs, alerts, versions) and define retention.",
          "Store the monitor's per-batch results and this pack's manifest where auditors can reach them.")),
    Item("EU AI Act", "Art. 13", "Transparency and provision of information to deployers",
         "The system is transparent enough for deployers to interpret its output and use it appropriately; "
         "instructions for use state the provider, characteristics, capabilities and limitations, accuracy "
         "metrics, known risks and human oversight measures.",
         ("governance.model_card", "model.calibration*", "model.importance*", "model.explain*", "model.slice*"),
         (("governance", "model_card.*"),),
         ("Write the instructions for use for deployers, including the intended purpose and contact details.",
          "Explain in plain language how to interpret the model's scores and when not to rely on them.")),
    Item("EU AI Act", "Art. 14", "Human oversight",
         "The system is designed so that natural persons can effectively oversee it while in use: understand its "
         "capacities and limits, detect anomalies, avoid automation bias, interpret output, decide not to use it, "
         "override or stop it.",
         ("monitoring.false_alarm_budget_met", "monitoring.detects_within_days.*", "monitoring.timeline_detection",
          "monitoring.current_batches_alert_rate", "review.gates", "model.business*"),
         (("monitoring_setup", "monitoring.yaml"), ("readiness_review", "scorecard.*")),
         ("Assign the people who oversee the system in operation and give them the authority and training to "
          "override or stop it.",
          "Define how alerts from the monitor reach a person and what that person does.",
          "Design the user interface or workflow against automation bias.")),
    Item("EU AI Act", "Art. 15", "Accuracy, robustness and cybersecurity",
         "The system achieves an appropriate level of accuracy, robustness and cybersecurity, consistently over its "
         "lifecycle; accuracy metrics are declared; it is resilient to errors, faults and inconsistencies and to "
         "attempts to alter its use or performance (data poisoning, adversarial examples, model flaws).",
         ("model.*", "drift.*", "governance.pii.redacted", "review.pii.redacted", "monitoring.performance*"),
         (("model_evaluation", "*metrics*"), ("drift_simulation", "*sensitivity*")),
         ("Threat-model the system (data poisoning, adversarial inputs, model theft) and record the measures.",
          "Declare the accuracy levels and metrics in the instructions for use.",
          "Decide on fallback and fail-safe plans when the model is unavailable or degraded.")),
    Item("NIST AI RMF", "GOVERN", "Govern",
         "A culture of risk management is cultivated: policies, processes, accountability structures, roles and "
         "responsibilities, workforce diversity, and engagement with relevant AI actors are in place.",
         ("review.gates", "review.attestations*", "review.ml_test_score", "governance.pii.redacted"),
         (("pack", "config.yaml"), ("readiness_review", "scorecard.*")),
         ("Name the accountable owners and approvers of this model (record them as attestations in the policy).",
          "Set the organisation's risk tolerance and make the release gates reflect it.",
          "Provide training and escalation paths for the people involved.")),
    Item("NIST AI RMF", "MAP", "Map",
         "Context is established and understood: intended purposes, settings, users and impacted people; the "
         "system is categorised; benefits and costs, risks and impacts to individuals and groups are mapped.",
         ("data.*", "governance.pii.scan", "model.business*", "governance.model_card", "governance.datasheet"),
         (("governance", "model_card.*"), ("governance", "datasheet.*"), ("data_audit", "*contract*")),
         ("Describe the intended use, users, deployment context and the people affected.",
          "Run an impact assessment with stakeholders, including those affected by the decisions.")),
    Item("NIST AI RMF", "MEASURE", "Measure",
         "Appropriate methods and metrics are identified and applied; the system is evaluated for trustworthy "
         "characteristics (validity, reliability, safety, fairness, privacy, security, explainability); "
         "mechanisms track identified risks over time.",
         ("data.*", "drift.*", "model.*", "monitoring.*", "governance.pii.*"),
         (("model_evaluation", "*metrics*"), ("drift_simulation", "*sensitivity*"),
          ("readiness_review", "ml_test_score.*")),
         ("Arrange independent review of the measurement approach where the risk warrants it.",
          "Gather feedback from end users and affected communities about the metrics chosen.")),
    Item("NIST AI RMF", "MANAGE", "Manage",
         "Risks are prioritised and acted upon based on projected impact; strategies to maximise benefits and "
         "minimise harms are planned, documented and monitored; incidents are responded to and communicated.",
         ("review.gates", "monitoring.*"),
         (("readiness_review", "scorecard.*"), ("monitoring_setup", "monitoring.yaml")),
         ("Decide the response to each failing or missing gate (fix, accept with a recorded rationale, or stop).",
          "Plan incident response, rollback and decommissioning, and rehearse them.")),
)


def _artifacts(ev: Evidence, specs: Iterable[tuple[str, str]], pack_files: bool) -> list[str]:
    out = []
    for step, pattern in specs:
        if step == "pack":
            if pack_files:
                out.append(pattern)
            continue
        for a in ev.artifacts(step):
            if fnmatch.fnmatchcase(a, f"artifacts/{pattern}") or fnmatch.fnmatchcase(a.rsplit("/", 1)[-1], pattern):
                out.append(f"{ev.dirs.get(step, step)}/{a}")
    return sorted(dict.fromkeys(out))


def build_map(ev: Evidence, *, pack_files: bool = True, extra_artifacts: dict[str, list[str]] | None = None) -> dict:
    """The compliance evidence map as a JSON-able dict ``{disclaimer, frameworks, items, coverage}``.

    ``pack_files``: list pack-level files (config.yaml, manifest.json, ...) that the runner writes;
    ``extra_artifacts``: root-relative artifacts per item id not yet listed in results (e.g. written by the
    running step).
    """
    items = []
    for it in ITEMS:
        matched = ev.match(it.checks)
        ids = sorted({c["id"] for c in matched})
        arts = _artifacts(ev, it.artifacts, pack_files)
        arts = sorted(dict.fromkeys(arts + list((extra_artifacts or {}).get(it.id, []))))
        statuses: dict[str, int] = {}
        for c in matched:
            statuses[c["status"]] = statuses.get(c["status"], 0) + 1
        coverage = "evidence" if ids else ("artifacts only" if arts else "left to people")
        items.append({
            "framework": it.framework, "id": it.id, "title": it.title, "asks": it.asks,
            "evidence": ids, "artifacts": arts, "check_statuses": dict(sorted(statuses.items())),
            "left_to_people": list(it.left_to_people), "coverage": coverage,
        })
    cov = {"items": len(items), "with_check_evidence": sum(1 for i in items if i["evidence"]),
           "left_to_people_only": sum(1 for i in items if i["coverage"] == "left to people")}
    return {"schema_version": 1, "disclaimer": DISCLAIMER, "frameworks": dict(FRAMEWORKS), "items": items,
            "coverage": cov}


def compact_ids(ids: Iterable[str], keep: int = 3) -> list[str]:
    """Check ids with large families folded: ``drift.detects.* (25)`` instead of 25 ids."""
    groups: dict[str, list[str]] = {}
    for i in sorted(ids):
        parts = i.split(".")
        key = ".".join(parts[:2]) if len(parts) > 2 else i
        groups.setdefault(key, []).append(i)
    out = []
    for key, members in groups.items():
        out.extend(members if len(members) <= keep else [f"{key}.* ({len(members)})"])
    return out


def summary_view(cmap: dict, link_path: str | None = None) -> dict:
    """The ``compliance_map`` entry of summary.json (what index.html shows): check-id families are folded
    (``data.validity.* (14)``); the full lists are in the map's JSON artifact."""
    out = {
        "disclaimer": cmap["disclaimer"],
        "coverage": cmap["coverage"],
        "items": [{"framework": i["framework"], "id": i["id"], "title": i["title"],
                   "evidence": compact_ids(i["evidence"]), "checks": len(i["evidence"]),
                   "artifacts": i["artifacts"], "left_to_people": i["left_to_people"]} for i in cmap["items"]],
    }
    if link_path:
        out["link"] = link_path
    return out


def to_markdown(cmap: dict, base: str = "") -> tuple[str, Doc]:
    """Markdown of the map; artifact links are made relative to ``base`` (the folder the file is written to)."""
    doc = Doc("Compliance evidence map")
    doc.p(f"> **Reviewer aid, not legal advice.** {esc(cmap['disclaimer'])}", evidence=False)
    doc.p("Frameworks: " + "; ".join(f"**{esc(k)}**: {esc(v)}" for k, v in cmap["frameworks"].items()), evidence=False)
    cov = cmap["coverage"]
    doc.p(f"{cov['with_check_evidence']} of {cov['items']} items have checks in this pack that speak to them; "
          f"every item also lists what only people can do.", evidence=False)
    rows = []
    for i in cmap["items"]:
        rows.append([f"{esc(i['framework'])} {esc(i['id'])}", esc(i["title"]), i["coverage"],
                     len(i["evidence"]), len(i["artifacts"])])
    doc.p(table(["item", "title", "coverage", "checks", "artifacts"], rows, raw_columns=(0, 1)), evidence=False)
    for i in cmap["items"]:
        doc.h2(f"{i['framework']} {i['id']}: {i['title']}")
        doc.p(f"*What it asks (paraphrased):* {esc(i['asks'])}", evidence=False)
        if i["evidence"]:
            st = ", ".join(f"{k}: {v}" for k, v in i["check_statuses"].items())
            doc.p(f"**Checks in this pack** ({esc(st)}): " + ", ".join(f"`{c}`" for c in i["evidence"]))
        else:
            doc.note("No check of this pack speaks to this item.")
        if i["artifacts"]:
            doc.p("**Artifacts:** " + ", ".join(link(a, relpath(a, base)) for a in i["artifacts"]))
        doc.p("**Left to people:**\n\n" + "\n".join(f"- {esc(x)}" for x in i["left_to_people"]), evidence=False)
    return doc.markdown(), doc


def to_html(cmap: dict, base: str = "") -> str:
    md, _ = to_markdown(cmap, base)
    return markdown_to_html(md, "Compliance evidence map")
