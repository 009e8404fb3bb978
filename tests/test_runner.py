"""The runner and the pack contract on tiny templates (fast), including failure and overwrite rules."""

import json
import os

import pytest

from playbook import runner
from playbook.config import ConfigError
from playbook.pack import verify

from .toys import BOOM, GOOD, READER, folder


def run(tmp_path, tpl, **kw):
    kw.setdefault("progress", False)
    return runner.run(None, out=tmp_path / "out", templates_folder=tpl, log=lambda m: None, **kw)


def test_pack_layout_and_later_step_reads_earlier(tmp_path):
    tpl = folder(tmp_path, ("01_toy.ipynb", "toy", GOOD), ("02_reader.ipynb", "reader", READER))
    res = run(tmp_path, tpl)
    pack = res.pack
    assert res.verdict == "go" and res.exit_code == 0
    for f in ["index.html", "summary.json", "manifest.json", "config.yaml"]:
        assert (pack / f).is_file()
    for d in ["steps/01_toy", "steps/02_reader"]:
        for f in ["notebook.ipynb", "notebook.html", "results.json", "timings.json"]:
            assert (pack / d / f).is_file(), f"{d}/{f}"
    summary = json.loads((pack / "summary.json").read_text())
    assert {c["id"]: c["status"] for c in summary["checks"]} == {"toy.rows": "pass", "reader.saw_previous": "pass"}
    assert summary["task"] == "binary" and summary["task_inferred"] is True
    html = (pack / "steps/01_toy/notebook.html").read_text()
    assert "ctx = playbook.load_context" not in html  # code hidden for readers
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["parameters"]["toy"] == {"threshold": 0.5}
    assert set(manifest["inputs"]) == {"reference", "current"} and manifest["verdict"] == "go"
    assert verify(pack).ok
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no staging left


def test_failing_step_gives_error_verdict_and_complete_pack(tmp_path):
    tpl = folder(tmp_path, ("01_toy.ipynb", "toy", GOOD), ("02_boom.ipynb", "boom", BOOM),
                 ("03_reader.ipynb", "reader", READER))
    res = run(tmp_path, tpl)
    assert res.verdict == "error" and res.exit_code == 2
    assert [o.status for o in res.steps] == ["pass", "error", "pass"]
    boom = json.loads((res.pack / "steps/02_boom/results.json").read_text())
    assert boom["checks"][0]["id"] == "boom.executed" and "exploded" in boom["checks"][0]["value"]
    nb = (res.pack / "steps/02_boom/notebook.ipynb").read_text()
    assert "exploded" in nb  # the error is visible in the executed notebook
    assert verify(res.pack).ok


def test_existing_pack_is_not_overwritten_without_force(tmp_path):
    tpl = folder(tmp_path, ("01_toy.ipynb", "toy", GOOD))
    first = run(tmp_path, tpl)
    before = (first.pack / "manifest.json").read_bytes()
    with pytest.raises(runner.RunError, match="--force"):
        run(tmp_path, tpl)
    assert (first.pack / "manifest.json").read_bytes() == before
    second = run(tmp_path, tpl, force=True, overrides=["steps.toy.params.threshold=1"])
    assert second.pack == first.pack and verify(second.pack).ok
    nb = json.loads((second.pack / "steps/01_toy/notebook.ipynb").read_text())
    assert nb["metadata"]["papermill"]["parameters"]["threshold"] == 1


def test_step_selection_and_parameter_validation(tmp_path):
    tpl = folder(tmp_path, ("01_toy.ipynb", "toy", GOOD), ("02_reader.ipynb", "reader", READER))
    res = run(tmp_path, tpl, steps=["02"], name="only-reader")
    assert [o.template.name for o in res.steps] == ["reader"]
    assert res.verdict == "go"  # reader.saw_previous fails (toy did not run) but is not a gate
    summary = json.loads((res.pack / "summary.json").read_text())
    assert [s["status"] for s in summary["steps"]] == ["skipped", "fail"]
    with pytest.raises(ConfigError, match="steps.toy.params.trheshold: not a parameter of 01_toy.ipynb; valid parameters are: threshold"):
        run(tmp_path, tpl, overrides=["steps.toy.params.trheshold=2"], name="x")
    with pytest.raises(ConfigError, match="steps.nosuch: unknown step"):
        run(tmp_path, tpl, overrides=["steps.nosuch.enabled=false"], name="y")
    with pytest.raises(runner.RunError, match="--steps 9: unknown step"):
        run(tmp_path, tpl, steps=["9"], name="z")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["only-reader"]


def test_gates_from_policy_turn_go_into_no_go(tmp_path):
    tpl = folder(tmp_path, ("01_toy.ipynb", "toy", GOOD))
    assert run(tmp_path, tpl, name="a").verdict == "go"
    res = run(tmp_path, tpl, name="b", overrides=["policy.gates.toy.rows={min: 100000, block: true}"])
    assert res.verdict == "no-go" and res.exit_code == 1
    s = res.summary
    assert s["reasons"][0]["check"] == "toy.rows" and "below the minimum" in s["reasons"][0]["text"]
    res = run(tmp_path, tpl, name="c", overrides=["policy.gates.toy.rows={min: 100000, block: false}"])
    assert res.verdict == "go"


def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    tpl = folder(tmp_path, ("01_toy.ipynb", "toy", GOOD))

    def explode(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "build_summary", explode)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, tpl)
    assert os.listdir(tmp_path / "out") == []
