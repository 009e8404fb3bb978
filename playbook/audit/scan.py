"""The full data under audit, scanned by DuckDB: every count over every row, in bounded memory.

A :class:`Scan` opens one DuckDB connection over the reference and the current
:class:`playbook.tables.Table` (parquet files streamed by row group, or in-memory frames scanned zero-copy), so one
query can join them. Columns are addressed by position (``c0``, ``c1`` ...; quoted with
:func:`playbook.tables.ident`), never by their name, so names from real data (quotes, spaces, unicode, ``Age`` next
to ``age``, which DuckDB would take for one column) cannot break or change a query; values are always passed as
parameters.

Per column, :meth:`Scan.column` gives the statistics the checks need (:class:`Column`): missing cells, disguised
missing markers with their counts, distinct values, the most frequent value, the finite range, infinities. They come
from one ``GROUP BY`` of every column whose values repeat enough to be grouped cheaply (:meth:`Scan.profile`: text,
booleans, and numbers and dates whose seeded sample holds at most ``GROUP_CAP`` distinct values), and one scan of the
other columns for their nulls, range and infinities. For those, the distinct count is the sample's (a lower bound: no
check reports it, the checks only need to know it is large), and the most frequent value is the most frequent,
counted over every row, of the sample's few most frequent values (exact when the sample is the whole data; on a larger
data set a value the sample misses has a negligible share).

Whole-row statistics (duplicates, repeated ids, conflicting labels, rows of the current data found in the reference,
the fingerprint) are planned (:meth:`Scan.plan`) and computed together from one temporary table of 64-bit row hashes
per dataset, dropped once they are known (:meth:`Scan.row_stats`). Dates and numbers are read as times in SQL
(:meth:`Scan.time_expr`); text dates once per distinct value by the pandas parser the rest of the playbook uses.

Missing follows pandas: a null, a float NaN, or a missing marker (text compared after stripping blanks as
:meth:`str.strip` does; numbers compared as numbers). The *clean* value of a cell (:meth:`Scan.clean`) is the cell
with its markers and NaN as NULL, as :func:`playbook.audit.prepare.clean_frame` makes the sample.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import pandas as pd

from playbook.audit.contract import split_markers
from playbook.tables import Table, connect, ident, literal

#: Every character :meth:`str.strip` removes (markers are compared stripped).
WHITESPACE = "".join(ch for ch in map(chr, range(0x110000)) if ch.isspace())
#: Number and date columns whose sample holds more distinct values than this are not grouped (see the module).
GROUP_CAP = 10_000
#: How many of the sample's most frequent values are counted over every row for a column that is not grouped.
TOP_CANDIDATES = 5
#: Values held at once for exact quantiles (8 bytes each): columns of a large dataset are taken a few at a time.
QUANTILE_VALUES = 30_000_000
#: A text column's distinct values are fetched with its ``GROUP BY`` when its sample holds at most this many.
VALUES_INLINE = 10_000
#: Text dates are parsed once per distinct value; with more distinct values than this they are read on the sample.
TIME_VALUES_CAP = 1_000_000
#: Text placeholders such as 9999-12-31 lie beyond pandas' datetime range: future dates, not unparseable ones.
FAR_FUTURE = r"^\s*(2[3-9]\d\d|[3-9]\d\d\d)-\d"
_EPOCH_UNITS = ((1e11, 10**9), (1e14, 10**6), (1e17, 10**3), (float("inf"), 1))  # magnitude -> ns per unit
_NS_RANGE = ("1677-09-22", "2262-04-11")

_INTEGER = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "UHUGEINT"}
_FLOAT = {"FLOAT", "DOUBLE", "REAL"}
_TIMES = {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME"}


def family(sql_type: str) -> str:
    """``float | integer | text | boolean | datetime | datetimetz | date | other`` from a DuckDB type."""
    t = sql_type.upper()
    if t in _FLOAT:
        return "float"
    if t in _INTEGER or t.startswith("DECIMAL"):
        return "integer"
    if t == "VARCHAR" or t.startswith("ENUM"):
        return "text"
    if t == "BOOLEAN":
        return "boolean"
    if t in _TIMES:
        return "datetime"
    if t in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return "datetimetz"
    if t == "DATE":
        return "date"
    return "other"


NUMERIC = ("float", "integer")


# Conditional aggregates as CASE expressions: ``count(CASE WHEN p THEN 1 END)`` counts what
# ``count(*) FILTER (WHERE p)`` counts and ``min(CASE WHEN p THEN x END)`` is ``min(x) FILTER (WHERE p)`` (NULLs are
# skipped by both), but DuckDB evaluates the CASE forms in one pass over a scan's columns, two to three times faster
# than a FILTER per aggregate.
def count_if(cond: str) -> str:
    """SQL counting the rows where ``cond`` is true."""
    return f"count(CASE WHEN {cond} THEN 1 END)"


def when(cond: str, x: str) -> str:
    """SQL of ``x`` where ``cond`` is true, else NULL (the argument of a conditional aggregate)."""
    return f"(CASE WHEN {cond} THEN {x} END)"


class Binder:
    """Named parameters of one query: ``b(value)`` returns ``$p<n>`` and keeps the value."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self._n = itertools.count()

    def __call__(self, value: Any) -> str:
        name = f"p{next(self._n)}"
        self.values[name] = value
        return "$" + name


@dataclass
class Column:
    """A column's statistics over every row of a dataset (clean values: markers and NaN as missing)."""

    name: str
    sql_type: str
    family: str
    rows: int
    nulls: int = 0                       # null cells (NaN included), markers not counted
    nans: int = 0                        # float NaN cells (a subset of nulls)
    marked: list = field(default_factory=list)  # [(raw value, count)] of the cells holding a missing marker
    distinct: int = 0                    # distinct clean values (a lower bound when not ``exact``)
    exact: bool = True                   # distinct and top_count are exact (the column was grouped)
    top_count: int = 0                   # rows holding the most frequent clean value
    top_value: Any = None
    min: float | None = None             # finite range of the clean values (numbers)
    max: float | None = None
    infinite: int = 0

    @property
    def marker_cells(self) -> int:
        return sum(k for _, k in self.marked)

    @property
    def missing(self) -> int:
        """Missing cells: nulls and markers."""
        return self.nulls + self.marker_cells

    @property
    def present(self) -> int:
        return self.rows - self.missing


class Scan:
    """The reference and current data in one DuckDB connection (see the module docstring).

    ``tables`` maps a dataset name to its :class:`Table`; ``columns`` the dataset to the columns under audit (the
    frames' columns; default: every column of the table); ``markers`` the missing markers; ``samples`` (optional)
    the sample frames, whose most frequent values (markers excepted) are the candidates of the columns not grouped;
    ``min_exact``: a count of distinct values some check needs to know exactly (``outlier_min_distinct``): columns
    whose sample shows up to four times as many are grouped whatever ``GROUP_CAP`` says.
    """

    def __init__(self, tables: Mapping[str, Table], markers: Iterable[Any] = (), *,
                 columns: Mapping[str, list] | None = None, samples: Mapping[str, pd.DataFrame] | None = None,
                 min_exact: int = 0, threads: int | None = None) -> None:
        self.tables = dict(tables)
        self.group_cap = max(GROUP_CAP, 4 * int(min_exact))
        self.text_markers, self.num_markers = split_markers(list(markers))
        self.samples = dict(samples or {})
        self.con = connect(threads)
        self._sources: dict[str, str] = {}
        self.columns: dict[str, list[str]] = {}
        self.types: dict[str, dict[str, str]] = {}
        self.rows: dict[str, int] = {}
        self._pos: dict[str, dict[str, int]] = {}
        self._stats: dict[tuple[str, str], Column] = {}
        self._values: dict[tuple[str, str], list] = {}
        self._profiled: set[str] = set()
        self._planned: dict[tuple, None] = {}
        self._datelike: dict[tuple, bool] = {}
        self._results: dict[tuple, Any] = {}
        self._hashed = False
        for k, (ds, table) in enumerate(self.tables.items()):
            self._open(ds, table, k, (columns or {}).get(ds))

    # -- connection and sources -----------------------------------------------------------------------------------
    def _open(self, ds: str, table: Table, k: int, columns: list | None) -> None:
        if table.frame is not None:
            name = f"_frame_{k}"
            self.con.register(name, table.frame)
            base = ident(name)
        else:
            base = f"read_parquet({literal(table.path)}, file_row_number=true)"
        described = self.con.execute(f"DESCRIBE SELECT * FROM {base}").fetchall()
        types = [r[1] for r in described]
        if table.frame is None:
            types = types[:-1]  # file_row_number comes last
        names = table.columns
        if len(names) != len(types):
            raise ValueError(f"the {ds} table has {len(types)} columns but names {len(names)}")
        aliases = ", ".join(ident(f"c{i}") for i in range(len(types)))
        alias = ident("t_" + ds)
        if table.frame is not None:  # the position is computed only when a query uses it
            self._sources[ds] = (f"(SELECT *, (row_number() OVER () - 1) AS __row FROM "
                                 f"(SELECT * FROM {base}) AS {alias}({aliases})) AS {alias}")
        else:
            self._sources[ds] = f"(SELECT * FROM {base}) AS {alias}({aliases}, __row)"
        pos = {str(n): i for i, n in enumerate(names)}
        cols = [str(c) for c in (columns if columns is not None else names)]
        missing = [c for c in cols if c not in pos]
        if missing:
            raise ValueError(f"the {ds} table lacks the column(s) {', '.join(map(repr, missing[:5]))} of its frame")
        self._pos[ds] = pos
        self.columns[ds] = cols
        self.types[ds] = {c: types[pos[c]] for c in cols}
        self.rows[ds] = int(table.rows)

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def source(self, ds: str) -> str:
        """``FROM`` clause scanning a dataset: columns ``c<i>`` and the row position ``__row``."""
        return self._sources[ds]

    def ref(self, ds: str, col: str) -> str:
        """A column as an SQL reference (its position, quoted)."""
        return ident(f"c{self._pos[ds][str(col)]}")

    def family(self, ds: str, col: str) -> str:
        return family(self.types[ds][str(col)])

    def raw(self, ds: str, col: str) -> str:
        """A column's cells as SQL (ENUM read as text)."""
        r = self.ref(ds, col)
        return f"CAST({r} AS VARCHAR)" if self.types[ds][str(col)].upper().startswith("ENUM") else r

    def execute(self, sql: str, b: Binder | None = None):
        """Run ``sql`` with the parameters of ``b`` it names."""
        used = set(re.findall(r"\$(p\d+)\b", sql))
        return self.con.execute(sql, {k: v for k, v in (b.values if b is not None else {}).items() if k in used})

    def query(self, sql: str, b: Binder | None = None) -> pd.DataFrame:
        return self.execute(sql, b).df()

    def fetch(self, sql: str, b: Binder | None = None) -> list[tuple]:
        return self.execute(sql, b).fetchall()

    # -- missing and clean values ---------------------------------------------------------------------------------
    def _null(self, ds: str, col: str, x: str) -> str:
        return f"({x} IS NULL OR isnan({x}))" if self.family(ds, col) == "float" else f"({x} IS NULL)"

    def _marker(self, ds: str, col: str, x: str, b: Binder) -> str:
        """SQL that is true where the value ``x`` of the column is a missing marker (false, never null)."""
        fam = self.family(ds, col)
        if fam == "text" and self.text_markers:
            return f"coalesce(list_contains({b(sorted(self.text_markers))}, trim({x}, {b(WHITESPACE)})), false)"
        if fam in NUMERIC and self.num_markers:
            return f"coalesce(list_contains({b(sorted(self.num_markers))}, CAST({x} AS DOUBLE)), false)"
        return "false"

    def clean(self, ds: str, col: str, b: Binder) -> str:
        """A column's clean cells as SQL: markers (the raw values found) and NaN as NULL."""
        x = self.raw(ds, col)
        st = self.column(ds, col)
        if st.marked:
            vals = [v for v, _ in st.marked]
            if st.family in NUMERIC:
                found = b([float(v) for v in vals])
                x = f"(CASE WHEN list_contains({found}, CAST({x} AS DOUBLE)) THEN NULL ELSE {x} END)"
            else:
                x = f"(CASE WHEN list_contains({b([str(v) for v in vals])}, {x}) THEN NULL ELSE {x} END)"
        if st.family == "float" and st.nans:
            x = f"(CASE WHEN isnan({x}) THEN NULL ELSE {x} END)"
        return x

    def number(self, ds: str, col: str, b: Binder) -> str:
        """A column's clean cells as DOUBLE (text that does not read as a number is NULL)."""
        x = self.clean(ds, col, b)
        return f"CAST({x} AS DOUBLE)" if self.family(ds, col) in NUMERIC + ("boolean",) else f"TRY_CAST({x} AS DOUBLE)"

    # -- per-column statistics ------------------------------------------------------------------------------------
    def column(self, ds: str, col: str) -> Column:
        """The statistics of one column over every row (computed with the whole dataset's profile, then cached)."""
        if (ds, str(col)) not in self._stats:
            self.profile(ds)
        return self._stats[(ds, str(col))]

    def profile(self, ds: str) -> None:
        """Profile every column of a dataset: one ``GROUP BY`` per column that can be grouped (text, booleans, and
        numbers and dates whose sample holds at most ``GROUP_CAP`` distinct values), one scan of the others for their
        nulls, range and infinities (see the module docstring)."""
        if ds in self._profiled:
            return
        self._profiled.add(ds)
        cols = self.columns[ds]
        n = self.rows[ds]
        ungrouped = []
        for c in cols:
            st = Column(c, self.types[ds][c], self.family(ds, c), n)
            self._stats[(ds, c)] = st
            seen = self._sample_distinct(ds, c) if st.family not in ("text", "boolean", "other") else None
            if seen is not None and seen > self.group_cap:
                st.distinct = seen  # a lower bound: the sample is a part of the data
                ungrouped.append(st)
            else:
                self._group(ds, c, st)
        if ungrouped and n:
            b = Binder()
            nums = b(sorted(self.num_markers)) if self.num_markers else None
            parts = []
            for i, st in enumerate(ungrouped):
                x = self.raw(ds, st.name)
                parts.append(f"{count_if(self._null(ds, st.name, x))} AS n{i}")
                if st.family in NUMERIC:
                    v = f"CAST({x} AS DOUBLE)"
                    ok = f"isfinite({v})" + (f" AND NOT list_contains({nums}, {v})" if nums else "")
                    parts += [f"min({when(ok, v)}) AS lo{i}", f"max({when(ok, v)}) AS hi{i}"]
                if st.family == "float":
                    parts += [f"{count_if(f'isinf({x})')} AS inf{i}", f"{count_if(f'isnan({x})')} AS nan{i}"]
            row = self.query(f"SELECT {', '.join(parts)} FROM {self.source(ds)}", b).iloc[0]
            for i, st in enumerate(ungrouped):
                st.nulls = int(row[f"n{i}"])
                if st.family in NUMERIC:
                    st.min, st.max = _float(row[f"lo{i}"]), _float(row[f"hi{i}"])
                if st.family == "float":
                    st.infinite, st.nans = int(row[f"inf{i}"]), int(row[f"nan{i}"])
            self._ranges(ds, ungrouped)

    def _group(self, ds: str, col: str, st: Column) -> None:
        """One ``GROUP BY`` of a column: nulls, markers, distinct values, the most frequent one, the finite range;
        and its distinct values with their counts when the sample shows at most ``VALUES_INLINE`` of them."""
        b = Binder()
        x = self.raw(ds, col)
        null, mark = self._null(ds, col, "v"), self._marker(ds, col, "v", b)
        keep = "NOT nul AND NOT mark"
        extra = ""
        if st.family in NUMERIC:
            extra = (f", min(CAST(v AS DOUBLE)) FILTER (WHERE {keep} AND isfinite(CAST(v AS DOUBLE))) AS lo"
                     f", max(CAST(v AS DOUBLE)) FILTER (WHERE {keep} AND isfinite(CAST(v AS DOUBLE))) AS hi")
        if st.family == "float":
            extra += (", coalesce(sum(k) FILTER (WHERE isinf(v)), 0) AS inf"
                      ", coalesce(sum(k) FILTER (WHERE isnan(v)), 0) AS nan")
        seen = self._sample_distinct(ds, col) if st.family in ("text", "boolean", "other") else None
        inline = seen is not None and seen <= VALUES_INLINE
        if inline:
            extra += f", list({{'v': v, 'k': k}}) FILTER (WHERE {keep}) AS vals"
        sql = (f"WITH g AS (SELECT {x} AS v, count(*) AS k FROM {self.source(ds)} GROUP BY ALL), "
               f"m AS (SELECT v, k, {null} AS nul, {mark} AS mark FROM g) "
               f"SELECT coalesce(sum(k) FILTER (WHERE nul), 0) AS nulls, count(*) FILTER (WHERE {keep}) AS d, "
               f"max(k) FILTER (WHERE {keep}) AS top, arg_max(v, k) FILTER (WHERE {keep}) AS top_value, "
               f"list({{'v': v, 'k': k}}) FILTER (WHERE mark) AS marks{extra} FROM m")
        cur = self.execute(sql, b)
        names = [d[0] for d in cur.description]
        r = dict(zip(names, cur.fetchall()[0]))
        st.nulls = int(r["nulls"])
        st.distinct = int(r["d"] or 0)
        st.top_count = int(r["top"] or 0)
        st.top_value = r["top_value"]
        st.marked = sorted(((m["v"], int(m["k"])) for m in (r["marks"] or [])), key=lambda vk: (-vk[1], str(vk[0])))
        if st.family in NUMERIC:
            st.min, st.max = _float(r["lo"]), _float(r["hi"])
        if st.family == "float":
            st.infinite, st.nans = int(r["inf"]), int(r["nan"])
        if inline:
            self._values[(ds, st.name)] = [(m["v"], int(m["k"])) for m in (r["vals"] or [])]

    def _sample_distinct(self, ds: str, col: str) -> int | None:
        """Distinct values of a column in the sample, numeric markers left out (None without a sample, or for
        values pandas cannot count)."""
        sample = self.samples.get(ds)
        by_name = {str(c): c for c in sample.columns} if sample is not None else {}
        if str(col) not in by_name:
            return None
        s = sample[by_name[str(col)]]
        if self.num_markers and self.family(ds, col) in NUMERIC and pd.api.types.is_numeric_dtype(s):
            s = s[~s.isin(list(self.num_markers))]
        try:
            return int(s.nunique())
        except TypeError:  # unhashable values
            return None

    def _ranges(self, ds: str, cols: list[Column]) -> None:
        """Numbers and dates with many distinct values (their nulls, finite range and infinities come from the
        profile's scan): the count over every row of the sample's most frequent values and of the numeric markers,
        one filtered ``GROUP BY`` per column (see the module docstring)."""
        nums = sorted(self.num_markers)
        sample = self.samples.get(ds)
        by_name = {str(c): c for c in sample.columns} if sample is not None else {}
        cands: dict[int, list] = {}
        for i, st in enumerate(cols):
            top = []
            if st.name in by_name:
                vc = sample[by_name[st.name]].value_counts(dropna=True, sort=False)
                vc = vc.nlargest(TOP_CANDIDATES + len(nums), keep="first")
                for v in vc.index:
                    if not (st.family in NUMERIC and float(v) in self.num_markers):
                        top.append(_py(v))
            cands[i] = top[:TOP_CANDIDATES]
            look = cands[i] + ([float(m) for m in nums] if st.family in NUMERIC else [])
            counts: dict = {}
            if look:
                b = Binder()
                x = self.raw(ds, st.name)
                v = f"CAST({x} AS DOUBLE)" if st.family in NUMERIC else x
                vals = [float(c) for c in look] if st.family in NUMERIC else look
                counts = {k: int(n) for k, n in self.fetch(
                    f"SELECT v, count(*) FROM (SELECT {v} AS v FROM {self.source(ds)}) "
                    f"WHERE v IN ({', '.join(b(c) for c in vals)}) GROUP BY v", b)}
            if st.family in NUMERIC:
                st.marked = sorted(((_marker_value(m), counts[float(m)]) for m in nums if counts.get(float(m))),
                                   key=lambda vk: (-vk[1], str(vk[0])))
                found = [(counts.get(float(c), 0), c) for c in cands[i]]
            else:
                found = [(counts.get(c, 0), c) for c in cands[i]]
            st.top_count, st.top_value = max(found, key=lambda kv: kv[0], default=(0, None))
            st.exact = sample is not None and len(sample) >= self.rows[ds]  # the sample is the data

    def datelike(self, ds: str, col: str, present) -> bool:
        """Whether a text column's sample values (``present``: the values without missing ones, or a function
        returning them) look like dates; asked once per column."""
        key = (ds, str(col))
        if key not in self._datelike:
            from playbook.audit.contract import looks_like_datetime

            values = present() if callable(present) else present
            self._datelike[key] = bool(looks_like_datetime(values.dropna()))
        return self._datelike[key]

    def values(self, ds: str, col: str) -> list[tuple[Any, int]]:
        """The distinct clean values of a column with their counts (missing values and markers left out)."""
        key = (ds, str(col))
        if key not in self._values:
            st = self.column(ds, col)
            if key not in self._values:
                marked = {v for v, _ in st.marked}
                rows = self.fetch(f"SELECT {self.raw(ds, col)} AS v, count(*) AS k FROM {self.source(ds)} GROUP BY ALL")
                self._values[key] = [(v, int(k)) for v, k in rows
                                     if v is not None and not (isinstance(v, float) and math.isnan(v))
                                     and not (marked and v in marked)]
        return self._values[key]

    def first_rows(self, ds: str, col: str, values: list, limit: int = 5) -> list:
        """The first ``limit`` of ``values`` (values of a column) in the order they first appear in it."""
        if not values:
            return []
        name = "_wanted"
        self.con.register(name, pd.DataFrame({"v": pd.Series(list(values), dtype=object)}))
        try:
            got = self.fetch(f"SELECT v FROM (SELECT {self.raw(ds, col)} AS v, __row FROM {self.source(ds)}) "
                             f"WHERE v IN (SELECT v FROM {ident(name)}) GROUP BY v ORDER BY min(__row) "
                             f"LIMIT {int(limit)}")
        finally:
            self.con.unregister(name)
        return [v for (v,) in got]

    # -- row statistics ---------------------------------------------------------------------------------------------
    def row_hash(self, ds: str, cols: list[str], b: Binder, cast: Mapping[str, str] | None = None) -> str:
        """One 64-bit hash of the clean cells of ``cols`` per row (``cast``: column -> SQL type to compare as)."""
        if not cols:
            return "hash(0)"
        items = []
        for c in cols:
            x = self.clean(ds, c, b)
            t = (cast or {}).get(c)
            if t == "TEXT":
                x = (f"(CASE WHEN {x} THEN 'True' WHEN NOT {x} THEN 'False' END)" if self.family(ds, c) == "boolean"
                     else f"CAST({x} AS VARCHAR)")
            elif t:
                x = f"CAST({x} AS {t})"
            items.append(x)
        return f"hash({', '.join(items)})"

    # The statistics that compare whole rows (duplicates, repeated ids, conflicting labels, rows of one dataset found
    # in the other, the fingerprint) are planned before the checks run (``plan``). The first one asked for computes
    # every planned one from a temporary table of row hashes per dataset (8 bytes a row and key: the data is read
    # once for all of them), then drops the tables, so their memory is free again for the other scans. A statistic
    # that was not planned is computed straight from the data, by the same SQL.
    def plan(self, stat: str, ds: str, *args) -> None:
        """Plan a row statistic: ``duplicates`` (no args), ``repeats`` (id columns), ``conflicts`` (features,
        target), ``overlap`` (other dataset, columns) or ``fingerprint`` (no args)."""
        self._planned.setdefault(_stat_key(stat, ds, args), None)

    def row_stats(self) -> None:
        """Compute every planned row statistic now (one read of each dataset, see above)."""
        if self._planned and not self._hashed:
            self._compute_planned()

    def _stat(self, stat: str, ds: str, *args):
        key = _stat_key(stat, ds, args)
        if key not in self._results:
            if key in self._planned and not self._hashed:
                self._compute_planned()
            if key not in self._results:
                self._results[key] = self._compute(key, None)
        return self._results[key]

    def _needs(self, key: tuple) -> list[tuple]:
        """The row hashes (dataset, kind, columns, cast) a statistic reads."""
        stat, ds = key[0], key[1]
        if stat == "duplicates":
            return [(ds, "h", tuple(self.columns[ds]), ())]
        if stat == "repeats":
            return [(ds, "id", key[2], ())]
        if stat == "conflicts":
            return [(ds, "h", key[2], ()), (ds, "y", (key[3],), ())]
        if stat == "overlap":
            other, cols = key[2], key[3]
            cast = tuple(sorted(self.aligned(other, ds, list(cols)).items()))
            return [(ds, "h", cols, cast), (other, "h", cols, cast)]
        return [(ds, "raw", (), ())]

    def _hash_sql(self, need: tuple, b: Binder) -> str:
        ds, kind, cols, cast = need
        if kind == "h":
            return self.row_hash(ds, list(cols), b, dict(cast))
        if kind == "id":  # NULL unless every id is present
            return f"(CASE WHEN {self._all_present(ds, list(cols), b)} THEN {self.row_hash(ds, list(cols), b)} END)"
        if kind == "y":
            y = self.clean(ds, cols[0], b)
            return f"(CASE WHEN {y} IS NOT NULL THEN hash({y}) END)"
        return f"hash({', '.join(self.raw(ds, c) for c in self.columns[ds])})" if self.columns[ds] else "hash(0)"

    def _compute_planned(self) -> None:
        self._hashed = True
        by_ds: dict[str, dict] = {}
        for key in self._planned:
            for need in self._needs(key):
                by_ds.setdefault(need[0], {}).setdefault(need, f"h{len(by_ds.get(need[0], {}))}")
        tables = {}
        try:
            for k, (ds, needs) in enumerate(by_ds.items()):
                b = Binder()
                name = ident(f"_rows_{k}")
                parts = ", ".join(f"{self._hash_sql(n, b)} AS {col}" for n, col in needs.items())
                self.execute(f"CREATE TEMP TABLE {name} AS SELECT {parts} FROM {self.source(ds)}", b)
                tables[ds] = (name, needs)
            for key in self._planned:
                self._results[key] = self._compute(key, tables)
        finally:
            for name, _ in tables.values():
                self.con.execute(f"DROP TABLE IF EXISTS {name}")

    def _compute(self, key: tuple, tables: dict | None):
        """A row statistic from the hash tables (``tables``) or, without them, straight from the data."""
        b = Binder()

        def col(need):  # (FROM clause, SQL, position) of a row hash
            ds = need[0]
            if tables and ds in tables and need in tables[ds][1]:
                return tables[ds][0], tables[ds][1][need], "rowid"
            return self.source(ds), self._hash_sql(need, b), "__row"

        stat, ds = key[0], key[1]
        needs = self._needs(key)
        if stat == "duplicates":
            src, h, _ = col(needs[0])
            return int(self.fetch(f"SELECT coalesce(sum(k - 1), 0) FROM (SELECT {h} AS h, count(*) AS k FROM {src} "
                                  f"GROUP BY ALL)", b)[0][0])
        if stat == "repeats":
            src, h, pos = col(needs[0])
            return self._repeats(ds, list(key[2]), src, h, pos, b)
        if stat == "conflicts":
            (src, h, _), (src_y, y, _) = col(needs[0]), col(needs[1])
            if src_y != src:  # both from the same table, or both from the data
                src, h, y = self.source(ds), self._hash_sql(needs[0], b), self._hash_sql(needs[1], b)
            r = self.fetch(f"WITH g AS (SELECT {h} AS h, count(*) AS k, min({y}) AS lo, max({y}) AS hi FROM {src} "
                           f"WHERE {y} IS NOT NULL GROUP BY ALL) SELECT coalesce(sum({when('lo <> hi', 'k')}), 0), "
                           f"{count_if('lo <> hi')}, coalesce(sum(k), 0) FROM g", b)[0]
            return {"conflicting_rows": int(r[0]), "groups": int(r[1]), "labelled_rows": int(r[2])}
        if stat == "overlap":
            (src, mine, _), (osrc, theirs, _) = col(needs[0]), col(needs[1])
            return int(self.fetch(f"SELECT count(*) FROM {src} WHERE {mine} IN (SELECT {theirs} FROM {osrc})",
                                  b)[0][0])
        src, h, pos = col(needs[0])
        r = self.fetch(f"SELECT count(*), bit_xor(hash({pos}, {h})), sum(hash({pos}, {h})) FROM {src}", b)[0]
        digest = hashlib.sha256(repr([(c, self.types[ds][c]) for c in self.columns[ds]]).encode())
        digest.update(repr(tuple(r)).encode())
        return digest.hexdigest()

    def _repeats(self, ds: str, cols: list[str], src: str, h: str, pos: str, b: Binder, n: int = 5) -> tuple:
        """(rows whose key repeats an earlier row's, the first ``n`` distinct values of ``cols[0]`` among the rows
        whose key repeats, in row order): one ``GROUP BY`` of the keys keeps each key's first row; the keys are
        taken in the order of their first rows, which is the order the values of ``cols[0]`` first appear in."""
        first = 8 * n
        while True:
            dup, rows = self.fetch(
                f"SELECT coalesce(sum(k - 1), 0), min(f, {int(first)}) FILTER (WHERE k > 1) "
                f"FROM (SELECT {h} AS h, count(*) AS k, min({pos}) AS f FROM {src} WHERE {h} IS NOT NULL "
                f"GROUP BY ALL)", b)[0]
            rows = rows or []
            if not dup:
                return 0, []
            b2 = Binder()
            got = self.fetch(f"SELECT __row, {self.clean(ds, cols[0], b2)} FROM {self.source(ds)} "
                             f"WHERE __row IN (SELECT unnest({b2([int(r) for r in rows])})) ORDER BY __row", b2)
            seen: list = []
            for _, v in got:
                if v not in seen:
                    seen.append(v)
            if len(seen) >= n or len(rows) < first:
                return int(dup), seen[:n]
            first *= 8

    def _all_present(self, ds: str, cols: list[str], b: Binder) -> str:
        return " AND ".join(f"{self.clean(ds, c, b)} IS NOT NULL" for c in cols) or "true"

    def duplicate_rows(self, ds: str) -> int:
        """Rows that repeat an earlier row exactly (clean cells of every column)."""
        return self._stat("duplicates", ds) if self.rows[ds] else 0

    def repeated_keys(self, ds: str, cols: list[str], examples: int = 5) -> tuple[int, list]:
        """Rows whose key (``cols``, every one present) repeats an earlier row's, and the first five distinct
        values of ``cols[0]`` among the repeated keys, in order of first appearance."""
        return self._stat("repeats", ds, cols)

    def conflicts(self, ds: str, features: list[str], target: str) -> dict:
        """Labelled rows whose features (clean cells) equal another labelled row's while the label differs (labels
        compared by their hash): ``{conflicting_rows, groups, labelled_rows}``."""
        return self._stat("conflicts", ds, features, target)

    def aligned(self, a: str, b_: str, cols: list[str]) -> dict[str, str]:
        """How each shared column is compared across two datasets: its own type when both agree, numbers as DOUBLE
        when both are numeric, else text (as pandas compares frames of different dtypes)."""
        out = {}
        for c in cols:
            ta, tb = self.types[a][str(c)], self.types[b_][str(c)]
            if ta == tb and not ta.upper().startswith("ENUM"):
                continue
            fa, fb = family(ta), family(tb)
            out[c] = "DOUBLE" if fa in NUMERIC and fb in NUMERIC else "TEXT"
        return out

    def rows_in(self, ds: str, other: str, cols: list[str]) -> int:
        """Rows of ``ds`` whose clean cells of ``cols`` equal those of some row of ``other`` (a hash join)."""
        if not self.rows[ds] or not self.rows[other]:
            return 0
        return self._stat("overlap", ds, other, cols)

    def per_column(self, ds: str, cols: list[str], aggregates) -> dict[str, tuple]:
        """Per column, the values of the aggregate expressions ``aggregates(column, number_sql, binder)`` returns
        (a list of SQL aggregates over its clean numbers): as many columns a scan as hold about ``QUANTILE_VALUES``
        values together (DuckDB keeps every value of each for a quantile)."""
        out: dict[str, tuple] = {}
        per = max(1, QUANTILE_VALUES // max(self.rows[ds], 1))
        for start in range(0, len(cols), per):
            batch = cols[start:start + per]
            b = Binder()
            parts, sizes = [], []
            for c in batch:
                exprs = aggregates(c, self.number(ds, c, b), b)
                parts += exprs
                sizes.append(len(exprs))
            r = self.fetch(f"SELECT {', '.join(parts)} FROM {self.source(ds)}", b)[0]
            at = 0
            for c, n in zip(batch, sizes):
                out[c] = tuple(r[at:at + n])
                at += n
        return out

    def quantiles(self, ds: str, cols: list[str], qs: list[float]) -> dict[str, list[float] | None]:
        """Per column, linear-interpolated quantiles of its finite clean numbers (None when it has none)."""
        def agg(c, v, b):
            return [f"quantile_cont({when(f'isfinite({v})', v)}, {b([float(x) for x in qs])})"]

        return {c: None if r[0] is None else [float(x) for x in r[0]]
                for c, r in self.per_column(ds, cols, agg).items()}

    def outside(self, ds: str, bounds: Mapping[str, tuple[float, float]]) -> dict[str, int]:
        """Per column, its finite clean numbers below ``lo`` or above ``hi`` (``bounds``: column -> (lo, hi)), in one
        scan."""
        if not bounds:
            return {}
        b = Binder()
        parts = []
        for i, (c, (lo, hi)) in enumerate(bounds.items()):
            v = self.number(ds, c, b)
            parts.append(f"{count_if(f'isfinite({v}) AND ({v} < {b(float(lo))} OR {v} > {b(float(hi))})')} "
                         f"AS o{i}")
        r = self.fetch(f"SELECT {', '.join(parts)} FROM {self.source(ds)}", b)[0]
        return {c: int(r[i]) for i, c in enumerate(bounds)}

    def moments(self, ds: str, col: str, qs: list[float]) -> dict | None:
        """Of the finite numbers: count, mean, sample standard deviation, the skewness of the standardised values
        (pandas' adjusted Fisher-Pearson estimator) and quantiles (None when there is no finite number)."""
        b = Binder()
        v = self.number(ds, col, b)
        src = self.source(ds)
        r = self.fetch(f"WITH y AS (SELECT {v} AS y FROM {src} WHERE isfinite({v})), "
                       f"s AS (SELECT count(*) AS n, avg(y) AS m, stddev_samp(y) AS sd FROM y), "
                       f"z AS (SELECT (y - m) / sd AS z, y FROM y, s) "
                       f"SELECT n, m, sd, sum(z), sum(z * z), sum(z * z * z), "
                       f"quantile_cont(y, {b([float(q) for q in qs])}) FROM z, s GROUP BY n, m, sd", b)
        if not r:
            return None
        n, m, sd, s1, s2, s3, q = r[0]
        skew = 0.0
        if n >= 3 and sd is not None and sd > 0:
            mu = s1 / n  # pandas centres the standardised values again, then zeroes moments below 1e-14
            m2 = s2 - 2 * mu * s1 + n * mu * mu
            m3 = s3 - 3 * mu * s2 + 3 * mu * mu * s1 - n * mu ** 3
            m2, m3 = (0.0 if abs(m2) < 1e-14 else m2), (0.0 if abs(m3) < 1e-14 else m3)
            skew = 0.0 if m2 == 0 else float((n * (n - 1) ** 0.5 / (n - 2)) * (m3 / m2 ** 1.5))
        return {"n": int(n), "mean": float(m), "std": float(sd) if sd is not None else float("nan"), "skew": skew,
                "quantiles": [float(x) for x in q]}

    # -- times ------------------------------------------------------------------------------------------------------
    def time_expr(self, ds: str, col: str, b: Binder) -> str:
        """A column's clean cells as naive UTC times in SQL, for columns SQL reads reliably: dates and times
        (time zones converted to UTC) and numbers (``YYYYMMDD`` integers when every finite value reads as one, else
        Unix epochs after 1973 in the unit their median magnitude implies, as pandas converts them)."""
        fam = self.family(ds, col)
        x = self.clean(ds, col, b)
        if fam == "datetime":
            return x
        if fam == "date":
            return f"CAST({x} AS TIMESTAMP)"
        if fam == "datetimetz":
            return f"timezone('UTC', {x})"
        if fam not in NUMERIC:
            raise ValueError(f"{col!r} is not read as times in SQL")
        v = self.number(ds, col, b)
        ok = f"isfinite({v})"
        n, ymd, magnitude = self.fetch(
            f"SELECT count(*) FILTER (WHERE {ok}), bool_and({v} % 1 = 0 AND {v} >= 10000101 AND {v} <= 29991231) "
            f"FILTER (WHERE {ok}), median(abs({v})) FILTER (WHERE {ok}) FROM {self.source(ds)}", b)[0]
        lo, hi = (f"TIMESTAMP '{d}'" for d in _NS_RANGE)
        if not n:
            return "CAST(NULL AS TIMESTAMP)"
        if ymd:
            t = f"try_strptime(CAST(CAST({v} AS BIGINT) AS VARCHAR), '%Y%m%d')"
            return f"(CASE WHEN {ok} AND {t} BETWEEN {lo} AND {hi} THEN {t} END)"
        if magnitude < 1e8:
            return "CAST(NULL AS TIMESTAMP)"
        factor = next(f for limit, f in _EPOCH_UNITS if magnitude < limit)
        ns = f"({v} * {float(factor)!r})"
        return f"(CASE WHEN {ok} AND abs({ns}) < 9.2e18 THEN make_timestamp_ns(CAST(round({ns}) AS BIGINT)) END)"

    def day_first(self, col: str, cap: int = TIME_VALUES_CAP) -> bool | None:
        """The order of a text column's numeric dates (``06/07/2024``), decided once from the distinct values of every
        dataset holding it (:func:`playbook.audit.contract.day_first`), so that the reference and the current data
        read it the same way (a current month of early days alone cannot tell)."""
        cache = self.__dict__.setdefault("_day_first", {})
        if col not in cache:
            from playbook.audit.contract import day_first

            texts: list = []
            for ds in self.tables:
                if col not in self.types.get(ds, {}) or self.family(ds, col) in NUMERIC or \
                        self.family(ds, col) in ("datetime", "date", "datetimetz"):
                    continue
                if self.column(ds, col).distinct <= cap or self.samples.get(ds) is None:
                    texts += [v for v, _ in self.values(ds, col)]
                elif col in self.samples[ds].columns:
                    texts += list(self.samples[ds][col].dropna().unique())
            cache[col] = day_first(pd.Series([str(v).strip() for v in texts], dtype="string")) if texts else None
        return cache[col]

    def times(self, ds: str, col: str, as_of: pd.Timestamp | None = None, cap: int = TIME_VALUES_CAP,
              sample: pd.DataFrame | None = None) -> Times:
        """A column as times (see :class:`Times`): in SQL for dates and numbers; text (and anything else) parsed
        once per distinct value by :func:`playbook.audit.contract.parse_text_datetimes`, on the sample (``sample``:
        its clean frame) when the column has more than ``cap`` distinct values."""
        fam = self.family(ds, col)
        if fam in ("datetime", "date", "datetimetz") or fam in NUMERIC:
            return self._sql_times(ds, col, as_of)
        st = self.column(ds, col)
        order = self.day_first(col, cap)
        if st.distinct <= cap or sample is None or col not in sample.columns:
            vals = self.values(ds, col)
            out = _text_times([v for v, _ in vals], [k for _, k in vals], as_of, examples=None, dayfirst=order)
            out.examples = self.first_rows(ds, col, out.examples)
            return out
        s = sample[col].dropna()
        codes, uniques = pd.factorize(s.astype(object))
        import numpy as np

        out = _text_times(list(uniques), np.bincount(codes, minlength=len(uniques)), as_of, dayfirst=order)
        if len(sample) < self.rows[ds]:
            out.sample = {"sample_rows": int(len(sample)), "of_rows": int(self.rows[ds])}
        return out

    def _sql_times(self, ds: str, col: str, as_of) -> Times:
        b = Binder()
        x, ts = self.clean(ds, col, b), self.time_expr(ds, col, b)
        src = self.source(ds)
        fut = count_if(f"ts >= {b(as_of.to_pydatetime())}") if as_of is not None else "0"
        r = self.query(f"SELECT count(x) AS present, count(ts) AS parsed, {fut} AS future, min(ts) AS first, "
                       f"max(ts) AS last FROM (SELECT {x} AS x, {ts} AS ts FROM {src})", b).iloc[0]
        out = Times(present=int(r["present"]), parsed=int(r["parsed"]), future=int(r["future"]),
                    first=None if pd.isna(r["first"]) else pd.Timestamp(r["first"]),
                    last=None if pd.isna(r["last"]) else pd.Timestamp(r["last"]))
        out.unparseable = out.present - out.parsed
        if out.unparseable:
            out.examples = [v for (v,) in self.fetch(
                f"SELECT x FROM (SELECT {x} AS x, {ts} AS ts, __row FROM {src}) WHERE x IS NOT NULL AND ts IS NULL "
                f"GROUP BY x ORDER BY min(__row) LIMIT 5", b)]
        out._distinct = (src, ts, b)
        return out

    def gaps(self, times: Times) -> dict | None:
        """Of the distinct times, sorted: how many, the median gap and the largest gap (the earliest of equal ones)
        in days; None without two distinct times."""
        if times._distinct is None:
            return None
        src, ts, b = times._distinct
        if isinstance(src, pd.DataFrame):
            name = "_times"
            self.con.register(name, src)
            src = ident(name)
        sql = (f"WITH u AS (SELECT DISTINCT ts FROM (SELECT {ts} AS ts FROM {src}) WHERE ts IS NOT NULL), "
               f"d AS (SELECT ts, lead(ts) OVER (ORDER BY ts) AS nx FROM u), "
               f"e AS (SELECT ts, nx, (epoch_ns(nx) - epoch_ns(ts)) / 86400e9 AS days FROM d WHERE nx IS NOT NULL) "
               f"SELECT (SELECT count(*) FROM u) AS n, (SELECT median(days) FROM e) AS median, ts, nx, days "
               f"FROM e ORDER BY days DESC, ts LIMIT 1")
        try:
            r = self.query(sql, b)
        finally:
            if isinstance(times._distinct[0], pd.DataFrame):
                self.con.unregister("_times")
        if r.empty:
            return None
        r = r.iloc[0]
        return {"distinct": int(r["n"]), "median_days": float(r["median"]), "from": pd.Timestamp(r["ts"]),
                "to": pd.Timestamp(r["nx"]), "days": float(r["days"])}

    def fingerprint(self, ds: str) -> str:
        """The content hash of a dataset: sha256 of its column types, its row count and the hashes of its rows (raw
        cells) combined with their positions, so the same data in the same order hashes the same."""
        return self._stat("fingerprint", ds)


@dataclass
class Times:
    """A date column of a dataset read as times (naive UTC), over every row unless ``sample`` says otherwise."""

    present: int = 0                  # rows with a value
    parsed: int = 0                   # rows whose value is a time
    unparseable: int = 0              # rows with a value that is not a time (far-future placeholders excepted)
    far: int = 0                      # text dates beyond pandas' range (9999-12-31): future, not unparseable
    future: int = 0                   # rows at or after ``as_of`` (far-future placeholders included)
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    examples: list = field(default_factory=list)  # the first distinct values that do not parse
    sample: dict | None = None        # {"sample_rows", "of_rows"} when read on the sample
    _distinct: Any = None             # (SQL FROM clause, expression, Binder) of the distinct times, for gaps


def _stat_key(stat: str, ds: str, args: tuple) -> tuple:
    return (stat, ds) + tuple(tuple(str(c) for c in a) if isinstance(a, (list, tuple)) else str(a) for a in args)


def _float(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def _text_times(values: list, weights, as_of, examples: int | None = 5, dayfirst: bool | None = None) -> Times:
    """Distinct values (in order of first appearance) with how many rows hold each, read as times (``examples``:
    how many of the values that do not parse to keep, None for all)."""
    import numpy as np

    from playbook.audit.contract import parse_text_datetimes

    w = np.asarray(weights, dtype=np.int64)
    raw = pd.Series(values, dtype=object)
    parsed = parse_text_datetimes(raw.astype("string").str.strip(), w, dayfirst=dayfirst)
    bad = parsed.isna().to_numpy()
    far = bad & raw.astype(str).str.match(FAR_FUTURE).to_numpy()
    unparseable = bad & ~far
    ok = ~bad
    out = Times(present=int(w.sum()), parsed=int(w[ok].sum()), unparseable=int(w[unparseable].sum()),
                far=int(w[far].sum()))
    out.future = out.far + (int(w[ok & (parsed >= as_of).to_numpy()].sum()) if as_of is not None else 0)
    if ok.any():
        out.first, out.last = pd.Timestamp(parsed[ok].min()), pd.Timestamp(parsed[ok].max())
    out.examples = [values[i] for i in np.flatnonzero(unparseable)[:examples]]
    out._distinct = (pd.DataFrame({"ts": np.unique(parsed[ok].to_numpy())}), "ts", Binder())
    return out


def _marker_value(v: float) -> Any:
    v = float(v)
    return int(v) if v.is_integer() else v


def _py(v: Any) -> Any:
    """A sample value as a query parameter (numpy scalars as Python ones)."""
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            return v.item()
        except (ValueError, AttributeError):
            return v
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v


__all__ = ["Binder", "Column", "GROUP_CAP", "Scan", "TIME_VALUES_CAP", "Times", "WHITESPACE", "family"]
