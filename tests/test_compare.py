"""`playbook compare OLD NEW`, `playbook run --previous PACK` and the promotion recommendation.

The unit tests build prediction tables and comparisons by hand. The pack tests set a second pack of the bundled data
(a logistic regression from a skops file, built once with `--previous` the shared baseline pack) against the shared
`bundled_pack`: the paired CI in compare.json is checked against a bootstrap written here, the review step's
comparison against the command's, and compare.html is opened in Chromium (screenshot: test-artifacts/compare.png).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from playbook import compare
from playbook.compare import paired, policy
from playbook.compare.diff import PackView, fairness, flips, gate_changes
from playbook.evaluate import predictions
from playbook.evaluate.metrics import Scored

from .conftest import ROOT, run_cli, shared

ARTIFACTS = ROOT / "test-artifacts"


# -- helpers ------------------------------------------------------------------------------------------------------

def _two_models(n: int = 400, seed: int = 0):
    """Truth and two correlated sets of scores: the new model somewhat better than the old one."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = y + rng.normal(0, 1.0, n)
    old = 1 / (1 + np.exp(-(signal + rng.normal(0, 1.2, n))))
    new = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.6, n))))
    return y, old, new


def _scored(y, p) -> Scored:
    classes = ["bad", "good"]
    labels = np.where(y == 1, "bad", "good").astype(object)
    pred = np.where(p >= 0.5, "bad", "good").astype(object)
    return Scored(task="binary", y=labels, pred=pred, proba=np.column_stack([p, 1 - p]), classes=classes,
                  positive="bad")


def _view(name="p", checks=None, gates=None, task="binary", predictions_=None, metrics=None, verdict="go",
          config=None) -> PackView:
    return PackView(name=name, path=Path(name), verdict=verdict, task=task, checks=checks or {}, gates=gates or [],
                    config_text="", config=config or {"seed": 0}, inputs={}, model_sha256=name, model_mode="file",
                    packages={}, playbook_version="0", python="3.11", digest=None, metrics=metrics or {},
                    predictions=predictions_, positive_label="bad", threshold=0.5)


def _table(y, p, rows) -> pd.DataFrame:
    return pd.DataFrame({"row": rows, "y": np.where(y == 1, "bad", "good"), "pred": np.where(p >= 0.5, "bad", "good"),
                         "p::bad": p, "p::good": 1 - p})


def _direct_paired_roc_auc(y, p_old, p_new, n_boot: int, seed: int, confidence: float = 0.95):
    """The paired bootstrap written out: the same resampled rows for both models, scikit-learn's ROC AUC."""
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), size=len(y))
        if len(np.unique(y[idx])) < 2:
            continue
        deltas.append(roc_auc_score(y[idx], p_new[idx]) - roc_auc_score(y[idx], p_old[idx]))
    a = (1 - confidence) / 2
    return np.percentile(deltas, [100 * a, 100 * (1 - a)])


# -- the paired and unpaired CIs ----------------------------------------------------------------------------------

def test_paired_ci_equals_a_direct_bootstrap():
    y, p_old, p_new = _two_models()
    out = paired.paired_deltas(_scored(y, p_old), _scored(y, p_new), n_boot=300, seed=7)
    lo, hi = _direct_paired_roc_auc(y, p_old, p_new, n_boot=300, seed=7)
    d = out["roc_auc"]
    assert d["kind"] == paired.PAIRED and d["n_boot"] == 300
    assert d["delta"] == pytest.approx(roc_auc_score(y, p_new) - roc_auc_score(y, p_old), abs=1e-12)
    assert d["ci_low"] == pytest.approx(lo, abs=1e-12) and d["ci_high"] == pytest.approx(hi, abs=1e-12)
    assert d["ci_low"] > 0  # the better model is shown better on the same rows


def test_unpaired_interval_is_wider_and_says_so():
    y, p_old, p_new = _two_models()
    a = paired.paired_deltas(_scored(y, p_old), _scored(y, p_new), n_boot=300, seed=1)["roc_auc"]
    b = paired.unpaired_deltas(_scored(y, p_old), _scored(y, p_new), n_boot=300, seed=1)["roc_auc"]
    assert b["kind"] == paired.UNPAIRED and b["delta"] == pytest.approx(a["delta"])
    assert b["ci_high"] - b["ci_low"] > 1.5 * (a["ci_high"] - a["ci_low"])  # the rows' difficulty no longer cancels


def test_align_pairs_rows_by_fingerprint_whatever_their_order_and_duplicates():
    y, p_old, p_new = _two_models(n=50)
    rows = np.array([f"{i:016x}" for i in range(50)], dtype=object)
    rows[7] = rows[3]  # a duplicated row (the same data, so the same truth and outputs): matched by its occurrence
    for arr in (y, p_old, p_new):
        arr[7] = arr[3]
    old, new = _table(y, p_old, rows), _table(y, p_new, rows)
    shuffled = new.sample(frac=1, random_state=0)
    a, b = paired.align(old, shuffled)
    assert list(a["row"]) == list(b["row"]) and np.allclose(b["p::bad"], p_new)
    other = new.assign(row=[f"{i + 1:016x}" for i in range(50)])
    assert paired.align(old, other) is None
    assert paired.align(old, new.iloc[:49]) is None


def test_comparison_pairs_on_the_same_rows_and_falls_back_when_rows_differ():
    y, p_old, p_new = _two_models(n=200)
    rows = np.array([f"{i:016x}" for i in range(200)], dtype=object)
    old = _view("old", predictions_=_table(y, p_old, rows))
    new = _view("new", predictions_=_table(y, p_new, rows))
    c = compare.build(old, new, {"n_bootstrap": 100})
    assert c["pairing"]["kind"] == paired.PAIRED and c["pairing"]["rows"] == 200
    assert c["business"]["kind"] == paired.PAIRED
    new.predictions = new.predictions.iloc[::-1].assign(row=[f"x{i:015x}" for i in range(200)])
    c = compare.build(old, new, {"n_bootstrap": 100})
    assert c["pairing"]["kind"] == paired.UNPAIRED and "different rows" in c["pairing"]["why"]
    old.predictions = new.predictions = None
    old.metrics = {"roc_auc": {"value": 0.8, "ci_low": 0.75, "ci_high": 0.85}}
    new.metrics = {"roc_auc": {"value": 0.7, "ci_low": 0.65, "ci_high": 0.75}}
    c = compare.build(old, new)
    d = c["deltas"]["roc_auc"]
    assert c["pairing"]["kind"] == paired.APPROXIMATE and d["delta"] == pytest.approx(-0.1)
    assert d["ci_high"] == pytest.approx(-0.1 + np.hypot(0.05, 0.05))
    assert c["recommendation"] == "roll back"


def test_the_same_inputs_give_the_same_comparison():
    y, p_old, p_new = _two_models(n=120)
    rows = np.array([f"{i:016x}" for i in range(120)], dtype=object)
    one = compare.build(_view("a", predictions_=_table(y, p_old, rows)), _view("b", predictions_=_table(y, p_new, rows)))
    two = compare.build(_view("a", predictions_=_table(y, p_old, rows)), _view("b", predictions_=_table(y, p_new, rows)))
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)


# -- the stored predictions ---------------------------------------------------------------------------------------

def test_row_fingerprints_hold_no_value_and_tell_rows_apart():
    df = pd.DataFrame({"name": ["Ann Smith", "Bob Jones", "Ann Smith"], "amount": [10, 20, 10], "label": [1, 0, 1]})
    fp = predictions.row_fingerprints(df)
    assert fp[0] == fp[2] and fp[0] != fp[1] and all(len(f) == 16 for f in fp)
    assert list(predictions.row_fingerprints(df[["label", "amount", "name"]])) == list(fp)  # column order is irrelevant
    changed = df.assign(amount=[10, 20, 11])
    assert predictions.row_fingerprints(changed)[2] != fp[2]
    assert list(predictions.row_fingerprints(df.assign(pred=[0.1, 0.2, 0.3]), leave_out=["pred"])) == list(fp)
    assert not any("Ann" in f or "10" == f for f in fp)


# -- the recommendation -------------------------------------------------------------------------------------------

def _comparison(delta=(0.01, -0.01, 0.03), value=(5.0, -1.0, 10.0), new_blocking=(), fair=()):
    d = None if delta is None else dict(zip(("delta", "ci_low", "ci_high"), delta), kind=paired.PAIRED)
    b = None if value is None else dict(zip(("delta", "ci_low", "ci_high"), value), kind=paired.PAIRED, currency="EUR")
    return {"metric": "roc_auc", "deltas": {"roc_auc": d} if delta else {}, "business": b,
            "gates": {"new_blocking_failures": list(new_blocking)}, "fairness": list(fair)}


def test_promote_when_nothing_is_worse():
    r = policy.recommend(_comparison(), policy.settings({}))
    assert r["recommendation"] == "promote" and {x["outcome"] for x in r["reasons"]} == {"ok"}


@pytest.mark.parametrize("change, criterion", [
    ({"new_blocking": ["data.contract.current_valid"]}, "no_new_blocking_failure"),
    ({"delta": (-0.05, -0.08, -0.02)}, "primary_metric_not_worse"),
    ({"value": (-50.0, -80.0, -20.0)}, "business_value_not_worse"),
    ({"fair": [{"id": "model.fairness.sex.demographic_parity_difference", "old": 0.05, "new": 0.2, "bound": 0.1,
                "grown_past_bound": True}]}, "no_fairness_gap_grown_past_bound"),
])
def test_each_criterion_can_make_it_roll_back(change, criterion):
    r = policy.recommend(_comparison(**change), policy.settings({}))
    assert r["recommendation"] == "roll back"
    assert [x["criterion"] for x in r["reasons"] if x["outcome"] == "worse"] == [criterion]


def test_a_tolerance_accepts_a_small_drop_and_missing_evidence_holds():
    worse = _comparison(delta=(-0.02, -0.03, -0.01))
    assert policy.recommend(worse, policy.settings({}))["recommendation"] == "roll back"
    assert policy.recommend(worse, policy.settings({"max_metric_drop": 0.05}))["recommendation"] == "promote"
    assert policy.recommend(_comparison(value=None), policy.settings({}))["recommendation"] == "hold"
    assert policy.recommend(_comparison(delta=None), policy.settings({}))["recommendation"] == "hold"
    not_better = policy.settings({"require_improvement": True})
    assert policy.recommend(_comparison(), not_better)["recommendation"] == "hold"
    assert policy.recommend(_comparison(delta=(0.05, 0.02, 0.08)), not_better)["recommendation"] == "promote"


def test_the_review_check_passes_on_promote_warns_on_hold_and_fails_on_roll_back():
    for kw, status in (({}, "pass"), ({"value": None}, "warn"), ({"delta": (-0.05, -0.08, -0.02)}, "fail")):
        c = {**_comparison(**kw), "flips": [], "old": {"name": "old"}, "pairing": {"kind": paired.PAIRED}}
        c["gates"] = {"new_blocking_failures": []}
        c.update(policy.recommend(c, policy.settings({})))
        assert compare.check(c)["status"] == status


def test_flips_gates_and_fairness_between_two_views():
    old = _view("old", checks={"a.x": {"status": "pass"}, "b.y": {"status": "fail"}, "review.gates": {"status": "pass"},
                               "model.fairness.sex.dpd": {"status": "pass", "value": 0.05, "threshold": {"max": 0.1}}},
                gates=[{"gate": "b.y", "check": "b.y", "block": True, "status": "fail"}])
    new = _view("new", checks={"a.x": {"status": "fail"}, "b.y": {"status": "pass"}, "c.z": {"status": "warn"},
                               "model.fairness.sex.dpd": {"status": "fail", "value": 0.2, "threshold": {"max": 0.1}}},
                gates=[{"gate": "a.x", "check": "a.x", "block": True, "status": "fail"}])
    f = {x["id"]: x for x in flips(old, new)}
    assert f["a.x"]["direction"] == "worse" and f["a.x"]["blocking"] and f["b.y"]["direction"] == "better"
    assert f["c.z"]["old"] == "absent" and "review.gates" not in f  # the review's own checks are meta
    g = gate_changes(old, new)
    assert g["new_blocking_failures"] == ["a.x"] and g["fixed_blocking_failures"] == ["b.y"]
    assert fairness(old, new)[0]["grown_past_bound"] is True
    old.checks["model.fairness.sex.dpd"]["value"] = 0.3  # it failed before and shrank: not grown
    assert fairness(old, new)[0]["grown_past_bound"] is False


def test_promotion_policy_is_validated_in_the_config():
    from playbook.config import ConfigError, from_dict

    base = {"data": {"reference": "r.csv", "current": "c.csv", "target": "y"}}
    cfg = from_dict({**base, "policy": {"promotion": {"max_metric_drop": 0.01, "n_bootstrap": 500}}})
    assert cfg.policy.promotion == {"max_metric_drop": 0.01, "n_bootstrap": 500}
    for bad, key in (({"max_drop": 1}, "policy.promotion.max_drop"), ({"confidence": 2}, "policy.promotion.confidence"),
                     ({"require_improvement": "yes"}, "policy.promotion.require_improvement"),
                     ({"n_bootstrap": 3}, "policy.promotion.n_bootstrap")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            from_dict({**base, "policy": {"promotion": bad}})


# -- bad input ----------------------------------------------------------------------------------------------------

def test_compare_refuses_what_is_not_a_pack(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("compare", str(tmp_path / "empty"), str(tmp_path / "nope"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("playbook: error: ") and proc.stderr.count("\n") == 1
    assert "manifest.json" in proc.stderr and not (tmp_path / "out").exists()


# -- two real packs -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def challenger_pack(tmp_path_factory, bundled_pack):
    """A pack of the bundled data judging a logistic regression (skops file), built with --previous the shared
    baseline pack: the comparison is recorded in its review step."""
    from tests.challenger import challenger_config

    def build(folder):
        cfg = challenger_config(folder)
        out = folder / "evidence"
        proc = run_cli("run", str(cfg), "--out", str(out), "--previous", str(bundled_pack["pack"]), "-q", timeout=1800)
        return {"proc": proc, "pack": out / "challenger", "out": out, "config": cfg}

    return shared(tmp_path_factory, "challenger", build)


@pytest.fixture(scope="session")
def compared(tmp_path_factory, bundled_pack, challenger_pack):
    """`playbook compare bundled challenger` once."""
    assert challenger_pack["proc"].returncode in (0, 1), challenger_pack["proc"].stderr[-2000:]
    out = tmp_path_factory.mktemp("compare")
    proc = run_cli("compare", str(bundled_pack["pack"]), str(challenger_pack["pack"]), "--out", str(out))
    return {"proc": proc, "out": out, "json": json.loads((out / "compare.json").read_text())}


def test_two_models_on_the_same_rows_get_a_correct_paired_ci(bundled_pack, challenger_pack, compared):
    c = compared["json"]
    assert compared["proc"].returncode == compare.EXIT[c["recommendation"]], compared["proc"].stderr
    assert c["changed"]["model"]["changed"] and c["changed"]["model"]["old_mode"] == "baseline"
    assert c["changed"]["model"]["new_mode"] == "file" and c["changed"]["config_diff"]
    assert c["pairing"]["kind"] == paired.PAIRED and c["pairing"]["rows"] == 300
    # the direct bootstrap over the two packs' stored predictions, paired by row fingerprint here
    art = "steps/02_model_evaluation/artifacts/" + predictions.FILE
    a = pd.read_parquet(bundled_pack["pack"] / art)
    b = pd.read_parquet(challenger_pack["pack"] / art).set_index("row").loc[a["row"]].reset_index()
    assert (a["y"].to_numpy() == b["y"].to_numpy()).all()
    y = (a["y"] == "bad").to_numpy(int)
    n_boot = c["policy"]["n_bootstrap"]
    lo, hi = _direct_paired_roc_auc(y, a["p::bad"].to_numpy(), b["p::bad"].to_numpy(), n_boot=n_boot, seed=0)
    d = c["deltas"]["roc_auc"]
    assert d["ci_low"] == pytest.approx(lo, abs=1e-6) and d["ci_high"] == pytest.approx(hi, abs=1e-6)
    assert d["delta"] == pytest.approx(roc_auc_score(y, b["p::bad"]) - roc_auc_score(y, a["p::bad"]), abs=1e-6)
    assert d["ci_low"] != d["ci_high"]  # two different models


def test_compare_json_is_deterministic(bundled_pack, challenger_pack, compared, tmp_path):
    proc = run_cli("compare", str(bundled_pack["pack"]), str(challenger_pack["pack"]), "--out", str(tmp_path))
    assert proc.returncode == compared["proc"].returncode
    assert (tmp_path / "compare.json").read_bytes() == (compared["out"] / "compare.json").read_bytes()


def test_run_with_previous_records_the_comparison_in_the_review(challenger_pack, compared):
    pack = challenger_pack["pack"]
    assert run_cli("verify", str(pack)).returncode == 0
    review = json.loads((pack / "steps" / "07_readiness_review" / "results.json").read_text())
    chk = {c["id"]: c for c in review["checks"]}["review.compare.previous"]
    c = compared["json"]
    assert chk["value"]["recommendation"] == c["recommendation"] and chk["value"]["pairing"] == paired.PAIRED
    assert chk["status"] == {"promote": "pass", "hold": "warn", "roll back": "fail"}[c["recommendation"]]
    inside = json.loads((pack / "steps" / "07_readiness_review" / "artifacts" / "compare.json").read_text())
    assert inside["deltas"] == c["deltas"] and inside["recommendation"] == c["recommendation"]
    assert (pack / "steps" / "07_readiness_review" / "artifacts" / "compare.html").is_file()
    summary = json.loads((pack / "summary.json").read_text())
    assert summary["facts"]["previous"] is True
    assert "review.compare.previous" in {x["id"] for x in summary["checks"]}
    nb = (pack / "steps" / "07_readiness_review" / "notebook.html").read_text()
    assert "compared with bundled" in nb


def test_compare_refuses_a_tampered_pack(bundled_pack, challenger_pack, tmp_path):
    copy = tmp_path / "tampered"
    shutil.copytree(challenger_pack["pack"], copy)
    m = copy / "steps" / "02_model_evaluation" / "artifacts" / "metrics.json"
    m.write_text(m.read_text().replace("0.", "0.9", 1))
    proc = run_cli("compare", str(bundled_pack["pack"]), str(copy), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert "does not match its manifest" in proc.stderr and "metrics.json" in proc.stderr
    run = run_cli("run", "--previous", str(copy), "--out", str(tmp_path / "o2"), "-q")
    assert run.returncode == 2 and "does not match its manifest" in run.stderr


@pytest.mark.browser
def test_compare_html_in_a_browser(compared):
    from .test_browser import ARGS, CHROMIUM, _axe_or_skip, _browser_or_skip

    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = b.new_page(viewport={"width": 1280, "height": 900})
        errors, requests = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: requests.append(r.url))
        page.goto((compared["out"] / "compare.html").as_uri())
        page.wait_for_load_state("load")
        rec = page.locator("#recommendation").inner_text().lower()
        assert rec.startswith("recommendation: " + compared["json"]["recommendation"])
        assert page.locator("#metrics + p + table tbody tr").count() == len(compared["json"]["deltas"])
        page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
        assert errors == [] and all(u.startswith("file:") for u in requests)
        try:
            axe = _axe_or_skip()
        except pytest.skip.Exception:
            b.close()
            raise
        page.add_script_tag(path=str(axe))
        res = page.evaluate("async () => await axe.run(document)")
        b.close()
    (ARTIFACTS / "axe-compare.json").write_text(json.dumps(
        [{"id": v["id"], "impact": v["impact"], "help": v["help"]} for v in res["violations"]], indent=2) + "\n")
    assert res["passes"] and res["violations"] == [], res["violations"]


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_stored_predictions_give_back_the_same_metrics(tmp_path, task):
    from types import SimpleNamespace

    from playbook.evaluate.metrics import compute

    rng = np.random.default_rng(3)
    n = 120
    frame = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n), "pred_col": rng.random(n)})
    if task == "regression":
        y = rng.normal(10, 2, n)
        s = Scored(task=task, y=y, pred=y + rng.normal(0, 1, n))
    else:
        classes = ["bad", "good"] if task == "binary" else ["x", "y", "z"]
        proba = rng.dirichlet(np.ones(len(classes)), n)
        y = np.array(classes, dtype=object)[rng.integers(0, len(classes), n)]
        pred = np.array(classes, dtype=object)[proba.argmax(1)]
        s = Scored(task=task, y=y, pred=pred, proba=proba, classes=classes,
                   positive="bad" if task == "binary" else None)
    ev = SimpleNamespace(scored=s, frame=frame)
    path = predictions.write(ev, tmp_path / predictions.FILE, leave_out=["pred_col"])
    back = predictions.read(path)
    assert list(back["row"]) == list(predictions.row_fingerprints(frame[["x", "c"]]))
    assert not set(back.columns) & {"x", "c", "pred_col"}  # no feature value is stored
    again = predictions.scored(back, task, s.positive)
    a, b = compute(s), compute(again)
    assert a.keys() == b.keys() and all(np.isclose(a[k], b[k], equal_nan=True) for k in a)


def test_compare_promote_moves_the_champion_only_on_a_promote(bundled_pack, challenger_pack, tmp_path, monkeypatch):
    """`playbook compare OLD NEW --promote NAME`: the alias 'champion' follows a promote recommendation to the version
    registered from the new pack; a roll back leaves it where it is."""
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    from playbook.tracking.client import log_pack
    from tests.test_tracking import QUIET_MLFLOW

    for k, v in QUIET_MLFLOW.items():
        monkeypatch.setenv(k, v)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    old, new = bundled_pack["pack"], challenger_pack["pack"]
    assert log_pack(old, uri, register="credit").version == "1"
    assert log_pack(new, uri, register="credit").version == "2"
    client = MlflowClient(uri, registry_uri=uri)
    # the same pack against itself: nothing is worse, so promote, and the champion is the version of that pack
    same = run_cli("compare", str(old), str(old), "--out", str(tmp_path / "same"), "--promote", "credit",
                   "--mlflow", uri, timeout=600)
    assert same.returncode == 0 and "recommendation: promote" in same.stdout, same.stdout + same.stderr
    assert "champion: credit version 1" in same.stdout
    assert str(client.get_model_version_by_alias("credit", "champion").version) == "1"
    # the challenger of test_two_models...: a roll back (business value and a fairness gap are worse)
    back = run_cli("compare", str(old), str(new), "--out", str(tmp_path / "back"), "--promote", "credit",
                   "--mlflow", uri, timeout=600)
    assert back.returncode == 1 and "champion: not moved (roll back)" in back.stdout, back.stdout + back.stderr
    assert str(client.get_model_version_by_alias("credit", "champion").version) == "1"
    # a name that cannot be a registered model is refused before any work
    bad = run_cli("compare", str(old), str(new), "--promote", "a/b", "--mlflow", uri, timeout=120)
    assert bad.returncode == 2 and "--promote" in bad.stderr and "Traceback" not in bad.stderr
