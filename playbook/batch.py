"""Many packs at once: ``playbook batch MATRIX.yaml`` builds one evidence pack per entry of a matrix, on local worker
processes or on a Dask distributed cluster, and writes a summary of all of them (``batch.csv``, ``batch.html``).

A **matrix** (YAML) is either a list of pack configs::

    packs: [credit.yaml, churn/playbook.yaml]      # or a bare YAML list; paths relative to the matrix file

or one config and the values to vary::

    base: model.yaml                               # optional: absent = the bundled German credit data
    grid:                                          # dotted config keys, as `playbook run -p KEY=VALUE` takes them
      seed: [0, 1]
      data.current: [data/week1.csv, data/week2.csv]
    entries:                                       # optional: packs with explicit overrides, after the grid's
      - {name: strict, params: {policy.gates.model.roc_auc: {min: 0.8}}}

Both forms take ``params:`` (overrides applied to every entry first). The grid's cartesian product comes first (in
the order the keys and values are written, the last key varying fastest), then the explicit entries. Paths in the
matrix (``packs``, ``base`` and the values of ``data.reference``, ``data.current``, ``model.path``, ``previous``)
are relative to the matrix file.

Each entry becomes an independent pack with a deterministic, filesystem-safe name: the config's ``name`` (or its
file stem; ``german-credit`` for the bundled data) followed by its grid values (``german-credit__seed-1``), or the
entry's own ``name``. :func:`load_matrix` validates the whole matrix before anything runs (unknown keys, missing
files, an empty grid, two entries with one name) and raises :class:`BatchError`, one sentence naming the key or
file and the fix. The config of each entry is validated by :func:`playbook.runner.run` in that entry's own task: a
broken entry (bad config, bad data) fails with its own message in the summary while the others run.

**How a pack runs.** Every entry runs ``playbook.runner.run(config, out=..., name=..., overrides=..., force=...,
progress=False)`` in a fresh Python process of its own (``python -c`` started with :mod:`subprocess`, never a fork),
supervised by a thread (locally) or by a Dask task (on a cluster) that waits for it and reads its result file:

* papermill changes the process's working directory while a notebook runs and the runner sets environment
  variables for its kernels, so two packs must never share a process; a process of its own per pack also frees
  every byte of a pack's memory when it ends;
* a pack whose process is killed (the out-of-memory killer, a kill -9) becomes an error row naming the signal and
  the last lines the process logged, and the other packs carry on. This is why local runs do not use a
  ``concurrent.futures.ProcessPoolExecutor``: one of its workers killed breaks the whole pool (every pending future
  fails with ``BrokenProcessPool``, and which pack was killed is lost), and why they do not use a
  ``distributed.LocalCluster`` either: it reschedules the task of a dead worker on another one (up to
  ``distributed.scheduler.allowed-failures`` times) and costs a scheduler and a nanny per worker for what a thread
  waiting on a child process does;
* each pack process watches its parent and stops (cleaning up like Ctrl-C) when the parent dies, so a batch that is
  killed, or a Dask worker that dies, leaves no orphan writing a pack.

Kernels of packs running side by side do not collide: their connection files are ``tempfile.mkstemp`` files and
their IPC sockets are created in a private ``tempfile.mkdtemp`` folder of each kernel (``playbook-ipc-<random>``,
:class:`playbook.kernels.WarmKernel`), removed when the kernel stops.

Locally, ``workers`` packs run at once (default: the number of cores); each pack process gets
``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` = cores // workers (at least 1) unless the
environment already sets them, so parallel packs do not oversubscribe the cores with BLAS / OpenMP threads.

**On a Dask cluster** (``scheduler="tcp://HOST:PORT"``): one task per pack (``client.submit(run_entry, ...,
pure=False, key=..., retries=0)``, with ``resources={"pack": 1}`` when the workers advertise a ``pack`` resource),
results gathered with ``as_completed`` and written in matrix order. The batch keeps at most as many tasks on the
cluster as it has pack slots (the workers' ``pack`` resources, else their threads), so a task waits here rather
than in a worker's queue: a worker that joins gets the next pack, and a worker that dies takes with it only the
packs it was running. Those fail with ``KilledWorker`` (an error row) once the scheduler gives up on them: it reruns
a dead worker's tasks elsewhere up to ``distributed.scheduler.allowed-failures`` times (3 by default; start the
scheduler with ``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0`` to make the first death final). When no worker is
left for :data:`NO_WORKER_TIMEOUT` seconds, the unfinished entries become error rows instead of waiting for ever.
The packs are written by the workers straight into ``out``, so ``out`` must be one shared folder (NFS, ...) at the
same path on this host and on every worker; this is checked before any task is submitted. Dask's nanny already
starts workers with one BLAS thread. An unreachable scheduler fails within :data:`CONNECT_TIMEOUT` seconds.

Exit code of a batch: 0 when every entry is ``go``, 1 when any is ``no-go`` or ``incomplete`` (and none errored),
2 when any errored (bad input or an ``error`` verdict).
"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from playbook import config as config_mod

#: Seconds to wait for a Dask scheduler to answer before giving up (exit 2).
CONNECT_TIMEOUT = 5.0
#: Seconds to wait for at least one worker on the cluster, before the batch and while it runs.
NO_WORKER_TIMEOUT = 60.0
#: Seconds a pack process gets to clean up after SIGTERM (an interrupted batch) before it is killed.
STOP_GRACE = 20.0
#: Seconds a pack waits for another run of its name (the orphan of a dead worker cleaning up) to free the lock.
LOCK_WAIT = 30.0
#: At most this many entries in one matrix (a grid grows fast).
MAX_ENTRIES = 1000
#: Longest pack name a matrix makes (longer ones are cut and end in a hash of the full name).
MAX_NAME = 120
#: Files the batch writes into ``out`` (no entry may take their names).
SUMMARY_CSV, SUMMARY_HTML = "batch.csv", "batch.html"
EXIT_GO, EXIT_NOGO, EXIT_ERROR = 0, 1, 2
VERDICTS = ("go", "no-go", "incomplete", "error")
#: Config keys whose values are paths (relative to the matrix file when given in a matrix).
PATH_KEYS = ("data.reference", "data.current", "model.path", "previous")
CSV_COLUMNS = ("entry", "verdict", "exit_code", "reasons", "ml_test_score", "seconds", "pack", "error", "digest")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_LIST_KEYS = {"packs", "params"}
_GRID_KEYS = {"base", "grid", "entries", "params"}
_ENTRY_KEYS = {"name", "params"}


class BatchError(ValueError):
    """Bad input for a batch (the matrix, ``--out``, ``--scheduler``, ...): one sentence naming it and the fix."""


class BatchInterrupted(KeyboardInterrupt):
    """A batch stopped by Ctrl-C or SIGTERM after it started packs: ``result`` is the summary that was written (the
    packs that finished, the others as error rows)."""

    def __init__(self, result: "BatchResult"):
        super().__init__("interrupted")
        self.result = result


# -- the matrix -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One pack of a batch: its name, the config it starts from (None = the bundled data) and its overrides, as
    ``playbook run -p KEY=VALUE`` texts."""

    name: str
    config: str | None
    overrides: tuple[str, ...] = ()
    origin: str = ""  # where it comes from in the matrix, e.g. "packs[2]" or "grid seed=1"


@dataclass
class Matrix:
    path: Path
    entries: list[Entry]


def load_matrix(path: str | Path, templates_folder: str | Path | None = None) -> Matrix:
    """Read and validate a matrix file; the entries in matrix order. Raises :class:`BatchError`."""
    p = Path(path).expanduser()
    raw = _read_yaml(p)
    base_dir = p.resolve().parent
    tpl = _templates(templates_folder)
    if isinstance(raw, list):
        raw = {"packs": raw}
    if not isinstance(raw, dict):
        raise BatchError(f"{path}: a matrix is a list of config files or a mapping (packs:, or base: and grid: / "
                         f"entries:), not {type(raw).__name__}; see `playbook batch --help`.")
    if "packs" in raw:
        _known_keys(path, raw, _LIST_KEYS, "with packs:")
        common = _params(raw.get("params"), "params", base_dir, tpl)
        entries = _list_entries(raw["packs"], base_dir, common)
    elif "grid" in raw or "entries" in raw:
        _known_keys(path, raw, _GRID_KEYS, "with grid: / entries:")
        common = _params(raw.get("params"), "params", base_dir, tpl)
        entries = _grid_entries(raw, base_dir, common, tpl)
    else:
        unknown = sorted(str(k) for k in raw if k not in _LIST_KEYS | _GRID_KEYS)
        if unknown:
            raise BatchError(f"{path}: {unknown[0]}: unknown key; a matrix has packs: (a list of configs), or base: "
                             "with grid: and / or entries:, and optional params:.")
        raise BatchError(f"{path}: the matrix names no pack; add packs: (a list of configs), or grid: / entries: "
                         "(with an optional base: config).")
    _check_names(entries)
    return Matrix(p.resolve(), entries)


def _read_yaml(p: Path) -> Any:
    if not p.exists():
        raise BatchError(f"{p}: matrix file not found; check the path.")
    if p.is_dir():
        raise BatchError(f"{p}: is a folder, not a matrix file; pass the YAML file that lists the packs.")
    import yaml

    try:
        raw = config_mod.safe_load(p.read_text(encoding="utf-8"))
    except yaml.constructor.ConstructorError:
        raise BatchError(f"{p}: a YAML tag that would build an object is not allowed in a matrix (it holds plain "
                         "data); remove the tag.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise BatchError(f"{p}: not valid YAML{where}; fix the syntax ({problem}).") from None
    except UnicodeDecodeError:
        raise BatchError(f"{p}: not a text file; pass a YAML matrix.") from None
    except OSError as exc:
        raise BatchError(f"{p}: cannot be read ({exc.strerror or exc}); check the file's permissions.") from None
    if raw is None:
        raise BatchError(f"{p}: the matrix is empty; list the packs under packs:, or give grid: / entries:.")
    return raw


def _known_keys(path, raw: dict, allowed: set[str], form: str) -> None:
    for k in raw:
        if k not in allowed:
            raise BatchError(f"{path}: {k}: unknown key in a matrix {form}; its keys are: {', '.join(sorted(allowed))}.")


def _templates(folder) -> list:
    from playbook.paths import templates_dir
    from playbook.runner import discover

    return discover(Path(folder or os.environ.get("PLAYBOOK_TEMPLATES") or templates_dir()))


def _resolve(value: Any, base_dir: Path) -> Any:
    if isinstance(value, str) and value:
        q = Path(value).expanduser()
        return str(q if q.is_absolute() else (base_dir / q).resolve())
    return value


def _check_key(where: str, key: Any, templates: list) -> str:
    """A dotted config key as ``-p`` takes it, checked against the config's sections, the steps and their
    parameters. Returns the key."""
    if not isinstance(key, str) or not key or not all(key.split(".")):
        raise BatchError(f"{where}: {key!r} is not a config key; use dotted names like seed, data.current or "
                         "steps.drift_simulation.params.trials.")
    parts = key.split(".")
    top = parts[0]
    if top == "name":
        raise BatchError(f"{where}.name: the pack name is made by the matrix; give an entry its own name with "
                         "entries: [{name: ..., params: {...}}].")
    if top not in config_mod._TOP_KEYS:
        raise BatchError(f"{where}.{key}: unknown config key {top!r}; the config's keys are: "
                         f"{', '.join(sorted(config_mod._TOP_KEYS - {'name'}))}.")
    if top in ("seed", "previous") and len(parts) > 1:
        raise BatchError(f"{where}.{key}: {top} is a single value, not a section; use {top} as the key.")
    if top in config_mod._SECTIONS and len(parts) > 1:
        fields = set(config_mod._SECTIONS[top].__dataclass_fields__) - {"placeholder"}
        if parts[1] not in fields:
            raise BatchError(f"{where}.{key}: unknown key {parts[1]!r} in {top}; its keys are: "
                             f"{', '.join(sorted(fields))}.")
        deep = top == "policy" and parts[1] in ("gates", "attestations", "privacy")
        if len(parts) > 2 and not deep:
            raise BatchError(f"{where}.{key}: {top}.{parts[1]} holds a value, not a section; use {top}.{parts[1]} "
                             "as the key.")
    if top == "steps" and len(parts) > 1:
        names = {t.name: t for t in templates}
        if parts[1] not in names:
            raise BatchError(f"{where}.{key}: unknown step {parts[1]!r}; the steps are: {', '.join(names)}.")
        if len(parts) > 2 and parts[2] not in config_mod._STEP_KEYS:
            raise BatchError(f"{where}.{key}: unknown key {parts[2]!r} in steps.{parts[1]}; its keys are: "
                             f"{', '.join(sorted(config_mod._STEP_KEYS))}.")
        if len(parts) > 3 and parts[2] == "params":
            from playbook.runner import WIRING, template_parameters

            declared = [p for p in template_parameters(names[parts[1]].path) if p not in WIRING]
            if parts[3] not in declared or len(parts) > 4:
                raise BatchError(f"{where}.{key}: not a parameter of {names[parts[1]].path.name}; its parameters "
                                 f"are: {', '.join(declared)}.")
        elif len(parts) > 3:
            raise BatchError(f"{where}.{key}: steps.{parts[1]}.{parts[2]} holds a value, not a section.")
    return key


def _override(where: str, key: str, value: Any, base_dir: Path) -> str:
    """``KEY=VALUE`` text that :func:`playbook.config.parse_override` reads back as exactly ``value``."""
    import yaml

    if key in PATH_KEYS:
        value = _resolve(value, base_dir)
    try:
        text = yaml.safe_dump(value, default_flow_style=True, width=float("inf"), allow_unicode=True).strip()
    except yaml.YAMLError:
        text = None
    if text is not None and text.endswith("\n..."):
        text = text[: -len("\n...")].strip()
    elif text is not None and text.endswith("..."):
        text = text[: -len("...")].strip()
    item = f"{key}={text}"
    if text is None or "\n" in text or config_mod.parse_override(item) != (key, value):
        raise BatchError(f"{where}: {value!r} cannot be passed on as a config value; use text, numbers, true/false, "
                         "lists or mappings of them.")
    return item


def _params(raw: Any, where: str, base_dir: Path, templates: list) -> list[tuple[str, Any, str]]:
    """``params:`` mapping -> [(key, value, override text)] in order."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise BatchError(f"{where}: expected a mapping of config keys to values, e.g. {{seed: 1, data.target: "
                         f"label}}, got {type(raw).__name__}.")
    out = []
    for k, v in raw.items():
        key = _check_key(where, k, templates)
        out.append((key, v, _override(f"{where}.{key}", key, v, base_dir)))
    return out


def _config_name(raw: Any, fallback: str) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    if isinstance(name, str) and _NAME_RE.fullmatch(name):
        return name
    return _slug(fallback) or "pack"


def _list_entries(packs: Any, base_dir: Path, common: list) -> list[Entry]:
    if not isinstance(packs, list):
        raise BatchError(f"packs: expected a list of config files, e.g. [credit.yaml, churn.yaml], got "
                         f"{type(packs).__name__}.")
    if not packs:
        raise BatchError("packs: the list is empty; list at least one config file.")
    entries = []
    for i, item in enumerate(packs, 1):
        where = f"packs[{i}]"
        if not isinstance(item, str) or not item.strip():
            raise BatchError(f"{where}: expected the path of a config file (relative to the matrix), got {item!r}.")
        p = Path(_resolve(item, base_dir))
        if not p.exists():
            raise BatchError(f"{where}: {item}: config file not found (paths are relative to the matrix file, in "
                             f"{base_dir}); fix the path.")
        if p.is_dir():
            raise BatchError(f"{where}: {item}: is a folder; list the config file itself (e.g. {Path(item) / 'playbook.yaml'}).")
        try:
            raw, _, _ = config_mod.load_raw(p)
        except config_mod.ConfigError:  # reported by the entry's own task, under the file's name
            raw = None
        entries.append(Entry(_config_name(raw, p.stem), str(p), tuple(t for _, _, t in common), f"{where} {item}"))
    return entries


def _grid_entries(raw: dict, base_dir: Path, common: list, templates: list) -> list[Entry]:
    base = raw.get("base")
    config_path = None
    if base is not None:
        if not isinstance(base, str) or not base.strip():
            raise BatchError(f"base: expected the path of a config file (relative to the matrix), got {base!r}; or "
                             "leave base: out to start from the bundled data.")
        p = Path(_resolve(base, base_dir))
        if not p.is_file():
            what = "is a folder" if p.is_dir() else "config file not found"
            raise BatchError(f"base: {base}: {what} (paths are relative to the matrix file, in {base_dir}); fix the "
                             "path.")
        try:
            braw, _, _ = config_mod.load_raw(p)
        except config_mod.ConfigError as exc:
            raise BatchError(f"base: {exc}") from None
        base_name, config_path = _config_name(braw, p.stem), str(p)
    else:
        base_name = str(config_mod.BUNDLED["name"])
    entries: list[Entry] = []
    common_texts = tuple(t for _, _, t in common)
    if "grid" in raw:
        grid = raw["grid"]
        if not isinstance(grid, dict):
            raise BatchError(f"grid: expected a mapping of config keys to lists of values, e.g. {{seed: [0, 1]}}, got "
                             f"{type(grid).__name__}.")
        if not grid:
            raise BatchError("grid: empty; map at least one config key to a list of values, e.g. grid: {seed: [0, 1]}.")
        axes = []
        for k, values in grid.items():
            key = _check_key("grid", k, templates)
            if not isinstance(values, list):
                raise BatchError(f"grid.{key}: expected a list of values, e.g. [{values!r}], got {type(values).__name__}.")
            if not values:
                raise BatchError(f"grid.{key}: no values; give at least one, or remove the key.")
            axes.append([(key, v, _override(f"grid.{key}", key, v, base_dir)) for v in values])
        total = 1
        for a in axes:
            total *= len(a)
        if total > MAX_ENTRIES:
            raise BatchError(f"grid: its {total} combinations are more than {MAX_ENTRIES} packs; vary fewer keys or "
                             "values, or split the matrix.")
        labels = _short_keys([a[0][0] for a in axes])
        for combo in itertools.product(*axes):
            name = _join(base_name, [(labels[k], v) for k, v, _ in combo])
            origin = "grid " + ", ".join(f"{k}={_value_text(v)}" for k, v, _ in combo)
            entries.append(Entry(name, config_path, common_texts + tuple(t for _, _, t in combo), origin))
    if "entries" in raw:
        items = raw["entries"]
        if not isinstance(items, list) or not items:
            raise BatchError("entries: expected a non-empty list of {name: ..., params: {KEY: VALUE}}, got "
                             f"{items!r}.")
        for i, item in enumerate(items, 1):
            where = f"entries[{i}]"
            if not isinstance(item, dict):
                raise BatchError(f"{where}: expected a mapping {{name: ..., params: {{KEY: VALUE}}}}, got {item!r}.")
            for k in item:
                if k not in _ENTRY_KEYS:
                    raise BatchError(f"{where}.{k}: unknown key; an entry has name: and params:.")
            params = _params(item.get("params"), f"{where}.params", base_dir, templates)
            name = item.get("name")
            if name is not None:
                if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or len(name) > MAX_NAME:
                    raise BatchError(f"{where}.name: {name!r} must be letters, digits, '.', '_' or '-', at most "
                                     f"{MAX_NAME} characters, starting with a letter or digit (it names the pack "
                                     "folder).")
            elif params:
                labels = _short_keys([k for k, _, _ in params])
                name = _join(base_name, [(labels[k], v) for k, v, _ in params])
            else:
                raise BatchError(f"{where}: give the entry a name: or params: (an entry with neither is the base "
                                 "config itself: name it).")
            entries.append(Entry(name, config_path, common_texts + tuple(t for _, _, t in params), where))
    if len(entries) > MAX_ENTRIES:
        raise BatchError(f"the matrix makes {len(entries)} packs, more than {MAX_ENTRIES}; split it.")
    return entries


def _value_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (list, tuple)):
        return "_".join(_value_text(x) for x in v) or "empty"
    if isinstance(v, dict):
        return "-".join(f"{k}-{_value_text(x)}" for k, x in v.items()) or "empty"
    return str(v)


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    s = re.sub(r"-{2,}", "-", s).strip("-.")
    return s


def _short_keys(keys: list[str]) -> dict[str, str]:
    """Each dotted key's shortest ending that no other key of the list shares (``steps.x.params.trials`` ->
    ``trials``)."""
    out = {}
    for k in keys:
        parts = k.split(".")
        for n in range(1, len(parts) + 1):
            tail = ".".join(parts[-n:])
            if all(o == k or not (o == tail or o.endswith("." + tail)) for o in keys):
                break
        out[k] = tail
    return out


def _join(base: str, pairs: list[tuple[str, Any]]) -> str:
    import hashlib

    name = "__".join([base] + [f"{_slug(k)}-{_slug(_value_text(v)) or 'empty'}" for k, v in pairs])
    if not _NAME_RE.fullmatch(name):
        name = "pack-" + _slug(name)
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
        name = name[: MAX_NAME - 11].rstrip("-._") + "-" + digest
    return name


def _check_names(entries: list[Entry]) -> None:
    seen: dict[str, Entry] = {}
    for e in entries:
        if e.name.lower() in (SUMMARY_CSV, SUMMARY_HTML):
            raise BatchError(f"{e.origin}: the pack name {e.name!r} is the batch's own summary file; name the entry "
                             "otherwise.")
        other = seen.get(e.name.lower())  # one name, whatever the case (case-insensitive file systems)
        if other is not None:
            same = "" if other.name == e.name else f" ({other.name!r} and {e.name!r} differ only in case)"
            raise BatchError(f"{other.origin} and {e.origin} both make the pack name {e.name!r}{same}; give one of "
                             "them another name (the config's name:, or entries: with name:).")
        seen[e.name.lower()] = e


# -- one pack ---------------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the batch summary."""

    entry: str
    verdict: str
    exit_code: int
    reasons: list[str] = field(default_factory=list)
    ml_test_score: float | None = None
    seconds: float | None = None
    pack: str | None = None     # the pack folder, relative to out (None when no pack was written)
    error: str | None = None
    digest: str | None = None

    @classmethod
    def failed(cls, entry: str, error: str, seconds: float | None = None) -> "Row":
        return cls(entry, "error", EXIT_ERROR, [], None, seconds, None, error)


_CHILD = "from playbook.batch import _child_main; _child_main()"


def _pack_env(threads: int | None) -> dict:
    import site

    env = dict(os.environ)
    if threads:
        for k in _BLAS_ENV:
            env.setdefault(k, str(threads))
    root = str(Path(__file__).resolve().parent.parent)  # the pack process imports this very playbook
    sites = set(site.getsitepackages()) | {site.getusersitepackages()}
    if root not in sites:
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


#: pack processes running in this process (the local batch stops them when interrupted)
_LIVE: dict[int, subprocess.Popen] = {}
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()


def run_entry(entry: dict, out: str, force: bool = False, steps: list[str] | None = None,
              templates_folder: str | None = None, threads: int | None = None) -> dict:
    """Build one pack in a fresh Python process and return its summary row (a dict of :class:`Row`). Never raises
    for a pack that fails: a bad config, an error verdict or a killed process are rows too. This is the Dask task."""
    t0 = time.perf_counter()
    _wait_for_lock(Path(out) / entry["name"])
    tmp = Path(tempfile.mkdtemp(prefix="playbook-batch-"))
    try:
        job = {"entry": entry, "out": out, "force": force, "steps": steps, "templates_folder": templates_folder,
               "parent": os.getpid()}
        (tmp / "entry.json").write_text(json.dumps(job), encoding="utf-8")
        with open(tmp / "pack.log", "wb") as log:
            # its own session: a Ctrl-C on the terminal reaches the batch only, which stops each pack once
            with _LIVE_LOCK:
                if _STOPPING.is_set():
                    return asdict(Row.failed(entry["name"], "not started: the batch was interrupted"))
                proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp / "entry.json"),
                                         str(tmp / "result.json")], stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, env=_pack_env(threads), start_new_session=True)
                _LIVE[proc.pid] = proc
            try:
                rc = proc.wait()
            finally:
                with _LIVE_LOCK:
                    _LIVE.pop(proc.pid, None)
        seconds = round(time.perf_counter() - t0, 1)
        result = tmp / "result.json"
        if result.is_file():
            row = json.loads(result.read_text(encoding="utf-8"))
            row["seconds"] = seconds
            return row
        tail = _tail(tmp / "pack.log")
        try:  # the build folder the dead process left (its lock is free now); the next run would remove it too
            from playbook.pack import clean_stale

            clean_stale(Path(out), entry["name"])
        except OSError:
            pass
        if rc < 0:
            try:
                sig = f"signal {-rc} ({signal.Signals(-rc).name})"
            except ValueError:
                sig = f"signal {-rc}"
            hint = ("; the out-of-memory killer ends processes this way when the machine runs out of memory"
                    if -rc == signal.SIGKILL else "")
            what = f"the pack process was killed by {sig}{hint}; no pack was written"
        else:
            what = f"the pack process exited with code {rc} without a result; no pack was written"
        return asdict(Row.failed(entry["name"], what + (f" | its last lines: {tail}" if tail else ""), seconds))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_for_lock(final: Path, timeout: float = LOCK_WAIT) -> None:
    """A pack rerun on another worker after its first worker died may find the orphaned first run still cleaning
    up (it stops within seconds of noticing): give it that time before the run would fail on the held lock."""
    from playbook.pack import is_locked

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not is_locked(final):
                return
        except OSError:
            return
        time.sleep(0.5)


def _tail(path: Path, n: int = 3) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return " / ".join(ln[:300] for ln in lines[-n:])


def _watch_parent(parent: int) -> None:
    """Stop this pack process (SIGTERM: the runner removes its build folder) when the process that started it
    is gone: a killed batch or a dead Dask worker leaves no orphan writing a pack."""
    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child_main() -> None:
    """The pack process: ``python -c ... ENTRY.json RESULT.json``; runs one pack, writes its row atomically."""
    from playbook.results import write_json_atomic

    job_path, result_path = sys.argv[1], sys.argv[2]
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    entry = job["entry"]

    def _terminate(signum, frame):  # as `playbook run`: a polite kill cleans up like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    _watch_parent(job["parent"])
    row = pack_row(entry, job["out"], job.get("force", False), job.get("steps"), job.get("templates_folder"))
    if os.getppid() != job["parent"]:  # nobody is left to read the row (a killed batch, a dead Dask worker)
        shutil.rmtree(Path(job_path).parent, ignore_errors=True)
        return
    write_json_atomic(Path(result_path), asdict(row), round_floats=False)


def pack_row(entry: dict, out: str, force: bool = False, steps: list[str] | None = None,
             templates_folder: str | None = None) -> Row:
    """Run one pack in this process (``playbook.runner.run``) and describe it as a :class:`Row`."""
    from playbook.data import DataError
    from playbook.pack import PackError
    from playbook.runner import RunError, run

    name = entry["name"]
    try:
        res = run(entry.get("config"), out=out, name=name, steps=steps, force=force,
                  overrides=list(entry.get("overrides") or []), progress=False,
                  log=lambda msg: print(msg, file=sys.stderr, flush=True), templates_folder=templates_folder,
                  step_jobs=1)  # a batch runs packs side by side: its workers are its parallelism
    except (config_mod.ConfigError, DataError, RunError, PackError) as exc:
        return Row.failed(name, str(exc))
    except KeyboardInterrupt:
        return Row.failed(name, "interrupted before the pack was finished; no pack was written")
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return Row.failed(name, f"could not write the pack: {exc.strerror or exc}{where}; no pack was written")
    except Exception as exc:  # noqa: BLE001 - one pack's surprise must not stop the batch
        first = (str(exc).strip().splitlines() or [""])[0]
        return Row.failed(name, f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
    s = res.summary
    mts = s.get("ml_test_score") or {}
    step_errors = [f"{st['name']}: {st['error']}" for st in s.get("steps", []) if st.get("error")]
    return Row(name, res.verdict, int(res.exit_code), [r["text"] for r in s.get("reasons", [])],
               mts.get("final"), None, name, "; ".join(step_errors) or None, res.digest)


# -- the batch --------------------------------------------------------------------------------------------------
@dataclass
class BatchResult:
    rows: list[Row]               # in matrix order
    counts: dict[str, int]        # verdict -> number of entries
    exit_code: int
    csv: Path
    html: Path
    interrupted: bool = False


def exit_code(rows: list[Row]) -> int:
    if any(r.exit_code == EXIT_ERROR or r.verdict == "error" for r in rows):
        return EXIT_ERROR
    if any(r.verdict != "go" for r in rows):
        return EXIT_NOGO
    return EXIT_GO


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_batch(matrix: Matrix, out: str | Path = "evidence", workers: int | None = None, scheduler: str | None = None,
              force: bool = False, steps: list[str] | None = None, on_done: Callable[[Row, int, int], None] | None = None,
              templates_folder: str | Path | None = None) -> BatchResult:
    """Build every pack of the matrix and write ``batch.csv`` and ``batch.html`` into ``out``.

    ``on_done(row, finished, total)`` is called as each pack finishes (in completion order). Bad input for the batch
    itself (``workers``, ``steps``, ``out``, an unreachable ``scheduler``) raises :class:`BatchError` before any
    pack is started. A ``KeyboardInterrupt`` stops the running packs (each removes its build folder), writes the
    summary of what finished and is raised again."""
    from playbook.runner import RunError, match_steps

    tpl_folder = str(Path(templates_folder).resolve()) if templates_folder else None
    if steps:
        try:
            chosen = match_steps(_templates(tpl_folder), steps)
        except RunError as exc:
            raise BatchError(str(exc)) from None
        if not chosen:
            raise BatchError("--steps: no step named; give step names or numbers, e.g. --steps data_audit.")
    if workers is not None and scheduler:
        raise BatchError("--workers: sets the local worker processes; with --scheduler the cluster's workers run the "
                         "packs: leave --workers out.")
    if workers is not None and workers < 1:
        raise BatchError(f"--workers {workers}: must be at least 1.")
    out_dir = Path(out).expanduser().resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise BatchError(f"--out {out_dir}: exists and is not a folder; choose another --out.")
    on_done = on_done or (lambda row, done, total: None)
    entries = [{"name": e.name, "config": e.config, "overrides": list(e.overrides)} for e in matrix.entries]
    if scheduler:
        import logging

        dask_log = logging.getLogger("distributed")
        level = dask_log.level
        dask_log.setLevel(logging.ERROR)  # the batch reports; Dask's connection chatter is noise on its terminal
        try:
            client = _connect(scheduler)
            try:
                created = _prepare_out(out_dir)
                try:
                    _check_shared(client, out_dir, scheduler)
                except BaseException:
                    _remove_created(created)
                    raise
                rows, interrupted = _run_distributed(client, entries, str(out_dir), force, steps, tpl_folder, on_done)
            finally:
                client.close()
        finally:
            dask_log.setLevel(level)
    else:
        n = min(workers or default_workers(), len(entries))
        _prepare_out(out_dir)
        threads = max(1, default_workers() // n)
        rows, interrupted = _run_local(entries, str(out_dir), force, steps, tpl_folder, n, threads, on_done)
    result = write_summary(out_dir, matrix, rows)
    result.interrupted = interrupted
    if interrupted:
        raise BatchInterrupted(result)
    return result


def _prepare_out(out_dir: Path) -> list[Path]:
    from playbook.pack import PackError, check_writable

    created = [p for p in [out_dir, *out_dir.parents] if not p.exists()]
    try:
        check_writable(out_dir)
    except PackError as exc:
        _remove_created(created)
        raise BatchError(str(exc)) from None
    return created


def _remove_created(created: list[Path]) -> None:
    for p in created:
        try:
            p.rmdir()
        except OSError:
            break


def _run_local(entries, out, force, steps, tpl, workers, threads, on_done) -> tuple[list[Row], bool]:
    from concurrent.futures import ThreadPoolExecutor, as_completed

    rows: list[Row | None] = [None] * len(entries)
    stop = threading.Event()

    def task(i: int) -> dict:
        if stop.is_set():
            return asdict(Row.failed(entries[i]["name"], "not started: the batch was interrupted"))
        return run_entry(entries[i], out, force, steps, tpl, threads)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pack")
    futures = {pool.submit(task, i): i for i in range(len(entries))}
    done = 0
    try:
        for f in as_completed(futures):
            i = futures[f]
            rows[i] = _row(f.result())
            done += 1
            on_done(rows[i], done, len(entries))
    except KeyboardInterrupt:
        stop.set()
        try:
            _stop_live()
            pool.shutdown(wait=True, cancel_futures=True)
        finally:
            _STOPPING.clear()
        for f, i in futures.items():
            if rows[i] is None:
                rows[i] = (_row(f.result()) if f.done() and not f.cancelled() and f.exception() is None
                           else Row.failed(entries[i]["name"], "not started: the batch was interrupted"))
        return [r for r in rows if r is not None], True
    pool.shutdown(wait=True)
    return [r for r in rows if r is not None], False


def _stop_live() -> None:
    """SIGTERM to every running pack process (each removes its build folder), SIGKILL after :data:`STOP_GRACE`; no
    new one starts."""
    with _LIVE_LOCK:
        _STOPPING.set()
        procs = list(_LIVE.values())
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + STOP_GRACE
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


def _row(d: dict) -> Row:
    return Row(**{k: d.get(k) for k in Row.__dataclass_fields__})


# -- Dask -------------------------------------------------------------------------------------------------------
def _normalise_address(address: str) -> str:
    a = address.strip()
    if "://" not in a:
        a = "tcp://" + a
    m = re.fullmatch(r"(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})", a)
    if not m or not 0 < int(m.group(3)) < 65536:
        raise BatchError(f"--scheduler {address}: not a scheduler address; pass tcp://HOST:PORT as `dask scheduler` "
                         "printed it (e.g. tcp://10.0.0.5:8786).")
    return a


def _connect(address: str):
    a = _normalise_address(address)
    try:
        from distributed import Client
    except ImportError:
        raise BatchError("--scheduler: the dask distributed package is not installed; pip install "
                         "'dask[distributed]' (or run without --scheduler on local workers).") from None
    try:
        client = Client(a, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise BatchError(f"--scheduler {a}: no Dask scheduler answered within {CONNECT_TIMEOUT:g} s "
                         f"({type(exc).__name__}); start one there with `dask scheduler` (and workers with `dask "
                         f"worker {a}`), or pass the address the scheduler printed.") from None
    try:
        client.wait_for_workers(1, timeout=NO_WORKER_TIMEOUT)
    except (OSError, TimeoutError):
        client.close()
        raise BatchError(f"--scheduler {a}: the scheduler has no worker after {NO_WORKER_TIMEOUT:g} s; start some "
                         f"with `dask worker {a}` on the hosts that share --out.") from None
    return client


def _sees(path: str) -> bool:
    return os.path.isfile(path)


def _check_shared(client, out_dir: Path, address: str) -> None:
    """Every worker must see ``out`` (a marker file this host writes there) at the same path."""
    marker = out_dir / f".playbook-batch-probe-{uuid.uuid4().hex}"
    marker.write_text("probe\n", encoding="utf-8")
    try:
        seen = client.run(_sees, str(marker))
    except Exception as exc:  # noqa: BLE001 - e.g. a worker without the playbook installed
        first = (str(exc).strip().splitlines() or [""])[0]
        raise BatchError(f"--scheduler {address}: the workers could not run the playbook's check of --out "
                         f"({type(exc).__name__}: {first}); install the playbook in the workers' Python environment "
                         "and check they are running.") from None
    finally:
        marker.unlink(missing_ok=True)
    blind = sorted(w for w, ok in seen.items() if not ok)
    if blind:
        more = f" and {len(blind) - 1} more" if len(blind) > 1 else ""
        raise BatchError(f"--out {out_dir}: the Dask worker {blind[0]}{more} does not see this folder; pass an --out "
                         "that every worker shares at the same path (an NFS mount, ...).")


def _describe_failure(exc: BaseException | None, status: str) -> str:
    if status == "cancelled" or exc is None:
        return "the task was cancelled or lost on the cluster"
    if type(exc).__name__ == "KilledWorker":
        return ("the Dask worker running this pack died (KilledWorker); the pack was not written: look at that "
                "worker's log (out of memory?)")
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__} on the cluster: {first}" if first else f"{type(exc).__name__} on the cluster"


def _slots(client, resources: dict | None = None) -> tuple[int, dict | None]:
    """How many packs the cluster runs at once, and the task resources: the workers' ``pack`` resources when any
    worker advertises one (``dask worker --resources pack=N``), else their threads."""
    workers = client.scheduler_info().get("workers", {})  # every worker (n_workers=-1 is the default)
    packs = sum((w.get("resources") or {}).get("pack", 0) for w in workers.values())
    if resources is None and packs >= 1 or resources:
        return int(packs), {"pack": 1}
    return sum(int(w.get("nthreads") or 1) for w in workers.values()), None


def _run_distributed(client, entries, out, force, steps, tpl, on_done) -> tuple[list[Row], bool]:
    """One task per pack, at most as many in flight as the cluster has pack slots: a task waits here, not in a
    worker's queue, so a worker that dies takes only the packs it was running with it (and a worker that joins
    gets the next one)."""
    from distributed import as_completed

    slots, resources = _slots(client)
    token = uuid.uuid4().hex[:12]
    rows: list[Row | None] = [None] * len(entries)
    waiting = list(range(len(entries)))
    futures: dict = {}
    ac = as_completed([], loop=client.loop)
    done = 0

    def submit_more() -> None:
        while waiting and len(futures) < slots:
            i = waiting.pop(0)
            e = entries[i]
            f = client.submit(run_entry, e, out, force, steps, tpl, None, key=f"playbook-pack-{token}-{i:04d}-{e['name']}",
                              pure=False, retries=0, resources=resources)
            futures[f] = i
            ac.add(f)

    def finish(i: int, row: Row) -> None:
        nonlocal done
        rows[i] = row
        done += 1
        on_done(row, done, len(entries))

    no_worker_since = None
    last_check = time.monotonic()
    try:
        submit_more()
        while futures or waiting:
            if ac.has_ready():
                for f in ac.next_batch(block=False):
                    i = futures.pop(f)
                    if f.status == "finished":
                        finish(i, _row(f.result()))
                    else:
                        try:
                            exc = f.exception(timeout=5)
                        except Exception as e:  # noqa: BLE001 - a cancelled or lost future
                            exc = e
                        finish(i, Row.failed(entries[i]["name"], _describe_failure(exc, f.status)))
                submit_more()
                continue
            time.sleep(0.2)
            if time.monotonic() - last_check < 2.0:
                continue
            last_check = time.monotonic()
            try:
                slots, _ = _slots(client, resources) if client.status == "running" else (0, None)
            except Exception:  # noqa: BLE001 - the scheduler went away
                slots = 0
            if slots:
                no_worker_since = None
                submit_more()
                continue
            no_worker_since = no_worker_since or time.monotonic()
            if time.monotonic() - no_worker_since < NO_WORKER_TIMEOUT:
                continue
            why = ("no worker was left on the cluster" if client.status == "running"
                   else "the connection to the scheduler was lost")
            try:
                client.cancel(list(futures))
            except Exception:  # noqa: BLE001
                pass
            for i in sorted(list(futures.values()) + waiting):
                finish(i, Row.failed(entries[i]["name"], f"{why} for {NO_WORKER_TIMEOUT:g} s before this pack "
                                                         "finished; start workers and run the batch again"))
            futures.clear()
            waiting.clear()
    except KeyboardInterrupt:
        try:
            client.cancel(list(futures))
        except Exception:  # noqa: BLE001
            pass
        for f, i in futures.items():
            rows[i] = Row.failed(entries[i]["name"], "interrupted: the batch was stopped while this pack was built on "
                                                     "the cluster (its worker may still finish it)")
        for i in waiting:
            rows[i] = Row.failed(entries[i]["name"], "not started: the batch was interrupted")
        return [r for r in rows if r is not None], True
    return [r for r in rows if r is not None], False


# -- the summary ------------------------------------------------------------------------------------------------
def counts(rows: list[Row]) -> dict[str, int]:
    c = {v: 0 for v in VERDICTS}
    for r in rows:
        c[r.verdict if r.verdict in c else "error"] += 1
    return c


def final_line(result: BatchResult) -> str:
    c = result.counts
    return (f"batch: {len(result.rows)} packs, {c['go']} go, {c['no-go']} no-go, {c['incomplete']} incomplete, "
            f"{c['error']} error ({result.html})")


def _link(row: Row, out_dir: Path) -> str | None:
    if row.pack and (out_dir / row.pack / "index.html").is_file():
        return f"{quote(row.pack)}/index.html"
    return None


def write_summary(out_dir: Path, matrix: Matrix, rows: list[Row]) -> BatchResult:
    """``batch.csv`` and ``batch.html`` in ``out_dir`` (rows in matrix order), both written atomically."""
    import pandas as pd

    from playbook.data import write_csv
    from playbook.results import write_text_atomic

    table = [{
        "entry": r.entry, "verdict": r.verdict, "exit_code": r.exit_code, "reasons": " | ".join(r.reasons),
        "ml_test_score": r.ml_test_score, "seconds": r.seconds, "pack": _link(r, out_dir) or "",
        "error": r.error or "", "digest": r.digest or "",
    } for r in rows]
    write_csv(pd.DataFrame(table, columns=list(CSV_COLUMNS)), out_dir / SUMMARY_CSV)
    result = BatchResult(rows, counts(rows), exit_code(rows), out_dir / SUMMARY_CSV, out_dir / SUMMARY_HTML)
    write_text_atomic(out_dir / SUMMARY_HTML, render_html(matrix, rows, out_dir, result))
    return result


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#1b1b1b;line-height:1.4}
h1{font-size:1.5rem;margin:0 0 .25rem}
p.lead{margin:.25rem 0 1.25rem;color:#333}
table{border-collapse:collapse;width:100%;font-size:.92rem}
caption{text-align:left;font-weight:600;padding:.4rem 0}
th,td{border:1px solid #c8c8c8;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#efefef}
td.num{text-align:right;font-variant-numeric:tabular-nums}
ul{margin:0;padding-left:1.1rem}
.v{font-weight:700;white-space:nowrap}
.v-go{color:#0a6b2d}.v-no-go{color:#a4000f}.v-incomplete{color:#8a5300}.v-error{color:#a4000f}
.err{color:#7a0010}
a{color:#0645ad}
"""


def render_html(matrix: Matrix, rows: list[Row], out_dir: Path, result: BatchResult) -> str:
    """A self-contained page (inline CSS, no script); every value is escaped."""
    e = html.escape
    c = result.counts
    headline = (f"{len(rows)} packs: {c['go']} go, {c['no-go']} no-go, {c['incomplete']} incomplete, "
                f"{c['error']} error")
    body = []
    for r in rows:
        link = _link(r, out_dir)
        verdict_class = r.verdict if r.verdict in VERDICTS else "error"
        why = "".join(f"<li>{e(t)}</li>" for t in r.reasons)
        why = (f"<ul>{why}</ul>" if why else "") + (f'<p class="err">{e(r.error)}</p>' if r.error else "")
        score = f"{r.ml_test_score:g}" if isinstance(r.ml_test_score, (int, float)) else ""
        seconds = f"{r.seconds:.1f}" if isinstance(r.seconds, (int, float)) else ""
        pack = f'<a href="{e(link)}">{e(link)}</a>' if link else "no pack"
        body.append(f'<tr><th scope="row">{e(r.entry)}</th><td class="v v-{verdict_class}">{e(r.verdict)}</td>'
                    f'<td class="num">{r.exit_code:d}</td><td>{why}</td><td class="num">{e(score)}</td>'
                    f'<td class="num">{e(seconds)}</td><td>{pack}</td></tr>')
    cols = ["entry", "verdict", "exit code", "blocking reasons / error", "ML Test Score", "seconds", "pack"]
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in cols)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Batch: {e(headline)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>Evidence packs of {e(matrix.path.name)}</h1>\n"
        f'<p class="lead">{e(headline)}; exit code {result.exit_code}. Each pack\'s own page holds its evidence; '
        f"this summary is also in {e(SUMMARY_CSV)}.</p>\n"
        f"<table>\n<caption>One row per entry, in matrix order</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body) + "\n</tbody>\n</table>\n</main>\n</body>\n</html>\n"
    )


__all__ = ["BatchError", "BatchInterrupted", "Entry", "Matrix", "Row", "BatchResult", "load_matrix", "run_batch", "run_entry",
           "pack_row", "write_summary", "final_line", "exit_code"]
