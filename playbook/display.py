"""The one way templates show or export data rows: protected columns are masked unless the policy allows raw PII.

Every DataFrame that is displayed in a notebook, or written into an artifact (reports, JSON, HTML), goes
through :func:`redact` (or :func:`show` for display) first, so that no raw value of a protected column reaches the
evidence pack. Protected columns are those of the pack's privacy scan (``ctx.privacy``: columns flagged as personal
data and identifiers by shape, :mod:`playbook.privacy`), matched by name, also inside a MultiIndex tuple; a column
the scan has not seen (a derived frame: shifted, swapped, renamed columns) is scanned by content.
Besides the protected columns' values, :func:`redact` masks a non-range index that holds personal data
(``df.set_index("email")``) and column *names* that hold personal data (a pivot by e-mail address).
"""

from __future__ import annotations

import pandas as pd

from playbook import privacy


def pii_columns(df: pd.DataFrame, ctx=None) -> list:
    """Columns of ``df`` that :func:`redact` masks (protected by the scan, or personal data by content)."""
    return privacy.flag_columns(df, ctx)


def protected_columns(ctx) -> list[str]:
    """The context's protected columns (flagged personal data and identifiers), none when raw PII is allowed."""
    if _allow_raw(ctx):
        return []
    scan = privacy.privacy_of(ctx)
    return list(scan.protected) if scan else []


def _allow_raw(ctx) -> bool:
    policy = getattr(ctx, "policy", None) if ctx is not None else None
    return bool(getattr(policy, "allow_raw_pii", False))


def _kind(scan, col) -> str | None:
    if scan is None:
        return None
    names = [str(x) for x in col] if isinstance(col, tuple) else [str(col)]
    for n in names:
        k = scan.mask_kind(n)
        if k:
            return k
    return None


def redact(df: pd.DataFrame, ctx=None) -> pd.DataFrame:
    """A copy of ``df`` with protected columns masked (unchanged when ``policy.allow_raw_pii`` is true)."""
    if _allow_raw(ctx):
        return df
    if isinstance(df, pd.Series):
        return redact(df.to_frame(), ctx).iloc[:, 0]
    scan = privacy.privacy_of(ctx)
    cols = privacy.flag_columns(df, scan=scan)
    out = df
    if cols:
        out = df.copy()
        for c in cols:
            out[c] = privacy.mask_series(out[c], kind=_kind(scan, c))
    if not isinstance(out.index, pd.RangeIndex) and out.index.nlevels == 1:
        idx = out.index.to_series(index=pd.RangeIndex(len(out.index)), name=out.index.name)
        name = str(out.index.name) if out.index.name is not None else ""
        if (name and scan is not None and name in scan.protected) or privacy.column_flagged(idx, name):
            out = out.copy() if out is df else out
            out.index = pd.Index(privacy.mask_series(idx, kind=_kind(scan, name)).tolist(), name=out.index.name)
    renamed = {c: privacy.masked_column_name(str(c)) for c in out.columns if isinstance(c, str)}
    renamed = {k: v for k, v in renamed.items() if k != v}
    if renamed:
        out = out.rename(columns=renamed)
    return out


def show(df: pd.DataFrame, ctx=None, n: int = 5) -> pd.DataFrame:
    """The first ``n`` rows, redacted: use this instead of ``df.head()`` in templates."""
    return redact(df.head(n), ctx)
