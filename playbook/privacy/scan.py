"""The privacy scan of a pack's data: computed once, stored in the pack, read by every step.

:func:`scan_data` scans the reference and current frames: the personal-data kinds of every column
(:mod:`playbook.privacy.detect`), identifiers by shape and high-cardinality text. The result, a
:class:`PrivacyScan`, holds column names, shares and masked examples only, never a raw value, so it can be
written into the pack: ``playbook run`` writes it as ``privacy.json`` at the pack's root before the first step,
and every step's :func:`playbook.load_context` reads it back (:func:`for_data`) instead of scanning again; the
context exposes it as ``ctx.privacy``.

``policy.privacy`` in the pack config tunes the scan::

    policy:
      privacy:
        identifier_min_distinct_share: 0.9   # a text column this distinct (and at least identifier_min_rows rows)
        identifier_min_rows: 50              #   is an identifier: masked, never a model feature by default
        high_cardinality_min_distinct_share: 0.5
        high_cardinality_min_distinct: 20
        max_values: 5000                     # values scanned per column (evenly spread over larger columns)
        thresholds: {phone: 0.02, person_name: 0.5, date_of_birth: 0.5}   # flag a kind above this share
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from playbook.privacy import detect
from playbook.privacy.patterns import DEFAULT_MAX_VALUES

SCHEMA_VERSION = 1
FILENAME = "privacy.json"


class PrivacySettingsError(ValueError):
    """A bad ``policy.privacy`` setting (the message names the key and the fix)."""


@dataclass
class PrivacySettings:
    identifier_min_distinct_share: float = detect.IDENTIFIER_MIN_DISTINCT_SHARE
    identifier_min_rows: int = detect.IDENTIFIER_MIN_ROWS
    high_cardinality_min_distinct_share: float = detect.HIGH_CARDINALITY_MIN_DISTINCT_SHARE
    high_cardinality_min_distinct: int = detect.HIGH_CARDINALITY_MIN_DISTINCT
    max_values: int = DEFAULT_MAX_VALUES
    thresholds: dict[str, float] = field(default_factory=lambda: dict(detect.DEFAULT_THRESHOLDS))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> "PrivacySettings":
        """Settings from ``policy.privacy`` (validated: a bad key or value raises with one sentence)."""
        raw = dict(raw or {})
        known = {f.name for f in fields(cls)}
        out = cls()
        for key, value in raw.items():
            where = f"policy.privacy.{key}"
            if key not in known:
                raise PrivacySettingsError(f"{where}: unknown key; policy.privacy takes {', '.join(sorted(known))}.")
            if key == "thresholds":
                if not isinstance(value, Mapping):
                    raise PrivacySettingsError(f"{where}: expected a mapping of kind -> share, e.g. {{phone: 0.02}}.")
                for k, v in value.items():
                    if k not in detect.DEFAULT_THRESHOLDS:
                        raise PrivacySettingsError(f"{where}.{k}: unknown kind; the kinds are "
                                                   f"{', '.join(detect.DEFAULT_THRESHOLDS)}.")
                    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
                        raise PrivacySettingsError(f"{where}.{k}: expected a share in [0, 1), got {v!r}.")
                out.thresholds = {**detect.DEFAULT_THRESHOLDS, **{k: float(v) for k, v in value.items()}}
                continue
            if key.endswith("_share"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                    raise PrivacySettingsError(f"{where}: expected a share in (0, 1], got {value!r}.")
                setattr(out, key, float(value))
            else:
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise PrivacySettingsError(f"{where}: expected a whole number of at least 1, got {value!r}.")
                setattr(out, key, int(value))
        return out

    @classmethod
    def from_policy(cls, policy) -> "PrivacySettings":
        raw = policy.get("privacy") if isinstance(policy, Mapping) else getattr(policy, "privacy", None)
        return cls.from_mapping(raw)


@dataclass
class PrivacyScan:
    """What the scan found (no raw values): findings per column and kind, identifiers, high-cardinality text."""

    findings: list[detect.Finding] = field(default_factory=list)
    identifiers: dict[str, dict] = field(default_factory=dict)        # column -> {rows, distinct, distinct_share}
    high_cardinality: dict[str, dict] = field(default_factory=dict)   # column -> {rows, distinct, distinct_share}
    settings: PrivacySettings = field(default_factory=PrivacySettings)
    inputs: dict[str, str] = field(default_factory=dict)              # what was scanned (data fingerprints)

    # what the scan decided ------------------------------------------------------------------------------------
    @property
    def thresholds(self) -> dict[str, float]:
        return dict(self.settings.thresholds)

    @property
    def flagged_columns(self) -> list[str]:
        """Columns whose values hold personal data of a known kind (not column names holding it)."""
        return sorted({f.column for f in self.findings if f.flagged and f.basis != "column name"})

    @property
    def identifier_columns(self) -> list[str]:
        return sorted(self.identifiers)

    @property
    def protected(self) -> list[str]:
        """Columns masked wherever the pack shows data and kept out of the model by default: flagged or identifiers."""
        return sorted(set(self.flagged_columns) | set(self.identifiers))

    def kinds(self, column: str) -> list[str]:
        out = sorted({f.kind for f in self.findings if f.flagged and f.column == column})
        if column in self.identifiers:
            out.append("identifier")
        return out

    def mask_kind(self, column: str) -> str | None:
        """How a protected column is masked: names, birth dates and identifiers whole, pattern kinds by span."""
        ks = self.kinds(column)
        for k in ("date_of_birth", "person_name"):
            if k in ks:
                return k
        pattern = [k for k in ks if k != "identifier"]
        if pattern:
            return pattern[0]
        return "identifier" if ks else None

    def by_column(self) -> dict[str, list[str]]:
        return {c: self.kinds(c) for c in self.protected}

    def table(self) -> pd.DataFrame:
        return detect.findings_table(self.findings)

    # storage ----------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "inputs": dict(self.inputs),
            "settings": asdict(self.settings),
            "protected_columns": self.by_column(),
            "flagged_columns": self.flagged_columns,
            "identifiers": self.identifiers,
            "high_cardinality": self.high_cardinality,
            "findings": [f.as_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PrivacyScan":
        return cls(findings=[detect.Finding(**f) for f in d.get("findings", [])],
                   identifiers={k: dict(v) for k, v in (d.get("identifiers") or {}).items()},
                   high_cardinality={k: dict(v) for k, v in (d.get("high_cardinality") or {}).items()},
                   settings=PrivacySettings(**(d.get("settings") or {})),
                   inputs=dict(d.get("inputs") or {}))

    def save(self, path: str | Path) -> Path:
        from playbook.results import write_json_atomic

        write_json_atomic(Path(path), self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "PrivacyScan":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def fingerprints(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, str]:
    from playbook.data import fingerprint_frame

    return {"reference": fingerprint_frame(reference), "current": fingerprint_frame(current)}


def scan_data(reference: pd.DataFrame, current: pd.DataFrame | None = None, settings: PrivacySettings | None = None,
              *, skip: Iterable[str] = (), inputs: dict | None = None) -> PrivacyScan:
    """Scan the reference and current data. ``skip`` columns (e.g. the target) are never identifiers or
    high-cardinality text (they are still scanned for personal-data kinds)."""
    st = settings or PrivacySettings()
    frames = [f for f in (reference, current) if isinstance(f, pd.DataFrame)]
    findings = detect.merge_findings(*[detect.scan_frame(f, max_values=st.max_values, thresholds=st.thresholds)
                                       for f in frames])
    flagged = {f.column for f in findings if f.flagged}
    skip = {str(c) for c in skip}
    identifiers: dict[str, dict] = {}
    high: dict[str, dict] = {}
    columns = list(dict.fromkeys(str(c) for f in frames for c in f.columns))
    for col in columns:
        if col in skip:
            continue
        stats = [detect.distinct_stats(f[col]) for f in frames if col in f.columns]
        stats = [s for s in stats if s]
        if not stats:
            continue
        ident = [s for s in stats if detect.is_identifier(s, min_distinct_share=st.identifier_min_distinct_share,
                                                          min_rows=st.identifier_min_rows)]
        if ident:
            identifiers[col] = max(ident, key=lambda s: s["distinct_share"])
        elif col not in flagged:
            hc = [s for s in stats if detect.is_high_cardinality(
                s, min_distinct_share=st.high_cardinality_min_distinct_share,
                min_distinct=st.high_cardinality_min_distinct)]
            if hc:
                high[col] = max(hc, key=lambda s: s["distinct_share"])
    return PrivacyScan(findings, identifiers, high, st, dict(inputs or {}))


def for_data(cfg, reference: pd.DataFrame, current: pd.DataFrame, pack_dir: str | Path | None = None,
             *, skip: Iterable[str] = (), same_data: bool = False) -> PrivacyScan:
    """The scan of a pack's data: read from ``<pack_dir>/privacy.json`` when it was made from the same data and
    settings, else computed (and not written: the runner stores it in the pack, see :func:`store`).

    ``same_data``: the frames are known to be the ones the stored scan was made from (a step of a run reading the
    run's own columnar copy, :mod:`playbook.preflight`), so they are not hashed again to prove it."""
    settings = PrivacySettings.from_policy(cfg.policy)
    inputs = None if same_data else fingerprints(reference, current)
    if pack_dir:
        p = Path(pack_dir) / FILENAME
        if p.is_file():
            try:
                stored = PrivacyScan.load(p)
            except (OSError, ValueError, TypeError, KeyError):
                stored = None
            if (stored is not None and (same_data or stored.inputs == inputs)
                    and asdict(stored.settings) == asdict(settings)):
                return stored
    return scan_data(reference, current, settings, skip=skip,
                     inputs=inputs if inputs is not None else fingerprints(reference, current))


def store(scan: PrivacyScan, pack_dir: str | Path) -> Path:
    """Write the scan into a pack (``privacy.json`` at its root); it holds no raw value."""
    return scan.save(Path(pack_dir) / FILENAME)


# --- derived frames (what display.redact asks about columns the data scan has not seen) ----------------------------
_COLUMN_CACHE: "OrderedDict[tuple, bool]" = OrderedDict()
_COLUMN_CACHE_MAX = 4096


def _column_key(s: pd.Series, name: str, max_values: int) -> tuple:
    smp = detect.sample(s, max_values)
    try:
        h = pd.util.hash_pandas_object(smp, index=False).to_numpy()
        digest = hashlib.sha1(h.tobytes()).hexdigest()
    except TypeError:  # unhashable cells (lists, dicts)
        digest = hashlib.sha1(repr(smp.tolist()).encode()).hexdigest()
    return (name, str(s.dtype), len(smp), digest)


def column_flagged(s: pd.Series, name: str | None = None, *, max_values: int = DEFAULT_MAX_VALUES,
                   thresholds: dict[str, float] | None = None) -> bool:
    """Whether one column of a derived frame holds personal data (memoised by content: a frame shown many times
    is scanned once)."""
    name = str(name if name is not None else s.name)
    key = _column_key(s, name, max_values) + (tuple(sorted((thresholds or {}).items())),)
    hit = _COLUMN_CACHE.get(key)
    if hit is not None:
        _COLUMN_CACHE.move_to_end(key)
        return hit
    flagged = any(f.flagged for f in detect.scan_column(s, name, max_values=max_values, thresholds=thresholds))
    flagged = flagged or bool(detect.scan_column_name(name))
    _COLUMN_CACHE[key] = flagged
    if len(_COLUMN_CACHE) > _COLUMN_CACHE_MAX:
        _COLUMN_CACHE.popitem(last=False)
    return flagged


def privacy_of(ctx) -> PrivacyScan | None:
    """The context's scan (``ctx.privacy``); for a bare object with ``reference`` / ``current`` frames, a fresh
    scan of them (nothing is stored on the object)."""
    if ctx is None:
        return None
    scan = getattr(ctx, "privacy", None)
    if isinstance(scan, PrivacyScan):
        return scan
    ref = getattr(ctx, "reference", None)
    if isinstance(ref, pd.DataFrame):
        return scan_data(ref, getattr(ctx, "current", None))
    return None


def flag_columns(df: pd.DataFrame, ctx=None, scan: PrivacyScan | None = None) -> list:
    """Columns of ``df`` to mask: protected in the data scan (by name, also inside a tuple of a MultiIndex), or
    flagged by scanning ``df`` itself (so derived frames - shifted, swapped, renamed columns - are covered too)."""
    scan = scan or privacy_of(ctx)
    known = set(scan.protected) if scan else set()
    th = scan.thresholds if scan else None
    out = []
    for col in df.columns:
        name = str(col)
        levels = {str(x) for x in col} if isinstance(col, tuple) else {name}
        if levels & known:
            out.append(col)
            continue
        if column_flagged(df[col], name, thresholds=th):
            out.append(col)
    return out
