"""The feature rules, written once as vectorised functions over arrays: batch and service call them.

In: `Inputs`, per-row arrays of raw contact fields as integer codes (any consistent coding; -1 =
missing), start times in whole seconds, label flags, and optionally `base` counts (matured labels per
row's group that happened before the rows given). Out: the derived features of every row (numbers;
`previous_channel` as the channel code of the previous contact, -1 = none).
- features/builder.py calls `derived` on the whole contact table (batch featurize);
- features/online_state.py calls it on an arriving contact plus its customer's and agent's recent
  history rows from the live state, with the snapshot's matured counts as `base`;
- engine/features.py calls its parts where the rows they need are: `row_features` and
  `customer_history` on whole customers, `group_counts` and `agent_contacts_today` on whole groups
  (agent, team, reason), `matured_at` for everyone's count, then `rates` on the counts joined back.
Rules (the DESIGN's point-in-time rule): history counts use only the same customer's / agent's
contacts strictly before this one's start; label-derived rates use only contacts whose window closed
before it (started_at + window < t), shrunk toward their parent's rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from features.history import GroupIndex, matured_at, smoothed_rate
from features.spec import WINDOWS_DAYS

DAY = 86_400
MISSING_TIME = int(np.iinfo(np.int64).min)
GLOBAL_KEY = "all"
NEUTRAL_PRIOR = 0.25  # the everyone-rate before any label has matured (the data's first window)
# Groupings with label-derived history: name -> contact columns that make the key (online snapshot keys).
GROUPINGS = {"global": (), "customer": ("customer_id",), "reason_family": ("reason_family",),
             "reason_code": ("reason_code",), "team": ("team",), "agent": ("agent_id",),
             "agent_family": ("agent_id", "reason_family")}
Counts = tuple[np.ndarray, np.ndarray]  # per row: (matured repeats, matured labelled contacts), float64


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


def window_seconds(window_days: float) -> int:
    """The label window in whole seconds: a label has matured at t when started_at + window < t."""
    return int(round(window_days * DAY))


def longest_lookback(window_days: float) -> int:
    """The longest look-back (seconds) of any history feature: the margin of the customer and agent indexes."""
    return max(max(WINDOWS_DAYS) * DAY, window_seconds(window_days), DAY)


def pair_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One code per (a, b) pair (customer x family, agent x family); -1 where a is missing."""
    n_b = int(b.max(initial=0)) + 1
    return np.where(a >= 0, a * n_b + b, -1)


def row_features(x: Inputs) -> dict[str, np.ndarray]:
    """The features of a row alone: tenures, hour and weekday (UTC)."""
    return {"customer_tenure_days": tenure_days(x.t, x.signup),
            "hour": (x.t % DAY) // 3600,
            "weekday": ((x.t // DAY) + 3) % 7,  # 1970-01-01 was a Thursday
            "agent_tenure_days": np.where(x.agent >= 0, tenure_days(x.t, x.hired), np.nan)}


def group_counts(group: np.ndarray, t: np.ndarray, labelled: np.ndarray, repeated: np.ndarray, window: int,
                 time_order: np.ndarray | None = None, index: GroupIndex | None = None) -> Counts:
    """Per row: the repeats and the labelled contacts among its group's contacts whose label had matured
    before its start (started_at + `window` < t; only labelled contacts count). Exact on any set of rows
    that holds whole groups. `time_order` (rows sorted by time) speeds up the sort; `index`: the group's
    index already built (any margin of at least `window`)."""
    if not labelled.any():  # (the service's rows carry none: its counts are all in `base`)
        return np.zeros(len(t)), np.zeros(len(t))
    gi = index or GroupIndex.build(group, t, margin=window, time_order=time_order)
    events, trials = gi.matured_sums([repeated & labelled, labelled], window)
    return events.astype(np.float64), trials.astype(np.float64)


def overall_counts(t: np.ndarray, times: np.ndarray, repeats: np.ndarray, labelled: np.ndarray,
                   window: int) -> Counts:
    """Everyone's `group_counts` at times `t`, from all labelled contacts given as their start times and
    per-time counts (`repeats`, `labelled` per entry of `times`, in any order; one entry a contact works too)."""
    events, trials = matured_at(times, [repeats, labelled], t, window)
    return events.astype(np.float64), trials.astype(np.float64)


def agent_contacts_today(agent: np.ndarray, t: np.ndarray, index: GroupIndex | None = None) -> np.ndarray:
    """Per row: the agent's contacts earlier on its UTC day (NaN without an agent). Exact on rows holding
    whole agents; `index`: the agent index already built (margin of a day or more)."""
    by_agent = index or GroupIndex.build(agent, t, margin=DAY)
    since_midnight = by_agent.sorted_values(t - agent_day_start(t))
    return np.where(agent >= 0, by_agent.window_count(since_midnight), np.nan)


def customer_history(x: Inputs, window_days: float) -> tuple[dict[str, np.ndarray], Counts]:
    """The customer's history features (earlier contacts of the same customer; anonymous customers have
    none) and the customer's matured counts. Exact on rows holding whole customers."""
    t = x.t
    window = window_seconds(window_days)
    f: dict[str, np.ndarray] = {}
    known = x.customer >= 0
    by_cust = GroupIndex.build(x.customer, t, margin=longest_lookback(window_days))
    for d in WINDOWS_DAYS:
        f[f"customer_contacts_{d}d"] = np.where(known, by_cust.window_count(d * DAY), np.nan)
    prev = by_cust.previous()
    has_prev = known & (prev >= 0)
    prev = np.maximum(prev, 0)
    f["days_since_last_contact"] = np.where(has_prev, (t - t[prev]) / DAY, np.nan)
    f["previous_channel"] = np.where(has_prev, x.channel[prev], -1)
    f["switched_channel"] = np.where(has_prev, (x.channel[prev] != x.channel).astype(float), np.nan)
    cust_fam = pair_codes(x.customer, x.family)
    f["same_issue_contacts_window"] = np.where(known, GroupIndex.build(cust_fam, t, margin=window).window_count(window),
                                               np.nan)
    return f, group_counts(x.customer, t, x.labelled, x.repeated, window, index=by_cust)


def rates(counts: Callable[[str], Counts], x: Inputs, prior_strength: float) -> dict[str, np.ndarray]:
    """The label-derived features of the rows of `x` from each grouping's matured counts (`counts(grouping)`,
    asked once each, in this order, so that a caller may compute them only then), each rate shrunk toward
    its parent's: everyone's (toward NEUTRAL_PRIOR) -> customer; -> reason family -> reason code; -> team
    (everyone's without a team) -> agent -> agent x family."""
    strength = prior_strength
    known, has_team, has_agent = x.customer >= 0, x.team >= 0, x.agent >= 0
    f: dict[str, np.ndarray] = {}
    global_rate = smoothed_rate(*counts("global"), np.full(len(known), NEUTRAL_PRIOR), 1.0)
    ev, tr = counts("customer")
    f["customer_past_labelled"] = np.where(known, tr, np.nan)
    f["customer_past_repeats"] = np.where(known, ev, np.nan)
    f["customer_repeat_rate"] = np.where(known, smoothed_rate(ev, tr, global_rate, strength), np.nan)
    del ev, tr
    family_rate = smoothed_rate(*counts("reason_family"), global_rate, strength)
    f["reason_difficulty"] = smoothed_rate(*counts("reason_code"), family_rate, strength)
    del family_rate
    team_rate = np.where(has_team, smoothed_rate(*counts("team"), global_rate, strength), global_rate)
    agent_rate = smoothed_rate(*counts("agent"), team_rate, strength)
    f["agent_repeat_rate"] = np.where(has_agent, agent_rate, np.nan)
    f["agent_family_repeat_rate"] = np.where(
        has_agent, smoothed_rate(*counts("agent_family"), agent_rate, strength), np.nan)
    return f


def with_base(counts: Counts, x: Inputs, grouping: str) -> Counts:
    """`counts` plus the matured counts from before the rows given (`x.base`), where there are any."""
    if x.base is not None and grouping in x.base:
        return counts[0] + x.base[grouping][0], counts[1] + x.base[grouping][1]
    return counts


def derived(x: Inputs, window_days: float, prior_strength: float) -> dict[str, np.ndarray]:
    """Every feature computed from history, time and side tables (see the module docstring): the
    composition of the functions above on rows that hold everything."""
    t = x.t
    window = window_seconds(window_days)
    by_time = np.argsort(t, kind="stable")  # shared by every low-cardinality grouping (radix sorts)
    f = row_features(x)
    history, customer = customer_history(x, window_days)
    f.update(history)
    del history
    by_agent = GroupIndex.build(x.agent, t, margin=longest_lookback(window_days), time_order=by_time)
    groups = {"global": lambda: np.zeros(len(t), dtype=np.int64), "reason_family": lambda: x.family,
              "reason_code": lambda: x.reason, "team": lambda: x.team, "agent": lambda: x.agent,
              "agent_family": lambda: pair_codes(x.agent, x.family)}

    def counts(grouping: str) -> Counts:
        if grouping == "customer":
            found = customer
        else:
            found = group_counts(groups[grouping](), t, x.labelled, x.repeated, window, time_order=by_time,
                                 index=by_agent if grouping == "agent" else None)
        return with_base(found, x, grouping)

    f.update(rates(counts, x, prior_strength))
    f["agent_contacts_today"] = agent_contacts_today(x.agent, t, index=by_agent)
    return f
