"""Every check that can pass has a test that makes it leave `pass`: the ones not covered by their module's tests."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from playbook import catalogue
from playbook.config import PolicySettings
from playbook.evaluate import metrics, serving
from playbook.metrics import CHECKED, HIGHER_IS_BETTER


def _results(task: str) -> dict:
    return {m: {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n_boot": 50} for m in CHECKED[task]}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_headline_metric_fails_a_gate_it_misses_and_passes_one_it_clears(task):
    for name in CHECKED[task]:
        cid = f"model.{name}"
        bound = "min" if HIGHER_IS_BETTER[name] else "max"
        missed = PolicySettings(gates={cid: {bound: 0.55 if bound == "min" else 0.45}})
        cleared = PolicySettings(gates={cid: {bound: 0.3 if bound == "min" else 0.7}}, use_default_gates=False)
        bad = {c["id"]: c for c in metrics.metric_checks(_results(task), task, missed)}[cid]
        good = {c["id"]: c for c in metrics.metric_checks(_results(task), task, cleared)}[cid]
        assert bad["status"] == "fail", cid  # the CI's bound, not the point estimate, must clear the bar
        assert good["status"] == "pass", cid


def test_model_evaluated_on_rows_it_may_have_seen_warns():
    from playbook.evaluate import provenance_checks

    ev = SimpleNamespace(evaluated_on="reference", frame=pd.DataFrame({"a": range(5)}),
                         adapter=SimpleNamespace(info={"format": "skops", "file": "m.skops"}, mode="file"))
    checks = {c["id"]: c for c in provenance_checks(ev)}
    assert checks["model.evaluation_set"]["status"] == "warn" and "optimistic" in checks["model.evaluation_set"]["why"]
    ev.evaluated_on = "current"
    assert {c["id"]: c for c in provenance_checks(ev)}["model.evaluation_set"]["status"] == "pass"


def test_model_size_warns_above_the_limit():
    assert serving.size_check(5_000_000, max_mb=1.0)["status"] == "warn"
    assert serving.size_check(500_000, max_mb=1.0)["status"] == "pass"


def test_monitor_coverage_and_config_roundtrip_fail_when_broken():
    from playbook.monitoring.checks import coverage_check, roundtrip_check

    spec = {"contract": {"columns": {"a": {"role": "feature"}, "b": {"role": "feature"}}},
            "monitors": [{"column": "a", "role": "feature"}, {"column": "b", "role": "feature"}]}
    assert coverage_check(spec, ["a", "b"], "x")["status"] == "pass"
    bad = coverage_check(spec, ["a", "b", "c"], "x")
    assert bad["status"] == "fail" and "'c'" in bad["why"]

    class M:
        def __init__(self, name, thr):
            self.name, self.threshold = name, thr

        def statistic(self, batch):
            return 0.1

    batch = pd.DataFrame({"a": [1]})
    same = roundtrip_check([M("a", 0.2)], SimpleNamespace(monitors=[M("a", 0.2)]), batch, 0, "x")
    assert same["status"] == "pass"
    moved = roundtrip_check([M("a", 0.2)], SimpleNamespace(monitors=[M("a", 0.3)]), batch, 0, "x")
    assert moved["status"] == "fail" and moved["value"] == 1
    assert roundtrip_check([M("a", 0.2)], SimpleNamespace(monitors=[M("a", 0.2)]), batch, 2, "x")["status"] == "fail"


def test_drifted_current_data_is_a_warning_about_the_data():
    from playbook.monitoring.checks import current_alert_check

    quiet = pd.DataFrame({"status": ["ok"] * 20, "drifted_columns": [[]] * 20, "alert_kinds": [[]] * 20})
    assert current_alert_check(quiet, 1 / 30, 3, "x", "current")["status"] == "pass"
    loud = pd.DataFrame({"status": ["alert"] * 12 + ["ok"] * 8, "drifted_columns": [["amount"]] * 20,
                         "alert_kinds": [["drift"]] * 20})
    c = current_alert_check(loud, 1 / 30, 3, "x", "current")
    assert c["status"] == "warn" and "a finding about the data, not a false alarm" in c["why"] and "amount" in c["why"]


def test_model_card_and_datasheet_warn_without_their_evidence(tmp_path):
    import playbook
    from playbook.governance import documents
    from playbook.governance.evidence import Evidence

    ctx = playbook.load_context("")
    step = ctx.step("governance", tmp_path / "steps" / "06_governance")
    docs = documents.write_documents(step, ctx, Evidence(root=tmp_path), ctx.privacy)
    statuses = {c["id"]: c["status"] for c in docs["checks"]}
    assert statuses == {"governance.model_card": "warn", "governance.datasheet": "warn"}


def test_final_leak_search_fails_on_a_raw_value(tmp_path):
    from playbook.governance.documents import leak_check

    df = pd.DataFrame({"mail": [f"user{i}@example.org" for i in range(30)], "x": range(30)})
    ctx = SimpleNamespace(reference=df, current=df, policy=SimpleNamespace(allow_raw_pii=False))
    (tmp_path / "index.html").write_text("<td>user3@example.org</td>")
    check, _ = leak_check(ctx, tmp_path, check_id="review.pii.redacted")
    assert check["id"] == "review.pii.redacted" and check["status"] == "fail"


def test_review_score_attestation_and_compliance_checks_can_warn():
    from playbook.governance import mltestscore, review

    low = mltestscore.score([])
    assert review.ml_test_score_check(low, 1.0)["status"] == "warn"
    odd = mltestscore.score([], {"not_a_test": {"owner": "o", "link": "l"}})
    assert review.attestations_check(odd, {"not_a_test": {}})["status"] == "warn"
    cmap = {"coverage": {"items": 2, "with_check_evidence": 1, "left_to_people_only": 1},
            "items": [{"framework": "EU AI Act", "id": "Art. 14", "coverage": "left to people"},
                      {"framework": "NIST AI RMF", "id": "MEASURE 2.5", "coverage": "evidence"}]}
    c = review.compliance_check(cmap)
    assert c["status"] == "warn" and "Art. 14" in c["why"]
    cmap["items"][0]["coverage"] = "evidence"
    assert review.compliance_check(cmap)["status"] == "pass"


def test_fairness_is_recorded_as_not_applicable_without_sensitive_columns():
    s = catalogue.skip("model.fairness.configured", "no sensitive columns", not_applicable=True)
    r = catalogue.judge(s, {"block": True})
    assert r[0] == "skip" and "not applicable" in r[1]
