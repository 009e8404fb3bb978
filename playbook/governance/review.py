"""The readiness review: collect every step's checks, apply the policy's gates, score the pack against the ML
Test Score, map the evidence to the EU AI Act and NIST AI RMF, and write the scorecard."""

from __future__ import annotations

import json
from typing import Any

from playbook import catalogue
from playbook.governance import compliance, mltestscore
from playbook.governance.documents import place_of
from playbook.governance.evidence import STEP_ORDER, Evidence, fmt_value
from playbook.governance.render import Doc, esc, link, markdown_to_html, relpath, table
from playbook.results import write_json_atomic, write_text_atomic

#: The steps before the review that make up the whole playbook pipeline.
PIPELINE = tuple(s for s in STEP_ORDER if s != "readiness_review")


def gather(ctx, step) -> Evidence:
    """Every other step's results: the pack (``pack_dir``) or the interactive evidence folder."""
    pl = place_of(step, ctx)
    ev = Evidence.from_folder(pl.root, exclude=(step.name,))
    return ev


def collect_checks(ctx, step, ev: Evidence) -> list[dict]:
    """The checks the gates apply to: ``playbook.scorecard.collect`` on the pack, minus this step's own."""
    pl = place_of(step, ctx)
    try:
        from playbook.scorecard import collect
    except ImportError:  # pragma: no cover - scorecard is part of the package
        return [c for c in ev.checks()]
    return [c for c in collect(pl.root) if c.get("step") != step.name and not str(c.get("step_dir", "")).endswith(pl.dirname)]


def step_statuses(ev: Evidence) -> dict[str, str]:
    return {name: ("error" if res.get("status") == "error" else "ok") for name, res in ev.steps.items()}


def apply_gates(checks: list[dict], policy, statuses: dict[str, str], facts: dict | None = None,
                steps_not_run: list[str] | None = None) -> dict:
    """``playbook.scorecard.evaluate``: ``{verdict, gates, reasons, counts}``."""
    from playbook.scorecard import evaluate

    return evaluate(checks, policy, statuses, facts=facts, steps_not_run=steps_not_run or ())


def steps_not_run(ev: Evidence) -> list[str]:
    """The playbook's steps before the review that left no results in this pack (a partial run)."""
    return [s for s in PIPELINE if not ev.present(s)]


def pipeline_check(ev: Evidence) -> dict:
    ran = [s for s in PIPELINE if ev.present(s)]
    missing = [s for s in PIPELINE if not ev.present(s)]
    errored = [s for s in ran if ev.steps[s].get("status") == "error"]
    if errored:
        status = "fail"
    elif missing:
        status = "warn"
    else:
        status = "pass"
    return catalogue.check(
        "review.pipeline_integration", status, {"ran": ran, "missing": missing, "errored": errored},
        title="Every step of the playbook ran end to end on this data and model",
        threshold={"errored": 0, "missing": 0},
        why=("The pack exercises the whole path from raw data through the model to a deployable monitor; a step "
             "that errors or is switched off leaves that part of the pipeline untested."))


def gates_check(verdict: dict) -> dict:
    """``review.gates``: whether every release gate could be judged on its evidence (the verdict is not a check:
    this one says whether the verdict stands on complete evidence)."""
    gates = verdict.get("gates", [])
    failing = [g for g in gates if g.get("block") and g.get("status") == "fail"]
    unevidenced = [g["check"] or g["gate"] for g in gates if g.get("block") and g.get("status") in ("missing", "skip", "error")]
    v = verdict.get("verdict")
    complete = v in ("go", "no-go") and not unevidenced
    why = ("Every blocking gate was judged on its check, so the verdict stands on complete evidence; the scorecard "
           "lists each gate with its evidence." if complete else
           "Some blocking gates have no evidence (" + ", ".join(unevidenced[:6]) + ("" if unevidenced else
           "the run was partial or a step errored") + "): the verdict cannot be go until they do.")
    return catalogue.check(
        "review.gates", "pass" if complete else "warn",
        {"verdict": v, "gates": len(gates), "blocking_failed": len(failing), "blocking_without_evidence": len(unevidenced)},
        title=f"Release gates judged: verdict {v}", threshold={"blocking_without_evidence": 0},
        evidence=["artifacts/scorecard.html", "artifacts/scorecard.json"], why=why)


def quality_gate_check(verdict: dict) -> dict:
    """``review.quality_gate``: a blocking gate on model quality (a metric bound or the baseline comparison) was
    judged before the verdict; it passes whatever the model's own result, because what it evidences is that the
    release is validated on quality (ML Test Score infra_4)."""
    judged = [g for g in verdict.get("gates", [])
              if g.get("block") and (g.get("check") or "").startswith("model.")
              and g.get("status") in ("pass", "warn", "fail") and _is_quality(g)]
    ids = sorted({g["check"] for g in judged})
    if ids:
        why = ("The verdict applies blocking gates on model quality (" + ", ".join(ids) + "), and the exit code stops a "
               "release pipeline when they fail: quality is validated before serving.")
    else:
        why = ("No blocking gate on model quality was judged (no model metric or baseline comparison gate in force, or "
               "the model evaluation did not run): a model could ship without its quality being validated. Keep the "
               "default gates (model.roc_auc, model.r2, model.beats_baseline) or set your own in policy.gates.")
    return catalogue.check(
        "review.quality_gate", "pass" if ids else "fail", len(ids),
        title="Model quality validated by a blocking gate before release",
        threshold={"min": 1, "of": "blocking model-quality gates judged"}, why=why)


def _is_quality(gate_row: dict) -> bool:
    from playbook.metrics import HIGHER_IS_BETTER

    cid = gate_row.get("check") or ""
    return cid == "model.beats_baseline" or cid.removeprefix("model.") in HIGHER_IS_BETTER


def ml_test_score_check(result: dict, min_final: float) -> dict:
    return catalogue.check(
        "review.ml_test_score", "pass" if result["final"] >= min_final else "warn",
        {"final": result["final"], **{f"section.{k}": v for k, v in result["sections"].items()},
         "automated": result["counts"]["automated"], "manual": result["counts"]["manual"]},
        title=f"ML Test Score {result['final']:g} (lowest of the four sections)", threshold={"min": min_final},
        evidence=["artifacts/ml_test_score.html", "artifacts/ml_test_score.json"],
        why=result["interpretation"] + " (Breck et al. 2017: the final score is the weakest section.)")


def attestations_check(result: dict, attestations: dict) -> dict:
    unknown = result.get("unknown_attestations", [])
    manual = [t["id"] for t in result["tests"] if t["status"] == "manual"]
    return catalogue.check(
        "review.attestations", "warn" if unknown else "pass",
        {"attested": sorted(attestations), "counted_as_manual": manual, "unknown_keys": unknown},
        title="Manual tests attested with an owner and a link", evidence=["artifacts/ml_test_score.html"],
        why=("A test that cannot be automated still counts half a point when a named owner links to its documented "
             "result (policy.attestations.<test id>)."
             + (" Keys that name no ML Test Score test are ignored: " + ", ".join(unknown) + "." if unknown else "")))


def scorecard_markdown(verdict: dict, checks: list[dict], base: str) -> str:
    """The scorecard as Markdown: verdict, reasons with evidence links, gates, counts."""
    doc = Doc("Readiness scorecard")
    v = verdict["verdict"]
    doc.p(f"**Verdict: {v.upper()}**", evidence=False)
    doc.h2("Reasons")
    if verdict["reasons"]:
        lines = []
        for r in verdict["reasons"]:
            ev = r.get("evidence")
            items = ev if isinstance(ev, list) else ([ev] if ev else [])
            links = [link(e.rsplit("/", 1)[-1], relpath(f"{r['step_dir']}/{e}", base)) for e in items
                     if isinstance(e, str) and r.get("step_dir")]
            lines.append(f"- {esc(r['text'])}" + (" — evidence: " + ", ".join(links) if links else ""))
        doc.p("\n".join(lines))
    else:
        doc.p("No blocking gate failed and every step ran.")
    doc.h2("Gates")
    rows = []
    for g in sorted(verdict["gates"], key=lambda g: (not g["block"], g["status"] != "fail", g["gate"])):
        rows.append([f"`{g['gate']}`", g.get("check") or "", g["status"], "yes" if g["block"] else "no",
                     fmt_value(g.get("threshold")), fmt_value(g.get("value")), g.get("reason", "")])
    doc.p(table(["gate", "check", "status", "blocks", "threshold", "value", "reason"], rows, raw_columns=(0,)))
    doc.h2("Checks by status")
    doc.p(table(["status", "checks"], sorted(verdict.get("counts", {}).items())))
    return doc.markdown()


def write_scorecard(step, ctx, verdict: dict, checks: list[dict]) -> None:
    pl = place_of(step, ctx)
    write_json_atomic(step.artifact("scorecard.json"), {"verdict": verdict["verdict"], "reasons": verdict["reasons"],
                                                        "gates": verdict["gates"], "counts": verdict["counts"]})
    md = scorecard_markdown(verdict, checks, pl.artifacts_base)
    write_text_atomic(step.artifact("scorecard.md"), md)
    write_text_atomic(step.artifact("scorecard.html"), markdown_to_html(md, "Readiness scorecard"))


def write_ml_test_score(step, result: dict) -> None:
    write_json_atomic(step.artifact("ml_test_score.json"), result)
    md = mltestscore.to_markdown(result)
    write_text_atomic(step.artifact("ml_test_score.md"), md)
    write_text_atomic(step.artifact("ml_test_score.html"), markdown_to_html(md, "ML Test Score"))


def write_compliance_map(step, ctx, ev: Evidence) -> dict:
    pl = place_of(step, ctx)
    cmap = compliance.build_map(ev, pack_files=bool(getattr(ctx, "pack_dir", None)))
    write_json_atomic(step.artifact("compliance_map.json"), cmap)
    md, _ = compliance.to_markdown(cmap, base=pl.artifacts_base)
    write_text_atomic(step.artifact("compliance_map.md"), md)
    write_text_atomic(step.artifact("compliance_map.html"), markdown_to_html(md, "Compliance evidence map"))
    return cmap


def model_card_link(ev: Evidence) -> str | None:
    """Pack-root-relative path of the model card HTML, when the governance step wrote one."""
    return ev.artifact_path("governance", "model_card.html")


def compliance_check(cmap: dict) -> dict:
    """``review.compliance_map``: every item of the map has evidence from this pack (``warn`` names the items left to
    people alone, e.g. because the steps that evidence them did not run)."""
    cov = cmap["coverage"]
    bare = [f"{i['framework']} {i['id']}" for i in cmap.get("items", []) if i.get("coverage") == "left to people"]
    why = ("Reviewers see which checks and artifacts speak to each obligation and what is left to people; it is "
           "a reviewer aid, not legal advice.")
    if bare:
        why += (f" {len(bare)} item(s) have no evidence in this pack ({', '.join(bare[:5])}): a reviewer has only "
                "people's word for them; run the steps that evidence them.")
    return catalogue.check(
        "review.compliance_map", "warn" if bare else "pass", cov,
        title="Compliance evidence map (EU AI Act Art. 9-15, NIST AI RMF) written",
        threshold={"max": 0, "of": "items without evidence"},
        evidence=["artifacts/compliance_map.html", "artifacts/compliance_map.json"], why=why)


def timings_recorded(ev: Evidence, step_name: str = "model_evaluation") -> dict[str, Any] | None:
    """The timings a step measured (timings.json), when present."""
    if ev.root is None or step_name not in ev.dirs:
        return None
    p = ev.root / ev.dirs[step_name] / "timings.json"
    try:
        return json.loads(p.read_text(encoding="utf-8")).get("timings") or {}
    except (OSError, json.JSONDecodeError):
        return None


def compliance_summary(cmap: dict, link_path: str | None = None) -> dict:
    """The ``compliance_map`` entry of summary.json."""
    return compliance.summary_view(cmap, link_path)


_LATENCY_KEYS = ("ms_p50", "ms_p95", "ms_p99", "latency")
_THROUGHPUT_KEYS = ("rows_per_second", "throughput")


def computing_performance_check(ev: Evidence, place_dirname: str, step_name: str = "model_evaluation") -> dict:
    """Whether serving latency and throughput were measured (they live in the step's timings.json, the
    non-deterministic part of the pack, so only *which* measurements exist is recorded here)."""
    timings = timings_recorded(ev, step_name)
    cid = "review.computing_performance"
    title = "Serving latency and throughput measured"
    why = ("Latency percentiles and throughput measured on every run make a regression in computing performance "
           "visible before it reaches users (the values are in the evaluation step's timings.json).")
    if timings is None:
        return catalogue.skip(cid, f"The {step_name} step did not run or wrote no timings.json, so nothing was measured.",
                              title=title)
    latency = sorted(k for k in timings if any(x in k for x in _LATENCY_KEYS))
    throughput = sorted(k for k in timings if any(x in k for x in _THROUGHPUT_KEYS))
    status = "pass" if latency and throughput else ("warn" if latency or throughput else "skip")
    link = relpath(f"{ev.dirs[step_name]}/timings.json", place_dirname)
    return catalogue.check(
        cid, status, {"latency_measurements": latency, "throughput_measurements": throughput}, title=title,
        threshold={"latency_measurements": "at least one", "throughput_measurements": "at least one"}, evidence=link,
        why=why if status != "skip" else "The model evaluation recorded no latency or throughput (e.g. predictions mode: no callable model).",
        not_applicable=status == "skip")
