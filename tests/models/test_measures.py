"""Routing metrics on hand-made scores with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from models.measures import capacity_threshold, capture_at, expected_calibration_error, reliability_table


def test_perfectly_calibrated_scores_have_small_ece():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 200_000)
    y = rng.random(len(p)) < p
    assert expected_calibration_error(y, p) < 0.005
    assert expected_calibration_error(y, np.clip(p + 0.1, 0, 1)) > 0.08  # over-confident by 0.1


def test_reliability_table_counts_and_means():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.7, 0.9])
    t = reliability_table(y, p, bins=2)
    assert t["contacts"].tolist() == [2, 2]
    assert t["mean_predicted"].tolist() == pytest.approx([0.15, 0.8])
    assert t["observed_rate"].tolist() == [0.0, 1.0]


def test_capture_and_threshold():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    p = np.array([0.9, 0.1, 0.8, 0.2, 0.1, 0.3, 0.2, 0.1, 0.4, 0.05])
    assert capture_at(y, p, 0.2) == pytest.approx(2 / 3)   # the two riskiest are repeats
    assert capture_at(y, p, 1.0) == 1.0
    thr = capacity_threshold(p, 0.2)
    assert (p >= thr).sum() == 2
