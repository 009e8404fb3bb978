"""Prometheus alerting rules from monitoring.yaml: thresholds read from it, complete annotations, deterministic files,
`promtool check rules`, and one `promtool test rules` file per alert (fires when it should, silent when it should
not), on synthetic series of the batch monitor's textfile and of the model server."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest
import yaml

from playbook.monitoring import alerts, handoff
from tests import observability as promtool
from tests.observability import MODEL_SHA, NAME, PREFIX, make_spec

NODE = {"instance": "node-1:9100", "job": "node"}
SERVE = {"instance": "serve-1:8080", "job": "playbook-serve"}
SERVE2 = {"instance": "serve-2:8080", "job": "playbook-serve"}


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rules")
    return alerts.write_rules(make_spec(), folder, PREFIX)


def _rules(spec: dict, prefix: str = PREFIX) -> dict:
    return {r["alert"]: r for r in alerts.rules_document(spec, prefix)["groups"][0]["rules"]}


def _threshold(expr: str) -> float:
    m = re.search(r"[<>]\s*([0-9.e+-]+)\s*$", expr)
    assert m, expr
    return float(m.group(1))


# -- what the rules say --------------------------------------------------------------------------------------------
def test_every_required_alert_is_generated_with_severity_summary_description_and_a_runbook_link():
    rules = _rules(make_spec())
    for name in ("PlaybookDriftAlarm", "PlaybookBatchContractViolation", "PlaybookServingContractViolations",
                 "PlaybookMonitorResultMissing", "PlaybookBatchOverdue", "PlaybookLatencyP99High",
                 "PlaybookHigh5xxRate", "PlaybookEstimatedRocAucLow"):
        assert name in rules, name
    for name, r in rules.items():
        assert r["labels"]["severity"] in ("critical", "warning"), name
        assert r["labels"]["model"] == NAME
        ann = r["annotations"]
        assert ann["summary"] and ann["description"], name
        assert ann["runbook_url"] == PREFIX + "notebook.html"
        assert ann["evidence"].startswith(PREFIX + "artifacts/"), name
        from playbook import catalogue

        assert catalogue.spec(ann["check"]) is not None, (name, ann["check"])
    assert alerts.validate(alerts.rules_document(make_spec(), PREFIX)) == []


def test_thresholds_are_read_from_monitoring_yaml_not_repeated():
    spec = make_spec()
    rules = _rules(spec)
    assert _threshold(rules["PlaybookEstimatedRocAucLow"]["expr"]) == spec["monitors"][2]["minimum"]
    assert _threshold(rules["PlaybookRealizedRocAucLow"]["expr"]) == 0.6125
    assert _threshold(rules["PlaybookRealizedAccuracyLow"]["expr"]) == 0.625
    assert _threshold(rules["PlaybookModelStale"]["expr"]) == 120.5
    assert _threshold(rules["PlaybookLatencyP99High"]["expr"]) == alerts.DEFAULT_MAX_P99_MS
    assert _threshold(rules["PlaybookHigh5xxRate"]["expr"]) == alerts.DEFAULT_MAX_5XX_SHARE
    assert _threshold(rules["PlaybookBatchOverdue"]["expr"]) == 86400 * 1.5
    # drift compares with the calibrated thresholds the textfile publishes (monitoring.yaml's, at the batch's size)
    assert '> playbook_monitor_threshold{model="credit-risk"' in rules["PlaybookDriftAlarm"]["expr"]
    # change monitoring.yaml: the rules follow
    other = make_spec(serving={"max_p99_ms": 80.0, "max_5xx_share": 0.05},
                      batch={"size": 24, "period": "hour", "size_range": [6, 96]},
                      model_age={"timestamp_column": "t", "trained_until": "2024-01-01", "max_age_days": 30})
    other["monitors"][2]["minimum"] = 0.6
    other["performance"]["labeled"]["roc_auc"]["min"] = 0.55
    other["columns"]["allow_extra"] = True
    moved = _rules(other)
    assert _threshold(moved["PlaybookEstimatedRocAucLow"]["expr"]) == 0.6
    assert _threshold(moved["PlaybookRealizedRocAucLow"]["expr"]) == 0.55
    assert _threshold(moved["PlaybookModelStale"]["expr"]) == 30
    assert _threshold(moved["PlaybookLatencyP99High"]["expr"]) == 80
    assert _threshold(moved["PlaybookHigh5xxRate"]["expr"]) == 0.05
    assert _threshold(moved["PlaybookBatchOverdue"]["expr"]) == 3600 * 1.5
    assert 'rule!="extra_column"' in moved["PlaybookServingContractViolations"]["expr"]
    assert 'rule!="extra_column"' not in rules["PlaybookServingContractViolations"]["expr"]


def test_serving_alerts_link_the_serving_steps_checks_when_it_ran():
    from playbook import catalogue

    spec = make_spec(serving=alerts.serving_section(None, "/pack/steps/03_serving"))
    assert spec["serving"]["pack_step"] == "03_serving"
    rules = {r["alert"]: r for r in alerts.rules_document(spec, PREFIX, root="")["groups"][0]["rules"]}
    lat, err = rules["PlaybookLatencyP99High"]["annotations"], rules["PlaybookHigh5xxRate"]["annotations"]
    assert lat["runbook_url"] == "steps/03_serving/notebook.html" and lat["check"] == "serving.latency.p99"
    assert lat["evidence"] == "steps/03_serving/artifacts/latency.json"
    assert err["check"] == "serving.resilience.burst" and catalogue.spec(err["check"]) is not None
    assert rules["PlaybookDriftAlarm"]["annotations"]["runbook_url"] == PREFIX + "notebook.html"
    # outside a pack (no root) or without the serving step: the monitoring step's own hand-off check
    for doc in (alerts.rules_document(spec, PREFIX), alerts.rules_document(make_spec(), PREFIX, root="")):
        ann = {r["alert"]: r for r in doc["groups"][0]["rules"]}["PlaybookLatencyP99High"]["annotations"]
        assert ann["check"] == "monitoring.alert_rules" and ann["runbook_url"] == PREFIX + "notebook.html"


def test_rules_left_out_when_the_model_has_nothing_to_watch_there():
    spec = make_spec(performance={})
    spec["monitors"] = spec["monitors"][:2]
    del spec["model_age"]
    rules, problems, notes = alerts.build_rules(spec)
    names = {r.alert for r in rules}
    assert not names & {"PlaybookEstimatedRocAucLow", "PlaybookRealizedRocAucLow", "PlaybookModelStale"}
    assert problems == [] and any("performance monitor" in n for n in notes)
    assert handoff.rules_check(spec)["status"] == "pass"


def test_serving_gate_comes_from_the_config_when_it_has_one():
    assert alerts.serving_section(None)["max_p99_ms"] == alerts.DEFAULT_MAX_P99_MS
    assert alerts.serving_section(None)["max_p99_ms_source"].startswith("default")
    cfg = {"serving": {"max_p99_ms": 120}}
    section = alerts.serving_section(cfg)
    assert section["max_p99_ms"] == 120.0 and section["max_p99_ms_source"] == "config: serving.max_p99_ms"

    from playbook.config import from_dict

    data = {"reference": "r.csv", "current": "c.csv", "target": "y"}
    assert alerts.serving_section(from_dict({"data": data, "serving": {"max_p99_ms": 75.5}}))["max_p99_ms"] == 75.5
    assert alerts.serving_section(from_dict({"data": data}))["max_p99_ms"] == alerts.DEFAULT_MAX_P99_MS
    for bad in (0, -5, "fast", float("nan"), True):
        with pytest.raises(alerts.ServingGateError, match=r"^serving\.max_p99_ms: .* not a positive number of milli"):
            alerts.serving_section({"serving": {"max_p99_ms": bad}})
    # a monitoring.yaml written before the serving section existed: the documented defaults, said so
    old = make_spec()
    del old["serving"]
    rules, problems, notes = alerts.build_rules(old)
    assert problems == [] and any("no serving section" in n for n in notes)
    assert _threshold(_rules(old)["PlaybookLatencyP99High"]["expr"]) == alerts.DEFAULT_MAX_P99_MS


def test_the_check_fails_on_what_it_guards_against():
    broken = make_spec(serving={"max_p99_ms": float("nan"), "max_5xx_share": 2},
                       batch={"size": 200, "period": "fortnight"})
    broken["monitors"][2]["minimum"] = None
    c = handoff.rules_check(broken)
    assert c["status"] == "fail" and c["value"] == 4 and c["threshold"]["max"] == 0
    assert "serving.max_p99_ms" in c["why"] and "fortnight" in c["why"]
    nothing = make_spec(monitors=[])
    assert handoff.rules_check(nothing)["status"] == "fail"
    # a hand-edited rule file: the validator names each problem
    doc = alerts.rules_document(make_spec(), PREFIX)
    rules = doc["groups"][0]["rules"]
    del rules[0]["annotations"]["runbook_url"]
    rules[1]["labels"]["severity"] = "loud"
    rules[2]["expr"] = "playbook_request_total{} > 0"
    rules[3]["alert"] = rules[4]["alert"]
    rules[5]["expr"] = "playbook_monitor_model_age_days{} > NaN"
    problems = alerts.validate(doc)
    assert len(problems) == 5, problems
    assert any("runbook_url" in p for p in problems) and any("severity" in p for p in problems)
    assert any("playbook_request_total is not a metric" in p for p in problems)
    assert any("appears twice" in p for p in problems) and any("finite" in p for p in problems)
    assert alerts.validate({"groups": []}) == ["no rule groups"]


def test_same_monitoring_yaml_gives_byte_identical_rules(tmp_path):
    a = alerts.write_rules(make_spec(), tmp_path / "a", PREFIX).read_bytes()
    b = alerts.write_rules(copy.deepcopy(make_spec()), tmp_path / "b", PREFIX).read_bytes()
    assert a == b
    assert alerts.rules_yaml(make_spec(name="other-model"), PREFIX).encode() != a


def test_metrics_used_are_the_ones_playbook_monitor_writes():
    """Every playbook_monitor_* gauge the rules read is one that playbook monitor's textfile holds."""
    from playbook.monitoring.check import prometheus_text

    result = {"model": NAME, "status": "alert", "rows": 200, "drift_share": 0.5,
              "alerts": [{"kind": "drift", "message": "x"}],
              "monitors": [{"name": "duration", "column": "duration", "role": "feature", "test": "binned_ks",
                            "statistic": 0.3, "threshold": 0.14, "alert": True}],
              "model_age": {"age_days": 10.0},
              "performance": {"estimated": {"roc_auc": 0.7, "accuracy": 0.7},
                              "realized": {"roc_auc": 0.7, "accuracy": 0.7}}}
    exported = {line.split("{")[0] for line in prometheus_text(result).splitlines() if not line.startswith("#")}
    assert exported == {m for m in alerts.MONITOR_METRICS if m.startswith("playbook_monitor_")}
    used = set().union(*(alerts.metric_names(r["expr"]) for r in _rules(make_spec()).values()))
    assert {m for m in used if m.startswith("playbook_monitor_")} <= exported
    assert used <= alerts.KNOWN_METRICS


# -- promtool ------------------------------------------------------------------------------------------------------
def test_promtool_check_rules_accepts_the_file(rules_file):
    proc = promtool.run("check", "rules", str(rules_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(_rules(make_spec()))} rules found" in proc.stdout


def test_promtool_check_rules_rejects_a_broken_expr(tmp_path):
    """The validation is real: promtool refuses an expression that does not parse."""
    doc = alerts.rules_document(make_spec(), PREFIX)
    doc["groups"][0]["rules"][0]["expr"] += " >"
    path = tmp_path / "broken.rules.yml"
    path.write_text(yaml.safe_dump(doc))
    proc = promtool.run("check", "rules", str(path))
    assert proc.returncode != 0 and "PlaybookDriftAlarm" in proc.stdout + proc.stderr


def _go_float(v: float) -> str:
    return str(int(v)) if v == int(v) and abs(v) < 1e21 else repr(v)


def _humanize_duration(v: float) -> str:
    d = int(v)
    days, hours, minutes, seconds = d // 86400, (d // 3600) % 24, (d // 60) % 60, d % 60
    if days:
        return f"{days}d {hours}h {minutes}m {seconds}s"
    if hours:
        return f"{hours}h {minutes}m {seconds}s"
    return f"{minutes}m {seconds}s" if minutes else f"{v:.4g}s"


def render(template: str, labels: dict, value: float) -> str:
    """Prometheus' template expansion for the few forms the rules use (labels, value, printf, humanize*)."""

    def one(m: re.Match) -> str:
        e = m.group(1).strip()
        if e.startswith("$labels."):
            return labels.get(e[len("$labels."):], "")
        if e == "$value":
            return _go_float(value)
        fn = e.split("|", 1)[1].strip()
        if fn.startswith("printf"):
            return fn.split(None, 1)[1].strip().strip('"') % value
        if fn == "humanizeDuration":
            return _humanize_duration(value)
        if fn == "humanizePercentage":
            return f"{value * 100:.4g}%"
        raise AssertionError(f"unknown template {e}")

    return re.sub(r"\{\{(.*?)\}\}", one, template)


def _series(name: str, labels: dict, values: str) -> dict:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def _fires(rule: dict, labels: dict, value: float) -> dict:
    """The alert promtool should report: the series' labels plus the rule's, annotations expanded on the series'."""
    return {"exp_labels": {**labels, **rule["labels"]},
            "exp_annotations": {k: render(v, labels, value) for k, v in rule["annotations"].items()}}


TEXTFILE = "/var/lib/node_exporter/textfile_collector/playbook_monitor.prom"


def _cases(rules: dict) -> dict:
    """alert -> promtool test groups: input series, and when it must be silent and when it must fire."""
    m = {"model": NAME, **NODE}
    drift = {**m, "monitor": "duration", "column": "duration", "role": "feature", "test": "binned_ks"}
    calm = {**m, "monitor": "purpose", "column": "purpose", "role": "feature", "test": "chi2"}
    perf = {**m, "monitor": "estimated_roc_auc", "column": "score", "role": "performance", "test": "cbpe_roc_auc"}
    kind = lambda k: {"model": NAME, "kind": k, **NODE}  # noqa: E731
    viol = {"rule": "missing_column", **SERVE}
    file = {"file": TEXTFILE, "instance": NODE["instance"]}
    r = rules
    return {
        "PlaybookDriftAlarm": [{
            "input_series": [
                _series("playbook_monitor_statistic", drift, "0.05x29 0.3x30"),
                _series("playbook_monitor_threshold", drift, "0.14x59"),
                _series("playbook_monitor_statistic", calm, "0.1x59"),     # below its own threshold: silent
                _series("playbook_monitor_threshold", calm, "0.2x59"),
                _series("playbook_monitor_statistic", perf, "0.2x59"),     # the estimate has its own alert
                _series("playbook_monitor_threshold", perf, "0.05x59")],
            "alert_rule_test": [{"eval_time": "10m", "exp_alerts": []},
                                {"eval_time": "45m", "exp_alerts": [_fires(r["PlaybookDriftAlarm"], drift, 0.3)]}]}],
        "PlaybookBatchContractViolation": [{
            "input_series": [_series("playbook_monitor_alerts_by_kind", kind("missing_columns"), "0x29 1x30"),
                             _series("playbook_monitor_alerts_by_kind", kind("drift"), "1x59")],
            "alert_rule_test": [
                {"eval_time": "10m", "exp_alerts": []},
                {"eval_time": "45m", "exp_alerts": [_fires(r["PlaybookBatchContractViolation"],
                                                           kind("missing_columns"), 1)]}]}],
        "PlaybookServingContractViolations": [{
            "input_series": [_series("playbook_contract_violations_total", viol, "0x30 1+1x29"),
                             _series("playbook_contract_violations_total", {**viol, **SERVE2}, "3x59")],
            "alert_rule_test": [
                {"eval_time": "20m", "exp_alerts": []},
                {"eval_time": "50m", "exp_alerts": [_fires(r["PlaybookServingContractViolations"], viol, 5)]}]}],
        "PlaybookMonitorResultMissing": [
            {"input_series": [_series("up", NODE, "1x10")],
             "alert_rule_test": [{"eval_time": "5m", "exp_alerts": [
                 _fires(r["PlaybookMonitorResultMissing"], {"model": NAME}, 1)]}]},
            {"input_series": [_series("playbook_monitor_batch_rows", m, "200x10")],
             "alert_rule_test": [{"eval_time": "5m", "exp_alerts": []}]}],
        "PlaybookBatchOverdue": [  # (samples and evaluations every 10 minutes: these tests span days)
            {"interval": "10m",
             "input_series": [_series("node_textfile_mtime_seconds", {"file": TEXTFILE, **NODE}, "0x240"),
                              # another model's textfile, just as old: not this model's alert
                              _series("node_textfile_mtime_seconds",
                                      {"file": "/var/lib/node_exporter/textfile_collector/other.prom", **NODE},
                                      "0x240")],
             "alert_rule_test": [{"eval_time": "24h", "exp_alerts": []},
                                 {"eval_time": "37h", "exp_alerts": [_fires(r["PlaybookBatchOverdue"], file, 133200)]}]},
            {"interval": "10m",
             "input_series": [_series("node_textfile_mtime_seconds", {"file": TEXTFILE, **NODE},
                                      "0x144 86400x144")],   # rewritten after a day: on time
             "alert_rule_test": [{"eval_time": "37h", "exp_alerts": []}]}],
        "PlaybookModelStale": [{
            "input_series": [_series("playbook_monitor_model_age_days", m, "100x29 130x30")],
            "alert_rule_test": [{"eval_time": "10m", "exp_alerts": []},
                                {"eval_time": "45m", "exp_alerts": [_fires(r["PlaybookModelStale"], m, 130)]}]}],
        "PlaybookLatencyP99High": [{
            "input_series": [
                # serve-1: every request between 0.1 s and 1 s (p99 = 0.991 s); serve-2: all under 0.1 s
                _series("playbook_request_latency_seconds_bucket", {**SERVE, "le": "0.1"}, "0x60"),
                _series("playbook_request_latency_seconds_bucket", {**SERVE, "le": "1"}, "0+100x60"),
                _series("playbook_request_latency_seconds_bucket", {**SERVE, "le": "+Inf"}, "0+100x60"),
                _series("playbook_request_latency_seconds_bucket", {**SERVE2, "le": "0.1"}, "0+100x60"),
                _series("playbook_request_latency_seconds_bucket", {**SERVE2, "le": "1"}, "0+100x60"),
                _series("playbook_request_latency_seconds_bucket", {**SERVE2, "le": "+Inf"}, "0+100x60")],
            "alert_rule_test": [
                {"eval_time": "8m", "exp_alerts": []},   # slow, but not yet for 10 minutes
                {"eval_time": "30m", "exp_alerts": [_fires(r["PlaybookLatencyP99High"], SERVE, 991.0)]}]}],
        "PlaybookHigh5xxRate": [{
            "input_series": [
                _series("playbook_requests_total", {**SERVE, "path": "/invocations", "status": "200"}, "0+90x60"),
                _series("playbook_requests_total", {**SERVE, "path": "/invocations", "status": "500"}, "0+10x60"),
                _series("playbook_requests_total", {**SERVE2, "path": "/invocations", "status": "200"},
                        "0+1000x60"),
                _series("playbook_requests_total", {**SERVE2, "path": "/invocations", "status": "503"}, "0+1x60"),
                _series("playbook_requests_total", {**SERVE2, "path": "/health", "status": "500"}, "0+1000x60")],
            "alert_rule_test": [
                {"eval_time": "3m", "exp_alerts": []},
                {"eval_time": "30m", "exp_alerts": [_fires(r["PlaybookHigh5xxRate"], SERVE, 0.1)]}]}],
        "PlaybookServedModelMismatch": [{
            # serve-1 serves the pack's model, serve-2 another; a third server belongs to another pack
            "input_series": [
                _series("playbook_model_info", {**SERVE, "model_sha256": MODEL_SHA, "pack": NAME, "verdict": "go"},
                        "1x30"),
                _series("playbook_model_info", {**SERVE2, "model_sha256": "77" * 32, "pack": NAME, "verdict": "go"},
                        "1x30"),
                _series("playbook_model_info", {"instance": "serve-3:8080", "job": "playbook-serve",
                                                "model_sha256": "77" * 32, "pack": "other", "verdict": "go"}, "1x30")],
            "alert_rule_test": [{"eval_time": "10m", "exp_alerts": [_fires(
                r["PlaybookServedModelMismatch"],
                {**SERVE2, "model_sha256": "77" * 32, "pack": NAME, "verdict": "go"}, 1)]}]}],
        "PlaybookEstimatedRocAucLow": [{
            "input_series": [_series("playbook_monitor_estimated_roc_auc", m, "0.78x29 0.65x30")],
            "alert_rule_test": [
                {"eval_time": "10m", "exp_alerts": []},
                {"eval_time": "45m", "exp_alerts": [_fires(r["PlaybookEstimatedRocAucLow"], m, 0.65)]}]}],
        "PlaybookRealizedRocAucLow": [{
            "input_series": [_series("playbook_monitor_realized_roc_auc", m, "0.75x29 0.5x30")],
            "alert_rule_test": [
                {"eval_time": "10m", "exp_alerts": []},
                {"eval_time": "45m", "exp_alerts": [_fires(r["PlaybookRealizedRocAucLow"], m, 0.5)]}]}],
        "PlaybookRealizedAccuracyLow": [{
            "input_series": [_series("playbook_monitor_realized_accuracy", m, "0.74x29 0.55x30")],
            "alert_rule_test": [
                {"eval_time": "10m", "exp_alerts": []},
                {"eval_time": "45m", "exp_alerts": [_fires(r["PlaybookRealizedAccuracyLow"], m, 0.55)]}]}],
    }


def test_every_generated_alert_has_a_promtool_test():
    assert set(_cases(_rules(make_spec()))) == set(_rules(make_spec()))


@pytest.mark.parametrize("alert", sorted(_cases(_rules(make_spec()))))
def test_promtool_unit_test_per_alert(alert, rules_file, tmp_path):
    groups = _cases(_rules(make_spec()))[alert]
    for g in groups:
        for t in g["alert_rule_test"]:
            t["alertname"] = alert
    interval = groups[0].get("interval", "1m")
    doc = {"rule_files": [str(rules_file)], "evaluation_interval": interval,
           "tests": [{"interval": interval, **g} for g in groups]}
    path = tmp_path / f"{alert}.test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    proc = promtool.run("test", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_unit_test_catches_a_wrong_expectation(rules_file, tmp_path):
    """The per-alert tests can fail: expecting the drift alarm on a quiet series is reported."""
    m = {"model": NAME, **NODE, "monitor": "duration", "column": "duration", "role": "feature", "test": "binned_ks"}
    rule = _rules(make_spec())["PlaybookDriftAlarm"]
    doc = {"rule_files": [str(rules_file)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [_series("playbook_monitor_statistic", m, "0.05x59"),
                         _series("playbook_monitor_threshold", m, "0.14x59")],
        "alert_rule_test": [{"eval_time": "45m", "alertname": "PlaybookDriftAlarm",
                             "exp_alerts": [_fires(rule, m, 0.05)]}]}]}
    path = tmp_path / "wrong.test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    proc = promtool.run("test", "rules", str(path))
    assert proc.returncode != 0 and "PlaybookDriftAlarm" in proc.stdout + proc.stderr


# -- the wiring ----------------------------------------------------------------------------------------------------
def test_saving_monitoring_yaml_in_a_steps_artifacts_writes_the_handoff_and_records_its_checks(tmp_path):
    from playbook.monitoring.spec import save_spec
    from playbook.results import Step, step_owning

    step = Step("monitoring_setup", tmp_path / "pack" / "steps" / "04_monitoring_setup")
    assert step_owning(step.artifact("monitoring.yaml")) is step
    save_spec(make_spec(), step.artifact("monitoring.yaml"))
    assert (step.artifacts_dir / alerts.RULES_FILE).is_file()
    assert (step.artifacts_dir / "grafana_dashboard.json").is_file()
    recorded = {c.id: c for c in step.checks}
    assert recorded["monitoring.alert_rules"].status == "pass"
    assert recorded["monitoring.grafana_dashboard"].status == "pass"
    doc = yaml.safe_load((step.artifacts_dir / alerts.RULES_FILE).read_text())
    assert doc["groups"][0]["rules"][0]["annotations"]["runbook_url"] == PREFIX + "notebook.html"
    # a broken serving gate is recorded as a failed check on the step, not an exception
    save_spec(make_spec(serving={"max_p99_ms": -1, "max_5xx_share": 0.01}), step.artifact("monitoring.yaml"))
    assert {c.id: c for c in step.checks}["monitoring.alert_rules"].status == "fail"
    assert [c.id for c in step.checks].count("monitoring.alert_rules") == 1
    # anywhere else (a temporary folder, a test): the monitoring.yaml only
    elsewhere = tmp_path / "tmp"
    save_spec(make_spec(), elsewhere / "monitoring.yaml")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["monitoring.yaml"]
    assert step_owning(elsewhere / "monitoring.yaml") is None


def test_handoff_command_regenerates_with_the_packs_url_and_refuses_bad_input(tmp_path, capsys):
    import numpy as np
    import pandas as pd

    from playbook.monitoring.calibrate import DistributionMonitor
    from playbook.monitoring.spec import monitor_to_dict, save_spec
    from playbook.monitoring.stats import ColumnProfile

    mon = DistributionMonitor(ColumnProfile.build(pd.Series(np.arange(100.0), name="duration"), "numeric"),
                              threshold=0.1, calibrated_batch_size=200)
    serving = {**alerts.serving_section(None, "03_serving")}
    spec = make_spec(monitors=[monitor_to_dict(mon)], performance={}, serving=serving)
    src = save_spec(spec, tmp_path / "pack" / "steps" / "04_monitoring_setup" / "artifacts" / "monitoring.yaml")
    assert handoff.main([str(src), "--out", str(tmp_path / "ops"), "--pack-url", "https://packs.example/x"]) == 0
    rules = {r["alert"]: r for r in yaml.safe_load((tmp_path / "ops" / alerts.RULES_FILE).read_text())["groups"][0]["rules"]}
    assert rules["PlaybookDriftAlarm"]["annotations"]["runbook_url"] == \
        "https://packs.example/x/steps/04_monitoring_setup/notebook.html"
    assert rules["PlaybookLatencyP99High"]["annotations"]["runbook_url"] == \
        "https://packs.example/x/steps/03_serving/notebook.html"
    capsys.readouterr()
    assert handoff.main([str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "ops")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --config") and "file not found" in err and "\n" not in err


# -- the pack ------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_monitoring_step_of_a_pack_hands_off_rules_that_promtool_accepts(bundled_pack, tmp_path):
    """No template change: writing monitoring.yaml in the step's artifacts writes the rules and the dashboard
    beside it and records their checks; the runbook links resolve inside the pack; regenerating from the pack's
    monitoring.yaml gives the same bytes."""
    import json

    pack = bundled_pack["pack"]
    assert bundled_pack["proc"].returncode in (0, 1), bundled_pack["proc"].stderr[-2000:]
    step = next(pack.glob("steps/*_monitoring_setup"))
    res = json.loads((step / "results.json").read_text())
    checks = {c["id"]: c for c in res["checks"]}
    for cid, art in (("monitoring.alert_rules", alerts.RULES_FILE), ("monitoring.grafana_dashboard",
                                                                     "grafana_dashboard.json")):
        assert checks[cid]["status"] == "pass", checks[cid]
        assert f"artifacts/{art}" in res["artifacts"] and checks[cid]["evidence"] == f"artifacts/{art}"
    manifest = json.loads((pack / "manifest.json").read_text())
    rel = step.relative_to(pack).as_posix()
    assert {f"{rel}/artifacts/{alerts.RULES_FILE}", f"{rel}/artifacts/grafana_dashboard.json"} <= set(manifest["files"])
    rules_path = step / "artifacts" / alerts.RULES_FILE
    doc = yaml.safe_load(rules_path.read_text())
    spec = yaml.safe_load((step / "artifacts" / "monitoring.yaml").read_text())
    assert spec["serving"]["max_p99_ms"] == alerts.DEFAULT_MAX_P99_MS
    serving_step = next(pack.glob("steps/*_serving"), None)
    if serving_step is not None:  # the serving step ran: the serving alerts link its checks
        assert spec["serving"]["pack_step"] == serving_step.name
        lat = next(r for r in doc["groups"][0]["rules"] if r["alert"] == "PlaybookLatencyP99High")
        assert lat["annotations"]["check"] == "serving.latency.p99"
    for r in doc["groups"][0]["rules"]:
        for key in ("runbook_url", "evidence"):
            assert (pack / r["annotations"][key]).is_file(), (r["alert"], r["annotations"][key])
    floor = next(m["minimum"] for m in spec["monitors"] if m["role"] == "performance")
    est = next(r for r in doc["groups"][0]["rules"] if r["alert"] == "PlaybookEstimatedRocAucLow")
    assert math.isclose(_threshold(est["expr"]), floor, rel_tol=0, abs_tol=0)
    proc = promtool.run("check", "rules", str(rules_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    paths, _ = handoff.write(spec, tmp_path, *handoff.pack_links(step))
    for p in paths:
        assert p.read_bytes() == (step / "artifacts" / p.name).read_bytes(), p.name


@pytest.mark.slow
def test_the_servers_metrics_are_the_ones_the_rules_and_the_dashboard_read(bundled_pack):
    """`playbook serve`'s app (in process, through httpx's ASGI transport: no socket) on the pack, after a good and a
    refused request: every serving metric and label the rules and the dashboard select is in its /metrics."""
    httpx = pytest.importorskip("httpx")
    import asyncio

    import pandas as pd
    from prometheus_client.parser import text_string_to_metric_families

    from playbook.monitoring import grafana
    from playbook.serving.app import create_app
    from playbook.serving.probe import rows_json
    from playbook.serving.service import load_pack
    from tests.conftest import ROOT

    service = load_pack(bundled_pack["pack"])
    frame = pd.read_csv(ROOT / "datasets" / "german_credit" / "current.csv").head(3)
    split = rows_json(frame, service.features)
    records = [dict(zip(split["columns"], row)) for row in split["data"]]
    del records[0][split["columns"][0]]

    async def scrape() -> str:
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
            assert (await client.post("/invocations", json={"dataframe_split": split})).status_code == 200
            assert (await client.post("/invocations", json={"dataframe_records": records})).status_code in (400, 422)
            return (await client.get("/metrics")).text

    text = asyncio.run(scrape())
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            exported.setdefault(sample.name, set()).update(sample.labels)
    spec = make_spec()
    exprs = [r["expr"] for r in _rules(spec).values()] + grafana.exprs(grafana.dashboard(spec))
    for expr in exprs:
        for name in alerts.metric_names(expr) & set(alerts.SERVING_METRICS):
            assert name in exported, (name, sorted(exported))
            selector = re.search(re.escape(name) + r"\{([^}]*)\}", expr).group(1)
            for label in re.findall(r"([A-Za-z_]+)\s*(?:=~|!=|!~|=)", selector):
                assert label == "instance" or label in exported[name], (name, label, exported[name])
    assert {"path", "status"} <= exported["playbook_requests_total"]
    assert "rule" in exported["playbook_contract_violations_total"]
