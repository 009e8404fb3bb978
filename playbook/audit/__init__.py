"""The data audit: data is the first point of failure, so check it before any model.

Used by ``templates/01_data_audit.ipynb`` (step ``data_audit``); usable on its own::

    from playbook import audit
    data = audit.prepare(reference, current, roles, audit.AuditParams(), policy=ctx.policy)
    checks = audit.schema_checks(data) + audit.completeness_checks(data) + ...
    contract = audit.build_contract(reference, roles)          # other steps: audit.validate(df, contract)

**The full data and the sample.** Data may be larger than memory: a pack holds in pandas only a seeded sample of
each dataset while the full data sits in a parquet working copy (:class:`playbook.tables.Table`). ``prepare`` /
``run_audit`` take the full data as ``tables`` next to the frames (``sampling`` says when the frames are a sample;
without ``tables`` the frames are the whole data and DuckDB scans them as they are). Every check whose meaning is a
count over every row is computed on the full data by DuckDB, in one scan of every column plus one ``GROUP BY`` per
groupable column and a few hash joins per dataset (:mod:`playbook.audit.scan`): missing cells and disguised
markers, duplicate rows and repeated ids (hashes of the clean cells), conflicting labels, constant and near-constant
features, cardinality, ranges, outlier fences and infinities, dates and their freshness (text dates parsed once per
distinct value), labels, contamination (a hash join of the current rows against the reference's). The data contract
describes the full data. Checks that need rows in pandas (single-feature leakage models, id correlations, the kinds
of values mixed in a text column, numbers stored as text, the contract's validation of the current data,
Evidently's report when asked for) run on a seeded sample of at most ``AuditParams.sample_rows`` rows, in their original order (the
whole frame when it fits); each records ``{"sample_rows": n, "of_rows": N}`` in its threshold and says so in its
``why`` when it ran on a sample.

One module per concern; every check is made by :func:`playbook.catalogue.check` and declared, with what its
value measures and when it applies, in the ``01 data audit`` section of :mod:`playbook.catalogue`
(``docs/checks.md``):

==================  ===================================================================================
``params``          :class:`AuditParams`: every threshold, with the template's defaults
``scan``            the full data in DuckDB (:class:`scan.Scan`): per-column statistics, row hashes, joins, times
``prepare``         the scan and the pandas sample (:class:`AuditData`), markers found once, shared helpers
``schema``          ``data.schema.*``: kinds of columns, mixed value types, numbers stored as text
``completeness``    ``data.completeness.*``: missing cells, the emptiest column, disguised placeholders
``uniqueness``      ``data.uniqueness.*``: duplicate rows, repeated ids, conflicting labels
``identifiers``     ``data.privacy.identifiers``: text columns that identify rows by shape (the privacy scan)
``validity``        ``data.validity.*``: constant / near-constant features, cardinality, outliers,
                    infinities, unparseable and future timestamps
``target``          ``data.target.*``: missing labels, class balance or skew, unseen labels
``leakage``         ``data.leakage.*``: single-feature models, id-like columns and row order vs the target
``contamination``   ``data.contamination*``: current rows and ids already in the reference
``freshness``       ``data.freshness.*``: time order, gaps, staleness (with ``data.timestamp``)
``conformance``     ``data.contract.*``: the contract written, the current data held to it
``contract``        the data contract format: :func:`build_contract`, :func:`validate` (used by later steps)
``summary``         the data summary from the audit's own statistics (HTML and JSON)
``report``          ``data.summary_report`` (the summary; Evidently's report on request), the findings file,
                    notebook tables
==================  ===================================================================================

A check that looks at one dataset ends in ``.reference`` or ``.current``; a check that compares the two, or
summarises both, has no suffix. Every bound is a ``min`` or ``max`` in the check's threshold; when the pack's
policy gates an id with a bound, that bound is the one the audit judges with (``AuditData.limit``). A skip is
``not_applicable`` when the check has no meaning for this data (no ``data.timestamp``, no ``data.id``, no date
column, regression for a class check), and not when the evidence could not be produced.

Future timestamps are judged against ``run_date`` when given, else against the day the audit runs
(recorded as ``"after": "today"``, so results.json changes only if a timestamp falls between run days).
Each check's ``details`` (per-column findings) go to ``artifacts/audit_findings.json``; the results API does
not store them.
"""

from __future__ import annotations

from pathlib import Path

from playbook.audit.completeness import completeness_checks
from playbook.audit.conformance import contract_checks
from playbook.audit.contamination import contamination_checks
from playbook.audit.contract import ContractError, build_contract, validate, violations_frame
from playbook.audit.freshness import freshness_checks
from playbook.audit.identifiers import identifier_checks
from playbook.audit.leakage import leakage_checks
from playbook.audit.params import DEFAULT_MISSING_MARKERS, DEFAULT_NUMERIC_MARKERS, AuditParams
from playbook.audit.prepare import CONTRACT, DATASETS, FINDINGS, AuditData, prepare
from playbook.audit.report import data_summary, details, findings, summary_check, table, write_findings
from playbook.audit.schema import schema_checks
from playbook.audit.target import target_checks
from playbook.audit.uniqueness import uniqueness_checks
from playbook.audit.validity import validity_checks

__all__ = [
    "AuditData", "AuditParams", "CONTRACT", "ContractError", "DATASETS", "DEFAULT_MISSING_MARKERS",
    "DEFAULT_NUMERIC_MARKERS", "FINDINGS", "build_contract", "completeness_checks", "contamination_checks",
    "contract_checks", "data_summary", "details", "findings", "freshness_checks", "identifier_checks", "leakage_checks", "prepare",
    "run_audit", "schema_checks", "summary_check", "table", "target_checks", "uniqueness_checks", "validate",
    "validity_checks", "violations_frame", "write_findings",
]


def run_audit(reference, current, roles, params: AuditParams | None = None, out_dir: str | Path | None = None,
              pii=(), ctx=None, report: bool = True, policy=None, *, tables=None,
              sampling=None) -> tuple[list[dict], dict]:
    """Every audit check in the template's order; returns ``(checks, contract)``.

    ``tables`` (``{"reference": Table, "current": Table}``) is the full data when the frames are a sample of it
    (``sampling`` as :func:`prepare` takes it); without it the frames are the whole data.
    With ``out_dir`` the artifacts (contract, findings, the data summary when ``report``, and Evidently's report
    when ``params.evidently_report``) are written
    under ``out_dir/artifacts``; without it the contract is built in memory only. ``policy`` (default: the
    context's, if any) supplies the gates whose bounds take precedence over the parameters.

    The work that needs rows in pandas and scikit-learn runs in a second thread while DuckDB (which releases the
    interpreter) computes the rest: the privacy scan (when there is no context) as soon as the samples are drawn,
    column kinds, value types and leakage models once the columns are profiled, the contract's validation of the
    current data once the contract is written; the results are the same as one after the other.
    """
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from playbook import privacy
    from playbook.audit.conformance import contract_written, current_valid
    from playbook.audit.prepare import per_dataset
    from playbook.audit.schema import mixed_types, numeric_as_text, schema_types

    if policy is None and ctx is not None:
        policy = ctx.policy
    with ThreadPoolExecutor(max_workers=1) as pool:
        found = {}

        def scan_privacy(raw):  # as soon as the samples are drawn: it needs nothing of the scan
            found["privacy"] = pool.submit(
                (lambda: privacy.privacy_of(ctx)) if ctx is not None else
                (lambda: privacy.scan_data(raw["reference"], raw["current"], skip=[roles.target])))

        data = prepare(reference, current, roles, params, pii, policy, tables=tables, sampling=sampling,
                       on_sample=scan_privacy)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                art = Path(out_dir) / "artifacts" if out_dir else Path(tmp)
                side = pool.submit(lambda: {
                    "kinds": [schema_types(data)], "mixed": per_dataset(lambda ds: mixed_types(data, ds)),
                    "as_text": per_dataset(lambda ds: numeric_as_text(data, ds)), "leakage": leakage_checks(data)})
                data.scan.row_stats()
                contract, written = contract_written(data, art / "data_contract.json")
                validated = pool.submit(current_valid, data, contract, written)
                counted = completeness_checks(data) + uniqueness_checks(data)
                valid = validity_checks(data) + target_checks(data)
                joined = contamination_checks(data) + freshness_checks(data)
                r = {**side.result(), "privacy": found["privacy"].result()}
                checks = (r["kinds"] + r["mixed"] + r["as_text"] + counted + identifier_checks(r["privacy"], roles)
                          + valid + r["leakage"] + joined + [written, validated.result()])
                if report and out_dir:
                    protected = [] if policy is not None and getattr(policy, "allow_raw_pii", False) else \
                        list(getattr(r["privacy"], "protected", None) or [])
                    checks.append(summary_check(data, "artifacts/data_summary.html", "artifacts/data_summary.json",
                                                art / "data_summary.html", art / "data_summary.json", ctx,
                                                evidently=data.params.evidently_report, protected=protected))
                if out_dir:
                    write_findings(checks, art / "audit_findings.json")
        finally:
            data.close()
    return checks, contract
