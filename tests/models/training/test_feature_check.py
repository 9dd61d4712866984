"""Constant and all-missing features are left out of training, with the reason, on a hand-made table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.training.feature_check import usable_spec

SPEC = {"features": [], "model_features": ["a", "b", "c", "d", "e"]}


def test_constant_missing_and_listed_features_are_dropped_with_reasons():
    t = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [7.0, 7, 7, 7], "c": [np.nan] * 4, "d": [1.0, np.nan, 1, 1],
                      "e": pd.Categorical(["x", "x", "x", "y"])})
    spec = usable_spec(t, dict(SPEC, dropped_features=[{"name": "e", "reason": "id-like"}]), np.arange(4))
    assert spec["model_features"] == ["a", "d"]  # d: one value plus missing rows, kept
    reasons = {d["name"]: d["reason"] for d in spec["dropped_features"]}
    assert reasons == {"e": "id-like", "b": "constant in the training window (every row 7.0)",
                       "c": "all missing in the training window"}


def test_only_the_training_rows_count():
    t = pd.DataFrame({"a": [1.0, 1, 1, 5], "b": [1.0, 2, 3, 4], "c": [1.0, 2, 3, 4], "d": [1.0, 2, 3, 4],
                      "e": [1.0, 2, 3, 4]})
    assert "a" not in usable_spec(t, SPEC, np.arange(3))["model_features"]  # constant where it is learnt
    assert "a" in usable_spec(t, SPEC, np.arange(4))["model_features"]


def test_nothing_left_is_a_clear_error():
    t = pd.DataFrame({n: [1.0, 1.0] for n in SPEC["model_features"]})
    with pytest.raises(ValueError, match="no usable feature.*2 training-window contacts"):
        usable_spec(t, SPEC, np.arange(2))


def test_a_window_with_one_class_stops_training_with_the_counts():
    from models.training.fit import prepare_windows
    from models.config import SplitConfig

    n = 60
    table = pd.DataFrame({"started_at": pd.date_range("2025-01-01", periods=n, freq="h", tz="UTC"),
                          "status": "labelled", "repeated": [i % 2 == 0 for i in range(51)] + [False] * 9,
                          "a": np.arange(n, dtype=float)})
    spec = {"features": [{"name": "a", "kind": "numeric"}], "model_features": ["a"]}
    with pytest.raises(ValueError, match=r"the test window holds 9 labelled contacts and 0 repeats.*test_share"):
        prepare_windows(table, spec, SplitConfig.default())


def test_an_id_like_category_is_dropped_and_a_near_unique_number_kept():
    n = 200
    rng = np.random.default_rng(0)
    t = pd.DataFrame({"a": pd.Categorical([f"T{i}" for i in range(n)]),           # a ticket number as a category
                      "b": rng.exponential(60, n),                                # waits: near-unique, useful
                      "c": pd.Categorical(rng.choice(["x", "y", "z"], n)),
                      "d": rng.normal(size=n), "e": rng.normal(size=n)})
    spec = usable_spec(t, SPEC, np.arange(n))
    reasons = {d["name"]: d["reason"] for d in spec["dropped_features"]}
    assert list(reasons) == ["a"] and reasons["a"].startswith("id-like in the training window (200 distinct")
    assert spec["model_features"] == ["b", "c", "d", "e"]
