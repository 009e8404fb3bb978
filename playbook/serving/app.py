"""The model server's HTTP face (FastAPI on uvicorn): the MLflow scoring protocol at ``POST /invocations``, the
contract at the door, ``/health``, ``/metadata``, Prometheus ``/metrics``, optional bearer-token authentication and
bounded concurrency.

* Every request gets a JSON answer: a 4xx names the rule, the column and the row (:mod:`playbook.serving.door`); an
  unexpected failure of the model is a 500 with a JSON body, counted, never a dropped connection.
* Scoring runs in worker threads, at most ``max_concurrency`` at a time; up to ``max_queue`` more requests wait;
  beyond that a request gets ``503`` with ``Retry-After`` at once, so a burst past capacity queues or sheds load
  instead of exhausting memory.
* With a token, every path but ``/health`` needs ``Authorization: Bearer <token>`` (compared in constant time);
  without it the answer is 401 with ``WWW-Authenticate: Bearer``. The token is never logged or written anywhere.
* Metrics (one registry per app): ``playbook_requests_total{path,status}``, ``playbook_request_latency_seconds``
  (histogram of ``/invocations``), ``playbook_rows_scored_total``, ``playbook_contract_violations_total{rule}``,
  ``playbook_model_info{model_sha256,pack,verdict}``.
"""

import asyncio
import hmac
import time
from typing import Any

from playbook.serving.door import Rejected, admit, parse_body
from playbook.serving.service import Service

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DEFAULT_MAX_BATCH = 10_000
DEFAULT_MAX_BODY = 32 * 1024 * 1024
DEFAULT_MAX_CONCURRENCY = 4
DEFAULT_MAX_QUEUE = 64
KNOWN_PATHS = ("/invocations", "/health", "/metadata", "/metrics", "/openapi.json")


def create_app(service: Service, *, token: "str | None" = None, max_batch: int = DEFAULT_MAX_BATCH,
               max_body: int = DEFAULT_MAX_BODY, max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
               max_queue: int = DEFAULT_MAX_QUEUE):
    """The FastAPI application serving ``service``."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
    from prometheus_client import disable_created_metrics

    disable_created_metrics()  # the *_created series only add noise to a scrape
    from starlette.concurrency import run_in_threadpool

    registry = CollectorRegistry(auto_describe=True)
    requests = Counter("playbook_requests", "HTTP requests by path and status", ["path", "status"],
                       registry=registry)
    latency = Histogram("playbook_request_latency_seconds", "Latency of POST /invocations", buckets=LATENCY_BUCKETS,
                        registry=registry)
    rows_scored = Counter("playbook_rows_scored", "Rows scored by the model", registry=registry)
    violations = Counter("playbook_contract_violations", "Requests refused at the door, by rule", ["rule"],
                         registry=registry)
    info = Gauge("playbook_model_info", "The model served", ["model_sha256", "pack", "verdict"], registry=registry)
    meta = {**service.metadata, "limits": {"max_batch_rows": int(max_batch), "max_body_bytes": int(max_body),
                                           "max_concurrency": int(max_concurrency), "max_queue": int(max_queue)},
            "authentication": "bearer token" if token is not None else "none"}
    info.labels(str(meta.get("model", {}).get("sha256")), str(meta.get("pack")), str(meta.get("verdict"))).set(1)
    slots = asyncio.Semaphore(max(1, int(max_concurrency)))
    waiting = {"n": 0}
    limit = max(1, int(max_concurrency)) + max(0, int(max_queue))

    app = FastAPI(title=f"playbook model server: {meta.get('pack')}",
                  description="The model of a readiness pack, behind its data contract (MLflow scoring protocol).",
                  version=str(meta.get("playbook_version")))

    def refuse(r: Rejected) -> JSONResponse:
        violations.labels(r.rule).inc()
        return JSONResponse(r.body(), status_code=r.status)

    @app.middleware("http")
    async def account(request: Request, call_next):
        path = request.url.path
        label = path if path in KNOWN_PATHS else "other"
        if token is not None and path != "/health":
            given = request.headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
                requests.labels(label, "401").inc()
                return JSONResponse({"error_code": "UNAUTHENTICATED", "message": "send the header "
                                     "'Authorization: Bearer <token>' with this server's token."},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
        try:
            response = await call_next(request)
        except Exception:  # noqa: BLE001 - a failure is an answer, never a dropped connection
            response = JSONResponse({"error_code": "INTERNAL_ERROR", "message": "the server failed on this request; "
                                     "its log has the details."}, status_code=500)
        requests.labels(label, str(response.status_code)).inc()
        return response

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "pack": meta.get("pack"), "model_sha256": meta.get("model", {}).get("sha256")}

    @app.get("/metadata")
    async def metadata() -> dict:
        return meta

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/invocations", responses={400: {"description": "malformed body"}, 413: {"description": "too large"},
                                         415: {"description": "not JSON"}, 422: {"description": "contract broken"},
                                         503: {"description": "over capacity, retry later"}})
    async def invocations(request: Request) -> Any:
        t0 = time.perf_counter()
        try:
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return refuse(Rejected("unsupported_media_type", f"the content type is {ctype or 'missing'}; send "
                                       "JSON with 'Content-Type: application/json'."))
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_body:
                return refuse(Rejected("oversized_body", f"the body has {int(declared)} bytes, more than this "
                                       f"server's limit of {max_body}; send smaller batches."))
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_body:
                    return refuse(Rejected("oversized_body", f"the body is larger than this server's limit of "
                                           f"{max_body} bytes; send smaller batches."))
            if waiting["n"] >= limit:
                return JSONResponse({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "the server is at "
                                     "capacity; retry after the time in Retry-After."}, status_code=503,
                                    headers={"Retry-After": "1"})
            waiting["n"] += 1
            try:
                async with slots:
                    return await run_in_threadpool(_score, bytes(body))
            finally:
                waiting["n"] -= 1
        finally:
            latency.observe(time.perf_counter() - t0)

    def _score(body: bytes):
        from playbook.modeling import ModelInputError

        try:
            columns, rows = parse_body(body, max_batch)
            frame = admit(columns, rows, service.contract, service.features)
        except Rejected as r:
            return refuse(r)
        try:
            answer = service.score(frame)
        except ModelInputError as exc:
            return refuse(Rejected("model_rejected", f"the model refused the rows: {exc}"))
        rows_scored.inc(len(frame))
        return JSONResponse(answer)

    app.state.service = service
    app.state.registry = registry
    return app


__all__ = ["DEFAULT_MAX_BATCH", "DEFAULT_MAX_BODY", "DEFAULT_MAX_CONCURRENCY", "DEFAULT_MAX_QUEUE", "create_app"]
