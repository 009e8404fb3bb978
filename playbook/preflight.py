"""What a pack computes once, before its first step, and how every step reads it back.

``playbook run`` reads the data, resolves the column roles, scans for personal data and fits (or loads) the model
once. What it keeps:

* **in the pack** (small facts, no raw values): ``preflight.json`` (the resolved roles; per dataset the rows, the
  columns, the sample the steps hold when the data is larger than ``data.max_rows``, and the input fingerprint; the
  model's mode and sha256, and with ``model.endpoint`` what the server told the preflight, so that no step asks it
  again), ``privacy.json`` (the scan, :mod:`playbook.privacy`) and, in baseline mode, the fitted
  baseline ``model.skops``;
* **in a working folder beside the pack** (``.<name>.work-*``, raw rows: never in the pack nor its manifest, removed
  when the run ends, and by the next run of the name or ``playbook clean`` when a run dies): the columnar copy of
  each dataset, ``reference.parquet`` and ``current.parquet``. A kernel memory-maps it instead of parsing CSV again,
  and the audit's statistics scan it with DuckDB (:mod:`playbook.tables`), so they cover every row.

The runner passes the working folder to the kernels in ``PLAYBOOK_WORKDIR``; :func:`playbook.context.load_context`
uses it when it names the same pack. Every step judges the same model: ``get_model`` loads ``model.skops`` (its
sha256 checked against ``preflight.json``) and records the hash in the step's ``info.model_used``.

Data larger than the memory a pandas frame can take is never read whole: a parquet input with more rows than
``data.max_rows``, or a file past :data:`STREAM_BYTES`, is copied by DuckDB in streaming fashion (bounded memory),
and the steps work on a seeded sample of ``data.max_rows`` rows of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from playbook.data import DataError, load_table
from playbook.tables import Table, connect, literal

FILENAME = "preflight.json"
MODEL_FILE = "model.skops"
WORKDIR_ENV = "PLAYBOOK_WORKDIR"
ROLES = ("reference", "current")
#: Input files (summed per dataset) past this size are copied by DuckDB without loading them into pandas.
STREAM_BYTES = int(os.environ.get("PLAYBOOK_STREAM_BYTES", str(512 * 2 ** 20)))
_WORK_FILE = "work.json"


# -- the working folder ------------------------------------------------------------------------------------------
def make_workdir(final: Path) -> Path:
    """A fresh hidden working folder beside the pack ``final`` (``.<name>.work-*``, private to this user)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix=f".{final.name}.work-", dir=final.parent))
    from playbook import pack

    (d / pack.OWNER_FILE).write_text(json.dumps(pack.owner_record()) + "\n", encoding="utf-8")
    return d


def remove_workdir(work: Path | None) -> None:
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)


def _data_file(work: Path, role: str) -> Path | None:
    for suffix in (".parquet", ".pkl"):
        p = work / f"{role}{suffix}"
        if p.is_file():
            return p
    return None


# -- reading the data once -----------------------------------------------------------------------------------------
def _files(path: Path, role: str) -> list[Path]:
    from playbook.data import _folder_files, _kind

    return _folder_files(path, role) if path.is_dir() else [path] if _kind(path) else []


def _streamed(path: Path, role: str, max_rows: int) -> bool:
    """Whether a dataset is copied by DuckDB rather than read into pandas: parquet with more rows than the steps
    hold, or input files larger than :data:`STREAM_BYTES`."""
    files = _files(path, role)
    if not files:
        return False
    if sum(f.stat().st_size for f in files) > STREAM_BYTES:
        return True
    if all(f.name.lower().endswith(".parquet") for f in files):
        import pyarrow.parquet as pq

        try:
            return sum(pq.ParquetFile(f).metadata.num_rows for f in files) > max_rows
        except Exception:  # noqa: BLE001 - unreadable: load_table names the file and the fix
            return False
    return False


def _stream_copy(path: Path, role: str, dest: Path, info: dict) -> None:
    """Copy a large dataset into ``dest`` (parquet) with DuckDB, in bounded memory. CSV columns are typed as pandas
    types them (integers, floats, else text: dates and yes/no flags stay text, as the in-memory reader leaves them;
    unlike it, a True/False column also stays text, and a column with no value at all is text, not float)."""
    files = _files(path, role)
    if not files:
        load_table(path, role)  # raises the loader's message (missing file, unknown format)
    parquet = all(f.name.lower().endswith(".parquet") for f in files)
    listing = "[" + ", ".join(literal(f) for f in files) + "]"
    if parquet:
        scan = f"read_parquet({listing})"
    else:
        scan = (f"read_csv({listing}, header=true, auto_type_candidates=['BIGINT', 'DOUBLE', 'VARCHAR'], "
                "sample_size=-1, strict_mode=false)")
    con = connect()
    try:
        con.execute(f"COPY (SELECT * FROM {scan}) TO {literal(dest)} (FORMAT parquet, ROW_GROUP_SIZE 100000)")
    except Exception as exc:  # noqa: BLE001 - duckdb raises its own types
        dest.unlink(missing_ok=True)
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise DataError(f"data.{role}: {path}: could not be read ({first}); check the file (CSV with a header row, "
                        "or parquet files sharing one schema).") from None
    finally:
        con.close()
    info.setdefault("files", []).extend({"file": f.name, "format": "parquet" if parquet else "csv",
                                         "reader": "duckdb"} for f in files)


def _write_copy(df: pd.DataFrame, dest_stem: Path) -> Path:
    """The columnar copy of a frame read into memory: parquet, or (for object columns mixing value types, which
    parquet cannot hold) a pickle of the frame in this private folder."""
    p = dest_stem.with_suffix(".parquet")
    try:
        df.to_parquet(p, index=False, row_group_size=100_000)
        return p
    except Exception:  # noqa: BLE001 - pyarrow refuses mixed object columns
        p.unlink(missing_ok=True)
        q = dest_stem.with_suffix(".pkl")
        df.to_pickle(q)
        return q


def read_frame(path: Path, max_rows: int, seed: int) -> tuple[pd.DataFrame, Table]:
    """The frame the steps hold (the whole dataset, or a seeded sample of ``max_rows`` rows) and the table of the
    whole dataset."""
    if path.suffix == ".pkl":
        whole = pd.read_pickle(path)  # noqa: S301 - written by this run into its private working folder
        table = Table.from_frame(whole, path.stem)
    else:
        table = Table.from_parquet(path, path.stem)
    return table.sample(max_rows, seed=seed), table


def load_data(cfg, work: Path, read_info: dict | None = None) -> dict[str, dict]:
    """Read both datasets once into the working folder; per role: ``frame`` (what the steps hold), ``table`` (the
    whole data), ``sampling`` (None, or ``{rows, sample, seed}``) and ``file`` (the copy)."""
    read_info = read_info if read_info is not None else {}
    return {role: read_dataset(Path(getattr(cfg.data, role)), role, cfg.data.max_rows, cfg.seed, work,
                               read_info.setdefault(role, {}))
            for role in ROLES}


def read_dataset(path: Path, role: str, max_rows: int, seed: int, work: Path, info: dict | None = None) -> dict:
    """Read one dataset as a pack reads it: its columnar copy in ``work``, then the frame the steps hold (the
    whole data, or the seeded sample of ``max_rows`` rows). ``{frame, table, sampling, file}``; ``sampling`` is
    None or ``{rows, sample, seed}``. ``playbook monitor --reference`` reads the pack's reference this way, so
    its rows are the ones the monitors were calibrated on."""
    info = info if info is not None else {}
    if path.exists() and _streamed(path, role, max_rows):
        dest = work / f"{role}.parquet"
        _stream_copy(path, role, dest, info)
        _check_copy(dest, role, path)
    else:
        dest = _write_copy(load_table(path, role, info), work / role)
    frame, table = read_frame(dest, max_rows, seed)
    sampling = None
    if table.rows > len(frame):
        sampling = {"rows": table.rows, "sample": len(frame), "seed": seed}
    return {"frame": frame, "table": table, "sampling": sampling, "file": dest}


def _check_copy(dest: Path, role: str, path: Path) -> None:
    """The checks the in-memory loader makes, on a streamed copy (from its schema: no rows are read)."""
    import pyarrow.parquet as pq

    from playbook.data import MAX_COLUMN_NAME

    md = pq.ParquetFile(dest).metadata
    names = [str(n) for n in pq.ParquetFile(dest).schema_arrow.names]
    if md.num_rows == 0:
        raise DataError(f"data.{role}: {path} has a header but no rows; it needs at least one row of data.")
    for i, c in enumerate(names, 1):
        if not c.strip():
            raise DataError(f"data.{role}: {path}: column {i} has an empty name; give every column a name in the header.")
        if len(c) > MAX_COLUMN_NAME:
            raise DataError(f"data.{role}: {path}: column {i} has a name of {len(c)} characters ({c[:20]!r}...); "
                            f"rename it to at most {MAX_COLUMN_NAME} characters.")


# -- the facts in the pack -----------------------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store(staging: Path, ctx, work: Path, model_info: dict, fingerprints: dict, adapter=None) -> dict:
    """Write ``preflight.json`` (and ``model.skops`` in baseline mode) into the pack being built and record the
    working folder for the kernels (``work.json``). Returns the facts written."""
    from playbook.results import to_jsonable, write_json_atomic

    model = {k: v for k, v in model_info.items() if k not in ("estimator",)}
    if adapter is not None and adapter.mode == "baseline" and adapter.estimator is not None:
        import skops.io as sio

        from playbook.modeling import dump_bytes

        data = adapter.skops_bytes or dump_bytes(adapter.estimator)  # the bytes hashed when it was fitted
        (staging / MODEL_FILE).write_bytes(data)
        info = {k: v for k, v in adapter.info.items() if k not in ("seed",)}
        model.update(info, file=MODEL_FILE, sha256=sha256_bytes(data), bytes=len(data),
                     trusted_types=sio.get_untrusted_types(data=data))
    elif adapter is not None and adapter.mode == "file":
        model.update(sha256=fingerprints.get("model", {}).get("sha256"))
    elif adapter is not None and adapter.mode == "endpoint":
        # what the server told the preflight (probabilities, batch limit, model hash): the steps do not ask again
        model.update(sha256=adapter.info.get("sha256"), endpoint=adapter.info.get("endpoint"),
                     discovered=adapter.estimator.discovered())
    facts = {
        "schema_version": 1,
        "roles": ctx.roles.as_dict(),
        "data": {role: {"rows": (ctx.sampling.get(role) or {}).get("rows", len(getattr(ctx, role))),
                        "columns": [str(c) for c in getattr(ctx, role).columns],
                        "sample": ctx.sampling.get(role),
                        "fingerprint": fingerprints.get(role)}
                 for role in ROLES},
        "model": model,
    }
    write_json_atomic(staging / FILENAME, to_jsonable(facts))
    write_json_atomic(work / _WORK_FILE, {"pack": str(staging), "files": {
        role: _data_file(work, role).name for role in ROLES}})
    return facts


def read(pack_dir: str | Path | None) -> dict | None:
    """The pack's ``preflight.json`` (None when absent or unreadable)."""
    if not pack_dir:
        return None
    p = Path(pack_dir) / FILENAME
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def workdir_for(pack_dir: str | Path | None) -> Path | None:
    """The working folder of the run building ``pack_dir`` (from ``PLAYBOOK_WORKDIR``), when it is that run's."""
    w = os.environ.get(WORKDIR_ENV)
    if not w or not pack_dir:
        return None
    work = Path(w)
    try:
        rec = json.loads((work / _WORK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if Path(rec.get("pack", "")).resolve() != Path(pack_dir).resolve():
        return None
    return work


def stored_frames(pack_dir, cfg) -> dict[str, dict] | None:
    """The datasets as the preflight stored them (per role: frame, table, sampling), or None outside a run."""
    work = workdir_for(pack_dir)
    if work is None:
        return None
    out = {}
    for role in ROLES:
        p = _data_file(work, role)
        if p is None:
            return None
        frame, table = read_frame(p, cfg.data.max_rows, cfg.seed)
        sampling = {"rows": table.rows, "sample": len(frame), "seed": cfg.seed} if table.rows > len(frame) else None
        out[role] = {"frame": frame, "table": table, "sampling": sampling, "file": p}
    return out


def roles_from(facts: dict, reference: pd.DataFrame):
    """The :class:`playbook.data.Roles` recorded in ``preflight.json``, with the class labels given back the type
    they have in the data (JSON keeps 1 and "1" apart, but not numpy's types)."""
    from playbook.data import Roles

    r = dict(facts["roles"])
    target = r["target"]
    if r.get("classes") and target in reference.columns:
        values = {str(v): v for v in pd.unique(reference[target].dropna()).tolist()}
        r["classes"] = [values.get(str(c), c) for c in r["classes"]]
        if r.get("positive_label") is not None:
            r["positive_label"] = values.get(str(r["positive_label"]), r["positive_label"])
    known = set(Roles.__dataclass_fields__)
    return Roles(**{k: v for k, v in r.items() if k in known})


def stored_model(pack_dir) -> tuple[Any, dict] | None:
    """The baseline fitted by the preflight (estimator, its record), its sha256 checked; None when absent."""
    facts = read(pack_dir)
    if not facts:
        return None
    rec = facts.get("model") or {}
    if rec.get("file") != MODEL_FILE:
        return None
    p = Path(pack_dir) / MODEL_FILE
    try:
        data = p.read_bytes()
    except OSError:
        return None
    if sha256_bytes(data) != rec.get("sha256"):
        raise DataError(f"{p}: the model file changed after the preflight wrote it (sha256 differs); run the pack again.")
    import skops.io as sio

    return sio.loads(data, trusted=list(rec.get("trusted_types") or [])), rec


__all__ = ["FILENAME", "MODEL_FILE", "STREAM_BYTES", "WORKDIR_ENV", "load_data", "make_workdir", "read",
           "read_frame", "remove_workdir", "roles_from", "store", "stored_frames", "stored_model", "workdir_for"]
