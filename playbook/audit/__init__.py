"""The data audit: data is the first point of failure, so check it before any model.

Used by ``templates/01_data_audit.ipynb`` (step ``data_audit``); usable on its own::

    from playbook import audit
    data = audit.prepare(reference, current, roles, audit.AuditParams())
    checks = audit.schema_checks(data) + audit.completeness_checks(data) + ...
    contract = audit.build_contract(reference, roles)          # other steps: audit.validate(df, contract)

Check ids (stable). A check that looks at one dataset ends in ``.reference`` or ``.current``; a check
that compares the two, or summarises both, has no suffix. Statuses are ``warn`` unless noted.

Schema and types
  ``data.schema.types``                          kinds of columns; warns when a kind changes between datasets
  ``data.schema.mixed_types.<ds>``               text columns mixing numbers, words or Python types
  ``data.schema.numeric_as_text.<ds>``           text columns that hold numbers
Completeness (nulls *and* disguised placeholders, target excluded)
  ``data.completeness.missing_share.<ds>``       share of missing cells overall
  ``data.completeness.column_missing.<ds>``      worst column's missing share
  ``data.completeness.disguised_missing.<ds>``   share of cells holding '?', 'NA', '', -999 ...
Uniqueness
  ``data.uniqueness.duplicate_rows.<ds>``        exact duplicate rows
  ``data.uniqueness.duplicate_ids.<ds>``         repeated ``data.id`` values (fail; skip without ids)
  ``data.uniqueness.conflicting_labels.<ds>``    identical features, different labels (classification)
Validity (features; outlier fences from the reference)
  ``data.validity.constant.<ds>`` / ``data.validity.near_constant.<ds>``
  ``data.validity.high_cardinality.<ds>``        categoricals with more than ``max_categories`` values
  ``data.validity.outliers.<ds>``                values beyond robust quantile fences
  ``data.validity.infinite.<ds>``                +/- infinity (fail)
  ``data.validity.unparseable_timestamps.<ds>`` / ``data.validity.future_timestamps.<ds>``
Target
  ``data.target.missing``                        worst share of unlabelled rows (fail above the threshold)
  ``data.target.balance.<ds>``                   classification: rarest class share
  ``data.target.distribution.<ds>``              regression: skewness
  ``data.target.unseen_labels``                  classification: current labels unknown to the reference (fail)
Leakage (reference)
  ``data.leakage.single_feature``                best one-feature model score (fail above the threshold)
  ``data.leakage.id_correlation``                id-like columns / row order vs target (fail if a feature)
Contamination
  ``data.contamination``                         current rows identical to a reference row (fail above)
  ``data.contamination.ids``                     current ids present in the reference
Freshness and coverage (skip without ``data.timestamp``)
  ``data.freshness.coverage``                    days the current data overlaps the reference period
  ``data.freshness.gaps.<ds>``                   largest gap between timestamps / median gap
  ``data.freshness.staleness``                   age of the newest reference row at ``run_date``, or,
                                                 without ``run_date``, at the latest timestamp in the data
Contract and report
  ``data.contract.written``                      ``artifacts/data_contract.json``
  ``data.contract.current_valid``                current vs contract: fail on missing columns / type changes,
                                                 warn on extra columns or on range / category / missing-value
                                                 violations affecting more than ``max_violation_share`` of rows
  ``data.summary_report``                        Evidently ``DataSummaryPreset`` HTML + JSON (error if it fails)

Future timestamps are judged against ``run_date`` when given, else against the day the audit runs
(recorded as ``"after": "today"``, so results.json changes only if a timestamp falls between run days).
Each check's ``details`` (per-column findings) go to ``artifacts/audit_findings.json``.
"""

from __future__ import annotations

from pathlib import Path

from playbook.audit.checks import (
    CONTRACT, DATASETS, DEFAULT_MISSING_MARKERS, DEFAULT_NUMERIC_MARKERS, FINDINGS, AuditData, AuditParams,
    completeness_checks, contamination_checks, contract_checks, details, findings, freshness_checks, prepare,
    schema_checks, table, target_checks, uniqueness_checks, validity_checks,
)
from playbook.audit.contract import ContractError, build_contract, validate, violations_frame
from playbook.audit.leakage import leakage_checks
from playbook.audit.report import data_summary, summary_check, write_findings

__all__ = [
    "AuditData", "AuditParams", "CONTRACT", "ContractError", "DATASETS", "DEFAULT_MISSING_MARKERS",
    "DEFAULT_NUMERIC_MARKERS", "FINDINGS", "build_contract", "completeness_checks", "contamination_checks",
    "contract_checks", "data_summary", "details", "findings", "freshness_checks", "leakage_checks", "prepare",
    "run_audit", "schema_checks", "summary_check", "table", "target_checks", "uniqueness_checks", "validate",
    "validity_checks", "violations_frame", "write_findings",
]


def run_audit(reference, current, roles, params: AuditParams | None = None, out_dir: str | Path | None = None,
              pii=(), ctx=None, report: bool = True) -> tuple[list[dict], dict]:
    """Every audit check in the template's order; returns ``(checks, contract)``.

    With ``out_dir`` the artifacts (contract, findings, Evidently report when ``report``) are written
    under ``out_dir/artifacts``; without it the contract is built in memory only.
    """
    import tempfile

    data = prepare(reference, current, roles, params, pii)
    checks = (schema_checks(data) + completeness_checks(data) + uniqueness_checks(data) + validity_checks(data)
              + target_checks(data) + leakage_checks(data) + contamination_checks(data) + freshness_checks(data))
    with tempfile.TemporaryDirectory() as tmp:
        art = Path(out_dir) / "artifacts" if out_dir else Path(tmp)
        contract, cc = contract_checks(data, art / "data_contract.json")
        checks += cc
        if report and out_dir:
            checks.append(summary_check(data, "artifacts/data_summary.html", "artifacts/data_summary.json",
                                        art / "data_summary.html", art / "data_summary.json", ctx))
        if out_dir:
            write_findings(checks, art / "audit_findings.json")
    return checks, contract
