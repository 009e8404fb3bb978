"""Uniqueness: exact duplicate rows, repeated ids, identical features with conflicting labels.

* ``data.uniqueness.duplicate_rows.<dataset>``: share of rows that repeat an earlier row exactly;
* ``data.uniqueness.duplicate_ids.<dataset>``: share of rows whose ``data.id`` repeats (fail above the
  threshold; not applicable without ids);
* ``data.uniqueness.conflicting_labels.<dataset>``: share of labelled rows whose features equal another
  row's while the label differs (classification; not applicable to regression).

Counted over every row of the full data: rows are compared by a 64-bit hash of their clean cells, grouped in DuckDB
(:mod:`playbook.audit.scan`).
"""

from __future__ import annotations

from playbook import catalogue
from playbook.audit.prepare import FINDINGS, AuditData, feature_columns, listing, pct, per_dataset, title


def duplicate_rows(data: AuditData, dataset: str) -> dict:
    """``data.uniqueness.duplicate_rows.<dataset>``: share of rows that repeat an earlier row exactly."""
    p = data.params
    cid = f"data.uniqueness.duplicate_rows.{dataset}"
    mx = data.limit(cid, "max", p.max_duplicate_share)
    n = data.rows[dataset]
    dup = data.scan.duplicate_rows(dataset)
    share = dup / max(n, 1)
    why = (f"{dup} row(s) ({pct(share)}) repeat an earlier row exactly; duplicates over-weight some cases and, "
           "split across train and test, inflate every metric: deduplicate or explain them."
           if dup else "No row is an exact copy of another; duplicates over-weight cases and leak across splits.")
    return catalogue.check(cid, "warn" if share > mx else "pass", share, title=title(cid),
                           threshold={"max": mx}, why=why,
                           details=[{"duplicate_rows": dup, "rows": n}], evidence=FINDINGS)


def duplicate_ids(data: AuditData, dataset: str) -> dict:
    """``data.uniqueness.duplicate_ids.<dataset>``: share of rows whose id (``data.id``) repeats."""
    p = data.params
    cid = f"data.uniqueness.duplicate_ids.{dataset}"
    threshold = {"max": data.limit(cid, "max", p.max_duplicate_id_share)}
    df = data.clean[dataset]
    ids = [c for c in (data.roles.id or []) if c in df.columns]
    if not data.roles.id:
        return catalogue.skip(cid, "No id column is configured (data.id), so id uniqueness cannot be checked; set "
                              "data.id to the record identifier.", title=title(cid), threshold=threshold,
                              not_applicable=True)
    if not ids:
        return catalogue.skip(cid, f"The {dataset} data has none of the id columns {listing(data.roles.id)}.",
                              title=title(cid), threshold=threshold)
    dup, first = data.scan.repeated_keys(dataset, ids)
    share = dup / max(data.rows[dataset], 1)
    examples = [data.example(ids[0], v) for v in first]
    why = (f"{dup} row(s) reuse an id ({listing(ids)}); repeated ids usually come from a bad join and make one "
           "record count several times: find the join that fans out." if dup else
           f"Every id ({listing(ids)}) is unique; repeated ids usually betray a join that fans out.")
    status = "fail" if share > threshold["max"] else ("warn" if dup else "pass")
    return catalogue.check(cid, status, share, title=title(cid), threshold=threshold, why=why,
                           details=[{"id_columns": ids, "duplicate_rows": dup, "examples": examples}],
                           evidence=FINDINGS)


def conflicting_labels(data: AuditData, dataset: str) -> dict:
    """``data.uniqueness.conflicting_labels.<dataset>``: share of labelled rows whose features are identical
    to another row's but whose label differs (classification)."""
    p = data.params
    roles = data.roles
    cid = f"data.uniqueness.conflicting_labels.{dataset}"
    threshold = {"max": data.limit(cid, "max", p.max_conflicting_share)}
    df = data.clean[dataset]
    if roles.task == "regression":
        return catalogue.skip(cid, "Not meaningful for regression: identical inputs with different numeric targets "
                              "are ordinary noise.", title=title(cid), threshold=threshold, not_applicable=True)
    if roles.target not in df.columns:
        return catalogue.skip(cid, f"The {dataset} data has no target column {roles.target!r}, so labels cannot be "
                              "compared.", title=title(cid), threshold=threshold)
    feats = feature_columns(df, roles)
    counts = data.scan.conflicts(dataset, feats, roles.target) if feats else {"labelled_rows": 0}
    if not feats or not counts["labelled_rows"]:
        return catalogue.skip(cid, f"The {dataset} data has no labelled rows with features to compare.",
                              title=title(cid), threshold=threshold)
    rows = counts["conflicting_rows"]
    share = rows / counts["labelled_rows"]
    why = (f"{rows} row(s) ({pct(share)}) share their features with a row of another label; no model can "
           "learn both, so check the labelling process or add the feature that tells them apart."
           if rows else "No two rows with identical features carry different labels; such conflicts cap the "
           "accuracy any model can reach and often reveal labelling errors.")
    return catalogue.check(cid, "warn" if share > threshold["max"] else "pass", share, title=title(cid),
                           threshold=threshold, why=why,
                           details=[counts], evidence=FINDINGS)


def uniqueness_checks(data: AuditData) -> list[dict]:
    """Uniqueness: exact duplicate rows, duplicate ids, conflicting labels."""
    return (per_dataset(lambda ds: duplicate_rows(data, ds)) + per_dataset(lambda ds: duplicate_ids(data, ds))
            + per_dataset(lambda ds: conflicting_labels(data, ds)))


__all__ = ["conflicting_labels", "duplicate_ids", "duplicate_rows", "uniqueness_checks"]
