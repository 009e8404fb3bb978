"""One realistic messy dataset, one complete pack, every finding asserted.

The bundled German credit data, damaged the way real exports are: an all-empty feature, infinite values, stray text
in a numeric column, unparseable timestamps, two columns dropped from the current data (a schema break), the current
columns in another order and written in Latin-1 (Windows-1252), a sensitive column whose name carries an HTML
payload, and values holding script tags and spreadsheet formulas. The right answer is a complete pack whose verdict
is no-go because of the data contract, with every step run on the columns both datasets share and each fault a
finding with its reason; nothing it contains may run a script or a formula.
"""

from __future__ import annotations

import csv
import html.parser
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from playbook.data import _PLAIN_NUMBER

from .conftest import ROOT, run_cli, shared

pytestmark = pytest.mark.slow

GERMAN = ROOT / "datasets" / "german_credit"
EVIL = "purpose<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert('x')</script>"
FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"]
DROPPED = ["property", "housing"]


def _mess(df: pd.DataFrame) -> pd.DataFrame:
    df = df.rename(columns={"purpose": EVIL}).copy()
    df["empty_feature"] = np.nan
    amt = df["credit_amount"].astype(float)
    amt.iloc[::50] = np.inf
    amt.iloc[7] = -np.inf
    df["credit_amount"] = amt
    dur = df["duration_in_month"].astype(object)
    dur.iloc[::60] = "twelve"
    df["duration_in_month"] = dur
    ts = pd.Series(pd.date_range("2023-01-01", periods=len(df), freq="h").astype(str), index=df.index)
    ts.iloc[::40] = "not a date"
    df["applied_at"] = ts
    for col, rows in ((EVIL, (4, 10, 11, 12, 13)), ("job", (3, 5, 6, 8, 9))):
        s = df[col].astype(object)
        for r, v in zip(rows, [SCRIPT, *FORMULAS]):
            s.iloc[r] = v
        df[col] = s
    df["telephone"] = df["telephone"].map(lambda v: "café" if v == "none" else "Ja, registriert")
    return df


@pytest.fixture(scope="session")
def messy_pack(tmp_path_factory):
    return shared(tmp_path_factory, "messy", _messy_pack)


def _messy_pack(d):
    ref = _mess(pd.read_csv(GERMAN / "reference.csv"))
    cur = _mess(pd.read_csv(GERMAN / "current.csv")).drop(columns=DROPPED)
    cur = cur[list(reversed(cur.columns))]
    ref.to_csv(d / "ref.csv", index=False)
    cur.to_csv(d / "cur.csv", index=False, encoding="cp1252")
    small = yaml.safe_load((ROOT / "tests" / "data" / "small.yaml").read_text())
    cfg = {"name": "messy", "data": {"reference": "ref.csv", "current": "cur.csv", "target": "creditability",
                                     "positive_label": "bad", "timestamp": "applied_at",
                                     "sensitive": [EVIL, "personal_status_and_sex"]},
           "steps": small["steps"]}
    (d / "pack.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    out = d / "evidence"
    proc = run_cli("run", str(d / "pack.yaml"), "--out", str(out), timeout=1800)
    pack = out / "messy"
    summary = json.loads((pack / "summary.json").read_text()) if (pack / "summary.json").exists() else {}
    return {"proc": proc, "pack": pack, "summary": summary, "checks": {c["id"]: c for c in summary.get("checks", [])}}


def test_complete_pack_no_go_because_of_the_contract(messy_pack):
    proc, s = messy_pack["proc"], messy_pack["summary"]
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert s["verdict"] == "no-go" and not s["partial"]
    assert [st["name"] for st in s["steps"] if st["status"] in ("error", "skipped")] == []
    fails = [r for r in s["reasons"] if r["kind"] == "gate_fail"]
    assert fails[0]["check"] == "data.contract.current_valid"
    assert not [r for r in s["reasons"] if r["kind"] in ("step_error", "gate_missing", "gate_error")]
    assert run_cli("verify", str(messy_pack["pack"])).returncode == 0


def test_schema_break_every_step_on_the_shared_columns(messy_pack):
    s, checks = messy_pack["summary"], messy_pack["checks"]
    for col in DROPPED:
        assert "schema break" in s["excluded_from_features"][col] and col not in s["features"]
    contract = checks["data.contract.current_valid"]
    assert contract["status"] == "fail"
    details = json.loads((messy_pack["pack"] / "steps/01_data_audit/results.json").read_text())
    assert details["status"] != "error"
    # the model and the monitors ran (they crashed on the dropped columns before)
    for cid in ("model.roc_auc", "model.beats_baseline", "model.serving.input_validation",
                "monitoring.false_alarm_budget_met", "monitoring.contract_covers_all_features",
                "monitoring.config_roundtrip"):
        assert checks[cid]["status"] in ("pass", "warn", "fail"), (cid, checks[cid])
    monitors = yaml.safe_load((messy_pack["pack"] / "steps/04_monitoring_setup/artifacts/monitoring.yaml").read_text())
    assert not any(col in json.dumps(monitors.get("monitors", "")) for col in DROPPED)


def test_each_data_fault_is_a_finding_with_its_reason(messy_pack):
    s, checks = messy_pack["summary"], messy_pack["checks"]
    assert "no value in the reference" in s["excluded_from_features"]["empty_feature"]
    assert "empty_feature" not in s["features"]
    assert checks["data.completeness.column_missing.reference"]["status"] in ("warn", "fail")
    for ds in ("reference", "current"):
        assert checks[f"data.validity.infinite.{ds}"]["status"] == "fail"          # infinite values
        assert checks[f"data.schema.numeric_as_text.{ds}"]["status"] in ("warn", "fail")  # stray text
        assert checks[f"data.validity.unparseable_timestamps.{ds}"]["status"] in ("warn", "fail")
    assert s["rows_with_infinite_values"] == {"reference": 15, "current": 7}
    evaluated = json.loads((messy_pack["pack"] / "steps/02_model_evaluation/artifacts/model.json").read_text())
    assert evaluated["evaluation_rows"] == 300 - 7  # rows the model refuses (infinity) are left out, counted above


def test_latin1_current_is_read_with_the_fallback_stated(messy_pack):
    s = messy_pack["summary"]
    assert s["inputs_read"]["current"]["files"][0]["encoding"] == "cp1252"
    assert "warning: data.current: not UTF-8: read as Windows-1252" in messy_pack["proc"].stderr
    manifest = json.loads((messy_pack["pack"] / "manifest.json").read_text())
    assert manifest["inputs"]["current"]["read"]["encoding_fallback"].startswith("not UTF-8")


class _Markup(html.parser.HTMLParser):
    """Collects what would run in a browser: event-handler attributes and script elements with data in them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found, self._script = [], None

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k.lower().startswith("on") and v and "alert" in v:
                self.found.append(f"<{tag} {k}={v!r}>")
        if tag == "img" and any(k == "src" and v == "x" for k, v in attrs):
            self.found.append("<img src=x>")
        if tag == "script":
            self._script = ""

    def handle_data(self, data):
        if self._script is not None:
            self._script += data

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            if self._script.strip().startswith("alert("):
                self.found.append(f"<script>{self._script.strip()[:60]}")
            self._script = None


def test_no_html_of_the_pack_runs_a_payload(messy_pack):
    pages = sorted(messy_pack["pack"].rglob("*.html"))
    assert len(pages) >= 10
    carrying = 0
    for page in pages:
        text = page.read_text(encoding="utf-8", errors="replace")
        carrying += ("onerror=alert(1)" in text) or ("alert('x')" in text) or ("onerror\\u003dalert" in text)
        p = _Markup()
        p.feed(text)
        assert p.found == [], (page.relative_to(messy_pack["pack"]), p.found[:3])
    assert carrying >= 5  # the payloads are in the pages, as text


def test_no_csv_of_the_pack_holds_a_live_formula(messy_pack):
    files = sorted(messy_pack["pack"].rglob("*.csv"))
    assert files
    for f in files:
        with open(f, newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    assert not (cell[:1] in ("=", "+", "-", "@") and not _PLAIN_NUMBER.fullmatch(cell.strip())), (f.name, cell)
