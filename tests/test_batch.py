"""`playbook batch`: the matrix (list, grid, entries; every bad input exits 2 before anything is written), local
worker processes and a real Dask scheduler, the summary (batch.csv, batch.html) and the exit codes."""

from __future__ import annotations

import csv
import html.parser
import io
import json
import os
import socket
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from playbook import batch, cli
from playbook.config import parse_override
from playbook.pack import verify

from .conftest import ROOT
from .toys import GOOD, make

GERMAN = ROOT / "datasets" / "german_credit"
TOY = {"policy.use_default_gates": False}  # toy steps record none of the shipped gates' checks

# the kernel of the pack named "killer" kills the process that runs its pack (as the out-of-memory killer would)
KILL_PACK = '''import os, signal
if ctx.config.name == "killer":
    os.kill(os.getppid(), signal.SIGKILL)
''' + GOOD
# the kernel of the pack named "killer" kills the Dask worker that runs its pack (the pack process's parent)
KILL_WORKER = '''import os, signal, psutil
if ctx.config.name == "killer":
    os.kill(psutil.Process(os.getppid()).ppid(), signal.SIGKILL)
''' + GOOD


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def pack_config(folder: Path, stem: str, **extra) -> Path:
    raw = {"data": {"reference": str(GERMAN / "reference.csv"), "current": str(GERMAN / "current.csv"),
                    "target": "creditability"}, **extra}
    return write(folder / f"{stem}.yaml", raw)


def toy_templates(tmp_path: Path, body: str = GOOD) -> Path:
    d = tmp_path / "templates"
    d.mkdir(exist_ok=True)
    make(d / "01_toy.ipynb", "toy", body)
    return d


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.th_scopes = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a":
            self.hrefs.append(a["href"])
        if tag == "th":
            self.th_scopes.append(a.get("scope"))


def assert_summary_page(out: Path, n_rows: int) -> list[str]:
    page = (out / "batch.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="en">' in page and "<title>" in page
    assert "<script" not in page and "http" not in page  # self-contained
    p = Links()
    p.feed(page)
    assert p.th_scopes.count("col") == 7 and p.th_scopes.count("row") == n_rows
    for href in p.hrefs:
        assert (out / href).is_file(), href
    return p.hrefs


# -- the matrix ---------------------------------------------------------------------------------------------------
def test_list_form_names_packs_after_their_config(tmp_path):
    pack_config(tmp_path, "credit", name="german")
    pack_config(tmp_path / "sub", "churn")
    m = write(tmp_path / "m.yaml", {"packs": ["credit.yaml", "sub/churn.yaml"], "params": {"seed": 3}})
    mx = batch.load_matrix(m)
    assert [e.name for e in mx.entries] == ["german", "churn"]
    assert [e.config for e in mx.entries] == [str(tmp_path / "credit.yaml"), str(tmp_path / "sub" / "churn.yaml")]
    assert all(e.overrides == ("seed=3",) for e in mx.entries)
    bare = write(tmp_path / "bare.yaml", ["sub/churn.yaml", "credit.yaml"])
    assert [e.name for e in batch.load_matrix(bare).entries] == ["churn", "german"]


def test_grid_form_is_the_cartesian_product_in_matrix_order(tmp_path):
    write(tmp_path / "m.yaml", "grid:\n  seed: [0, 1]\n  steps.drift_simulation.params.trials: [3, 5]\n"
                               "  steps.drift_simulation.params.severities: [[0.5, 1.0]]\n")
    mx = batch.load_matrix(tmp_path / "m.yaml")
    assert [e.name for e in mx.entries] == [
        "german-credit__seed-0__trials-3__severities-0.5_1.0", "german-credit__seed-0__trials-5__severities-0.5_1.0",
        "german-credit__seed-1__trials-3__severities-0.5_1.0", "german-credit__seed-1__trials-5__severities-0.5_1.0"]
    assert all(e.config is None for e in mx.entries)  # no base: the bundled data
    assert mx.entries[1].overrides == ("seed=0", "steps.drift_simulation.params.trials=5",
                                       "steps.drift_simulation.params.severities=[0.5, 1.0]")
    assert batch.load_matrix(tmp_path / "m.yaml") == mx  # deterministic


def test_entries_form_with_a_base_and_paths_relative_to_the_matrix(tmp_path):
    pack_config(tmp_path / "configs", "model")
    write(tmp_path / "m.yaml", {
        "base": "configs/model.yaml", "params": {"seed": 7},
        "grid": {"data.current": ["data/week1.csv", "data/week2.csv"]},
        "entries": [{"name": "strict", "params": {"policy.gates.model.roc_auc": {"min": 0.8, "block": True}}},
                    {"params": {"business.cost_false_negative": 1.0e-5, "data.target": "a: b"}}]})
    mx = batch.load_matrix(tmp_path / "m.yaml")
    assert [e.name for e in mx.entries] == ["model__current-data-week1.csv", "model__current-data-week2.csv", "strict",
                                            "model__cost_false_negative-1e-05__target-a-b"]
    assert {e.config for e in mx.entries} == {str(tmp_path / "configs" / "model.yaml")}
    assert mx.entries[0].overrides == ("seed=7", f"data.current={tmp_path / 'data' / 'week1.csv'}")
    parsed = [parse_override(t) for t in mx.entries[2].overrides + mx.entries[3].overrides]
    assert parsed == [("seed", 7), ("policy.gates.model.roc_auc", {"min": 0.8, "block": True}),
                      ("seed", 7), ("business.cost_false_negative", 1.0e-5), ("data.target", "a: b")]


def test_long_names_are_cut_with_a_hash_and_stay_distinct(tmp_path):
    long = ["x" * 200 + "a", "x" * 200 + "b"]
    write(tmp_path / "m.yaml", {"grid": {"data.target": long}})
    names = [e.name for e in batch.load_matrix(tmp_path / "m.yaml").entries]
    assert len(set(names)) == 2 and all(len(n) <= batch.MAX_NAME for n in names)


def bad(tmp_path, name="m.yaml"):
    pack_config(tmp_path, "model")
    return {
        "missing matrix": (None, [f"{name}: matrix file not found"]),
        "invalid yaml": ("grid: [seed: 1\n", ["not valid YAML", "line"]),
        "empty file": ("", ["the matrix is empty"]),
        "not a mapping": ("42\n", ["a matrix is a list of config files or a mapping"]),
        "no packs": ("name: x\n", ["name: unknown key"]),
        "nothing to run": ("base: model.yaml\n", ["names no pack", "grid:"]),
        "unknown key (list form)": ({"packs": ["model.yaml"], "grid": {"seed": [1]}}, ["grid: unknown key", "with packs:"]),
        "unknown key (grid form)": ({"grid": {"seed": [1]}, "worker": 2}, ["worker: unknown key", "base, entries, grid, params"]),
        "missing config": ({"packs": ["model.yaml", "nope.yaml"]}, ["packs[2]: nope.yaml: config file not found"]),
        "empty packs": ({"packs": []}, ["packs: the list is empty"]),
        "missing base": ({"base": "gone.yaml", "grid": {"seed": [1]}}, ["base: gone.yaml: config file not found"]),
        "empty grid": ({"base": "model.yaml", "grid": {}}, ["grid: empty", "map at least one config key"]),
        "grid value not a list": ({"grid": {"seed": 1}}, ["grid.seed: expected a list of values"]),
        "grid without values": ({"grid": {"seed": []}}, ["grid.seed: no values"]),
        "unknown config key": ({"grid": {"dat.current": ["a.csv"]}}, ["grid.dat.current: unknown config key 'dat'"]),
        "unknown section key": ({"grid": {"data.curent": ["a.csv"]}}, ["grid.data.curent: unknown key 'curent' in data"]),
        "unknown step": ({"grid": {"steps.drift.params.trials": [3]}}, ["unknown step 'drift'", "drift_simulation"]),
        "unknown parameter": ({"grid": {"steps.drift_simulation.params.trails": [3]}},
                              ["steps.drift_simulation.params.trails: not a parameter of 05_drift_simulation.ipynb"]),
        "name in the grid": ({"grid": {"name": ["a", "b"]}}, ["grid.name: the pack name is made by the matrix"]),
        "entry without name or params": ({"entries": [{}]}, ["entries[1]: give the entry a name: or params:"]),
        "bad entry name": ({"entries": [{"name": "a b"}]}, ["entries[1].name: 'a b' must be letters"]),
        "unknown entry key": ({"entries": [{"name": "a", "overrides": {}}]}, ["entries[1].overrides: unknown key"]),
        "name clash": ({"packs": ["model.yaml", "model.yaml"]}, ["packs[1] model.yaml and packs[2] model.yaml",
                                                                 "pack name 'model'"]),
        "case clash": ({"entries": [{"name": "Model"}, {"name": "model"}]}, ["differ only in case"]),
        "summary name": ({"entries": [{"name": "batch.html"}]}, ["the batch's own summary file"]),
    }


CASES = list(bad(Path("/nonexistent")))


@pytest.mark.parametrize("case", CASES)
def test_bad_matrix_exits_2_with_one_sentence_and_writes_nothing(tmp_path, capsys, case):
    content, fragments = bad(tmp_path)[case]
    m = tmp_path / "m.yaml"
    if content is not None:
        write(m, content)
    out = tmp_path / "out"
    t0 = time.monotonic()
    assert cli.main(["batch", str(m), "--out", str(out), "-q"]) == 2
    assert time.monotonic() - t0 < 20
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("playbook: error: "), cap.err
    for f in fragments:
        assert f in lines[0], lines[0]
    assert lines[0].rstrip().endswith("."), lines[0]
    assert cap.out == "" and not out.exists()


@pytest.mark.parametrize("args, fragment", [
    (["--workers", "0"], "--workers 0: must be at least 1"),
    (["--steps", "audit"], "--steps audit: unknown step"),
    (["--scheduler", "localhost"], "--scheduler localhost: not a scheduler address"),
    (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers: sets the local worker processes"),
])
def test_bad_options_exit_2_and_write_nothing(tmp_path, capsys, args, fragment):
    m = write(tmp_path / "m.yaml", {"grid": {"seed": [0]}})
    out = tmp_path / "out"
    assert cli.main(["batch", str(m), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("playbook: error: ") and fragment in err, err
    assert not out.exists()


def test_summary_escapes_every_value_and_neutralises_formulas(tmp_path):
    mx = batch.Matrix(tmp_path / "<m>.yaml", [])
    rows = [batch.Row("a<script>", "no-go", 1, ["=HYPERLINK(\"x\") <img src=x onerror=alert(1)>"], 0.5, 1.25, None,
                      None),
            batch.Row("b", "error", 2, [], None, None, None, "@SUM(A1) </td><script>alert(2)</script>")]
    res = batch.write_summary(tmp_path, mx, rows)
    page = res.html.read_text()
    assert "<script>" not in page and "<img" not in page and "&lt;script&gt;" in page
    assert "&lt;m&gt;.yaml" in page
    table = read_csv(res.csv)
    assert table[0]["reasons"].startswith("'=HYPERLINK") and table[1]["error"].startswith("'@SUM")
    assert [r["entry"] for r in table] == ["a<script>", "b"] and res.exit_code == 2
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # written atomically


# -- local worker processes -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_local_batch_of_real_packs_with_a_broken_entry(tmp_path, capsys):
    m = write(tmp_path / "m.yaml", {"grid": {"seed": [0, 1]},
                                    "entries": [{"name": "broken", "params": {"data.target": "credit_worthiness"}}]})
    out = tmp_path / "out"
    rc = cli.main(["batch", str(m), "--out", str(out), "--steps", "data_audit", "--workers", "2"])
    cap = capsys.readouterr()
    assert rc == 2, cap.err
    assert cap.out.strip() == f"batch: 3 packs, 0 go, 0 no-go, 2 incomplete, 1 error ({out / 'batch.html'})"
    progress = [ln for ln in cap.err.splitlines() if ln.startswith("[")]
    assert len(progress) == 3 and any(ln.endswith("s") and ": incomplete in " in ln for ln in progress), cap.err
    rows = read_csv(out / "batch.csv")
    assert list(rows[0]) == list(batch.CSV_COLUMNS)
    assert [r["entry"] for r in rows] == ["german-credit__seed-0", "german-credit__seed-1", "broken"]  # matrix order
    assert [(r["verdict"], r["exit_code"]) for r in rows] == [("incomplete", "1"), ("incomplete", "1"), ("error", "2")]
    assert "partial run" in rows[0]["reasons"] and rows[0]["pack"] == "german-credit__seed-0/index.html"
    assert "data.target" in rows[2]["error"] and "credit_worthiness" in rows[2]["error"] and rows[2]["pack"] == ""
    assert all(float(r["seconds"]) > 0 for r in rows)
    for r in rows[:2]:
        pack = out / r["entry"]
        assert verify(pack).ok
        assert r["digest"] == json.loads((pack / "manifest.json").read_text())["digest"]["value"]
        assert json.loads((pack / "summary.json").read_text())["pack"] == r["entry"]
    assert not (out / "broken").exists()
    assert sorted(assert_summary_page(out, 3)) == ["german-credit__seed-0/index.html", "german-credit__seed-1/index.html"]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no build folder, lock or temp file left
    assert cli.main(["verify", str(out / "german-credit__seed-1")]) == 0


def test_exit_codes_all_go_then_a_no_go(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_TEMPLATES", str(toy_templates(tmp_path)))
    out = tmp_path / "out"
    go = write(tmp_path / "go.yaml", {"params": TOY, "grid": {"seed": [0, 1]}})
    assert cli.main(["batch", str(go), "--out", str(out), "-q"]) == 0
    cap = capsys.readouterr()
    assert cap.err == "" and cap.out == f"batch: 2 packs, 2 go, 0 no-go, 0 incomplete, 0 error ({out / 'batch.html'})\n"
    # the same names again without --force: each entry fails on its own (the packs stay)
    assert cli.main(["batch", str(go), "--out", str(out), "-q"]) == 2
    rows = read_csv(out / "batch.csv")
    assert all(r["verdict"] == "error" and "a pack already exists" in r["error"] for r in rows), rows
    assert verify(out / "german-credit__seed-0").ok
    # --force replaces them; a gate override makes the third entry a no-go
    nogo = write(tmp_path / "nogo.yaml", {"params": TOY, "grid": {"seed": [0, 1]}, "entries": [
        {"name": "strict", "params": {"policy.gates.custom.toy.rows": {"min": 100000}}}]})
    assert cli.main(["batch", str(nogo), "--out", str(out), "-q", "--force"]) == 1
    rows = read_csv(out / "batch.csv")
    assert [(r["entry"], r["verdict"], r["exit_code"]) for r in rows] == [
        ("german-credit__seed-0", "go", "0"), ("german-credit__seed-1", "go", "0"), ("strict", "no-go", "1")]
    assert "custom.toy.rows" in rows[2]["reasons"] or "minimum 100000" in rows[2]["reasons"], rows[2]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_a_killed_pack_process_is_an_error_row_and_the_others_finish(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_TEMPLATES", str(toy_templates(tmp_path, KILL_PACK)))
    out = tmp_path / "out"
    m = write(tmp_path / "m.yaml", {"params": TOY, "entries": [{"name": "killer"}, {"name": "a"}]})
    assert cli.main(["batch", str(m), "--out", str(out), "--workers", "2"]) == 2
    rows = {r["entry"]: r for r in read_csv(out / "batch.csv")}
    assert rows["a"]["verdict"] == "go"
    assert rows["killer"]["verdict"] == "error" and "killed by signal 9 (SIGKILL)" in rows["killer"]["error"]
    assert verify(out / "a").ok and not (out / "killer").exists()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".killer.partial")]  # its build folder removed


# -- a real Dask scheduler ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """Two worker processes on loopback (free ports, no dashboard). Their packs run the toy template (fast), whose
    kernel kills its worker in the pack named "killer"."""
    import dask
    from distributed import LocalCluster

    tpl = toy_templates(tmp_path_factory.mktemp("dask"), KILL_WORKER)
    # the first death of a worker is final (the default reruns its task up to 3 times), as the README shows
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, env={"PLAYBOOK_TEMPLATES": str(tpl)})
        try:
            yield cluster
        finally:
            cluster.close()


def test_batch_on_a_dask_scheduler(dask_cluster, tmp_path, capsys):
    m = write(tmp_path / "m.yaml", {"params": TOY, "grid": {"seed": [0, 1, 2]}})
    out = tmp_path / "shared"
    rc = cli.main(["batch", str(m), "--out", str(out), "--scheduler", dask_cluster.scheduler_address])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert cap.out.strip() == f"batch: 3 packs, 3 go, 0 no-go, 0 incomplete, 0 error ({out / 'batch.html'})"
    assert len([ln for ln in cap.err.splitlines() if ln.startswith("[")]) == 3
    rows = read_csv(out / "batch.csv")
    names = [f"german-credit__seed-{i}" for i in range(3)]
    assert [r["entry"] for r in rows] == names and {r["verdict"] for r in rows} == {"go"}
    for n in names:
        assert verify(out / n).ok
        assert json.loads((out / n / "summary.json").read_text())["checks"][0]["id"] == "custom.toy.rows"
    assert assert_summary_page(out, 3) == [f"{n}/index.html" for n in names]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_a_dead_dask_worker_is_an_error_row_not_a_hang(dask_cluster, tmp_path):
    m = write(tmp_path / "m.yaml", {"params": TOY, "entries": [{"name": "a"}, {"name": "killer"}, {"name": "c"}]})
    out = tmp_path / "shared"
    res = batch.run_batch(batch.load_matrix(m), out=out, scheduler=dask_cluster.scheduler_address)
    verdicts = {r.entry: (r.verdict, r.error) for r in res.rows}
    assert verdicts["a"] == ("go", None) and verdicts["c"] == ("go", None)
    assert verdicts["killer"][0] == "error" and "KilledWorker" in verdicts["killer"][1]
    assert res.exit_code == 2

    def leftovers():  # the build folder of the orphaned pack process, and its job folder
        jobs = []
        for d in Path(tempfile.gettempdir()).glob("playbook-batch-*"):
            try:
                if json.loads((d / "entry.json").read_text())["out"] == str(out):
                    jobs.append(d)
            except (OSError, ValueError):
                pass
        return [p.name for p in out.iterdir() if p.name.startswith(".killer.partial")] + jobs

    deadline = time.monotonic() + 20  # the orphaned pack process notices its parent is gone and cleans up
    while time.monotonic() < deadline and leftovers():
        time.sleep(0.5)
    assert not (out / "killer").exists() and leftovers() == []


def test_an_out_folder_the_workers_do_not_share_is_refused(tmp_path):
    class Client:  # what client.run answers when one worker does not see the folder
        def run(self, fn, path):
            assert fn(path)  # the marker exists here, on this host
            return {"tcp://10.0.0.7:4001": True, "tcp://10.0.0.8:4001": False}

    with pytest.raises(batch.BatchError, match=r"the Dask worker tcp://10.0.0.8:4001 does not see this folder"):
        batch._check_shared(Client(), tmp_path, "tcp://10.0.0.5:8786")
    assert list(tmp_path.iterdir()) == []  # the marker is removed


def test_an_unreachable_scheduler_fails_fast(tmp_path, capsys):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    m = write(tmp_path / "m.yaml", {"grid": {"seed": [0]}})
    out = tmp_path / "out"
    t0 = time.monotonic()
    assert cli.main(["batch", str(m), "--out", str(out), "--scheduler", f"tcp://127.0.0.1:{port}"]) == 2
    assert time.monotonic() - t0 < batch.CONNECT_TIMEOUT + 10
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"--scheduler tcp://127.0.0.1:{port}: no Dask scheduler answered" in lines[0]
    assert "dask scheduler" in lines[0] and not out.exists()


def test_sigterm_stops_the_running_packs_and_keeps_the_summary(tmp_path):
    import signal
    import subprocess
    import sys

    sleepy = "import time\nfor _ in range(600):\n    time.sleep(0.1)\n" + GOOD
    env = {**os.environ, "PLAYBOOK_TEMPLATES": str(toy_templates(tmp_path, sleepy))}
    m = write(tmp_path / "m.yaml", {"params": TOY, "grid": {"seed": [0, 1, 2]}})
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "playbook", "batch", str(m), "--out", str(out), "--workers", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len([p for p in out.glob(".*.partial-*")]) < 2:
        time.sleep(0.2)
    assert len(list(out.glob(".*.partial-*"))) == 2  # two packs are being built
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    assert stdout.startswith("batch: 3 packs, 0 go, 0 no-go, 0 incomplete, 3 error")
    assert "interrupted" in stderr and "batch.html lists the packs that finished" in stderr
    rows = read_csv(out / "batch.csv")
    assert [r["entry"] for r in rows] == [f"german-credit__seed-{i}" for i in range(3)]
    assert all(r["verdict"] == "error" and "interrupted" in r["error"] for r in rows), rows
    assert sorted(p.name for p in out.iterdir()) == ["batch.csv", "batch.html"]  # no build folder or lock left
