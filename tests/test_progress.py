"""What `playbook run` and `playbook batch` print while they work: one bar on a terminal (a pseudo-terminal here),
one plain line per finished step or pack in a log (stderr a pipe), only the verdict and digest with -q."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import nbformat as nbf
import yaml

from playbook import progress

from .conftest import ROOT
from .toys import GOOD, READER, make

GATES_OFF = ["-p", "policy.use_default_gates=false"]
STEP_LINE = re.compile(r"^(?P<name>\d\d_[a-z0-9_]+) +(?P<status>pass|warn|fail|error)  (?P<seconds>\d+\.\d) s$")


def sectioned(folder: Path) -> Path:
    """Two toy templates whose code runs under two headed sections each."""
    folder.mkdir(parents=True, exist_ok=True)
    for fname, name, body in (("01_toy.ipynb", "toy", GOOD), ("02_reader.ipynb", "reader", READER)):
        path = make(folder / fname, name, body)
        nb = nbf.read(str(path), as_version=4)
        nb.cells.insert(2, nbf.v4.new_markdown_cell("Some words.\n\n## Loading the rows\n\nMore words."))
        nb.cells.append(nbf.v4.new_markdown_cell("## Checking *the* rows"))
        nb.cells.append(nbf.v4.new_code_cell("x = 1"))
        nbf.write(nb, str(path))
    return folder


def env_for(tpl: Path | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if tpl is not None:
        env["PLAYBOOK_TEMPLATES"] = str(tpl)
    return env


def under_pty(args: list[str], env: dict, timeout: float = 300) -> tuple[int, str, str]:
    """Run ``python -m playbook ARGS`` with stderr on a pseudo-terminal (120 columns), stdout a pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "playbook", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave, env={**env, "PYTHONIOENCODING": "utf-8"})
    os.close(slave)
    chunks: list[bytes] = []

    def read():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal closed with the process
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=30)
        os.close(master)
    return proc.returncode, out.decode(), b"".join(chunks).decode(errors="replace")


# -- the library ------------------------------------------------------------------------------------------------
def test_heading_is_the_last_atx_heading_outside_code():
    assert progress.heading("# Data audit\nwords\n## Missing values ##") == "Missing values"
    assert progress.heading("## **Bold** `code` title") == "Bold code title"
    assert progress.heading("no heading\n#not one either") is None
    assert progress.heading("## Real\n```python\n# a comment in a fence\n```") == "Real"


def test_section_titles_follow_the_nearest_heading_above():
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_code_cell("a"), nbf.v4.new_markdown_cell("# One"), nbf.v4.new_code_cell("b"),
                nbf.v4.new_markdown_cell("text only"), nbf.v4.new_code_cell("c"),
                nbf.v4.new_markdown_cell("## Two"), nbf.v4.new_code_cell("d")]
    assert progress.section_titles(nb) == [None, "One", "One", "One", "One", "Two", "Two"]


def test_reporters_for_a_terminal_a_log_and_quiet():
    log = io.StringIO()
    assert isinstance(progress.for_stream(log), progress.Lines)
    assert isinstance(progress.for_stream(log, quiet=True), progress.Silent)
    lines: list[str] = []
    rep = progress.reporter(False, lines.append)
    rep.start(["01_data_audit", "03_monitoring_setup"])
    rep.step_end("01_data_audit", "pass", 4.04)
    rep.step_end("03_monitoring_setup", "error", 12.345, "ValueError: boom")
    assert lines == ["01_data_audit        pass  4.0 s", "03_monitoring_setup  error  12.3 s  (ValueError: boom)"]
    quiet: list[str] = []
    rep = progress.for_stream(io.StringIO(), quiet=True, log=quiet.append)
    rep.start(["01_toy", "02_boom"])
    rep.step_end("01_toy", "pass", 1.0)
    rep.step_end("02_boom", "error", 2.0, "ValueError: boom")
    assert quiet == ["02_boom  error  2.0 s  (ValueError: boom)"]  # -q: only what could not run
    with open(os.devnull, "w") as devnull:  # a character device, but not a terminal
        assert isinstance(progress.for_stream(devnull), progress.Lines)


# -- playbook run -----------------------------------------------------------------------------------------------
def test_run_in_a_log_prints_one_plain_line_per_step_then_the_verdict(tmp_path):
    """The reported fault: in a CI log the run printed nested per-cell bars with cursor escapes. A real template."""
    out = tmp_path / "evidence"
    proc = subprocess.run([sys.executable, "-m", "playbook", "run", "--steps", "01", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=env_for())
    assert proc.returncode == 1, proc.stderr  # a partial run is incomplete
    for text in (proc.stderr, proc.stdout):
        assert "\x1b[" not in text and "\r" not in text
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    m = STEP_LINE.match(lines[0])
    assert m and m["name"] == "01_data_audit", lines[0]
    assert proc.stdout.splitlines()[0].startswith("verdict: incomplete (partial run)  ("), proc.stdout


def test_run_on_a_terminal_draws_one_bar_that_names_the_step_and_section(tmp_path):
    tpl = sectioned(tmp_path / "templates")
    code, out, term = under_pty(["run", "--out", str(tmp_path / "out"), "--name", "p", *GATES_OFF], env_for(tpl))
    assert code == 0, out + term
    assert "\x1b[A" not in term  # no second (nested) bar moving the cursor up
    assert term.count("\n") == 1 and term.endswith("\n"), repr(term)  # one line, redrawn in place
    frames = [f.strip() for f in term.replace("\r\n", "\r").split("\r") if f.strip()]
    assert len(frames) >= 6, frames  # it updates
    assert all(re.match(r"^\d/2 steps \|", f) for f in frames), frames
    assert "0/2 steps" in frames[0] and frames[-1].startswith("2/2 steps")
    assert any(f.endswith("01_toy · Loading the rows") for f in frames), frames
    assert any(f.endswith("02_reader · Checking the rows") for f in frames), frames
    assert any(f.endswith("01_toy · Toy step toy") for f in frames), frames  # the title heading, before any ##
    assert out.startswith("verdict: go")


def test_quiet_run_prints_only_the_verdict_and_digest(tmp_path):
    tpl = sectioned(tmp_path / "templates")
    proc = subprocess.run([sys.executable, "-m", "playbook", "run", "--out", str(tmp_path / "out"), "--name", "p",
                           "-q", *GATES_OFF], capture_output=True, text=True, timeout=300, env=env_for(tpl))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout
    assert lines[0] == "verdict: go  (pass 2)"
    assert re.fullmatch(r"pack digest: sha256:[0-9a-f]{64}", lines[1]), lines[1]


# -- playbook batch ---------------------------------------------------------------------------------------------
def _matrix(tmp_path: Path) -> Path:
    german = ROOT / "datasets" / "german_credit"
    (tmp_path / "model.yaml").write_text(yaml.safe_dump({"data": {
        "reference": str(german / "reference.csv"), "current": str(german / "current.csv"),
        "target": "creditability"}}))
    m = tmp_path / "matrix.yaml"
    m.write_text(yaml.safe_dump({"base": "model.yaml", "params": {"policy.use_default_gates": False},
                                 "grid": {"seed": [0, 1]}}))
    return m


def test_batch_in_a_log_and_on_a_terminal(tmp_path):
    tpl = tmp_path / "templates"
    tpl.mkdir()
    make(tpl / "01_toy.ipynb", "toy", GOOD)
    m = _matrix(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "playbook", "batch", str(m), "--out", str(tmp_path / "a"),
                           "--workers", "2"], capture_output=True, text=True, timeout=300, env=env_for(tpl))
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stderr + proc.stdout and "\r" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, proc.stderr
    for line in lines:
        assert re.fullmatch(r"\[[12]/2\] model__seed-[01]: go in \d+\.\ds", line), line
    assert proc.stdout.startswith("batch: 2 packs, 2 go")

    code, out, term = under_pty(["batch", str(m), "--out", str(tmp_path / "b"), "--workers", "2"], env_for(tpl))
    assert code == 0, out + term
    assert term.count("\n") == 1 and "\r" in term and "\x1b[A" not in term, repr(term)
    assert "batch: 100%" in term and "2/2" in term and "[1/2]" not in term
    assert out.startswith("batch: 2 packs, 2 go")
