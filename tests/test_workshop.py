"""The workshop checks itself: solution notebooks run and every checker says "right"; wrong answers are refused with
a hint; exercises and solutions differ only in their answer cells; the tutorial's commands run; the glossary holds."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from playbook import workshop
from playbook.workshop import checks as wc
from playbook.workshop import notebooks as wn

from .conftest import ROOT, SMALL_PARAMS

WORKSHOP = ROOT / "workshop"
SOLUTIONS = sorted((WORKSHOP / "solutions").glob("[0-9][0-9]_*.ipynb"))
EXERCISES = sorted(WORKSHOP.glob("[0-9][0-9]_*.ipynb"))


def run_solution(path: Path, out: Path, **params) -> list[dict]:
    """Execute a workshop notebook with papermill (kernel python3, cwd workshop/); return its feedback.json."""
    import papermill as pm

    out.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(path), str(out / path.name), parameters={"output_dir": str(out), **params},
                        kernel_name="python3", cwd=str(WORKSHOP), progress_bar=False, execution_timeout=600)
    return json.loads((out / "feedback.json").read_text())


# -- the notebooks as committed ------------------------------------------------------------------------------------
def test_there_are_five_exercises_each_with_its_solution():
    assert [p.name for p in EXERCISES] == [p.name for p in SOLUTIONS] and len(SOLUTIONS) == 5


@pytest.mark.parametrize("path", EXERCISES + SOLUTIONS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_notebook_is_clean_and_follows_the_conventions(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4 and nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs not cleared"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# Workshop ")
    assert "**The production failure.**" in first.source and re.search(r"\*\*Time budget: \d+ minutes", first.source)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code" and 'output_dir: str = ""' in tagged[0].source
    answers = wn.answer_cells(nb)
    assert answers, "no answer cell"
    for cell in answers:  # every answer cell is followed by the cell that checks it
        nxt = nb.cells[nb.cells.index(cell) + 1]
        assert nxt.cell_type == "code" and re.match(r"workshop\.check_\w+\(answer", nxt.source)


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_exercise_is_its_solution_without_the_answers(solution):
    sol = nbformat.read(solution, as_version=4)
    ex = nbformat.read(WORKSHOP / solution.name, as_version=4)
    assert ex == wn.make_exercise(sol), (f"{solution.name}: the exercise differs from its solution outside the answer "
                                         "cells; run `python -m playbook.workshop exercises`")
    for s_cell, e_cell in zip(wn.answer_cells(sol), wn.answer_cells(ex)):
        assert "..." in e_cell.source and "..." not in s_cell.source and s_cell.source != e_cell.source
        assert "workshop" not in e_cell.metadata


def test_make_exercise_refuses_an_answer_cell_without_its_exercise():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("answer = 1", metadata={"tags": ["answer"]})])
    with pytest.raises(ValueError, match="workshop.exercise"):
        wn.make_exercise(nb)


def test_exercises_check_mode_reports_a_drifted_exercise(tmp_path, monkeypatch):
    (tmp_path / "solutions").mkdir()
    nb = nbformat.read(SOLUTIONS[2], as_version=4)
    nbformat.write(nb, tmp_path / "solutions" / SOLUTIONS[2].name)
    monkeypatch.setattr(wn, "workshop_dir", lambda: tmp_path)
    assert wn.write_exercises(check=True) == [tmp_path / SOLUTIONS[2].name]  # missing
    assert wn.write_exercises() == [tmp_path / SOLUTIONS[2].name] and wn.write_exercises(check=True) == []
    drifted = nbformat.read(tmp_path / SOLUTIONS[2].name, as_version=4)
    drifted.cells[2].source += "\n# edited in the exercise only"
    nbformat.write(drifted, tmp_path / SOLUTIONS[2].name)
    assert wn.write_exercises(check=True) == [tmp_path / SOLUTIONS[2].name]


# -- the solution notebooks run, and every checker in them says "right" ----------------------------------------------
@pytest.mark.parametrize("solution", SOLUTIONS[:4], ids=lambda p: p.stem)
def test_solution_notebook_runs_and_every_answer_is_right(solution, tmp_path):
    small = {"04_configure_a_monitor": {"replicates": 1000}, "02_catch_a_fault": {"n_batches": 12}}
    feedback = run_solution(solution, tmp_path, **small.get(solution.stem, {}))
    nb = nbformat.read(solution, as_version=4)
    assert len(feedback) == len(wn.answer_cells(nb))
    assert all(f["ok"] for f in feedback), feedback


def test_an_exercise_as_handed_out_runs_and_asks_for_the_answer(tmp_path):
    """Zero setup: the exercise notebook runs top to bottom with the placeholder in place; its checker says so."""
    feedback = run_solution(WORKSHOP / SOLUTIONS[2].name, tmp_path)
    assert len(feedback) == 1 and not feedback[0]["ok"] and "placeholder" in feedback[0]["message"]


@pytest.mark.slow
def test_go_no_go_solution_builds_its_pack_and_is_right(tmp_path):
    feedback = run_solution(SOLUTIONS[4], tmp_path / "out", work_dir=str(tmp_path / "work"))
    assert len(feedback) == 1 and feedback[0]["ok"], feedback
    verdict, blocking = wc.pack_decision(tmp_path / "work" / "workshop-credit")
    assert verdict == "no-go" and blocking == {"data.contract.current_valid"}


# -- wrong answers are refused with a hint; the right one is accepted -------------------------------------------------
def assert_refused(fb, *words):
    assert fb.ok is False and fb.hint, fb
    text = (fb.message + " " + fb.hint).lower()
    for w in words:
        assert w.lower() in text, (w, fb)


@pytest.fixture(scope="module")
def messy():
    return workshop.messy_credit(0)


AUDIT_RIGHT = {"duplicates": "reference", "constant": "branch", "unit_change": "credit_amount",
               "missing": "present_employment_since", "leak": "days_in_arrears", "person_name": "applicant_name"}


def test_the_audit_finds_every_planted_fault(messy):
    found = wc.audit_answers(*wc.run_messy_audit(*messy))
    assert set(found) == set(workshop.PROBLEMS)
    assert {k: sorted(v) for k, v in found.items()} == {k: [v] for k, v in AUDIT_RIGHT.items()}
    clean = wc.audit_answers(*wc.run_messy_audit(*workshop.bundled()))  # the bundled data has none of them
    assert all(not v for v in clean.values()), clean


def test_check_audit(messy):
    ref, cur = messy
    assert wc.check_audit(AUDIT_RIGHT, ref, cur).ok
    assert_refused(wc.check_audit(..., ref, cur), "placeholder")
    assert_refused(wc.check_audit({**AUDIT_RIGHT, "leak": ...}, ref, cur), "placeholder")
    assert_refused(wc.check_audit(["branch"], ref, cur), "dict", "list")
    assert_refused(wc.check_audit({"constant": "branch"}, ref, cur), "missing key")
    assert_refused(wc.check_audit({**AUDIT_RIGHT, "leak": 3}, ref, cur), "text")
    assert_refused(wc.check_audit({**AUDIT_RIGHT, "leak": "credit_amount"}, ref, cur), "data.leakage.single_feature")
    assert_refused(wc.check_audit({**AUDIT_RIGHT, "duplicates": "current"}, ref, cur), "duplicate_rows")


@pytest.fixture(scope="module")
def fault():
    ref, cur = workshop.bundled()
    clean = workshop.batches(cur, 150, 12, seed=0)
    faulty, info = workshop.with_fault(clean, "unit_change_up", 0.05, seed=0)
    return ref, clean, faulty, info


def test_check_detector(fault):
    ref, clean, faulty, info = fault
    assert info["columns"] == ["credit_amount"]
    right = {"column": "credit_amount", "test": "wasserstein", "threshold": 1.0}
    assert wc.check_detector(right, *fault).ok
    assert_refused(wc.check_detector(..., *fault), "placeholder")
    assert_refused(wc.check_detector({**right, "threshold": ...}, *fault), "placeholder")
    assert_refused(wc.check_detector("wasserstein", *fault), "dict")
    assert_refused(wc.check_detector({**right, "threshold": "high"}, *fault), "number")
    assert_refused(wc.check_detector({**right, "column": "age_in_years"}, *fault), "did not touch", "info['columns']")
    assert_refused(wc.check_detector({**right, "test": "chisquare"}, *fault), "does not suit")
    assert_refused(wc.check_detector({**right, "test": "psi"}, *fault), "not a drift test")
    assert_refused(wc.check_detector({**right, "test": "ks", "threshold": 0.05}, *fault), "catches the fault on only")
    assert_refused(wc.check_detector({**right, "threshold": 0.1}, *fault), "clean", "clean_max")  # Evidently's default
    assert_refused(wc.check_detector({**right, "threshold": 1000.0}, *fault), "faulty_max")
    assert_refused(wc.check_detector({**right, "test": "ks", "threshold": 3}, *fault), "between 0 and 1")


def test_detector_table_brackets_what_the_checker_judges(fault):
    ref, clean, faulty, info = fault
    t = wc.detector_table(ref, clean, faulty, "credit_amount").set_index("test")
    assert list(t.index) == ["ks", "wasserstein"]
    assert t.loc["wasserstein", "clean_max"] < 1.0 < t.loc["wasserstein", "faulty_min"]


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.35 * y + rng.normal(0.3, 0.2, 400), 0, 1)
    costs = {"cost_false_positive": 1.0, "cost_false_negative": 5.0, "value_true_negative": 2.0,
             "volume_per_day": 200}
    return y, p, costs


def test_check_threshold(scores):
    from playbook.evaluate.business import business_view, cost_implied_threshold, costs_of

    y, p, costs = scores
    best = business_view(y, p, costs)["optimal_threshold"]
    assert wc.check_threshold(best, *scores).ok
    assert wc.check_threshold(np.float64(best), *scores).ok
    assert_refused(wc.check_threshold(..., *scores), "placeholder")
    assert_refused(wc.check_threshold("0.3", *scores), "number")
    assert_refused(wc.check_threshold(True, *scores), "number")
    assert_refused(wc.check_threshold(1.5, *scores), "between 0 and 1")
    assert_refused(wc.check_threshold(0.5, *scores), "ignores the costs", "value_per_decision")
    implied = cost_implied_threshold(costs_of(costs))  # (1 + 2) / (1 + 2 + 5 + 0)
    assert implied == 3 / 8 and abs(implied - best) > 0.01
    assert_refused(wc.check_threshold(implied, *scores), "calibrated")
    assert_refused(wc.check_threshold(0.0, *scores), "per day")


@pytest.fixture(scope="module")
def monitor_case():
    import playbook
    from playbook.drift import shifts

    ctx = playbook.load_context("")
    pool, _ = shifts.apply("mean_shift", ctx.current, 0.1, roles=ctx.roles, seed=0)
    kw = dict(tolerated_budget=1 / 30, volume_per_day=200, min_power=0.9, replicates=1000)
    return (ctx.reference, pool, ctx.features, ctx.numeric_features), kw


def test_check_monitor(monitor_case):
    args, kw = monitor_case
    assert wc.check_monitor({"false_alarm_budget": 1 / 30, "batch_size": 200}, *args, **kw).ok
    assert_refused(wc.check_monitor(..., *args, **kw), "placeholder")
    assert_refused(wc.check_monitor({"false_alarm_budget": ..., "batch_size": 200}, *args, **kw), "placeholder")
    assert_refused(wc.check_monitor((1 / 30, 200), *args, **kw), "dict")
    assert_refused(wc.check_monitor({"false_alarm_budget": "1/30", "batch_size": 200}, *args, **kw), "probability")
    assert_refused(wc.check_monitor({"false_alarm_budget": 1 / 30, "batch_size": 200.5}, *args, **kw), "whole number")
    assert_refused(wc.check_monitor({"false_alarm_budget": 0.5, "batch_size": 200}, *args, **kw), "tolerates")
    assert_refused(wc.check_monitor({"false_alarm_budget": 1 / 30, "batch_size": 500}, *args, **kw), "volume_per_day")
    assert_refused(wc.check_monitor({"false_alarm_budget": 1 / 30, "batch_size": 25}, *args, **kw), "power")


def fake_pack(folder: Path, verdict: str, reasons: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps({"verdict": verdict, "reasons": reasons}))
    return folder


def test_check_verdict(tmp_path):
    nogo = fake_pack(tmp_path / "nogo", "no-go", [{"kind": "gate_fail", "check": "data.contract.current_valid"}])
    go = fake_pack(tmp_path / "go", "go", [])
    right = {"verdict": "no-go", "blocking": "data.contract.current_valid"}
    assert wc.check_verdict(right, nogo).ok
    assert wc.check_verdict({**right, "blocking": ["data.contract.current_valid"]}, nogo).ok
    assert wc.check_verdict({"verdict": "go", "blocking": None}, go).ok
    assert_refused(wc.check_verdict(..., nogo), "placeholder")
    assert_refused(wc.check_verdict({**right, "blocking": ...}, nogo), "placeholder")
    assert_refused(wc.check_verdict("no-go", nogo), "dict")
    assert_refused(wc.check_verdict({**right, "verdict": "nogo"}, nogo), "one of")
    assert_refused(wc.check_verdict({**right, "blocking": 7}, nogo), "check id")
    assert_refused(wc.check_verdict({**right, "verdict": "go"}, nogo), "gates table")
    assert_refused(wc.check_verdict({**right, "blocking": "model.roc_auc"}, nogo), "reasons")
    assert_refused(wc.check_verdict({"verdict": "go", "blocking": "model.roc_auc"}, go), "none")


def test_feedback_is_recorded_and_saved(tmp_path, scores):
    before = len(workshop.RECORD)
    fb = wc.check_threshold(..., *scores)
    assert workshop.RECORD[-1] is fb and len(workshop.RECORD) == before + 1
    assert "**Look at:**" in fb._repr_markdown_() and "NOT YET" in str(fb)
    path = workshop.save_feedback(tmp_path)
    assert json.loads(path.read_text())[-1] == fb.as_dict() and workshop.save_feedback("") is None


# -- the tutorial: bring your own data ---------------------------------------------------------------------------------
TUTORIAL = ROOT / "docs" / "tutorial.md"


def customers_csv(path: Path, n: int = 800, seed: int = 0) -> Path:
    """A newcomer's own CSV: a churn table with names and e-mails (Faker, seeded) and a signal in the features."""
    from faker import Faker

    fake = Faker("en_GB")
    fake.seed_instance(seed)
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    tickets = rng.poisson(1.5, n)
    plan = rng.choice(["basic", "plus", "family"], n, p=[0.5, 0.3, 0.2])
    fee = np.round(np.select([plan == "basic", plan == "plus"], [9.99, 14.99], 19.99) + rng.normal(0, 1, n), 2)
    risk = -1.0 - 0.05 * tenure + 0.6 * tickets + 0.8 * (plan == "basic")
    churned = np.where(rng.random(n) < 1 / (1 + np.exp(-risk)), "yes", "no")
    start = pd.Timestamp("2023-01-01")
    df = pd.DataFrame({
        "customer": [fake.name() for _ in range(n)], "email": [fake.email() for _ in range(n)],
        "signup_date": [(start + pd.Timedelta(days=int(d))).date().isoformat() for d in np.sort(rng.integers(0, 540, n))],
        "plan": plan, "monthly_fee": fee, "tenure_months": tenure, "support_tickets": tickets,
        "region": rng.choice(["north", "south", "east", "west"], n), "churned": churned,
    })
    df.to_csv(path, index=False)
    return path


def tutorial_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", TUTORIAL.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.slow
def test_the_tutorial_commands_run_on_a_generated_csv(tmp_path):
    """Every ```bash block of docs/tutorial.md, in order, in one folder holding a generated customers.csv;
    `playbook` is this checkout's CLI and `playbook run` gets the suite's small step parameters."""
    blocks = tutorial_blocks()
    assert len(blocks) >= 5
    customers_csv(tmp_path / "customers.csv")
    small = " ".join(f"-p {shlex.quote(p)}" for p in SMALL_PARAMS)
    prelude = (f'playbook() {{ if [ "$1" = run ]; then shift; {shlex.quote(sys.executable)} -m playbook run "$@" '
               f'{small}; else {shlex.quote(sys.executable)} -m playbook "$@"; fi; }}\n'
               f'python() {{ {shlex.quote(sys.executable)} "$@"; }}\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outputs = []
    for block in blocks:
        proc = subprocess.run(["bash", "-c", prelude + block], cwd=tmp_path, capture_output=True, text=True,
                              timeout=1200, env=env)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, f"tutorial block failed:\n{block}\n{outputs[-1][-3000:]}"
    text = "\n".join(outputs)
    assert "exit code: 2" in text and "data.target" in text  # the starter's placeholder target, refused
    assert re.search(r"exit code: [01]\b", text)
    pack = tmp_path / "evidence" / "my-model"
    summary = json.loads((pack / "summary.json").read_text())
    assert summary["target"] == "churned" and summary["verdict"] in ("go", "no-go")
    assert not [s for s in summary["steps"] if s["status"] == "error"]
    assert {"customer", "email"} <= set(summary["pii_excluded_from_features"])
    assert "intact" in text.lower()


def test_split_refuses_bad_input_in_one_sentence(tmp_path):
    csv = customers_csv(tmp_path / "c.csv", n=50)
    cmd = [sys.executable, "-m", "playbook.workshop", "split", str(csv), str(tmp_path / "d")]
    ok = subprocess.run(cmd + ["--by", "signup_date"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    ref, cur = pd.read_csv(tmp_path / "d" / "reference.csv"), pd.read_csv(tmp_path / "d" / "current.csv")
    assert len(ref) == 35 and len(cur) == 15 and ref["signup_date"].max() <= cur["signup_date"].min()
    for extra, words in ((["--by", "sign_up"], "--by sign_up: not a column"),
                         (["--current-share", "1.5"], "between 0 and 1")):
        bad = subprocess.run(cmd + extra, capture_output=True, text=True)
        assert bad.returncode == 2 and words in bad.stderr and "Traceback" not in bad.stderr
    missing = subprocess.run([sys.executable, "-m", "playbook.workshop", "split", str(tmp_path / "nope.csv"),
                              str(tmp_path / "e")], capture_output=True, text=True)
    assert missing.returncode == 2 and "nope.csv" in missing.stderr and "Traceback" not in missing.stderr


# -- the glossary -----------------------------------------------------------------------------------------------------
GLOSSARY = ROOT / "docs" / "glossary.md"


def glossary() -> dict[str, dict]:
    """``### Term`` headings: each entry's definition (the text before ``*Where:*``) and where it appears."""
    entries: dict[str, dict] = {}
    parts = re.split(r"^### (.+)$", GLOSSARY.read_text(encoding="utf-8"), flags=re.M)
    for term, body in zip(parts[1::2], parts[2::2]):
        body = body.split("\n## ")[0].strip()
        definition, _, where = body.partition("*Where:*")
        assert term.strip() not in entries, f"glossary term {term!r} appears twice"
        entries[term.strip()] = {"definition": definition.strip(), "where": where.strip()}
    return entries


PROMISED = ["drift", "PSI", "calibration", "false-alarm budget", "CBPE", "ML Test Score", "gate", "verdict",
            "evidence pack", "fault coverage", "power", "bootstrap CI"]


def test_glossary_terms_are_unique_and_each_has_a_short_definition_and_a_place():
    entries = glossary()
    lower = [t.lower() for t in entries]
    assert len(lower) == len(set(lower))
    for term in PROMISED:
        assert any(t.lower().startswith(term.lower()) for t in entries), f"glossary lacks {term!r}"
    for term, e in entries.items():
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", e["definition"]) if s.strip()]
        assert 2 <= len(sentences) <= 4, f"{term}: {len(sentences)} sentences"
        assert e["where"], f"{term}: no *Where:* line"


def test_every_place_the_glossary_names_exists():
    """A backticked check id (or id family), pack file, artifact or template in a *Where:* line is real: a check of
    the catalogue, a file every pack has, an artifact a step writes, a template."""
    from playbook import catalogue

    ids = {s.id for s in catalogue.all_specs()}
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "playbook").rglob("*.py"))
    pack_files = {"index.html", "summary.json", "manifest.json", "config.yaml", "preflight.json", "privacy.json",
                  "results.json", "timings.json", "notebook.html", "model.skops"}
    named = 0
    for term, e in glossary().items():
        for ref in re.findall(r"`([^`]+)`", e["where"]):
            name = ref.rstrip("/").split("/")[-1]
            if re.search(r"\.(json|yaml|html|skops)$", name):
                assert name in pack_files or f'"{name}"' in sources, f"{term}: no step writes {ref}"
            elif re.fullmatch(r"(data|model|drift|monitoring|governance|review)(\.[a-z_<>]+)+", ref):
                assert ref in ids, f"{term}: {ref} is not a check id of the catalogue"
            elif re.fullmatch(r"\d\d_[a-z_]+", ref):
                assert (ROOT / "templates" / f"{ref}.ipynb").exists(), f"{term}: no template {ref}"
            elif ref.startswith("docs/"):
                assert (ROOT / ref).exists(), f"{term}: no {ref}"
            else:
                continue
            named += 1
    assert named >= 40


#: glossary terms that are not words of the pack itself, and why they are in the glossary
NOT_PACK_WORDS = {
    "PSI (population stability index)": "people ask for it; the entry says what the pack uses instead",
    "Fault coverage": "the workshop's name for what drift.detects.<shift> and drift.silent_failures measure together",
}


def test_glossary_terms_are_the_packs_own_words():
    """Each term (each part of "A and B"; the words before a parenthesis) is used by the pack: in a check's title or
    measure, docs/checks.md, the code that renders index.html and writes the manifest, or the templates."""
    from playbook import catalogue

    corpus = " ".join(f"{s.title} {s.measures}" for s in catalogue.all_specs())
    corpus += (ROOT / "docs" / "checks.md").read_text(encoding="utf-8")
    corpus += "".join((ROOT / "playbook" / f).read_text(encoding="utf-8") for f in ("report.py", "pack.py"))
    corpus += "".join(p.read_text(encoding="utf-8") for p in (ROOT / "templates").glob("*.ipynb"))
    corpus = corpus.lower()
    entries = glossary()
    assert set(NOT_PACK_WORDS) <= set(entries)
    for term in entries:
        if term in NOT_PACK_WORDS:
            continue
        for part in re.sub(r"\s*\(.*\)", "", term).lower().split(" and "):
            assert part in corpus, f"glossary term {term!r}: {part!r} is not a word the pack uses"
