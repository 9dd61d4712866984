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
(tests/features/test_builder.py checks it on random cuts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import FeaturizeConfig
from features.history import GroupIndex, group_codes, smoothed_rate

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
    in_model: bool = True  # arrival features the routing model uses (see agent_id)


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
    # Measured (bench/agent_encoding.py): the smoothed agent rates alone beat a native categorical
    # agent_id (test log loss 0.5353 vs 0.5390, AUC 0.671 vs 0.661), so agent_id stays out of the model.
    Feature("agent_id", "categorical", "arrival", "agent", "agent (routing: the candidate agent)", in_model=False),
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
GLOBAL_KEY = "all"
# Groupings with label-derived history: name -> contact columns that make the key.
GROUPINGS = {"global": (), "customer": ("customer_id",), "reason_family": ("reason_family",),
             "reason_code": ("reason_code",), "team": ("team",), "agent": ("agent_id",),
             "agent_family": ("agent_id", "reason_family")}


def agent_family_key(agent_id: pd.Series, family: pd.Series) -> pd.Series:
    return agent_id.astype("str") + "|" + family.astype("str")


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


def _column(frame: pd.DataFrame, name: str, index: pd.Index, dtype: str | None = None) -> pd.Series:
    if name in frame:
        col = frame[name]
        return pd.Series(col.array, index=index) if dtype is None else pd.Series(col.to_numpy(dtype=dtype), index=index)
    return pd.Series(np.nan, index=index)


def _lookup(table: pd.DataFrame, key: str, values: pd.Series) -> pd.DataFrame:
    """The row of a side table (customers, agents) for each value; all missing where unknown.
    Arrow's hash lookup and take: pandas' reindex of 10 million string keys goes through Python."""
    idx = pc.index_in(pa.array(values.astype("str").array), value_set=pa.array(table[key].astype("str").array))
    # Text columns as dictionaries first: taking 10 million indices beats copying 10 million strings.
    text = [col for col in table.columns if col != key and table[col].dtype == "str"]
    side = table.astype({col: "category" for col in text})
    return pa.Table.from_pandas(side, preserve_index=False).take(idx).to_pandas()


def is_labelled(status: pd.Series) -> np.ndarray:
    """Status == "labelled", without casting 10M categories to strings first (seconds at that size)."""
    return status.eq("labelled").fillna(False).to_numpy(dtype=bool)


def aligned_labels(labels: pd.DataFrame, contact_id: pd.Series) -> pd.DataFrame:
    """Labels in the contacts' row order (the label stage keeps it; otherwise look them up)."""
    if len(labels) == len(contact_id) and labels["contact_id"].reset_index(drop=True).equals(contact_id):
        return labels.reset_index(drop=True)
    return labels.set_index("contact_id").reindex(contact_id).reset_index()


def build_features(contacts: pd.DataFrame, labels: pd.DataFrame, customers: pd.DataFrame, agents: pd.DataFrame,
                   window_days: float, cfg: FeaturizeConfig,
                   base: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Features of every contact (same rows and order as `contacts`); see the module docstring.

    `base` (online scoring, see features/online.py): matured label counts per group that happened
    before the rows given here, added to what these rows contribute."""
    c = contacts.reset_index(drop=True)
    index = c.index
    lab = aligned_labels(labels, c["contact_id"])
    n = len(c)
    t = _seconds(c["started_at"])
    by_time = np.argsort(t, kind="stable")  # shared by every low-cardinality grouping (radix sorts)
    window = int(round(window_days * DAY))
    longest = max(max(WINDOWS_DAYS) * DAY, window, DAY)
    f: dict[str, object] = {"contact_id": c["contact_id"].array, "started_at": c["started_at"].array}

    # Customer profile.
    prof = _lookup(customers, "customer_id", c["customer_id"])
    for col in PROFILE:
        f[col] = _column(prof, col, index)
    missing = np.iinfo(np.int64).min
    signup = _seconds(prof["signup_date"]) if "signup_date" in prof else np.full(n, missing)
    f["customer_tenure_days"] = np.where(signup > missing, (t - signup) / DAY, np.nan)

    # Customer history: earlier contacts of the same customer (anonymous customers have none).
    cust = group_codes(c["customer_id"])
    known = cust >= 0
    by_cust = GroupIndex.build(cust, t, margin=longest)
    for d in WINDOWS_DAYS:
        f[f"customer_contacts_{d}d"] = np.where(known, by_cust.window_count(d * DAY), np.nan)
    prev = by_cust.previous()
    has_prev = known & (prev >= 0)
    prev = np.maximum(prev, 0)
    f["days_since_last_contact"] = np.where(has_prev, (t - t[prev]) / DAY, np.nan)
    channel = c["channel"].array if isinstance(c["channel"].dtype, pd.CategoricalDtype) else \
        pd.Categorical(c["channel"].astype("str"))
    ch = channel.codes
    prev_channel = pd.Categorical.from_codes(np.where(has_prev, ch[prev], -1), categories=channel.categories)
    f["previous_channel"] = prev_channel.add_categories([NO_PREVIOUS]).fillna(NO_PREVIOUS)
    f["switched_channel"] = np.where(has_prev, (ch[prev] != ch).astype(float), np.nan)
    fam = group_codes(c["reason_family"])
    n_fam = int(fam.max(initial=0)) + 1
    cust_fam = np.where(known, cust * n_fam + fam, -1)
    by_cust_fam = GroupIndex.build(cust_fam, t, margin=window)
    f["same_issue_contacts_window"] = np.where(known, by_cust_fam.window_count(window), np.nan)
    del by_cust_fam

    # Label-derived history: only labels matured before t (started_at + window < t).
    labelled = is_labelled(lab["status"])
    repeated = lab["repeated"].fillna(False).to_numpy(dtype=bool) & labelled

    def matured(gi: GroupIndex, grouping: str, keys) -> tuple[np.ndarray, np.ndarray]:
        events, trials = gi.matured_sums([repeated, labelled], window)
        if base is not None:  # counts from before the rows at hand (online snapshot)
            k = pd.Series(keys() if callable(keys) else keys, index=index).astype("str")
            events = events + k.map(base[grouping]["events"]).fillna(0).to_numpy()
            trials = trials + k.map(base[grouping]["trials"]).fillna(0).to_numpy()
        return events, trials

    g_events, g_trials = matured(GroupIndex.build(np.zeros(n, dtype=np.int64), t, margin=window, time_order=by_time),
                                 "global", GLOBAL_KEY)
    # Before any label has matured (the first window of the data) the prior is a neutral 0.25.
    global_rate = smoothed_rate(g_events, g_trials, np.full(n, 0.25), 1.0)
    strength = cfg.prior_strength

    ev, tr = matured(by_cust, "customer", c["customer_id"])
    f["customer_past_labelled"] = np.where(known, tr, np.nan)
    f["customer_past_repeats"] = np.where(known, ev, np.nan)
    f["customer_repeat_rate"] = np.where(known, smoothed_rate(ev, tr, global_rate, strength), np.nan)
    del by_cust

    # Reason.
    f["reason_code"] = c["reason_code"].array
    f["reason_family"] = c["reason_family"].array
    family_rate = smoothed_rate(*matured(GroupIndex.build(fam, t, margin=window, time_order=by_time),
                                         "reason_family", c["reason_family"]), global_rate, strength)
    code = group_codes(c["reason_code"])
    f["reason_difficulty"] = smoothed_rate(*matured(GroupIndex.build(code, t, margin=window, time_order=by_time),
                                                    "reason_code", c["reason_code"]), family_rate, strength)

    # Channel and time.
    f["channel"] = channel
    f["hour"] = (t % DAY) // 3600
    f["weekday"] = ((t // DAY) + 3) % 7  # 1970-01-01 was a Thursday
    f["wait_s"] = _column(c, "wait_s", index, "float64")

    # Agent.
    agent = group_codes(c["agent_id"])
    has_agent = agent >= 0
    f["agent_id"] = c["agent_id"].array
    ag = _lookup(agents, "agent_id", c["agent_id"])
    team_col = _column(c, "team", index)
    if "team" in ag:
        team_col = team_col.fillna(pd.Series(ag["team"].array, index=index))
    f["team"] = team_col
    hired = _seconds(ag["hired_at"]) if "hired_at" in ag else np.full(n, missing)
    f["agent_tenure_days"] = np.where(has_agent & (hired > missing), (t - hired) / DAY, np.nan)
    team = group_codes(team_col)
    team_rate = np.where(team >= 0, smoothed_rate(*matured(GroupIndex.build(team, t, margin=window, time_order=by_time),
                                                           "team", team_col), global_rate, strength), global_rate)
    by_agent = GroupIndex.build(agent, t, margin=longest, time_order=by_time)
    agent_rate = smoothed_rate(*matured(by_agent, "agent", c["agent_id"]), team_rate, strength)
    f["agent_repeat_rate"] = np.where(has_agent, agent_rate, np.nan)
    agent_fam = np.where(has_agent, agent * n_fam + fam, -1)
    f["agent_family_repeat_rate"] = np.where(
        has_agent, smoothed_rate(*matured(GroupIndex.build(agent_fam, t, margin=window, time_order=by_time),
                                          "agent_family", lambda: agent_family_key(c["agent_id"], c["reason_family"])),
                                 agent_rate, strength),
        np.nan)
    since_midnight = by_agent.sorted_values(t % DAY)
    f["agent_contacts_today"] = np.where(has_agent, by_agent.window_count(since_midnight), np.nan)

    # After-contact diagnostics.
    f["handle_s"] = _column(c, "handle_s", index, "float64")
    f["transfers"] = pd.to_numeric(_column(c, "transfers", index), errors="coerce").astype("float64")
    f["disposition"] = _column(c, "disposition", index)
    for feat in FEATURES:  # float32 halves memory and disk; LightGBM bins features anyway
        if feat.kind == "numeric":
            f[feat.name] = np.asarray(f[feat.name], dtype=np.float32)
    out = pd.DataFrame(f, index=index)
    for feat in FEATURES:
        if feat.kind == "categorical" and not isinstance(out[feat.name].dtype, pd.CategoricalDtype):
            out[feat.name] = out[feat.name].astype("category")
    return out


LABELS_FOR_TRAINING = ["status", "repeated", "is_first_contact", "contact_seq"]


def training_table(contacts: pd.DataFrame, labels: pd.DataFrame, customers: pd.DataFrame, agents: pd.DataFrame,
                   window_days: float, cfg: FeaturizeConfig) -> tuple[pd.DataFrame, FeatureSpec]:
    """The featurize stage's table (features + the label columns training needs) and its spec."""
    features = build_features(contacts, labels, customers, agents, window_days, cfg)
    # The label stage keeps the contacts' row order, so the labels usually line up row by row.
    if not labels["contact_id"].equals(features["contact_id"]):
        labels = labels.set_index("contact_id").reindex(features["contact_id"]).reset_index()
    table = pd.concat([features, labels[LABELS_FOR_TRAINING].reset_index(drop=True)], axis=1)
    return table, feature_spec(features, window_days)


def feature_spec(features: pd.DataFrame, window_days: float) -> FeatureSpec:
    """The spec of a built feature table: dtypes, categories (as seen in training) and availability."""
    spec = FeatureSpec(label_window_days=window_days)
    for f in FEATURES:
        entry = {"name": f.name, "kind": f.kind, "availability": f.availability, "family": f.family,
                 "in_model": f.in_model, "description": f.description, "dtype": str(features[f.name].dtype)}
        if f.kind == "categorical":
            entry["categories"] = [str(v) for v in features[f.name].cat.categories]
        spec.features.append(entry)
    spec.model_features = [f.name for f in FEATURES if f.availability == "arrival" and f.in_model]
    return spec
