"""The data under audit, prepared once: the full data scanned by DuckDB, a seeded sample in pandas.

:func:`prepare` opens one :class:`playbook.audit.scan.Scan` over the full reference and current data (the
``tables``: parquet files or frames, see :mod:`playbook.tables`) and profiles every column there: missing cells,
the disguised missing values (``'?'``, ``'NA'``, ``-999`` ...), distinct values, ranges. Checks that count over every
row read :attr:`AuditData.scan`. Checks that need rows in pandas (single-feature models, id correlations, value
types, the contract's validation of the current data, the Evidently report) read :attr:`AuditData.raw` /
:attr:`AuditData.clean`: a seeded sample of at most ``AuditParams.sample_rows`` rows of each frame, in their original
order (the whole frame when it fits); the *clean* copy has the missing markers found in the full data as real
missing values, so a ``'?'`` is never mistaken for a category or ``-999`` for an outlier. A check that ran on a
sample records ``{"sample_rows": n, "of_rows": N}`` in its threshold (:meth:`AuditData.sampled`) and says so.

The helpers below are shared by the check groups (``schema``, ``completeness``, ``uniqueness``, ``validity``,
``target``, ``leakage``, ``contamination``, ``freshness``, ``conformance``); each group builds its checks with
:func:`playbook.catalogue.check` / :func:`playbook.catalogue.skip`.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from playbook import catalogue
from playbook.audit.contract import marker_mask
from playbook.audit.params import AuditParams
from playbook.audit.scan import NUMERIC, TIME_VALUES_CAP, Scan, Times
from playbook.data import is_numeric
from playbook.tables import Table

DATASETS = ("reference", "current")
FINDINGS = "artifacts/audit_findings.json"
CONTRACT = "artifacts/data_contract.json"


@dataclass
class AuditData:
    """The data under audit: the full data (``scan``, ``rows``) and a sample of it in pandas (``raw``, ``clean``:
    missing markers replaced by NaN), with the disguised missing values found in the full data (``markers``)."""

    raw: dict[str, pd.DataFrame]
    clean: dict[str, pd.DataFrame]
    markers: dict[str, list[dict]]  # dataset -> [{column, marker, count, share}], counted over every row
    roles: Any
    params: AuditParams
    pii: list[str] = field(default_factory=list)
    policy: Any = None  # the pack's policy: a gate's min / max overrides the parameter (playbook.catalogue.limit)
    scan: Scan | None = None
    rows: dict[str, int] = field(default_factory=dict)  # rows of the full data
    samples: dict[str, dict | None] = field(default_factory=dict)  # {"sample_rows", "of_rows"} of a sampled frame
    _times: dict = field(default_factory=dict, repr=False)
    _fences: dict = field(default_factory=dict, repr=False)

    def example(self, column: str, value: Any) -> Any:
        """A data value as it may appear in the evidence: masked for PII columns."""
        return "<redacted>" if column in self.pii else jsonable(value)

    def limit(self, check_id: str, key: str, default: float) -> float:
        """The bound ``key`` (``min`` / ``max``) of a check: the policy's gate when it sets one, else ``default``
        (the audit parameter), so the step judges with the bound the verdict uses."""
        return catalogue.limit(check_id, key, default, self.policy)

    def sampled(self, *datasets: str) -> dict:
        """``{"sample_rows": n, "of_rows": N}`` (per dataset when several are sampled) for a check that ran on
        the pandas sample of ``datasets``; empty when each frame is the whole data."""
        found = {ds: self.samples.get(ds) for ds in datasets if self.samples.get(ds)}
        if not found:
            return {}
        if len(found) == 1:
            return dict(next(iter(found.values())))
        return {"sample_rows": {ds: v["sample_rows"] for ds, v in found.items()},
                "of_rows": {ds: v["of_rows"] for ds, v in found.items()}}

    def sample_why(self, *datasets: str) -> str:
        """A sentence saying which rows a sampled check looked at ("" when the frames are the whole data)."""
        parts = [f"{v['sample_rows']:,} of the {v['of_rows']:,} {ds} rows" for ds in datasets
                 if (v := self.samples.get(ds))]
        return f" Computed on a seeded sample ({' and '.join(parts)})." if parts else ""

    def times(self, dataset: str, column: str) -> Times:
        """A date column read as times over every row (on the sample, recorded, for text dates with more distinct
        values than the scan parses), judged against the audit's as-of day for future dates."""
        key = (dataset, column)
        if key not in self._times:
            self._times[key] = self.scan.times(dataset, column, as_of=as_of(self.params)[0], cap=TIME_VALUES_CAP,
                                               sample=self.clean[dataset])
        return self._times[key]

    def close(self) -> None:
        if self.scan is not None:
            self.scan.close()


def as_of(params: AuditParams) -> tuple[pd.Timestamp, str]:
    """The day future timestamps are judged against: run_date when given, else today (see the notebook)."""
    day = params.run_day
    if day is not None:
        return day.normalize() + pd.Timedelta(days=1), f"run_date {params.run_date}"
    return pd.Timestamp.now("UTC").tz_localize(None).normalize() + pd.Timedelta(days=1), "today"


def found_markers(scan: Scan, dataset: str) -> list[dict]:
    """Cells holding a missing marker, counted over every row: ``[{column, marker, count, share}]`` (text markers
    as stripped, numbers as numbers)."""
    out = []
    n = max(scan.rows[dataset], 1)
    for col in scan.columns[dataset]:
        st = scan.column(dataset, col)
        if not st.marked:
            continue
        if st.family in NUMERIC:
            for m, k in st.marked:
                out.append({"column": col, "marker": to_marker(m), "count": int(k), "share": k / n})
            continue
        found: dict[str, int] = {}
        for v, k in st.marked:
            found[str(v).strip()] = found.get(str(v).strip(), 0) + int(k)
        for m, k in sorted(found.items()):
            out.append({"column": col, "marker": m, "count": k, "share": k / n})
    return out


def to_marker(v: Any) -> Any:
    v = float(v)
    return int(v) if v.is_integer() else v


def clean_frame(df: pd.DataFrame, found: list[dict], markers: Iterable[Any]) -> pd.DataFrame:
    """A copy of ``df`` where the missing markers of the columns in ``found`` are NaN."""
    cols = sorted({f["column"] for f in found})
    cols = [c for c in df.columns if c in cols]
    if not cols:
        return df
    out = df.copy()
    for c in cols:
        out[c] = out[c].mask(marker_mask(out[c], markers))
        if out[c].dtype == object:
            converted = out[c].infer_objects()
            if is_numeric(converted):
                out[c] = converted
    return out


_CONTAINERS = (list, tuple, dict, set, frozenset, np.ndarray)


def _container_text(v: Any) -> Any:
    if isinstance(v, (set, frozenset)):
        v = sorted(v, key=repr)
    if isinstance(v, np.ndarray):
        v = v.tolist()
    return json.dumps(v, sort_keys=True, default=str) if isinstance(v, (list, tuple, dict)) else v


def flatten_containers(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with nested values (lists, dicts, arrays: parquet and JSON exports hold them) written as JSON
    text, so they can be counted, hashed and compared like any other value. The same frame when there are none
    (a column of text only is recognised without looking at each value from Python)."""
    cols = [c for c in df.columns if df[c].dtype == object
            and pd.api.types.infer_dtype(df[c], skipna=True) not in ("string", "empty", "bytes")
            and df[c].map(lambda v: isinstance(v, _CONTAINERS)).any()]
    if not cols:
        return df
    out = df.copy()
    for c in cols:
        out[c] = out[c].map(_container_text)
    return out


def prepare(reference: pd.DataFrame, current: pd.DataFrame, roles, params: AuditParams | None = None,
            pii: Iterable[str] = (), policy: Any = None, *, tables: Mapping[str, Table] | None = None,
            sampling: Mapping[str, dict] | None = None,
            on_sample: Callable[[dict[str, pd.DataFrame]], Any] | None = None) -> AuditData:
    """Open the full data, profile it (markers found once, over every row) and build the pandas sample and its
    clean copy.

    ``tables`` (``{"reference": Table, "current": Table}``) is the full data when the frames are a sample of it
    (``sampling``, e.g. ``{"reference": {"rows": 10_000_000, "sample": 200_000, "seed": 0}}``, says how they were
    drawn; the full data's rows are the table's); a dataset without a table is its frame, scanned as it is.
    ``policy`` is the pack's: its gates' bounds take precedence over the parameters. Close the result
    (:meth:`AuditData.close`) to release the scan. ``on_sample`` (optional) is called with the raw samples
    (``{dataset: frame}``) before the scan starts, e.g. to start work that needs only them in another thread.
    """
    p = params or AuditParams()
    frames = {"reference": flatten_containers(reference), "current": flatten_containers(current)}
    for ds, info in (sampling or {}).items():
        rows = int((info or {}).get("rows") or 0)
        if ds in frames and (tables or {}).get(ds) is None and rows > len(frames[ds]):
            warnings.warn(f"the {ds} frame is a sample of {rows:,} rows but no table of the full data was given: "
                          "the audit counts over the sample only", stacklevel=2)
    tables = {ds: (tables or {}).get(ds) or Table.from_frame(df, ds) for ds, df in frames.items()}
    raw, samples = {}, {}
    for ds, df in frames.items():
        of_rows = int(tables[ds].rows)
        sample = df if len(df) <= p.sample_rows else Table.from_frame(df, ds).sample(p.sample_rows, seed=p.seed)
        raw[ds] = sample
        samples[ds] = {"sample_rows": int(len(sample)), "of_rows": of_rows} if len(sample) < of_rows else None
    if on_sample is not None:
        on_sample(dict(raw))
    scan = Scan(tables, p.markers, columns={ds: list(df.columns) for ds, df in raw.items()}, samples=raw,
                min_exact=p.outlier_min_distinct)
    try:
        markers = {ds: found_markers(scan, ds) for ds in DATASETS}
        plan_rows(scan, raw, roles)
    except BaseException:
        scan.close()
        raise
    clean = {ds: clean_frame(df, markers[ds], p.markers) for ds, df in raw.items()}
    return AuditData(raw=raw, clean=clean, markers=markers, roles=roles, params=p, pii=list(pii), policy=policy,
                     scan=scan, rows=dict(scan.rows), samples=samples)


def plan_rows(scan: Scan, frames: Mapping[str, pd.DataFrame], roles) -> None:
    """Tell the scan which whole-row statistics the checks will ask for, so it reads each dataset once for all of
    them: duplicates, repeated ids, conflicting labels, the current rows and ids found in the reference, and the
    reference's fingerprint (for the contract)."""
    if roles is None:
        return
    ids_of = {ds: [c for c in (roles.id or []) if c in df.columns] for ds, df in frames.items()}
    for ds, df in frames.items():
        if len(df.columns):
            scan.plan("duplicates", ds)
        if ids_of[ds]:
            scan.plan("repeats", ds, ids_of[ds])
        feats = feature_columns(df, roles)
        if feats and roles.task != "regression" and roles.target in df.columns:
            scan.plan("conflicts", ds, feats, roles.target)
    ref, cur = frames["reference"], frames["current"]
    if len(ref.columns):
        scan.plan("fingerprint", "reference")
    shared = [c for c in ref.columns if c in cur.columns]
    feats = [c for c in feature_columns(cur, roles) if c in ref.columns]
    ids = [c for c in ids_of["reference"] if c in ids_of["current"]]
    for cols in (shared, feats, ids):
        if cols:
            scan.plan("overlap", "current", "reference", cols)


# -- helpers shared by the check groups -------------------------------------------------------------
def title(check_id: str) -> str:
    """The catalogue's title of a check, with the dataset it looks at (``Constant features (current)``)."""
    spec = catalogue.require(check_id)
    ds = catalogue.member(check_id).get("dataset")
    base = spec.title if spec else check_id
    return f"{base} ({ds})" if ds else base


def pct(x: float) -> str:
    return f"{100 * x:.2f}%" if x < 0.1 else f"{100 * x:.1f}%"


def listing(items: Iterable[Any], n: int = 5) -> str:
    """The first ``n`` items joined with commas, and how many more."""
    items = list(items)
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def per_dataset(fn: Callable[[str], dict | list[dict]]) -> list[dict]:
    """``fn(dataset)`` for the reference then the current data, flattened."""
    out: list[dict] = []
    for ds in DATASETS:
        r = fn(ds)
        out.extend(r if isinstance(r, list) else [r])
    return out


def feature_columns(df: pd.DataFrame, roles) -> list[str]:
    """The model's features present in ``df``."""
    return [c for c in roles.features if c in df.columns]


def text_columns(df: pd.DataFrame) -> list[str]:
    """Columns that are neither numeric nor datetime by dtype."""
    return [c for c in df.columns
            if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_datetime64_any_dtype(df[c]))]


def jsonable(v: Any) -> Any:
    """A data value as JSON can hold it (numpy scalars, timestamps, NaN)."""
    from playbook.results import to_jsonable

    return to_jsonable(v)


def timestamps(s: pd.Series) -> pd.Series:
    """A column's values as naive UTC timestamps (NaT where a value does not parse), as the audit reads dates.

    Text in any mix of formats and time zones is parsed by :func:`playbook.audit.contract.parse_datetime`.
    Numbers are dates when they read as ``YYYYMMDD`` integers (20240131) or as Unix epochs (seconds,
    milliseconds, micro- or nanoseconds after 1973, the unit from their magnitude); other numbers do not parse.
    Numbers and dates are converted by :meth:`playbook.audit.scan.Scan.time_expr`, the SQL the audit runs on the
    full data.
    """
    from playbook.audit.contract import parse_datetime
    from playbook.audit.scan import Binder, family

    frame = pd.DataFrame({"v": s.to_numpy()})
    scan = Scan({"d": Table.from_frame(frame, "d")})
    try:
        if not (family(scan.types["d"]["v"]) in NUMERIC or pd.api.types.is_datetime64_any_dtype(s)):
            return parse_datetime(s)
        b = Binder()
        got = scan.query(f"SELECT {scan.time_expr('d', 'v', b)} AS ts FROM {scan.source('d')} ORDER BY __row", b)
    finally:
        scan.close()
    return pd.Series(pd.to_datetime(got["ts"]).astype("datetime64[ns]").to_numpy(), index=s.index)


__all__ = [
    "AuditData", "CONTRACT", "DATASETS", "FINDINGS", "as_of", "clean_frame", "feature_columns", "flatten_containers",
    "found_markers", "jsonable", "listing", "pct", "per_dataset", "prepare", "text_columns", "timestamps", "title",
    "to_marker",
]

