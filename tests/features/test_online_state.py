"""The service's pandas-free feature path against the pandas online path (the same builder as batch),
feature by feature, on random arriving contacts: known, unknown and anonymous customers, unknown
agents and reason codes, several contacts of one customer in one batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.builder import build_features, feature_spec
from synthetic.reasons import REASON_FAMILY
from pipeline.config import FeaturizeConfig, LabelConfig, SyntheticConfig
from labelling.labeller import label_contacts
from features.online import online_features, online_snapshot
from features.online_state import OnlineState
from contract.schema import SourceSpec, normalise_contacts
from synthetic.centre import generate
from models.scoring import model_frame


@pytest.fixture(scope="module")
def setup():
    data = generate(SyntheticConfig.default(n_contacts=15000, n_customers=2000, n_agents=30, n_teams=4, days=200, seed=21))
    contacts = normalise_contacts(data.contacts, SourceSpec(reason_families=REASON_FAMILY)).contacts
    T = contacts["started_at"].quantile(0.85)
    before = contacts[contacts["started_at"] < T]
    labels = label_contacts(before, LabelConfig.default(window_days=7, as_of=str(T)))
    spec = feature_spec(build_features(before, labels, data.customers, data.agents, 7, FeaturizeConfig.default()), 7).to_dict()
    snapshot = online_snapshot(before, labels, 7, T)
    state = OnlineState(snapshot, data.customers, data.agents, spec, FeaturizeConfig.default())
    return contacts, T, data, snapshot, state, spec


def _requests(contacts: pd.DataFrame, T: pd.Timestamp, seed: int, history: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    after = contacts[contacts["started_at"] >= T]
    req = after.iloc[np.sort(rng.choice(len(after), 40, replace=False))][
        ["customer_id", "channel", "reason_code", "reason_family", "agent_id", "started_at", "wait_s"]].copy()
    req = req.astype({"channel": "str", "reason_code": "str", "reason_family": "str", "agent_id": "object",
                      "customer_id": "object"})
    req.iloc[0, req.columns.get_loc("customer_id")] = "never-seen-customer"
    req.iloc[1, req.columns.get_loc("agent_id")] = "never-seen-agent"
    req.iloc[2, req.columns.get_loc("reason_code")] = "NEW-01"
    req.iloc[2, req.columns.get_loc("reason_family")] = "NEW-01"
    req.iloc[3, req.columns.get_loc("customer_id")] = None
    req.iloc[4, req.columns.get_loc("agent_id")] = None
    req.iloc[5, req.columns.get_loc("wait_s")] = np.nan
    twice = req.iloc[[6]].copy()  # the same customer again, an hour later, in the same batch
    twice["started_at"] = twice["started_at"] + pd.Timedelta(hours=1)
    twice["channel"] = "email"
    # Exactly at the edge of the label window and of the 1-day window after a history contact.
    recent = history[(history["started_at"] > T - pd.Timedelta(days=1)) & history["customer_id"].notna()]
    edge = recent.iloc[rng.choice(len(recent), 6, replace=False)][req.columns.drop("wait_s")].astype(
        {"channel": "str", "reason_code": "str", "reason_family": "str", "agent_id": "object",
         "customer_id": "object"})
    edge["wait_s"] = 10.0
    edge["started_at"] = edge["started_at"] + pd.to_timedelta(np.where(np.arange(6) < 3, 7, 1), unit="D")
    return pd.concat([req, twice, edge], ignore_index=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_features_equal_the_pandas_online_path(setup, seed):
    contacts, T, data, snapshot, state, spec = setup
    req = _requests(contacts, T, seed, snapshot["history"])
    want = model_frame(online_features(req, snapshot, data.customers, data.agents, FeaturizeConfig.default()), spec)
    records = [{k: (None if (not isinstance(v, str) and pd.isna(v)) else v) for k, v in r.items()}
               for r in req.to_dict("records")]
    for r in records:
        r["started_at"] = int(r["started_at"].timestamp())
    got = state.features(records)
    for j, name in enumerate(spec["model_features"]):
        col = want[name]
        expected = col.cat.codes.to_numpy().astype(float) if isinstance(col.dtype, pd.CategoricalDtype) else \
            col.to_numpy(dtype=float)
        if isinstance(col.dtype, pd.CategoricalDtype):
            expected[expected < 0] = np.nan
        np.testing.assert_allclose(got[:, j], expected, rtol=1e-6, equal_nan=True, err_msg=name)
