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
    r = mts.score([chk("model.beats_baseline"), chk("model.slices.worst_gap", "warn")])
    t = by_id(r)
    assert t["model_5"] == {**t["model_5"], "points": 1.0, "status": "automated", "evidence": ["model.beats_baseline"]}
    assert t["model_6"]["status"] == "automated"  # a warning still shows the test is carried out
    assert r["sections"]["model"] == 2.0
    assert r["final"] == 0.0   # the other sections are still empty


@pytest.mark.parametrize("status", ["fail", "skip", "error"])
def test_failing_skipped_or_errored_checks_are_not_evidence(status):
    t = by_id(mts.score([chk("model.beats_baseline", status)]))
    assert t["model_5"]["status"] == "missing" and t["model_5"]["points"] == 0


def test_weaker_evidence_never_counts():
    # scoring twice is inference determinism, a generated card is not a review, one probe is not three tests
    t = by_id(mts.score([chk("model.reproducible"), chk("governance.model_card"), chk("model.serving.input_validation"),
                         chk("review.pipeline_integration"), chk("review.computing_performance"),
                         chk("monitoring.current_batches_alert_rate")]))
    for tid in ("infra_1", "model_1", "data_7", "infra_2", "monitor_5", "infra_3", "monitor_6", "monitor_3"):
        assert t[tid]["status"] == "missing", tid
    assert t["infra_1"]["weaker_evidence"] == ["model.reproducible"]


def test_tests_needing_two_kinds_of_evidence():
    t = by_id(mts.score([chk("governance.pii.scan")]))
    assert t["data_5"]["status"] == "missing"
    assert t["data_5"]["partial_evidence"] == ["governance.pii.scan"]
    t = by_id(mts.score([chk("governance.pii.scan"), chk("governance.pii.redacted")]))
    assert t["data_5"]["status"] == "automated"
    assert t["data_5"]["evidence"] == ["governance.pii.redacted", "governance.pii.scan"]
    t = by_id(mts.score([chk("data.contract.written")]))
    assert t["data_1"]["status"] == "missing"  # written but never checked against the data
    t = by_id(mts.score([chk("data.contract.written"), chk("data.contract.current_valid")]))
    assert t["data_1"]["status"] == "automated"


def test_upstream_schema_change_needs_the_deployed_monitor_on_a_schema_fault():
    t = by_id(mts.score([chk("drift.detects.renamed_column"), chk("drift.detects.type_change")]))
    assert t["monitor_1"]["status"] == "missing"  # the rehearsal is partial evidence
    t = by_id(mts.score([chk("monitoring.detects_within_days.mean_shift")]))
    assert t["monitor_1"]["status"] == "missing"  # a mean shift is not a dependency change
    t = by_id(mts.score([chk("monitoring.detects_within_days.renamed_column")]))
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
    r = mts.score([chk("model.beats_baseline"), chk("model.slices.worst_gap"), chk("review.quality_gate")])
    assert r["sections"]["model"] == 2.0 and r["sections"]["infrastructure"] == 1.0 and r["final"] == 0.0
    att = {k: {"owner": "o", "link": "l"} for k in [t.id for t in mts.TESTS]}
    r = mts.score([], att)
    assert r["final"] == 3.5 and r["interpretation"].startswith("Strong levels")


def test_every_test_is_mapped_and_every_link_names_a_real_test():
    from playbook import catalogue

    ids = {t.id for t in mts.TESTS}
    for s in catalogue.all_specs():
        for e in s.mts:
            assert e.test in ids, (s.id, e.test)
            assert e.strength in ("full", "partial") and e.why
    for t in mts.TESTS:
        assert t.links("full") or t.gap, f"{t.id} has neither evidence nor a reason it cannot be automated"


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
