"""The checks of the report's findings against the synthetic truth, on hand-made tables."""

from __future__ import annotations

import pandas as pd

from models.diagnostics.truth_check import driver_recovery, skill_tracking

DRIVERS = pd.DataFrame({"feature": ["reason_code", "channel", "plan", "wait_s", "hour", "region"],
                        "rank": [1, 2, 3, 4, 5, 6]})
PLANTED = [
    {"driver": "reason", "observed": "arrival", "features": ["reason_code", "reason_family"], "spread_sd": 0.5},
    {"driver": "wait", "observed": "arrival", "features": ["wait_s"], "spread_sd": 0.2},
    {"driver": "after_hours", "observed": "arrival", "features": ["hour"], "spread_sd": 0.01},  # trivial
    {"driver": "transfers", "observed": "after_contact", "features": ["transfers"], "spread_sd": 0.3},
]


def test_driver_recovery_counts_only_non_trivial_arrival_drivers():
    out = driver_recovery(DRIVERS, PLANTED, ["plan", "region"], top=4, min_spread=0.1)
    rows = {r["driver"]: r for r in out["drivers"]}
    assert rows["reason"]["best_feature"] == "reason_code" and rows["reason"]["best_feature_rank"] == 1
    assert rows["wait"]["recovered"] and rows["wait"]["checked"]
    assert not rows["after_hours"]["checked"] and not rows["transfers"]["checked"]
    assert rows["transfers"]["best_feature"] is None and not rows["transfers"]["recovered"]
    assert out["checked"] == 2 and out["recovered"] == 2 and out["all_recovered"]
    assert out["best_non_driver_rank"] == 3 and not out["non_driver_outside_top3"]
    # A tighter top list loses the wait driver.
    tight = driver_recovery(DRIVERS, PLANTED, ["plan", "region"], top=3, min_spread=0.1)
    assert tight["recovered"] == 1 and not tight["all_recovered"]


def test_skill_tracking_compares_raw_and_adjusted_rankings():
    card = pd.DataFrame({"group": ["a", "b", "c", "d", "ghost"],
                         "observed_fcr": [0.6, 0.9, 0.8, 0.7, 0.5],      # a took the hard calls
                         "adjusted_fcr": [0.95, 0.85, 0.8, 0.7, 0.5]})
    skill = pd.Series({"a": 2.0, "b": 1.0, "c": 0.0, "d": -1.0})
    out = skill_tracking(card, skill)
    assert out["agents"] == 4 and out["spearman_adjusted_fcr"] == 1.0
    assert round(out["spearman_raw_fcr"], 3) == -0.2 and out["adjusted_better"]
    assert skill_tracking(card.head(2), skill)["spearman_raw_fcr"] is None


def test_after_contact_drivers_are_checked_against_the_diagnostic_model():
    after = pd.DataFrame({"feature": ["reason_code", "transfers", "channel"], "rank": [1, 2, 3]})
    out = driver_recovery(DRIVERS, PLANTED, ["plan", "region"], top=4, min_spread=0.1, after_contact=after)
    rows = {r["driver"]: r for r in out["drivers"]}
    assert rows["transfers"]["checked"] and rows["transfers"]["recovered"]
    assert rows["transfers"]["best_feature"] == "transfers" and rows["transfers"]["best_feature_rank"] == 2
    assert out["checked"] == 3 and out["all_recovered"]
    buried = driver_recovery(DRIVERS, PLANTED, [], top=1, min_spread=0.1, after_contact=after)
    assert not {r["driver"]: r for r in buried["drivers"]}["transfers"]["recovered"]
