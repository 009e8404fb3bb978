"""What the serving step measures on a running model server, as production would call it (loopback HTTP only).

* :func:`rows_json` turns a frame into JSON rows without losing a bit (floats as Python's shortest repr, dates as ISO
  text, missing values as null), so the online answer can be compared exactly with the offline one;
* :func:`skew`: the same evaluation rows through the API (in batches, and a seeded sample of them alone) and
  in-process: every row whose label differs, every row whose probabilities differ by more than the tolerance, and
  the largest probability difference (JSON carries floats exactly, but a model's arithmetic on one row and on a
  batch of rows may differ in the last bits: a scikit-learn logistic regression gives 2.2e-16, so the serving step's
  tolerance is 1e-9, far below any decision);
* :func:`malformed_cases` / :func:`run_cases`: a catalogue of malformed requests built from the data contract, each
  with the rule it breaks and the 4xx it must get; each answer is classed ``refused`` (the expected status),
  ``wrong_status`` (another 4xx), ``server_error`` (5xx), ``accepted`` (a 2xx: the bad request went through
  silently) or ``no_answer`` (timeout, dropped connection);
* :func:`load`: latency percentiles and throughput at a concurrency and batch size, over a bounded, seeded load;
* :func:`burst` and :func:`storm_then_valid`: resilience past capacity and after a malformed-request storm.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

JSON = {"content-type": "application/json"}


# -- rows as JSON ---------------------------------------------------------------------------------------------------
def _cell(v: Any) -> Any:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, (pd.Timestamp,)):
        return v.isoformat()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (np.datetime64,)):
        return pd.Timestamp(v).isoformat()
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def rows_json(frame: pd.DataFrame, columns: Iterable[str]) -> dict:
    """``{"columns": [...], "data": [[...]]}`` (the body of ``dataframe_split``) with exact values."""
    cols = [str(c) for c in columns]
    data = [[_cell(v) for v in row] for row in frame[cols].astype(object).itertuples(index=False, name=None)]
    return {"columns": cols, "data": data}


def split_body(frame: pd.DataFrame, columns: Iterable[str]) -> bytes:
    return json.dumps({"dataframe_split": rows_json(frame, columns)}).encode()


# -- online / offline skew -------------------------------------------------------------------------------------------
@dataclass
class Skew:
    rows: int = 0                 # evaluation rows sent
    compared: int = 0             # rows the door admitted and the model scored
    refused: int = 0              # rows the door refused (contract), by rule in ``refused_by``
    refused_by: dict = field(default_factory=dict)
    label_mismatches: int = 0     # rows whose predicted label (or number) differs (in their batch or alone)
    proba_mismatches: int = 0     # rows whose probabilities differ by more than ``tolerance``
    max_abs_proba_diff: float | None = None
    differing_rows: list = field(default_factory=list)   # positions in the frame (first 20)
    errors: list = field(default_factory=list)            # non-4xx answers: (status, message)
    tolerance: float = 0.0
    one_row_compared: int = 0     # admitted rows also sent alone (a seeded sample) and compared again
    requests: int = 0             # requests the comparison took
    admitted: list = field(default_factory=list, repr=False)  # positions the door admitted (not reported)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("admitted")
        return d


def skew(client, frame: pd.DataFrame, features: list[str], offline_pred, offline_proba=None, *,
         batch: int = 500, tolerance: float = 0.0, one_row: int = 0, seed: int = 0) -> Skew:
    """Send ``frame`` in batches and compare the admitted rows' answers with ``offline_pred`` / ``offline_proba``
    (arrays in frame order); then send ``one_row`` of the admitted rows (a seeded sample) alone, one request each,
    and compare those answers too: a model may answer a row alone differently from the same row in a batch.

    Where a batch is refused (a 4xx), its halves are sent, and so on down to single rows: a refused row is always
    learnt from a request of its own (with the rule the door names), an admitted row from the largest admitted part
    around it, in ``2 log2(batch)`` requests per refused row instead of one request per row of the batch."""
    out = Skew(rows=len(frame), tolerance=tolerance)
    offline_pred = list(offline_pred)
    P = None if offline_proba is None else np.asarray(offline_proba, dtype=float)
    worst = [0.0]
    label_diff: set[int] = set()
    proba_diff: set[int] = set()

    def post(start: int, stop: int):
        out.requests += 1
        return client.post("/invocations", content=split_body(frame.iloc[start:stop], features), headers=JSON)

    def compare(pos: int, body: dict, k: int) -> None:
        online = body["predictions"][k]
        if online != _plain(offline_pred[pos]):
            label_diff.add(pos)
        if P is not None and "probabilities" in body:
            d = float(np.max(np.abs(np.asarray(body["probabilities"][k], dtype=float) - P[pos])))
            worst[0] = max(worst[0], d)
            if d > tolerance:
                proba_diff.add(pos)

    def send(start: int, stop: int, r=None) -> None:
        r = post(start, stop) if r is None else r
        if r.status_code == 200:
            body = r.json()
            for i in range(stop - start):
                out.admitted.append(start + i)
                compare(start + i, body, i)
        elif 400 <= r.status_code < 500 and stop - start > 1:
            mid = (start + stop) // 2
            send(start, mid)
            send(mid, stop)
        elif 400 <= r.status_code < 500:
            rule = (r.json() or {}).get("rule", str(r.status_code))
            out.refused += 1
            out.refused_by[rule] = out.refused_by.get(rule, 0) + 1
        else:
            out.errors.append([r.status_code, r.text[:200]])

    for start in range(0, len(frame), batch):
        send(start, min(start + batch, len(frame)))
    out.admitted.sort()
    out.compared = len(out.admitted)
    if one_row and out.admitted:
        rng = np.random.default_rng(seed)
        picks = sorted(rng.choice(out.admitted, size=min(int(one_row), len(out.admitted)), replace=False).tolist())
        for pos in picks:
            r = post(pos, pos + 1)
            if r.status_code == 200:
                compare(pos, r.json(), 0)
                out.one_row_compared += 1
            else:  # admitted in its batch, refused alone: a failed answer (counted against the check)
                out.errors.append([r.status_code, r.text[:200]])
    out.label_mismatches, out.proba_mismatches = len(label_diff), len(proba_diff)
    out.differing_rows = sorted(label_diff | proba_diff)[:20]
    out.max_abs_proba_diff = worst[0] if P is not None and out.compared else None
    return out


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


# -- malformed requests ---------------------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    rule: str
    expect: int
    body: bytes
    headers: dict = field(default_factory=lambda: dict(JSON))
    column: str | None = None

    def result(self, status: int | None, error: str | None = None) -> dict:
        if status is None:
            outcome = "no_answer"
        elif status == self.expect:
            outcome = "refused"
        elif 200 <= status < 300:
            outcome = "accepted"
        elif status >= 500:
            outcome = "server_error"
        else:
            outcome = "wrong_status"
        return {"case": self.name, "rule": self.rule, "column": self.column, "expected": self.expect,
                "status": status, "outcome": outcome, **({"error": error} if error else {})}


def malformed_cases(contract: Mapping, features: list[str], good: dict, max_batch: int) -> list[Case]:
    """Malformed requests derived from the contract, from one admitted record ``good`` (feature: JSON value)."""
    from playbook.serving.door import RULES

    specs = contract.get("columns") or {}

    def rec(**change) -> bytes:
        return json.dumps({"dataframe_records": [{**good, **change}]}).encode()

    def case(name: str, rule: str, body: bytes, column: str | None = None, headers: dict | None = None) -> Case:
        return Case(name, rule, RULES[rule], body, dict(headers or JSON), column)

    cases = [
        case("body is not JSON", "not_json", b"{this is not json"),
        case("NaN in the body", "not_json", json.dumps({"dataframe_records": [good]}).encode().replace(
            json.dumps(good[features[0]]).encode(), b"NaN", 1) if _is_num(good[features[0]]) else b'{"x": NaN}'),
        case("JSON without a protocol key", "bad_format", json.dumps({"rows": [good]}).encode()),
        case("a row of the wrong length", "bad_format", json.dumps(
            {"dataframe_split": {"columns": features, "data": [[good[f] for f in features][:-1]]}}).encode()),
        case("empty batch", "empty_batch", b'{"dataframe_records": []}'),
        case("batch over the limit", "oversized_batch", json.dumps({"dataframe_records": [good] * (max_batch + 1)}).encode()),
        case("text/csv body", "unsupported_media_type", b"a,b\n1,2\n", headers={"content-type": "text/csv"}),
        case("missing column", "missing_column", json.dumps({"dataframe_records": [
            {k: v for k, v in good.items() if k != features[-1]}]}).encode(), features[-1]),
        case("extra column", "extra_column", rec(**{"__not_a_feature__": 1}), "__not_a_feature__"),
    ]
    target = contract.get("target")
    if target and target in specs:
        cases.append(case("the target sent as an input", "extra_column", rec(**{target: None}), target))
    for f in features:
        s = specs.get(f) or {}
        kind, v = s.get("kind"), good.get(f)
        if kind == "numeric" and _is_num(v):
            cases.append(case(f"number sent as text ({f})", "wrong_type", rec(**{f: str(v)}), f))
            hi, lo = s.get("max"), s.get("min")
            if hi is not None:
                over = float(hi) + max(abs(float(hi)), 1.0) * 10
                cases.append(case(f"value above the range ({f})", "out_of_range", rec(**{f: over}), f))
            elif lo is not None:
                cases.append(case(f"value below the range ({f})", "out_of_range",
                                  rec(**{f: float(lo) - max(abs(float(lo)), 1.0) * 10}), f))
            if not s.get("nullable", True):
                cases.append(case(f"null in a column without missing values ({f})", "missing_value", rec(**{f: None}), f))
            break
    for f in features:
        s = specs.get(f) or {}
        if s.get("kind") == "categorical" and s.get("categories") and all(isinstance(c, str) for c in s["categories"]):
            cases.append(case(f"unseen category ({f})", "unseen_category", rec(**{f: "__never_seen__"}), f))
            cases.append(case(f"number where text belongs ({f})", "wrong_type", rec(**{f: 1}), f))
            break
    for f in features:
        if (specs.get(f) or {}).get("kind") == "boolean":
            cases.append(case(f"boolean sent as 0/1 ({f})", "wrong_type", rec(**{f: 1}), f))
            break
    for f in features:
        if (specs.get(f) or {}).get("kind") == "datetime":
            cases.append(case(f"date that does not parse ({f})", "wrong_type", rec(**{f: "not a date"}), f))
            break
    return cases


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def run_cases(client, cases: list[Case]) -> list[dict]:
    out = []
    for c in cases:
        try:
            r = client.post("/invocations", content=c.body, headers=c.headers)
            out.append(c.result(r.status_code))
        except Exception as exc:  # noqa: BLE001 - a dropped connection or a timeout is a finding, not a crash
            out.append(c.result(None, f"{type(exc).__name__}: {exc}"[:200]))
    return out


# -- load -----------------------------------------------------------------------------------------------------------
def percentiles(seconds: list[float]) -> dict:
    if not seconds:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    ms = np.asarray(seconds, dtype=float) * 1000
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 3) for q in (50, 95, 99)}


def load(url: str, bodies: list[bytes], concurrency: int, *, headers: dict | None = None,
         timeout: float = 30.0) -> dict:
    """Send every body once, ``concurrency`` at a time (an async client on one connection pool); return the
    latency percentiles, requests and rows per second, and the statuses."""
    import httpx

    hdrs = {**JSON, **(headers or {})}
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    async def run() -> float:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
            queue = list(reversed(bodies))

            async def worker():
                while queue:
                    b = queue.pop()
                    t0 = time.perf_counter()
                    try:
                        r = await client.post("/invocations", content=b, headers=hdrs)
                        key = str(r.status_code)
                    except httpx.HTTPError as exc:
                        key = type(exc).__name__
                    latencies.append(time.perf_counter() - t0)
                    statuses[key] = statuses.get(key, 0) + 1

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return time.perf_counter() - t0

    wall = _run_async(run)
    return {"concurrency": concurrency, "requests": len(bodies), "seconds": round(wall, 4),
            "rps": round(len(bodies) / wall, 2) if wall > 0 else None, **percentiles(latencies),
            "statuses": dict(sorted(statuses.items()))}


def _run_async(factory):
    """``asyncio.run(factory())``, in a thread of its own when this thread already runs an event loop (a Jupyter
    kernel does)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def burst(url: str, body: bytes, requests: int, *, headers: dict | None = None, timeout: float = 30.0) -> dict:
    """``requests`` sent at once: how many were answered 200, 503 with Retry-After, another status, or not at all."""
    res = load(url, [body] * requests, requests, headers=headers, timeout=timeout)
    st = res["statuses"]
    ok, shed = st.get("200", 0), st.get("503", 0)
    other = {k: v for k, v in st.items() if k not in ("200", "503")}
    return {"requests": requests, "ok": ok, "shed_503": shed, "other": other,
            "crashed": any(not k.isdigit() or k.startswith("5") and k != "503" for k in other)}


def storm_then_valid(client, cases: list[Case], valid: bytes, rounds: int = 5) -> dict:
    """Every malformed case ``rounds`` times, then one valid request: its status (200 when the server kept well)."""
    sent = 0
    for _ in range(rounds):
        for c in cases:
            try:
                client.post("/invocations", content=c.body, headers=c.headers)
            except Exception:  # noqa: BLE001
                pass
            sent += 1
    r = client.post("/invocations", content=valid, headers=JSON)
    return {"malformed_sent": sent, "next_valid_status": r.status_code}


__all__ = ["Case", "Skew", "burst", "load", "malformed_cases", "percentiles", "rows_json", "run_cases", "skew",
           "split_body", "storm_then_valid"]
