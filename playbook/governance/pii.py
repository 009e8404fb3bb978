"""The governance step's privacy checks, built on the pack's privacy scan (:mod:`playbook.privacy`).

* ``governance.pii.scan``: which columns hold personal data or identify rows (from ``ctx.privacy``: the scan ran
  once, before the first step);
* ``governance.pii.features``: whether a protected column feeds the model (only when ``data.features`` lists it on
  purpose, or ``policy.allow_raw_pii`` is true: the pack then warns and names it);
* ``governance.pii.redacted`` / ``review.pii.redacted``: the leak search over every file of the pack
  (:func:`leak_check`);
* ``governance.privacy.k_anonymity``: the quasi-identifier risk (:func:`k_anonymity_check`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from playbook import catalogue
from playbook.privacy import KINDS, PrivacyScan, kanon, leaks, privacy_of


def pii_checks(scan: PrivacyScan, *, features: Iterable[str] = (), excluded: Iterable[str] = (),
               evidence: str | None = None) -> list[dict]:
    """``governance.pii.scan`` (what was found) and ``governance.pii.features`` (whether protected columns feed
    the model)."""
    protected = scan.protected
    summary = scan.by_column()
    flagged = scan.flagged_columns
    ids = scan.identifier_columns
    checks = [catalogue.check(
        "governance.pii.scan", "warn" if protected else "pass",
        {"flagged_columns": len(flagged), "identifier_columns": len(ids), "columns": summary},
        title="Personal data and identifiers found in the data",
        threshold={"kinds": list(KINDS), "flag_above_share": scan.thresholds,
                   "identifier_min_distinct_share": scan.settings.identifier_min_distinct_share,
                   "identifier_min_rows": scan.settings.identifier_min_rows},
        evidence=evidence,
        why=("Personal data in training or scoring data needs a lawful basis, minimisation and protection; every "
             "protected column (" + ", ".join(protected) + ") is masked wherever this pack shows data."
             if protected else
             "No e-mail, phone, card, SSN, IP, IBAN, birth date or person-name column and no nearly unique text "
             "column was found, so the pack can show data rows without masking."))]
    used = [c for c in features if c in set(protected)]
    left_out = sorted(str(c) for c in excluded)
    if used:
        why = ("Protected columns are model features: " + ", ".join(used) + ". A model fitted on names, e-mails or "
               "identifiers memorises individuals, leaks them through its parameters and fails on unseen people; "
               "remove them from data.features unless that is justified and recorded.")
    elif left_out:
        why = (f"The protected columns {', '.join(left_out)} were left out of the model features automatically "
               "(a model fitted on them would store them in its encoders); list them in data.features to use them "
               "on purpose.")
    else:
        why = "No protected column is a model feature."
    checks.append(catalogue.check(
        "governance.pii.features", "warn" if used else "pass", {"used": used, "excluded_automatically": left_out},
        title="Personal data or identifiers used as model features", threshold={"max": 0, "of": "protected columns used"},
        evidence=evidence, why=why))
    return checks


def leak_check(ctx, root: Path, *, exclude: list[Path] | tuple = (), check_id: str = "governance.pii.redacted",
               evidence: str | None = None, per_column: int | None = None) -> tuple[dict, list[dict]]:
    """Search every file under ``root`` (but ``exclude``), inside archives and binaries, for every raw value of the
    protected columns and for the once-only values of high-cardinality text columns."""
    scan = privacy_of(ctx) or PrivacyScan()
    allow = bool(getattr(ctx.policy, "allow_raw_pii", False))
    protected = scan.protected
    high = sorted(scan.high_cardinality)
    needles, common = leaks.searchable(leaks.needles([ctx.reference, ctx.current], protected, high,
                                                     per_column=per_column))
    name_cols = [c for c in protected if scan.mask_kind(c) == "person_name"]
    hits, searched = leaks.search(root, needles, exclude=exclude, name_columns=name_cols) if needles else ([], 0)
    if not needles:
        searched = sum(1 for p in Path(root).rglob("*") if p.is_file()) if Path(root).exists() else 0
    raw = [h for h in hits if h["column"] in set(protected)]
    rare = [h for h in hits if h["column"] not in set(protected)]
    files_hit = sorted({h["file"].split("!")[0] for h in raw})
    rare_files = sorted({h["file"].split("!")[0] for h in rare})
    value = {"protected_columns": len(protected), "values_searched": sum(len(v) for v in needles.values()),
             "values_in_the_packs_own_text": common,
             "files_searched": searched, "files_with_raw_values": len(files_hit), "files": files_hit[:20],
             "high_cardinality_columns": high, "files_with_rare_values": rare_files[:20], "allow_raw_pii": allow}
    if allow:
        status = "warn"
        why = ("policy.allow_raw_pii is true, so raw personal data may appear in this pack: store and share it as "
               "personal data.")
    elif raw:
        status = "fail"
        why = ("Raw values of protected columns (" + ", ".join(sorted({h["column"] for h in raw})) + ") were found "
               "in the pack's files listed in the value: whoever receives the pack receives that personal data. "
               "Route those rows through playbook.display.redact and keep the columns out of the model.")
    elif rare:
        status = "warn"
        why = ("Values that occur in one row only of the high-cardinality text columns "
               + ", ".join(sorted({h["column"] for h in rare})) + " appear in the files listed under "
               "files_with_rare_values; if those columns hold personal data, exclude them (data.exclude).")
    elif not protected and not high:
        status = "pass"
        why = "No column is protected or high-cardinality text, so there are no raw values to leak."
    else:
        status = "pass"
        why = (f"None of the {value['values_searched']} raw values of the protected and high-cardinality columns "
               f"occurs in any of the {searched} files of the pack (archives and binary files included).")
    check = catalogue.check(check_id, status, value, title="No raw personal data in the evidence pack",
                            threshold={"max": 0, "of": "files with raw values"}, evidence=evidence, why=why)
    return check, hits


def k_anonymity_check(ctx, *, k: int | None = None, evidence: str | None = None) -> tuple[dict, dict]:
    """``governance.privacy.k_anonymity`` on the reference data: the smallest group of rows sharing the values of
    the quasi-identifiers (declared sensitive columns and demographic-looking ones). The gate's ``min`` is the
    required k (default 5); returns ``(check, result)``."""
    scan = privacy_of(ctx) or PrivacyScan()
    required = int(k if k is not None else ctx.limit("governance.privacy.k_anonymity", "min", kanon.DEFAULT_K))
    dob = [c for c in scan.protected if scan.mask_kind(c) == "date_of_birth"]
    masked = [c for c in scan.protected if c not in dob]
    roles = ctx.roles
    exclude = [roles.target] + ([roles.timestamp] if roles.timestamp else []) + list(roles.id)
    cols = kanon.quasi_identifiers(ctx.reference, roles.sensitive, masked, exclude)
    res = kanon.k_anonymity(ctx.reference, cols, required)
    if not cols:
        chk = catalogue.skip("governance.privacy.k_anonymity", not_applicable=True, evidence=evidence,
                             why="No sensitive (data.sensitive) or demographic-looking column (age, sex, race, "
                                 "postcode, birth date, ...) to combine, so no quasi-identifier risk is measured.")
        return chk, res
    status = "pass" if res["k"] >= required else "warn"
    why = (f"Rows are grouped by {', '.join(cols)}: the smallest group holds {res['k']} row(s) and "
           f"{res['share_below_k']:.1%} of the rows are in groups smaller than {required}. "
           + ("Each person hides among at least k others on these columns."
              if status == "pass" else
              "Whoever knows these few facts about a person can single out their row (and its label); coarsen the "
              "columns (age bands, 3-digit postcodes) or restrict access to the data and the pack's row-level views."))
    chk = catalogue.check("governance.privacy.k_anonymity", status,
                          {"value": res["k"], "share_below_k": res["share_below_k"], "rows_below_k": res["rows_below_k"],
                           "groups": res["groups"], "columns": cols},
                          threshold={"min": required}, evidence=evidence, why=why)
    return chk, res
