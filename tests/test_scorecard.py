from playbook.config import PolicySettings
from playbook.scorecard import DEFAULT_GATES, evaluate, merged_gates


def chk(id, status="pass", value=None):
    return {"id": id, "title": id, "status": status, "value": value, "threshold": None, "evidence": None,
            "why": "", "step": "s", "step_dir": "steps/01_s"}


def pol(gates, defaults=False):
    return PolicySettings(gates=gates, use_default_gates=defaults)


def test_status_gate_blocks_on_fail_only():
    p = pol({"a.b": {"block": True}})
    assert evaluate([chk("a.b", "warn")], p)["verdict"] == "go"
    r = evaluate([chk("a.b", "fail")], p)
    assert r["verdict"] == "no-go" and r["reasons"][0]["check"] == "a.b"
    assert evaluate([chk("a.b", "warn")], pol({"a.b": {"status": "warn"}}))["verdict"] == "no-go"


def test_numeric_bounds_and_non_blocking():
    checks = [chk("model.roc_auc", "pass", 0.65)]
    r = evaluate(checks, pol({"model.roc_auc": {"min": 0.7}}))
    assert r["verdict"] == "no-go" and "below the minimum 0.7" in r["reasons"][0]["text"]
    assert evaluate(checks, pol({"model.roc_auc": {"min": 0.6}}))["verdict"] == "go"
    assert evaluate(checks, pol({"model.roc_auc": {"max": 0.6, "block": False}}))["verdict"] == "go"
    assert evaluate([chk("x.y", "pass", {"value": 3})], pol({"x.y": {"max": 2}}))["verdict"] == "no-go"


def test_globs_missing_checks_and_errors():
    checks = [chk("drift.detects.unit_change", "pass"), chk("drift.detects.swap", "fail")]
    r = evaluate(checks, pol({"drift.detects.*": {"block": True}}))
    assert r["verdict"] == "no-go" and [g["check"] for g in r["gates"]] == ["drift.detects.unit_change", "drift.detects.swap"]
    r = evaluate([], pol({"nothing.here": {"block": True}}))
    assert r["verdict"] == "go" and r["gates"][0]["status"] == "missing"
    assert evaluate([chk("a.b", "error")], pol({"a.b": {}}))["verdict"] == "error"
    assert evaluate([chk("a.b", "skip")], pol({"a.b": {}}))["verdict"] == "go"
    assert evaluate([chk("a.b")], pol({}), {"s": "error"})["verdict"] == "error"


def test_policy_overrides_defaults():
    g = merged_gates(PolicySettings(gates={"model.beats_baseline": {"block": False}}))
    assert g["model.beats_baseline"] == {"block": False}
    assert set(DEFAULT_GATES) <= set(g)
    assert merged_gates(PolicySettings(use_default_gates=False)) == {}
