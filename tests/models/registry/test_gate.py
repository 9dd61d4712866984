"""The promotion gate on hand-made scores: the bootstrap AUC against scikit-learn, and each way to fail."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from models.registry.gate import LOGISTIC, SIMPLE_BASELINES, baseline_gate, weighted_auc
from models.config import GateConfig

GATE = GateConfig.default(resamples=100)


@settings(max_examples=80, deadline=None)
@given(data=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6), st.integers(0, 3)), min_size=2, max_size=60))
def test_weighted_auc_matches_sklearn_with_weights_and_ties(data):
    y = np.array([d[0] for d in data])
    p = np.array([d[1] for d in data], dtype=float) / 6  # few distinct values: many ties
    w = np.array([d[2] for d in data])
    got = weighted_auc(y, p, w[None, :])[0]
    keep = w > 0
    if len(set(y[keep])) < 2:
        assert np.isnan(got)
    else:
        assert got == pytest.approx(roc_auc_score(y[keep], p[keep], sample_weight=w[keep]), abs=1e-12)


def _data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    p_true = 1 / (1 + np.exp(-(x - 1)))
    y = (rng.random(n) < p_true).astype(int)
    flat = np.full(n, y.mean())
    weak = 1 / (1 + np.exp(-(0.3 * (x + rng.normal(size=n)) - 1)))  # a noisier view of x
    return y, p_true, {**{b: flat for b in SIMPLE_BASELINES}, "frequent_caller": weak, LOGISTIC: p_true}


def test_a_good_model_passes_with_intervals_for_every_baseline():
    y, p, base = _data()
    g = baseline_gate(y, p, base, GATE, 50).to_dict()
    assert g["passed"], g["failures"]
    for name in (*SIMPLE_BASELINES, LOGISTIC):
        c = g["checks"][name]
        lo, hi = c["auc_gain"]["low"], c["auc_gain"]["high"]
        assert lo <= c["auc_gain"]["estimate"] <= hi
    assert g["checks"]["frequent_caller"]["auc_gain"]["low"] > 0
    assert "every simple baseline" in g["rule"]


def test_a_chance_model_fails_and_says_why():
    y, _, base = _data()
    noise = np.random.default_rng(1).random(len(y)) * 0.1 + y.mean() - 0.05
    g = baseline_gate(y, noise, base, GATE, 50)
    assert not g.passed
    assert any("overall_rate" in f for f in g.failures)
    assert any("logistic regression" in f for f in g.failures)  # credibly worse than it


def test_close_to_logistic_regression_is_fine_but_a_margin_can_be_demanded():
    y, p, base = _data()
    g = baseline_gate(y, p, base | {LOGISTIC: np.clip(p * 1.01, 0, 1)}, GATE, 50)
    assert g.checks[LOGISTIC]["passed"]
    strict = baseline_gate(y, p, base, GATE.model_copy(update={"min_auc_gain": 0.5}), 50)
    assert not strict.passed and all("not above 0.5" in f for f in strict.failures)


def test_missing_baseline_or_one_class_fails_closed():
    y, p, base = _data()
    g = baseline_gate(y, p, base | {"previous_outcome": None}, GATE, 50)
    assert not g.passed and any("previous_outcome could not be computed" in f for f in g.failures)
    one = baseline_gate(np.zeros(50, dtype=int), np.full(50, 0.1), base, GATE, 50)
    assert not one.passed and "one class" in one.failures[0]


def test_no_margin_at_all_is_refused_by_config():
    with pytest.raises(ValueError, match="min_log_loss_reduction or min_auc_gain"):
        GateConfig.default(min_log_loss_reduction=None, min_auc_gain=None)


def test_a_one_tree_model_fails_even_when_it_ranks_well():
    y, p, base = _data()
    g = baseline_gate(y, p, base, GATE, trees=1)
    assert not g.passed and "1 tree(s)" in g.failures[0]


def test_bootstrap_draws_equal_a_resample_by_resample_reference():
    """Every resample's mean log loss and AUC, computed the slow way (sklearn with sample weights on the
    resample counts), equal the shared-counts computation for every scorer."""
    from sklearn.metrics import log_loss

    from models.registry.gate import bootstrap_draws, resample_weights, row_log_loss

    y, p_model, baselines = _data(n=700, seed=3)
    scores = {"model": np.round(p_model, 2), **{n: np.asarray(b, dtype=float) for n, b in baselines.items()}}
    ll = {n: row_log_loss(y, s) for n, s in scores.items()}
    cfg = GateConfig.default(resamples=70, seed=4)  # two blocks: 64 + 6
    got = bootstrap_draws(y, scores, ll, cfg)
    weights = np.concatenate(list(resample_weights(len(y), cfg.resamples, cfg.seed)))
    assert weights.shape == (70, len(y)) and (weights.sum(axis=1) == len(y)).all()
    for name, s in scores.items():
        assert got[name].shape == (70, 2)
        for b in range(0, 70, 7):
            w = weights[b]
            assert got[name][b, 0] == pytest.approx(log_loss(y, np.clip(s, 1e-7, 1 - 1e-7), sample_weight=w), rel=1e-12)
            assert got[name][b, 1] == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)


def test_resamples_do_not_depend_on_the_block_size(monkeypatch):
    """Large test windows are resampled in smaller blocks (gate.CELLS): the same resamples, and the same draws,
    as in blocks of CHUNK."""
    from models.registry import gate

    y, p_model, baselines = _data(n=500, seed=5)
    scores = {"model": p_model, **{n: np.asarray(b, dtype=float) for n, b in baselines.items()}}
    ll = {n: gate.row_log_loss(y, s) for n, s in scores.items()}
    cfg = GateConfig.default(resamples=70, seed=9)
    whole = np.concatenate(list(gate.resample_weights(len(y), cfg.resamples, cfg.seed)))
    draws = gate.bootstrap_draws(y, scores, ll, cfg)
    monkeypatch.setattr(gate, "CELLS", 3 * len(y))
    blocks = list(gate.resample_weights(len(y), cfg.resamples, cfg.seed))
    assert [len(b) for b in blocks] == [3] * 23 + [1]
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
    for name, d in gate.bootstrap_draws(y, scores, ll, cfg).items():
        np.testing.assert_allclose(d, draws[name], rtol=1e-12)
