"""The bad-input matrix: each case ends before any step, with exit code 2, one sentence naming the input and the
fix, no traceback and no pack folder. (The cases whose right answer is a finding in a complete pack are in
tests/test_reliability_e2e.py, on one combined messy dataset.)

The command line runs in this process (``playbook.cli.main``) to keep the matrix fast; tests/test_cli.py runs the
real ``python -m playbook`` for a few of the same cases.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from playbook.cli import main


def frames(n_ref=120, n_cur=60, seed=0, classes=("no", "yes")):
    rng = np.random.default_rng(seed)

    def one(n):
        x1, x2 = rng.normal(size=n), rng.normal(size=n)
        c = rng.choice(["a", "b", "c"], size=n)
        y = np.asarray(classes)[(np.digitize(x1 + 0.5 * rng.normal(size=n), [-0.4, 0.4]) if len(classes) == 3
                                 else (x1 > 0).astype(int))]
        return pd.DataFrame({"x1": x1, "x2": x2, "c": c, "label": y})

    return one(n_ref), one(n_cur)


def write(tmp: Path, ref: pd.DataFrame | None = None, cur: pd.DataFrame | None = None) -> None:
    r, c = frames()
    (r if ref is None else ref).to_csv(tmp / "ref.csv", index=False)
    (c if cur is None else cur).to_csv(tmp / "cur.csv", index=False)


DATA = "data: {reference: ref.csv, current: cur.csv, target: label}\n"


def _raw(name: str, content: bytes):
    def setup(tmp):
        write(tmp)
        (tmp / name).write_bytes(content)
        return DATA.replace("ref.csv", name)
    return setup


def _frame(ref_fn=None, cur_fn=None, data=DATA):
    def setup(tmp):
        r, c = frames()
        write(tmp, ref_fn(r) if ref_fn else r, cur_fn(c) if cur_fn else c)
        return data
    return setup


def _folder(kind):
    def setup(tmp):
        write(tmp)
        d = tmp / "parts"
        d.mkdir()
        r, _ = frames()
        r.iloc[:60].to_csv(d / "a.csv", index=False)
        if kind == "mixed":
            r.iloc[60:].rename(columns={"x2": "x_2"}).to_csv(d / "b.csv", index=False)
        else:
            r.iloc[60:].to_csv(tmp / "outside.csv", index=False)
            os.symlink(tmp / "outside.csv", d / "b.csv")
        return DATA.replace("ref.csv", "parts")
    return setup


def _model(kind):
    def setup(tmp):
        r, c = frames()
        write(tmp, r, c if kind != "needs_column" else c.drop(columns=["x2"]))
        p = tmp / ("model.pkl" if kind == "pickle" else "model.skops")
        if kind == "empty":
            p.write_bytes(b"")
        elif kind == "truncated":
            sio.dump(LogisticRegression().fit(r[["x1", "x2"]], r["label"]), p)
            p.write_bytes(p.read_bytes()[:200])
        elif kind == "pickle":
            p.write_bytes(pickle.dumps(LogisticRegression().fit(r[["x1", "x2"]], r["label"])))
        elif kind == "untrusted":
            sio.dump(HistGradientBoostingClassifier(max_iter=3).fit(r[["x1", "x2"]], r["label"]), p)
        elif kind == "needs_column":
            sio.dump(LogisticRegression().fit(r[["x1", "x2"]], r["label"]), p)
        return DATA + f"model: {{path: {p.name}}}\n"
    return setup


def _predictions(kind):
    def setup(tmp):
        classes = ("lo", "mid", "hi") if kind == "multiclass" else ("no", "yes")
        r, c = frames(classes=classes)
        for df in (r, c):
            df["proba"] = 1 / (1 + np.exp(-df["x1"]))
            df["pred"] = np.where(df["proba"] >= 0.5, classes[-1], classes[0])
        if kind == "out_of_range":
            c.loc[c.index[3], "proba"] = 1.7
        elif kind == "short":
            c.loc[c.index[-5:], "proba"] = np.nan  # an export that lost the last scores
        elif kind == "pred_short":
            c.loc[c.index[-2:], "pred"] = np.nan
        write(tmp, r, c)
        probs = "[proba, proba]" if kind == "multiclass" else "proba"
        return f"data: {{reference: ref.csv, current: cur.csv, target: label, prediction: pred, probability: {probs}}}\n"
    return setup


def _config(text):
    def setup(tmp):
        write(tmp)
        return text
    return setup


WIDE = 5000


def _wide(tmp):
    text = (",".join(f"f{i}" for i in range(WIDE)) + ",label\n"
            + "\n".join(",".join(["1"] * WIDE) + f",{y}" for y in ("yes", "no", "yes")) + "\n")
    (tmp / "ref.csv").write_text(text)
    (tmp / "cur.csv").write_text(text)
    return DATA

CASES = {
    # data files
    "empty file": (_raw("e.csv", b""), ["data.reference", "e.csv", "the file is empty"]),
    "header only": (_raw("h.csv", b"x1,x2,c,label\n"), ["data.reference", "has a header but no rows"]),
    "binary garbage": (_raw("g.csv", bytes(range(256)) * 40), ["data.reference", "holds binary data, not CSV text"]),
    "wrong delimiter": (_raw("s.csv", b"x1;x2;c;label\n1;2;a;yes\n2;3;b;no\n"),
                        ["data.reference", "looks semicolon-separated", "re-export it comma-separated"]),
    "duplicate column names": (_raw("d.csv", b"x1,x1,c,label\n1,2,a,yes\n2,3,b,no\n"),
                               ["duplicate column names ['x1']"]),
    "empty column name": (_raw("u.csv", b",x1,label\n0,1,yes\n1,2,no\n"), ["column 1 has an empty name", "index=False"]),
    "blank column name": (_raw("b.csv", b"x1,   ,label\n0,1,yes\n1,2,no\n"), ["column 2 has a name of only blanks"]),
    "10,000-character column name": (_raw("l.csv", b"x" * 10_000 + b",label\n1,yes\n2,no\n"),
                                     ["column 1 has a name of 10000 characters", "at most 255"]),
    "5,000 columns": (_wide, ["data.features: the data has 5000 feature columns", "list the features the model uses"]),
    "data folder with mixed schemas": (_folder("mixed"), ["data.reference", "has different columns", "share one header"]),
    "symlink out of the data folder": (_folder("symlink"), ["data.reference", "is a symbolic link to", "outside the folder"]),
    # columns and roles
    "target absent": (_frame(lambda r: r.drop(columns=["label"])),
                      ["data.target: column 'label' is not in the reference data"]),
    "target all missing": (_frame(lambda r: r.assign(label=np.nan)), ["data.target", "has no values in the reference"]),
    "one class only": (_frame(lambda r: r.assign(label="yes")), ["data.target", "has a single class ('yes')"]),
    "current shares no feature": (_frame(cur_fn=lambda c: c[["label"]].assign(z=1)),
                                  ["data.current: none of the reference's 3 feature column"]),
    # config
    "config unknown key": (_config(DATA + "modle: {path: m.skops}\n"), ["modle: unknown key (did you mean 'model'?)"]),
    "config wrong type": (_config(DATA + "seed: lucky\n"), ["seed: expected a whole number, got str 'lucky'"]),
    "config missing required key": (_config("data: {reference: ref.csv, current: cur.csv}\n"),
                                    ["data.target: required key missing"]),
    "config invalid YAML": (_config("data: {reference: ref.csv, current: cur.csv\n"), ["not valid YAML at line"]),
    "config YAML tag building objects": (_config("data: !!python/object/apply:os.system ['touch PWNED']\n"),
                                         ["the YAML tag !!python/object/apply:os.system", "not allowed"]),
    # model files
    "model file empty": (_model("empty"), ["model.path: model.skops is not a readable skops file"]),
    "model file truncated": (_model("truncated"), ["model.path: model.skops is not a readable skops file"]),
    "pickle without permission": (_model("pickle"), ["model.pkl is a pickle/joblib file", "model.allow_pickle: true"]),
    "skops file with untrusted types": (_model("untrusted"), ["contains types skops does not trust", "model.trusted_types"]),
    "model needs a column the current data lacks": (_model("needs_column"), ["model.path: model.skops expects feature column(s) ['x2'] that are not in the current data"]),
    # model outputs in the data
    "probability out of [0, 1]": (_predictions("out_of_range"), ["data.probability: column 'proba' holds 1.7", "outside [0, 1]"]),
    "probability column too short": (_predictions("short"), ["data.probability: column 'proba' lacks a probability for 5 rows"]),
    "prediction column too short": (_predictions("pred_short"), ["data.prediction: column 'pred' lacks a prediction for 2"]),
    "probability columns of the wrong number": (_predictions("multiclass"), ["data.probability: 2 columns for 3 classes"]),
}


def _assert_bad_input(code, err, out: Path, *fragments):
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("playbook: error: ") and lines[0].endswith("."), lines[0]
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_matrix(tmp_path, capsys, monkeypatch, case):
    setup, fragments = CASES[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pack.yaml").write_text(setup(tmp_path))
    out = tmp_path / "evidence"
    code = main(["run", str(tmp_path / "pack.yaml"), "--out", str(out), "-q"])
    _assert_bad_input(code, capsys.readouterr().err, out, *fragments)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("override, fragments", [
    ("seed=-1", ["seed: -1 is not a valid seed"]),
    ("steps.data_audit.params.max_categories='50'", ["steps.data_audit.params.max_categories: expected a whole number, got the text '50'"]),
    ("steps.data_audit.params.max_categories=1e400", ["max_categories", "got the text '1e400'"]),
    ("steps.data_audit.params.max_missing_share=1.0e+400", ["steps.data_audit.params.max_missing_share: inf is not a finite number"]),
    ("steps.data_audit.params.run_date=2024-13-45", ["steps.data_audit.params.run_date: '2024-13-45' is not a valid date"]),
    ("steps.drift_simulation.params.severities=[0.5, 2]", ["severities[1]: 2 is out of range"]),
    ("steps.monitoring_setup.timeout=0", ["steps.monitoring_setup.timeout: must be a positive number of seconds"]),
    ("data.target=!!python/name:os.system", ["YAML tags are not allowed"]),
])
def test_bad_overrides(tmp_path, capsys, override, fragments):
    write(tmp_path)
    (tmp_path / "pack.yaml").write_text(DATA)
    out = tmp_path / "evidence"
    code = main(["run", str(tmp_path / "pack.yaml"), "--out", str(out), "-q", "-p", override])
    _assert_bad_input(code, capsys.readouterr().err, out, *fragments)


@pytest.mark.parametrize("where", ["file", "sys"])
def test_unwritable_output_folder(tmp_path, capsys, where):
    write(tmp_path)
    (tmp_path / "pack.yaml").write_text(DATA)
    if where == "file":
        (tmp_path / "plain").write_text("x")
        out = tmp_path / "plain" / "evidence"
    else:  # sysfs takes no new file, not even from root
        if not os.path.isdir("/sys/kernel"):
            pytest.skip("no /sys on this system")
        out = Path("/sys/kernel/playbook-evidence")
    code = main(["run", str(tmp_path / "pack.yaml"), "--out", str(out), "-q"])
    _assert_bad_input(code, capsys.readouterr().err, out, "cannot write there", "choose a writable folder")
