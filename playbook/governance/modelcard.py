"""A model card generated from the evidence pack (sections after Mitchell et al., "Model Cards for Model
Reporting", FAT* 2019): model details, intended use, factors, metrics, evaluation data, training data,
quantitative analyses, ethical considerations, caveats and recommendations.

Everything the pack measured is filled in from the steps' results; what only a person can say (who built it,
for whom, what it must not be used for, the harms it could do) is left as clearly marked prompts. A step that did
not run is named where its evidence would be.
"""

from __future__ import annotations

from typing import Any, Iterable

from playbook.governance.evidence import Evidence, evidence_link, fmt_value
from playbook.governance.render import Doc, esc, link, markdown_to_html, relpath, table

SECTIONS = ("Model details", "Intended use", "Factors", "Metrics", "Evaluation data", "Training data",
            "Quantitative analyses", "Ethical considerations", "Caveats and recommendations")

STEP_TITLES = {
    "data_audit": "data audit",
    "drift_simulation": "drift simulation",
    "model_evaluation": "model evaluation",
    "monitoring_setup": "monitoring setup",
    "serving": "serving",
    "governance": "governance",
}

_PASS_ORDER = {"fail": 0, "error": 1, "warn": 2, "skip": 3, "pass": 4}


def _absent(doc: Doc, ev: Evidence, step: str, what: str) -> bool:
    if ev.present(step):
        return False
    doc.note(f"The {STEP_TITLES.get(step, step)} step did not run in this pack, so there is no evidence here of {what}.")
    return True


def checks_table(checks: Iterable[dict], base: str, *, limit: int = 60) -> str:
    """Checks as a Markdown table with links to their evidence (relative to ``base``)."""
    rows = []
    checks = sorted(checks, key=lambda c: (_PASS_ORDER.get(c.get("status"), 9), c["id"]))
    for c in checks[:limit]:
        links = " ".join(link(p.rsplit("/", 1)[-1], relpath(p, base)) for p in evidence_link(c)
                         if "://" not in p and not p.startswith("/"))
        rows.append([f"`{c['id']}`", esc(c.get("title", "")), c.get("status", ""), esc(fmt_value(c.get("value"))),
                     esc(fmt_value(c.get("threshold"))), links])
    text = table(["check", "title", "status", "value", "threshold", "evidence"], rows, raw_columns=(0, 1, 3, 4, 5))
    if len(checks) > limit:
        text += f"\n\n_{len(checks) - limit} more checks in the pack's index._"
    return text


def _metric_rows(metrics: dict, exclude: tuple[str, ...] = ()) -> list[list[Any]]:
    rows = []
    for k, v in sorted(metrics.items()):
        if any(x in k for x in exclude):
            continue
        if isinstance(v, dict) and {"value", "ci_low", "ci_high"} <= set(v):
            rows.append([k, f"{fmt_value(v['value'])} (95% CI {fmt_value(v['ci_low'])} to {fmt_value(v['ci_high'])})"])
        elif isinstance(v, (int, float, str, bool)) or v is None:
            rows.append([k, fmt_value(v)])
        elif isinstance(v, dict) and len(v) <= 8 and all(not isinstance(x, (dict, list)) for x in v.values()):
            rows.append([k, fmt_value(v)])
    return rows


def _dist_text(d: dict) -> str:
    if not d:
        return "not available"
    if "shares" in d:
        return ", ".join(f"`{esc(k)}` {v:.1%}" for k, v in d["shares"].items())
    return ", ".join(f"{k} {fmt_value(v)}" for k, v in d.items())


def _artifact_links(ev: Evidence, step: str, patterns: Iterable[str], base: str) -> list[str]:
    out = []
    for pat in patterns:
        p = ev.artifact_path(step, pat)
        if p and p not in out:
            out.append(p)
    return [link(p.rsplit("/", 1)[-1], relpath(p, base)) for p in out]


def _ci_text(value: Any, ci: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(v, (int, float)) for v in ci):
        return f"{fmt_value(float(value), 3)} ({fmt_value(float(ci[0]), 3)} to {fmt_value(float(ci[1]), 3)})"
    return fmt_value(float(value), 3)


def _share(v: Any) -> str:
    return f"{float(v):.0%}" if isinstance(v, (int, float)) and not isinstance(v, bool) else fmt_value(v)


def _worst_segments(doc: Doc, info: Any) -> None:
    """The evaluation's worst segments (``info.weak_segments`` of its results.json; descriptions were written
    through the privacy layer, and are escaped here as data)."""
    if not isinstance(info, dict) or not info.get("worst"):
        return
    loss = "error rate" if info.get("loss") == "error_rate" else "MAE"
    doc.p(f"{info.get('searched', 0)} segments of one and two features were searched; {info.get('flagged', 0)} are "
          f"significantly worse than the rest of the rows by more than {_share(info.get('margin'))} of the rest's "
          f"{loss} (Benjamini-Hochberg, false-discovery rate {_share(info.get('fdr'))}). The worst:")
    rows = [[w.get("segment", ""), w.get("n", ""), _ci_text(w.get("loss"), w.get("loss_ci")),
             fmt_value(w.get("rest_loss"), 3), _ci_text(w.get("metric_value"), w.get("metric_ci")),
             fmt_value(w.get("q_value"), 2), "yes" if w.get("flagged") else "no"] for w in info["worst"]]
    doc.p(table(["segment", "rows", f"{loss} (95% CI)", "rest of the rows", f"{info.get('metric', 'metric')} (95% CI)",
                 "q", "flagged"], rows))


def build(ev: Evidence, facts: dict, *, base: str = "", pii_findings: list[dict] | None = None,
          datasheet_link: str | None = None) -> Doc:
    """The model card as a :class:`Doc`. ``base`` is the folder (root-relative) the card is written to, so
    links to other steps' artifacts resolve; ``pii_findings`` are masked finding dicts."""
    doc = Doc(f"Model card: {facts.get('pack', 'model')}")
    task = facts.get("task", "?")
    target = facts.get("target", "?")
    ev_info = ev.info("model_evaluation")
    if isinstance(ev_info.get("model"), dict):  # the evaluation nests its model facts under "model"
        ev_info = {**{k: v for k, v in ev_info.items() if k != "model"}, **ev_info["model"]}
    ev_metrics = ev.metrics("model_evaluation")
    steps_ran = [s for s in STEP_TITLES if ev.present(s)]
    doc.p(f"Generated from the evidence pack `{esc(facts.get('pack', ''))}` "
          f"(steps present: {', '.join(STEP_TITLES[s] for s in steps_ran) or 'none'}). Sections follow Mitchell et al., "
          "*Model Cards for Model Reporting* (FAT* 2019). Paragraphs marked **✍** are for a person to complete; "
          "everything else is computed from the pack and changes when the evidence does.", evidence=False)

    # 1. Model details ---------------------------------------------------------------------------------
    doc.h2("Model details")
    m = facts.get("model") or {}
    mode = ev_info.get("model_mode") or ev_info.get("mode") or ("(config) " + (
        "model file" if m.get("path") else ("predictions in the data" if facts.get("prediction") or facts.get("probability")
                                            else "baseline trained by the playbook")))
    rows = [["task", f"{task}" + (" (inferred from the target)" if facts.get("task_inferred") else "")],
            ["target", f"{target}"],
            ["how the model was brought", mode]]
    if facts.get("positive_label") is not None:
        rows.append(["positive class", facts["positive_label"]])
    if facts.get("classes"):
        rows.append(["classes", ", ".join(map(str, facts["classes"]))])
    for key in ("estimator", "model_type", "model", "pipeline", "model_class", "description", "fitted_on",
                "fitted_rows", "evaluated_on", "evaluation_rows"):
        if key in ev_info and not isinstance(ev_info[key], (dict, list)):
            rows.append([key.replace("_", " "), ev_info[key]])
    if m.get("path"):
        rows.append(["model file", m["path"]])
    rows.append(["features", f"{len(facts.get('features', []))} ({len(facts.get('numeric', []))} numeric, "
                             f"{len(facts.get('categorical', []))} categorical)"])
    if m.get("allow_pickle"):
        rows.append(["pickle loading", "allowed by the config (model.allow_pickle: true): loading runs code"])
    rows.append(["seed", facts.get("seed", 0)])
    doc.p(table(["", "value"], rows))
    links = _artifact_links(ev, "model_evaluation", ["*.skops", "*metrics*.json"], base)
    if links:
        doc.p("Model artifacts: " + ", ".join(links))
    elif not ev.present("model_evaluation"):
        _absent(doc, ev, "model_evaluation", "the model's type and artifacts")
    doc.prompt("Person or organisation developing the model, and the contact for questions about it.")
    doc.prompt("Model version and date, and how this version differs from the previous one.")
    doc.prompt("Licence, and the paper or design document to cite.")

    # 2. Intended use ---------------------------------------------------------------------------------
    doc.h2("Intended use")
    n_feat = len(facts.get("features", []))
    pos = facts.get("positive_label")
    doc.p(f"The model predicts `{esc(target)}` ({esc(task)}) from {n_feat} features"
          + (f"; the event of interest is `{esc(pos)}`" if pos is not None else "") + ".")
    bus = facts.get("business") or {}
    if bus:
        cur = bus.get("currency", "")
        doc.p(f"Decisions are valued with the pack's business settings: a false positive costs {fmt_value(bus.get('cost_false_positive'))} {esc(cur)}, "
              f"a false negative {fmt_value(bus.get('cost_false_negative'))} {esc(cur)}, a correct positive is worth "
              f"{fmt_value(bus.get('value_true_positive'))} and a correct negative {fmt_value(bus.get('value_true_negative'))}; "
              f"expected volume {fmt_value(bus.get('volume_per_day'))} decisions per day.")
    thr = {k: v for k, v in {**ev_info, **ev_metrics}.items()
           if "threshold" in k and isinstance(v, (int, float)) and not isinstance(v, bool)}
    if thr:
        doc.p("Decision thresholds recorded by the evaluation: " + ", ".join(f"{esc(k)} = {fmt_value(v)}" for k, v in sorted(thr.items())) + ".")
    doc.prompt("Primary intended uses: the decision this model supports and the process it sits in.")
    doc.prompt("Primary intended users: who acts on its output, and with what training.")
    doc.prompt("Out-of-scope uses: decisions, populations or settings the model must not be used for.")

    # 3. Factors ---------------------------------------------------------------------------------------
    doc.h2("Factors")
    sens = facts.get("sensitive") or []
    if sens:
        doc.p("Groups evaluated (the config's sensitive columns): " + ", ".join(f"`{esc(s)}`" for s in sens) + ".")
    else:
        doc.note("No sensitive columns are configured (data.sensitive), so no group factors were evaluated.")
    slice_checks = ev.match(["model.slice*"], statuses=None)
    if slice_checks:
        doc.p("Slices: quality was measured per value of each categorical and binned numeric feature "
              f"({len(slice_checks)} slice check(s), see Quantitative analyses).")
    elif not _absent(doc, ev, "model_evaluation", "per-slice quality"):
        doc.note("The evaluation recorded no slice checks.")
    seg = ev.info("model_evaluation").get("weak_segments")
    if isinstance(seg, dict) and seg.get("searched"):
        doc.p(f"Segments: {seg['searched']} groups of one and two features were searched for where the model is worst; "
              f"{seg.get('flagged', 0)} flagged (see Quantitative analyses, Weak segments).")
    doc.prompt("Other relevant factors the data does not show (groups, instruments, environments, time periods) "
               "and how the model could behave differently across them.")

    # 4. Metrics ---------------------------------------------------------------------------------------
    doc.h2("Metrics")
    if not _absent(doc, ev, "model_evaluation", "model performance"):
        headline = [c for c in ev.match(["model.*"], statuses=None) if c["id"].count(".") == 1
                    and c["id"] not in ("model.beats_baseline", "model.reproducible", "model.robustness")
                    and not c["id"].startswith(("model.calibration", "model.business"))
                    and isinstance(c.get("value"), (int, float)) and not isinstance(c.get("value"), bool)]
        if headline:
            doc.p("Headline metrics on the evaluation data (point estimate, with the bootstrap confidence "
                  "interval in the title):")
            doc.p(checks_table(headline, base))
        rows = _metric_rows(ev_metrics, exclude=("slice", "fairness", "latency", "seconds"))
        if rows:
            doc.p("All evaluation metrics:")
            doc.p(table(["metric", "value"], rows[:80]))
        if not headline and not rows:
            doc.note("The evaluation recorded no metrics.")
    doc.prompt("Why these metrics reflect the real-world impact of errors, and which error is worse for the people affected.")

    # 5. Evaluation data -------------------------------------------------------------------------------
    doc.h2("Evaluation data")
    rows_n = facts.get("rows") or {}
    td = facts.get("target_distribution") or {}
    files = facts.get("data_files") or {}
    doc.p(f"Current data: {rows_n.get('current', '?')} rows from `{esc(files.get('current', ''))}`; target distribution: "
          f"{_dist_text(td.get('current') or {})}.")
    for key in ("evaluation_data", "eval_data", "evaluated_on", "holdout"):
        if key in ev_info:
            rows_txt = f" ({ev_info['evaluation_rows']} rows)" if "evaluation_rows" in ev_info else ""
            doc.p(f"The evaluation step scored the model on: {esc(fmt_value(ev_info[key]))}{rows_txt}.")
            break
    doc.prompt("Why this evaluation data represents the population and period the model will serve.")

    # 6. Training data -----------------------------------------------------------------------------------
    doc.h2("Training data")
    doc.p(f"Reference data: {rows_n.get('reference', '?')} rows from `{esc(files.get('reference', ''))}`; target "
          f"distribution: {_dist_text(td.get('reference') or {})}.")
    if datasheet_link:
        doc.p("Its datasheet: " + link("datasheet", datasheet_link) + ".")
    if not _absent(doc, ev, "data_audit", "the quality of the training data"):
        counts = {}
        for c in ev.match(["*"], statuses=None):
            if c["step"] == "data_audit":
                counts[c["status"]] = counts.get(c["status"], 0) + 1
        doc.p("Data audit: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + " checks.")
        contract = _artifact_links(ev, "data_audit", ["data_contract.json"], base)
        if contract:
            doc.p("Data contract: " + ", ".join(contract) + ".")
    doc.prompt("Where the training data came from, who labelled it and how, and any known gaps.")

    # 7. Quantitative analyses ----------------------------------------------------------------------------
    doc.h2("Quantitative analyses")
    if not _absent(doc, ev, "model_evaluation", "unitary and per-group results"):
        groups = [("Comparison with a simpler model", ["model.beats_baseline*"]),
                  ("Calibration", ["model.calibration*", "model.ece*"]),
                  ("Slices", ["model.slice*"]),
                  ("Weak segments", ["model.weak_segments"]),
                  ("Fairness across groups", ["model.fairness*"]),
                  ("Business value", ["model.business*"]),
                  ("Robustness and reproducibility", ["model.robustness*", "model.reproducible*"]),
                  ("Explainability", ["model.importance*", "model.explain*"]),
                  ("Serving readiness", ["model.serving*"])]
        for title, pats in groups:
            cs = ev.match(pats, statuses=None)
            if cs:
                doc.h3(title)
                doc.p(checks_table(cs, base))
            if title == "Weak segments":
                _worst_segments(doc, ev.info("model_evaluation").get("weak_segments"))
    if not _absent(doc, ev, "drift_simulation", "the model's behaviour under data drift and faults"):
        cs = ev.match(["drift.*"], statuses=None)
        if cs:
            doc.h3("Under drift and production faults (drift simulation)")
            doc.p(checks_table(cs, base, limit=30))
    if not _absent(doc, ev, "monitoring_setup", "the production monitor"):
        cs = ev.match(["monitoring.*"], statuses=None)
        if cs:
            doc.h3("Production monitor")
            doc.p(checks_table(cs, base, limit=30))

    # 8. Ethical considerations --------------------------------------------------------------------------
    doc.h2("Ethical considerations")
    if sens:
        fair = ev.match(["model.fairness*"], statuses=None)
        worst = [c for c in fair if c.get("status") in ("fail", "warn")]
        if fair:
            doc.p(f"{len(fair)} fairness check(s) across {', '.join(f'`{esc(s)}`' for s in sens)}; "
                  f"{len(worst)} flag a disparity beyond the policy's limit.")
    if pii_findings is not None:
        flagged = [f for f in pii_findings if f.get("flagged")]
        if flagged:
            doc.p("Personal data found in the data (values are masked everywhere in this pack):")
            doc.p(table(["column", "kind", "share of values", "masked example"],
                        [[f["column"], f["kind"], f"{f['share']:.1%}", f["example"]] for f in flagged]))
        else:
            doc.p("The PII scan found no personal identifiers (e-mail, phone, card, SSN, IP, IBAN, birth date, person name).")
    else:
        doc.note("The PII scan did not run, so the presence of personal data is not evidenced here.")
    doc.prompt("Sensitive data used, and the justification and legal basis for using it.")
    doc.prompt("Risks and harms to people (including those not in the data), and how likely and severe they are.")
    doc.prompt("Mitigations in place and human oversight of the decisions.")

    # 9. Caveats and recommendations ------------------------------------------------------------------------
    doc.h2("Caveats and recommendations")
    missing = [STEP_TITLES[s] for s in ("data_audit", "drift_simulation", "model_evaluation", "monitoring_setup")
               if not ev.present(s)]
    if missing:
        doc.p("Steps whose evidence is missing from this pack: " + ", ".join(missing) + ".")
    issues = [c for c in ev.checks() if c.get("status") in ("fail", "warn", "error")]
    if issues:
        doc.p("Findings to address or accept on record (failing and warning checks):")
        doc.p("\n".join(f"- **{c['status']}** `{c['id']}` ({esc(c['step'])}): {esc(c.get('title', ''))}. {esc(c.get('why', ''))}"
                        for c in sorted(issues, key=lambda c: (_PASS_ORDER.get(c['status'], 9), c['id']))[:40]))
    elif ev.checks():
        doc.p("No check failed or warned.")
    mon = _artifact_links(ev, "monitoring_setup", ["monitoring.yaml"], base)
    if mon:
        doc.p("Monitor the model in production with " + ", ".join(mon)
              + " (`playbook monitor --config monitoring.yaml --current <batch>`).")
    doc.prompt("Further caveats, and recommendations for deployers (e.g. when to retrain, when not to trust a score).")
    return doc


def render(ev: Evidence, facts: dict, **kw) -> tuple[str, str, dict]:
    """(markdown, html, stats) of the model card."""
    doc = build(ev, facts, **kw)
    md = doc.markdown()
    return md, markdown_to_html(md, doc.title), doc.stats()
