"""The exercise checkers: is the learner's answer right, and why (or which evidence to look at)?

Each checker computes the right answer at check time from the data it is given and the library (the audit, the
drift tests, the business view, the calibrated monitor, the pack's summary), never from a stored answer, and
returns a :class:`~playbook.workshop.feedback.Feedback`. A placeholder ``...`` left in place, an answer of the
wrong type or shape, and a wrong value are each rejected with a hint naming the evidence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from playbook.workshop.feedback import Feedback, as_number, give, keys_problem, placeholder, unanswered

# -- exercise 1: audit a messy dataset ----------------------------------------------------------------------------
#: for each problem: the audit check (id prefix) whose details name it
AUDIT_EVIDENCE = {
    "duplicates": "data.uniqueness.duplicate_rows.<dataset>",
    "constant": "data.validity.constant.<dataset>",
    "unit_change": "data.contract.current_valid (its range violations)",
    "missing": "data.completeness.column_missing.<dataset>",
    "leak": "data.leakage.single_feature",
    "person_name": "the privacy scan (scan.table(): kind person_name)",
}


def _by_prefix(checks: list[dict], prefix: str) -> list[dict]:
    return [c for c in checks if c["id"] == prefix or c["id"].startswith(prefix + ".")]


def audit_answers(checks: list[dict], scan) -> dict[str, set[str]]:
    """The right answer to each problem of exercise 1, read from the audit's checks and the privacy scan: the
    dataset(s) with duplicate rows, the column(s) named by the constant, missing, leakage and contract-range
    findings, and the column(s) the scan flags as person names."""
    out: dict[str, set[str]] = {k: set() for k in AUDIT_EVIDENCE}
    for c in _by_prefix(checks, "data.uniqueness.duplicate_rows"):
        if c["status"] in ("warn", "fail"):
            out["duplicates"].add(c["id"].rsplit(".", 1)[-1])
    for c in _by_prefix(checks, "data.validity.constant"):
        if c["status"] in ("warn", "fail"):
            out["constant"] |= {d["column"] for d in c.get("details") or []}
    for c in _by_prefix(checks, "data.completeness.column_missing"):
        if c["status"] in ("warn", "fail"):
            out["missing"] |= {d["column"] for d in c.get("details") or []}
    for c in _by_prefix(checks, "data.leakage.single_feature"):
        limit = (c.get("threshold") or {}).get("max")
        if c["status"] in ("warn", "fail") and limit is not None:
            out["leak"] |= {d["feature"] for d in c.get("details") or [] if (d.get("score") or 0) > limit}
    for c in _by_prefix(checks, "data.contract.current_valid"):
        rows = [d for d in c.get("details") or [] if d.get("kind") == "range"]
        if rows:  # a unit change moves (nearly) the whole column out of the reference's range
            worst = max(d["share"] for d in rows)
            out["unit_change"] |= {d["column"] for d in rows if d["share"] >= 0.5 * worst and d["share"] >= 0.5}
    out["person_name"] = {f.column for f in scan.findings if f.flagged and f.kind == "person_name"}
    return out


def run_messy_audit(reference: pd.DataFrame, current: pd.DataFrame, target: str = "creditability",
                    positive_label: Any = "bad"):
    """The audit (:func:`playbook.audit.run_audit`, no report) and the privacy scan of two frames:
    ``(checks, scan)``."""
    from playbook import audit, privacy
    from playbook.data import fingerprint_frame
    from playbook.workshop.data import roles_for

    key = (fingerprint_frame(reference), fingerprint_frame(current), target, str(positive_label))
    if key not in _AUDITS:  # the same frames give the same findings: audit them once per kernel
        roles = roles_for(reference, current, target, positive_label)
        checks, _ = audit.run_audit(reference, current, roles, audit.AuditParams(), report=False)
        _AUDITS[key] = (checks, privacy.scan_data(reference, current, skip=[target]))
    return _AUDITS[key]


_AUDITS: dict[tuple, tuple] = {}


def check_audit(answer: Any, reference: pd.DataFrame, current: pd.DataFrame, target: str = "creditability",
                positive_label: Any = "bad") -> Feedback:
    """Exercise 1: ``answer`` maps each problem of :data:`AUDIT_EVIDENCE` to the column (for ``duplicates``: the
    dataset, ``"reference"`` or ``"current"``) where the audit found it."""
    ex = "audit"
    keys = list(AUDIT_EVIDENCE)
    if unanswered(answer):
        return placeholder(ex, "a column name (or, for duplicates, 'reference' or 'current') for each problem")
    bad = keys_problem(ex, answer, keys, "{'duplicates': 'reference', 'constant': 'some_column', ...}")
    if bad is not None:
        return bad
    not_text = [k for k in keys if not isinstance(answer[k], str)]
    if not_text:
        return give(ex, False, f"each value must be a column name as text; {', '.join(map(repr, not_text))} "
                    f"{'is' if len(not_text) == 1 else 'are'} not.", "the audit tables print column names: copy one.")
    checks, scan = run_messy_audit(reference, current, target, positive_label)
    right = audit_answers(checks, scan)
    wrong = [k for k in keys if answer[k].strip() not in right[k]]
    if wrong:
        k = wrong[0]
        extra = f" ({len(wrong)} of {len(keys)} answers are not right yet)" if len(wrong) > 1 else ""
        return give(ex, False, f"{k!r}: {answer[k]!r} is not where the audit found this problem{extra}.",
                    f"the details of {AUDIT_EVIDENCE[k]}: they name the "
                    f"{'dataset' if k == 'duplicates' else 'column'}.")
    why = {
        "duplicates": "repeated rows over-weight some cases and leak between train and test",
        "constant": "a feature that never changes carries no signal and hides a broken upstream job",
        "unit_change": "the current values all sit outside the reference's range: the unit changed, not the customers",
        "missing": "a column this empty mostly teaches the model the imputation",
        "leak": "alone it predicts the label almost perfectly: it is recorded after the outcome",
        "person_name": "personal data: masked in the pack and never a model feature",
    }
    return give(ex, True, "every problem found. " + "; ".join(f"{k} in {answer[k]!r}: {why[k]}" for k in keys) + ".")


# -- exercise 2: break a model with a fault and catch it -----------------------------------------------------------
#: drift tests (playbook.drift.detect.TESTS) that suit each column kind
TESTS_FOR_KIND = {"numeric": ("ks", "wasserstein"), "categorical": ("chisquare", "jensenshannon", "z")}


def detector_table(reference: pd.DataFrame, clean: Sequence[pd.DataFrame], faulty: Sequence[pd.DataFrame],
                   column: str) -> pd.DataFrame:
    """Every test that suits ``column``'s kind, on every clean and every faulty batch: the statistic's range on
    each (``p_value`` tests drift when it is small, ``distance`` tests when it is large) and Evidently's default
    threshold."""
    from playbook.drift.detect import TESTS, column_statistic, infer_kind

    kind = infer_kind(reference[column])
    rows = []
    for test in TESTS_FOR_KIND.get(kind, ()):
        if test == "z" and reference[column].nunique() > 2:
            continue
        spec = TESTS[test]
        c = np.array([column_statistic(test, reference[column], b[column], kind) for b in clean], dtype=float)
        f = np.array([column_statistic(test, reference[column], b[column], kind) for b in faulty], dtype=float)
        rows.append({"test": test, "statistic": spec.statistic, "default_threshold": spec.threshold,
                     "clean_min": c.min(), "clean_max": c.max(), "faulty_min": f.min(), "faulty_max": f.max()})
    return pd.DataFrame(rows)


def alarms(test: str, threshold: float, reference: pd.Series, batches_: Sequence[pd.DataFrame], column: str,
           kind: str) -> int:
    """How many of the batches the test raises a drift alarm on at ``threshold``."""
    from playbook.drift.detect import column_statistic, is_drift

    return int(sum(is_drift(test, column_statistic(test, reference, b[column], kind), threshold) for b in batches_))


def check_detector(answer: Any, reference: pd.DataFrame, clean: Sequence[pd.DataFrame],
                   faulty: Sequence[pd.DataFrame], fault_info: dict, *, max_false_alarm_share: float = 0.05,
                   min_detection_share: float = 0.9) -> Feedback:
    """Exercise 2: ``answer = {"column", "test", "threshold"}`` must watch a column the fault hit with a test that
    suits its kind, alarm on at least ``min_detection_share`` of the faulty batches and on at most
    ``max_false_alarm_share`` of the clean ones."""
    from playbook.drift.detect import TESTS, infer_kind

    ex = "detector"
    if unanswered(answer):
        return placeholder(ex, "the column to watch, a test name and its threshold")
    bad = keys_problem(ex, answer, ["column", "test", "threshold"],
                       "{'column': 'credit_amount', 'test': 'ks', 'threshold': 0.05}")
    if bad is not None:
        return bad
    col, test, thr = answer["column"], answer["test"], as_number(answer["threshold"])
    hit = list(fault_info.get("columns") or [])
    if not isinstance(col, str) or col not in reference.columns:
        return give(ex, False, f"column {col!r} is not a column of the data.", "the columns of `reference`.")
    if col not in hit:
        return give(ex, False, f"the fault did not touch {col!r}: a monitor on it cannot catch this fault.",
                    "`info['columns']`: the columns the fault was injected into.")
    kind = infer_kind(reference[col])
    suited = TESTS_FOR_KIND.get(kind, ())
    if not isinstance(test, str) or test not in TESTS:
        return give(ex, False, f"test {test!r} is not a drift test; the tests are {', '.join(sorted(TESTS))}.",
                    "the `test` column of the detector table.")
    if test not in suited:
        return give(ex, False, f"{test!r} does not suit a {kind} column like {col!r}; use one of "
                    f"{', '.join(suited)}.", "the detector table lists the tests that suit this column.")
    if thr is None:
        return give(ex, False, f"the threshold must be a number; got {answer['threshold']!r}.",
                    "the `default_threshold` column of the detector table shows what a threshold looks like.")
    spec = TESTS[test]
    if spec.statistic == "p_value" and not 0 < thr < 1:
        return give(ex, False, f"{test!r} gives a p-value: its threshold must be between 0 and 1, not {thr}.",
                    "the `clean_min` / `faulty_max` columns of the detector table.")
    if thr <= 0:
        return give(ex, False, f"a distance threshold must be above 0, not {thr}.", "the detector table.")
    ref = reference[col]
    caught, noisy = alarms(test, thr, ref, faulty, col, kind), alarms(test, thr, ref, clean, col, kind)
    need = int(np.ceil(min_detection_share * len(faulty)))
    allowed = int(np.floor(max_false_alarm_share * len(clean)))
    if caught < need:
        why = (" A p-value test such as KS compares ranks: a few values 1000 times too large barely move them."
               if spec.statistic == "p_value" else "")
        return give(ex, False, f"{test} at {thr:g} catches the fault on only {caught} of {len(faulty)} faulty batches "
                    f"(at least {need} needed).{why}", f"the `faulty_min` / `faulty_max` of {test!r} in the detector "
                    "table: on which side of your threshold do the faulty batches fall?")
    if noisy > allowed:
        return give(ex, False, f"{test} at {thr:g} catches the fault but also alarms on {noisy} of {len(clean)} clean "
                    f"batches (at most {allowed} allowed): on-call would learn to ignore it.",
                    f"the `clean_min` / `clean_max` of {test!r} in the detector table: move the threshold past "
                    "what clean batches reach.")
    return give(ex, True, f"{test} at {thr:g} on {col!r} alarms on {caught} of {len(faulty)} faulty batches and "
                f"{noisy} of {len(clean)} clean ones: it catches the fault without crying wolf.")


# -- exercise 3: choose a business threshold ---------------------------------------------------------------------
def value_per_day(threshold: float, y: np.ndarray, p: np.ndarray, business) -> float:
    """Value per day of flagging the rows with ``p >= threshold`` (costs, values and volume of ``business``)."""
    from playbook.evaluate.business import costs_of, value_of

    c = costs_of(business)
    y = np.asarray(y, dtype=int)
    flag = np.asarray(p, dtype=float) >= threshold
    tp, fp = int((flag & (y == 1)).sum()), int((flag & (y == 0)).sum())
    fn, tn = int((~flag & (y == 1)).sum()), int((~flag & (y == 0)).sum())
    per_decision = float(value_of(tp, fp, tn, fn, c)) / max(len(y), 1)
    return per_decision * float(c["volume_per_day"]) - float(c["compute_cost_per_1k"]) * float(c["volume_per_day"]) / 1000


def check_threshold(answer: Any, y: np.ndarray, p: np.ndarray, business) -> Feedback:
    """Exercise 3: ``answer`` is a decision threshold (flag when P(positive) >= it) that maximises the value per
    day of :func:`playbook.evaluate.business.business_view` on these rows."""
    from playbook.evaluate.business import business_view

    ex = "threshold"
    if unanswered(answer):
        return placeholder(ex, "a decision threshold between 0 and 1")
    thr = as_number(answer)
    if thr is None:
        return give(ex, False, f"the threshold must be a number between 0 and 1; got a {type(answer).__name__}.",
                    "the `threshold` column of the value curve.")
    if not 0 <= thr <= 1:
        return give(ex, False, f"{thr:g} is not a probability threshold: it must be between 0 and 1.",
                    "the `threshold` column of the value curve.")
    view = business_view(y, p, business)
    best = view["value_per_day"]
    got = value_per_day(thr, y, p, business)
    cur = view["currency"]
    if got < best - 1e-9:
        hint = "the row of the value curve where `value_per_decision` is largest."
        if abs(thr - 0.5) < 1e-12:
            hint = "0.5 ignores the costs: " + hint
        elif abs(thr - view["cost_implied_threshold"]) < 1e-9:
            hint = ("the cost-implied threshold is right only for a perfectly calibrated model; " + hint)
        return give(ex, False, f"at {thr:g} the decisions are worth {got:,.1f} {cur} per day; another threshold "
                    f"gives {best:,.1f} {cur} per day on these rows.", hint)
    return give(ex, True, f"at {thr:g} the decisions are worth {got:,.1f} {cur} per day, the most any threshold gives on "
                f"these rows ({view['uplift_per_day']:,.1f} {cur} per day more than the best policy without a model, "
                f"{view['best_trivial_policy'].replace('_', ' ')}). It was chosen on the rows it is judged on, so "
                "the pack checks the value at thresholds that do not look at them (model.business.value_per_day).")


# -- exercise 4: configure and test a monitor ------------------------------------------------------------------------
def monitor_trial(reference: pd.DataFrame, faulty_pool: pd.DataFrame, features: list[str], numeric: list[str],
                  batch_size: int, budget: float, *, replicates: int = 2000, holdout: int = 500,
                  power_replicates: int = 200, seed: int = 0) -> dict:
    """Calibrate the monitor on ``reference`` (one drift test per feature plus out-of-range counts,
    :func:`playbook.monitoring.setup.build_monitors`) to a false-alarm ``budget`` per batch of ``batch_size`` rows,
    then measure its false-alarm rate on fresh no-drift batches and its power on ``faulty_pool``."""
    from playbook.monitoring.calibrate import calibrate, detection_power
    from playbook.monitoring.setup import build_monitors

    monitors = build_monitors(reference, features, numeric, None)
    cal = calibrate(monitors, reference, int(batch_size), alpha=float(budget), replicates=replicates, holdout=holdout,
                    seed=seed)
    pw = detection_power(monitors, faulty_pool, int(batch_size), replicates=power_replicates, seed=seed)
    return {"batch_size": int(batch_size), "budget": float(budget),
            "false_alarm_rate_held_out": cal.false_alarm_rate_holdout, "power": pw["power"],
            "top_monitors": pw["top_monitors"][:3]}


def check_monitor(answer: Any, reference: pd.DataFrame, faulty_pool: pd.DataFrame, features: list[str],
                  numeric: list[str], *, tolerated_budget: float, volume_per_day: int, min_power: float = 0.9,
                  replicates: int = 2000, seed: int = 0) -> Feedback:
    """Exercise 4: ``answer = {"false_alarm_budget", "batch_size"}``: a budget within what on-call tolerates, a batch
    no larger than a day's volume, and a calibrated monitor that catches the fault on at least ``min_power`` of
    the batches."""
    ex = "monitor"
    if unanswered(answer):
        return placeholder(ex, "a false-alarm budget (alarms per batch) and a batch size (rows)")
    bad = keys_problem(ex, answer, ["false_alarm_budget", "batch_size"],
                       "{'false_alarm_budget': 0.01, 'batch_size': 50}")
    if bad is not None:
        return bad
    budget, size = as_number(answer["false_alarm_budget"]), answer["batch_size"]
    if budget is None or not 0 < budget < 1:
        return give(ex, False, f"the false-alarm budget is a probability per batch, between 0 and 1 "
                    f"(1/30: one false alarm a month of daily batches); got {answer['false_alarm_budget']!r}.",
                    "`tolerated_budget` in the parameters cell.")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        return give(ex, False, f"the batch size is a whole number of rows; got {size!r}.",
                    "`volume_per_day` in the parameters cell.")
    if budget > tolerated_budget + 1e-12:
        return give(ex, False, f"a budget of {budget:.3g} false alarms per batch is more than on-call tolerates "
                    f"({tolerated_budget:.3g}): they would mute the monitor.", "`tolerated_budget`: a larger budget "
                    "buys power with alarms nobody trusts; find the power elsewhere.")
    if size > volume_per_day:
        return give(ex, False, f"a batch of {size} rows is more than a day brings ({volume_per_day}): the monitor "
                    "would answer a day late.", "`volume_per_day` (the pack config's business.volume_per_day).")
    trial = monitor_trial(reference, faulty_pool, features, numeric, int(size), budget, replicates=replicates,
                          seed=seed)
    if trial["power"] < min_power:
        return give(ex, False, f"with batches of {size} rows and a budget of {budget:.3g}, the monitor catches the "
                    f"fault on {trial['power']:.0%} of the batches (at least {min_power:.0%} needed).",
                    "the `power` column of your trials: how does it change with the batch size? A larger batch "
                    "averages out the noise, so the same budget allows a tighter threshold.")
    return give(ex, True, f"with batches of {size} rows and a budget of {budget:.3g} false alarms per batch, the "
                f"calibrated monitor alarms on {trial['false_alarm_rate_held_out']:.1%} of fresh clean batches and "
                f"catches the fault on {trial['power']:.0%} of faulty ones (first by {', '.join(trial['top_monitors'])}).")


# -- exercise 5: read a pack and decide --------------------------------------------------------------------------
def pack_decision(pack: str | Path) -> tuple[str, set[str]]:
    """The pack's verdict and the checks that block it (its summary.json ``reasons``)."""
    summary = json.loads((Path(pack) / "summary.json").read_text(encoding="utf-8"))
    blocking = {r.get("check") or r.get("step") for r in summary.get("reasons", []) if r.get("check") or r.get("step")}
    return summary["verdict"], blocking


VERDICTS = ("go", "no-go", "incomplete", "error")


def check_verdict(answer: Any, pack: str | Path) -> Feedback:
    """Exercise 5: ``answer = {"verdict", "blocking"}``: the pack's verdict and the check id(s) behind it
    (``None`` or ``[]`` for a go)."""
    ex = "verdict"
    if unanswered(answer):
        return placeholder(ex, "the verdict and the id of the check that blocks it")
    bad = keys_problem(ex, answer, ["verdict", "blocking"], "{'verdict': 'go', 'blocking': None}")
    if bad is not None:
        return bad
    verdict, blocking = answer["verdict"], answer["blocking"]
    if not isinstance(verdict, str) or verdict not in VERDICTS:
        return give(ex, False, f"the verdict is one of {', '.join(VERDICTS)}; got {verdict!r}.",
                    "the top of index.html, or summary['verdict'].")
    if blocking is None:
        named: set[str] = set()
    elif isinstance(blocking, str):
        named = {blocking}
    elif isinstance(blocking, (list, tuple, set)) and all(isinstance(b, str) for b in blocking):
        named = set(blocking)
    else:
        return give(ex, False, "`blocking` is a check id (text), a list of them, or None for a go; got a "
                    f"{type(blocking).__name__}.", "summary['reasons']: each names a check.")
    right_verdict, right_blocking = pack_decision(pack)
    if verdict != right_verdict:
        return give(ex, False, f"{verdict!r} is not the pack's verdict.", "the gates table of index.html: is any "
                    "blocking gate failed (no-go), or without evidence (incomplete)?")
    if named != right_blocking:
        if not right_blocking:
            return give(ex, False, "nothing blocks this pack: `blocking` should be None.", "summary['reasons'] is empty.")
        missing, extra = sorted(right_blocking - named), sorted(named - right_blocking)
        what = (f"a blocking check is missing from your answer ({len(missing)} of {len(right_blocking)})" if missing
                else f"{', '.join(extra)} does not block this pack")
        return give(ex, False, f"the verdict is right, but not the blocking reason: {what}.",
                    "summary['reasons'] (the first lines of index.html): each reason names the check id that blocks.")
    if not right_blocking:
        return give(ex, True, f"the verdict is {verdict!r}: every blocking gate passed on complete evidence.")
    return give(ex, True, f"the verdict is {verdict!r}, blocked by {', '.join(sorted(right_blocking))}: fix that "
                "evidence (or the data behind it) and build the pack again; never edit a pack by hand.")
