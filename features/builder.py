"""Point-in-time features of every contact, from what was known when it arrived.

In: contacts in contract form, their labels (from the label stage), the customers and agents
tables, the label window and a `FeaturizeConfig`. Out: one row per contact with the features of
`FEATURES` (each declares its availability: `arrival` = known when the contact arrives, usable for
routing; `after_contact` = diagnostics only), and the `FeatureSpec` that travels with the model.

Rules (the DESIGN's point-in-time rule):
- history counts use only the same customer's / agent's contacts strictly before this one's start;
- label-derived history (repeat rates of the customer, reason, agent, team, everyone) uses only
  contacts whose window closed before this one's start (started_at + window < t), so a label that
  had not matured yet never leaks in; rates are shrunk toward their parent's rate at the same time.
Cutting the data at any time T leaves every feature of every contact before T unchanged
(tests/test_features.py checks it on random cuts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features.config import FeaturizeConfig
from features.history import GroupIndex, smoothed_rate

DAY = 86_400
WINDOWS_DAYS = (1, 7, 30, 90)
NO_PREVIOUS = "none"


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str              # "categorical" | "numeric"
    availability: str      # "arrival" | "after_contact"
    family: str            # customer | reason | channel | agent | process
    description: str


FEATURES: tuple[Feature, ...] = (
    Feature("segment", "categorical", "arrival", "customer", "customer segment"),
    Feature("tier", "categorical", "arrival", "customer", "customer tier"),
    Feature("plan", "categorical", "arrival", "customer", "customer plan"),
    Feature("region", "categorical", "arrival", "customer", "customer region"),
    Feature("language", "categorical", "arrival", "customer", "customer language"),
    Feature("customer_tenure_days", "numeric", "arrival", "customer", "days since the customer signed up"),
    *(Feature(f"customer_contacts_{d}d", "numeric", "arrival", "customer",
              f"the customer's contacts in the {d} days before this one") for d in WINDOWS_DAYS),
    Feature("days_since_last_contact", "numeric", "arrival", "customer", "days since the customer's previous contact"),
    Feature("previous_channel", "categorical", "arrival", "customer", "channel of the previous contact ('none')"),
    Feature("switched_channel", "numeric", "arrival", "customer", "1 if the previous contact was on another channel"),
    Feature("same_issue_contacts_window", "numeric", "arrival", "customer",
            "contacts about the same reason family within the label window before: is this itself a repeat"),
    Feature("customer_past_labelled", "numeric", "arrival", "customer", "the customer's matured labelled contacts"),
    Feature("customer_past_repeats", "numeric", "arrival", "customer", "of those, how many were repeated"),
    Feature("customer_repeat_rate", "numeric", "arrival", "customer",
            "the customer's matured repeat rate, shrunk toward everyone's"),
    Feature("reason_code", "categorical", "arrival", "reason", "reason code"),
    Feature("reason_family", "categorical", "arrival", "reason", "reason family"),
    Feature("reason_difficulty", "numeric", "arrival", "reason",
            "matured repeat rate of the reason code, shrunk toward its family's"),
    Feature("channel", "categorical", "arrival", "channel", "channel of the contact"),
    Feature("hour", "numeric", "arrival", "channel", "hour of day (UTC)"),
    Feature("weekday", "numeric", "arrival", "channel", "day of week, Monday = 0"),
    Feature("wait_s", "numeric", "arrival", "channel", "queue wait, as known when the contact is routed"),
    Feature("agent_id", "categorical", "arrival", "agent", "agent (routing: the candidate agent)"),
    Feature("team", "categorical", "arrival", "agent", "agent's team"),
    Feature("agent_tenure_days", "numeric", "arrival", "agent", "days since the agent was hired"),
    Feature("agent_repeat_rate", "numeric", "arrival", "agent",
            "agent's matured repeat rate, shrunk toward the team's"),
    Feature("agent_family_repeat_rate", "numeric", "arrival", "agent",
            "agent's matured repeat rate on this reason family, shrunk toward the agent's"),
    Feature("agent_contacts_today", "numeric", "arrival", "agent", "contacts the agent handled earlier today (UTC)"),
    Feature("handle_s", "numeric", "after_contact", "process", "talk/handle time"),
    Feature("transfers", "numeric", "after_contact", "process", "number of transfers"),
    Feature("disposition", "categorical", "after_contact", "process", "how the contact ended"),
)
PROFILE = ("segment", "tier", "plan", "region", "language")


@dataclass
class FeatureSpec:
    """What travels with the model: every feature's dtype, categories and availability, and the
    columns the routing model may use (arrival only)."""

    features: list[dict] = field(default_factory=list)
    model_features: list[str] = field(default_factory=list)
    label_window_days: float = 7.0

    def to_dict(self) -> dict:
        return asdict(self)


def _seconds(s: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(s).as_unit("s").asi8


def _codes(values: pd.Series) -> np.ndarray:
    return pd.factorize(values, use_na_sentinel=True)[0].astype(np.int64)


def build_features(contacts: pd.DataFrame, labels: pd.DataFrame, customers: pd.DataFrame, agents: pd.DataFrame,
                   window_days: float, cfg: FeaturizeConfig = FeaturizeConfig()) -> pd.DataFrame:
    """Features of every contact (same rows and order as `contacts`); see the module docstring."""
    c = contacts.reset_index(drop=True)
    lab = labels.set_index("contact_id").reindex(c["contact_id"])
    n = len(c)
    t = _seconds(c["started_at"])
    window = int(round(window_days * DAY))
    out = pd.DataFrame({"contact_id": c["contact_id"].to_numpy(), "started_at": c["started_at"].to_numpy()})

    # Customer profile.
    prof = customers.set_index("customer_id").reindex(c["customer_id"])
    for col in PROFILE:
        out[col] = prof[col].to_numpy() if col in prof else np.nan
    signup = _seconds(prof["signup_date"]) if "signup_date" in prof else np.full(n, np.iinfo(np.int64).min)
    out["customer_tenure_days"] = np.where(signup > np.iinfo(np.int64).min, (t - signup) / DAY, np.nan)

    # Customer history: earlier contacts of the same customer (anonymous customers have none).
    cust = _codes(c["customer_id"])
    known = cust >= 0
    idx = GroupIndex.build(cust, t, margin=max(max(WINDOWS_DAYS) * DAY, window))
    for d in WINDOWS_DAYS:
        out[f"customer_contacts_{d}d"] = np.where(known, idx.count(cust, t - d * DAY, t), np.nan)
    # previous contact (strictly earlier): the row before in (customer, time) order
    pos = np.empty(n, dtype=np.int64)
    pos[idx.order] = np.arange(n)
    before = np.searchsorted(idx.keys, (cust + 1) * idx.span + (t - idx.t0), side="left") - 1
    has_prev = known & (before >= 0) & (idx.keys[np.maximum(before, 0)] // idx.span == cust + 1)
    prev_row = idx.order[np.maximum(before, 0)]
    out["days_since_last_contact"] = np.where(has_prev, (t - t[prev_row]) / DAY, np.nan)
    channel = c["channel"].astype("str").to_numpy()
    out["previous_channel"] = np.where(has_prev, channel[prev_row], NO_PREVIOUS)
    out["switched_channel"] = np.where(has_prev, (channel[prev_row] != channel).astype(float), np.nan)
    fam = _codes(c["reason_family"])
    cust_fam = np.where(known, cust * (fam.max(initial=0) + 1) + fam, -1)
    idx_cf = GroupIndex.build(cust_fam, t, margin=window)
    out["same_issue_contacts_window"] = np.where(known, idx_cf.count(cust_fam, t - window, t), np.nan)

    # Label-derived history: only labels matured before t (started_at + window < t).
    status = lab["status"].astype("str").to_numpy()
    labelled = (status == "labelled").astype(float)
    repeated = (lab["repeated"].fillna(False).to_numpy(dtype=bool) & (labelled > 0)).astype(float)
    mature = t - window  # contacts that started before this have a closed window
    lo_all = np.full(n, np.iinfo(np.int64).min // 4)

    def matured(group: np.ndarray, gi: GroupIndex) -> tuple[np.ndarray, np.ndarray]:
        trials = gi.sum(gi.cumulative(labelled), group, lo_all, mature)
        events = gi.sum(gi.cumulative(repeated), group, lo_all, mature)
        return events, trials

    zero = np.zeros(n, dtype=np.int64)
    g_events, g_trials = matured(zero, GroupIndex.build(zero, t, margin=window))
    # Before anything matured, the prior is the rate of the earliest matured contacts; 0.25 is only
    # a placeholder for the first window of the data, where no label has matured at all.
    global_rate = smoothed_rate(g_events, g_trials, np.full(n, 0.25), 1.0)
    strength = cfg.prior_strength

    ev, tr = matured(cust, idx)
    out["customer_past_labelled"] = np.where(known, tr, np.nan)
    out["customer_past_repeats"] = np.where(known, ev, np.nan)
    out["customer_repeat_rate"] = np.where(known, smoothed_rate(ev, tr, global_rate, strength), np.nan)

    # Reason.
    out["reason_code"] = c["reason_code"].to_numpy()
    out["reason_family"] = c["reason_family"].to_numpy()
    fam_ev, fam_tr = matured(fam, GroupIndex.build(fam, t, margin=window))
    family_rate = smoothed_rate(fam_ev, fam_tr, global_rate, strength)
    code = _codes(c["reason_code"])
    code_ev, code_tr = matured(code, GroupIndex.build(code, t, margin=window))
    out["reason_difficulty"] = smoothed_rate(code_ev, code_tr, family_rate, strength)

    # Channel and time.
    out["channel"] = channel
    hours = (t % DAY) // 3600
    out["hour"] = hours
    out["weekday"] = ((t // DAY) + 3) % 7  # 1970-01-01 was a Thursday
    out["wait_s"] = c["wait_s"].to_numpy(dtype=float) if "wait_s" in c else np.nan

    # Agent.
    agent = _codes(c["agent_id"])
    has_agent = agent >= 0
    out["agent_id"] = c["agent_id"].to_numpy()
    ag = agents.set_index("agent_id").reindex(c["agent_id"]) if "agent_id" in agents else None
    team_col = c["team"] if "team" in c else pd.Series(np.nan, index=c.index)
    if ag is not None and "team" in ag:
        team_col = team_col.fillna(pd.Series(ag["team"].to_numpy(), index=c.index))
    out["team"] = team_col.to_numpy()
    hired = _seconds(ag["hired_at"]) if ag is not None and "hired_at" in ag else np.full(n, np.iinfo(np.int64).min)
    out["agent_tenure_days"] = np.where(has_agent & (hired > np.iinfo(np.int64).min), (t - hired) / DAY, np.nan)
    team = _codes(team_col)
    t_ev, t_tr = matured(team, GroupIndex.build(team, t, margin=window))
    team_rate = np.where(team >= 0, smoothed_rate(t_ev, t_tr, global_rate, strength), global_rate)
    idx_a = GroupIndex.build(agent, t, margin=max(window, DAY))
    a_ev, a_tr = matured(agent, idx_a)
    agent_rate = smoothed_rate(a_ev, a_tr, team_rate, strength)
    out["agent_repeat_rate"] = np.where(has_agent, agent_rate, np.nan)
    agent_fam = np.where(has_agent, agent * (fam.max(initial=0) + 1) + fam, -1)
    af_ev, af_tr = matured(agent_fam, GroupIndex.build(agent_fam, t, margin=window))
    out["agent_family_repeat_rate"] = np.where(has_agent, smoothed_rate(af_ev, af_tr, agent_rate, strength), np.nan)
    out["agent_contacts_today"] = np.where(has_agent, idx_a.count(agent, t - t % DAY, t), np.nan)

    # After-contact diagnostics.
    out["handle_s"] = c["handle_s"].to_numpy(dtype=float) if "handle_s" in c else np.nan
    out["transfers"] = pd.to_numeric(c["transfers"], errors="coerce").to_numpy(dtype=float) if "transfers" in c else np.nan
    out["disposition"] = c["disposition"].astype("str").to_numpy() if "disposition" in c else np.nan
    for f in FEATURES:
        if f.kind == "categorical":
            out[f.name] = out[f.name].astype("str").astype("category")
    return out


def feature_spec(features: pd.DataFrame, window_days: float) -> FeatureSpec:
    """The spec of a built feature table: dtypes, categories (as seen in training) and availability."""
    spec = FeatureSpec(label_window_days=window_days)
    for f in FEATURES:
        entry = {"name": f.name, "kind": f.kind, "availability": f.availability, "family": f.family,
                 "description": f.description, "dtype": str(features[f.name].dtype)}
        if f.kind == "categorical":
            entry["categories"] = [str(v) for v in features[f.name].cat.categories]
        spec.features.append(entry)
    spec.model_features = [f.name for f in FEATURES if f.availability == "arrival"]
    return spec
