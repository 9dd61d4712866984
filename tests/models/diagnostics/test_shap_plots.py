"""SHAP's plots of the explained sample: every figure drawn, with the sample's own numbers."""

from __future__ import annotations

import lightgbm as lgb
import matplotlib
import numpy as np
import pandas as pd

from models.diagnostics.shap_plots import explanation, shap_figures

matplotlib.use("Agg")


def test_shap_figures_from_a_toy_model():
    rng = np.random.default_rng(0)
    n = 800
    sample = pd.DataFrame({"contact_id": [f"c{i}" for i in range(n)], "wait_s": rng.exponential(60, n),
                           "channel": rng.choice(["phone", "chat"], n)})
    spec = {"model_features": ["wait_s", "channel"],
            "features": [{"name": "wait_s", "kind": "numeric"},
                         {"name": "channel", "kind": "categorical", "categories": ["chat", "phone"]}]}
    X = pd.DataFrame({"wait_s": sample["wait_s"].astype("float32"),
                      "channel": pd.Categorical(sample["channel"], categories=["chat", "phone"])})
    y = (rng.random(n) < 1 / (1 + np.exp(-(X["wait_s"] / 60 - 1)))).astype(int)
    booster = lgb.train({"objective": "binary", "verbosity": -1, "num_leaves": 4}, lgb.Dataset(X, y), 20)
    contrib = booster.predict(X, pred_contrib=True)
    per_contact = pd.DataFrame({"contact_id": sample["contact_id"], "shap_wait_s": contrib[:, 0],
                                "shap_channel": contrib[:, 1], "base_value": contrib[:, 2]})
    ex = explanation(per_contact, sample, spec)
    assert ex.values.shape == (n, 2) and np.allclose(ex.data[:, 0], X["wait_s"])
    drivers = pd.DataFrame({"feature": ["wait_s", "channel"]})
    figs = shap_figures(per_contact, sample, spec, drivers)
    assert set(figs) == {"beeswarm", "bar", "dependence", "waterfall"}
    assert all(f.axes for f in figs.values())
    assert shap_figures(per_contact.iloc[:0], sample.iloc[:0], spec, drivers) == {}
