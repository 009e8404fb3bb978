"""The Grafana dashboard from monitoring.yaml: its JSON schema, the panels it must have, thresholds as in the rules,
deterministic bytes, every query parsed by promtool, and the check failing on a broken dashboard."""

from __future__ import annotations

import copy
import json
import re

import jsonschema
import pytest

from playbook.monitoring import alerts, grafana, handoff
from tests import observability as promtool
from tests.observability import NAME, PREFIX, make_spec


@pytest.fixture(scope="module")
def dash() -> dict:
    return grafana.dashboard(make_spec(), PREFIX)


def _panel(dash: dict, words: str) -> dict:
    found = [p for p in dash["panels"] if words.lower() in p["title"].lower()]
    assert len(found) == 1, (words, [p["title"] for p in dash["panels"]])
    return found[0]


def test_the_schema_is_valid_and_the_dashboard_passes_it(dash):
    jsonschema.Draft7Validator.check_schema(grafana.DASHBOARD_SCHEMA)
    jsonschema.validate(json.loads(grafana.dashboard_json(make_spec(), PREFIX)), grafana.DASHBOARD_SCHEMA)
    assert grafana.validate(dash) == []
    assert dash["uid"] == f"playbook-{NAME}" and dash["title"] == f"Playbook: {NAME}"
    assert dash["schemaVersion"] == grafana.SCHEMA_VERSION
    names = [v["name"] for v in dash["templating"]["list"]]
    assert names == ["datasource", "instance"]
    for p in dash["panels"]:
        assert p["datasource"] == grafana.DATASOURCE and all(t["datasource"] == grafana.DATASOURCE
                                                              for t in p["targets"])


@pytest.mark.parametrize("mutate, fragment, where", [
    (lambda d: d.pop("uid"), "'uid' is a required property", "uid"),
    (lambda d: d.update(uid="x" * 41), "does not match", "uid"),
    (lambda d: d["panels"][0].pop("gridPos"), "'gridPos' is a required property", "gridPos"),
    (lambda d: d["panels"][1]["targets"][0].update(expr=""), "should be non-empty", "expr"),
    (lambda d: d["panels"][2].update(targets=[]), "should be non-empty", "targets"),
    (lambda d: d["panels"][3].update(type="graph-old"), "is not one of", "type"),
    (lambda d: d.pop("templating"), "'templating' is a required property", "templating"),
    (lambda d: d.update(schemaVersion="39"), "is not of type 'integer'", "schemaVersion"),
])
def test_a_dashboard_that_breaks_the_schema_is_refused(dash, mutate, fragment, where):
    broken = copy.deepcopy(dash)
    mutate(broken)
    with pytest.raises(jsonschema.ValidationError, match=re.escape(fragment)):
        jsonschema.validate(broken, grafana.DASHBOARD_SCHEMA)
    problems = grafana.validate(broken)  # the library's own validation (fastjsonschema) agrees
    assert len(problems) == 1 and where in problems[0], problems


@pytest.mark.parametrize("mutate, fragment", [
    (lambda d: d["panels"][4]["gridPos"].update(x=0, y=0), "overlaps"),
    (lambda d: d["panels"][5]["gridPos"].update(x=20, w=8), "wider than the 24-column grid"),
    (lambda d: d["panels"][5]["targets"][0].update(expr="playbook_model_infos{}"), "is not a metric"),
])
def test_what_a_schema_cannot_say_is_refused_too(dash, mutate, fragment):
    broken = copy.deepcopy(dash)
    mutate(broken)
    jsonschema.validate(broken, grafana.DASHBOARD_SCHEMA)
    problems = grafana.validate(broken)
    assert problems and any(fragment in p for p in problems), problems


def test_the_panels_cover_the_serving_and_monitor_metrics(dash):
    spec = make_spec()
    status = _panel(dash, "request rate by status")
    assert "sum by (status)" in status["targets"][0]["expr"] and "playbook_requests_total" in status["targets"][0]["expr"]
    latency = _panel(dash, "latency p50")
    assert [t["expr"].split(",")[0] for t in latency["targets"]] == [
        "histogram_quantile(0.5", "histogram_quantile(0.95", "histogram_quantile(0.99"]
    assert latency["fieldConfig"]["defaults"]["unit"] == "ms"
    assert "sum by (rule)" in _panel(dash, "contract violations")["targets"][0]["expr"]
    assert "playbook_rows_scored_total" in _panel(dash, "rows scored")["targets"][0]["expr"]
    drift = _panel(dash, "drift: statistic")
    assert "playbook_monitor_statistic" in drift["targets"][0]["expr"]
    alarms = _panel(dash, "drift alarms")
    assert any("playbook_monitor_monitor_alert" in t["expr"] for t in alarms["targets"])
    perf = _panel(dash, "estimated and realized")
    assert any("playbook_monitor_estimated_roc_auc" in t["expr"] for t in perf["targets"])

    def line(panel):
        return panel["fieldConfig"]["defaults"]["thresholds"]["steps"]

    # the thresholds drawn are the rules' thresholds, from monitoring.yaml
    assert line(latency)[-1]["value"] == spec["serving"]["max_p99_ms"]
    assert line(_panel(dash, "5xx share"))[-1]["value"] == spec["serving"]["max_5xx_share"]
    assert line(perf)[-1]["value"] == spec["monitors"][2]["minimum"]
    assert line(drift)[-1]["value"] == 1.0
    assert line(_panel(dash, "since the last batch"))[-1]["value"] == 86400 * (1 + alerts.OVERDUE_GRACE)
    other = make_spec(serving={"max_p99_ms": 90.0, "max_5xx_share": 0.02})
    other["monitors"][2]["minimum"] = 0.61
    moved = grafana.dashboard(other, PREFIX)
    assert line(_panel(moved, "latency p50"))[-1]["value"] == 90.0
    assert line(_panel(moved, "estimated and realized"))[-1]["value"] == 0.61


def test_same_monitoring_yaml_gives_byte_identical_json(tmp_path):
    a = grafana.write_dashboard(make_spec(), tmp_path / "a", PREFIX).read_bytes()
    b = grafana.write_dashboard(copy.deepcopy(make_spec()), tmp_path / "b", PREFIX).read_bytes()
    assert a == b
    assert json.loads(a)["links"][0]["url"] == PREFIX + "notebook.html"


def test_long_names_give_a_short_stable_uid():
    uid = grafana.uid_for("a-very-long-model-name-that-goes-on-and-on-and-on")
    assert len(uid) <= 40 and uid == grafana.uid_for("a-very-long-model-name-that-goes-on-and-on-and-on")
    assert uid != grafana.uid_for("a-very-long-model-name-that-goes-on-and-on-and-off")


def test_every_panel_query_parses_as_promql(dash, tmp_path):
    exprs = [grafana.as_promql(e) for e in grafana.exprs(dash)]
    assert exprs and all("$" not in e for e in exprs)
    proc = promtool.check_exprs(exprs, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in proc.stdout
    broken = promtool.check_exprs(exprs[:1] + ["sum(rate(playbook_rows_scored_total[5m])"], tmp_path)
    assert broken.returncode != 0


def test_the_check_passes_on_the_generated_dashboard():
    c = handoff.dashboard_check(make_spec(), PREFIX)
    assert c["status"] == "pass" and c["value"] == 0 and c["evidence"] == "artifacts/grafana_dashboard.json"


def test_the_dashboard_check_fails_on_a_broken_model(monkeypatch):
    real = grafana.dashboard

    def broken(spec, prefix=""):
        d = real(spec, prefix)
        d["panels"][0]["gridPos"] = d["panels"][1]["gridPos"]
        return d

    monkeypatch.setattr(grafana, "dashboard", broken)
    c = handoff.dashboard_check(make_spec(), PREFIX)
    assert c["status"] == "fail" and c["value"] >= 1 and "overlaps" in c["why"]


@pytest.mark.slow
def test_the_packs_dashboard_is_valid(bundled_pack, tmp_path):
    step = next(bundled_pack["pack"].glob("steps/*_monitoring_setup"))
    d = json.loads((step / "artifacts" / grafana.DASHBOARD_FILE).read_text())
    jsonschema.validate(d, grafana.DASHBOARD_SCHEMA)
    assert grafana.validate(d) == []
    assert (bundled_pack["pack"] / d["links"][0]["url"]).is_file()
    proc = promtool.check_exprs([grafana.as_promql(e) for e in grafana.exprs(d)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
