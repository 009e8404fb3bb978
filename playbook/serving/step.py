"""The serving step: the pack's model behind its HTTP API, called as production calls it, on loopback.

:func:`start_own_server` writes a service folder (the model the preflight fitted or loaded, the data contract) into a
temporary folder and starts ``playbook serve --service-folder`` in a process of its own on a free loopback port
(the cold start is the time until it listens); :func:`measure` then runs the probes of
:mod:`playbook.serving.probe` against it (or against ``serving.endpoint``), and :func:`record` turns the
measurements into the step's checks. Wall-clock figures (latencies, throughput, cold start) go to ``timings.json``;
the checks that judge them are declared non-deterministic in the catalogue.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_P99_MS = 500.0   # the p99 the monitoring hand-off alerts on when the config sets no serving.max_p99_ms
COLD_START_LIMIT_S = 120.0


@dataclass
class ServingParams:
    concurrency: list = field(default_factory=lambda: [1, 4, 16])
    batch_sizes: list = field(default_factory=lambda: [1, 100])
    # requests per (concurrency, batch) level, every batch size: 100 is the fewest from which a p99 is an estimate
    # (the 99th percentile of 100 latencies is their second largest); 200 or more narrows it (a parameter)
    requests: int = 100
    skew_rows: int = 2000          # evaluation rows compared online vs offline (a seeded sample of more)
    skew_one_row: int = 50         # of those, admitted rows also sent alone (one request each) and compared again
    tolerance: float = 1e-9        # largest probability difference that is not skew (one row vs a batch: last bits)
    burst: int = 64                # requests sent at once at a server with max_concurrency + max_queue slots
    max_concurrency: int = 2
    max_queue: int = 8
    storm_rounds: int = 3
    seed: int = 0


@dataclass
class Running:
    url: str
    proc: subprocess.Popen | None = None
    folder: Path | None = None
    cold_start_s: float | None = None
    log: Any = None
    exit_code: int | None = None
    started: float | None = None   # perf_counter when the process was started
    watcher: Any = None            # the thread that times the cold start (launch_own_server)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.exit_code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.exit_code = self.proc.wait()
        elif self.proc is not None:
            self.exit_code = self.proc.returncode
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        return self.exit_code

    def log_tail(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read()[-2000:]


def contract_of(ctx) -> tuple[dict, str]:
    """The audit step's data contract, or one built the same way from the reference (the drift step's
    :func:`playbook.drift.monitors.load_contract`), and where it came from."""
    from playbook.drift.monitors import load_contract

    return load_contract(ctx)


def start_own_server(ctx, adapter, contract: dict, params: ServingParams, metadata: dict) -> Running:
    """The model on a loopback port in a process of its own; raises RuntimeError with the server's log on failure."""
    return wait_ready(launch_own_server(ctx, adapter, contract, params, metadata))


def launch_own_server(ctx, adapter, contract: dict, params: ServingParams, metadata: dict) -> Running:
    """Start the server process and return at once (:func:`wait_ready` waits for it): the step prepares its rows
    while the server boots. The cold start is counted from the start of the process."""
    from playbook.serving.service import write_folder

    folder = Path(tempfile.mkdtemp(prefix="playbook-serve-"))
    os.chmod(folder, 0o700)
    write_folder(folder / "service", adapter, contract, metadata, model_path=ctx.model.path,
                 trusted_types=ctx.model.trusted_types, allow_pickle=ctx.model.allow_pickle)
    log = open(folder / "server.log", "w+", encoding="utf-8")
    cmd = [sys.executable, "-m", "playbook", "serve", str(folder / "service"), "--service-folder", "--host",
           "127.0.0.1", "--port", "0", "--ready-file", str(folder / "ready"), "--log-level", "warning",
           "--max-concurrency", str(params.max_concurrency), "--max-queue", str(params.max_queue)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    run = Running(url="", proc=proc, folder=folder, log=log, started=t0)
    run.watcher = threading.Thread(target=_watch, args=(run,), daemon=True)
    run.watcher.start()
    return run


def wait_ready(run: Running) -> Running:
    """Wait until the server of :func:`launch_own_server` answers ``/health`` (the end of its cold start); raises
    RuntimeError with the server's log when it does not start."""
    run.watcher.join()
    if run.cold_start_s is None:
        tail = run.log_tail()
        run.stop()
        raise RuntimeError(f"the model server did not start within {COLD_START_LIMIT_S:.0f} s: {tail}")
    return run


def _watch(run: Running) -> None:
    """In a thread from the start of the process: the moment the server first answers ``/health`` (its cold start,
    whatever the step does meanwhile); ``cold_start_s`` stays None when it exits or takes too long."""
    import httpx

    ready, proc, t0 = run.folder / "ready", run.proc, run.started
    while not ready.exists():
        if proc.poll() is not None or time.perf_counter() - t0 > COLD_START_LIMIT_S:
            return
        time.sleep(0.01)
    run.url = "http://" + ready.read_text(encoding="utf-8").strip()
    while time.perf_counter() - t0 <= COLD_START_LIMIT_S and proc.poll() is None:
        try:  # listening is not answering: the cold start ends with the first /health answer
            if httpx.get(run.url + "/health", timeout=5).status_code == 200:
                run.cold_start_s = time.perf_counter() - t0
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.01)


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    if len(frame) <= n:
        return frame
    return frame.sample(n=n, random_state=seed).sort_index()


def measure(ctx, adapter, params: ServingParams, *, endpoint: str | None = None, headers: dict | None = None,
            compare: bool = True) -> dict:
    """Every measurement of the step (see the module docstring) as one dict; the server is stopped at the end.
    ``headers`` go with every request (the bearer token of ``model.token_env``; never recorded). ``compare=False``
    (the model is that endpoint) sends the evaluation rows only to learn which the door admits."""
    import httpx

    from playbook import modeling
    from playbook.serving import probe

    contract, contract_from = contract_of(ctx)
    features = list(adapter.features)
    meta = {"pack": ctx.config.name, "verdict": None, "model": {"mode": adapter.mode,
            "sha256": adapter.info.get("sha256"), "task": adapter.task}}
    run = Running(url=endpoint) if endpoint else launch_own_server(ctx, adapter, contract, params, meta)
    out: dict[str, Any] = {"endpoint": "own server (loopback)" if not endpoint else endpoint,
                           "contract_from": contract_from}
    try:
        # while the server boots: the evaluation rows and their offline answers (for the online / offline skew),
        # every evaluation row, also those an endpoint model's door refuses (the evaluation left those out)
        frame, where = modeling.evaluation_frame(ctx, adapter if compare else None)
        frame = _sample(frame.reset_index(drop=True), params.skew_rows, params.seed).reset_index(drop=True)
        offline = adapter.predict(frame) if compare else [None] * len(frame)
        proba = adapter.predict_proba(frame) if compare and adapter.has_proba else None
        if run.proc is not None:
            wait_ready(run)
        out["cold_start_s"] = run.cold_start_s
        client = httpx.Client(base_url=run.url, timeout=60, headers=headers or {})
        try:
            limits = (client.get("/metadata").json() or {}).get("limits") or {}
        except (httpx.HTTPError, ValueError):
            limits = {}
        max_batch = int(limits.get("max_batch_rows") or 10_000)
        sk = probe.skew(client, frame, features, offline, proba, tolerance=params.tolerance,
                        batch=min(500, max_batch), one_row=params.skew_one_row if compare else 0,
                        seed=params.seed)
        out["skew"] = {**sk.as_dict(), "rows_from": where}
        if not compare:
            out["skew"].update(label_mismatches=None, differing_rows=[], max_abs_proba_diff=None,
                               compared_with="nothing: the model is this endpoint")
        pool = frame.iloc[sk.admitted]
        out["load_rows_from"] = "evaluation rows the door admitted"
        if len(pool) < 10:  # too few: reference rows the door admits instead
            pool = _admitted_rows(ctx.reference, features, contract, 200, params.seed)
            out["load_rows_from"] = "reference rows"
        if len(pool) == 0:
            out["error"] = "no row passes the data contract, so nothing could be sent to measure the server"
            return out
        good = probe.rows_json(pool.head(1), features)
        good_record = dict(zip(good["columns"], good["data"][0]))
        # the contract at the door
        cases = probe.malformed_cases(contract, features, good_record, max_batch)
        out["malformed"] = probe.run_cases(client, cases)
        # latency and throughput
        rng = np.random.default_rng(params.seed)
        levels = []
        for b in params.batch_sizes:
            n_req = int(params.requests)
            bodies = []
            for _ in range(n_req):
                idx = rng.integers(0, len(pool), size=min(int(b), max_batch))
                bodies.append(probe.split_body(pool.iloc[idx], features))
            for c in params.concurrency:
                res = probe.load(run.url, bodies, int(c), headers=headers)
                levels.append({"batch": int(b), **res})
        out["load"] = levels
        # resilience: a burst past capacity, then a storm of malformed requests and one valid request
        big = probe.split_body(pool.iloc[rng.integers(0, len(pool), size=min(100, max_batch))], features)
        out["burst"] = probe.burst(run.url, big, params.burst, headers=headers)
        out["storm"] = probe.storm_then_valid(client, cases, probe.split_body(pool.head(1), features),
                                              params.storm_rounds)
        try:
            out["openapi"] = client.get("/openapi.json").json()
        except (httpx.HTTPError, ValueError):
            out["openapi"] = None
        client.close()
    finally:
        code = run.stop()
        if run.proc is not None:
            out["shutdown_exit_code"] = code
            out["server_log_tail"] = run.log_tail()[-500:]
    return out


def _admitted_rows(df: pd.DataFrame, features: list[str], contract: dict, n: int, seed: int) -> pd.DataFrame:
    """Up to ``n`` rows of ``df`` (a seeded sample) that the door admits."""
    from playbook.serving import door, probe

    cand = _sample(df, max(n * 3, n), seed)
    keep = []
    for i in range(len(cand)):
        one = probe.rows_json(cand.iloc[i:i + 1], features)
        try:
            door.admit(one["columns"], one["data"], contract, features)
        except door.Rejected:
            continue
        keep.append(i)
        if len(keep) >= n:
            break
    return cand.iloc[keep].reset_index(drop=True)


# -- checks -----------------------------------------------------------------------------------------------------------
def record(step, ctx, m: dict) -> None:
    """The step's checks, metrics, timings and artifacts from :func:`measure`'s result."""
    from playbook.results import write_json_atomic

    art = Path(step.artifact("serving.json")).parent
    srv = ctx.config.serving
    sk = m.get("skew") or {}
    write_json_atomic(art / "skew.json", sk)
    if "error" in m and not sk.get("compared"):
        step.check("serving.skew", "Online answers equal offline answers", "error", why=m["error"])
        step.check("serving.contract.malformed", "Malformed requests refused with their 4xx", "error", why=m["error"])
        return
    differing = (int(sk.get("label_mismatches") or 0) + int(sk.get("proba_mismatches") or 0)
                 + len(sk.get("errors") or []))
    if m.get("same_endpoint"):
        step.check("serving.skew", "Online answers equal offline answers", "skip", not_applicable=True,
                   evidence="artifacts/skew.json",
                   why="The model is reachable only through model.endpoint: the evaluation's answers are this API's own, "
                       "so there is no in-process answer to compare with (the rows were still sent, to learn which the "
                       "door admits).")
    else:
        step.check("serving.skew", f"Online answers equal offline answers ({sk.get('compared')} rows compared)",
                   _at_most(differing, 0), value=differing, threshold={"max": 0, "probability_tolerance": sk.get("tolerance")},
                   evidence="artifacts/skew.json",
                   why=f"Predictions through the API must equal the ones the pack evaluated: {sk.get('label_mismatches')} "
                       f"label(s) differ, {sk.get('proba_mismatches')} row(s) of probabilities differ by more than "
                       f"{sk.get('tolerance'):g}, {len(sk.get('errors') or [])} failed answer(s); a difference means the "
                       "service transforms inputs differently (training/serving skew).")
    rows = max(int(sk.get("rows") or 0), 1)
    share = round(int(sk.get("refused") or 0) / rows, 6)
    step.check("serving.door.evaluation_rows_refused", "Evaluation rows the data contract turns away",
               "warn" if share > 0 else "pass", value=round(int(sk.get("refused") or 0) / rows, 6), threshold={"max": 0.0},
               evidence="artifacts/skew.json",
               why="Rows like the current data that the door refuses are requests production would reject: widen the "
                   "contract or fix the data before launch (" + ", ".join(
                       f"{k} {v}" for k, v in sorted((sk.get("refused_by") or {}).items())) + ")."
               if sk.get("refused") else "Every evaluation row passes the data contract at the door.")
    cases = m.get("malformed") or []
    write_json_atomic(art / "malformed_requests.json", cases)
    not_refused = [c for c in cases if c["outcome"] != "refused"]
    outcomes = {o: sum(1 for c in cases if c["outcome"] == o) for o in
                ("refused", "wrong_status", "server_error", "accepted", "no_answer")}
    step.check("serving.contract.malformed", f"Malformed requests refused with their 4xx ({len(cases)} kinds)",
               _at_most(len(not_refused), 0) if cases else "error", value=len(not_refused), threshold={"max": 0}, evidence="artifacts/malformed_requests.json",
               why="Each malformed request must get a 4xx naming the column and the rule; counted: " + ", ".join(
                   f"{k} {v}" for k, v in outcomes.items()) + ".")
    for k, v in outcomes.items():
        step.metric(f"serving.malformed.{k}", v)
    levels = m.get("load") or []
    write_json_atomic(art / "latency.json", levels)
    for lv in levels:
        key = f"serving.load.c{lv['concurrency']}_b{lv['batch']}"
        for q in ("p50_ms", "p95_ms", "p99_ms", "rps"):
            if lv.get(q) is not None:
                step.timing(f"{key}.{q}", lv[q])
    one = [lv for lv in levels if lv["batch"] == 1 and lv.get("p99_ms") is not None]
    if m.get("cold_start_s") is not None:
        step.timing("serving.cold_start_s", round(m["cold_start_s"], 3))
    # wall-clock figures stay in timings.json (results.json is the same for the same inputs); a latency or
    # throughput gate is judged only when the config asks for it, and then its measured value is recorded
    if one and srv.max_p99_ms:
        worst = max(lv["p99_ms"] for lv in one)
        step.check("serving.latency.p99", "p99 latency of one-row requests, worst concurrency",
                   "pass" if worst <= srv.max_p99_ms else "fail", value=round(worst, 1),
                   threshold={"max": srv.max_p99_ms}, evidence="artifacts/latency.json",
                   why=f"serving.max_p99_ms from the config; concurrency "
                       f"{', '.join(str(lv['concurrency']) for lv in one)} on loopback (wall-clock: this value "
                       "depends on the machine).")
    if one and srv.min_rps:
        best = max(lv["rps"] or 0 for lv in one)
        step.check("serving.throughput.rps", "One-row requests per second, best concurrency",
                   "pass" if best >= srv.min_rps else "fail", value=round(best, 1), threshold={"min": srv.min_rps},
                   evidence="artifacts/latency.json",
                   why="serving.min_rps from the config; measured on this machine's loopback (wall-clock), so it "
                       "bounds what a deployment can reach.")
    b = m.get("burst") or {}
    bad = (sum((b.get("other") or {}).values()) if b else 0)
    step.check("serving.resilience.burst", f"A burst of {b.get('requests')} requests past capacity is queued or shed",
               _at_most(bad, 0) if b else "error", value=bad, threshold={"max": 0}, evidence="artifacts/serving.json",
               why="Every answer must be a 200 or a 503 with Retry-After; the counts of each are in serving.json "
                   "(how many are shed depends on the machine's speed).")
    st = m.get("storm") or {}
    step.check("serving.resilience.after_storm", "A valid request succeeds after a storm of malformed ones",
               "pass" if st.get("next_valid_status") == 200 else ("fail" if st else "error"), value=0 if st.get("next_valid_status") == 200 else 1, threshold={"max": 0},
               evidence="artifacts/serving.json",
               why=f"{st.get('malformed_sent')} malformed requests, then a valid one: HTTP {st.get('next_valid_status')}.")
    if "shutdown_exit_code" in m:
        code = m["shutdown_exit_code"]
        step.check("serving.shutdown.graceful", "The server stops cleanly on SIGTERM", _at_most(int(code != 0), 0),
                   value=0 if code == 0 else 1,
                   threshold={"max": 0}, evidence="artifacts/serving.json",
                   why=f"exit code {code} after SIGTERM (0: the requests in flight were finished, then it stopped).")
    else:
        step.check("serving.shutdown.graceful", "The server stops cleanly on SIGTERM", "skip", not_applicable=True,
                   why=f"{m.get('endpoint_from') or 'serving.endpoint'} names a running server: the step does not stop "
                       "it.")
    if m.get("openapi"):
        write_json_atomic(art / "openapi.json", m["openapi"])
    summary = {k: m.get(k) for k in ("endpoint", "contract_from", "load_rows_from", "burst", "storm", "cold_start_s")}
    summary["shutdown_exit_code"] = m.get("shutdown_exit_code")
    write_json_atomic(art / "serving.json", summary)


def _at_most(value: int, limit: int) -> str:
    return "pass" if value <= limit else "fail"


def latency_figure(levels: list[dict], path: str | Path):
    """Bars of p50 / p95 / p99 per (batch, concurrency), with requests per second above them, saved as ``path``
    (the figure closed; show it with ``step.figure``)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    labels = [f"batch {lv['batch']}\nx{lv['concurrency']}" for lv in levels]
    x = np.arange(len(levels))
    for k, (q, colour) in enumerate((("p50_ms", "#4c78a8"), ("p95_ms", "#f58518"), ("p99_ms", "#e45756"))):
        ax.bar(x + (k - 1) * 0.27, [lv.get(q) or 0 for lv in levels], 0.27, label=q.replace("_ms", ""), color=colour)
    for i, lv in enumerate(levels):
        ax.annotate(f"{lv.get('rps') or 0:.0f}/s", (i, max(lv.get("p99_ms") or 0, 0)), ha="center", va="bottom",
                    fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency through the API (loopback), requests per second above the bars")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return Path(path)


__all__ = ["ServingParams", "contract_of", "latency_figure", "launch_own_server", "measure", "record",
           "start_own_server", "wait_ready"]


SERVING_CHECKS = ("serving.skew", "serving.door.evaluation_rows_refused", "serving.contract.malformed",
                  "serving.resilience.burst", "serving.resilience.after_storm", "serving.shutdown.graceful")


def run(ctx, step, params: ServingParams) -> dict | None:
    """Measure (see :func:`measure`) and record; None, with every check skipped as not applicable, when the model
    cannot score new rows (predictions already in the data)."""
    from playbook.modeling import get_model

    adapter = get_model(ctx)
    step.note("model_used", adapter.info.get("sha256"))
    if not adapter.callable:
        for cid in SERVING_CHECKS:
            step.check(cid, "", "skip", not_applicable=True,
                       why="the pack judges predictions already in the data: there is no model to serve.")
        return None
    endpoint, headers, source = ctx.config.serving.endpoint, None, "serving.endpoint"
    if adapter.mode == "endpoint":
        # the model is already a server: the step measures that server (serving.endpoint, when set, wins)
        endpoint = endpoint or ctx.model.endpoint
        source = "serving.endpoint" if ctx.config.serving.endpoint else "model.endpoint"
        # the model endpoint's token goes to that server only, never to another serving.endpoint
        headers = adapter.estimator.auth_headers() if endpoint == ctx.model.endpoint else None
    same = adapter.mode == "endpoint" and endpoint == ctx.model.endpoint
    m = measure(ctx, adapter, params, endpoint=endpoint, headers=headers, compare=not same)
    m["endpoint_from"] = source if endpoint else None
    m["same_endpoint"] = same
    record(step, ctx, m)
    return m


def tables(m: dict | None) -> dict[str, pd.DataFrame]:
    """The measurements as tables for a notebook: skew, malformed requests, load levels."""
    if not m:
        return {}
    sk = m.get("skew") or {}
    skew_t = pd.DataFrame([{"rows sent": sk.get("rows"), "compared": sk.get("compared"),
                            "refused at the door": sk.get("refused"), "by rule": sk.get("refused_by"),
                            "labels that differ": sk.get("label_mismatches"),
                            "probabilities that differ": sk.get("proba_mismatches"),
                            "largest probability difference": sk.get("max_abs_proba_diff")}])
    mal = pd.DataFrame(m.get("malformed") or [], columns=["case", "rule", "column", "expected", "status", "outcome"])
    load_t = pd.DataFrame(m.get("load") or [],
                          columns=["batch", "concurrency", "requests", "p50_ms", "p95_ms", "p99_ms", "rps", "statuses"])
    return {"skew": skew_t, "malformed": mal, "load": load_t}


__all__ += ["SERVING_CHECKS", "run", "tables"]
