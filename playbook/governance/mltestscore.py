"""The ML Test Score (Breck, Cai, Nielsen, Salib, Sculley: "The ML Test Score: A Rubric for ML Production
Readiness and Technical Debt Reduction", IEEE Big Data 2017) computed from an evidence pack.

The rubric has 28 tests, 7 in each of four sections (data, model, infrastructure, monitoring). Scoring,
as the paper defines it:

* 0.5 point for a test executed *manually*, with the results documented and distributed;
* 1 point for a test that is *automated* and run repeatedly;
* a section's score is the sum of its tests' points; the **final score is the minimum over the sections**
  (a system is only as production-ready as its weakest area).

Here a test is *automated* when the pack holds at least one carried-out check (status pass, warn or fail:
a failing check still shows the test runs) for every evidence group the test requires; the check ids are
listed as its evidence. It is *manual* when ``policy.attestations.<test id>`` names an owner and a link to
the documented result, and *missing* otherwise. Evidence is matched by check-id glob patterns, so new checks
in a family (``model.fairness.*``) count without touching this table.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any, Iterable

SECTIONS = ("data", "model", "infrastructure", "monitoring")
_PREFIX = {"data": "data", "model": "model", "infrastructure": "infra", "monitoring": "monitor"}
EVIDENCE_STATUSES = ("pass", "warn", "fail")


@dataclass(frozen=True)
class MLTest:
    section: str
    number: int
    title: str
    asks: str                                  # what the paper asks for, in a sentence
    how: str                                   # how this pack evidences it (or why it cannot)
    requires: tuple[tuple[str, ...], ...] = ()  # every group needs >= 1 matching check

    @property
    def id(self) -> str:
        return f"{_PREFIX[self.section]}_{self.number}"


def _t(section, number, title, asks, how, *groups) -> MLTest:
    return MLTest(section, number, title, asks, how, tuple(tuple(g) for g in groups))


TESTS: tuple[MLTest, ...] = (
    # --- Tests for features and data (Table I) --------------------------------------------------
    _t("data", 1, "Feature expectations are captured in a schema",
       "Expectations about each feature (type, range, categories, missingness) are written down as a schema and checked.",
       "The data audit writes a data contract (types, ranges, categories, nullability) and validates the data against it.",
       ["data.contract*", "data.schema*"]),
    _t("data", 2, "All features are beneficial",
       "Each feature contributes enough predictive value to justify keeping it.",
       "Permutation importance with its spread; features with near-zero importance are flagged.",
       ["model.importance*", "model.explain*", "model.permutation*", "model.feature_importance*"]),
    _t("data", 3, "No feature's cost is too much",
       "The cost of each feature (latency, memory, upstream dependencies, instability) is weighed against its benefit.",
       "Each feature's benefit (permutation importance) is measured alongside the model's serving cost (latency, throughput).",
       ["model.importance*", "model.explain*", "model.permutation*", "model.feature_importance*"],
       ["model.serving.latency*", "model.serving.throughput*", "model.latency*", "review.computing_performance"]),
    _t("data", 4, "Features adhere to meta-level requirements",
       "Features respect project-level rules: no personal identifiers, no leaked target information, approved sources.",
       "Personal-data columns used as features are flagged, and features that alone predict the target (leakage) are caught.",
       ["governance.pii.features"], ["data.leakage*"]),
    _t("data", 5, "The data pipeline has appropriate privacy controls",
       "Personal data is identified, access is controlled, and it does not spread into derived artefacts.",
       "PII scan of every column; flagged columns are masked in every output and the pack is searched for raw values.",
       ["governance.pii.scan"], ["governance.pii.redacted", "review.pii.redacted"]),
    _t("data", 6, "New features can be added quickly",
       "The time from a feature idea to a feature in production is short (weeks, not months).",
       "A process property of the team and its platform: attest it (owner + link to the lead-time evidence)."),
    _t("data", 7, "All input feature code is tested",
       "The code that produces features is tested so that bugs do not silently corrupt inputs.",
       "The model's feature preprocessing is fed malformed rows (missing column, wrong type, NaN, unseen category, "
       "extra column), and the input columns' types are checked (mixed types, numbers stored as text).",
       ["model.serving.input_validation*", "model.input_validation*"],
       ["data.schema.*", "data.types*", "data.mixed_types*", "data.numeric_as_text*"]),
    # --- Tests for model development (Table II) ---------------------------------------------------
    _t("model", 1, "Model specs are reviewed and submitted",
       "Model specifications (code, configuration, results) go through review and are checked in.",
       "The pack holds the resolved config, the executed notebooks and a model card generated from the evidence, for review.",
       ["governance.model_card"]),
    _t("model", 2, "Offline and online metrics correlate",
       "The offline proxy metric is shown to move with the business / online impact metric.",
       "Offline metrics are translated into business value per decision, and label-free performance estimates are compared with realised metrics.",
       ["model.business*", "monitoring.performance_estimat*", "monitoring.estimat*", "monitoring.cbpe*"]),
    _t("model", 3, "All hyperparameters have been tuned",
       "Hyperparameters (learning rate, depth, regularisation, ...) are tuned by a systematic search.",
       "Evidenced only when the evaluation records a tuning check; otherwise attest the tuning study.",
       ["model.hyperparameters*", "model.tuning*", "model.tuned*"]),
    _t("model", 4, "The impact of model staleness is known",
       "How quickly quality decays as the world drifts away from the training data is measured.",
       "The drift simulation rehearses faults and drift timelines, measuring quality under each and the time to detection.",
       ["drift.timeline*", "drift.time_to_detection*", "drift.silent_failures*", "drift.staleness*",
        "model.robustness*", "drift.detects*"]),
    _t("model", 5, "A simpler model is not better",
       "The model is compared with a simple baseline and beats it.",
       "model.beats_baseline compares the model with a dummy / simple baseline beyond the confidence interval.",
       ["model.beats_baseline*", "model.baseline*"]),
    _t("model", 6, "Model quality is sufficient on important data slices",
       "Quality is checked per slice of the data, not only on average.",
       "Metrics per value of each categorical and binned numeric feature; worst slices flagged with their sample size.",
       ["model.slice*"]),
    _t("model", 7, "The model is tested for considerations of inclusion",
       "The model is examined for disparate performance or outcomes across groups of people.",
       "Fairness per sensitive column with fairlearn: selection rate, TPR/FPR per group, parity and equalised-odds differences.",
       ["model.fairness*", "fairness.*"]),
    # --- Tests for ML infrastructure (Table III) --------------------------------------------------
    _t("infrastructure", 1, "Training is reproducible",
       "Training twice on the same data gives the same (or an equivalent) model.",
       "For a trained baseline the model is fitted twice and must give identical predictions.",
       ["model.reproducible*"]),
    _t("infrastructure", 2, "Model specs are unit tested",
       "The model specification code is tested (it trains, it outputs sane values, it handles edge cases).",
       "The loaded model is fed malformed rows (missing column, wrong type, NaN, unseen category, extra column) and must answer clearly.",
       ["model.serving.input_validation*", "model.input_validation*"]),
    _t("infrastructure", 3, "The ML pipeline is integration tested",
       "The whole pipeline, from data to served model, is exercised end to end.",
       "The readiness review confirms every step of the playbook ran end to end on this data and model.",
       ["review.pipeline_integration"]),
    _t("infrastructure", 4, "Model quality is validated before serving",
       "A model must pass quality checks before it is pushed to serving.",
       "The readiness review applies the policy's gates (model quality among them) and gives a go / no-go verdict.",
       ["review.gates"]),
    _t("infrastructure", 5, "The model is debuggable",
       "One can step through the computation of a single prediction and find why it is wrong.",
       "Explanations (permutation importance) and per-slice error analysis point to the features and rows behind errors.",
       ["model.importance*", "model.explain*", "model.permutation*", "model.feature_importance*"],
       ["model.slice*", "model.calibration*", "model.ece*"]),
    _t("infrastructure", 6, "Models are canaried before serving",
       "A new model serves a small share of traffic before the full rollout.",
       "A deployment property: attest the canary procedure unless the monitoring step records one.",
       ["monitoring.canary*", "monitoring.shadow*"]),
    _t("infrastructure", 7, "Serving models can be rolled back",
       "A bad model can be replaced by the previous one quickly and safely.",
       "A deployment property: attest the rollback drill unless the monitoring step records one.",
       ["monitoring.rollback*"]),
    # --- Monitoring tests (Table IV) --------------------------------------------------------------
    _t("monitoring", 1, "Dependency changes result in notification",
       "Changes in upstream data sources or code dependencies notify the model owners.",
       "Upstream data changes (a column dropped, renamed or retyped) are rehearsed and the monitor alerts on them "
       "within days; changes in code and library dependencies still need a person's attestation.",
       ["monitoring.dependenc*", "monitoring.upstream*", "monitoring.detects_within_days.dropped_column",
        "monitoring.detects_within_days.renamed_column", "monitoring.detects_within_days.type_change"],
       ["drift.detects.dropped_column", "drift.detects.renamed_column", "drift.detects.type_change",
        "monitoring.dependenc*", "monitoring.upstream*"]),
    _t("monitoring", 2, "Data invariants hold for inputs",
       "The schema's invariants are checked on live (serving) inputs, with alerts.",
       "The monitoring config carries the data contract and checks each batch against it.",
       ["monitoring.contract*", "monitoring.invariants*", "data.contract.current*", "data.contract.violations*"]),
    _t("monitoring", 3, "Training and serving are not skewed",
       "Features computed at serving time match those seen in training.",
       "The calibrated monitor is run on batches of the recent (serving-like) data against the training reference.",
       ["monitoring.current_batches_alert_rate", "drift.current*", "drift.reference_vs_current*", "data.drift*",
        "monitoring.skew*"]),
    _t("monitoring", 4, "Models are not too stale",
       "The age of the model in production is monitored against the measured staleness impact.",
       "The monitor's detection delay per fault (days to detection) and data freshness are measured.",
       ["monitoring.detects_within_days*", "monitoring.staleness*", "data.freshness*", "data.staleness*"]),
    _t("monitoring", 5, "Models are numerically stable",
       "NaNs, infinities and extreme outputs are detected during training and serving.",
       "The model is fed NaN and malformed inputs and must return finite, valid outputs; inputs are checked for infinite values.",
       ["model.numerical*", "model.predictions*", "model.serving.input_validation*", "model.input_validation*"],
       ["data.validity.infinite*", "data.infinite*", "model.numerical*", "model.predictions*"]),
    _t("monitoring", 6, "Computing performance has not regressed",
       "Latency, throughput and memory of training and serving are tracked for regressions.",
       "Single-row and batch latency (p50/p95/p99) and rows per second are measured on every pack run.",
       ["model.serving.latency*", "model.serving.throughput*", "model.latency*", "monitoring.latency*",
        "review.computing_performance"]),
    _t("monitoring", 7, "Prediction quality has not regressed",
       "Prediction quality on live data is monitored against its offline level.",
       "The monitor has calibrated alert thresholds, performance thresholds for labelled batches and label-free estimates.",
       ["monitoring.performance*", "monitoring.false_alarm_budget*", "monitoring.quality*"]),
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


def score(checks: Iterable[dict], attestations: dict | None = None) -> dict:
    """Score the pack. ``checks`` are check dicts (``id``, ``status``); ``attestations`` maps test id to
    ``{owner, link, note}`` (``policy.attestations``).

    Returns ``{final, sections, tests, counts, interpretation, unknown_attestations}`` where ``tests`` lists
    all 28 as ``{section, id, title, points, status, evidence, ...}``.
    """
    carried = [c for c in checks if c.get("status") in EVIDENCE_STATUSES]
    ids = sorted({c["id"] for c in carried})
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
        groups_hit = [[i for i in ids if any(fnmatch.fnmatchcase(i, p) for p in g)] for g in t.requires]
        automated = bool(t.requires) and all(groups_hit)
        evidence = sorted({i for g in groups_hit for i in g}) if automated else []
        entry: dict[str, Any] = {"section": t.section, "id": t.id, "title": t.title}
        if automated:
            entry.update(points=1.0, status="automated", evidence=evidence)
        elif t.id in att:
            a = att[t.id]
            entry.update(points=0.5, status="manual", evidence=[],
                         attestation={"owner": a.get("owner"), "link": a.get("link"), "note": a.get("note", "")})
        else:
            partial = sorted({i for g in groups_hit for i in g})
            entry.update(points=0.0, status="missing", evidence=[])
            if partial:
                entry["partial_evidence"] = partial
        entry["how"] = t.how
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
