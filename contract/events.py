"""Event logs (several rows per contact, e.g. a ticket's history) -> one row per contact_id.

In: the parsed contact frame, the rows still in play, and `ingest.files.events`. The frame is
changed in place: each contact's kept event (first or last by `order_by`) takes the per-contact
aggregates of the chosen columns. Out: a mask of the other events of each contact, which the caller
counts as filtered by the rule "events: merged into its contact's row".
"""

from __future__ import annotations

import pandas as pd

from contract.vocabulary import CONTRACT


def _column(key: str, extra_names) -> str:
    if key == "outcome_signal":
        return "resolution_signal"
    if key in CONTRACT:
        return key
    if key in extra_names:
        return f"extra_{key}"
    raise ValueError(f"ingest.files.events.aggregate names '{key}'; allowed: contract columns {list(CONTRACT)}, "
                     f"extra columns {list(extra_names)} or outcome_signal.")


def collapse_events(df: pd.DataFrame, live: pd.Series, events, extra_names) -> pd.Series:
    """See the module docstring; returns the mask of merged (non-kept) event rows."""
    order_col = _column(events.order_by, extra_names)
    rows = df.loc[live & df["contact_id"].notna(), ["contact_id", order_col]]
    # Stable: events with the same time keep their file order.
    rows = rows.sort_values(["contact_id", order_col], kind="stable", na_position="last")
    grouped = rows.groupby("contact_id", sort=False)
    kept = (grouped.head(1) if events.keep == "first" else grouped.tail(1)).index
    merged = pd.Series(False, index=df.index)
    merged[rows.index] = True
    merged[kept] = False
    kept_ids = df.loc[kept, "contact_id"]
    for key, rule in events.aggregate.items():
        col = _column(key, extra_names)
        values = df.loc[rows.index, col]
        by = df.loc[rows.index, "contact_id"]
        g = values.groupby(by, sort=False)
        if rule == "any":
            agg = values.fillna(False).astype(bool).groupby(by, sort=False).any()
            agg = agg.where(g.count() > 0)  # no answer in any event: still unknown
        else:
            # first/last: the first/last known value in event order
            agg = getattr(g, rule)() if rule != "sum" else g.sum(min_count=1)
        df.loc[kept, col] = kept_ids.map(agg).to_numpy()
    return merged
