"""The check catalogue: one declaration per id, one constructor, generated docs, and real packs that stay inside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playbook import catalogue
from playbook.config import ConfigError, from_dict
from playbook.governance import mltestscore

ROOT = Path(__file__).resolve().parent.parent


def test_docs_checks_md_is_generated_from_the_catalogue():
    assert (ROOT / "docs" / "checks.md").read_text(encoding="utf-8") == catalogue.to_markdown(), \
        "docs/checks.md is stale: run `python -m playbook.catalogue > docs/checks.md`"


def test_docs_ml_test_score_md_is_generated():
    assert (ROOT / "docs" / "ml-test-score.md").read_text(encoding="utf-8") == mltestscore.mapping_markdown(), \
        "docs/ml-test-score.md is stale: run `python -m playbook.governance.mltestscore > docs/ml-test-score.md`"


@pytest.mark.parametrize("cid, family", [
    ("data.validity.constant.reference", "data.validity.constant.<dataset>"),
    ("drift.detects.unit_change_up", "drift.detects.<shift>"),
    ("model.fairness.personal_status_and_sex.equalized_odds_difference", "model.fairness.<column>.<measure>"),
    ("model.fairness.configured", "model.fairness.configured"),
    ("model_evaluation.executed", "<step>.executed"),
    ("model.roc_auc", "model.roc_auc"),
])
def test_ids_resolve_to_their_declaration(cid, family):
    assert catalogue.spec(cid).id == family


def test_undeclared_ids_are_refused_with_a_suggestion():
    assert catalogue.spec("data.validity.constant.yesterday") is None  # <dataset> is reference or current
    with pytest.raises(catalogue.CatalogueError, match="did you mean 'model.beats_baseline'"):
        catalogue.check("model.beats_baselin", "pass")
    with pytest.raises(ValueError, match="status"):
        catalogue.check("model.roc_auc", "ok")
    assert catalogue.check("custom.team_rule", "pass")["title"] == "custom.team_rule"  # extensions need no entry


def test_the_constructor_gives_one_shape():
    c = catalogue.check("model.roc_auc", "pass", 0.8, ci=(0.7, 0.9), evidence="artifacts/metrics.json")
    assert c == {"id": "model.roc_auc", "title": "ROC AUC", "status": "pass", "value": 0.8, "threshold": None,
                 "evidence": "artifacts/metrics.json", "why": "", "ci": [0.7, 0.9]}
    s = catalogue.skip("model.reproducible", "predictions mode", not_applicable=True)
    assert s["status"] == "skip" and s["not_applicable"] is True and s["value"] is None


def test_every_declaration_is_complete_and_every_default_gate_names_a_declared_check():
    for s in catalogue.all_specs():
        assert s.title and s.measures and s.step, s.id
        assert set(s.tasks) <= set(catalogue.TASKS) and set(s.needs) <= set(catalogue.FACTS), s.id
        if s.gate:
            assert catalogue.validate_gate(s.pattern, s.gate) is None, s.id
    for key in catalogue.default_gates():
        assert catalogue.specs_matching(key), key


def _cfg(gates=None, **top):
    raw = {"data": {"reference": "r.csv", "current": "c.csv", "target": "y"}, **top}
    if gates is not None:
        raw["policy"] = {"gates": gates}
    return from_dict(raw)


@pytest.mark.parametrize("gates, fragment", [
    ({"model.roc_acu": {"min": 0.7}}, "no check has this id (did you mean 'model.roc_auc'?)"),
    ({"model.roc_auc": {"min": 0.7, "on": "median"}}, "on must be one of ci, estimate, interval"),
    ({"model.roc_auc": {"min": 0.9, "max": 0.8}}, "min 0.9 is above max 0.8"),
    ({"model.roc_auc": {"status": "pass"}}, "status must be fail or warn"),
    ({"model.roc_auc": {"min": ".7"}}, "expected a number"),
])
def test_config_refuses_gates_the_catalogue_cannot_apply(gates, fragment):
    with pytest.raises(ConfigError) as e:
        _cfg(gates)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_config_accepts_globs_and_refuses_bad_seeds_and_attestations():
    assert _cfg({"drift.detects.*": {"block": False}, "model.*": {"block": True}}).policy.gates
    with pytest.raises(ConfigError, match="seed: -1 is not a valid seed"):
        _cfg(seed=-1)
    with pytest.raises(ConfigError, match="not an ML Test Score test"):
        from_dict({"data": {"reference": "r.csv", "current": "c.csv", "target": "y"},
                   "policy": {"attestations": {"infra.canary": {"owner": "o", "link": "l"}}}})
    cfg = from_dict({"data": {"reference": "r.csv", "current": "c.csv", "target": "y"},
                     "policy": {"attestations": {"infra_6": {"owner": "o", "link": "l"}}}})
    assert "infra_6" in cfg.policy.attestations


def test_readme_attestation_example_is_valid():
    import re

    import yaml

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"attestations:.*?\n((?:    .+\n)+)", text)
    assert block, "the README shows an attestation example"
    att = yaml.safe_load(block.group(1))
    for key in att:
        assert mltestscore.normalize_test_id(key), f"README attestation key {key!r} names no ML Test Score test"


# -- real packs stay inside the catalogue ---------------------------------------------------------------------------
def _pack_ids(pack: Path) -> set[str]:
    return {c["id"] for c in json.loads((pack / "summary.json").read_text())["checks"]}


@pytest.mark.slow
def test_every_id_of_real_packs_is_declared_and_every_entry_is_emitted_or_conditional(
        bundled_pack, multiclass_pack, regression_pack):
    emitted: dict[str, set[str]] = {}
    for name, p in (("binary", bundled_pack), ("multiclass", multiclass_pack), ("regression", regression_pack)):
        assert p["proc"].returncode in (0, 1), p["proc"].stderr[-2000:]
        ids = _pack_ids(p["pack"])
        undeclared = sorted(i for i in ids if catalogue.spec(i) is None)
        assert not undeclared, f"{name} pack emits undeclared ids: {undeclared}"
        emitted[name] = ids
    seen = {catalogue.spec(i).id for ids in emitted.values() for i in ids}
    never = sorted(s.id for s in catalogue.all_specs() if s.id not in seen and not s.conditional)
    assert not never, f"catalogue entries no test pack emits and that are not marked conditional: {never}"
    # a check declared for some tasks only is measured only there (elsewhere at most a not-applicable skip)
    for name, p in (("binary", bundled_pack), ("multiclass", multiclass_pack), ("regression", regression_pack)):
        checks = json.loads((p["pack"] / "summary.json").read_text())["checks"]
        wrong = sorted(c["id"] for c in checks if name not in catalogue.spec(c["id"]).tasks
                       and not (c["status"] == "skip" and c.get("not_applicable")))
        assert not wrong, f"{name} pack measures checks declared for other tasks: {wrong}"


@pytest.mark.slow
def test_step_status_equals_gate_status_in_real_packs(bundled_pack, regression_pack):
    for p in (bundled_pack, regression_pack):
        s = json.loads((p["pack"] / "summary.json").read_text())
        by_id = {c["id"]: c for c in s["checks"]}
        for g in s["gates"]:
            if g["check"] is None:
                continue
            own = by_id[g["check"]]["status"]
            expected = "n/a" if own == "skip" and by_id[g["check"]].get("not_applicable") else own
            assert g["status"] == expected, (g["check"], g["status"], own)
        for step in s["steps"]:
            res = json.loads((p["pack"] / step["results"]).read_text())
            for c in res["checks"]:
                assert by_id[c["id"]]["status"] == c["status"]


@pytest.mark.slow
def test_ml_test_score_in_summary_is_computed_from_the_pack_and_honest(bundled_pack):
    s = json.loads((bundled_pack["pack"] / "summary.json").read_text())
    checks = [c for c in s["checks"] if c["step"] != "readiness_review" or c["id"] != "review.ml_test_score"]
    recomputed = mltestscore.summary_view(mltestscore.score(checks, {}))
    assert recomputed == s["ml_test_score"]
    by = {t.id: t for t in mltestscore.TESTS}
    for t in s["ml_test_score"]["tests"]:
        if t["status"] == "automated":
            assert mltestscore.automation(by[t["id"]]) != "never", t["id"]
            for cid in t["evidence"]:
                c = next(c for c in s["checks"] if c["id"] == cid)
                assert c["status"] in ("pass", "warn"), (t["id"], cid, c["status"])


def test_every_declaration_says_what_to_do_when_it_fails():
    """index.html's executive summary derives its "what to do next" from the catalogue, never from per-pack text."""
    for s in catalogue.all_specs():
        assert s.next_step and s.next_step[0].isupper() and s.next_step.endswith("."), s.id
        assert s.next_step in catalogue.to_markdown(), s.id
    assert catalogue.spec("model.roc_auc").next_step != catalogue.spec("data.contract.current_valid").next_step
