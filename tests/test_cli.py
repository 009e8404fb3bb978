"""The command line: bad input exits 2 with one sentence naming the problem and leaves no pack behind."""

import shutil
from pathlib import Path

import pytest

from .conftest import ROOT, run_cli

GERMAN = ROOT / "datasets" / "german_credit"


def setup_data(tmp_path: Path) -> Path:
    shutil.copy(GERMAN / "reference.csv", tmp_path / "ref.csv")
    shutil.copy(GERMAN / "current.csv", tmp_path / "cur.csv")
    return tmp_path


def config(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "pack.yaml"
    p.write_text(text)
    return p


def assert_bad_input(proc, *fragments, out: Path):
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("playbook: error: ")
    for f in fragments:
        assert f in lines[0]
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


@pytest.mark.parametrize("data_block, fragments", [
    ("{reference: ref.csv, current: cur.csv, target: credit_worthiness}",
     ["data.target", "'credit_worthiness'", "not in the reference data"]),
    ("{reference: ref.csv, current: missing.csv, target: creditability}",
     ["data.current", "file not found", "missing.csv"]),
    ("{reference: ref.csv, current: empty.csv, target: creditability}",
     ["data.current", "empty.csv", "the file is empty"]),
    ("{reference: ref.csv, current: header_only.csv, target: creditability}",
     ["data.current", "no rows"]),
    ("{reference: ref.csv, current: cur.csv, target: creditability, task: clusters}",
     ["data.task", "binary, multiclass, regression"]),
])
def test_bad_input_exits_2_with_one_line(tmp_path, data_block, fragments):
    setup_data(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header_only.csv").write_text((GERMAN / "current.csv").read_text().splitlines()[0] + "\n")
    cfg = config(tmp_path, f"data: {data_block}\n")
    out = tmp_path / "evidence"
    proc = run_cli("run", str(cfg), "--out", str(out), "-q")
    assert_bad_input(proc, *fragments, out=out)


def test_unknown_config_key_and_missing_config(tmp_path):
    setup_data(tmp_path)
    out = tmp_path / "evidence"
    cfg = config(tmp_path, "data: {reference: ref.csv, current: cur.csv, target: creditability}\npolicy: {allow_pii: true}\n")
    assert_bad_input(run_cli("run", str(cfg), "--out", str(out), "-q"), "policy.allow_pii: unknown key", out=out)
    assert_bad_input(run_cli("run", str(tmp_path / "nope.yaml"), "--out", str(out), "-q"),
                     "nope.yaml", "config file not found", out=out)


def test_verify_on_a_folder_that_is_not_a_pack(tmp_path):
    proc = run_cli("verify", str(tmp_path))
    assert proc.returncode == 2 and "has no manifest.json" in proc.stderr


def test_templates_lists_every_template_with_parameters():
    proc = run_cli("templates")
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.stem for p in (ROOT / "templates").glob("[0-9][0-9]_*.ipynb"))
    assert names, "no templates"
    for n in names:
        assert n in proc.stdout
    assert "config:" not in proc.stdout  # wiring parameters are the runner's business


def test_init_writes_a_starter_config(tmp_path):
    proc = run_cli("init", str(tmp_path / "proj"))
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "proj" / "playbook.yaml").read_text()
    assert "data:" in text and "REQUIRED" in text
    again = run_cli("init", str(tmp_path / "proj"))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_version_and_help():
    assert run_cli("--version").stdout.startswith("playbook ")
    proc = run_cli()
    assert proc.returncode == 2 and "run" in proc.stdout


def test_verify_refuses_the_build_folder_of_a_run(tmp_path):
    d = tmp_path / ".pack.partial-abc123"
    d.mkdir()
    (d / "manifest.json").write_text("{}")
    proc = run_cli("verify", str(d))
    assert proc.returncode == 2 and "working folder of a playbook run" in proc.stderr and "playbook clean" in proc.stderr


def test_clean_on_a_missing_folder_and_an_empty_one(tmp_path):
    proc = run_cli("clean", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "no such folder" in proc.stderr
    proc = run_cli("clean", str(tmp_path))
    assert proc.returncode == 0 and "nothing to clean" in proc.stdout


def test_a_short_signing_key_is_refused_without_showing_it(tmp_path):
    setup_data(tmp_path)
    cfg = config(tmp_path, "data: {reference: ref.csv, current: cur.csv, target: creditability}\n")
    out = tmp_path / "evidence"
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "playbook", "run", str(cfg), "--out", str(out), "-q"],
                          env={**os.environ, "PLAYBOOK_SIGNING_KEY": "hunter2"}, capture_output=True, text=True)
    assert_bad_input(proc, "PLAYBOOK_SIGNING_KEY", "fewer than 32", out=out)
    assert "hunter2" not in proc.stderr + proc.stdout


def test_previous_must_be_a_pack(tmp_path):
    proc = run_cli("run", "--previous", str(tmp_path / "nope"), "--out", str(tmp_path / "out"), "-q")
    assert proc.returncode == 2
    assert "--previous" in proc.stderr and "not an evidence pack" in proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
