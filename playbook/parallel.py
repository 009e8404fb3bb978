"""Work shared with one forked copy of the process, on a machine with a second core that is free.

``map_ordered(fn, items)`` is ``[fn(x) for x in items]``: a child process forked from this one (it starts with
everything this process has built: data, model, monitors, caches) and this process take the items one at a time
from a shared counter until none is left, and the results come back in the order of ``items``. It is for work
whose every item depends on the item alone (the drift simulation's faults, each seeded by the fault, severity and
trial; a bootstrap resample; a training with its own seed; the dashboard's days, each written to its own file), so
the results are those of the loop, in any run, whichever process computed them.

``defer(job)`` registers a job (a function of no argument, e.g. an Evidently report that writes its own file)
that the next ``map_ordered`` hands to whichever process is free first, before its items; ``result(handle)``
returns what it returned (running it here if no shared work picked it up). A job's effects other than its return
value and the files it writes stay in the process that ran it.

At most two processes compute at once (this one and the child; a call made while another is computing runs in
place). Everything runs in place when there is one item, when this process cannot use a second free core (one
core, or a load average saying the others are busy: then forking would only add its cost), when the environment
variable ``PLAYBOOK_WORKERS`` is 1, without ``fork`` (Windows, macOS), and for what the child could not compute
(its items and jobs are then computed here: the same results). The child writes nothing to this process's output
streams, takes no lock of it, leaves with ``os._exit`` and dies with this process (a kernel killed at its time
limit or by an interrupted run leaves no child computing alone); the model adapter calls native code one thread at a
time, so no thread pool is needed after the fork.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any, Callable, Sequence

WORKERS_ENV = "PLAYBOOK_WORKERS"

_BUSY = False  # shared work is being computed in this process (or this is a child): nested calls run in place
_PENDING: list["Deferred"] = []


class Deferred:
    """A job registered with :func:`defer`; :func:`result` gives its return value."""

    def __init__(self, job: Callable[[], Any]):
        self.job = job
        self.done = False
        self.value: Any = None

    def run(self) -> Any:
        if not self.done:
            self.value = self.job()
            self.done = True
        return self.value


def workers() -> int:
    """Processes the work may use: ``PLAYBOOK_WORKERS`` (1 or 2), else 2 when this process may run on two cores or
    more and one of them is idle (the load average says the others are not all busy: on a loaded machine a second
    process only adds the cost of forking), else 1. The results are the same either way; only the time differs."""
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
    try:
        load = os.getloadavg()[0]  # this process counts for one: a second core is free below cores - 0.5
    except OSError:  # pragma: no cover - no load average
        load = 0.0
    return 2 if cores >= 2 and load < cores - 0.5 else 1


def _can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def defer(job: Callable[[], Any]) -> Deferred:
    """Register ``job`` for the next :func:`map_ordered` (see the module docstring)."""
    d = Deferred(job)
    _PENDING.append(d)
    return d


def result(handle: Deferred | None) -> Any:
    """What a deferred job returned (run here now if no shared work ran it); None for None."""
    if handle is None:
        return None
    if handle in _PENDING:
        _PENDING.remove(handle)
    return handle.run()


def map_ordered(fn: Callable[[Any], Any], items: Sequence[Any]) -> list:
    """``[fn(x) for x in items]``, shared with a forked child (see the module docstring)."""
    global _BUSY
    items = list(items)
    jobs = [] if _BUSY else list(_PENDING)
    if len(items) + len(jobs) < 2 or _BUSY or workers() < 2 or not _can_fork():
        return [fn(x) for x in items]
    _PENDING.clear()
    tasks: list[Callable[[], Any]] = [d.job for d in jobs] + [(lambda x=x: fn(x)) for x in items]
    _BUSY = True
    try:
        values = _shared(tasks, first=len(jobs))
    finally:
        _BUSY = False
    for d, v in zip(jobs, values[:len(jobs)]):
        d.value, d.done = v, True
    return values[len(jobs):]


def _shared(tasks: list[Callable[[], Any]], first: int = 0) -> list:
    """Every task's return value, in order: this process and a forked child take tasks from a shared counter. The
    child starts with the first ``first`` tasks (the deferred jobs: this process goes on with the items meanwhile);
    both take what is left of them once the items are done."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    jobs, items = ctx.Value("i", 0), ctx.Value("i", first)

    def take(counter, end: int) -> int | None:
        with counter.get_lock():
            i = counter.value
            if i >= end:
                return None
            counter.value = i + 1
        return i

    def take_item() -> int | None:
        return take(items, len(tasks))

    def take_job() -> int | None:
        return take(jobs, first)

    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return [t() for t in tasks]
    if pid == 0:  # the child: jobs first, then items, send the results, leave without exit handlers
        code = 1
        try:
            _die_with(parent)
            os.close(read_fd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the child exits below
            done: dict[int, Any] = {}
            for take_next in (take_job, take_item):
                while (i := take_next()) is not None:
                    try:
                        done[i] = tasks[i]()
                    except BaseException:  # noqa: BLE001 - left out: the parent computes it again (and raises, if it does)
                        pass
            payload = []
            for i, v in done.items():
                try:
                    payload.append((i, pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL)))
                except Exception:  # noqa: BLE001 - a value that cannot travel: the parent computes it
                    pass
            with os.fdopen(write_fd, "wb") as w:
                pickle.dump(payload, w, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        except BaseException:  # noqa: BLE001 - the parent computes this share itself
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    results: dict[int, Any] = {}
    try:
        for take_next in (take_item, take_job):
            while (i := take_next()) is not None:
                results[i] = tasks[i]()
    except BaseException:
        _reap(pid, read_fd, kill=True)
        raise
    for i, blob in _reap(pid, read_fd):
        try:
            results[i] = pickle.loads(blob)
        except Exception:  # noqa: BLE001 - computed here below
            continue
    for i in range(len(tasks)):  # what the child took but could not deliver
        if i not in results:
            results[i] = tasks[i]()
    return [results[i] for i in range(len(tasks))]


def _die_with(parent: int) -> None:
    """Make this forked child die when its parent does (Linux ``PR_SET_PDEATHSIG``): a kernel killed while work is
    shared (a step stopped at its time limit, an interrupted run) must not leave its child computing alone."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover - no prctl: the child ends when it has computed its share
        pass
    if os.getppid() != parent:  # the parent died before the call took effect
        os._exit(1)


def _reap(pid: int, read_fd: int, kill: bool = False) -> list:
    """The child's ``[(task, pickled value)]`` once it has left; ``[]`` when it failed."""
    import signal

    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    data = b""
    try:
        with os.fdopen(read_fd, "rb") as r:
            if not kill:
                data = r.read()
    except OSError:
        data = b""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = 1
    if kill or status != 0 or not data:
        return []
    try:
        return list(pickle.loads(data))
    except Exception:  # noqa: BLE001 - a broken payload: everything is computed here
        return []


def release_helpers() -> bool:
    """Stop the helper processes joblib leaves behind once its pools are gone: loky's resource tracker (a child that
    ignores SIGTERM, started by a process pool that shares memory-mapped arrays, e.g. scikit-learn's permutation
    importance on two cores) and loky's idle reusable workers. A Jupyter kernel terminates its children before it
    exits (ipykernel 7), and a child that ignores SIGTERM holds it there until the kernel manager gives up: about
    5 s added to every step that used one. The tracker, once its pipe is closed, unlinks what is still registered
    and exits. Only modules already imported are touched (nothing is imported here); True when something was
    stopped."""
    stopped = False
    executor_module = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(executor_module, "_executor", None) if executor_module is not None else None
    if executor is not None:
        try:
            executor.shutdown(wait=True)
            executor_module._executor = None
            stopped = True
        except Exception:  # noqa: BLE001 - best effort: the kernel's own shutdown still ends them
            pass
    tracker_module = sys.modules.get("joblib.externals.loky.backend.resource_tracker")
    tracker = getattr(tracker_module, "_resource_tracker", None) if tracker_module is not None else None
    if tracker is not None and getattr(tracker, "_pid", None) is not None:
        try:
            tracker._stop()
            stopped = True
        except Exception:  # noqa: BLE001 - best effort, as above
            pass
    return stopped


__all__ = ["WORKERS_ENV", "Deferred", "defer", "map_ordered", "release_helpers", "result", "workers"]
