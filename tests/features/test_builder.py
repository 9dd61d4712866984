"""Point-in-time features: brute-force checks, the matured-label rule, and truncation invariance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.builder import build_features, feature_spec, spec_rows, table_spec, training_table
from features.spec import FEATURES
from synthetic.reasons import REASON_FAMILY
from features.config import FeaturizeConfig
from labelling.config import LabelConfig
from synthetic.config import Messiness, SyntheticConfig
from features.history import GroupIndex
from labelling.labeller import label_contacts
from contract.schema import SourceSpec, normalise_contacts
from synthetic.centre import generate

DAY = 86_400


def test_group_index_matches_brute_force():
    rng = np.random.default_rng(0)
    group = rng.integers(-1, 5, 400)
    t = rng.integers(0, 50 * DAY, 400)
    t[:399:7] = t[1::7]  # ties in time
    w = rng.random(400) < 0.4
    gi = GroupIndex.build(group, t, margin=10 * DAY)
    counts = gi.window_count(7 * DAY)
    (matured,) = gi.matured_sums([w], 3 * DAY)
    prev = gi.previous()
    radix = GroupIndex.build(group, t, margin=10 * DAY, time_order=np.argsort(t, kind="stable"))
    assert (radix.keys == gi.keys).all() and (radix.window_count(7 * DAY) == counts).all()
    for i in range(400):
        same = group == group[i]
        assert counts[i] == (same & (t >= t[i] - 7 * DAY) & (t < t[i])).sum()
        assert matured[i] == pytest.approx(w[same & (t < t[i] - 3 * DAY)].sum())
        earlier = np.flatnonzero(same & (t < t[i]))
        if len(earlier):
            assert t[prev[i]] == t[earlier].max() and group[prev[i]] == group[i]
        else:
            assert prev[i] == -1


def _contacts(rows):
    df = pd.DataFrame(rows, columns=["contact_id", "customer_id", "day", "reason_code"])
    df["started_at"] = pd.Timestamp("2025-03-03", tz="UTC") + pd.to_timedelta(df.pop("day"), unit="D")
    df["ended_at"] = df["started_at"] + pd.Timedelta(minutes=5)
    df["reason_family"] = df["reason_code"].str[0]
    df["channel"] = "phone"
    df["agent_id"] = "a1"
    df["team"] = "T1"
    df["disposition"] = "handled"
    df["survey_resolved"] = pd.array([pd.NA] * len(df), dtype="boolean")
    df["wait_s"] = 30.0
    df["handle_s"] = 300.0
    df["transfers"] = 0
    return df


CUSTOMERS = pd.DataFrame({"customer_id": ["u1", "u2"], "segment": "consumer", "tier": "gold", "plan": "basic",
                          "region": "north", "language": "en",
                          "signup_date": pd.Timestamp("2024-01-01", tz="UTC")})
AGENTS = pd.DataFrame({"agent_id": ["a1"], "team": ["T1"], "hired_at": [pd.Timestamp("2024-06-01", tz="UTC")]})


def test_matured_label_rule():
    # c1 (day 0) is repeated by c2 (day 1). c3 at day 5: c1's window (7 days) is still open, so its
    # label must not be used, although the labeller already knows it. d at day 7.5: c1 has matured, c2 not.
    df = _contacts([("c1", "u1", 0, "A1"), ("c2", "u1", 1, "A1"), ("c3", "u1", 5, "B1"),
                    ("c4", "u1", 7.5, "B1"), ("c9", "u2", 30, "A1")])
    labels = label_contacts(df, LabelConfig.default(window_days=7))
    assert labels.set_index("contact_id").loc["c1", "repeated"]
    f = build_features(df, labels, CUSTOMERS, AGENTS, 7, FeaturizeConfig.default()).set_index("contact_id")
    assert f.loc["c3", "customer_past_labelled"] == 0 and f.loc["c3", "customer_past_repeats"] == 0
    assert f.loc["c4", "customer_past_labelled"] == 1 and f.loc["c4", "customer_past_repeats"] == 1
    assert f.loc["c3", "customer_contacts_7d"] == 2 and f.loc["c4", "customer_contacts_7d"] == 2
    assert f.loc["c2", "days_since_last_contact"] == pytest.approx(1.0)
    assert np.isnan(f.loc["c1", "days_since_last_contact"]) and f.loc["c1", "previous_channel"] == "none"
    assert f.loc["c2", "same_issue_contacts_window"] == 1 and f.loc["c3", "same_issue_contacts_window"] == 0
    assert f.loc["c4", "agent_repeat_rate"] > f.loc["c3", "agent_repeat_rate"]  # c1's repeat has matured


def test_routing_features_are_arrival_only(small_centre):
    contacts, customers, agents = small_centre
    labels = label_contacts(contacts, LabelConfig.default(window_days=7))
    spec = feature_spec(build_features(contacts, labels, customers, agents, 7, FeaturizeConfig.default()), 7)
    after = {f.name for f in FEATURES if f.availability == "after_contact"}
    assert after == {"handle_s", "transfers", "disposition"}
    assert not after & set(spec.model_features)
    assert {"agent_repeat_rate", "reason_difficulty", "customer_repeat_rate", "wait_s"} <= set(spec.model_features)
    assert "agent_id" not in spec.model_features  # measured: smoothed agent rates do better


def test_a_one_contact_table_gives_no_routing_feature_and_says_why():
    one = _contacts([("c1", "u1", 0, "A1")])
    spec = feature_spec(build_features(one, label_contacts(one, LabelConfig.default()), CUSTOMERS, AGENTS, 7,
                                       FeaturizeConfig.default()), 7)
    assert spec.model_features == []
    reasons = {d["name"]: d["reason"] for d in spec.dropped_features}
    assert reasons["wait_s"].startswith("constant") and reasons["days_since_last_contact"].startswith("entirely")
    assert "agent_id" not in reasons and "handle_s" not in reasons  # not routing features in the first place


@pytest.fixture(scope="module")
def small_centre():
    m = Messiness.default(anonymous=0.02, abandonment=True, duplicates=0, out_of_order=False, mixed_timezones=0,
                  dropped_calls=0.02, bad_rows=0)
    data = generate(SyntheticConfig.default(n_contacts=4000, n_customers=500, n_agents=30, n_teams=5, days=120,
                                    seed=11, messiness=m))
    contacts = normalise_contacts(data.contacts, SourceSpec(reason_families=REASON_FAMILY)).contacts
    return contacts, data.customers, data.agents


def _features(contacts, customers, agents):
    labels = label_contacts(contacts, LabelConfig.default(window_days=7))
    return build_features(contacts, labels, customers, agents, 7, FeaturizeConfig.default()).set_index("contact_id")


def _quick_returns(contacts: pd.DataFrame) -> pd.Series:
    """Start times of contacts that follow the same customer's previous contact within two hours:
    cutting just before one is where a feature peeking ahead would show."""
    c = contacts.dropna(subset=["customer_id"]).sort_values(["customer_id", "started_at"])
    gap = c["started_at"] - c.groupby("customer_id")["started_at"].shift()
    return c.loc[gap < pd.Timedelta(hours=2), "started_at"].sort_values().reset_index(drop=True)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0.05, 0.95), near_return=st.booleans())
def test_truncation_invariance_of_every_feature(small_centre, cut, near_return):
    contacts, customers, agents = small_centre
    t = contacts["started_at"]
    quick = _quick_returns(contacts)
    if near_return and len(quick):
        T = quick.iloc[int(cut * (len(quick) - 1))]  # cut just before a quick return
    else:
        T = t.min() + (t.max() - t.min()) * cut
    full = _features(contacts, customers, agents)
    part = _features(contacts[t < T], customers, agents)
    before = full.loc[part.index]
    for f in FEATURES:
        a = before[f.name].astype("object" if f.kind == "categorical" else "float64")
        b = part[f.name].astype("object" if f.kind == "categorical" else "float64")
        pd.testing.assert_series_equal(a, b, check_names=False, obj=f"feature {f.name} at cut {T}")


def test_categorical_inputs_give_the_same_features(small_centre):
    # the featurize stage reads code columns as dictionaries (categoricals); tests build from strings
    contacts, customers, agents = small_centre
    as_str = _features(contacts, customers, agents)
    cats = contacts.astype({c: "category" for c in ("channel", "reason_code", "reason_family", "agent_id", "team",
                                                    "disposition")})
    as_cat = _features(cats, customers, agents)
    for f in FEATURES:
        a, b = as_str[f.name], as_cat[f.name]
        kind = "object" if f.kind == "categorical" else "float64"
        pd.testing.assert_series_equal(a.astype(kind), b.astype(kind), check_names=False, obj=f.name)


def test_online_features_equal_batch_features(small_centre):
    """The service's state at a snapshot taken at T scores a contact arriving at T with exactly its
    batch features (every routing feature, categoricals as the model's codes)."""
    from features.online import online_snapshot
    from features.online_state import OnlineState

    contacts, customers, agents = small_centre
    batch = _features(contacts, customers, agents)
    spec = feature_spec(batch.reset_index(), 7).to_dict()
    assert len(spec["model_features"]) >= 25
    rng = np.random.default_rng(5)
    handled = contacts[contacts["customer_id"].notna() & contacts["agent_id"].notna()]
    # contacts spread over the data, some early (little history) and some late
    picks = handled.iloc[np.sort(rng.choice(len(handled), 12, replace=False))]
    for _, k in picks.iterrows():
        T = k["started_at"]
        before = contacts[contacts["started_at"] < T]
        # the snapshot is taken at T: labels whose window closed by then are final, not censored
        labels = label_contacts(before, LabelConfig.default(window_days=7, as_of=str(T)))
        state = OnlineState(online_snapshot(before, labels, LabelConfig.default(window_days=7), T), customers, agents,
                            spec, FeaturizeConfig.default())
        assert_online_equals_batch(state, k, batch, spec)


def assert_online_equals_batch(state, k: pd.Series, batch: pd.DataFrame, spec: dict) -> None:
    """The service's features of contact `k` (a request made of its columns, arriving at its start) are its
    batch features (`batch` indexed by contact_id), every routing feature, categoricals as the model's codes."""
    from models.scoring import model_frame

    request = {"customer_id": str(k["customer_id"]), "channel": str(k["channel"]),
               "reason_code": str(k["reason_code"]), "reason_family": str(k["reason_family"]),
               "agent_id": str(k["agent_id"]), "team": None, "started_at": int(k["started_at"].timestamp()),
               "wait_s": None if pd.isna(k["wait_s"]) else float(k["wait_s"])}
    online = state.features([request])[0]
    want = model_frame(batch.loc[[k["contact_id"]]], spec).iloc[0]
    for j, name in enumerate(spec["model_features"]):
        b = want[name]
        if name in state.codes:
            b = np.nan if pd.isna(b) else state.codes[name][str(b)]
        if pd.isna(b):
            assert np.isnan(online[j]), (k["contact_id"], name, online[j], b)
        else:
            assert online[j] == pytest.approx(float(b), rel=1e-6), (k["contact_id"], name, online[j], b)


def test_the_spec_of_a_table_in_pieces_comes_from_their_spec_rows(small_centre):
    """`table_spec` on the pieces' `spec_rows` (concatenated in order) is the whole table's spec: whatever the
    cuts, a piece without labelled rows, a table without any, and features constant or missing on the
    training rows only."""
    contacts, customers, agents = small_centre
    labels = label_contacts(contacts, LabelConfig.default(window_days=7))
    table, spec = training_table(contacts, labels, customers, agents, 7, FeaturizeConfig.default())
    table = table.assign(wait_s=table["wait_s"].where(table["status"] != "labelled", 3.0),  # constant when trained
                         hour=table["hour"].where(table["status"] != "labelled"))  # missing when trained
    rng = np.random.default_rng(5)
    for none_labelled in (False, True):
        whole = table.assign(status=table["status"].cat.rename_categories({"labelled": "x"})) if none_labelled else table
        want = table_spec(whole, 7, None, set())
        cuts = [0, 0, *np.sort(rng.integers(1, len(whole), 5)), len(whole)]
        rows = pd.concat([spec_rows(whole.iloc[a:b]) for a, b in zip(cuts[:-1], cuts[1:])], ignore_index=True)
        assert len(rows) <= 4 * (len(cuts) - 1) and table_spec(rows, 7, None, set()) == want
        reasons = {d["name"]: d["reason"] for d in want.dropped_features}
        assert none_labelled or (reasons["wait_s"] == "constant in the training table (3.0)"
                                 and reasons["hour"].startswith("entirely"))
    assert spec.model_features and "wait_s" in spec.model_features  # (the changes above made those reasons)
