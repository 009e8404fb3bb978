"""What a run shows while it works: one bar on a terminal, one line per finished step in a log.

A run reports to a :class:`Progress`:

- :class:`Bar` (stderr is a terminal): one tqdm bar for the whole pack, steps done / total, the running step and
  the section of its notebook that is running (the nearest markdown heading above the running cell);
- :class:`Lines` (stderr is a pipe or a file, e.g. a CI log): no bar and no escape codes, exactly one line per step
  when it ends (``03_monitoring_setup  pass  12.3 s``);
- :class:`Silent` (``-q``): nothing but the messages (warnings, notes) the run sends through :meth:`Progress.message`
  and the line of a step that could not run.

The running cell is learned from papermill's own engine hooks: :class:`TrackingEngine` is papermill's nbclient
engine, registered as ``playbook``, that calls ``on_cell(index, total, section)`` when a cell starts. papermill's
per-cell bar stays off.
"""

from __future__ import annotations

import re
import sys
from typing import Callable, TextIO

from papermill.engines import NBClientEngine, papermill_engines

ENGINE = "playbook"  # papermill engine name of :class:`TrackingEngine`

_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")


def heading(source: str) -> str | None:
    """The last ATX heading (``# ...`` to ``###### ...``) of a markdown source, without its marks; None without one.
    Lines inside fenced code blocks are not headings."""
    found, fence = None, None
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            mark = stripped[:3]
            fence = None if fence == mark else (fence or mark)
            continue
        if fence:
            continue
        m = _HEADING.match(line)
        if m:
            found = re.sub(r"[*_`]", "", m.group(1)).strip() or found
    return found


def section_titles(nb) -> list[str | None]:
    """For each cell of a notebook, the nearest markdown heading at or above it (None before the first)."""
    out, current = [], None
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown":
            src = cell.get("source", "")
            current = heading("".join(src) if isinstance(src, list) else src) or current
        out.append(current)
    return out


class TrackingEngine(NBClientEngine):
    """papermill's nbclient engine that tells ``on_cell(index, total, section)`` which cell starts."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, on_cell: Callable | None = None, **kwargs):
        if on_cell is not None:
            titles = section_titles(nb_man.nb)
            total = len(nb_man.nb.cells)
            cell_start = nb_man.cell_start

            def _cell_start(cell, cell_index=None, **kw):
                cell_start(cell, cell_index, **kw)
                if cell_index is not None:
                    try:
                        on_cell(cell_index, total, titles[cell_index])
                    except Exception:  # noqa: BLE001 - a display problem never stops a step
                        pass

            nb_man.cell_start = _cell_start
        if kwargs.get("km") is None:
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
        return cls._execute_on(nb_man, kernel_name, **kwargs)

    @staticmethod
    def _execute_on(nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None, start_timeout=60,
                    execution_timeout=None, **kwargs):
        """papermill's own execution (``NBClientEngine.execute_managed_notebook``) on a kernel started ahead
        (:class:`playbook.kernels.WarmKernel`), shut down at the end as papermill shuts down the kernels it starts."""
        from papermill.clientwrap import PapermillNotebookClient
        from papermill.log import logger
        from papermill.utils import merge_kwargs, remove_args

        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout, kernel_name=kernel_name, log=logger, log_output=log_output,
            stdout_file=stdout_file, stderr_file=stderr_file)
        return PapermillNotebookClient(nb_man, **final_kwargs).execute(cleanup_kc=True)


papermill_engines.register(ENGINE, TrackingEngine)


def step_line(name: str, status: str, seconds: float, error: str | None = None, width: int = 0) -> str:
    """``03_monitoring_setup  pass  12.3 s`` (the name padded to ``width``; a step's error follows in brackets)."""
    line = f"{name.ljust(width)}  {status}  {seconds:.1f} s"
    return line + (f"  ({error})" if error else "")


class Progress:
    """Silent base: every hook does nothing; messages go to ``log`` (default: a line on stderr)."""

    wants_cells = False

    def __init__(self, log: Callable[[str], None] | None = None):
        self._log = log

    def message(self, text: str) -> None:
        if self._log is not None:
            self._log(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def start(self, steps: list[str]) -> None:
        self.steps = list(steps)
        self.width = max((len(s) for s in self.steps), default=0)

    def step_start(self, index: int, name: str) -> None:
        pass

    def cell(self, index: int, total: int, section: str | None, name: str | None = None) -> None:
        """Cell ``index`` of ``total`` of step ``name`` (default: the step that started last) starts."""

    def step_end(self, name: str, status: str, seconds: float, error: str | None = None) -> None:
        pass

    def close(self) -> None:
        pass


class Silent(Progress):
    """``-q``: no progress; messages (warnings, notes) and the line of a step that could not run still show."""

    def step_end(self, name: str, status: str, seconds: float, error: str | None = None) -> None:
        if status == "error":
            self.message(step_line(name, status, seconds, error))


class Lines(Progress):
    """One line per finished step, through ``log`` (default: stderr). No bar, no carriage return, no escape code."""

    def step_end(self, name: str, status: str, seconds: float, error: str | None = None) -> None:
        self.message(step_line(name, status, seconds, error, getattr(self, "width", 0)))


class Bar(Progress):
    """One tqdm bar for the whole pack on ``stream`` (a terminal): ``2/6 steps |███   | 00:41 02_model_evaluation ·
    Calibration``. It redraws in place when a step or a cell starts; messages are printed above it."""

    wants_cells = True

    def __init__(self, stream: TextIO | None = None, log: Callable[[str], None] | None = None):
        super().__init__(log)
        self.stream = stream or sys.stderr
        self.bar = None
        self.name = ""
        encoding = (getattr(self.stream, "encoding", None) or "").lower().replace("-", "")
        self.sep = " · " if encoding.startswith("utf") else " - "  # a terminal that cannot show a middle dot

    def message(self, text: str) -> None:
        if self.bar is None:
            print(text, file=self.stream, flush=True)
        else:
            self.bar.write(text, file=self.stream)

    def start(self, steps: list[str]) -> None:
        from tqdm import tqdm

        super().start(steps)
        self.bar = tqdm(total=len(self.steps), file=self.stream, dynamic_ncols=True, leave=True,
                        bar_format="{n_fmt}/{total_fmt} steps |{bar:16}| {elapsed} {desc}")

    def _show(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(text, refresh=True)

    def step_start(self, index: int, name: str) -> None:
        self.name = name
        self._show(name)

    def cell(self, index: int, total: int, section: str | None, name: str | None = None) -> None:
        name = name or self.name
        self._show(f"{name}{self.sep}{section}" if section else name)

    def step_end(self, name: str, status: str, seconds: float, error: str | None = None) -> None:
        if self.bar is None:
            return
        if status == "error":
            self.bar.write(step_line(name, status, seconds, error), file=self.stream)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self._show("done")
            self.bar.close()
            self.bar = None


def is_terminal(stream: TextIO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # closed or not a file
        return False


def for_stream(stream: TextIO | None = None, quiet: bool = False,
               log: Callable[[str], None] | None = None) -> Progress:
    """The reporter for a run whose progress goes to ``stream`` (default: stderr): :class:`Silent` with ``quiet``,
    :class:`Bar` on a terminal, :class:`Lines` otherwise."""
    stream = stream if stream is not None else sys.stderr
    if quiet:
        return Silent(log)
    if is_terminal(stream):
        return Bar(stream, log)
    return Lines(log or (lambda text: print(text, file=stream, flush=True)))


def reporter(progress, log: Callable[[str], None] | None = None) -> Progress:
    """What :func:`playbook.runner.run` reports to: a :class:`Progress` as given; ``True``: :func:`for_stream` on
    stderr; ``False``: :class:`Lines` through ``log`` (a log file keeps one line per step, no bar)."""
    if isinstance(progress, Progress):
        return progress
    if progress:
        return for_stream(sys.stderr, log=log)
    return Lines(log)


# -- batch ------------------------------------------------------------------------------------------------------
def pack_line(entry: str, verdict: str, finished: int, total: int, seconds: float | None = None,
              error: str | None = None) -> str:
    """``[3/8] model__seed-1: go in 41.2s`` (a pack's error follows in brackets)."""
    line = f"[{finished}/{total}] {entry}: {verdict}"
    line += f" in {seconds:.1f}s" if seconds is not None else ""
    return line + (f" ({error})" if error else "")


class BatchProgress:
    """``playbook batch``: one bar over the packs on a terminal, one line per finished pack otherwise, nothing with
    ``quiet``. ``done(row, finished, total)`` is the batch's ``on_done`` hook."""

    def __init__(self, total: int, stream: TextIO | None = None, quiet: bool = False):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.bar = None
        if not quiet and is_terminal(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="pack", file=self.stream, dynamic_ncols=True, desc="batch")

    def done(self, row, finished: int, total: int) -> None:
        line = pack_line(row.entry, row.verdict, finished, total, row.seconds, row.error)
        if self.bar is None:
            if not self.quiet:
                print(line, file=self.stream, flush=True)
            return
        if row.verdict == "error":
            self.bar.write(line, file=self.stream)
        self.bar.set_postfix_str(f"{row.entry}: {row.verdict}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


__all__ = ["Progress", "Silent", "Lines", "Bar", "BatchProgress", "TrackingEngine", "ENGINE", "for_stream",
           "reporter", "heading", "section_titles", "step_line", "pack_line"]
