"""The kernels of a pack run: how they start, what they never see, and the next one started ahead of its turn.

Every step runs in a fresh kernel of its own (:data:`playbook.runner.KERNEL`), started by
:func:`kernel_manager_class`: local IPC sockets, the kernel's log kept off the terminal, no signing key in its
environment.

Starting a kernel and importing the libraries a notebook needs takes one to several seconds per step, time in
which the step itself waits. :class:`WarmKernel` starts the *next* step's kernel while the current step runs (the
runner's process is idle then, waiting on the kernel) and has it import, out of sight, the modules its notebook
imports at top level (read from the notebook's code, :func:`top_level_imports`), those every step needs (:data:`COMMON_WARM`) and
those its metadata names
(``metadata.playbook.warm_imports``: modules the library imports lazily, inside the cells' calls). The imports run
in a throwaway namespace with ``silent=True`` and no history: the notebook starts with an empty namespace and
execution count 1, as in a fresh kernel; only the module cache is warm. Its results are the same either way; only
the time moves from the step's first cells to the previous step's wall time, on the other core.

A warm kernel that died or did not finish importing in time is shut down and the step starts a kernel of its own,
as without warming.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

#: Environment variables kept out of the kernels (and so out of every notebook); set by :mod:`playbook.runner`.
SECRET_ENV: tuple[str, ...] = ()
#: Modules every step needs through :func:`playbook.load_context` (imported lazily there), warmed in every kernel.
COMMON_WARM = ["playbook.context", "playbook.preflight", "playbook.metrics", "playbook.evaluate", "scipy.stats",
               "sklearn.metrics", "sklearn.preprocessing", "sklearn.pipeline", "sklearn.compose", "skops.io", "yaml",
               "matplotlib.pyplot", "pyarrow.parquet", "playbook.modeling", "playbook.compare", "playbook.governance"]
#: nbclient's default: no IPython history file is written by a notebook run.
KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:"]


def kernel_manager_class(log_path: Path | None = None, holder: dict | None = None, secret_env: tuple = ()):
    """Kernels of a pack run talk over local IPC sockets, not loopback TCP (no port races when many packs
    run at once on one host, and no plain-text TCP warning). The kernel process's own log (not the
    notebook's output, which the notebook keeps) goes to ``log_path``: jupyter_client interrupts a kernel
    before shutting it down, which the kernel logs as an error that is noise on a terminal.

    The kernel's environment never holds ``secret_env`` (the pack's signing key), so no notebook can read it, print
    it or write it into the pack. ``holder`` receives the kernel process (``holder["process"]``) so the runner can
    stop it at the step's time limit and read how it ended."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum, Float

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)
        # a kernel that imported scipy, scikit-learn and matplotlib can take more than jupyter_client's 5 s to exit
        # on a loaded machine; it is terminated after this long (the step timeout counts it)
        shutdown_wait_time = Float(10.0, config=True)

        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
            """jupyter_client's shutdown; with ``holder["detach"]`` (a step's kernel started ahead, after its notebook
            ran) the graceful one returns once the shutdown request is sent, and the kernel's own exit (IPython's
            namespace reset, the interpreter's teardown: up to 2 s for a kernel that built large objects) overlaps
            what the run does next. A reaper thread (``holder["reaper"]``) then waits for the kernel exactly as
            jupyter_client does (SIGTERM after half of ``shutdown_wait_time``, SIGKILL after the other half), cleans
            up its files and calls ``holder["on_reaped"]``; the runner joins it before a step that measures times
            and before the run ends."""
            proc = getattr(self.provisioner, "process", None) if self.has_kernel else None
            if now or restart or holder is None or not holder.get("detach") or not self.owns_kernel or proc is None:
                return await AsyncKernelManager.shutdown_kernel(self, now=now, restart=restart)
            self.shutting_down = True
            self.stop_restarter()
            await self._async_interrupt_kernel()
            await self._async_request_shutdown(restart=False)
            reaper = threading.Thread(target=_reap, args=(self, holder), name="playbook-kernel-reaper", daemon=True)
            holder["reaper"] = reaper
            reaper.start()

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            if log_path is not None:
                kw["stderr"] = open(log_path, "ab")  # noqa: SIM115 - the kernel process owns it
            env = dict(kw.get("env") or os.environ)
            for secret in secret_env:
                env.pop(secret, None)
            kw["env"] = env
            await super()._async_launch_kernel(kernel_cmd, **kw)
            if holder is not None:
                holder["process"] = getattr(self.provisioner, "process", None)

    return IPCKernelManager


def _reap(km, holder: dict) -> None:
    """The rest of a detached graceful shutdown (see ``shutdown_kernel`` above), in a thread of its own."""
    from jupyter_core.utils import run_sync

    try:
        run_sync(km._async_finish_shutdown)()
    except Exception:  # noqa: BLE001 - it could not be waited for: make sure it is gone
        proc = holder.get("process")
        if proc is not None and proc.poll() is None:
            proc.kill()
    try:
        run_sync(km._async_cleanup_resources)()
    except Exception:  # noqa: BLE001 - its folder is removed by on_reaped, or swept later
        pass
    done = holder.get("on_reaped")
    if done is not None:
        done()


def join_reapers(holders, timeout: float = 30.0) -> None:
    """Wait for the detached shutdowns of these kernel holders (see ``shutdown_kernel``); a kernel still alive after
    ``timeout`` is killed."""
    for h in holders:
        reaper = (h or {}).get("reaper")
        if reaper is None:
            continue
        reaper.join(timeout)
        if reaper.is_alive():
            proc = h.get("process")
            if proc is not None and proc.poll() is None:
                proc.kill()
            reaper.join(5)


def top_level_imports(notebook: Path) -> list[str]:
    """The modules a notebook imports in the top level of its code cells, in order, plus those its metadata names
    under ``playbook.warm_imports``. ``from a.b import c`` gives ``a.b`` and ``a.b.c`` (``c`` may be a submodule;
    importing a name that is not a module is skipped in the kernel). Cells that do not parse (magics) are skipped."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    found: list[str] = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        try:
            tree = ast.parse("".join(src) if isinstance(src, list) else src)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                found += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append(node.module)
                found += [f"{node.module}.{a.name}" for a in node.names if a.name != "*"]
    extra = (nb.get("metadata", {}).get("playbook") or {}).get("warm_imports") or []
    found += COMMON_WARM + [str(m) for m in extra]
    return list(dict.fromkeys(m for m in found if m.replace(".", "").replace("_", "").isalnum()))


def _warm_code(modules: list[str]) -> str:
    """Code that imports ``modules`` in a namespace of its own and leaves nothing behind in the notebook's."""
    body = ("import importlib\n"
            f"for m in {modules!r}:\n"
            "    try:\n"
            "        importlib.import_module(m)\n"
            "    except Exception:\n"
            "        pass\n")
    return f"exec(compile({body!r}, '<playbook warm-up>', 'exec'), {{}})"


SOCKETS_PREFIX = "playbook-ipc-"
OWNER_FILE = "owner.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_sockets(folder: Path | None = None, min_age_s: float = 3600.0) -> list[Path]:
    """Remove the IPC socket folders of kernels whose run died without stopping them (killed with SIGKILL, the
    machine lost power): those whose owning process (``owner.pid``) is gone, or, without that file, untouched
    for ``min_age_s``. Folders of live runs are kept. Returns the folders removed (``playbook clean`` lists them;
    every run sweeps them as it starts)."""
    folder = Path(folder or tempfile.gettempdir())
    removed = []
    for d in sorted(folder.glob(SOCKETS_PREFIX + "*")):
        try:
            if not d.is_dir() or d.is_symlink():
                continue
            owner = d / OWNER_FILE
            if owner.is_file():
                text = owner.read_text().strip()
                if text.isdigit() and _alive(int(text)):
                    continue
            elif time.time() - d.stat().st_mtime < min_age_s:
                continue
            shutil.rmtree(d)
            removed.append(d)
        except OSError:  # another user's folder, or removed meanwhile
            continue
    return removed


class WarmKernel:
    """A step's kernel, started (in the step's folder, with the run's environment) before the step's turn, importing
    what its notebook will import. The step hands :attr:`km` to papermill, which then shuts it down at the end as it
    does its own kernels; :meth:`discard` shuts down a kernel that was not used."""

    def __init__(self, notebook: Path, cwd: Path, kernel_name: str, log_path: Path, secret_env: tuple = (),
                 env: dict | None = None, warm: bool = True):
        from jupyter_core.utils import run_sync

        self.holder: dict = {}
        self.log_path = log_path
        self._run_sync = run_sync
        cls = kernel_manager_class(log_path, self.holder, secret_env)
        # IPC socket files at an absolute path of their own: a kernel started ahead is not started from its step's
        # folder (papermill changes into it only when the step runs), and its sockets never enter the pack
        self.sockets = Path(tempfile.mkdtemp(prefix=SOCKETS_PREFIX))
        (self.sockets / OWNER_FILE).write_text(str(os.getpid()))  # a run killed hard leaves it: see sweep_sockets
        self.km = cls(kernel_name=kernel_name, ip=str(self.sockets / "k"))
        self.holder["on_reaped"] = self.close
        try:
            # the environment is given to this kernel, never set in this process (steps may start side by side)
            run_sync(self.km.start_kernel)(cwd=str(cwd), extra_arguments=list(KERNEL_ARGS),
                                           env={**os.environ, **(env or {})})
        except BaseException:
            shutil.rmtree(self.sockets, ignore_errors=True)
            raise
        self.warmed: bool | None = None
        self._thread = threading.Thread(target=self._warm, name="playbook-warm-kernel", daemon=True)
        try:
            self.modules = top_level_imports(notebook) if warm else []
            self._thread.start()
        except BaseException:  # the kernel runs already: stop it before giving up
            self.discard()
            raise

    def _warm(self) -> None:
        from jupyter_client import BlockingKernelClient

        kc = BlockingKernelClient()
        kc.load_connection_info(self.km.get_connection_info())
        kc.start_channels()
        try:
            # a client without its manager takes a heartbeat not yet beating (a kernel still booting on a busy
            # machine) for a dead kernel: ask again while the kernel process lives
            deadline = time.monotonic() + 120
            while True:
                try:
                    kc.wait_for_ready(timeout=max(1.0, deadline - time.monotonic()))
                    break
                except RuntimeError:
                    proc = self.holder.get("process")
                    if time.monotonic() > deadline or proc is None or proc.poll() is not None:
                        raise
                    time.sleep(0.2)
            if not self.modules:  # a kernel started now for its step: ready is enough
                self.warmed = True
                return
            msg_id = kc.execute(_warm_code(self.modules), silent=True, store_history=False)
            while True:
                reply = kc.get_shell_msg(timeout=600)
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    self.warmed = reply.get("content", {}).get("status") == "ok"
                    return
        except Exception:  # noqa: BLE001 - a kernel that could not warm up is discarded, the step starts its own
            self.warmed = False
        finally:
            kc.stop_channels()

    def ready(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) for the imports; True when the kernel is warm and alive."""
        self._thread.join(timeout)
        if self._thread.is_alive() or not self.warmed:
            return False
        try:
            return bool(self._run_sync(self.km.is_alive)())
        except Exception:  # noqa: BLE001
            return False

    def discard(self) -> None:
        """Shut the kernel down now (a kernel the run did not use, or one that could not warm up); a kernel papermill
        asked to stop after its notebook ran (detached, see ``shutdown_kernel``) is left to its reaper, which closes
        it."""
        if self.holder.get("reaper") is not None:
            return
        try:
            if self._run_sync(self.km.is_alive)():
                self._run_sync(self.km.shutdown_kernel)(now=True)
            self._run_sync(self.km.cleanup_resources)()
        except Exception:  # noqa: BLE001 - already gone
            pass
        if self._thread.is_alive():
            self._thread.join(5)
        self.close()

    def close(self) -> None:
        """Remove the kernel's socket folder and log (after papermill shut it down, or after :meth:`discard`)."""
        shutil.rmtree(self.sockets, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)
