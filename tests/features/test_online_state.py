"""The service's live state against the batch builder run on (snapshot history + arriving contacts)
with the snapshot's counts as base, feature by feature, on random arriving contacts: known, unknown
and anonymous customers, unknown agents and reason codes, several contacts of one customer in one
batch. Both call the same rules (features/rules.py): this checks which history rows and counts the
service hands them, and its category coding."""

from __future__ import annotations

import copy
import numpy as np
import pandas as pd
import pytest

from features.builder import build_features, feature_spec
from features.rules import GROUPINGS
from synthetic.reasons import REASON_FAMILY
from features.config import FeaturizeConfig
from labelling.config import LabelConfig
from synthetic.config import SyntheticConfig
from labelling.labeller import label_contacts
from features.online import online_snapshot
from features.online_state import OnlineState
from contract.schema import SourceSpec, normalise_contacts
from synthetic.centre import generate
from models.scoring import model_frame


REQUEST_COLUMNS = ["customer_id", "channel", "reason_code", "reason_family", "agent_id", "started_at", "wait_s"]


def online_features(requests: pd.DataFrame, snapshot: dict[str, pd.DataFrame], customers: pd.DataFrame,
                    agents: pd.DataFrame, cfg: FeaturizeConfig) -> pd.DataFrame:
    """Reference: the batch builder on the snapshot's history rows plus the requests, with the
    snapshot's matured counts as base. History rows whose window had closed at the snapshot's end
    carry no label (they are in the counts); the others carry the labeller's label on the history,
    which the builder counts for a request once their window has closed before it (the live state
    matures them as the requests come)."""
    window_days = float(snapshot["meta"]["window_days"].iloc[0])
    req = requests.reset_index(drop=True).copy()
    req["contact_id"] = [f"__request_{i}" for i in range(len(req))]
    hist = snapshot["history"]
    frame = pd.concat([hist, req], ignore_index=True)
    frame["team"] = frame["team"] if "team" in frame else np.nan
    as_of = pd.Timestamp(snapshot["meta"]["as_of"].iloc[0])
    rules = LabelConfig.model_validate_json(snapshot["meta"]["label"].iloc[0])
    hist_labels = label_contacts(hist, rules.model_copy(update={"as_of": str(req["started_at"].max())}))
    in_snapshot = (hist["started_at"] + pd.Timedelta(days=window_days) < as_of).to_numpy()
    labels = pd.DataFrame({"contact_id": frame["contact_id"], "status": "excluded",
                           "repeated": pd.array([pd.NA] * len(frame), dtype="boolean")})
    live = np.r_[~in_snapshot, np.zeros(len(req), bool)]
    labels.loc[live, "status"] = hist_labels["status"].astype("str").to_numpy()[~in_snapshot]
    labels.loc[live, "repeated"] = hist_labels["repeated"].to_numpy()[~in_snapshot]
    base = {g: snapshot[g] for g in GROUPINGS}
    feats = build_features(frame, labels, customers, agents, window_days, cfg, base=base)
    return feats.iloc[len(hist):].reset_index(drop=True).drop(columns=["contact_id"])


@pytest.fixture(scope="module")
def setup():
    data = generate(SyntheticConfig.default(n_contacts=15000, n_customers=2000, n_agents=30, n_teams=4, days=200, seed=21))
    contacts = normalise_contacts(data.contacts, SourceSpec(reason_families=REASON_FAMILY)).contacts
    T = contacts["started_at"].quantile(0.85)
    before = contacts[contacts["started_at"] < T]
    labels = label_contacts(before, LabelConfig.default(window_days=7, as_of=str(T)))
    spec = feature_spec(build_features(before, labels, data.customers, data.agents, 7, FeaturizeConfig.default()), 7).to_dict()
    snapshot = online_snapshot(before, labels, LabelConfig.default(window_days=7), T)
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
    # labels mature as the requests come (a clock that only moves forward): each seed starts afresh
    got = copy.deepcopy(state).features(records)
    for j, name in enumerate(spec["model_features"]):
        col = want[name]
        expected = col.cat.codes.to_numpy().astype(float) if isinstance(col.dtype, pd.CategoricalDtype) else \
            col.to_numpy(dtype=float)
        if isinstance(col.dtype, pd.CategoricalDtype):
            expected[expected < 0] = np.nan
        np.testing.assert_allclose(got[:, j], expected, rtol=1e-6, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_pruning_forgets_only_what_no_later_contact_sees(setup, seed):
    """A long-running service prunes its state (memory bounded by the look-back): contacts at or after
    the prune time get exactly the features they got before, and what is kept is, per customer, the
    contacts within the look-back or else the latest one (brute force), per agent the previous day on."""
    import copy

    from features.rules import agent_day_start

    contacts, T, data, snapshot, state0, spec = setup
    rng = np.random.default_rng(seed)
    after = contacts[contacts["started_at"] >= T]
    now_ts = after["started_at"].iloc[int(rng.integers(len(after) // 2, len(after) - 50))]
    now = int(now_ts.timestamp())
    state = copy.deepcopy(state0)
    for r in after[after["started_at"] < now_ts].to_dict("records"):
        state.observe({"customer_id": None if pd.isna(r["customer_id"]) else r["customer_id"],
                       "agent_id": None if pd.isna(r["agent_id"]) else r["agent_id"], "channel": str(r["channel"]),
                       "reason_family": str(r["reason_family"]), "started_at": int(r["started_at"].timestamp())})
    req = _requests(contacts[contacts["started_at"] >= now_ts], now_ts, seed, contacts[contacts["started_at"] < now_ts])
    req = req[req["started_at"] >= now_ts]
    records = [{k: (None if (not isinstance(v, str) and pd.isna(v)) else v) for k, v in r.items()}
               for r in req.to_dict("records")]
    for r in records:
        r["started_at"] = int(r["started_at"].timestamp())
    before = state.features(records)
    history = {c: list(h.times) for c, h in state.customer_history.items()}
    agents = {a: list(t) for a, t in state.agent_times.items()}
    dropped = state.prune(now)
    assert dropped > 0
    np.testing.assert_array_equal(state.features(records), before)
    cust_before, agent_before = state.horizon(now)
    assert cust_before <= now - 91 * 86_400 and agent_before == agent_day_start(now) - 86_400
    for c, times in history.items():
        kept = [t for t in times if t >= cust_before]
        assert state.customer_history[c].times == (kept or times[-1:]), c
    assert {a: t for a, t in state.agent_times.items()} == \
        {a: [x for x in t if x >= agent_before] for a, t in agents.items() if any(x >= agent_before for x in t)}
    assert sum(len(t) for t in history.values()) + sum(len(t) for t in agents.values()) - dropped == \
        sum(len(h.times) for h in state.customer_history.values()) + sum(map(len, state.agent_times.values()))
