"""The monitoring template on small parameters, `playbook monitor` on its monitoring.yaml, and the Evidently UI
smoke test on its workspace."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import execute
from tests.params import small

# three faults, one of each kind the checks below name (a drift, a schema break, a blind spot); thresholds fitted on
# more bootstrap batches than the shared pack's (the quiet clean days asserted below need them); four days
SMALL = small("monitoring_setup", replicates=5000, timeline_days=4,
              shifts=["mean_shift", "dropped_column", "concept_drift"])


@pytest.fixture(scope="module")
def step(tmp_path_factory):
    """One run of templates/04_monitoring_setup.ipynb on the bundled data, shared by the tests below."""
    folder = tmp_path_factory.mktemp("pack") / "steps" / "04_monitoring_setup"
    results = execute("04_monitoring_setup.ipynb", folder, **SMALL)
    return {"dir": folder, "results": results}


def _checks(results: dict) -> dict:
    return {c["id"]: c for c in results["checks"]}


def test_template_records_the_monitoring_checks(step):
    res = step["results"]
    checks = _checks(res)
    assert res["step"] == "monitoring_setup"
    for cid in ("monitoring.contract_covers_all_features",
                "monitoring.config_roundtrip", "monitoring.current_batches_alert_rate",
                "monitoring.detects_within_days.mean_shift", "monitoring.detects_within_days.dropped_column",
                "monitoring.timeline_detection", "monitoring.dashboard_written",
                "monitoring.performance_estimation_error"):
        assert checks[cid]["status"] == "pass", checks[cid]
    # 700 reference rows leave 210 clean held-out rows: one disjoint batch of 200, too few to measure a 3.3% rate
    budget = checks["monitoring.false_alarm_budget_met"]
    assert budget["status"] == "warn" and "too little held-out data to measure" in budget["inconclusive"]
    assert budget["threshold"]["max"] == pytest.approx(1 / 30) and budget["threshold"]["batches"] == 1
    # concept drift leaves the inputs unchanged: an honest blind spot for unlabeled monitors
    concept = checks["monitoring.detects_within_days.concept_drift"]
    assert concept["status"] == "warn" and "labels" in concept["why"]
    assert res["metrics"]["clean_batch_alerts.evidently_defaults"] > res["metrics"]["clean_batch_alerts.calibrated"]
    assert res["info"]["split"]["calibration_rows"] == 490 and res["info"]["split"]["clean_holdout_rows"] == 210
    assert res["metrics"]["detection_power.no_drift"] < 0.1
    for c in res["checks"]:
        assert c["why"] and c["evidence"]


def test_template_writes_the_deployable_artifacts(step):
    arts = set(step["results"]["artifacts"])
    for a in ("monitoring.yaml", "calibration.json", "detection_power.csv", "timeline.csv", "timeline.png",
              "current_replay.csv", "examples/clean.json", "examples/clean.prom", "examples/unit_change.json"):
        assert f"artifacts/{a}" in arts
    snapshots = [a for a in arts if a.startswith("artifacts/evidently_workspace/") and "/snapshots/" in a]
    assert len(snapshots) == SMALL["timeline_days"]
    clean = json.loads((step["dir"] / "artifacts/examples/clean.json").read_text())
    faulty = json.loads((step["dir"] / "artifacts/examples/unit_change.json").read_text())
    assert clean["exit_code"] == 0 and faulty["exit_code"] == 1
    timeline = pd.read_csv(step["dir"] / "artifacts/timeline.csv")
    clean = timeline[timeline["day"] < SMALL["timeline_onset"]]
    drifted = timeline[timeline["day"] >= SMALL["timeline_onset"]]
    assert (drifted["status"] == "alert").all()
    # clean days may raise a false alarm now and then (the budget allows 1 in 30), not a wall of them
    assert (clean["status"] == "alert").sum() <= 1
    assert drifted["drift_share"].min() > 3 * clean["drift_share"].max()


def test_playbook_monitor_on_the_templates_config(step, tmp_path):
    """`python -m playbook monitor` on held-out rows: healthy; after a unit change and a dropped column: alert."""
    import playbook
    from playbook.modeling import get_model

    ctx = playbook.load_context("")
    model = get_model(ctx)
    batch = ctx.current.iloc[:200].drop(columns=[ctx.target]).copy()
    batch["score"] = model.positive_proba(batch)
    config = step["dir"] / "artifacts" / "monitoring.yaml"
    cases = {"good": (batch, 0, "HEALTHY"),
             "dropped": (batch.drop(columns=["credit_amount"]), 1, "missing from the batch: credit_amount")}
    for name, (frame, code, needle) in cases.items():
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        proc = subprocess.run([sys.executable, "-m", "playbook", "monitor", "--config", str(config),
                               "--current", str(path), "--out", str(tmp_path / name)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == code, proc.stdout + proc.stderr
        assert needle in proc.stdout
        assert (tmp_path / name / "playbook_monitor.prom").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, data: bytes | None = None, timeout: float = 5.0):
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode())


def test_evidently_ui_serves_the_workspace(step):
    """Start `evidently ui` on the step's workspace (loopback, free port), check it lists the project and
    serves the drift-share series of every simulated day, then stop it."""
    cli = shutil.which("evidently", path=str(Path(sys.executable).parent)) or shutil.which("evidently")
    assert cli, "the evidently command-line tool is not installed"
    workspace = step["dir"] / "artifacts" / "evidently_workspace"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([cli, "ui", "--workspace", str(workspace), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        version = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                version = _get(f"{base}/api/version", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        assert version is not None, f"evidently ui did not answer on {base}"
        projects = _get(f"{base}/api/projects")
        mine = [p for p in projects if p["name"].endswith(": production monitor")]
        assert len(mine) == 1, projects
        query = {"series_filter": [{"tags": [], "metadata": {}, "metric": "evidently:metric_v2:DriftedColumnsCount",
                                    "metric_labels": {"value_type": "share"}}]}
        series = _get(f"{base}/api/v2/snapshots/{mine[0]['id']}/data_series_batch", json.dumps(query).encode())
        values = series["series"][0]["values"]
        assert len(values) == SMALL["timeline_days"]
        onset = SMALL["timeline_onset"]
        assert min(values[onset - 1:]) > 3 * max(values[: onset - 1])   # drift shows from the onset day
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_workspace_survives_malformed_days(step, tmp_path):
    """A day with a dropped column, one with numbers as text and no labels, one without the model output."""
    import datetime as dt

    import playbook
    from playbook.drift.shifts import apply
    from playbook.modeling import get_model
    from playbook.monitoring.dashboard import Day, build_workspace, list_projects
    from playbook.monitoring.spec import load_spec

    spec = load_spec(step["dir"] / "artifacts" / "monitoring.yaml")
    ctx = playbook.load_context("")
    model = get_model(ctx)
    ref = ctx.reference.assign(score=model.positive_proba(ctx.reference))
    base = ctx.current.head(120).assign(score=lambda f: model.positive_proba(f))
    dropped, _ = apply("dropped_column", base, 1.0, roles=ctx.roles, seed=0)
    as_text, _ = apply("type_change", base, 0.5, roles=ctx.roles, seed=0)
    frames = [dropped, as_text.assign(**{ctx.target: None}), base.drop(columns=["score"])]
    days = [Day(dt.date(2025, 1, 1) + dt.timedelta(days=i), f, f"case {i}") for i, f in enumerate(frames)]
    info = build_workspace(tmp_path / "ws", name="robust", monitors=spec.monitors, reference=ref, days=days,
                           features=list(ctx.features), numeric=list(ctx.numeric_features), score="score",
                           target=ctx.target, positive_label=ctx.positive_label, calibrator=spec.calibrator)
    assert list_projects(tmp_path / "ws") == [{"id": info["project_id"], "name": "robust: production monitor",
                                                "snapshots": 3}]


def _snapshot_drift(path: Path) -> dict:
    """Per snapshot file: the dashboard's per-column statistic and threshold, and its count of drifted columns."""
    d = json.loads(path.read_text())
    stats, thresholds, count = {}, {}, None
    for v in d["metric_results"].values():
        params = v["metric_value_location"]["metric"]["params"]
        if params["type"].endswith("DriftedColumnsCount"):
            thresholds = params["per_column_threshold"]
            count = v["count"]["value"]
        elif params["type"].endswith("ValueDrift"):
            stats[params["column"]] = v["value"]
    return {"name": d["name"], "stats": stats, "thresholds": thresholds, "count": count}


def test_dashboard_days_replay_through_playbook_monitor_with_the_same_decisions(step, tmp_path):
    """Days of other sizes than the calibrated batch, with missing values and a shifted column: each day's
    thresholds, statistics and drifted-column count in the dashboard equal `playbook monitor`'s decisions."""
    import datetime as dt

    import playbook
    from playbook.drift.shifts import apply
    from playbook.modeling import get_model
    from playbook.monitoring.check import check_batch
    from playbook.monitoring.dashboard import Day, build_workspace
    from playbook.monitoring.spec import load_spec

    spec = load_spec(step["dir"] / "artifacts" / "monitoring.yaml")
    ctx = playbook.load_context("")
    model = get_model(ctx)
    ref = ctx.reference.assign(score=model.positive_proba(ctx.reference))
    cur = ctx.current.assign(score=model.positive_proba(ctx.current))
    missing, _ = apply("missing_mcar", cur.head(250), 0.5, roles=ctx.roles, seed=1)
    shifted, _ = apply("mean_shift", cur.head(90), 1.0, roles=ctx.roles, seed=2)
    frames = [cur.head(60), missing, shifted, cur]   # 60, 250, 90 and 300 rows; calibrated for one size
    days = [Day(dt.date(2025, 2, 1) + dt.timedelta(days=i), f, f"day {i}") for i, f in enumerate(frames)]
    info = build_workspace(tmp_path / "ws", name="replay", monitors=spec.monitors, reference=ref, days=days,
                           features=list(ctx.features), numeric=list(ctx.numeric_features), score="score",
                           target=ctx.target, positive_label=ctx.positive_label, calibrator=spec.calibrator)
    files = {s["id"]: s for s in info["snapshots"]}
    snaps = sorted((tmp_path / "ws").glob("*/snapshots/*.json"))
    assert len(snaps) == len(frames)
    for path in snaps:
        shown = _snapshot_drift(path)
        day = files[path.stem]["day"] - 1
        res = check_batch(spec, frames[day])
        dist = {m.column: m.name for m in spec.monitors if type(m).__name__ == "DistributionMonitor"}
        checked = {e["column"]: e for e in res["monitors"]
                   if dist.get(e["column"]) == e["name"] and e["column"] in shown["thresholds"]}
        assert checked, shown["name"]
        for col, m in checked.items():
            assert shown["thresholds"][col] == pytest.approx(m["threshold"], rel=1e-9), (shown["name"], col)
            assert shown["stats"][col] == pytest.approx(m["statistic"], rel=1e-9, abs=1e-12), (shown["name"], col)
        assert shown["count"] == sum(bool(m["alert"]) for m in checked.values()), shown["name"]
