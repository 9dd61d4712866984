"""The online snapshot's parts (features/online.py) on customer subsets: the count tables of the subsets'
`group_sums` summed again, and their history rows put back in the contacts' order, are the whole table's
snapshot (what the Dask engine relies on)."""

from __future__ import annotations

import pandas as pd

from features.history import group_codes
from features.online import (group_sums, history_columns, history_kept, keyed_counts, matured_rows, online_snapshot,
                             with_history_columns)
from labelling.config import LabelConfig
from labelling.labeller import label_contacts
from synthetic.config import SyntheticConfig
from tests.centre import centre


def test_snapshot_of_customer_subsets_summed_is_the_whole_snapshot():
    contacts = centre(SyntheticConfig.default(n_contacts=6000, n_customers=800, n_agents=20, n_teams=3, days=150))[1]
    label = LabelConfig.default()
    labels = label_contacts(contacts, label)
    as_of = contacts["started_at"].max()
    want = online_snapshot(contacts, labels, label, as_of)
    contacts = with_history_columns(contacts).assign(row=range(len(contacts)))
    third = group_codes(contacts["customer_id"]) % 3
    sums, history = {}, []
    for k in range(3):  # whole customers per subset, the subsets in another order than the contacts
        part = contacts[third == k].sample(frac=1.0, random_state=k)
        for grouping, table in group_sums(matured_rows(part, labels, label, as_of)).items():
            sums.setdefault(grouping, []).append(table)
        history.append(part.loc[history_kept(part, label, as_of), [*history_columns(part), "row"]])
    got = keyed_counts(group_sums({g: pd.concat(tables, ignore_index=True) for g, tables in sums.items()}))
    for grouping, table in got.items():
        pd.testing.assert_frame_equal(table, want[grouping], check_exact=True)
        assert table["trials"].sum() > 0, grouping
    kept = pd.concat(history).sort_values("row")
    assert len(kept) > 1000 and kept["started_at"].lt(as_of - pd.Timedelta(days=91)).any()  # older latest contacts too
    pd.testing.assert_frame_equal(kept.drop(columns="row").reset_index(drop=True), want["history"])
