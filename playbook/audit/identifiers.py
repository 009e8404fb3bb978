"""``data.privacy.identifiers``: text columns that identify rows by their shape (nearly every value distinct).

Found by the pack's privacy scan (:mod:`playbook.privacy`); named here so the audit says which columns are kept out
of the model and masked in every output, whatever they hold (customer codes, free-text notes, names).
"""

from __future__ import annotations

from playbook import catalogue


def identifier_checks(scan, roles) -> list[dict]:
    """One check naming the identifier-like columns (warn when there are any; the evidence is in the details)."""
    ids = dict(scan.identifiers) if scan is not None else {}
    st = scan.settings if scan is not None else None
    threshold = ({"identifier_min_distinct_share": st.identifier_min_distinct_share,
                  "identifier_min_rows": st.identifier_min_rows}
                 if st is not None else None)
    used = sorted(set(ids) & set(getattr(roles, "features", []) or []))
    rows = [{"column": c, **v, "model_feature": c in used} for c, v in sorted(ids.items())]
    if not ids:
        return [catalogue.check("data.privacy.identifiers", "pass", {"columns": []}, threshold=threshold,
                                why="No text column is nearly unique, so no column identifies rows by its shape.",
                                details=rows)]
    names = ", ".join(sorted(ids))
    why = (f"{names}: nearly every value is distinct, so each value points at one row (a person, an account). "
           "These columns are masked wherever the pack shows data and are not model features")
    why += (f"; {', '.join(used)} is used because data.features lists it: a model fitted on an identifier "
            "memorises rows instead of learning." if used else ".")
    return [catalogue.check("data.privacy.identifiers", "warn", {"columns": sorted(ids), "used_as_features": used},
                            threshold=threshold, why=why, details=rows)]
