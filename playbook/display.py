"""The one way templates show or export data rows: PII columns are masked unless the policy allows raw PII.

Every DataFrame that is displayed in a notebook, or written into an artifact (reports, JSON, HTML), goes
through :func:`redact` (or :func:`show` for display) first, so that no raw value of a column flagged as
PII reaches the evidence pack.

Flagging (:func:`playbook.governance.pii.flag_columns`) is computed once per context from its reference
and current data, and per column content for frames derived from them, so repeated calls are cheap.
Besides the flagged columns' values, :func:`redact` masks a non-range index that holds personal data
(``df.set_index("email")``) and column *names* that hold personal data (a pivot by e-mail address).
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


def _allow_raw(ctx) -> bool:
    policy = getattr(ctx, "policy", None) if ctx is not None else None
    return bool(getattr(policy, "allow_raw_pii", False))


def redact(df: pd.DataFrame, ctx=None) -> pd.DataFrame:
    """A copy of ``df`` with PII columns masked (unchanged when ``policy.allow_raw_pii`` is true)."""
    if _allow_raw(ctx):
        return df
    if isinstance(df, pd.Series):
        return redact(df.to_frame(), ctx).iloc[:, 0]
    from playbook.governance.pii import column_flagged, context_flagged, mask_series, masked_column_name

    cols = pii_columns(df, ctx)
    out = df
    if cols:
        out = df.copy()
        for c in cols:
            out[c] = mask_series(out[c])
    if not isinstance(out.index, pd.RangeIndex) and out.index.nlevels == 1:
        idx = out.index.to_series(index=pd.RangeIndex(len(out.index)), name=out.index.name)
        name = str(out.index.name) if out.index.name is not None else ""
        if (name and name in context_flagged(ctx)) or column_flagged(idx, name):
            out = out.copy() if out is df else out
            out.index = pd.Index(mask_series(idx).tolist(), name=out.index.name)
    renamed = {c: masked_column_name(str(c)) for c in out.columns if isinstance(c, str)}
    renamed = {k: v for k, v in renamed.items() if k != v}
    if renamed:
        out = out.rename(columns=renamed)
    return out


def show(df: pd.DataFrame, ctx=None, n: int = 5) -> pd.DataFrame:
    """The first ``n`` rows, redacted: use this instead of ``df.head()`` in templates."""
    return redact(df.head(n), ctx)
