"""The audit's parameters: every threshold, with the template's defaults.

:class:`AuditParams` takes its defaults from the template's ``parameters`` cell (``templates/01_data_audit.ipynb``,
read once on import by :func:`template_defaults`): the cell papermill injects into, JupyterLab shows and
``playbook/params.py`` validates against is the one place a default is written; the class adds the validation
(``tests/test_lessons.py`` and ``tests/test_audit_template.py`` hold the two equal).
Values are validated on construction, so a bad ``steps.data_audit.params`` entry is one clear sentence.

``sample_rows`` bounds the rows the audit holds in pandas: checks that count over every row run in DuckDB on the full
data; the checks that need rows (single-feature models, id correlations, value types, the contract's validation of
the current data, Evidently's report when asked for) run on a seeded sample of at most this many rows of each dataset. 50,000
rows measure a share to within half a percentage point (95 %), and the leakage models use at most
``leakage_max_rows`` of them anyway; larger samples cost time in every one of those checks.
"""

from __future__ import annotations

import ast
import datetime as _dt
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import numpy as np
import pandas as pd

TEMPLATE = "01_data_audit.ipynb"


def template_defaults(name: str = TEMPLATE) -> dict[str, Any]:
    """The defaults of a template's ``parameters`` cell (``name: type = default  # help`` lines), read with ``ast``
    from the bundled template (``playbook.paths.templates_dir``): the one place the audit's defaults are written."""
    from playbook.paths import templates_dir

    path = templates_dir() / name
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    cell = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    tree = ast.parse("".join(cell["source"]), filename=str(path))
    return {n.target.id: ast.literal_eval(n.value) for n in tree.body
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


_DEFAULTS = template_defaults()
DEFAULT_MISSING_MARKERS = list(_DEFAULTS["missing_markers"])
DEFAULT_NUMERIC_MARKERS = list(_DEFAULTS["numeric_missing_markers"])


@dataclass
class AuditParams:
    """Every threshold of the audit, with the template's defaults (see the template for their meaning; ``seed`` is
    the pack's)."""

    run_date: str = _DEFAULTS["run_date"]
    missing_markers: list = field(default_factory=lambda: list(_DEFAULTS["missing_markers"]))
    numeric_missing_markers: list = field(default_factory=lambda: list(_DEFAULTS["numeric_missing_markers"]))
    max_missing_share: float = _DEFAULTS["max_missing_share"]
    max_column_missing_share: float = _DEFAULTS["max_column_missing_share"]
    max_disguised_share: float = _DEFAULTS["max_disguised_share"]
    mixed_types_min_share: float = _DEFAULTS["mixed_types_min_share"]
    numeric_text_share: float = _DEFAULTS["numeric_text_share"]
    max_duplicate_share: float = _DEFAULTS["max_duplicate_share"]
    max_duplicate_id_share: float = _DEFAULTS["max_duplicate_id_share"]
    max_conflicting_share: float = _DEFAULTS["max_conflicting_share"]
    near_constant_share: float = _DEFAULTS["near_constant_share"]
    max_categories: int = _DEFAULTS["max_categories"]
    outlier_quantile: float = _DEFAULTS["outlier_quantile"]
    outlier_k: float = _DEFAULTS["outlier_k"]
    outlier_min_distinct: int = _DEFAULTS["outlier_min_distinct"]
    max_outlier_share: float = _DEFAULTS["max_outlier_share"]
    min_class_share: float = _DEFAULTS["min_class_share"]
    max_target_missing_share: float = _DEFAULTS["max_target_missing_share"]
    max_target_skew: float = _DEFAULTS["max_target_skew"]
    leakage_max_score: float = _DEFAULTS["leakage_max_score"]
    leakage_max_r2: float = _DEFAULTS["leakage_max_r2"]
    leakage_max_rows: int = _DEFAULTS["leakage_max_rows"]
    leakage_folds: int = _DEFAULTS["leakage_folds"]
    id_unique_share: float = _DEFAULTS["id_unique_share"]
    id_max_abs_corr: float = _DEFAULTS["id_max_abs_corr"]
    max_contamination_share: float = _DEFAULTS["max_contamination_share"]
    max_overlap_days: float = _DEFAULTS["max_overlap_days"]
    max_gap_factor: float = _DEFAULTS["max_gap_factor"]
    max_staleness_days: float = _DEFAULTS["max_staleness_days"]
    max_future_share: float = _DEFAULTS["max_future_share"]
    max_unparseable_share: float = _DEFAULTS["max_unparseable_share"]
    max_violation_share: float = _DEFAULTS["max_violation_share"]
    contract_missing_slack: float = _DEFAULTS["contract_missing_slack"]
    sample_rows: int = _DEFAULTS["sample_rows"]
    evidently_report: bool = _DEFAULTS["evidently_report"]
    seed: int = 0

    _SHARES = ("max_missing_share", "max_column_missing_share", "max_disguised_share", "mixed_types_min_share",
               "numeric_text_share", "max_duplicate_share", "max_duplicate_id_share", "max_conflicting_share",
               "near_constant_share", "max_outlier_share", "min_class_share", "max_target_missing_share",
               "leakage_max_score", "leakage_max_r2", "id_unique_share", "id_max_abs_corr", "max_contamination_share",
               "max_future_share", "max_unparseable_share", "max_violation_share",
               "contract_missing_slack")

    def __post_init__(self) -> None:
        if isinstance(self.run_date, (_dt.date, pd.Timestamp)):
            self.run_date = self.run_date.isoformat()
        elif self.run_date is None:
            self.run_date = ""
        elif not isinstance(self.run_date, str):
            raise ValueError(f"parameter run_date: expected a date as text like \"2024-06-30\", got {self.run_date!r}; "
                             "quote the date in YAML.")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(v, (bool, np.bool_)):
                    raise ValueError(f"parameter {f.name}: expected true or false, got {v!r}; fix it in the step's params.")
                setattr(self, f.name, bool(v))
            elif f.type in ("float", float):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(float(v)):
                    raise ValueError(f"parameter {f.name}: expected a number, got {v!r}; fix it in the step's params.")
                setattr(self, f.name, float(v))
            elif f.type in ("int", int) and (isinstance(v, bool) or not isinstance(v, int)):
                if isinstance(v, float) and v.is_integer():
                    setattr(self, f.name, int(v))
                else:
                    raise ValueError(f"parameter {f.name}: expected a whole number, got {v!r}; fix it in the step's params.")
        for name in self._SHARES:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"parameter {name}: {getattr(self, name)!r} is a share and must lie between 0 and 1.")
        for name in ("missing_markers", "numeric_missing_markers"):
            v = getattr(self, name)
            if v is None:
                v = []
            if isinstance(v, (str, int, float)):
                v = [v]
            if not isinstance(v, (list, tuple)):
                raise ValueError(f"parameter {name}: expected a list of values, got {v!r}.")
            setattr(self, name, list(v))
        if any(isinstance(m, (bool, str)) or not isinstance(m, (int, float)) for m in self.numeric_missing_markers):
            raise ValueError(f"parameter numeric_missing_markers: expected numbers, got {self.numeric_missing_markers!r}.")
        if not 0.0 < self.outlier_quantile < 0.5:
            raise ValueError(f"parameter outlier_quantile: {self.outlier_quantile!r} must lie between 0 and 0.5 (e.g. 0.05).")
        for name in ("max_categories", "leakage_max_rows", "outlier_min_distinct", "sample_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"parameter {name}: must be at least 1.")
        if self.leakage_folds < 2:
            raise ValueError("parameter leakage_folds: cross-validation needs at least 2 folds.")
        for name in ("outlier_k", "max_overlap_days", "max_gap_factor", "max_staleness_days", "max_target_skew"):
            if getattr(self, name) < 0:
                raise ValueError(f"parameter {name}: must be zero or more.")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"parameter seed: {self.seed!r} must be a whole number from 0 to 2**32 - 1.")
        self.run_day  # validates run_date

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], **overrides: Any) -> "AuditParams":
        """Pick the audit's parameters out of a mapping (a notebook's ``globals()``, a config's params)."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in mapping.items() if k in names}
        kw.update(overrides)
        return cls(**kw)

    @property
    def markers(self) -> list:
        """Text and numeric missing markers together."""
        return list(self.missing_markers) + list(self.numeric_missing_markers)

    @property
    def run_day(self) -> pd.Timestamp | None:
        """``run_date`` as a timestamp (None when empty)."""
        if not self.run_date:
            return None
        try:
            ts = pd.Timestamp(str(self.run_date))
        except (ValueError, TypeError):
            raise ValueError(f"parameter run_date: {self.run_date!r} is not a date; use YYYY-MM-DD or leave it empty.") from None
        if ts is pd.NaT:
            raise ValueError(f"parameter run_date: {self.run_date!r} is not a date; use YYYY-MM-DD or leave it empty.")
        return ts.tz_convert("UTC").tz_localize(None) if ts.tz is not None else ts


__all__ = ["AuditParams", "DEFAULT_MISSING_MARKERS", "DEFAULT_NUMERIC_MARKERS"]
