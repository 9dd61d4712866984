"""Monitoring on a small synthetic centre: a stable later period raises no alarm; a planted change (one reason
starts repeating more in the last month) is detected and named. PSI and the realised-vs-predicted test by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.diagnostics.monitoring import monitor, psi, realised_vs_predicted
from models.model_files import SavedModel
from models.training.fit import train_model
from models.config import LightGBMConfig, MonitorConfig, TrainConfig
from synthetic.config import SyntheticConfig
from tests.centre import centre as centre_of
from tests.centre import feature_table


def test_psi_by_hand():
    same = pd.Series(np.arange(1000, dtype=float))
    assert psi(same, same) == pytest.approx(0.0)
    # Two categories, 50/50 -> 90/10: (0.9-0.5) ln(0.9/0.5) + (0.1-0.5) ln(0.1/0.5)
    ref = pd.Series(["a"] * 50 + ["b"] * 50, dtype="category")
    cur = pd.Series(["a"] * 90 + ["b"] * 10, dtype="category")
    assert psi(ref, cur) == pytest.approx(0.4 * np.log(1.8) + 0.4 * np.log(5))
    # Missing values are their own bin: a feature that goes missing drifts.
    assert psi(same, pd.Series([np.nan] * 1000)) > 1
    shifted = pd.Series(np.arange(1000, dtype=float) + 500)
    assert psi(same, shifted) > 0.25


def test_realised_vs_predicted_by_hand():
    p = np.full(400, 0.25)
    exact = realised_vs_predicted(np.r_[np.ones(100), np.zeros(300)], p)
    assert exact["z"] == pytest.approx(0.0) and exact["p_value"] == pytest.approx(1.0)
    more = realised_vs_predicted(np.r_[np.ones(160), np.zeros(240)], p)
    assert more["z"] == pytest.approx(60 / np.sqrt(400 * 0.25 * 0.75)) and more["p_value"] < 1e-6


@pytest.fixture(scope="module")
def trained():
    data, contacts = centre_of(SyntheticConfig.default(n_contacts=40000, n_customers=5000, n_agents=60, n_teams=6,
                                                       days=240, seed=3))
    table, spec, _ = feature_table(data, contacts)
    cutoff = table["started_at"].quantile(0.7)
    past = table[table["started_at"] < cutoff].reset_index(drop=True)
    fast = LightGBMConfig.default(learning_rate=0.1, min_child_samples=50, early_stopping_rounds=20, n_estimators=300,
                                  n_jobs=1)
    # A wide validation window: the reference the monitored excess is compared with.
    split = {"valid_share": 0.35, "test_share": 0.05}
    result = train_model(past, spec, TrainConfig.default(lightgbm=fast, split=split))
    later = table[table["started_at"] >= cutoff].reset_index(drop=True)
    return SavedModel(result.booster, result.calibrator, spec), past.iloc[result.split.valid], later


def test_a_stable_period_raises_no_alarm(trained):
    model, reference, later = trained
    out = monitor(reference, later, model, MonitorConfig.default())
    s = out.summary
    print(out.drift.head(5).to_string(), out.calibration.head(5).to_string(), s, sep="\n")
    assert not s["alarm"] and not s["performance_alarms"], s
    assert s["matured"] + s["window_open"] == s["contacts"] == len(later) and s["window_open"] > 0
    assert s["auc"] > 0.55 and s["ece"] < 0.05
    assert s["segments_tested"] > 10 and len(out.weekly) >= 8
    assert out.drift["psi"].notna().all() and len(out.drift) == len(model.spec["model_features"])
    assert s["drift_warning"] == bool(s["drifted_features"])  # inputs shift (season, history) without an alarm


def test_a_feature_that_changes_is_flagged_as_drifted(trained):
    model, reference, later = trained
    moved = later.assign(wait_s=later["wait_s"] * 5 + 600)  # queues got much longer
    out = monitor(reference, moved, model, MonitorConfig.default())
    assert "wait_s" in out.summary["drifted_features"] and out.summary["drift_warning"]


def test_a_reason_that_starts_repeating_more_is_detected(trained):
    model, reference, later = trained
    matured = later["status"] == "labelled"
    last_month = later["started_at"] >= later["started_at"].max() - pd.Timedelta(days=37)
    reason = later.loc[matured & last_month, "reason_code"].value_counts().index[0]
    planted = later.copy()
    candidates = planted.index[matured & last_month & (planted["reason_code"] == reason) & ~planted["repeated"].fillna(False).astype(bool)]
    flip = np.random.default_rng(0).choice(candidates, size=int(0.35 * len(candidates)), replace=False)
    planted.loc[flip, "repeated"] = True  # that reason now brings a third of its resolved customers back
    out = monitor(reference, planted, model, MonitorConfig.default())
    s = out.summary
    print(out.calibration.head(5).to_string(), s["performance_alarms"], sep="\n")
    assert s["alarm"] and str(reason) in s["performance_alarms"][0]
    top = out.calibration.iloc[0]
    assert top["alarm"] and (top["segment"], top["value"], top["period"]) == ("reason_code", str(reason), "last 30 days")
    assert top["observed_rate"] > top["predicted_rate"]
