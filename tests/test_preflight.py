"""The preflight computes once: data copy, roles, privacy scan and model, read back by every step."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from playbook import config as config_mod
from playbook import pack as pack_mod
from playbook import preflight
from playbook.context import load_context
from playbook.data import DataError, load_table, resolve_roles


def messy(n: int = 2500, seed: int = 0) -> pd.DataFrame:
    """A frame that looks like an unseen export: dates as dd/mm/yyyy text, lowercase person names, an id, a
    constant and an empty column, integers with gaps, a yes/no label."""
    rng = np.random.default_rng(seed)
    first = ["anna", "jan", "sophie", "pieter", "lotte", "daan"]
    return pd.DataFrame({
        "Loan ID": [f"L{100000 + i}" for i in range(n)],
        "applied on": [f"{1 + i % 28:02d}/{1 + i % 12:02d}/2024" for i in range(n)],
        "agent name": [first[i % len(first)] + " " + "de vries" for i in range(n)],
        "income (EUR)": rng.normal(42_000, 9_000, n).round(2),
        "dependants": pd.array(np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 4, n)), dtype="float64"),
        "branch country": "NL",
        "legacy score": np.nan,
        "purpose": rng.choice(["car", "house", "study"], n),
        "defaulted": rng.choice(["yes", "no"], n, p=[0.3, 0.7]),
    })


def _config(tmp_path: Path, ref: pd.DataFrame, cur: pd.DataFrame, **data) -> config_mod.PackConfig:
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    return config_mod.from_dict({"data": {"reference": "ref.csv", "current": "cur.csv", "target": "defaulted",
                                          **data}}, base=tmp_path)


def test_every_step_judges_the_model_the_preflight_fitted(bundled_pack):
    pack = bundled_pack["pack"]
    facts = json.loads((pack / "preflight.json").read_text())
    data = (pack / preflight.MODEL_FILE).read_bytes()
    assert facts["model"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert facts["roles"]["target"] == "creditability" and facts["data"]["reference"]["rows"] > 0
    used = {}
    for step in ("02_model_evaluation", "04_monitoring_setup", "05_drift_simulation"):
        res = json.loads((pack / "steps" / step / "results.json").read_text())
        used[step] = res["info"]["model_used"]
    assert {u["sha256"] for u in used.values()} == {facts["model"]["sha256"]}, used
    assert {u["source"] for u in used.values()} == {"preflight"}, used
    manifest = json.loads((pack / "manifest.json").read_text())
    files = set(manifest["files"]) if isinstance(manifest["files"], dict) else {f["path"] for f in manifest["files"]}
    assert {"preflight.json", "model.skops"} <= files
    # the working copy of the data stays out; the evaluation's per-row outputs (fingerprints, no value) are in
    assert not [f for f in files if f.endswith((".parquet", ".pkl"))
                and f != "steps/02_model_evaluation/artifacts/predictions.parquet"], "the working copy must stay out"


def test_the_columnar_copy_is_read_back_instead_of_the_input(tmp_path, monkeypatch):
    df = messy(600)
    cfg = _config(tmp_path, df.iloc[:400], df.iloc[400:])
    work = tmp_path / ".p.work-x"
    work.mkdir()
    staging = tmp_path / ".p.partial-x"
    staging.mkdir()
    from playbook.runner import preflight as run_preflight

    ctx, info, adapter = run_preflight(cfg, None, work)
    from playbook import privacy

    privacy.store(ctx.privacy, staging)
    preflight.store(staging, ctx, work, info, {}, adapter)
    (tmp_path / "ref.csv").write_text("garbage\n")  # the steps never parse the input again
    monkeypatch.setenv(preflight.WORKDIR_ENV, str(work))
    cfg_path = staging / "config.yaml"
    cfg_path.write_text(config_mod.dump(cfg))
    back = load_context(str(cfg_path), pack_dir=str(staging))
    pd.testing.assert_frame_equal(back.reference, ctx.reference)
    assert back.roles == ctx.roles
    from playbook.modeling import get_model

    model = get_model(back)
    assert back.model_record["source"] == "preflight"
    assert back.model_record["sha256"] == json.loads((staging / "preflight.json").read_text())["model"]["sha256"]
    np.testing.assert_array_equal(model.predict(back.current), adapter.predict(ctx.current))
    # another pack's working folder is never used
    other = tmp_path / ".q.partial-y"
    other.mkdir()
    assert preflight.workdir_for(other) is None
    # a model file changed after the preflight is refused
    (staging / preflight.MODEL_FILE).write_bytes(b"PK" + b"\0" * 10)
    with pytest.raises(DataError, match="changed after the preflight"):
        get_model(load_context(str(cfg_path), pack_dir=str(staging)))


def test_data_larger_than_max_rows_is_sampled_and_recorded(tmp_path):
    df = messy(2500)
    cfg = _config(tmp_path, df.iloc[:2200], df.iloc[2200:], max_rows=1000)
    ctx = load_context(cfg.source or {"data": {"reference": str(tmp_path / "ref.csv"), "current": str(tmp_path / "cur.csv"),
                                               "target": "defaulted", "max_rows": 1000}})
    assert len(ctx.reference) == 1000 and ctx.table("reference").rows == 2200
    assert ctx.sampling["reference"] == {"rows": 2200, "sample": 1000, "seed": 0}
    assert ctx.sampling["current"] is None and len(ctx.current) == 300
    again = load_context({"data": {"reference": str(tmp_path / "ref.csv"), "current": str(tmp_path / "cur.csv"),
                                   "target": "defaulted", "max_rows": 1000}})
    pd.testing.assert_frame_equal(ctx.reference, again.reference)
    step = ctx.step("data_audit", tmp_path / "s")
    assert step.info["data_sample"]["reference"]["rows"] == 2200
    # the deployed monitor records the sample it learned from, so `playbook monitor --reference` reads it back
    from playbook.audit.contract import build_contract
    from playbook.modeling import get_model
    from playbook.monitoring.setup import make_config

    setup = make_config(ctx, get_model(ctx), build_contract(ctx.reference, ctx.roles), batch_size=100,
                        replicates=300, holdout=100, folds=2, domain_null_batches=20)
    assert setup.spec["reference"]["sampling"] == {"rows": 2200, "sample": 1000, "seed": 0}


def test_max_rows_is_validated():
    for bad in (0, 10, "many", True, 1.5):
        with pytest.raises(config_mod.ConfigError, match="data.max_rows"):
            config_mod.from_dict({"data": {"reference": "a.csv", "current": "b.csv", "target": "y", "max_rows": bad}})


def test_large_inputs_are_copied_in_streaming_with_the_types_pandas_gives(tmp_path, monkeypatch):
    df = messy(3000)
    cfg = _config(tmp_path, df.iloc[:2000], df.iloc[2000:], max_rows=1500)
    monkeypatch.setattr(preflight, "STREAM_BYTES", 0)  # every file counts as large
    work = tmp_path / "work"
    work.mkdir()
    info: dict = {}
    got = preflight.load_data(cfg, work, info)
    assert info["reference"]["files"][0]["reader"] == "duckdb"
    ref = got["reference"]
    assert ref["table"].rows == 2000 and len(ref["frame"]) == 1500
    assert ref["sampling"] == {"rows": 2000, "sample": 1500, "seed": 0}
    pandas = load_table(tmp_path / "ref.csv")
    frame = ref["frame"]
    for c in df.columns:
        if c == "legacy score":  # no value at all: no type to infer (and never a feature)
            continue
        assert pd.api.types.is_numeric_dtype(frame[c]) == pd.api.types.is_numeric_dtype(pandas[c]), c
    assert frame["applied on"].iloc[0] == pandas["applied on"].iloc[0]  # dates stay text, as pandas reads them
    # the sample keeps the file's order and is a subset of its rows
    assert frame["Loan ID"].is_monotonic_increasing and set(frame["Loan ID"]) <= set(pandas["Loan ID"])


def test_a_parquet_folder_with_more_rows_than_max_rows_is_never_loaded_whole(tmp_path):
    df = messy(3000)
    folder = tmp_path / "ref"
    folder.mkdir()
    for i in range(3):
        df.iloc[i * 700:(i + 1) * 700].to_parquet(folder / f"part-{i}.parquet", index=False)
    df.iloc[2100:].to_csv(tmp_path / "cur.csv", index=False)
    cfg = config_mod.from_dict({"data": {"reference": "ref", "current": "cur.csv", "target": "defaulted",
                                         "max_rows": 1000}}, base=tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    got = preflight.load_data(cfg, work, {})
    assert got["reference"]["table"].rows == 2100 and len(got["reference"]["frame"]) == 1000
    assert got["current"]["sampling"] is None


def test_roles_read_back_keep_the_label_types(tmp_path):
    for labels in ([0, 1], [True, False], ["bad", "good"], [1.0, 2.0]):
        ref = pd.DataFrame({"x": np.arange(40.0), "y": [labels[i % 2] for i in range(40)]})
        settings = config_mod.from_dict({"data": {"reference": "r.csv", "current": "c.csv", "target": "y"}}).data
        roles = resolve_roles(ref, ref, settings)
        facts = json.loads(json.dumps({"roles": roles.as_dict()}))
        back = preflight.roles_from(facts, ref)
        assert back == roles and type(back.positive_label) is type(roles.positive_label), labels


def test_clean_removes_the_working_folder_of_a_run_that_died(tmp_path):
    dead = tmp_path / ".p.work-abc"
    dead.mkdir()
    (dead / "reference.parquet").write_bytes(b"x")
    (dead / pack_mod.OWNER_FILE).write_text(json.dumps({"pid": 999999999, "start": "never"}))
    rep = pack_mod.clean_stale(tmp_path)
    assert dead in rep.removed and not dead.exists()
    live = preflight.make_workdir(tmp_path / "q")
    assert live.name.startswith(".q.work-") and os.stat(live).st_mode & 0o077 == 0
    with pack_mod.PackLock(tmp_path / "q"):  # the run that owns it holds the pack name's lock
        rep = pack_mod.clean_stale(tmp_path)
        assert live.exists() and any(p == live for p, _ in rep.kept), rep
    preflight.remove_workdir(live)


def test_the_page_says_when_the_steps_worked_on_a_sample(bundled_pack):
    from playbook.report import render_index

    summary = json.loads((bundled_pack["pack"] / "summary.json").read_text())
    assert summary["data_sample"] == {} and "sampled" not in render_index(bundled_pack["pack"], summary)
    summary["data_sample"] = {"reference": {"rows": 2_000_000, "sample": 1_000_000, "seed": 0}}
    page = render_index(bundled_pack["pack"], summary)
    assert "2,000,000 rows were sampled to 1,000,000 (seed 0)" in page
