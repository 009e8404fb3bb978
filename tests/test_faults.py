"""Faults of a real `playbook run` process: killed at any moment, run twice at once, cleaned up after.

The runs use tiny templates (tests/toys.py, through PLAYBOOK_TEMPLATES) so each takes seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playbook.pack import verify, work_folder

from .conftest import ROOT
from .toys import GOOD, NAP, READER, WAIT, folder

GATES_OFF = ["-p", "policy.use_default_gates=false"]


def _env(tpl: Path) -> dict:
    return {**os.environ, "PLAYBOOK_TEMPLATES": str(tpl), "PYTHONPATH": str(ROOT)}


def _start(tpl: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "playbook", "run", "--out", str(out), "--name", "p", "-q",
                             *GATES_OFF, *extra], env=_env(tpl), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _run(tpl: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "playbook", *args], env=_env(tpl), capture_output=True, text=True,
                          timeout=300)


def _wait_for(pred, timeout=120.0) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.02)
    return False


def _staged(out: Path, rel: str = "") -> bool:
    return any((d / rel).exists() for d in out.glob(".p.partial-*")) if rel else any(out.glob(".p.partial-*"))


POINTS = {  # where the run is when it is killed
    "starting": lambda out: True,
    "build folder made": lambda out: _staged(out),
    "first step running": lambda out: _staged(out, "steps/01_nap/notebook.ipynb"),
    "second step running": lambda out: _staged(out, "steps/02_reader"),
    "pack assembled": lambda out: _staged(out, "index.html"),
}


def test_sigkill_at_any_moment_never_leaves_a_pack_that_is_not_one(tmp_path):
    tpl = folder(tmp_path, ("01_nap.ipynb", "nap", NAP), ("02_reader.ipynb", "reader", READER))
    out = tmp_path / "out"
    first = _run(tpl, "run", "--out", str(out), "--name", "p", "-q", *GATES_OFF)
    assert first.returncode == 0, first.stderr
    pack = out / "p"
    before = {f: f.read_bytes() for f in pack.rglob("*") if f.is_file()}
    for point, reached in POINTS.items():
        proc = _start(tpl, out, "--force")
        try:
            assert _wait_for(lambda: reached(out) or proc.poll() is not None), point
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        now = {f: f.read_bytes() for f in pack.rglob("*") if f.is_file()}
        if proc.returncode == 0:  # the run won the race and finished first: its pack replaced the earlier one whole
            before = now
        # the earlier pack is untouched (or wholly replaced), and nothing else passes for a pack
        assert now == before, point
        assert verify(pack).ok, point
        for d in out.iterdir():
            if d.name in ("p", ".p.lock"):
                continue
            assert work_folder(d), (point, d.name)
            with pytest.raises(ValueError, match="working folder of a playbook run"):
                verify(d)
    time.sleep(1.5)  # orphaned kernels notice their parent is gone and exit
    again = _run(tpl, "run", "--out", str(out), "--name", "p", "-q", "--force", *GATES_OFF)
    assert again.returncode == 0, again.stderr
    assert "removed .p.partial-" in again.stderr  # the next run of the name cleans what the dead ones left
    assert sorted(d.name for d in out.iterdir()) == ["p"] and verify(pack).ok


def test_two_runs_of_one_pack_name_the_second_fails_at_once(tmp_path, monkeypatch):
    tpl = folder(tmp_path, ("01_wait.ipynb", "wait", WAIT))
    out = tmp_path / "out"
    go = tmp_path / "go"
    monkeypatch.setenv("TOY_GO_FILE", str(go))  # the first run's step waits for it
    a = _start(tpl, out)
    try:
        assert _wait_for(lambda: _staged(out, "steps/01_wait/notebook.ipynb"))
        t0 = time.monotonic()
        b = _run(tpl, "run", "--out", str(out), "--name", "p", "-q", *GATES_OFF)
        assert b.returncode == 2 and time.monotonic() - t0 < 30
        lines = b.stderr.strip().splitlines()
        assert len(lines) == 1 and "another playbook run is writing this pack (pid" in lines[0], b.stderr
        assert sorted(d.name for d in out.iterdir() if not d.name.startswith((".p.partial-", ".p.work-"))) == [".p.lock"]
    finally:
        go.write_text("go")
        a_out, a_err = a.communicate(timeout=300)
    assert a.returncode == 0, a_err
    assert sorted(d.name for d in out.iterdir()) == ["p"] and verify(out / "p").ok
    summary = json.loads((out / "p" / "summary.json").read_text())
    assert [s["status"] for s in summary["steps"]] == ["pass"]


def test_clean_removes_what_dead_runs_left(tmp_path):
    tpl = folder(tmp_path, ("01_nap.ipynb", "nap", NAP))
    out = tmp_path / "out"
    proc = _start(tpl, out)
    try:
        assert _wait_for(lambda: _staged(out, "steps/01_nap"))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = [d for d in out.iterdir() if d.name.startswith(".p.partial-")]
    assert left
    time.sleep(1.5)
    res = _run(tpl, "clean", str(out))
    assert res.returncode == 0 and f"removed: {left[0]}" in res.stdout
    assert [d.name for d in out.iterdir() if d.is_dir()] == []
    assert "nothing to clean" in _run(tpl, "clean", str(out)).stdout


def test_digest_is_printed_and_verify_checks_it(tmp_path):
    tpl = folder(tmp_path, ("01_toy.ipynb", "toy", GOOD))
    out = tmp_path / "out"
    env = {"PLAYBOOK_SIGNING_KEY": "0123456789abcdef" * 4}
    res = subprocess.run([sys.executable, "-m", "playbook", "run", "--out", str(out), "--name", "p", "-q", *GATES_OFF],
                         env={**_env(tpl), **env}, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("pack digest: "))
    digest = line.split()[2]
    assert digest.startswith("sha256:") and "signed: hmac-sha256 with key id" in res.stdout
    assert env["PLAYBOOK_SIGNING_KEY"] not in res.stdout + res.stderr
    ok = subprocess.run([sys.executable, "-m", "playbook", "verify", str(out / "p"), "--digest", digest],
                        env={**_env(tpl), **env}, capture_output=True, text=True)
    assert ok.returncode == 0 and "digest: matches the recorded digest" in ok.stdout and "signature: valid" in ok.stdout
    wrong = _run(tpl, "verify", str(out / "p"), "--digest", "sha256:" + "0" * 64)
    assert wrong.returncode == 1 and "differs from the recorded" in wrong.stdout
    assert "signature: present (hmac-sha256" in wrong.stdout  # no key here: said, not checked
    bad = _run(tpl, "verify", str(out / "p"), "--digest", "nope")
    assert bad.returncode == 2 and "not a pack digest" in bad.stderr
