"""Monitoring setup: calibrated monitors, the deployable ``monitoring.yaml``, ``playbook monitor``, an Evidently
workspace and label-free performance estimation.

Modules:

* :mod:`~playbook.monitoring.stats` - column profiles (reference bins) and the drift statistics;
* :mod:`~playbook.monitoring.calibrate` - monitors and their bootstrap calibration to a false-alarm budget;
* :mod:`~playbook.monitoring.performance` - confidence-based performance estimation (CBPE) and realized metrics;
* :mod:`~playbook.monitoring.setup` - from a pack context to calibrated monitors and the config mapping;
* :mod:`~playbook.monitoring.spec` - the ``monitoring.yaml`` schema: write, load, validate;
* :mod:`~playbook.monitoring.check` - judge one batch (contract, drift, performance), Prometheus output;
* :mod:`~playbook.monitoring.command` - the ``playbook monitor`` command;
* :mod:`~playbook.monitoring.simulate` - detection power against the drift step's faults, simulated days;
* :mod:`~playbook.monitoring.dashboard` - the Evidently workspace;
* :mod:`~playbook.monitoring.checks` - the step's checks and figures;
* :mod:`~playbook.monitoring.alerts` - Prometheus alerting rules from ``monitoring.yaml``;
* :mod:`~playbook.monitoring.grafana` - the Grafana dashboard from ``monitoring.yaml``;
* :mod:`~playbook.monitoring.handoff` - both written beside ``monitoring.yaml``, with their checks.

Heavy imports stay inside the submodules, so ``import playbook.monitoring`` is cheap.
"""

from __future__ import annotations

__all__ = ["load_spec", "check_batch", "calibrate", "make_config"]


def __getattr__(name):
    if name == "load_spec":
        from playbook.monitoring.spec import load_spec

        return load_spec
    if name == "check_batch":
        from playbook.monitoring.check import check_batch

        return check_batch
    if name == "calibrate":
        from playbook.monitoring.calibrate import calibrate

        return calibrate
    if name == "make_config":
        from playbook.monitoring.setup import make_config

        return make_config
    raise AttributeError(name)
