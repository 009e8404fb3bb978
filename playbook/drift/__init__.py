"""Shift injection, drift detection and the sensitivity simulation.

* :mod:`playbook.drift.shifts` - production faults as pure, seeded functions (``SHIFTS``, ``apply``).
* :mod:`playbook.drift.timeline` - sequences of daily batches with sudden, gradual or recurring drift.
* :mod:`playbook.drift.detect` - per-column drift tests as Evidently 0.7 chooses them (with a fast
  path for large batches), dataset drift, data-contract violations.
* :mod:`playbook.drift.simulate` - the simulation's façade (what the template imports), over
  :mod:`~playbook.drift.monitors` (the monitors rehearsed on each batch and the metric the model is scored with),
  :mod:`~playbook.drift.engine` (the sweep, the sensitivity matrix, time to detection, power by batch size),
  :mod:`~playbook.drift.checks` (the ``drift.*`` checks), :mod:`~playbook.drift.plots` and
  :mod:`~playbook.drift.artifacts`.
"""
