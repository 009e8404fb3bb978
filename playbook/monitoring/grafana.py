"""A Grafana dashboard for the deployed model, generated from ``monitoring.yaml``.

One dashboard per pack, on a Prometheus data source (a ``datasource`` variable) and an ``instance`` variable for
the model servers: request rate by status, latency p50 / p95 / p99 against the p99 gate, the 5xx share against its
gate, contract violations by rule, rows scored, the model served (``playbook_model_info``); then the batch monitor's
textfile metrics: every monitor's statistic relative to its calibrated threshold, the alarms, the alerts by kind,
the estimated and realized performance against their floors, the time since the last batch against the overdue
bound, and the playbook alerts that fire. The thresholds drawn on the panels are the ones the alerting rules use
(:mod:`playbook.monitoring.alerts`), read from monitoring.yaml.

:data:`DASHBOARD_SCHEMA` is a compact JSON schema of the fields Grafana needs to import the model (title, uid,
schemaVersion, templating, panels with type, title, gridPos and targets with an expr); :func:`validate` applies it
with ``fastjsonschema`` and checks what a schema cannot say (panels that overlap, metrics nobody exports). The JSON is
written with sorted keys: the same mapping gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from playbook.monitoring import alerts

DASHBOARD_FILE = "grafana_dashboard.json"
#: Grafana's dashboard JSON model version this file follows (Grafana 10.4 / 11 write 39).
SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
INSTANCE = 'instance=~"$instance"'
PANEL_TYPES = ("timeseries", "stat", "table")

DASHBOARD_SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Grafana dashboard model: the fields the playbook's dashboard must have",
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "templating": {
            "type": "object", "required": ["list"],
            "properties": {"list": {"type": "array", "items": {
                "type": "object", "required": ["name", "type"],
                "properties": {"name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                               "type": {"enum": ["datasource", "query", "custom", "constant", "interval"]}}}}},
        },
        "panels": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["type", "title", "gridPos", "targets"],
            "properties": {
                "type": {"enum": list(PANEL_TYPES)},
                "title": {"type": "string", "minLength": 1},
                "gridPos": {"type": "object", "required": ["h", "w", "x", "y"], "properties": {
                    "h": {"type": "integer", "minimum": 1}, "w": {"type": "integer", "minimum": 1, "maximum": 24},
                    "x": {"type": "integer", "minimum": 0, "maximum": 23}, "y": {"type": "integer", "minimum": 0}}},
                "targets": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["expr", "refId"],
                    "properties": {"expr": {"type": "string", "minLength": 1},
                                   "refId": {"type": "string", "minLength": 1}}}},
            }}},
    },
}


def uid_for(name: str) -> str:
    """A Grafana uid (at most 40 characters) from the model name: readable, and the same for the same name."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-").lower() or "model"
    uid = f"playbook-{slug}"
    if len(uid) <= 40:
        return uid
    return f"playbook-{slug[:22]}-{hashlib.sha256(str(name).encode()).hexdigest()[:8]}"


def _target(expr: str, ref: str, legend: str = "", instant: bool = False) -> dict:
    t: dict[str, Any] = {"datasource": DATASOURCE, "expr": expr, "refId": ref, "legendFormat": legend or "__auto"}
    if instant:
        t.update(instant=True, range=False, format="table")
    return t


def _thresholds(value: float | None, *, below: bool = False) -> dict:
    """Field thresholds drawn as a line: red above ``value`` (or below it, ``below=True``)."""
    if value is None:
        steps = [{"color": "green", "value": None}]
    elif below:
        steps = [{"color": "red", "value": None}, {"color": "green", "value": value}]
    else:
        steps = [{"color": "green", "value": None}, {"color": "red", "value": value}]
    return {"mode": "absolute", "steps": steps}


def _panel(pid: int, title: str, description: str, targets: list[dict], pos: tuple[int, int, int, int], *,
           unit: str = "short", threshold: float | None = None, below: bool = False, kind: str = "timeseries",
           decimals: int | None = None) -> dict:
    x, y, w, h = pos
    defaults: dict[str, Any] = {"unit": unit, "thresholds": _thresholds(threshold, below=below)}
    if decimals is not None:
        defaults["decimals"] = decimals
    if kind == "timeseries":
        defaults["custom"] = {"thresholdsStyle": {"mode": "off" if threshold is None else "line+area"},
                              "lineWidth": 1, "fillOpacity": 10, "spanNulls": False}
    return {"id": pid, "type": kind, "title": title, "description": description, "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}} if kind == "timeseries" else {}}


def dashboard(spec: dict, prefix: str = "") -> dict:
    """The dashboard model for ``spec`` (a monitoring.yaml mapping)."""
    name = str(spec.get("name") or "model")
    sel = f"model={alerts.promql_string(name)}"
    p = alerts.MONITOR_PREFIX
    serving = alerts.serving_of(spec)[0]
    p99 = serving.get("max_p99_ms") if alerts._finite(serving.get("max_p99_ms")) else None
    share = serving.get("max_5xx_share") if alerts._finite(serving.get("max_5xx_share")) else None
    perf = [m for m in spec.get("monitors") or [] if (m or {}).get("role") == "performance"]
    floors = [m["minimum"] for m in perf if alerts._finite(m.get("minimum"))]
    period = (spec.get("batch") or {}).get("period", "day")
    seconds = alerts.PERIOD_SECONDS.get(str(period))
    overdue = None if seconds is None else seconds * (1 + alerts.OVERDUE_GRACE)
    req = "playbook_requests_total{path=\"/invocations\"," + INSTANCE + "%s}"
    hist = "playbook_request_latency_seconds_bucket{" + INSTANCE + "}"
    errors = ',status=~"5.."'
    budget = alerts._budget_text(spec)
    panels = [
        _panel(1, "Request rate by status", "POST /invocations requests per second, by HTTP status "
               "(playbook_requests_total).",
               [_target(f"sum by (status) (rate({req % ''}[{RATE}]))", "A", "{{status}}")], (0, 0, 12, 8),
               unit="reqps"),
        _panel(2, "Latency p50 / p95 / p99 (POST /invocations)",
               f"Quantiles of playbook_request_latency_seconds in ms; the line is the p99 gate "
               f"(monitoring.yaml serving.max_p99_ms = {p99 if p99 is None else f'{p99:g}'} ms).",
               [_target(f"histogram_quantile({q}, sum by (le) (rate({hist}[{RATE}]))) * 1000", ref, f"p{label}")
                for q, ref, label in ((0.5, "A", "50"), (0.95, "B", "95"), (0.99, "C", "99"))],
               (12, 0, 12, 8), unit="ms", threshold=p99),
        _panel(3, "5xx share of requests", "Share of POST /invocations answered with a 5xx status; the line is the "
               f"gate of the error-rate alert (monitoring.yaml serving.max_5xx_share).",
               [_target(f"sum(rate({req % errors}[{RATE}])) / sum(rate({req % ''}[{RATE}]))", "A",
                        "5xx share")], (0, 8, 12, 8), unit="percentunit", threshold=share),
        _panel(4, "Contract violations by rule", "Requests refused at the door of the model server, by the rule of "
               "the data contract they broke (playbook_contract_violations_total).",
               [_target(f"sum by (rule) (increase(playbook_contract_violations_total{{{INSTANCE}}}[{RATE}]))", "A",
                        "{{rule}}")], (12, 8, 12, 8), unit="short"),
        _panel(5, "Rows scored per second", "Rows the model server scored (playbook_rows_scored_total).",
               [_target(f"sum(rate(playbook_rows_scored_total{{{INSTANCE}}}[{RATE}]))", "A", "rows/s")],
               (0, 16, 12, 8), unit="short"),
        _panel(6, "Model served", "playbook_model_info of every instance: the model's sha256, the pack and its "
               "verdict. Every instance should serve the model this pack judged.",
               [_target(f"max by (instance, model_sha256, pack, verdict) (playbook_model_info{{{INSTANCE}}})", "A",
                        instant=True)], (12, 16, 12, 8), kind="table"),
        _panel(7, "Drift: statistic / calibrated threshold", "Each monitor's statistic of the last batch divided by "
               f"its threshold in monitoring.yaml ({budget}); above 1 the monitor alarms "
               "(playbook_monitor_statistic, playbook_monitor_threshold).",
               [_target(f'{p}_statistic{{{sel},role!="performance"}} / {p}_threshold{{{sel},role!="performance"}}',
                        "A", "{{monitor}}")],
               (0, 24, 12, 8), unit="short", threshold=1.0),
        _panel(8, "Drift alarms", "Monitors alarming on the last batch, the share of feature columns that drifted, "
               "and whether the batch raised any alert.",
               [_target(f'sum({p}_monitor_alert{{{sel},role!="performance"}})', "A", "monitors alarming"),
                _target(f"{p}_drift_share{{{sel}}}", "B", "drift share"),
                _target(f"{p}_alert{{{sel}}}", "C", "batch alert")], (12, 24, 12, 8), unit="short"),
        _panel(9, "Estimated and realized performance", "The label-free estimate of the last batch and, once labels "
               "arrive, the realized value; the line is the estimated-performance floor of monitoring.yaml."
               + ("" if perf else " This model has no performance monitor (no probability output)."),
               [_target(f"{p}_estimated_roc_auc{{{sel}}}", "A", "estimated ROC AUC"),
                _target(f"{p}_realized_roc_auc{{{sel}}}", "B", "realized ROC AUC"),
                _target(f"{p}_estimated_accuracy{{{sel}}}", "C", "estimated accuracy"),
                _target(f"{p}_realized_accuracy{{{sel}}}", "D", "realized accuracy")],
               (0, 32, 12, 8), unit="short", threshold=min(floors) if floors else None, below=True, decimals=3),
        _panel(10, "Batch alerts by kind", "Alerts of the last batch by kind (contract, drift, performance, stale "
               "model).", [_target(f"{p}_alerts_by_kind{{{sel}}}", "A", "{{kind}}")], (12, 32, 12, 8),
               unit="short"),
        _panel(11, "Time since the last batch", f"Age of the batch monitor's textfile; a batch is due every {period} "
               "(monitoring.yaml batch.period) and the line is when the overdue-batch alert fires.",
               [_target(f"time() - max(node_textfile_mtime_seconds{{file=~"
                        f"{alerts.promql_string(alerts.textfile_pattern(name))}}})", "A", "seconds since the last batch")],
               (0, 40, 12, 8), unit="s", threshold=overdue),
        _panel(12, "Playbook alerts firing", "The alerting rules of this pack (alerts.rules.yml) that fire now.",
               [_target(f'ALERTS{{alertname=~"Playbook.*",alertstate="firing",{sel}}}', "A",
                        "{{alertname}} {{instance}}{{column}}")], (12, 40, 12, 8), unit="short"),
    ]
    return {
        "title": f"Playbook: {name}",
        "uid": uid_for(name),
        "description": f"Serving and batch-monitor metrics of {name}, generated by the readiness playbook from "
                       f"monitoring.yaml (sha256 {alerts.spec_digest(spec)[:16]}); thresholds as in alerts.rules.yml.",
        "tags": ["playbook", name],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "utc",
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "1m",
        "annotations": {"list": []},
        "links": [{"title": "Monitoring step of the evidence pack", "type": "link", "url": f"{prefix}notebook.html",
                   "targetBlank": True}],
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []},
            {"name": "instance", "label": "Model server", "type": "query", "datasource": DATASOURCE,
             "definition": "label_values(playbook_model_info, instance)",
             "query": {"query": "label_values(playbook_model_info, instance)", "refId": "instance"},
             "includeAll": True, "allValue": ".*", "multi": True, "refresh": 2, "sort": 1, "current": {},
             "hide": 0, "options": []},
        ]},
        "panels": panels,
    }


def dashboard_json(spec: dict, prefix: str = "") -> str:
    return json.dumps(dashboard(spec, prefix), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def exprs(dash: dict) -> list[str]:
    """Every PromQL expression of the dashboard's panels."""
    return [t.get("expr", "") for p in dash.get("panels") or [] for t in (p.get("targets") or [])]


def as_promql(expr: str) -> str:
    """The expression Prometheus would receive: Grafana's variables replaced by values they take."""
    return expr.replace(RATE, alerts.RATE_WINDOW).replace("$instance", ".*")


_VALIDATOR = None


def schema_problems(dash: Any) -> list[str]:
    """The first way ``dash`` breaks :data:`DASHBOARD_SCHEMA` (fastjsonschema, compiled once: it imports in a blink,
    where jsonschema's format checkers take seconds), or none."""
    global _VALIDATOR
    import fastjsonschema

    if _VALIDATOR is None:
        _VALIDATOR = fastjsonschema.compile(DASHBOARD_SCHEMA)
    try:
        _VALIDATOR(dash)
    except fastjsonschema.JsonSchemaValueException as exc:
        return [exc.message]
    return []


def validate(dash: Any) -> list[str]:
    """Problems of a dashboard model: the schema, panels that overlap, metrics nobody exports."""
    problems = schema_problems(dash)
    if problems:
        return problems
    cells: dict[tuple[int, int], str] = {}
    for p in dash["panels"]:
        g = p["gridPos"]
        if g["x"] + g["w"] > 24:
            problems.append(f"panel {p['title']!r} is wider than the 24-column grid")
        for x in range(g["x"], min(24, g["x"] + g["w"])):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    problems.append(f"panel {p['title']!r} overlaps {cells[(x, y)]!r}")
                    break
                cells[(x, y)] = p["title"]
            else:
                continue
            break
        for t in p["targets"]:
            for m in alerts.unknown_metrics(t["expr"]):
                problems.append(f"panel {p['title']!r}: {m} is not a metric of playbook serve or playbook monitor")
    return problems


def write_dashboard(spec: dict, folder: str | Path, prefix: str = "") -> Path:
    from playbook.results import write_text_atomic

    return write_text_atomic(Path(folder) / DASHBOARD_FILE, dashboard_json(spec, prefix))
