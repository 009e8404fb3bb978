"""The data contract checks: the reference's contract is written, and the current data is held to it.

* ``data.contract.written``: ``artifacts/data_contract.json`` (value: the number of columns it describes);
* ``data.contract.current_valid``: the current data against the contract. Its value is the number of
  *breaking* violations (missing columns, type changes, no rows), which fail; range, category and
  missing-value violations on more than ``max_violation_share`` of the rows, and extra columns, warn.
  Every violation, however small, is in the details.

The contract describes the full reference (missing shares, ranges and categories counted over every row); the
current data is validated row by row in pandas, on the audit's seeded sample of it when it is larger than
``sample_rows`` (recorded in the threshold as ``sample_rows`` / ``of_rows``; counts and shares are then the sample's).

The contract format and :func:`playbook.audit.contract.validate` live in :mod:`playbook.audit.contract`.
"""

from __future__ import annotations

from playbook import catalogue
from playbook.audit.contract import build_contract, save, validate
from playbook.audit.prepare import CONTRACT, FINDINGS, AuditData, pct, title

BREAKING = ("missing_column", "type", "rows")


def contract_written(data: AuditData, path, link: str = CONTRACT) -> tuple[dict, dict]:
    """Build the reference's data contract (over every row) and write it to ``path``: ``(contract,
    data.contract.written)``; the check is ``error`` with the reason when the file cannot be written (an unwritable
    folder, a full disk), and the contract returned is then the one built in memory."""
    p = data.params
    wid = "data.contract.written"
    contract = build_contract(data.raw["reference"], data.roles, missing_markers=p.markers,
                              missing_slack=p.contract_missing_slack, pii_columns=data.pii, scan=data.scan)
    try:
        save(contract, path)
    except OSError as exc:
        why = (f"The data contract could not be written to {path} ({type(exc).__name__}: {exc.strerror or exc}); "
               "later steps and monitoring have nothing to hold new data to: fix the output folder and re-run.")
        return contract, catalogue.check(wid, "error", None, title=title(wid), why=why)
    n = len(contract["columns"])
    return contract, catalogue.check(
        wid, "pass", n, title=title(wid), evidence=link,
        why=f"The contract fixes the names, kinds, ranges, categories and nullability of {n} columns; serving and "
            "monitoring validate every new batch against it instead of trusting it.")


def current_valid(data: AuditData, contract: dict, written: dict, link: str = CONTRACT) -> dict:
    """``data.contract.current_valid``: the current data (the audit's pandas sample of it) against the contract;
    skipped when the contract was not written."""
    p = data.params
    vid = "data.contract.current_valid"
    if written["status"] == "error":
        return catalogue.skip(vid, "The data contract was not written, so the current data was not held to it.",
                              title=title(vid))
    violations = validate(data.raw["current"], contract)
    mx = data.limit(vid, "max", 0)
    severe = [v for v in violations if v["kind"] in BREAKING]
    notable = [v for v in violations if v["kind"] == "extra_column"
               or (v not in severe and (v["share"] or 0.0) > p.max_violation_share)]
    status = "fail" if len(severe) > mx else ("warn" if notable or severe else "pass")
    kinds: dict[str, int] = {}
    for v in violations:
        kinds[v["kind"]] = kinds.get(v["kind"], 0) + 1
    listed = ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items()))
    if severe:
        why = (f"The current data breaks the reference's contract ({listed}); missing columns or changed types "
               "break the pipeline outright: fix the export before anything else.")
    elif notable:
        why = (f"The current data breaks the reference's contract ({listed}), some on more than "
               f"{pct(p.max_violation_share)} of rows; new categories, out-of-range values or extra columns are "
               "what the model never saw: check they are real before trusting predictions on them.")
    elif violations:
        why = (f"The current data stays within the reference's contract except on at most "
               f"{pct(p.max_violation_share)} of rows ({listed}); listed in the findings, worth a look, not a block.")
    else:
        why = "The current data honours the reference's contract: same columns, types, ranges and categories."
    why += data.sample_why("current")
    return catalogue.check(vid, status, len(severe), title=title(vid),
                           threshold={"max": mx, "warn_above_share": p.max_violation_share,
                                      **data.sampled("current")}, why=why,
                           details=violations, evidence=[link, FINDINGS])


def contract_checks(data: AuditData, path, link: str = CONTRACT) -> tuple[dict, list[dict]]:
    """Build the reference's data contract, write it to ``path`` and validate the current data against it.

    Returns ``(contract, [data.contract.written, data.contract.current_valid])``. When the contract cannot be
    written (an unwritable folder, a full disk), ``data.contract.written`` is ``error`` with the reason, the
    validation is skipped and the contract returned is the one built in memory.
    """
    contract, written = contract_written(data, path, link)
    return contract, [written, current_valid(data, contract, written, link)]


__all__ = ["BREAKING", "contract_checks", "contract_written", "current_valid"]
