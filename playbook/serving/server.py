"""``playbook serve PACK``: the pack's model on uvicorn, with a clear refusal for every bad input.

The pack is loaded (verified, model and contract read) before the port is opened, so a server that answers
``/health`` is ready to score. uvicorn handles SIGTERM and SIGINT: it stops accepting connections, lets the requests
in flight finish (up to ``grace`` seconds) and exits 0. The access log names method, path and status; headers,
bodies and the token are never logged.
"""

from __future__ import annotations

import errno
import os
import socket
import sys

from playbook.serving.app import (DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_QUEUE,
                                  create_app)
from playbook.serving.service import ServeError, load_folder, load_pack

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
GRACE_S = 30


def token_from_env(name: str | None, environ=None) -> str | None:
    """The bearer token held in the environment variable ``name`` (None without a name)."""
    if not name:
        return None
    environ = os.environ if environ is None else environ
    value = environ.get(name)
    if value is None or not value.strip():
        raise ServeError(f"--token-env: the environment variable {name} is not set or empty; export it with the "
                         "token clients will send (e.g. `export {0}=$(openssl rand -hex 32)`).".format(name))
    if len(value.strip()) < 16:
        raise ServeError(f"--token-env: the token in {name} has {len(value.strip())} characters; use at least 16 "
                         "(e.g. `openssl rand -hex 32`).")
    return value.strip()


def _check_port(host: str, port: int) -> None:
    if not 0 <= port <= 65535:
        raise ServeError(f"--port: {port} is not a TCP port; pass a number from 1 to 65535 (0 picks a free one).")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise ServeError(f"--host: {host!r} is not an address of this machine; pass 127.0.0.1 (this machine only) "
                         "or 0.0.0.0 (every interface).") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(f"--port: {port} on {host} is already in use; stop what listens there or pass "
                                 "another --port.") from None
            raise ServeError(f"--host/--port: cannot listen on {host}:{port} ({exc.strerror}); pass another "
                             "address.") from None


def serve(pack: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token_env: str | None = None, *,
          max_batch: int = DEFAULT_MAX_BATCH, max_body: int = DEFAULT_MAX_BODY,
          max_concurrency: int = DEFAULT_MAX_CONCURRENCY, max_queue: int = DEFAULT_MAX_QUEUE,
          grace: int = GRACE_S, log_level: str = "info", ready_file: str | None = None,
          service_folder: bool = False) -> int:
    """Serve until SIGTERM / SIGINT; return the exit code. Raises :class:`ServeError` on bad input.

    ``ready_file``: once listening, the actual ``host:port`` is written there (useful with ``--port 0``).
    ``service_folder``: ``pack`` is a folder the serving step wrote (:func:`playbook.serving.service.write_folder`),
    not a finished pack."""
    token = token_from_env(token_env)
    if port != 0:
        _check_port(host, port)
    service = load_folder(pack) if service_folder else load_pack(pack)
    return run_service(service, host, port, token, max_batch=max_batch, max_body=max_body,
                       max_concurrency=max_concurrency, max_queue=max_queue, grace=grace, log_level=log_level,
                       ready_file=ready_file)


def run_service(service, host: str, port: int, token: str | None = None, *, max_batch: int = DEFAULT_MAX_BATCH,
                max_body: int = DEFAULT_MAX_BODY, max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
                max_queue: int = DEFAULT_MAX_QUEUE, grace: int = GRACE_S, log_level: str = "info",
                ready_file: str | None = None) -> int:
    """Run uvicorn on ``service`` until SIGTERM / SIGINT (a graceful stop: exit code 0)."""
    import signal

    import uvicorn

    app = create_app(service, token=token, max_batch=max_batch, max_body=max_body, max_concurrency=max_concurrency,
                     max_queue=max_queue)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=log_level == "info",
                            timeout_graceful_shutdown=grace, lifespan="off", server_header=False)
    server = uvicorn.Server(config)
    m = service.metadata
    line = (f"serving pack {m.get('pack')} (verdict {m.get('verdict')}, model {m.get('model', {}).get('mode')} "
            f"{str(m.get('model', {}).get('sha256'))[:12]}) on http://{{address}}  (POST /invocations, GET /health "
            "/metadata /metrics; Ctrl-C or SIGTERM stops it)")
    _announce_when_ready(server, ready_file, line)
    # uvicorn catches SIGTERM / SIGINT, drains the requests in flight, then raises the signal again under the
    # handlers it found: make those no-ops, so a graceful stop ends with exit code 0
    before = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    from playbook.modeling import single_thread

    try:
        # native code (OpenMP, BLAS) on one thread for the whole process: concurrency comes from the scoring slots,
        # and each request's own limit (ModelAdapter) then never races another thread's restoring the default,
        # which let OpenMP spin on every core under concurrent requests
        with single_thread():
            server.run()
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    return 0


def _announce_when_ready(server, path: str | None, line: str) -> None:
    """Once uvicorn listens: print ``line`` with the address it listens on and, given ``path``, write ``host:port``
    there (atomically). A watcher thread."""
    import threading
    import time

    def watch():
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.02)
        sock = server.servers[0].sockets[0] if server.servers and server.servers[0].sockets else None
        if sock is None:
            return
        h, p = sock.getsockname()[:2]
        print(line.format(address=f"{h}:{p}"), file=sys.stderr, flush=True)
        if not path:
            return
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"{h}:{p}\n")
        os.replace(tmp, path)

    threading.Thread(target=watch, daemon=True).start()


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "GRACE_S", "run_service", "serve", "token_from_env"]
