"""The train stage's parts on a small synthetic centre: the time split, calibration, determinism (the MLflow
model, registry aliases and the promotion rule: tests/models/registry/test_registry.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.config import LightGBMConfig, TrainConfig
from synthetic.config import SyntheticConfig
from synthetic.centre import true_repeat_probability
from models.scoring import Calibrator
from models.training.calibration import fit_calibrator
from models.scoring import model_frame
from models.measures import expected_calibration_error
from models.training.split import time_split
from models.training.fit import train_model
from tests.centre import centre as centre_of
from tests.centre import feature_table

FAST = LightGBMConfig.default(learning_rate=0.1, num_leaves=7, min_child_samples=50, early_stopping_rounds=20,
                      n_estimators=300)


@pytest.fixture(scope="module")
def centre():
    data, contacts = centre_of(SyntheticConfig.default(n_contacts=30000, n_customers=4000, n_agents=60, n_teams=6, days=180,
                                               seed=5))
    table, spec, _ = feature_table(data, contacts)
    truth = data.truth
    p = pd.Series(true_repeat_probability(truth, 7).to_numpy(), index=truth["contact_id"])
    true_p = p.reindex(table["contact_id"]).set_axis(table.index)
    return table, spec, true_p


@settings(max_examples=60, deadline=None)
@given(times=st.lists(st.integers(0, 50), min_size=3, max_size=60),
       statuses=st.lists(st.sampled_from(["labelled", "labelled", "censored", "excluded"]), min_size=60,
                         max_size=60),
       valid=st.floats(0.05, 0.4), test=st.floats(0.05, 0.4))
def test_time_split_is_ordered_disjoint_and_keeps_ties_together(times, statuses, valid, test):
    started = pd.Series(pd.to_datetime(times, unit="s", utc=True))
    status = pd.Series(statuses[: len(times)])
    try:
        s = time_split(started, status, valid, test)
    except ValueError:
        return  # too few contacts or distinct times for three windows: refused, not silently wrong
    secs = np.asarray(times)
    parts = [s.train, s.valid, s.test]
    all_idx = np.concatenate(parts)
    assert len(set(all_idx)) == len(all_idx)
    assert set(all_idx) == set(np.flatnonzero(status == "labelled"))  # censored/excluded left out
    for a, b in zip(parts[:-1], parts[1:], strict=True):
        assert secs[a].max() < secs[b].min()  # strictly older: ties never straddle a boundary


def test_calibrators_fix_miscalibrated_scores_and_round_trip():
    rng = np.random.default_rng(0)
    true = rng.normal(-1, 1, 40000)
    y = (rng.random(len(true)) < 1 / (1 + np.exp(-true))).astype(int)
    raw = 2.5 * true + 1.0  # overconfident and shifted
    before = expected_calibration_error(y, 1 / (1 + np.exp(-raw)))
    for method in ("platt", "isotonic"):
        cal = fit_calibrator(raw[:20000], y[:20000], method)
        after = expected_calibration_error(y[20000:], cal(raw[20000:]))
        assert before > 0.1 and after < 0.015, (method, before, after)
        again = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
        assert np.array_equal(again(raw), cal(raw))


def test_training_is_deterministic_and_beats_the_baselines(centre):
    table, spec, true_p = centre
    cfg = TrainConfig.default(lightgbm=FAST)
    a = train_model(table, spec, cfg, true_p)
    b = train_model(table, spec, cfg, true_p)
    assert a.booster.model_to_string() == b.booster.model_to_string()
    assert np.array_equal(a.test["p_repeat"], b.test["p_repeat"])
    m = a.metrics
    assert m["model"]["roc_auc"] > m["baselines"]["reason_rate"]["roc_auc"] > 0.5
    assert m["improvement_over_baselines"]["overall_rate"]["log_loss_reduction"] > 0
    assert 0.85 < m["bayes"]["auc_ratio"] < 1.02
    assert m["model"]["ece"] < 0.04
    # The test window is the newest, and only labelled contacts are scored.
    assert a.test["started_at"].min() >= table["started_at"].iloc[a.split.valid].max()
    assert set(table["status"].iloc[a.split.test]) == {"labelled"}
    # A different seed with feature subsampling gives a different model: the seed is really used.
    c = train_model(table, spec, TrainConfig.default(lightgbm=FAST, seed=1), true_p)
    assert a.booster.model_to_string() != c.booster.model_to_string()


def test_model_frame_maps_unknown_categories_to_missing(centre):
    table, spec, _ = centre
    rows = table.head(3).copy()
    rows["reason_code"] = rows["reason_code"].astype("str")
    rows.loc[rows.index[0], "reason_code"] = "NEVER-SEEN"
    X = model_frame(rows, spec)
    assert list(X.columns) == spec["model_features"]
    assert pd.isna(X["reason_code"].iloc[0]) and X["reason_code"].iloc[1] == table["reason_code"].iloc[1]
    with pytest.raises(KeyError, match="channel"):
        model_frame(rows.drop(columns=["channel"]), spec)


def test_sample_rows_keeps_order_and_only_samples_beyond_the_cap():
    from models.training.fit import sample_rows

    rows = np.arange(10, 110)
    assert sample_rows(rows, None, 0) is rows and sample_rows(rows, 100, 0) is rows
    got = sample_rows(rows, 30, 0)
    assert len(got) == 30 and len(set(got)) == 30 and (np.diff(got) > 0).all() and set(got) <= set(rows)
    assert (sample_rows(rows, 30, 0) == got).all()  # the seed fixes it


def test_models_on_shared_windows_equal_models_fitted_alone(centre):
    """The train stage builds the split and the model frame once (for the union of the models' features);
    each model fitted on it is the model fitted on its own, tree for tree."""
    from models.training.auxiliary import after_contact_spec, casemix_spec, fit_model, training_spec
    from models.training.fit import prepare_windows

    table, spec, true_p = centre
    cfg = TrainConfig.default(lightgbm=FAST)
    windows = prepare_windows(table, training_spec(spec, cfg), cfg.split)
    assert set(after_contact_spec(spec)["model_features"]) - set(spec["model_features"]) <= set(windows.X.columns)
    shared = train_model(table, spec, cfg, true_p, windows)
    alone = train_model(table, spec, cfg, true_p)
    assert shared.booster.model_to_string() == alone.booster.model_to_string()
    assert shared.metrics["dropped_features"] == alone.metrics["dropped_features"]
    for make in (casemix_spec, after_contact_spec):
        a, b = fit_model(None, make(spec), cfg, windows), fit_model(table, make(spec), cfg)
        assert a.booster.model_to_string() == b.booster.model_to_string() and a.spec == b.spec


@pytest.fixture(scope="module")
def uncapped(centre):
    """The routing model with no sample cap biting: what the capped fits below are compared with."""
    table, spec, true_p = centre
    return train_model(table, spec, TrainConfig.default(lightgbm=FAST), true_p)


def test_early_stopping_and_calibration_on_at_most_max_valid_rows(centre, uncapped):
    table, spec, true_p = centre
    full = uncapped
    capped = train_model(table, spec, TrainConfig.default(lightgbm=FAST, max_valid_rows=2000), true_p)
    assert full.metrics["model"]["validation_rows"] == len(full.split.valid) > 2000
    assert capped.metrics["model"]["validation_rows"] == 2000
    assert np.array_equal(capped.split.valid, full.split.valid)  # the windows stay whole: only the sample differs
    assert np.array_equal(capped.test["contact_id"], full.test["contact_id"])
    assert not np.array_equal(capped.test["p_repeat"], full.test["p_repeat"])  # another calibration (and stopping)


def test_the_routing_model_fits_on_at_most_max_train_rows(centre, uncapped):
    table, spec, true_p = centre
    full = uncapped
    capped = train_model(table, spec, TrainConfig.default(lightgbm=FAST, max_train_rows=5000), true_p)
    assert full.metrics["model"]["fitted_rows"] == len(full.split.train) > 5000
    assert capped.metrics["model"]["fitted_rows"] == 5000
    assert capped.booster.model_to_string() != full.booster.model_to_string()
    # the same windows and test rows: only the training sample differs
    assert np.array_equal(capped.test["contact_id"], full.test["contact_id"])
