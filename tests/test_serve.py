"""`playbook serve` on the bundled pack: the MLflow protocol, the contract at the door, metrics, authentication,
graceful shutdown and the refusals of bad input. The server runs in its own process on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, run_cli

httpx = pytest.importorskip("httpx")
TOKEN = "s3cret-token-for-the-tests-0123456789"


def start(pack: Path, tmp: Path, *extra: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    ready = tmp / f"ready-{time.monotonic_ns()}.txt"
    log = open(tmp / f"serve-{time.monotonic_ns()}.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "playbook", "serve", str(pack), "--host", "127.0.0.1",
                             "--port", "0", "--ready-file", str(ready), *extra],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    proc.log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + 180
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            raise AssertionError(f"the server did not start: {log.read()[-2000:]}")
        time.sleep(0.05)
    return proc, "http://" + ready.read_text().strip()


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.log.seek(0)  # type: ignore[attr-defined]
    return proc.log.read()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def served(bundled_pack, tmp_path_factory):
    pack = bundled_pack["pack"]
    assert (pack / "manifest.json").exists(), bundled_pack["proc"].stderr[-2000:]
    proc, url = start(pack, tmp_path_factory.mktemp("serve"), "--token-env", "PLAYBOOK_TEST_TOKEN", "--max-batch",
                      "500", env={"PLAYBOOK_TEST_TOKEN": TOKEN})
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    yield {"proc": proc, "url": url, "client": client, "pack": pack}
    client.close()
    log = stop(proc)
    assert TOKEN not in log


def current_rows(pack: Path, n: int, dataset: str = "current") -> tuple[pd.DataFrame, list[str]]:
    """The first ``n`` rows of the bundled data (the reference's rows are all inside the contract)."""
    from playbook.serving.service import load_pack

    features = load_pack(pack, verify=False).features
    cur = pd.read_csv(ROOT / "datasets" / "german_credit" / f"{dataset}.csv")
    return cur.head(n), features


def test_the_mlflow_protocol_answers_with_the_offline_predictions(served):
    from playbook.serving.probe import rows_json, skew
    from playbook.serving.service import load_pack

    client, pack = served["client"], served["pack"]
    frame, features = current_rows(pack, 120)
    split = rows_json(frame.head(5), features)
    records = [dict(zip(split["columns"], row)) for row in split["data"]]
    a = client.post("/invocations", json={"dataframe_split": split})
    b = client.post("/invocations", json={"dataframe_records": records})
    assert a.status_code == b.status_code == 200, a.text
    assert a.json() == b.json() and len(a.json()["predictions"]) == 5
    assert a.json()["classes"] == ["bad", "good"]
    # online equals offline: the pack's model scored in-process (its stored baseline, as the steps loaded it)
    adapter = load_pack(pack).adapter
    sk = skew(client, frame, features, adapter.predict(frame), adapter.predict_proba(frame), batch=50)
    assert sk.errors == [] and sk.compared + sk.refused == len(frame) and sk.compared > 0
    assert sk.label_mismatches == 0 and sk.max_abs_proba_diff == 0.0


def test_skew_is_caught_when_the_offline_answer_differs(served):
    from playbook.serving.probe import skew

    frame, features = current_rows(served["pack"], 20)
    fake = np.where(np.arange(len(frame)) == 3, "good", "bad")  # not what the model says for most rows
    fake_p = np.full((len(frame), 2), 0.5)
    sk = skew(served["client"], frame, features, fake, fake_p)
    assert sk.label_mismatches > 0 and sk.max_abs_proba_diff > 0 and sk.differing_rows


def test_every_malformed_request_of_the_catalogue_gets_its_4xx(served):
    from playbook.serving.probe import malformed_cases, rows_json, run_cases

    client = served["client"]
    meta = client.get("/metadata").json()
    frame, features = current_rows(served["pack"], 1)
    split = rows_json(frame, features)
    good = dict(zip(split["columns"], split["data"][0]))
    from playbook.serving.service import load_pack

    cases = malformed_cases(load_pack(served["pack"], verify=False).contract, features, good,
                            meta["limits"]["max_batch_rows"])
    rules = {c.rule for c in cases}
    assert {"not_json", "bad_format", "empty_batch", "oversized_batch", "missing_column", "extra_column",
            "wrong_type", "out_of_range", "unseen_category", "unsupported_media_type"} <= rules
    results = run_cases(client, cases)
    bad = [r for r in results if r["outcome"] != "refused"]
    assert bad == [], bad
    # the next valid request still succeeds, and the refusals are counted by rule in /metrics
    assert client.post("/invocations", json={"dataframe_records": [good]}).status_code == 200
    metrics = client.get("/metrics").text
    assert 'playbook_contract_violations_total{rule="wrong_type"}' in metrics
    assert 'playbook_requests_total{path="/invocations",status="422"}' in metrics
    assert "playbook_request_latency_seconds_bucket" in metrics and "playbook_rows_scored_total" in metrics
    assert 'playbook_model_info{model_sha256="' in metrics


def test_metadata_and_health(served):
    client = served["client"]
    meta = client.get("/metadata").json()
    pre = json.loads((served["pack"] / "preflight.json").read_text())
    assert meta["model"]["sha256"] == pre["model"]["sha256"] and meta["verdict"] in ("go", "no-go")
    assert meta["contract"]["schema_version"] == 1 and len(meta["contract"]["sha256"]) == 64
    assert httpx.get(served["url"] + "/health").json()["status"] == "ok"  # no token needed for the probe


def test_a_request_without_the_token_gets_401_and_the_token_is_never_written(served):
    url = served["url"]
    for path, method in (("/invocations", "post"), ("/metadata", "get"), ("/metrics", "get")):
        r = getattr(httpx, method)(url + path)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(url + "/metadata", headers={"Authorization": "Bearer wrong"}).status_code == 401
    for f in served["pack"].rglob("*"):
        if f.is_file():
            assert TOKEN.encode() not in f.read_bytes(), f


def test_a_burst_past_capacity_is_shed_with_503_not_a_crash(bundled_pack, tmp_path):
    from playbook.serving.probe import burst, split_body

    pack = bundled_pack["pack"]
    proc, url = start(pack, tmp_path, "--max-concurrency", "1", "--max-queue", "0")
    try:
        frame, features = current_rows(pack, 300, "reference")
        res = burst(url, split_body(frame, features), 24)
        assert res["ok"] >= 1 and res["shed_503"] >= 1 and not res["crashed"] and res["other"] == {}, res
        r = httpx.post(url + "/invocations", content=split_body(frame.head(1), features),
                       headers={"content-type": "application/json"})
        assert r.status_code == 200
    finally:
        stop(proc)


def test_sigterm_finishes_the_request_in_flight(bundled_pack, tmp_path):
    from playbook.serving.probe import split_body

    pack = bundled_pack["pack"]
    proc, url = start(pack, tmp_path)
    frame, features = current_rows(pack, 2, "reference")
    body = split_body(frame, features)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(f"POST /invocations HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body[:10])
        time.sleep(1.0)  # the server has the request's head: it is in flight
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        s.sendall(body[10:])
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert b'"predictions"' in answer
    assert proc.wait(30) == 0
    stop(proc)


def test_bad_input_is_one_sentence_and_exit_2(bundled_pack, tmp_path):
    import shutil

    pack = bundled_pack["pack"]
    r = run_cli("serve", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "no such pack folder" in r.stderr and "Traceback" not in r.stderr
    copy = tmp_path / "tampered"
    shutil.copytree(pack, copy)
    (copy / "summary.json").write_text("{}")
    r = run_cli("serve", str(copy), "--port", "0")
    assert r.returncode == 2 and "does not verify" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("serve", str(pack), "--token-env", "PLAYBOOK_UNSET_VARIABLE_XYZ")
    assert r.returncode == 2 and "PLAYBOOK_UNSET_VARIABLE_XYZ" in r.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        r = run_cli("serve", str(pack), "--port", str(busy.getsockname()[1]))
    assert r.returncode == 2 and "already in use" in r.stderr and "Traceback" not in r.stderr
