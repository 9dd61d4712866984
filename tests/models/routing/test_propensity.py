"""The propensity (P(agent | the contact's cell)) against scikit-learn's CategoricalNB, which it computes from
counts: equal bit for bit on random logs, unseen cells fall back to the agents' overall shares, one agent is certain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.naive_bayes import CategoricalNB
from sklearn.preprocessing import OrdinalEncoder

from models.routing.propensity import fit_propensity


def _reference(fit: pd.DataFrame, agent: pd.Series, features: list[str], alpha: float, score: pd.DataFrame):
    cell = lambda t: pd.DataFrame({"c": t[features].astype("str").fillna("(missing)").agg("\x00".join, axis=1)})
    enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, dtype=np.int64).fit(cell(fit))
    nb = CategoricalNB(alpha=alpha).fit(enc.transform(cell(fit)), agent.astype("str").to_numpy())
    code = enc.transform(cell(score))[:, 0]
    p = nb.predict_proba(np.where(code < 0, 0, code)[:, None].astype(int))
    p[code < 0] = np.exp(nb.class_log_prior_)
    return nb.classes_.astype(str), p


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 300), agents=st.integers(2, 12), alpha=st.sampled_from([0.1, 0.5, 2.0]))
def test_propensity_equals_categorical_naive_bayes(seed, n, agents, alpha):
    rng = np.random.default_rng(seed)
    fit = pd.DataFrame({"channel": rng.choice(["phone", "chat", None], n), "reason_code": rng.choice(["R1", "R2", "R3"], n)})
    agent = pd.Series(rng.choice([f"A{i}" for i in range(agents)], n))
    if agent.nunique() < 2:
        return
    score = pd.DataFrame({"channel": rng.choice(["phone", "chat", "email", None], 50),
                          "reason_code": rng.choice(["R1", "R2", "R9"], 50)})  # email / R9: unseen cells
    prop = fit_propensity(fit, agent, ["channel", "reason_code"], alpha)
    classes, want = _reference(fit, agent, ["channel", "reason_code"], alpha, score)
    assert list(prop.agents) == list(classes)
    got = prop.matrix(score)
    assert got.shape == want.shape
    assert np.array_equal(got, want)  # the same bits: the routing stage's assignments break ties alike
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-12)


def test_one_agent_is_certain():
    fit = pd.DataFrame({"channel": ["phone", "chat"]})
    prop = fit_propensity(fit, pd.Series(["A", "A"]), ["channel"], 0.5)
    assert (prop.matrix(pd.DataFrame({"channel": ["email"]})) == 1).all()


def test_many_agents_and_contacts_fit_in_little_memory():
    """3,000 agents x 300k contacts: CategoricalNB's one-hot fit would hold 900M cells; the counts do not."""
    rng = np.random.default_rng(0)
    n = 300_000
    fit = pd.DataFrame({"channel": rng.choice(["phone", "chat", "email"], n), "reason_code": rng.choice([f"R{i}" for i in range(40)], n)})
    prop = fit_propensity(fit, pd.Series(rng.integers(0, 3000, n).astype(str)), ["channel", "reason_code"], 0.5)
    p = prop.matrix(fit.head(1000))
    assert p.shape == (1000, 3000) and np.allclose(p.sum(axis=1), 1.0)
