"""The evidence pack next to the model in MLflow (the optional ``mlflow`` extra: ``pip install -e ".[mlflow]"``).

``playbook run ... --mlflow [TRACKING_URI] [--register NAME]`` calls :func:`log_pack` once the pack is complete
and verified: one MLflow run per pack with

- **params**: the resolved ``config.yaml`` flattened (``data.target``, ``steps.drift_simulation.params.trials``);
- **metrics**: every numeric check value under its id (``model.roc_auc``) with its 95 % interval as
  ``model.roc_auc.ci_low`` / ``.ci_high``, and every numeric step metric as ``<step>/<name>``;
- **tags**: ``playbook.verdict``, ``playbook.ml_test_score``, ``playbook.pack_digest`` and more (``record``);
- **artifacts**: the pack folder under ``pack/`` (exactly the files its manifest lists: the pack holds no raw data
  rows, and the working copy of the data beside it is never logged);
- **the model** (when the pack has one: the baseline's ``model.skops``, or the user's model file it judged) as an
  MLflow scikit-learn model saved with skops, its signature derived from the pack's data contract. No input
  example is logged: it would be a raw data row.

:func:`register` makes it a version of a registered model tagged with the verdict and points the alias
``challenger`` at it; :func:`set_champion` moves the alias ``champion`` (``playbook compare --promote``).
MLflow is imported only inside these functions. ``python -m playbook.tracking PACK [--mlflow URI] [--register
NAME]`` logs an existing pack (e.g. after a logging failure).
"""

from playbook.tracking.client import (CHALLENGER, CHAMPION, DEFAULT_URI, INSTALL, Champion, Logged, TrackingError,
                                      available, check_store, log_pack, register, require, resolve_uri,
                                      set_champion)

__all__ = ["CHALLENGER", "CHAMPION", "DEFAULT_URI", "INSTALL", "Champion", "Logged", "TrackingError", "available",
           "check_store", "log_pack", "register", "require", "resolve_uri", "set_champion"]
