"""The audit on the full data in DuckDB and on a seeded sample in pandas (playbook.audit.scan, prepare).

Frames look like data as it arrives: any column names (quotes, spaces, unicode, ``Age`` next to ``age``), dates as
text in ISO and dd/mm/yyyy, constant and empty columns, booleans, datetimes, mixed objects, ids, person names. Every
DuckDB statistic is checked against the same statistic computed directly in pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from playbook import audit
from playbook.audit import contract as dc
from playbook.audit import scan as scan_mod
from playbook.audit.contract import marker_mask, parse_datetime, split_markers
from playbook.audit.scan import Scan
from playbook.config import DataSettings
from playbook.data import resolve_roles
from playbook.tables import Table

MARKERS = audit.AuditParams().markers
FIRST = ["Ana", "Bram", "Chloé", "Dries", "Eva", "Farid", "Greet", "Hugo", "Inès", "Jonas", "Zoë", "Ølaf"]


def messy(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A frame as an export delivers it."""
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    df = pd.DataFrame({
        'klant "id"': [f"K-{100_000 + i}" for i in range(n)],
        "naam klant": [f"{FIRST[i % len(FIRST)]} {FIRST[(i * 5) % len(FIRST)]}sen" for i in range(n)],
        "geboren (dd/mm/yyyy)": days.strftime("%d/%m/%Y"),
        "signup ISO": days.strftime("%Y-%m-%d"),
        "Age": rng.integers(18, 90, n),
        "age": rng.integers(0, 5, n),
        "inkomen €": (rng.lognormal(10, 0.6, n)).round(2),
        "Ünïcode ø 🚀": rng.choice(["ja", "nee", "?", " NA "], n, p=[0.5, 0.4, 0.07, 0.03]),
        "land": "BE",
        "notities": np.nan,
        "actief": rng.choice([True, False], n),
        "gemaakt": pd.date_range("2024-01-01", periods=n, freq="h"),
        "mixed": pd.Series([1, "a", 2.5, None, "b", -999] * (n // 6) + [None] * (n % 6), dtype=object),
        "score": rng.normal(0, 1, n),
        "y": rng.choice(["goed", "slecht"], n, p=[0.7, 0.3]),
    })
    df.loc[rng.random(n) < 0.05, "inkomen €"] = np.nan
    df.loc[rng.random(n) < 0.02, "Age"] = -999
    df.loc[3, "score"] = np.inf
    df.loc[4, "score"] = -np.inf
    df.loc[7, "geboren (dd/mm/yyyy)"] = "31/02/2023"   # not a date
    df.loc[8, "signup ISO"] = "9999-12-31"             # a placeholder, in the future
    dup = df.iloc[10:15].copy()
    return pd.concat([df, dup], ignore_index=True)     # five exact duplicates


def roles_of(ref, cur=None, **kw):
    settings = DataSettings(reference="", current="", target="y", **kw)
    return resolve_roles(ref, ref if cur is None else cur, settings)


def pandas_markers(s: pd.Series) -> int:
    """Cells holding a marker, as the audit defines them, computed directly in pandas."""
    text, nums = split_markers(MARKERS)
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
        return 0
    if pd.api.types.is_numeric_dtype(s):
        return int(s.isin(list(nums)).sum())
    return int(marker_mask(s, MARKERS).sum())


def clean(s: pd.Series) -> pd.Series:
    return s.mask(marker_mask(s, MARKERS))


@pytest.fixture(params=["frame", "parquet"])
def table(request, tmp_path):
    df = messy()
    if request.param == "frame":
        return df, Table.from_frame(df, "reference")
    path = tmp_path / "ref.parquet"
    df = df.drop(columns=["mixed"])  # a parquet column holds one type
    df.to_parquet(path, index=False)
    return pd.read_parquet(path), Table.from_parquet(path, "reference")


def test_column_statistics_match_pandas(table):
    df, t = table
    s = Scan({"reference": t}, MARKERS, samples={"reference": df})
    try:
        for c in df.columns:
            st = s.column("reference", c)
            raw = df[c]
            cl = clean(raw)
            assert st.rows == len(df)
            assert st.nulls == int(raw.isna().sum()), c
            assert st.marker_cells == pandas_markers(raw), c
            assert st.distinct == cl.nunique(), c
            vc = cl.value_counts(dropna=True)
            assert st.top_count == (int(vc.iloc[0]) if len(vc) else 0), c
            if pd.api.types.is_float_dtype(raw):
                v = cl.astype(float)
                assert st.infinite == int(np.isinf(v).sum()), c
                finite = v[np.isfinite(v)]
                assert (st.min, st.max) == ((finite.min(), finite.max()) if len(finite) else (None, None)), c
        text = s.values("reference", "Ünïcode ø 🚀")
        assert dict(text) == clean(df["Ünïcode ø 🚀"]).value_counts().to_dict()
        assert s.duplicate_rows("reference") == int(df.apply(clean).duplicated().sum()) == 5
        assert s.column("reference", "Age").distinct != s.column("reference", "age").distinct  # not one column
    finally:
        s.close()


def test_columns_too_varied_to_group_match_pandas(monkeypatch):
    """Numbers and dates whose sample holds more distinct values than the group cap are profiled in one scan; their
    most frequent value is the sample's, counted over every row: exact when the sample is the data, and the true one
    on a larger data set whenever it stands out."""
    monkeypatch.setattr(scan_mod, "GROUP_CAP", 5)
    df = messy()
    df["rounded"] = (df["score"] * 2).round()                   # repeats: a clear most frequent value
    part = Table.from_frame(df).sample(300, seed=1)
    for sample, exact in ((df, True), (part, False)):
        s = Scan({"reference": Table.from_frame(df)}, MARKERS, samples={"reference": sample})
        try:
            for c in ["inkomen €", "score", "rounded", "Age", "gemaakt"]:
                st = s.column("reference", c)
                cl = clean(df[c])
                assert st.exact is exact and st.distinct == clean(sample[c]).nunique() <= cl.nunique(), c
                assert st.nulls == int(df[c].isna().sum()) and st.marker_cells == pandas_markers(df[c]), c
                if exact or c == "rounded":
                    assert st.top_count == int(cl.value_counts().iloc[0]), c
                if pd.api.types.is_float_dtype(df[c]):
                    v = cl.astype(float)
                    assert st.infinite == int(np.isinf(v).sum()), c
                    assert st.min == v[np.isfinite(v)].min() and st.max == v[np.isfinite(v)].max(), c
            assert s.column("reference", "Age").marked == [(-999, int((df["Age"] == -999).sum()))]
        finally:
            s.close()


def test_text_dates_iso_and_day_first_are_read_as_pandas_reads_them():
    df = messy()
    s = Scan({"reference": Table.from_frame(df)}, MARKERS)
    try:
        as_of = pd.Timestamp("2024-03-01")
        for c in ["geboren (dd/mm/yyyy)", "signup ISO"]:
            t = s.times("reference", c, as_of=as_of)
            ts = parse_datetime(df[c])
            far = ts.isna() & df[c].str.match(scan_mod.FAR_FUTURE)
            assert t.parsed == int(ts.notna().sum()), c
            assert t.unparseable == int((ts.isna() & ~far).sum()), c
            assert t.future == int((ts >= as_of).sum() + far.sum()), c
            assert (t.first, t.last) == (ts.min(), ts.max()), c
        assert s.times("reference", "geboren (dd/mm/yyyy)").examples == ["31/02/2023"]
        native = s.times("reference", "gemaakt", as_of=as_of)
        assert native.parsed == len(df) and native.last == df["gemaakt"].max()
        assert native.future == int((df["gemaakt"] >= as_of).sum())
    finally:
        s.close()


def test_whole_row_statistics_match_pandas():
    ref = messy()
    cur = pd.concat([messy(200, seed=1), ref.iloc[:30]], ignore_index=True)
    cur["age"] = cur["age"].astype(float)                  # another dtype must not hide copies
    s = Scan({"reference": Table.from_frame(ref), "current": Table.from_frame(cur)}, MARKERS)
    try:
        cols = list(ref.columns)
        assert s.rows_in("current", "reference", cols) == 30 + int(cur.iloc[:200].apply(clean).astype(str).apply(
            tuple, axis=1).isin(set(ref.apply(clean).astype(str).apply(tuple, axis=1))).sum())
        ids = ['klant "id"']
        dup, first = s.repeated_keys("reference", ids)
        assert dup == int(ref[ids[0]].duplicated().sum()) == 5 and first == list(ref.loc[10:14, ids[0]])
        feats = [c for c in cols if c not in ("y", 'klant "id"')]
        labelled = ref[ref["y"].notna()]
        key = labelled[feats].apply(clean).astype(str).apply(tuple, axis=1)
        groups = labelled.groupby(key.to_numpy())["y"].nunique()
        assert s.conflicts("reference", feats, "y")["conflicting_rows"] == int(
            key.isin(groups[groups > 1].index).sum())
    finally:
        s.close()


def test_planned_and_direct_row_statistics_agree_and_fingerprints_match_across_sources(tmp_path):
    df = messy()
    path = tmp_path / "r.parquet"
    df.drop(columns=["mixed"]).to_parquet(path, index=False)
    frame = pd.read_parquet(path)
    planned = Scan({"reference": Table.from_frame(frame)}, MARKERS)
    planned.plan("duplicates", "reference")
    planned.plan("fingerprint", "reference")
    direct = Scan({"reference": Table.from_frame(frame)}, MARKERS)
    on_file = Scan({"reference": Table.from_parquet(path)}, MARKERS)
    reordered = Scan({"reference": Table.from_frame(frame.iloc[::-1].reset_index(drop=True))}, MARKERS)
    try:
        assert planned.duplicate_rows("reference") == direct.duplicate_rows("reference") == 5
        assert planned.fingerprint("reference") == direct.fingerprint("reference")
        assert reordered.fingerprint("reference") != direct.fingerprint("reference")
        assert on_file.duplicate_rows("reference") == 5
    finally:
        for s in (planned, direct, on_file, reordered):
            s.close()


def test_the_whole_audit_on_messy_names_and_values(tmp_path):
    ref, cur = messy(), messy(300, seed=2)
    roles = roles_of(ref, cur, id=['klant "id"'], exclude=["naam klant"])
    checks, contract = audit.run_audit(ref, cur, roles, audit.AuditParams(run_date="2024-06-30"), out_dir=tmp_path)
    res = {c["id"]: c for c in checks}
    assert all(c["status"] != "error" for c in checks), [c["id"] for c in checks if c["status"] == "error"]
    assert res["data.uniqueness.duplicate_rows.reference"]["value"] == pytest.approx(5 / len(ref))
    examples = res["data.uniqueness.duplicate_ids.reference"]["details"][0]["examples"]
    assert examples == list(ref.loc[10:14, 'klant "id"'])
    assert {"Age", "age", "Ünïcode ø 🚀", 'klant "id"'} <= set(contract["columns"])
    assert contract["columns"]["Age"]["min"] == 18.0 and contract["columns"]["age"]["max"] <= 4.0
    assert "?" not in contract["columns"]["Ünïcode ø 🚀"]["categories"]
    assert res["data.validity.unparseable_timestamps.reference"]["status"] == "warn"
    assert res["data.validity.future_timestamps.reference"]["status"] == "warn"
    assert res["data.validity.infinite.reference"]["value"] == 2
    assert not any("sample_rows" in (c.get("threshold") or {}) for c in checks)     # nothing was sampled


def _sampled(tmp_path, n=6000, sample=1500):
    """A reference of ``n`` rows in parquet whose oddities lie outside the seeded sample of ``sample`` rows."""
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({
        "id": np.arange(n), "amount": rng.normal(100, 10, n).round(2),
        "city": rng.choice(["Gent", "Luik", "Brugge"], n), "code": [str(i % 97) for i in range(n)],
        "y": rng.choice(["a", "b"], n),
    })
    keep = set(Table.from_frame(ref).positions(sample, seed=0).tolist())
    outside = [i for i in range(n) if i not in keep]
    cols = ["amount", "city", "code", "y"]
    ref.loc[outside[:40], cols] = ref.loc[outside[40:80], cols].to_numpy()
    ref.loc[outside[:40], "id"] = ref.loc[outside[40:80], "id"].to_numpy()      # 40 duplicate rows, none sampled
    ref.loc[outside[100], "amount"] = 1e6                                        # the maximum, not sampled
    ref.loc[outside[101], "city"] = "Aarlen"                                     # a category, not sampled
    ref.loc[outside[102:112], "city"] = "?"                                      # markers, not sampled
    cur = ref.sample(frac=0.5, random_state=1).reset_index(drop=True)
    paths = {}
    for ds, df in (("reference", ref), ("current", cur)):
        paths[ds] = tmp_path / f"{ds}.parquet"
        df.to_parquet(paths[ds], row_group_size=1000, index=False)
    tables = {ds: Table.from_parquet(p, ds) for ds, p in paths.items()}
    frames = {ds: t.sample(sample, seed=0) for ds, t in tables.items()}
    sampling = {ds: {"rows": t.rows, "sample": sample, "seed": 0} for ds, t in tables.items()}
    assert not frames["reference"]["amount"].eq(1e6).any() and not frames["reference"]["city"].eq("?").any()
    return ref, cur, tables, frames, sampling


def test_sampled_frames_with_full_tables_count_every_row(tmp_path):
    ref, cur, tables, frames, sampling = _sampled(tmp_path)
    roles = roles_of(frames["reference"], frames["current"], id=["id"])
    p = audit.AuditParams(sample_rows=1500)
    checks, contract = audit.run_audit(frames["reference"], frames["current"], roles, p, tables=tables,
                                       sampling=sampling, report=False)
    res = {c["id"]: c for c in checks}
    full, _ = audit.run_audit(ref, cur, roles_of(ref, cur, id=["id"]), audit.AuditParams(), report=False)
    whole = {c["id"]: c for c in full}
    for cid in ("data.uniqueness.duplicate_rows.reference", "data.uniqueness.duplicate_ids.reference",
                "data.completeness.disguised_missing.reference", "data.completeness.missing_share.reference",
                "data.validity.high_cardinality.reference", "data.validity.near_constant.reference",
                "data.validity.outliers.current", "data.contamination", "data.contamination.ids",
                "data.target.balance.reference", "data.target.missing"):
        assert res[cid]["value"] == pytest.approx(whole[cid]["value"]), cid
        assert "sample_rows" not in (res[cid]["threshold"] or {}), cid
    assert res["data.uniqueness.duplicate_rows.reference"]["value"] == pytest.approx(40 / len(ref))
    assert res["data.completeness.disguised_missing.reference"]["details"] == [
        {"column": "city", "marker": "?", "count": 10, "share": round(10 / len(ref), 6)}]
    assert contract["reference_rows"] == len(ref) and contract["columns"]["amount"]["max"] == 1e6
    assert "Aarlen" in contract["columns"]["city"]["categories"]
    for cid in ("data.schema.mixed_types.reference", "data.schema.numeric_as_text.current",
                "data.leakage.single_feature", "data.leakage.id_correlation", "data.contract.current_valid"):
        th = res[cid]["threshold"]
        ds = "current" if cid.endswith("current") or "contract" in cid else "reference"
        assert th["sample_rows"] == 1500 and th["of_rows"] == tables[ds].rows, cid
        assert "seeded sample" in res[cid]["why"], cid


def test_frames_larger_than_sample_rows_are_sampled_for_the_row_checks_only():
    ref, cur = messy(3000), messy(1200, seed=5)
    roles = roles_of(ref, cur)
    small, _ = audit.run_audit(ref, cur, roles, audit.AuditParams(sample_rows=500), report=False)
    big, _ = audit.run_audit(ref, cur, roles, audit.AuditParams(sample_rows=100_000), report=False)
    a, b = {c["id"]: c for c in small}, {c["id"]: c for c in big}
    assert a["data.leakage.single_feature"]["threshold"]["sample_rows"] == 500
    assert a["data.leakage.single_feature"]["threshold"]["of_rows"] == len(ref)
    assert "sample_rows" not in b["data.leakage.single_feature"]["threshold"]
    for cid in ("data.uniqueness.duplicate_rows.reference", "data.completeness.column_missing.current",
                "data.validity.constant.reference", "data.validity.infinite.reference", "data.contamination",
                "data.validity.unparseable_timestamps.reference"):
        assert a[cid]["value"] == b[cid]["value"] and a[cid]["status"] == b[cid]["status"], cid


def test_sampled_checks_still_fail_when_the_sample_shows_the_fault(tmp_path):
    ref, cur, _, _, _ = _sampled(tmp_path)
    ref = ref.assign(outcome=(ref["y"] == "a").map({True: "D", False: "C"}))        # a copy of the label
    cur = cur.assign(outcome=(cur["y"] == "a").map({True: "D", False: "C"})).drop(columns=["amount"])
    tables = {}
    for ds, df in (("reference", ref), ("current", cur)):
        df.to_parquet(tmp_path / f"{ds}-leak.parquet", index=False)
        tables[ds] = Table.from_parquet(tmp_path / f"{ds}-leak.parquet", ds)
    frames = {ds: t.sample(1500, seed=0) for ds, t in tables.items()}
    roles = roles_of(frames["reference"], frames["current"])
    res = {c["id"]: c for c in audit.run_audit(frames["reference"], frames["current"], roles,
                                               audit.AuditParams(sample_rows=1500), tables=tables, report=False)[0]}
    leak, valid = res["data.leakage.single_feature"], res["data.contract.current_valid"]
    assert leak["status"] == "fail" and leak["threshold"]["sample_rows"] == 1500
    assert leak["threshold"]["of_rows"] == len(ref) and "outcome" in leak["why"]
    assert valid["status"] == "fail" and valid["threshold"] == {
        "max": 0, "warn_above_share": 0.01, "sample_rows": 1500, "of_rows": len(cur)}


def test_text_dates_with_too_many_distinct_values_are_read_on_the_sample(monkeypatch):
    import importlib

    monkeypatch.setattr(importlib.import_module("playbook.audit.prepare"), "TIME_VALUES_CAP", 10)
    ref = messy(2000)
    roles = roles_of(ref, timestamp="signup ISO")
    res = {c["id"]: c for c in audit.run_audit(ref, ref.copy(), roles, audit.AuditParams(
        run_date="2024-06-30", sample_rows=800), report=False)[0]}
    for cid in ("data.validity.unparseable_timestamps.reference", "data.freshness.gaps.reference"):
        th = res[cid]["threshold"]
        assert th["sample_rows"] == 800 and th["of_rows"] == len(ref), cid
        assert "sample" in res[cid]["why"], cid
    both = res["data.freshness.staleness"]["threshold"]      # judged on both datasets: one entry each
    assert both["sample_rows"] == {"reference": 800, "current": 800}
    assert both["of_rows"] == {"reference": len(ref), "current": len(ref)}


def test_contract_describes_the_table_not_the_sample(tmp_path):
    ref, _, tables, frames, _ = _sampled(tmp_path)
    c = dc.build_contract(frames["reference"], roles_of(frames["reference"]), missing_markers=MARKERS,
                          table=tables["reference"])
    whole = dc.build_contract(ref, roles_of(ref), missing_markers=MARKERS)
    assert c["columns"] == whole["columns"] and c["reference_rows"] == len(ref)
    assert c["reference_fingerprint"] == whole["reference_fingerprint"]


def test_empty_and_all_missing_data_do_not_break_the_scan():
    ref = messy(60)
    s = Scan({"reference": Table.from_frame(ref), "current": Table.from_frame(ref.iloc[:0])}, MARKERS)
    try:
        assert s.column("current", "score").rows == 0 and s.column("current", "land").distinct == 0
        assert s.duplicate_rows("current") == 0 and s.rows_in("current", "reference", ["land"]) == 0
        assert s.column("reference", "notities").nulls == len(ref) and s.column("reference", "notities").distinct == 0
        assert s.times("current", "gemaakt").parsed == 0
    finally:
        s.close()


def test_summary_covers_every_row_and_evidently_on_request_runs_on_the_sample(tmp_path):
    """The data summary is the audit's own statistics over every row (the threshold records no sample); Evidently's
    report, asked for with evidently_report, runs on the sample and says so."""
    import json

    ref, cur, tables, frames, sampling = _sampled(tmp_path)
    roles = roles_of(frames["reference"], frames["current"])
    out = tmp_path / "step"
    checks, _ = audit.run_audit(frames["reference"], frames["current"], roles, audit.AuditParams(sample_rows=1500),
                                out_dir=out, tables=tables, sampling=sampling)
    report = {c["id"]: c for c in checks}["data.summary_report"]
    assert report["status"] == "pass" and report["threshold"] is None and "over every row" in report["why"]
    assert report["evidence"] == ["artifacts/data_summary.html", "artifacts/data_summary.json"]
    summary = json.loads((out / "artifacts" / "data_summary.json").read_text())
    col = {c["column"]: c for c in summary["columns"]}
    assert summary["rows"] == {"reference": len(ref), "current": len(cur)}
    amount, city = col["amount"]["reference"], col["city"]["reference"]
    assert amount["max"] == 1e6 and amount["rows"] == len(ref)             # the maximum outside the sample
    assert sum(amount["histogram"]) == ref["amount"].notna().sum()
    assert amount["mean"] == pytest.approx(ref["amount"].mean()) and amount["std"] == pytest.approx(ref["amount"].std())
    assert amount["quartiles"] == pytest.approx(list(ref["amount"].quantile([0.25, 0.5, 0.75])))
    assert city["missing"] == city["placeholders"] == 10                   # '?' outside the sample, as missing
    assert {v["value"]: v["count"] for v in city["values"]} == ref["city"][ref["city"] != "?"].value_counts().to_dict()
    assert not (out / "artifacts" / "evidently_summary.html").exists()

    out2 = tmp_path / "step2"
    checks, _ = audit.run_audit(frames["reference"], frames["current"], roles,
                                audit.AuditParams(sample_rows=1500, evidently_report=True), out_dir=out2,
                                tables=tables, sampling=sampling)
    report = {c["id"]: c for c in checks}["data.summary_report"]
    assert report["status"] == "pass" and "artifacts/evidently_summary.html" in report["evidence"]
    assert report["threshold"] == {"sample_rows": {"reference": 1500, "current": 1500},
                                   "of_rows": {"reference": len(ref), "current": len(cur)}}
    assert f"Evidently's report is on a seeded sample (1,500 of the {len(ref):,} reference rows" in report["why"]
    assert json.loads((out2 / "artifacts" / "evidently_summary.json").read_text())["metrics"]


def test_summary_shows_protected_columns_as_counts_only(tmp_path):
    import json

    ref = messy(300)
    data = audit.prepare(ref, ref.copy(), roles_of(ref), audit.AuditParams(), pii=["naam klant", "Age"])
    try:
        c = audit.summary_check(data, "a.html", "a.json", tmp_path / "a.html", tmp_path / "a.json",
                                protected=['klant "id"'])
    finally:
        data.close()
    assert c["status"] == "pass" and c["value"] == len(ref.columns)
    page = (tmp_path / "a.html").read_text()
    cols = {x["column"]: x for x in json.loads((tmp_path / "a.json").read_text())["columns"]}
    for name in ("naam klant", "Age", 'klant "id"'):
        side = cols[name]["reference"]
        assert cols[name]["protected"] and side["rows"] == len(ref) and side["distinct"] > 0, name
        assert not {"top", "values", "min", "max", "quartiles", "histogram"} & set(side), name
    for v in ref["naam klant"].unique()[:20]:
        assert v not in page
    assert "K-100000" not in page and "Ana " not in page
    assert cols["score"]["reference"]["infinite"] == 2 and cols["inkomen €"]["reference"]["histogram"]
    assert cols["signup ISO"]["reference"]["kind"] == "datetime" and cols["signup ISO"]["reference"]["first"]


# -- the order of numeric dates -----------------------------------------------------------------------------------
def test_day_first_dates_read_in_one_order_per_column():
    hours = pd.date_range("2024-06-01", periods=60 * 24, freq="h")
    for fmt, first in (("%d/%m/%Y %H:%M", True), ("%m/%d/%Y %H:%M", False), ("%d.%m.%Y", True), ("%d-%m-%y", True)):
        text = pd.Series(hours.strftime(fmt))
        assert dc.day_first(text) is first, fmt
        ts = parse_datetime(text)
        assert ts.isna().sum() == 0, fmt
        assert ts.min() == hours.min().floor("D" if "%H" not in fmt else "h"), fmt
        assert ts.max() == (hours.max() if "%H" in fmt else hours.max().floor("D")), fmt
        assert ts.sort_values().diff().max() <= pd.Timedelta(days=1), fmt      # no phantom month-long gaps
    # a value mixed-format parsing reads alone (06/07 as June) follows the column's deciding values (13/07)
    got = parse_datetime(pd.Series(["06/07/2024", "13/07/2024", "2024-07-20"]))
    assert list(got) == [pd.Timestamp("2024-07-06"), pd.Timestamp("2024-07-13"), pd.Timestamp("2024-07-20")]
    # nothing decides: slashes read month first (the parser's convention), dots day first; an explicit order wins
    assert dc.day_first(pd.Series(["06/07/2024", "01/02/2024"])) is False
    assert dc.day_first(pd.Series(["06.07.2024"])) is True
    assert parse_datetime(pd.Series(["06/07/2024"]), dayfirst=True)[0] == pd.Timestamp("2024-07-06")
    assert dc.day_first(pd.Series(["2024-07-06", "soon"])) is None


def test_the_audit_sees_day_first_timestamps_without_gaps():
    hours = pd.date_range("2024-06-01", periods=900, freq="h")
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"listed_on": hours.strftime("%d/%m/%Y %H:%M"), "area": rng.normal(100, 10, 900),
                        "price": rng.normal(3e5, 5e4, 900)})
    roles = resolve_roles(ref, ref, DataSettings(reference="r.csv", current="c.csv", target="price", timestamp="listed_on"))
    data = audit.prepare(ref, ref.copy(), roles, audit.AuditParams(run_date="2024-08-01"))
    from playbook.audit import freshness as fresh

    got = {c["id"]: c for c in audit.freshness_checks(data)}
    gap = got["data.freshness.gaps.reference"]
    assert gap["status"] == "pass" and gap["value"] == 1.0, gap        # month-first reading makes 30-day gaps
    assert fresh.times(data, "reference").last == hours.max()            # not 2024-12-07 (month first)


def test_the_monitor_reads_a_batch_of_numeric_dates_in_the_reference_order():
    from types import SimpleNamespace

    from playbook.monitoring.check import _model_age

    # a batch of early-month days cannot tell 03/07 from 07/03: the reference's order, in monitoring.yaml, decides
    batch = pd.DataFrame({"t": ["01/07/2024 10:00", "03/07/2024 09:00"]})
    cfg = {"timestamp_column": "t", "trained_until": "2024-06-30T00:00:00+00:00", "max_age_days": 30.0}
    day = _model_age(SimpleNamespace(model_age={**cfg, "day_first": True}), batch, [], [])
    month = _model_age(SimpleNamespace(model_age={**cfg, "day_first": False}), batch, [], [])
    assert day["age_days"] == pytest.approx(3 + 9 / 24) and not day["stale"]
    assert month["age_days"] < -100                         # read as March 7th: months before the training cutoff


def test_the_current_data_reads_numeric_dates_in_the_order_the_reference_decides():
    from playbook.audit import freshness as fresh

    ref_t = pd.date_range("2024-05-01", periods=60 * 24, freq="h")          # days above 12: day first
    cur_t = pd.date_range("2024-07-01", periods=12 * 24, freq="h")          # 1 to 12 July: cannot tell alone
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"listed_on": ref_t.strftime("%d/%m/%Y %H:%M"), "area": rng.normal(100, 10, len(ref_t)),
                        "price": rng.normal(3e5, 5e4, len(ref_t))})
    cur = pd.DataFrame({"listed_on": cur_t.strftime("%d/%m/%Y %H:%M"), "area": rng.normal(100, 10, len(cur_t)),
                        "price": rng.normal(3e5, 5e4, len(cur_t))})
    assert dc.day_first(cur["listed_on"]) is False                        # alone it would read 7 January ...
    roles = resolve_roles(ref, cur, DataSettings(reference="r.csv", current="c.csv", target="price",
                                                 timestamp="listed_on"))
    data = audit.prepare(ref, cur, roles, audit.AuditParams(run_date="2024-08-01"))
    t = fresh.times(data, "current")
    assert (t.first, t.last) == (cur_t.min(), cur_t.max())
    got = {c["id"]: c for c in audit.freshness_checks(data)}
    assert got["data.freshness.gaps.current"]["value"] == 1.0
