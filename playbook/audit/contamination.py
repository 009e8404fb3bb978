"""Contamination: current rows (and ids) that also appear in the reference.

* ``data.contamination``: share of current rows identical to a reference row on every shared column, label
  included (fail above ``max_contamination_share``, warn on any);
* ``data.contamination.ids``: share of current rows whose ``data.id`` occurs in the reference (not applicable
  without ids).

Counted over every row: a hash join in DuckDB of the current rows' clean cells against the reference's
(:meth:`playbook.audit.scan.Scan.rows_in`), columns of different types compared as numbers or as text.
"""

from __future__ import annotations

from playbook import catalogue
from playbook.audit.prepare import FINDINGS, AuditData, feature_columns, listing, pct, title


def contamination(data: AuditData) -> dict:
    """``data.contamination``: share of current rows that also appear, identical, in the reference
    (all shared columns, label included)."""
    p = data.params
    cid = "data.contamination"
    threshold = {"max": data.limit(cid, "max", p.max_contamination_share)}
    ref, cur = data.clean["reference"], data.clean["current"]
    n = data.rows["current"]
    cols = [c for c in ref.columns if c in cur.columns]
    if not cols or n == 0:
        why = "The datasets share no column." if not cols else "The current data has no rows."
        return catalogue.skip(cid, why, title=title(cid), threshold=threshold)
    k = data.scan.rows_in("current", "reference", cols)
    share = k / n
    feats = [c for c in feature_columns(cur, data.roles) if c in ref.columns]
    feat_share = data.scan.rows_in("current", "reference", feats) / n if feats else None
    why = (f"{k} current row(s) ({pct(share)}) also appear in the reference; a model evaluated on rows it "
           "was trained on looks better than it is: remove them from the evaluation set and check the split."
           if k else "No current row is a copy of a reference row, so evaluation on the current data is not "
           "inflated by memorised training rows.")
    status = "fail" if share > threshold["max"] else ("warn" if k else "pass")
    return catalogue.check(cid, status, share, title=title(cid), threshold=threshold, why=why,
                           details=[{"rows_in_reference": k, "current_rows": n, "share": round(share, 6),
                                     "share_same_features_any_label": None if feat_share is None else round(feat_share, 6)}],
                           evidence=FINDINGS)


def id_overlap(data: AuditData) -> dict:
    """``data.contamination.ids``: share of current rows whose id also occurs in the reference."""
    p = data.params
    cid = "data.contamination.ids"
    threshold = {"max": data.limit(cid, "max", p.max_contamination_share)}
    ref, cur = data.clean["reference"], data.clean["current"]
    if not data.roles.id:
        return catalogue.skip(cid, "No id column is configured (data.id), so overlapping ids cannot be checked.",
                              title=title(cid), threshold=threshold, not_applicable=True)
    ids = [c for c in data.roles.id if c in ref.columns and c in cur.columns]
    if not ids or data.rows["current"] == 0:
        why = (f"The id columns {listing(data.roles.id)} are not in both datasets." if not ids else
               "The current data has no rows.")
        return catalogue.skip(cid, why, title=title(cid), threshold=threshold)
    seen = data.scan.rows_in("current", "reference", ids)
    share = seen / data.rows["current"]
    why = (f"{pct(share)} of current rows carry an id seen in the reference; when the same entity is in both "
           "sets the evaluation measures memory, not generalisation: split by entity." if share else
           "No current id occurs in the reference, so the evaluation covers unseen entities.")
    return catalogue.check(cid, "warn" if share > threshold["max"] else "pass", share, title=title(cid),
                           threshold=threshold, why=why,
                           details=[{"id_columns": ids, "rows_with_seen_id": seen}], evidence=FINDINGS)


def contamination_checks(data: AuditData) -> list[dict]:
    """Contamination: current rows (and ids) that also appear in the reference."""
    return [contamination(data), id_overlap(data)]


__all__ = ["contamination", "contamination_checks", "id_overlap"]
