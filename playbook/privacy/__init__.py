"""The privacy layer: detection, masking, the once-per-pack scan and the leak search.

Low level on purpose: :mod:`playbook.context`, :mod:`playbook.display` and every step import it; it imports
nothing of the playbook but :mod:`playbook.data` / :mod:`playbook.results` helpers.

* :mod:`~playbook.privacy.patterns`: e-mail, phone, card, SSN, IP, IBAN, "DOB: ..." in one value;
* :mod:`~playbook.privacy.names`: person names by header (several languages) and by value shape + a given-name
  lexicon (the ``gender-guesser`` package's dictionary);
* :mod:`~playbook.privacy.detect`: per-column findings, identifiers by shape, high-cardinality text;
* :mod:`~playbook.privacy.mask`: masking values and columns, scrubbing documents;
* :mod:`~playbook.privacy.scan`: the :class:`PrivacyScan` of a pack's data (stored as ``privacy.json``, exposed as
  ``ctx.privacy``);
* :mod:`~playbook.privacy.leaks`: the search of every file of a pack (inside archives and binaries) for raw values;
* :mod:`~playbook.privacy.kanon`: k-anonymity of the quasi-identifiers.
"""

from playbook.privacy import kanon, leaks  # noqa: F401  (submodules used as privacy.leaks, privacy.kanon)
from playbook.privacy.detect import (DEFAULT_THRESHOLDS, KIND_TITLES, KINDS, Finding, findings_table,
                                     merge_findings, scan_column, scan_column_name, scan_frame)
from playbook.privacy.mask import digest, mask_series, mask_value, masked_column_name, scrub_text
from playbook.privacy.names import looks_like_name, name_hint
from playbook.privacy.patterns import (Span, card_valid, find_pii, iban_valid, ip_valid, luhn_valid,
                                       pattern_hints, ssn_valid)
from playbook.privacy.scan import (FILENAME, PrivacyScan, PrivacySettings, PrivacySettingsError, column_flagged,
                                   flag_columns, for_data, privacy_of, scan_data, store)


def name_hints(column: str) -> list[str]:
    """The personal-data kinds a column's *name* suggests (a hint only: values decide)."""
    mapping = {"phone": "phone", "ssn": "us_ssn", "dob": "date_of_birth"}
    out = {mapping[h] for h in pattern_hints(column)}
    if name_hint(column):
        out.add("person_name")
    return sorted(out)


__all__ = [
    "DEFAULT_THRESHOLDS", "FILENAME", "KINDS", "KIND_TITLES", "Finding", "PrivacyScan", "PrivacySettings",
    "PrivacySettingsError", "Span", "card_valid", "column_flagged", "digest", "find_pii", "findings_table", "flag_columns",
    "for_data", "iban_valid", "ip_valid", "looks_like_name", "luhn_valid", "mask_series", "mask_value",
    "masked_column_name", "merge_findings", "name_hint", "name_hints", "pattern_hints", "privacy_of",
    "scan_column", "scan_column_name", "scan_data", "scan_frame", "scrub_text", "ssn_valid", "store",
]
