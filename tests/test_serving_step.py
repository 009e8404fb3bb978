"""The serving step's checks from its measurements: each check that can pass is made to fail, and the wall-clock
figures stay out of results.json unless the config sets a latency or throughput gate."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest

from playbook.config import ServingSettings
from playbook.results import Step
from playbook.serving import step as serving


def measured(**change) -> dict:
    m = {
        "endpoint": "own server (loopback)", "contract_from": "x", "load_rows_from": "reference rows",
        "cold_start_s": 2.5,
        "skew": {"rows": 100, "compared": 100, "refused": 0, "refused_by": {}, "label_mismatches": 0,
                 "max_abs_proba_diff": 0.0, "differing_rows": [], "errors": [], "tolerance": 0.0},
        "malformed": [{"case": "body is not JSON", "rule": "not_json", "column": None, "expected": 400, "status": 400,
                       "outcome": "refused"}],
        "load": [{"batch": 1, "concurrency": 1, "requests": 10, "seconds": 0.5, "rps": 20.0, "p50_ms": 40.0,
                  "p95_ms": 50.0, "p99_ms": 60.0, "statuses": {"200": 10}},
                 {"batch": 1, "concurrency": 4, "requests": 10, "seconds": 0.3, "rps": 33.0, "p50_ms": 90.0,
                  "p95_ms": 110.0, "p99_ms": 120.0, "statuses": {"200": 10}}],
        "burst": {"requests": 12, "ok": 5, "shed_503": 7, "other": {}, "crashed": False},
        "storm": {"malformed_sent": 15, "next_valid_status": 200},
        "openapi": {"openapi": "3.1.0"}, "shutdown_exit_code": 0,
    }
    for k, v in change.items():
        m[k] = v
    return m


def recorded(tmp_path, m: dict, **settings) -> dict:
    ctx = SimpleNamespace(config=SimpleNamespace(serving=ServingSettings(**settings)))
    step = Step("serving", tmp_path / f"s{len(list(tmp_path.iterdir()))}")
    serving.record(step, ctx, m)
    step.save()
    return {c["id"]: c for c in step.as_dict()["checks"]}, step


def test_clean_measurements_pass_and_latency_is_not_judged_without_a_gate(tmp_path):
    checks, _ = recorded(tmp_path, measured())
    assert {c["status"] for c in checks.values()} == {"pass"}
    assert set(checks) == set(serving.SERVING_CHECKS)


@pytest.mark.parametrize("change, cid, status", [
    ({"skew": {**measured()["skew"], "label_mismatches": 3, "differing_rows": [1, 4, 9]}}, "serving.skew", "fail"),
    ({"skew": {**measured()["skew"], "proba_mismatches": 2, "differing_rows": [1, 4]}}, "serving.skew", "fail"),
    ({"skew": {**measured()["skew"], "compared": 98, "errors": [[500, "boom"]]}}, "serving.skew", "fail"),
    ({"skew": {**measured()["skew"], "compared": 90, "refused": 10, "refused_by": {"out_of_range": 10}}},
     "serving.door.evaluation_rows_refused", "warn"),
    ({"malformed": [{"case": "c", "rule": "wrong_type", "column": "a", "expected": 422, "status": 200,
                     "outcome": "accepted"}]}, "serving.contract.malformed", "fail"),
    ({"malformed": [{"case": "c", "rule": "not_json", "column": None, "expected": 400, "status": 500,
                     "outcome": "server_error"}]}, "serving.contract.malformed", "fail"),
    ({"burst": {"requests": 12, "ok": 5, "shed_503": 5, "other": {"500": 1, "ReadError": 1}, "crashed": True}},
     "serving.resilience.burst", "fail"),
    ({"storm": {"malformed_sent": 15, "next_valid_status": 500}}, "serving.resilience.after_storm", "fail"),
    ({"shutdown_exit_code": -9}, "serving.shutdown.graceful", "fail"),
])
def test_each_check_fails_on_its_own_failure(tmp_path, change, cid, status):
    checks, _ = recorded(tmp_path, measured(**change))
    assert checks[cid]["status"] == status, checks[cid]
    others = {k: c["status"] for k, c in checks.items() if k != cid and k != "serving.door.evaluation_rows_refused"}
    assert set(others.values()) <= {"pass"}, others


def test_latency_and_throughput_gates_come_from_the_config(tmp_path):
    checks, _ = recorded(tmp_path, measured(), max_p99_ms=100.0, min_rps=50.0)
    assert checks["serving.latency.p99"]["status"] == "fail" and checks["serving.latency.p99"]["value"] == 120.0
    assert checks["serving.throughput.rps"]["status"] == "fail"
    checks, _ = recorded(tmp_path, measured(), max_p99_ms=500.0, min_rps=10.0)
    assert checks["serving.latency.p99"]["status"] == "pass" and checks["serving.throughput.rps"]["status"] == "pass"


def test_wall_clock_figures_stay_out_of_results_json(tmp_path):
    slow = measured()
    slow = copy.deepcopy(slow)
    for lv in slow["load"]:
        lv.update(p99_ms=lv["p99_ms"] * 7, rps=lv["rps"] / 3, p50_ms=lv["p50_ms"] * 5)
    slow["cold_start_s"] = 11.0
    slow["burst"] = {**slow["burst"], "ok": 2, "shed_503": 10}
    _, a = recorded(tmp_path, measured())
    _, b = recorded(tmp_path, slow)
    assert (a.dir / "results.json").read_bytes() == (b.dir / "results.json").read_bytes()
    ta = json.loads((a.dir / "timings.json").read_text())["timings"]
    assert ta["serving.load.c4_b1.p99_ms"] == 120.0 and ta["serving.cold_start_s"] == 2.5


def test_a_pack_without_a_callable_model_skips_every_serving_check(tmp_path):
    from playbook.catalogue import spec

    for cid in serving.SERVING_CHECKS:
        assert spec(cid) is not None and "callable" in spec(cid).needs


def test_skew_tolerates_last_bit_differences_but_not_real_ones():
    """A model's arithmetic on one row and on a batch may differ in the last bits (a logistic regression: 2.2e-16):
    not skew at the step's tolerance; a difference a decision could see is."""
    import json

    import httpx
    import numpy as np
    import pandas as pd

    from playbook.serving.probe import skew

    frame = pd.DataFrame({"a": [0.1, 0.2, 0.3]})
    P = np.array([[0.25, 0.75], [0.6, 0.4], [0.5, 0.5]])
    offline = ["good", "bad", "bad"]

    def served(shift):
        def handler(request):
            rows = json.loads(request.content)["dataframe_split"]["data"]
            idx = [int(round(r[0] * 10)) - 1 for r in rows]
            return httpx.Response(200, json={"predictions": [offline[i] for i in idx], "classes": ["bad", "good"],
                                             "probabilities": [[P[i, 0] + shift, P[i, 1] - shift] for i in idx]})
        return httpx.Client(base_url="http://m.test", transport=httpx.MockTransport(handler))

    tol = serving.ServingParams().tolerance
    quiet = skew(served(2.2e-16), frame, ["a"], offline, P, tolerance=tol)
    assert quiet.label_mismatches == quiet.proba_mismatches == 0 and 0 < quiet.max_abs_proba_diff <= tol
    loud = skew(served(1e-6), frame, ["a"], offline, P, tolerance=tol)
    assert loud.proba_mismatches == 3 and loud.label_mismatches == 0 and loud.differing_rows == [0, 1, 2]
    exact = skew(served(2.2e-16), frame, ["a"], offline, P, tolerance=0.0)
    assert exact.proba_mismatches == 3


def test_skew_narrows_a_refused_batch_down_to_its_refused_rows_and_compares_rows_alone():
    """A batch the door refuses is halved until each refused row is alone (its rule counted), every other row is
    compared from an admitted part, in far fewer requests than one per row; rows sent alone (a seeded sample) are
    compared too, so a model that answers a row alone differently from the same row in a batch is caught."""
    import json

    import httpx
    import numpy as np
    import pandas as pd

    from playbook.serving.probe import skew

    n, bad = 300, {17, 211}
    frame = pd.DataFrame({"a": np.arange(n, dtype=float)})
    offline = ["bad" if i % 3 else "good" for i in range(n)]

    def served(alone_differs: bool):
        calls = []

        def handler(request):
            rows = [int(r[0]) for r in json.loads(request.content)["dataframe_split"]["data"]]
            calls.append(len(rows))
            if bad & set(rows):
                return httpx.Response(422, json={"rule": "out_of_range", "row": 0})
            flip = alone_differs and len(rows) == 1
            return httpx.Response(200, json={"predictions": [
                ("good" if offline[i] == "bad" else "bad") if flip else offline[i] for i in rows]})
        return httpx.Client(base_url="http://m.test", transport=httpx.MockTransport(handler)), calls

    client, calls = served(False)
    sk = skew(client, frame, ["a"], offline, batch=500, one_row=20, seed=0)
    assert sk.refused == 2 and sk.refused_by == {"out_of_range": 2} and sk.compared == n - 2
    assert sk.admitted == [i for i in range(n) if i not in bad] and sk.label_mismatches == 0
    assert sk.one_row_compared == 20 and sk.requests == len(calls) <= 1 + 2 * 2 * 9 + 20  # not 300 + 20
    client, _ = served(True)
    alone = skew(client, frame, ["a"], offline, batch=500, one_row=20, seed=0)
    assert alone.label_mismatches >= 20 and alone.compared == n - 2  # the sample, and rows the halving left alone
    # no batch refused: only the rows sent alone can show it
    clean = frame.iloc[20:200].reset_index(drop=True)
    assert skew(served(True)[0], clean, ["a"], offline[20:200], batch=500, one_row=0).label_mismatches == 0
    assert skew(served(True)[0], clean, ["a"], offline[20:200], batch=500, one_row=5).label_mismatches == 5
