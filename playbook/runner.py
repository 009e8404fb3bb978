"""Run the templates with papermill and assemble the evidence pack.

The runner knows templates, steps and files; it knows nothing of drift or fairness. Order of work:

1. resolve and validate the config (``ConfigError``), every step parameter against its declared type and range
   (:mod:`playbook.params`), prove the output folder takes a file and has room (``PackError``), take the lock on
   the pack name (a second run of the same name fails at once), remove build folders of earlier runs of the name
   that died, load the data and column roles (``DataError``) and run the model preflight: all bad input is found
   here, before any pack folder is created;
2. build the pack in a hidden sibling folder ``.<name>.partial-*``: ``config.yaml``, then each enabled step in order
   (``steps/NN_<name>/``: executed notebook, results.json, timings.json, artifacts/), each within its
   ``steps.<name>.timeout`` (at the limit the kernel is interrupted, then killed; the notebook keeps the point it
   reached);
3. harden every HTML and CSV artifact, render each notebook to HTML (sanitised), write summary.json and index.html,
   then manifest.json last, with its digest and, when ``PLAYBOOK_SIGNING_KEY`` is set, its signature;
4. move the folder into place in one atomic rename (an existing pack is swapped out only with ``force``).

A step that raises, times out or whose kernel dies keeps its executed notebook (papermill writes the error into
it), gets a results.json with an ``error`` check ``<step>.executed`` saying which, and turns the verdict to
``error``; the remaining steps still run and the pack is still complete and verifiable. A run killed at any
moment leaves only its hidden build folder, which the next run of the same name (or ``playbook clean``) removes.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from playbook import __version__, catalogue
from playbook import config as config_mod
from playbook import pack as pack_mod
from playbook import params as params_mod
from playbook.data import DataError, fingerprint_file
from playbook.paths import templates_dir
from playbook.results import load_results, to_jsonable, write_json_atomic, write_text_atomic

KERNEL = "python3"
WIRING = ("config", "output_dir", "pack_dir")
_TEMPLATE_RE = re.compile(r"^(\d\d)_([a-z0-9_]+)\.ipynb$")


class RunError(ValueError):
    """Bad input found by the runner (unknown step, existing pack folder, ...)."""


@dataclass
class Template:
    number: str
    name: str
    path: Path

    @property
    def dirname(self) -> str:
        return f"{self.number}_{self.name}"

    @functools.cached_property
    def meta(self) -> dict:
        """The notebook's ``metadata.playbook`` (read once; {} when the file cannot be read)."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8")).get("metadata", {}).get("playbook") or {}
        except (OSError, ValueError):
            return {}

    @property
    def after(self) -> list[str] | None:
        """The steps whose files this step reads (``metadata.playbook.after`` of the notebook); None when the
        notebook does not say, which means every earlier step."""
        after = self.meta.get("after")
        return [str(a) for a in after] if isinstance(after, list) else None

    @property
    def exclusive(self) -> bool:
        """``metadata.playbook.exclusive``: the step measures wall-clock times and runs with nothing beside it."""
        return self.meta.get("exclusive") is True


def discover(folder: Path | None = None) -> list[Template]:
    """Templates ``NN_<name>.ipynb`` in run order."""
    folder = folder or templates_dir()
    out = []
    for p in sorted(folder.glob("*.ipynb")):
        m = _TEMPLATE_RE.match(p.name)
        if m:
            out.append(Template(m.group(1), m.group(2), p))
    return out


def template_parameters(path: Path) -> dict[str, dict]:
    """The parameters declared in a template's ``parameters`` cell (papermill's inspect)."""
    import papermill as pm

    return pm.inspect_notebook(str(path))


def template_title(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = "".join(cell.get("source", []))
            for line in src.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem


def match_steps(templates: list[Template], only: list[str]) -> list[Template]:
    """The templates named by ``--steps`` (names, numbers or folder names, also comma-separated), in run order.
    Raises :class:`RunError` naming an unknown one."""
    names = [t.name for t in templates]
    wanted = []
    for item in only:
        for w in item.split(","):
            w = w.strip()
            if not w:
                continue
            match = [t for t in templates if w in (t.name, t.number, t.dirname, str(int(t.number)))]
            if not match:
                raise RunError(f"--steps {w}: unknown step; choose from: {', '.join(names)}.")
            wanted.extend(match)
    return [t for t in templates if t in wanted]


def select_steps(cfg: config_mod.PackConfig, templates: list[Template], only: list[str] | None) -> list[Template]:
    names = [t.name for t in templates]
    for s in cfg.steps:
        if s not in names:
            raise config_mod.ConfigError(f"steps.{s}: unknown step; the steps are: {', '.join(names)}.")
    if only:
        chosen = match_steps(templates, only)
    else:
        chosen = [t for t in templates if cfg.step(t.name).enabled]
    if not chosen:
        raise RunError("no step is enabled; enable at least one under steps: in the config or with --steps.")
    return chosen


def resolved_parameters(declared: dict[str, dict], given: dict) -> dict:
    """Every declared parameter with its value in this run: the given one, else the template default."""
    import ast

    out = {}
    for name, p in declared.items():
        if name in WIRING:
            continue
        if name in given:
            out[name] = given[name]
            continue
        try:
            out[name] = ast.literal_eval(p.get("default", "None"))
        except (ValueError, SyntaxError):
            out[name] = p.get("default")
    return out


def check_params(cfg: config_mod.PackConfig, steps: list[Template]) -> dict[str, dict]:
    """Validate every ``steps.<name>.params`` key against the template's declared parameters."""
    declared = {}
    for t in steps:
        params = template_parameters(t.path)
        declared[t.name] = params
        for key in cfg.step(t.name).params:
            if key in WIRING:
                raise config_mod.ConfigError(f"steps.{t.name}.params.{key}: is set by the runner; remove it from the config.")
            if key not in params:
                valid = [p for p in params if p not in WIRING]
                raise config_mod.ConfigError(
                    f"steps.{t.name}.params.{key}: not a parameter of {t.path.name}; valid parameters are: {', '.join(valid)}."
                )
    return declared


def preflight(cfg: config_mod.PackConfig, read_info: dict | None = None, work: Path | None = None):
    """Load data and roles, scan for personal data and run the domain preflight (model inputs, and in baseline mode
    the one fit every step then judges). Raises on bad input.

    Returns ``(ctx, model_info, adapter)``; ``model_info`` describes the model (mode, probabilities, refittable),
    ``adapter`` is the model loaded or fitted (None in predictions mode). With ``work`` (the run's working folder,
    :mod:`playbook.preflight`) the data is read once into its columnar copy there, and larger data than
    ``data.max_rows`` is sampled. ``read_info`` (optional ``{"reference": {}, "current": {}}``) receives how each
    dataset was read."""
    from playbook import preflight as pre
    from playbook.context import Context
    from playbook.data import load_table
    from playbook.modeling import get_model, preflight as model_preflight

    read_info = read_info if read_info is not None else {"reference": {}, "current": {}}
    if work is not None:
        data = pre.load_data(cfg, work, read_info)
        ctx = Context.build(cfg, data["reference"]["frame"], data["current"]["frame"],
                            tables={r: d["table"] for r, d in data.items()},
                            sampling={r: d["sampling"] for r, d in data.items()})
    else:
        ref = load_table(cfg.data.reference, "reference", read_info.setdefault("reference", {}))
        cur = load_table(cfg.data.current, "current", read_info.setdefault("current", {}))
        ctx = Context.build(cfg, ref, cur)
    info = dict(model_preflight(ctx) or {})
    adapter = get_model(ctx) if info.get("mode") in ("baseline", "file", "endpoint") else None
    return ctx, info, adapter


def _store_privacy(ctx, staging: Path) -> None:
    """The privacy scan made in the preflight, written once into the pack (``privacy.json``, no raw values):
    every step's context reads it instead of scanning again."""
    from playbook import privacy

    privacy.store(ctx.privacy, staging)


@dataclass
class StepOutcome:
    template: Template
    status: str  # results status (pass/warn/fail), "error", or "skipped"
    error: str | None = None
    started: str | None = None
    seconds: float = 0.0
    parameters: dict = field(default_factory=dict)


@dataclass
class RunResult:
    pack: Path
    verdict: str
    exit_code: int
    summary: dict
    steps: list[StepOutcome]
    digest: str | None = None        # the pack digest (manifest.json "digest"): record it to verify against later
    signature: dict | None = None    # {algorithm, key_id, value} when PLAYBOOK_SIGNING_KEY was set


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _error_line(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None) or type(exc).__name__
    evalue = getattr(exc, "evalue", None)
    if evalue is None:
        evalue = str(exc)
    first = str(evalue).strip().splitlines()[0] if str(evalue).strip() else ""
    return f"{ename}: {first}" if first else ename


def _kernel_manager_class(log_path: Path | None = None, holder: dict | None = None):
    """The kernel manager of a step (:func:`playbook.kernels.kernel_manager_class`): IPC sockets, the kernel's log
    in ``log_path``, its process in ``holder["process"]``, no :data:`SECRET_ENV` in its environment."""
    from playbook.kernels import kernel_manager_class

    return kernel_manager_class(log_path, holder, SECRET_ENV)


#: Environment variables kept out of the kernels (and so out of every notebook).
SECRET_ENV = (pack_mod.SIGNING_KEY_ENV,)
#: Seconds between the interrupt sent at a step's time limit and the kill of a kernel that ignores it.
TIMEOUT_GRACE = 10.0


class _Watchdog:
    """Stops a step at its time limit: an interrupt (the running cell raises KeyboardInterrupt, the notebook
    keeps the point it reached), then a kill when the kernel does not stop within :data:`TIMEOUT_GRACE` s."""

    def __init__(self, holder: dict, timeout: float):
        import threading

        self.holder, self.timeout, self.fired, self._stopped = holder, timeout, False, False
        self._timers = [threading.Timer(timeout, self._interrupt), threading.Timer(timeout + TIMEOUT_GRACE, self._kill)]
        for t in self._timers:
            t.daemon = True

    def _signal(self, sig) -> bool:
        proc = self.holder.get("process")
        if proc is not None and proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
                return True
            except OSError:
                pass
        return False

    def _interrupt(self) -> None:
        import signal
        import threading

        self.fired = True
        if not self._signal(signal.SIGINT) and not self._stopped:  # the kernel is still starting: try again
            t = threading.Timer(0.5, self._interrupt)
            t.daemon = True
            self._timers.append(t)
            t.start()

    def _kill(self) -> None:
        import signal

        self._signal(signal.SIGKILL)

    def __enter__(self) -> "_Watchdog":
        for t in self._timers:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped = True
        for t in list(self._timers):
            t.cancel()


def _kernel_end(holder: dict) -> str | None:
    """How the kernel process ended when a signal ended it, e.g. 'killed by signal 9 (SIGKILL)'."""
    import signal

    proc = holder.get("process")
    if proc is None:
        return None
    try:
        rc = proc.wait(timeout=5)
    except Exception:  # noqa: BLE001 - still running or not a Popen: nothing to say
        return None
    if rc is not None and rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return f"killed by signal {-rc} ({name})"
    if rc not in (None, 0):
        return f"exited with code {rc}"
    return None


def _cell_raised(exc: BaseException) -> bool:
    """A cell raised and the kernel said so: the kernel was alive, how it ended afterwards (stopped at the end of
    the step) is not the step's error."""
    from papermill.exceptions import PapermillExecutionError

    return isinstance(exc, PapermillExecutionError)


def _kernel_log_tail(path: Path, n: int = 5) -> list[str]:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return []
    return [ln[:300] for ln in lines[-n:]]


def _as_data(key: str, value: Any) -> Any:
    """A parameter goes into the notebook as a Python literal written by papermill; prove it reads back as the same
    value (so a crafted string stays a string and can never run as code)."""
    import ast

    from papermill.translators import PythonTranslator

    code = PythonTranslator.translate(value)
    try:
        back = ast.literal_eval(code)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        back = _NOT_DATA
    if back != value or type(back) is not type(value):
        raise config_mod.ConfigError(f"{key}: this value cannot be passed to a notebook as plain data; use text, "
                                     "numbers, true/false, lists or mappings of them.")
    return value


_NOT_DATA = object()


#: Set to 0 to start each step's kernel at its turn instead of during the step before (:mod:`playbook.kernels`).
WARM_ENV = "PLAYBOOK_WARM_KERNELS"
_WORKDIR_ENV = "PLAYBOOK_WORKDIR"  # playbook.preflight.WORKDIR_ENV: where a kernel finds the run's columnar copy
_KERNEL_ENV = ("MPLBACKEND", _WORKDIR_ENV)


def _kernel_env(workdir: Path | None) -> dict:
    """What a step's kernel finds in its environment besides the runner's own (never :data:`SECRET_ENV`)."""
    env = {"MPLBACKEND": "Agg"}
    if workdir is not None:
        env[_WORKDIR_ENV] = str(workdir)
    return env


def _warm_kernel(t: Template, step_dir: Path, workdir: Path | None, warm: bool = True):
    """The kernel of step ``t``, started now in its folder and (``warm``) importing what its notebook imports
    (:class:`playbook.kernels.WarmKernel`); None when it cannot start (the step then starts its own)."""
    from playbook.kernels import WarmKernel

    step_dir.mkdir(parents=True, exist_ok=True)
    fd, log_name = tempfile.mkstemp(prefix="playbook-kernel-", suffix=".log")
    os.close(fd)
    try:
        return WarmKernel(t.path, step_dir, KERNEL, Path(log_name), SECRET_ENV, _kernel_env(workdir), warm=warm)
    except Exception:  # noqa: BLE001 - warming is an optimisation; the step starts its kernel as before
        Path(log_name).unlink(missing_ok=True)
        return None
    except BaseException:
        Path(log_name).unlink(missing_ok=True)
        raise


def _run_step(t: Template, step_dir: Path, staging: Path, cfg_path: Path, params: dict, timeout: int,
              on_cell: Callable | None = None, workdir: Path | None = None, warm=None,
              holder: dict | None = None, own_kernel: bool = False, cancel=None) -> StepOutcome:
    """``on_cell(index, total, section)`` is told which cell starts (:mod:`playbook.progress`); papermill's own
    per-cell bar stays off. ``warm``: the step's kernel started ahead (:func:`_warm_kernel`), used when it is
    ready within the step's time limit, else shut down and a kernel started now in the same way (steps may run side
    by side: papermill's own kernel start changes this process's folder). Without ``warm`` papermill starts the
    kernel, unless ``own_kernel`` (steps side by side): then the kernel is started here as a warm one is, without
    its imports. ``holder`` receives the kernel process (the runner stops it when the run is interrupted); a set
    ``cancel`` event (the run was interrupted) stops the step before its notebook starts."""
    import papermill as pm

    from playbook import progress as progress_mod

    step_dir.mkdir(parents=True, exist_ok=True)
    # papermill passes JSON types only: a YAML date (run_date: 2024-06-30) arrives as an ISO string
    params = to_jsonable(params, round_floats=False)
    parameters = {"config": str(cfg_path), "output_dir": str(step_dir), "pack_dir": str(staging), **params}
    for k, v in parameters.items():
        _as_data(f"steps.{t.name}.params.{k}", v)
    error = None
    holder = {} if holder is None else holder
    # waiting for a kernel counts against the step's time limit (a kernel that never gets ready must not double it)
    turn = time.monotonic()

    def left() -> float:
        return max(1.0, timeout - (time.monotonic() - turn))

    if warm is None and own_kernel:
        warm = _warm_kernel(t, step_dir, workdir, warm=False)
        if warm is not None:
            holder.update(warm.holder)
    if warm is not None and not warm.ready(left()):
        warm.discard()
        warm = _warm_kernel(t, step_dir, workdir, warm=False)
        if warm is not None:
            holder.update(warm.holder)
        if warm is not None and not warm.ready(left()):
            warm.discard()
            warm = None
    if cancel is not None and cancel.is_set():
        if warm is not None:
            warm.discard()
        raise KeyboardInterrupt
    if warm is not None:
        warm.holder["detach"] = True  # its exit overlaps what comes next (kernels.kernel_manager_class)
        holder.update(warm.holder)
        kernel_log, km = warm.log_path, {"km": warm.km}
    else:
        fd, log_name = tempfile.mkstemp(prefix="playbook-kernel-", suffix=".log")
        os.close(fd)
        kernel_log, km = Path(log_name), {"cwd": str(step_dir)}
    # the step's time starts when its kernel is ready (a kernel started ahead booted while other work ran)
    started = _now()
    t0 = time.perf_counter()
    env_backup = {k: os.environ.get(k) for k in _KERNEL_ENV} if warm is None else {}
    if warm is None:  # papermill starts the kernel from this process's environment (one step at a time)
        os.environ.update(_kernel_env(workdir))
    watchdog = _Watchdog(holder, left())
    try:
        with watchdog:
            # saved after every cell: a kernel killed mid-cell (the out-of-memory killer, the watchdog's SIGKILL)
            # leaves the notebook as far as it got (papermill writes nothing else after a dead kernel)
            pm.execute_notebook(
                str(t.path), str(step_dir / "notebook.ipynb"), parameters=parameters, kernel_name=KERNEL,
                progress_bar=False, execution_timeout=timeout + 2 * TIMEOUT_GRACE,
                log_output=False, request_save_on_cell_execute=True,
                kernel_manager_class=_kernel_manager_class(kernel_log, holder),
                engine_name=progress_mod.ENGINE, on_cell=on_cell, **km,
            )
    except Exception as exc:  # papermill wraps notebook errors; anything else (timeout, kernel death) too
        error = _error_line(exc)
        if warm is not None:  # how the kernel ended is known once its detached shutdown is over
            from playbook.kernels import join_reapers

            join_reapers([warm.holder])
        ended = _kernel_end(holder)
        if watchdog.fired:
            error = f"timed out after {timeout:g} s (steps.{t.name}.timeout); the notebook shows the point it reached"
        elif not _cell_raised(exc) and (ended or "DeadKernel" in error or "died" in error.lower()):
            what = ("was " + ended) if ended and ended.startswith("killed") else (ended or "died")
            hint = ("; the out-of-memory killer ends processes this way when the machine runs out of memory"
                    if "SIGKILL" in what else "")
            error = f"the kernel {what} while the step ran{hint}"
            tail = _kernel_log_tail(kernel_log)
            error += (" | kernel log: " + " / ".join(tail)) if tail else " | the kernel logged nothing"
    finally:
        kernel_log.unlink(missing_ok=True)
        if warm is not None:  # papermill shut it down; when it failed before starting the notebook, stopped here
            if warm.holder.get("reaper") is not None:
                holder["reaper"] = warm.holder["reaper"]
            warm.discard()
        for k, v in env_backup.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - t0
    res = load_results(step_dir)
    if error is not None:
        check = catalogue.check(
            f"{t.name}.executed", "error", error, title=f"Step {t.name} ran to the end", evidence="notebook.html",
            why="A step that cannot run leaves its part of the evidence missing; the error is shown in its notebook.")
        if res is None:
            res = {"schema_version": 1, "step": t.name, "checks": [], "metrics": {}, "info": {}, "summary": {},
                   "artifacts": []}
        res["checks"] = [c for c in res.get("checks", []) if c["id"] != check["id"]] + [check]
        res["status"] = "error"
        write_json_atomic(step_dir / "results.json", res)
    elif res is None:
        error = "the notebook ran but recorded no results (it must call step.save())"
        res = {"schema_version": 1, "step": t.name, "status": "error", "metrics": {}, "info": {}, "summary": {},
               "artifacts": [], "checks": [catalogue.check(
                   f"{t.name}.executed", "error", error, title=f"Step {t.name} recorded its results",
                   evidence="notebook.html", why="Without results the step gives no evidence.")]}
        write_json_atomic(step_dir / "results.json", res)
    if not (step_dir / "notebook.ipynb").exists():
        _write_placeholder_notebook(step_dir / "notebook.ipynb", t, error or "no notebook was written")
    if not (step_dir / "timings.json").exists():
        write_json_atomic(step_dir / "timings.json", {"step": t.name, "timings": {}})
    status = "error" if error else res.get("status", "pass")
    return StepOutcome(t, status, error, started, seconds, {k: v for k, v in parameters.items() if k not in WIRING})


def _write_placeholder_notebook(path: Path, t: Template, error: str) -> None:
    """A step that died before papermill saved anything still gets a notebook saying so."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    import html

    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {t.dirname}\n\nThe step could not run: {html.escape(error)}"))
    nbformat.write(nb, str(path))


def _render_html(step_dir: Path, out: Path | None = None) -> str | None:
    """Render the step's executed notebook as ``out`` (default ``step_dir/notebook.html``); the error, or None."""
    from playbook.report import notebook_to_html

    out = out or step_dir / "notebook.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    nb = step_dir / "notebook.ipynb"
    if not nb.exists():
        out.write_text("<!DOCTYPE html><html><body><p>The executed notebook is missing.</p></body></html>",
                       encoding="utf-8")
        return "the executed notebook is missing"
    try:
        notebook_to_html(nb, out)
    except Exception as exc:  # a rendering problem must not lose the pack
        out.write_text(
            f"<!DOCTYPE html><html><body><p>Rendering failed: {type(exc).__name__}. See notebook.ipynb.</p></body></html>",
            encoding="utf-8")
        return _error_line(exc)
    return None


def build_summary(cfg: config_mod.PackConfig, ctx, staging: Path, outcomes: list[StepOutcome],
                  all_templates: list[Template], model_info: dict | None = None) -> dict:
    from playbook import scorecard

    checks = scorecard.collect(staging)
    step_statuses = {o.template.name: ("error" if o.status == "error" else "ok") for o in outcomes}
    ran = {o.template.name: o for o in outcomes}
    not_run = [t.name for t in all_templates if t.name not in ran]
    from playbook.modeling import facts as model_facts

    facts = model_facts(ctx, model_info)
    verdict = scorecard.evaluate(checks, cfg.policy, step_statuses, facts=facts, steps_not_run=not_run)
    steps = []
    extras: dict[str, Any] = {}
    for t in all_templates:
        o = ran.get(t.name)
        if o is None:
            steps.append({"name": t.name, "dir": None, "status": "skipped", "error": None,
                          "notebook": None, "html": None, "results": None})
            continue
        d = f"steps/{t.dirname}"
        res = load_results(staging / d) or {}
        for k, v in (res.get("summary") or {}).items():
            extras[k] = v
        steps.append({"name": t.name, "dir": d, "status": o.status, "error": o.error,
                      "notebook": f"{d}/notebook.ipynb", "html": f"{d}/notebook.html",
                      "results": f"{d}/results.json", "metrics": res.get("metrics", {})})
    dirs = {t.name: f"steps/{t.dirname}" for t in all_templates}
    for r in verdict["reasons"]:
        if r["kind"] == "step_error" and r["step"] in dirs:
            r.update({"step_dir": dirs[r["step"]], "evidence": "notebook.html", "check": f"{r['step']}.executed"})
    summary = {
        "schema_version": 1,
        "pack": cfg.name,
        "playbook_version": __version__,
        "verdict": verdict["verdict"],
        "exit_code": scorecard.EXIT_CODES[verdict["verdict"]],
        "task": ctx.roles.task,
        "task_inferred": ctx.roles.task_inferred,
        "target": ctx.roles.target,
        "features": ctx.roles.features,
        "pii_excluded_from_features": ctx.roles.pii_excluded,
        "excluded_from_features": dict(ctx.roles.excluded_reasons),
        "rows_with_infinite_values": dict(ctx.roles.infinite_rows),
        "positive_label": ctx.roles.positive_label,
        "rows": {role: ctx.table(role).rows for role in ("reference", "current")},
        "data_sample": {role: smp for role, smp in ctx.sampling.items() if smp},
        "steps": steps,
        "checks": checks,
        "gates": verdict["gates"],
        "reasons": verdict["reasons"],
        "counts": verdict["counts"],
        "partial": bool(not_run),
        "steps_not_run": not_run,
        "facts": facts,
    }
    for k, v in extras.items():
        summary.setdefault(k, v)
    return to_jsonable(summary)


def run(config_path: str | None = None, out: str | Path = "evidence", name: str | None = None,
        steps: list[str] | None = None, force: bool = False, overrides: list[str] | None = None,
        progress: Any = True, log: Callable[[str], None] | None = None,
        templates_folder: str | Path | None = None, step_jobs: int | None = None) -> RunResult:
    """Run the playbook and write the evidence pack.

    ``step_jobs``: how many steps may run at once (default :func:`resolve_step_jobs`); a step starts when the steps it reads
    (:attr:`Template.after`) have ended.

    ``progress``: ``True`` shows one bar on a terminal, else one line per finished step on stderr; ``False`` one line
    per finished step through ``log``; or a :class:`playbook.progress.Progress` of the caller's.

    Raises ConfigError / DataError / RunError / PackError on bad input, all before anything is written (an output
    folder this call created is removed again). An OSError while the pack is built (a full disk) removes the
    unfinished folder and propagates."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    resolve_step_jobs(step_jobs)  # a bad PLAYBOOK_STEP_JOBS is refused before anything is written
    key = pack_mod.signing_key()
    cfg = config_mod.load(config_path, overrides)
    if cfg.previous and not (Path(cfg.previous) / pack_mod.MANIFEST).is_file():
        raise RunError(f"--previous {cfg.previous}: not an evidence pack (no manifest.json there); pass the folder of "
                       "an earlier pack.")
    if cfg.previous:
        pack_mod.require_verified(cfg.previous, purpose="pass an untouched pack", error=RunError,
                                  subject=f"--previous {cfg.previous}")
    if name:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise RunError(f"--name {name}: use letters, digits, '.', '_' or '-' (it names the pack folder).")
        cfg.name = name
    folder = Path(templates_folder or os.environ.get("PLAYBOOK_TEMPLATES") or templates_dir())
    templates = discover(folder)
    if not templates:
        raise RunError(f"no templates found in {folder}; reinstall the package or check PLAYBOOK_TEMPLATES.")
    chosen = select_steps(cfg, templates, steps)
    declared = check_params(cfg, chosen)
    step_params = {t.name: params_mod.validate(t.name, dict(cfg.step(t.name).params), declared[t.name]) for t in chosen}
    for t in chosen:
        for k, v in step_params[t.name].items():
            _as_data(f"steps.{t.name}.params.{k}", to_jsonable(v, round_floats=False))
    final = Path(out).expanduser().resolve() / cfg.name
    if final.exists() and not final.is_dir():
        raise RunError(f"{final}: exists and is not a folder; choose another --out or --name.")
    if final.exists() and not force:
        raise RunError(f"{final}: a pack already exists there; pass --force to replace it or --name to choose another name.")
    out_dir = final.parent
    created = [p for p in [out_dir, *out_dir.parents] if not p.exists()]
    try:
        pack_mod.check_writable(out_dir)
        with pack_mod.PackLock(final):
            return _run_locked(cfg, key, templates, chosen, declared, step_params, final, force, progress, log,
                               step_jobs)
    except BaseException:
        for p in created:  # leave no (empty) folder behind that this call made
            try:
                p.rmdir()
            except OSError:
                break
        raise


def _run_locked(cfg, key, templates, chosen, declared, step_params, final: Path, force: bool, progress: bool,
                log, requested_jobs: int | None = None) -> RunResult:
    if final.exists() and not force:  # another run may have placed it while we waited for the lock
        raise RunError(f"{final}: a pack already exists there; pass --force to replace it or --name to choose another name.")
    stale = pack_mod.clean_stale(final.parent, final.name, holding_lock=True)
    for d in stale.removed:
        log(f"removed {d.name}: the unfinished folder of an earlier run of {final.name} that died")
    for d in stale.restored:
        log(f"restored {d}: a run killed while replacing it had moved it aside")
    from playbook import preflight as pre
    from playbook.kernels import sweep_sockets

    sweep_sockets()  # the kernel socket folders of runs killed hard (their owner process is gone)

    work = pre.make_workdir(final)
    try:
        return _run_with_workdir(cfg, key, templates, chosen, declared, step_params, final, force, progress, log, work,
                                 requested_jobs)
    finally:
        pre.remove_workdir(work)


#: How many steps of one pack may run at once (default: 2 on a machine of two cores or more, else 1).
JOBS_ENV = "PLAYBOOK_STEP_JOBS"


def resolve_step_jobs(requested: int | None = None) -> int:
    """Steps of a pack run side by side: ``requested``, else :data:`JOBS_ENV`, else 2 when the machine has two cores
    or more. A step uses about one core; more than two at once rarely helps, as the steps wait on each other."""
    if requested is None:
        raw = os.environ.get(JOBS_ENV, "").strip()
        if raw:
            try:
                requested = int(raw)
            except ValueError:
                raise RunError(f"{JOBS_ENV}={raw}: not a whole number; set it to 1 or more.") from None
    if requested is not None:
        if requested < 1:
            raise RunError(f"{JOBS_ENV} / step_jobs {requested}: must be at least 1.")
        return requested
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return 2 if cores >= 2 else 1


def step_needs(chosen: list[Template]) -> dict[str, set[str]]:
    """For each chosen step, the chosen steps that must end before it starts: those it reads (its
    ``metadata.playbook.after``), or, when its notebook does not say, every earlier one."""
    names = [t.name for t in chosen]
    out = {}
    for i, t in enumerate(chosen):
        after = t.after
        out[t.name] = set(names[:i]) if after is None else {a for a in after if a in names[:i]}
    return out


def _top_up(warm: dict | None, upcoming: list[Template], staging: Path, work: Path) -> None:
    """Start the kernels of the ``upcoming`` steps that have none yet (:func:`_warm_kernel`)."""
    if warm is None:
        return
    for t in upcoming:
        if t.name not in warm:
            k = _warm_kernel(t, staging / "steps" / t.dirname, work)
            if k is not None:
                warm[t.name] = k


def _run_steps(cfg, chosen: list[Template], staging: Path, cfg_path: Path, step_params: dict, work: Path, shown,
               warm: dict | None, jobs: int, step_done: Callable) -> list[StepOutcome]:
    """Run the chosen steps, at most ``jobs`` at once, each when the steps it reads have ended
    (:func:`step_needs`), in the order of the templates among those ready; the kernels of the next ``jobs`` steps
    are started ahead (``warm``, None: papermill starts each at its turn). A step whose template says
    ``metadata.playbook.exclusive`` (it measures wall-clock times: latencies, throughput, training time) runs alone:
    it starts when nothing else runs, the kernels started ahead have finished their imports, and no kernel is
    started while it runs. ``step_done(template, outcome)`` is called as each ends. Returns the outcomes in template
    order. Interrupted, it stops the running kernels (also those still starting) and waits for their steps to end
    before raising."""
    import logging
    import signal
    import threading
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from playbook.kernels import join_reapers

    needs = step_needs(chosen)
    index = {t.name: i for i, t in enumerate(chosen, 1)}
    exclusive = {t.name for t in chosen if t.exclusive}
    pending, running, done, outcomes, holders = list(chosen), {}, set(), {}, {}
    cancel = threading.Event()
    pool = ThreadPoolExecutor(jobs, thread_name_prefix="playbook-step")
    try:
        while pending or running:
            for t in list(pending):
                if len(running) >= jobs or any(r.name in exclusive for r in running.values()):
                    break
                if needs[t.name] <= done and not (t.name in exclusive and running):
                    pending.remove(t)
                    kernel = warm.pop(t.name, None) if warm is not None else None
                    if t.name in exclusive:
                        for k in (warm or {}).values():  # their imports end before the measurements begin
                            k.ready(60)
                        join_reapers(holders.values())  # and the kernels of the steps before it have exited
                    shown.step_start(index[t.name], t.dirname)
                    on_cell = (lambda i, n, sec, _name=t.dirname: shown.cell(i, n, sec, name=_name)) \
                        if shown.wants_cells else None
                    holders[t.name] = kernel.holder if kernel is not None else {}
                    running[pool.submit(_run_step, t, staging / "steps" / t.dirname, staging, cfg_path,
                                        step_params[t.name], cfg.step(t.name).timeout, on_cell, work, kernel,
                                        holders[t.name], warm is not None, cancel)] = t
            if not any(r.name in exclusive for r in running.values()):
                _top_up(warm, pending[:jobs], staging, work)  # the next steps' kernels start while these run
            if not running:  # nothing can start: a step waits for one that is not chosen (cannot happen)
                raise RunError("no step can start: " + ", ".join(t.name for t in pending))
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                t = running.pop(f)
                outcomes[t.name] = f.result()
                done.add(t.name)
                step_done(t, outcomes[t.name])
    except BaseException:
        cancel.set()
        log = logging.getLogger("papermill")
        level = log.level
        log.setLevel(logging.CRITICAL)  # no "kernel died" line for the kernels stopped here
        try:
            while any(not f.done() for f in running):  # stop the running kernels, also those still starting
                for f, t in running.items():
                    proc = holders.get(t.name, {}).get("process")
                    if not f.done() and proc is not None and proc.poll() is None:
                        try:
                            os.kill(proc.pid, signal.SIGKILL)
                        except OSError:
                            pass
                wait(running, timeout=0.5)
        finally:
            pool.shutdown(wait=True)
            log.setLevel(level)
            join_reapers(holders.values(), timeout=0)  # kernels still exiting are killed: the run was interrupted
        raise
    pool.shutdown(wait=True)
    join_reapers(holders.values())  # no kernel outlives the run
    return [outcomes[t.name] for t in chosen]


def _inputs(cfg) -> dict:
    """Fingerprints of the pack's inputs (data, model file, config), taken once in the preflight."""
    inputs = {"reference": fingerprint_file(cfg.data.reference), "current": fingerprint_file(cfg.data.current)}
    if cfg.model.path and Path(cfg.model.path).exists():
        inputs["model"] = fingerprint_file(cfg.model.path)
    if cfg.source:
        inputs["config"] = fingerprint_file(cfg.source)
    return inputs


def _run_with_workdir(cfg, key, templates, chosen, declared, step_params, final: Path, force: bool, progress: bool,
                      log, work: Path, requested_jobs: int | None = None) -> RunResult:
    from playbook import preflight as pre

    read_info: dict[str, dict] = {"reference": {}, "current": {}}
    started = _now()
    warm_kernels = os.environ.get(WARM_ENV, "1") != "0"
    jobs = resolve_step_jobs(requested_jobs) if warm_kernels else 1
    warm: dict[str, Any] | None = {} if warm_kernels else None
    staging = pack_mod.staging_dir(final)
    try:
        # the first steps' kernels start (and import) while the preflight reads the data and fits the model
        _top_up(warm, chosen[:jobs], staging, work)
        ctx, model_info, adapter = preflight(cfg, read_info, work)
        for role, info in read_info.items():
            if info.get("encoding_fallback"):
                log(f"warning: data.{role}: {info['encoding_fallback']}")
        for role, smp in ctx.sampling.items():
            if smp:
                log(f"note: data.{role}: {smp['rows']} rows; the steps hold a seeded sample of {smp['sample']} "
                    f"(data.max_rows), the audit's statistics cover every row")
        inputs = _inputs(cfg)
        cfg_path = staging / "config.yaml"
        header = f"# Resolved by playbook {__version__} from {cfg.source or 'the bundled defaults'}; paths are absolute.\n"
        cfg_path.write_text(header + config_mod.dump(cfg), encoding="utf-8")
        _store_privacy(ctx, staging)
        pre.store(staging, ctx, work, model_info, inputs, adapter)
        shown = _reporter(progress, log)
        shown.start([t.dirname for t in chosen])
        from concurrent.futures import ThreadPoolExecutor

        renders, html = ThreadPoolExecutor(1, thread_name_prefix="playbook-html"), {}

        def step_done(t: Template, o: StepOutcome) -> None:
            shown.step_end(t.dirname, o.status, o.seconds, o.error)
            # its HTML is rendered while the next steps run, outside the pack until the last step has run (a
            # later step reads the pack's files; none of them may appear or change under it)
            html[t.dirname] = renders.submit(_render_html, staging / "steps" / t.dirname,
                                             work / "html" / f"{t.dirname}.html")

        try:
            outcomes = _run_steps(cfg, chosen, staging, cfg_path, step_params, work, shown, warm, jobs, step_done)
        finally:
            shown.close()
            renders.shutdown(wait=True)
        for o in outcomes:
            d = staging / "steps" / o.template.dirname
            harden_outputs(d)
            err = html[o.template.dirname].result()
            shutil.move(str(work / "html" / f"{o.template.dirname}.html"), str(d / "notebook.html"))
            if err:
                log(f"warning: could not render {o.template.dirname}/notebook.html ({err})")
        summary = build_summary(cfg, ctx, staging, outcomes, templates, model_info)
        summary["inputs_read"] = read_info
        write_json_atomic(staging / "summary.json", summary)
        from playbook.report import render_index

        write_text_atomic(staging / "index.html", render_index(staging, summary))
        for role in ("reference", "current"):
            inputs[role]["read"] = read_info[role]
        pack_mod.seal(staging)
        manifest = pack_mod.write_manifest(staging, {
            "pack": cfg.name,
            "playbook_version": __version__,
            "verdict": summary["verdict"],
            "started": started,
            "finished": _now(),
            "inputs": inputs,
            "parameters": {o.template.name: resolved_parameters(declared[o.template.name], o.parameters)
                           for o in outcomes},
            "steps": {o.template.name: {"started": o.started, "seconds": round(o.seconds, 3), "status": o.status}
                      for o in outcomes},
            "policy": {"allow_raw_pii": cfg.policy.allow_raw_pii, "allow_pickle": cfg.model.allow_pickle},
            "git_commit": pack_mod.git_commit(templates_dir()),
            "command": sys.argv[1:] if sys.argv and sys.argv[0].endswith(("playbook", "__main__.py")) else None,
        }, key=key)
        pack_mod.place(staging, final, force)
    except BaseException:
        pack_mod.remove_tree(staging)
        raise
    finally:
        for k in (warm or {}).values():  # kernels started for steps that did not come (the run stopped before them)
            k.discard()
    return RunResult(final, summary["verdict"], summary["exit_code"], summary, outcomes,
                     digest=manifest["digest"]["value"], signature=manifest.get("signature"))


def harden_outputs(step_dir: Path) -> None:
    """Make a step's files safe to open: every HTML artifact gets its embedded data escaped
    (:func:`playbook.report.harden_html`), every CSV its formula-like cells neutralised
    (:func:`playbook.data.neutralise_csv_file`). The steps write through the same functions; this pass makes it
    true of every file of the pack, whoever wrote it."""
    from playbook.data import neutralise_csv_file
    from playbook.report import harden_html

    arts = step_dir / "artifacts"
    if not arts.is_dir():
        return
    for p in sorted(arts.rglob("*")):
        if p.is_symlink() or not p.is_file():
            continue
        if p.suffix.lower() in (".html", ".htm"):
            harden_html(p)
        elif p.suffix.lower() in (".csv", ".tsv"):
            neutralise_csv_file(p)


def _reporter(progress, log):
    """What the run shows while it works (:func:`playbook.progress.reporter`): a bar on a terminal, else a line
    per finished step; ``progress`` may be a :class:`playbook.progress.Progress` of the caller's."""
    from playbook import progress as progress_mod

    return progress_mod.reporter(progress, log)


__all__ = ["run", "discover", "template_parameters", "harden_outputs", "RunError", "DataError"]
