"""The small step parameters the tests run the templates with, defined once.

* :data:`SMALL_STEPS`: the steps of ``tests/data/small.yaml``, the config of the shared small packs
  (``bundled_pack``, ``test_pack_e2e``, the governance and reliability packs). The YAML file is the one place they
  are written (``playbook run`` reads it as it is); everything else reads them from here.
* :func:`small`: one step's small parameters, with a test's own changes on top (named, so a reader sees what the
  test varies), for a template executed alone (``tests/test_*_template.py``).
* :data:`QUICK` / :data:`SMALL_PARAMS`: the fewer repetitions a newcomer's own-data pack runs with
  (``conftest.own_pack``: the config holds only the data, so these are command-line overrides).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SMALL_CONFIG = ROOT / "tests" / "data" / "small.yaml"
SMALL_STEPS: dict[str, dict] = {step: dict((entry or {}).get("params") or {}) for step, entry in
                                (yaml.safe_load(SMALL_CONFIG.read_text(encoding="utf-8")).get("steps") or {}).items()}


def small(step: str, **changes) -> dict:
    """``step``'s parameters in ``tests/data/small.yaml``, with ``changes`` on top."""
    return {**SMALL_STEPS[step], **changes}


QUICK: dict[str, dict] = {
    "drift_simulation": {"trials": 3, "severities": [0.5, 1.0], "timelines": ["sudden"], "power_batch_sizes": []},
    "model_evaluation": {"n_bootstrap": 30, "importance_repeats": 2},
    "monitoring_setup": {"replicates": 2000, "holdout": 500, "power_replicates": 50, "current_batches": 5,
                         "timeline_days": 4, "timeline_onset": 2},
    "serving": {"concurrency": [1, 4], "batch_sizes": [1, 20], "requests": 12, "skew_rows": 150, "burst": 12,
                "storm_rounds": 1},
}


def overrides(steps: dict[str, dict]) -> list[str]:
    """``steps.<step>.params.<name>=<value>`` for ``playbook run -p`` (values as YAML flow: JSON is YAML)."""
    return [f"steps.{step}.params.{name}={json.dumps(value)}" for step, params in steps.items()
            for name, value in params.items()]


SMALL_PARAMS = overrides(QUICK)  # command-line overrides that keep a whole pack fast
