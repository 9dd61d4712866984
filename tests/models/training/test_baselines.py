"""The two customer baselines on hand-made rows with known answers (shrunk rates by hand)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.training.baselines import UNKNOWN, frequent_caller, previous_outcome, previous_outcome_key


def test_frequent_caller_rates_by_earlier_contacts_with_shrinkage_and_anonymous():
    train = pd.DataFrame({"customer_contacts_90d": [0, 0, 0, 0, 3, 3, np.nan, np.nan]})
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    test = pd.DataFrame({"customer_contacts_90d": [0, 3, np.nan, 1]})
    p = frequent_caller(train, y, test, prior_strength=2)
    overall = 0.5
    assert p == pytest.approx([(1 + 2 * overall) / (4 + 2), (2 + 2 * overall) / (2 + 2), (1 + 2 * overall) / (2 + 2),
                               overall])  # 1 earlier contact never seen in training: the overall rate


def test_frequent_caller_without_its_column_is_not_computable():
    assert frequent_caller(pd.DataFrame({"x": [1]}), np.array([1]), pd.DataFrame({"x": [1]})) is None


def test_previous_outcome_states_as_known_at_arrival():
    rows = pd.DataFrame({"days_since_last_contact": [np.nan, 0.5, 3.0, 40.0],
                         "same_issue_contacts_window": [np.nan, 1, 0, 0],
                         "customer_past_repeats": [np.nan, 0, 2, 0]})
    assert list(previous_outcome_key(rows)) == [UNKNOWN, "previous contact unresolved (this one repeats it)",
                                                "earlier repeats on record", "earlier contacts, no repeat on record"]
    p = previous_outcome(rows, np.array([0, 1, 1, 0]), rows, prior_strength=1e-9)
    assert p == pytest.approx([0, 1, 1, 0], abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.floats(0, 500)), min_size=0, max_size=30), cap=st.floats(0, 400))
def test_earlier_contacts_key_equals_its_row_by_row_statement(values, cap):
    from models.training.baselines import FREQUENT_CALLER_COLUMN, UNKNOWN, earlier_contacts_key

    t = pd.DataFrame({FREQUENT_CALLER_COLUMN: pd.array(values, dtype="float64")}, index=np.arange(len(values)) * 3)
    n = pd.to_numeric(t[FREQUENT_CALLER_COLUMN], errors="coerce")
    want = n.clip(upper=cap).map(lambda v: UNKNOWN if pd.isna(v) else f"{int(v)}")
    got = earlier_contacts_key(t, cap)
    assert isinstance(got.dtype, pd.CategoricalDtype)  # (the same coding for every table: a cheap group key)
    pd.testing.assert_series_equal(got.astype(object), want.astype(object), check_names=False)


@settings(max_examples=100, deadline=None)
@given(train=st.lists(st.one_of(st.none(), st.sampled_from("abcde")), min_size=1, max_size=40),
       test=st.lists(st.one_of(st.none(), st.sampled_from("abcdef")), max_size=20),
       data=st.data(), categorical=st.booleans(), prior=st.floats(0.5, 50))
def test_group_rate_equals_the_groupby_of_the_keys_as_text(train, test, data, categorical, prior):
    from models.training.baselines import group_rate

    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=len(train), max_size=len(train))), dtype=np.int8)
    key_train, key_test = pd.Series(train, dtype=object), pd.Series(test, dtype=object)
    if categorical:  # (as the feature table holds them: one categorical dtype for every row)
        dtype = pd.CategoricalDtype(list("fedcba"))
        key_train, key_test = key_train.astype(dtype), key_test.astype(dtype)
    # The statement it replaced: keys as text (a missing key stays missing: the overall), groupby, map.
    as_text = {"r": key_train.astype(str).to_numpy(), "y": y}
    stats = pd.DataFrame(as_text).groupby("r")["y"].agg(["sum", "count"])
    overall = float(np.mean(y))
    rate = (stats["sum"] + prior * overall) / (stats["count"] + prior)
    want = key_test.astype(str).map(rate).fillna(overall).to_numpy(dtype=float)
    np.testing.assert_array_equal(group_rate(key_train, y, key_test, prior), want)
