"""The one way templates show or export data rows: PII columns are masked unless the policy allows raw PII.

Every DataFrame that is displayed in a notebook, or written into an artifact (reports, JSON, HTML), goes
through :func:`redact` (or :func:`show` for display) first, so that no raw value of a column flagged as
PII reaches the evidence pack.
"""

from __future__ import annotations

import pandas as pd


def pii_columns(df: pd.DataFrame, ctx=None) -> list[str]:
    """Columns of ``df`` flagged as personal data (by name hints or value shape)."""
    try:
        from playbook.governance.pii import flag_columns
    except ImportError:  # governance module not available
        return []
    return flag_columns(df, ctx)


def redact(df: pd.DataFrame, ctx=None) -> pd.DataFrame:
    """A copy of ``df`` with PII columns masked (unchanged when ``policy.allow_raw_pii`` is true)."""
    if ctx is not None and getattr(ctx.policy, "allow_raw_pii", False):
        return df
    cols = pii_columns(df, ctx)
    if not cols:
        return df
    try:
        from playbook.governance.pii import mask_series
    except ImportError:  # pragma: no cover
        def mask_series(s):  # type: ignore[no-redef]
            return s.where(s.isna(), "<redacted>")
    out = df.copy()
    for c in cols:
        out[c] = mask_series(out[c])
    return out


def show(df: pd.DataFrame, ctx=None, n: int = 5) -> pd.DataFrame:
    """The first ``n`` rows, redacted: use this instead of ``df.head()`` in templates."""
    return redact(df.head(n), ctx)
