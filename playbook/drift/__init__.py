"""Shift injection, drift detection and the sensitivity simulation.

* :mod:`playbook.drift.shifts` - production faults as pure, seeded functions (``SHIFTS``, ``apply``).
* :mod:`playbook.drift.timeline` - sequences of daily batches with sudden, gradual or recurring drift.
* :mod:`playbook.drift.detect` - per-column drift tests as Evidently 0.7 chooses them (with a fast
  path for large batches), dataset drift, data-contract violations, performance of labeled batches.
* :mod:`playbook.drift.simulate` - the sensitivity matrix, time to detection, power by batch size.
"""
