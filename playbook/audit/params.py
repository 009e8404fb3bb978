"""The audit's parameters: every threshold, with the template's defaults.

:class:`AuditParams` is the one place the audit's defaults are written in the library; the template's
``parameters`` cell repeats them for papermill, and a test holds the two equal (``tests/test_audit_template.py``).
Values are validated on construction, so a bad ``steps.data_audit.params`` entry is one clear sentence.

``sample_rows`` bounds the rows the audit holds in pandas: checks that count over every row run in DuckDB on the full
data; the checks that need rows (single-feature models, id correlations, value types, the contract's validation of
the current data, the Evidently report) run on a seeded sample of at most this many rows of each dataset. 50,000
rows measure a share to within half a percentage point (95 %), and the leakage models use at most
``leakage_max_rows`` of them anyway; larger samples cost time in every one of those checks.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import pandas as pd

DEFAULT_MISSING_MARKERS = ["?", "", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "-", "--", "missing"]
DEFAULT_NUMERIC_MARKERS = [-999, -9999, -99999]


@dataclass
class AuditParams:
    """Every threshold of the audit, with the template's defaults (see the template for their meaning)."""

    run_date: str = ""
    missing_markers: list = field(default_factory=lambda: list(DEFAULT_MISSING_MARKERS))
    numeric_missing_markers: list = field(default_factory=lambda: list(DEFAULT_NUMERIC_MARKERS))
    max_missing_share: float = 0.05
    max_column_missing_share: float = 0.3
    max_disguised_share: float = 0.0
    mixed_types_min_share: float = 0.01
    numeric_text_share: float = 0.95
    max_duplicate_share: float = 0.01
    max_duplicate_id_share: float = 0.0
    max_conflicting_share: float = 0.01
    near_constant_share: float = 0.99
    max_categories: int = 50
    outlier_quantile: float = 0.05
    outlier_k: float = 1.5
    outlier_min_distinct: int = 10
    max_outlier_share: float = 0.01
    min_class_share: float = 0.05
    max_target_missing_share: float = 0.01
    max_target_skew: float = 3.0
    leakage_max_score: float = 0.95
    leakage_max_rows: int = 10000
    leakage_folds: int = 3
    id_unique_share: float = 0.95
    id_max_abs_corr: float = 0.2
    max_contamination_share: float = 0.01
    max_overlap_days: float = 0.0
    max_gap_factor: float = 10.0
    max_staleness_days: float = 180.0
    max_future_share: float = 0.0
    max_unparseable_share: float = 0.0
    max_violation_share: float = 0.01
    contract_missing_slack: float = 0.01
    sample_rows: int = 50000
    seed: int = 0

    _SHARES = ("max_missing_share", "max_column_missing_share", "max_disguised_share", "mixed_types_min_share",
               "numeric_text_share", "max_duplicate_share", "max_duplicate_id_share", "max_conflicting_share",
               "near_constant_share", "max_outlier_share", "min_class_share", "max_target_missing_share",
               "leakage_max_score", "id_unique_share", "id_max_abs_corr", "max_contamination_share",
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
            if f.type in ("float", float):
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
