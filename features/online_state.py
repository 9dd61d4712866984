"""The service's hot path: features of arriving contacts from an in-memory snapshot, without pandas.

In (once, at start-up): the online snapshot (features/online.py), the customers and agents tables,
the feature spec and `FeaturizeConfig`. Out (per request): a float64 matrix of the spec's model
features, categoricals as their codes in the spec (what LightGBM saw in training; unknown = NaN), for
a list of raw contacts (dicts with customer_id, channel, reason_code, reason_family, agent_id, team,
started_at as epoch seconds, wait_s). Same rules as `features/builder.py`, stated per contact:
history counts are the customer's / agent's snapshot contacts plus earlier contacts of the same batch,
in [t - lookback, t); label-derived rates come from the snapshot's matured counts, shrunk as in the
builder. `tests/features/test_online_state.py` checks it against the pandas online path, feature by feature.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.builder import DAY, GLOBAL_KEY, NO_PREVIOUS, PROFILE, WINDOWS_DAYS
from pipeline.config import FeaturizeConfig

NAN = float("nan")


@dataclass
class _History:
    times: list[int]
    channels: list[str]
    families: list[str]


def _seconds(values: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(values).as_unit("s").asi8


class OnlineState:
    def __init__(self, snapshot: dict[str, pd.DataFrame], customers: pd.DataFrame, agents: pd.DataFrame,
                 spec: dict, cfg: FeaturizeConfig) -> None:
        self.window = int(round(float(snapshot["meta"]["window_days"].iloc[0]) * DAY))
        self.strength = cfg.prior_strength
        self.names = list(spec["model_features"])
        by_name = {f["name"]: f for f in spec["features"]}
        self.labels = {n: list(by_name[n]["categories"]) for n in self.names if by_name[n]["kind"] == "categorical"}
        self.codes = {n: {v: float(i) for i, v in enumerate(cats)} for n, cats in self.labels.items()}
        hist = snapshot["history"]
        t = _seconds(hist["started_at"])
        cust = hist["customer_id"].astype("str").to_numpy(dtype=object, na_value=None)
        ch = hist["channel"].astype("str").to_numpy(dtype=object)
        fam = hist["reason_family"].astype("str").to_numpy(dtype=object)
        agent = hist["agent_id"].astype("str").to_numpy(dtype=object, na_value=None)
        order = np.argsort(t, kind="stable")
        self.customer_history: dict[str, _History] = {}
        self.agent_times: dict[str, list[int]] = {}
        for i in order.tolist():
            c = cust[i]
            if c is not None:
                h = self.customer_history.get(c)
                if h is None:
                    h = self.customer_history[c] = _History([], [], [])
                h.times.append(int(t[i]))
                h.channels.append(ch[i])
                h.families.append(fam[i])
            a = agent[i]
            if a is not None:
                self.agent_times.setdefault(a, []).append(int(t[i]))
        prof = customers.set_index(customers["customer_id"].astype("str"))
        signup = _seconds(prof["signup_date"]) if "signup_date" in prof else np.full(len(prof), np.iinfo(np.int64).min)
        cols = [prof[c].astype("str").to_numpy(dtype=object, na_value=None) if c in prof else [None] * len(prof)
                for c in PROFILE]
        self.profile = {k: (tuple(col[i] for col in cols), int(signup[i])) for i, k in enumerate(prof.index)}
        ag = agents.set_index(agents["agent_id"].astype("str"))
        hired = _seconds(ag["hired_at"]) if "hired_at" in ag else np.full(len(ag), np.iinfo(np.int64).min)
        team = ag["team"].astype("str").to_numpy(dtype=object, na_value=None) if "team" in ag else [None] * len(ag)
        self.agents = {k: (team[i], int(hired[i])) for i, k in enumerate(ag.index)}
        self.counts = {g: dict(zip(snapshot[g].index.astype("str"),
                                   zip(snapshot[g]["events"].tolist(), snapshot[g]["trials"].tolist(), strict=True),
                                   strict=True))
                       for g in ("global", "customer", "reason_family", "reason_code", "team", "agent", "agent_family")}
        ge, gt = self.counts["global"].get(GLOBAL_KEY, (0, 0))
        self.global_rate = (ge + 1.0 * 0.25) / (gt + 1.0)
        self._missing_signup = int(np.iinfo(np.int64).min)

    def _rate(self, grouping: str, key: str | None, prior: float) -> float:
        e, n = self.counts[grouping].get(key, (0, 0)) if key is not None else (0, 0)
        return (e + self.strength * prior) / (n + self.strength)

    def _code(self, name: str, value: object) -> float:
        return self.codes[name].get(value, NAN) if value is not None else NAN

    def features(self, contacts: list[dict]) -> np.ndarray:
        """One row per contact, the spec's model features in order (see the module docstring)."""
        # Earlier contacts of the same batch count as history, as in the batch builder.
        batch_cust: dict[str, list[tuple[int, str, str]]] = {}
        batch_agent: dict[str, list[int]] = {}
        for c in contacts:
            if c.get("customer_id") is not None:
                batch_cust.setdefault(c["customer_id"], []).append((c["started_at"], c["channel"], c["reason_family"]))
            if c.get("agent_id") is not None:
                batch_agent.setdefault(c["agent_id"], []).append(c["started_at"])
        out = np.full((len(contacts), len(self.names)), NAN)
        for i, c in enumerate(contacts):
            f = self._one(c, batch_cust, batch_agent)
            out[i] = [f.get(n, NAN) for n in self.names]
        # The batch features are float32 (features/builder.py): round the same way, so that a value on
        # a tree's split threshold falls on the same side.
        return out.astype(np.float32).astype(np.float64)

    def _one(self, c: dict, batch_cust: dict, batch_agent: dict) -> dict[str, float]:
        t = int(c["started_at"])
        f: dict[str, float] = {}
        cid = c.get("customer_id")
        prof = self.profile.get(cid) if cid is not None else None
        values, signup = prof if prof else ((None,) * len(PROFILE), self._missing_signup)
        for name, v in zip(PROFILE, values, strict=True):
            if name in self.codes:
                f[name] = self._code(name, v)
        f["customer_tenure_days"] = (t - signup) / DAY if signup != self._missing_signup else NAN
        g = self.global_rate
        if cid is not None:
            h = self.customer_history.get(cid)
            times, chans, fams = (h.times, h.channels, h.families) if h else ([], [], [])
            extra = [x for x in batch_cust.get(cid, ()) if x[0] < t]
            if extra:
                merged = sorted([*zip(times, chans, fams, strict=True), *extra], key=lambda x: x[0])
                times = [x[0] for x in merged]
                chans = [x[1] for x in merged]
                fams = [x[2] for x in merged]
            end = bisect.bisect_left(times, t)
            for d in WINDOWS_DAYS:
                f[f"customer_contacts_{d}d"] = float(end - bisect.bisect_left(times, t - d * DAY, 0, end))
            if end > 0:
                f["days_since_last_contact"] = (t - times[end - 1]) / DAY
                prev = chans[end - 1]
                f["previous_channel"] = self._code("previous_channel", prev)
                f["switched_channel"] = float(prev != c["channel"])
            else:
                f["previous_channel"] = self._code("previous_channel", NO_PREVIOUS)
            start = bisect.bisect_left(times, t - self.window, 0, end)
            fam = c["reason_family"]
            f["same_issue_contacts_window"] = float(sum(1 for j in range(start, end) if fams[j] == fam))
            e, n = self.counts["customer"].get(cid, (0, 0))
            f["customer_past_labelled"], f["customer_past_repeats"] = float(n), float(e)
            f["customer_repeat_rate"] = (e + self.strength * g) / (n + self.strength)
        else:
            f["previous_channel"] = self._code("previous_channel", NO_PREVIOUS)
        f["reason_code"] = self._code("reason_code", c["reason_code"])
        f["reason_family"] = self._code("reason_family", c["reason_family"])
        fam_rate = self._rate("reason_family", c["reason_family"], g)
        f["reason_difficulty"] = self._rate("reason_code", c["reason_code"], fam_rate)
        f["channel"] = self._code("channel", c["channel"])
        f["hour"] = float((t % DAY) // 3600)
        f["weekday"] = float(((t // DAY) + 3) % 7)
        w = c.get("wait_s")
        f["wait_s"] = NAN if w is None or (isinstance(w, float) and math.isnan(w)) else float(w)
        aid = c.get("agent_id")
        team, hired = self.agents.get(aid, (None, self._missing_signup)) if aid is not None else (None, 0)
        team = c.get("team") or team
        f["team"] = self._code("team", team)
        team_rate = self._rate("team", team, g) if team is not None else g
        if aid is not None:
            f["agent_tenure_days"] = (t - hired) / DAY if hired != self._missing_signup else NAN
            agent_rate = self._rate("agent", aid, team_rate)
            f["agent_repeat_rate"] = agent_rate
            f["agent_family_repeat_rate"] = self._rate("agent_family", f"{aid}|{c['reason_family']}", agent_rate)
            times = self.agent_times.get(aid, [])
            extra = [x for x in batch_agent.get(aid, ()) if x < t]
            if extra:
                times = sorted([*times, *extra])
            end = bisect.bisect_left(times, t)
            f["agent_contacts_today"] = float(end - bisect.bisect_left(times, t - t % DAY, 0, end))
        return f
