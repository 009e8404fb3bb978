"""Kernels started ahead of their step (playbook.kernels): what they import, and that a notebook cannot tell."""

import json
import os

import nbformat as nbf

from playbook import kernels, runner

from .toys import CLEAN, GOOD, folder


def test_top_level_imports_reads_the_cells_and_the_metadata(tmp_path):
    nb = nbf.v4.new_notebook()
    nb.cells.append(nbf.v4.new_code_cell("import os, json as j\nfrom a.b import c, d\nfrom . import rel\n"
                                         "if x:\n    import inside\n"))
    nb.cells.append(nbf.v4.new_code_cell("%matplotlib inline\nimport skipped"))  # does not parse: skipped
    nb.cells.append(nbf.v4.new_markdown_cell("import markdown"))
    nb.metadata["playbook"] = {"warm_imports": ["lazy.module", "bad name; rm"]}
    p = tmp_path / "t.ipynb"
    nbf.write(nb, str(p))
    mods = kernels.top_level_imports(p)
    assert mods[:5] == ["os", "json", "a.b", "a.b.c", "a.b.d"]
    assert "inside" not in mods and "skipped" not in mods and "markdown" not in mods and "rel" not in mods
    assert "lazy.module" in mods and "bad name; rm" not in mods
    assert set(kernels.COMMON_WARM) <= set(mods)


def _run(tmp_path, tpl, monkeypatch, env_value=None):
    if env_value is not None:
        monkeypatch.setenv(runner.WARM_ENV, env_value)
    return runner.run(None, out=tmp_path / "out", templates_folder=tpl, log=lambda m: None, progress=False,
                      overrides=["policy.use_default_gates=false"])


def _clean_value(pack, step):
    res = json.loads((pack / f"steps/{step}/results.json").read_text())
    return next(c for c in res["checks"] if c["id"] == "custom.clean")["value"]


def test_a_warm_kernel_leaves_the_notebook_a_fresh_namespace_in_its_folder(tmp_path, monkeypatch):
    tpl = folder(tmp_path, ("01_toy.ipynb", "toy", GOOD), ("02_clean.ipynb", "clean", CLEAN))
    nb = json.loads((tpl / "02_clean.ipynb").read_text())
    nb["metadata"]["playbook"] = {"warm_imports": ["mailbox"]}  # a module nothing else imports: proof of warming
    (tpl / "02_clean.ipynb").write_text(json.dumps(nb))
    res = _run(tmp_path, tpl, monkeypatch)
    assert [o.status for o in res.steps] == ["pass", "pass"]
    v = _clean_value(res.pack, "02_clean")
    # the namespace holds what the notebook itself defined, nothing of the warm-up; the count starts as in a new kernel
    assert set(v["names"]) - {"open"} == {"config", "ctx", "output_dir", "pack_dir", "playbook", "step", "sys",
                                          "threshold"}, v
    assert v["warm"] is True and v["cwd"] is True
    nb = json.loads((res.pack / "steps/02_clean/notebook.ipynb").read_text())
    assert [c["execution_count"] for c in nb["cells"] if c["cell_type"] == "code"] == [1, 2, 3]
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    assert not list(res.pack.rglob("kernel-ipc*"))  # no socket file in the pack


def test_without_warm_kernels_the_same_namespace_and_no_warm_up(tmp_path, monkeypatch):
    tpl = folder(tmp_path, ("01_clean.ipynb", "clean", CLEAN))
    nb = json.loads((tpl / "01_clean.ipynb").read_text())
    nb["metadata"]["playbook"] = {"warm_imports": ["mailbox"]}
    (tpl / "01_clean.ipynb").write_text(json.dumps(nb))
    cold = _run(tmp_path / "a", tpl, monkeypatch, "0")
    warm = _run(tmp_path / "b", tpl, monkeypatch, "1")
    a, b = _clean_value(cold.pack, "01_clean"), _clean_value(warm.pack, "01_clean")
    assert a["warm"] is False and b["warm"] is True  # the warm-up ran only when asked (first step: in the preflight)
    assert a["names"] == b["names"] and a["count"] == b["count"] and a["cwd"] and b["cwd"]


def test_a_step_that_measures_times_runs_alone(tmp_path, monkeypatch):
    from .toys import SIDE

    tpl = folder(tmp_path, ("01_left.ipynb", "left", SIDE), ("02_right.ipynb", "right", SIDE))
    for f, extra in (("01_left.ipynb", {}), ("02_right.ipynb", {"exclusive": True})):
        p = tpl / f
        nb = json.loads(p.read_text())
        nb["metadata"]["playbook"] = {"after": [], **extra}
        p.write_text(json.dumps(nb))
    monkeypatch.setenv("TOY_SIDE_WAIT", "3")
    res = runner.run(None, out=tmp_path / "out", templates_folder=tpl, log=lambda m: None, progress=False,
                     overrides=["policy.use_default_gates=false"], step_jobs=2)
    st = _statuses(res)
    # right may not start beside left: left waits in vain, right then finds left's flag
    assert st["custom.left.side_by_side"] == "fail" and st["custom.right.side_by_side"] == "pass", st


def _after(tpl, fname, after):
    p = tpl / fname
    nb = json.loads(p.read_text())
    nb["metadata"]["playbook"] = {"after": after}
    p.write_text(json.dumps(nb))


def _statuses(res):
    return {c["id"]: c["status"] for c in res.summary["checks"]}


def test_steps_that_read_nothing_of_each_other_run_side_by_side(tmp_path):
    from .toys import READER, SIDE

    tpl = folder(tmp_path, ("01_left.ipynb", "left", SIDE), ("02_right.ipynb", "right", SIDE),
                 ("03_toy.ipynb", "toy", GOOD), ("04_reader.ipynb", "reader", READER))
    _after(tpl, "01_left.ipynb", [])
    _after(tpl, "02_right.ipynb", [])
    _after(tpl, "03_toy.ipynb", ["left"])  # reads left only: may start beside right
    res = runner.run(None, out=tmp_path / "out", templates_folder=tpl, log=lambda m: None, progress=False,
                     overrides=["policy.use_default_gates=false"], step_jobs=2)
    st = _statuses(res)
    assert st["custom.left.side_by_side"] == "pass" and st["custom.right.side_by_side"] == "pass", st
    assert st["custom.reader.saw_previous"] == "pass"  # no metadata: after every earlier step, toy included
    assert [o.template.name for o in res.steps] == ["left", "right", "toy", "reader"]  # template order
    starts = {o.template.name: o.started for o in res.steps}
    assert starts["reader"] >= max(starts["toy"], starts["right"])
    assert runner.step_needs(runner.discover(tpl)) == {
        "left": set(), "right": set(), "toy": {"left"}, "reader": {"left", "right", "toy"}}


def test_one_step_at_a_time_when_asked(tmp_path, monkeypatch):
    from .toys import SIDE

    tpl = folder(tmp_path, ("01_left.ipynb", "left", SIDE), ("02_right.ipynb", "right", SIDE))
    _after(tpl, "01_left.ipynb", [])
    _after(tpl, "02_right.ipynb", [])
    monkeypatch.setenv(runner.JOBS_ENV, "1")
    monkeypatch.setenv("TOY_SIDE_WAIT", "3")
    res = runner.run(None, out=tmp_path / "out", templates_folder=tpl, log=lambda m: None, progress=False,
                     overrides=["policy.use_default_gates=false"])
    st = _statuses(res)
    # one at a time: left waits its 3 s for a right that has not started, and fails; right then finds left's flag
    assert st["custom.left.side_by_side"] == "fail" and st["custom.right.side_by_side"] == "pass", st


def test_a_bad_step_jobs_setting_is_one_sentence(monkeypatch):
    import pytest

    monkeypatch.setenv(runner.JOBS_ENV, "many")
    with pytest.raises(runner.RunError, match="PLAYBOOK_STEP_JOBS=many: not a whole number"):
        runner.resolve_step_jobs()
    monkeypatch.setenv(runner.JOBS_ENV, "0")
    with pytest.raises(runner.RunError, match="at least 1"):
        runner.resolve_step_jobs()
    monkeypatch.delenv(runner.JOBS_ENV)
    assert runner.resolve_step_jobs(3) == 3 and runner.resolve_step_jobs() in (1, 2)


def test_sigterm_while_steps_run_side_by_side_leaves_no_folder_and_no_kernel(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    import psutil

    from .toys import HANG

    tpl = folder(tmp_path, ("01_left.ipynb", "left", HANG), ("02_right.ipynb", "right", HANG),
                 ("03_toy.ipynb", "toy", GOOD))
    for f in ("01_left.ipynb", "02_right.ipynb"):
        _after(tpl, f, [])
    out = tmp_path / "out"
    env = {**os.environ, "PLAYBOOK_TEMPLATES": str(tpl), runner.JOBS_ENV: "2"}
    proc = subprocess.Popen([sys.executable, "-m", "playbook", "run", "--out", str(out), "-q",
                             "-p", "policy.use_default_gates=false"], env=env, stderr=subprocess.PIPE, text=True)
    flags = out / "flags"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(flags.glob("*"))) < 2:
        time.sleep(0.1)
    assert len(list(flags.glob("*"))) == 2  # both steps are running at once
    kernels = [c for c in psutil.Process(proc.pid).children(recursive=True) if "ipykernel" in " ".join(c.cmdline())]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 2 and "interrupted; no pack was written" in err, err
    assert "Kernel died" not in err
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".lock")) == ["flags"]
    assert kernels and not [k for k in kernels if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]


def test_socket_folders_of_dead_runs_are_swept_and_live_ones_kept(tmp_path):
    import subprocess
    import sys
    import time

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folders = {}
    for name, owner in (("dead", str(dead.pid)), ("live", str(os.getpid())), ("junk", "not a pid")):
        d = tmp_path / f"{kernels.SOCKETS_PREFIX}{name}"
        d.mkdir()
        (d / kernels.OWNER_FILE).write_text(owner)
        (d / "k-1").write_text("")
        folders[name] = d
    young, old = tmp_path / f"{kernels.SOCKETS_PREFIX}young", tmp_path / f"{kernels.SOCKETS_PREFIX}old"
    young.mkdir()
    old.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    (tmp_path / "other-folder").mkdir()
    removed = kernels.sweep_sockets(tmp_path)
    assert sorted(p.name for p in removed) == sorted(f"{kernels.SOCKETS_PREFIX}{n}" for n in ("dead", "junk", "old"))
    assert folders["live"].is_dir() and young.is_dir() and (tmp_path / "other-folder").is_dir()
    assert not folders["dead"].exists() and not old.exists()


def _kernel_waiting_at_exit(tmp_path, holder):
    """A kernel (the runner's manager) whose exit waits until ``tmp_path/go`` exists: its teardown is as long as a
    test needs, no clock involved."""
    from jupyter_client import BlockingKernelClient
    from jupyter_core.utils import run_sync

    km = kernels.kernel_manager_class(None, holder)(kernel_name=runner.KERNEL, ip=str(tmp_path / "k"))
    run_sync(km.start_kernel)(cwd=str(tmp_path))
    kc = BlockingKernelClient()
    kc.load_connection_info(km.get_connection_info())
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    go = tmp_path / "go"
    kc.execute_interactive(
        "import atexit, os, time\n"
        f"def _wait(go={str(go)!r}):\n"
        "    for _ in range(600):\n"
        "        if os.path.exists(go): break\n"
        "        time.sleep(0.05)\n"
        f"    open({str(tmp_path / 'exited')!r}, 'w').write('clean')\n"
        "atexit.register(_wait)\n", timeout=60)
    kc.stop_channels()
    return km, go


def test_a_detached_shutdown_returns_before_the_kernel_exits_and_the_reaper_ends_it(tmp_path):
    from jupyter_core.utils import run_sync

    reaped = []
    holder = {"detach": True, "on_reaped": lambda: reaped.append(True)}
    km, go = _kernel_waiting_at_exit(tmp_path, holder)
    proc = holder["process"]
    run_sync(km.shutdown_kernel)()
    # the request is sent; the kernel sits in its exit handler until `go` exists: still alive, for certain
    assert proc.poll() is None and holder["reaper"].is_alive()
    go.write_text("")
    kernels.join_reapers([holder])
    assert proc.poll() == 0 and (tmp_path / "exited").read_text() == "clean"  # it ended on its own, not killed
    assert reaped == [True] and not os.path.exists(km.connection_file)


def test_without_detach_the_shutdown_waits_for_the_kernel(tmp_path):
    import threading

    from jupyter_core.utils import run_sync

    holder = {}
    km, go = _kernel_waiting_at_exit(tmp_path, holder)
    threading.Timer(0.5, go.write_text, args=("",)).start()
    run_sync(km.shutdown_kernel)()
    assert holder["process"].poll() == 0 and "reaper" not in holder
    assert (tmp_path / "exited").read_text() == "clean"
