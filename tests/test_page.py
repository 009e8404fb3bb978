"""index.html's formatting and executive summary, from hand-built summaries (no pack run), and on the bundled pack."""

from __future__ import annotations

import base64
import html as html_mod
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from playbook import catalogue, page
from playbook.report import render_index

from .conftest import run_cli

# a 1x1 PNG, enough for a figure
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")

STEPS = ("data_audit", "model_evaluation", "serving", "monitoring_setup", "drift_simulation", "governance",
         "readiness_review")


def _steps(statuses: dict | None = None, not_run=()):
    out = []
    for i, name in enumerate(STEPS, 1):
        if name in not_run:
            out.append({"name": name, "dir": None, "status": "skipped", "error": None, "notebook": None,
                        "html": None, "results": None})
            continue
        d = f"steps/{i:02d}_{name}"
        st = (statuses or {}).get(name, "pass")
        out.append({"name": name, "dir": d, "status": st, "error": "RuntimeError: boom" if st == "error" else None,
                    "notebook": f"{d}/notebook.ipynb", "html": f"{d}/notebook.html", "results": f"{d}/results.json"})
    return out


def _check(cid, status, value=None, step="model_evaluation", **kw):
    d = {"id": cid, "title": catalogue.spec(cid).title if catalogue.spec(cid) else cid, "status": status,
         "value": value, "threshold": kw.pop("threshold", None), "evidence": kw.pop("evidence", None),
         "why": kw.pop("why", ""), "step": step, "step_dir": kw.pop("step_dir", None), **kw}
    return d


def _gate(c, status=None, block=True, threshold=None, reason=None):
    return {"gate": c["id"], "check": c["id"], "status": status or c["status"], "block": block,
            "threshold": threshold or {"status": "fail"}, "reason": reason or f"{c['id']} {c['status']}",
            "value": c["value"], "ci": c.get("ci"), "evidence": c.get("evidence"), "step": c["step"],
            "step_dir": c.get("step_dir")}


def _summary(checks, gates=(), reasons=(), verdict="go", steps=None, **extra):
    return {"pack": "demo", "verdict": verdict, "task": "binary", "target": "y", "rows": {"reference": 10, "current": 5},
            "playbook_version": "0", "steps": steps if steps is not None else _steps(), "checks": list(checks),
            "gates": list(gates), "reasons": list(reasons), "counts": {}, "partial": False, "steps_not_run": [],
            **extra}


# -- formatting -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, shown", [
    (None, "no value"), (True, "yes"), (0, "0"), (12345, "12,345"), (0.8127513228, "0.813"), (-506.6666667, "-506.7"),
    (146.6666667, "146.7"), (1234.5, "1,234"), (3.0, "3"), (0.00001234, "1.23e-05"), (float("nan"), "not a number"),
    (float("inf"), "infinite"), ([], "none"), ([1, 2.5, "a"], "1, 2.5, a"),
    (list(range(10)), "0, 1, 2, 3, 4, 5 and 4 more"), ({}, "none"),
    ({"flagged_columns": 0, "files": []}, "files: none; flagged columns: 0"),
    ({"columns": {"a": 1, "b": 2}}, "columns: 2 entries"), ("current", "current"),
])
def test_values_read_as_text_never_json(value, shown):
    assert page.text(value) == shown
    assert "{" not in page.text(value) and '"' not in page.text(value)


def test_dicts_with_nested_values_or_many_keys_become_a_small_table():
    v = page.value_view({"files": ["a.csv", "b.csv"], "files_searched": 72, "allow_raw_pii": False})
    assert v == {"rows": [("allow raw pii", "no"), ("files", "a.csv, b.csv"), ("files searched", "72")], "more": 0}
    many = page.value_view({f"k{i:02d}": i for i in range(12)})
    assert len(many["rows"]) == 8 and many["more"] == 4
    assert page.value_view({"categorical": 14, "numeric": 7}) == {"text": "categorical: 14; numeric: 7"}
    assert page.value_view(0.25) == {"text": "0.25"}


def test_shares_and_intervals():
    assert page.share(0.029) == "2.9%" and page.share(0.0) == "0%" and page.share(1) == "100%"
    assert page.share(0.9751) == "97.5%" and page.share(0.12) == "12%"
    assert page.ci_text([0.75, 0.87]) == " (95% CI 0.75 to 0.87)"
    assert page.ci_text(None) == "" and page.ci_text([None, 1]) == ""
    assert page.ci_text([0.0, 0.975], page.share) == " (95% CI 0% to 97.5%)"


@pytest.mark.parametrize("t, words", [
    ({"min": 0.7, "on": "ci"}, "at least 0.7 on the lower CI bound"),
    ({"max": 0.1, "on": "interval"}, "at most 0.1 on the whole CI"),
    ({"max": 0.1}, "at most 0.1"),
    ({"min": 0.0, "exclusive": True, "on": "ci", "unit": "EUR per day"}, "above 0 EUR per day on the lower CI bound"),
    ({"status": "fail"}, "must not fail"), ({"status": "warn"}, "must pass (a warning fails)"),
    ({"min": 0.8, "severity": 0.5}, "at least 0.8, severity 0.5"), (None, "none"),
    ({"max": 0, "of": "failed model-specification tests"}, "at most 0 failed model-specification tests"),
    ({"max": 100.0, "unit": "MB"}, "at most 100 MB"),
])
def test_thresholds_in_words(t, words):
    assert page.threshold(t) == words


def test_a_gate_without_bounds_shows_the_checks_own_limit():
    assert page.rule({"status": "fail"}, {"min": 0.0, "on": "ci"}) == "at least 0 on the lower CI bound"
    assert page.rule({"status": "fail"}, None) == "must not fail"
    assert page.rule({"max": 0.1, "on": "ci"}, {"max": 0.3}) == "at most 0.1 on the upper CI bound"


@pytest.mark.parametrize("status, raw, shown", [
    ("pass", "data.contract.written pass", ""),                 # only restates the status: nothing to add
    ("pass", "model.roc_auc = 0.81 (95% CI 0.75 to 0.87) is within the gate", "0.81 (95% CI 0.75 to 0.87) is within the gate"),
    ("fail", "model.roc_auc = 0.65: it is below the minimum 0.7", "0.65: it is below the minimum 0.7"),
    ("pass", "model.x = 1 is within the gate (the step warns: see why)", ""),  # would contradict the PASS badge
    ("warn", "model.x = 1 is within the gate (the step warns: see why)", "1 is within the gate (the step warns: see why)"),
    ("fail", "drift.detects.x failed: Monitors detect a simulated fault", "Failed: Monitors detect a simulated fault"),
    ("missing", "no check model.r2: step model_evaluation did not run", "No check model.r2: step model_evaluation did not run"),
])
def test_gate_reasons_never_repeat_the_id_nor_contradict_the_status(status, raw, shown):
    cid = raw.split(" ")[0] if raw.startswith(("model.", "data.", "drift.")) else None
    assert page.reason(status, raw, cid) == shown


# -- the executive summary ------------------------------------------------------------------------------------------
def test_a_no_go_with_two_blocking_reasons_says_each_in_words_with_what_to_do_next():
    auc = _check("model.roc_auc", "fail", 0.68, ci=[0.61, 0.74], threshold={"min": 0.7, "on": "ci"})
    contract = _check("data.contract.current_valid", "fail", 2, step="data_audit",
                      why="2 columns of the contract are missing from the current data: a, b.")
    g_auc = _gate(auc, threshold={"min": 0.7, "on": "ci"},
                  reason="model.roc_auc = 0.68 (95% CI 0.61 to 0.74): its lower CI bound is below the minimum 0.7")
    g_con = _gate(contract, reason="data.contract.current_valid failed: Current data honours the data contract")
    reasons = [{"kind": "gate_fail", "check": c["id"], "step": c["step"], "text": g["reason"]}
               for c, g in ((auc, g_auc), (contract, g_con))]
    s = _summary([auc, contract], [g_auc, g_con], reasons, verdict="no-go")
    ex = page.executive(s)
    assert ex["verdict"] == "no-go" and ex["headline"] == "Do not release"
    assert [r["check"] for r in ex["reasons"]] == ["model.roc_auc", "data.contract.current_valid"]
    r_auc, r_con = ex["reasons"]
    assert r_auc["title"] == "ROC AUC"
    assert r_auc["sentence"] == "Measured 0.68 (95% CI 0.61 to 0.74); the gate requires at least 0.7 on the lower CI bound."
    assert r_auc["next_step"] == catalogue.spec("model.roc_auc").next_step
    assert r_con["sentence"] == "The check failed: 2 columns of the contract are missing from the current data: a, b."
    assert r_con["next_step"] == catalogue.spec("data.contract.current_valid").next_step
    assert r_auc["anchor"] == "check-model.roc_auc"


def test_an_error_verdict_names_the_step_and_the_catalogues_next_step():
    steps = _steps({"drift_simulation": "error"})
    s = _summary([_check("drift_simulation.executed", "error", step="drift_simulation")], [],
                 [{"kind": "step_error", "step": "drift_simulation", "check": "drift_simulation.executed",
                   "text": "step drift_simulation could not run to the end"}], verdict="error", steps=steps)
    ex = page.executive(s)
    assert ex["headline"] == "The run failed: no decision"
    (r,) = ex["reasons"]
    assert r["title"] == "The drift simulation step could not run"
    assert r["sentence"] == "It stopped with: RuntimeError: boom."
    assert r["next_step"] == catalogue.spec("drift_simulation.executed").next_step and "error" in r["next_step"]


def test_incomplete_evidence_and_a_partial_run_say_what_is_missing():
    reasons = [{"kind": "partial_run", "step": None, "check": None,
                "text": "partial run: 1 step(s) did not run (drift_simulation)"},
               {"kind": "gate_missing", "check": "drift.false_alarm_rate", "step": "drift_simulation",
                "text": "no evidence for a blocking gate: no check drift.false_alarm_rate: step drift_simulation did not run"}]
    s = _summary([], [], reasons, verdict="incomplete", steps=_steps(not_run=("drift_simulation",)),
                 steps_not_run=["drift_simulation"])
    part, missing = page.executive(s)["reasons"]
    assert part["sentence"] == "1 step(s) did not run (drift_simulation)." and "--steps" in part["next_step"]
    assert missing["title"] == catalogue.spec("drift.false_alarm_rate").title
    assert "step drift_simulation did not run" in missing["sentence"]
    assert missing["next_step"] == "Make sure the drift simulation step runs and records this check, then run the pack again."


def test_every_number_that_is_missing_says_not_measured_and_why():
    s = _summary([], steps=_steps(not_run=("model_evaluation", "monitoring_setup", "drift_simulation", "data_audit")))
    nums = page.key_numbers(s)
    assert [n["label"] for n in nums] == ["Model quality", "Business value per day", "Worst fairness gap",
                                          "Monitor false-alarm rate", "Fault coverage", "Data issues found"]
    for n in nums:
        assert n["text"] == page.MISSING and n["note"].endswith("did not run"), n


def test_numbers_skipped_or_not_configured_give_the_checks_own_reason():
    checks = [_check("model.fairness.configured", "skip", why="no sensitive column is configured (data.sensitive)"),
              _check("model.business.value_per_day", "skip", why="no probabilities to choose a threshold"),
              _check("model.roc_auc", "error")]
    nums = {n["label"].split(" (")[0]: n for n in page.key_numbers(_summary(checks))}
    assert nums["Worst fairness gap"]["note"] == "no sensitive column is configured (data.sensitive)"
    assert nums["Business value per day"]["note"] == "no probabilities to choose a threshold"
    assert nums["Model quality"]["text"] == page.MISSING and nums["Model quality"]["note"] == "it could not be computed"
    # the step ran but recorded nothing of the kind
    assert nums["Fault coverage"]["note"] == "this pack has no fault-detection measurement"


def test_the_numbers_that_decide_a_launch_are_formatted_for_people():
    checks = [
        _check("model.roc_auc", "pass", 0.8127513228, ci=[0.7529980635, 0.873854317], threshold={"min": 0.7, "on": "ci"}),
        _check("model.business.value_per_day", "pass", 146.6666667, ci=[4.5, 336.6666667],
               threshold={"min": 0.0, "exclusive": True, "on": "ci", "unit": "EUR per day"}),
        _check("model.fairness.age.equalized_odds_difference", "fail", 0.19, ci=[0.17, 0.57],
               threshold={"max": 0.1, "on": "interval"}),
        _check("model.fairness.sex.demographic_parity_difference", "pass", 0.06, ci=[0.01, 0.09],
               threshold={"max": 0.1, "on": "interval"}),
        _check("monitoring.false_alarm_budget_met", "pass", 0.029, ci=[0.02, 0.04], step="monitoring_setup",
               threshold={"max": 1 / 30, "batches": 1000}),
        _check("monitoring.detects_within_days.mean_shift", "pass", 1.0, step="monitoring_setup",
               threshold={"min": 0.9, "days": 3}),
        _check("monitoring.detects_within_days.concept_drift", "warn", 0.12, step="monitoring_setup",
               threshold={"min": 0.9, "days": 3}),
        _check("monitoring.detects_within_days.type_change", "skip", step="monitoring_setup", not_applicable=True),
        _check("data.completeness.column_missing.current", "fail", 0.4, step="data_audit"),
        _check("data.uniqueness.duplicate_rows.reference", "warn", 0.02, step="data_audit"),
        _check("data.target.missing", "pass", 0.0, step="data_audit"),
    ]
    gates = [_gate(checks[0], threshold={"min": 0.7, "on": "ci"}), _gate(checks[1])]
    n = {x["label"]: x for x in page.key_numbers(_summary(checks, gates, excluded_from_features={"z": "empty"}))}
    q = n["Model quality (ROC AUC)"]
    assert (q["text"], q["bound"], q["status"]) == ("0.813 (95% CI 0.753 to 0.874)",
                                                    "required: at least 0.7 on the lower CI bound", "pass")
    b = n["Business value per day"]
    assert b["text"] == "146.7 EUR per day (95% CI 4.5 to 336.7)"
    assert b["bound"] == "required: above 0 EUR per day on the lower CI bound"
    f = n["Worst fairness gap"]
    assert f["text"] == "0.19 (95% CI 0.17 to 0.57): equalized odds difference across age" and f["status"] == "fail"
    assert f["bound"] == "target: at most 0.1 on the whole CI"
    fa = n["Monitor false-alarm rate"]
    assert fa["text"] == "2.9% (95% CI 2% to 4%) of clean batches raise an alert" and fa["bound"] == "target: at most 3.3%"
    c = n["Fault coverage"]
    assert c["text"] == "1 of 2 simulated faults caught by the deployed monitor within 3 days"
    assert c["note"] == "Missed: concept drift."
    d = n["Data issues found"]
    assert d["text"] == "2 of 3 data checks flag an issue (1 failed, 1 warned)" and d["status"] == "fail"
    assert d["note"] == "Worst column missing share (current), Exact duplicate rows (reference). Left out of the features: z (empty)."


# -- the page -------------------------------------------------------------------------------------------------------
class _Text(HTMLParser):
    """The page's visible text, its ids and the src of its images."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.ids, self.imgs, self.tags, self._skip = [], [], [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "img":
            self.imgs.append(a)
        if tag == "style":
            self._skip += 1

    def handle_endtag(self, tag):
        if tag == "style":
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _parse(html: str) -> _Text:
    p = _Text()
    p.feed(html)
    return p


def _fake_pack(root: Path, summary: dict, figures=("business.png",)) -> Path:
    pack = root / "evidence" / summary["pack"]
    for st in summary["steps"]:
        if st["dir"]:
            (pack / st["dir"] / "artifacts").mkdir(parents=True, exist_ok=True)
    for name in figures:
        step = next(s for s, f, *_ in page.FIGURES if f == name)
        d = next(st["dir"] for st in summary["steps"] if st["name"] == step)
        (pack / d / "artifacts" / name).write_bytes(PNG)
    return pack


def test_the_page_opens_with_the_summary_escapes_data_and_says_which_figures_are_absent(tmp_path):
    evil = "<script>alert(1)</script>"
    auc = _check("model.roc_auc", "fail", 0.6, ci=[0.5, 0.65], threshold={"min": 0.7, "on": "ci"},
                 evidence="artifacts/metrics.json", step_dir="steps/02_model_evaluation")
    odd = _check("governance.pii.redacted", "pass", {"files": [], "note": evil}, step="governance")
    g = _gate(auc, threshold={"min": 0.7, "on": "ci"}, reason="model.roc_auc = 0.6: its lower CI bound is below the minimum 0.7")
    s = _summary([auc, odd, _check("custom.x", "warn", [1, 2], title=evil)], [g],
                 [{"kind": "gate_fail", "check": "model.roc_auc", "step": "model_evaluation", "text": g["reason"]}],
                 verdict="no-go")
    pack = _fake_pack(tmp_path, s)
    html = render_index(pack, s)
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from the network
    p = _parse(html)
    text = " ".join(" ".join(p.parts).split())
    assert p.tags.index("main") < p.tags.index("section")
    assert text.index("Executive summary") < text.index("Release gates") < text.index("Checks by step")
    assert "Verdict: NO-GO Do not release" in text and catalogue.spec("model.roc_auc").next_step in text
    assert re.search(r'[\[{]"', html_mod.unescape(text)) is None, "a JSON blob on the page"
    # one figure in the pack: inline, with alt text; the three others named as absent
    (img,) = p.imgs
    assert img["src"] == "data:image/png;base64," + base64.b64encode(PNG).decode() and len(img["alt"]) > 20
    assert text.count("not in this pack") == 3
    assert "the drift simulation step did not write sensitivity_heatmap.png" in text
    assert "playbook verify evidence/demo" in text and str(tmp_path) not in html
    assert "check-model.roc_auc" in p.ids
    style = html[html.index("<style>"):html.index("</style>")]
    assert "&#34;" not in style and "&quot;" not in style and '"Segoe UI"' in style  # CSS is not HTML-escaped


def test_a_gates_shown_status_is_its_checks_and_its_note_never_contradicts_it(tmp_path):
    c = _check("model.calibration_ece", "pass", 0.07)
    g = _gate(c, block=False, reason="model.calibration_ece = 0.07 is within the gate (the step warns: see why)")
    v = page.view(tmp_path, _summary([c], [g]))
    (row,) = v["gates"]
    assert row["status"] == "pass" and row["reason"] == ""
    (step_row,) = next(st for st in v["steps"] if st["name"] == "model_evaluation")["rows"]
    assert step_row["status"] == "pass" and step_row["gate"] == "reported, does not block"


def test_verify_path_is_the_out_folders_name_and_the_pack(tmp_path):
    s = {"pack": "german-credit"}
    assert page.verify_path(tmp_path / "evidence" / "german-credit", s) == "evidence/german-credit"
    # the hidden build folder sits in the out folder too
    assert page.verify_path(tmp_path / "evidence" / ".german-credit.partial-x1", s) == "evidence/german-credit"


# -- on the bundled pack --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_bundled_packs_page_agrees_with_its_summary_and_its_verify_command_works(bundled_pack):
    pack, out = bundled_pack["pack"], bundled_pack["out"]
    assert bundled_pack["proc"].returncode in (0, 1), bundled_pack["proc"].stderr[-2000:]
    s = json.loads((pack / "summary.json").read_text())
    html = (pack / "index.html").read_text(encoding="utf-8")
    assert html == render_index(pack, s)  # the page is a function of the pack
    v = page.view(pack, s)
    by_id = {c["id"]: c for c in s["checks"]}
    shown = {r["id"]: r["status"] for st in v["steps"] for r in st["rows"]}
    assert shown == {c["id"]: c["status"] for c in s["checks"]}
    for g in v["gates"]:
        if g["id"] in by_id:
            assert g["status"] == by_id[g["id"]]["status"], g
        assert not g["reason"].startswith(g["id"])
        words = set(re.findall(r"\b(pass|warn|fail)\w*", g["reason"].lower()))
        assert words <= {g["status"]}, g
    for n in v["ex"]["numbers"]:
        assert n["text"] and (n["text"] != page.MISSING or n["note"]), n
    text = " ".join(_parse(html).parts)
    assert re.search(r'[\[{]"', html_mod.unescape(text)) is None, "a JSON blob on the page"
    cmd = f"{out.name}/{pack.name}"
    assert f"playbook verify {cmd}" in html
    proc = run_cli("verify", cmd, cwd=out.parent, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
