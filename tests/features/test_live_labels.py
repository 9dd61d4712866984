"""Live maturation against batch featurize, on random small contact logs (hypothesis).

A log is split at a snapshot time T. Batch: features/builder.py on the whole log with the labeller's
labels of the whole log (what featurize computes). Live: the snapshot built at T from the log before
it (labels as known at T), then the live state fed the later contacts in time order, as the service
is: each one scored (its features read), then its arrival and its completion (end, disposition, the
resolution signal) learned. Every later contact must get its batch features, the label-derived rates
included, while contacts of both parts mature during the live part. Hot reload: a second state from a
new snapshot at a later T2 (built from the export, which holds the contacts the first state learned
before T2), fed only the events since T2 (the journal's replay), gives the same features: nothing is
counted twice or lost.
Also: replaying the same events into a fresh state gives the same counts, applying them twice
changes nothing (a contact matures once), and completions posted late (after the labels they change
matured) end in the same counts.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from features.builder import build_features
from features.online import online_snapshot
from features.online_state import OnlineState
from labelling.labeller import label_contacts
from features.config import FeaturizeConfig
from labelling.config import LabelConfig

EPOCH = int(pd.Timestamp("2024-03-01", tz="UTC").timestamp())
REASONS = [("R1", "F1"), ("R2", "F1"), ("R3", "F2")]
AGENTS = {"a1": "t1", "a2": "t1", "a3": "t2"}
# Every number derived from history (features/rules.py), label-derived rates included.
NAMES = ["customer_contacts_1d", "customer_contacts_7d", "customer_contacts_30d", "customer_contacts_90d",
         "days_since_last_contact", "switched_channel", "same_issue_contacts_window", "customer_past_labelled",
         "customer_past_repeats", "customer_repeat_rate", "reason_difficulty", "agent_repeat_rate",
         "agent_family_repeat_rate", "agent_contacts_today", "hour", "weekday"]
SPEC = {"model_features": NAMES, "features": [{"name": n, "kind": "numeric"} for n in NAMES]}
GAPS = [0, 20, 60, 150, 600, 3_600, 6 * 3_600, 86_400, 2 * 86_400, 3 * 86_400]


@st.composite
def contact_logs(draw) -> pd.DataFrame:
    n = draw(st.integers(4, 28))
    t = EPOCH
    rows = []
    for i in range(n):
        t += draw(st.sampled_from(GAPS))  # bursts (merges), same-day and multi-day returns, ties
        code, family = draw(st.sampled_from(REASONS))
        agent = draw(st.sampled_from([*AGENTS, None]))
        rows.append({
            "contact_id": f"k{i:02d}", "customer_id": draw(st.sampled_from(["c1", "c2", "c3", "c1", None])),
            "started_at": t, "ended_at": t + draw(st.sampled_from([0, 10, 90, 300])),
            "channel": draw(st.sampled_from(["phone", "chat"])), "reason_code": code, "reason_family": family,
            "agent_id": agent, "team": AGENTS.get(agent),
            "disposition": draw(st.sampled_from(["handled", "handled", "abandoned", None])),
            "survey_resolved": draw(st.sampled_from([True, False, None])),
            "resolution_signal": draw(st.sampled_from([True, False, True, None]))})
    return pd.DataFrame(rows)


label_rules = st.builds(
    lambda window, match, gap, abandoned, survey, source: LabelConfig.default(
        window_days=window, match=match, merge_gap_s=gap, abandoned_counts_as_repeat=abandoned,
        survey_override=survey, source=source, as_of=None),
    st.sampled_from([0.5, 1.0, 2.0]), st.sampled_from(["same_reason", "reason_family", "any"]),
    st.sampled_from([0.0, 120.0]), st.booleans(), st.booleans(), st.sampled_from(["repeats", "column"]))


def _frame(log: pd.DataFrame) -> pd.DataFrame:
    f = log.copy()
    for col in ("started_at", "ended_at"):
        f[col] = pd.to_datetime(f[col], unit="s", utc=True)
    f["survey_resolved"] = f["survey_resolved"].astype("boolean")
    f["resolution_signal"] = f["resolution_signal"].astype("boolean")
    return f


def _look_ahead(log: pd.DataFrame, window: int, gap: float) -> bool:
    """Whether the batch labels use a contact that starts after a moment they are read at: a contact
    merging (within `gap` of the end of the customer's previous one) into a group that started inside
    another contact's window which closed before it. The batch builder's labels are final (computed
    on the whole log), so such a contact changes a label that earlier contacts already read; no
    causal service can match that, and the test leaves such logs out (brute force)."""
    for _, mine in log[log["customer_id"].notna()].groupby("customer_id"):
        mine = mine.sort_values(["started_at", "contact_id"])
        s, e = mine["started_at"].to_numpy(), mine["ended_at"].to_numpy()
        for j in range(1, len(s)):
            if s[j] - e[j - 1] <= gap:  # j merges into the previous contact's group
                head = j - 1
                while head > 0 and s[head] - e[head - 1] <= gap:
                    head -= 1
                if any(s[i] <= s[head] <= s[i] + window < s[j] for i in range(len(s))):
                    return True
    return False


def _record(row: pd.Series) -> dict:
    r = {k: None if pd.isna(row[k]) else row[k] for k in ("contact_id", "customer_id", "channel", "reason_code",
                                                           "reason_family", "agent_id", "team")}
    return r | {"started_at": int(row["started_at"]), "wait_s": None}


def _feed(state: OnlineState, events: list[tuple[str, dict]]) -> None:
    """The scorer's `apply` (models/serving/scorer.py) of journaled events, without the model."""
    for kind, r in events:
        state.mature(int(r["started_at"]))
        state.observe_outcome(r)
        if kind == "arrival":
            state.observe(r)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(log=contact_logs(), rules=label_rules, cut=st.floats(0.1, 0.9), reload_at=st.floats(0.0, 1.0))
def test_snapshot_plus_live_state_gives_the_batch_features(log, rules, cut, reload_at):
    window = int(round(rules.window_days * 86_400))
    first, last = int(log["started_at"].iloc[0]), int(log["started_at"].iloc[-1])
    T = int(first + cut * (last - first)) + 1
    T2 = int(T + reload_at * (last + 1 - T))  # a new snapshot (hot reload) at T2 >= T
    # the snapshots' counts are final at their end: no contact's merge reach straddles it, nor any look-ahead
    for end in (T, T2):
        assume(not ((log["started_at"] < end) & (log["ended_at"] + rules.merge_gap_s >= end)).any())
    assume(not _look_ahead(log, window, rules.merge_gap_s))
    later = log[log["started_at"] >= T].sort_values(["started_at", "contact_id"], kind="stable")
    assume(len(later) > 0)
    # The live API carries no survey answer: after T only the export (batch) could know one.
    log["survey_resolved"] = log["survey_resolved"].astype("object").where(log["started_at"] < T, None)
    whole = _frame(log)
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3"]})
    agents = pd.DataFrame({"agent_id": list(AGENTS), "team": list(AGENTS.values())})
    cfg = FeaturizeConfig.default()
    batch = build_features(whole, label_contacts(whole, rules), customers, agents, rules.window_days, cfg)
    batch = batch.set_index("contact_id")

    def snapshot_state(end: int) -> OnlineState:
        as_of = pd.Timestamp(end, unit="s", tz="UTC")
        before = whole[whole["started_at"] < as_of].reset_index(drop=True)
        labels = label_contacts(before, rules.model_copy(update={"as_of": str(as_of)}))
        return OnlineState(online_snapshot(before, labels, rules, as_of), customers, agents, SPEC, cfg)

    state = snapshot_state(T)
    # on reload the service starts from the new snapshot and replays the journal's events since its end
    reloaded = snapshot_state(T2)
    fresh, late = copy.deepcopy(state), copy.deepcopy(state)
    events: list[tuple[str, dict]] = []
    matured_any = False
    for _, row in later.iterrows():
        arrival = _record(row)
        want = batch.loc[row["contact_id"], NAMES].to_numpy(dtype=float)
        for live in (state, reloaded) if arrival["started_at"] >= T2 else (state,):
            got = live.features([dict(arrival)])[0]
            np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True,
                                       err_msg=f"{row['contact_id']}: {list(zip(NAMES, got, want))}")
        matured_any |= bool(state.live.matured)
        ended = pd.Timestamp(int(row["ended_at"]), unit="s", tz="UTC").isoformat()
        signal = None if pd.isna(row["resolution_signal"]) else bool(row["resolution_signal"])
        completion = arrival | {"ended_at": ended, "disposition": row["disposition"], "resolved": signal}
        step = [("arrival", arrival), ("completion", completion)]
        _feed(state, step)
        if arrival["started_at"] >= T2:
            _feed(reloaded, step)
        events += step
    event(f"labels matured live: {matured_any}")
    # the journal's replay at start-up: the same counts; and applying events again changes nothing
    _feed(fresh, events)
    end = int(log["started_at"].max()) + window + 1
    state.mature(end)
    fresh.mature(end)
    assert state.live.counts == fresh.live.counts
    _feed(fresh, events)
    fresh.mature(end)
    assert state.live.counts == fresh.live.counts
    # completions posted late, after labels they change had matured: the customer is labelled again
    _feed(late, [e for e in events if e[0] == "arrival"] + [e for e in events if e[0] == "completion"])
    late.mature(end)
    assert {g: {k: v for k, v in c.items() if v != [0, 0]} for g, c in state.live.counts.items()} == \
        {g: {k: v for k, v in c.items() if v != [0, 0]} for g, c in late.live.counts.items()}


def test_a_contact_matures_when_its_window_closes_and_counts_once():
    """Hand-made: a customer's contact before the snapshot, its repeat after; the next contact after the
    window sees one more labelled (repeated) contact, exactly at the window's edge it does not."""
    rules = LabelConfig.default(window_days=1.0, as_of=None)
    log = pd.DataFrame([
        {"contact_id": "a", "customer_id": "c1", "started_at": EPOCH, "ended_at": EPOCH + 60, "channel": "phone",
         "reason_code": "R1", "reason_family": "F1", "agent_id": "a1", "team": "t1", "disposition": "handled",
         "survey_resolved": None, "resolution_signal": None}])
    whole = _frame(log)
    T = pd.Timestamp(EPOCH + 3_600, unit="s", tz="UTC")
    snapshot = online_snapshot(whole, label_contacts(whole, rules.model_copy(update={"as_of": str(T)})), rules, T)
    state = OnlineState(snapshot, pd.DataFrame({"customer_id": ["c1"]}),
                        pd.DataFrame({"agent_id": ["a1"], "team": ["t1"]}), SPEC, FeaturizeConfig.default())
    names = SPEC["model_features"]
    past = names.index("customer_past_labelled")
    repeats = names.index("customer_past_repeats")
    b = {"contact_id": "b", "customer_id": "c1", "channel": "chat", "reason_code": "R2", "reason_family": "F1",
         "agent_id": "a2", "team": None, "started_at": EPOCH + 7_200, "wait_s": None}
    assert state.features([dict(b)])[0][past] == 0
    _feed(state, [("arrival", b), ("completion", b | {"ended_at": None, "disposition": "handled", "resolved": None})])
    edge = b | {"contact_id": "c", "started_at": EPOCH + 86_400}  # a's window closes at the edge: not yet
    assert state.features([dict(edge)])[0][past] == 0
    after = b | {"contact_id": "d", "started_at": EPOCH + 86_401}
    row = state.features([dict(after)])[0]
    assert row[past] == 1 and row[repeats] == 1  # a was repeated by b (same family, within a day)
    assert state.live.counts["customer"]["c1"] == [1, 1]
    # an out-of-order contact before the edge still sees what had matured before it
    assert state.features([dict(edge)])[0][past] == 0
    _feed(state, [("arrival", after), ("arrival", after)])
    state.mature(EPOCH + 86_401 + 86_400 * 3)
    # then b matures (repeated by d: same family within a day) and d (nothing after it); d came twice
    assert state.live.counts["customer"]["c1"] == [2, 3]
    # memory: far later, what no news can change is forgotten; the counts stay
    counts = copy.deepcopy(state.live.counts)
    assert state.live.size() == 3 and state.prune(EPOCH + 200 * 86_400) > 0
    assert state.live.size() == 0 and state.live.counts == counts and not state.live.matured
