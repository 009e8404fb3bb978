import json

import numpy as np
import pytest

from playbook.results import Step, to_jsonable


def test_step_writes_deterministic_results(tmp_path):
    def record(d):
        s = Step("demo", d)
        s.check("custom.b_second", "B", "warn", value=np.float64(0.1) + np.float64(0.2), threshold={"max": 0.3})
        s.check("custom.a_first", "A", "pass", value=np.int64(3))
        s.metric("m", np.array([1.0, 2.0]))
        s.timing("seconds", 1.234)
        with open(s.artifact("sub/x.txt"), "w") as fh:
            fh.write("x")
        s.save()
        return (d / "results.json").read_bytes()

    a, b = record(tmp_path / "1"), record(tmp_path / "2")
    assert a == b
    res = json.loads(a)
    assert [c["id"] for c in res["checks"]] == ["custom.a_first", "custom.b_second"]
    assert res["status"] == "warn" and res["artifacts"] == ["artifacts/sub/x.txt"]
    assert "seconds" not in a.decode()
    assert json.loads((tmp_path / "1" / "timings.json").read_text())["timings"]["seconds"] == 1.234


def test_check_validation(tmp_path):
    s = Step("demo", tmp_path)
    with pytest.raises(ValueError, match="status"):
        s.check("custom.a", "x", "ok")
    with pytest.raises(ValueError, match="dotted"):
        s.check("a b", "x", "pass")
    with pytest.raises(ValueError, match="not declared in playbook/catalogue.py .did you mean 'model.roc_auc'"):
        s.check("model.roc_acu", "x", "pass")
    with pytest.raises(ValueError, match="inside artifacts"):
        s.artifact("../escape.txt")
    s.check("custom.a", "x", "fail")
    s.check("custom.a", "x", "pass")  # re-running a cell replaces the record
    assert s.status() == "pass" and len(s.checks) == 1


def test_to_jsonable():
    assert to_jsonable(float("nan")) is None
    assert to_jsonable(float("inf")) == "inf"
    assert to_jsonable(np.bool_(True)) is True
    assert to_jsonable({1: (np.int32(2),)}) == {"1": [2]}
    assert to_jsonable(0.1 + 0.2) == 0.3
