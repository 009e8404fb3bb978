"""A datasheet for the data used by the pack, after Gebru et al., "Datasheets for Datasets" (CACM 2021): motivation,
composition, collection process, preprocessing / cleaning / labelling, uses, distribution, maintenance.

Composition, preprocessing findings and maintenance are filled from the data and the audit; the questions only the
data's owners can answer are left as clearly marked prompts. A datasheet shipped next to the data
(``DATASHEET.md`` beside the reference file) is included as an appendix.
"""

from __future__ import annotations

from playbook.governance.evidence import Evidence
from playbook.governance.modelcard import _absent, _artifact_links, _dist_text, checks_table
from playbook.governance.render import Doc, esc, markdown_to_html, table

SECTIONS = ("Motivation", "Composition", "Collection process", "Preprocessing, cleaning and labelling", "Uses",
            "Distribution", "Maintenance")


def build(ev: Evidence, facts: dict, *, base: str = "", pii_findings: list[dict] | None = None) -> Doc:
    doc = Doc(f"Datasheet: data of {facts.get('pack', 'the pack')}")
    files = facts.get("data_files") or {}
    rows_n = facts.get("rows") or {}
    doc.p("Questions after Gebru et al., *Datasheets for Datasets* (Communications of the ACM, 2021). Answers computed "
          "from the data and the pack's audit are filled in; paragraphs marked **✍** are for the data's owners.",
          evidence=False)

    doc.h2("Motivation")
    doc.p(f"In this pack the data is used to train (reference: `{esc(files.get('reference', ''))}`) and evaluate and "
          f"monitor (current: `{esc(files.get('current', ''))}`) a {esc(facts.get('task', ''))} model of "
          f"`{esc(facts.get('target', ''))}`.")
    doc.prompt("For what purpose was the dataset created, and what gap did it fill?")
    doc.prompt("Who created it (team, organisation) and who funded its creation?")

    doc.h2("Composition")
    doc.p(f"Instances: {rows_n.get('reference', '?')} reference rows and {rows_n.get('current', '?')} current rows; "
          f"{len(facts.get('column_profile') or [])} columns. Target `{esc(facts.get('target', ''))}`: reference "
          f"{_dist_text((facts.get('target_distribution') or {}).get('reference') or {})}; current "
          f"{_dist_text((facts.get('target_distribution') or {}).get('current') or {})}.")
    prof = facts.get("column_profile") or []
    if prof:
        doc.p(table(["column", "role", "kind", "dtype", "missing", "distinct", "sensitive", "personal data"],
                    [[p["column"], p["role"], p["kind"], p["dtype"], f"{p['missing_share']:.1%}", p["distinct"],
                      "yes" if p["sensitive"] else "", "yes (masked)" if p["personal_data"] else ""] for p in prof]))
    sens = facts.get("sensitive") or []
    if sens:
        doc.p("Sensitive attributes (declared in the config, used for fairness analysis): "
              + ", ".join(f"`{esc(s)}`" for s in sens) + ".")
    if pii_findings is not None:
        flagged = [f for f in pii_findings if f.get("flagged")]
        if flagged:
            doc.p("Personal data detected (masked examples only):")
            doc.p(table(["column", "kind", "share", "masked example"],
                        [[f["column"], f["kind"], f"{f['share']:.1%}", f["example"]] for f in flagged]))
        else:
            doc.p("No personal identifiers were detected by the PII scan.")
    if facts.get("time_range"):
        tr = facts["time_range"]
        doc.p("Time range: " + "; ".join(f"{k} {v['min']} to {v['max']}" for k, v in tr.items()) + ".")
    doc.prompt("What does each instance represent (a person, an application, a transaction)? Is the data a sample "
               "of a larger set, and how was it sampled?")
    doc.prompt("Does the data identify people directly or indirectly, or contain data that could be considered "
               "confidential or sensitive (special categories)?")

    doc.h2("Collection process")
    doc.prompt("How was the data collected (instruments, processes), by whom, and over what time frame?")
    doc.prompt("Were the people concerned told about the collection and did they consent? Was an ethical or data "
               "protection review carried out?")

    doc.h2("Preprocessing, cleaning and labelling")
    if not _absent(doc, ev, "data_audit", "the data quality"):
        audit = [c for c in ev.checks() if c["step"] == "data_audit"]
        doc.p(f"The data audit ran {len(audit)} checks; failing and warning ones come first:")
        doc.p(checks_table(audit, base, limit=40))
        contract = _artifact_links(ev, "data_audit", ["data_contract.json"], base)
        if contract:
            doc.p("The data contract derived from the reference data: " + ", ".join(contract) + ".")
    doc.prompt("What preprocessing, cleaning or labelling was done before this data reached the pack, and is the raw "
               "data kept?")

    doc.h2("Uses")
    doc.p(f"Used in this pack for: training and evaluating a {esc(facts.get('task', ''))} model, simulating drift, and "
          "calibrating production monitors.")
    doc.prompt("What other tasks could the data be used for, and which uses should be avoided (e.g. decisions about "
               "individuals it was not collected for)?")

    doc.h2("Distribution")
    doc.prompt("Under what licence and terms is the data distributed, to whom, and with what restrictions?")

    doc.h2("Maintenance")
    mon = _artifact_links(ev, "monitoring_setup", ["monitoring.yaml"], base)
    if mon:
        doc.p("A monitor for new batches of this data is configured in " + ", ".join(mon) + ".")
    else:
        _absent(doc, ev, "monitoring_setup", "the monitoring of new data") or doc.note("No monitoring config was found.")
    doc.prompt("Who maintains the data, how often is it updated, and how are errors reported and corrected?")

    src = facts.get("datasheet_source")
    if src and src.get("text"):
        doc.h2(f"Appendix: datasheet supplied with the data ({src.get('file', 'DATASHEET.md')})")
        text = src["text"]
        lines = [("##" + ln if ln.startswith("#") else ln) for ln in text.splitlines()]  # demote its headings
        doc.p("\n".join(lines))
    return doc


def render(ev: Evidence, facts: dict, **kw) -> tuple[str, str, dict]:
    doc = build(ev, facts, **kw)
    md = doc.markdown()
    return md, markdown_to_html(md, doc.title), doc.stats()
