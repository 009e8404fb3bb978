"""Work shared with one forked copy of the process, on a machine with a second core.

``map_ordered(fn, items)`` is ``[fn(x) for x in items]``: every other item is computed by a child process forked
from this one (it starts with everything this process has built: data, model, monitors, caches), the others here,
and the results come back in the order of ``items``. It is for work whose every item depends on the item alone
(the drift simulation's faults, each seeded by the fault, severity and trial; the dashboard's days, each written to
its own file), so the results are those of the loop, in any run. At most two processes compute at once: this one
and the child.

Falls back to the plain loop when there is one item, one core, no ``fork`` (Windows, macOS), when the
environment variable ``PLAYBOOK_WORKERS`` is 1, or when the child fails for any reason (its items are then
computed here). The child writes nothing to this process's output streams, takes no lock of it, and leaves
with ``os._exit`` (no exit handler of this process runs twice); the model adapter calls native code one thread
at a time, so no thread pool is needed after the fork.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any, Callable, Sequence

WORKERS_ENV = "PLAYBOOK_WORKERS"


def workers() -> int:
    """Processes the simulation may use: ``PLAYBOOK_WORKERS`` (1 or 2), else 2 when this process may run on two
    cores or more, else 1."""
    env = os.environ.get(WORKERS_ENV, "").strip()
    if env:
        try:
            return max(1, min(2, int(env)))
        except ValueError:
            return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return 2 if cores >= 2 else 1


def _can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform.startswith("linux")


_BUSY = False  # a share is being computed in this process (or this is a child): nested calls run in place


def map_ordered(fn: Callable[[Any], Any], items: Sequence[Any]) -> list:
    """``[fn(x) for x in items]``, every other item computed in a forked child (see the module docstring). A call
    made while another is computing (in the parent or in the child) runs in place: never more than two processes."""
    global _BUSY
    items = list(items)
    if len(items) < 2 or _BUSY or workers() < 2 or not _can_fork():
        return [fn(x) for x in items]
    _BUSY = True
    try:
        return _shared(fn, items)
    finally:
        _BUSY = False


def _shared(fn: Callable[[Any], Any], items: list) -> list:
    theirs = list(range(1, len(items), 2))
    mine = list(range(0, len(items), 2))
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return [fn(x) for x in items]
    if pid == 0:  # the child: compute its share, send it, leave without running this process's exit handlers
        code = 1
        try:
            os.close(read_fd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the child exits below
            payload = pickle.dumps([fn(items[i]) for i in theirs], protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_fd, "wb") as w:
                w.write(payload)
            code = 0
        except BaseException:  # noqa: BLE001 - the parent computes this share itself
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    results: dict[int, Any] = {}
    try:
        for i in mine:
            results[i] = fn(items[i])
    except BaseException:
        _reap(pid, read_fd, kill=True)
        raise
    data = _reap(pid, read_fd)
    got = None
    if data is not None:
        try:
            got = pickle.loads(data)
        except Exception:  # noqa: BLE001 - a broken payload: computed here
            got = None
    if got is None or len(got) != len(theirs):
        got = [fn(items[i]) for i in theirs]
    results.update(zip(theirs, got))
    return [results[i] for i in range(len(items))]


def _reap(pid: int, read_fd: int, kill: bool = False) -> bytes | None:
    """Read the child's payload and wait for it; None when it failed."""
    import signal

    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    chunks = []
    try:
        with os.fdopen(read_fd, "rb") as r:
            if not kill:
                while True:
                    b = r.read(1 << 20)
                    if not b:
                        break
                    chunks.append(b)
    except OSError:
        chunks = []
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = 1
    if kill or status != 0:
        return None
    return b"".join(chunks)


__all__ = ["WORKERS_ENV", "map_ordered", "workers"]
