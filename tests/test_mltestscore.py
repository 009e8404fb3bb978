"""ML Test Score (Breck et al. 2017): the rubric's shape and the scoring arithmetic."""

from __future__ import annotations

import pytest

from playbook.governance import mltestscore as mts


def chk(cid: str, status: str = "pass") -> dict:
    return {"id": cid, "status": status}


def by_id(result: dict) -> dict:
    return {t["id"]: t for t in result["tests"]}


def test_rubric_has_28_tests_7_per_section_with_unique_ids():
    assert len(mts.TESTS) == 28
    for s in mts.SECTIONS:
        assert [t.number for t in mts.TESTS if t.section == s] == list(range(1, 8))
    assert len({t.id for t in mts.TESTS}) == 28
    assert by_id(mts.score([]))["model_5"]["title"] == "A simpler model is not better"


def test_empty_pack_scores_zero_and_lists_all_tests():
    r = mts.score([])
    assert r["final"] == 0.0
    assert r["sections"] == {"data": 0.0, "model": 0.0, "infrastructure": 0.0, "monitoring": 0.0}
    assert len(r["tests"]) == 28 and all(t["status"] == "missing" and t["points"] == 0 for t in r["tests"])
    assert r["counts"] == {"automated": 0, "manual": 0, "missing": 28}


def test_automated_test_scores_one_point_with_its_evidence():
    r = mts.score([chk("model.beats_baseline"), chk("model.reproducible", "fail")])
    t = by_id(r)
    assert t["model_5"] == {**t["model_5"], "points": 1.0, "status": "automated", "evidence": ["model.beats_baseline"]}
    # a failing check still shows the test is carried out
    assert t["infra_1"]["status"] == "automated" and t["infra_1"]["evidence"] == ["model.reproducible"]
    assert r["sections"]["model"] == 1.0 and r["sections"]["infrastructure"] == 1.0
    assert r["final"] == 0.0   # data and monitoring are still empty


@pytest.mark.parametrize("status", ["skip", "error"])
def test_skipped_or_errored_checks_are_not_evidence(status):
    t = by_id(mts.score([chk("model.beats_baseline", status)]))
    assert t["model_5"]["status"] == "missing" and t["model_5"]["points"] == 0


def test_tests_needing_two_kinds_of_evidence():
    t = by_id(mts.score([chk("governance.pii.scan")]))
    assert t["data_5"]["status"] == "missing"
    assert t["data_5"]["partial_evidence"] == ["governance.pii.scan"]
    t = by_id(mts.score([chk("governance.pii.scan"), chk("governance.pii.redacted")]))
    assert t["data_5"]["status"] == "automated"
    assert t["data_5"]["evidence"] == ["governance.pii.redacted", "governance.pii.scan"]


def test_upstream_schema_change_needs_rehearsal_and_monitor():
    t = by_id(mts.score([chk("monitoring.detects_within_days.renamed_column")]))
    assert t["monitor_1"]["status"] == "missing"
    t = by_id(mts.score([chk("monitoring.detects_within_days.renamed_column"), chk("drift.detects.type_change")]))
    assert t["monitor_1"]["status"] == "automated"


def test_glob_families_count_new_checks():
    t = by_id(mts.score([chk("model.fairness.sex.equalized_odds_difference")]))
    assert t["model_7"]["status"] == "automated"


def test_manual_attestation_scores_half_and_needs_owner_and_link():
    att = {
        "infra_7": {"owner": "ml-platform", "link": "https://wiki/rollback"},
        "Data 6": {"owner": "features team", "link": "https://wiki/lead-time", "note": "2 weeks median"},
        "infra_6": {"owner": "ml-platform"},                                       # no link: not counted
        "model_5": {"owner": "x", "link": "y"},                                     # automated wins
        "not_a_test": {"owner": "x", "link": "y"},
    }
    r = mts.score([chk("model.beats_baseline")], att)
    t = by_id(r)
    assert t["infra_7"]["status"] == "manual" and t["infra_7"]["points"] == 0.5
    assert t["infra_7"]["attestation"]["owner"] == "ml-platform"
    assert t["data_6"]["status"] == "manual"
    assert t["infra_6"]["status"] == "missing"
    assert t["model_5"]["status"] == "automated" and t["model_5"]["points"] == 1.0
    assert r["unknown_attestations"] == ["not_a_test"]
    assert r["sections"] == {"data": 0.5, "model": 1.0, "infrastructure": 0.5, "monitoring": 0.0}
    assert r["counts"] == {"automated": 1, "manual": 2, "missing": 25}


def test_final_is_minimum_over_sections():
    # everything a full pack can automate, plus attestations for the rest
    checks = [chk(c) for c in (
        "data.contract.written", "model.importance.near_zero", "review.computing_performance",
        "governance.pii.features", "data.leakage.single_feature", "governance.pii.scan",
        "governance.pii.redacted", "data.schema.types", "governance.model_card", "model.business.value_per_day",
        "drift.silent_failures", "model.beats_baseline", "model.slices.worst_gap", "model.fairness.a.b",
        "model.reproducible", "model.serving.input_validation", "review.pipeline_integration", "review.gates",
        "model.calibration_ece", "monitoring.contract_covers_all_features", "monitoring.current_batches_alert_rate",
        "data.validity.infinite.reference",
        "monitoring.detects_within_days.unit_change", "monitoring.false_alarm_budget_met")]
    r = mts.score(checks)
    assert r["sections"] == {"data": 6.0, "model": 6.0, "infrastructure": 5.0, "monitoring": 6.0}
    assert r["final"] == 5.0
    att = {k: {"owner": "o", "link": "l"} for k in ("data_6", "model_3", "infra_6", "infra_7", "monitor_1")}
    r = mts.score(checks, att)
    assert r["sections"] == {"data": 6.5, "model": 6.5, "infrastructure": 6.0, "monitoring": 6.5}
    assert r["final"] == 6.0
    assert r["interpretation"].startswith("Exceptional")


@pytest.mark.parametrize("final,start", [(0, "More of a research"), (0.5, "Not totally untested"),
                                         (1.5, "There has been a first pass"), (3.0, "Reasonably tested"),
                                         (4.5, "Strong levels"), (5.5, "Exceptional")])
def test_interpretation_bands(final, start):
    assert mts.interpret(final).startswith(start)


def test_normalize_test_id():
    assert mts.normalize_test_id("Infrastructure 3") == "infra_3"
    assert mts.normalize_test_id("monitoring.7") == "monitor_7"
    assert mts.normalize_test_id("data-1") == "data_1"
    assert mts.normalize_test_id("data_8") is None
    assert mts.normalize_test_id("model") is None


def test_summary_view_shape_and_markdown():
    r = mts.score([chk("model.beats_baseline")], {"infra_7": {"owner": "o", "link": "https://x"}})
    v = mts.summary_view(r)
    assert set(v) >= {"final", "sections", "tests"}
    assert set(v["sections"]) == {"data", "model", "infrastructure", "monitoring"}
    assert len(v["tests"]) == 28
    assert set(v["tests"][0]) >= {"section", "id", "title", "points", "status", "evidence"}
    md = mts.to_markdown(r)
    assert "| model_5: A simpler model is not better | automated | 1 | `model.beats_baseline` |" in md
    assert "attested by o: https://x" in md
