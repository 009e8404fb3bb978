"""joblib's helper processes are stopped when a step's work is done, so no kernel waits on them at its shutdown.

A process pool that shares memory-mapped arrays (joblib's ``multiprocessing`` backend: scikit-learn's permutation
importance on two cores) starts loky's resource tracker, a child that ignores SIGTERM. ipykernel terminates a
kernel's children before the kernel exits, so a kernel holding one waited until the kernel manager gave up (5 s
added to the evaluation step). These tests look for the child itself (``/proc``), never at a time.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

#: loky's tracker, by its command line (the standard library's own tracker, which another test of the same process
#: may have started, is not joblib's and not what the fix stops)
LOKY_TRACKER = "joblib.externals.loky.backend.resource_tracker"

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")


def _children_running(fragment: str) -> list[int]:
    """Live child processes of this one whose command line holds ``fragment``."""
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[1]) == me and fields[0] != "Z" and fragment in cmd:
            found.append(int(stat.parent.name))
    return found


class _Scorer:
    """What the evaluation hands to the permutation importance: the model and its score, one object."""

    def __init__(self, model):
        self.model = model

    def fit(self, X, y):  # scikit-learn checks that the estimator has one
        return self

    def predict(self, X):
        return self.model.predict(X)

    def __call__(self, est, X, y) -> float:
        return float((self.model.predict(X) == y).mean())


def _start_tracker() -> None:
    import joblib

    with joblib.parallel_config(backend="multiprocessing", n_jobs=2):
        joblib.Parallel()(joblib.delayed(np.sum)(np.arange(k)) for k in range(4))
    # the pool is gone, its tracker stays: the state these tests start from
    assert _children_running(LOKY_TRACKER), "joblib started no resource tracker: nothing to test"


def test_release_helpers_stops_the_tracker_a_pool_left(monkeypatch):
    from playbook.parallel import release_helpers

    _start_tracker()
    assert release_helpers() is True
    assert _children_running(LOKY_TRACKER) == []
    assert release_helpers() is False  # nothing left to stop


def test_the_permutation_importance_on_two_cores_leaves_no_tracker(monkeypatch):
    from sklearn.linear_model import LogisticRegression

    from playbook.evaluate.importance import _permutation_importance

    monkeypatch.setenv("PLAYBOOK_WORKERS", "2")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = (X["a"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    r = _permutation_importance(_Scorer(model), X, y, 2, 0)
    assert r.importances_mean[0] > r.importances_mean[1]  # the scoring ran
    assert _children_running(LOKY_TRACKER) == []


def test_saving_a_step_stops_what_a_models_pool_left(tmp_path):
    from playbook.results import Step

    _start_tracker()
    step = Step("probe", tmp_path)
    step.save()
    assert _children_running(LOKY_TRACKER) == []
