"""A dataset as DuckDB scans it: the whole data in bounded memory, and seeded samples of it.

A :class:`Table` is either one parquet file (the columnar working copy ``playbook run`` writes beside the pack,
see :mod:`playbook.workdir`, or any parquet file) or an in-memory pandas frame (a notebook in interactive use, a
test). Statistics that must cover every row (missing cells, duplicates, ranges, timestamps, label counts) are
pushed down into DuckDB through :meth:`Table.query`; DuckDB streams the file in row groups, so the data may be
larger than memory. Work that needs rows in pandas (a model, the simulation's batches) takes
:meth:`Table.sample`: a seeded, deterministic choice of rows kept in their original order.

Queries name the table ``{t}``::

    t = Table.from_parquet("work/reference.parquet", role="reference")
    t.query('SELECT count(*) AS n, count("age") AS age_known FROM {t}')
    rows = t.sample(200_000, seed=0)

Identifiers are quoted with :func:`ident` (column names come from user data).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

#: Memory DuckDB may use per connection (spills to a temporary folder beyond it).
MEMORY_LIMIT = os.environ.get("PLAYBOOK_DUCKDB_MEMORY", "1GB")


def ident(name: Any) -> str:
    """A column name as a quoted SQL identifier (double quotes doubled)."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A text value as a quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def connect(threads: int | None = None):
    """A DuckDB connection with the playbook's limits: bounded memory, at most ``threads`` threads (default: the
    cores), insertion order kept (so a scan returns rows in file order)."""
    import duckdb

    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "preserve_insertion_order": True})
    con.execute(f"SET threads TO {int(threads or os.cpu_count() or 1)}")
    return con


@dataclass
class Table:
    role: str
    path: Path | None = None
    frame: pd.DataFrame | None = None
    _con: Any = field(default=None, repr=False)
    _rows: int | None = field(default=None, repr=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_parquet(cls, path: str | Path, role: str = "data") -> "Table":
        return cls(role=role, path=Path(path))

    @classmethod
    def from_frame(cls, df: pd.DataFrame, role: str = "data") -> "Table":
        return cls(role=role, frame=df)

    # -- DuckDB ---------------------------------------------------------------------------------
    def _connection(self):
        if self._con is None:
            self._con = connect()
            if self.frame is not None:
                self._con.register("_frame", self.frame)
        return self._con

    @property
    def source(self) -> str:
        """The SQL expression scanning the whole table (with its row position as ``__row``)."""
        if self.frame is not None:
            return "(SELECT *, (row_number() OVER () - 1) AS __row FROM _frame)"
        return f"(SELECT * EXCLUDE (file_row_number), file_row_number AS __row FROM read_parquet({literal(self.path)}, file_row_number=true))"

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run ``sql`` (``{t}`` names the table; ``__row`` is each row's position) and return a pandas frame."""
        with self._lock:
            con = self._connection()
            return con.execute(sql.replace("{t}", self.source + " AS t"), params or []).df()

    def scalar(self, sql: str, params: list | None = None) -> Any:
        with self._lock:
            con = self._connection()
            row = con.execute(sql.replace("{t}", self.source + " AS t"), params or []).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    # -- shape ----------------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        if self._rows is None:
            if self.frame is not None:
                self._rows = len(self.frame)
            else:
                import pyarrow.parquet as pq

                self._rows = int(pq.ParquetFile(self.path).metadata.num_rows)
        return self._rows

    @property
    def columns(self) -> list[str]:
        if self.frame is not None:
            return [str(c) for c in self.frame.columns]
        import pyarrow.parquet as pq

        return [str(n) for n in pq.ParquetFile(self.path).schema_arrow.names]

    # -- rows -----------------------------------------------------------------------------------
    def positions(self, n: int, seed: int = 0) -> "Any":
        """The sorted row positions of a seeded sample of ``n`` rows (all rows when the table has at most ``n``)."""
        import numpy as np

        total = self.rows
        if n >= total:
            return np.arange(total)
        rng = np.random.default_rng([int(seed), 0x7AB1E])
        return np.sort(rng.choice(total, size=int(n), replace=False))

    def sample(self, n: int, seed: int = 0, columns: list[str] | None = None) -> pd.DataFrame:
        """A seeded sample of ``n`` rows in their original order, with a fresh 0..n-1 index (the whole table when
        it has at most ``n`` rows). The same table, ``n`` and seed give the same rows."""
        if self.frame is not None:
            df = self.frame if columns is None else self.frame[columns]
            if n >= len(df):
                return df
            return df.iloc[self.positions(n, seed)].reset_index(drop=True)
        return read_rows(self.path, None if n >= self.rows else self.positions(n, seed), columns)

    def to_pandas(self, columns: list[str] | None = None) -> pd.DataFrame:
        return self.sample(self.rows, columns=columns)


def read_rows(path: str | Path, positions=None, columns: list[str] | None = None) -> pd.DataFrame:
    """Rows of a parquet file at the given sorted positions (all rows when ``positions`` is None), read one row
    group at a time so memory holds only the rows kept. Pandas dtypes are those the file was written with."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path, memory_map=True)
    if positions is None:
        return pf.read(columns=columns).to_pandas()
    positions = np.asarray(positions, dtype=np.int64)
    parts, start = [], 0
    for g in range(pf.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        lo, hi = np.searchsorted(positions, [start, start + n])
        if hi > lo:
            parts.append(pf.read_row_group(g, columns=columns).take(pa.array(positions[lo:hi] - start)))
        start += n
    table = pa.concat_tables(parts) if parts else pf.schema_arrow.empty_table()
    if columns is not None and not parts:
        table = table.select(columns)
    return table.to_pandas()


__all__ = ["MEMORY_LIMIT", "Table", "connect", "ident", "literal", "read_rows"]
