"""Gates and the verdict: one gate look-up (the catalogue), judgement on the CI, no go without the evidence."""

from playbook import catalogue
from playbook.config import PolicySettings
from playbook.scorecard import EXIT_CODES, evaluate, merged_gates


def chk(id, status="pass", value=None, **extra):
    return {"id": id, "title": id, "status": status, "value": value, "threshold": None, "evidence": None,
            "why": "", "step": "s", "step_dir": "steps/01_s", **extra}


def pol(gates, defaults=False):
    return PolicySettings(gates=gates, use_default_gates=defaults)


def test_status_gate_blocks_on_fail_only_and_a_warn_stays_a_warn():
    p = pol({"custom.a": {"block": True}})
    r = evaluate([chk("custom.a", "warn")], p)
    assert r["verdict"] == "go" and r["gates"][0]["status"] == "warn"  # never shown as pass
    r = evaluate([chk("custom.a", "fail")], p)
    assert r["verdict"] == "no-go" and r["reasons"][0]["check"] == "custom.a"
    r = evaluate([chk("custom.a", "warn")], pol({"custom.a": {"status": "warn"}}))
    assert r["verdict"] == "no-go" and r["gates"][0]["status"] == "fail"


def test_numeric_bounds_judge_the_ci_bound_by_default():
    auc = chk("model.roc_auc", "pass", 0.75, ci=[0.66, 0.83])
    r = evaluate([auc], pol({"model.roc_auc": {"min": 0.7}}))
    assert r["verdict"] == "no-go" and "lower CI bound is below the minimum 0.7" in r["reasons"][0]["text"]
    r = evaluate([auc], pol({"model.roc_auc": {"min": 0.7, "on": "estimate"}}))
    assert r["verdict"] == "go" and r["gates"][0]["status"] == "pass"
    r = evaluate([auc], pol({"model.roc_auc": {"min": 0.7, "on": "interval"}}))
    assert r["verdict"] == "go" and r["gates"][0]["status"] == "warn"  # straddles the bound: undecided
    assert evaluate([auc], pol({"model.roc_auc": {"min": 0.6}}))["verdict"] == "go"
    assert evaluate([auc], pol({"model.roc_auc": {"max": 0.6, "block": False}}))["verdict"] == "go"
    gap = chk("model.fairness.sex.demographic_parity_difference", "pass", 0.12, ci=[0.11, 0.2])
    r = evaluate([gap], pol({"model.fairness.*": {"max": 0.1, "on": "interval", "block": True}}))
    assert r["verdict"] == "no-go" and "the whole CI is above the maximum 0.1" in r["reasons"][0]["text"]


def test_value_without_a_number_fails_a_bound_and_inconclusive_stays_warn():
    r = evaluate([chk("custom.x", "pass", {"value": 3})], pol({"custom.x": {"max": 2}}))
    assert r["verdict"] == "no-go"
    r = evaluate([chk("custom.x", "pass", "n/a")], pol({"custom.x": {"max": 2}}))
    assert r["verdict"] == "no-go" and "no numeric value" in r["reasons"][0]["text"]
    r = evaluate([chk("custom.x", "warn", 9.0, inconclusive="too little data")], pol({"custom.x": {"max": 2}}))
    assert r["verdict"] == "go" and r["gates"][0]["status"] == "warn"


def test_globs_and_the_most_specific_gate_win():
    checks = [chk("drift.detects.unit_change_up", "pass"), chk("drift.detects.swapped_columns", "fail")]
    r = evaluate(checks, pol({"drift.detects.*": {"block": True}}))
    assert r["verdict"] == "no-go" and [g["check"] for g in r["gates"]] == [c["id"] for c in checks]
    r = evaluate(checks, pol({"drift.detects.*": {"block": True}, "drift.detects.swapped_columns": {"block": False}}))
    assert r["verdict"] == "go"


def test_missing_skipped_or_errored_blocking_evidence_is_incomplete_never_go():
    r = evaluate([], pol({"model.roc_auc": {"min": 0.7}}), facts={"task": "binary"})
    assert r["verdict"] == "incomplete" and r["gates"][0]["status"] == "missing"
    assert EXIT_CODES["incomplete"] == 1
    r = evaluate([chk("model.roc_auc", "skip")], pol({"model.roc_auc": {"min": 0.7}}))
    assert r["verdict"] == "incomplete" and r["reasons"][0]["kind"] == "gate_skip"
    r = evaluate([chk("model.roc_auc", "error")], pol({"model.roc_auc": {"min": 0.7}}))
    assert r["verdict"] == "incomplete"
    # a skip because the check has no meaning here is not missing evidence
    r = evaluate([chk("model.reproducible", "skip", not_applicable=True)], pol({"model.reproducible": {}}))
    assert r["verdict"] == "go" and r["gates"][0]["status"] == "n/a"
    # a gate whose check does not apply to this task is not missing either
    r = evaluate([], pol({"model.r2": {"min": 0.0}}), facts={"task": "binary"})
    assert r["verdict"] == "go" and r["gates"][0]["status"] == "n/a"
    # a non-blocking gate without evidence is reported, not decisive
    assert evaluate([], pol({"model.roc_auc": {"min": 0.7, "block": False}}))["verdict"] == "go"


def test_errored_step_and_partial_run():
    assert evaluate([chk("custom.a")], pol({}), {"s": "error"})["verdict"] == "error"
    r = evaluate([chk("custom.a")], pol({}), {"s": "ok"}, steps_not_run=["model_evaluation"])
    assert r["verdict"] == "incomplete" and r["reasons"][0]["kind"] == "partial_run"
    r = evaluate([], pol({"model.roc_auc": {"min": 0.7}}), {"data_audit": "ok"})
    assert "step model_evaluation did not run" in r["gates"][0]["reason"]


def test_no_shown_business_value_is_a_no_go_by_default():
    loses = chk("model.business.value_per_day", "fail", -15.0, ci=[-40.1, 8.8])
    gate = {"model.business.value_per_day": catalogue.gate_for("model.business.value_per_day")}
    assert gate["model.business.value_per_day"] == {"block": True}
    r = evaluate([loses], pol(gate))
    assert r["verdict"] == "no-go" and r["reasons"][0]["check"] == "model.business.value_per_day"
    assert evaluate([{**loses, "status": "warn"}], pol(gate))["verdict"] == "go"  # placeholder costs


def test_default_gates_come_from_the_catalogue_and_the_policy_overlays_them():
    g = merged_gates(PolicySettings(gates={"model.beats_baseline": {"block": False}}))
    assert g["model.beats_baseline"] == {"block": False}
    assert set(catalogue.default_gates()) <= set(g)
    assert merged_gates(PolicySettings(use_default_gates=False)) == {}
    assert catalogue.gate_for("model.roc_auc", None) == {"min": 0.7, "block": True}
    assert catalogue.gate_for("model.roc_auc", PolicySettings(gates={"model.*": {"block": False}})) == \
        {"min": 0.7, "block": False}
    assert catalogue.gate_for("drift.detects.dropped_column", None) == {"block": True}
    assert catalogue.gate_for("drift.detects.mean_shift", None) is None
    assert catalogue.gate_for("review.gates", PolicySettings(gates={"review.*": {"block": True}})) is None  # meta


def test_a_step_records_the_status_the_verdict_uses(tmp_path):
    from playbook.results import Step

    p = PolicySettings(gates={"model.roc_auc": {"min": 0.8}})
    step = Step("model_evaluation", tmp_path, policy=p)
    rec = step.check("model.roc_auc", "ROC AUC", "pass", 0.82, ci=[0.76, 0.88])
    assert rec["status"] == "fail" and rec["threshold"] == {"min": 0.8, "on": "ci"}
    verdict = evaluate([{**rec, "step": "model_evaluation"}], p)
    assert verdict["gates"][0]["status"] == rec["status"]
    # the regression case of the issue: the step applied no bound, the scorecard the default
    step2 = Step("model_evaluation", tmp_path / "r", policy=PolicySettings())
    r2 = step2.check("model.r2", "R squared", "pass", 0.4, ci=[-0.1, 0.6])
    assert r2["status"] == "fail"
    assert evaluate([{**r2, "step": "model_evaluation"}], PolicySettings())["gates"][0]["status"] == "fail"
