"""The report's measures rewritten for 10M contacts against their plain pandas statement (the reference)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from report import measures as ms


def _reference(c: pd.DataFrame) -> pd.DataFrame:
    c = c[c["excluded_reason"].astype(str) != "merged"]
    first = c[c["contact_seq"] == 1].drop_duplicates("episode_id").set_index("episode_id")["channel"].astype(str)
    rep = c[c["contact_seq"] > 1]
    came_from = rep["episode_id"].map(first)
    m = came_from.notna()
    return pd.crosstab(came_from[m].rename("first channel"), rep.loc[m, "channel"].astype(str).rename("came back on"))


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["E1", "E2", "E3", "E4"]), st.integers(1, 3),
                               st.sampled_from(["phone", "chat", "email"]), st.sampled_from([None, "merged"])),
                     min_size=1, max_size=30))
def test_channel_switching_equals_the_pandas_statement(rows):
    c = pd.DataFrame(rows, columns=["episode_id", "contact_seq", "channel", "excluded_reason"])
    c["channel"] = c["channel"].astype("category")
    c["excluded_reason"] = c["excluded_reason"].astype("category")
    got, want = ms.channel_switching(c), _reference(c)
    if want.empty:
        assert got.empty
    else:
        pd.testing.assert_frame_equal(got, want)
