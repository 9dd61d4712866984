"""Long category lists as the largest few plus "all others", so a chart of 250 reasons stays readable.

In: a per-category FCR table (report/build.py: segment, first_contacts, resolved, fcr, interval, note) and how
many to keep. Out: the same table with the largest `top` categories by first contacts and one row that pools
the rest, its FCR and interval computed from the pooled counts (never an average of rates).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from report import measures as ms


def top_and_others(t: pd.DataFrame, top: int, significance: float, min_contacts: int) -> pd.DataFrame:
    if len(t) <= top + 1:  # pooling one category into "all others" would only rename it
        return t
    order = t.sort_values(["first_contacts", "segment"], ascending=[False, True], kind="stable")
    kept, rest = order.head(top), order.iloc[top:]
    n, r = int(rest["first_contacts"].sum()), int(rest["resolved"].sum())
    lo, hi = ms.interval(np.array([r]), np.array([n]), significance)
    pooled = {
        "segment": f"all others ({len(rest):,} more)",
        "first_contacts": n,
        "resolved": r,
        "fcr": r / n if n else np.nan,
        "ci_low": float(lo[0]),
        "ci_high": float(hi[0]),
        "note": "too few contacts" if n < min_contacts else "",
    }
    return pd.concat([kept, pd.DataFrame([{c: pooled.get(c, np.nan) for c in t.columns}])], ignore_index=True)
