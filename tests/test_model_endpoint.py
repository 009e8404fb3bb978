"""`model.endpoint`: a model behind an HTTP server as the fourth way to bring a model.

Unit tests talk to an in-memory transport (no socket); the end-to-end test serves the bundled pack with
`playbook serve` on a free loopback port and evaluates the same model again through it: the metrics must equal the
in-process evaluation's."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

httpx = pytest.importorskip("httpx")

from playbook.modeling import ModelError, ModelInputError  # noqa: E402
from playbook.serving.client import EndpointModel  # noqa: E402

FEATURES = ["amount", "purpose"]
ROWS = pd.DataFrame({"amount": [1000.5, 2500.0, 40.25], "purpose": ["car", "tv", "car"]})


def model(handler, classes=("bad", "good"), **kw):
    calls = []

    def counted(request):
        calls.append(request)
        return handler(request)

    client = httpx.Client(base_url="http://model.test", transport=httpx.MockTransport(counted))
    m = EndpointModel("http://model.test", FEATURES, list(classes) if classes else None, client=client, **kw)
    return m, calls


def own_server(request):
    """`playbook serve`'s answer: predictions plus probabilities and their classes (listed good first here)."""
    if request.url.path == "/metadata":
        return httpx.Response(200, json={"model": {"sha256": "ab" * 32}, "limits": {"max_batch_rows": 2}})
    rows = json.loads(request.content)["dataframe_split"]["data"]
    p_bad = [min(r[0] / 3000, 1.0) for r in rows]
    return httpx.Response(200, json={"predictions": ["bad" if p >= 0.5 else "good" for p in p_bad],
                                     "probabilities": [[1 - p, p] for p in p_bad], "classes": ["good", "bad"]})


def test_the_own_server_answer_gives_labels_and_probabilities_in_the_config_order():
    m, calls = model(own_server)
    m.discover(ROWS)
    assert m.has_proba and m.sha256 == "ab" * 32 and m.batch == 2      # the server's batch limit is kept
    n = len(calls)
    pred = m.predict(ROWS)
    P = m.predict_proba(ROWS)
    assert list(pred) == ["good", "bad", "good"]
    assert P.shape == (3, 2) and np.allclose(P[:, 0], [1000.5 / 3000, 2500 / 3000, 40.25 / 3000])
    assert len(calls) - n == 2                  # two batches of 2 rows, and predict_proba reused their answers
    m.predict(ROWS)
    assert len(calls) - n == 4                  # the same method twice asks the server again


def test_mlflow_style_answers_labels_or_probability_mappings():
    def labels(request):
        rows = json.loads(request.content)["dataframe_split"]["data"]
        return httpx.Response(200, json={"predictions": ["good"] * len(rows)})

    m, _ = model(labels)
    m.discover(ROWS)
    assert not m.has_proba and list(m.predict(ROWS)) == ["good"] * 3
    with pytest.raises(ModelInputError, match="without probabilities"):
        m.predict_proba(ROWS)

    def mappings(request):
        rows = json.loads(request.content)["dataframe_split"]["data"]
        return httpx.Response(200, json={"predictions": [{"good": 0.2, "bad": 0.8}] * len(rows)})

    m, _ = model(mappings)
    m.discover(ROWS)
    assert m.has_proba and list(m.predict(ROWS)) == ["bad"] * 3
    assert np.allclose(m.predict_proba(ROWS), [[0.8, 0.2]] * 3)

    def numbers(request):
        rows = json.loads(request.content)["dataframe_split"]["data"]
        return httpx.Response(200, json={"predictions": [r[0] * 2 for r in rows]})

    m, _ = model(numbers, classes=None)
    m.discover(ROWS)
    assert m.predict(ROWS).dtype == float and list(m.predict(ROWS)) == [2001.0, 5000.0, 80.5]


def test_refusals_and_failures_are_one_sentence_naming_the_endpoint():
    def door(request):
        return httpx.Response(422, json={"rule": "out_of_range", "column": "amount",
                                         "message": "column 'amount': 99999 is above the contract's maximum"})

    m, _ = model(door)
    with pytest.raises(ModelError, match="refused every row"):
        m.discover(ROWS)
    with pytest.raises(ModelInputError, match="out_of_range|above the contract"):
        m.predict(ROWS)
    m, _ = model(lambda r: httpx.Response(401, json={"message": "no token"}))
    with pytest.raises(ModelError, match="model.token_env"):
        m.predict(ROWS)
    m, _ = model(lambda r: httpx.Response(500, text="boom"))
    with pytest.raises(ModelError, match="answered 500"):
        m.predict(ROWS)
    m, _ = model(lambda r: httpx.Response(200, json={"predictions": ["good"]}))
    with pytest.raises(ModelError, match="returned 1 predictions for 3 rows"):
        m.predict(ROWS)

    def down(request):
        raise httpx.ConnectError("connection refused")

    m, _ = model(down)
    with pytest.raises(ModelError, match="cannot be reached.*start the model server"):
        m.discover(ROWS)


def test_the_token_comes_from_the_environment_and_is_never_shown(monkeypatch):
    monkeypatch.delenv("PLAYBOOK_EP_TOKEN", raising=False)
    with pytest.raises(ModelError, match="PLAYBOOK_EP_TOKEN is not set"):
        EndpointModel("http://127.0.0.1:9", FEATURES, ["bad", "good"], token_env="PLAYBOOK_EP_TOKEN")
    monkeypatch.setenv("PLAYBOOK_EP_TOKEN", "tok-123456")
    m = EndpointModel("http://127.0.0.1:9", FEATURES, ["bad", "good"], token_env="PLAYBOOK_EP_TOKEN")
    assert "tok-123456" not in repr(m) and m.auth_headers() == {"authorization": "Bearer tok-123456"}
    m.close()


def test_config_refuses_endpoint_with_a_file_and_a_token_without_endpoint():
    from playbook import config

    data = {"reference": "r.csv", "current": "c.csv", "target": "y"}
    ok = config.from_dict({"data": data, "model": {"endpoint": "http://127.0.0.1:8080/", "token_env": "TOK"}})
    assert ok.model.endpoint == "http://127.0.0.1:8080" and ok.model.token_env == "TOK"
    for bad, words in (({"endpoint": "127.0.0.1:8080"}, "not a server address"),
                       ({"endpoint": "http://h:1", "path": "m.skops"}, "not several"),
                       ({"token_env": "TOK"}, "no model.endpoint"),
                       ({"endpoint": "http://h:1", "token_env": "my token"}, "not an environment variable")):
        with pytest.raises(config.ConfigError, match=words):
            config.from_dict({"data": data, "model": bad})


# -- end to end: the bundled pack's model, evaluated again through its own server ---------------------------------
def test_evaluating_through_the_endpoint_gives_the_in_process_metrics(bundled_pack, tmp_path):
    from tests.conftest import ROOT, SMALL_CONFIG, run_cli
    from tests.test_serve import TOKEN, start, stop

    pack = bundled_pack["pack"]
    assert (pack / "manifest.json").exists(), bundled_pack["proc"].stderr[-2000:]
    proc, url = start(pack, tmp_path, "--token-env", "PLAYBOOK_TEST_TOKEN", env={"PLAYBOOK_TEST_TOKEN": TOKEN})
    try:
        import os

        env_before = os.environ.get("PLAYBOOK_TEST_TOKEN")
        os.environ["PLAYBOOK_TEST_TOKEN"] = TOKEN
        try:
            r = run_cli("run", str(SMALL_CONFIG), "--out", str(tmp_path / "ev"), "--name", "through-api",
                        "--steps", "model_evaluation", "serving", "-q", "-p", f"model.endpoint={url}",
                        "-p", "model.token_env=PLAYBOOK_TEST_TOKEN", timeout=1800)
        finally:
            if env_before is None:
                os.environ.pop("PLAYBOOK_TEST_TOKEN", None)
            else:
                os.environ["PLAYBOOK_TEST_TOKEN"] = env_before
    finally:
        log = stop(proc)
    assert r.returncode in (0, 1), r.stderr[-3000:]
    out = tmp_path / "ev" / "through-api"
    ev = json.loads((out / "steps" / "02_model_evaluation" / "results.json").read_text())
    checks = {c["id"]: c for c in ev["checks"]}
    # two current rows hold values outside the reference range: the server's door refuses them, the evaluation
    # leaves them out and says so, and the serving step still counts them against the contract
    ev_set = checks["model.evaluation_set"]
    assert ev_set["status"] == "warn" and "2 refused by the endpoint" in ev_set["title"], ev_set
    assert "out_of_range 2" in ev_set["why"]
    # the same model on the rows it admits: the metric through the API is the in-process one
    from playbook.serving.service import load_pack

    adapter = load_pack(pack).adapter
    cur = pd.read_csv(ROOT / "datasets" / "german_credit" / "current.csv")
    assert ev["metrics"]["model.roc_auc"]["value"] == pytest.approx(_in_process_auc(adapter, cur, pack), abs=1e-9)
    assert checks["model.debug.examples"]["status"] == "skip" and checks["model.debug.examples"].get("not_applicable")
    assert checks["model.loaded_safely"]["status"] == "pass" and "model.endpoint" in checks["model.loaded_safely"]["title"]
    serving = {c["id"]: c for c in json.loads((out / "steps" / "03_serving" / "results.json").read_text())["checks"]}
    assert serving["serving.skew"]["status"] == "skip" and serving["serving.skew"]["not_applicable"]
    assert serving["serving.door.evaluation_rows_refused"]["status"] == "warn"
    assert serving["serving.contract.malformed"]["status"] == "pass", serving["serving.contract.malformed"]
    assert serving["serving.shutdown.graceful"]["not_applicable"]
    pre = json.loads((out / "preflight.json").read_text())
    assert pre["model"]["mode"] == "endpoint" and pre["model"]["sha256"] == adapter.info["sha256"]
    # the token went in headers only: never into the pack or the server's log
    assert TOKEN not in log
    for f in out.rglob("*"):
        if f.is_file():
            assert TOKEN.encode() not in f.read_bytes(), f
    # a pack of an endpoint model holds no model to serve: one sentence, exit 2
    served = run_cli("serve", str(out), "--port", "0", timeout=120)
    assert served.returncode == 2 and "already served at its model.endpoint" in served.stderr, served.stderr
    assert "Traceback" not in served.stderr


def _in_process_auc(adapter, cur: pd.DataFrame, pack) -> float:
    """ROC AUC of the pack's model in-process on the current rows inside the data contract's ranges."""
    from sklearn.metrics import roc_auc_score

    from playbook.serving import door, probe
    from playbook.serving.service import load_pack

    contract = load_pack(pack).contract
    keep = []
    for i in range(len(cur)):
        one = probe.rows_json(cur.iloc[i:i + 1], adapter.features)
        try:
            door.admit(one["columns"], one["data"], contract, adapter.features)
            keep.append(i)
        except door.Rejected:
            pass
    rows = cur.iloc[keep]
    assert len(rows) == len(cur) - 2
    y = (rows["creditability"] == "bad").astype(int)
    return float(roc_auc_score(y, adapter.positive_proba(rows)))


def test_probability_lists_follow_the_answers_classes_or_the_config_order():
    """An MLflow server answers one probability list per row: in the order of its classes when it names them, else of
    the config's (sorted, as scikit-learn's classes_); the label is the class of the largest."""
    def listed(classes):
        def handler(request):
            rows = json.loads(request.content)["dataframe_split"]["data"]
            body = {"predictions": [[0.9, 0.1]] * len(rows)}
            if classes:
                body["classes"] = classes
            return httpx.Response(200, json=body)
        return handler

    m, _ = model(listed(["good", "bad"]))
    m.discover(ROWS)
    assert m.has_proba and list(m.predict(ROWS)) == ["good"] * 3
    assert np.allclose(m.predict_proba(ROWS), [[0.1, 0.9]] * 3)      # config order: bad, good
    m, _ = model(listed(None))
    m.discover(ROWS)
    assert list(m.predict(ROWS)) == ["bad"] * 3 and np.allclose(m.predict_proba(ROWS), [[0.9, 0.1]] * 3)


def test_a_rate_limit_is_the_servers_problem_not_a_refused_row():
    m, _ = model(lambda r: httpx.Response(429, text="slow down"))
    with pytest.raises(ModelError, match="answered 429"):
        m.admitted(ROWS)
    m, _ = model(lambda r: httpx.Response(200, json=["not", "a", "mapping"]) if r.url.path == "/metadata" else
                 httpx.Response(200, json={"predictions": ["good"] * len(json.loads(r.content)["dataframe_split"]["data"])}))
    m.discover(ROWS)                                                  # a list from /metadata is ignored
    assert m.sha256 is None and list(m.predict(ROWS)) == ["good"] * 3


def test_the_endpoint_model_goes_to_worker_processes_without_its_connections(monkeypatch):
    """joblib's process workers (the permutation importance) pickle the model: it travels without its HTTP client and
    opens its own there."""
    import pickle

    monkeypatch.setenv("PLAYBOOK_EP_TOKEN", "tok-654321")
    m = EndpointModel("http://127.0.0.1:9", FEATURES, ["bad", "good"], token_env="PLAYBOOK_EP_TOKEN")
    m.has_proba = True
    back = pickle.loads(pickle.dumps(m))
    assert back.url == m.url and back.has_proba and back.classes_ == ["bad", "good"]
    assert back._client is not m._client and back.auth_headers() == m.auth_headers()
    m.close()
    back.close()


# -- what the preflight learnt from the server, taken back by every step -----------------------------------------
class _CountingServer:
    """A model server on a free loopback port that counts the requests per path (``/metadata``, ``/invocations``)."""

    def __init__(self):
        import threading
        from collections import Counter
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.counts = Counter()
        counts = self.counts

        class Handler(BaseHTTPRequestHandler):
            def _send(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                counts[self.path] += 1
                self._send({"model": {"sha256": "cd" * 32}, "limits": {"max_batch_rows": 7}})

            def do_POST(self):  # noqa: N802
                counts[self.path] += 1
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))["dataframe_split"]
                x1 = body["columns"].index("x1")
                p = [1 / (1 + np.exp(-float(r[x1]))) for r in body["data"]]
                self._send({"predictions": ["yes" if q >= 0.5 else "no" for q in p],
                            "probabilities": [[1 - q, q] for q in p], "classes": ["no", "yes"]})

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def test_a_step_takes_what_the_preflight_learnt_from_the_endpoint_without_asking_again(tmp_path, monkeypatch):
    from playbook import config as config_mod
    from playbook import preflight, privacy
    from playbook.context import load_context
    from playbook.modeling import get_model
    from playbook.runner import preflight as run_preflight

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=80), "c": rng.choice(["a", "b"], 80),
                          "label": rng.choice(["yes", "no"], 80)})
    frame.iloc[:50].to_csv(tmp_path / "ref.csv", index=False)
    frame.iloc[50:].to_csv(tmp_path / "cur.csv", index=False)
    server = _CountingServer()
    try:
        cfg = config_mod.from_dict({"data": {"reference": str(tmp_path / "ref.csv"),
                                             "current": str(tmp_path / "cur.csv"), "target": "label"},
                                    "model": {"endpoint": server.url}})
        work, staging = tmp_path / ".p.work-x", tmp_path / ".p.partial-x"
        work.mkdir()
        staging.mkdir()
        ctx, info, adapter = run_preflight(cfg, None, work)
        assert server.counts["/metadata"] >= 1 and adapter.has_proba and adapter.estimator.batch == 7
        privacy.store(ctx.privacy, staging)
        facts = preflight.store(staging, ctx, work, info, {}, adapter)
        assert facts["model"]["discovered"] == {"probabilities": True, "batch": 7, "sha256": "cd" * 32}
        (staging / "config.yaml").write_text(config_mod.dump(cfg))
        monkeypatch.setenv(preflight.WORKDIR_ENV, str(work))

        server.counts.clear()
        back = load_context(str(staging / "config.yaml"), pack_dir=str(staging))
        model = get_model(back)
        assert dict(server.counts) == {}, server.counts    # no /metadata request, no probe rows
        assert model.mode == "endpoint" and model.has_proba and model.estimator.batch == 7
        assert model.info["sha256"] == adapter.info["sha256"] == "cd" * 32
        assert back.model_record["sha256"] == "cd" * 32
        P = model.predict_proba(back.current)
        assert server.counts["/metadata"] == 0 and server.counts["/invocations"] == 5   # 30 rows, batches of 7
        np.testing.assert_allclose(P, adapter.predict_proba(ctx.current))

        # facts of another endpoint are not taken: the model asks its own server
        rec = json.loads((staging / "preflight.json").read_text())
        rec["model"]["endpoint"] = "http://127.0.0.1:9"
        (staging / "preflight.json").write_text(json.dumps(rec))
        server.counts.clear()
        get_model(load_context(str(staging / "config.yaml"), pack_dir=str(staging)))
        assert server.counts["/metadata"] == 1
    finally:
        server.stop()
