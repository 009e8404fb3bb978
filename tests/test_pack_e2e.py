"""End to end: `playbook run` on the bundled data (small parameters) and the evidence-pack contract."""

import hashlib
import json
import os
import shutil

import pytest

from .conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

STATUSES = {"pass", "warn", "fail", "error", "skip"}
CHECK_KEYS = {"id", "title", "status", "value", "threshold", "evidence", "why"}
STEPS = sorted(p.stem for p in (ROOT / "templates").glob("[0-9][0-9]_*.ipynb"))


def test_run_succeeds_with_a_verdict(bundled_pack):
    proc = bundled_pack["proc"]
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    summary = json.loads((bundled_pack["pack"] / "summary.json").read_text())
    assert summary["verdict"] in {0: ("go",), 1: ("no-go", "incomplete")}[proc.returncode]
    assert f"verdict: {summary['verdict']}" in proc.stdout
    assert all(s["status"] != "error" for s in summary["steps"]), [s for s in summary["steps"] if s["error"]]


def test_pack_layout(bundled_pack):
    pack = bundled_pack["pack"]
    for f in ("index.html", "summary.json", "manifest.json", "config.yaml"):
        assert (pack / f).is_file(), f
    assert STEPS, "no templates found"
    for step in STEPS:
        d = pack / "steps" / step
        for f in ("notebook.ipynb", "notebook.html", "results.json", "timings.json"):
            assert (d / f).is_file(), f"{step}/{f}"
        assert (d / "artifacts").is_dir(), f"{step} wrote no artifacts"
    leftovers = [p.name for p in bundled_pack["out"].iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_summary_and_results_schema(bundled_pack):
    pack = bundled_pack["pack"]
    summary = json.loads((pack / "summary.json").read_text())
    assert {"verdict", "exit_code", "task", "steps", "checks", "gates", "reasons", "counts"} <= set(summary)
    assert summary["task"] == "binary" and summary["target"] == "creditability"
    assert [s["dir"] for s in summary["steps"]] == [f"steps/{s}" for s in STEPS]
    ids = set()
    for c in summary["checks"]:
        assert CHECK_KEYS <= set(c), c
        assert c["status"] in STATUSES
        assert "." in c["id"] and " " not in c["id"]
        ids.add(c["id"])
    for g in summary["gates"]:
        assert {"gate", "check", "status", "block", "threshold", "reason"} <= set(g)
    for step in STEPS:
        res = json.loads((pack / "steps" / step / "results.json").read_text())
        assert {"schema_version", "step", "status", "checks", "metrics", "artifacts"} <= set(res)
        assert res["checks"], f"{step} recorded no checks"
        for c in res["checks"]:
            assert CHECK_KEYS <= set(c) <= CHECK_KEYS | {"ci", "inconclusive", "not_applicable"}
            assert c["id"] in ids
        for a in res["artifacts"]:
            assert (pack / "steps" / step / a).is_file()
        for c in res["checks"]:  # every evidence link of a check resolves to a file of the pack
            ev = c["evidence"] if isinstance(c["evidence"], list) else [c["evidence"]]
            for e in ev:
                if isinstance(e, str) and e and not e.startswith("http"):
                    assert (pack / "steps" / step / e.split("#")[0]).exists(), f"{c['id']}: {e}"


def test_manifest_hashes_every_file(bundled_pack):
    pack = bundled_pack["pack"]
    manifest = json.loads((pack / "manifest.json").read_text())
    on_disk = sorted(p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file())
    assert sorted(manifest["files"]) == [f for f in on_disk if f != "manifest.json"]
    for rel, meta in manifest["files"].items():
        data = (pack / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"] and len(data) == meta["bytes"], rel
    for key in ("inputs", "parameters", "packages", "python", "platform", "started", "finished"):
        assert key in manifest
    assert manifest["inputs"]["reference"]["sha256"]


def test_verify_passes_then_fails_after_one_byte_changes(bundled_pack, tmp_path):
    copy = tmp_path / "pack"
    shutil.copytree(bundled_pack["pack"], copy)
    ok = run_cli("verify", str(copy))
    assert ok.returncode == 0 and "intact" in ok.stdout
    target = copy / "steps" / STEPS[0] / "results.json"
    data = bytearray(target.read_bytes())
    data[10] = (data[10] + 1) % 256
    target.write_bytes(bytes(data))
    bad = run_cli("verify", str(copy))
    assert bad.returncode == 1
    assert f"changed: steps/{STEPS[0]}/results.json" in bad.stdout
    (copy / "extra.txt").write_text("x")
    (copy / "config.yaml").unlink()
    bad = run_cli("verify", str(copy))
    assert "extra: extra.txt" in bad.stdout and "missing: config.yaml" in bad.stdout


def test_same_config_gives_identical_results_whatever_the_schedule(bundled_pack, tmp_path):
    """Same config, same pack name, another output folder, and another schedule: the shared pack ran its steps side
    by side with kernels started ahead (the default); this one runs them one at a time, each kernel started at its
    turn. Every step's results.json is the same, byte for byte."""
    out = tmp_path / "second"
    env = {**os.environ, "PLAYBOOK_STEP_JOBS": "1", "PLAYBOOK_WARM_KERNELS": "0"}
    proc = run_cli("run", str(ROOT / "tests" / "data" / "small.yaml"), "--out", str(out), "--name", "bundled", "-q",
                   timeout=1800, env=env)
    assert proc.returncode == bundled_pack["proc"].returncode, proc.stderr[-2000:]
    sa = json.loads((bundled_pack["pack"] / "summary.json").read_text())
    sb = json.loads((out / "bundled" / "summary.json").read_text())
    assert sa["verdict"] == sb["verdict"] and sa["counts"] == sb["counts"]
    for step in STEPS:
        a = (bundled_pack["pack"] / "steps" / step / "results.json").read_bytes()
        b = (out / "bundled" / "steps" / step / "results.json").read_bytes()
        assert a == b, f"{step}/results.json differs between two runs of the same config"


def test_clean_split_of_the_bundled_data_is_not_blocked_by_the_playbooks_own_noise(bundled_pack, regression_pack):
    """The bundled data and the housing frame are random splits (no drift by construction) with a reasonable model:
    no blocking gate fails and none is left without evidence."""
    for p in (bundled_pack, regression_pack):
        summary = json.loads((p["pack"] / "summary.json").read_text())
        assert summary["verdict"] == "go", [r["text"] for r in summary["reasons"]]


def test_the_drift_step_rehearses_the_monitor_the_pack_deploys(bundled_pack):
    import yaml

    pack = bundled_pack["pack"]
    spec = yaml.safe_load((pack / "steps/04_monitoring_setup/artifacts/monitoring.yaml").read_text())
    sens = json.loads((pack / "steps/05_drift_simulation/artifacts/sensitivity.json").read_text())
    deployed = sens["deployed_monitor"]
    assert deployed["source"] == "the monitoring step's monitoring.yaml"
    assert deployed["batch_size"] == spec["batch"]["size"]
    written = {m["name"]: m.get("threshold") for m in spec["monitors"]}
    written.update({m["name"]: m.get("threshold") for m in (spec.get("multivariate") or {}).get("monitors") or []})
    assert {"domain_classifier", "pca_reconstruction"} <= set(written)
    assert deployed["thresholds"] == pytest.approx(written)
    # one false-alarm measurement, computed once in the pack and reported by both steps
    cal = json.loads((pack / "steps/04_monitoring_setup/artifacts/calibration.json").read_text())
    from playbook.results import to_jsonable

    measured = {k: v for k, v in sens["held_out_false_alarms"].items() if k != "source"}
    assert measured == to_jsonable(cal["held_out_false_alarms"])
