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
    pd.testing.assert_series_equal(earlier_contacts_key(t, cap), want, check_dtype=False, check_names=False)
