"""The simulation's batched paths give what judging each batch on its own gives: the deployed monitor's alerts
(``alert_kinds_many`` against ``check_batch``), the Evidently-default rule and the contract (incremental against a
fresh full run), the model metric and the monitored output (row-wise reuse against scoring the whole batch), and
the forked share of the work (``map_ordered`` against the plain loop)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from playbook import parallel
from playbook.drift import shifts as S
from playbook.drift import simulate as sim
from playbook.drift.rows import equal_values, rowwise, same_rows

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """The bundled data's model, contract and a calibrated monitoring.yaml (small calibration), as the drift step
    builds them."""
    import playbook
    from playbook.audit.contract import build_contract
    from playbook.modeling import get_model
    from playbook.monitoring import setup as msetup
    from playbook.monitoring.spec import load_spec, save_spec

    ctx = playbook.load_context("")
    model = get_model(ctx)
    contract = build_contract(ctx.reference, ctx.roles)
    ms = msetup.make_config(ctx, model, contract, batch_size=100, replicates=1000, holdout=200, folds=3)
    spec = load_spec(save_spec(ms.spec, tmp_path_factory.mktemp("spec") / "monitoring.yaml"))
    pool, _ = sim.evaluation_pool(ctx, model)
    score = msetup.scorer(model, msetup.prediction_settings(ctx.roles, model, 0.5))

    def build(with_spec=True):
        return sim.build_monitors(ctx.reference, pool, ctx.roles, model=model, contract=contract,
                                  spec=spec if with_spec else None, scorer=score if with_spec else None)

    return ctx, spec, score, build


def _faulty(ctx, pool, n=100, trials=2):
    """Every fault at two severities on a few clean batches: (frames, bases, keys)."""
    frames, bases, keys = [], [], []
    for t in range(trials):
        base = pool.sample(n, random_state=t).reset_index(drop=True)
        for name in S.SHIFTS:
            for sev in (0.3, 1.0):
                f, _ = S.apply(name, base, sev, roles=ctx.roles, seed=t)
                frames.append(f)
                bases.append(base)
                keys.append(("t", t))
    return frames, bases, keys


def test_alert_kinds_many_equals_check_batch_on_every_fault(deployed):
    from playbook.monitoring.check import alert_kinds_many, check_batch

    ctx, spec, score, build = deployed
    frames, _, _ = _faulty(ctx, build().pool)
    scored = [score(f.drop(columns=[ctx.target])) for f in frames]
    odd = scored[0].copy()
    odd["credit_amount"] = odd["credit_amount"].astype(str).where(odd.index % 3 > 0, "n/a")  # text in numbers
    cat = scored[1].copy()
    cat["purpose"] = cat["purpose"].astype("category")
    extra = scored[2].assign(new_feature=1.0)
    empty = scored[3].iloc[:0]
    short = scored[4].iloc[:37]
    batches = scored + [odd, cat, extra, empty, short, short.copy()]
    expected = [sorted({a["kind"] for a in check_batch(spec, b)["alerts"]}) for b in batches]
    assert alert_kinds_many(spec, batches) == expected
    assert any(expected) and not all(expected)  # both healthy and alerting batches were judged
    # the columns a batch shares with another one are taken from that batch's findings
    from playbook.drift.rows import changed_columns
    from playbook.monitoring.check import alert_parts

    base = scored[0]
    parts = alert_parts(spec, base)
    known = [(set(b.columns) - set(changed_columns(b, base)), parts) if len(b) == len(base) else None
             for b in batches]
    assert alert_kinds_many(spec, batches, known=known) == expected


def test_run_many_equals_judging_each_batch_alone(deployed):
    """Incremental, stacked, row-reused and batched: the same alarms, contract findings, alert kinds and metrics as
    a fresh monitor judging every batch on its own (full contract validation, check_batch, whole-batch scoring)."""
    from playbook.monitoring.check import check_batch

    ctx, spec, score, build = deployed
    mon = build()
    frames, bases, keys = _faulty(ctx, mon.pool)
    alarms, scores = mon.run_many(frames, bases, keys, scores=True)
    plain = build(with_spec=False)
    for f, got, metric in zip(frames, alarms, scores):
        fresh = build(with_spec=False)
        want = fresh.data_alarms(f)
        kinds = sorted({a["kind"] for a in check_batch(spec, score(f.drop(columns=[ctx.target])))["alerts"]})
        assert {k: v for k, v in got.items() if k not in ("alarm", "deployed_kinds")} == \
            {k: v for k, v in want.items() if k != "alarm"} | {"default_alarm": want["alarm"]}
        assert got["deployed_kinds"] == kinds and got["alarm"] == bool(kinds)
        assert metric == plain.score([f])[0]


def test_rowwise_reuses_equal_rows_only():
    a = np.array([1, "1", 1.0, None, np.nan, float("nan"), "x"], dtype=object)
    b = np.array([1, 1, 1, None, np.nan, float("nan"), "x"], dtype=object)
    # 1, "1" and 1.0 are different model inputs; the same NaN object is the same, another NaN is not proven so
    assert equal_values(a, b).tolist() == [True, False, False, True, True, False, True]
    assert equal_values(np.array([1.0, np.nan]), np.array([1.0, np.nan])).tolist() == [True, True]
    base = pd.DataFrame({"x": [1, 2, 3, 4], "c": ["a", "b", "c", "d"]})
    frame = base.assign(x=[1, 20, 3, 40])
    same = same_rows(frame, base, ["x", "c"])
    assert same.tolist() == [True, False, True, False]
    assert same_rows(frame.assign(x=frame["x"].astype(float)), base, ["x"]).tolist() == [False] * 4  # dtype changed
    assert same_rows(frame.drop(columns=["c"]), base, ["x", "c"]) is None
    calls = []

    def fn(X):
        calls.append(len(X))
        return X["x"].to_numpy() * 10.0

    out = rowwise(fn, [frame, base], [same, np.ones(4, bool)], [fn(base), fn(base)])
    assert out[0].tolist() == [10.0, 200.0, 30.0, 400.0] and out[1].tolist() == [10.0, 20.0, 30.0, 40.0]
    assert calls == [4, 4, 2]  # the two base calls, then the two changed rows only

    def refuses(X):
        raise ValueError("no")

    assert rowwise(refuses, [frame], [same], [fn(base)]) == [None]  # the caller scores it on its own


def test_map_ordered_equals_the_loop_and_survives_a_failing_child(monkeypatch):
    items = list(range(7))
    assert parallel.map_ordered(lambda x: x * x, items) == [x * x for x in items]
    parent = os.getpid()

    def fails_in_child(x):
        if os.getpid() != parent:
            raise RuntimeError("child")
        return x + 1

    assert parallel.map_ordered(fails_in_child, items) == [x + 1 for x in items]
    monkeypatch.setenv(parallel.WORKERS_ENV, "1")
    assert parallel.workers() == 1
    assert parallel.map_ordered(lambda x: os.getpid(), items) == [parent] * 7
    monkeypatch.setenv(parallel.WORKERS_ENV, "2")
    assert parallel.workers() == 2


def test_sweep_in_one_process_equals_the_shared_sweep(deployed, monkeypatch):
    ctx, spec, score, build = deployed
    names = ["unit_change_up", "prior_shift", "dropped_column", "concept_drift"]
    shared = sim.sweep(build(), names, severities=[0.5, 1.0], trials=3, batch_size=100, seed=0)
    monkeypatch.setenv(parallel.WORKERS_ENV, "1")
    alone = sim.sweep(build(), names, severities=[0.5, 1.0], trials=3, batch_size=100, seed=0)
    pd.testing.assert_frame_equal(shared[0], alone[0])
    pd.testing.assert_frame_equal(shared[1], alone[1])


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state  # a zombie has ended; only its exit status waits to be read


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="work is shared with a forked child on Linux only")
def test_the_forked_child_dies_with_its_parent(tmp_path):
    """A kernel killed while it shares work (a step at its time limit, an interrupted run) leaves no child
    computing alone."""
    import signal
    import subprocess
    import time

    seen = tmp_path / "pids.txt"
    script = ("import os, sys, time\n"
              "from playbook.parallel import map_ordered\n"
              "def f(x):\n"
              "    with open(sys.argv[1], 'a') as fh:\n"
              "        fh.write(f'{os.getpid()}\\n')\n"
              "    time.sleep(120)\n"
              "map_ordered(f, range(4))\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(seen)], env={**os.environ, "PLAYBOOK_WORKERS": "2"})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pids = {int(x) for x in seen.read_text().split()} if seen.exists() else set()
            if len(pids) == 2:
                break
            time.sleep(0.1)
        assert len(pids) == 2, "the work was not shared with a child"
        child = (pids - {proc.pid}).pop()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(child), "the child outlived its killed parent"
    finally:
        proc.kill()
