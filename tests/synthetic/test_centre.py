"""The synthetic contact centre: sizes, seasonality, and a ground truth consistent with the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthetic.reasons import REASON_FAMILY
from synthetic.config import Messiness, SyntheticConfig
from contract.schema import SourceSpec, normalise_contacts
from synthetic.centre import CODE_DIFFICULTY, CODES, HARD_DIFFICULTY, generate, true_repeat_probability


@pytest.fixture(scope="module")
def data():
    return generate(SyntheticConfig.default(n_contacts=40_000, n_customers=8_000, n_agents=120, n_teams=10, seed=7))


def test_size_close_to_requested(data):
    assert abs(len(data.truth) - 40_000) / 40_000 < 0.08
    assert data.truth["contact_id"].is_unique
    assert len(data.agents) == 121  # 120 people and the self-service bot
    assert len(data.customers) == 8_000
    assert data.contacts["reason_code"].nunique() == len(REASON_FAMILY) == 40
    assert set(data.contacts["channel"]) >= {"phone", "chat", "email", "social", "self_service"}


def test_deterministic_for_a_seed():
    cfg = SyntheticConfig.default(n_contacts=3_000, n_customers=600, n_agents=30, n_teams=5, seed=3)
    a, b = generate(cfg), generate(cfg)
    pd.testing.assert_frame_equal(a.contacts, b.contacts)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    c = generate(cfg.model_copy(update={"seed": 4}))
    assert not a.truth["started_at"].equals(c.truth["started_at"])


def test_weekday_and_hour_seasonality(data):
    t = data.truth["started_at"]
    by_day = t.dt.dayofweek.value_counts()
    assert by_day[0] > 2 * by_day[6]  # Mondays are busy, Sundays quiet
    phone = t[data.truth["contact_id"].isin(data.contacts.loc[data.contacts["channel"] == "phone", "contact_id"])]
    by_hour = phone.dt.hour.value_counts()
    assert by_hour.get(10, 0) > 5 * by_hour.get(3, 0)


def test_truth_probabilities_match_outcomes(data):
    h = data.truth[~data.truth["abandoned"]]
    p = h["p_unresolved"]
    assert p.between(0, 1).all() and data.truth.loc[data.truth["abandoned"], "p_unresolved"].isna().all()
    unresolved = ~h["resolved"]
    # calibrated by construction: in each decile of p the observed rate is close to the mean p
    bins = pd.qcut(p, 10, labels=False)
    obs = unresolved.groupby(bins).mean()
    exp = p.groupby(bins).mean()
    n = p.groupby(bins).size()
    assert (np.abs(obs - exp) < 4 * np.sqrt(exp * (1 - exp) / n) + 0.005).all()
    assert 0.18 < unresolved.mean() < 0.40


def test_true_repeat_probability_matches_realised_repeats(data):
    end = data.truth["started_at"].max()
    h = data.truth[~data.truth["abandoned"] & (data.truth["started_at"] < end - pd.Timedelta(days=30))]
    p = true_repeat_probability(h, 7)
    came_back = h["next_issue_contact_at"].notna() & (h["next_issue_contact_at"] - h["started_at"] <= pd.Timedelta(days=7))
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(came_back.mean() - p.mean()) < 4 * se + 0.002


def test_unresolved_customers_come_back_or_give_up(data):
    h = data.truth[~data.truth["abandoned"]]
    unresolved = h[~h["resolved"]]
    resolved = h[h["resolved"]]
    assert resolved["next_issue_contact_at"].isna().all()          # resolved issues are over
    back = unresolved["next_issue_contact_at"].notna().mean()
    assert 0.7 < back < 0.95                                      # some give up
    # a repeat can come on another channel, or with another code of the same family
    nxt = data.truth.set_index("contact_id").loc[unresolved["next_issue_contact_id"].dropna()]
    first = data.contacts.drop_duplicates("contact_id").set_index("contact_id")
    a = first.reindex(unresolved.dropna(subset=["next_issue_contact_id"])["contact_id"])
    b = first.reindex(nxt.index)
    ok = a["channel"].notna().to_numpy() & b["channel"].notna().to_numpy()
    assert (a["channel"].to_numpy()[ok] != b["channel"].to_numpy()[ok]).mean() > 0.1
    fam_a = a["reason_code"].map(REASON_FAMILY).to_numpy()[ok]
    fam_b = b["reason_code"].map(REASON_FAMILY).to_numpy()[ok]
    assert (fam_a == fam_b).all()
    assert (a["reason_code"].to_numpy()[ok] != b["reason_code"].to_numpy()[ok]).mean() > 0.05


def test_export_consistent_with_truth(data):
    res = normalise_contacts(data.contacts, SourceSpec(reason_families=REASON_FAMILY))
    c = res.contacts.set_index("contact_id")
    tr = data.truth.set_index("contact_id")
    common = c.index.intersection(tr.index)
    assert len(common) > 0.97 * len(tr)
    assert (c.loc[common, "started_at"] == tr.loc[common, "started_at"]).all()  # mixed offsets parse to the same instant
    agents = data.agents.set_index("agent_id")["hired_at"]
    handled = c.loc[common].dropna(subset=["agent_id"])
    assert (handled["agent_id"].map(agents) <= handled["started_at"]).all()   # no agent before hire
    assert set(handled["agent_id"]) <= set(agents.index)
    assert set(c["customer_id"].dropna()) <= set(data.customers["customer_id"])
    signup = data.customers.set_index("customer_id")["signup_date"]
    known = c.loc[common].dropna(subset=["customer_id"])
    assert (known["customer_id"].map(signup) <= known["started_at"]).all()  # nobody calls before signing up


def test_messiness_switches():
    clean = generate(SyntheticConfig.default(n_contacts=5_000, n_customers=1_000, n_agents=40, n_teams=5,
                                     messiness=Messiness.clean()))
    res = normalise_contacts(clean.contacts, SourceSpec(reason_families=REASON_FAMILY))
    assert res.counts["rows_quarantined"] == 0 and res.counts["anonymous_contacts"] == 0
    assert (clean.contacts["disposition"] != "abandoned").all()
    assert clean.contacts["started_at"].str.endswith("Z").all()
    messy = generate(SyntheticConfig.default(n_contacts=20_000, n_customers=4_000, n_agents=40, n_teams=5))
    res = normalise_contacts(messy.contacts, SourceSpec(reason_families=REASON_FAMILY))
    reasons = res.counts["quarantined_by_reason"]
    for r in ("contact_id: duplicate row", "channel: unknown value", "started_at: unparseable timestamp",
              "contact_id: missing value", "handle_s: negative value"):
        assert reasons.get(r, 0) > 0, r
    assert res.counts["anonymous_contacts"] > 0
    assert (messy.contacts["disposition"] == "abandoned").any() and (messy.contacts["disposition"] == "dropped").any()
    assert not messy.contacts["started_at"].str.endswith("Z").all()


def test_truth_meta_lists_planted_drivers(data):
    meta = data.truth_meta
    names = {d["driver"] for d in meta["planted_drivers"]}
    assert {"channel", "reason_difficulty", "agent_skill_x_reason_difficulty", "queue_wait", "transfers"} <= names
    assert all(d["size"] > 0 for d in meta["planted_drivers"])
    assert set(meta["non_drivers"]) == {"plan", "region"}
    observed = {d["driver"]: d["observed"] for d in meta["planted_drivers"]}
    assert observed["transfers"] == "after_contact" and observed["customer_latent_complexity"] == "hidden"
    spread = {d["driver"]: d["spread_sd"] for d in meta["planted_drivers"]}
    # The measured spread of each part of the logit: the big drivers are big, none is zero.
    assert spread["agent_skill_x_reason_difficulty"] > 0.4 and spread["reason_difficulty"] > 0.4
    assert 0.2 < spread["channel"] < 0.4 and all(v > 0.03 for v in spread.values())


def test_teams_are_blended_and_specialists_get_the_hard_cases(data):
    human = data.contacts[data.contacts["agent_id"].notna() & (data.contacts["agent_id"] != "VA-0001")]
    channels_per_team = human.groupby("team")["channel"].nunique()
    assert (channels_per_team >= 2).all()  # a team does not stand for a channel
    diff = dict(zip(CODES, CODE_DIFFICULTY))
    human = human.assign(hard=human["reason_code"].map(diff) >= HARD_DIFFICULTY)
    specialist = data.agents.set_index("agent_id")["specialist"]
    share = human.groupby(human["agent_id"].map(specialist))["hard"].mean()
    assert share[True] > 1.25 * share[False]  # 0.41 vs 0.30 here; 0.63 vs 0.15 on the default centre
    # Within teams, the share of hard cases varies between agents independently of their skill.
    per_agent = human.groupby("agent_id").agg(hard=("hard", "mean"), n=("hard", "size"))
    per_agent = per_agent[per_agent["n"] >= 100].join(data.agent_truth.set_index("agent_id")["skill"])
    assert per_agent["hard"].std() > 0.1
    assert abs(per_agent[["hard", "skill"]].corr(method="spearman").iloc[0, 1]) < 0.4
