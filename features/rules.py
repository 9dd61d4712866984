"""The feature rules, written once as vectorised functions over arrays: batch and service call them.

In: `Inputs`, per-row arrays of raw contact fields as integer codes (any consistent coding; -1 =
missing), start times in whole seconds, label flags, and optionally `base` counts (matured labels per
row's group that happened before the rows given). Out: the derived features of every row (numbers;
`previous_channel` as the channel code of the previous contact, -1 = none).
- features/builder.py calls `derived` on the whole contact table (batch featurize);
- features/online_state.py calls it on an arriving contact plus its customer's and agent's recent
  history rows from the live state, with the snapshot's matured counts as `base`.
Rules (the DESIGN's point-in-time rule): history counts use only the same customer's / agent's
contacts strictly before this one's start; label-derived rates use only contacts whose window closed
before it (started_at + window < t), shrunk toward their parent's rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.history import GroupIndex, smoothed_rate
from features.spec import WINDOWS_DAYS

DAY = 86_400
MISSING_TIME = int(np.iinfo(np.int64).min)
GLOBAL_KEY = "all"
NEUTRAL_PRIOR = 0.25  # the everyone-rate before any label has matured (the data's first window)
# Groupings with label-derived history: name -> contact columns that make the key (online snapshot keys).
GROUPINGS = {"global": (), "customer": ("customer_id",), "reason_family": ("reason_family",),
             "reason_code": ("reason_code",), "team": ("team",), "agent": ("agent_id",),
             "agent_family": ("agent_id", "reason_family")}


@dataclass
class Inputs:
    t: np.ndarray          # int64 seconds
    customer: np.ndarray   # int64 codes, -1 = anonymous
    channel: np.ndarray
    family: np.ndarray     # reason family
    reason: np.ndarray     # reason code
    agent: np.ndarray      # -1 = no agent
    team: np.ndarray       # -1 = no team
    signup: np.ndarray     # int64 seconds, MISSING_TIME = unknown
    hired: np.ndarray
    labelled: np.ndarray   # bool: a final label (status labelled)
    repeated: np.ndarray   # bool
    base: dict[str, tuple[np.ndarray, np.ndarray]] | None = None  # grouping -> (events, trials) per row


def agent_day_start(t: np.ndarray | int) -> np.ndarray | int:
    """The look-back of `agent_contacts_today`: the start of the contact's UTC day."""
    return t - t % DAY


def tenure_days(t: np.ndarray, since: np.ndarray) -> np.ndarray:
    return np.where(since > MISSING_TIME, (t - since) / DAY, np.nan)


def derived(x: Inputs, window_days: float, prior_strength: float) -> dict[str, np.ndarray]:
    """Every feature computed from history, time and side tables (see the module docstring)."""
    t = x.t
    n = len(t)
    by_time = np.argsort(t, kind="stable")  # shared by every low-cardinality grouping (radix sorts)
    window = int(round(window_days * DAY))
    longest = max(max(WINDOWS_DAYS) * DAY, window, DAY)
    f: dict[str, np.ndarray] = {"customer_tenure_days": tenure_days(t, x.signup)}

    # Customer history: earlier contacts of the same customer (anonymous customers have none).
    known = x.customer >= 0
    by_cust = GroupIndex.build(x.customer, t, margin=longest)
    for d in WINDOWS_DAYS:
        f[f"customer_contacts_{d}d"] = np.where(known, by_cust.window_count(d * DAY), np.nan)
    prev = by_cust.previous()
    has_prev = known & (prev >= 0)
    prev = np.maximum(prev, 0)
    f["days_since_last_contact"] = np.where(has_prev, (t - t[prev]) / DAY, np.nan)
    f["previous_channel"] = np.where(has_prev, x.channel[prev], -1)
    f["switched_channel"] = np.where(has_prev, (x.channel[prev] != x.channel).astype(float), np.nan)
    n_fam = int(x.family.max(initial=0)) + 1
    cust_fam = np.where(known, x.customer * n_fam + x.family, -1)
    f["same_issue_contacts_window"] = np.where(known, GroupIndex.build(cust_fam, t, margin=window).window_count(window),
                                               np.nan)

    # Label-derived history: only labels matured before t (started_at + window < t).
    labelled = x.labelled
    repeated = x.repeated & labelled
    any_label = bool(labelled.any())  # the service's rows carry none: its counts are all in `base`

    def matured(grouping: str, group: np.ndarray | None = None, index: GroupIndex | None = None):
        if any_label:
            gi = index or GroupIndex.build(group, t, margin=window, time_order=by_time)
            events, trials = (s.astype(np.float64) for s in gi.matured_sums([repeated, labelled], window))
        else:
            events, trials = np.zeros(n), np.zeros(n)
        if x.base is not None and grouping in x.base:  # counts from before the rows at hand
            events, trials = events + x.base[grouping][0], trials + x.base[grouping][1]
        return events, trials

    global_rate = smoothed_rate(*matured("global", np.zeros(n, dtype=np.int64)), np.full(n, NEUTRAL_PRIOR), 1.0)
    strength = prior_strength
    ev, tr = matured("customer", index=by_cust)
    f["customer_past_labelled"] = np.where(known, tr, np.nan)
    f["customer_past_repeats"] = np.where(known, ev, np.nan)
    f["customer_repeat_rate"] = np.where(known, smoothed_rate(ev, tr, global_rate, strength), np.nan)
    del by_cust

    # Reason, time.
    family_rate = smoothed_rate(*matured("reason_family", x.family), global_rate, strength)
    f["reason_difficulty"] = smoothed_rate(*matured("reason_code", x.reason), family_rate, strength)
    f["hour"] = (t % DAY) // 3600
    f["weekday"] = ((t // DAY) + 3) % 7  # 1970-01-01 was a Thursday

    # Agent.
    has_agent = x.agent >= 0
    f["agent_tenure_days"] = np.where(has_agent, tenure_days(t, x.hired), np.nan)
    team_rate = np.where(x.team >= 0, smoothed_rate(*matured("team", x.team), global_rate, strength), global_rate)
    by_agent = GroupIndex.build(x.agent, t, margin=longest, time_order=by_time)
    agent_rate = smoothed_rate(*matured("agent", index=by_agent), team_rate, strength)
    f["agent_repeat_rate"] = np.where(has_agent, agent_rate, np.nan)
    agent_fam = np.where(has_agent, x.agent * n_fam + x.family, -1)
    f["agent_family_repeat_rate"] = np.where(
        has_agent, smoothed_rate(*matured("agent_family", agent_fam), agent_rate, strength), np.nan)
    since_midnight = by_agent.sorted_values(t - agent_day_start(t))
    f["agent_contacts_today"] = np.where(has_agent, by_agent.window_count(since_midnight), np.nan)
    return f
