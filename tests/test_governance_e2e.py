"""End to end through `python -m playbook run`: planted personal data never reaches the pack, and a tightened
gate turns a passing pack into no-go."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import ROOT, run_cli, shared
from tests.test_governance import PLANTED_COLUMNS, files_containing, write_planted

pytestmark = pytest.mark.slow

SMALL = ROOT / "tests" / "data" / "small.yaml"


def small_steps() -> dict:
    """The small step parameters the test config uses, for the templates that exist."""
    from playbook.runner import discover

    names = {t.name for t in discover()}
    raw = yaml.safe_load(SMALL.read_text(encoding="utf-8")) or {}
    return {k: v for k, v in (raw.get("steps") or {}).items() if k in names}


def small_config(**policy) -> dict:
    """small.yaml with absolute data paths (so the config can live anywhere) and an optional policy."""
    raw = yaml.safe_load(SMALL.read_text(encoding="utf-8"))
    for key in ("reference", "current"):
        raw["data"][key] = str((SMALL.parent / raw["data"][key]).resolve())
    raw["steps"] = small_steps()
    if policy:
        raw["policy"] = policy
    return raw


@pytest.fixture(scope="module")
def planted_pack(tmp_path_factory):
    def build(base):
        # The identifiers are excluded from the model's features, as a user who knows them would do; every other
        # path (audit, drift, evaluation reports, monitors, notebooks) still sees the columns.
        cfg, raw = write_planted(base / "data", steps=small_steps())
        conf = yaml.safe_load(cfg.read_text())
        conf["data"]["exclude"] = list(PLANTED_COLUMNS)
        cfg.write_text(yaml.safe_dump(conf, sort_keys=False))
        out = base / "evidence"
        proc = run_cli("run", str(cfg), "--out", str(out), "-q", timeout=1800)
        return {"proc": proc, "pack": out / "planted", "raw": sorted(raw)}

    built = shared(tmp_path_factory, "planted", build)
    return {**built, "raw": set(built["raw"])}


def test_planted_pii_appears_in_no_file_of_the_pack(planted_pack):
    proc, pack = planted_pack["proc"], planted_pack["pack"]
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    assert (pack / "manifest.json").exists() and (pack / "index.html").exists()
    leaks = files_containing(pack, planted_pack["raw"])
    assert leaks == {}, f"raw planted values found in these pack files (file: values found): {leaks}"


def test_pack_records_the_personal_data_it_masked(planted_pack):
    pack = planted_pack["pack"]
    summary = json.loads((pack / "summary.json").read_text())
    checks = {c["id"]: c for c in summary["checks"]}
    scan = checks["governance.pii.scan"]
    assert scan["status"] == "warn"
    assert scan["value"]["columns"] == {"card_number": ["payment_card"], "email": ["email", "identifier"],
                                        "phone": ["phone", "identifier"], "ssn": ["us_ssn", "identifier"]}
    assert checks["governance.pii.features"]["status"] == "pass"     # excluded from the features
    for cid in ("governance.pii.redacted", "review.pii.redacted"):
        assert checks[cid]["value"]["protected_columns"] == 4
        assert checks[cid]["status"] == "pass", checks[cid]["value"]
    findings = json.loads((pack / "steps/06_governance/artifacts/pii_findings.json").read_text())
    examples = {f["column"]: f["example"] for f in findings["findings"] if f["flagged"]}
    assert examples["email"].endswith("@***.org") and examples["card_number"].startswith("************")
    # the reviewer's entry points link the model card and show the scores
    assert (pack / summary["model_card"]).exists()
    assert len(summary["ml_test_score"]["tests"]) == 28
    assert "not legal advice" in summary["compliance_map"]["disclaimer"]


def test_tightened_gate_turns_go_into_no_go(tmp_path):
    """A partial run (--steps) is never go: incomplete; the same run with a blocking gate its evidence misses is
    no-go, and the failing gate is the first reason after the partial run's."""
    steps = ["model_evaluation", "readiness_review"]
    runs = {}
    for name, policy in (("loose", {}), ("tight", {"gates": {"model.roc_auc": {"min": 0.99, "block": True}}})):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(yaml.safe_dump({**small_config(**policy), "name": name}))
        proc = run_cli("run", str(cfg), "--out", str(tmp_path / "out"), "--steps", *steps, "-q", timeout=1200)
        runs[name] = (proc, tmp_path / "out" / name)
    proc, pack = runs["loose"]
    assert proc.returncode == 1, proc.stderr[-3000:]
    loose = json.loads((pack / "summary.json").read_text())
    assert loose["verdict"] == "incomplete" and loose["partial"] is True
    assert loose["reasons"][0]["kind"] == "partial_run"
    assert "verdict: incomplete (partial run)" in proc.stdout

    proc, pack = runs["tight"]
    assert proc.returncode == 1, proc.stderr[-3000:]
    summary = json.loads((pack / "summary.json").read_text())
    assert summary["verdict"] == "no-go"
    assert [r["check"] for r in summary["reasons"] if r["kind"] == "gate_fail"] == ["model.roc_auc"]  # only it fails
    review = json.loads((pack / "steps/07_readiness_review/results.json").read_text())
    assert review["info"]["verdict"] == "no-go"
    gates = next(c for c in review["checks"] if c["id"] == "review.gates")
    assert gates["value"]["blocking_failed"] == 1
    scorecard = json.loads((pack / "steps/07_readiness_review/artifacts/scorecard.json").read_text())
    assert scorecard["verdict"] == "no-go"
    assert "NO-GO" in (pack / "index.html").read_text()
