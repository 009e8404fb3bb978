"""The workshop: five short exercises that check themselves, and the onboarding helpers.

The notebooks live in ``workshop/`` (exercises) and ``workshop/solutions/`` (the same notebooks with the answers;
``python -m playbook.workshop exercises`` regenerates the exercises from them). Each exercise leaves ``answer = ...``
for the learner and calls a checker that computes the right answer from the data and the library at check time:

==================  ================================================================================================
``check_audit``     1: which column (or dataset) shows each fault planted by :func:`messy_credit`
``check_detector``  2: the column, drift test and threshold that catch an injected fault without false alarms
``check_threshold`` 3: the decision threshold that maximises the value per day (:mod:`playbook.evaluate.business`)
``check_monitor``   4: a false-alarm budget and a batch size whose calibrated monitor catches a fault
``check_verdict``   5: a pack's verdict and the check that blocks it (its ``summary.json``)
==================  ================================================================================================

Helpers: :mod:`~playbook.workshop.data` (the bundled and messy data, batches, faults),
:mod:`~playbook.workshop.feedback` (what a checker returns, ``feedback.json``), :mod:`~playbook.workshop.packs`
(the small pack exercise 5 reads, the CSV split of the tutorial), :mod:`~playbook.workshop.notebooks` (exercise
notebooks from solution notebooks).
"""

from __future__ import annotations

from playbook.workshop.checks import (
    AUDIT_EVIDENCE, audit_answers, check_audit, check_detector, check_monitor, check_threshold, check_verdict,
    detector_table, monitor_trial, pack_decision, run_messy_audit, value_per_day,
)
from playbook.workshop.data import PROBLEMS, batches, bundled, messy_credit, roles_for, with_fault
from playbook.workshop.feedback import RECORD, Feedback, save_feedback, summary

__all__ = [
    "AUDIT_EVIDENCE", "Feedback", "PROBLEMS", "RECORD", "audit_answers", "batches", "bundled", "check_audit",
    "check_detector", "check_monitor", "check_threshold", "check_verdict", "detector_table", "messy_credit",
    "monitor_trial", "pack_decision", "roles_for", "run_messy_audit", "save_feedback", "summary", "value_per_day",
    "with_fault",
]
