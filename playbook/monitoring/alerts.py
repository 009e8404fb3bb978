"""Prometheus alerting rules for the deployed model, generated from ``monitoring.yaml``.

The rules watch two sources of metrics:

* the batch monitor: ``playbook monitor`` writes ``playbook_monitor_*`` gauges into a textfile that node_exporter's
  textfile collector exports (:func:`playbook.monitoring.check.prometheus_text`; node_exporter adds
  ``node_textfile_mtime_seconds{file=...}``, which tells when the last batch was judged);
* the model server (``playbook serve``): ``playbook_requests_total{status, path}``,
  ``playbook_request_latency_seconds`` (histogram), ``playbook_rows_scored_total``,
  ``playbook_contract_violations_total{rule}`` and ``playbook_model_info{model_sha256, pack, verdict}``.

Every threshold is read from ``monitoring.yaml`` (the monitors' calibrated thresholds through the textfile's
``playbook_monitor_threshold`` gauge, the label-free performance floor, the labelled floors, the model's shelf
life, the batch period, and the serving gates of its ``serving`` section), never repeated here. The serving
section is written by the monitoring step (:func:`serving_section`): ``max_p99_ms`` is the pack config's
``serving.max_p99_ms`` when the config has one, else :data:`DEFAULT_MAX_P99_MS`; ``max_5xx_share`` is
:data:`DEFAULT_MAX_5XX_SHARE`.

Each rule carries ``labels.severity`` (``critical`` or ``warning``) and ``labels.model``, and the annotations
``summary``, ``description``, ``runbook_url`` (the monitoring step's ``notebook.html`` in the pack, relative to the
pack root), ``check`` (the id of the pack check that evidences the rule) and ``evidence`` (that check's evidence
file, relative to the pack root). The same mapping gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: p99 latency gate of ``POST /invocations`` in milliseconds when the pack config sets no ``serving.max_p99_ms``: the
#: serving step's own default (it warns past it), so the alert and the step judge the same number.
from playbook.serving.step import DEFAULT_P99_MS as DEFAULT_MAX_P99_MS  # noqa: E402
#: Largest share of ``POST /invocations`` requests answered with a 5xx status before the error-rate alert fires.
DEFAULT_MAX_5XX_SHARE = 0.01
#: Window of the serving rates (requests, latency histogram, contract violations).
RATE_WINDOW = "5m"
#: How long the latency and error-rate conditions must hold before they fire (one slow minute is not an incident).
LATENCY_FOR = "10m"
ERRORS_FOR = "5m"
#: A batch is overdue this share of a batch period after the next one was due (1.5 periods after the last one).
OVERDUE_GRACE = 0.5
#: Seconds in a ``batch.period`` of monitoring.yaml.
PERIOD_SECONDS = {"hour": 3600, "day": 86400, "week": 604800}
#: The textfile prefix of ``playbook monitor`` (its ``--metric-prefix`` default) and its default file name.
MONITOR_PREFIX = "playbook_monitor"
MONITOR_TEXTFILE = "playbook_monitor.prom"
#: Name of the rules file in the monitoring step's artifacts.
RULES_FILE = "alerts.rules.yml"

#: Metrics of the model server (``playbook serve``).
SERVING_METRICS = (
    "playbook_requests_total", "playbook_request_latency_seconds_bucket", "playbook_request_latency_seconds_sum",
    "playbook_request_latency_seconds_count", "playbook_rows_scored_total", "playbook_contract_violations_total",
    "playbook_model_info",
)
#: Gauges of the batch monitor's textfile (:func:`playbook.monitoring.check.prometheus_text`) and node_exporter's.
MONITOR_METRICS = tuple(f"{MONITOR_PREFIX}_{n}" for n in (
    "alert", "alerts", "alerts_by_kind", "batch_rows", "drift_share", "statistic", "threshold", "monitor_alert",
    "model_age_days", "estimated_roc_auc", "estimated_accuracy", "realized_roc_auc", "realized_accuracy",
)) + ("node_textfile_mtime_seconds",)
KNOWN_METRICS = frozenset(SERVING_METRICS + MONITOR_METRICS + ("ALERTS",))
#: The alert kinds of ``playbook monitor`` that mean the batch broke its data contract.
CONTRACT_KINDS = ("empty_batch", "missing_columns", "extra_columns", "types", "nulls")
SEVERITIES = ("critical", "warning", "info")
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{")
_ALERT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ServingGateError(ValueError):
    """A serving gate of the pack config is not usable: the message names the key and the fix."""


# -- the serving section of monitoring.yaml ----------------------------------------------------------------------
def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def serving_section(config: Any = None, serving_step: str | Path | None = None, model_sha256: str | None = None) -> dict:
    """The ``serving`` section of monitoring.yaml: the gates the serving alerts use. ``config`` is the pack config
    (its ``serving.max_p99_ms``, when it has one, is the latency gate), or None for the defaults; ``serving_step``
    the serving step's folder in the pack, when it ran (the serving alerts then link its checks); ``model_sha256`` the
    hash of the model the pack evaluated (a server reporting another one is alerted on)."""
    p99 = _get(_get(config, "serving"), "max_p99_ms")
    if p99 is None:
        source = "default: playbook.serving.step.DEFAULT_P99_MS"
        p99 = DEFAULT_MAX_P99_MS
    else:
        if isinstance(p99, bool) or not isinstance(p99, (int, float)) or not math.isfinite(p99) or p99 <= 0:
            raise ServingGateError(f"serving.max_p99_ms: {p99!r} is not a positive number of milliseconds; "
                                   "set it to the p99 latency gate of POST /invocations, e.g. 250.")
        source = "config: serving.max_p99_ms"
    out = {"max_p99_ms": float(p99), "max_p99_ms_source": source, "max_5xx_share": DEFAULT_MAX_5XX_SHARE,
           "max_5xx_share_source": "default: playbook.monitoring.alerts.DEFAULT_MAX_5XX_SHARE"}
    if serving_step is not None:
        out["pack_step"] = Path(serving_step).name
    if isinstance(model_sha256, str) and re.fullmatch(r"[0-9a-f]{64}", model_sha256):
        out["model_sha256"] = model_sha256
    return out


def serving_of(spec: dict) -> tuple[dict, str | None]:
    """The serving gates of a monitoring.yaml mapping; one written before the section existed gets the documented
    defaults (and a note saying so)."""
    if "serving" not in spec:
        return serving_section(None), "monitoring.yaml has no serving section: the documented default gates"
    s = spec.get("serving")
    return (s if isinstance(s, dict) else {}), None


# -- PromQL helpers ----------------------------------------------------------------------------------------------
def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def number(value: float) -> str:
    """A threshold as PromQL writes it: the shortest repr that reads back to the same float."""
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"threshold {value!r} is not a finite number")
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (every selector of the generated expressions has braces)."""
    return set(_SELECTOR.findall(_STRING.sub('""', expr)))


def unknown_metrics(expr: str) -> list[str]:
    return sorted(m for m in metric_names(expr) if m not in KNOWN_METRICS)


def textfile_pattern(name: str) -> str:
    """RE2 pattern of node_exporter's ``file`` label for the batch monitor's textfile: the default name, or
    ``<model name>.prom`` (``playbook monitor --out <dir>/<name>.json``), with or without its folder."""
    names = sorted({re.escape(Path(MONITOR_TEXTFILE).stem), re.escape(str(name))})
    return r"(.*/)?(" + "|".join(names) + r")\.prom"


# -- the rules ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    alert: str
    expr: str
    severity: str
    summary: str
    description: str
    check: str                 # the pack check that evidences it
    evidence: str              # that check's evidence, relative to the step folder
    for_: str | None = None
    prefix: str | None = None  # the folder of the step holding that check (None: the monitoring step's)

    def as_dict(self, prefix: str, model: str) -> dict:
        prefix = prefix if self.prefix is None else self.prefix
        out: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if self.for_:
            out["for"] = self.for_
        out["labels"] = {"severity": self.severity, "model": model}
        out["annotations"] = {"summary": self.summary, "description": self.description,
                              "runbook_url": f"{prefix}notebook.html", "check": self.check,
                              "evidence": f"{prefix}{self.evidence}"}
        return out


def _budget_text(spec: dict) -> str:
    b = spec.get("alert_budget") or {}
    fa, per = b.get("false_alarms"), b.get("per_batches")
    if isinstance(fa, (int, float)) and isinstance(per, (int, float)):
        return f"calibrated to at most {fa:g} false alarm(s) per {per:g} clean batches"
    return "calibrated to the pack's false-alarm budget"


def build_rules(spec: dict, prefix: str = "", root: str | None = None) -> tuple[list[Rule], list[str], list[str]]:
    """The rules ``spec`` (a monitoring.yaml mapping) supports, the problems found (a threshold monitoring.yaml should
    hold and does not), and notes (rules left out because the model has nothing to watch there). ``prefix`` is the
    monitoring step's folder as the links give it; ``root`` the pack's root (None outside a pack): with it, and the
    serving step recorded in monitoring.yaml, the serving alerts link the serving step's checks."""
    name = str(spec.get("name") or "model")
    sel = f"model={promql_string(name)}"
    rules: list[Rule] = []
    problems: list[str] = []
    notes: list[str] = []
    p = MONITOR_PREFIX

    # drift: a monitor's statistic above its calibrated threshold (both from the textfile, at the batch's size)
    if any((m or {}).get("role") in ("feature", "prediction") for m in spec.get("monitors") or []):
        rules.append(Rule(
            "PlaybookDriftAlarm",
            f'{p}_statistic{{{sel},role!="performance"}} > {p}_threshold{{{sel},role!="performance"}}',
            "warning", "Drift on {{ $labels.column }} ({{ $labels.model }})",
            "The batch monitor's {{ $labels.test }} statistic of {{ $labels.monitor }} is {{ $value | printf \"%.4g\" }}, "
            f"above its threshold in monitoring.yaml ({_budget_text(spec)}). Compare the column with the reference "
            "(the upstream job, a unit or encoding change) before retraining.",
            "monitoring.false_alarm_budget_met", "artifacts/calibration.json"))
    else:
        problems.append("monitoring.yaml has no feature or prediction monitor: no drift alarm can be generated")

    # the batch's data contract, as playbook monitor judges it
    kinds = "|".join(CONTRACT_KINDS)
    rules.append(Rule(
        "PlaybookBatchContractViolation", f'{p}_alerts_by_kind{{{sel},kind=~"{kinds}"}} > 0',
        "critical", "Batch breaks the data contract: {{ $labels.kind }} ({{ $labels.model }})",
        "The last batch checked by playbook monitor raised {{ $value | printf \"%.0f\" }} {{ $labels.kind }} alert(s) "
        "against the "
        "data contract in monitoring.yaml. Fix the upstream export before the batch is scored.",
        "monitoring.contract_covers_all_features", "artifacts/monitoring.yaml"))
    # the same contract at the door of the model server
    allow_extra = bool((spec.get("columns") or {}).get("allow_extra"))
    matcher = '{rule!="extra_column"}' if allow_extra else "{}"
    rules.append(Rule(
        "PlaybookServingContractViolations",
        f"sum by (job, instance, rule) (increase(playbook_contract_violations_total{matcher}[{RATE_WINDOW}])) > 0",
        "warning", "Requests break the data contract: {{ $labels.rule }} ({{ $labels.instance }})",
        "{{ $labels.instance }} refused {{ $value | printf \"%.4g\" }} request(s) in the last " + RATE_WINDOW +
        " for {{ $labels.rule }} (the data contract of monitoring.yaml"
        + (", where extra columns are allowed" if allow_extra else "") + "). Find the client that sends them.",
        "monitoring.contract_covers_all_features", "artifacts/monitoring.yaml"))

    # missing batches: no result exported at all, or the last one is older than one period and a grace
    rules.append(Rule(
        "PlaybookMonitorResultMissing", f"absent({p}_batch_rows{{{sel}}})",
        "warning", f"No batch monitor result for {name}",
        "Prometheus has no playbook_monitor_batch_rows series for this model: playbook monitor has not written its "
        "textfile into node_exporter's textfile directory, or node_exporter is not scraped.",
        "monitoring.config_roundtrip", "artifacts/examples/clean.prom"))
    period = (spec.get("batch") or {}).get("period", "day")
    seconds = PERIOD_SECONDS.get(str(period))
    if seconds is None:
        problems.append(f"batch.period {period!r} is not one of {', '.join(PERIOD_SECONDS)}: no overdue-batch alert")
    else:
        overdue = seconds * (1 + OVERDUE_GRACE)
        pattern = promql_string(textfile_pattern(name))
        rules.append(Rule(
            "PlaybookBatchOverdue", f"time() - max by (instance, file) (node_textfile_mtime_seconds{{file=~{pattern}}}) "
            f"> {number(overdue)}",
            "warning", f"Batch overdue for {name}",
            "The batch monitor's textfile {{ $labels.file }} was last written {{ $value | humanizeDuration }} ago; a "
            f"batch is due every {period} (monitoring.yaml batch.period), so at least one batch was not checked. Look "
            "at the job that runs playbook monitor and at the export that feeds it.",
            "monitoring.config_roundtrip", "artifacts/examples/clean.prom"))

    age = spec.get("model_age") or {}
    if age.get("max_age_days") is not None and not _finite(age["max_age_days"]):
        problems.append("model_age.max_age_days of monitoring.yaml is not a finite number: no shelf-life alert")
    elif age.get("max_age_days") is not None:
        rules.append(Rule(
            "PlaybookModelStale", f"{p}_model_age_days{{{sel}}} > {number(age['max_age_days'])}",
            "warning", "Model {{ $labels.model }} is past its shelf life",
            "The newest batch is {{ $value | printf \"%.1f\" }} days past the training cutoff, beyond the "
            f"{age['max_age_days']:g} days after which the measured staleness takes the model below its quality gate "
            "(monitoring.yaml model_age). Retrain on recent data.",
            "monitoring.model_age_alert", "artifacts/monitoring.yaml"))
    else:
        notes.append("no model_age.max_age_days in monitoring.yaml: no shelf-life alert")

    # the model server's latency and errors against the serving gates of monitoring.yaml
    serving, note = serving_of(spec)
    if note:
        notes.append(note)
    step = serving.get("pack_step")
    at = f"{root}steps/{step}/" if root is not None and isinstance(step, str) and step else None

    def link(check: str, evidence: str) -> dict:
        """The serving step's check when it ran in this pack, else the hand-off check of the monitoring step."""
        if at is None:
            return {"check": "monitoring.alert_rules", "evidence": "artifacts/monitoring.yaml"}
        return {"check": check, "evidence": evidence, "prefix": at}
    p99, share = serving.get("max_p99_ms"), serving.get("max_5xx_share")
    if _finite(p99) and p99 > 0:
        rules.append(Rule(
            "PlaybookLatencyP99High",
            f"histogram_quantile(0.99, sum by (job, instance, le) (rate(playbook_request_latency_seconds_bucket{{}}"
            f"[{RATE_WINDOW}]))) * 1000 > {number(p99)}",
            "warning", "p99 latency of POST /invocations above its gate ({{ $labels.instance }})",
            "The p99 latency of POST /invocations on {{ $labels.instance }} is {{ $value | printf \"%.1f\" }} ms over "
            f"the last {RATE_WINDOW}, above the {p99:g} ms gate (monitoring.yaml serving.max_p99_ms, "
            f"{serving.get('max_p99_ms_source', 'unknown source')}). Check the batch sizes clients send, CPU "
            "saturation and the model's size.", for_=LATENCY_FOR, **link("serving.latency.p99", "artifacts/latency.json")))
    else:
        problems.append("monitoring.yaml has no usable serving.max_p99_ms: no latency alert")
    if _finite(share) and 0 < share < 1:
        errors = 'playbook_requests_total{path="/invocations",status=~"5.."}'
        every = 'playbook_requests_total{path="/invocations"}'
        rules.append(Rule(
            "PlaybookHigh5xxRate",
            f"sum by (job, instance) (rate({errors}[{RATE_WINDOW}])) / sum by (job, instance) "
            f"(rate({every}[{RATE_WINDOW}])) > {number(share)}",
            "critical", "POST /invocations fails on {{ $labels.instance }}",
            "{{ $value | humanizePercentage }} of the requests to POST /invocations on {{ $labels.instance }} were "
            f"answered with a 5xx status over the last {RATE_WINDOW} (gate: {share:.2%}, monitoring.yaml "
            "serving.max_5xx_share). Read the server's log: the model failed on input the contract let through, "
            "or the server is out of memory.", for_=ERRORS_FOR,
            **link("serving.resilience.burst", "artifacts/serving.json")))
    else:
        problems.append("monitoring.yaml has no usable serving.max_5xx_share: no error-rate alert")

    sha = serving.get("model_sha256")
    if isinstance(sha, str) and sha:
        rules.append(Rule(
            "PlaybookServedModelMismatch",
            f"playbook_model_info{{pack={promql_string(name)},model_sha256!={promql_string(sha)}}} > 0",
            "critical", "The server on {{ $labels.instance }} serves a model other than the pack's",
            "The server on {{ $labels.instance }} reports model sha256 {{ $labels.model_sha256 }}, not the "
            f"{sha[:12]}... this pack evaluated (monitoring.yaml serving.model_sha256): the model in production is not "
            "the one the evidence is about. Deploy the pack's model, or build a pack for the model deployed.",
            **link("serving.skew", "artifacts/skew.json")))
    else:
        notes.append("no serving.model_sha256 in monitoring.yaml (predictions mode, or an endpoint without a model "
                     "hash): no served-model alert")

    # model quality: the label-free estimate below the performance monitor's floor, the realized one below its own
    perf_monitors = [m for m in spec.get("monitors") or [] if (m or {}).get("role") == "performance"]
    for m in perf_monitors:
        metric, floor = m.get("metric", "roc_auc"), m.get("minimum")
        if metric not in ("roc_auc", "accuracy"):
            notes.append(f"performance monitor {m.get('name')}: the textfile has no gauge for {metric}")
            continue
        if not _finite(floor):
            problems.append(f"performance monitor {m.get('name')} has no finite minimum in monitoring.yaml: "
                            "no estimated-performance alert")
            continue
        rules.append(Rule(
            f"PlaybookEstimated{_camel(metric)}Low", f"{p}_estimated_{metric}{{{sel}}} < {number(floor)}",
            "critical", f"Estimated {metric} of {{{{ $labels.model }}}} below its floor",
            f"The label-free estimate of {metric} on the last batch is {{{{ $value | printf \"%.4g\" }}}}, below the "
            f"floor {floor:.4g} of monitoring.yaml (monitor {m.get('name')}, at the calibrated batch of "
            f"{m.get('batch_size')} rows). Look at the drifted inputs; get labels for the recent batches to confirm.",
            "monitoring.performance_estimation_error", "artifacts/current_estimates.csv"))
    if not perf_monitors:
        notes.append("no performance monitor in monitoring.yaml (no probability output): no estimated-performance "
                     "alert")
    labeled = (spec.get("performance") or {}).get("labeled") or {}
    for metric in ("roc_auc", "accuracy"):
        floor = (labeled.get(metric) or {}).get("min")
        if _finite(floor):
            rules.append(Rule(
                f"PlaybookRealized{_camel(metric)}Low", f"{p}_realized_{metric}{{{sel}}} < {number(floor)}",
                "critical", f"Realized {metric} of {{{{ $labels.model }}}} below its floor",
                f"On the last labelled batch {metric} is {{{{ $value | printf \"%.4g\" }}}}, below the floor {floor:.4g} "
                "of monitoring.yaml (performance.labeled). The model needs attention: look at the drifted inputs, "
                "then consider retraining.",
                "monitoring.performance_estimation_error", "artifacts/monitoring.yaml"))
    return rules, problems, notes


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _camel(metric: str) -> str:
    return {"roc_auc": "RocAuc", "accuracy": "Accuracy"}.get(metric, metric.title().replace("_", ""))


def rules_document(spec: dict, prefix: str = "", root: str | None = None) -> dict:
    """The Prometheus rule file as a mapping: one group named after the model."""
    rules, _, _ = build_rules(spec, prefix, root)
    name = str(spec.get("name") or "model")
    return {"groups": [{"name": f"playbook.{name}", "rules": [r.as_dict(prefix, name) for r in rules]}]}


def validate(doc: Any) -> list[str]:
    """Problems of a rule file mapping: what Prometheus needs plus this project's conventions (a severity, the
    annotations, unique names, metrics that the server or the monitor export). ``promtool check rules`` is the
    authority on the PromQL; the tests run it."""
    problems: list[str] = []
    groups = (doc or {}).get("groups") if isinstance(doc, dict) else None
    if not isinstance(groups, list) or not groups:
        return ["no rule groups"]
    seen: set[str] = set()
    for g in groups:
        for i, r in enumerate((g or {}).get("rules") or []):
            name = str((r or {}).get("alert") or "")
            where = f"rule {i} ({name or 'unnamed'})"
            if not _ALERT_NAME.match(name):
                problems.append(f"{where}: alert name must be letters, digits and underscores")
            if name in seen:
                problems.append(f"{where}: alert name appears twice")
            seen.add(name)
            expr = r.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.append(f"{where}: no expr")
            else:
                for m in unknown_metrics(expr):
                    problems.append(f"{where}: {m} is not a metric of playbook serve or playbook monitor")
                if re.search(r"\b(nan|inf)\b", _STRING.sub('""', expr), re.IGNORECASE):
                    problems.append(f"{where}: a threshold is not a finite number")
            if ((r.get("labels") or {}).get("severity")) not in SEVERITIES:
                problems.append(f"{where}: labels.severity must be one of {', '.join(SEVERITIES)}")
            ann = r.get("annotations") or {}
            for key in REQUIRED_ANNOTATIONS:
                if not str(ann.get(key) or "").strip():
                    problems.append(f"{where}: annotations.{key} is missing")
    return problems


HEADER = """\
# Prometheus alerting rules written by the readiness playbook's monitoring step from monitoring.yaml
# (sha256 {sha}). Every threshold comes from that file; regenerate, do not edit.
# Load with `rule_files: [{name}]` in prometheus.yml; check with `promtool check rules {name}`.
# runbook_url and evidence are paths inside the evidence pack: prefix them with the URL where the pack is published.
"""


def spec_digest(spec: dict) -> str:
    """sha256 of the mapping's canonical JSON: names the monitoring.yaml the files were generated from."""
    text = json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rules_yaml(spec: dict, prefix: str = "", root: str | None = None) -> str:
    """The rule file's text (deterministic: the same mapping gives the same bytes)."""
    body = yaml.safe_dump(rules_document(spec, prefix, root), sort_keys=False, allow_unicode=True, width=120)
    return HEADER.format(sha=spec_digest(spec)[:16], name=RULES_FILE) + body


def write_rules(spec: dict, folder: str | Path, prefix: str = "", root: str | None = None) -> Path:
    from playbook.results import write_text_atomic

    return write_text_atomic(Path(folder) / RULES_FILE, rules_yaml(spec, prefix, root))
