"""The ML Test Score (Breck, Cai, Nielsen, Salib, Sculley: "The ML Test Score: A Rubric for ML Production
Readiness and Technical Debt Reduction", IEEE Big Data 2017) computed from an evidence pack.

The rubric has 28 tests, 7 in each of four sections (data, model, infrastructure, monitoring). Scoring,
as the paper defines it:

* 0.5 point for a test executed *manually*, with the results documented and distributed;
* 1 point for a test that is *automated* and run repeatedly;
* a section's score is the sum of its tests' points; the **final score is the minimum over the sections**
  (a system is only as production-ready as its weakest area).

Here a test is *automated* only when the pack holds a check that **passed or warned** for every evidence group of
the test, among the checks the catalogue (:mod:`playbook.catalogue`) links to it as *full* evidence: checks that
measure what the rubric item asks. Checks that measure something weaker are linked as *partial* evidence: shown,
never counted. A failing, skipped or errored check earns nothing. A test is *manual* when
``policy.attestations.<test id>`` names an owner and a link to the documented result, and *missing* otherwise.
``docs/ml-test-score.md`` (generated: ``python -m playbook.governance.mltestscore``) maps all 28 tests.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any, Iterable

SECTIONS = ("data", "model", "infrastructure", "monitoring")
_PREFIX = {"data": "data", "model": "model", "infrastructure": "infra", "monitoring": "monitor"}
EVIDENCE_STATUSES = ("pass", "warn")  # a failing check shows the test ran, not that it holds


@dataclass(frozen=True)
class MLTest:
    section: str
    number: int
    title: str
    asks: str     # what the paper asks for, in a sentence
    gap: str = ""  # when the pack cannot automate it: why, and what a person attests

    @property
    def id(self) -> str:
        return f"{_PREFIX[self.section]}_{self.number}"

    def links(self, strength: str | None = None) -> list[tuple[Any, Any]]:
        """``(CheckSpec, Evidences)`` pairs of the catalogue that link to this test."""
        from playbook.catalogue import all_specs

        return [(s, e) for s in all_specs() for e in s.mts
                if e.test == self.id and (strength is None or e.strength == strength)]


def _t(section, number, title, asks, gap="") -> MLTest:
    return MLTest(section, number, title, asks, gap)


TESTS: tuple[MLTest, ...] = (
    # --- Tests for features and data (Table I) --------------------------------------------------
    _t("data", 1, "Feature expectations are captured in a schema",
       "Expectations about each feature (type, range, categories, missingness) are written down as a schema and checked."),
    _t("data", 2, "All features are beneficial",
       "Each feature contributes enough predictive value to justify keeping it."),
    _t("data", 3, "No feature's cost is too much",
       "The cost of each feature (latency, memory, upstream dependencies, instability) is weighed against its benefit."),
    _t("data", 4, "Features adhere to meta-level requirements",
       "Features respect project-level rules: no personal identifiers, no leaked target information, approved sources."),
    _t("data", 5, "The data pipeline has appropriate privacy controls",
       "Personal data is identified, access is controlled, and it does not spread into derived artefacts."),
    _t("data", 6, "New features can be added quickly",
       "The time from a feature idea to a feature in production is short (weeks, not months).",
       "A property of the team and its platform, not of one model: attest the lead time (owner + link)."),
    _t("data", 7, "All input feature code is tested",
       "The code that produces features is tested so that bugs do not silently corrupt inputs.",
       "The pack receives computed features, not the code that computes them: attest the feature pipeline's tests."),
    # --- Tests for model development (Table II) ---------------------------------------------------
    _t("model", 1, "Model specs are reviewed and submitted",
       "Model specifications (code, configuration, results) go through review and are checked in.",
       "A review is done by people: attest it, linking the review of the model card and config this pack holds."),
    _t("model", 2, "Offline and online metrics correlate",
       "The offline proxy metric is shown to move with the business / online impact metric.",
       "Needs an online metric (an A/B test or live KPI) that no offline pack has: attest the study."),
    _t("model", 3, "All hyperparameters have been tuned",
       "Hyperparameters (learning rate, depth, regularisation, ...) are tuned by a systematic search.",
       "Automated for the baseline (a seeded search of its hyper-parameters); for a model file, attest the tuning "
       "study."),
    _t("model", 4, "The impact of model staleness is known",
       "How quickly quality decays as the world drifts away from the training data is measured.",
       "Needs a timestamp to train on older data and evaluate on newer data (data.timestamp)."),
    _t("model", 5, "A simpler model is not better",
       "The model is compared with a simple baseline and beats it."),
    _t("model", 6, "Model quality is sufficient on important data slices",
       "Quality is checked per slice of the data, not only on average."),
    _t("model", 7, "The model is tested for considerations of inclusion",
       "The model is examined for disparate performance or outcomes across groups of people.",
       "Needs the sensitive columns (data.sensitive)."),
    # --- Tests for ML infrastructure (Table III) --------------------------------------------------
    _t("infrastructure", 1, "Training is reproducible",
       "Training twice on the same data gives the same (or an equivalent) model.",
       "Automated for a model the pack can train; otherwise attest the training pipeline's reproducibility."),
    _t("infrastructure", 2, "Model specs are unit tested",
       "The model specification code is tested (it trains, it outputs sane values, it handles edge cases).",
       "Automated for a model the pack can train; otherwise attest the model code's unit tests."),
    _t("infrastructure", 3, "The ML pipeline is integration tested",
       "The whole pipeline, from data to served model, is exercised end to end.",
       "The production pipeline lives outside the pack: attest its integration tests."),
    _t("infrastructure", 4, "Model quality is validated before serving",
       "A model must pass quality checks before it is pushed to serving."),
    _t("infrastructure", 5, "The model is debuggable",
       "One can step through the computation of a single prediction and find why it is wrong.",
       "Needs a model the pack can call."),
    _t("infrastructure", 6, "Models are canaried before serving",
       "A new model serves a small share of traffic before the full rollout.",
       "A deployment procedure: attest the canary runbook."),
    _t("infrastructure", 7, "Serving models can be rolled back",
       "A bad model can be replaced by the previous one quickly and safely.",
       "A deployment procedure: attest the rollback drill."),
    # --- Monitoring tests (Table IV) --------------------------------------------------------------
    _t("monitoring", 1, "Dependency changes result in notification",
       "Changes in upstream data sources or code dependencies notify the model owners."),
    _t("monitoring", 2, "Data invariants hold for inputs",
       "The schema's invariants are checked on live (serving) inputs, with alerts."),
    _t("monitoring", 3, "Training and serving are not skewed",
       "Features computed at serving time match those seen in training.",
       "Needs the serving path (its logged features or an endpoint to call): attest the skew check."),
    _t("monitoring", 4, "Models are not too stale",
       "The age of the model in production is monitored against the measured staleness impact.",
       "Needs the measured staleness impact (a timestamp) and the model's age in production."),
    _t("monitoring", 5, "Models are numerically stable",
       "NaNs, infinities and extreme outputs are detected during training and serving.",
       "Needs a model the pack can call."),
    _t("monitoring", 6, "Computing performance has not regressed",
       "Latency, throughput and memory of training and serving are tracked for regressions.",
       "Needs a previous pack to compare with (`playbook run --previous PACK`)."),
    _t("monitoring", 7, "Prediction quality has not regressed",
       "Prediction quality on live data is monitored against its offline level."),
)

TESTS_BY_ID = {t.id: t for t in TESTS}

#: The paper's reading of the final score.
INTERPRETATION = (
    (0.0, "More of a research project than a productionized system."),
    (1.0, "Not totally untested, but it is worth considering the possibility of serious holes in reliability."),
    (2.0, "There has been a first pass at basic productionization, but additional investment may be needed."),
    (3.0, "Reasonably tested, but it is possible that more of those tests and procedures may be automated."),
    (5.0, "Strong levels of automated testing and monitoring, appropriate for mission-critical systems."),
    (float("inf"), "Exceptional levels of automated testing and monitoring."),
)


def interpret(final: float) -> str:
    for bound, text in INTERPRETATION:
        if final <= bound:
            return text
    return INTERPRETATION[-1][1]


def normalize_test_id(key: str) -> str | None:
    """Map ``data_1``, ``Data 1``, ``data-1``, ``infrastructure_3``, ``monitoring.7`` to a test id."""
    s = re.sub(r"[^a-z0-9]+", "_", str(key).lower()).strip("_")
    m = re.fullmatch(r"(data|features?|model|infra|infrastructure|monitor|monitoring)_?(\d)", s)
    if not m:
        return None
    sec = {"feature": "data", "features": "data", "infrastructure": "infra", "monitoring": "monitor"}.get(m.group(1), m.group(1))
    tid = f"{sec}_{int(m.group(2))}"
    return tid if tid in TESTS_BY_ID else None


def _attestation_ok(a: Any) -> bool:
    return isinstance(a, dict) and bool(str(a.get("owner") or "").strip()) and bool(str(a.get("link") or "").strip())


def _member_ok(check_id: str, members: tuple[str, ...]) -> bool:
    if not members:
        return True
    from playbook.catalogue import member

    return any(v in members for v in member(check_id).values())


def score(checks: Iterable[dict], attestations: dict | None = None) -> dict:
    """Score the pack. ``checks`` are check dicts (``id``, ``status``); ``attestations`` maps test id to
    ``{owner, link, note}`` (``policy.attestations``).

    Returns ``{final, sections, tests, counts, interpretation, unknown_attestations}`` where ``tests`` lists
    all 28 as ``{section, id, title, points, status, evidence, ...}``.
    """
    from playbook.catalogue import spec as spec_of

    checks = list(checks)
    counted = [c for c in checks if c.get("status") in EVIDENCE_STATUSES]
    att: dict[str, dict] = {}
    unknown = []
    for k, v in (attestations or {}).items():
        tid = normalize_test_id(k)
        if tid is None:
            unknown.append(str(k))
        elif _attestation_ok(v):
            att[tid] = dict(v)
    tests = []
    sections = {s: 0.0 for s in SECTIONS}
    counts = {"automated": 0, "manual": 0, "missing": 0}
    for t in TESTS:
        groups: dict[str, list[str]] = {}
        partial: set[str] = set()
        for c in checks:
            sp = spec_of(c["id"])
            if sp is None:
                continue
            for e in sp.mts:
                if e.test != t.id or not _member_ok(c["id"], e.members):
                    continue
                if e.strength == "full":
                    groups.setdefault(e.group, [])
                    if c in counted:
                        groups[e.group].append(c["id"])
                elif c in counted:
                    partial.add(c["id"])
        needed = {e.group for _, e in t.links("full")}
        automated = bool(needed) and all(groups.get(g) for g in needed)
        evidence = sorted({i for g in groups.values() for i in g}) if automated else []
        entry: dict[str, Any] = {"section": t.section, "id": t.id, "title": t.title}
        if automated:
            entry.update(points=1.0, status="automated", evidence=evidence)
        elif t.id in att:
            a = att[t.id]
            entry.update(points=0.5, status="manual", evidence=[],
                         attestation={"owner": a.get("owner"), "link": a.get("link"), "note": a.get("note", "")})
        else:
            entry.update(points=0.0, status="missing", evidence=[])
            found = sorted({i for g in groups.values() for i in g})
            if found:
                entry["partial_evidence"] = found
        if partial:
            entry["weaker_evidence"] = sorted(partial)
        entry["how"] = how(t)
        tests.append(entry)
        sections[t.section] += entry["points"]
        counts[entry["status"]] += 1
    final = min(sections.values())
    return {
        "final": final,
        "sections": sections,
        "tests": tests,
        "counts": counts,
        "interpretation": interpret(final),
        "unknown_attestations": sorted(unknown),
    }


def how(t: MLTest) -> str:
    """What the pack measures for a test (its full links), or why it cannot."""
    full = t.links("full")
    if full:
        return " ".join(f"{s.id}: {e.why}" for s, e in full)
    return t.gap or "Nothing in the pack measures it: attest it."


def summary_view(result: dict) -> dict:
    """The ``ml_test_score`` entry of summary.json (all 28 tests, compact)."""
    keep = ("section", "id", "title", "points", "status", "evidence", "attestation")
    return {
        "final": result["final"],
        "sections": dict(result["sections"]),
        "counts": dict(result["counts"]),
        "interpretation": result["interpretation"],
        "tests": [{k: t[k] for k in keep if k in t} for t in result["tests"]],
    }


def to_markdown(result: dict) -> str:
    """A readable report: section scores, then every test with its status and evidence."""
    lines = ["# ML Test Score", "",
             "After Breck et al., *The ML Test Score: A Rubric for ML Production Readiness and Technical Debt "
             "Reduction* (IEEE Big Data 2017). Automated test = 1 point (check ids below), manual test attested "
             "with an owner and a link = 0.5, missing = 0. Final score = the lowest section score.", "",
             f"**Final score: {result['final']:g}** — {result['interpretation']}", "",
             "| section | score (of 7) |", "|---|---|"]
    for s in SECTIONS:
        lines.append(f"| {s} | {result['sections'][s]:g} |")
    lines += ["", f"Automated: {result['counts']['automated']}, manual: {result['counts']['manual']}, "
              f"missing: {result['counts']['missing']} (of {len(result['tests'])}).", ""]
    for s in SECTIONS:
        lines += [f"## {s.capitalize()}", "", "| test | status | points | evidence / how |", "|---|---|---|---|"]
        for t in result["tests"]:
            if t["section"] != s:
                continue
            if t["status"] == "automated":
                ev = ", ".join(f"`{e}`" for e in t["evidence"])
            elif t["status"] == "manual":
                a = t.get("attestation", {})
                ev = f"attested by {a.get('owner')}: {a.get('link')}"
            else:
                ev = "missing: " + t.get("how", "")
            lines.append(f"| {t['id']}: {t['title']} | {t['status']} | {t['points']:g} | {ev} |")
        lines.append("")
    if result.get("unknown_attestations"):
        lines += ["Attestation keys that name no test (use ids like `data_6`, `infra_7`): "
                  + ", ".join(f"`{k}`" for k in result["unknown_attestations"]), ""]
    return "\n".join(lines)


def automation(t: MLTest) -> str:
    """When the pack automates a test: "always", "when <conditions>", or "never"."""
    full = t.links("full")
    if not full:
        return "never"
    conds = sorted({s.conditional for s, _ in full if s.conditional})
    return "always" if not conds else "when " + "; ".join(conds)


def mapping_markdown() -> str:
    """``docs/ml-test-score.md``: all 28 tests, what the rubric asks, what the pack measures, and why that is or is
    not the same. Generated from this module and the check catalogue."""
    lines = ["# The ML Test Score in the evidence pack", "",
             "Generated from `playbook/governance/mltestscore.py` and the check catalogue "
             "(`python -m playbook.governance.mltestscore > docs/ml-test-score.md`); a test fails when it is stale.", "",
             "Breck, Cai, Nielsen, Salib, Sculley: *The ML Test Score: A Rubric for ML Production Readiness and "
             "Technical Debt Reduction* (IEEE Big Data 2017). 28 tests, 7 per section. An automated test scores 1, a "
             "test attested by people (`policy.attestations.<test id>` with an owner and a link) scores 0.5; a "
             "section's score is the sum, the final score the lowest section.", "",
             "**Honest scoring.** A test counts as automated only when a check linked to it as *full* evidence (it "
             "measures what the rubric asks) **passed or warned** in the pack, for each kind of evidence the test "
             "needs. Checks that measure something weaker are listed as *partial* evidence and never count; a failing, "
             "skipped or errored check earns nothing.", ""]
    always = [t for t in TESTS if automation(t) == "always"]
    cond = [t for t in TESTS if automation(t).startswith("when")]
    never = [t for t in TESTS if automation(t) == "never"]
    lines += [f"Automated on every pack whose checks pass: {len(always)}; automated when a condition holds: "
              f"{len(cond)}; never automated (attest them): {len(never)}.", "",
              "| test | automated | what the pack measures (full evidence) | weaker evidence, and why it does not count |",
              "|---|---|---|---|"]
    for t in TESTS:
        full = "<br>".join(f"`{s.id}`" + (f" ({', '.join(e.members)})" if e.members else "")
                           + (f" [{e.group}]" if len({x.group for _, x in t.links('full')}) > 1 else "")
                           + f": {e.why}" for s, e in t.links("full")) or (t.gap or "nothing")
        part = "<br>".join(f"`{s.id}`: {e.why}" for s, e in t.links("partial")) or "–"
        lines.append(f"| **{t.id}**: {t.title}. *{t.asks}* | {automation(t)} | {full} | {part} |")
    lines += ["", "Where a test needs several kinds of evidence, the kinds are shown in brackets: each needs a check "
              "that passed or warned.", ""]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(mapping_markdown(), end="")
