"""SHAP summaries of the explain stage on a small model: additivity, ordering, families, segments."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.diagnostics.drivers import family_drivers, global_drivers, segment_drivers, shap_values


def _toy():
    rng = np.random.default_rng(0)
    n = 4000
    X = pd.DataFrame({"strong": rng.normal(size=n), "weak": rng.normal(size=n), "noise": rng.normal(size=n),
                      "channel": pd.Categorical(rng.choice(["phone", "chat"], n))})
    logit = 1.5 * X["strong"] + 0.3 * X["weak"] + np.where(X["channel"] == "phone", 0.5, -0.5)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    booster = lgb.train({"objective": "binary", "verbosity": -1, "seed": 0, "num_leaves": 7}, lgb.Dataset(X, y), 60)
    spec = {"model_features": list(X.columns), "features": [
        {"name": "strong", "family": "agent", "controllable": True, "label": "s"},
        {"name": "weak", "family": "customer", "controllable": False},
        {"name": "noise", "family": "customer", "controllable": False},
        {"name": "channel", "family": "channel", "controllable": True}]}
    return booster, X, spec


def test_shap_adds_up_to_the_raw_score_and_ranks_the_planted_effects():
    booster, X, spec = _toy()
    shap = shap_values(booster, X, chunk=1000, progress=False)
    assert np.allclose(shap.sum(axis=1), booster.predict(X, raw_score=True), atol=1e-6)
    drivers = global_drivers(shap, spec)
    assert list(drivers["feature"][:2]) == ["strong", "channel"] and drivers["feature"].iloc[-1] == "noise"
    assert np.isclose(drivers["share_of_total"].sum(), 1.0)
    assert drivers.set_index("feature").loc["strong", "controllable"]
    assert not drivers.set_index("feature").loc["weak", "controllable"]
    fam = family_drivers(drivers)
    assert set(fam["family"]) == {"agent", "customer", "channel"}
    seg = segment_drivers(shap, spec, pd.DataFrame({"channel": X["channel"]}), top=2, min_contacts=10)
    assert set(seg["value"]) == {"phone", "chat"} and (seg.groupby("value").size() == 2).all()
    phone = seg[(seg["value"] == "phone") & (seg["feature"] == "channel")]
    chat = seg[(seg["value"] == "chat") & (seg["feature"] == "channel")]
    if len(phone) and len(chat):  # the channel pushes phone toward a repeat and chat away from it
        assert phone["mean_shap"].iloc[0] > 0 > chat["mean_shap"].iloc[0]
