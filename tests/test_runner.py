"""The runner and the pack contract on tiny templates (fast), including failure and overwrite rules."""

import json
import os

import pytest

from playbook import runner
from playbook.config import ConfigError
from playbook.pack import verify

from .toys import BOOM, GOOD, READER, folder


TOY = ["policy.use_default_gates=false"]  # toy steps record none of the shipped gates' checks


def run(tmp_path, tpl, **kw):
    kw.setdefault("progress", False)
    kw["overrides"] = TOY + list(kw.get("overrides") or [])
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
    assert {c["id"]: c["status"] for c in summary["checks"]} == {"custom.toy.rows": "pass", "custom.reader.saw_previous": "pass"}
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
    assert res.verdict == "incomplete" and res.summary["partial"]  # a partial run is never go; saw_previous is no gate
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
    res = run(tmp_path, tpl, name="b", overrides=["policy.gates.custom.toy.rows={min: 100000, block: true}"])
    assert res.verdict == "no-go" and res.exit_code == 1
    s = res.summary
    assert s["reasons"][0]["check"] == "custom.toy.rows" and "below the minimum" in s["reasons"][0]["text"]
    res = run(tmp_path, tpl, name="c", overrides=["policy.gates.custom.toy.rows={min: 100000, block: false}"])
    assert res.verdict == "go"


def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    tpl = folder(tmp_path, ("01_toy.ipynb", "toy", GOOD))

    def explode(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "build_summary", explode)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, tpl)
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


# -- faults: time limits, dead kernels, injection, locks, leftovers, disks ----------------------------------------
import yaml  # noqa: E402

from playbook import pack as pack_mod  # noqa: E402
from playbook.params import ParamError  # noqa: E402

from .toys import ECHO, ECHO_PARAMS, OOM, SLOW  # noqa: E402

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
GERMAN = ROOT / "datasets" / "german_credit"


def _config(tmp_path, **extra):
    raw = {"name": "toys", "data": {"reference": str(GERMAN / "reference.csv"), "current": str(GERMAN / "current.csv"),
                                    "target": "creditability"},
           "policy": {"use_default_gates": False}, **extra}
    p = tmp_path / "pack.yaml"
    p.write_text(yaml.safe_dump(raw))
    return str(p)


def test_time_limit_and_dead_kernel_are_reported_and_later_steps_still_run(tmp_path):
    tpl = folder(tmp_path, ("01_slow.ipynb", "slow", SLOW), ("02_oom.ipynb", "oom", OOM), ("03_toy.ipynb", "toy", GOOD))
    res = run(tmp_path, tpl, overrides=["steps.slow.timeout=6"])
    assert [o.status for o in res.steps] == ["error", "error", "pass"] and res.verdict == "error"
    slow = json.loads((res.pack / "steps/01_slow/results.json").read_text())
    check = slow["checks"][-1]
    assert check["id"] == "slow.executed" and check["value"].startswith("timed out after 6 s")
    assert res.steps[0].seconds < 6 + runner.TIMEOUT_GRACE
    nb = (res.pack / "steps/01_slow/notebook.ipynb").read_text()
    assert "reached: before the long wait" in nb and "KeyboardInterrupt" in nb  # the point it reached
    oom = json.loads((res.pack / "steps/02_oom/results.json").read_text())["checks"][-1]["value"]
    assert "the kernel was killed by signal 9 (SIGKILL)" in oom and "out-of-memory killer" in oom
    assert "kernel log: allocating 64 GiB for the feature matrix" in oom
    assert (res.pack / "steps/02_oom/notebook.html").is_file()
    reasons = [r["text"] for r in res.summary["reasons"]]
    assert "step slow could not run to the end" in reasons and "step oom could not run to the end" in reasons
    assert pack_mod.verify(res.pack).ok


CRAFTED = ["x'); __import__('os').system('touch {pwn}'); ('", '"""\n__import__("os").system("touch {pwn}")\n"""',
           "\\'; import os; os.system('touch {pwn}') #", "a\nb\r\n\tc \\n <script>alert(1)</script>"]


def test_parameters_and_config_values_reach_the_notebook_as_data(tmp_path, monkeypatch):
    monkeypatch.setenv(pack_mod.SIGNING_KEY_ENV, "s" * 40)
    pwn = tmp_path / "pwned"
    values = [v.format(pwn=pwn) for v in CRAFTED]
    tpl = folder(tmp_path, ("01_echo.ipynb", "echo", ECHO, ECHO_PARAMS))
    cfg = _config(tmp_path, business={"currency": values[0]},
                  steps={"echo": {"params": {"label": values[1], "tags": values[2:]}}})
    res = runner.run(cfg, out=tmp_path / "out", templates_folder=tpl, log=lambda m: None, progress=False)
    got = json.loads((res.pack / "steps/01_echo/results.json").read_text())["checks"][0]["value"]
    assert got == {"label": values[1], "tags": values[2:], "currency": values[0], "key_visible": False}
    assert not pwn.exists()
    assert res.signature and res.signature["key_id"] == pack_mod.key_id(b"s" * 40)
    for f in res.pack.rglob("*"):  # the key is nowhere in the pack
        if f.is_file():
            assert b"s" * 40 not in f.read_bytes(), f


def test_step_parameters_are_validated_before_anything_is_written(tmp_path):
    tpl = folder(tmp_path, ("01_toy.ipynb", "toy", GOOD), ("02_echo.ipynb", "echo", ECHO, ECHO_PARAMS))
    for bad, fragment in [("steps.toy.params.threshold='0.5'", "expected a number, got the text '0.5'"),
                          ("steps.toy.params.threshold=1.0e+400", "inf is not a finite number"),
                          ("steps.echo.params.tags=oops", "expected a list")]:
        with pytest.raises(ParamError, match=fragment):
            run(tmp_path, tpl, overrides=[bad])
        assert not (tmp_path / "out").exists()


def test_a_second_run_of_the_same_pack_name_fails_at_once(tmp_path):
    tpl = folder(tmp_path, ("01_toy.ipynb", "toy", GOOD))
    final = (tmp_path / "out" / "german-credit").resolve()
    final.parent.mkdir()
    with pack_mod.PackLock(final):
        with pytest.raises(pack_mod.PackError, match="another playbook run is writing this pack"):
            run(tmp_path, tpl)
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".german-credit.lock"]
    assert run(tmp_path, tpl).verdict == "go"


def test_build_folders_of_dead_runs_are_removed_by_the_next_run(tmp_path):
    tpl = folder(tmp_path, ("01_toy.ipynb", "toy", GOOD))
    out = tmp_path / "out"
    dead = pack_mod.staging_dir(out / "german-credit")
    (dead / "steps").mkdir()
    other = pack_mod.staging_dir(out / "another")
    logs = []
    res = runner.run(None, out=out, templates_folder=tpl, log=logs.append, progress=False, overrides=TOY)
    assert not dead.exists() and other.exists()  # only the build folders of this pack name
    assert any("removed " + dead.name in m for m in logs)
    assert sorted(p.name for p in out.iterdir()) == sorted([other.name, res.pack.name])


def test_unwritable_output_and_a_full_disk_leave_nothing(tmp_path, monkeypatch):
    tpl = folder(tmp_path, ("01_toy.ipynb", "toy", GOOD))
    (tmp_path / "file").write_text("x")
    with pytest.raises(pack_mod.PackError, match="cannot write there"):
        runner.run(None, out=tmp_path / "file" / "out", templates_folder=tpl, log=lambda m: None, progress=False)
    monkeypatch.setattr(pack_mod.shutil, "disk_usage", lambda p: type("U", (), {"free": 1 << 20})())
    with pytest.raises(pack_mod.PackError, match="only 1 MB free"):
        run(tmp_path, tpl)
    assert not (tmp_path / "out").exists()
    monkeypatch.undo()

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device", "manifest.json")

    monkeypatch.setattr(pack_mod, "write_manifest", disk_full)
    with pytest.raises(OSError, match="No space left"):
        run(tmp_path, tpl)
    assert not (tmp_path / "out").exists()  # the unfinished folder and the lock are gone


def test_harden_outputs_escapes_embedded_report_data_and_neutralises_csv(tmp_path):
    arts = tmp_path / "step" / "artifacts"
    arts.mkdir(parents=True)
    payload = {"widgets": [{"title": "purpose<img src=x onerror=alert(1)>", "values": ["</script><script>alert(1)</script>"]}]}
    (arts / "report.html").write_text(
        "<html><head><script>\n    var metric_ab12 = " + json.dumps(payload) + ";\n    var additional_graphs_metric_ab12 = {};\n"
        "</script></head><body><div id='root'></div></body></html>")
    (arts / "table.csv").write_text("name,value\n=cmd|'/c calc'!A1,-1.5\nok,2\n")
    runner.harden_outputs(tmp_path / "step")
    html = (arts / "report.html").read_text()
    assert "</script><script>" not in html and "<img" not in html
    start = html.index("= ") + 2
    assert json.JSONDecoder().raw_decode(html, start)[0] == payload  # the data itself is unchanged
    assert (arts / "table.csv").read_text() == "name,value\n'=cmd|'/c calc'!A1,-1.5\nok,2\n"


def test_every_html_and_csv_of_the_pack_is_safe_whoever_wrote_it(tmp_path):
    from .toys import CARELESS

    tpl = folder(tmp_path, ("01_careless.ipynb", "careless", CARELESS))
    res = run(tmp_path, tpl)
    page = (res.pack / "steps/01_careless/notebook.html").read_text()
    for payload in ("onerror=alert", "<script>alert", "onerror=\"alert"):
        assert payload not in page
    assert "<p>ok</p>" in page and "<strong>bold</strong>" in page  # harmless markup keeps its look
    assert (res.pack / "steps/01_careless/artifacts/rows.csv").read_text() == \
        "v,n\n'=HYPERLINK(1),-1.5\n'@SUM(A1),2.0\nfine,3.0\n"
    assert pack_mod.verify(res.pack).ok  # hardened before the manifest was written
