"""Behavioural checks of a small trained routing model (directional expectations and invariances):
- a customer with more recent contacts about their issue (not yet resolved) never scores lower, all
  else equal (the spec declares these features monotone; training honours it);
- renaming an agent id consistently (contacts and agents table) changes no score;
- the order of a batch (batch featurize rows, or the service's request list) changes no row's score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.builder import build_features
from features.online import online_snapshot
from features.online_state import OnlineState
from features.spec import WINDOWS_DAYS
from labelling.labeller import label_contacts
from models.scoring import model_frame
from models.measures import raw_scores
from models.training.fit import train_model
from features.config import FeaturizeConfig
from labelling.config import LabelConfig
from models.config import LightGBMConfig, TrainConfig
from synthetic.config import SyntheticConfig
from tests.centre import centre, feature_table

RECENT = [*(f"customer_contacts_{d}d" for d in WINDOWS_DAYS), "same_issue_contacts_window"]


@pytest.fixture(scope="module")
def trained():
    data, contacts = centre(SyntheticConfig.default(n_contacts=12000, n_customers=2000, n_agents=30, n_teams=4,
                                                    days=120, seed=5))
    table, spec, labels = feature_table(data, contacts)
    result = train_model(table, spec, TrainConfig.default(lightgbm=LightGBMConfig.default(
        learning_rate=0.1, n_estimators=150, early_stopping_rounds=20)))

    def score(features: pd.DataFrame) -> np.ndarray:
        return result.calibrator(raw_scores(result.booster, model_frame(features, spec)))

    return {"data": data, "contacts": contacts, "table": table, "spec": spec, "labels": labels, "score": score,
            "result": result}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_more_recent_contacts_never_lower_the_score(trained, extra, seed):
    table = trained["table"]
    rows = table.sample(300, random_state=seed)
    rows = rows[rows["customer_id"].notna()] if "customer_id" in rows else rows
    more = rows.copy()
    for name in RECENT:  # `extra` more contacts about this issue in the last day, all else equal
        more[name] = (more[name] + extra).astype(np.float32)
    base, after = trained["score"](rows), trained["score"](more)
    known = rows["customer_contacts_1d"].notna().to_numpy()
    assert known.sum() > 100
    worst = float(np.min(after[known] - base[known]))
    assert worst >= -1e-12, f"a customer with {extra} more recent contacts scored {worst:.4f} lower"


def test_renaming_an_agent_consistently_changes_no_score(trained):
    data, contacts = trained["data"], trained["contacts"]
    busiest = contacts["agent_id"].value_counts().index[0]
    renamed = contacts.assign(agent_id=contacts["agent_id"].astype("object").replace({busiest: "agent-XYZ-007"}))
    agents = data.agents.assign(agent_id=data.agents["agent_id"].replace({busiest: "agent-XYZ-007"}))
    labels = label_contacts(renamed, LabelConfig.default(window_days=7))
    before = trained["score"](trained["table"])
    after = trained["score"](build_features(renamed, labels, data.customers, agents, 7, FeaturizeConfig.default()))
    assert (contacts["agent_id"] == busiest).sum() > 100
    np.testing.assert_array_equal(before, after)


def test_row_order_of_batch_featurize_changes_no_score(trained):
    data, contacts = trained["data"], trained["contacts"]
    order = np.random.default_rng(3).permutation(len(contacts))
    shuffled = contacts.iloc[order].reset_index(drop=True)
    labels = label_contacts(shuffled, LabelConfig.default(window_days=7))
    feats = build_features(shuffled, labels, data.customers, data.agents, 7, FeaturizeConfig.default())
    want = pd.Series(trained["score"](trained["table"]), index=trained["table"]["contact_id"].to_numpy())
    got = pd.Series(trained["score"](feats), index=feats["contact_id"].to_numpy())
    np.testing.assert_array_equal(got.loc[want.index].to_numpy(), want.to_numpy())


def test_permuting_unrelated_requests_changes_no_score(trained):
    data, contacts, spec = trained["data"], trained["contacts"], trained["spec"]
    T = contacts["started_at"].quantile(0.8)
    before = contacts[contacts["started_at"] < T]
    labels = label_contacts(before, LabelConfig.default(window_days=7, as_of=str(T)))
    state = OnlineState(online_snapshot(before, labels, LabelConfig.default(window_days=7), T), data.customers,
                        data.agents, spec, FeaturizeConfig.default())
    after = contacts[(contacts["started_at"] >= T) & contacts["customer_id"].notna() & contacts["agent_id"].notna()]
    after = after.drop_duplicates("customer_id").drop_duplicates("agent_id").head(20)
    requests = [{"customer_id": str(r.customer_id), "channel": str(r.channel), "reason_code": str(r.reason_code),
                 "reason_family": str(r.reason_family), "agent_id": str(r.agent_id), "team": None,
                 "started_at": int(r.started_at.timestamp()), "wait_s": float(r.wait_s)} for r in after.itertuples()]
    booster, calibrator = trained["result"].booster, trained["result"].calibrator

    def p(reqs):
        return calibrator(booster.predict(state.features(reqs), raw_score=True,
                                          num_iteration=booster.best_iteration or None))

    want = p(requests)
    for seed in range(5):
        perm = np.random.default_rng(seed).permutation(len(requests))
        np.testing.assert_array_equal(p([requests[i] for i in perm]), want[perm])
