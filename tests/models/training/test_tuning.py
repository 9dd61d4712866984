"""Tuning: rolling-origin folds over time (property-based), the config's checks, and an Optuna search on a
small synthetic centre that starts from the params.yaml settings and never ends worse than them on CV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.training.tuning import rolling_origin_folds, tune
from models.config import LightGBMConfig, TrainConfig, TuningConfig
from synthetic.config import SyntheticConfig
from tests.centre import centre as centre_of
from tests.centre import feature_table

START = pd.Timestamp("2025-01-01", tz="UTC")


@settings(max_examples=150, deadline=None)
@given(minutes=st.lists(st.integers(0, 60 * 24 * 60), min_size=20, max_size=300),
       folds=st.integers(1, 4), share=st.floats(0.02, 0.24), gap_hours=st.integers(0, 24 * 10))
def test_folds_roll_forward_and_never_train_on_the_future(minutes, folds, share, gap_hours):
    started = pd.Series(START + pd.to_timedelta(minutes, unit="min"))
    rows = np.arange(len(started))[::-1]  # any order of the rows
    gap = pd.Timedelta(hours=gap_hours)
    try:
        out = rolling_origin_folds(started, rows, folds, share, gap)
    except ValueError as exc:
        assert "train.tuning" in str(exc)
        return
    assert len(out) == folds
    size = int(len(rows) * share)
    ordered = np.sort(started.to_numpy())
    valid = np.concatenate([f.valid for f in out])
    assert len(valid) == len(set(valid)) == folds * size
    # Together the blocks are the newest folds * size contacts (ties in time may swap rows, not times).
    assert np.array_equal(np.sort(started.to_numpy()[valid]), ordered[len(rows) - folds * size:])
    for earlier, later in zip(out, out[1:]):
        assert earlier.origin <= later.origin
        assert started.iloc[earlier.valid].max() <= started.iloc[later.valid].min()
    for f in out:
        assert len(f.train) and not set(f.train) & set(f.valid)
        assert started.iloc[f.train].max() < started.iloc[f.valid].min() - gap  # the label window stays out
        assert started.iloc[f.valid].min() == f.origin
        # Brute force: the training rows are exactly those older than the origin minus the gap.
        expect = {r for r in rows if started.iloc[r] < f.origin - gap}
        assert set(f.train) == expect


def test_too_many_folds_fail_naming_the_params():
    started = pd.Series(START + pd.to_timedelta(np.arange(10), unit="D"))
    with pytest.raises(ValueError, match="train.tuning.fold_share"):
        rolling_origin_folds(started, np.arange(10), 3, 0.05, pd.Timedelta(0))  # blocks of 0 rows
    with pytest.raises(ValueError, match="older than its block"):
        rolling_origin_folds(started, np.arange(10), 2, 0.4, pd.Timedelta(days=30))


def test_tuning_config_rejects_unknown_settings_and_empty_ranges():
    with pytest.raises(ValueError, match="train.tuning.space.n_jobs"):
        TuningConfig.default(space={"n_jobs": [1, 4]})
    with pytest.raises(ValueError, match="low < high"):
        TuningConfig.default(space={"num_leaves": [10, 4]})
    with pytest.raises(ValueError, match="folds x fold_share"):
        TuningConfig.default(folds=5, fold_share=0.2)


def test_off_by_default_returns_the_params_settings():
    cfg = TrainConfig.default()
    assert not cfg.tuning.enabled
    out = tune(pd.DataFrame(), {}, cfg)
    assert out.config == cfg and out.summary == {"enabled": False} and out.trials.empty


@pytest.fixture(scope="module")
def small_table():
    data, contacts = centre_of(SyntheticConfig.default(n_contacts=12000, n_customers=2000, n_agents=30, n_teams=4,
                                                       days=120, seed=11))
    table, spec, _ = feature_table(data, contacts)
    return table, spec


def test_search_starts_from_params_and_picks_the_best_cv_trial(small_table):
    table, spec = small_table
    fast = LightGBMConfig.default(n_estimators=200, early_stopping_rounds=10, min_child_samples=50, n_jobs=1)
    cfg = TrainConfig.default(lightgbm=fast.model_dump(),
                              tuning=TuningConfig.default(enabled=True, trials=4, folds=2, fold_share=0.15).model_dump())
    out = tune(table, spec, cfg)
    trials = out.trials
    assert len(trials) == 4 and list(trials["trial"]) == [0, 1, 2, 3]
    first = trials.iloc[0]
    for name in cfg.tuning.space:  # trial 0 is what params.yaml says
        assert first[name] == pytest.approx(getattr(fast, name))
    best = trials.loc[trials["cv_log_loss"].idxmin()]
    assert out.summary["cv_log_loss"] == pytest.approx(best["cv_log_loss"])
    assert out.summary["cv_log_loss"] <= out.summary["cv_log_loss_params_yaml"]
    for name, value in out.summary["best"].items():
        assert getattr(out.config.lightgbm, name) == pytest.approx(value)
        low, high = cfg.tuning.space[name]
        assert low <= value <= high
    assert isinstance(out.config.lightgbm.num_leaves, int)
    assert out.config.lightgbm.n_jobs == fast.n_jobs  # untuned settings kept
    assert trials[["fold1_log_loss", "fold2_log_loss"]].mean(axis=1).to_numpy() == pytest.approx(
        trials["cv_log_loss"].to_numpy())
    again = tune(table, spec, cfg)  # seeded and sequential: the same choice
    assert again.summary == out.summary
