"""base/frames.per_category and per_value: the same answer as the row-wise test, categorical or not, missing values included."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from base.frames import per_value

TESTS = [
    lambda s: s.astype("string").str.strip().str.upper().isin({"", "NONE"}).fillna(False),
    lambda s: ~s.astype("str").isin({"self_service", "nan"}),
    lambda s: s.notna() & (s.astype("str") == "a"),
]


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.sampled_from(["a", " a", "none", "NONE ", "", "self_service", "b"])),
                       min_size=1, max_size=40), which=st.integers(0, len(TESTS) - 1))
def test_per_value_equals_the_row_wise_test(values, which):
    test = TESTS[which]
    plain = pd.Series([np.nan if v is None else v for v in values], dtype=object)
    assert np.array_equal(per_value(plain, test), np.asarray(test(plain), dtype=bool))
    cat = plain.astype("category")  # as the report reads the contacts: the row-wise test on the column itself
    assert np.array_equal(per_value(cat, test), np.asarray(test(cat), dtype=bool))


@settings(max_examples=40, deadline=None)
@given(keys=st.lists(st.sampled_from(list("abcdefgh")), min_size=1, max_size=8, unique=True),
       asked=st.lists(st.sampled_from(list("abcdefghxy")), min_size=0, max_size=6, unique=True))
def test_rows_of_equals_set_index_reindex(keys, asked):
    from base.frames import rows_of

    table = pd.DataFrame({"contact_id": keys, "v": np.arange(len(keys), dtype=float),
                          "c": pd.Categorical([k.upper() for k in keys])})
    ids = pd.Series(asked, dtype=object)
    pd.testing.assert_frame_equal(rows_of(table, ids), table.set_index("contact_id").reindex(ids))


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "1", "c d"])), min_size=1, max_size=40),
       numeric_categories=st.booleans())
def test_per_category_equals_the_row_wise_statement(values, numeric_categories):
    """As the report uses it: text per row, and codes equal exactly where the text is equal."""
    from base.frames import per_category

    raw = [np.nan if v is None else (int(v) if numeric_categories and v == "1" else v) for v in values]
    plain = pd.Series(raw, dtype=object)
    for col in (plain, plain.astype("category")):
        text = per_category(col, lambda v: v.astype(str).to_numpy(dtype=object))
        want = col.astype(object).astype(str).to_numpy(dtype=object)
        assert [str(t) for t in text] == [str(w) for w in want]
        codes = per_category(col, lambda v: pd.factorize(v.astype(str))[0])
        by_row = pd.factorize(col.astype(object).astype(str))[0]
        assert np.array_equal(codes[:, None] == codes[None, :], by_row[:, None] == by_row[None, :])
