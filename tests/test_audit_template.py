"""templates/01_data_audit.ipynb: its structure, and runs on the bundled German credit and Adult data."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm
import pytest
import yaml

from playbook import audit

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "templates" / "01_data_audit.ipynb"
SMALL = ROOT / "tests" / "data" / "small.yaml"


def by_id(res, cid):
    found = [c for c in res["checks"] if c["id"] == cid]
    assert found, f"no check {cid}"
    return found[0]


def test_template_is_committed_clean_with_one_parameters_cell():
    nb = nbformat.read(TEMPLATE, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# 01")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    lines = [line for line in tagged[0].source.splitlines() if line.strip()]
    assert [line.split(":")[0] for line in lines[:3]] == ["config", "output_dir", "pack_dir"]
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
            if c is not tagged[0]:
                assert len(c.source.splitlines()) <= 20, "a long cell belongs in playbook.audit"


def test_parameters_are_documented_and_match_the_library_defaults():
    """The defaults are written once, in the parameters cell (which papermill needs); AuditParams reads them from it:
    every parameter of the template is a field of AuditParams with the same default and type, and vice versa."""
    params = pm.inspect_notebook(str(TEMPLATE))
    defaults = audit.AuditParams()
    fields = {f.name: f for f in dataclasses.fields(audit.AuditParams)}
    own = [n for n in params if n not in ("config", "output_dir", "pack_dir")]
    assert set(own) - set(fields) == set(), "template parameters that AuditParams does not know"
    assert set(fields) - set(own) == {"seed"}, "AuditParams fields missing from the template (seed is the pack's)"
    for name in own:
        assert params[name]["help"], f"parameter {name} has no help comment"
        assert params[name]["inferred_type_name"] == str(fields[name].type), name
        default = ast.literal_eval(params[name]["default"])
        assert default == getattr(defaults, name) and type(default) is type(getattr(defaults, name)), name
    # and the values the template passes are accepted as they are
    assert audit.AuditParams.from_mapping({n: ast.literal_eval(params[n]["default"]) for n in own}) == defaults


def test_template_on_bundled_german_credit(run_template, tmp_path):
    res = run_template("01_data_audit.ipynb", config=str(SMALL))
    step_dir = tmp_path / "steps" / "01_data_audit"
    assert res["step"] == "data_audit"
    assert res["info"]["task"] == "binary" and res["info"]["task_inferred"] is True
    assert res["info"]["roles"]["target"] == "creditability" and res["info"]["roles"]["positive_label"] == "bad"
    assert res["metrics"]["rows.reference"] == 700 and res["metrics"]["rows.current"] == 300
    for cid in ("data.leakage.single_feature", "data.target.missing", "data.contract.written",
                "data.completeness.disguised_missing.reference", "data.uniqueness.duplicate_rows.current"):
        assert by_id(res, cid)["status"] == "pass", cid
    assert 0.55 < by_id(res, "data.leakage.single_feature")["value"] < 0.8
    assert by_id(res, "data.target.balance.reference")["value"] == pytest.approx(0.3)
    assert by_id(res, "data.uniqueness.duplicate_ids.reference")["status"] == "skip"
    assert by_id(res, "data.freshness.staleness")["status"] == "skip"
    assert by_id(res, "data.summary_report")["status"] == "pass"
    assert set(res["artifacts"]) == {"artifacts/audit_findings.json", "artifacts/data_contract.json",
                                     "artifacts/data_summary.html", "artifacts/data_summary.json"}
    for c in res["checks"]:
        for ev in [c["evidence"]] if isinstance(c["evidence"], str) else (c["evidence"] or []):
            assert (step_dir / ev).is_file(), f"{c['id']} links to a missing {ev}"
    contract = json.loads((step_dir / "artifacts" / "data_contract.json").read_text())
    assert contract["target"] == "creditability" and len(contract["columns"]) == 21
    current = pd.read_csv(ROOT / "datasets" / "german_credit" / "current.csv")
    assert all(v["kind"] == "range" for v in audit.validate(current, contract))
    summary = json.loads((step_dir / "artifacts" / "data_summary.json").read_text())
    assert len(summary["columns"]) == 21 and summary["rows"] == {"reference": 700, "current": 300}
    assert "<html" in (step_dir / "artifacts" / "data_summary.html").read_text()[:2000].lower()
    timings = json.loads((step_dir / "timings.json").read_text())
    assert timings["timings"]["audit_seconds"] > 0


def test_template_on_adult_finds_the_disguised_missing_values(run_template, tmp_path):
    cfg = tmp_path / "adult.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "adult",
        "data": {"reference": str(ROOT / "datasets" / "adult" / "reference.parquet"),
                 "current": str(ROOT / "datasets" / "adult" / "current.parquet"),
                 "target": "income", "positive_label": ">50K"},
    }))
    res = run_template("01_data_audit.ipynb", config=str(cfg))
    step_dir = tmp_path / "steps" / "01_data_audit"
    for ds, n in (("reference", 32561), ("current", 16281)):
        check = by_id(res, f"data.completeness.disguised_missing.{ds}")
        assert check["status"] == "warn" and check["value"] > 0.005
        assert "workclass" in check["why"] and "'?'" in check["why"]
        assert res["metrics"][f"rows.{ds}"] == n
    findings = json.loads((step_dir / "artifacts" / "audit_findings.json").read_text())
    found = {(f["column"], f["marker"]): f["count"] for f in findings["data.completeness.disguised_missing.reference"]}
    assert found == {("workclass", "?"): 1836, ("occupation", "?"): 1843, ("native_country", "?"): 583}
    contract = json.loads((step_dir / "artifacts" / "data_contract.json").read_text())
    assert "?" in contract["missing_markers"] and "?" not in contract["columns"]["workclass"]["categories"]
    assert contract["columns"]["workclass"]["nullable"] is True
    assert by_id(res, "data.leakage.single_feature")["status"] == "pass"
    assert by_id(res, "data.contamination")["status"] == "warn"     # 23 identical rows, under 1 %
    assert res["info"]["task"] == "binary"
