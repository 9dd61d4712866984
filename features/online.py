"""The online snapshot: the state the service starts from, as of the end of the data.

In (featurize stage): contacts, labels, the label window and the snapshot time T. Out: the online
snapshot, a dict of tables: `history` (every contact of the last 90 days before T, the rows the
windowed features count, plus each other customer's latest earlier contact, for days since the last
one; with the columns labelling reads, so that the service labels the contacts whose window was
still open at T when it closes: features/live_labels.py), `meta` (T, the window and the label rules
as JSON) and, per grouping of features/rules.py (customer, reason code and family, team, agent, agent x
family, global), the label counts that had matured before T.
The service (features/online_state.py) starts from it. For a contact arriving at T its features equal
the batch features (tests/features/test_builder.py); later ones too, the live state labelling what
matures after T (tests/features/test_live_labels.py).
Its parts (`matured_rows`, `group_sums`, `keyed_counts`, `history_kept`, `snapshot_meta`) are what the
Dask engine (engine/features.py) calls per customer partition and on the partitions' sums.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.builder import agent_family_key, aligned_labels, is_labelled
from features.history import group_codes
from features.rules import DAY, GLOBAL_KEY, GROUPINGS
from features.spec import WINDOWS_DAYS
from labelling.config import LabelConfig

HISTORY_COLUMNS = ["contact_id", "customer_id", "started_at", "channel", "reason_code", "reason_family",
                   "agent_id", "team"]
# What labelling reads besides (labelling/labeller.py), when the export has it.
LABEL_INPUTS = ["ended_at", "disposition", "survey_resolved", "resolution_signal"]


def _keys(frame: pd.DataFrame, grouping: str) -> pd.Series:
    if grouping == "global":
        return pd.Series(GLOBAL_KEY, index=frame.index)
    if grouping == "agent_family":
        return agent_family_key(frame["agent_id"], frame["reason_family"])
    return frame[GROUPINGS[grouping][0]].astype("str")


def online_snapshot(contacts: pd.DataFrame, labels: pd.DataFrame, label: LabelConfig,
                    as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The state the service needs, as of `as_of` (see the module docstring); `label`: the rules the
    labels were made with."""
    contacts = with_history_columns(contacts)
    snap = keyed_counts(group_sums(matured_rows(contacts, labels, label, as_of)))
    snap["history"] = history_rows(contacts, label, as_of)
    snap["meta"] = snapshot_meta(label, as_of)
    return snap


def with_history_columns(contacts: pd.DataFrame) -> pd.DataFrame:
    """Optional columns absent from the export (no agent_id, no team) as simply missing."""
    return contacts.reindex(columns=list(dict.fromkeys([*contacts.columns, *HISTORY_COLUMNS])))


def _seconds(t: pd.Series | pd.Timestamp) -> np.ndarray:
    return pd.DatetimeIndex(t if isinstance(t, pd.Series) else [t]).as_unit("s").asi8


def matured_rows(contacts: pd.DataFrame, labels: pd.DataFrame, label: LabelConfig, as_of: pd.Timestamp) -> pd.DataFrame:
    """The contacts whose label had matured before `as_of` (the batch builder's rule, in its whole seconds:
    started_at + window < as_of), their grouping columns with events (repeated) and trials (1)."""
    lab = aligned_labels(labels, contacts["contact_id"])
    matured = is_labelled(lab["status"]) & (
        _seconds(contacts["started_at"]) + int(round(label.window_days * DAY)) < _seconds(as_of)[0])
    repeated = lab["repeated"].fillna(False).to_numpy(dtype=bool) & matured
    counted = contacts.loc[matured, ["customer_id", "reason_code", "reason_family", "team", "agent_id"]]
    return counted.assign(events=repeated[matured].astype(np.int64), trials=np.int64(1))


def group_sums(counted: pd.DataFrame | dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Per grouping, events and trials summed by its columns (grouped on the raw, often categorical, columns).
    Given a dict, the tables of several sets of rows (each's `group_sums`, concatenated per grouping): sums of
    sums, the same tables as from all the rows at once."""
    out = {}
    for grouping, columns in GROUPINGS.items():
        rows = counted[grouping] if isinstance(counted, dict) else counted
        if not columns:
            out[grouping] = pd.DataFrame({"events": [int(rows["events"].sum())], "trials": [int(rows["trials"].sum())]})
        else:
            out[grouping] = rows.groupby(list(columns), observed=True)[["events", "trials"]].sum().reset_index()
    return out


def keyed_counts(sums: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """`group_sums`' tables indexed by the snapshot's string keys (features/rules.py's GROUPINGS)."""
    snap = {}
    for grouping, table in sums.items():
        keys = [GLOBAL_KEY] if grouping == "global" else _keys(table, grouping).to_numpy()
        snap[grouping] = table[["events", "trials"]].set_axis(pd.Index(keys, name="key"))
    return snap


def history_rows(contacts: pd.DataFrame, label: LabelConfig, as_of: pd.Timestamp) -> pd.DataFrame:
    """The snapshot's history: `history_kept`'s contacts, in their order, with `history_columns`."""
    return contacts.loc[history_kept(contacts, label, as_of), history_columns(contacts)].reset_index(drop=True)


def history_columns(contacts: pd.DataFrame) -> list[str]:
    return HISTORY_COLUMNS + [c for c in LABEL_INPUTS if c in contacts]


def history_kept(contacts: pd.DataFrame, label: LabelConfig, as_of: pd.Timestamp) -> np.ndarray:
    """Per contact, whether the history keeps it: every contact of the look-back before `as_of` (the longest
    count window or the label window, plus a day), and each other customer's latest earlier contact. Exact
    on rows holding whole customers."""
    t, t_s, as_of_s = contacts["started_at"], _seconds(contacts["started_at"]), _seconds(as_of)[0]
    lookback = pd.Timedelta(days=max(max(WINDOWS_DAYS), label.window_days) + 1)
    recent = (t >= as_of - lookback) & (t < as_of)
    # Days since the previous contact reaches back past the lookback: keep the latest older contact of
    # each customer who has none in the lookback (windowed counts ignore it, being older than 90 days).
    # Integer codes, not string sets: pandas' isin on 10M customer ids takes seconds.
    cust = group_codes(contacts["customer_id"])
    keep = recent.to_numpy().copy()
    seen = np.zeros(int(cust.max(initial=-1)) + 2, dtype=bool)
    seen[cust[keep] + 1] = True
    rows = np.flatnonzero(~keep & (t_s < as_of_s) & (cust >= 0) & ~seen[cust + 1])
    if len(rows):
        rows = rows[np.lexsort((t_s[rows], cust[rows]))]
        last = np.r_[cust[rows][1:] != cust[rows][:-1], True]  # the latest row of each customer
        keep[rows[last]] = True
    return keep


def snapshot_meta(label: LabelConfig, as_of: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame({"as_of": [as_of], "window_days": [label.window_days], "label": [label.model_dump_json()]})


def snapshot_time(label: LabelConfig, latest: pd.Timestamp) -> pd.Timestamp:
    """When the snapshot is taken: the labeller's end of data (label.as_of, else `latest`, the latest start)."""
    return pd.Timestamp(label.as_of, tz="UTC") if label.as_of else latest
