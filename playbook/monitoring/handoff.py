"""The observability hand-off: the alerting rules and the Grafana dashboard written beside ``monitoring.yaml``.

:func:`playbook.monitoring.spec.save_spec` calls :func:`on_spec_saved` after it writes ``monitoring.yaml``: when the
file is in the artifacts folder of a step being recorded (:func:`playbook.results.step_owning`), the rules
(``alerts.rules.yml``) and the dashboard (``grafana_dashboard.json``) are written beside it and their checks,
``monitoring.alert_rules`` and ``monitoring.grafana_dashboard``, are recorded on that step, as the step's other
checks are (through :meth:`playbook.results.Step.add_checks`). A monitoring.yaml written anywhere else (a
temporary folder, a test) gets neither.

To regenerate them from a pack's monitoring.yaml (the same bytes), or with absolute links to a published pack::

    python -m playbook.monitoring.handoff evidence/german-credit/steps/04_monitoring_setup/artifacts/monitoring.yaml \\
        --out ops/ [--pack-url https://packs.example.com/german-credit/]

Exit 0 when both files are valid, 1 when a check found a problem, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playbook import catalogue
from playbook.monitoring import alerts, grafana


def rules_check(spec: dict, prefix: str = "", root: str | None = None,
                evidence: str = f"artifacts/{alerts.RULES_FILE}") -> dict:
    """``monitoring.alert_rules``: the rules monitoring.yaml supports were generated and each is complete (a
    severity, summary, description and runbook link; a finite threshold; a metric the server or the monitor
    exports). Fails with the problems named."""
    rules, problems, notes = alerts.build_rules(spec, prefix, root)
    problems = problems + alerts.validate(alerts.rules_document(spec, prefix, root))
    names = ", ".join(r.alert for r in rules)
    left = f" Not generated: {'; '.join(notes)}." if notes else ""
    if problems:
        why = (f"{len(problems)} problem(s) in the alerting rules: {'; '.join(problems[:4])}. Regenerate "
               "monitoring.yaml with the monitoring step before handing the rules to operations." + left)
    else:
        why = (f"{len(rules)} Prometheus alerting rules ({names}) with their thresholds read from monitoring.yaml, a "
               "severity, a summary, a description and a runbook link to this step: load "
               f"{alerts.RULES_FILE} into Prometheus (docs/operations.md)." + left)
    return catalogue.check("monitoring.alert_rules", "fail" if problems else "pass", len(problems),
                           title="Prometheus alerting rules generated from monitoring.yaml",
                           threshold={"max": 0, "rules": len(rules)}, evidence=evidence, why=why)


def dashboard_check(spec: dict, prefix: str = "", evidence: str = f"artifacts/{grafana.DASHBOARD_FILE}") -> dict:
    """``monitoring.grafana_dashboard``: the dashboard model passes its schema, no panels overlap and every query
    reads a metric the server or the monitor exports."""
    dash = grafana.dashboard(spec, prefix)
    problems = grafana.validate(dash)
    if problems:
        why = (f"{len(problems)} problem(s) in the Grafana dashboard: {'; '.join(problems[:4])}. Do not import it "
               "as it stands.")
    else:
        why = (f"{len(dash['panels'])} panels ({', '.join(p['title'] for p in dash['panels'][:3])}, ...) over the "
               "serving and batch-monitor metrics, thresholds as in the alerting rules: import "
               f"{grafana.DASHBOARD_FILE} into Grafana (docs/operations.md).")
    return catalogue.check("monitoring.grafana_dashboard", "fail" if problems else "pass", len(problems),
                           title="Grafana dashboard for the serving and monitor metrics",
                           threshold={"max": 0, "panels": len(dash["panels"])}, evidence=evidence, why=why)


def write(spec: dict, folder: str | Path, prefix: str = "", root: str | None = None) -> tuple[list[Path], list[dict]]:
    """Write the rules and the dashboard into ``folder``; return their paths and their two checks. ``prefix`` is how
    the links reach the monitoring step's folder, ``root`` the pack's root (None outside a pack)."""
    paths = [alerts.write_rules(spec, folder, prefix, root), grafana.write_dashboard(spec, folder, prefix)]
    return paths, [rules_check(spec, prefix, root), dashboard_check(spec, prefix)]


def pack_links(step_dir: Path, root: str = "") -> tuple[str, str | None]:
    """``(prefix, root)`` of the links from a step folder: in a pack (``<pack>/steps/NN_name``) the folder from the
    pack's root (``root`` + ``steps/NN_name/``) and the root; outside a pack, the folder itself and no root."""
    step_dir = Path(step_dir)
    if step_dir.parent.name == "steps":
        return f"{root}steps/{step_dir.name}/", root
    return root, None


def on_spec_saved(spec: dict, path: Path) -> list[Path]:
    """After monitoring.yaml was written to ``path``: in a step's artifacts folder, write the hand-off files beside
    it and record their checks on that step. Elsewhere, nothing."""
    from playbook.results import step_owning

    step = step_owning(path)
    if step is None or Path(path).resolve().parent != step.artifacts_dir:
        return []
    paths, checks = write(spec, step.artifacts_dir, *pack_links(step.dir))
    step.add_checks(checks)
    return paths


def main(argv: list[str] | None = None) -> int:
    from playbook.monitoring.spec import MonitoringConfigError, load_spec

    parser = argparse.ArgumentParser(prog="python -m playbook.monitoring.handoff",
                                     description="Write the Prometheus alerting rules and the Grafana dashboard "
                                                 "for a monitoring.yaml.")
    parser.add_argument("config", metavar="MONITORING_YAML")
    parser.add_argument("--out", required=True, metavar="FOLDER", help="where alerts.rules.yml and "
                        "grafana_dashboard.json go")
    parser.add_argument("--pack-url", default="", help="the URL where the pack is published (its root): the runbook "
                        "and evidence links become absolute")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.config).raw
    except MonitoringConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        root = args.pack_url + ("/" if args.pack_url and not args.pack_url.endswith("/") else "")
        step_dir = Path(args.config).resolve().parent
        step_dir = step_dir.parent if step_dir.name == "artifacts" else step_dir
        paths, checks = write(spec, args.out, *pack_links(step_dir, root))
    except OSError as exc:
        print(f"error: --out {args.out}: cannot write there ({exc.strerror}); pass a writable folder.",
              file=sys.stderr)
        return 2
    for c in checks:
        print(f"{c['status'].upper():5} {c['id']}: {c['why']}")
    for p in paths:
        print(f"wrote {p}")
    return 1 if any(c["status"] == "fail" for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
