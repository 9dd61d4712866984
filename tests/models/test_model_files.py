"""The routing model's test-score distribution (models/model_files.py): what a model served from the
registry sets its specialist threshold from, checked against `capacity_threshold` on the raw scores."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.model_files import QUANTILES, SCORES_FILE, load_score_distribution, score_distribution
from models.measures import capacity_threshold

probabilities = st.floats(0, 1, allow_nan=False, width=64)
capacities = st.one_of(st.integers(1, 1000).map(lambda k: k / 1000), st.floats(1e-6, 1.0, exclude_min=False))


@st.composite
def many_scores(draw) -> np.ndarray:
    """More scores than QUANTILES (so they are summarised), with ties and extreme values as calibrated
    scores have them (isotonic calibration makes plateaus)."""
    n = draw(st.integers(QUANTILES + 1, 20 * QUANTILES))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    p = rng.beta(draw(st.floats(0.2, 5)), draw(st.floats(0.2, 5)), n)
    if draw(st.booleans()):
        p = np.round(p, draw(st.integers(1, 4)))  # plateaus
    return p


@settings(max_examples=150, deadline=None)
@given(p=many_scores(), capacity=capacities)
def test_threshold_from_quantiles_is_within_one_quantile_step_of_the_raw_scores(p, capacity):
    dist = score_distribution(p)
    q = np.asarray(dist["values"])
    assert dist["kind"] == "quantiles" and len(q) == QUANTILES and dist["n_scores"] == len(p)
    raw = capacity_threshold(p, capacity)
    ours = capacity_threshold(q, capacity)
    k = math.ceil((1 - capacity) * (QUANTILES - 1))
    below, above = q[max(k - 1, 0)], q[min(k + 1, QUANTILES - 1)]
    # The raw threshold lies in the quantile step below ours; only where (1 - capacity) * (n - 1) rounds
    # across an integer in floating point does numpy take the next score up, in the step above.
    assert ours == q[k] and below <= raw <= above
    assert abs(ours - raw) <= max(q[k] - below, above - q[k])
    # exact on the stored levels themselves, e.g. the quantile of every 0.1% of capacity
    assert q[0] == p.min() and q[-1] == p.max()
    level = np.sort(p)[math.ceil(Fraction(k * (len(p) - 1), QUANTILES - 1))]
    assert q[k] == level


@settings(max_examples=100, deadline=None)
@given(p=st.lists(probabilities, min_size=1, max_size=QUANTILES).map(np.array), capacity=capacities)
def test_few_scores_are_kept_whole_and_thresholds_are_exact(p, capacity):
    dist = score_distribution(p)
    assert dist["kind"] == "scores" and dist["values"] == sorted(p.tolist())
    assert capacity_threshold(np.asarray(dist["values"]), capacity) == capacity_threshold(p, capacity)


def test_non_finite_scores_are_left_out_and_counted_none_finite_is_an_error(tmp_path):
    dist = score_distribution(np.array([0.2, np.nan, 0.1, np.inf]))
    assert dist["values"] == [0.1, 0.2] and dist["n_scores"] == 2 and dist["non_finite_left_out"] == 2
    with pytest.raises(ValueError, match="no finite test-window score among 2"):
        score_distribution(np.array([np.nan, np.nan]))
    path = tmp_path / SCORES_FILE
    path.write_text(json.dumps(dist))
    assert load_score_distribution(path).tolist() == [0.1, 0.2]
    for broken in ({"values": []}, {"values": [0.3, 0.1]}, {"values": [0.1, 1.5]}, {"nothing": 1}, [0.1]):
        path.write_text(json.dumps(broken))
        with pytest.raises(ValueError, match="sorted list of probabilities"):
            load_score_distribution(path)
