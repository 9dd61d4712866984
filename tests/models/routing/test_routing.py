"""The routing estimator on hand-built assignment logs whose answer is known: capacity, recovery of a planted
uplift (exact outcome model, and a wrong one beside the exact propensity), zero when agents do not differ, and
a refusal with its reason when overlap is too small."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.routing.assign import assign
from models.routing.estimate import uplift_interval
from models.routing.replay import replay
from models.config import BootstrapConfig, RoutingConfig

BOOT = BootstrapConfig(resamples=400, confidence=0.95, seed=0)


def test_assignment_respects_each_agents_capacity_and_the_candidates():
    rng = np.random.default_rng(1)
    n = 300
    period = rng.integers(0, 10, n)
    own = rng.choice(np.array(["A", "B", "C", "D"]), n)
    pc, pa = np.repeat(np.arange(n), 4), np.tile(np.array(["A", "B", "C", "D"]), n)
    keep = (pa == own[pc]) | (rng.random(len(pc)) < 0.5)  # candidates: own agent plus some others
    pc, pa = pc[keep], pa[keep]
    got = assign(period, own, pc, pa, rng.random(len(pc)) + (pa == "A"))  # everyone wants A
    before = pd.crosstab(period, own)
    after = pd.crosstab(period, got).reindex_like(before).fillna(0)
    assert (after.to_numpy() == before.to_numpy()).all()  # no agent takes more (or less) than it handled
    allowed = set(zip(pc.tolist(), pa.tolist()))
    assert all((i, a) in allowed for i, a in enumerate(got))
    assert (got == "A").sum() == (own == "A").sum() and (got != own).any()


def _log(n: int, mu: np.ndarray, e: np.ndarray, seed: int):
    """Contacts in cells, an agent drawn with probabilities e[cell], resolved with probability mu[cell, agent]."""
    rng = np.random.default_rng(seed)
    cell = rng.integers(0, len(mu), n)
    agent = np.array([rng.choice(mu.shape[1], p=e[c]) for c in cell])
    y = (rng.random(n) < mu[cell, agent]).astype(float)
    return cell, agent, y


def _estimate(mu, e, m, policy_of_cell, seed=0, n=20_000):
    """The uplift of sending each contact of a cell to `policy_of_cell[cell]`, correction cells = the log's cells.
    (The hand-built policy ignores capacity: the estimator does not need it, only the counts per cell.)"""
    cell, agent, y = _log(n, mu, e, seed)
    policy = policy_of_cell[cell]
    k_agents = mu.shape[1]
    res = uplift_interval(y, m[cell, agent], m[cell, policy], cell * k_agents + agent, cell * k_agents + policy,
                          np.tile(np.arange(k_agents), len(mu)), BOOT)
    true_uplift = 100 * (mu[cell, policy].mean() - mu[cell, agent].mean())
    return res, true_uplift


MU = np.array([[0.70, 0.85, 0.60], [0.80, 0.78, 0.90]])  # two cells, three agents
E = np.array([[0.5, 0.2, 0.3], [0.3, 0.5, 0.2]])
BEST = MU.argmax(axis=1)


def test_exact_outcome_model_recovers_the_planted_uplift():
    truth = 100 * sum(0.5 * E[c] @ (MU[c, BEST[c]] - MU[c]) for c in range(2))  # cells equally likely: 12 points
    runs = [_estimate(MU, E, MU, BEST, seed=s, n=5_000)[0] for s in range(40)]
    covered = np.mean([r["uplift_low"] <= truth <= r["uplift_high"] for r in runs])
    assert truth == pytest.approx(12.0)
    assert covered >= 0.85  # a 95% interval, 40 logs
    assert abs(np.mean([r["uplift_points"] for r in runs]) - truth) < 0.3  # unbiased
    assert all(r["uplift_low"] > 0 for r in runs)


def test_wrong_outcome_model_is_corrected_by_the_cell_weights():
    wrong = np.full_like(MU, 0.75)  # knows nothing of the agents: the direct method would say "no uplift"
    runs = [_estimate(MU, E, wrong, BEST, seed=s, n=5_000) for s in range(40)]
    covered = np.mean([r["uplift_low"] <= t <= r["uplift_high"] for r, t in runs])
    assert all(r["direct_method_points"] == 0 for r, _ in runs)
    assert covered >= 0.85 and all(r["uplift_low"] > 0 for r, _ in runs)


def test_many_agents_per_cell_the_interval_covers():
    """60 agents per cell (a few percent each, as on the default centre), a model off by an agent x cell
    error, and a policy sending a whole cell to one agent (no capacity: the largest weights): still covers."""
    rng = np.random.default_rng(11)
    mu = np.clip(0.78 + rng.normal(0, 0.05, (4, 60)), 0.05, 0.95)
    e = rng.dirichlet(np.full(60, 5.0), 4)
    model = np.clip(mu + rng.normal(0, 0.03, mu.shape), 0.05, 0.95)  # wrong per agent x cell
    policy = model.argmax(axis=1)
    runs = [_estimate(mu, e, model, policy, seed=s, n=20_000) for s in range(40)]
    covered = np.mean([r["uplift_low"] <= t <= r["uplift_high"] for r, t in runs])
    assert covered >= 0.85


def test_interval_contains_zero_when_agents_do_not_differ():
    same = np.repeat(np.array([[0.7], [0.8]]), 3, axis=1)
    noisy_model = same + np.array([[0.05, -0.05, 0.0], [0.0, 0.04, -0.04]])  # a model that thinks they differ
    res, truth = _estimate(same, E, noisy_model, noisy_model.argmax(axis=1), seed=5)
    assert truth == pytest.approx(0)
    assert res["uplift_low"] < 0 < res["uplift_high"]


def test_policy_keeping_every_agent_gives_the_observed_fcr():
    cell, agent, y = _log(2_000, MU, E, 7)
    code = cell * 3 + agent
    res = uplift_interval(y, MU[cell, agent], MU[cell, agent], code, code, np.tile(np.arange(3), 2), BOOT)
    assert res["fcr"] == pytest.approx(y.mean()) and res["uplift_points"] == 0
    assert res["uplift_low"] == 0 == res["uplift_high"]
    with pytest.raises(ValueError, match="outcome model"):
        uplift_interval(y, np.full(len(y), np.nan), MU[cell, agent], code, code, np.tile(np.arange(3), 2), BOOT)


class _Model:
    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        return np.full(len(rows), 0.2)


def _table(test_swapped: float, n: int = 400) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Agent A takes reason R1 and B takes R2 before the test window; in the test window a share
    `test_swapped` of the contacts went to the other agent (outside anything seen before)."""
    rng = np.random.default_rng(0)
    t = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 3600, unit="s")
    reason = rng.choice(np.array(["R1", "R2"]), n)
    test = np.arange(n) >= 3 * n // 4
    swap = test & (rng.random(n) < test_swapped)
    agent = np.where((reason == "R1") != swap, "A", "B")
    table = pd.DataFrame({
        "contact_id": [f"c{i}" for i in range(n)], "started_at": t, "agent_id": agent, "team": agent,
        "channel": "phone", "reason_code": reason, "reason_family": reason, "status": "labelled",
        "repeated": pd.array(rng.random(n) < 0.2, dtype="boolean")})
    return table, pd.DataFrame({"contact_id": table["contact_id"][test], "p_repeat": rng.random(test.sum())})


def test_too_little_overlap_is_refused_with_its_reason():
    cfg = RoutingConfig.default(min_overlap_share=0.5)
    table, test = _table(test_swapped=0.8)
    out, curve = replay(table, test, _Model(), None, cfg, 0.1)
    assert out["estimate"] is None and "too little overlap" in out["reason"] and out["overlap_share"] < 0.5
    assert curve.empty
    table, test = _table(test_swapped=0.0)
    out, _ = replay(table, test, _Model(), None, cfg, 0.1)  # full overlap: an estimate, specialists refused
    assert out["estimate"] == "doubly_robust" and out["overlap_share"] == 1.0
    assert out["policies"]["as_assigned"]["uplift_points"] == 0
    assert out["policies"]["risk_to_specialists"]["estimate"] is None
    assert "case-mix" in out["policies"]["risk_to_specialists"]["reason"]


class _RateModel:
    """Predicted repeat = the agent's repeat rate feature x the contact's difficulty: the policy follows the
    agent features (and sends the hardest contacts to the best agent)."""
    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        return rows["agent_repeat_rate"].to_numpy(float) * rows["reason_difficulty"].to_numpy(float)


def test_policies_are_fixed_at_the_window_start_not_fed_the_windows_outcomes():
    """The agent features a contact carries in the test window come from the window's own matured outcomes;
    a policy following them would be chosen by the outcomes it is judged on. Changing them changes nothing."""
    rng = np.random.default_rng(3)
    n = 600
    t = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 1800, unit="s")
    agent = rng.choice(np.array(["A", "B", "C"]), n)
    rate = {"A": 0.1, "B": 0.2, "C": 0.3}
    table = pd.DataFrame({
        "contact_id": [f"c{i}" for i in range(n)], "started_at": t, "agent_id": agent, "team": "T",
        "channel": "phone", "reason_code": "R1", "reason_family": "R1", "status": "labelled",
        "agent_repeat_rate": [rate[a] for a in agent], "reason_difficulty": rng.uniform(0.5, 2.0, n),
        "repeated": pd.array(rng.random(n) < 0.2, dtype="boolean")})
    test_rows = np.arange(n) >= 400
    test = pd.DataFrame({"contact_id": table["contact_id"][test_rows], "p_repeat": rng.random(test_rows.sum())})
    cfg = RoutingConfig.default(capacity_period="day")
    out, _ = replay(table, test, _RateModel(), None, cfg, 0.1)
    best = out["policies"]["best_available_agent"]
    assert best["contacts_moved"] > 0 and best["direct_method_points"] > 0  # A takes contacts: a real policy
    live = table.copy()  # inside the window the features turn around, as the window's outcomes would make them
    live.loc[test_rows, "agent_repeat_rate"] = live.loc[test_rows, "agent_id"].map({"A": 0.3, "B": 0.2, "C": 0.1})
    again, _ = replay(live, test, _RateModel(), None, cfg, 0.1)
    assert again["policies"]["best_available_agent"] == best


def test_a_long_window_is_replayed_on_a_sample_of_its_contacts():
    table, test = _table(test_swapped=0.0, n=5000)  # a test window of 1,250 contacts
    cfg = RoutingConfig.default(max_contacts=1000)
    out, _ = replay(table, test, _Model(), None, cfg, 0.1)
    assert out["estimate"] == "doubly_robust"
    assert out["window_contacts"] == 1250 and out["contacts"] == 1000
    assert out["contacts_per_month"] == replay(table, test, _Model(), None, RoutingConfig.default(), 0.1)[0][
        "contacts_per_month"]  # repeats avoided a month count the whole window's contacts
