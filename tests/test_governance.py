"""Model card, datasheet, compliance map and review helpers on a fake pack folder; the governance and
readiness-review templates executed with papermill."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from playbook import privacy as pii
from playbook.governance import compliance, datasheet, modelcard, review
from playbook.governance.evidence import Evidence
from playbook.paths import dataset_dir

PLANTED_COLUMNS = ("email", "phone", "card_number", "ssn")


# --- shared helpers (also used by the end-to-end tests) ---------------------------------------------
def luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        if pii.luhn_valid(prefix + d):
            return prefix + d
    raise AssertionError(prefix)


def plant_pii(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """German credit rows with e-mail, phone, card and SSN columns added (distinct values per seed)."""
    rng = np.random.default_rng(seed)
    n = len(df)
    out = df.copy()
    out.insert(0, "email", [f"planted.person{seed * 100000 + i}@example-mail.org" for i in range(n)])
    out.insert(1, "phone", [f"+49 170 {v}" for v in rng.choice(np.arange(1_000_000, 9_999_999), n, replace=False)])
    out.insert(2, "card_number", [luhn_complete("4" + "".join(map(str, rng.integers(0, 10, 14)))) for _ in range(n)])
    out.insert(3, "ssn", [f"{rng.integers(100, 599)}-{rng.integers(10, 99)}-{rng.integers(1000, 9999)}" for _ in range(n)])
    return out


def write_planted(folder: Path, rows: int | None = None, **config_extra) -> tuple[Path, set[str]]:
    """Planted reference/current CSVs and a pack config next to them; returns (config path, raw values)."""
    folder.mkdir(parents=True, exist_ok=True)
    src = dataset_dir() / "german_credit"
    ref = plant_pii(pd.read_csv(src / "reference.csv"), 1)
    cur = plant_pii(pd.read_csv(src / "current.csv"), 2)
    if rows:
        ref, cur = ref.head(rows), cur.head(max(rows // 2, 50))
    ref.to_csv(folder / "reference.csv", index=False)
    cur.to_csv(folder / "current.csv", index=False)
    cfg = {"name": "planted",
           "data": {"reference": "reference.csv", "current": "current.csv", "target": "creditability",
                    "positive_label": "bad", "sensitive": ["personal_status_and_sex", "age_in_years"]}}
    for k, v in config_extra.items():
        cfg[k] = v
    (folder / "pack.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    raw = {str(v) for df in (ref, cur) for c in PLANTED_COLUMNS for v in df[c]}
    return folder / "pack.yaml", raw


def files_containing(root: Path, values: set[str]) -> dict[str, int]:
    """Files under ``root`` whose bytes contain any of ``values``, with the number of values found."""
    out = {}
    forms = set(values)
    for v in values:  # a long number may also be written as the float a numeric column makes of it
        if v.isdigit() and len(v) >= 9:
            forms |= {f"{v}.0", repr(float(int(v)))}
    needles = [v.encode() for v in forms]
    for p in sorted(root.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            n = sum(1 for v in needles if v in data)
            if n:
                out[p.relative_to(root).as_posix()] = n
    return out


# --- a fake pack ---------------------------------------------------------------------------------------
def _write_step(root: Path, dirname: str, step: str, checks: list[dict], metrics=None, info=None,
                artifacts=(), status=None) -> None:
    d = root / "steps" / dirname
    (d / "artifacts").mkdir(parents=True, exist_ok=True)
    for a in artifacts:
        (d / "artifacts" / a).write_text("{}", encoding="utf-8")
    full = [{"title": c["id"], "value": None, "threshold": None, "evidence": None, "why": "", **c} for c in checks]
    statuses = {c["status"] for c in full}
    st = status or next((s for s in ("error", "fail", "warn") if s in statuses), "pass")
    (d / "results.json").write_text(json.dumps({
        "schema_version": 1, "step": step, "status": st, "checks": full, "metrics": metrics or {},
        "info": info or {}, "summary": {}, "artifacts": [f"artifacts/{a}" for a in artifacts]}), encoding="utf-8")
    (d / "timings.json").write_text(json.dumps({"step": step, "timings": {
        "serving.single_row_ms_p95": 3.0, "serving.batch_rows_per_second": 1e5}} if step == "model_evaluation" else
        {"step": step, "timings": {}}), encoding="utf-8")


@pytest.fixture
def fake_pack(tmp_path):
    root = tmp_path / "pack"
    _write_step(root, "01_data_audit", "data_audit", [
        {"id": "data.contract.written", "status": "pass", "evidence": "artifacts/data_contract.json"},
        {"id": "data.contract.current_valid", "status": "pass"},
        {"id": "data.schema.types", "status": "pass"},
        {"id": "data.leakage.single_feature", "status": "pass"},
        {"id": "data.target.missing", "status": "pass"},
        {"id": "data.completeness.missing_share.reference", "status": "warn", "title": "Missing share 7%",
         "why": "Gaps in training data fail silently."},
    ], artifacts=["data_contract.json"])
    _write_step(root, "02_model_evaluation", "model_evaluation", [
        {"id": "model.roc_auc", "status": "pass", "value": 0.81, "title": "ROC AUC: 0.81 (95% CI 0.75 to 0.87)",
         "evidence": "artifacts/metrics.json"},
        {"id": "model.beats_baseline", "status": "pass", "value": 0.05},
        {"id": "model.reproducible", "status": "pass", "value": True},
        {"id": "model.fairness.sex.equalized_odds_difference", "status": "fail", "value": 0.16,
         "threshold": {"max": 0.1}, "why": "Errors should be shared equally."},
        {"id": "model.slices.worst_gap", "status": "warn", "value": 0.2},
        {"id": "model.serving.input_validation", "status": "pass", "value": 0},
        {"id": "model.importance.near_zero", "status": "pass"},
        {"id": "model.robustness", "status": "skip"},
    ], metrics={"model.roc_auc": {"value": 0.81, "ci_low": 0.75, "ci_high": 0.87}, "model.f1": 0.59},
        info={"model": {"mode": "baseline", "estimator": "HistGradientBoostingClassifier", "threshold": 0.5,
                        "evaluated_on": "current", "evaluation_rows": 300}},
        artifacts=["metrics.json", "baseline_model.skops"])
    return root


FACTS = {
    "pack": "fake", "seed": 0, "task": "binary", "task_inferred": False, "target": "creditability",
    "positive_label": "bad", "classes": ["bad", "good"], "features": ["a", "b", "c"], "numeric": ["a"],
    "categorical": ["b", "c"], "sensitive": ["sex"], "id": [], "timestamp": None, "prediction": None,
    "probability": None, "rows": {"reference": 700, "current": 300},
    "data_files": {"reference": "reference.csv", "current": "current.csv"},
    "target_distribution": {"reference": {"shares": {"bad": 0.3, "good": 0.7}}, "current": {"shares": {"bad": 0.3, "good": 0.7}}},
    "time_range": {},
    "column_profile": [{"column": "a", "role": "feature", "dtype": "int64", "kind": "numeric", "missing_share": 0.0,
                        "distinct": 10, "sensitive": False, "personal_data": False}],
    "model": {"path": None, "train": None, "allow_pickle": False, "trusted_types": []},
    "business": {"cost_false_positive": 1.0, "cost_false_negative": 5.0, "value_true_positive": 0.0,
                 "value_true_negative": 1.0, "volume_per_day": 200, "currency": "EUR"},
    "policy": {"allow_raw_pii": False, "gates": {}, "use_default_gates": True, "attestations": []},
    "datasheet_source": {"file": "DATASHEET.md", "text": "# German credit\n\nSource: UCI."},
    "personal_data_columns": [],
}


def md_links(md: str) -> list[str]:
    return [m for m in re.findall(r"\]\(([^)]+)\)", md) if not m.startswith(("http", "#"))]


def test_evidence_reads_a_pack(fake_pack):
    ev = Evidence.from_folder(fake_pack)
    assert set(ev.steps) == {"data_audit", "model_evaluation"}
    assert ev.dirs["model_evaluation"] == "steps/02_model_evaluation"
    assert [c["id"] for c in ev.match("model.fairness*")] == ["model.fairness.sex.equalized_odds_difference"]
    assert ev.match("model.robustness") == []                          # skipped: not evidence
    assert len(ev.match("model.robustness", statuses=None)) == 1
    assert ev.artifact_path("data_audit", "data_contract.json") == "steps/01_data_audit/artifacts/data_contract.json"


def test_model_card_sections_prompts_absent_steps_and_links(fake_pack):
    ev = Evidence.from_folder(fake_pack)
    base = "steps/06_governance/artifacts"
    doc = modelcard.build(ev, FACTS, base=base, pii_findings=[])
    md = doc.markdown()
    heads = re.findall(r"^## (.+)$", md, flags=re.M)
    assert heads == list(modelcard.SECTIONS)
    assert doc.prompts >= 9 and md.count("To be completed by a person") == doc.prompts
    assert "drift simulation step did not run" in md and "monitoring setup step did not run" in md
    assert "HistGradientBoostingClassifier" in md and "0.81 (95% CI 0.75 to 0.87)" in md
    assert "`model.fairness.sex.equalized_odds_difference`" in md.split("## Caveats and recommendations")[1]
    links = md_links(md)
    assert "../../02_model_evaluation/artifacts/metrics.json" in links
    for link in links:
        if link.endswith(".html") and "/" not in link:
            continue  # the sibling datasheet, written next to the card
        assert (fake_pack / base / link).resolve().exists(), link
    stats = doc.stats()
    assert stats["sections"] == 9 and stats["filled_from_evidence"] >= 7


def test_model_card_without_any_evidence_says_so(tmp_path):
    doc = modelcard.build(Evidence.from_folder(tmp_path), FACTS)
    md = doc.markdown()
    for step in ("model evaluation", "data audit", "drift simulation", "monitoring setup"):
        assert f"The {step} step did not run" in md
    assert "The PII scan did not run" in md


def test_model_card_html_is_self_contained_and_marks_prompts(fake_pack):
    md, html, stats = modelcard.render(Evidence.from_folder(fake_pack), FACTS, base="steps/06_governance/artifacts",
                                       pii_findings=[{"column": "mail", "kind": "email", "share": 1.0,
                                                      "example": "a***@***.org", "flagged": True}])
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link)\b[^>]*(src|href)=\"https?://", html)
    assert html.count('class="prompt"') == stats["human_prompts"]
    assert "<table>" in html and "a***@***.org" in html


def test_markdown_table_cells_are_escaped(fake_pack):
    ev = Evidence.from_folder(fake_pack)
    ev.steps["model_evaluation"]["checks"].append({"id": "model.slices.x", "title": "<script>alert(1)</script> | pipe",
                                                   "status": "warn", "value": None, "threshold": None, "evidence": None})
    _, html, _ = modelcard.render(ev, FACTS)
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_datasheet_sections_and_appendix(fake_pack):
    doc = datasheet.build(Evidence.from_folder(fake_pack), FACTS, pii_findings=[])
    md = doc.markdown()
    heads = re.findall(r"^## (.+)$", md, flags=re.M)
    assert heads[:7] == list(datasheet.SECTIONS)
    assert heads[7].startswith("Appendix: datasheet supplied with the data")
    assert "### German credit" in md                     # its headings are demoted under the appendix
    assert "data.completeness.missing_share.reference" in md
    assert doc.prompts >= 8


def test_compliance_map_on_a_fake_pack(fake_pack):
    ev = Evidence.from_folder(fake_pack)
    cmap = compliance.build_map(ev)
    assert "not legal advice" in cmap["disclaimer"]
    ids = [(i["framework"], i["id"]) for i in cmap["items"]]
    assert ids[:7] == [("EU AI Act", f"Art. {n}") for n in range(9, 16)]
    assert ids[7:] == [("NIST AI RMF", f) for f in ("GOVERN", "MAP", "MEASURE", "MANAGE")]
    item = {i["id"]: i for i in cmap["items"]}
    assert "data.contract.written" in item["Art. 10"]["evidence"]
    assert "steps/01_data_audit/artifacts/data_contract.json" in item["Art. 10"]["artifacts"]
    assert "model.roc_auc" in item["Art. 15"]["evidence"]
    assert "model.robustness" not in item["Art. 15"]["evidence"]         # skipped checks are not evidence
    assert item["Art. 12"]["coverage"] == "artifacts only"               # manifest.json, no monitoring step
    assert all(i["left_to_people"] for i in cmap["items"])
    no_pack_files = compliance.build_map(ev, pack_files=False)
    assert {i["id"]: i for i in no_pack_files["items"]}["Art. 12"]["coverage"] == "left to people"
    md, _ = compliance.to_markdown(cmap, base="steps/07_readiness_review/artifacts")
    assert "Reviewer aid, not legal advice" in md
    assert "(../../01_data_audit/artifacts/data_contract.json)" in md
    view = compliance.summary_view(cmap, "steps/07_readiness_review/artifacts/compliance_map.html")
    assert view["link"].endswith("compliance_map.html") and len(view["items"]) == 11
    assert compliance.compact_ids(["drift.detects.a", "drift.detects.b", "drift.detects.c", "drift.detects.d",
                                   "model.roc_auc"]) == ["drift.detects.* (4)", "model.roc_auc"]
    assert compliance.compact_ids(["data.schema.types", "model.f1"]) == ["data.schema.types", "model.f1"]


def test_review_checks_on_a_fake_pack(fake_pack):
    ev = Evidence.from_folder(fake_pack)
    p = review.pipeline_check(ev)
    assert p["status"] == "warn" and p["value"]["missing"] == ["serving", "monitoring_setup", "drift_simulation", "governance"]
    cp = review.computing_performance_check(ev, "steps/07_readiness_review")
    assert cp["status"] == "pass" and cp["evidence"] == "../02_model_evaluation/timings.json"
    assert (fake_pack / "steps/07_readiness_review" / cp["evidence"]).resolve().exists()
    from playbook.config import PolicySettings

    checks = ev.checks()
    statuses = review.step_statuses(ev)
    not_run = review.steps_not_run(ev)
    assert not_run == ["serving", "monitoring_setup", "drift_simulation", "governance"]
    partial = review.apply_gates(checks, PolicySettings(), statuses, steps_not_run=not_run)
    assert partial["verdict"] == "incomplete"  # four steps did not run: their blocking gates have no evidence
    assert review.gates_check(partial)["status"] == "warn"
    own = PolicySettings(use_default_gates=False, gates={"model.roc_auc": {"min": 0.7}, "data.contract.*": {}})
    go = review.apply_gates(checks, own, statuses)
    assert go["verdict"] == "go" and review.gates_check(go)["status"] == "pass"
    assert review.quality_gate_check(go)["status"] == "pass"
    assert review.quality_gate_check(review.apply_gates(checks, PolicySettings(use_default_gates=False), statuses)
                                     )["status"] == "fail"  # nothing validates model quality
    strict = review.apply_gates(checks, PolicySettings(gates={"model.roc_auc": {"min": 0.9}}, use_default_gates=False),
                                statuses)
    assert strict["verdict"] == "no-go" and [r["check"] for r in strict["reasons"]] == ["model.roc_auc"]
    assert review.gates_check(strict)["status"] == "pass"  # judged on complete evidence, whatever the verdict
    md = review.scorecard_markdown(strict, checks, "steps/07_readiness_review/artifacts")
    assert "**Verdict: NO-GO**" in md
    assert "model.roc_auc = 0.81 is within" not in md and "model.roc_auc = 0.81: it is below the minimum 0.9" in md


def test_leak_check_statuses(tmp_path):
    from types import SimpleNamespace

    df = pd.DataFrame({"mail": [f"user{i}@example.org" for i in range(30)], "x": range(30)})
    ctx = SimpleNamespace(reference=df, current=df, policy=SimpleNamespace(allow_raw_pii=False))
    (tmp_path / "clean.txt").write_text("nothing here")
    from playbook.governance.documents import leak_check

    check, hits = leak_check(ctx, tmp_path)
    assert check["status"] == "pass" and check["value"]["protected_columns"] == 1
    (tmp_path / "report.html").write_text("<td>user7@example.org</td>")
    check, hits = leak_check(ctx, tmp_path)
    assert check["status"] == "fail" and check["value"]["files"] == ["report.html"]
    assert hits[0]["example"] == "u***@***.org"
    ctx.policy.allow_raw_pii = True
    check, _ = leak_check(ctx, tmp_path)
    assert check["status"] == "warn" and check["value"]["allow_raw_pii"] is True


# --- the templates -------------------------------------------------------------------------------------
def _fake_earlier_steps(root: Path, leak: str | None = None) -> None:
    _write_step(root, "01_data_audit", "data_audit", [
        {"id": "data.contract.written", "status": "pass", "evidence": "artifacts/data_contract.json"},
        {"id": "data.schema.types", "status": "pass"}], artifacts=["data_contract.json"])
    if leak:
        (root / "steps/01_data_audit/artifacts/report.html").write_text(f"<td>{leak}</td>", encoding="utf-8")
    _write_step(root, "02_model_evaluation", "model_evaluation", [
        {"id": "model.roc_auc", "status": "pass", "value": 0.8}, {"id": "model.beats_baseline", "status": "pass"}],
        info={"model": {"mode": "baseline", "estimator": "HistGradientBoostingClassifier"}}, artifacts=["metrics.json"])


def data_dir(tmp_path: Path, name: str = "data") -> Path:
    """A folder for input data beside (not inside) the pack folder ``tmp_path``."""
    return tmp_path.parent / f"{tmp_path.name}_{name}"


def test_governance_template_on_planted_pii(run_template, tmp_path):
    cfg, raw = write_planted(data_dir(tmp_path), rows=200)
    _fake_earlier_steps(tmp_path)
    res = run_template("06_governance.ipynb", config=str(cfg), pack_dir=str(tmp_path))
    checks = {c["id"]: c for c in res["checks"]}
    assert checks["governance.pii.scan"]["status"] == "warn"
    assert checks["governance.pii.scan"]["value"]["columns"] == {
        "card_number": ["payment_card"], "email": ["email", "identifier"], "phone": ["phone", "identifier"],
        "ssn": ["us_ssn", "identifier"]}
    # flagged columns are left out of the model features automatically, and the check says so
    assert checks["governance.pii.features"]["status"] == "pass"
    assert checks["governance.pii.features"]["value"] == {
        "used": [], "excluded_automatically": ["card_number", "email", "phone", "ssn"]}
    assert checks["governance.pii.redacted"]["status"] == "pass"
    assert checks["governance.model_card"]["status"] == "pass"
    assert checks["governance.model_card"]["value"]["human_prompts"] >= 9
    assert res["summary"]["model_card"] == "steps/06_governance/artifacts/model_card.html"
    step_dir = tmp_path / "steps" / "06_governance"
    for a in ("model_card.md", "model_card.html", "datasheet.md", "datasheet.html", "pii_findings.json"):
        assert (step_dir / "artifacts" / a).exists(), a
    card = (step_dir / "artifacts/model_card.md").read_text()
    assert "HistGradientBoostingClassifier" in card
    assert "| card_number | payment_card | 100.0% |" in card
    # the executed notebook and every artifact hold masked values only
    assert files_containing(step_dir, raw) == {}


def test_governance_template_fails_on_a_leak_and_allows_raw_pii_on_record(run_template, tmp_path):
    cfg, raw = write_planted(data_dir(tmp_path), rows=120)
    leaked = sorted(raw)[0]
    _fake_earlier_steps(tmp_path, leak=leaked)
    res = run_template("06_governance.ipynb", config=str(cfg), pack_dir=str(tmp_path))
    red = next(c for c in res["checks"] if c["id"] == "governance.pii.redacted")
    assert red["status"] == "fail" and red["value"]["files"] == ["steps/01_data_audit/artifacts/report.html"]

    cfg2, _ = write_planted(data_dir(tmp_path, "data2"), rows=120, policy={"allow_raw_pii": True})
    res = run_template("06_governance.ipynb", config=str(cfg2), pack_dir=str(tmp_path))
    red = next(c for c in res["checks"] if c["id"] == "governance.pii.redacted")
    assert red["status"] == "warn" and red["value"]["allow_raw_pii"] is True
    assert res["info"]["allow_raw_pii"] is True


def test_review_template_on_a_fake_pack(run_template, tmp_path):
    _fake_earlier_steps(tmp_path)
    run_template("06_governance.ipynb", pack_dir=str(tmp_path))
    res = run_template("07_readiness_review.ipynb", pack_dir=str(tmp_path))
    checks = {c["id"]: c for c in res["checks"]}
    assert checks["review.gates"]["value"]["verdict"] == res["info"]["verdict"] == "incomplete"
    assert checks["review.gates"]["status"] == "warn"
    assert checks["review.pipeline_integration"]["status"] == "warn"     # drift and monitoring absent
    mts = res["summary"]["ml_test_score"]
    assert len(mts["tests"]) == 28 and set(mts["sections"]) == {"data", "model", "infrastructure", "monitoring"}
    assert mts["final"] == min(mts["sections"].values())
    auto = {t["id"] for t in mts["tests"] if t["status"] == "automated"}
    assert {"model_5", "infra_4"} <= auto
    assert not {"infra_3", "model_1", "infra_1"} & auto  # weaker evidence never counts
    assert "data_1" not in auto  # the contract was written but the data was never checked against it
    cm = res["summary"]["compliance_map"]
    assert "not legal advice" in cm["disclaimer"] and len(cm["items"]) == 11
    assert res["summary"]["model_card"] == "steps/06_governance/artifacts/model_card.html"
    art = tmp_path / "steps" / "07_readiness_review" / "artifacts"
    for a in ("scorecard.json", "scorecard.html", "ml_test_score.html", "compliance_map.json", "compliance_map.html"):
        assert (art / a).exists(), a
    sc = json.loads((art / "scorecard.json").read_text())
    assert sc["verdict"] == res["info"]["verdict"]


def test_review_template_attestations_count_half(run_template, tmp_path):
    _fake_earlier_steps(tmp_path)
    cfg = tmp_path / "pack.yaml"
    src = dataset_dir() / "german_credit"
    cfg.write_text(yaml.safe_dump({
        "data": {"reference": str(src / "reference.csv"), "current": str(src / "current.csv"),
                 "target": "creditability", "positive_label": "bad"},
        "policy": {"attestations": {"infra_7": {"owner": "platform team", "link": "https://wiki.example/rollback"}}}}))
    res = run_template("07_readiness_review.ipynb", config=str(cfg), pack_dir=str(tmp_path))
    t = {x["id"]: x for x in res["summary"]["ml_test_score"]["tests"]}
    assert t["infra_7"]["status"] == "manual" and t["infra_7"]["points"] == 0.5
    att = next(c for c in res["checks"] if c["id"] == "review.attestations")
    assert att["status"] == "pass" and att["value"]["counted_as_manual"] == ["infra_7"]


def test_interactive_folder_layout_is_reviewed(tmp_path):
    """Interactive runs write evidence/_interactive/<step>/results.json (no steps/ folder, no NN_ prefix)."""
    root = tmp_path / "interactive"
    for name, checks in (("data_audit", [{"id": "data.contract.written", "status": "pass"}]),
                         ("model_evaluation", [{"id": "model.beats_baseline", "status": "pass"}])):
        d = root / name
        d.mkdir(parents=True)
        (d / "results.json").write_text(json.dumps({"step": name, "status": "pass", "checks": checks}))
    ev = Evidence.from_folder(root)
    assert ev.dirs == {"data_audit": "data_audit", "model_evaluation": "model_evaluation"}
    from playbook.scorecard import collect

    assert {c["id"] for c in collect(root)} == {"data.contract.written", "model.beats_baseline"}
    assert review.pipeline_check(ev)["value"]["ran"] == ["data_audit", "model_evaluation"]


def test_facts_from_the_bundled_context():
    import playbook
    from playbook.governance.facts import facts_from_context

    ctx = playbook.load_context("")
    facts = facts_from_context(ctx, ["telephone"])
    assert facts["rows"] == {"reference": len(ctx.reference), "current": len(ctx.current)}
    assert facts["target"] == "creditability" and facts["positive_label"] == "bad"
    assert abs(sum(facts["target_distribution"]["reference"]["shares"].values()) - 1) < 1e-6
    prof = {p["column"]: p for p in facts["column_profile"]}
    assert prof["creditability"]["role"] == "target" and prof["telephone"]["personal_data"] is True
    assert prof["personal_status_and_sex"]["sensitive"] is True
    assert json.dumps(facts)                                   # plain JSON values only


def test_governance_results_are_deterministic(tmp_path):
    from tests.conftest import execute

    cfg, _ = write_planted(data_dir(tmp_path), rows=150)
    outs = []
    for run in ("a", "b"):
        root = tmp_path / run
        _fake_earlier_steps(root)
        execute("06_governance.ipynb", root / "steps" / "06_governance", config=str(cfg), pack_dir=str(root))
        outs.append(root / "steps" / "06_governance")
    for name in ("results.json", "artifacts/model_card.md", "artifacts/datasheet.html", "artifacts/pii_findings.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
