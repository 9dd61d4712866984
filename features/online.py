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
    window_days = label.window_days
    # Optional columns absent from the export (no agent_id, no team) are simply missing.
    contacts = contacts.reindex(columns=list(dict.fromkeys([*contacts.columns, *HISTORY_COLUMNS])))
    lab = aligned_labels(labels, contacts["contact_id"])
    t = contacts["started_at"]
    # the batch builder's rule, in its whole seconds: started_at + window < as_of
    t_s = pd.DatetimeIndex(t).as_unit("s").asi8
    as_of_s = pd.DatetimeIndex([as_of]).as_unit("s").asi8[0]
    matured = is_labelled(lab["status"]) & (
        t_s + int(round(window_days * DAY)) < as_of_s)
    repeated = lab["repeated"].fillna(False).to_numpy(dtype=bool) & matured
    snap: dict[str, pd.DataFrame] = {}
    counted = contacts.loc[matured, ["customer_id", "reason_code", "reason_family", "team", "agent_id"]]
    counted = counted.assign(events=repeated[matured].astype(np.int64), trials=np.int64(1))
    for grouping, columns in GROUPINGS.items():
        if not columns:
            table = pd.DataFrame({"events": [int(counted["events"].sum())], "trials": [len(counted)]},
                                 index=pd.Index([GLOBAL_KEY], name="key"))
        else:
            # group on the raw (often categorical) columns; build string keys for the groups only
            table = counted.groupby(list(columns), observed=True)[["events", "trials"]].sum().reset_index()
            table.index = pd.Index(_keys(table, grouping).to_numpy(), name="key")
            table = table[["events", "trials"]]
        snap[grouping] = table
    lookback = pd.Timedelta(days=max(max(WINDOWS_DAYS), window_days) + 1)
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
    columns = HISTORY_COLUMNS + [c for c in LABEL_INPUTS if c in contacts]
    snap["history"] = contacts.loc[keep, columns].reset_index(drop=True)
    snap["meta"] = pd.DataFrame({"as_of": [as_of], "window_days": [window_days], "label": [label.model_dump_json()]})
    return snap
