"""The pack in MLflow (playbook/tracking/): what a run holds, the round trip through a live `mlflow server` and the
default local store, registration, the aliases, and the command line's failure modes.

The live tests reuse the session's bundled pack; each starts its own `mlflow server` (SQLite backend, artifacts
under tmp_path) on a free loopback port and stops it. MLflow's telemetry and the server's job runner are off.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from playbook.tracking import record

ROOT = Path(__file__).resolve().parent.parent
QUIET_MLFLOW = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


# -- what a run holds (pure functions, no MLflow) ---------------------------------------------------------------
def test_params_flatten_the_resolved_config():
    cfg = {"data": {"target": "y", "sensitive": ["sex", "age"], "features": None},
           "steps": {"drift_simulation": {"params": {"trials": 3}, "enabled": True}},
           "policy": {"gates": {"model.fairness.*": {"max": 0.1}}, "attestations": {}}, "seed": 0,
           "name": "x" * 7000}
    p = record.params_from_config(cfg)
    assert p["data.target"] == "y"
    assert p["data.sensitive"] == '["sex","age"]'
    assert p["data.features"] == "null"
    assert p["steps.drift_simulation.params.trials"] == "3"
    assert p["steps.drift_simulation.enabled"] == "true"
    assert p["policy.gates.model.fairness._.max"] == "0.1"   # '*' is not a valid MLflow key character
    assert p["policy.attestations"] == "{}"
    assert p["seed"] == "0"
    assert len(p["name"]) == record.MAX_PARAM_VALUE and p["name"].endswith(record.CUT)
    assert list(p) == sorted(p)


def test_keys_are_valid_and_unique():
    assert record.clean_key("a/b*c?") == "a_b_c_"
    long = record.clean_key("k" * 400)
    assert len(long) == record.MAX_KEY and long != record.clean_key("k" * 399 + "j")
    assert record.unique_keys([("a_", 1), ("a_", 2), ("b", 3)]) == {"a_": 1, "a__2": 2, "b": 3}


def test_metrics_carry_every_ci_bound_as_its_own_metric():
    checks = [{"id": "model.roc_auc", "value": 0.81, "ci": [0.75, 0.87]},
              {"id": "model.evaluation_set", "value": "current"},
              {"id": "governance.model_card", "value": {"sections": 9}},
              {"id": "data.x", "value": None},
              {"id": "model.flag", "value": True},
              {"id": "model.nan", "value": float("nan"), "ci": [0.1, None]}]
    steps = {"drift_simulation": {"false_alarm_rate": {"rate": 0.0, "ci": [0.0, 0.975], "note": "x",
                                                       "evidently_defaults": {"rate": 1.0}}, "batches": 105}}
    m = record.metrics_from_pack(checks, steps)
    assert m == {"model.roc_auc": 0.81, "model.roc_auc.ci_low": 0.75, "model.roc_auc.ci_high": 0.87,
                 "model.flag": 1.0,
                 "drift_simulation/batches": 105.0,
                 "drift_simulation/false_alarm_rate.rate": 0.0,
                 "drift_simulation/false_alarm_rate.ci_low": 0.0, "drift_simulation/false_alarm_rate.ci_high": 0.975,
                 "drift_simulation/false_alarm_rate.evidently_defaults.rate": 1.0}


def test_signature_columns_follow_the_contract():
    contract = {"target": "y", "task": "binary", "columns": {
        "n_int": {"kind": "numeric", "dtype": "int64", "nullable": False},
        "n_int_null": {"kind": "numeric", "dtype": "int64", "nullable": True},
        "n_float": {"kind": "numeric", "dtype": "float64", "nullable": False},
        "cat": {"kind": "categorical", "dtype": "object"},
        "code": {"kind": "categorical", "dtype": "int64"},
        "flag": {"kind": "boolean", "dtype": "bool"},
        "y": {"role": "target", "dtype": "object"}}}
    feats = ["n_int", "n_int_null", "n_float", "cat", "code", "flag"]
    numeric = ["n_int", "n_int_null", "n_float"]
    inputs, out = record.signature_columns(contract, feats, numeric, baseline=True)
    assert inputs == [("n_int", "long"), ("n_int_null", "double"), ("n_float", "double"), ("cat", "string"),
                      ("code", "string"), ("flag", "string")]
    assert out == "string"
    inputs, _ = record.signature_columns(contract, feats, numeric, baseline=False)
    assert dict(inputs)["code"] == "long" and dict(inputs)["flag"] == "boolean"
    assert record.signature_columns({**contract, "task": "regression"}, feats, numeric)[1] == "double"
    with pytest.raises(ValueError, match="lacks the model's feature 'gone'"):
        record.signature_columns(contract, ["gone"], [])


def test_tags_name_the_verdict_score_and_digest():
    summary = {"verdict": "no-go", "exit_code": 1, "pack": "p", "ml_test_score": {"final": 2.5, "counts": {}},
               "reasons": [{"text": "model.roc_auc failed"}, {"text": "x"}]}
    tags = record.tags_from_pack(summary, {"digest": {"value": "sha256:ab"}}, {"model": {"mode": "baseline"}})
    assert tags["playbook.verdict"] == "no-go" and tags["playbook.ml_test_score"] == "2.5"
    assert tags["playbook.pack_digest"] == "sha256:ab" and tags["playbook.model.mode"] == "baseline"
    assert tags["playbook.reasons"] == "model.roc_auc failed; x"
    assert "playbook.signature_key_id" not in tags


# -- the command line without MLflow -------------------------------------------------------------------------------
def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_mlflow_missing_is_one_sentence_and_exit_2_before_any_work(tmp_path):
    code = ("import sys; sys.modules['mlflow'] = None\n"
            "from playbook.cli import main\n"
            "raise SystemExit(main(['run', '--out', 'evidence', '--mlflow']))")
    proc = _python(code, tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert 'pip install -e ".[mlflow]"' in lines[0]
    assert not (tmp_path / "evidence").exists()


def test_help_and_run_parser_do_not_import_mlflow(tmp_path):
    code = ("import sys\nfrom playbook.cli import build_parser\nimport playbook.tracking, playbook.tracking.command\n"
            "build_parser().parse_args(['run', '--mlflow', '--register', 'm'])\n"
            "print(sorted(m for m in sys.modules if m == 'mlflow' or m.startswith('mlflow.')))")
    proc = _python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_config_taken_as_the_tracking_uri_is_refused(tmp_path):
    pytest.importorskip("mlflow")
    from playbook.cli import main

    cfg = tmp_path / "playbook.yaml"
    cfg.write_text("data: {}\n")
    assert main(["run", "--out", str(tmp_path / "evidence"), "--mlflow", str(cfg)]) == 2
    assert not (tmp_path / "evidence").exists()


def test_unusable_local_store_and_bad_model_name_fail_before_the_run(tmp_path, capsys, monkeypatch):
    pytest.importorskip("mlflow")
    from playbook.cli import main

    monkeypatch.chdir(tmp_path)

    (tmp_path / "store.db").mkdir()
    assert main(["run", "--out", str(tmp_path / "evidence"), "--mlflow", f"sqlite:///{tmp_path / 'store.db'}"]) == 2
    assert "is a folder, not an SQLite database file" in capsys.readouterr().err
    assert main(["run", "--out", str(tmp_path / "evidence"), "--mlflow", f"sqlite:///{tmp_path / 'x' / 'a.db'}"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["run", "--out", str(tmp_path / "evidence"), "--register", "team/model"]) == 2
    assert "must not be empty nor hold '/' or ':'" in capsys.readouterr().err
    assert not (tmp_path / "evidence").exists() and not (tmp_path / "mlruns.db").exists()


def test_unreachable_server_fails_before_the_run(tmp_path, capsys):
    pytest.importorskip("mlflow")
    from playbook.cli import main

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["run", "--out", str(tmp_path / "evidence"), "--mlflow", f"http://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert "does not answer" in err and "Traceback" not in err
    assert not (tmp_path / "evidence").exists()


# -- the round trip --------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path, monkeypatch):
    """A real `mlflow server` (SQLite backend, artifacts under tmp_path) on a free loopback port; stopped after."""
    pytest.importorskip("mlflow")
    for k, v in QUIET_MLFLOW.items():
        monkeypatch.setenv(k, v)
    port = _free_port()
    home = tmp_path / "server"
    home.mkdir()
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{home / 'backend.db'}",
           "--artifacts-destination", str(home / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **QUIET_MLFLOW})
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a bound on waiting, not a measurement: a loaded machine starts slowly
        while True:
            assert proc.poll() is None, (home / "server.log").read_text(errors="replace")[-3000:]
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not answer /health"
            time.sleep(0.5)
        yield uri
    finally:
        group = proc.pid  # start_new_session: the server, its uvicorn worker and any child share this group
        if proc.poll() is None:
            os.killpg(group, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(group, signal.SIGKILL)
                proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # a worker that outlived the server
        log.close()


@contextlib.contextmanager
def using(uri: str):
    """MLflow's fluent API pointed at ``uri`` for a moment."""
    import mlflow

    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


def _pack(bundled_pack) -> Path:
    proc = bundled_pack["proc"]
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return bundled_pack["pack"]


def _walk(client, run_id: str, path: str) -> list[str]:
    out = []
    for a in client.list_artifacts(run_id, path):
        out += _walk(client, run_id, a.path) if a.is_dir else [a.path]
    return out


def assert_round_trip(uri: str, pack: Path, logged, name: str) -> None:
    """Everything the run and the registered version hold, read back through MlflowClient."""
    from mlflow import MlflowClient

    from playbook import config as config_mod

    client = MlflowClient(uri, registry_uri=uri)
    run = client.get_run(logged.run_id)
    summary = json.loads((pack / "summary.json").read_text())
    manifest = json.loads((pack / "manifest.json").read_text())
    cfg = config_mod.safe_load((pack / "config.yaml").read_text())
    # params: the resolved config, flattened
    assert run.data.params == record.params_from_config(cfg)
    assert run.data.params["data.target"] == "creditability"
    assert run.data.params["steps.drift_simulation.params.trials"] == "3"
    # metrics: every numeric check value, every CI bound its own metric
    with_ci = [c for c in summary["checks"] if c.get("ci")]
    assert len(with_ci) >= 5
    for c in with_ci:
        assert run.data.metrics[c["id"]] == pytest.approx(c["value"])
        assert run.data.metrics[f"{c['id']}.ci_low"] == pytest.approx(c["ci"][0])
        assert run.data.metrics[f"{c['id']}.ci_high"] == pytest.approx(c["ci"][1])
    assert run.data.metrics["readiness_review/ml_test_score.final"] == summary["ml_test_score"]["final"]
    # tags
    tags = run.data.tags
    assert tags["playbook.verdict"] == summary["verdict"]
    assert tags["playbook.ml_test_score"] == str(summary["ml_test_score"]["final"])
    assert tags["playbook.pack_digest"] == manifest["digest"]["value"]
    assert tags["playbook.model.logged"] == "yes"
    # artifacts: exactly the pack's files (what its manifest lists, and the manifest)
    logged_files = sorted(p.removeprefix("pack/") for p in _walk(client, logged.run_id, "pack"))
    assert logged_files == sorted([*manifest["files"], "manifest.json"])
    assert not any(".work" in p or p.endswith(".parquet") and "reference" in p for p in logged_files)
    # the model and its signature: the contract's features, in the model's order
    contract = json.loads(next(pack.glob("steps/*_data_audit/artifacts/data_contract.json")).read_text())
    preflight = json.loads((pack / "preflight.json").read_text())
    import mlflow

    with using(uri):
        info = mlflow.models.get_model_info(logged.model_uri)
    names = [c["name"] for c in info.signature.inputs.to_dict()]
    assert names == preflight["roles"]["features"] and set(names) <= set(contract["columns"])
    # the registered version: tagged with the verdict, alias challenger
    mv = client.get_model_version(name, logged.version)
    assert mv.tags["playbook.verdict"] == summary["verdict"]
    assert mv.tags["playbook.pack_digest"] == manifest["digest"]["value"]
    assert mv.run_id == logged.run_id
    assert str(client.get_model_version_by_alias(name, "challenger").version) == logged.version


def _assert_champion(uri: str, pack: Path, logged, name: str) -> None:
    from mlflow import MlflowClient

    from playbook.tracking import register, set_champion

    client = MlflowClient(uri, registry_uri=uri)
    first = set_champion(uri, name, logged.version)
    assert (first.version, first.previous) == (logged.version, None)
    second = register(uri, name, logged.run_id)  # a second version of the same pack's model
    assert second == str(int(logged.version) + 1)
    assert str(client.get_model_version_by_alias(name, "challenger").version) == second
    assert str(client.get_model_version_by_alias(name, "champion").version) == logged.version
    moved = set_champion(uri, name, pack=pack)  # the newest version registered from this pack
    assert (moved.version, moved.previous) == (second, logged.version)
    assert str(client.get_model_version_by_alias(name, "champion").version) == second
    assert client.get_model_version(name, second).tags["playbook.replaced_champion"] == logged.version
    back = set_champion(uri, name, moved.previous)  # the roll-back
    assert (back.version, back.previous) == (logged.version, second)


@pytest.mark.slow
def test_round_trip_through_a_live_mlflow_server(bundled_pack, mlflow_server):
    from playbook import pack as pack_mod
    from playbook.tracking import TrackingError, log_pack, set_champion

    pack = _pack(bundled_pack)
    digest = json.loads((pack / "manifest.json").read_text())["digest"]["value"]
    logged = log_pack(pack, mlflow_server, register="credit-risk")
    assert logged.tracking_uri == mlflow_server and logged.version == "1"
    assert_round_trip(mlflow_server, pack, logged, "credit-risk")
    _assert_champion(mlflow_server, pack, logged, "credit-risk")
    with pytest.raises(TrackingError, match="no version of the registered model 'other'"):
        set_champion(mlflow_server, "other", pack=pack)
    with pytest.raises(TrackingError, match="moving the alias 'champion'"):
        set_champion(mlflow_server, "credit-risk", 99)
    assert pack_mod.verify(pack, digest=digest).ok  # logging read the pack, never wrote it


def _run_result(pack: Path):
    from playbook.runner import RunResult

    summary = json.loads((pack / "summary.json").read_text())
    digest = json.loads((pack / "manifest.json").read_text())["digest"]["value"]
    return RunResult(pack=pack, verdict=summary["verdict"], exit_code=summary["exit_code"], summary=summary,
                     steps=[], digest=digest)


@pytest.mark.slow
def test_playbook_run_mlflow_logs_to_the_default_local_store(bundled_pack, tmp_path, monkeypatch, capsys):
    """`playbook run --mlflow --register NAME` with no URI: ./mlruns.db, artifacts in ./mlruns beside it. The run
    itself is the session's pack (runner.run returns it), so this checks the command's wiring and the store."""
    pytest.importorskip("mlflow")
    import mlflow
    import numpy as np
    import pandas as pd

    from playbook import runner
    from playbook.cli import main
    from playbook.serving.service import load_pack

    for k, v in QUIET_MLFLOW.items():
        monkeypatch.setenv(k, v)
    pack = _pack(bundled_pack)
    res = _run_result(pack)
    monkeypatch.setattr(runner, "run", lambda *a, **kw: res)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-q", "--mlflow", "--register", "credit"]) == res.exit_code
    out = capsys.readouterr().out
    assert "registered credit version 1 (alias challenger)" in out
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    assert (tmp_path / "mlruns.db").is_file()
    from mlflow import MlflowClient

    client = MlflowClient(uri, registry_uri=uri)
    run = client.search_runs([client.get_experiment_by_name(res.summary["pack"]).experiment_id])[0]
    assert run.info.artifact_uri.startswith((tmp_path / "mlruns").as_uri())
    assert (tmp_path / "mlruns" / run.info.run_id / "artifacts" / "pack" / "manifest.json").is_file()
    from playbook.tracking.client import Logged

    logged = Logged(tracking_uri=uri, experiment_id=run.info.experiment_id, run_id=run.info.run_id,
                    model_uri=run.data.tags["playbook.model_uri"], registered_name="credit", version="1")
    assert_round_trip(uri, pack, logged, "credit")
    _assert_champion(uri, pack, logged, "credit")
    # the registered model answers as the pack's model does, on rows the pack's contract admits
    with using(uri):
        model = mlflow.pyfunc.load_model("models:/credit@challenger")
    service = load_pack(pack)
    rows = pd.read_csv(ROOT / "datasets" / "german_credit" / "current.csv")[service.features]
    assert np.array_equal(np.asarray(model.predict(rows)), np.asarray(service.adapter.predict(rows)))


@pytest.mark.slow
def test_a_logging_failure_keeps_the_pack_and_exits_2(bundled_pack, tmp_path, monkeypatch, capsys):
    pytest.importorskip("mlflow")
    from playbook import pack as pack_mod
    from playbook import runner
    from playbook.cli import main

    for k, v in QUIET_MLFLOW.items():
        monkeypatch.setenv(k, v)
    pack = _pack(bundled_pack)
    res = _run_result(pack)
    monkeypatch.setattr(runner, "run", lambda *a, **kw: res)
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'store.db'}"
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the experiment's artifact folder should be")
    MlflowClient(uri).create_experiment(res.summary["pack"], artifact_location=blocker.as_uri())
    capsys.readouterr()  # MLflow's own lines while the test created the store
    assert main(["run", "-q", "--mlflow", uri]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("playbook: error: logging the pack")
    assert f"the pack is complete and unchanged at {pack}" in err[0]
    assert f"python -m playbook.tracking {pack} --mlflow {uri}" in err[0]
    assert pack_mod.verify(pack, digest=res.digest).ok
