"""Shared by the alerting-rule and dashboard tests: a monitoring.yaml mapping, and Prometheus' promtool (Debian
package `prometheus`). Without promtool the tests that need it skip, except when PLAYBOOK_REQUIRE_PROMTOOL=1 (CI
sets it): then they fail."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from playbook.monitoring import alerts

NAME = "credit-risk"
PREFIX = "steps/04_monitoring_setup/"
MODEL_SHA = "5e" * 32


def make_spec(**changes) -> dict:
    """A monitoring.yaml mapping with every section the rules read (values as the monitoring step writes them)."""
    spec = {
        "schema": "playbook.monitoring", "schema_version": 1, "name": NAME, "task": "binary",
        "batch": {"size": 200, "period": "day", "size_range": [50, 800]},
        "alert_budget": {"false_alarms": 1, "per_batches": 30, "alpha": 1 / 30},
        "columns": {"allow_extra": False, "ignore": []},
        "monitors": [
            {"name": "duration", "column": "duration", "role": "feature", "test": "binned_ks", "threshold": 0.14,
             "batch_size": 200},
            {"name": "purpose", "column": "purpose", "role": "feature", "test": "chi2", "threshold": 0.2,
             "batch_size": 200},
            {"name": "estimated_roc_auc", "column": "score", "role": "performance", "test": "cbpe_roc_auc",
             "metric": "roc_auc", "threshold": 0.0512, "center": 0.7812, "minimum": 0.73, "batch_size": 200},
        ],
        "performance": {"labeled": {"roc_auc": {"min": 0.6125, "expected": 0.75},
                                    "accuracy": {"min": 0.625, "expected": 0.74}}},
        "serving": alerts.serving_section(None, model_sha256=MODEL_SHA),
        "model_age": {"timestamp_column": "applied_at", "trained_until": "2024-12-31", "max_age_days": 120.5},
    }
    spec.update(changes)
    return spec


def promtool() -> str:
    path = shutil.which("promtool")
    if path:
        return path
    message = "promtool is not installed (apt-get install prometheus)"
    if os.environ.get("PLAYBOOK_REQUIRE_PROMTOOL") == "1":
        pytest.fail(message + "; PLAYBOOK_REQUIRE_PROMTOOL=1 requires it")
    pytest.skip(message)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def check_exprs(exprs: list[str], folder: Path) -> subprocess.CompletedProcess:
    """`promtool check rules` on a rule file holding each expression as a recording rule: every one must parse."""
    doc = {"groups": [{"name": "exprs", "rules": [{"record": f"check:expr_{i}", "expr": e}
                                                    for i, e in enumerate(exprs)]}]}
    path = Path(folder) / "exprs.rules.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    return run("check", "rules", str(path))
