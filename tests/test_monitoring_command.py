"""`playbook monitor` end to end: good, drifted and malformed batches; exit codes, messages, output files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from playbook.audit.contract import build_contract
from playbook.data import Roles
from playbook.monitoring.calibrate import DistributionMonitor, EstimatedPerformanceMonitor, RangeMonitor, calibrate
from playbook.monitoring.check import BatchInputError, align_labels, check_batch, prometheus_text, read_batch
from playbook.monitoring.performance import fit_calibrator
from playbook.monitoring.setup import labeled_floors
from playbook.monitoring.spec import build_spec, load_spec, save_spec
from playbook.monitoring.stats import ColumnProfile

ALPHA = 1 / 30
FEATURES = ["amount", "age", "city", "flag"]
NUMERIC = ["amount", "age"]
BATCH = 120


def make(n: int, seed: int, drift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = np.round(np.exp(rng.normal(7 + drift, 0.6, n)), 2)
    age = rng.integers(18, 80, n)
    city = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
    flag = rng.choice(["yes", "no"], n, p=[0.8, 0.2])
    logit = -1.0 + 0.8 * (np.log(amount) - 7) / 0.6 - 0.02 * (age - 45) + (city == "west") * 0.8
    p = 1 / (1 + np.exp(-logit))
    label = (rng.random(n) < p).astype(int)
    score = np.clip(p + rng.normal(0, 0.03, n), 0.001, 0.999)
    return pd.DataFrame({"amount": amount, "age": age, "city": city, "flag": flag, "score": score, "label": label})


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("monitor")
    ref = make(3000, 0)
    roles = Roles(target="label", task="binary", features=FEATURES, numeric=NUMERIC,
                  categorical=["city", "flag"], positive_label=1, classes=[0, 1], probability="score")
    contract = build_contract(ref, roles)
    calib = fit_calibrator(ref["score"], ref["label"], "auto")
    mons = [DistributionMonitor(ColumnProfile.build(ref[c], "numeric" if c in NUMERIC else "categorical"))
            for c in FEATURES]
    mons += [RangeMonitor.build(ref[c]) for c in NUMERIC]
    mons.append(DistributionMonitor(ColumnProfile.build(ref["score"], "numeric"), role="prediction"))
    mons.append(EstimatedPerformanceMonitor("score", calib))
    cal = calibrate(mons, ref, BATCH, ALPHA, replicates=3000, holdout=500, seed=0)
    perf = {"calibrator": calib.to_dict(), "label_column": "label",
            "labeled": labeled_floors(ref["label"], ref["score"], BATCH, ALPHA, replicates=2000)}
    spec = build_spec(name="toy-model", task="binary", target="label", positive_label=1, classes=[0, 1],
                      reference_rows=len(ref), reference_fingerprint=contract["reference_fingerprint"],
                      batch_size=BATCH, false_alarms=1, per_batches=30, calibration=cal, contract=contract,
                      monitors=mons, prediction={"column": "score", "kind": "probability", "decision_threshold": 0.5},
                      performance=perf)
    return save_spec(spec, folder / "monitoring.yaml")


def monitor(*args: str, module: str = "playbook") -> subprocess.CompletedProcess:
    """Run the command in a fresh process: ``python -m playbook monitor ...`` (or the module itself)."""
    cmd = [sys.executable, "-m", module] + (["monitor"] if module == "playbook" else [])
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120)


def monitor_inprocess(capsys, *args: str) -> subprocess.CompletedProcess:
    """The same command in this process (argument parsing, checks, output and exit code), for the many
    malformed-input cases; a handful of cases above run in a real subprocess."""
    from playbook.cli import main

    try:
        code = main(["monitor", *args])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def good_batch() -> pd.DataFrame:
    return make(BATCH, 101)


# -- the library ------------------------------------------------------------------------------------------
def test_good_batch_is_healthy(config):
    spec = load_spec(config)
    batch = good_batch()
    res = check_batch(spec, batch.drop(columns="label"), batch["label"])
    assert res["status"] == "healthy", res["alerts"]
    assert res["exit_code"] == 0 and res["drift_share"] == 0
    est, real = res["performance"]["estimated"], res["performance"]["realized"]
    assert 0.5 < est["roc_auc"] < 1 and 0.5 < real["roc_auc"] < 1
    assert res["performance"]["estimation_error"]["roc_auc"] == pytest.approx(est["roc_auc"] - real["roc_auc"])


@pytest.mark.parametrize("mutate, kind, needle", [
    (lambda b: b.drop(columns=["age"]), "missing_columns", "age"),
    (lambda b: b.assign(new_col=1), "extra_columns", "new_col"),
    (lambda b: b.assign(age=b["age"].astype(str).where(b.index % 2 == 0, "unknown")), "types", "age"),
    (lambda b: b.assign(city=b["city"].where(b.index % 3 != 0, None)), "nulls", "city"),
    (lambda b: b.assign(amount=b["amount"] * 100), "drift", "amount"),
    (lambda b: b.assign(amount=b["amount"].where(b.index % 20 != 0, b["amount"] * 1000)), "drift", "outside the reference range"),
    (lambda b: b.assign(age=b["age"].astype(str)), "types", "stored as text"),
    (lambda b: b.iloc[0:0], "empty_batch", "no rows"),
])
def test_malformed_and_drifted_batches_alert_with_a_clear_message(config, mutate, kind, needle):
    spec = load_spec(config)
    res = check_batch(spec, mutate(good_batch().drop(columns="label")))
    assert res["status"] == "alert" and res["exit_code"] == 1
    kinds = [a["kind"] for a in res["alerts"]]
    assert kind in kinds, res["alerts"]
    msg = next(a["message"] for a in res["alerts"] if a["kind"] == kind)
    assert needle in msg


def test_performance_alert_when_labels_show_a_broken_model(config):
    spec = load_spec(config)
    batch = good_batch()
    flipped = 1 - batch["label"]                     # the model now ranks backwards
    res = check_batch(spec, batch.drop(columns="label"), flipped)
    assert "performance" in [a["kind"] for a in res["alerts"]]


def test_uninformative_scores_raise_the_label_free_estimate_alert(config):
    spec = load_spec(config)
    batch = good_batch().drop(columns="label")
    batch["score"] = 0.3
    kinds = [a["kind"] for a in check_batch(spec, batch)["alerts"]]
    assert "estimated_performance" in kinds and "drift" in kinds


def test_labels_are_aligned_by_row_order_or_rejected(config):
    spec = load_spec(config)
    batch = good_batch()
    y = align_labels(spec, batch.drop(columns="label"), batch[["label"]])
    assert (y.to_numpy() == batch["label"].to_numpy()).all()
    with pytest.raises(BatchInputError, match="labels for"):
        align_labels(spec, batch, batch[["label"]].head(5))


def test_prometheus_text_format(config):
    spec = load_spec(config)
    text = prometheus_text(check_batch(spec, good_batch()))
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\} '
                        r'(-?[0-9.e+-]+|NaN|[+-]Inf)$')
    names = set()
    for line in text.strip().splitlines():
        if line.startswith("# HELP") or line.startswith("# TYPE"):
            names.add(line.split()[2])
            continue
        assert sample.match(line), line
        assert line.split("{")[0] in names
    assert 'playbook_monitor_alert{model="toy-model"} 0' in text
    assert 'playbook_monitor_threshold{model="toy-model",monitor="amount"' in text


# -- the command ----------------------------------------------------------------------------------------
def test_command_good_batch_exit_0_writes_json_and_prom(config, tmp_path):
    batch = tmp_path / "batch.csv"
    good_batch().drop(columns="label").to_csv(batch, index=False)
    labels = tmp_path / "labels.csv"
    good_batch()[["label"]].to_csv(labels, index=False)
    out = tmp_path / "out"
    proc = monitor("--config", str(config), "--current", str(batch), "--labels", str(labels), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HEALTHY" in proc.stdout
    res = json.loads((out / "monitor_result.json").read_text())
    assert res["status"] == "healthy" and res["performance"]["realized"]["rows"] == BATCH
    prom = (out / "playbook_monitor.prom").read_text()
    assert "# TYPE playbook_monitor_alert gauge" in prom
    assert "playbook_monitor_realized_roc_auc" in prom


def test_command_drifted_parquet_batch_exit_1(config, tmp_path):
    b = good_batch().drop(columns="label")
    b["amount"] = b["amount"] * 100
    path = tmp_path / "batch.parquet"
    b.to_parquet(path)
    proc = monitor("--config", str(config), "--current", str(path), "--out", str(tmp_path / "r.json"),
                   module="playbook.monitoring.command")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ALERT [drift]" in proc.stdout and "'amount' drifted" in proc.stdout
    assert json.loads((tmp_path / "r.json").read_text())["drifted_columns"] == ["amount"]
    assert (tmp_path / "r.prom").exists()


@pytest.mark.parametrize("content, needle", [
    ("amount,age,city,flag,score\n", "no rows"),                  # header only
    ("", "no rows"),                                              # zero bytes
    ("amount,city,flag,score\n12.5,north,yes,0.2\n", "missing"),  # a missing column
    ("amount,age,city,flag,score,extra\n12.5,30,north,yes,0.2,1\n", "extra"),
    ("amount,age,city,flag,score\nabc,30,north,yes,0.2\n", "wrong type"),
])
def test_command_malformed_batches_alert_not_crash(config, tmp_path, capsys, content, needle):
    path = tmp_path / "batch.csv"
    path.write_text(content)
    proc = monitor_inprocess(capsys, "--config", str(config), "--current", str(path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert needle in proc.stdout


@pytest.mark.parametrize("which, needle", [
    ("config-missing", "--config"),
    ("config-bad", "schema"),
    ("batch-missing", "--current"),
    ("batch-format", "neither CSV nor parquet"),
    ("labels-misaligned", "--labels"),
])
def test_command_bad_input_exit_2_with_one_sentence(config, tmp_path, capsys, which, needle):
    batch = tmp_path / "batch.csv"
    good_batch().drop(columns="label").to_csv(batch, index=False)
    args = ["--config", str(config), "--current", str(batch)]
    if which == "config-missing":
        args[1] = str(tmp_path / "nope.yaml")
    elif which == "config-bad":
        bad = tmp_path / "pack.yaml"
        bad.write_text("data: {reference: a.csv}\n")
        args[1] = str(bad)
    elif which == "batch-missing":
        args[3] = str(tmp_path / "nope.csv")
    elif which == "batch-format":
        other = tmp_path / "batch.xlsx"
        other.write_text("x")
        args[3] = str(other)
    elif which == "labels-misaligned":
        labels = tmp_path / "labels.csv"
        pd.DataFrame({"label": [0, 1, 0]}).to_csv(labels, index=False)
        args += ["--labels", str(labels)]
    proc = monitor_inprocess(capsys, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    err = proc.stderr.strip()
    assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1


def test_read_batch_keeps_empty_files_as_empty_frames(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("a,b\n")
    assert read_batch(p).shape == (0, 2)


def test_command_in_a_fresh_process_empty_batch_and_bad_config(config, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("amount,age,city,flag,score\n")
    proc = monitor("--config", str(config), "--current", str(empty))
    assert proc.returncode == 1 and "ALERT [empty_batch]" in proc.stdout and "Traceback" not in proc.stderr
    proc = monitor("--config", str(tmp_path / "missing.yaml"), "--current", str(empty))
    assert proc.returncode == 2 and proc.stderr.startswith("error: --config") and "Traceback" not in proc.stderr
    proc = monitor("--current", str(empty))          # a required option is missing: argparse, exit 2
    assert proc.returncode == 2 and "--config" in proc.stderr


def test_labels_are_matched_on_the_id_columns_when_both_files_have_them():
    from playbook.monitoring.spec import MonitoringSpec

    spec = MonitoringSpec(raw={"target": "label", "contract": {"columns": {"cid": {"role": "id"}, "x": {"role": "feature"}}}})
    batch = pd.DataFrame({"cid": [3, 1, 2], "x": [0.1, 0.2, 0.3]})
    labels = pd.DataFrame({"cid": [1, 2, 3, 4], "label": [10, 20, 30, 40]})
    assert align_labels(spec, batch, labels).tolist() == [30, 10, 20]
    with pytest.raises(BatchInputError, match="repeat"):
        align_labels(spec, batch, pd.concat([labels, labels]))
    with pytest.raises(BatchInputError, match="no column 'label'"):
        align_labels(spec, batch, labels.rename(columns={"label": "y"}))
